"""Timeouts, HTTP/2 limits and floods, the open-file limit, 10,000
concurrent connections."""
import errno
import os
import resource
import selectors
import socket
import struct
import subprocess
import time

import pytest

import helpers
from helpers import H2Client, ServerProcess, assert_serving, build_request, connect

TIMEOUTS = dict(header_timeout=1.0, body_timeout=1.0, keepalive_timeout=1.0)
# how long after a timeout is due the connection must be gone
GRACE = 3.0 * helpers.SLACK


@pytest.fixture(scope="module")
def timeouts(tmp_path_factory):
    yield from helpers.module_server("basic.py", tmp_path_factory, "timeouts", **TIMEOUTS)


def _closed_within(sock, timeout):
    t0 = time.monotonic()
    closed, data = helpers.wait_closed(sock, timeout)
    return closed, time.monotonic() - t0, data


# -- HTTP/1.1 timeouts ----------------------------------------------------------

def test_slowloris_head_timeout(timeouts):
    """Bytes of the head keep trickling in, yet the whole head must arrive
    within header_timeout: the server closes the connection (408 allowed)."""
    with connect(timeouts.port) as s:
        t0 = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        closed = False
        i = 0
        while time.monotonic() - t0 < TIMEOUTS["header_timeout"] + GRACE + 2:
            try:
                s.sendall(f"X-Slow-{i}: y\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            i += 1
            c, _, data = _closed_within(s, 0.2)
            if c:
                closed = True
                assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:200]
                break
        elapsed = time.monotonic() - t0
        assert closed, "slowloris connection was never closed"
        assert elapsed < TIMEOUTS["header_timeout"] + GRACE, elapsed
    assert_serving(timeouts.port)


def test_silent_connection_is_closed(timeouts):
    with connect(timeouts.port) as s:
        closed, elapsed, data = _closed_within(s, TIMEOUTS["header_timeout"] + GRACE + 2)
        assert closed
        assert elapsed < max(TIMEOUTS["header_timeout"], TIMEOUTS["keepalive_timeout"]) + GRACE
        assert data == b"" or data.startswith(b"HTTP/1.1 408")
    assert_serving(timeouts.port)


def test_idle_keepalive_timeout(timeouts):
    with connect(timeouts.port) as s:
        reader = helpers.H1Reader(s)
        s.sendall(build_request("GET", "/query?1"))
        assert reader.read_response().status == 200
        time.sleep(TIMEOUTS["keepalive_timeout"] * 0.4)
        s.sendall(build_request("GET", "/query?2"))  # still open and serving
        assert reader.read_response().json()["query"] == "2"
        closed, elapsed, data = _closed_within(s, TIMEOUTS["keepalive_timeout"] + GRACE + 2)
        assert closed and data == b""
        assert elapsed < TIMEOUTS["keepalive_timeout"] + GRACE
        assert elapsed > TIMEOUTS["keepalive_timeout"] * 0.5
    assert_serving(timeouts.port)


def test_keepalive_timeout_counts_from_the_last_request(timeouts):
    """A connection that asks every 0.4 keepalive_timeout is never idle for
    keepalive_timeout: it must serve for several timeouts in a row (each
    answer is given inline, so the connection never leaves the idle list;
    its deadline must still move with each request)."""
    with connect(timeouts.port) as s:
        reader = helpers.H1Reader(s)
        t_end = time.monotonic() + 3.5 * TIMEOUTS["keepalive_timeout"]
        i = 0
        while time.monotonic() < t_end:
            s.sendall(build_request("GET", f"/query?{i}"))
            assert reader.read_response().json()["query"] == str(i), f"request {i}"
            i += 1
            time.sleep(TIMEOUTS["keepalive_timeout"] * 0.4)
        assert i >= 8
    assert_serving(timeouts.port)


def test_body_timeout(timeouts):
    with connect(timeouts.port) as s:
        s.sendall(build_request("POST", "/echo", headers={"Content-Length": "100"}) + b"0123456789")
        closed, elapsed, data = _closed_within(s, TIMEOUTS["body_timeout"] + GRACE + 2)
        assert closed
        assert elapsed < TIMEOUTS["body_timeout"] + GRACE
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:200]
    assert_serving(timeouts.port)


def test_slow_but_steady_body_is_not_cut(timeouts):
    """body_timeout bounds silence, not the whole upload."""
    parts = [b"%02d" % i for i in range(8)]
    with connect(timeouts.port) as s:
        s.sendall(build_request("POST", "/echo", headers={"Content-Length": str(2 * len(parts))}))
        for p in parts:
            time.sleep(TIMEOUTS["body_timeout"] * 0.4)
            s.sendall(p)
        r = helpers.H1Reader(s).read_response()
        assert r.status == 200 and r.body == b"".join(parts)


