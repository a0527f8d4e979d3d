"""Streamed response bodies (issue 5): res['body'] as a sync or async
iterable.  HTTP/1.1 sends it chunked (HTTP/1.0: close-delimited), HTTP/2 as
DATA frames; chunks are pulled only while the connection has room, so a
slow reader slows the generator and memory stays bounded.

One module-wide server of apps/stream_app.py with one pinned worker (so
/stream/produced sees every generator's counter).
"""
import json
import os
import re
import socket
import subprocess
import time
import uuid

import pytest

import helpers
from helpers import H1Reader, H2Client, build_request, connect, curl, h1_request

#: environment for curl and h2load: without the sanitizer runtimes the ASan pass
#: preloads (curl hangs at exit with them)
TOOL_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}

BLOCK = bytes(range(256)) * 256  # what stream_app's generators yield (64 KiB)
SYNC5 = b"".join(f"chunk {i}\n".encode() for i in range(5))


@pytest.fixture(scope="module")
def ssrv(tmp_path_factory):
    yield from helpers.module_server("stream_app.py", tmp_path_factory, "stream",
                                num_pinned_workers=1, keepalive_timeout=30.0)


def _tag():
    return uuid.uuid4().hex[:10]


def _wait_marker(srv, marker, since, timeout=3.0):
    log = srv.wait_stderr(lambda t: marker in t, since, timeout)
    assert marker in log, f"{marker!r} not on stderr:\n{log[-3000:]}"
    return log


def _produced(srv, tag, route=""):
    """Bytes an endless generator produced so far (asked of the pooled
    interpreter for a /pooled/ route)."""
    where = "/pooled/stream/produced" if route.startswith("/pooled/") else "/stream/produced"
    return h1_request(srv.port, "GET", where).json().get(tag)


def _read_raw_chunks(sock, timeout=10.0):
    """Reads a whole chunked HTTP/1.1 response off a socket; returns (head
    bytes, [chunk payloads], ended_with_zero_chunk)."""
    rd = H1Reader(sock)
    head = rd.read_head()
    chunks = []
    try:
        while True:
            size = int(rd.readline().split(b";")[0], 16)
            if size == 0:
                rd.readline()
                return head, chunks, True
            chunks.append(rd.read_exact(size))
            assert rd.read_exact(2) == b"\r\n"
    except helpers.ConnectionClosed:
        return head, chunks, False


# --------------------------------------------------------------------------
# basic shapes
# --------------------------------------------------------------------------

def test_sync_generator_h1_chunked(ssrv):
    with connect(ssrv.port) as s:
        s.sendall(build_request("GET", "/stream/sync?n=5"))
        head, chunks, ended = _read_raw_chunks(s)
        assert ended
        assert head.status == 200
        assert head.header("transfer-encoding") == "chunked"
        assert head.header("content-length") is None
        assert head.header("x-streamed") == "sync"
        assert head.header("content-type") == "text/plain"
        assert b"".join(chunks) == SYNC5
        # keep-alive: the connection carries another request
        s.sendall(build_request("GET", "/"))
        assert H1Reader(s).read_response().body == b"Hello from /"


@pytest.mark.parametrize("mode", ["h1", "h2"])
@pytest.mark.parametrize("route,body", [
    ("/stream/sync?n=5", SYNC5),
    ("/stream/async?n=4", b"".join(f"achunk {i}\n".encode() for i in range(4))),
    ("/stream/list", b"alpha,beta,gamma,delta"),
    ("/stream/empty", b""),
])
def test_streamed_bodies_curl(ssrv, mode, route, body):
    r = curl(ssrv.url + route, mode)
    assert r.status == 200
    assert r.http_version == ("1.1" if mode == "h1" else "2")
    assert r.body == body
    if mode == "h1":
        assert r.headers.get("transfer-encoding") == "chunked"


