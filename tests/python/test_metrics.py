"""Prometheus metrics (csrc/server/metrics.c, obs.c): `metrics_port=`
serves the text format on its own listener; every series is read back
with prometheus_client's own parser.

Counts are compared as differences between two scrapes around the
requests a test sends (the readiness probe and earlier tests also count).
"""
import os
import re
import socket
import subprocess
import threading
import time

import pytest

import helpers

parser = pytest.importorskip("prometheus_client.parser")


def scrape(port, path="/metrics"):
    with helpers.connect(port) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: m\r\n\r\n".encode())
        return helpers.H1Reader(s).read_response()


def samples(port) -> dict:
    """{(sample name, frozenset(labels)): value} of one scrape."""
    r = scrape(port)
    assert r.status == 200, r
    out = {}
    for fam in parser.text_string_to_metric_families(r.body.decode()):
        for smp in fam.samples:
            out[(smp.name, frozenset(smp.labels.items()))] = smp.value
    return out


def value(snap, name, **labels):
    return snap.get((name, frozenset(labels.items())), 0.0)


def total(snap, name, **labels):
    """Sum over the samples of name whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, lab), v in snap.items() if n == name and want <= set(lab))


def diff(a, b, name, **labels):
    return total(b, name, **labels) - total(a, name, **labels)


@pytest.fixture(scope="module")
def mport():
    return helpers.free_port()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, mport):
    yield from helpers.module_server("basic.py", tmp_path_factory, "metrics", metrics_port=mport,
                                     num_pinned_workers=2, num_pooled_workers=2)


def settle(port, pred, timeout=10.0):
    """Scrapes until pred(snapshot) (gauges follow connections closing)."""
    deadline = time.monotonic() + timeout
    while True:
        snap = samples(port)
        if pred(snap) or time.monotonic() > deadline:
            return snap
        time.sleep(0.05)


# --------------------------------------------------------------------------

def test_content_type_and_other_paths(srv, mport):
    r = scrape(mport)
    assert r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8"
    assert scrape(mport, "/elsewhere").status == 404
    with helpers.connect(mport) as s:
        s.sendall(b"POST /metrics HTTP/1.1\r\nHost: m\r\nContent-Length: 0\r\n\r\n")
        assert helpers.H1Reader(s).read_response().status == 405
    names = {f.name for f in parser.text_string_to_metric_families(r.body.decode())}
    for want in ("fasterapi_requests", "fasterapi_request_duration_seconds", "fasterapi_bytes_received",
                 "fasterapi_bytes_sent", "fasterapi_connections_open", "fasterapi_streams_open",
                 "fasterapi_requests_in_flight", "fasterapi_requests_queued", "fasterapi_pool_wait_seconds",
                 "fasterapi_handler_seconds", "fasterapi_admission_refusals", "fasterapi_protocol_errors",
                 "fasterapi_process_restarts", "fasterapi_process_recycles", "fasterapi_processes"):
        assert want in names, (want, sorted(names))


def test_counts_match_requests_sent(srv, mport):
    before = samples(mport)
    sent_h1 = {"GET": 0, "POST": 0}
    for i in range(30):
        assert helpers.h1_request(srv.port, "GET", f"/query?i={i}").status == 200
        sent_h1["GET"] += 1
    for i in range(5):
        assert helpers.h1_request(srv.port, "POST", "/echo", body=b"x" * 100).status == 200
        sent_h1["POST"] += 1
    for code in (204, 302, 418, 503):
        assert helpers.h1_request(srv.port, "GET", f"/status?{code}").status == code
    assert helpers.h1_request(srv.port, "GET", "/raise?m").status == 500
    assert helpers.h1_request(srv.port, "GET", "/nowhere").status == 404
    with helpers.H2Client(srv.port) as c:
        sids = [c.request("GET", f"/query?h2={i}") for i in range(20)]
        sids.append(c.request("PUT", "/echo", body=b"y" * 10))
        sids.append(c.request("GET", "/status?404"))
        assert [c.response(s).status for s in sids] == [200] * 21 + [404]
    after = samples(mport)
    d = lambda **kw: diff(before, after, "fasterapi_requests_total", **kw)  # noqa: E731
    h1, h2 = "HTTP/1.1", "HTTP/2"
    assert d(method="GET", status_class="2xx", protocol=h1) == 31  # 30 + 204
    assert d(method="POST", status_class="2xx", protocol=h1) == 5
    assert d(method="GET", status_class="3xx", protocol=h1) == 1
    assert d(method="GET", status_class="4xx", protocol=h1) == 2  # 418, 404
    assert d(method="GET", status_class="5xx", protocol=h1) == 2  # 503, 500
    assert d(method="GET", status_class="2xx", protocol=h2) == 20
    assert d(method="PUT", status_class="2xx", protocol=h2) == 1
    assert d(method="GET", status_class="4xx", protocol=h2) == 1
    assert d() == 30 + 5 + 4 + 2 + 22
    # the histogram: cumulative buckets never go down, +Inf is the count,
    # and the count is the number of requests
    buckets = sorted(((float(dict(lab)["le"]), v) for (n, lab), v in after.items()
                      if n == "fasterapi_request_duration_seconds_bucket"), key=lambda t: t[0])
    assert len(buckets) == 17 and buckets[-1][0] == float("inf")
    assert all(b[1] <= c[1] for b, c in zip(buckets, buckets[1:]))
    assert buckets[-1][1] == value(after, "fasterapi_request_duration_seconds_count")
    assert (value(after, "fasterapi_request_duration_seconds_count")
            - value(before, "fasterapi_request_duration_seconds_count")) == 63
    assert value(after, "fasterapi_request_duration_seconds_sum") > value(before, "fasterapi_request_duration_seconds_sum")
    assert value(after, "fasterapi_request_duration_seconds_count") == total(after, "fasterapi_requests_total")
    # bytes: at least what was sent and received here
    assert diff(before, after, "fasterapi_bytes_received_total") >= 5 * 100 + 10
    assert diff(before, after, "fasterapi_bytes_sent_total") >= 5 * 100 + 10
    assert diff(before, after, "fasterapi_connections_total") == 30 + 5 + 4 + 2 + 1
    # handler time: every handler call of this test ran on a worker interpreter
    calls = diff(before, after, "fasterapi_handler_calls_total")
    assert calls == 63 - 1  # the 404 had no handler
    labels = {dict(lab)["interpreter"] for (n, lab) in after if n == "fasterapi_handler_calls_total"}
    assert labels <= {"worker-0", "worker-1", "pool-0"} and labels & {"worker-0", "worker-1"}


def test_gauges_follow_connections_streams_and_pooled_requests(srv, mport):
    before = settle(mport, lambda s: total(s, "fasterapi_connections_open") == 0)
    assert total(before, "fasterapi_connections_open") == 0
    assert value(before, "fasterapi_requests_in_flight") == 0
    results = []

    def slow_h1():
        results.append(helpers.h1_request(srv.port, "GET", "/pooled/sleep?1.0").status)

    def slow_h2():
        results.append(helpers.h2_get(srv.port, "/pooled/sleep?1.0").status)

    threads = [threading.Thread(target=f) for f in (slow_h1, slow_h2)]
    for t in threads:
        t.start()
    during = settle(mport, lambda s: value(s, "fasterapi_requests_in_flight") == 2)
    idle = socket.create_connection(("127.0.0.1", srv.port))  # no request yet
    during2 = settle(mport, lambda s: value(s, "fasterapi_connections_open", protocol="unknown") == 1)
    for t in threads:
        t.join(30)
    idle.close()
    assert results == [200, 200]
    assert value(during, "fasterapi_requests_in_flight") == 2
    assert value(during, "fasterapi_streams_open") == 1
    assert value(during, "fasterapi_connections_open", protocol="HTTP/1.1") == 1
    assert value(during, "fasterapi_connections_open", protocol="HTTP/2") == 1
    assert value(during2, "fasterapi_connections_open", protocol="unknown") == 1
    assert value(during, "fasterapi_requests_queued") >= 0
    after = settle(mport, lambda s: total(s, "fasterapi_connections_open") == 0
                   and value(s, "fasterapi_requests_in_flight") == 0)
    assert total(after, "fasterapi_connections_open") == 0
    assert value(after, "fasterapi_requests_in_flight") == 0 and value(after, "fasterapi_streams_open") == 0
    assert value(after, "fasterapi_requests_queued") == 0
    # the two pooled requests waited for their thread once each
    assert diff(before, after, "fasterapi_pool_wait_seconds_count") == 2
    assert diff(before, after, "fasterapi_handler_calls_total", interpreter="pool-0") == 2
    assert diff(before, after, "fasterapi_handler_seconds_total", interpreter="pool-0") >= 1.9


def test_handler_time_counts_a_coroutine_after_it_resumed(srv, mport):
    # The handler suspends at once, then runs 0.6 s on its worker: the time
    # after the suspension is the worker interpreter's handler time too.
    before = samples(mport)
    r = helpers.h1_request(srv.port, "GET", "/async/cpu?0.6")
    assert r.status == 200 and r.body == b"spun"
    after = samples(mport)
    workers = {dict(lab)["interpreter"] for (n, lab) in after
               if n == "fasterapi_handler_seconds_total" and dict(lab)["interpreter"].startswith("worker-")}
    assert workers, after
    spent = sum(diff(before, after, "fasterapi_handler_seconds_total", interpreter=i) for i in workers)
    assert spent >= 0.55
    assert sum(diff(before, after, "fasterapi_handler_calls_total", interpreter=i) for i in workers) == 1


def test_protocol_errors_by_kind(srv, mport):
    before = samples(mport)
    r, _, _ = helpers.exchange_raw(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    assert r.status == 400
    r, _, _ = helpers.exchange_raw(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert r.status == 431
    # HTTP/2: a request with a connection-specific field is malformed
    # (RFC 9113 8.2.2): a stream error, RST_STREAM(PROTOCOL_ERROR)
    with helpers.H2Client(srv.port) as c:
        sid = c.request("GET", "/test", headers=[("connection", "keep-alive")])
        st = c.response(sid)
        assert st.reset == 1, st
    # a frame on stream 0 that must not be there: a connection error,
    # GOAWAY(PROTOCOL_ERROR)
    with helpers.H2Client(srv.port) as c:
        c.flush()
        c.sock.sendall(b"\x00\x00\x04\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00")  # RST_STREAM on stream 0
        c.pump(lambda: c.goaway is not None, 10)
        assert c.goaway is not None and c.goaway.error_code == 1
    after = settle(mport, lambda s: diff(before, s, "fasterapi_protocol_errors_total", kind="goaway") >= 1)
    d = lambda k: diff(before, after, "fasterapi_protocol_errors_total", kind=k)  # noqa: E731
    assert (d("400"), d("431"), d("rst_sent"), d("goaway")) == (1, 1, 1, 1)
    assert d("408") == d("413") == d("414") == d("505") == d("other_status") == 0
    # error answers given without a handler are not requests
    assert diff(before, after, "fasterapi_requests_total") == 0


def test_admission_refusals(start_server):
    mport = helpers.free_port()
    s_ = start_server(metrics_port=mport, num_pinned_workers=1, num_pooled_workers=2, max_inflight=1)
    before = samples(mport)
    out = helpers.run_threads([lambda: helpers.h1_request(s_.port, "GET", "/pooled/sleep?0.5").status
                               for _ in range(2)] +
                              [lambda: (time.sleep(0.2), helpers.h1_request(s_.port, "GET", "/pooled/sleep?0").status)[1]])
    after = samples(mport)
    refused = out.count(503)
    assert refused >= 1 and out.count(200) >= 1
    assert diff(before, after, "fasterapi_admission_refusals_total") == refused
    assert diff(before, after, "fasterapi_requests_total", status_class="5xx") == refused


def test_scrapes_during_load_and_one_process(start_server):
    if not helpers.have_tool("h2load"):
        pytest.skip("needs h2load")
    mport = helpers.free_port()
    s_ = start_server(metrics_port=mport, num_pinned_workers=2)
    before = samples(mport)
    assert value(before, "fasterapi_processes") == 1
    assert total(before, "fasterapi_process_restarts_total") == 0
    assert total(before, "fasterapi_process_recycles_total") == 0
    stop = []
    scrapes = []

    def scraper():
        while not stop:
            scrapes.append(samples(mport))
            time.sleep(0.01)

    t = threading.Thread(target=scraper)
    t.start()
    try:
        p = subprocess.run(["h2load", "-n", "3000", "-c", "6", "-m", "10", "-t", "1",
                            f"http://127.0.0.1:{s_.port}/test"], capture_output=True, text=True, timeout=120,
                           env=helpers.plain_env())
    finally:
        stop.append(1)
        t.join(30)
    assert "3000 succeeded" in p.stdout, p.stdout
    after = settle(mport, lambda s: value(s, "fasterapi_requests_in_flight") == 0)
    assert diff(before, after, "fasterapi_requests_total", protocol="HTTP/2", status_class="2xx") == 3000
    assert len(scrapes) >= 2
    seen = [total(x, "fasterapi_requests_total") for x in scrapes]
    assert seen == sorted(seen), "a counter went down between scrapes"
    # in flight = begun - ended, read ended first: never negative
    assert all(value(x, "fasterapi_requests_in_flight") >= 0 for x in scrapes)


def test_metrics_port_in_use_fails_start():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        p = helpers.run_native(
            "import sys\nfrom fasterapi._native.http2 import PyHttp2Server\n"
            "s = PyHttp2Server(host='127.0.0.1', port=0, num_pinned_workers=1, metrics_port=int(sys.argv[1]))\n"
            "try:\n    s.start(blocking=False)\nexcept OSError as e:\n    print('OSError', e)\nelse:\n"
            "    print('started'); s.stop()\n", port)
    assert "OSError cannot listen on 127.0.0.1:%d (metrics)" % port in p.stdout, p.stdout + p.stderr


@pytest.mark.parametrize("kw, message", [
    (dict(metrics_port=70000), "metrics_port must be between 0 and 65535"),
    (dict(metrics_port="80"), "metrics_port must be an int"),
    (dict(metrics_port=True), "metrics_port must be an int"),
    (dict(metrics_host=3), "metrics_host must be a str"),
    (dict(access_log=True, access_log_fd=-1), "access_log_fd must be between 0 and"),
    (dict(access_log=True, access_log_fd="2"), "access_log_fd must be an int"),
])
def test_bad_metrics_settings(kw, message):
    import json
    p = helpers.run_native(
        "import json, sys\nfrom fasterapi._native.http2 import PyHttp2Server\n"
        "try:\n    PyHttp2Server(**json.loads(sys.argv[1]))\nexcept (TypeError, ValueError) as e:\n"
        "    print(type(e).__name__, e)\nelse:\n    print('no error')\n", json.dumps(kw))
    assert message in p.stdout, p.stdout + p.stderr


def _parse_sections(text):
    """{section: snapshot} from metrics_procs.py's output."""
    out, name, buf = {}, None, []
    for line in text.splitlines():
        if line.startswith("==") and line.endswith("=="):
            if name:
                snap = {}
                for fam in parser.text_string_to_metric_families("\n".join(buf) + "\n"):
                    for smp in fam.samples:
                        snap[(smp.name, frozenset(smp.labels.items()))] = smp.value
                out[name] = snap
            name, buf = line.strip("="), []
        elif name:
            buf.append(line)
    return out


