"""RFC 7692: permessage-deflate.  Negotiation (section 5 and 7.1: a server
declines an offer it cannot accept, with an unknown or duplicated parameter
or an invalid value, and takes the next one) and framing (6: RSV1 marks a
compressed message on its first frame only; control frames never)."""
import zlib

import pytest

from wsx import BINARY, CONT, PING, TEXT, expect_close, frame

PMD = "Sec-WebSocket-Extensions"


def negotiated(ws, offer):
    """The Sec-WebSocket-Extensions of the 101 for offer (None: declined)."""
    c = ws.open("/zws", headers={PMD: offer})
    return c, c.response.header("sec-websocket-extensions")


def params(ext):
    parts = [p.strip() for p in ext.split(";")]
    assert parts[0] == "permessage-deflate", ext
    return parts[1:]


class Deflater:
    """A client compressor: raw deflate, sync-flushed, tail 00 00 ff ff cut."""

    def __init__(self, bits=15):
        self.z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -bits)

    def __call__(self, data: bytes) -> bytes:
        out = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]


def inflate(payload: bytes, z=None) -> bytes:
    z = z or zlib.decompressobj(-15)
    return z.decompress(payload + b"\x00\x00\xff\xff")


def read_message(c):
    """The next message: (first frame, payload inflated when RSV1 is set,
    with the connection's inflater: the server keeps its context unless
    server_no_context_takeover was agreed)."""
    first = c.read_frame()
    parts = [first.payload]
    f = first
    while not f.fin:
        f = c.read_frame()
        assert f.opcode == CONT and f.rsv == 0, f
        parts.append(f.payload)
    data = b"".join(parts)
    if first.rsv & 0b100:
        if not hasattr(c, "inflater"):
            c.inflater = zlib.decompressobj(-15)
        data = inflate(data, c.inflater)
    return first, data


def test_7692_5_accepted_plain_offer(ws):
    """5 / 7: a plain offer is accepted: the 101 names permessage-deflate."""
    _, ext = negotiated(ws, "permessage-deflate")
    assert ext is not None and params(ext) == [], ext


def test_7692_5_not_offered_not_used(ws):
    """5: the server MUST NOT answer with an extension the client did not
    offer, and then sends no RSV1 frames."""
    c = ws.open("/zws")
    assert c.response.header("sec-websocket-extensions") is None
    c.send(frame(TEXT, b"a" * 200))
    f, data = read_message(c)
    assert f.rsv == 0 and data == b"a" * 200


def test_7692_7_1_1_1_server_no_context_takeover(ws):
    """7.1.1.1: server_no_context_takeover offered: the server includes it
    and compresses each message with a fresh window (each one inflates on
    its own)."""
    c, ext = negotiated(ws, "permessage-deflate; server_no_context_takeover")
    assert "server_no_context_takeover" in params(ext), ext
    d = Deflater()
    for _ in range(2):
        c.send(frame(TEXT, d(b"hello hello hello hello"), rsv=0b100))
        f, data = read_message(c)
        got = data
        assert got == b"hello hello hello hello"
        assert inflate(f.payload) == got  # a fresh inflater: no context used


def test_7692_7_1_1_2_client_no_context_takeover(ws):
    """7.1.1.2: client_no_context_takeover offered: the server MAY include
    it (we do); the client then resets its window per message."""
    c, ext = negotiated(ws, "permessage-deflate; client_no_context_takeover")
    assert "client_no_context_takeover" in params(ext), ext
    for _ in range(2):
        c.send(frame(TEXT, Deflater()(b"abcabcabc"), rsv=0b100))
        f, data = read_message(c)
        assert data == b"abcabcabc"


def test_7692_7_context_takeover_kept(ws):
    """7.1.1.2: without client_no_context_takeover the client may use the
    previous messages' window: the server's inflater keeps it."""
    c, ext = negotiated(ws, "permessage-deflate")
    d = Deflater()
    for i in range(3):
        msg = b"repeated text, repeated text %d" % i
        c.send(frame(TEXT, d(msg), rsv=0b100))
        f, data = read_message(c)
        got = data
        assert got == msg, (i, got)


@pytest.mark.parametrize("bits", [9, 10, 12, 15, '"11"'])
def test_7692_7_1_2_1_server_max_window_bits(ws, bits):
    """7.1.2.1: server_max_window_bits=N (8-15): the server MUST use a
    window of at most 2^N and names it in its answer (15 is the default,
    so it may be left out)."""
    _, ext = negotiated(ws, f"permessage-deflate; server_max_window_bits={bits}")
    assert ext is not None
    p = params(ext)
    n = int(str(bits).strip('"'))  # RFC 6455 9.1: a quoted-string value is its token
    if n < 15:
        assert f"server_max_window_bits={n}" in p, ext


def test_7692_7_1_2_1_server_max_window_bits_8_declined(ws):
    """7.1.2.1: server_max_window_bits=8 is in range, but zlib cannot make
    a raw deflate stream with a 256-byte window: we decline that offer
    (a server may decline any offer, 5) and take the next."""
    _, ext = negotiated(ws, "permessage-deflate; server_max_window_bits=8, permessage-deflate")
    assert ext is not None and params(ext) == [], ext


@pytest.mark.parametrize("value", ["7", "16", "0", "010", "abc", "", '"16"'])
def test_7692_7_1_2_1_server_max_window_bits_invalid_declined(ws, value):
    """7.1.2.1: a value outside 8-15 (or not a plain decimal; a missing
    value): the server MUST decline the offer."""
    _, ext = negotiated(ws, f"permessage-deflate; server_max_window_bits={value}".rstrip("="))
    assert ext is None, ext


