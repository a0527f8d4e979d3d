"""WebSocket routes: ``APIWebSocketRoute`` and the pipeline of one
WebSocket (find the route, resolve its parameters and dependencies, run
the endpoint, turn exceptions into close codes).

The native server calls :func:`fasterapi._runtime.handle_websocket` with
its ``ws`` object for every WebSocket handshake on a path the app
registered (``app.native_websocket_routes()``); TestClient calls
:func:`dispatch` with an in-memory object of the same interface.

What FastAPI does, and so we do:

* parameters (path, query, header, cookie) and ``Depends`` (with yield)
  are resolved before the endpoint runs; a validation failure raises
  ``WebSocketRequestValidationError``, whose default handler closes the
  WebSocket with 1008 (before ``accept()`` that refuses the handshake);
* ``WebSocketException(code, reason)`` closes with that code;
* other exceptions go to the app's exception handlers registered for
  their class (``Exception`` / 500 handlers are for HTTP only); a handler
  that returns a Response sends it as a denial response when the server
  can, else the handshake is refused (403);
* an unhandled exception before ``accept()`` reaches the server (which
  logs it and answers HTTP 500); after it, it is logged and the WebSocket
  is closed with 1011;
* ``WebSocketDisconnect`` escaping the endpoint after the peer closed is
  the normal end, not an error;
* generator dependencies are finished before the exception handlers run.
"""
import asyncio
import inspect
import json
import logging
import re

from .dependencies import RequestContext, solve_async, unwind_async
from .encoders import jsonable_encoder
from .exception_handlers import websocket_request_validation_exception_handler
from .exceptions import FasterAPIError, HTTPException, WebSocketException, WebSocketRequestValidationError
from .params import Undefined
from .responses import Response
from .routing import APIRoute, BaseRoute, Mount, compile_path
from .websockets import MAX_CLOSE_REASON, WebSocket, WebSocketDisconnect, WebSocketState

__all__ = ["APIWebSocketRoute", "dispatch", "native_paths", "validation_close_reason"]

logger = logging.getLogger("fasterapi.error")


def _is_async_callable(call) -> bool:
    if inspect.iscoroutinefunction(call):
        return True
    inner = getattr(call, "__call__", None)
    return inner is not None and inspect.iscoroutinefunction(inner)


class APIWebSocketRoute(BaseRoute):
    """A WebSocket endpoint: ``async def endpoint(websocket: WebSocket,
    ...)`` for a path (``@app.websocket(path)``).  Not in the OpenAPI
    document, as in FastAPI."""

    include_in_schema = False
    is_websocket = True

    def __init__(self, path: str, endpoint, *, name: str | None = None, dependencies=None,
                 dependency_overrides_provider=None, plain: bool = False):
        if not callable(endpoint):
            raise FasterAPIError(f"websocket route {path!r}: the endpoint must be an async function, "
                                 f"got {endpoint!r}")
        if plain and isinstance(endpoint, type) and hasattr(endpoint, "__await__"):
            pass  # a WebSocketEndpoint class: instantiated with the WebSocket, then awaited
        elif not _is_async_callable(endpoint):
            raise FasterAPIError(f"websocket route {path!r}: the endpoint "
                                 f"{getattr(endpoint, '__name__', endpoint)!r} must be an 'async def' function "
                                 "(it awaits websocket.accept(), receive_*() and send_*())")
        self.path = path
        self.endpoint = endpoint
        self.name = name or getattr(endpoint, "__name__", type(endpoint).__name__)
        self.dependencies = list(dependencies or [])
        self.native_path, self.regex, self.convertors, self.path_format = compile_path(path)
        self.methods = set()  # no HTTP method: the HTTP dispatch table never holds it
        self.pooled = False
        self.is_async = True
        self.streams_body = False
        self.body_embed = False
        # plain: Starlette's add_websocket_route, endpoint(websocket) with no parameter analysis
        self.plain = bool(plain)
        self._dependant = None

    dependant = APIRoute.dependant
    matches = APIRoute.matches
    convertors_ok = APIRoute.convertors_ok

    def compile(self):
        """Analyzes the endpoint's signature (idempotent)."""
        if not self.plain:
            self.dependant  # noqa: B018 - builds it
        return self

    async def handle(self, app, ws, path_params: dict) -> None:
        """Runs the endpoint for one WebSocket (see the module doc)."""
        websocket = WebSocket(ws, app, self, path_params)
        if self.plain:
            try:
                await self.endpoint(websocket)
            except Exception as exc:  # noqa: BLE001
                await _handle_error(app, websocket, exc, ws)
            return
        ctx = WebSocketContext(_request_dict(ws, path_params), app, self, websocket)
        try:
            kwargs = await solve_async(self.dependant, ctx)
            if kwargs is None:
                raise WebSocketRequestValidationError(ctx.errors)
            await self.endpoint(**kwargs)
        except Exception as exc:  # noqa: BLE001 - every error becomes a close code (or reaches the server)
            if ctx.exits:
                exc = await unwind_async(ctx.exits, exc)
                ctx.exits = None
            if exc is not None:
                await _handle_error(app, websocket, exc, ws)
            return
        if ctx.exits:
            exc = await unwind_async(ctx.exits, None)
            if exc is not None and not isinstance(exc, WebSocketDisconnect):
                logger.error("A WebSocket dependency's exit code raised", exc_info=(type(exc), exc, exc.__traceback__))

    def __repr__(self):
        return f"APIWebSocketRoute(path={self.path!r}, name={self.name!r})"


