"""Heap allocations per request on the steady-state path.

Runs a plaintext FasterAPI server (one pinned worker) under the LD_PRELOAD
shim bench/c/malloc_count.c, warms it up, then counts process-wide
allocations (malloc, calloc, realloc, ...) over a batch of requests over
HTTP/1.1 and h2c.  Python's own small-object allocator (pymalloc) does not go
through malloc, so Python objects built per request are not counted: this
measures the C path.

    .venv/bin/python bench/allocs.py [--requests 100000]
"""
import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

APP = '''
import sys
from fasterapi._native.http2 import PyHttp2Server
def hello(req, res):
    res["content_type"] = "text/plain"
    res["body"] = "Hello, World!"
if __name__ == "__main__":
    s = PyHttp2Server(port=int(sys.argv[1]), host="127.0.0.1", num_pinned_workers=1)
    s.add_route("GET", "/", hello)
    s.start()
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=100000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    shim = os.path.join(tmp, "malloc_count.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim, os.path.join(HERE, "c", "malloc_count.c"), "-ldl"],
                   check=True)
    app = os.path.join(tmp, "hello_app.py")
    with open(app, "w") as f:
        f.write(APP)
    counter = os.path.join(tmp, "count")
    port = free_port()
    env = dict(os.environ, LD_PRELOAD=shim, FA_MALLOC_COUNT_FILE=counter)
    proc = subprocess.Popen([sys.executable, app, str(port)], env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)

        def count():
            with open(counter, "rb") as f:
                return struct.unpack("Q", f.read(8))[0]

        url = f"http://127.0.0.1:{port}/"
        for name, args in [("HTTP/1.1", ["--h1", "-c", "16"]), ("h2c", ["-c", "16", "-m", "10"])]:
            subprocess.run(["h2load", *args, "-n", "20000", url], capture_output=True, check=True)
            before = count()
            out = subprocess.run(["h2load", *args, "-n", str(a.requests), url], capture_output=True, text=True,
                                 check=True).stdout
            after = count()
            if f"{a.requests} succeeded" not in out:
                raise SystemExit(f"{name}: not every request succeeded:\n{out}")
            print(f"{name:9s} allocations per request: {(after - before) / a.requests:.3f} "
                  f"({after - before} over {a.requests} requests on 16 connections)")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
