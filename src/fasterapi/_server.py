"""Serving an app on the native server (``app.run()`` and the command line)."""
import logging
import os
import re
import sys

from . import _runtime

logger = logging.getLogger("fasterapi")

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
_NOT_SUB = re.compile(r"module ([\w.]+) does not support loading in subinterpreters")


class SubinterpreterImportError(RuntimeError):
    """The app imports an extension module that cannot load in an own-GIL
    sub-interpreter (pydantic-core, numpy, orjson...)."""

    def __init__(self, module: str, spec: str):
        self.module = module
        msg = (f"{spec} cannot be served from own-GIL sub-interpreters: it imports the extension module "
               f"{module!r}, which does not support loading in subinterpreters (single-phase init, PyO3, "
               f"or an extension built without per-interpreter GIL support)."
               " Serve it from the main interpreter (one GIL for every worker thread) with "
               "--interpreters main or auto (the default), or remove that import from the app's import "
               "chain (import it lazily where only the main process needs it).")
        super().__init__(msg)


def app_spec(app) -> tuple:
    """("module:attribute", main script path or None) naming app, for the
    worker interpreters to import it again."""
    spec = getattr(app, "_fasterapi_spec", None)
    if spec:
        return spec
    candidates = []
    for name in (getattr(app, "_defined_in", None), "__main__"):
        if name and name not in candidates:
            candidates.append(name)
    for name in candidates:
        mod = sys.modules.get(name)
        if mod is None:
            continue
        for attr, value in list(vars(mod).items()):
            if value is app:
                if name == "__main__":
                    s = getattr(mod, "__spec__", None)
                    if s is not None and s.name and s.name != "__main__":
                        return (f"{s.name}:{attr}", None)
                    path = getattr(mod, "__file__", None)
                    if path is None:
                        break
                    return (f"__main__:{attr}", os.path.abspath(path))
                return (f"{name}:{attr}", None)
    raise RuntimeError("app.run() needs the app to be a module-level variable, because every worker "
                       "interpreter imports its module again; or run `python -m fasterapi module:app`")


def build_server(app, spec, main_path=None, *, host="127.0.0.1", port=8000, workers=0, pooled_workers=0,
                 pooled_interpreters=0, log_level="info", interpreters="sub", listen_fds=None, root_path="",
                 ws_options=None, lifespan=True, **server_options):
    """Creates the native server with one route per (method, path) of app,
    and sets the environment the worker interpreters read.  interpreters:
    'sub' (own-GIL sub-interpreters, each importing the app), 'main' (the
    worker threads share the main interpreter and this very app object) or
    'auto' (sub, falling back to main when the app imports a module that
    cannot load in a sub-interpreter).  ws_options: add_websocket's keywords
    for every WebSocket route (compression, max_message_size, ping_interval,
    ping_timeout; None: add_websocket's defaults), or False to serve no
    WebSocket route (``--ws none``: an upgrade then gets what a plain request
    to the path would).  lifespan:
    False skips the app's startup/shutdown events and lifespan (``--lifespan
    off``)."""
    from ._native.http2 import PyHttp2Server
    level = (log_level or "info").lower()
    if level == "trace":
        level = "debug"
    _runtime.configure_logging(level)
    os.environ[_runtime.ENV_APP] = spec
    if main_path:
        os.environ[_runtime.ENV_MAIN_PATH] = main_path
    else:
        os.environ.pop(_runtime.ENV_MAIN_PATH, None)
    os.environ[_runtime.ENV_LOG_LEVEL] = level
    os.environ[_runtime.ENV_MAX_BODY] = str(server_options.get("max_body_size", 16 << 20))
    if lifespan:
        os.environ.pop(_runtime.ENV_LIFESPAN, None)
    else:
        os.environ[_runtime.ENV_LIFESPAN] = "off"
    if root_path:
        os.environ[_runtime.ENV_ROOT_PATH] = root_path
    else:
        os.environ.pop(_runtime.ENV_ROOT_PATH, None)
    server = PyHttp2Server(port=port, host=host, num_pinned_workers=workers, num_pooled_workers=pooled_workers,
                           num_pooled_interpreters=pooled_interpreters, interpreters=interpreters,
                           **server_options)
    if listen_fds:
        server._use_listeners(listen_fds)  # --fd / --uds: sockets made by the caller
    if interpreters != "sub":
        _runtime.adopt(app)  # what main-interpreter workers serve
    names = _runtime.direct_handlers(app)
    for (method, path, pooled, stream_body), name in zip(app.native_routes(), names):
        server.add_route(method, path, getattr(_runtime, name), pooled=pooled, stream_body=stream_body)
    ws_paths = app.native_websocket_routes() if ws_options is not False else []
    if ws_paths:
        if not hasattr(server, "add_websocket"):
            raise RuntimeError("this build of the native server has no WebSocket support (add_websocket): "
                               "the app's @app.websocket routes cannot be served")
        for path in ws_paths:
            server.add_websocket(path, _runtime.handle_websocket, **(ws_options or {}))
    # what no route matches: FastAPI's 404/405 JSON, redirect_slashes, middleware
    server.set_fallback(_runtime.handle)
    # startup/lifespan in every worker interpreter before the first request
    if lifespan:
        server.on_startup(_runtime.startup)
        server.on_shutdown(_runtime.shutdown)
    return server


def serve(app, *, host="127.0.0.1", port=8000, workers=0, pooled_workers=0, pooled_interpreters=0,
          log_level="info", interpreters="auto", app_spec_override=None, **server_options):
    """Builds the server for app and serves until SIGINT/SIGTERM."""
    if interpreters not in ("sub", "auto", "main"):  # before anything else: a bad argument says so first
        raise ValueError(f"interpreters must be 'sub', 'main' or 'auto', not {interpreters!r}")
    spec, main_path = app_spec_override or app_spec(app)
    server = build_server(app, spec, main_path, host=host, port=port, workers=workers,
                          pooled_workers=pooled_workers, pooled_interpreters=pooled_interpreters,
                          log_level=log_level, interpreters=interpreters, **server_options)
    scheme = "https" if server_options.get("ssl_certfile") else "http"
    logger.info("FasterAPI serving %s on %s://%s:%s", spec, scheme, host, port)
    try:
        server.start()
    except RuntimeError as exc:
        m = _NOT_SUB.search(str(exc))
        if m is None:
            raise
        raise SubinterpreterImportError(m.group(1), spec) from None
    return 0
