"""WebSockets in the application layer: ``WebSocket``, ``WebSocketState``,
``WebSocketDisconnect``, as in ``fastapi.websockets`` / Starlette::

    from fasterapi import FastAPI, WebSocket, WebSocketDisconnect

    app = FastAPI()

    @app.websocket("/ws/{room}")
    async def chat(websocket: WebSocket, room: str, token: str | None = None):
        await websocket.accept()
        try:
            async for text in websocket.iter_text():
                await websocket.send_text(f"{room}: {text}")
        except WebSocketDisconnect:
            pass

A ``WebSocket`` wraps the native server's per-connection ``ws`` object
(see the native contract: ``accept``, ``receive``, ``send``, ``close`` and
the request attributes), or, in ``TestClient.websocket_connect()``, an
in-memory object with the same interface, so the same code runs in both.

Its two states follow Starlette's: ``application_state`` is what the
application did (CONNECTING until ``accept()``, CONNECTED, DISCONNECTED
after ``close()``, RESPONSE while a denial response is sent);
``client_state`` what the peer did (CONNECTED once accepted, DISCONNECTED
once its close, or the end of the connection, was received).
"""
import enum
import json
from urllib.parse import unquote_to_bytes

from .datastructures import URL, Address, Headers, QueryParams, State
from .requests import parse_cookies

__all__ = ["WebSocket", "WebSocketDisconnect", "WebSocketDisconnected", "WebSocketState"]

try:  # the native layer's own disconnect exception (absent in builds before its WebSocket support)
    from ._native.http2 import WebSocketDisconnect as _NativeDisconnect
except ImportError:  # pragma: no cover - depends on the build
    _NativeDisconnect = None

#: RFC 6455 5.5: a control frame carries at most 125 bytes, 2 of them the close code
MAX_CLOSE_REASON = 123


class WebSocketState(enum.Enum):
    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3


class WebSocketDisconnect(Exception):
    """The peer closed the WebSocket (or the connection ended): ``code`` is
    the close code it sent (1000 normal, 1001 going away, 1006 when the
    connection dropped without a close frame), ``reason`` its text."""

    def __init__(self, code: int = 1000, reason: str | None = None):
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __repr__(self):
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class WebSocketDisconnected(RuntimeError):
    """The WebSocket is used in a state that does not allow it: receiving
    after the peer's close was received, sending after close(), receiving
    before accept()."""