def test_slow_handler_is_not_cut_by_timeouts(timeouts):
    """Time spent in the handler is not idle time."""
    r = helpers.h1_request(timeouts.port, "GET", "/sleep?2.5")
    assert r.status == 200 and r.json()["slept"] == 2.5
    r = helpers.h1_request(timeouts.port, "GET", "/pooled/sleep?2.5")
    assert r.status == 200


# -- HTTP/2 limits -----------------------------------------------------------------

def test_h2_busy_connection_outlives_keepalive_timeout(timeouts):
    """Idle time counts from the last answer: one HTTP/2 connection kept
    busy with requests answered inline for three keepalive_timeouts gets no
    GOAWAY (it used to keep the deadline of its first idle moment)."""
    with H2Client(timeouts.port) as c:
        c.handshake()
        deadline = time.monotonic() + TIMEOUTS["keepalive_timeout"] * 3
        n = 0
        while time.monotonic() < deadline:
            sids = [c.request("GET", "/") for _ in range(4)]
            for sid in sids:
                st = c.response(sid)
                assert st.status == 200 and st.reset is None, (n, st.status, st.reset)
                n += 1
            assert c.goaway is None, (n, c.goaway)
        assert n > 100



def test_h2_too_many_headers_resets_stream(server):
    with H2Client(server.port) as c:
        c.handshake()
        sid = c.request("GET", "/", headers=[(f"x-many-{i}", "v") for i in range(150)])
        st = c.response(sid)
        assert st.reset is not None or st.status == 431, (st.status, st.reset)
        # the connection survives one bad stream
        st = c.response(c.request("GET", "/"))
        assert st.status == 200 and bytes(st.body) == b"Hello from /"
    assert_serving(server.port)


def test_h2_too_large_header_list_resets_stream(server):
    with H2Client(server.port) as c:
        c.handshake()
        sid = c.request("GET", "/", headers=[("x-huge", "h" * 20000)])
        st = c.response(sid)
        assert st.reset is not None or st.status == 431, (st.status, st.reset)
        st = c.response(c.request("GET", "/"))
        assert st.status == 200
    assert_serving(server.port)


def test_h2_headers_within_limits_are_fine(server):
    with H2Client(server.port) as c:
        st = c.response(c.request("GET", "/", headers=[(f"x-ok-{i}", "v" * 50) for i in range(90)]))
        assert st.status == 200


def test_h2_body_over_limit(start_server):
    srv = start_server(max_body_size=4096)
    with H2Client(srv.port) as c:
        c.handshake()
        # declared length over the limit: 413 without sending the body
        sid = c.request("POST", "/echo", headers=[("content-length", "100000")], end_stream=False)
        st = c.response(sid, timeout=10)
        assert st.status == 413, (st.status, st.reset)
    with H2Client(srv.port) as c:
        # no declared length: the stream is refused once the limit is passed
        sid = c.request("POST", "/echo", end_stream=False)
        try:
            c.send_body(sid, b"z" * 20000, end_stream=True)
        except Exception:  # noqa: BLE001 - the server may reset mid-body
            pass
        st = c.response(sid, timeout=10)
        assert st.status == 413 or st.reset is not None
    assert_serving(srv.port)