class WebSocketContext(RequestContext):
    """RequestContext of a WebSocket: ``Request``/``HTTPConnection``
    parameters and ``WebSocket`` ones get the WebSocket."""

    __slots__ = ("websocket",)

    def __init__(self, req, app, route, websocket):
        super().__init__(req, app, route)
        self.websocket = websocket
        self.body = Undefined  # a WebSocket handshake has no body: body parameters are missing

    @property
    def request(self):
        return self.websocket


def _request_dict(ws, path_params) -> dict:
    """The request dict the dependency solver reads, from the ws object."""
    req = {"method": "GET", "path": ws.path, "query": ws.query or "", "headers": ws.headers, "body": b"",
           "path_params": path_params, "client": getattr(ws, "client", None),
           "scheme": getattr(ws, "scheme", "ws"), "http_version": getattr(ws, "http_version", "1.1")}
    if getattr(ws, "_raise_server_exceptions", False):
        req["_raise_server_exceptions"] = True
    return req


def validation_close_reason(errors) -> str:
    """The close reason for validation errors: their JSON when it fits a
    close frame (123 bytes), else a count and the first error's place and
    message, cut to fit.  (FastAPI puts the error list itself in the close
    message, which a real close frame cannot carry past 123 bytes.)"""
    errors = jsonable_encoder(list(errors))
    text = json.dumps(errors, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) <= MAX_CLOSE_REASON:
        return text
    first = errors[0] if errors else {}
    loc = ".".join(str(p) for p in first.get("loc", ()))
    text = f"{len(errors)} validation error{'s' if len(errors) != 1 else ''}: {loc}: {first.get('msg', '')}"
    raw = text.encode("utf-8")[:MAX_CLOSE_REASON]
    return raw.decode("utf-8", "ignore")


async def websocket_exception_handler(websocket, exc) -> None:
    """The default handler of WebSocketException: close with its code."""
    reason = exc.reason or ""
    raw = reason.encode("utf-8")
    if len(raw) > MAX_CLOSE_REASON:
        reason = raw[:MAX_CLOSE_REASON].decode("utf-8", "ignore")
    await websocket.close(code=exc.code, reason=reason)


def _find_handler(app, exc):
    """The app's handler for exc (HTTPException status keys, then the
    class and its bases; Exception and 500 handlers are HTTP-only, as in
    Starlette), else our defaults."""
    handlers = app.exception_handlers if app is not None else {}
    if isinstance(exc, HTTPException):
        h = handlers.get(exc.status_code)
        if h is not None:
            return h
    for cls in type(exc).__mro__:
        if cls is Exception or cls is BaseException:
            break
        h = handlers.get(cls)
        if h is not None:
            return h
    if isinstance(exc, WebSocketRequestValidationError):
        return websocket_request_validation_exception_handler
    if isinstance(exc, WebSocketException):
        return websocket_exception_handler
    return None


