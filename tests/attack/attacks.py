"""Scripted attackers for tests/attack (short runs) and bench/attack.py (long
runs).  Each attack talks to 127.0.0.1 only, is bounded in frames/bytes and
in time, and returns a Result: whether the server cut the attacker off
(GOAWAY with an error code, or a close) and how.

Alongside, GoodClient measures a well-behaved client on its own connection
and RssSampler the server's resident memory.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

import h2frames as F
import helpers

#: Server settings the attack runs use (short timeouts keep runs short; the
#: limits are the defaults).
SERVER_CONFIG = dict(num_pinned_workers=1, num_pooled_workers=2, header_timeout=2.0,
                     body_timeout=2.0, keepalive_timeout=2.0, max_body_size=1 << 20)


@dataclass
class Result:
    name: str
    cut_off: bool
    how: str           # "GOAWAY(ENHANCE_YOUR_CALM)", "close", "RST_STREAM x N", "400 + close"...
    sent: int          # frames / requests / bytes the attacker got out (see the attack)
    seconds: float     # from the first byte to the cut-off (or the end of the attack)
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------
# measuring

class GoodClient(threading.Thread):
    """GET / over its own HTTP/2 connection every `interval`, until stopped:
    latencies (s) and failures (a reconnect after one)."""

    def __init__(self, port: int, interval: float = 0.01):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.latencies: list[float] = []
        self.done_at: list[float] = []  # time.monotonic() of each answer
        self.failures: list[str] = []
        self._halt = threading.Event()

    def run(self):
        c = None
        while not self._halt.is_set():
            try:
                if c is None:
                    c = F.RawH2(helpers.connect(self.port))
                    c.handshake()
                t0 = time.perf_counter()
                sid = c.request(path="/")
                status, body = c.response(sid, timeout=5.0)
                dt = time.perf_counter() - t0
                if status != 200:
                    self.failures.append(f"status {status}")
                self.latencies.append(dt)
                self.done_at.append(time.monotonic())
                if sid > 1999:  # a fresh connection now and then
                    c.close()
                    c = None
            except Exception as e:  # noqa: BLE001 - recorded, the test asserts
                self.failures.append(repr(e)[:200])
                if c is not None:
                    c.close()
                c = None
            self._halt.wait(self.interval)
        if c is not None:
            c.close()

    def stop(self):
        self._halt.set()
        self.join(10)

    def answered_between(self, t0: float, t1: float) -> int:
        return sum(1 for t in self.done_at if t0 <= t <= t1)

    def p(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


class RssSampler(threading.Thread):
    """The server's VmRSS (kB) every 50 ms: baseline and peak."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.base = helpers.proc_status_kb(pid, "VmRSS")
        self.peak = self.base
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(0.05):
            try:
                self.peak = max(self.peak, helpers.proc_status_kb(self.pid, "VmRSS"))
            except (OSError, AssertionError):
                return

    def stop(self):
        self._halt.set()
        self.join(5)

    @property
    def growth_kb(self) -> int:
        return self.peak - self.base


# --------------------------------------------------------------------------
# plumbing

def _h2(port: int, *settings, rcvbuf: int | None = None) -> F.RawH2:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = F.RawH2(s)
    c.handshake(*settings)
    return c


def _send(c: F.RawH2, data: bytes, timeout: float = 2.0) -> bool:
    """Sends unless the server stopped reading for `timeout` (then False)."""
    if c.closed:
        return False
    c.sock.settimeout(timeout)
    try:
        c.sock.sendall(data)
        return True
    except (socket.timeout, OSError):
        return False


