"""The app behind the HTTP/2 conformance and attack tests: a route for every
method on `/`, plus a few shapes of answer (large, echoed, slow).

Run as `python conformance.py '<json of PyHttp2Server keywords>'`.
"""
import time

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


def root(req, res):
    res['content_type'] = 'text/plain'
    res['body'] = f"{req['method']} / {len(req['body'])}"


def big(req, res):
    n = int(req['query'] or 0)
    res['content_type'] = 'application/octet-stream'
    res['body'] = b"x" * n


def echo(req, res):
    res['content_type'] = 'application/octet-stream'
    res['headers'] = {'x-body-len': str(len(req['body']))}
    res['body'] = req['body']


def slow(req, res):
    time.sleep(float(req['query'] or 0.1))
    res['body'] = "slept"


ROUTES = [
    *[(m, "/", root) for m in METHODS],
    ("GET", "/big", big),
    ("POST", "/echo", echo),
    ("PUT", "/echo", echo),
]
POOLED_ROUTES = [
    ("GET", "/slow", slow),
    ("POST", "/slow", slow),
]

if __name__ == "__main__":
    from _serve import serve
    serve(ROUTES, POOLED_ROUTES)
