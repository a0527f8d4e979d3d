"""The process model (src/fasterapi/_supervisor.py): `python -m fasterapi
--processes N`, restarts after a crash, recycling and SIGHUP with no failed
request, graceful SIGTERM, --reload, --uds, --fd.

Every server is a subprocess on 127.0.0.1 (or a Unix socket in tmp_path);
load is bounded in time: h2load for HTTP/1.1 (it reconnects after
"connection: close"), httpx for h2c (h2_retry_load.py says why not h2load),
and the assertions count failed requests and pids, never speed."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import APPS, ROOT, assert_no_sanitizer_reports, free_port, native_env, plain_env

H2LOAD = shutil.which("h2load")


class Supervised:
    """`python -m fasterapi <spec> <args>` in a subprocess, stderr to a file."""

    def __init__(self, tmp_path: Path, *args, spec="proc_app:app", app_dir: Path = APPS, port=None,
                 pass_fds=()):
        self.port = port if port is not None else free_port()
        self.log_path = tmp_path / f"sup-{self.port}.log"
        argv = [sys.executable, "-m", "fasterapi", spec, "--app-dir", str(app_dir), "--port", str(self.port),
                "--workers", "1", *map(str, args)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=native_env(), cwd=str(ROOT), pass_fds=pass_fds)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, count: int = 1, timeout: float = 30.0) -> list:
        deadline = time.monotonic() + timeout
        while True:
            found = re.findall(pattern, self.log())
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count}x {pattern!r} in the log:\n{self.log()[-4000:]}")
            if self.proc.poll() is not None:
                raise AssertionError(f"supervisor exited ({self.proc.returncode}):\n{self.log()[-4000:]}")
            time.sleep(0.05)

    def serving_pids(self, processes: int) -> list:
        """The pids of the first `processes` "serving" lines, in log order."""
        found = self.wait_log(r"process \d+ \(pid (\d+)\) serving", processes)
        return [int(p) for p in found]

    def slot_of(self, pid: int) -> int:
        m = re.search(r"process (\d+) \(pid %d\) serving" % pid, self.log())
        assert m, self.log()[-4000:]
        return int(m.group(1))

    def get(self, path="/", timeout=5.0) -> dict:
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), data[:300]
        return json.loads(body)

    def stop(self, sig=signal.SIGTERM, timeout=30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            assert_no_sanitizer_reports(self.log(), "supervised server")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def supervised(tmp_path):
    made = []

    def start(*args, **kw):
        s = Supervised(tmp_path, *args, **kw)
        made.append(s)
        return s

    yield start
    for s in made:
        s.kill()
        # no server process outlives its supervisor
        for pid in re.findall(r"process \d+: (?:pid|restarted as pid|starting successor pid) (\d+)", s.log()):
            deadline = time.monotonic() + 10
            while _alive(int(pid)) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(int(pid)), f"server process {pid} outlived its supervisor"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _h2load(port: int, seconds: float, h1: bool = False) -> subprocess.Popen:
    argv = [H2LOAD, "-D", str(seconds), "-c", "8", "-m", "1" if h1 else "4", f"http://127.0.0.1:{port}/"]
    if h1:
        argv.insert(1, "--h1")
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=plain_env())


def _h2_load(port: int, seconds: float) -> subprocess.Popen:
    """h2c load that follows GOAWAY as browsers and proxies do."""
    argv = [sys.executable, str(Path(__file__).with_name("h2_retry_load.py")), f"http://127.0.0.1:{port}/",
            str(seconds), "4", "4"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=plain_env())


def _h2_load_result(p: subprocess.Popen) -> tuple:
    out, err = p.communicate(timeout=90)
    assert p.returncode == 0, out + err
    r = json.loads(out.strip().splitlines()[-1])
    return r["ok"], r["failed"], r, out + err


def _load(port: int, seconds: float, h1: bool) -> subprocess.Popen:
    return _h2load(port, seconds, h1=True) if h1 else _h2_load(port, seconds)


def _load_result(p: subprocess.Popen, h1: bool) -> tuple:
    """(succeeded, failed, output) of _load()."""
    if h1:
        ok, failed, five_xx, out = _h2load_result(p)
        return ok, failed + five_xx, out
    ok, failed, _, out = _h2_load_result(p)
    return ok, failed, out


def _h2load_result(p: subprocess.Popen) -> tuple:
    out, _ = p.communicate(timeout=60)
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", out)
    assert m, out
    total, _, done, ok, failed, errored, timeouts = map(int, m.groups())
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    return ok, failed + errored + timeouts, int(codes.group(4)), out


def test_processes_answer_and_sigterm_exits_zero(supervised):
    s = supervised("--processes", "2")
    pids = s.serving_pids(2)
    assert len(set(pids)) == 2 and s.proc.pid not in pids
    assert f"supervisor (pid {s.proc.pid}) starting 2 server process(es)" in s.log()
    seen = {s.get()["pid"] for _ in range(40)}
    assert seen <= set(pids) and seen  # every answer comes from a child, never the supervisor
    assert s.stop() == 0
    log = s.log()
    assert log.count("stopped (exit code 0)") == 2, log
    for pid in pids:
        assert not _alive(pid)


def test_kill_9_child_is_restarted_and_serves(supervised):
    s = supervised("--processes", "2")
    pids = s.serving_pids(2)
    slot = s.slot_of(pids[1])
    os.kill(pids[1], signal.SIGKILL)
    s.wait_log(r"process %d \(pid %d\) died: killed by signal 9 \(SIGKILL\); restarting in" % (slot, pids[1]))
    s.wait_log(r"process %d: restarted as pid \d+" % slot)
    new = s.serving_pids(3)[2]
    assert new not in pids
    seen = set()
    deadline = time.monotonic() + 10
    while new not in seen and time.monotonic() < deadline:
        seen.add(s.get()["pid"])  # new connections reach the restarted process too
    assert new in seen
    assert s.stop(signal.SIGINT) == 0


def test_crash_loop_backs_off(supervised, tmp_path):
    """A child that keeps dying is restarted with a growing delay, never in
    a tight loop."""
    s = supervised("--processes", "1", "--lifetime", "86400")  # a limit: supervised with one process
    pid = s.serving_pids(1)[0]
    delays = []
    for i in range(3):
        os.kill(pid, signal.SIGKILL)
        delays.append(float(s.wait_log(r"died: killed by signal 9 \(SIGKILL\); restarting in ([\d.]+) s",
                                       i + 1)[i]))
        pid = s.serving_pids(i + 2)[i + 1]
    assert delays == sorted(delays) and delays[-1] > delays[0], delays
    assert s.stop() == 0


def test_app_that_cannot_start_makes_supervisor_exit_1(supervised, tmp_path):
    (tmp_path / "broken_app.py").write_text("raise ImportError('broken on purpose')\n")
    s = supervised("--processes", "2", spec="broken_app:app", app_dir=tmp_path)
    assert s.proc.wait(60) == 1
    log = s.log()
    assert "could not start" in log and "broken on purpose" in log
    assert "restarting in" not in log


@pytest.mark.parametrize("h1", [False, pytest.param(True, marks=pytest.mark.skipif(
    H2LOAD is None, reason="h2load (nghttp2-client) not installed"))], ids=["h2c", "http1"])
def test_sighup_rolling_restart_under_load_fails_nothing(supervised, h1):
    s = supervised("--processes", "2", "--graceful-timeout", "5")
    old = s.serving_pids(2)
    load = _load(s.port, 7, h1)
    time.sleep(1.0)
    s.proc.send_signal(signal.SIGHUP)
    s.wait_log(r"retired \(exit code 0\)", 2, timeout=30)
    ok, failed, out = _load_result(load, h1)
    assert failed == 0, out
    assert ok > 100, out
    new = s.serving_pids(4)[2:]
    assert not set(new) & set(old)
    assert {s.get()["pid"] for _ in range(20)} <= set(new)
    assert s.stop() == 0


@pytest.mark.parametrize("h1", [False, pytest.param(True, marks=pytest.mark.skipif(
    H2LOAD is None, reason="h2load (nghttp2-client) not installed"))], ids=["h2c", "http1"])
def test_max_requests_recycles_under_load_with_no_failure(supervised, h1):
    limit = 3000 if h1 else 800  # httpx sends fewer requests than h2load in the same time
    s = supervised("--processes", "2", "--max-requests", str(limit), "--max-requests-jitter", str(limit // 6),
                   "--graceful-timeout", "5")
    s.serving_pids(2)
    ok, failed, out = _load_result(_load(s.port, 6, h1), h1)
    assert failed == 0, out
    assert ok > limit * 1.2, out  # enough requests for a recycle to be due
    found = s.wait_log(r"reached its max_requests limit", 1)
    s.wait_log(r"replaces pid \d+ \(max_requests\)", 1)
    assert found
    assert s.stop() == 0


def test_lifetime_recycles(supervised):
    s = supervised("--processes", "1", "--lifetime", "1.5")
    first = s.serving_pids(1)[0]
    s.wait_log(rf"pid \d+ replaces pid {first} \(lifetime\)", 1)
    s.wait_log(rf"\(pid {first}\) retired \(exit code 0\)")
    assert s.get()["pid"] != first
    assert s.stop() == 0


@pytest.mark.parametrize("watcher", ["watchfiles", "polling"])
def test_reload_restarts_on_change(supervised, tmp_path, watcher):
    if watcher == "watchfiles":
        pytest.importorskip("watchfiles", reason="watchfiles (PyPI) not installed")
    src = (APPS / "proc_app.py").read_text()
    (tmp_path / "reload_app.py").write_text(src)
    saved = os.environ.get("PYTHONPATH")
    if watcher == "polling":  # a watchfiles that cannot be imported: the stdlib poll
        (tmp_path / "nowatch").mkdir()
        (tmp_path / "nowatch" / "watchfiles.py").write_text("raise ImportError('not here')\n")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(tmp_path / "nowatch"), saved) if p)
    try:
        s = supervised("--reload", spec="reload_app:app", app_dir=tmp_path)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    s.serving_pids(1)
    s.wait_log(rf"for changes \(\*\.py, {'watchfiles' if watcher == 'watchfiles' else 'polling'}")
    assert s.get()["version"] == "v1"
    time.sleep(1.1)  # a new mtime even on coarse file systems
    (tmp_path / "reload_app.py").write_text(src.replace('VERSION = "v1"', 'VERSION = "v2"'))
    s.wait_log(r"a Python file changed: reloading")
    old = int(s.wait_log(r"replaces pid (\d+) \(reload\)")[0])
    s.wait_log(rf"\(pid {old}\) retired")  # until then the old process may still accept
    assert s.get()["version"] == "v2"
    assert s.stop() == 0


def test_uds_listener(supervised, tmp_path):
    path = str(tmp_path / "fa.sock")
    s = supervised("--uds", path)
    s.wait_log(r"Listening on")
    p = subprocess.run(["curl", "-s", "--unix-socket", path, "http://x/"], capture_output=True, text=True,
                       timeout=30, env=plain_env())
    assert json.loads(p.stdout)["version"] == "v1"
    assert s.stop() == 0
    assert not os.path.exists(path)  # removed at exit


def test_fd_listener_with_processes(supervised):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    port = lsock.getsockname()[1]
    try:
        s = supervised("--fd", str(lsock.fileno()), "--processes", "2", port=port, pass_fds=(lsock.fileno(),))
        pids = s.serving_pids(2)
        seen = {s.get()["pid"] for _ in range(30)}
        assert seen <= set(pids) and seen
        assert s.stop() == 0
    finally:
        lsock.close()


def test_bad_process_arguments():
    from helpers import run_native
    p = subprocess.run([sys.executable, "-m", "fasterapi", "proc_app:app", "--processes", "0"],
                       capture_output=True, text=True, env=native_env(), cwd=str(APPS), timeout=60)
    assert p.returncode == 2 and "--processes: must be at least 1" in p.stderr
    r = run_native(
        "from fasterapi._native.http2 import PyHttp2Server\n"
        "for kw in ({'num_processes': 0}, {'max_rss': -1}, {'lifetime': 0}, {'num_processes': 'x'}):\n"
        "    try:\n"
        "        PyHttp2Server(**kw)\n"
        "    except (ValueError, TypeError) as e:\n"
        "        print(type(e).__name__, e)\n"
        "s = PyHttp2Server(port=0, num_processes=2)\n"
        "try:\n"
        "    s.start(blocking=False)\n"
        "except ValueError as e:\n"
        "    print('start', e)\n")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ValueError num_processes must be between 1 and 256"), r.stdout + r.stderr
    assert lines[1].startswith("ValueError max_rss must be at least 0")
    assert lines[2].startswith("ValueError lifetime must be more than 0")
    assert lines[3].startswith("TypeError num_processes must be an int")
    assert lines[4].startswith("start num_processes > 1") and "blocking=True" in lines[4]


def test_low_level_api_num_processes(tmp_path):
    """PyHttp2Server(num_processes=2).start() supervises forked copies."""
    port = free_port()
    script = tmp_path / "low.py"
    script.write_text(
        "import os, sys\n"
        "from fasterapi._native.http2 import PyHttp2Server\n"
        "def pid(req, res):\n"
        "    res['body'] = str(os.getpid())\n"
        "if __name__ == '__main__':\n"
        f"    s = PyHttp2Server(host='127.0.0.1', port={port}, num_pinned_workers=1, num_processes=2)\n"
        "    s.add_route('GET', '/', pid)\n"
        "    s.start()\n"
        "    print('supervisor returned', flush=True)\n")
    log = tmp_path / "low.log"
    with open(log, "wb") as out:
        p = subprocess.Popen([sys.executable, str(script)], stdout=out, stderr=out, env=native_env())
    try:
        deadline = time.monotonic() + 30
        while log.read_text().count(") serving") < 2:
            assert time.monotonic() < deadline and p.poll() is None, log.read_text()
            time.sleep(0.05)
        pids = {int(x) for x in re.findall(r"\(pid (\d+)\) serving", log.read_text())}
        got = set()
        for _ in range(30):
            r = subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
                               timeout=10, env=plain_env())
            got.add(int(r.stdout))
        assert got <= pids and got
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
        assert "supervisor returned" in log.read_text()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_listeners_under_processes(supervised, tmp_path):
    """--processes with --ssl-certfile: every child loads the certificate and
    speaks TLS (h2 and http/1.1 by ALPN); SIGHUP's successors do too."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"], cwd=tmp_path, check=True, capture_output=True,
                   timeout=60)
    s = supervised("--processes", "2", "--ssl-certfile", tmp_path / "cert.pem", "--ssl-keyfile",
                   tmp_path / "key.pem")
    pids = s.serving_pids(2)
    assert f"starting 2 server process(es) on https://127.0.0.1:{s.port}" in s.log()

    def fetch(*flags) -> set:
        seen = set()
        for _ in range(12):
            p = subprocess.run(["curl", "-sS", "--cacert", str(tmp_path / "cert.pem"), *flags,
                                "-w", "\\n%{http_version}", f"https://127.0.0.1:{s.port}/"],
                               capture_output=True, text=True, timeout=30, env=plain_env())
            body, version = p.stdout.rsplit("\n", 1)
            assert p.returncode == 0, p.stderr
            assert version == ("2" if "--http2" in flags else "1.1")
            seen.add(json.loads(body)["pid"])
        return seen

    assert fetch("--http2") | fetch("--http1.1") <= set(pids)
    s.proc.send_signal(signal.SIGHUP)
    s.wait_log(r"retired \(exit code 0\)", 2)
    new = s.serving_pids(4)[2:]
    assert fetch("--http2") <= set(new)
    assert s.stop() == 0


