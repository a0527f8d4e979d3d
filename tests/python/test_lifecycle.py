"""Start, stop and the startup log: SIGINT/SIGTERM, graceful stop with
requests in flight, start(blocking=False)/is_running()/stop(), and 20
start/stop cycles in one process."""
import json
import re
import signal
import socket
import time

import pytest

import helpers
from helpers import APPS, H1Reader, H2Client, build_request, connect


# -- startup log --------------------------------------------------------------

def test_startup_log(server):
    log = server.wait_stderr(lambda t: "epoll" in t and "(ID: 0)" in t and str(server.port) in t)
    assert "GET:/ (ID: 0)" in log, log
    assert "GET:/test (ID: 1)" in log, log
    assert re.search(r"\(ID: \d+\)", log)
    # every route is listed, pooled ones too
    for route in ("POST:/echo", "GET:/pooled/sleep", "OPTIONS:/info"):
        assert route in log, f"{route} missing from the startup log"
    assert f"127.0.0.1:{server.port}" in log, "listen address missing"
    assert "epoll" in log, "poller missing"
    low = log.lower()
    assert "pinned" in low and "pooled" in low


def test_default_worker_counts(start_server):
    """0 means a sensible default (e.g. one pinned worker per CPU)."""
    srv = start_server(num_pinned_workers=0, num_pooled_workers=0, num_pooled_interpreters=0)
    helpers.assert_serving(srv.port)
    assert helpers.h1_request(srv.port, "GET", "/pooled/interp").status == 200
    # the start-up log is printed once every thread is ready, which can be
    # just after the first request was served
    assert "epoll" in srv.wait_stderr(lambda t: "epoll" in t)


def test_host_keyword_default_listens_on_all(start_server):
    srv = start_server(host="0.0.0.0")
    helpers.assert_serving(srv.port)
    assert f"0.0.0.0:{srv.port}" in srv.wait_stderr(lambda t: f"0.0.0.0:{srv.port}" in t)


# -- signals ------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_with_exit_code_0(start_server, sig):
    srv = start_server()
    helpers.assert_serving(srv.port)
    t0 = time.monotonic()
    assert srv.stop(sig) == 0, srv.stderr()[-3000:]
    assert time.monotonic() - t0 < 5 * helpers.SLACK
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_right_after_listen_exits_cleanly(tmp_path, sig):
    """A signal that arrives as soon as the port accepts (start() is running,
    interpreters may still be starting) still stops the server with exit 0."""
    import subprocess
    import sys
    port = helpers.free_port()
    cfg = dict(helpers.DEFAULT_CONFIG, port=port)
    err = open(tmp_path / "stderr", "wb")
    proc = subprocess.Popen([sys.executable, str(APPS / "basic.py"), json.dumps(cfg)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                            env=helpers.native_env(), cwd=str(helpers.ROOT))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.01)
        proc.send_signal(sig)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            rc = "none: still running 30 s after the signal"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        err.close()
    text = (tmp_path / "stderr").read_text(errors="replace")
    helpers.assert_no_sanitizer_reports(text)
    assert rc == 0, f"exit code {rc}\n{text[-3000:]}"


def test_idle_keepalive_connections_do_not_delay_stop(start_server):
    srv = start_server(graceful_timeout=10.0)
    socks = []
    for _ in range(5):
        s = connect(srv.port)
        s.sendall(build_request("GET", "/"))
        H1Reader(s).read_response()
        socks.append(s)
    with H2Client(srv.port) as c:
        c.response(c.request("GET", "/"))
        t0 = time.monotonic()
        assert srv.stop() == 0
        elapsed = time.monotonic() - t0
        c.read_until_closed(2)
    for s in socks:
        closed, _ = helpers.wait_closed(s, 2)
        assert closed
        s.close()
    assert elapsed < 4 * helpers.SLACK, f"idle connections held the stop for {elapsed:.1f}s"


@pytest.mark.parametrize("path", ["/sleep?1.5", "/pooled/sleep?1.5"])
def test_graceful_stop_finishes_in_flight_http1(start_server, path):
    srv = start_server(graceful_timeout=10.0)
    with connect(srv.port, timeout=30) as s:
        s.sendall(build_request("GET", path))
        time.sleep(0.5)
        srv.send_signal(signal.SIGINT)
        time.sleep(0.3 * helpers.SLACK)
        # no new connections are served once stopping
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as s2:
                s2.sendall(build_request("GET", "/"))
                s2.settimeout(3)
                data = s2.recv(100)
                assert not data.startswith(b"HTTP/1.1 200"), "a new connection was served during the stop"
        except OSError:
            pass
        r = H1Reader(s).read_response()
        assert r.status == 200
        assert r.json()["slept"] == 1.5
    assert srv.wait(30) == 0, srv.stderr()[-3000:]


