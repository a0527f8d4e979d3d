"""WebSocket echo for bench/ws.py: the native API (run as a script) and raw
ASGI (`ws_bench_app:asgi`, for Uvicorn and Granian)."""
import sys


async def echo(ws):
    await ws.accept()
    async for msg in ws:
        await ws.send(msg)


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
    server.add_route("GET", "/", plain)
    server.start()
