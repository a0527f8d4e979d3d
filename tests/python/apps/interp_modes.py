"""Handlers for the interpreter-mode tests (test_interpreters.py).

Run as `python interp_modes.py '<json of PyHttp2Server keywords>'`; the
extra key "unloadable" (a module name) adds a route whose handler module
imports that extension, which cannot load in an own-GIL sub-interpreter.
"""
import asyncio
import json
import os
import sys
import threading

from fasterapi._native.http2 import PyHttp2Server

STARTS = []  # appended to by the startup hook, in whichever interpreter runs it


def interp_id():
    try:
        import _interpreters  # 3.13
        return _interpreters.get_current()[0]
    except ImportError:  # 3.12
        import _xxsubinterpreters
        return int(_xxsubinterpreters.get_current())


def where(req, res):
    res['json'] = {"interp": interp_id(), "pid": os.getpid(), "thread": threading.get_ident(),
                   "starts": len(STARTS), "module": __name__}


def fallback(req, res):
    """set_fallback(): what no route matches."""
    res['status'] = 405 if 'allow' in req else 404
    res['json'] = {"route": req['route'], "allow": req.get('allow'), "path": req['path'],
                   "method": req['method'], "interp": interp_id()}
    if 'allow' in req:
        res['headers'] = {"allow": req['allow']}


def client(req, res):
    res['json'] = {"client": req['client'], "scheme": req['scheme']}


async def where_async(req, res):
    await asyncio.sleep(0.01)
    where(req, res)


def on_start():
    STARTS.append(threading.get_ident())
    print(f"FA-TEST-STARTUP interp={interp_id()}", file=sys.stderr, flush=True)


def on_stop():
    print(f"FA-TEST-SHUTDOWN interp={interp_id()}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    unloadable = config.pop("unloadable", None)
    fallback_mode = config.pop("fallback", None)  # None, "pinned" or "pooled"
    server = PyHttp2Server(**config)
    server.add_route("GET", "/where", where)
    server.add_route("GET", "/where/async", where_async)
    server.add_route("GET", "/where/pooled", where, pooled=True)
    server.add_route("GET", "/client", client)
    server.add_route("GET", "/client/pooled", client, pooled=True)
    if unloadable:
        os.environ["FA_TEST_UNLOADABLE"] = unloadable
        import interp_unloadable
        server.add_route("GET", "/unloadable", interp_unloadable.handler)
    if fallback_mode:
        server.set_fallback(fallback, pooled=fallback_mode == "pooled")
    server.on_startup(on_start)
    server.on_shutdown(on_stop)
    print(f"FA-TEST-MODE {server.interpreters}", file=sys.stderr, flush=True)
    server.start()
