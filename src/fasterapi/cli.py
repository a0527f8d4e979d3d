"""The command line: ``python -m fasterapi module:app [options]``.

Options follow Uvicorn's where they mean the same thing::

    --host 127.0.0.1      where to listen
    --port 8000
    --workers N           event-loop threads, each with its own interpreter (0 = one per CPU)
    --pooled-workers N    threads for pooled routes (0 = 2 if a route is pooled)
    --pooled-interpreters N
    --log-level info      critical, error, warning, info, debug, trace
    --interpreters auto   sub (own-GIL sub-interpreters only), main, or auto (sub, else main)
    --app-dir DIR         look for the module in DIR (default: the current directory)
    --factory             module:attribute is a function returning the app
"""
import argparse
import logging
import os
import sys

__all__ = ["main"]


def _parser():
    p = argparse.ArgumentParser(prog="python -m fasterapi",
                                description="Serve a FasterAPI (FastAPI-style) application.")
    p.add_argument("app", help="the application, as module:attribute (e.g. shop:app)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument("--workers", type=int, default=0,
                   help="event-loop workers, one own-GIL interpreter each (default: one per CPU)")
    p.add_argument("--pooled-workers", type=int, default=0, help="threads for pooled routes")
    p.add_argument("--pooled-interpreters", type=int, default=0, help="interpreters shared by pooled threads")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug", "trace"])
    p.add_argument("--interpreters", default="auto", choices=["sub", "main", "auto"],
                   help="sub: own-GIL sub-interpreters only; auto (default): sub, else the main interpreter; "
                        "main: the main interpreter (auto and main fall back to a mode the native server does "
                        "not have yet, so they refuse for now)")
    p.add_argument("--app-dir", default=".", help="directory added to sys.path first (default: current)")
    p.add_argument("--factory", action="store_true", help="the attribute is a function that returns the app")
    return p


def _needs_libc_malloc(interpreters: str) -> bool:
    """CPython 3.12.0-3.12.3 run own-GIL sub-interpreters safely only with
    PYTHONMALLOC=malloc (CPython bug gh-119213: the process aborts at exit
    otherwise); the variable is read when Python starts."""
    return ((3, 12, 0) <= sys.version_info[:3] < (3, 12, 4) and interpreters != "main"
            and os.environ.get("PYTHONMALLOC") != "malloc")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if argv is None and _needs_libc_malloc(args.interpreters):
        # start again with the allocator that makes sub-interpreters safe here
        env = dict(os.environ, PYTHONMALLOC="malloc")
        sys.stderr.write(f"fasterapi: Python {sys.version.split()[0]} needs PYTHONMALLOC=malloc for "
                         "sub-interpreters (CPython gh-119213, fixed in 3.12.4): restarting with it\n")
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    app_dir = os.path.abspath(args.app_dir)
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    from . import _runtime
    from ._server import serve
    _runtime.configure_logging("debug" if args.log_level == "trace" else args.log_level)
    log = logging.getLogger("fasterapi")
    if args.factory:
        print("--factory is not supported: every worker interpreter imports module:attribute and must get "
              "the same app; call the factory at module level instead", file=sys.stderr)
        return 2
    try:
        app = _runtime.load_app(args.app)
    except Exception as exc:  # noqa: BLE001
        log.error("cannot import %s: %s: %s", args.app, type(exc).__name__, exc)
        return 1
    if not hasattr(app, "native_routes"):
        log.error("%s is not a FasterAPI application (got %s)", args.app, type(app).__name__)
        return 1
    try:
        return serve(app, host=args.host, port=args.port, workers=args.workers, pooled_workers=args.pooled_workers,
                     pooled_interpreters=args.pooled_interpreters, log_level=args.log_level,
                     interpreters=args.interpreters, app_spec_override=(args.app, None))
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