def test_processes_share_one_region():
    """Two server processes forked after the region was mapped: one scrape
    sums both; a process killed with SIGKILL keeps its counts (retired) and
    loses its gauges; supervisor events count by cause."""
    n = 40
    p = helpers.run_native(helpers.APPS / "metrics_procs.py", helpers.free_port(), n, timeout=120)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "served-by 2" in p.stdout, p.stdout[:200]  # SO_REUSEPORT spread the connections
    assert "child0-exit 0" in p.stdout
    s = _parse_sections(p.stdout)
    serving, killed, stopped = s["serving"], s["killed"], s["stopped"]
    assert s["http"] == serving  # the supervisor's listener serves the same sums
    for snap in (serving, killed, stopped):
        assert total(snap, "fasterapi_requests_total", method="GET", status_class="2xx") == n
        assert value(snap, "fasterapi_request_duration_seconds_count") == n
        assert total(snap, "fasterapi_connections_total") == n
        assert value(snap, "fasterapi_requests_in_flight") == 0
    assert value(serving, "fasterapi_processes") == 2
    assert value(killed, "fasterapi_processes") == 1
    assert value(stopped, "fasterapi_processes") == 0
    assert total(stopped, "fasterapi_connections_open") == 0
    assert value(killed, "fasterapi_process_restarts_total", cause="signal") == 1
    assert value(killed, "fasterapi_process_restarts_total", cause="exit") == 0
    assert value(stopped, "fasterapi_process_recycles_total", cause="max_requests") == 1
    # both processes' worker interpreters ran handlers while both served
    assert total(serving, "fasterapi_handler_calls_total") == n


