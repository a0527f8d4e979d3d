"""The native server's handler, and the application's life in each worker
interpreter.

The native server imports :func:`handle` by name in every worker
interpreter (pinned and pooled).  Importing this module there also imports
the user's application, named by the environment variables the main
process sets before ``start()`` (they are process-wide):

``FASTERAPI_APP``        ``module:attribute`` of the FastAPI instance
``FASTERAPI_MAIN_PATH``  file of the main script, when module is ``__main__``
``FASTERAPI_LOG_LEVEL``  logging level for the workers
``FASTERAPI_MAX_BODY_SIZE``  the server's max_body_size (request.body() on a
                         streamed route stops there with a 413)
``FASTERAPI_LIFESPAN``   ``off``: the app's startup and shutdown never run

so an import error stops the server at start, naming the module.  The
startup handlers (or lifespan) run through the server's on_startup hook in
every worker interpreter, on that worker's thread and event loop, before the
server answers (a failure stops start()); shutdown runs through on_shutdown
when the server stops (atexit as a last resort).  Outside the server (e.g.
an app served without hooks) startup runs on the first request.
"""
import atexit
import importlib
import logging
import os

ENV_APP = "FASTERAPI_APP"
ENV_MAIN_PATH = "FASTERAPI_MAIN_PATH"
ENV_LOG_LEVEL = "FASTERAPI_LOG_LEVEL"
ENV_MAX_BODY = "FASTERAPI_MAX_BODY_SIZE"  # the server's max_body_size, for bodies read from a stream
ENV_LIFESPAN = "FASTERAPI_LIFESPAN"  # "off": the app's startup/shutdown never run (--lifespan off)


def _arm_startup(app) -> None:
    """Startup pending ("todo"), or, with --lifespan off, nothing to run: the
    app is served as if started and its shutdown never runs."""
    if os.environ.get(ENV_LIFESPAN) == "off":
        app._startup_state = None
        app._lifespan_off = True
    else:
        app._startup_state = "todo"
ENV_ROOT_PATH = "FASTERAPI_ROOT_PATH"  # --root-path


def _apply_root_path(app) -> None:
    """--root-path (as Uvicorn's): the prefix a proxy strips, for the
    app's URLs, url_for and OpenAPI servers.  An app's own root_path wins,
    as FastAPI's does over the server's."""
    root = os.environ.get(ENV_ROOT_PATH)
    if root and not getattr(app, "root_path", ""):
        app.root_path = root.rstrip("/")

_app = None


def _in_subinterpreter() -> bool:
    try:
        import _interpreters as _i  # 3.13
        return _i.get_current()[0] != _i.get_main()[0]
    except ImportError:  # 3.12
        import _xxsubinterpreters as _i
        return int(_i.get_current()) != int(_i.get_main())


def load_app(spec: str, main_path: str | None = None):
    """Imports ``module:attribute`` (``__main__`` is the main script, imported
    under the name ``__mp_main__`` so its ``if __name__ == "__main__"``
    block does not run again) and returns the object."""
    modname, sep, attr = spec.partition(":")
    if not sep or not attr:
        raise ValueError(f"the app must be given as 'module:attribute', got {spec!r}")
    if modname == "__main__":
        from ._worker import _load_main
        mod = _load_main(main_path)
    else:
        mod = importlib.import_module(modname)
    obj = mod
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def configure_logging(level: str | None) -> None:
    if not level:
        return
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level.upper(), format="%(levelname)s:%(name)s: %(message)s")
    else:
        root.setLevel(level.upper())


def _boot():
    """Loads the app in this worker interpreter and arms its startup and
    shutdown."""
    global _app
    configure_logging(os.environ.get(ENV_LOG_LEVEL))
    app = load_app(os.environ[ENV_APP], os.environ.get(ENV_MAIN_PATH))
    _apply_root_path(app)
    app._build()
    _arm_startup(app)
    atexit.register(_shutdown, app)
    _app = app
    direct_handlers(app)
    return app


