"""WebSocket echo and broadcast for bench/ws.py: the native API (run as a
script) and raw ASGI (`ws_bench_app:asgi`, for Uvicorn and Granian).

Broadcast has the shape of FastAPI's ConnectionManager example: /sub
registers the WebSocket and greets it (so the load knows it is registered);
/pub sends each message it receives to every registered WebSocket in turn,
awaiting each send."""
import sys

SUBSCRIBERS = {}  # one worker: a dict keeps insertion order, deletes cheaply


async def echo(ws):
    await ws.accept()
    async for msg in ws:
        await ws.send(msg)


async def sub(ws):
    await ws.accept()
    SUBSCRIBERS[ws] = None
    try:
        await ws.send("registered")
        async for _ in ws:
            pass
    finally:
        SUBSCRIBERS.pop(ws, None)


async def pub(ws):
    await ws.accept()
    async for msg in ws:
        for s in list(SUBSCRIBERS):
            try:
                await s.send(msg)
            except Exception:  # that subscriber has gone; its handler removes it
                pass


async def _asgi_sub(receive, send):
    await send({"type": "websocket.accept"})
    SUBSCRIBERS[send] = None
    try:
        await send({"type": "websocket.send", "text": "registered"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        SUBSCRIBERS.pop(send, None)


async def _asgi_pub(receive, send):
    await send({"type": "websocket.accept"})
    while True:
        msg = await receive()
        if msg["type"] == "websocket.disconnect":
            return
        out = {"type": "websocket.send", "text": msg.get("text"), "bytes": msg.get("bytes")}
        for s in list(SUBSCRIBERS):
            try:
                await s(out)
            except Exception:
                pass


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if scope["type"] != "websocket":
        return
    msg = await receive()  # websocket.connect
    if scope["path"] == "/sub":
        return await _asgi_sub(receive, send)
    if scope["path"] == "/pub":
        return await _asgi_pub(receive, send)
    await send({"type": "websocket.accept"})
    while True:
        msg = await receive()
        if msg["type"] == "websocket.disconnect":
            return
        if msg.get("text") is not None:
            await send({"type": "websocket.send", "text": msg["text"]})
        else:
            await send({"type": "websocket.send", "bytes": msg["bytes"]})


def plain(req, res):
    res['body'] = "ok"


if __name__ == "__main__":
    from fasterapi._native.http2 import PyHttp2Server

    server = PyHttp2Server(host="127.0.0.1", port=int(sys.argv[1]), num_pinned_workers=1,
                           num_pooled_workers=0)
    server.add_websocket("/ws", echo, ping_interval=None)
    server.add_websocket("/sub", sub, ping_interval=None)
    server.add_websocket("/pub", pub, ping_interval=None)
    server.add_route("GET", "/", plain)
    server.start()
