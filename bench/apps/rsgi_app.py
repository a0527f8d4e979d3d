"""Granian RSGI app: Granian's own interface, its fastest."""
import json

HELLO = "Hello, World!"
CPU_LOOPS = 20000
TEXT = [("content-type", "text/plain")]
JSON = [("content-type", "application/json")]


async def app(scope, proto):
    path = scope.path
    if path == "/":
        proto.response_str(200, TEXT, HELLO)
    elif path == "/json":
        proto.response_str(200, JSON, json.dumps({"message": HELLO}))
    elif path.startswith("/user/"):
        proto.response_str(200, JSON, json.dumps({"id": path[6:]}))
    elif path == "/echo" and scope.method == "POST":
        proto.response_bytes(200, JSON, await proto())
    elif path == "/cpu":
        total = 0
        for i in range(CPU_LOOPS):
            total += i * i % 7
        proto.response_str(200, TEXT, str(total))
    else:
        proto.response_str(404, TEXT, "not found")
