"""``TestClient.websocket_connect()``: a WebSocket session with the app,
in memory.

The app side runs exactly what the server runs (fasterapi._websocket.
dispatch) on its own event loop in a helper thread, with a
:class:`MemoryWebSocket` in place of the native ``ws`` object (same
attributes and coroutines: accept, receive, send, close, async iteration).
The test side is synchronous, as Starlette's ``WebSocketTestSession``:
``send_text/bytes/json``, ``receive_text/bytes/json``, ``close``; it raises
``WebSocketDisconnect`` when the app closed (also at connect time, when the
app closes before accepting), the app's own exception when the endpoint
raised, and ``WebSocketDenialResponse`` for a denial response.
"""
import asyncio
import json as _jsonlib
import queue
import re
import threading
from urllib.parse import quote, urlencode, urljoin, urlsplit

from ._worker import Headers as _NativeHeaders
from .requests import parse_cookies
from .websockets import WebSocketDisconnect

try:  # what the native ws object raises when the peer closed
    from ._native.http2 import WebSocketDisconnect as _PeerClosed
except ImportError:  # pragma: no cover - a build without the native WebSocket layer
    _PeerClosed = WebSocketDisconnect  # the app layer accepts both (websockets._PEER_GONE)

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token, as the native accept() checks

__all__ = ["MemoryWebSocket", "WebSocketTestSession", "WebSocketDenialResponse"]

# how long leaving the `with` block waits for the endpoint to end by itself
# (it got the close) before cancelling it, as Starlette's session cancels it
_EXIT_GRACE = 10.0


def _peer_closed(code, reason):
    try:
        return _PeerClosed(code, reason)
    except TypeError:  # a native type that takes no arguments
        e = _PeerClosed()
        e.code, e.reason = code, reason
        return e


class MemoryWebSocket:
    """The native ``ws`` interface (see the native contract), in memory:
    what the app sends goes to the test thread's queue, what the test
    sends arrives in ``_inbox``."""

    def __init__(self, session, *, path, raw_path, query, headers, client, server, scheme, subprotocols,
                 raise_server_exceptions):
        self.path = path
        self.raw_path = raw_path
        self.query = query
        self.headers = headers
        self.client = client
        self.server = server
        self.scheme = scheme
        self.http_version = "1.1"
        self.subprotocols = list(subprotocols)
        self.path_params = {}
        self._raise_server_exceptions = raise_server_exceptions
        self._session = session
        self._inbox = asyncio.Queue()
        self._accepted = False
        self._closed = None  # (code, reason) once either side closed

    async def accept(self, subprotocol=None, headers=None):
        if self._accepted:
            raise RuntimeError("accept() was already called")
        if self._closed is not None:
            raise _peer_closed(*self._closed)
        if subprotocol is not None and (not isinstance(subprotocol, str) or not _TOKEN.fullmatch(subprotocol)):
            raise ValueError(f"accept(): subprotocol {subprotocol!r} is not a token (RFC 6455 4.1)")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            # RFC 6455 4.2.2, as the native accept() checks
            raise ValueError(f"accept(): subprotocol {subprotocol!r} was not offered by the client "
                             f"(ws.subprotocols is {self.subprotocols!r})")
        out = []
        for pair in headers or ():
            name, value = pair
            if not isinstance(name, (str, bytes)) or not isinstance(value, (str, bytes)):
                raise TypeError(f"accept(headers=) takes (str|bytes, str|bytes) pairs, got {pair!r}")
            out.append((name.decode("latin-1") if isinstance(name, bytes) else name,
                        value.decode("latin-1") if isinstance(value, bytes) else value))
        self._accepted = True
        self._session._post(("accept", subprotocol, out))

    async def receive(self):
        if not self._accepted:
            raise RuntimeError("receive() before accept()")
        if self._closed is not None:
            raise _peer_closed(*self._closed)
        item = await self._inbox.get()
        if item[0] == "close":
            self._closed = (item[1], item[2])
            raise _peer_closed(*self._closed)
        return item[1]

    async def send(self, data):
        if not self._accepted:
            raise RuntimeError("send() before accept()")
        if self._closed is not None:
            raise _peer_closed(*self._closed)
        if isinstance(data, str):
            self._session._post(("text", data))
        elif isinstance(data, (bytes, bytearray, memoryview)):
            self._session._post(("bytes", bytes(data)))
        else:
            raise TypeError(f"send() takes str or bytes, not {type(data).__name__}")

    async def close(self, code=1000, reason=""):
        if self._closed is not None:
            return
        self._closed = (code, reason or "")
        self._session._post(("close", code, reason or ""))

    async def deny(self, status, headers, body):
        """The Websocket Denial Response: an HTTP answer instead of 101."""
        if self._accepted or self._closed is not None:
            raise RuntimeError("deny() after accept() or close()")
        self._closed = (1000, "")
        self._session._post(("deny", status, list(headers), bytes(body)))

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return await self.receive()
        except _PeerClosed:
            raise StopAsyncIteration from None


