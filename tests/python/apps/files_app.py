"""File bodies: res['file'] (+ res['file_range']).

Run as `python files_app.py '<json of PyHttp2Server keywords>'`.  The file
to send comes in the query string (`path=...`), URL-encoded.
"""
import asyncio
import json
import os
import pathlib
import urllib.parse


def _q(req):
    return dict(urllib.parse.parse_qsl(req['query'] or ""))


def send_file(req, res):
    q = _q(req)
    kind = q.get("kind", "str")
    path = q["path"]
    res['content_type'] = 'application/octet-stream'
    res['headers'] = {'x-file': os.path.basename(path)}
    res['file'] = {"str": path, "bytes": os.fsencode(path), "pathlike": pathlib.Path(path)}[kind]
    if "off" in q:
        res['file_range'] = (int(q["off"]), int(q["len"]))


def partial(req, res):
    """What an app layer does for Range: 206, content-range, file_range."""
    q = _q(req)
    path = q["path"]
    size = os.path.getsize(path)
    off, n = int(q["off"]), int(q["len"])
    res['status'] = 206
    res['content_type'] = 'application/octet-stream'
    res['headers'] = {'content-range': f"bytes {off}-{off + n - 1}/{size}", 'accept-ranges': 'bytes'}
    res['file'] = path
    res['file_range'] = (off, n)


async def async_file(req, res):
    await asyncio.sleep(0.01)
    res['content_type'] = 'application/octet-stream'
    res['file'] = _q(req)["path"]


def hello(req, res):
    res['content_type'] = 'text/plain'
    res['body'] = "Hello from " + req['path']


def query(req, res):
    res['content_type'] = 'application/json'
    res['body'] = json.dumps({"query": req['query']})


ROUTES = [
    ("GET", "/", hello),
    ("GET", "/query", query),
    ("GET", "/file", send_file),
    ("HEAD", "/file", send_file),
    ("GET", "/partial", partial),
    ("GET", "/async/file", async_file),
]
POOLED_ROUTES = [
    ("GET", "/pooled/file", send_file),
]


if __name__ == "__main__":
    from _serve import serve
    serve(ROUTES, POOLED_ROUTES)
