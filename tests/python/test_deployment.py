"""FasterAPI behind Debian's HAProxy and nginx, with the configurations of
docs/deployment.md (tests/python/deploy/*.tmpl, filled in with loopback
ports): request.client and the scheme through the proxy (proxy headers,
trusted from 127.0.0.1 only), and a SIGHUP rolling restart of
`--processes 2` under bounded h2load load through HAProxy (h2c to
FasterAPI) with no failed request.

The client connects to the proxy from 127.0.0.2 (curl --interface), so the
address FasterAPI reports can only come from the proxy's header.  Skipped
only when haproxy / nginx / h2load are not installed (scripts/bootstrap.sh
installs them).
"""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import helpers
from helpers import APPS, ROOT, assert_no_sanitizer_reports, free_port, native_env, plain_env

DEPLOY = Path(__file__).with_name("deploy")
HAPROXY = shutil.which("haproxy") or (Path("/usr/sbin/haproxy").exists() and "/usr/sbin/haproxy") or None
NGINX = shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx") or None
H2LOAD = shutil.which("h2load")
OPENSSL = shutil.which("openssl")


def _wait_port(port: int, proc: subprocess.Popen, what: str, log=lambda: "") -> None:
    import socket
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what} is not listening on {port}:\n{log()[-3000:]}")
        time.sleep(0.05)


class FasterAPI:
    def __init__(self, tmp: Path, *args):
        self.port = free_port()
        self.log_path = tmp / f"fasterapi-{self.port}.log"
        argv = [sys.executable, "-m", "fasterapi", "proxy_app:app", "--app-dir", str(APPS), "--host", "127.0.0.1",
                "--port", str(self.port), "--workers", "1", *map(str, args)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=native_env(),
                                         cwd=str(ROOT))
        _wait_port(self.port, self.proc, "FasterAPI", self.log)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, count: int = 1, timeout: float = 30.0) -> list:
        deadline = time.monotonic() + timeout
        while len(found := re.findall(pattern, self.log())) < count:
            assert time.monotonic() < deadline and self.proc.poll() is None, self.log()[-4000:]
            time.sleep(0.05)
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            assert self.proc.wait(30) == 0, self.log()[-3000:]
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        assert_no_sanitizer_reports(self.log(), "FasterAPI")


def _render(template: str, out: Path, **values) -> Path:
    text = (DEPLOY / template).read_text()
    for k, v in values.items():
        text = text.replace("{{" + k + "}}", str(v))
    assert "{{" not in text, text
    out.write_text(text)
    return out


class Proxy:
    def __init__(self, argv: list, port: int, log: Path):
        self.port = port
        self.log_path = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=plain_env())
        _wait_port(port, self.proc, argv[0], lambda: log.read_text(errors="replace"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _pem(tmp: Path) -> Path:
    """A throwaway certificate for the proxy's TLS side (key and chain in one file, as HAProxy wants)."""
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", "key.pem", "-out", "cert.pem", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"], cwd=tmp, check=True, capture_output=True, timeout=60)
    (tmp / "both.pem").write_text((tmp / "cert.pem").read_text() + (tmp / "key.pem").read_text())
    return tmp


