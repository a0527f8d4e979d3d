"""1,000 concurrent sleepers: a handler that awaits asyncio.sleep(0.2).

The same handler for every contender, each with ONE worker:

    python sleep_app.py PORT                       FasterAPI, low-level API, 1 pinned worker
    uvicorn sleep_app:asgi --workers 1 ...         Uvicorn (raw ASGI)
    granian --interface asgi sleep_app:asgi ...    Granian ASGI
    granian --interface rsgi sleep_app:rsgi ...    Granian RSGI

Every FasterAPI worker interpreter imports this file again (as __mp_main__),
so the handler is a module-level function and fasterapi is imported only
under __main__ (Uvicorn and Granian import this module too).
"""
import asyncio
import sys

SLEEP = 0.2
BODY = b"ok"


async def sleep_handler(req, res):
    await asyncio.sleep(SLEEP)
    res["body"] = BODY


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await asyncio.sleep(SLEEP)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": BODY})


async def rsgi(scope, proto):
    await asyncio.sleep(SLEEP)
    proto.response_bytes(200, [("content-type", "text/plain")], BODY)


if __name__ == "__main__":
    from fasterapi._native.http2 import PyHttp2Server

    server = PyHttp2Server(port=int(sys.argv[1]), host="127.0.0.1", num_pinned_workers=1)
    server.add_route("GET", "/sleep", sleep_handler)
    server.start()
