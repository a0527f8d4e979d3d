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
    --proxy-headers / --no-proxy-headers
                          client, scheme and host from Forwarded / X-Forwarded-* (default on,
                          trusted only from --forwarded-allow-ips)
    --forwarded-allow-ips LIST
                          trusted proxies: addresses, CIDR networks, * (default
                          $FORWARDED_ALLOW_IPS or 127.0.0.1)
    --root-path PATH      the prefix a proxy strips (URLs, url_for, OpenAPI servers)
    --ssl-certfile FILE   serve HTTPS (ALPN h2 and http/1.1) with this PEM certificate chain
    --ssl-keyfile FILE    its private key (default: in the certificate file)
    --ssl-keyfile-password PASSWORD
    --ssl-ca-certs FILE   CAs that sign client certificates (mTLS)
    --ssl-cert-reqs N     client certificates: 0 none, 1 optional, 2 required (Uvicorn's numbers;
                          the words none/optional/required work too)
    --ssl-ciphers LIST    TLS 1.2 cipher list, OpenSSL syntax
    --ssl-min-version V   TLSv1.2 (default) or TLSv1.3
    --no-access-log       no access log (on by default: one line per request on stderr)
    --access-logfile PATH the access log to PATH instead ('-': stderr); SIGUSR1 opens it again
    --access-log-format F the line, with {atoms}: client, method, path, query, target, protocol,
                          status, status_phrase, bytes, duration, header:NAME... (default Uvicorn's)
    --metrics-port N      serve Prometheus metrics at http://HOST:N/metrics
    --metrics-host HOST   where the metrics listen (default: --host)
    --timeout-keep-alive S   close an idle keep-alive connection after S seconds (default 5)
    --timeout-graceful-shutdown S   Uvicorn's name for --graceful-timeout
    --limit-concurrency N    per worker, answer 503 past N requests in flight (default 10000)
    --limit-max-requests N   Uvicorn's name for --max-requests (+ --limit-max-requests-jitter)
    --backlog N           the listen(2) queue (default 4096)
    --h11-max-incomplete-event-size BYTES   the largest request head; past it 431
                          (PyHttp2Server's max_header_size, default 16384)
    --header NAME:VALUE   a field added to every answer (repeatable); the handler's own field of
                          the same name replaces it
    --server-header / --no-server-header, --date-header / --no-date-header
                          the `server: fasterapi` and `date:` fields (default on)
    --max-websockets N    per worker, open WebSockets past which a handshake gets 503 (0: no cap)
    --ws-max-size BYTES   the largest WebSocket message (default 16 MiB; past it: close 1009)
    --ws-ping-interval S, --ws-ping-timeout S   WebSocket keepalive pings (default 20, 20; 0: none)
    --ws-per-message-deflate BOOL   offer permessage-deflate to clients that ask (default false:
                          Uvicorn's default is true; compression costs CPU per message)
    --ws none             refuse WebSocket upgrades (the app's WebSocket routes are not served)
    --lifespan auto|on|off   run the app's startup/shutdown (lifespan) or not (off)
    --env-file PATH       set environment variables from a KEY=VALUE file before importing the app
    --log-config PATH     logging configuration (.json or .yaml: dictConfig; else fileConfig)
    --version             print the version and exit
SIGHUP reloads the certificate files without dropping connections; under a
supervisor (--processes, a recycling limit, --reload) it replaces every server
process, one at a time, and the new processes read the code and the
certificate files again.
"""
import argparse
import logging
import os
import signal
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
    p.add_argument("--proxy-headers", action=argparse.BooleanOptionalAction, default=True,
                   help="take the client, scheme and host from Forwarded / X-Forwarded-* sent by a trusted "
                        "proxy (default: on)")
    p.add_argument("--forwarded-allow-ips", default=None,
                   help="comma-separated trusted proxies: addresses, CIDR networks or * (default: "
                        "$FORWARDED_ALLOW_IPS, else 127.0.0.1)")
    p.add_argument("--root-path", default="", help="the path prefix a proxy strips (as Uvicorn's --root-path)")
    p.add_argument("--ssl-certfile", default=None, help="PEM certificate (with chain): serve HTTPS")
    p.add_argument("--ssl-keyfile", default=None, help="PEM private key (default: in --ssl-certfile)")
    p.add_argument("--ssl-keyfile-password", default=None, help="password of an encrypted key file")
    p.add_argument("--ssl-ca-certs", default=None, help="CA bundle that verifies client certificates")
    p.add_argument("--ssl-cert-reqs", default="0",
                   help="client certificates: 0/none (default), 1/optional, 2/required")
    p.add_argument("--ssl-ciphers", default=None, help="TLS 1.2 ciphers, OpenSSL syntax (default: OpenSSL's)")
    p.add_argument("--ssl-min-version", default="TLSv1.2", choices=["TLSv1.2", "TLSv1.3"])
    p.add_argument("--no-access-log", dest="access_log", action="store_false",
                   help="do not log one line per request (on by default)")
    p.add_argument("--access-log-format", default=None,
                   help="access log line with {atoms} (client, method, path, query, target, protocol, status, "
                        "status_phrase, bytes, duration, duration_ms, time, header:NAME...); default: Uvicorn's")
    p.add_argument("--access-logfile", default=None, metavar="PATH",
                   help="write the access log to PATH ('-': stderr, the default); opened for appending, "
                        "opened again on SIGUSR1 (logrotate)")
    p.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
    p.add_argument("--metrics-host", default=None, help="address of the metrics listener (default: --host)")
    # Uvicorn's names for the same settings, and its limits and WebSocket options
    p.add_argument("--timeout-graceful-shutdown", dest="graceful_timeout", type=float,
                   help="the same as --graceful-timeout (Uvicorn's name)")
    p.add_argument("--limit-max-requests", dest="max_requests", type=_non_negative,
                   help="the same as --max-requests (Uvicorn's name)")
    p.add_argument("--limit-max-requests-jitter", dest="max_requests_jitter", type=_non_negative,
                   help="the same as --max-requests-jitter")
    p.add_argument("--timeout-keep-alive", type=float, default=None,
                   help="seconds an idle keep-alive connection is kept (default 5)")
    p.add_argument("--limit-concurrency", type=_positive, default=None,
                   help="per worker, requests in flight past which the server answers 503 (default 10000)")
    p.add_argument("--backlog", type=_positive, default=4096, help="the listen(2) queue (default: %(default)s)")
    p.add_argument("--h11-max-incomplete-event-size", type=_positive, default=None,
                   help="the largest request head in bytes; past it 431 (PyHttp2Server's max_header_size)")
    p.add_argument("--ws", default="auto", choices=["auto", "none"],
                   help="none: refuse WebSocket upgrades (default: %(default)s)")
    p.add_argument("--header", dest="headers", action="append", default=None, metavar="NAME:VALUE", type=_header,
                   help="a default field of every answer, repeatable (a handler's field of the same name "
                        "replaces it)")
    p.add_argument("--server-header", action=argparse.BooleanOptionalAction, default=True,
                   help="send `server: fasterapi` (default: on)")
    p.add_argument("--date-header", action=argparse.BooleanOptionalAction, default=True,
                   help="send `date:` (default: on)")
    p.add_argument("--max-websockets", type=_non_negative, default=None,
                   help="per worker, open WebSockets past which a handshake gets 503 (default 0: no cap)")
    p.add_argument("--ws-max-size", type=_positive, default=None,
                   help="the largest WebSocket message in bytes (default 16 MiB; past it the socket closes with 1009)")
    p.add_argument("--ws-ping-interval", type=float, default=None,
                   help="seconds between WebSocket keepalive pings (default 20; 0: none)")
    p.add_argument("--ws-ping-timeout", type=float, default=None,
                   help="seconds a ping waits for its pong before the socket closes (default 20)")
    p.add_argument("--ws-per-message-deflate", type=_boolean, default=False,
                   help="offer permessage-deflate (RFC 7692) to clients that ask (default: false)")
    p.add_argument("--lifespan", default="auto", choices=["auto", "on", "off"],
                   help="off: do not run the app's startup/shutdown events and lifespan (default: %(default)s)")
    p.add_argument("--env-file", default=None, help="KEY=VALUE lines to put in the environment before the app loads")
    p.add_argument("--log-config", default=None,
                   help="logging configuration file: .json or .yaml (dictConfig), else .ini (fileConfig)")
    p.add_argument("--version", action="version", version=f"FasterAPI {_version()} with CPython "
                   f"{sys.version.split()[0]}")
    return p


def _version() -> str:
    from . import __version__
    return __version__


def _boolean(text):
    v = text.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false, got {text!r}")


def _header(text: str) -> str:
    """--header NAME:VALUE (Uvicorn's form); the server checks the rest."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or name != name.strip() or "\r" in value or "\n" in value:
        raise argparse.ArgumentTypeError(f"must be NAME:VALUE (as X-Frame-Options:DENY), got {text!r}")
    return text


def _limit_options(args) -> dict:
    """The server's timeout, limit and WebSocket keywords the command line
    set (only those: the server's own defaults stand for the rest)."""
    opts = {"backlog": args.backlog}
    if args.timeout_keep_alive is not None:
        opts["keepalive_timeout"] = args.timeout_keep_alive
    if args.limit_concurrency is not None:
        opts["max_inflight"] = args.limit_concurrency
    if args.h11_max_incomplete_event_size is not None:
        opts["max_header_size"] = args.h11_max_incomplete_event_size
    if args.max_websockets is not None:
        opts["max_websockets"] = args.max_websockets
    if args.headers:
        opts["headers"] = args.headers
    if not args.server_header:
        opts["server_header"] = False
    if not args.date_header:
        opts["date_header"] = False
    return opts


def _ws_options(args):
    """add_websocket's keywords for every WebSocket route, or False for --ws none."""
    if args.ws == "none":
        return False
    opts = {"compression": args.ws_per_message_deflate}
    for name, key in (("ws_max_size", "max_message_size"), ("ws_ping_interval", "ping_interval"),
                      ("ws_ping_timeout", "ping_timeout")):
        if getattr(args, name) is not None:
            opts[key] = getattr(args, name)
    return opts


def load_env_file(path: str) -> dict:
    """Reads KEY=VALUE lines (as python-dotenv, which Uvicorn's --env-file uses,
    for the common cases): blank lines and # comments are skipped, `export `
    before a key is allowed, a value may be in single quotes (taken as is) or
    double quotes (\\n, \\t, \\" and \\\\ escapes); an unquoted value ends at ` #`.
    Variables already in the environment are not overridden.  Returns what it
    set.  Raises ValueError naming the line that is not KEY=VALUE."""
    import re
    found = {}
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[7:].lstrip()
            key, eq, value = line.partition("=")
            key = key.strip()
            if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key):
                raise ValueError(f"{path}:{lineno}: expected KEY=VALUE, got {raw.rstrip()!r}")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            elif len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r'\\([nt"\\])', lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), value[1:-1])
            else:
                value = value.split(" #", 1)[0].rstrip()
            found[key] = value
    set_now = {k: v for k, v in found.items() if k not in os.environ}
    os.environ.update(set_now)
    return set_now


def _apply_log_config(path: str) -> None:
    """Uvicorn's --log-config: a dictConfig in JSON or YAML, else a fileConfig."""
    import logging.config
    if path.endswith(".json"):
        import json
        with open(path, encoding="utf-8") as f:
            logging.config.dictConfig(json.load(f))
    elif path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"{path}: a YAML logging configuration needs PyYAML (pip install pyyaml)") from None
        with open(path, encoding="utf-8") as f:
            logging.config.dictConfig(yaml.safe_load(f))
    else:
        logging.config.fileConfig(path, disable_existing_loggers=False)


def _access_log_options(args) -> dict:
    """The server's access log keywords from the command line."""
    opts = {"access_log": args.access_log}
    if args.access_log and args.access_log_format is not None:
        opts["access_log_format"] = args.access_log_format
    return opts


class _AccessLogFile:
    """--access-logfile PATH, opened in the process that serves (each server
    process under a supervisor opens its own).  The C writers keep the
    descriptor number; SIGUSR1 opens PATH again and dup2()s it onto that
    number, so after logrotate moved the file their next write goes to the
    new one (a write in progress finishes in the old one).  Lines are
    appended (O_APPEND) in whole-line writes, so processes sharing the file
    do not interleave within a line."""

    _FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC

    def __init__(self, path: str):
        self.path = path
        self.fd = os.open(path, self._FLAGS, 0o644)

    def reopen(self, *_):
        try:
            new = os.open(self.path, self._FLAGS, 0o644)
        except OSError as exc:
            sys.stderr.write(f"[fasterapi] SIGUSR1: cannot open the access log {self.path} again: {exc}; "
                             "still writing to the old file\n")
            return
        os.dup2(new, self.fd, inheritable=False)
        os.close(new)

    def install(self) -> dict:
        """Reopens on SIGUSR1 from now on; returns the server keyword."""
        signal.signal(signal.SIGUSR1, self.reopen)
        return {"access_log_fd": self.fd}


def _access_log_file(args):
    """The --access-logfile to open, or None (stderr)."""
    if not args.access_log or args.access_logfile in (None, "-"):
        return None
    return _AccessLogFile(args.access_logfile)


def _metrics_options(args) -> dict:
    """metrics_port / metrics_host: the server's keywords, or under a
    supervisor its own (the supervisor serves every process's metrics)."""
    if args.metrics_port is None:
        return {}
    opts = {"metrics_port": args.metrics_port}
    if args.metrics_host is not None:
        opts["metrics_host"] = args.metrics_host
    return opts


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



def _proxy_options(args) -> dict:
    """proxy_headers / forwarded_allow_ips, with Uvicorn's defaults: on,
    trusting $FORWARDED_ALLOW_IPS or else only 127.0.0.1."""
    allow = args.forwarded_allow_ips
    if allow is None:
        allow = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    return {"proxy_headers": args.proxy_headers, "forwarded_allow_ips": allow}


def _ssl_options(args) -> dict:
    """The server's ssl_* keywords from the command line (none without a
    certificate)."""
    reqs = {"0": "none", "1": "optional", "2": "required"}.get(args.ssl_cert_reqs, args.ssl_cert_reqs)
    opts = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile,
            "ssl_keyfile_password": args.ssl_keyfile_password, "ssl_ca_certs": args.ssl_ca_certs,
            "ssl_ciphers": args.ssl_ciphers}
    opts = {k: v for k, v in opts.items() if v is not None}
    if args.ssl_certfile is not None or reqs != "none":
        opts["ssl_cert_reqs"] = reqs
        opts["ssl_min_version"] = args.ssl_min_version
    return opts


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
    if args.env_file is not None:  # before the app (and every child) reads its environment
        try:
            load_env_file(args.env_file)
        except (OSError, ValueError) as exc:
            print(f"fasterapi: --env-file: {exc}", file=sys.stderr)
            return 2
    app_dir = os.path.abspath(args.app_dir)
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    from . import _runtime
    _runtime.configure_logging("debug" if args.log_level == "trace" else args.log_level)
    log = logging.getLogger("fasterapi")
    if args.log_config is not None:
        try:
            _apply_log_config(args.log_config)
        except Exception as exc:  # noqa: BLE001 - any bad file: say which and stop
            log.error("--log-config %s: %s", args.log_config, exc)
            return 2
    if args.factory:
        print("--factory is not supported: every worker interpreter imports module:attribute and must get "
              "the same app; call the factory at module level instead", file=sys.stderr)
        return 2
    for name in ("lifetime", "graceful_timeout", "kill_timeout", "timeout_keep_alive", "ws_ping_interval",
                 "ws_ping_timeout"):
        if getattr(args, name) is None:
            continue
        if getattr(args, name) < 0:
            log.error("--%s must be 0 or more seconds", name.replace("_", "-"))
            return 2
    try:  # a bad list says so at once, not from every server process
        from ._native.http2 import PyHttp2Server
        PyHttp2Server(port=0, **_proxy_options(args))
    except (ValueError, TypeError) as exc:
        log.error("--forwarded-allow-ips: %s", exc)
        return 2
    if args.uds and args.fd is not None:
        log.error("--uds and --fd both name the listener: give one")
        return 2
    listener = None
    listen_fds = None
    if args.uds:
        try:
            listener = _unix_listener(args.uds, args.backlog)
        except OSError as exc:
            log.error("cannot listen on %s: %s", args.uds, exc)
            return 1
        listen_fds = [listener.fileno()]
    elif args.fd is not None:
        listen_fds = [args.fd]
    serve_kw = dict(host=args.host, port=args.port, workers=args.workers, pooled_workers=args.pooled_workers,
                    pooled_interpreters=args.pooled_interpreters, log_level=args.log_level,
                    interpreters=args.interpreters, graceful_timeout=args.graceful_timeout or 10.0,
                    root_path=args.root_path, ws_options=_ws_options(args), lifespan=args.lifespan != "off",
                    **_proxy_options(args), **_ssl_options(args), **_access_log_options(args),
                    **_limit_options(args))
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
        logfile = _access_log_file(args)  # this process's own descriptor (SIGUSR1: forwarded to it)
        return build_server(app, args.app, None, **serve_kw, **(logfile.install() if logfile else {}))

    opts = dict(host=args.host, port=args.port, backlog=args.backlog, num_pinned_workers=args.workers,
                num_processes=args.processes, max_requests=args.max_requests,
                max_requests_jitter=args.max_requests_jitter, max_rss=args.max_rss, lifetime=args.lifetime,
                graceful_timeout=serve_kw["graceful_timeout"], kill_timeout=args.kill_timeout,
                tls=args.ssl_certfile is not None, **_metrics_options(args))
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
        logfile = _access_log_file(args)
    except OSError as exc:
        log.error("cannot open the access log %s: %s", args.access_logfile, exc)
        return 1
    try:
        return serve(app, app_spec_override=(args.app, None), listen_fds=listen_fds, **serve_kw,
                     **_metrics_options(args), **(logfile.install() if logfile else {}))
    except (OSError, ValueError) as exc:  # a bad certificate file or setting: the message names it
        log.error("%s", exc)
        return 1
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