def _curl(url: str, *args) -> dict:
    p = subprocess.run(["curl", "-sS", "--max-time", "20", "--interface", "127.0.0.2", *args, url],
                       capture_output=True, text=True, timeout=30, env=plain_env())
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _haproxy_stats(tmp: Path) -> str:
    """The backend's counters (errors, retries, aborts): said when a load test fails."""
    import socket
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(tmp / "haproxy.sock"))
            s.sendall(b"show stat\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
    except OSError as exc:
        return f"(no stats: {exc})"
    lines = out.decode(errors="replace").splitlines()
    names = lines[0].lstrip("# ").split(",")
    keep = ("pxname", "svname", "stot", "econ", "eresp", "wretr", "wredis", "hrsp_5xx", "cli_abrt", "srv_abrt")
    rows = [dict(zip(names, line.split(","))) for line in lines[1:] if line]
    return "\n".join(str({k: r.get(k) for k in keep}) for r in rows)


@pytest.fixture
def haproxy(tmp_path):
    made = []

    def start(backend_port: int) -> tuple:
        _pem(tmp_path)
        port, tls_port = free_port(), free_port()
        cfg = _render("haproxy.cfg.tmpl", tmp_path / "haproxy.cfg", PORT=port, TLS_PORT=tls_port,
                      BACKEND=f"127.0.0.1:{backend_port}", PEM=tmp_path / "both.pem")
        # a second global section (HAProxy merges them): the stats socket _haproxy_stats() reads
        with open(cfg, "a") as f:
            f.write(f"\nglobal\n    stats socket {tmp_path / 'haproxy.sock'} mode 600 level admin\n")
        p = Proxy([HAPROXY, "-db", "-f", str(cfg)], port, tmp_path / "haproxy.log")
        made.append(p)
        _wait_port(tls_port, p.proc, "haproxy (TLS)")
        return port, tls_port

    yield start
    for p in made:
        p.stop()


@pytest.mark.skipif(HAPROXY is None or OPENSSL is None, reason="haproxy (Debian package haproxy) not installed")
def test_haproxy_h2c_backend_client_and_scheme(haproxy, tmp_path):
    fa = FasterAPI(tmp_path)
    try:
        port, tls_port = haproxy(fa.port)
        for mode in (["--http1.1"], ["--http2-prior-knowledge"]):
            r = _curl(f"http://127.0.0.1:{port}/who", *mode)
            assert r["http_version"] == "2"  # HAProxy talks h2c to FasterAPI
            assert r["client"] == ["127.0.0.2", 0]  # the client, not HAProxy
            assert r["scheme"] == "http"
        for mode in (["--http1.1"], ["--http2"]):
            r = _curl(f"https://127.0.0.1:{tls_port}/who", "--cacert", str(tmp_path / "cert.pem"), *mode)
            assert r["client"] == ["127.0.0.2", 0]
            assert r["scheme"] == "https" and r["url"].startswith("https://127.0.0.1:")
        # a client's own header cannot pass for the proxy's
        r = _curl(f"http://127.0.0.1:{port}/who", "-H", "X-Forwarded-For: 6.6.6.6")
        assert r["client"] == ["127.0.0.2", 0]
    finally:
        fa.stop()


@pytest.mark.skipif(HAPROXY is None or OPENSSL is None or H2LOAD is None,
                    reason="haproxy or h2load (Debian packages haproxy, nghttp2-client) not installed")
def test_haproxy_sighup_rolling_restart_under_load(haproxy, tmp_path):
    """h2load -> HAProxy (h2c) -> FasterAPI --processes 2 (h2c), SIGHUP during
    the run: both processes are replaced, h2load counts no failed request
    and no 5xx.  A draining process sends a GOAWAY notice and a PING, and the
    final GOAWAY after the PING's ACK (RFC 9113 6.8), so no stream HAProxy
    opened is refused; with a one-step GOAWAY, HAProxy 2.6 aborted the few
    streams that raced it in about one run of five, retry-on or not."""
    fa = FasterAPI(tmp_path, "--processes", "2", "--graceful-timeout", "5")
    try:
        old = [int(p) for p in fa.wait_log(r"process \d+ \(pid (\d+)\) serving", 2)]
        port, _ = haproxy(fa.port)
        load = subprocess.Popen([H2LOAD, "-D", "7", "-c", "8", "-m", "4", f"http://127.0.0.1:{port}/who"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=plain_env())
        time.sleep(1.5)
        fa.proc.send_signal(signal.SIGHUP)
        fa.wait_log(r"retired \(exit code 0\)", 2)
        out, _ = load.communicate(timeout=60)
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                      r"(\d+) errored, (\d+) timeout", out)
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
        assert m and codes, out
        succeeded, failed, errored, timeouts = int(m.group(4)), int(m.group(5)), int(m.group(6)), int(m.group(7))
        assert failed == 0 and errored == 0 and timeouts == 0 and int(codes.group(4)) == 0, \
            out + _haproxy_stats(tmp_path) + fa.log()[-3000:]
        assert succeeded > 500, out
        new = [int(p) for p in fa.wait_log(r"process \d+ \(pid (\d+)\) serving", 4)][2:]
        assert not set(new) & set(old)
        seen = {_curl(f"http://127.0.0.1:{port}/who")["pid"] for _ in range(10)}
        assert seen <= set(new)
    finally:
        fa.stop()


def _established_to(port: int) -> int:
    """Established TCP connections to 127.0.0.1:port (from /proc/net/tcp)."""
    n = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[3] == "01" and int(f[2].split(":")[1], 16) == port:  # the remote end is the server's port
            n += 1
    return n


@pytest.mark.skipif(NGINX is None, reason="nginx (Debian package nginx-light) not installed")
def test_nginx_keepalive_upstream_client_and_scheme(tmp_path):
    fa = FasterAPI(tmp_path, "--root-path", "/api")
    port = free_port()
    (tmp_path / "nginx").mkdir()
    cfg = _render("nginx.conf.tmpl", tmp_path / "nginx.conf", PORT=port, BACKEND=f"127.0.0.1:{fa.port}",
                  PREFIX=tmp_path / "nginx")
    ng = Proxy([NGINX, "-p", str(tmp_path / "nginx"), "-c", str(cfg), "-g", "daemon off;"], port,
               tmp_path / "nginx.log")
    try:
        for _ in range(5):
            r = _curl(f"http://127.0.0.1:{port}/api/who")
            assert r["http_version"] == "1.1"  # nginx's upstream protocol
            assert r["client"] == ["127.0.0.2", 0]  # from the Forwarded header nginx sends
            assert r["scheme"] == "http"
            assert r["root_path"] == "/api" and r["url"] == f"http://127.0.0.1:{port}/api/who"
            assert r["url_for"] == f"http://127.0.0.1:{port}/api/who"
        # the upstream connection stays open between requests (keepalive)
        assert _established_to(fa.port) == 1
    finally:
        ng.stop()
        fa.stop()


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")


def _units(tmp: Path) -> tuple:
    values = dict(USER="root", APP_DIR=str(APPS), PYTHON=sys.executable)
    return (_render("fasterapi.service.tmpl", tmp / "fasterapi.service", **values),
            _render("fasterapi.socket.tmpl", tmp / "fasterapi.socket", **values))


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze (Debian package systemd) not installed")
def test_systemd_units_verify(tmp_path):
    service, sock = _units(tmp_path)
    p = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", str(service), str(sock)], capture_output=True,
                       text=True, timeout=60, env=plain_env())
    # it returns 0 even for a setting it ignores, so its warnings count too
    assert p.returncode == 0 and "fasterapi" not in p.stdout + p.stderr, p.stdout + p.stderr