def _verdict(c: F.RawH2, timeout: float) -> tuple[bool, str]:
    """Reads what the server says until a GOAWAY with an error, a close, or
    the deadline; returns (cut_off, how)."""
    deadline = time.monotonic() + timeout
    how, goaway = "", None
    while time.monotonic() < deadline:
        try:
            f = c.read_frame(max(0.01, deadline - time.monotonic()))
        except F.Closed:
            return True, (how + " + close").lstrip(" +") if goaway is not None else "close"
        if f is None:
            break
        if f.type == F.GOAWAY:
            goaway = f
            how = f"GOAWAY({F.err_name(f.error_code)})"
            if f.error_code != F.NO_ERROR:
                return True, how
    return (goaway is not None), how or "no reaction"


def _req_block(path="/", method="GET", extra=()):
    from expect import block
    return block((":method", method), (":scheme", "http"), (":path", path),
                 (":authority", "localhost"), *extra)


# --------------------------------------------------------------------------
# HTTP/2 attacks

def rapid_reset(port: int, n: int = 5000, verdict_s: float = 5.0) -> Result:
    """CVE-2023-44487: open a stream and cancel it at once, n times."""
    c = _h2(port)
    t0 = time.monotonic()
    sent, sid = 0, 1
    blk = _req_block()
    while sent < n:
        batch = b"".join(F.headers(sid + 2 * i, blk) + F.rst_stream(sid + 2 * i, F.CANCEL) for i in range(100))
        if not _send(c, batch):
            break
        sid += 200
        sent += 100
    cut, how = _verdict(c, verdict_s)
    c.close()
    return Result("rapid_reset", cut, how, sent, time.monotonic() - t0)


def continuation_flood(port: int, n: int = 100000, verdict_s: float = 5.0) -> Result:
    """CVE-2024-27316 family: a HEADERS without END_HEADERS, then CONTINUATION
    frames for ever, each adding a field."""
    from expect import lit
    c = _h2(port)
    t0 = time.monotonic()
    blk = _req_block()
    sent = 0
    if _send(c, F.headers(1, blk, end_headers=False)):
        cont = F.continuation(1, lit("x-flood", "a" * 100), end_headers=False)
        while sent < n and _send(c, cont * 100):
            sent += 100
    cut, how = _verdict(c, verdict_s)
    c.close()
    return Result("continuation_flood", cut, how, sent, time.monotonic() - t0)


def made_you_reset(port: int, n: int = 5000, verdict_s: float = 5.0) -> Result:
    """CVE-2025-8671: valid-looking streams the server must reset itself
    (a malformed field, an overflowing stream window), n times."""
    from expect import lit
    c = _h2(port)
    t0 = time.monotonic()
    bad = _req_block(extra=[("X-Upper", "1")])  # malformed: RST_STREAM(PROTOCOL_ERROR)
    good_open = _req_block(path="/echo", method="POST")
    sent, sid = 0, 1
    while sent < n:
        parts = []
        for i in range(50):
            s = sid + 4 * i
            parts.append(F.headers(s, bad))
            parts.append(F.headers(s + 2, good_open, end_stream=False) + F.window_update(s + 2, 0x7FFFFFFF))
        if not _send(c, b"".join(parts)):
            break
        sid += 200
        sent += 100
    cut, how = _verdict(c, verdict_s)
    c.close()
    return Result("made_you_reset", cut, how, sent, time.monotonic() - t0)


def _control_flood(name, port, frame_bytes, n, verdict_s):
    # a small receive buffer: our unread ACKs fill it sooner
    c = _h2(port, rcvbuf=4096)
    t0 = time.monotonic()
    sent = 0
    chunk = frame_bytes * 1000
    while sent < n and _send(c, chunk):
        sent += 1000
    cut, how = _verdict(c, verdict_s)
    c.close()
    return Result(name, cut, how, sent, time.monotonic() - t0)


def settings_flood(port: int, n: int = 2_000_000, verdict_s: float = 10.0) -> Result:
    """SETTINGS frames whose ACKs the attacker never reads."""
    return _control_flood("settings_flood", port, F.settings((F.MAX_CONCURRENT_STREAMS, 100)), n, verdict_s)