def test_region_functions_refuse_bad_arguments():
    p = helpers.run_native(
        "import mmap\nfrom fasterapi._native import http2 as n\n"
        "def err(f, *a):\n    try:\n        f(*a)\n    except (TypeError, ValueError, BufferError) as e:\n"
        "        print(type(e).__name__, e)\n    else:\n        print('no error')\n"
        "err(n._metrics_render, mmap.mmap(-1, 4096))\n"
        "err(n._metrics_render, b'x' * 4096)\n"
        "err(n._metrics_region_size, 0, 1)\n"
        "r = mmap.mmap(-1, n._metrics_region_size(1, 1)); n._metrics_init(r, 1, 1)\n"
        "err(n._metrics_retire, r, 5)\n"
        "err(n._metrics_count, r, 'restart', 'oom')\n"
        "err(n._metrics_count, r, 'bounce', 'exit')\n"
        "err(n._metrics_init, mmap.mmap(-1, 64), 1, 1)\n")
    lines = p.stdout.splitlines()
    assert lines[0].startswith("ValueError not a metrics region"), p.stdout + p.stderr
    assert lines[1].startswith(("TypeError", "BufferError")), lines[1]
    assert lines[2] == "ValueError slots and blocks must be between 1 and 4096"
    assert lines[3] == "ValueError slot 5 is beyond the region's 1"
    assert lines[4].startswith("ValueError restart cause must be 'exit' or 'signal'")
    assert lines[5].startswith("ValueError kind must be 'restart' or 'recycle'")
    assert lines[6].startswith("ValueError not a metrics region")