@pytest.mark.skipif(SOCKET_ACTIVATE is None, reason="systemd-socket-activate (Debian package systemd) not installed")
def test_systemd_socket_activation_exec_start(tmp_path):
    """The unit's ExecStart as systemd runs it: on the socket systemd passes
    as fd 3 (systemd-socket-activate does what fasterapi.socket does), with
    the unit's environment; ExecReload's SIGHUP rolls both processes; the
    stop signal ends it with exit 0."""
    service, _ = _units(tmp_path)
    text = service.read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", text, re.M).group(1).split()
    env = re.findall(r"^Environment=(.*)$", text, re.M)
    argv = [a for a in exec_start if a != "shop:app"]
    argv.insert(3, "proxy_app:app")  # python -m fasterapi <app> ...
    argv[argv.index("--workers") + 1] = "1"
    port = free_port()
    # systemd-socket-activate gives the command only the -E variables: in the
    # ASan pass the sanitizer runtimes and the sanitized package must be named
    # (without them the server ran the plain build, and the pass tested nothing)
    run_env = native_env()
    env += [f"{k}={run_env[k]}" for k in ("LD_PRELOAD", "PYTHONPATH", "ASAN_OPTIONS", "UBSAN_OPTIONS")
            if helpers.SANITIZED and k in run_env]
    cmd = [SOCKET_ACTIVATE, "-l", f"127.0.0.1:{port}", "-E", "PYTHONUNBUFFERED=1",
           *[x for e in env for x in ("-E", e)], *argv, "--app-dir", str(APPS)]
    log = tmp_path / "activated.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=native_env(),
                                cwd=str(APPS))
    try:
        deadline = time.monotonic() + 30
        while f"Listening on 127.0.0.1:{port} as 3" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.05)
        # the first connection makes it exec the server, which then accepts it
        r = _curl(f"http://127.0.0.1:{port}/who", "-H", "X-Forwarded-For: 9.9.9.9")
        assert r["client"][0] == "127.0.0.2"  # not a trusted proxy: its header is ignored
        if helpers.SANITIZED:  # the exec'd supervisor (same pid) runs with the runtimes and the ASan build
            maps = Path(f"/proc/{proc.pid}/maps").read_text()
            assert "libasan" in maps and "/build/asan/fasterapi/" in maps, "not the sanitized build"
        p = subprocess.run(["curl", "-sS", "-H", "X-Forwarded-For: 9.9.9.9", f"http://127.0.0.1:{port}/who"],
                           capture_output=True, text=True, timeout=30, env=plain_env())
        assert json.loads(p.stdout)["client"] == ["9.9.9.9", 0]  # FORWARDED_ALLOW_IPS=127.0.0.1
        deadline = time.monotonic() + 30
        while log.read_text().count(") serving") < 2:
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.05)
        assert f"Listening on 127.0.0.1:{port}" in log.read_text()
        proc.send_signal(signal.SIGHUP)
        while log.read_text().count("retired (exit code 0)") < 2:
            assert time.monotonic() < deadline + 30 and proc.poll() is None, log.read_text()
            time.sleep(0.05)
        assert _curl(f"http://127.0.0.1:{port}/who")["http_version"] == "1.1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_no_sanitizer_reports(log.read_text(), "FasterAPI")
