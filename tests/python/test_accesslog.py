"""The access log (csrc/server/accesslog.c): one line per request, written
by the C layer from C data, buffered per worker.

Every atom is checked over HTTP/1.1, h2c and TLS; many requests from
several workers (h2load and raw keep-alive sockets) give exactly one whole
line each; hostile bytes in a path are escaped and stay on one line; the
formats that cannot work raise with the list of atoms.
"""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time

import pytest

import helpers
from helpers import ServerProcess

EVERY_ATOM = ("A|{client}|{client_ip}|{method}|{path}|{query}|{target}|{protocol}|{scheme}|{status}|"
              "{status_phrase}|{bytes}|{duration}|{duration_ms}|{time}|{pid}|{worker}|{header:user-agent}|"
              "{header:X-Probe}|{{lit}}")
FIELDS = ("client", "client_ip", "method", "path", "query", "target", "protocol", "scheme", "status",
          "status_phrase", "bytes", "duration", "duration_ms", "time", "pid", "worker", "ua", "probe", "lit")
# Uvicorn's default access line (uvicorn/logging.py AccessFormatter, without colours)
PROBE = "/__fa_test_ready"  # ServerProcess's readiness probe, logged too
UVICORN_LINE = re.compile(r'^INFO:     (\d+\.\d+\.\d+\.\d+):(\d+) - "(\S+) (\S+) (HTTP/[\d.]+)" (\d{3}) (.+)$')


def atom_lines(srv, since=0):
    """The every-atom lines of srv's stderr, as dicts."""
    out = []
    for line in srv.stderr()[since:].splitlines():
        if line.startswith("A|") and PROBE not in line:
            parts = line[2:].split("|")
            assert len(parts) == len(FIELDS), f"torn or bad line: {line!r}"
            out.append(dict(zip(FIELDS, parts)))
    return out


def wait_lines(srv, count, since=0, prefix="A|", timeout=10.0):
    """Waits for `count` lines starting with prefix (the log flushes on a
    short timer, not per line) and returns them."""
    def lines(t):
        return [ln for ln in t.splitlines() if ln.startswith(prefix) and PROBE not in ln]
    return lines(srv.wait_stderr(lambda t: len(lines(t)) >= count, since=since, timeout=timeout))


