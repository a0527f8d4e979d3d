"""What the suite asserts about the server's reaction to a test's frames.

RFC 9113 5.4: a connection error is a GOAWAY with the error code, after which
the connection closes; a stream error is a RST_STREAM on that stream with the
code, and the connection goes on serving (checked with a fresh request).
Field blocks are written by hand here (literal fields, no indexing) so that
a test controls every byte: uppercase names, bad HPACK, pseudo-header order.
"""
from __future__ import annotations

import h2frames as F


def _rst_or_goaway(sid):
    return lambda f: f.type == F.GOAWAY or (f.type == F.RST_STREAM and f.stream_id == sid)


def conn_error(c: F.RawH2, code: int, timeout: float = 5.0) -> F.Frame:
    """The server answers with GOAWAY(code), then closes the connection."""
    out = c.collect(lambda f: f.type == F.GOAWAY, timeout)
    g = out.goaway()
    assert g is not None, f"expected GOAWAY({F.err_name(code)}), got {out.describe()}"
    assert g.error_code == code, f"GOAWAY {F.err_name(g.error_code)} != {F.err_name(code)}: {out.describe()}"
    if not out.closed:
        rest = c.collect(lambda f: False, 5.0)
        assert rest.closed, f"connection still open after GOAWAY: {rest.describe()}"
    return g


def stream_error(c: F.RawH2, sid: int, code: int, timeout: float = 5.0, serves: bool = True) -> None:
    """The server resets stream sid with code and the connection lives on."""
    out = c.collect(_rst_or_goaway(sid), timeout)
    assert out.goaway() is None, f"connection error instead of a stream error: {out.describe()}"
    r = out.rst(sid)
    assert r is not None, f"expected RST_STREAM({F.err_name(code)}) on {sid}, got {out.describe()}"
    assert r.error_code == code, f"RST_STREAM {F.err_name(r.error_code)} != {F.err_name(code)}: {out.describe()}"
    if serves:
        assert_serves(c)


def assert_serves(c: F.RawH2) -> None:
    """The connection still answers a request (and so did not fail)."""
    sid = c.request(path="/")
    status, body = c.response(sid)
    assert status == 200 and body, (status, body)


def ping_answered(c: F.RawH2, payload: bytes = b"alive?!!") -> None:
    """A PING is acknowledged with its payload: the connection is alive."""
    c.send(F.ping(payload))
    out = c.collect(lambda f: f.type in (F.GOAWAY,) or (f.type == F.PING and f.flags & F.ACK), 5.0)
    ack = [f for f in out.frames if f.type == F.PING and f.flags & F.ACK]
    assert ack and ack[0].payload == payload and out.goaway() is None, out.describe()


# --------------------------------------------------------------------------
# field blocks by hand (RFC 7541)

def hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """An HPACK integer (RFC 7541 5.1) with the high bits of its first octet."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hstr(s) -> bytes:
    b = s.encode("latin-1") if isinstance(s, str) else s
    return hpack_int(len(b), 7) + b


def lit(name, value) -> bytes:
    """Literal field without indexing, new name (RFC 7541 6.2.2)."""
    return b"\x00" + hstr(name) + hstr(value)


def block(*fields) -> bytes:
    return b"".join(lit(n, v) for n, v in fields)


def req(c: F.RawH2, method="GET", path="/", authority="localhost", extra=(), scheme=None):
    """The fields of a valid request, in order, for block()."""
    return [(":method", method), (":scheme", scheme or c.scheme), (":path", path),
            (":authority", authority), *extra]


def send_block(c: F.RawH2, fields, end_stream: bool = True, sid: int | None = None) -> int:
    """A HEADERS frame with a hand-written block of fields; returns its stream."""
    sid = c.new_stream() if sid is None else sid
    c.send(F.headers(sid, block(*fields), end_stream=end_stream))
    return sid
