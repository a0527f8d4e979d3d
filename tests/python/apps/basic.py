"""The general-purpose test app: one route per behaviour under test.

Run as `python basic.py '<json of PyHttp2Server keywords>'`.  Every
interpreter of the server imports this file under a name other than
__main__, so the handlers are module-level functions and the __main__ block
runs once.  Keep the module-level code light: it runs in each interpreter.
"""
import asyncio
import hashlib
import json
import sys
import time

print(f"FA-TEST-MODULE-LOADED name={__name__}", file=sys.stderr, flush=True)

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"  # 64 bytes


def interp_id():
    try:
        import _interpreters  # 3.13
        return _interpreters.get_current()[0]
    except ImportError:  # 3.12
        import _xxsubinterpreters
        return int(_xxsubinterpreters.get_current())


def hello(req, res):
    res['status'] = 200
    res['content_type'] = 'text/plain'
    res['body'] = f"Hello from {req['path']}"


def info(req, res):
    body = req['body']
    res['content_type'] = 'application/json'
    res['body'] = json.dumps({
        "method": req['method'],
        "path": req['path'],
        "query": req['query'],
        "probe": req['headers'].get('x-probe'),
        "body_type": type(body).__name__,
        "body_len": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "interp": interp_id(),
    })


def echo(req, res):
    res['content_type'] = 'application/octet-stream'
    res['headers'] = {'X-Body-Len': str(len(req['body'])), 'X-Method': req['method']}
    res['body'] = req['body']


def download(req, res):
    n = int(req['query'] or 0)
    res['content_type'] = 'application/octet-stream'
    res['body'] = (PATTERN * (n // len(PATTERN) + 1))[:n]


def str_body(req, res):
    res['content_type'] = 'text/plain; charset=utf-8'
    res['body'] = "h\u00e9llo \u2713"


def bytes_body(req, res):
    res['content_type'] = 'application/octet-stream'
    res['body'] = b"\x00\x01binary\xff\r\n"


def custom_headers(req, res):
    res['content_type'] = 'text/plain'
    res['headers'] = {'X-Custom': 'yes', 'X-Another-One': 'value with spaces'}
    res['body'] = "headers"


def own_fields(req, res):
    """Sets fields the server also adds (server, date, a default's name)."""
    res['content_type'] = 'text/plain'
    res['headers'] = {'Server': 'mine', 'Date': 'Thu, 01 Jan 1970 00:00:00 GMT',
                      'X-Frame-Options': 'SAMEORIGIN'}
    res['body'] = "own"


def status(req, res):
    res['status'] = int(req['query'])
    res['content_type'] = 'text/plain'
    res['body'] = f"status {req['query']}"


def default_status(req, res):
    res['body'] = "default"


def empty(req, res):
    res['content_type'] = 'text/plain'
    res['body'] = b""


BAD = {
    'status': ('status', "abc"),
    'body': ('body', 12345),
    'content_type': ('content_type', 42),
    'headers': ('headers', 42),
}


def bad(req, res):
    key, value = BAD[req['query']]
    res['content_type'] = 'text/plain'
    res['body'] = "should not be sent"
    res[key] = value


def raise_(req, res):
    raise ValueError(f"boom-{req['query']}")


def ci_headers(req, res):
    h = req['headers']
    res['content_type'] = 'text/plain'
    res['body'] = "|".join([h['x-test-header'], h['X-TEST-HEADER'], h['X-Test-Header'],
                            str(h.get('X-tEsT-hEaDeR')), str(h.get('x-absent'))])


def query(req, res):
    res['content_type'] = 'application/json'
    res['body'] = json.dumps({"path": req['path'], "query": req['query']})


def interp(req, res):
    import threading
    res['content_type'] = 'application/json'
    res['body'] = json.dumps({"interp": interp_id(), "thread": threading.get_ident()})


def cpu(req, res):
    n = int(req['query'])
    start = time.monotonic()
    x = 0
    for i in range(n):
        x += i
    end = time.monotonic()
    res['content_type'] = 'application/json'
    res['body'] = json.dumps({"interp": interp_id(), "start": start, "end": end, "x": x})


def sleep(req, res):
    t = float(req['query'])
    start = time.monotonic()
    time.sleep(t)
    res['content_type'] = 'application/json'
    res['body'] = json.dumps({"interp": interp_id(), "slept": t, "start": start, "end": time.monotonic()})


async def async_cpu(req, res):
    """Suspends once, then keeps its interpreter busy for `query` seconds."""
    await asyncio.sleep(0)
    end = time.monotonic() + float(req['query'])
    while time.monotonic() < end:
        pass
    res['content_type'] = 'text/plain'
    res['body'] = "spun"


def inject(req, res):
    res['content_type'] = 'text/plain'
    res['headers'] = {'X-Evil': 'a\r\nInjected: yes'}
    res['body'] = "inject"


ROUTES = [
    ("GET", "/", hello),          # ID 0
    ("GET", "/test", hello),      # ID 1
    *[(m, "/info", info) for m in METHODS],
    *[(m, "/echo", echo) for m in ("POST", "PUT", "PATCH")],
    ("GET", "/download", download),
    ("HEAD", "/download", download),
    ("GET", "/str", str_body),
    ("GET", "/bytes", bytes_body),
    ("GET", "/headers", custom_headers),
    ("GET", "/own-fields", own_fields),
    ("GET", "/status", status),
    ("GET", "/default", default_status),
    ("GET", "/empty", empty),
    ("GET", "/bad", bad),
    ("GET", "/raise", raise_),
    ("GET", "/ci", ci_headers),
    ("GET", "/query", query),
    ("GET", "/interp", interp),
    ("GET", "/cpu", cpu),
    ("GET", "/sleep", sleep),
    ("GET", "/inject", inject),
    ("GET", "/async/cpu", async_cpu),
]
POOLED_ROUTES = [
    ("GET", "/pooled/sleep", sleep),
    ("GET", "/pooled/interp", interp),
    ("GET", "/pooled/cpu", cpu),
    ("POST", "/pooled/echo", echo),
    ("GET", "/pooled/raise", raise_),
]


if __name__ == "__main__":
    print("FA-TEST-MAIN-BLOCK", file=sys.stderr, flush=True)
    from _serve import serve
    serve(ROUTES, POOLED_ROUTES)
    print("FA-TEST-START-RETURNED", file=sys.stderr, flush=True)