def direct_handlers(app) -> list:
    """The native handler's name for each of app.native_routes(), in order:
    ``route_<i>``, a function of this module that calls its route at once
    (no lookup by path and method), for a (path, method) served by exactly
    one route without path convertors, in an app without middleware;
    ``handle`` for the others.  The main process (to register them) and
    every worker interpreter (to import them by name) make the same ones,
    since they load the same app."""
    names = []
    g = globals()
    plain = not app.user_middleware
    for i, (method, path, _pooled, stream_body) in enumerate(app.native_routes()):
        route = app._table.get((path, method)) if plain else None
        if route is None or any(c not in ("str", "path") for c in route.convertors.values()):
            # {p:int}-style convertors may send it elsewhere
            names.append("handle_streamed" if stream_body else "handle")
            continue
        name = f"route_{i}"
        g[name] = _direct_handler(app, route, name, stream_body)
        names.append(name)
    return names


def _direct_handler(app, route, name, stream_body):
    version = app.router._version
    run = route.handle  # compiled: the fast path when the route has one
    router = app.router

    def handler(req, res):
        if app._startup_state is not None or router._version != version:
            return app._handle(req, res)  # not started here yet, or routes changed
        return run(app, req, res)

    async def streamed(req, res):
        # stream_body routes must be coroutine functions for the server
        r = handler(req, res)
        if r is not None:
            await r

    h = streamed if stream_body else handler
    h.__name__ = h.__qualname__ = name
    h.__module__ = __name__
    return h


def adopt(app):
    """Main-interpreter mode: the worker threads share this interpreter, so
    they serve the app object the main process already holds instead of
    importing it again.  Startup and shutdown run once, through the
    server's hooks (on its first worker)."""
    global _app
    _apply_root_path(app)
    app._build()
    _arm_startup(app)
    _app = app  # build_server then makes the direct handlers, here and for the workers
    return app


def _shutdown(app):
    if app._startup_state is not None or getattr(app, "_lifespan_off", False):
        return  # never started here: nothing to undo
    from . import _aio
    try:
        _aio.run(app.shutdown_async())
    except Exception:  # noqa: BLE001
        logging.getLogger("fasterapi.error").exception("Application shutdown failed")
    finally:
        _aio.close_loop()


async def startup():
    """on_startup hook: the app's startup (or lifespan entry) in this
    worker interpreter, on the loop its handlers will run on."""
    app = _app if _app is not None else _boot()
    if app._startup_state != "todo":
        return
    app._startup_state = "running"
    try:
        await app.startup_async()
    except BaseException:
        app._startup_state = "failed"
        raise
    app._startup_state = None


async def shutdown():
    """on_shutdown hook: the app's shutdown (or lifespan exit)."""
    app = _app
    if app is None or app._startup_state is not None or getattr(app, "_lifespan_off", False):
        return  # never started here: nothing to undo
    await app.shutdown_async()


def handle(req, res):
    """The native handler of every route of the app: dispatches on
    req['route'] and req['method'].  Returns None, or a coroutine that the
    native layer runs to finish the request."""
    app = _app
    if app is None:
        app = _boot()
    return app._handle(req, res)


async def handle_streamed(req, res):
    """handle() for routes whose body arrives as it comes (req['stream']):
    the server wants a coroutine function there."""
    r = handle(req, res)
    if r is not None:
        await r


async def handle_websocket(ws):
    """The native WebSocket handler of every WebSocket route of the app
    (``server.add_websocket(path, handle_websocket)``): finds the route for
    ws.path and runs it (fasterapi._websocket.dispatch)."""
    app = _app
    if app is None:
        app = _boot()
    from ._websocket import dispatch  # noqa: PLC0415
    await dispatch(app, ws)


if os.environ.get(ENV_APP) and _in_subinterpreter():
    _boot()
