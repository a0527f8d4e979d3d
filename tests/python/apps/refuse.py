"""add_route must refuse handlers another interpreter cannot import.

Prints one JSON line: for each kind of handler, "ok" or "<ExcType>: <message>".
"""
import json
import sys

from fasterapi._native.http2 import PyHttp2Server


def module_level(req, res):
    res['body'] = "ok"


class Handlers:
    def method(self, req, res):
        res['body'] = "method"


def make_closure():
    greeting = "hi"

    def closure(req, res):
        res['body'] = greeting
    return closure


def make_nested():
    def nested(req, res):  # no free variables, but not importable by name
        res['body'] = "nested"
    return nested


def attempt(server, handler, **kw):
    try:
        server.add_route("GET", f"/h{attempt.n}", handler, **kw)
        return "ok"
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"
    finally:
        attempt.n += 1


attempt.n = 0

if __name__ == "__main__":
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    server = PyHttp2Server(**cfg)
    out = {
        "module_level": attempt(server, module_level),
        "module_level_pooled": attempt(server, module_level, pooled=True),
        "lambda": attempt(server, lambda req, res: None),
        "closure": attempt(server, make_closure()),
        "bound_method": attempt(server, Handlers().method),
        "nested": attempt(server, make_nested()),
        "not_callable": attempt(server, 42),
    }
    print(json.dumps(out), flush=True)
