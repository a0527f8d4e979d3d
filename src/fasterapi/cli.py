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
    --processes N         server processes under a supervisor (default 1: no supervisor)
    --max-requests N      recycle a process after N requests (+ --max-requests-jitter J)
    --max-rss MIB         recycle a process whose resident size passes MIB MiB
    --lifetime SECONDS    recycle a process after SECONDS
    --graceful-timeout S  in-flight requests get S seconds at stop (default 10)
    --kill-timeout S      then a process gets S more before SIGKILL (default 5)
    --reload              restart the processes when a *.py file under --reload-dir changes
    --uds PATH            listen on a Unix socket instead of host:port
    --fd N                listen on the already listening socket N (systemd, a parent process)
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
    p.add_argument("--processes", type=_positive, default=1,
                   help="server processes, each with its own workers, under a supervisor that restarts "
                        "them (default: 1, no supervisor)")
    p.add_argument("--max-requests", type=_non_negative, default=0,
                   help="recycle a process after this many requests (0: never)")
    p.add_argument("--max-requests-jitter", type=_non_negative, default=0,
                   help="add a random 0..N to --max-requests per process")
    p.add_argument("--max-rss", type=_non_negative, default=0,
                   help="recycle a process past this resident size in MiB (0: never)")
    p.add_argument("--lifetime", type=float, default=0, help="recycle a process after this many seconds (0: never)")
    p.add_argument("--graceful-timeout", type=float, default=10.0, help="seconds in-flight requests get at stop")
    p.add_argument("--kill-timeout", type=float, default=5.0,
                   help="seconds after --graceful-timeout before a process is killed")
    p.add_argument("--reload", action="store_true", help="restart on changes to Python files (development)")
    p.add_argument("--reload-dir", action="append", default=None,
                   help="directory to watch with --reload (default: --app-dir); repeatable")
    p.add_argument("--uds", default=None, help="listen on this Unix domain socket path instead of host:port")
    p.add_argument("--fd", type=_non_negative, default=None, help="listen on this already listening socket")
    return p


def _positive(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _non_negative(text):
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {v}")
    return v


def _unix_listener(path, backlog=4096):
    import socket
    import stat
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)  # a stale socket of an earlier run
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, 0o666)  # as Uvicorn: the proxy usually runs as another user
    s.listen(backlog)
    return s


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    app_dir = os.path.abspath(args.app_dir)
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    from . import _runtime
    _runtime.configure_logging("debug" if args.log_level == "trace" else args.log_level)
    log = logging.getLogger("fasterapi")
    if args.factory:
        print("--factory is not supported: every worker interpreter imports module:attribute and must get "
              "the same app; call the factory at module level instead", file=sys.stderr)
        return 2
    for name in ("lifetime", "graceful_timeout", "kill_timeout"):
        if getattr(args, name) < 0:
            log.error("--%s must be 0 or more seconds", name.replace("_", "-"))
            return 2
    if args.uds and args.fd is not None:
        log.error("--uds and --fd both name the listener: give one")
        return 2
    listener = None
    listen_fds = None
    if args.uds:
        try:
            listener = _unix_listener(args.uds)
        except OSError as exc:
            log.error("cannot listen on %s: %s", args.uds, exc)
            return 1
        listen_fds = [listener.fileno()]
    elif args.fd is not None:
        listen_fds = [args.fd]
    serve_kw = dict(host=args.host, port=args.port, workers=args.workers, pooled_workers=args.pooled_workers,
                    pooled_interpreters=args.pooled_interpreters, log_level=args.log_level,
                    interpreters=args.interpreters, graceful_timeout=args.graceful_timeout or 10.0)
    try:
        supervised = (args.processes > 1 or args.max_requests or args.max_rss or args.lifetime or args.reload)
        if supervised:
            return _supervised(args, serve_kw, listen_fds, log)
        return _single(args, serve_kw, listen_fds, log)
    finally:
        if listener is not None:
            listener.close()
            try:
                os.unlink(args.uds)
            except OSError:
                pass


def _supervised(args, serve_kw, listen_fds, log) -> int:
    """The supervisor: nothing of the app is imported here, so every child
    (and every successor after SIGHUP or --reload) imports the code anew."""
    from . import _supervisor
    from ._server import build_server

    def make_server():
        from . import _runtime
        app = _runtime.load_app(args.app)
        if not hasattr(app, "native_routes"):
            raise RuntimeError(f"{args.app} is not a FasterAPI application (got {type(app).__name__})")
        return build_server(app, args.app, None, **serve_kw)

    opts = dict(host=args.host, port=args.port, backlog=4096, num_pinned_workers=args.workers,
                num_processes=args.processes, max_requests=args.max_requests,
                max_requests_jitter=args.max_requests_jitter, max_rss=args.max_rss, lifetime=args.lifetime,
                graceful_timeout=serve_kw["graceful_timeout"], kill_timeout=args.kill_timeout)
    dirs = [os.path.abspath(d) for d in (args.reload_dir or [args.app_dir])] if args.reload else None
    try:
        return _supervisor.run(make_server, opts, reload_dirs=dirs, shared_fds=listen_fds)
    except OSError as exc:
        log.error("%s", exc)
        return 1


def _single(args, serve_kw, listen_fds, log) -> int:
    from . import _runtime
    from ._server import serve
    try:
        app = _runtime.load_app(args.app)
    except Exception as exc:  # noqa: BLE001
        log.error("cannot import %s: %s: %s", args.app, type(exc).__name__, exc)
        return 1
    if not hasattr(app, "native_routes"):
        log.error("%s is not a FasterAPI application (got %s)", args.app, type(app).__name__)
        return 1
    try:
        return serve(app, app_spec_override=(args.app, None), listen_fds=listen_fds, **serve_kw)
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