class WebSocketMessageTypeError(KeyError):
    """receive_text() got a binary message, or receive_bytes() a text one.
    A KeyError, as Starlette's ``message["text"]`` raises there."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


# the states as module constants: the per-message checks compare identities
_CONNECTED = WebSocketState.CONNECTED
_DISCONNECTED = WebSocketState.DISCONNECTED

# the exceptions that mean "the peer is gone" on the native object
_PEER_GONE = tuple(c for c in (_NativeDisconnect, WebSocketDisconnect) if c is not None)


def _disconnect_args(exc) -> tuple:
    return getattr(exc, "code", 1006), getattr(exc, "reason", "") or ""


class WebSocket:
    """One WebSocket connection, as an endpoint or a dependency receives it
    (declare a parameter of type ``WebSocket``).

    Handshake: ``await accept(subprotocol=None, headers=None)`` (or
    ``await close(code)`` first, to refuse it: HTTP 403). Messages:
    ``receive_text/bytes/json``, ``send_text/bytes/json`` (``mode="text"``
    or ``"binary"`` for JSON), ``iter_text/bytes/json`` (until the peer
    closes), ``receive()`` / ``send(message)`` with ASGI-shaped dicts.
    Request data: ``url`` (``ws://`` or ``wss://``), ``base_url``,
    ``headers``, ``query_params``, ``cookies``, ``path_params``, ``client``,
    ``scope`` (``scope["path"]``...), ``subprotocols`` (offered by the
    client), ``state``, ``app``.
    """

    def __init__(self, ws, app=None, route=None, path_params=None):
        self._ws = ws
        self._app = app
        self._route = route
        self._path_params = path_params if path_params is not None else (getattr(ws, "path_params", None) or {})
        self._headers = None
        self._query = None
        self._cookies = None
        self._state = None
        self._scope = None
        self.client_state = WebSocketState.CONNECTING
        self.application_state = WebSocketState.CONNECTING

    # -- request data ---------------------------------------------------------------
    @property
    def url(self) -> URL:
        scheme = "wss" if getattr(self._ws, "scheme", "ws") == "wss" else "ws"
        netloc = self.headers.get("host")
        if not netloc:  # no Host (HTTP/2 gives :authority as host): the local address, as Starlette
            server = getattr(self._ws, "server", None)
            netloc = f"{server[0]}:{server[1]}" if server else ""
        return URL(scheme, netloc, self._ws.path, self._ws.query or "")

    @property
    def base_url(self) -> URL:
        u = self.url
        return URL(u.scheme, u.netloc, "/", "")

    @property
    def headers(self) -> Headers:
        h = self._headers
        if h is None:
            h = self._headers = Headers(self._ws.headers)
        return h

    @property
    def query_params(self) -> QueryParams:
        q = self._query
        if q is None:
            q = self._query = QueryParams(self._ws.query or "")
        return q

    @property
    def path_params(self) -> dict:
        return self._path_params

    @property
    def cookies(self) -> dict:
        c = self._cookies
        if c is None:
            c = self._cookies = parse_cookies(self.headers.get("cookie", ""))
        return c

    @property
    def client(self):
        c = getattr(self._ws, "client", None)
        return Address(c[0], c[1]) if c else None

    @property
    def subprotocols(self) -> list:
        return list(getattr(self._ws, "subprotocols", None) or ())

    @property
    def app(self):
        return self._app

    @property
    def state(self) -> State:
        s = self._state
        if s is None:
            initial = getattr(self._app, "_lifespan_state", None) if self._app is not None else None
            s = self._state = State(initial)
        return s

    @property
    def scope(self) -> dict:
        """An ASGI-like scope (``type`` is ``"websocket"``), built once."""
        if self._scope is None:
            ws = self._ws
            raw_path = getattr(ws, "raw_path", None)
            if raw_path is None:
                raw_path = ws.path.encode("utf-8", "surrogateescape")
            # ASGI's path is percent-decoded; ws.path is as sent, like req['path']
            path = unquote_to_bytes(ws.path).decode("utf-8", "surrogateescape")
            server = getattr(ws, "server", None)
            client = getattr(ws, "client", None)
            self._scope = {
                "type": "websocket",
                "asgi": {"version": "3.0", "spec_version": "2.4"},
                "http_version": getattr(ws, "http_version", "1.1"),
                "scheme": "wss" if getattr(ws, "scheme", "ws") == "wss" else "ws",
                "path": path,
                "raw_path": raw_path,
                "query_string": (ws.query or "").encode("latin-1", "replace"),
                "root_path": getattr(self._app, "root_path", "") or "",
                "headers": [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in ws.headers.items()],
                "client": tuple(client) if client else None,
                "server": tuple(server) if server else None,
                "subprotocols": self.subprotocols,
                "path_params": self._path_params,
                "route": self._route,
                "app": self._app,
                "state": self.state._state,
            }
        return self._scope

    def __getitem__(self, key):
        return self.scope[key]

    def url_for(self, name: str, /, **path_params) -> str:
        """The URL of the route named name (http(s) or ws(s) as the route
        is reached from this connection's host)."""
        return str(self.base_url).rstrip("/") + self._app.url_path_for(name, **path_params)

    # -- the low-level, ASGI-shaped API --------------------------------------------
    async def receive(self) -> dict:
        """The next message as an ASGI-shaped dict: ``{"type":
        "websocket.receive", "text": str}`` or ``{..., "bytes": bytes}``, or
        ``{"type": "websocket.disconnect", "code": int, "reason": str}``
        once, when the peer closed.  Receiving after that raises
        WebSocketDisconnected."""
        if self.client_state == WebSocketState.DISCONNECTED:
            raise WebSocketDisconnected('Cannot call "receive" once a disconnect message has been received.')
        if self.client_state == WebSocketState.CONNECTING:
            # the handshake request is already in (the ASGI "connect" message);
            # messages only come after accept()
            self.client_state = WebSocketState.CONNECTED
            return {"type": "websocket.connect"}
        if self.application_state == WebSocketState.CONNECTING:
            raise RuntimeError('WebSocket is not accepted yet: call "await websocket.accept()" before receiving.')
        try:
            data = await self._ws.receive()
        except _PEER_GONE as exc:
            code, reason = _disconnect_args(exc)
            self.client_state = WebSocketState.DISCONNECTED
            return {"type": "websocket.disconnect", "code": code, "reason": reason}
        if isinstance(data, str):
            return {"type": "websocket.receive", "text": data}
        return {"type": "websocket.receive", "bytes": bytes(data)}

    async def send(self, message: dict) -> None:
        """Sends an ASGI-shaped message: ``websocket.accept`` (with
        ``subprotocol``, ``headers``), ``websocket.send`` (``text`` or
        ``bytes``), ``websocket.close`` (``code``, ``reason``)."""
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "websocket.accept":
            await self.accept(message.get("subprotocol"), message.get("headers"))
        elif kind == "websocket.send":
            text, data = message.get("text"), message.get("bytes")
            if text is not None:
                await self.send_text(text)
            elif data is not None:
                await self.send_bytes(data)
            else:
                raise ValueError('a "websocket.send" message needs "text" (str) or "bytes"')
        elif kind == "websocket.close":
            await self.close(message.get("code", 1000), message.get("reason"))
        else:
            raise ValueError(f'WebSocket.send() takes a "websocket.accept", "websocket.send" or "websocket.close" '
                             f'message, not {message!r}')

    # -- handshake and close --------------------------------------------------------
    async def accept(self, subprotocol: str | None = None, headers=None) -> None:
        """Accepts the handshake (HTTP 101 on HTTP/1.1, 200 on HTTP/2).
        subprotocol: the one chosen among ``websocket.subprotocols``;
        headers: extra ``(name, value)`` pairs (str or bytes) for the answer."""
        if self.application_state == WebSocketState.DISCONNECTED:
            raise WebSocketDisconnected('Cannot call "accept" once the WebSocket was closed.')
        if self.application_state != WebSocketState.CONNECTING:
            raise RuntimeError('WebSocket.accept() was already called: a WebSocket is accepted once.')
        if subprotocol is not None and not isinstance(subprotocol, str):
            raise TypeError(f"accept(subprotocol=) must be a str or None, not {type(subprotocol).__name__}")
        pairs = None
        if headers:
            items = headers.items() if hasattr(headers, "items") else headers
            pairs = []
            for pair in items:
                try:
                    name, value = pair
                except (TypeError, ValueError):
                    raise TypeError(f"accept(headers=) takes (name, value) pairs, got {pair!r}") from None
                pairs.append((name, value))
        await self._ws.accept(subprotocol=subprotocol, headers=pairs)
        self.application_state = WebSocketState.CONNECTED
        self.client_state = WebSocketState.CONNECTED

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Closes the WebSocket with code (and reason, at most 123 bytes of
        UTF-8).  Before accept() this refuses the handshake (HTTP 403).
        Closing a WebSocket the peer already closed is a no-op."""
        if self.application_state == WebSocketState.DISCONNECTED:
            raise WebSocketDisconnected('Cannot call "close" once the WebSocket was closed.')
        if self.application_state == WebSocketState.RESPONSE:
            raise RuntimeError("a denial response is being sent: the WebSocket cannot be closed")
        if not isinstance(code, int) or isinstance(code, bool):
            raise TypeError(f"close(code=) must be an int, not {type(code).__name__}")
        if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
            # RFC 6455 7.4: 1004-1006 and 1015 are never sent, the rest is reserved
            raise ValueError(f"close(code={code}) cannot be sent: use 1000-1003, 1007-1014 or 3000-4999")
        reason = "" if reason is None else reason
        if not isinstance(reason, str):
            raise TypeError(f"close(reason=) must be a str, not {type(reason).__name__}")
        n = len(reason.encode("utf-8"))
        if n > MAX_CLOSE_REASON:
            raise ValueError(f"close(reason=) is {n} bytes of UTF-8; a close frame allows {MAX_CLOSE_REASON} "
                             f"(RFC 6455 5.5): shorten it")
        self.application_state = WebSocketState.DISCONNECTED
        if self.client_state == WebSocketState.DISCONNECTED:
            return  # the peer's close already came: nothing left to answer
        try:
            await self._ws.close(code, reason)
        except _PEER_GONE:
            self.client_state = WebSocketState.DISCONNECTED

    async def send_denial_response(self, response) -> None:
        """Refuses the handshake with an HTTP response (a Response object)
        instead of 403, when the server supports it (TestClient does; the
        native server when its ``ws`` has ``deny``).  Raises RuntimeError
        otherwise, as Starlette does without the extension."""
        deny = getattr(self._ws, "deny", None)
        if deny is None:
            raise RuntimeError("The server doesn't support the Websocket Denial Response extension.")
        if self.application_state != WebSocketState.CONNECTING:
            raise RuntimeError("send_denial_response() is only possible before accept() or close()")
        from .routing import response_tuple  # noqa: PLC0415 - routing imports this module's users
        status, ct, body, headers = response_tuple(response)
        hdrs = list(headers or ())
        if ct is not None:
            hdrs.insert(0, ("content-type", ct))
        if not isinstance(body, (bytes, bytearray)):
            raise TypeError("send_denial_response() takes a Response with its body in memory (not streamed or a file)")
        self.application_state = WebSocketState.RESPONSE
        try:
            await deny(status, hdrs, bytes(body))
        finally:
            self.application_state = WebSocketState.DISCONNECTED

    # -- messages -------------------------------------------------------------------
    def _check_connected(self):
        if self.application_state != WebSocketState.CONNECTED:
            if self.application_state == WebSocketState.CONNECTING:
                raise WebSocketDisconnected('WebSocket is not connected. Need to call "accept" first.')
            raise WebSocketDisconnected('WebSocket is not connected: it was closed.')

    async def _receive_data(self):
        # receive() without its message dicts: the path every receive_*() takes
        if self.application_state is not _CONNECTED:
            self._check_connected()
        if self.client_state is _DISCONNECTED:
            raise WebSocketDisconnected('Cannot call "receive" once a disconnect message has been received.')
        try:
            return await self._ws.receive()
        except _PEER_GONE as exc:
            self.client_state = WebSocketState.DISCONNECTED
            raise WebSocketDisconnect(*_disconnect_args(exc)) from None

    async def receive_text(self) -> str:
        """The next text message; raises WebSocketDisconnect when the peer
        closed, and a KeyError (WebSocketMessageTypeError) on a binary one."""
        # _receive_data() inlined: one coroutine frame less per message
        if self.application_state is not _CONNECTED or self.client_state is _DISCONNECTED:
            data = await self._receive_data()
        else:
            try:
                data = await self._ws.receive()
            except _PEER_GONE as exc:
                self.client_state = _DISCONNECTED
                raise WebSocketDisconnect(*_disconnect_args(exc)) from None
        if type(data) is not str:
            raise WebSocketMessageTypeError("receive_text() got a binary message: use receive_bytes() or "
                                            "receive() for both kinds")
        return data

    async def receive_bytes(self) -> bytes:
        """The next binary message (see receive_text)."""
        data = await self._receive_data()
        if isinstance(data, str):
            raise WebSocketMessageTypeError("receive_bytes() got a text message: use receive_text() or "
                                            "receive() for both kinds")
        return data if type(data) is bytes else bytes(data)

    async def receive_json(self, mode: str = "text"):
        """The next message parsed as JSON: from a text message
        (mode="text") or from UTF-8 in a binary one (mode="binary")."""
        if mode not in ("text", "binary"):
            raise RuntimeError('The "mode" argument should be "text" or "binary".')
        if mode == "text":
            return json.loads(await self.receive_text())
        return json.loads((await self.receive_bytes()).decode("utf-8"))

    async def iter_text(self):
        """Text messages until the peer closes (the loop then just ends)."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            pass

    async def iter_bytes(self):
        """Binary messages until the peer closes."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            pass

    async def iter_json(self):
        """JSON text messages until the peer closes."""
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            pass

    async def _send_data(self, data) -> None:
        state = self.application_state
        if state is not _CONNECTED:
            if state is _DISCONNECTED:
                raise WebSocketDisconnected('Cannot call "send" once a close message has been sent.')
            raise RuntimeError('WebSocket is not accepted yet: call "await websocket.accept()" before sending.')
        try:
            await self._ws.send(data)
        except _PEER_GONE as exc:
            code, reason = _disconnect_args(exc)
            self.application_state = WebSocketState.DISCONNECTED
            self.client_state = WebSocketState.DISCONNECTED
            raise WebSocketDisconnect(code, reason) from None

    async def send_text(self, data: str) -> None:
        """Sends a text message.  Raises WebSocketDisconnect when the peer is gone."""
        if not isinstance(data, str):
            raise TypeError(f"send_text() takes a str, not {type(data).__name__} (send_bytes() sends bytes)")
        if self.application_state is not _CONNECTED:
            await self._send_data(data)  # raises the state's error
            return
        try:  # _send_data() inlined: one coroutine frame less per message
            await self._ws.send(data)
        except _PEER_GONE as exc:
            self.application_state = self.client_state = _DISCONNECTED
            raise WebSocketDisconnect(*_disconnect_args(exc)) from None

    async def send_bytes(self, data: bytes) -> None:
        """Sends a binary message (bytes, bytearray or memoryview)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"send_bytes() takes bytes, not {type(data).__name__} (send_text() sends a str)")
        await self._send_data(data)

    async def send_json(self, data, mode: str = "text") -> None:
        """Sends data as compact JSON, in a text message (mode="text") or as
        UTF-8 in a binary one (mode="binary")."""
        if mode not in ("text", "binary"):
            raise RuntimeError('The "mode" argument should be "text" or "binary".')
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        await self._send_data(text if mode == "text" else text.encode("utf-8"))

    def __repr__(self):
        return f"<WebSocket {self._ws.path} {self.application_state.name}>"