def test_graceful_stop_finishes_in_flight_http2(start_server):
    srv = start_server(graceful_timeout=10.0)
    with H2Client(srv.port, timeout=30) as c:
        c.handshake()
        slow = c.request("GET", "/pooled/sleep?1.5")
        pinned = c.request("GET", "/sleep?1.0")
        time.sleep(0.4)
        srv.send_signal(signal.SIGINT)
        a = c.response(slow)
        b = c.response(pinned)
        assert a.status == 200 and json.loads(a.body)["slept"] == 1.5
        assert b.status == 200 and json.loads(b.body)["slept"] == 1.0
        c.read_until_closed(10)
        assert c.goaway is not None, "no GOAWAY at stop"
        assert c.goaway.last_stream_id >= max(slow, pinned)
    assert srv.wait(30) == 0


def test_graceful_stop_goaway_in_two_steps_refuses_no_stream(start_server):
    """RFC 9113 6.8: a graceful stop first sends GOAWAY with the last stream id
    2^31-1 and a PING, and the final GOAWAY (naming the last stream it took)
    only after the PING's ACK, so a stream the client opened before it saw the
    notice is served, not refused (the HAProxy rolling-restart loss)."""
    import h2frames as F
    srv = start_server(graceful_timeout=10.0)
    c = F.RawH2(connect(srv.port, timeout=30))
    c.handshake()
    # in flight on a pooled thread, so the connection is busy (an idle one
    # gets the final GOAWAY at once) and the worker's loop is free
    slow = c.request(path="/pooled/sleep?1.0")
    time.sleep(0.3)
    srv.send_signal(signal.SIGINT)
    notice = ping = None
    while notice is None or ping is None:
        f = c.read_frame(10)
        assert f is not None, "no GOAWAY notice + PING within 10 s of the stop"
        if f.type == F.GOAWAY:
            notice = f
        elif f.type == F.PING and not f.flags & F.ACK:
            ping = f
    assert notice.error_code == F.NO_ERROR and notice.last_stream_id == 2**31 - 1, notice
    # a stream opened after the notice, before the PING is answered, is taken
    late = c.request(path="/")
    c.send(F.ping(ping.payload, ack=True))
    statuses, final = {}, None
    try:
        while len(statuses) < 2 or final is None:
            f = c.read_frame(10)
            assert f is not None, f"stalled: answers {statuses}, final GOAWAY {final!r}"
            if f.type == F.HEADERS and f.fields:
                statuses[f.stream_id] = dict(f.fields)[":status"]
            elif f.type == F.GOAWAY:
                final = f
            elif f.type == F.RST_STREAM:
                raise AssertionError(f"stream {f.stream_id} reset: {f!r}")
    except F.Closed:
        pass
    assert statuses == {slow: "200", late: "200"}, statuses
    assert final is not None and final.error_code == F.NO_ERROR and final.last_stream_id == late, final
    c.sock.close()
    assert srv.wait(30) == 0


def test_graceful_stop_many_in_flight(start_server):
    srv = start_server(graceful_timeout=10.0)
    socks = []
    for i in range(10):
        s = connect(srv.port, timeout=30)
        s.sendall(build_request("GET", f"/pooled/sleep?{0.5 + 0.05 * i}"))
        socks.append(s)
    time.sleep(0.2)
    srv.send_signal(signal.SIGTERM)
    for s in socks:
        r = H1Reader(s).read_response()
        assert r.status == 200
        s.close()
    assert srv.wait(30) == 0


# -- in-process API -------------------------------------------------------------

def _cfg(**kw):
    cfg = dict(helpers.DEFAULT_CONFIG, port=helpers.free_port())
    cfg.update(kw)
    return json.dumps(cfg)


def _lifecycle(mode, timeout=120, env=None, **kw):
    p = helpers.run_native(APPS / "lifecycle.py", mode, _cfg(**kw), timeout=timeout, env_extra=env)
    assert p.returncode == 0, f"lifecycle {mode} exited {p.returncode}\n{p.stderr[-5000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_start_nonblocking_is_running_stop():
    out = _lifecycle("nonblocking")
    assert out["before_start"] is False
    assert out["start_seconds"] < 5 * helpers.SLACK, "start(blocking=False) must return at once"
    assert out["running_after_start"] is True
    assert out["response"] == [200, "Hello from /"]
    assert out["running_after_stop"] is False
    assert out["refused_after_stop"] is True
    assert out["stop_seconds"] < 5 * helpers.SLACK


def test_stop_method_finishes_in_flight_requests():
    out = _lifecycle("stop_inflight")
    assert out["responses"] == {"/slow?1.5": [200, "slow done"], "/pooled/slow?1.5": [200, "slow done"]}
    assert out["running_after_stop"] is False


def test_start_stop_3_times():
    """The short version, for the sanitizer pass."""
    out = _lifecycle("cycle", env={"FA_TEST_CYCLES": "3"})
    assert out["cycles"] == 3, out
    assert out["after"]["tasks"] == out["before"]["tasks"], out


@pytest.mark.slow
def test_start_stop_20_times_leaks_nothing():
    out = _lifecycle("cycle", timeout=300, env={"FA_TEST_CYCLES": "20"})
    assert out["cycles"] == 20, out
    before, after = out["before"], out["after"]
    assert after["tasks"] == before["tasks"], f"threads leaked: {before} -> {after}"
    assert after["py_threads"] == before["py_threads"]
    assert after["fds"] == before["fds"], f"fds leaked: {before} -> {after}"
    assert max(c["fds"] for c in out["after_each"]) == before["fds"], out["after_each"]