@pytest.mark.parametrize("offer", ["permessage-deflate; client_max_window_bits",
                                   "permessage-deflate; client_max_window_bits=10",
                                   "permessage-deflate; client_max_window_bits=15"])
def test_7692_7_1_2_2_client_max_window_bits(ws, offer):
    """7.1.2.2: client_max_window_bits with or without a value is accepted;
    the server MUST NOT answer with a value larger than offered (nor with
    it at all when it was not offered)."""
    c, ext = negotiated(ws, offer)
    assert ext is not None
    for p in params(ext):
        if p.startswith("client_max_window_bits"):
            v = int(p.split("=")[1])
            if "=" in offer:
                assert v <= int(offer.split("=")[1]), ext
    c.send(frame(BINARY, Deflater(10)(b"small window" * 10), rsv=0b100))
    assert read_message(c)[1] == b"small window" * 10


@pytest.mark.parametrize("value", ["7", "16", "x"])
def test_7692_7_1_2_2_client_max_window_bits_invalid_declined(ws, value):
    """7.1.2.2: a client_max_window_bits value outside 8-15: decline."""
    _, ext = negotiated(ws, f"permessage-deflate; client_max_window_bits={value}")
    assert ext is None, ext


def test_7692_7_1_no_client_max_window_bits_not_answered(ws):
    """7.1.2.2: if the offer has no client_max_window_bits, the answer MUST
    NOT have one."""
    _, ext = negotiated(ws, "permessage-deflate; server_no_context_takeover")
    assert not any(p.startswith("client_max_window_bits") for p in params(ext)), ext


@pytest.mark.parametrize("offer", ["permessage-deflate; foo", "permessage-deflate; foo=1",
                                   "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                                   "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
                                   "permessage-deflate; server_no_context_takeover=1"])
def test_7692_7_unknown_or_duplicate_parameter_declined(ws, offer):
    """7: an offer with an unknown parameter, a parameter twice, or a value
    where none is defined MUST be declined; the next offer is taken."""
    _, ext = negotiated(ws, offer)
    assert ext is None, ext
    _, ext = negotiated(ws, offer + ", permessage-deflate; client_no_context_takeover")
    assert ext is not None and params(ext) == ["client_no_context_takeover"], ext


def test_7692_6_compressed_roundtrip(ws):
    """6.1/6.2: a message with RSV1 on its first frame is inflated; a
    fragmented compressed message has RSV1 on the first frame only."""
    c, _ = negotiated(ws, "permessage-deflate")
    d = Deflater()
    payload = d(b"fragmented compressed message " * 20)
    half = len(payload) // 2
    c.send(frame(TEXT, payload[:half], fin=False, rsv=0b100), frame(CONT, payload[half:]))
    f, data = read_message(c)
    assert data == b"fragmented compressed message " * 20


def test_7692_6_uncompressed_message_allowed(ws):
    """6: with the extension in use a message without RSV1 is sent as is."""
    c, _ = negotiated(ws, "permessage-deflate")
    c.send(frame(BINARY, b"raw"))
    f, data = read_message(c)
    assert data == b"raw"


def test_7692_6_1_rsv1_on_control_frame_1002(ws):
    """6.1: RSV1 is for data messages; a control frame with it: 1002."""
    c, _ = negotiated(ws, "permessage-deflate")
    c.send(frame(PING, b"x", rsv=0b100))
    expect_close(c, 1002)


def test_7692_6_1_rsv1_on_continuation_1002(ws):
    """6.1: RSV1 only on the first frame of a message; on a continuation
    frame it is a protocol error: 1002."""
    c, _ = negotiated(ws, "permessage-deflate")
    d = Deflater()
    p = d(b"abcdef")
    c.send(frame(TEXT, p[:2], fin=False, rsv=0b100), frame(CONT, p[2:], rsv=0b100))
    expect_close(c, 1002)


@pytest.mark.parametrize("rsv", [0b010, 0b001])
def test_7692_6_other_rsv_bits_1002(ws, rsv):
    """5.2 (RFC 6455): permessage-deflate defines only RSV1; RSV2/RSV3
    still fail the connection: 1002."""
    c, _ = negotiated(ws, "permessage-deflate")
    c.send(frame(TEXT, b"x", rsv=rsv))
    expect_close(c, 1002)


def test_7692_6_2_bad_deflate_data_1007(ws):
    """6.2: a compressed payload that does not inflate is invalid data: we
    fail the connection with 1007 (RFC 7692 names no code; 1007 is RFC
    6455's "data not consistent with the type of the message")."""
    c, _ = negotiated(ws, "permessage-deflate")
    c.send(frame(BINARY, b"\xff\xff\xff\xff\xff", rsv=0b100))
    expect_close(c, 1007)


def test_7692_websockets_client(ws):
    """7: a client we did not write (websockets, permessage-deflate on by
    default) negotiates and exchanges compressed messages."""
    import asyncio

    import websockets

    async def go():
        kw = {"ssl": ws.tls_ctx} if ws.tls_ctx else {}
        scheme = "wss" if ws.tls_ctx else "ws"
        async with websockets.connect(f"{scheme}://localhost:{ws.port}/zws", **kw) as w:
            assert w.response.headers.get("sec-websocket-extensions", "").startswith("permessage-deflate")
            for i in range(3):
                msg = "compress me " * 50 + str(i)
                await w.send(msg)
                assert await w.recv() == msg
    asyncio.run(asyncio.wait_for(go(), 20))