@pytest.mark.parametrize("route", ["/stream/sync?n=5", "/stream/async?n=3", "/stream/list"])
def test_streamed_bodies_h2_client(ssrv, route):
    with H2Client(ssrv.port) as c:
        sids = [c.request("GET", route) for _ in range(3)]
        bodies = [bytes(c.response(sid).body) for sid in sids]
        assert all(c.streams[sid].status == 200 for sid in sids)
    assert bodies[0] == bodies[1] == bodies[2] != b""


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("route", ["/stream/big", "/pooled/stream/big"])
def test_big_stream_intact(ssrv, proto, route):
    n = 40  # 2.5 MB
    want = b"".join(i.to_bytes(4, "big") + BLOCK[4:] for i in range(n))
    if proto == "h1":
        r = h1_request(ssrv.port, "GET", f"{route}?n={n}")
        assert r.status == 200 and r.header("transfer-encoding") == "chunked"
        got = r.body
    else:
        st = helpers.h2_get(ssrv.port, f"{route}?n={n}")
        assert st.status == 200 and st.reset is None
        got = bytes(st.body)
    assert len(got) == len(want) and helpers.sha256(got) == helpers.sha256(want)


def test_parallel_streams_on_one_h2_connection(ssrv):
    """Eight 1 MB generators interleaved on one connection stay intact."""
    n = 16
    want = b"".join(i.to_bytes(4, "big") + BLOCK[4:] for i in range(n))
    with H2Client(ssrv.port) as c:
        sids = [c.request("GET", f"/stream/big?n={n}") for _ in range(8)]
        for sid in sids:
            st = c.response(sid)
            assert st.status == 200 and st.reset is None
            assert bytes(st.body) == want


@pytest.mark.parametrize("proto", ["h1", "h2c"])
def test_h2load_streams(ssrv, proto):
    if not helpers.have_tool("h2load"):
        pytest.skip("h2load not installed")
    args = ["-n", "200", "-c", "4", "-t", "1"]
    args += ["--h1"] if proto == "h1" else ["-m", "25"]
    p = subprocess.run(["h2load", *args, f"{ssrv.url}/stream/big?n=2"],
                       capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, env=TOOL_ENV)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "200 succeeded, 0 failed, 0 errored" in p.stdout, p.stdout
    assert "status codes: 200 2xx" in p.stdout, p.stdout
    m = re.search(r"traffic: \S+ \((\d+)\) total", p.stdout)
    assert m and int(m.group(1)) > 200 * 2 * len(BLOCK), p.stdout


def test_streamed_body_as_h2c_upgrade_stream(ssrv):
    with H2Client(ssrv.port, mode="upgrade") as c:
        st = c.response(c.upgrade("GET", "/stream/async?n=3"))
        assert st.status == 200 and bytes(st.body) == b"achunk 0\nachunk 1\nachunk 2\n"


def test_http10_stream_is_close_delimited(ssrv):
    with connect(ssrv.port) as s:
        s.sendall(build_request("GET", "/stream/sync?n=5", version="HTTP/1.0"))
        rd = H1Reader(s)
        head = rd.read_head()
        assert head.status == 200
        assert head.header("transfer-encoding") is None
        assert head.header("content-length") is None
        body = rd.read_to_eof()
    assert body == SYNC5


def test_pipelined_after_streamed_response(ssrv):
    with connect(ssrv.port) as s:
        s.sendall(build_request("GET", "/stream/async?n=3") + build_request("GET", "/stream/list")
                  + build_request("GET", "/"))
        rd = H1Reader(s)
        a, b, c = rd.read_response(), rd.read_response(), rd.read_response()
    assert a.body == b"achunk 0\nachunk 1\nachunk 2\n"
    assert b.body == b"alpha,beta,gamma,delta"
    assert c.body == b"Hello from /"


# --------------------------------------------------------------------------
# Server-Sent Events, read incrementally
# --------------------------------------------------------------------------

def _sse_events(text):
    return [json.loads(m) for m in re.findall(r"^data: (.*)$", text, re.M)]