def _frame(ftype: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def _expect_goaway_or_close(c: H2Client, timeout: float = 10.0):
    try:
        c.pump(lambda: c.goaway is not None, timeout)
    except helpers.ConnectionClosed:
        return
    except TimeoutError:
        raise AssertionError("no GOAWAY and no close after the abuse") from None
    except Exception:  # noqa: BLE001 - h2 may choke on what the server sent after the abuse
        return


def test_h2_settings_with_too_many_entries_gets_goaway(server):
    with H2Client(server.port) as c:
        c.handshake()
        c.sock.sendall(_frame(0x4, 0, 0, struct.pack(">HI", 0x1, 4096) * 64))
        _expect_goaway_or_close(c)
    assert_serving(server.port)


def test_h2_continuation_flood_gets_goaway(server):
    import hpack
    with H2Client(server.port) as c:
        c.handshake()
        block = hpack.Encoder().encode([(":method", "GET"), (":scheme", "http"), (":path", "/"),
                                        (":authority", "x")] + [(f"x-c{i}", "v") for i in range(60)])
        frags = [block[i:i + 4] for i in range(0, len(block), 4)]
        data = _frame(0x1, 0x1, 1, frags[0])  # HEADERS, END_STREAM, no END_HEADERS
        for f in frags[1:-1]:
            data += _frame(0x9, 0, 1, f)  # CONTINUATION
        try:
            c.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        _expect_goaway_or_close(c)
    assert_serving(server.port)


def test_h2_rapid_reset_gets_goaway(server):
    with H2Client(server.port) as c:
        c.handshake()
        hdrs = [(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/")]
        try:
            for _ in range(40):
                for _ in range(100):
                    sid = c.conn.get_next_available_stream_id()
                    c.conn.send_headers(sid, hdrs, end_stream=True)
                    c.conn.reset_stream(sid)
                c.flush()
                if c.goaway is not None:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        _expect_goaway_or_close(c, 15)
    assert_serving(server.port)


def test_h2_many_streams_then_still_fine(server):
    """Not a flood: 300 streams in waves of 100 on one connection."""
    with H2Client(server.port) as c:
        c.handshake()
        for wave in range(3):
            sids = [c.request("GET", f"/query?w={wave}&i={i}") for i in range(100)]
            for sid in sids:
                assert c.response(sid).status == 200


# -- open files and many connections ---------------------------------------------------

def _limits(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                parts = line.split()
                return parts[3], parts[4]
    raise AssertionError("no Max open files line")


def test_server_raises_its_open_file_limit(start_server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    srv = start_server()
    s, h = _limits(srv.pid)
    assert s == h, f"server soft limit {s} != hard limit {h}"


def _open_connections(port, n, deadline):
    """Opens n connections (at most 1000 connecting at once), sends one
    request on each, reads each response, and keeps every connection open
    until all n are answered.  Returns (answered, errors)."""
    sel = selectors.EpollSelector()
    req = build_request("GET", "/")
    answered, errors, opened, connecting = 0, [], 0, 0
    socks = []
    bufs = {}
    try:
        while answered + len(errors) < n:
            while opened < n and connecting < 1000:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                rc = s.connect_ex(("127.0.0.1", port))
                if rc not in (0, errno.EINPROGRESS):
                    errors.append(f"connect: {os.strerror(rc)}")
                    s.close()
                    opened += 1
                    continue
                socks.append(s)
                bufs[s.fileno()] = [s, b"", "connecting"]
                sel.register(s, selectors.EVENT_WRITE)
                opened += 1
                connecting += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"only {answered} of {n} answered in time ({len(errors)} errors: {errors[:5]})")
            for key, _ in sel.select(timeout=0.5):
                s, buf, state = bufs[key.fd]
                if state == "connecting":
                    connecting -= 1
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        errors.append(f"connect: {os.strerror(err)}")
                        sel.unregister(s)
                        continue
                    try:
                        s.send(req)  # tiny: fits the empty send buffer
                    except OSError as e:
                        errors.append(f"send: {e}")
                        sel.unregister(s)
                        continue
                    bufs[key.fd][2] = "reading"
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                try:
                    data = s.recv(65536)
                except (ConnectionResetError, BlockingIOError) as e:
                    if isinstance(e, BlockingIOError):
                        continue
                    data = b""
                if not data:
                    errors.append("closed before the response")
                    sel.unregister(s)
                    continue
                buf += data
                bufs[key.fd][1] = buf
                if b"\r\n\r\n" in buf and buf.endswith(b"Hello from /"):
                    assert buf.startswith(b"HTTP/1.1 200"), buf[:100]
                    answered += 1
                    sel.unregister(s)
        # every connection is still open here: all n were held at once
        return answered, errors
    finally:
        for s in socks:
            s.close()
        sel.close()


@pytest.mark.slow
def test_10000_concurrent_connections_raw(start_server):
    n = 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n + 500:
        pytest.skip(f"hard RLIMIT_NOFILE {hard} is below {n + 500}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    srv = start_server(keepalive_timeout=120.0, header_timeout=120.0)
    answered, errors = _open_connections(srv.port, n, time.monotonic() + 240)
    assert errors == [] and answered == n, f"{answered} answered, errors: {errors[:10]}"
    assert_serving(srv.port)


@pytest.mark.slow
@pytest.mark.parametrize("proto", ["h2c", "http/1.1"])
def test_10000_connections_h2load(start_server, proto):
    if not helpers.have_tool("h2load"):
        pytest.skip("h2load not installed")
    srv = start_server(keepalive_timeout=120.0, header_timeout=120.0)

    def raise_limit():
        h = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (h, h))

    cmd = ["h2load", "-c", "10000", "-n", "10000", "-t", "2", "-T", "60", "-N", "60"]
    if proto == "http/1.1":
        cmd.append("--h1")
    cmd.append(f"{srv.url}/")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, preexec_fn=raise_limit,
                       env=helpers.plain_env())
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "10000 succeeded" in p.stdout, p.stdout[-3000:]
    assert_serving(srv.port)
