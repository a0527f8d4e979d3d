"""Routes with stream_body=True for tests/python/test_stream_body.py."""
import asyncio
import hashlib
import json
import sys

from fasterapi._native.http2 import PyHttp2Server


async def upload(req, res):
    h = hashlib.sha256()
    n = chunks = 0
    async for chunk in req["stream"]:
        h.update(chunk)
        n += len(chunk)
        chunks += 1
    res["json"] = {"bytes": n, "sha256": h.hexdigest(), "chunks": chunks, "body": len(req["body"])}


async def slow_upload(req, res):
    # a handler that falls behind: the server must hold the client back
    h = hashlib.sha256()
    n = 0
    async for chunk in req["stream"]:
        h.update(chunk)
        n += len(chunk)
        await asyncio.sleep(0.001)
    res["json"] = {"bytes": n, "sha256": h.hexdigest()}


async def early(req, res):
    # answers without reading the body
    res["status"] = 413
    res["body"] = "no thanks"


def echo_len(req, res):
    res["body"] = str(len(req["body"]))


if __name__ == "__main__":
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    server = PyHttp2Server(**config)
    server.add_route("POST", "/up", upload, stream_body=True)
    server.add_route("POST", "/slow", slow_upload, stream_body=True)
    server.add_route("POST", "/early", early, stream_body=True)
    server.add_route("POST", "/plain", echo_len)
    server.start()