def test_sse_arrives_incrementally_h1_raw(ssrv):
    n, interval = 4, 0.3
    arrivals = []  # (monotonic arrival, event)
    with connect(ssrv.port) as s:
        s.sendall(build_request("GET", f"/stream/sse?n={n}&interval={interval}",
                                headers={"Accept": "text/event-stream"}))
        rd = H1Reader(s)
        head = rd.read_head()
        assert head.status == 200
        assert head.header("content-type") == "text/event-stream"
        assert head.header("cache-control") == "no-cache"
        assert head.header("transfer-encoding") == "chunked"
        while True:
            size = int(rd.readline(), 16)
            if size == 0:
                rd.readline()
                break
            data = rd.read_exact(size).decode()
            rd.read_exact(2)
            for ev in _sse_events(data):
                arrivals.append((time.monotonic(), ev))
    assert [ev["i"] for _, ev in arrivals] == list(range(n))
    first_arrival = arrivals[0][0]
    last_made = arrivals[-1][1]["t"]
    assert first_arrival < last_made - 0.5, "the first event only arrived after the last was produced"
    gaps = [b[0] - a[0] for a, b in zip(arrivals, arrivals[1:])]
    assert all(g > interval * 0.5 for g in gaps), gaps


@pytest.mark.parametrize("mode", ["h1", "h2"])
def test_sse_curl_no_buffer(ssrv, mode):
    """curl -N prints each event as it comes."""
    n, interval = 4, 0.3
    cmd = ["curl", "-sS", "-N", *helpers.CURL_MODES[mode], "--max-time", "20",
           "-H", "Accept: text/event-stream", f"{ssrv.url}/stream/sse?n={n}&interval={interval}"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         bufsize=0, env=TOOL_ENV)
    arrivals = []
    try:
        for line in iter(p.stdout.readline, b""):
            if line.startswith(b"data: "):
                arrivals.append((time.monotonic(), json.loads(line[6:])))
    finally:
        try:
            p.wait(20)
        finally:
            p.kill()
    assert p.returncode == 0, p.stderr.read()
    assert [ev["i"] for _, ev in arrivals] == list(range(n))
    assert arrivals[0][0] < arrivals[-1][1]["t"] - 0.5
    gaps = [b[0] - a[0] for a, b in zip(arrivals, arrivals[1:])]
    assert all(g > interval * 0.5 for g in gaps), gaps


def test_sse_h2_client_incremental(ssrv):
    n, interval = 3, 0.3
    with H2Client(ssrv.port) as c:
        sid = c.request("GET", f"/stream/sse?n={n}&interval={interval}")
        st = c.streams[sid]
        c.pump(lambda: b"data: " in st.body)
        first = time.monotonic()
        assert not st.ended
        c.response(sid)
    assert st.status == 200 and dict(st.headers)["content-type"] == "text/event-stream"
    events = _sse_events(st.body.decode())
    assert [e["i"] for e in events] == list(range(n))
    assert first < events[-1]["t"] - 0.3


# --------------------------------------------------------------------------
# a generator that raises midway
# --------------------------------------------------------------------------

@pytest.mark.parametrize("route,exc", [("/stream/raise", "stream-boom-"), ("/stream/araise", "astream-boom-"),
                                       ("/pooled/stream/raise", "stream-boom-"),
                                       ("/pooled/stream/araise", "astream-boom-")])
def test_generator_raising_truncates_h1(ssrv, route, exc):
    tag = _tag()
    since = ssrv.stderr_len()
    # pooled: past the pooled thread's first 64 KiB batch, so the head is out
    size = 65536 if route.startswith("/pooled/") else 1000
    with connect(ssrv.port) as s:
        s.sendall(build_request("GET", f"{route}?tag={tag}&size={size}"))
        head, chunks, ended = _read_raw_chunks(s)
    assert head.status == 200  # the head was out before the generator failed
    assert not ended, "a failed stream must not end with the final 0-chunk"
    assert len(b"".join(chunks)) <= 3 * size
    log = _wait_marker(ssrv, exc + tag, since)
    assert "Traceback" in log
    if route.endswith("/stream/raise"):
        _wait_marker(ssrv, f"FA-STREAM-RAISED-FINALLY {tag}", since)
    helpers.assert_serving(ssrv.port)


@pytest.mark.parametrize("mode", ["h1", "h2"])
@pytest.mark.parametrize("route", ["/pooled/stream/raise", "/pooled/stream/araise"])
def test_pooled_generator_raising_in_its_first_batch_is_a_500(ssrv, mode, route):
    """Nothing was sent yet when a pooled generator fails within the first
    batch its thread pulls: the answer is a plain 500."""
    tag = _tag()
    since = ssrv.stderr_len()
    r = curl(f"{ssrv.url}{route}?tag={tag}", mode)
    assert r.status == 500
    assert "Traceback" in _wait_marker(ssrv, "stream-boom-" + tag, since)