class WebSocketDenialResponse(WebSocketDisconnect):
    """Raised by websocket_connect() when the app refused the handshake
    with an HTTP response (``send_denial_response``): ``status_code``,
    ``headers``, ``content``, ``text``, ``json()``."""

    def __init__(self, status_code, headers, content):
        super().__init__(1000, "")
        from .testclient import TestResponse  # noqa: PLC0415
        self.response = TestResponse(status_code, headers, content, "", "GET")
        self.status_code = status_code
        self.headers = self.response.headers
        self.content = content

    @property
    def text(self):
        return self.response.text

    def json(self):
        return self.response.json()


class WebSocketTestSession:
    """A WebSocket to the app, used as a context manager::

        with client.websocket_connect("/ws?token=t", subprotocols=["chat"]) as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "echo: hi"

    ``accepted_subprotocol`` and ``extra_headers`` tell what accept() gave."""

    __test__ = False

    def __init__(self, client, url, subprotocols=None, headers=None, params=None, cookies=None):
        self._client = client
        self.accepted_subprotocol = None
        self.extra_headers = None
        full = urljoin("ws://testserver", url)
        parts = urlsplit(full)
        if parts.scheme not in ("ws", "wss", "http", "https"):
            raise ValueError(f"websocket_connect() takes a ws:// or wss:// URL or a path, not {url!r}")
        scheme = "wss" if parts.scheme in ("wss", "https") else "ws"
        raw = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        query = parts.query
        if params:
            items = params.items() if hasattr(params, "items") else params
            extra = urlencode([(k, v) for k, v in items], doseq=True)
            query = f"{query}&{extra}" if query else extra
        hdrs = {"host": parts.netloc or "testserver", "user-agent": "testclient", "accept": "*/*",
                "accept-encoding": "gzip, deflate", "connection": "upgrade", "upgrade": "websocket",
                "sec-websocket-key": "testserver==", "sec-websocket-version": "13"}
        hdrs.update(getattr(client, "headers", {}) or {})
        if subprotocols:
            hdrs["sec-websocket-protocol"] = ", ".join(subprotocols)
        for k, v in (headers.items() if hasattr(headers, "items") else headers or ()):
            hdrs[k.lower()] = str(v)
        jar = dict(getattr(client, "cookies", {}) or {})
        jar.update(cookies or {})
        if jar:
            jar.update(parse_cookies(hdrs.get("cookie", "")))
            hdrs["cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        native = _NativeHeaders()
        for k, v in hdrs.items():
            dict.__setitem__(native, k, v)
        offered = [p.strip() for p in hdrs.get("sec-websocket-protocol", "").split(",") if p.strip()]
        port = parts.port or (443 if scheme == "wss" else 80)
        self._ws_args = dict(path=raw,  # as the native ws.path (and req['path']): as sent
                             raw_path=raw.encode("ascii"), query=query, headers=native,
                             client=("testclient", 50000), server=(parts.hostname or "testserver", port),
                             scheme=scheme, subprotocols=offered,
                             raise_server_exceptions=getattr(client, "raise_server_exceptions", True))
        self._outbox = queue.Queue()
        self._final = None  # the event that ended the session (close, end, error, deny)
        self._error_delivered = False
        self._client_closed = False
        self._loop = None
        self._task = None
        self._thread = None

    # -- the app's side ---------------------------------------------------------------
    def _post(self, event):
        self._outbox.put(event)

    def _thread_main(self, ready):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._ws = MemoryWebSocket(self, **self._ws_args)
            self._task = loop.create_task(self._run_app())
            ready.set()
            loop.run_until_complete(self._task)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            ready.set()
            asyncio.set_event_loop(None)
            loop.close()

    async def _run_app(self):
        from ._websocket import dispatch  # noqa: PLC0415
        try:
            await dispatch(self._client.app, self._ws)
        except asyncio.CancelledError:
            self._post(("end",))
        except BaseException as exc:  # noqa: BLE001 - the test gets it
            self._post(("error", exc))
        else:
            if self._ws._closed is None:  # as the server: a handler that returns without closing -> 1000
                self._ws._closed = (1000, "")
                self._post(("end",))

    def _to_app(self, item):
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._ws._inbox.put_nowait, item)
            except RuntimeError:  # the loop closed meanwhile: the app is done
                pass

    # -- the test's side ----------------------------------------------------------------
    def __enter__(self):
        ready = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, args=(ready,), name="websocket-testclient",
                                        daemon=True)
        self._thread.start()
        ready.wait()
        event = self._next()
        if event[0] != "accept":
            self._finish()
            self._raise_for(event)
        self.accepted_subprotocol = event[1]
        self.extra_headers = event[2]
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self._client_closed:
            self.close(1000)
        self._finish()
        if exc_type is None and self._final is not None and self._final[0] == "error" \
                and not self._error_delivered:
            self._error_delivered = True
            raise self._final[1]
        if exc_type is None:
            # an error the app raised after the last event the test looked at
            while True:
                try:
                    event = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if event[0] == "error":
                    raise event[1]
        return False

    def _finish(self):
        t = self._thread
        if t is None:
            return
        t.join(_EXIT_GRACE)
        if t.is_alive():  # the endpoint waits on something else than this WebSocket
            loop, task = self._loop, self._task
            if loop is not None and task is not None:
                try:
                    loop.call_soon_threadsafe(task.cancel)
                except RuntimeError:
                    pass
            t.join()
        self._thread = None

    def _next(self):
        if self._final is not None:
            return self._final
        event = self._outbox.get()
        if event[0] in ("close", "end", "error", "deny"):
            self._final = event
        return event

    def _raise_for(self, event):
        kind = event[0]
        if kind == "close":
            raise WebSocketDisconnect(event[1], event[2])
        if kind == "end":
            raise WebSocketDisconnect(1000, "")
        if kind == "deny":
            raise WebSocketDenialResponse(event[1], event[2], event[3])
        if kind == "error":
            if not self._error_delivered:
                self._error_delivered = True
                raise event[1]
            raise WebSocketDisconnect(1011, "")
        raise RuntimeError(f"unexpected WebSocket event {kind!r}")  # pragma: no cover

    def receive(self) -> dict:
        """The next message as an ASGI-shaped dict (``websocket.send`` with
        ``text`` or ``bytes``, or ``websocket.close`` with ``code``/``reason``)."""
        event = self._next()
        if event[0] == "text":
            return {"type": "websocket.send", "text": event[1]}
        if event[0] == "bytes":
            return {"type": "websocket.send", "bytes": event[1]}
        if event[0] == "close":
            return {"type": "websocket.close", "code": event[1], "reason": event[2]}
        self._raise_for(event)
        return {}  # pragma: no cover

    def _data(self):
        event = self._next()
        if event[0] not in ("text", "bytes"):
            self._raise_for(event)
        return event

    def receive_text(self) -> str:
        """The next text message; WebSocketDisconnect if the app closed."""
        event = self._data()
        if event[0] != "text":
            raise KeyError("text")
        return event[1]

    def receive_bytes(self) -> bytes:
        """The next binary message; WebSocketDisconnect if the app closed."""
        event = self._data()
        if event[0] != "bytes":
            raise KeyError("bytes")
        return event[1]

    def receive_json(self, mode: str = "text"):
        """The next message parsed as JSON (text, or binary with mode="binary")."""
        if mode not in ("text", "binary"):
            raise ValueError('mode must be "text" or "binary"')
        if mode == "text":
            return _jsonlib.loads(self.receive_text())
        return _jsonlib.loads(self.receive_bytes().decode("utf-8"))

    def send_text(self, data: str) -> None:
        if not isinstance(data, str):
            raise TypeError(f"send_text() takes a str, not {type(data).__name__}")
        self._to_app(("text", data))

    def send_bytes(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"send_bytes() takes bytes, not {type(data).__name__}")
        self._to_app(("bytes", bytes(data)))

    def send_json(self, data, mode: str = "text") -> None:
        if mode not in ("text", "binary"):
            raise ValueError('mode must be "text" or "binary"')
        text = _jsonlib.dumps(data, separators=(",", ":"), ensure_ascii=False)
        self._to_app(("text", text) if mode == "text" else ("bytes", text.encode("utf-8")))

    def send(self, message: dict) -> None:
        """Sends an ASGI-shaped message (``websocket.receive`` with text or
        bytes, or ``websocket.disconnect``)."""
        kind = message.get("type")
        if kind == "websocket.receive":
            if message.get("text") is not None:
                self.send_text(message["text"])
            else:
                self.send_bytes(message["bytes"])
        elif kind == "websocket.disconnect":
            self.close(message.get("code", 1000), message.get("reason"))
        else:
            raise ValueError(f"cannot send {message!r}")

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Closes from the client's side: the app's next receive raises
        WebSocketDisconnect(code, reason)."""
        self._client_closed = True
        self._to_app(("close", code, reason or ""))