async def _handle_error(app, websocket: WebSocket, exc: BaseException, ws) -> None:
    if isinstance(exc, WebSocketDisconnect):
        return  # the peer went away while the endpoint used the WebSocket: the normal end
    handler = _find_handler(app, exc)
    if handler is None:
        if getattr(ws, "_raise_server_exceptions", False):
            raise exc  # TestClient: the test sees it
        if websocket.application_state != WebSocketState.CONNECTED:
            raise exc  # before accept: the server logs it and answers the handshake with 500
        logger.error("Exception in WebSocket %s", websocket.scope["path"],
                     exc_info=(type(exc), exc, exc.__traceback__))
        await _close_quietly(websocket, 1011)
        return
    r = handler(websocket, exc)
    if inspect.isawaitable(r):
        r = await r
    if isinstance(r, Response) and websocket.application_state == WebSocketState.CONNECTING:
        if getattr(ws, "deny", None) is not None:
            await websocket.send_denial_response(r)
        else:
            await websocket.close()  # the server cannot send this response: refuse with 403


async def _close_quietly(websocket, code):
    try:
        await websocket.close(code)
    except Exception:  # noqa: BLE001 - the peer may be gone already
        pass


# ---------------------------------------------------------------------------
# the app's WebSocket routes
# ---------------------------------------------------------------------------

def websocket_routes(app) -> list:
    return [r for r in app.routes if getattr(r, "is_websocket", False)]


def _walk(app, prefix=""):
    """(app, route, prefix) for every WebSocket route of app and of the
    FastAPI apps mounted in it (app.mount), in route order."""
    for r in app.routes:
        if getattr(r, "is_websocket", False):
            yield app, r, prefix
        elif isinstance(r, Mount) and hasattr(r.app, "routes"):
            yield from _walk(r.app, prefix + r.path)


_PARAM_NAME = re.compile(r"{[A-Za-z_][A-Za-z0-9_]*")


def native_paths(app) -> list:
    """The native path patterns of app's WebSocket routes (and of mounted
    apps', under their prefix), each once, in route order (routes that
    share a pattern, like /{id:int} and /{name}, are told apart by
    :func:`dispatch`)."""
    out, shapes = [], set()
    for _owner, r, prefix in _walk(app):
        r.compile()
        path = prefix + r.native_path
        # /r/{n} and /r/{name} match the same paths: the native router gets the first
        shape = _PARAM_NAME.sub("{", path)
        if shape not in shapes:
            shapes.add(shape)
            out.append(path)
    return out


def match(app, path: str):
    """(app, route, path parameters) of the first WebSocket route matching
    path (in the order routes were added, as Starlette matches; a mounted
    app's routes see the path without its prefix), or (None, None, None)."""
    for owner, r, prefix in _walk(app):
        if prefix:
            if not path.startswith(prefix + "/"):
                continue
            sub = path[len(prefix):]
        else:
            sub = path
        params = r.matches(sub)
        if params is not None and r.convertors_ok(params):
            return owner, r, params
    return None, None, None


async def dispatch(app, ws) -> None:
    """Serves one WebSocket: the app's startup first if it has not run in
    this interpreter, then the route that matches ws.path; none (a path
    convertor refused it): the handshake is refused (403), as Starlette
    closes unmatched WebSockets."""
    state = app._startup_state
    if state is not None:
        if not await _ensure_started(app):
            await ws.close(1011, "")
            return
    owner, route, params = match(app, ws.path)
    if route is None:
        await ws.close(1000, "")
        return
    await route.handle(owner, ws, params)


async def _ensure_started(app) -> bool:
    """Runs the app's startup once in this interpreter (normally the
    server's on_startup hook did it already).  False when it failed."""
    if app._startup_state == "todo":
        app._startup_state = "running"
        try:
            await app.startup_async()
            app._startup_state = None
        except Exception as exc:  # noqa: BLE001
            app._startup_failed(exc)
    while app._startup_state == "running":
        await asyncio.sleep(0.001)
    return app._startup_state is None