@pytest.mark.skipif(not (helpers.APPS / "proc_app.py").exists(), reason="needs the process model (proc_app.py)")
def test_metrics_of_every_process_under_the_supervisor(tmp_path):
    """`--processes 2 --metrics-port M`: the supervisor serves one scrape for
    both processes; a kill -9 keeps the counts and counts a restart;
    SIGHUP's rolling restart counts two recycles; SIGTERM exits 0."""
    import signal
    from test_supervisor import Supervised
    mport = helpers.free_port()
    s = Supervised(tmp_path, "--processes", "2", "--metrics-port", str(mport), "--no-access-log")
    try:
        pids = s.serving_pids(2)
        s.wait_log(r"metrics of every process on http://127\.0\.0\.1:%d/metrics" % mport)
        n = 40
        seen = {s.get()["pid"] for _ in range(n)}
        assert seen == set(pids), "both processes answered"
        snap = samples(mport)
        assert value(snap, "fasterapi_processes") == 2
        assert total(snap, "fasterapi_requests_total", method="GET", status_class="2xx", protocol="HTTP/1.1") == n
        assert value(snap, "fasterapi_request_duration_seconds_count") == n
        assert total(snap, "fasterapi_handler_calls_total") == n
        os.kill(pids[1], signal.SIGKILL)
        s.wait_log(r"restarted as pid \d+")
        s.serving_pids(3)
        snap = settle(mport, lambda x: value(x, "fasterapi_processes") == 2)
        assert value(snap, "fasterapi_process_restarts_total", cause="signal") == 1
        assert total(snap, "fasterapi_requests_total") == n, "a killed process's counts stay"
        assert value(snap, "fasterapi_requests_in_flight") == 0
        s.proc.send_signal(signal.SIGHUP)
        s.wait_log(r"replaces pid", 2, timeout=60)
        # the replaced processes drain, exit and are retired
        snap = settle(mport, lambda x: value(x, "fasterapi_process_recycles_total", cause="sighup") == 2
                      and value(x, "fasterapi_processes") == 2, timeout=30)
        assert value(snap, "fasterapi_process_recycles_total", cause="sighup") == 2
        assert value(snap, "fasterapi_processes") == 2
        assert total(snap, "fasterapi_requests_total") == n
        assert s.stop() == 0
    finally:
        s.kill()