def test_child_that_outlives_grace_is_killed(supervised):
    """A handler still running after graceful_timeout + kill_timeout: the
    supervisor kills its process with SIGKILL and says so (exit status 1:
    not every process stopped cleanly)."""
    s = supervised("--processes", "1", "--lifetime", "86400", "--graceful-timeout", "1", "--kill-timeout", "1")
    pid = s.serving_pids(1)[0]
    conn = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        conn.sendall(b"GET /sleep/60 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)  # the handler is running
        started = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(30) == 1
        assert time.monotonic() - started < 20  # not the handler's 60 s
    finally:
        conn.close()
    log = s.log()
    assert f"(pid {pid}) outlived graceful_timeout + kill_timeout: SIGKILL" in log, log
    assert f"(pid {pid}) stopped (killed by signal 9 (SIGKILL))" in log, log
    assert not _alive(pid)


def test_max_rss_recycles(supervised):
    s = supervised("--processes", "1", "--max-rss", "1")  # every process is past 1 MiB at once
    first = s.serving_pids(1)[0]
    s.wait_log(rf"\(pid {first}\) reached its max_rss limit: recycling")
    s.wait_log(rf"pid \d+ replaces pid {first} \(max_rss\)")
    s.wait_log(rf"\(pid {first}\) retired \(exit code 0\)")
    assert s.stop() == 0, s.log()[-6000:]