def ping_flood(port: int, n: int = 2_000_000, verdict_s: float = 10.0) -> Result:
    """PINGs whose ACKs the attacker never reads."""
    return _control_flood("ping_flood", port, F.ping(b"floodflo"), n, verdict_s)


def empty_frames(port: int, n: int = 20000, verdict_s: float = 5.0) -> Result:
    """Empty DATA frames (no END_STREAM) on an open stream: free to send,
    they carry nothing."""
    c = _h2(port)
    t0 = time.monotonic()
    sent = 0
    if _send(c, F.headers(1, _req_block("/echo", "POST"), end_stream=False)):
        empty = F.data(1, b"") * 1000
        while sent < n and _send(c, empty):
            sent += 1000
    cut, how = _verdict(c, verdict_s)
    c.close()
    return Result("empty_frames", cut, how, sent, time.monotonic() - t0)


def hpack_bomb(port: int, n: int = 3000, refs: int = 4000, verdict_s: float = 5.0) -> Result:
    """A 4000-octet field put in the dynamic table once, then referenced
    `refs` times per block (one octet each: 16 MB of fields per 4 KB block),
    on n streams."""
    from expect import hstr
    c = _h2(port)
    t0 = time.monotonic()
    seed = _req_block() + b"\x40" + hstr("x-bomb") + hstr("a" * 4000)  # index 62
    sent = 0
    if _send(c, F.headers(1, seed)):
        sent = 1
        sid = 3
        bomb_tail = b"\xbe" * refs  # index 62 (the bomb) ... each one 4 KB
        while sent < n:
            frames = b"".join(F.headers(sid + 2 * i, _req_block() + bomb_tail[:16000]) for i in range(20))
            if not _send(c, frames):
                break
            sid += 40
            sent += 20
    cut, how = _verdict(c, verdict_s)
    c.close()
    return Result("hpack_bomb", cut, how, sent, time.monotonic() - t0)


def table_churn(port: int, n: int = 2000) -> Result:
    """Every request inserts a new 3000-octet field into the dynamic table,
    evicting the last: legal, so it is served; cost bounded by the 4 KiB
    table."""
    from expect import hstr
    c = _h2(port)
    t0 = time.monotonic()
    done = 0
    for i in range(n):
        sid = 1 + 2 * i
        c.send(F.headers(sid, _req_block() + b"\x40" + hstr(f"x-churn-{i}") + hstr((str(i) * 3000)[:3000])))
        status, _ = c.response(sid)
        if status != 200:
            break
        done += 1
    c.close()
    return Result("table_churn", False, "served (legal)", done, time.monotonic() - t0)


def zero_window_hold(port: int, streams: int = 50, size: int = 200_000, verdict_s: float = 15.0) -> Result:
    """INITIAL_WINDOW_SIZE 0, large answers asked for, no WINDOW_UPDATE ever:
    the server holds the answers unless it gives up on the connection."""
    c = _h2(port, (F.INITIAL_WINDOW_SIZE, 0))
    t0 = time.monotonic()
    c.send(b"".join(F.headers(1 + 2 * i, _req_block(f"/big?{size}")) for i in range(streams)))
    cut, how = _verdict(c, verdict_s)
    c.close()
    return Result("zero_window_hold", cut, how, streams, time.monotonic() - t0)


def slow_read(port: int, streams: int = 20, size: int = 1_000_000, verdict_s: float = 15.0) -> Result:
    """Large answers on an open window, but the attacker never reads the
    socket (tiny receive buffer)."""
    c = _h2(port, (F.INITIAL_WINDOW_SIZE, 0x7FFFFFFF), rcvbuf=4096)
    c.send(F.window_update(0, 0x7FFFFFFF - 65535))
    t0 = time.monotonic()
    c.send(b"".join(F.headers(1 + 2 * i, _req_block(f"/big?{size}")) for i in range(streams)))
    # not reading: wait, then see whether the socket is still open
    deadline = time.monotonic() + verdict_s
    cut = False
    while time.monotonic() < deadline:
        time.sleep(0.25)
        try:  # a peeked EOF or reset means the server closed
            c.sock.setblocking(False)
            try:
                c.sock.send(F.ping())
            except BlockingIOError:
                pass
        except OSError:
            cut = True
            break
    c.close()
    return Result("slow_read", cut, "close" if cut else "still open", streams, time.monotonic() - t0)