def _listening_inodes(port: int) -> set:
    """Socket inodes listening on port (from /proc/net/tcp and tcp6)."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                out.add(f[9])
    return out


def _holds(pid: int, inodes: set) -> bool:
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


@pytest.mark.skipif(not (helpers.APPS / "proc_app.py").exists(), reason="needs the process model (proc_app.py)")
def test_supervisor_metrics_listen_before_start_up_and_are_not_inherited(tmp_path, monkeypatch):
    """The metrics listener answers while the server processes are still
    importing the app (a scrape at start-up is not refused), and it lives in
    the metrics process only: neither the supervisor (which forks, and so
    runs no thread) nor a server process holds the socket."""
    from test_supervisor import Supervised
    mport = helpers.free_port()
    monkeypatch.setenv("FA_TEST_SLOW_IMPORT", "3")  # native_env() passes it on
    s = Supervised(tmp_path, "--processes", "2", "--metrics-port", str(mport), "--no-access-log",
                   spec="slow_start_app:app")
    try:
        s.wait_log(r"metrics of every process on http://127\.0\.0\.1:%d/metrics" % mport)
        snap = samples(mport)  # the children are still importing (3 s)
        serving_then = len(re.findall(r"\) serving", s.log()))
        assert ("fasterapi_processes", frozenset()) in snap
        assert serving_then < 2, "the scrape came before the processes served (the app sleeps 3 s on import)"
        pids = s.serving_pids(2)
        inodes = _listening_inodes(mport)
        assert inodes, "the metrics port listens"
        assert not _holds(s.proc.pid, inodes), "the supervisor holds no metrics socket"
        for pid in pids:
            assert not _holds(pid, inodes), f"server process {pid} inherited the metrics socket"
        holders = [int(p) for p in os.listdir("/proc") if p.isdigit() and _safe_holds(int(p), inodes)]
        assert len(holders) == 1 and holders[0] not in pids + [s.proc.pid], holders
        snap = settle(mport, lambda x: value(x, "fasterapi_processes") == 2)
        assert value(snap, "fasterapi_processes") == 2
        # the metrics process goes with the supervisor
        assert s.stop() == 0
        assert not os.path.exists(f"/proc/{holders[0]}/status") or "zombie" in open(
            f"/proc/{holders[0]}/status").read()
    finally:
        s.kill()


def _safe_holds(pid: int, inodes: set) -> bool:
    try:
        return _holds(pid, inodes)
    except OSError:
        return False
