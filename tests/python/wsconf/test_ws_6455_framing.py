"""RFC 6455 section 5 (framing), 7.4 (close codes), 8.1 (UTF-8): each
protocol violation by the client fails the connection with the exact
close code (1002 protocol error, 1007 invalid data), after which the
server sends nothing and closes TCP; a new WebSocket is then served."""
import struct

import pytest

from wsx import (BINARY, CLOSE, CONT, PING, PONG, TEXT, close_payload, echo_ok, expect_close,
                 frame)


def fails(ws, code, *frames, path="/ws"):
    c = ws.open(path)
    c.send(*frames)
    expect_close(c, code)
    echo_ok(ws.open(path))  # the server still serves


def test_5_1_server_frames_unmasked(ws):
    """5.1: a server MUST NOT mask frames (every read_frame checks it):
    text and binary echoes, small and 64 KiB."""
    c = ws.open()
    for op, data in [(TEXT, b"hi"), (BINARY, b"\x00" * 200), (BINARY, b"y" * 70000)]:
        c.send(frame(op, data))
        assert c.message() == (op, data)


def test_5_1_unmasked_client_frame_1002(ws):
    """5.1: a server MUST close the connection on an unmasked client frame
    (status 1002)."""
    fails(ws, 1002, frame(TEXT, b"hi", mask=False))


@pytest.mark.parametrize("rsv", [0b100, 0b010, 0b001])
def test_5_2_rsv_without_extension_1002(ws, rsv):
    """5.2: a nonzero RSV bit with no extension negotiated that defines it:
    fail the connection (1002)."""
    fails(ws, 1002, frame(TEXT, b"hi", rsv=rsv))


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_5_2_unknown_opcode_1002(ws, opcode):
    """5.2: an unknown (reserved) opcode: fail the connection (1002)."""
    fails(ws, 1002, frame(opcode, b"x"))


def test_5_2_64bit_length_msb_1002(ws):
    """5.2: the most significant bit of a 64-bit payload length MUST be 0:
    a frame with it set fails the connection (1002)."""
    c = ws.open()
    c.send(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 63) + b"\x00\x00\x00\x00")
    expect_close(c, 1002)


def test_5_2_non_minimal_length_1002(ws):
    """5.2: "the minimal number of bytes MUST be used to encode the length":
    a 3-byte payload in the 16-bit form breaks it; we fail the connection
    (1002), the strict reading (kept on purpose)."""
    key = b"\x01\x02\x03\x04"
    payload = b"abc"
    fails(ws, 1002, bytes([0x82, 0x80 | 126]) + struct.pack("!H", 3) + key +
          bytes(b ^ key[i % 4] for i, b in enumerate(payload)))


def test_5_4_fragmented_message(ws):
    """5.4: a fragmented message (text, continuation, final continuation)
    is one message; control frames MAY be injected between fragments and
    are answered at once."""
    c = ws.open()
    c.send(frame(TEXT, b"he", fin=False), frame(PING, b"p"), frame(CONT, b"ll", fin=False),
           frame(CONT, b"o"))
    f = c.read_frame()
    assert f.opcode == PONG and f.payload == b"p", f
    assert c.message() == (TEXT, b"hello")


def test_5_4_continuation_without_start_1002(ws):
    """5.4: a continuation frame with no message started: 1002."""
    fails(ws, 1002, frame(CONT, b"x"))


@pytest.mark.parametrize("op", [TEXT, BINARY])
def test_5_4_new_data_frame_during_fragmented_1002(ws, op):
    """5.4: a new data frame (not a continuation) while a fragmented
    message is open: 1002."""
    fails(ws, 1002, frame(TEXT, b"he", fin=False), frame(op, b"llo"))


@pytest.mark.parametrize("op", [PING, PONG, CLOSE])
def test_5_5_control_frame_fragmented_1002(ws, op):
    """5.5: control frames MUST NOT be fragmented (FIN 0): 1002."""
    fails(ws, 1002, frame(op, b"", fin=False))


@pytest.mark.parametrize("op", [PING, PONG, CLOSE])
def test_5_5_control_frame_over_125_1002(ws, op):
    """5.5: control frames have a payload of at most 125 bytes: 1002."""
    payload = close_payload(1000, b"x" * 124) if op == CLOSE else b"x" * 126
    fails(ws, 1002, frame(op, payload))