def test_generator_raising_curl_reports_error(ssrv):
    p = subprocess.run(["curl", "-sS", "--http1.1", "-o", "/dev/null", "--max-time", "10",
                        f"{ssrv.url}/stream/raise?tag={_tag()}"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env=TOOL_ENV)
    assert p.returncode != 0, "curl should see a truncated chunked body"


@pytest.mark.parametrize("route", ["/stream/raise", "/stream/araise", "/pooled/stream/raise"])
def test_generator_raising_resets_h2_stream(ssrv, route):
    tag = _tag()
    size = 65536 if route.startswith("/pooled/") else 1000
    with H2Client(ssrv.port) as c:
        sid = c.request("GET", f"{route}?tag={tag}&size={size}")
        st = c.response(sid)
        assert st.status == 200
        assert st.reset == 2, f"expected RST_STREAM INTERNAL_ERROR, got reset={st.reset} ended={st.ended}"
        assert not st.ended
        # the connection goes on
        st2 = c.response(c.request("GET", "/stream/list"))
        assert st2.status == 200 and bytes(st2.body) == b"alpha,beta,gamma,delta"


def test_generator_raising_curl_h2_reports_error(ssrv):
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "--max-time", "10",
                        f"{ssrv.url}/stream/raise?tag={_tag()}"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env=TOOL_ENV)
    assert p.returncode != 0, "curl should see the stream reset"


# --------------------------------------------------------------------------
# HEAD
# --------------------------------------------------------------------------

@pytest.mark.parametrize("route", ["/stream/sync?n=5", "/stream/async?n=3"])
def test_head_on_streamed_route_h1(ssrv, route):
    with connect(ssrv.port) as s:
        s.sendall(build_request("HEAD", route))
        rd = H1Reader(s)
        r = rd.read_response("HEAD")
        assert r.status == 200 and r.body == b""
        assert r.header("content-type") == "text/plain"
        # nothing follows the head: the next answer starts right after it
        s.sendall(build_request("GET", "/"))
        r2 = rd.read_response()
        assert r2.status == 200 and r2.body == b"Hello from /"


def test_head_on_streamed_route_curl(ssrv):
    for mode in ("h1", "h2"):
        r = curl(f"{ssrv.url}/stream/sync?n=5", mode, method="HEAD")
        assert r.status == 200 and r.headers.get("content-type") == "text/plain"


def test_head_on_streamed_route_h2(ssrv):
    with H2Client(ssrv.port) as c:
        st = c.response(c.request("HEAD", "/stream/sync?n=5"))
        assert st.status == 200 and st.ended and st.reset is None
        assert bytes(st.body) == b""


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("route", ["/stream/endless", "/pooled/stream/endless"])
def test_head_on_endless_stream_does_not_pull(ssrv, proto, route):
    """HEAD never pulls the endless generator past a first batch: it is
    closed unread."""
    tag = _tag()
    since = ssrv.stderr_len()
    if proto == "h1":
        with connect(ssrv.port) as s:
            s.sendall(build_request("HEAD", f"{route}?tag={tag}"))
            rd = H1Reader(s)
            r = rd.read_response("HEAD")
            s.sendall(build_request("GET", "/"))
            assert rd.read_response().body == b"Hello from /"
    else:
        with H2Client(ssrv.port) as c:
            r = c.response(c.request("HEAD", f"{route}?tag={tag}"))
            assert r.ended and bytes(r.body) == b""
    assert r.status == 200
    if route.startswith("/pooled/"):
        # the pooled thread pulled its first batch before the head left;
        # the started generator is closed (its finally runs)
        _wait_marker(ssrv, f"FA-STREAM-FINALLY {tag}", since)
    else:
        time.sleep(0.3)  # never started: nothing to close, nothing produced
    assert _produced(ssrv, tag, route) <= 4 * len(BLOCK)


