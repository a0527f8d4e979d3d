"""Class-based WebSocket endpoints, as ``starlette.endpoints.WebSocketEndpoint``.

::

    from fasterapi.endpoints import WebSocketEndpoint

    @app.websocket_route("/ws")
    class Echo(WebSocketEndpoint):
        encoding = "text"

        async def on_receive(self, websocket, data):
            await websocket.send_text(f"echo: {data}")

Each WebSocket gets its own instance.  ``on_connect`` accepts (override it
to choose a subprotocol or refuse), ``on_receive`` gets every message,
decoded by ``encoding`` ("text", "bytes", "json", or None for str or bytes
as they came), and ``on_disconnect`` gets the close code: the peer's, or
1011 when a hook raised.  A message of the wrong kind, or JSON that does not
parse, closes the socket with 1003 and raises RuntimeError.  The class is
used with ``websocket_route`` / ``add_websocket_route`` (Starlette's
routes: the hooks get the WebSocket, no parameters or dependencies).
"""
import json

from . import status

__all__ = ["WebSocketEndpoint"]


class WebSocketEndpoint:
    """One instance per WebSocket; awaiting it runs the connection."""

    encoding: str | None = None  # "text", "bytes", "json" or None

    def __init__(self, websocket):
        self.websocket = websocket

    def __await__(self):
        return self.dispatch().__await__()

    async def dispatch(self) -> None:
        ws = self.websocket
        await self.on_connect(ws)
        code = status.WS_1000_NORMAL_CLOSURE
        try:
            while True:
                message = await ws.receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    await self.on_receive(ws, await self.decode(ws, message))
                elif kind == "websocket.disconnect":
                    code = int(message.get("code") or status.WS_1000_NORMAL_CLOSURE)
                    break
        except Exception:
            code = status.WS_1011_INTERNAL_ERROR
            raise
        finally:
            await self.on_disconnect(ws, code)

    async def decode(self, websocket, message: dict):
        """The message's data as ``encoding`` asks for."""
        text, data = message.get("text"), message.get("bytes")
        if self.encoding == "text":
            if text is None:
                await websocket.close(code=status.WS_1003_UNSUPPORTED_DATA)
                raise RuntimeError("Expected text websocket messages, but got bytes")
            return text
        if self.encoding == "bytes":
            if data is None:
                await websocket.close(code=status.WS_1003_UNSUPPORTED_DATA)
                raise RuntimeError("Expected bytes websocket messages, but got text")
            return data
        if self.encoding == "json":
            try:
                return json.loads(text if text is not None else data.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                await websocket.close(code=status.WS_1003_UNSUPPORTED_DATA)
                raise RuntimeError("Malformed JSON data received.") from None
        if self.encoding is not None:
            raise RuntimeError(f"WebSocketEndpoint.encoding must be 'text', 'bytes', 'json' or None, "
                               f"not {self.encoding!r}")
        return text if text is not None else data

    async def on_connect(self, websocket) -> None:
        """The socket opened: accepts it."""
        await websocket.accept()

    async def on_receive(self, websocket, data) -> None:
        """A message arrived (decoded by ``encoding``)."""

    async def on_disconnect(self, websocket, close_code: int) -> None:
        """The socket closed with close_code."""