def test_5_5_control_frame_125_ok(ws):
    """5.5: a 125-byte ping is allowed and answered."""
    c = ws.open()
    c.send(frame(PING, b"p" * 125))
    f = c.read_frame()
    assert f.opcode == PONG and f.payload == b"p" * 125


@pytest.mark.parametrize("payload", [b"", b"ping-data", bytes(range(125))])
def test_5_5_2_ping_answered_with_same_payload(ws, payload):
    """5.5.2/5.5.3: a Ping MUST be answered with a Pong carrying the same
    application data."""
    c = ws.open()
    c.send(frame(PING, payload))
    f = c.read_frame()
    assert f.opcode == PONG and f.fin and f.payload == payload, f
    echo_ok(c)


def test_5_5_3_unsolicited_pong_ignored(ws):
    """5.5.3: an unsolicited Pong is allowed; no answer is expected."""
    c = ws.open()
    c.send(frame(PONG, b"heartbeat"))
    echo_ok(c)


def test_5_5_1_close_echoed_then_nothing(ws):
    """5.5.1: on a Close the server answers with a Close (echoing the
    code), sends no more data frames and closes TCP."""
    c = ws.open()
    c.send(frame(CLOSE, close_payload(1000, b"bye")), frame(TEXT, b"after close"))
    f = expect_close(c, 1000)
    assert f.fin


def test_5_5_1_close_without_code(ws):
    """5.5.1/7.1.5: a Close with no body is fine; the answer carries no code
    or 1000."""
    c = ws.open()
    c.send(frame(CLOSE))
    f = c.read_frame()
    assert f.opcode == CLOSE and f.close_code in (None, 1000), f
    assert c.closed()


def test_5_5_1_close_length_1_1002(ws):
    """5.5.1: a Close body, if any, starts with a 2-byte code: a body of
    one byte is a protocol error (1002)."""
    fails(ws, 1002, frame(CLOSE, b"\x03"))


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                  1012, 1013, 1014, 3000, 3999, 4000, 4999])
def test_7_4_allowed_close_codes(ws, code):
    """7.4.1/7.4.2: codes defined by the RFC and the IANA registry
    (1000-1003, 1007-1014) and the 3000-4999 ranges are valid on the wire:
    the server closes normally (echoes the code)."""
    c = ws.open()
    c.send(frame(CLOSE, close_payload(code, b"r")))
    expect_close(c, code)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_7_4_invalid_close_codes_1002(ws, code):
    """7.4.1/7.4.2: 0-999, 1004 (reserved), 1005, 1006, 1015 (never on the
    wire), 1016-2999 (unassigned) and above 4999: protocol error 1002."""
    fails(ws, 1002, frame(CLOSE, close_payload(code)))


@pytest.mark.parametrize("data", [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
                                  b"ok\xe2\x82"])
def test_8_1_invalid_utf8_text_1007(ws, data):
    """8.1: a text message that is not valid UTF-8 (bad byte, truncated,
    surrogate, above U+10FFFF, overlong) fails the connection with 1007."""
    fails(ws, 1007, frame(TEXT, data))


def test_8_1_invalid_utf8_across_fragments_1007(ws):
    """8.1: validity is of the whole message: a fragment boundary inside a
    code point is fine, an invalid sequence across fragments is 1007."""
    c = ws.open()
    c.send(frame(TEXT, b"\xe2\x82", fin=False), frame(CONT, b"\xac"))  # U+20AC split
    assert c.message() == (TEXT, "€".encode())
    c.send(frame(TEXT, b"\xe2\x82", fin=False), frame(CONT, b"\x41"))
    expect_close(c, 1007)


def test_7_1_6_invalid_utf8_close_reason_1007(ws):
    """5.5.1 / 8.1: a Close reason that is not UTF-8: 1007."""
    fails(ws, 1007, frame(CLOSE, close_payload(1000, b"\xff\xfe")))


def test_5_6_binary_any_bytes(ws):
    """5.6: binary payloads are arbitrary bytes (not checked as UTF-8)."""
    c = ws.open()
    c.send(frame(BINARY, b"\xff\xfe\x00"))
    assert c.message() == (BINARY, b"\xff\xfe\x00")


def test_5_8_empty_frames(ws):
    """5.2: zero-length data frames are valid (an empty message, and an
    empty first fragment)."""
    c = ws.open()
    c.send(frame(TEXT, b""))
    assert c.message() == (TEXT, b"")
    c.send(frame(BINARY, b"", fin=False), frame(CONT, b"x"))
    assert c.message() == (BINARY, b"x")