def check_atoms(rec, *, method, path, query, protocol, scheme, status, body_len, pid, local_port,
                ua, probe):
    assert rec["client"] == f"127.0.0.1:{local_port}"
    assert rec["client_ip"] == "127.0.0.1"
    assert rec["method"] == method
    assert rec["path"] == path
    assert rec["query"] == (query or "-")
    assert rec["target"] == (f"{path}?{query}" if query else path)
    assert rec["protocol"] == protocol
    assert rec["scheme"] == scheme
    assert rec["status"] == str(status)
    assert rec["status_phrase"] == {200: "OK", 404: "Not Found"}[status]
    assert rec["bytes"] == str(body_len)
    assert re.fullmatch(r"\d+\.\d{6}", rec["duration"]) and float(rec["duration"]) < 60
    assert re.fullmatch(r"\d+\.\d{3}", rec["duration_ms"])
    assert abs(float(rec["duration_ms"]) - float(rec["duration"]) * 1000) <= 0.002
    t = time.mktime(time.strptime(rec["time"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(t - time.time()) < 120, rec["time"]
    assert rec["pid"] == str(pid)
    assert rec["worker"] in ("0", "1")
    assert rec["ua"] == ua
    assert rec["probe"] == probe
    assert rec["lit"] == "{lit}"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    yield from helpers.module_server("basic.py", tmp_path_factory, "alog", access_log=True,
                                     access_log_format=EVERY_ATOM)


# --------------------------------------------------------------------------
# every atom, each protocol

def test_every_atom_http11(srv):
    since = srv.stderr_len()
    with helpers.connect(srv.port) as s:
        local_port = s.getsockname()[1]
        s.sendall(helpers.build_request("GET", "/query?a=1&b=%20x",
                                        headers={"User-Agent": "probe-ua/1.0", "X-Probe": "p1"}))
        r = helpers.H1Reader(s).read_response()
    assert r.status == 200
    wait_lines(srv, 1, since)
    (rec,) = atom_lines(srv, since)
    check_atoms(rec, method="GET", path="/query", query="a=1&b=%20x", protocol="HTTP/1.1", scheme="http",
                status=200, body_len=len(r.body), pid=srv.pid, local_port=local_port, ua="probe-ua/1.0",
                probe="p1")


def test_every_atom_h2c(srv):
    since = srv.stderr_len()
    with helpers.H2Client(srv.port) as c:
        local_port = c.sock.getsockname()[1]
        sid = c.request("POST", "/echo?k=v", headers=[("user-agent", "h2-ua"), ("x-probe", "p2")],
                        body=b"x" * 1234)
        st = c.response(sid)
    assert st.status == 200 and len(st.body) == 1234
    wait_lines(srv, 1, since)
    (rec,) = atom_lines(srv, since)
    check_atoms(rec, method="POST", path="/echo", query="k=v", protocol="HTTP/2", scheme="http", status=200,
                body_len=1234, pid=srv.pid, local_port=local_port, ua="h2-ua", probe="p2")


def test_absent_header_and_unmatched_route(srv):
    since = srv.stderr_len()
    with helpers.connect(srv.port) as s:
        local_port = s.getsockname()[1]
        s.sendall(b"GET /no/such/route HTTP/1.1\r\nHost: x\r\n\r\n")
        r = helpers.H1Reader(s).read_response()
    assert r.status == 404
    wait_lines(srv, 1, since)
    (rec,) = atom_lines(srv, since)
    check_atoms(rec, method="GET", path="/no/such/route", query="", protocol="HTTP/1.1", scheme="http",
                status=404, body_len=len(r.body), pid=srv.pid, local_port=local_port, ua="-", probe="-")


def test_head_streams_and_files_count_body_bytes(srv):
    since = srv.stderr_len()
    r = helpers.h1_request(srv.port, "HEAD", "/download?5000")
    assert r.status == 200
    r2 = helpers.curl(f"http://127.0.0.1:{srv.port}/download?70000", mode="h2c")
    assert r2.status == 200 and len(r2.body) == 70000
    lines = wait_lines(srv, 2, since)
    recs = atom_lines(srv, since)
    assert len(lines) == 2 and [x["method"] for x in recs] == ["HEAD", "GET"]
    assert recs[0]["bytes"] == "0" and recs[1]["bytes"] == "70000"


def test_every_atom_tls(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    from test_tls import make_pki
    pki = make_pki(tmp_path)
    s_ = ServerProcess("basic.py", workdir=tmp_path / "srv", ssl_certfile=pki["cert"], ssl_keyfile=pki["key"],
                       access_log=True, access_log_format=EVERY_ATOM)
    try:
        for alpn, protocol in ((["http/1.1"], "HTTP/1.1"), (["h2"], "HTTP/2")):
            ctx = ssl.create_default_context(cafile=pki["ca"])
            ctx.set_alpn_protocols(alpn)
            since = s_.stderr_len()
            if protocol == "HTTP/2":
                with helpers.H2Client(s_.port, tls_context=ctx) as c:
                    local_port = c.sock.getsockname()[1]
                    sid = c.request("GET", "/query?tls=1", headers=[("user-agent", "tls-ua"), ("x-probe", "t")])
                    st = c.response(sid)
                    status, body = st.status, bytes(st.body)
            else:
                with ctx.wrap_socket(helpers.connect(s_.port), server_hostname="localhost") as s:
                    local_port = s.getsockname()[1]
                    s.sendall(helpers.build_request("GET", "/query?tls=1",
                                                    headers={"User-Agent": "tls-ua", "X-Probe": "t"}))
                    r = helpers.H1Reader(s).read_response()
                    status, body = r.status, r.body
            assert status == 200
            wait_lines(s_, 1, since)
            (rec,) = atom_lines(s_, since)
            check_atoms(rec, method="GET", path="/query", query="tls=1", protocol=protocol, scheme="https",
                        status=200, body_len=len(body), pid=s_.pid, local_port=local_port, ua="tls-ua",
                        probe="t")
    finally:
        s_.check_clean_exit()


# --------------------------------------------------------------------------
# the default line is Uvicorn's

def test_default_format_is_uvicorns_line(start_server):
    s_ = start_server(access_log=True)
    since = s_.stderr_len()
    with helpers.connect(s_.port) as s:
        local_port = s.getsockname()[1]
        s.sendall(b"GET /query?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert helpers.H1Reader(s).read_response().status == 200
    r = helpers.h2_get(s_.port, "/nope")
    assert r.status == 404
    # two workers: each flushes its own buffer, so the lines' order is free
    lines = sorted(wait_lines(s_, 2, since, prefix="INFO:"), key=lambda ln: "/nope" in ln)
    assert lines[0] == f'INFO:     127.0.0.1:{local_port} - "GET /query?q=1 HTTP/1.1" 200 OK'
    m = UVICORN_LINE.match(lines[1])
    assert m and m.group(3, 4, 5, 6, 7) == ("GET", "/nope", "HTTP/2", "404", "Not Found"), lines[1]


def test_off_by_default(start_server):
    s_ = start_server()
    assert helpers.h1_request(s_.port, "GET", "/test").status == 200
    assert helpers.h2_get(s_.port, "/test").status == 200
    s_.stop()
    assert not [ln for ln in s_.stderr().splitlines() if ln.startswith("INFO:")]
    assert helpers.h1_request  # (the readiness probe was not logged either)


# --------------------------------------------------------------------------
# under load: no torn or lost line

def test_many_requests_several_workers_no_torn_or_lost_line(start_server):
    s_ = start_server(access_log=True, num_pinned_workers=2, access_log_format="L {worker} {target} {status}")
    since = s_.stderr_len()
    n_threads, per_thread = 8, 150

    def client(t):
        # one keep-alive connection per thread: the kernel spreads them
        # over both workers' listeners
        with helpers.connect(s_.port) as s:
            rd = helpers.H1Reader(s)
            for i in range(per_thread):
                s.sendall(f"GET /query?id={t}-{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                assert rd.read_response().status == 200
        return True

    helpers.run_threads([lambda t=t: client(t) for t in range(n_threads)], timeout=120)
    h2 = None
    if helpers.have_tool("h2load"):
        h2 = subprocess.run(["h2load", "-n", "2000", "-c", "8", "-m", "8", "-t", "1",
                             f"http://127.0.0.1:{s_.port}/query?h2load"],
                            capture_output=True, text=True, timeout=120, env=helpers.plain_env())
        assert "2000 succeeded" in h2.stdout, h2.stdout
    want = n_threads * per_thread + (2000 if h2 else 0)
    s_.stop()  # the last lines go out at stop
    lines = [ln for ln in s_.stderr()[since:].splitlines() if ln.startswith("L ") and PROBE not in ln]
    pattern = re.compile(r"L [01] /query\?(id=\d+-\d+|h2load) 200")
    bad = [ln for ln in lines if not pattern.fullmatch(ln)]
    assert not bad, bad[:5]
    assert len(lines) == want
    ids = [ln.split("?")[1].split(" ")[0] for ln in lines if "id=" in ln]
    assert sorted(ids) == sorted(f"id={t}-{i}" for t in range(n_threads) for i in range(per_thread))
    assert {ln.split(" ")[1] for ln in lines} == {"0", "1"}, "both workers logged"
    other = [ln for ln in s_.stderr()[since:].splitlines()
             if not ln.startswith(("L ", "[fasterapi]", "FA-TEST")) and ln.strip()]
    assert not other, other[:5]


# --------------------------------------------------------------------------
# hostile bytes

def test_hostile_path_is_escaped_on_one_line(srv):
    since = srv.stderr_len()
    # bytes HTTP/1.1 lets through in a target and in a field value: quotes,
    # backslashes, bytes outside ASCII
    evil = b'/q"u\\o\xff\xc3\xa9te'
    r, _, _ = helpers.exchange_raw(srv.port, b"GET " + evil + b'?x="1" HTTP/1.1\r\nHost: x\r\n'
                                   b'User-Agent: a"b\\\r\nX-Probe: \xfe\r\nConnection: close\r\n\r\n')
    assert r is not None and r.status == 404, r
    # over HTTP/2 a field value may carry a tab
    with helpers.H2Client(srv.port) as c:
        sid = c.request("GET", '/h2"p\\q\u00e9', headers=[("user-agent", "u\\v"), ("x-probe", "a\tb")])
        assert c.response(sid).status == 404
    lines = wait_lines(srv, 2, since)
    lines.sort(key=lambda ln: "/h2" in ln)
    assert len(lines) == 2, lines
    for ln in lines:
        assert ln.isascii() and ln.isprintable(), ln
        assert '"' not in ln and "\\\\" not in ln
    h1 = lines[0].split("|")
    assert len(h1) == len(FIELDS) + 1, lines[0]
    rec = dict(zip(FIELDS, h1[1:]))
    assert rec["path"] == r"/q\x22u\x5co\xff\xc3\xa9te"
    assert rec["query"] == r"x=\x221\x22"
    assert rec["ua"] == r"a\x22b\x5c" and rec["probe"] == r"\xfe"
    rec = dict(zip(FIELDS, lines[1].split("|")[1:]))
    assert rec["path"] == r"/h2\x22p\x5cq\xc3\xa9"
    assert rec["ua"] == r"u\x5cv" and rec["probe"] == r"a\x09b"


def test_bad_request_is_logged_once(srv):
    since = srv.stderr_len()
    r, _, _ = helpers.exchange_raw(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    assert r is not None and r.status == 400
    lines = wait_lines(srv, 1, since)
    assert len(lines) == 1 and "|400|Bad Request|" in lines[0] and "|-|-|-|-|HTTP/1.1|" in lines[0]


# --------------------------------------------------------------------------
# settings

@pytest.mark.parametrize("kw, message", [
    (dict(access_log=True, access_log_format="{nope}"), "unknown atom {nope}; the atoms are client"),
    (dict(access_log=True, access_log_format="x {client"), "is not closed"),
    (dict(access_log=True, access_log_format="x } y"), "closes nothing"),
    (dict(access_log=True, access_log_format="{header:}"), "needs a field name"),
    (dict(access_log=True, access_log_format="{header:a b}"), "is not a field name"),
    (dict(access_log_format="{client}"), "access_log is off"),
    (dict(access_log=True, access_log_format=5), "must be a str"),
])
def test_bad_settings_raise(kw, message):
    p = helpers.run_native(
        "import json, sys\nfrom fasterapi._native.http2 import PyHttp2Server\n"
        "try:\n    PyHttp2Server(**json.loads(sys.argv[1]))\nexcept (TypeError, ValueError) as e:\n"
        "    print(type(e).__name__, e)\nelse:\n    print('no error')\n", json.dumps(kw))
    assert message in p.stdout, p.stdout + p.stderr


def test_command_line_flags(tmp_path):
    """--access-log-format through `python -m fasterapi`; --no-access-log
    turns the (default) log off."""
    app_dir = helpers.HERE / "app" / "apps"
    texts = []
    for flags in (["--access-log-format", "CLI {method} {target} {status}"], ["--no-access-log"], []):
        port = helpers.free_port()
        err_path = tmp_path / f"err{len(texts)}"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [os.environ.get("FA_PYTHON_EXE", helpers.sys.executable), "-m", "fasterapi", "server_app:app",
                 "--app-dir", str(app_dir), "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                 *flags], stdout=subprocess.DEVNULL, stderr=err, env=helpers.native_env(), cwd=str(tmp_path),
                start_new_session=True)
            try:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        r = helpers.h1_request(port, "GET", "/items/3?q=a")
                        break
                    except OSError:
                        assert proc.poll() is None and time.monotonic() < deadline, err_path.read_text()
                        time.sleep(0.1)
                assert r.status == 200
                proc.send_signal(2)
                assert proc.wait(timeout=30) == 0
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, 9)
                    proc.wait()
        texts.append(err_path.read_text())
    assert "CLI GET /items/3?q=a 200" in texts[0], texts[0][-2000:]
    assert "INFO:     127.0.0.1" not in texts[1] and "/items/3" not in texts[1]
    assert re.search(r'INFO:     127\.0\.0\.1:\d+ - "GET /items/3\?q=a HTTP/1\.1" 200 OK', texts[2]), texts[2][-2000:]


@pytest.mark.skipif(not (helpers.APPS / "proc_app.py").exists(), reason="needs the process model (proc_app.py)")
def test_access_log_of_two_processes_no_torn_or_lost_line(tmp_path):
    """`--processes 2`: both processes' workers write to the one stderr;
    every request has exactly one whole line."""
    if not helpers.have_tool("h2load"):
        pytest.skip("needs h2load")
    from test_supervisor import Supervised
    s = Supervised(tmp_path, "--processes", "2", "--access-log-format", "P {pid} {method} {target} {status}")
    try:
        pids = s.serving_pids(2)
        n = 3000
        h = subprocess.run(["h2load", "-n", str(n), "-c", "16", "-m", "4", "-t", "1",
                            f"http://127.0.0.1:{s.port}/?load"], capture_output=True, text=True, timeout=120,
                           env=helpers.plain_env())
        assert f"{n} succeeded" in h.stdout, h.stdout
        assert s.stop() == 0
    finally:
        s.kill()
    lines = [ln for ln in s.log().splitlines() if ln.startswith("P ")]
    pattern = re.compile(r"P (\d+) GET /\?load 200")
    bad = [ln for ln in lines if not pattern.fullmatch(ln)]
    assert not bad, bad[:5]
    assert len(lines) == n
    assert {int(pattern.fullmatch(ln).group(1)) for ln in lines} == set(pids), "both processes logged"


def test_on_a_pipe_a_line_longer_than_pipe_buf_is_cut(tmp_path):
    """stderr a pipe: a worker's buffer is PIPE_BUF (4096) bytes, so every
    write(2) is atomic; a longer line is cut to fit, ending in '...'."""
    port = helpers.free_port()
    cfg = dict(helpers.DEFAULT_CONFIG, port=port, access_log=True, access_log_format="{method} {target} {status}")
    proc = subprocess.Popen([helpers.sys.executable, str(helpers.APPS / "basic.py"), json.dumps(cfg)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=helpers.native_env(), cwd=str(helpers.ROOT))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                helpers.h1_request(port, "GET", "/test")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        long_path = "/long/" + "x" * 7000
        assert helpers.h1_request(port, "GET", long_path).status == 404
        assert helpers.h1_request(port, "GET", "/test?after").status == 200
        proc.send_signal(2)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = err.decode("latin-1").splitlines()
    cut = [ln for ln in lines if ln.startswith("GET /long/")]
    assert len(cut) == 1 and cut[0].endswith("...") and len(cut[0]) == 4095, (len(cut[0]), cut[0][-20:])
    assert "GET /test?after 200" in lines


def test_client_and_scheme_a_trusted_proxy_forwarded(start_server):
    """With proxy_headers, the line shows the client (and scheme) a trusted
    proxy named, as Uvicorn's does; the peer's own address otherwise."""
    s_ = start_server(access_log=True, proxy_headers=True, access_log_format="X {client} {client_ip} {scheme} {target}")
    since = s_.stderr_len()
    assert helpers.h1_request(s_.port, "GET", "/test?fwd", headers={"X-Forwarded-For": "203.0.113.7",
                                                                   "X-Forwarded-Proto": "https"}).status == 200
    assert helpers.h1_request(s_.port, "GET", "/test?rfc", headers={
        "Forwarded": 'for="[2001:db8::1]:4711";proto=http'}).status == 200
    with helpers.connect(s_.port) as s:
        local_port = s.getsockname()[1]
        s.sendall(b"GET /test?plain HTTP/1.1\r\nHost: x\r\n\r\n")
        assert helpers.H1Reader(s).read_response().status == 200
    lines = wait_lines(s_, 3, since, prefix="X ")
    assert "X 203.0.113.7 203.0.113.7 https /test?fwd" in lines, lines
    assert "X [2001:db8::1]:4711 2001:db8::1 http /test?rfc" in lines, lines
    assert f"X 127.0.0.1:{local_port} 127.0.0.1 http /test?plain" in lines, lines


def _lines_in(path, prefix="A "):
    try:
        return [ln for ln in path.read_text(errors="replace").splitlines() if ln.startswith(prefix)]
    except FileNotFoundError:
        return []


def _wait_lines(path, count, timeout=15.0):
    deadline = time.monotonic() + timeout
    while len(lines := _lines_in(path)) < count:
        assert time.monotonic() < deadline, f"{len(lines)} of {count} lines in {path}"
        time.sleep(0.05)
    return lines


@pytest.mark.parametrize("processes", [1, 2])
def test_access_logfile_and_reopen_on_sigusr1(tmp_path, processes):
    """--access-logfile PATH: the lines go to PATH, not stderr; after a
    logrotate-style move, SIGUSR1 (to the process the user started; a
    supervisor forwards it) makes every process write to a new PATH, and
    no line is lost or written twice across the two files."""
    import signal
    from test_supervisor import Supervised
    path = tmp_path / "access.log"
    args = ["--access-logfile", str(path), "--access-log-format", "A {pid} {method} {target} {status}"]
    if processes > 1:
        args += ["--processes", str(processes)]
    s = Supervised(tmp_path, *args)  # processes=1: the plain single-process CLI
    try:
        if processes > 1:
            pids = s.serving_pids(processes)
        else:
            s.wait_log(r"Listening on")
        for i in range(20):
            s.get(f"/?before={i}")
        before = _wait_lines(path, 20)
        assert "A " not in s.log(), "no access line on stderr"
        rotated = tmp_path / "access.log.1"
        os.rename(path, rotated)
        s.proc.send_signal(signal.SIGUSR1)
        # wait until every process writes to the new file: one request per
        # connection, so each process gets some (the kernel spreads them)
        deadline = time.monotonic() + 15
        i = 0
        while True:
            s.get(f"/?after={i}")
            i += 1
            new = _lines_in(path)
            seen = {int(ln.split()[1]) for ln in new}
            if len(seen) >= processes and i >= 20:
                break
            assert time.monotonic() < deadline, (seen, s.log()[-2000:])
            time.sleep(0.02)
        after = _wait_lines(path, 1)
        assert s.stop() == 0
    finally:
        s.kill()
    old = _lines_in(rotated)
    new = _lines_in(path)
    targets = [ln.split()[3] for ln in old + new]
    assert sorted(targets) == sorted([f"/?before={k}" for k in range(20)] + [f"/?after={k}" for k in range(i)]), \
        "every request has exactly one line, in one of the two files"
    assert all(ln.split()[3].startswith("/?before=") for ln in before)
    assert any(ln.split()[3].startswith("/?after=") for ln in after)
    if processes > 1:
        assert {int(ln.split()[1]) for ln in new} == set(pids), "both processes write to the new file"


def test_access_logfile_that_cannot_be_opened(tmp_path):
    p = subprocess.run([helpers.sys.executable, "-m", "fasterapi", "proc_app:app", "--app-dir", str(helpers.APPS),
                        "--port", str(helpers.free_port()), "--access-logfile", str(tmp_path / "no" / "such.log")],
                       capture_output=True, text=True, timeout=60, env=helpers.native_env(), cwd=str(helpers.ROOT))
    assert p.returncode == 1
    assert "cannot open the access log" in p.stderr and "No such file or directory" in p.stderr, p.stderr
