"""The app behind the HTTP/1.1 and WebSocket MUST-by-MUST suites
(tests/python/h1conf, tests/python/wsconf): a route for each shape of answer
a requirement needs (a body, none, 204, 304, an echo of the request) and
two WebSocket echoes (plain and permessage-deflate).

Run as `python conf_app.py '<json of PyHttp2Server keywords>'`.
"""
import json

from fasterapi._native.http2 import WebSocketDisconnect


def root(req, res):
    res['content_type'] = 'text/plain'
    res['body'] = f"{req['method']} / {len(req['body'])}"


def echo(req, res):
    """The body back, and what the handler saw of the head."""
    res['content_type'] = 'application/octet-stream'
    res['headers'] = {'x-body-len': str(len(req['body'])),
                      'x-seen': json.dumps(sorted(k.lower() for k in req['headers']))}
    res['body'] = req['body']


def seen(req, res):
    """The headers and target as the handler got them, as JSON."""
    res['content_type'] = 'application/json'
    res['body'] = json.dumps({"path": req['path'], "query": req['query'],
                              "headers": {k.lower(): v for k, v in req['headers'].items()}})


def status(req, res):
    res['status'] = int(req['query'])
    res['body'] = f"status {req['query']}"


def big(req, res):
    res['content_type'] = 'application/octet-stream'
    res['body'] = b"x" * int(req['query'] or 0)


async def ws_echo(ws):
    await ws.accept()
    try:
        while True:
            await ws.send(await ws.receive())
    except WebSocketDisconnect:
        pass


ROUTES = [
    *[(m, "/", root) for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS")],
    ("GET", "/status", status),
    ("HEAD", "/status", status),
    ("GET", "/seen", seen),
    ("GET", "/big", big),
    ("HEAD", "/big", big),
    ("POST", "/echo", echo),
    ("PUT", "/echo", echo),
    ("GET", "/only-get", root),
]

if __name__ == "__main__":
    import sys

    from fasterapi._native.http2 import PyHttp2Server
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    server = PyHttp2Server(**config)
    for method, path, handler in ROUTES:
        server.add_route(method, path, handler)
    server.add_websocket("/ws", ws_echo)
    server.add_websocket("/zws", ws_echo, compression=True)
    server.start()