# --------------------------------------------------------------------------
# pooled routes: a short stream (within the pooled thread's first 64 KiB
# batch) goes out whole with a content-length; longer ones are pulled by
# the pooled thread batch by batch as the connection drains (tests above
# and below run the /pooled/ variants)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["h1", "h2"])
@pytest.mark.parametrize("route,body", [
    ("/pooled/stream/sync?n=5", SYNC5),
    ("/pooled/stream/async?n=3", b"achunk 0\nachunk 1\nachunk 2\n"),
    ("/pooled/stream/list", b"alpha,beta,gamma,delta"),
])
def test_pooled_short_stream_goes_out_whole(ssrv, mode, route, body):
    r = curl(ssrv.url + route, mode)
    assert r.status == 200 and r.body == body
    assert r.headers.get("content-length") == str(len(body))
    assert "transfer-encoding" not in r.headers


# --------------------------------------------------------------------------
# backpressure
# --------------------------------------------------------------------------

def _rss_kb(pid):
    return helpers.proc_status_kb(pid, "VmRSS")


@pytest.mark.slow
@pytest.mark.parametrize("route", ["/stream/endless", "/stream/aendless", "/pooled/stream/endless",
                                   "/pooled/stream/aendless"])
def test_slow_reader_bounded_memory_h1(ssrv, route):
    """An endless 64 KiB-block generator and a client with a small receive
    buffer that reads 1 MB/s for 3 s: the server's RSS stays flat and the
    generator runs only a little ahead; disconnecting closes it."""
    tag = _tag()
    since = ssrv.stderr_len()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.connect(("127.0.0.1", ssrv.port))
    s.sendall(build_request("GET", f"{route}?tag={tag}"))
    s.settimeout(5)
    got = s.recv(4096)
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    rss0 = _rss_kb(ssrv.pid)
    rss_max = rss0
    received = len(got)
    t0 = time.monotonic()
    tick, per_tick = 0.05, 50_000  # 1 MB/s
    while time.monotonic() - t0 < 3.0:
        want = per_tick
        while want > 0:
            chunk = s.recv(min(want, 65536))
            assert chunk, "server closed the stream"
            want -= len(chunk)
            received += len(chunk)
        rss_max = max(rss_max, _rss_kb(ssrv.pid))
        time.sleep(tick)
    produced = _produced(ssrv, tag, route)
    s.close()
    print(f"slow reader {route}: received={received} produced={produced} "
          f"rss0={rss0}kB rss_max={rss_max}kB")
    assert 2_000_000 < received < 5_000_000
    growth_mb = (rss_max - rss0) / 1024
    assert growth_mb < 64, f"server RSS grew {growth_mb:.1f} MB while streaming to a slow reader"
    # the generator stays close to what the client read (socket buffers,
    # the 64 KiB per-stream high-water mark), not gigabytes ahead
    assert produced - received < 16 * 2**20, (produced, received)
    _wait_marker(ssrv, f"FA-STREAM-FINALLY {tag}", since)


def test_h2_zero_window_stops_the_generator(ssrv):
    """An HTTP/2 peer that never opens its window: the server sends the
    initial 64 KiB window and stops pulling; RST_STREAM closes the generator."""
    tag = _tag()
    since = ssrv.stderr_len()
    with H2Client(ssrv.port) as c:
        c.handshake()
        sid = c.request("GET", f"/stream/endless?tag={tag}")
        time.sleep(1.0)  # not reading: no WINDOW_UPDATE goes out
        p1 = _produced(ssrv, tag)
        time.sleep(0.5)
        p2 = _produced(ssrv, tag)
        print(f"zero window: produced {p1} then {p2}")
        assert p1 == p2, "the generator kept running with a closed window"
        # the 64 KiB initial window plus the 64 KiB per-stream high-water mark
        assert p2 <= 512 * 1024, p2
        # reading (and acknowledging) lets it go on
        c.pump(lambda: len(c.streams[sid].body) > 1_000_000)
        assert _produced(ssrv, tag) > p2
        c.conn.reset_stream(sid, error_code=8)
        c.flush()
        _wait_marker(ssrv, f"FA-STREAM-FINALLY {tag}", since)
        # the connection is still fine
        st = c.response(c.request("GET", "/stream/list"), timeout=10)
        assert bytes(st.body) == b"alpha,beta,gamma,delta"


