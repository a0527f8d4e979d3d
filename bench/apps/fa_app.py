"""FasterAPI (seed API) app for the benchmarks.

    python fa_app.py PORT PINNED_WORKERS [POOLED_WORKERS [POOLED_INTERPRETERS [KEEPALIVE_S]]]

POOLED_WORKERS defaults to 2 and POOLED_INTERPRETERS to 1.  With
FA_BENCH_SSL_CERTFILE and FA_BENCH_SSL_KEYFILE in the environment the
listener speaks TLS (ALPN h2 and http/1.1) with that certificate.
FA_BENCH_OPTIONS (JSON) adds constructor keywords (the obs section:
access_log, metrics_port).

Every worker interpreter imports this file again (as __mp_main__), so the
handlers are module-level functions and the module body stays light.  The
handlers do the same work as those of the other apps in this folder.
"""
import json
import os
import sys

from fasterapi._native.http2 import PyHttp2Server

HELLO = "Hello, World!"
CPU_LOOPS = 20000  # the same loop in every app: about a millisecond of bytecode


def plaintext(req, res):
    res["content_type"] = "text/plain"
    res["body"] = HELLO


def json_hello(req, res):
    res["content_type"] = "application/json"
    res["body"] = json.dumps({"message": HELLO})


def user(req, res):
    res["content_type"] = "application/json"
    res["body"] = json.dumps({"id": req["path_params"]["id"]})


def echo(req, res):
    res["content_type"] = "application/json"
    res["body"] = req["body"]


def cpu(req, res):
    total = 0
    for i in range(CPU_LOOPS):
        total += i * i % 7
    res["content_type"] = "text/plain"
    res["body"] = str(total)


if __name__ == "__main__":
    port, pinned = int(sys.argv[1]), int(sys.argv[2])
    pooled = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    pooled_interps = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    extra = {"keepalive_timeout": float(sys.argv[5])} if len(sys.argv) > 5 else {}
    if os.environ.get("FA_BENCH_SSL_CERTFILE"):
        extra["ssl_certfile"] = os.environ["FA_BENCH_SSL_CERTFILE"]
        extra["ssl_keyfile"] = os.environ["FA_BENCH_SSL_KEYFILE"]
    extra.update(json.loads(os.environ.get("FA_BENCH_OPTIONS") or "{}"))
    server = PyHttp2Server(port=port, host="127.0.0.1", num_pinned_workers=pinned,
                           num_pooled_workers=pooled, num_pooled_interpreters=pooled_interps, **extra)
    server.add_route("GET", "/", plaintext)
    server.add_route("GET", "/json", json_hello)
    server.add_route("GET", "/user/{id}", user)
    server.add_route("POST", "/echo", echo)
    server.add_route("GET", "/cpu", cpu)
    if pooled > 0:
        # the same handlers on the pooled threads: hand-off cost, shared-GIL
        # scaling (POOLED_WORKERS=0: no pooled route, so no pooled threads or
        # interpreter at all, as an app without blocking handlers runs)
        server.add_route("GET", "/pooled/", plaintext, pooled=True)
        server.add_route("GET", "/pooled/cpu", cpu, pooled=True)
    server.start()
