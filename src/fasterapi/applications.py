"""The ``FastAPI`` application class."""
import asyncio
import inspect
import logging
import sys
import threading
import traceback

from . import _aio
from .datastructures import Default, MutableHeaders, State
from .dependencies import RequestContext
from .exception_handlers import (http_exception_handler, request_validation_exception_handler,
                                 websocket_request_validation_exception_handler)
from .exceptions import FasterAPIError, HTTPException, RequestValidationError, WebSocketRequestValidationError
from .responses import FileResponse, JSONResponse, Response, StreamingResponse
from .routing import APIRouter, CallNextRes, _emit, _warn_on_event, generate_unique_id, response_tuple

__all__ = ["FastAPI"]

logger = logging.getLogger("fasterapi.error")

#: methods the catch-all fallback route answers (404/405/redirects in JSON)


_BODY_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))

class FastAPI:
    """The application: routes, dependencies, exception handlers, events
    and the OpenAPI document, with FastAPI's constructor keywords.

    Declare endpoints with ``@app.get(...)``, ``@app.post(...)``... and run
    with ``python -m fasterapi module:app`` or ``app.run()``.  Every worker
    interpreter imports the module itself, so keep the app at module level.

    Our additions: ``pooled=True`` (default for every route: run synchronous
    endpoints on the pooled threads, where they may block) and ``run()``.
    """

    def __init__(self, *, debug: bool = False, routes=None, title: str = "FastAPI", summary: str | None = None,
                 description: str = "", version: str = "0.1.0", openapi_url: str | None = "/openapi.json",
                 openapi_tags=None, servers=None, dependencies=None, default_response_class=Default(JSONResponse),
                 redirect_slashes: bool = True, docs_url: str | None = "/docs", redoc_url: str | None = "/redoc",
                 swagger_ui_oauth2_redirect_url: str | None = "/docs/oauth2-redirect",
                 swagger_ui_init_oauth=None, middleware=None, exception_handlers=None, on_startup=None,
                 on_shutdown=None, lifespan=None, terms_of_service: str | None = None, contact=None,
                 license_info=None, openapi_prefix: str = "", root_path: str = "",
                 root_path_in_servers: bool = True, responses=None, callbacks=None, webhooks=None,
                 deprecated=None, include_in_schema: bool = True, swagger_ui_parameters=None,
                 generate_unique_id_function=Default(generate_unique_id),
                 separate_input_output_schemas: bool = True, openapi_external_docs=None,
                 pooled: bool = False, **extra):
        self.debug = debug
        self.title = title
        self.summary = summary
        self.description = description
        self.version = version
        self.terms_of_service = terms_of_service
        self.contact = contact
        self.license_info = license_info
        self.openapi_url = openapi_url
        self.openapi_tags = openapi_tags
        self.openapi_version = "3.1.0"
        self.openapi_external_docs = openapi_external_docs
        self.servers = list(servers or [])
        self.root_path = root_path or openapi_prefix
        self.root_path_in_servers = root_path_in_servers
        self.docs_url = docs_url
        self.redoc_url = redoc_url
        self.swagger_ui_oauth2_redirect_url = swagger_ui_oauth2_redirect_url
        self.swagger_ui_init_oauth = swagger_ui_init_oauth
        self.swagger_ui_parameters = swagger_ui_parameters
        self.webhooks = webhooks
        self.separate_input_output_schemas = separate_input_output_schemas
        self.extra = extra
        self.openapi_schema = None
        self.state = State()
        self.dependency_overrides = {}
        self.router = APIRouter(routes=routes, redirect_slashes=redirect_slashes, dependencies=dependencies,
                                default_response_class=default_response_class, responses=responses,
                                callbacks=callbacks, on_startup=on_startup, on_shutdown=on_shutdown,
                                lifespan=lifespan, deprecated=deprecated, include_in_schema=include_in_schema,
                                generate_unique_id_function=generate_unique_id_function, pooled=pooled)
        self.exception_handlers = {HTTPException: http_exception_handler,
                                   RequestValidationError: request_validation_exception_handler,
                                   WebSocketRequestValidationError: websocket_request_validation_exception_handler}
        self.exception_handlers.update(exception_handlers or {})
        self.user_middleware = []
        for m in middleware or []:
            cls, options = (m.cls, m.kwargs) if hasattr(m, "cls") else (m[0], m[1] if len(m) > 1 else {})
            self.add_middleware(cls, **options)
        self.user_middleware.reverse()  # the first listed is the outermost, as in Starlette
        self._override_cache = {}
        self._lifespan_state = None
        self._lifespan_cms = []
        self._table = None
        self._table_version = -1
        self._static = None
        self._patterns = None
        self._startup_state = None  # None: nothing pending; "todo"/"running"/"failed" in workers
        self._startup_lock = threading.Lock()
        self._shutdown_done = False
        self._defined_in = sys._getframe(1).f_globals.get("__name__")
        self._setup_docs()

    # -- routes (delegated to the router) ----------------------------------------------
    @property
    def routes(self) -> list:
        return self.router.routes

    def add_api_route(self, path: str, endpoint, **kwargs):
        """Adds endpoint for path (see APIRouter.add_api_route)."""
        return self.router.add_api_route(path, endpoint, **kwargs)

    def api_route(self, path: str, **kwargs):
        """Decorator for an endpoint answering several methods:
        ``@app.api_route("/x", methods=["GET", "POST"])``."""
        return self.router.api_route(path, **kwargs)

    def add_route(self, path: str, endpoint, methods=None, name=None, include_in_schema=False):
        """Adds a plain route: ``endpoint(request)`` returns a Response (no
        parameter parsing, not in the OpenAPI document)."""
        self.router.add_route(path, endpoint, methods=methods, name=name, include_in_schema=include_in_schema)

    def route(self, path, methods=None, name=None, include_in_schema=False):
        """Decorator form of add_route."""
        return self.router.route(path, methods=methods, name=name, include_in_schema=include_in_schema)

    def include_router(self, router: APIRouter, **kwargs):
        """Adds router's routes (see APIRouter.include_router)."""
        self.router.include_router(router, **kwargs)

    def mount(self, path: str, app, name: str | None = None) -> None:
        """Serves app under path: another FastAPI app (its own routes, docs and
        /openapi.json) or ``StaticFiles(directory=...)``."""
        self.router.mount(path, app, name=name)

    def get(self, path: str, **kwargs):
        """Decorator for a GET endpoint (see APIRouter.add_api_route for the keywords)."""
        return self.router.get(path, **kwargs)

    def put(self, path: str, **kwargs):
        """Decorator for a PUT endpoint."""
        return self.router.put(path, **kwargs)

    def post(self, path: str, **kwargs):
        """Decorator for a POST endpoint."""
        return self.router.post(path, **kwargs)

    def delete(self, path: str, **kwargs):
        """Decorator for a DELETE endpoint."""
        return self.router.delete(path, **kwargs)

    def options(self, path: str, **kwargs):
        """Decorator for an OPTIONS endpoint."""
        return self.router.options(path, **kwargs)

    def head(self, path: str, **kwargs):
        """Decorator for a HEAD endpoint (GET endpoints answer HEAD already)."""
        return self.router.head(path, **kwargs)

    def patch(self, path: str, **kwargs):
        """Decorator for a PATCH endpoint."""
        return self.router.patch(path, **kwargs)

    def trace(self, path: str, **kwargs):
        """Decorator for a TRACE endpoint."""
        return self.router.trace(path, **kwargs)

    def websocket(self, path: str, name: str | None = None, *, dependencies=None):
        """Decorator for a WebSocket endpoint: ``@app.websocket("/ws")`` on
        ``async def endpoint(websocket: WebSocket, ...)`` (see fasterapi.websockets)."""
        return self.router.websocket(path, name=name, dependencies=dependencies)

    def add_api_websocket_route(self, path: str, endpoint, name: str | None = None, *, dependencies=None):
        """Adds a WebSocket endpoint for path (see websocket)."""
        return self.router.add_api_websocket_route(path, endpoint, name=name, dependencies=dependencies)

    def add_websocket_route(self, path: str, endpoint, name: str | None = None):
        """Starlette's form: ``async def endpoint(websocket)`` gets the
        WebSocket only (no parameters, no dependencies)."""
        return self.router.add_websocket_route(path, endpoint, name=name)

    def websocket_route(self, path: str, name: str | None = None):
        """Decorator form of add_websocket_route."""
        return self.router.websocket_route(path, name=name)

    def native_websocket_routes(self) -> list:
        """The native path patterns of the app's WebSocket routes, each once,
        for the server's add_websocket (fasterapi._runtime.handle_websocket
        serves them all)."""
        from ._websocket import native_paths  # noqa: PLC0415
        return native_paths(self)

    def url_path_for(self, name: str, /, **path_params) -> str:
        """The path of the route named name, with its parameters filled in."""
        return self.router.url_path_for(name, **path_params)

    # -- events ----------------------------------------------------------------------
    def on_event(self, event_type: str):
        """Decorator: ``@app.on_event("startup")`` / ``("shutdown")``.  They run
        in every worker interpreter (before its first request / when it ends).
        Deprecated, as in FastAPI: use ``lifespan``."""
        _warn_on_event()
        return self.router.on_event(event_type)

    def add_event_handler(self, event_type: str, func) -> None:
        """Registers func for "startup" or "shutdown" (see on_event)."""
        self.router.add_event_handler(event_type, func)

    # -- exception handlers and middleware -------------------------------------------
    def exception_handler(self, exc_class_or_status_code):
        """Decorator: ``@app.exception_handler(MyError)`` registers
        ``handler(request, exc) -> Response`` (may be async).  A status code
        key applies to HTTPExceptions with that code; ``Exception`` (or 500)
        catches everything unhandled."""
        def decorator(func):
            self.add_exception_handler(exc_class_or_status_code, func)
            return func
        return decorator

    def add_exception_handler(self, exc_class_or_status_code, handler) -> None:
        """Registers handler(request, exc) (see exception_handler)."""
        self.exception_handlers[exc_class_or_status_code] = handler

    def middleware(self, middleware_type: str):
        """Decorator: ``@app.middleware("http")`` registers ``async def
        mw(request, call_next)``; ``await call_next(request)`` returns the
        Response, which mw may change or replace."""
        if middleware_type != "http":
            raise ValueError("only 'http' middleware is supported")

        def decorator(func):
            self.user_middleware.append(func)
            return func
        return decorator

    def add_middleware(self, middleware_class, **options) -> None:
        """Adds a middleware class with a ``dispatch(request, call_next)``
        method (``fasterapi.middleware.CORSMiddleware``, GZipMiddleware...).
        ASGI middleware classes cannot run here (there is no ASGI layer)."""
        try:
            instance = middleware_class(None, **options)
        except TypeError:
            instance = middleware_class(**options)
        dispatch = getattr(instance, "dispatch", None)
        if dispatch is None or not inspect.iscoroutinefunction(dispatch):
            raise FasterAPIError(f"{middleware_class!r} is not a FasterAPI middleware (no async dispatch(request, "
                                 f"call_next)); ASGI middleware cannot run without an ASGI layer")
        self.user_middleware.append(dispatch)

    # -- OpenAPI and docs --------------------------------------------------------------
    def openapi(self) -> dict:
        """The OpenAPI 3.1 document (built once, then cached in openapi_schema)."""
        if self.openapi_schema is None:
            from .openapi import get_openapi  # noqa: PLC0415
            servers = self.servers
            if self.root_path and self.root_path_in_servers and not any(
                    s.get("url") == self.root_path for s in servers):
                servers = [{"url": self.root_path}, *servers]
            self.openapi_schema = get_openapi(
                title=self.title, version=self.version, openapi_version=self.openapi_version,
                summary=self.summary, description=self.description, terms_of_service=self.terms_of_service,
                contact=self.contact, license_info=self.license_info, routes=self.routes,
                tags=self.openapi_tags, servers=servers or None, webhooks=self.webhooks,
                external_docs=self.openapi_external_docs,
                separate_input_output_schemas=self.separate_input_output_schemas)
        return self.openapi_schema

    def _setup_docs(self):
        from . import openapi as _oa  # noqa: PLC0415
        if self.openapi_url:
            self.router.add_route(self.openapi_url, _oa.openapi_endpoint, methods=["GET"], name="openapi")
            if self.docs_url:
                self.router.add_route(self.docs_url, _oa.swagger_endpoint, methods=["GET"], name="swagger_ui_html")
                if self.swagger_ui_oauth2_redirect_url:
                    self.router.add_route(self.swagger_ui_oauth2_redirect_url, _oa.swagger_redirect_endpoint,
                                          methods=["GET"], name="swagger_ui_redirect")
            if self.redoc_url:
                self.router.add_route(self.redoc_url, _oa.redoc_endpoint, methods=["GET"], name="redoc_html")

    # -- the dispatch table ------------------------------------------------------------
    def _build(self):
        """Compiles the routes and builds the lookup tables (again whenever
        routes were added)."""
        table = {}
        static = {}
        patterns = []
        for r in self.routes:
            r.compile()
            for m in sorted(r.methods):
                table.setdefault((r.native_path, m), r)
            if r.regex is None:
                static.setdefault(r.native_path, []).append(r)
            else:
                patterns.append(r)
        self._table = table
        self._static = static
        self._patterns = patterns
        self._table_version = self.router._version
        return table

    def native_routes(self):
        """[(method, native path, pooled, stream_body)] for the native
        router: one per (method, path pattern) of the app; stream_body for
        the methods that carry a body on routes whose endpoint reads it
        itself.  What matches none of them goes to the server's fallback
        handler (set_fallback), which gives FastAPI-shaped 404/405 answers
        and trailing-slash redirects."""
        self._build()
        out = []
        seen = set()
        for r in self.routes:
            for m in sorted(r.methods):
                key = (m, r.native_path)
                if key in seen:
                    continue
                seen.add(key)
                pooled = bool(getattr(r, "pooled", False) and not getattr(r, "is_async", False))
                stream = bool(getattr(r, "streams_body", False) and m in _BODY_METHODS
                              and not self.user_middleware)
                out.append((m, r.native_path, pooled, stream))
        return out

    def _match(self, method: str, path: str):
        """Python twin of the native router: static paths first, then
        patterns in order; HEAD falls back to GET.  Returns (route, params)
        or (None, allowed methods list)."""
        if self._table_version != self.router._version:
            self._build()
        allowed = []
        get_route = get_params = None
        cands = self._static.get(path)
        if cands:
            for r in cands:
                if method in r.methods:
                    return r, {}
                allowed.extend(r.methods)
                if get_route is None and "GET" in r.methods:
                    get_route, get_params = r, {}
        for r in self._patterns:
            params = r.matches(path)
            if params is None or not r.convertors_ok(params):
                continue
            if method in r.methods:
                return r, params
            allowed.extend(r.methods)
            if get_route is None and "GET" in r.methods:
                get_route, get_params = r, params
        if method == "HEAD" and get_route is not None:
            return get_route, get_params
        return None, allowed

    # -- handling ------------------------------------------------------------------------
    def _handle(self, req: dict, res: dict):
        """Handles one request (the native handler's body): fills res.
        Returns None, or a coroutine to run to finish it."""
        if self._startup_state is not None:
            return self._handle_starting(req, res)
        if self._table_version != self.router._version:
            self._build()
        route = self._table.get((req["route"], req["method"]))
        if route is None and req["method"] == "HEAD":
            route = self._table.get((req["route"], "GET"))
        if route is None or (route.convertors and not route.convertors_ok(req["path_params"])):
            return self._fallback(req, res)
        if self.user_middleware:
            return self._handle_middleware(route, req, res)
        return route.handle(self, req, res)

    def _fallback(self, req, res):
        path = req["path"]
        route, params = self._match(req["method"], path)
        if route is not None:
            req["path_params"] = params
            req["route"] = route.native_path
            if self.user_middleware:
                return self._handle_middleware(route, req, res)
            return route.handle(self, req, res)
        if self.user_middleware:
            return self._handle_middleware(None, req, res, params)
        _emit(res, self._unmatched(req, params), req)
        return None

    def _unmatched(self, req, allowed):
        path = req["path"]
        if self.router.redirect_slashes and path != "/":
            alt = path[:-1] if path.endswith("/") else path + "/"
            r2, _ = self._match(req["method"], alt)
            if r2 is not None or _:
                host = req["headers"].get("host")
                loc = f"http://{host}{alt}" if host else alt
                if req.get("query"):
                    loc += "?" + req["query"]
                return (307, None, b"", [("location", loc)])
        if allowed:
            methods = []
            for m in allowed:
                if m not in methods:
                    methods.append(m)
                if m == "GET" and "HEAD" not in methods:
                    methods.append("HEAD")
            return (405, "application/json", b'{"detail":"Method Not Allowed"}', [("allow", ", ".join(methods))])
        return (404, "application/json", b'{"detail":"Not Found"}', None)

    # -- errors ---------------------------------------------------------------------------
    def _find_handler(self, exc):
        handlers = self.exception_handlers
        if isinstance(exc, HTTPException):
            h = handlers.get(exc.status_code)
            if h is not None:
                return h
        for cls in type(exc).__mro__:
            h = handlers.get(cls)
            if h is not None:
                return h
        return None

    def _error_response(self, ctx: RequestContext, exc: BaseException, res: dict):
        """Turns an exception into a response with the registered handlers.
        Returns None, or a coroutine (async handler)."""
        handler = self._find_handler(exc)
        unhandled = handler is None or handler is self.exception_handlers.get(Exception)
        if unhandled:
            if ctx.req.get("_raise_server_exceptions") and handler is None and 500 not in self.exception_handlers:
                raise exc  # TestClient(raise_server_exceptions=True)
            self._log_unhandled(ctx, exc)
            if handler is None:
                handler = self.exception_handlers.get(500)
        if handler is None:
            _emit(res, self._server_error(exc), ctx.req)
            return None
        try:
            r = handler(ctx.request, exc)
        except Exception as e2:  # noqa: BLE001
            if ctx.req.get("_raise_server_exceptions"):
                raise
            self._log_unhandled(ctx, e2)
            _emit(res, self._server_error(e2), ctx.req)
            return None
        if not isinstance(r, Response) and inspect.isawaitable(r):
            return self._finish_error(ctx, r, res)
        _emit(res, response_tuple(r), ctx.req)
        return None

    async def _finish_error(self, ctx, awaitable, res):
        try:
            r = await awaitable
            _emit(res, response_tuple(r), ctx.req)
        except Exception as e2:  # noqa: BLE001
            self._log_unhandled(ctx, e2)
            _emit(res, self._server_error(e2), ctx.req)

    def _server_error(self, exc):
        if self.debug:
            text = "".join(traceback.format_exception(exc))
            return (500, "text/plain; charset=utf-8", text.encode("utf-8", "replace"), None)
        return (500, "text/plain; charset=utf-8", b"Internal Server Error", None)

    def _log_unhandled(self, ctx, exc):
        req = ctx.req if ctx is not None else {}
        logger.error("Exception in %s %s", req.get("method", "?"), req.get("path", "?"),
                     exc_info=(type(exc), exc, exc.__traceback__))

    def _run_background(self, bg):
        tasks = bg.tasks
        for i, t in enumerate(tasks):
            if t.is_async:
                return self._run_background_async(tasks[i:])
            try:
                c = t.run_sync() if hasattr(t, "run_sync") else None
                if c is not None:
                    return self._run_background_async(tasks[i + 1:], c)
            except Exception as exc:  # noqa: BLE001
                logger.error("Background task %r failed", t, exc_info=exc)
        return None

    async def _run_background_async(self, tasks, pending=None):
        if pending is not None:
            try:
                await pending
            except Exception as exc:  # noqa: BLE001
                logger.error("Background task failed", exc_info=exc)
        for t in tasks:
            try:
                await t()
            except Exception as exc:  # noqa: BLE001
                logger.error("Background task %r failed", t, exc_info=exc)

    # -- middleware -------------------------------------------------------------------------
    async def _handle_middleware(self, route, req, res, allowed=None):
        app = self

        async def endpoint(request):
            inner = CallNextRes(status=200)
            if route is not None:
                r = route.handle(app, req, inner)
            else:
                _emit(inner, app._unmatched(req, allowed or []), req)
                r = None
            if r is not None:
                await r
            after = inner.get("after")
            if after is not None:
                res["after"] = after  # still once the final answer is written
            return _response_from_res(inner)

        call = endpoint
        for mw in self.user_middleware:
            call = _chain(mw, call)
        ctx = RequestContext(req, self, route)
        try:
            response = await call(ctx.request)
            _emit(res, response_tuple(response), req)
        except Exception as exc:  # noqa: BLE001
            r = self._error_response(ctx, exc, res)
            if r is not None:
                await r

    # -- startup and shutdown --------------------------------------------------------------
    def _lifespans(self):
        out = []
        if self.router.lifespan_context is not None:
            out.append(self.router.lifespan_context)
        out.extend(getattr(self.router, "_included_lifespans", []))
        return out

    def _startup_is_sync(self) -> bool:
        if self._lifespans():
            return False
        return not any(inspect.iscoroutinefunction(h) for h in self.router.on_startup)

    async def startup_async(self):
        """Runs the lifespan's entry (or the startup handlers).  Each startup
        arms one shutdown (``with TestClient(app)`` twice runs both twice)."""
        self._shutdown_done = False
        spans = self._lifespans()
        if spans:
            state = {}
            for span in spans:
                cm = span(self)
                if hasattr(cm, "__aenter__"):
                    s = await cm.__aenter__()
                else:
                    s = cm.__enter__()
                self._lifespan_cms.append(cm)
                if s:
                    state.update(s)
            self._lifespan_state = state or None
        else:
            for h in self.router.on_startup:
                r = h()
                if inspect.isawaitable(r):
                    await r

    async def shutdown_async(self):
        """Runs the lifespan's exit (or the shutdown handlers)."""
        if self._shutdown_done:
            return
        self._shutdown_done = True
        if self._lifespans():
            while self._lifespan_cms:
                cm = self._lifespan_cms.pop()
                if hasattr(cm, "__aexit__"):
                    await cm.__aexit__(None, None, None)
                else:
                    cm.__exit__(None, None, None)
        else:
            for h in self.router.on_shutdown:
                r = h()
                if inspect.isawaitable(r):
                    await r

    def startup_sync(self):
        """Runs startup from synchronous code (TestClient, workers)."""
        self._shutdown_done = False
        _aio.run(self.startup_async())

    def shutdown_sync(self):
        """Runs shutdown from synchronous code."""
        _aio.run(self.shutdown_async())

    def _handle_starting(self, req, res):
        state = self._startup_state
        if state == "todo":
            if self._startup_is_sync():
                with self._startup_lock:
                    if self._startup_state == "todo":
                        try:
                            for h in self.router.on_startup:
                                h()
                            self._startup_state = None
                        except Exception as exc:  # noqa: BLE001
                            self._startup_failed(exc)
                return self._handle(req, res) if self._startup_state is None else self._handle_starting(req, res)
            self._startup_state = "running"
            return self._startup_then_handle(req, res)
        if state == "running":
            return self._wait_startup_then_handle(req, res)
        _emit(res, (500, "text/plain; charset=utf-8", b"Internal Server Error (application startup failed)", None), req)
        return None

    def _startup_failed(self, exc):
        self._startup_state = "failed"
        logger.error("Application startup failed in this worker interpreter; it answers 500",
                     exc_info=(type(exc), exc, exc.__traceback__))

    async def _startup_then_handle(self, req, res):
        try:
            await self.startup_async()
            self._startup_state = None
        except Exception as exc:  # noqa: BLE001
            self._startup_failed(exc)
        r = self._handle(req, res)
        if r is not None:
            await r

    async def _wait_startup_then_handle(self, req, res):
        while self._startup_state == "running":
            await asyncio.sleep(0.001)
        r = self._handle(req, res)
        if r is not None:
            await r

    # -- serving -----------------------------------------------------------------------
    def run(self, host: str = "127.0.0.1", port: int = 8000, *, workers: int = 0, pooled_workers: int = 0,
            pooled_interpreters: int = 0, log_level: str = "info", interpreters: str = "auto", **server_options):
        """Serves this app (blocks until SIGINT/SIGTERM).

        ``workers``: event-loop threads, each with its own interpreter (0 = one
        per CPU); ``pooled_workers`` and ``pooled_interpreters`` for pooled
        routes; other keywords go to the native server (``max_body_size``,
        ``keepalive_timeout``...).  The app must be a module-level variable:
        each worker interpreter imports its module again."""
        from ._server import serve  # noqa: PLC0415
        return serve(self, host=host, port=port, workers=workers, pooled_workers=pooled_workers,
                     pooled_interpreters=pooled_interpreters, log_level=log_level, interpreters=interpreters,
                     **server_options)

    def __repr__(self):
        return f"<FastAPI {self.title!r}: {len(self.routes)} routes>"


def _chain(mw, call_next):
    async def call(request):
        return await mw(request, call_next)
    return call


def _response_from_res(res: dict) -> Response:
    """The Response a middleware's call_next returns, from a filled res."""
    body = res.get("body", b"")
    status = res.get("status", 200)
    if "file" in res:
        r = FileResponse(res["file"], status_code=status)
        r.headers = MutableHeaders()
    elif body is not None and not isinstance(body, (str, bytes, bytearray)):
        r = StreamingResponse(body, status_code=status)
    else:
        if isinstance(body, str):
            body = body.encode("utf-8")
        r = Response(body, status_code=status)
    ct = res.get("content_type")
    if ct is not None:
        r.headers["content-type"] = ct
    for k, v in res.get("headers") or ():
        r.headers.append(k, v)
    return r

