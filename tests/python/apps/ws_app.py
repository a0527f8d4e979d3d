"""WebSocket handlers on the low-level API (tests/python/test_websocket.py).

Run as `python ws_app.py '<json of PyHttp2Server keywords>'`; the routes are
added in the __main__ block.  Handlers print FA-WS-* markers on stderr where
a test needs to see what the handler saw (close codes, disconnects).
"""
import asyncio
import json
import sys

from fasterapi._native.http2 import WebSocketDisconnect


def _mark(*parts):
    print("FA-WS", *parts, file=sys.stderr, flush=True)


async def echo(ws):
    """Echoes every message; reports how the WebSocket ended."""
    await ws.accept()
    try:
        while True:
            msg = await ws.receive()
            await ws.send(msg)
    except WebSocketDisconnect as exc:
        _mark("echo-closed", exc.code, repr(exc.reason))


async def echo_iter(ws):
    """`async for` until the peer closes, then one marker."""
    await ws.accept()
    n = 0
    async for msg in ws:
        n += 1
        await ws.send(msg)
    _mark("iter-done", n)


async def info(ws):
    """Sends what the ws object says about the request, as JSON."""
    sub = ws.subprotocols[0] if ws.subprotocols else None
    await ws.accept(subprotocol=sub, headers=[("x-hello", "world"), (b"x-bytes", b"yes")])
    await ws.send(json.dumps({
        "path": ws.path, "raw_path": ws.raw_path.decode(), "query": ws.query,
        "headers": dict(ws.headers), "client": list(ws.client), "server": list(ws.server),
        "scheme": ws.scheme, "http_version": ws.http_version,
        "subprotocols": ws.subprotocols, "path_params": ws.path_params,
    }))
    await ws.close()


async def reject(ws):
    """close() before accept(): HTTP 403."""
    await ws.close()


async def deny(ws):
    """deny() before accept(): the handler's own HTTP answer (RFC 8441 on
    HTTP/2); a bad status is a ValueError, whose text goes back in a 400."""
    try:  # HTTP/2: a 2xx answer to the CONNECT would accept it (RFC 8441)
        await ws.deny(101 if ws.http_version == "1.1" else 204, [], b"")
    except ValueError as e:
        bad_status = str(e)
    else:
        bad_status = "the bad status was accepted"
    if ws.query == "bad":
        await ws.deny(400, [("content-type", "text/plain")], bad_status.encode())
        return
    await ws.deny(401, [("www-authenticate", 'Bearer realm="ws"'), ("content-type", "text/plain")],
                  b"no token")
    try:
        await ws.accept()
    except Exception as e:  # the handshake was answered: accept() is over
        _mark("deny-accept", type(e).__name__)


async def raise_before(ws):
    raise RuntimeError("boom before accept")


async def raise_after(ws):
    await ws.accept()
    await ws.receive()
    raise RuntimeError("boom after accept")


async def close_code(ws):
    """Closes with the code and reason the query names: ?4001&bye"""
    await ws.accept()
    code, _, reason = ws.query.partition("&")
    await ws.close(int(code), reason)


async def return_open(ws):
    """Returns without closing: the server closes with 1000."""
    await ws.accept()
    await ws.send("bye")


async def api_errors(ws):
    """Bad API calls raise exceptions that say what to change."""
    out = {}
    try:
        await ws.send("x")
    except RuntimeError as exc:
        out["send_before_accept"] = str(exc)
    for sub in ("not-offered", "bad token", 7):
        try:
            await ws.accept(subprotocol=sub)
        except (ValueError, TypeError) as exc:
            out[f"sub_{sub}"] = f"{type(exc).__name__}: {exc}"
    try:
        await ws.accept(headers=[("bad name", "v")])
    except ValueError as exc:
        out["bad_header"] = str(exc)
    try:
        await ws.accept(headers=[("x", "a\r\nb")])
    except ValueError as exc:
        out["crlf_header"] = str(exc)
    await ws.accept()
    try:
        await ws.accept()
    except RuntimeError as exc:
        out["accept_twice"] = str(exc)
    for code in (999, 1005, 1006, 2000, 5000):
        try:
            await ws.close(code)
        except ValueError as exc:
            out[f"close_{code}"] = str(exc)
    try:
        await ws.close(1000, "x" * 124)
    except ValueError as exc:
        out["long_reason"] = str(exc)
    try:
        await ws.send(12)
    except TypeError as exc:
        out["send_int"] = str(exc)
    out["subprotocols"] = ws.subprotocols
    await ws.send(json.dumps(out))
    await ws.close()
    try:
        await ws.send("after close")
    except WebSocketDisconnect as exc:
        _mark("send-after-close", exc.code)


async def slow_reader(ws):
    """Reads one message per ?seconds after a first wait: the client's sends
    must back up (the server stops reading)."""
    await ws.accept()
    delay = float(ws.query or 0.05)
    await asyncio.sleep(1.0)
    n = 0
    try:
        while True:
            msg = await ws.receive()
            n += 1
            if msg == "done":
                await ws.send(str(n))
                break
            await asyncio.sleep(delay)
    except WebSocketDisconnect:
        pass


async def flood(ws):
    """Sends ?count messages of ?size bytes as fast as send() lets it, then
    a final 'end'; reports the high-water of its own progress."""
    await ws.accept()
    count, _, size = ws.query.partition("&")
    count, size = int(count), int(size)
    chunk = b"x" * size
    try:
        for _ in range(count):
            await ws.send(chunk)
        await ws.send("end")
        _mark("flood-done", count)
        await ws.receive()
    except WebSocketDisconnect as exc:
        _mark("flood-closed", exc.code)


async def wait_close(ws):
    """Waits for the peer (or the server's stop) to close; reports the code."""
    await ws.accept()
    await ws.send("ready")
    try:
        while True:
            await ws.receive()
    except WebSocketDisconnect as exc:
        _mark("wait-closed", exc.code, repr(exc.reason))


async def receive_timeout(ws):
    """A receive() given up on (timeout) loses no message: the next one gets it."""
    await ws.accept()
    try:
        await asyncio.wait_for(ws.receive(), 0.2)
        await ws.send("no timeout?")
    except asyncio.TimeoutError:
        await ws.send("timed out")
    await asyncio.sleep(0.3)  # the next message arrives while the given-up receive is on record
    msg = await ws.receive()
    await ws.send("then " + msg)
    await ws.close()


async def room(ws):
    await ws.accept()
    await ws.send(json.dumps(ws.path_params))
    await ws.close()


def plain(req, res):
    res['body'] = "plain http"


if __name__ == "__main__":
    from fasterapi._native.http2 import PyHttp2Server

    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    ws_opts = config.pop("ws", {})
    server = PyHttp2Server(**config)
    for path, fn in [("/echo", echo), ("/iter", echo_iter), ("/info/{name}", info),
                     ("/reject", reject), ("/deny", deny), ("/raise-before", raise_before),
                     ("/raise-after", raise_after), ("/close", close_code),
                     ("/return-open", return_open), ("/api-errors", api_errors),
                     ("/slow", slow_reader), ("/flood", flood), ("/wait", wait_close),
                     ("/rooms/{room}/{rest:path}", room), ("/timeout", receive_timeout)]:
        server.add_websocket(path, fn, **ws_opts)
    server.add_websocket("/zecho", echo, compression=True)
    server.add_websocket("/small", echo, max_message_size=1000, max_frame_size=600)
    server.add_websocket("/ping", wait_close, ping_interval=0.3, ping_timeout=0.5)
    server.add_route("GET", "/plain", plain)
    server.start()
