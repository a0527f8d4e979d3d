"""Test plumbing: server subprocesses, raw HTTP/1.1, curl, HTTP/2 clients.

Nothing here imports fasterapi: the native core's tests run the extension
only in subprocesses (servers started from tests/python/apps/ and small
scripts run by run_native), so a crash or a sanitizer report never takes
pytest down.  In the ASan pass (scripts/test.sh sets FA_TEST_PRELOAD)
native_env() preloads the sanitizer runtimes into those processes, and
plain_env() keeps them away from curl and h2load.
"""
from __future__ import annotations

import atexit
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
ROOT = HERE.parents[1]

#: True when scripts/test.sh runs the sanitizer pass (C code is ~2x slower).
SANITIZED = bool(os.environ.get("FA_TEST_PRELOAD"))
#: Multiplier for latency bounds that must hold under the sanitizers too.
SLACK = 2.0 if SANITIZED else 1.0

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "UndefinedBehaviorSanitizer",
)

#: Same defaults as the seed example, on loopback.
DEFAULT_CONFIG = dict(host="127.0.0.1", num_pinned_workers=2, num_pooled_workers=2,
                      num_pooled_interpreters=1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def native_env(extra: dict | None = None) -> dict:
    """Environment for a process that loads the extension."""
    env = os.environ.copy()
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONSTARTUP", None)
    preload = os.environ.get("FA_TEST_PRELOAD")
    if preload:
        current = [lib for lib in env.get("LD_PRELOAD", "").split(":") if lib]
        if not set(preload.split(":")) <= set(current):
            env["LD_PRELOAD"] = ":".join([preload, *current])
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0:halt_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if extra:
        env.update(extra)
    return env


def plain_env() -> dict:
    """Environment for other programs (curl, h2load): without the sanitizer
    runtimes, which scripts/test.sh also preloads into pytest itself."""
    env = os.environ.copy()
    preload = set(os.environ.get("FA_TEST_PRELOAD", "").split(":"))
    libs = [lib for lib in env.get("LD_PRELOAD", "").split(":") if lib and lib not in preload]
    if libs:
        env["LD_PRELOAD"] = ":".join(libs)
    else:
        env.pop("LD_PRELOAD", None)
    return env


def assert_no_sanitizer_reports(text: str, what: str = "process") -> None:
    for marker in SANITIZER_MARKERS:
        if marker in text:
            i = text.index(marker)
            raise AssertionError(f"{what} printed a sanitizer report:\n{text[max(0, i - 2000):i + 6000]}")


def run_native(code_or_script, *args, timeout: float = 60, env_extra: dict | None = None,
               check_sanitizers: bool = True) -> subprocess.CompletedProcess:
    """Runs python code (a str) or a script (a Path) in a subprocess with the
    extension's environment; returns the CompletedProcess (text mode)."""
    if isinstance(code_or_script, Path):
        argv = [sys.executable, str(code_or_script), *map(str, args)]
    else:
        argv = [sys.executable, "-c", code_or_script, *map(str, args)]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       errors="replace", timeout=timeout, env=native_env(env_extra), cwd=str(ROOT))
    if check_sanitizers:
        assert_no_sanitizer_reports(p.stderr, f"{argv[1:2]}")
    return p


# --------------------------------------------------------------------------
# Server subprocesses
# --------------------------------------------------------------------------

_LIVE: "set[ServerProcess]" = set()


@atexit.register
def _kill_leftover_servers() -> None:
    """No server outlives pytest (they share its process group too, so an
    outer `timeout` reaches them)."""
    for srv in list(_LIVE):
        srv.kill()


