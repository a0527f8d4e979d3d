"""TLS: what a handler sees over HTTPS, and bodies, streams and files.

Run as `python tls_app.py '<json of PyHttp2Server keywords>'` with the
ssl_* keywords.  /file sends the file named by the query string.
"""
import hashlib
import json
import urllib.parse

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


def info(req, res):
    res['content_type'] = 'application/json'
    res['body'] = json.dumps({
        "method": req['method'],
        "scheme": req['scheme'],
        "tls": req.get('tls'),
        "http_version": req['http_version'],
        "body_len": len(req['body']),
        "body_sha256": hashlib.sha256(req['body']).hexdigest(),
    })


def echo(req, res):
    res['content_type'] = 'application/octet-stream'
    res['body'] = req['body']


def download(req, res):
    n = int(req['query'] or 0)
    block = bytes(range(256)) * 64
    res['content_type'] = 'application/octet-stream'
    res['body'] = (block * (n // len(block) + 1))[:n]


def stream(req, res):
    n = int(req['query'] or 16)

    def gen():
        for i in range(n):
            yield i.to_bytes(4, "big") * 4096  # 16 KiB each

    res['content_type'] = 'application/octet-stream'
    res['body'] = gen()


def send_file(req, res):
    res['content_type'] = 'application/octet-stream'
    res['file'] = urllib.parse.unquote(req['query'])


ROUTES = [
    *[(m, "/info", info) for m in METHODS],
    ("POST", "/echo", echo),
    ("PUT", "/echo", echo),
    ("GET", "/download", download),
    ("GET", "/stream", stream),
    ("GET", "/file", send_file),
]
POOLED_ROUTES = [
    ("GET", "/pooled/info", info),
]


if __name__ == "__main__":
    from _serve import serve
    serve(ROUTES, POOLED_ROUTES)
