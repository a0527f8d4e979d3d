"""Raw ASGI app (Granian ASGI, Uvicorn, Hypercorn): no framework."""
import json

HELLO = b"Hello, World!"
CPU_LOOPS = 20000
TEXT = [(b"content-type", b"text/plain")]
JSON = [(b"content-type", b"application/json")]


async def _send(send, status, headers, body):
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if kind != "http":
        return
    path = scope["path"]
    if path == "/":
        await _send(send, 200, TEXT, HELLO)
    elif path == "/json":
        await _send(send, 200, JSON, json.dumps({"message": "Hello, World!"}).encode())
    elif path.startswith("/user/"):
        await _send(send, 200, JSON, json.dumps({"id": path[6:]}).encode())
    elif path == "/echo" and scope["method"] == "POST":
        chunks = []
        while True:
            msg = await receive()
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        await _send(send, 200, JSON, b"".join(chunks))
    elif path == "/cpu":
        total = 0
        for i in range(CPU_LOOPS):
            total += i * i % 7
        await _send(send, 200, TEXT, str(total).encode())
    else:
        await _send(send, 404, TEXT, b"not found")