class ServerProcess:
    """A server app from tests/python/apps/ running in a subprocess.

    The app gets its constructor keywords as one JSON argument.  stdout and
    stderr go to files, so they can be read at any time without pipes filling
    up."""

    def __init__(self, app: str = "basic.py", workdir: Path | None = None,
                 startup_timeout: float = 30.0, env_extra: dict | None = None,
                 probe_cert: tuple | None = None, **config):
        # probe_cert: (certfile, keyfile) the readiness probe presents to a
        # TLS server that requires client certificates
        self.probe_cert = probe_cert
        cfg = dict(DEFAULT_CONFIG)
        cfg.update(config)
        cfg.setdefault("port", free_port())
        self.config = cfg
        self.port = cfg["port"]
        self.host = "127.0.0.1" if cfg["host"] in ("0.0.0.0", "", "::") else cfg["host"]
        self.app = app
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="fa-srv-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        tag = f"{Path(app).stem}-{self.port}"
        self.stdout_path = self.workdir / f"{tag}.stdout"
        self.stderr_path = self.workdir / f"{tag}.stderr"
        self.returncode: int | None = None
        script = APPS / app if not os.path.isabs(app) else Path(app)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(script), json.dumps(cfg)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=native_env(env_extra), cwd=str(ROOT))
        _LIVE.add(self)
        try:
            self.wait_ready(startup_timeout)
        except BaseException:
            self.kill()
            raise

    # -- state ------------------------------------------------------------
    @property
    def tls(self) -> bool:
        return bool(self.config.get("ssl_certfile"))

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stdout(self) -> str:
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_len(self) -> int:
        return len(self.stderr())

    def wait_stderr(self, predicate, since: int = 0, timeout: float = 5.0) -> str:
        """Waits until predicate(stderr[since:]) is true; returns that text
        (the last text seen if the timeout ran out)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.stderr()[since:]
            if predicate(text) or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def wait_ready(self, timeout: float) -> None:
        """Waits until the server answers HTTP: the port accepts and a request
        for an unknown path gets a status line (404, answered by the C router
        without Python).  A listening port alone is not enough: the server
        may still be creating its interpreters."""
        deadline = time.monotonic() + timeout
        probe = b"GET /__fa_test_ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server {self.app} exited with {self.proc.returncode} before serving on "
                    f"{self.port}\n--- stderr ---\n{self.stderr()[-8000:]}\n--- stdout ---\n{self.stdout()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=2.0) as raw:
                    s = raw
                    if self.tls:  # a TLS listener: the probe goes over TLS, unverified
                        import ssl
                        ctx = ssl.create_default_context()
                        ctx.check_hostname = False
                        ctx.verify_mode = ssl.CERT_NONE
                        if self.probe_cert:
                            ctx.load_cert_chain(*self.probe_cert)
                        s = ctx.wrap_socket(raw)
                    s.sendall(probe)
                    if s.recv(16).startswith(b"HTTP/1."):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {self.app} did not answer on {self.port} within {timeout}s\n"
                                   f"--- stderr ---\n{self.stderr()[-8000:]}")
            time.sleep(0.05)

    # -- stopping -----------------------------------------------------------
    def send_signal(self, sig=signal.SIGINT) -> None:
        if self.running():
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            self.returncode = self.proc.wait(timeout=timeout)
            _LIVE.discard(self)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"server {self.app} did not exit within {timeout}s; killed\n--- stderr ---\n{self.stderr()[-8000:]}"
            ) from None
        return self.returncode

    def stop(self, sig=signal.SIGINT, timeout: float | None = None) -> int:
        """Stops the server with a signal and returns its exit code."""
        if timeout is None:
            timeout = float(self.config.get("graceful_timeout", 10.0)) + 20.0
        if self.returncode is not None:
            return self.returncode
        self.send_signal(sig)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.returncode = self.proc.returncode
        _LIVE.discard(self)

    def check_clean_exit(self) -> None:
        """Stops the server if needed; asserts exit code 0 and no sanitizer
        report on stderr."""
        rc = self.stop()
        assert_no_sanitizer_reports(self.stderr(), f"server {self.app}")
        assert rc == 0, f"server {self.app} exited with {rc}\n--- stderr ---\n{self.stderr()[-8000:]}"

    def cleanup_dir(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def proc_status_kb(pid: int, field: str) -> int:
    """A kB figure from /proc/PID/status: "VmRSS" (now), "VmHWM" (peak)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def module_server(app: str, tmp_path_factory, name: str, **config):
    """The body of a module-scoped server fixture (`yield from` it): a
    ServerProcess of app with config, stopped and checked for a clean exit
    at teardown."""
    srv = ServerProcess(app, workdir=tmp_path_factory.mktemp(name), **config)
    try:
        yield srv
    finally:
        try:
            srv.check_clean_exit()
        finally:
            srv.kill()


