"""Streaming a 1 GiB response (FasterAPI, low-level API).

    python stream_app.py PORT PINNED_WORKERS FILE

GET /file    res['file'] = FILE: sendfile() on HTTP/1.1, pread() into DATA frames on h2c
GET /gen     res['body'] = a generator of 64 KiB bytes chunks, 1 GiB in all
             (chunked coding on HTTP/1.1, DATA frames on h2c)

The worker interpreters import this file again (as __mp_main__) and find
FILE in the environment (BENCH_STREAM_FILE), which __main__ sets.
"""
import os
import sys

CHUNK = 64 * 1024
TOTAL = 1 << 30
_BLOCK = bytes(range(256)) * (CHUNK // 256)
FILE = os.environ.get("BENCH_STREAM_FILE", "")


def big_file(req, res):
    res["content_type"] = "application/octet-stream"
    res["file"] = FILE


def _chunks():
    block = _BLOCK
    for _ in range(TOTAL // CHUNK):
        yield block


def big_gen(req, res):
    res["content_type"] = "application/octet-stream"
    res["body"] = _chunks()


if __name__ == "__main__":
    from fasterapi._native.http2 import PyHttp2Server

    port, pinned, path = int(sys.argv[1]), int(sys.argv[2]), os.path.abspath(sys.argv[3])
    os.environ["BENCH_STREAM_FILE"] = path
    server = PyHttp2Server(port=port, host="127.0.0.1", num_pinned_workers=pinned)
    server.add_route("GET", "/file", big_file)
    server.add_route("GET", "/gen", big_gen)
    server.start()
