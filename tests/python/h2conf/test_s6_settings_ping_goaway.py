"""RFC 9113 6.5 (SETTINGS), 6.7 (PING), 6.8 (GOAWAY): connection-level frames."""
import struct

import pytest

import h2frames as F
from expect import assert_serves, block, conn_error, ping_answered, req


# -- 6.5 SETTINGS ----------------------------------------------------------------------

def test_6_5_settings_acknowledged(h2):
    """6.5.3: the server acknowledges each SETTINGS frame with an empty ACK."""
    c = h2()
    c.send(F.settings((F.HEADER_TABLE_SIZE, 8192)), F.settings((F.MAX_FRAME_SIZE, 20000)))
    out = c.collect(lambda f: False, 1.0)
    acks = [f for f in out.frames if f.type == F.SETTINGS and f.flags & F.ACK]
    assert len(acks) == 2 and all(not f.payload for f in acks), out.describe()
    assert_serves(c)


def test_6_5_settings_ack_with_payload_frame_size_error(h2):
    """6.5: a SETTINGS ACK with a payload is a connection error FRAME_SIZE_ERROR."""
    c = h2()
    c.send(F.frame(F.SETTINGS, F.ACK, 0, struct.pack(">HI", F.ENABLE_PUSH, 0)))
    conn_error(c, F.FRAME_SIZE_ERROR)


def test_6_5_settings_on_stream_protocol_error(h2):
    """6.5: SETTINGS on a stream other than 0 is a connection error PROTOCOL_ERROR."""
    c = h2()
    c.send(F.frame(F.SETTINGS, 0, 1, b""))
    conn_error(c, F.PROTOCOL_ERROR)


@pytest.mark.parametrize("length", [1, 5, 7])
def test_6_5_settings_length_not_multiple_of_6(h2, length):
    """6.5: a SETTINGS length that is not a multiple of 6 is a connection
    error FRAME_SIZE_ERROR."""
    c = h2()
    c.send(F.frame(F.SETTINGS, 0, 0, b"\0" * length))
    conn_error(c, F.FRAME_SIZE_ERROR)


@pytest.mark.parametrize("ident,value,code", [
    (F.ENABLE_PUSH, 2, F.PROTOCOL_ERROR),
    (F.ENABLE_PUSH, 0xFFFFFFFF, F.PROTOCOL_ERROR),
    (F.INITIAL_WINDOW_SIZE, 0x80000000, F.FLOW_CONTROL_ERROR),
    (F.INITIAL_WINDOW_SIZE, 0xFFFFFFFF, F.FLOW_CONTROL_ERROR),
    (F.MAX_FRAME_SIZE, 16383, F.PROTOCOL_ERROR),
    (F.MAX_FRAME_SIZE, 0, F.PROTOCOL_ERROR),
    (F.MAX_FRAME_SIZE, 1 << 24, F.PROTOCOL_ERROR),
], ids=["push=2", "push=max", "window=2^31", "window=max", "frame=16383", "frame=0", "frame=2^24"])
def test_6_5_2_setting_out_of_range(h2, ident, value, code):
    """6.5.2: ENABLE_PUSH other than 0/1 and MAX_FRAME_SIZE outside
    [2^14, 2^24-1] are PROTOCOL_ERROR, INITIAL_WINDOW_SIZE above 2^31-1
    FLOW_CONTROL_ERROR; all connection errors."""
    c = h2()
    c.send(F.settings((ident, value)))
    conn_error(c, code)


@pytest.mark.parametrize("ident,value", [
    (F.ENABLE_PUSH, 0), (F.ENABLE_PUSH, 1), (F.INITIAL_WINDOW_SIZE, 0x7FFFFFFF),
    (F.MAX_FRAME_SIZE, 16384), (F.MAX_FRAME_SIZE, (1 << 24) - 1), (F.HEADER_TABLE_SIZE, 0),
    (F.MAX_CONCURRENT_STREAMS, 0), (F.MAX_HEADER_LIST_SIZE, 1 << 20),
])
def test_6_5_2_setting_in_range_accepted(h2, ident, value):
    """6.5.2: the boundary values are legal and the connection serves on."""
    c = h2((ident, value))
    assert_serves(c)