def stream_id_exhaustion(port: int, n: int = 3000) -> Result:
    """Many sequential streams on one connection (the server keeps no state
    per closed id beyond a bounded list), then the last stream id, then a
    HEADERS that cannot be newer."""
    c = _h2(port)
    t0 = time.monotonic()
    blk = _req_block()
    for i in range(n):
        sid = 1 + 2 * i
        c.send(F.headers(sid, blk))
        status, _ = c.response(sid)
        assert status == 200
    c.send(F.headers(0x7FFFFFFF, blk))
    status, _ = c.response(0x7FFFFFFF)
    assert status == 200
    c.send(F.headers(1 + 2 * n, blk))  # lower than 2^31-1: 5.1.1
    cut, how = _verdict(c, 5.0)
    c.close()
    return Result("stream_id_exhaustion", cut, how, n + 1, time.monotonic() - t0)


def tiny_data(port: int, n: int = 1_200_000, verdict_s: float = 5.0) -> Result:
    """A body sent one octet per DATA frame (10 octets on the wire for each)
    past max_body_size (1 MiB in SERVER_CONFIG)."""
    c = _h2(port)
    t0 = time.monotonic()
    sent = 0
    if _send(c, F.headers(1, _req_block("/echo", "POST"), end_stream=False)):
        chunk = F.data(1, b"x") * 10000
        while sent < n and _send(c, chunk):
            sent += 10000
    out = c.collect(lambda f: f.type == F.GOAWAY or (f.type == F.RST_STREAM and f.stream_id == 1), verdict_s)
    status = next((int(dict(f.fields)[":status"]) for f in out.frames if f.fields and f.stream_id == 1), None)
    rst = out.rst(1)
    c.close()
    cut = status == 413 or rst is not None or out.closed
    how = f"{status} + RST_STREAM({F.err_name(rst.error_code)})" if rst else f"{status}"
    return Result("tiny_data", cut, how, sent, time.monotonic() - t0)


def slow_bodies(port: int, streams: int = 100, verdict_s: float = 15.0) -> Result:
    """100 streams, each with a body that never ends: one octet per stream,
    then silence."""
    c = _h2(port)
    t0 = time.monotonic()
    blk = _req_block("/echo", "POST", extra=[("content-length", "1000")])
    c.send(b"".join(F.headers(1 + 2 * i, blk, end_stream=False) + F.data(1 + 2 * i, b"x")
                    for i in range(streams)))
    cut, how = _verdict(c, verdict_s)
    c.close()
    return Result("slow_bodies", cut, how, streams, time.monotonic() - t0)


def window_update_flood(port: int, n: int = 1_000_000, verdict_s: float = 10.0) -> Result:
    """WINDOW_UPDATE frames (increment 1, legal) on the connection, no
    request ever."""
    c = _h2(port)
    t0 = time.monotonic()
    chunk = F.window_update(0, 1) * 1000
    sent = 0
    while sent < n and _send(c, chunk):
        sent += 1000
    cut, how = _verdict(c, verdict_s)
    c.close()
    return Result("window_update_flood", cut, how, sent, time.monotonic() - t0)


# --------------------------------------------------------------------------
# HTTP/1.1 attacks

def _h1_verdict(s: socket.socket, timeout: float) -> tuple[bool, str, bytes]:
    s.settimeout(timeout)
    data = b""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return False, "still open", data
        except OSError:
            return True, "reset", data
        if not chunk:
            status = data[9:12].decode() if data.startswith(b"HTTP/1.1 ") else "-"
            return True, f"{status} + close" if data else "close", data
        data += chunk
    return False, "still open", data