class CliServer:
    """`python -m fasterapi SPEC --app-dir tests/python/apps --port P
    --workers 1 ARGS`: the command line a user types, started with its
    output in a log file and waited for until it listens; stop() sends
    SIGTERM and wants exit status 0 and no sanitizer report."""

    def __init__(self, tmp_path: Path, spec: str, *args, env_extra=None, pass_fds=(), port=None):
        self.port = port or free_port()
        self.log_path = tmp_path / f"cli-{self.port}.log"
        argv = [sys.executable, "-m", "fasterapi", spec, "--app-dir", str(APPS), "--port",
                str(self.port), "--workers", "1", *map(str, args)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=native_env(env_extra), cwd=str(ROOT), pass_fds=pass_fds)
        deadline = time.monotonic() + 30
        while "Listening on" not in self.log():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log()[-3000:]
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0, self.log()[-3000:]
        assert_no_sanitizer_reports(self.log(), "server")


def nghttpd_server(tmp_path_factory):
    """The body of an nghttpd fixture (`yield from` it): nghttp2's own server
    over h2c prior knowledge, serving a directory with index.html ("hi\\n"),
    the oracle the HTTP/2 conformance tests compare against.  Yields its
    port; skips the test when nghttpd (Debian's nghttp2-server) is missing."""
    exe = shutil.which("nghttpd") or "/usr/sbin/nghttpd"
    if not os.path.exists(exe):
        pytest.skip("nghttpd (nghttp2-server) not installed")
    root = tmp_path_factory.mktemp("ngd")
    (root / "index.html").write_text("hi\n")
    port = free_port()
    p = subprocess.Popen([exe, "--no-tls", "-d", str(root), str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=plain_env())
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        p.kill()
        p.wait()


# --------------------------------------------------------------------------
# Raw HTTP/1.1
# --------------------------------------------------------------------------

def connect(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


@dataclass
class H1Response:
    version: str
    status: int
    reason: str
    headers: list = field(default_factory=list)  # [(lowercase name, value)]
    body: bytes = b""
    raw_head: bytes = b""

    def header(self, name: str, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def header_all(self, name: str) -> list:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self):
        return json.loads(self.body)


class ConnectionClosed(Exception):
    """The peer closed the connection before a complete response arrived."""


class H1Reader:
    """Reads HTTP/1.1 responses from a socket (buffered, with timeouts)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self) -> None:
        if self.eof:
            raise ConnectionClosed("connection closed")
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise ConnectionClosed("connection closed")
        self.buf += data

    def readline(self) -> bytes:
        while b"\r\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise AssertionError("response line too long")
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self) -> bytes:
        try:
            while True:
                self._fill()
        except ConnectionClosed:
            pass
        out, self.buf = self.buf, b""
        return out

    def read_head(self) -> H1Response:
        raw = []
        line = self.readline()
        raw.append(line)
        parts = line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError(f"bad status line {line!r}")
        resp = H1Response(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "")
        while True:
            line = self.readline()
            raw.append(line)
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            assert name and name == name.strip(), f"bad header line {line!r}"
            resp.headers.append((name.lower(), value.strip(" \t")))
        resp.raw_head = b"\r\n".join(raw) + b"\r\n"
        return resp

    def read_response(self, method: str = "GET", allow_informational: bool = False) -> H1Response:
        """Reads one response.  Interim 1xx responses are skipped unless
        allow_informational is set, in which case they are returned."""
        while True:
            resp = self.read_head()
            if 100 <= resp.status < 200 and resp.status != 101:
                if allow_informational:
                    return resp
                continue
            break
        if method == "HEAD" or resp.status in (204, 304) or resp.status == 101:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if "chunked" in te:
            body = []
            while True:
                size_line = self.readline().split(b";", 1)[0].strip()
                size = int(size_line, 16)
                if size == 0:
                    while self.readline():  # trailers
                        pass
                    break
                body.append(self.read_exact(size))
                assert self.read_exact(2) == b"\r\n", "chunk not followed by CRLF"
            resp.body = b"".join(body)
        elif cl is not None:
            resp.body = self.read_exact(int(cl))
        else:
            resp.body = self.read_to_eof()
        return resp


def build_request(method: str = "GET", target: str = "/", headers=None, body: bytes = b"",
                  host: str = "localhost", version: str = "HTTP/1.1") -> bytes:
    hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hdrs}
    if "host" not in names and host is not None:
        hdrs.insert(0, ("Host", host))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        hdrs.append(("Content-Length", str(len(body))))
    head = f"{method} {target} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
    return head.encode("latin-1") + body


def h1_request(port: int, method: str = "GET", target: str = "/", headers=None, body: bytes = b"",
               timeout: float = 30.0, host: str = "127.0.0.1") -> H1Response:
    with connect(port, host=host, timeout=timeout) as s:
        s.sendall(build_request(method, target, headers, body))
        return H1Reader(s).read_response(method)


def exchange_raw(port: int, data: bytes, timeout: float = 10.0, host: str = "127.0.0.1"):
    """Sends raw bytes; reads one response and then waits for the server to
    close.  Returns (response or None, closed: bool, rest: bytes)."""
    with connect(port, host=host, timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = H1Reader(s)
        try:
            resp = r.read_response()
        except ConnectionClosed:
            return None, True, r.buf
        except socket.timeout:
            return None, False, r.buf
        try:
            rest = r.read_to_eof()
            closed = True
        except socket.timeout:
            rest, closed = r.buf, False
        return resp, closed, rest


def wait_closed(sock: socket.socket, timeout: float) -> tuple[bool, bytes]:
    """Reads until the peer closes; returns (closed, data read)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True, data
        if not chunk:
            return True, data
        data += chunk
    return False, data


def assert_serving(port: int, host: str = "127.0.0.1") -> None:
    """The server still answers a plain request on a new connection."""
    r = h1_request(port, "GET", "/", timeout=15, host=host)
    assert r.status == 200 and r.body == b"Hello from /", (r.status, r.body)


# --------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------

PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"  # 64 bytes


def pattern_bytes(n: int) -> bytes:
    """The body /download?n returns (apps/basic.py computes the same)."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


def random_body(n: int, seed: int = 1) -> bytes:
    import random
    return random.Random(seed).randbytes(n)


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# --------------------------------------------------------------------------
# curl
# --------------------------------------------------------------------------

CURL_MODES = {"h1": ["--http1.1"], "h2": ["--http2-prior-knowledge"], "h2c": ["--http2"]}


@dataclass
class CurlResult:
    status: int
    http_version: str
    headers: dict  # lowercase name -> last value (final response only)
    body: bytes
    all_head: str
    stderr: str


def curl(url: str, mode: str = "h1", method: str = "GET", data: bytes | None = None,
         headers=(), timeout: float = 60.0, extra=()) -> CurlResult:
    with tempfile.TemporaryDirectory(prefix="fa-curl-") as d:
        body_f, head_f = os.path.join(d, "body"), os.path.join(d, "head")
        cmd = ["curl", "-sS", "--max-time", str(timeout), *CURL_MODES[mode],
               "-o", body_f, "-D", head_f, "-w", "%{http_code} %{http_version}"]
        if method == "HEAD":
            cmd.append("--head")
        elif method != "GET" or data is not None:
            cmd += ["-X", method]
        if data is not None:
            data_f = os.path.join(d, "data")
            with open(data_f, "wb") as f:
                f.write(data)
            cmd += ["--data-binary", "@" + data_f]
            if not any(h.lower().startswith("content-type:") for h in headers):
                cmd += ["-H", "Content-Type: application/octet-stream"]
        for h in headers:
            cmd += ["-H", h]
        cmd += [*extra, url]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 15,
                           stdin=subprocess.DEVNULL, env=plain_env())
        if p.returncode != 0:
            raise AssertionError(f"curl failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
        code, _, version = p.stdout.strip().partition(" ")
        all_head = open(head_f, "rb").read().decode("latin-1") if os.path.exists(head_f) else ""
        blocks = [b for b in all_head.replace("\r\n", "\n").split("\n\n") if b.strip()]
        hdrs = {}
        if blocks:
            for line in blocks[-1].split("\n")[1:]:
                k, _, v = line.partition(":")
                hdrs[k.strip().lower()] = v.strip()
        body = open(body_f, "rb").read() if os.path.exists(body_f) else b""
        if method == "HEAD":
            body = b""  # with --head, -o receives the headers
        return CurlResult(int(code), version, hdrs, body, all_head, p.stderr)


def have_tool(name: str) -> bool:
    return shutil.which(name) is not None


# --------------------------------------------------------------------------
# HTTP/2 with the h2 library
# --------------------------------------------------------------------------

@dataclass
class GoAway:
    error_code: int
    last_stream_id: int


@dataclass
class H2Stream:
    status: int | None = None
    headers: list = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False
    reset: int | None = None  # error code of a RST_STREAM from the server

    def header(self, name: str, default=None):
        for k, v in self.headers:
            if k == name:
                return v
        return default


class H2Client:
    """A small blocking HTTP/2 client over h2 for frame-level tests.

    mode "prior" sends the preface at once; mode "upgrade" starts with an
    HTTP/1.1 request carrying Upgrade: h2c (see upgrade())."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 30.0,
                 mode: str = "prior", local_settings: dict | None = None, tls_context=None):
        import h2.config
        import h2.connection
        self.sock = connect(port, host=host, timeout=timeout)
        if tls_context is not None:  # HTTPS: the context must offer ALPN h2
            self.sock = tls_context.wrap_socket(self.sock, server_hostname="localhost")
        self.timeout = timeout
        self.host = host
        self.port = port
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=False,
                                        normalize_outbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        if local_settings:
            self.conn.local_settings.update(local_settings)
        self.streams: dict[int, H2Stream] = {}
        self.remote_settings: dict = {}
        self.settings_received = False
        self.goaway: GoAway | None = None  # the last GOAWAY received
        self._after_goaway = False
        self._inbuf = b""
        self._hdr_block, self._hdr_end_stream = b"", False
        self.closed = False
        self.upgrade_response: H1Response | None = None
        if mode == "prior":
            self.conn.initiate_connection()
            self.flush()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    # -- upgrade -----------------------------------------------------------
    def upgrade(self, method: str = "GET", path: str = "/", headers=(), body: bytes = b"") -> int:
        """Sends an HTTP/1.1 request with Upgrade: h2c, expects 101 and
        switches; the response arrives on stream 1 (returned)."""
        settings = self.conn.initiate_upgrade_connection()
        hdrs = [("Host", f"{self.host}:{self.port}"), ("Connection", "Upgrade, HTTP2-Settings"),
                ("Upgrade", "h2c"), ("HTTP2-Settings", settings.decode() if isinstance(settings, bytes) else settings),
                *headers]
        self.sock.sendall(build_request(method, path, hdrs, body, host=None))
        reader = H1Reader(self.sock)
        resp = reader.read_head()
        self.upgrade_response = resp
        if resp.status != 101:
            raise AssertionError(f"expected 101 Switching Protocols, got {resp.status} {resp.raw_head!r}")
        self.flush()  # client preface + SETTINGS
        self.streams[1] = H2Stream()
        if reader.buf:
            self._feed(reader.buf)
        return 1

    # -- requests ------------------------------------------------------------
    def request(self, method: str, path: str, headers=(), body: bytes | None = None,
                end_stream: bool = True, authority: str | None = None) -> int:
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "http"),
                (":authority", authority or f"{self.host}:{self.port}"), (":path", path), *headers]
        if body is not None and not any(k.lower() == "content-length" for k, _ in headers):
            hdrs.append(("content-length", str(len(body))))
        self.streams[sid] = H2Stream()
        self.conn.send_headers(sid, hdrs, end_stream=end_stream and not body)
        self.flush()
        if body:
            self.send_body(sid, body, end_stream=end_stream)
        return sid

    def send_body(self, sid: int, body: bytes, end_stream: bool = True) -> None:
        view = memoryview(body)
        while view:
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.pump(lambda: self.conn.local_flow_control_window(sid) > 0 or self.streams[sid].reset is not None
                          or self.streams[sid].ended)
                if self.streams[sid].reset is not None or self.streams[sid].ended:
                    return
                continue
            n = min(window, len(view))
            self.conn.send_data(sid, view[:n].tobytes(), end_stream=end_stream and n == len(view))
            self.flush()
            view = view[n:]
        if end_stream and not body:
            self.conn.end_stream(sid)
            self.flush()

    def response(self, sid: int, timeout: float | None = None) -> H2Stream:
        st = self.streams[sid]
        self.pump(lambda: st.ended or st.reset is not None, timeout)
        return st

    # -- event pump -------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        """Splits the server's bytes into frames.  Until a GOAWAY arrives they
        go through h2; after it by hand, because h2 closes its state machine
        at the first GOAWAY and refuses the frames a graceful shutdown still
        sends (nghttp2 sends a GOAWAY notice, the in-flight responses, then
        the final GOAWAY)."""
        self._inbuf += data
        while len(self._inbuf) >= 9:
            length = int.from_bytes(self._inbuf[:3], "big")
            if len(self._inbuf) < 9 + length:
                break
            frame, self._inbuf = self._inbuf[:9 + length], self._inbuf[9 + length:]
            if self._after_goaway:
                self._manual_frame(frame)
            else:
                self._h2_frame(frame)
        self.flush()

    def _h2_frame(self, frame: bytes) -> None:
        import h2.events as ev
        for e in self.conn.receive_data(frame):
            if isinstance(e, ev.ResponseReceived):
                st = self.streams.setdefault(e.stream_id, H2Stream())
                st.headers = [(k, v) for k, v in e.headers]
                st.status = int(dict(st.headers)[":status"])
            elif isinstance(e, ev.DataReceived):
                st = self.streams.setdefault(e.stream_id, H2Stream())
                st.body += e.data
                if e.flow_controlled_length:
                    self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, ev.StreamEnded):
                self.streams.setdefault(e.stream_id, H2Stream()).ended = True
            elif isinstance(e, ev.StreamReset):
                self.streams.setdefault(e.stream_id, H2Stream()).reset = int(e.error_code)
            elif isinstance(e, ev.RemoteSettingsChanged):
                self.settings_received = True
                for k, v in e.changed_settings.items():
                    self.remote_settings[int(k)] = v.new_value
            elif isinstance(e, ev.ConnectionTerminated):
                self.goaway = GoAway(int(e.error_code), e.last_stream_id)
                self._after_goaway = True
        self.flush()

    def _manual_frame(self, frame: bytes) -> None:
        ftype, flags, sid = frame[3], frame[4], int.from_bytes(frame[5:9], "big") & 0x7FFFFFFF
        payload = frame[9:]
        if ftype in (0x0, 0x1) and flags & 0x8:  # PADDED
            pad = payload[0]
            payload = payload[1:len(payload) - pad]
        if ftype == 0x0:  # DATA
            st = self.streams.setdefault(sid, H2Stream())
            st.body += payload
            if frame[9:]:
                n = len(frame) - 9
                inc = n.to_bytes(4, "big")
                try:  # WINDOW_UPDATE for the connection and the stream
                    self.sock.sendall(b"\x00\x00\x04\x08\x00\x00\x00\x00\x00" + inc
                                      + b"\x00\x00\x04\x08\x00" + sid.to_bytes(4, "big") + inc)
                except OSError:
                    pass
            if flags & 0x1:
                st.ended = True
        elif ftype in (0x1, 0x9):  # HEADERS, CONTINUATION
            if ftype == 0x1:
                if flags & 0x20:  # PRIORITY
                    payload = payload[5:]
                self._hdr_block, self._hdr_end_stream = payload, bool(flags & 0x1)
            else:
                self._hdr_block += payload
            if flags & 0x4:  # END_HEADERS
                headers = self.conn.decoder.decode(self._hdr_block, raw=False)
                st = self.streams.setdefault(sid, H2Stream())
                if st.status is None:
                    st.headers = list(headers)
                    st.status = int(dict(headers)[":status"])
                if self._hdr_end_stream:
                    st.ended = True
        elif ftype == 0x3:  # RST_STREAM
            self.streams.setdefault(sid, H2Stream()).reset = int.from_bytes(payload[:4], "big")
        elif ftype == 0x7:  # GOAWAY
            self.goaway = GoAway(int.from_bytes(payload[4:8], "big"),
                                 int.from_bytes(payload[:4], "big") & 0x7FFFFFFF)

    def pump(self, until, timeout: float | None = None) -> None:
        """Reads and handles frames until until() is true.  Raises
        TimeoutError, or ConnectionClosed if the server closes first."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("HTTP/2 response did not arrive in time")
            self.sock.settimeout(min(left, 1.0))
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                if until():
                    return
                raise ConnectionClosed("server closed the HTTP/2 connection")
            self._feed(data)

    def read_until_closed(self, timeout: float) -> None:
        """Handles frames until the server closes the connection."""
        try:
            self.pump(lambda: False, timeout)
        except ConnectionClosed:
            pass

    def handshake(self, timeout: float | None = None) -> None:
        self.pump(lambda: self.settings_received, timeout)


def h2_get(port: int, path: str, method: str = "GET", body: bytes | None = None, headers=(),
           timeout: float = 30.0) -> H2Stream:
    with H2Client(port, timeout=timeout) as c:
        sid = c.request(method, path, headers=headers, body=body)
        return c.response(sid)


# --------------------------------------------------------------------------
# misc
# --------------------------------------------------------------------------

def run_threads(fns, timeout: float = 60.0) -> list:
    """Runs callables concurrently; returns their results (re-raises the
    first exception)."""
    results = [None] * len(fns)
    errors = []

    def wrap(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        raise TimeoutError("threads did not finish in time")
    if errors:
        raise errors[0]
    return results


def b64(s: bytes) -> str:
    return base64.b64encode(s).decode()