def test_6_5_3_settings_applied_in_order(h2):
    """6.5.3: values are processed in the order they appear: the last
    INITIAL_WINDOW_SIZE of the frame (100) is the one that counts."""
    c = h2((F.INITIAL_WINDOW_SIZE, 1), (F.INITIAL_WINDOW_SIZE, 100))
    sid = c.new_stream()
    c.send(F.headers(sid, block(*req(c, path="/big?1000"))))
    out = c.collect(lambda f: False, 1.0)
    got = sum(len(f.payload) for f in out.frames if f.type == F.DATA and f.stream_id == sid)
    if h2.name != "nghttpd":
        assert got == 100, out.describe()


def test_6_5_3_header_table_size_0_honoured(h2):
    """6.5.2/RFC 7541 4.2: with our HEADER_TABLE_SIZE 0 the server's encoder
    MUST NOT use the dynamic table (our decoder, limited to 0, decodes all)."""
    c = h2((F.HEADER_TABLE_SIZE, 0))
    c.dec.max_allowed_table_size = 0
    for _ in range(3):
        assert_serves(c)


# -- 6.7 PING ------------------------------------------------------------------------

def test_6_7_ping_ack_echoes_payload(h2):
    """6.7: a PING is answered by a PING with ACK and the same 8 octets."""
    c = h2()
    ping_answered(c, b"\x01\x02\x03\x04\x05\x06\x07\x08")


def test_6_7_ping_ack_not_answered(h2):
    """6.7: a PING with ACK MUST NOT be answered."""
    c = h2()
    c.send(F.ping(b"ackackac", ack=True))
    out = c.collect(lambda f: f.type == F.PING, 1.0)
    assert not any(f.type == F.PING for f in out.frames), out.describe()
    assert_serves(c)


@pytest.mark.parametrize("length", [0, 7, 9])
def test_6_7_ping_bad_length_frame_size_error(h2, length):
    """6.7: a PING whose length is not 8 is a connection error FRAME_SIZE_ERROR."""
    c = h2()
    c.send(F.frame(F.PING, 0, 0, b"p" * length))
    conn_error(c, F.FRAME_SIZE_ERROR)


def test_6_7_ping_on_stream_protocol_error(h2):
    """6.7: a PING on a stream other than 0 is a connection error PROTOCOL_ERROR."""
    c = h2()
    c.send(F.frame(F.PING, 0, 1, b"p" * 8))
    conn_error(c, F.PROTOCOL_ERROR)


# -- 6.8 GOAWAY ------------------------------------------------------------------------

def test_6_8_goaway_on_stream_protocol_error(h2):
    """6.8: GOAWAY on a stream other than 0 is a connection error PROTOCOL_ERROR."""
    c = h2()
    c.send(F.frame(F.GOAWAY, 0, 1, struct.pack(">II", 0, 0)))
    conn_error(c, F.PROTOCOL_ERROR)


def test_6_8_goaway_short_frame_size_error(h2):
    """6.8: a GOAWAY shorter than 8 octets is a connection error FRAME_SIZE_ERROR."""
    c = h2()
    c.send(F.frame(F.GOAWAY, 0, 0, b"\0" * 7))
    conn_error(c, F.FRAME_SIZE_ERROR)


def test_6_8_client_goaway_in_flight_answered(h2):
    """6.8: after the client's GOAWAY the server still finishes the streams
    the client opened before it, then closes."""
    c = h2()
    sid = c.request(path="/")
    c.send(F.goaway(0, F.NO_ERROR, b"bye"))  # 0: we accepted no pushed streams
    status, body = c.response(sid)
    assert status == 200
    out = c.collect(lambda f: False, 5.0)
    assert out.closed, out.describe()


def test_7_unknown_error_code_in_goaway(h2):
    """7: a GOAWAY with an unknown error code is a GOAWAY like any other."""
    c = h2()
    sid = c.request(path="/")
    c.send(F.goaway(0, 0xBEEF))
    status, _ = c.response(sid)
    assert status == 200