def slowloris(port: int, conns: int = 50, interval: float = 0.5, verdict_s: float = 10.0) -> Result:
    """Request heads sent one header line every `interval`, never finished."""
    socks = [helpers.connect(port) for _ in range(conns)]
    t0 = time.monotonic()
    for s in socks:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    closed = 0
    deadline = t0 + verdict_s
    alive = list(socks)
    i = 0
    while alive and time.monotonic() < deadline:
        time.sleep(interval)
        for s in list(alive):
            try:
                s.sendall(b"X-%d: y\r\n" % i)
            except OSError:
                alive.remove(s)
                closed += 1
        i += 1
    for s in socks:
        s.close()
    return Result("slowloris", not alive, f"{closed}/{conns} closed", conns, time.monotonic() - t0)


def slow_body_h1(port: int, gap: float = 3.0, verdict_s: float = 15.0) -> Result:
    """A POST whose body (Content-Length 100000) comes an octet at a time,
    `gap` seconds apart (longer than body_timeout in SERVER_CONFIG)."""
    s = helpers.connect(port)
    t0 = time.monotonic()
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nx")
    cut, how, _ = False, "still open", b""
    while time.monotonic() - t0 < verdict_s:
        cut, how, _ = _h1_verdict(s, gap)
        if cut:
            break
        try:
            s.sendall(b"x")
        except OSError:
            cut, how = True, "close"
            break
    s.close()
    return Result("slow_body_h1", cut, how, 1, time.monotonic() - t0)


def pipeline_unread(port: int, n: int = 1_000_000, verdict_s: float = 10.0) -> Result:
    """n pipelined GETs, the answers never read (tiny receive buffer)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    t0 = time.monotonic()
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 1000
    sent = 0
    s.settimeout(2.0)
    while sent < n:
        try:
            s.sendall(req)
        except (socket.timeout, OSError):
            break  # the server stopped reading: backpressure
        sent += 1000
    # the server must not hold on for ever: it closes a peer that does not read
    deadline = time.monotonic() + verdict_s
    cut = False
    s.setblocking(False)
    while time.monotonic() < deadline and not cut:
        time.sleep(0.25)
        try:
            s.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        except BlockingIOError:
            pass
        except OSError:
            cut = True
    s.close()
    return Result("pipeline_unread", cut, "close" if cut else "still open", sent, time.monotonic() - t0)


def _h1_one(port: int, raw: bytes, timeout: float = 5.0) -> tuple[bool, str, bytes]:
    s = helpers.connect(port)
    try:
        s.sendall(raw)
        return _h1_verdict(s, timeout)
    finally:
        s.close()


H1_BAD = {
    "many_headers": b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(500)) + b"\r\n",
    "huge_header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    "cl_and_te": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    "double_cl": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
    "te_not_chunked_last": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "chunk_size_not_hex": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "chunk_size_overflow": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"fffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
    "chunk_no_crlf": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n",
    "bare_cr": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n",
}


def h1_bad_request(port: int, case: str) -> Result:
    """A header bomb or a smuggling shape: answered 4xx, then closed, and
    nothing after it is answered."""
    t0 = time.monotonic()
    cut, how, data = _h1_one(port, H1_BAD[case])
    answers = data.count(b"HTTP/1.1 ")
    status = data[9:12].decode() if data.startswith(b"HTTP/1.1 ") else None
    return Result(f"h1_{case}", cut and answers == 1 and status is not None and status.startswith("4"),
                  how, 1, time.monotonic() - t0, {"status": status, "answers": answers})


H2_ATTACKS = ["rapid_reset", "continuation_flood", "made_you_reset", "settings_flood", "ping_flood",
              "empty_frames", "hpack_bomb", "table_churn", "zero_window_hold", "slow_read",
              "stream_id_exhaustion", "tiny_data", "slow_bodies", "window_update_flood"]
H1_ATTACKS = ["slowloris", "slow_body_h1", "pipeline_unread"]