@pytest.mark.parametrize("route", ["/stream/endless", "/stream/aendless", "/pooled/stream/endless",
                                   "/pooled/stream/aendless"])
def test_h2_connection_close_closes_generator(ssrv, route):
    tag = _tag()
    since = ssrv.stderr_len()
    c = H2Client(ssrv.port)
    sid = c.request("GET", f"{route}?tag={tag}")
    c.pump(lambda: len(c.streams[sid].body) > 200_000)
    c.close()
    _wait_marker(ssrv, f"FA-STREAM-FINALLY {tag}", since)


@pytest.mark.parametrize("route", ["/stream/endless", "/stream/aendless", "/pooled/stream/endless",
                                   "/pooled/stream/aendless"])
def test_h1_disconnect_closes_generator(ssrv, route):
    tag = _tag()
    since = ssrv.stderr_len()
    with connect(ssrv.port) as s:
        s.sendall(build_request("GET", f"{route}?tag={tag}"))
        n = 0
        while n < 300_000:
            n += len(s.recv(65536))
    log = _wait_marker(ssrv, f"FA-STREAM-FINALLY {tag}", since, timeout=3.0)
    if route.endswith("/stream/endless"):
        assert f"FA-STREAM-GENEXIT {tag}" in log
    helpers.assert_serving(ssrv.port)


def test_async_generator_closed_once_loop_steps(ssrv):
    """An async generator abandoned by a client is closed (its finally runs),
    also when another request steps the loop meanwhile."""
    tag = _tag()
    since = ssrv.stderr_len()
    with connect(ssrv.port) as s:
        s.sendall(build_request("GET", f"/stream/aendless?tag={tag}"))
        n = 0
        while n < 300_000:
            n += len(s.recv(65536))
    time.sleep(0.2)
    assert h1_request(ssrv.port, "GET", "/stream/async?n=1").status == 200  # steps the loop
    _wait_marker(ssrv, f"FA-STREAM-FINALLY {tag}", since, timeout=3.0)


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_write_timeout_closes_a_connection_that_never_reads(start_server, proto):
    """body_timeout also bounds how long output may sit unread."""
    srv = start_server("stream_app.py", num_pinned_workers=1, body_timeout=1.0)
    tag = _tag()
    since = srv.stderr_len()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.connect(("127.0.0.1", srv.port))
    try:
        if proto == "h1":
            s.sendall(build_request("GET", f"/stream/endless?tag={tag}"))
        else:
            import h2.config
            import h2.connection
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            # a huge window, so HTTP/2 flow control is not what stops the server
            conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
            conn.increment_flow_control_window(2**31 - 1 - 65535)
            conn.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                                  (":path", f"/stream/endless?tag={tag}")], end_stream=True)
            s.sendall(conn.data_to_send())
        t0 = time.monotonic()
        _wait_marker(srv, f"FA-STREAM-FINALLY {tag}", since, timeout=8)
        elapsed = time.monotonic() - t0
        assert elapsed >= 0.9, f"closed after {elapsed:.2f}s, before the write timeout"
        closed, _ = helpers.wait_closed(s, 10)
        assert closed
    finally:
        s.close()
    helpers.assert_serving(srv.port)


@pytest.mark.parametrize("route", ["/stream/endless", "/pooled/stream/endless"])
def test_stop_during_an_endless_stream_closes_the_generator(start_server, route):
    """A graceful stop while a client still reads an endless stream: after
    graceful_timeout the connection is closed, the generator's finally runs
    in its own interpreter (a pooled one too), and the server exits 0."""
    srv = start_server("stream_app.py", num_pinned_workers=1, num_pooled_workers=1, graceful_timeout=1.0)
    tag = _tag()
    with connect(srv.port) as s:
        s.sendall(build_request("GET", f"{route}?tag={tag}"))
        n = 0
        while n < 300_000:
            n += len(s.recv(65536))
        assert srv.stop() == 0  # the client stops reading: the stream stays open until the deadline
    assert f"FA-STREAM-FINALLY {tag}" in srv.stderr()
