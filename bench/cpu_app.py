"""A CPU-bound handler for the scaling benchmark (bench/scaling.py).

Run as: python cpu_app.py PORT PINNED_WORKERS
"""
import sys

from fasterapi._native.http2 import PyHttp2Server


def burn(req, res):
    # about a millisecond of pure-Python work: the GIL is busy all along
    total = 0
    for i in range(20000):
        total += i * i % 7
    res["body"] = str(total)


def hello(req, res):
    res["body"] = "Hello, World!"


if __name__ == "__main__":
    server = PyHttp2Server(port=int(sys.argv[1]), host="127.0.0.1", num_pinned_workers=int(sys.argv[2]))
    server.add_route("GET", "/cpu", burn)
    server.add_route("GET", "/", hello)
    server.start()
