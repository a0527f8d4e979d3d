"""RFC 8441: WebSockets over HTTP/2 (extended CONNECT), over h2c prior
knowledge and TLS with ALPN h2.  A malformed extended CONNECT is a stream
error PROTOCOL_ERROR (RFC 9113 8.1.1): RST_STREAM on that stream and the
connection goes on serving."""
import pytest

import h2frames as F
import helpers
from conftest import tls_context
from wsx import BINARY, CLOSE, PING, PONG, TEXT, close_payload, frame

ENABLE_CONNECT_PROTOCOL = 0x8


@pytest.fixture(scope="session")
def h2_plain_no_ws(tmp_path_factory):
    """A server without WebSocket routes (apps/conformance.py)."""
    yield from helpers.module_server("conformance.py", tmp_path_factory, "wsconf-nows",
                                     num_pinned_workers=1)


@pytest.fixture(params=["prior", "tls"])
def h2(request):
    conns = []
    if request.param == "tls":
        port = request.getfixturevalue("ws_tls_server").port
    else:
        port = request.getfixturevalue("ws_plain_server").port

    def make(port=port, tls=request.param == "tls"):
        s = helpers.connect(port)
        if tls:
            s = tls_context("h2").wrap_socket(s, server_hostname="localhost")
            assert s.selected_alpn_protocol() == "h2"
        c = F.RawH2(s)
        c.scheme = "https" if tls else "http"
        c.handshake()
        conns.append(c)
        return c
    yield make
    for c in conns:
        c.close()


def connect_fields(c, path="/ws", protocol="websocket", drop=(), method="CONNECT", extra=()):
    fields = [(":method", method), (":protocol", protocol), (":scheme", c.scheme), (":path", path),
              (":authority", "localhost"), ("sec-websocket-version", "13"), *extra]
    return [f for f in fields if f[0] not in drop and f[1] is not None]


def open_ws(c, path="/ws", extra=()):
    sid = c.new_stream()
    c.send(F.headers(sid, c.enc.block(connect_fields(c, path, extra=extra)), end_stream=False))
    out = c.collect(lambda f: f.stream_id == sid and f.fields is not None, 5)
    hf = [f for f in out.frames if f.stream_id == sid and f.fields is not None]
    assert hf, out.describe()
    fields = dict(hf[0].fields)
    return sid, fields, hf[0]


def ws_frames(c, sid, timeout=5.0, until=None):
    """The WebSocket frames in the DATA of stream sid until until(frame)."""
    buf, frames, ended = b"", [], False
    while True:
        out = c.collect(lambda f: f.stream_id == sid and f.type in (F.DATA, F.RST_STREAM), timeout)
        got = [f for f in out.frames if f.stream_id == sid]
        if not got:
            return frames, ended, out
        f = got[-1]
        if f.type == F.RST_STREAM:
            return frames, "rst", out
        buf += f.payload
        c.send(F.window_update(0, len(f.payload)) if f.payload else b"")
        while len(buf) >= 2:
            n = buf[1] & 0x7F
            off = 2 + (2 if n == 126 else 8 if n == 127 else 0)
            if n >= 126:
                n = int.from_bytes(buf[2:off], "big")
            if len(buf) < off + n:
                break
            assert not buf[1] & 0x80, "server frames are unmasked"
            frames.append((buf[0] & 0x0F, buf[off:off + n]))
            buf = buf[off + n:]
        if f.flags & F.END_STREAM:
            return frames, True, out
        if until and frames and until(frames[-1]):
            return frames, False, out


def stream_error(c, sid, code=F.PROTOCOL_ERROR):
    out = c.collect(lambda f: f.type == F.GOAWAY or (f.type == F.RST_STREAM and f.stream_id == sid), 5)
    assert out.goaway() is None, out.describe()
    r = out.rst(sid)
    assert r is not None and r.error_code == code, out.describe()
    sid2 = c.request(path="/")
    status, body = c.response(sid2)
    assert status == 200, status


def test_8441_3_setting_sent(h2):
    """3: a server that supports extended CONNECT sends
    SETTINGS_ENABLE_CONNECT_PROTOCOL = 1."""
    c = h2()
    assert c.peer_settings.get(ENABLE_CONNECT_PROTOCOL) == 1, c.peer_settings


def test_8441_3_no_setting_without_ws_routes(h2_plain_no_ws):
    """3: without WebSocket routes there is nothing to CONNECT to: the
    setting is not sent, and a :protocol request is then malformed
    (3: a client MUST NOT send :protocol before the setting; 4: the
    stream error PROTOCOL_ERROR)."""
    s = helpers.connect(h2_plain_no_ws.port)
    c = F.RawH2(s)
    c.handshake()
    assert c.peer_settings.get(ENABLE_CONNECT_PROTOCOL, 0) == 0, c.peer_settings
    sid = c.new_stream()
    c.send(F.headers(sid, c.enc.block(connect_fields(c)), end_stream=False))
    stream_error(c, sid)
    c.close()


def test_8441_4_extended_connect_echo(h2):
    """4/5: CONNECT with :protocol websocket, :scheme, :path, :authority and
    Sec-WebSocket-Version 13 is answered 200 (no Sec-WebSocket-Accept), the
    stream stays open and carries RFC 6455 frames both ways."""
    c = h2()
    sid, fields, hf = open_ws(c)
    assert fields[":status"] == "200", fields
    assert "sec-websocket-accept" not in fields
    assert not hf.flags & F.END_STREAM
    c.send(F.data(sid, frame(TEXT, b"over h2")))
    frames, ended, _ = ws_frames(c, sid, until=lambda f: True)
    assert frames[0] == (TEXT, b"over h2"), frames
    c.send(F.data(sid, frame(PING, b"pp")))
    frames, _, _ = ws_frames(c, sid, until=lambda f: True)
    assert frames[0] == (PONG, b"pp"), frames


@pytest.mark.parametrize("drop", [":scheme", ":path"])
def test_8441_4_needs_scheme_and_path(h2, drop):
    """4: an extended CONNECT MUST include :scheme and :path; without one
    the request is malformed: stream error PROTOCOL_ERROR."""
    c = h2()
    sid = c.new_stream()
    c.send(F.headers(sid, c.enc.block(connect_fields(c, drop=(drop,))), end_stream=False))
    stream_error(c, sid)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_8441_4_protocol_only_on_connect(h2, method):
    """4: :protocol on a request other than CONNECT is malformed: stream
    error PROTOCOL_ERROR."""
    c = h2()
    sid = c.new_stream()
    c.send(F.headers(sid, c.enc.block(connect_fields(c, method=method, path="/")), end_stream=True))
    stream_error(c, sid)


def test_8441_4_unknown_protocol_501(h2):
    """4: a :protocol the server does not speak is answered with an error
    status (501, and the stream ends); the connection goes on."""
    c = h2()
    sid = c.new_stream()
    c.send(F.headers(sid, c.enc.block(connect_fields(c, protocol="chat")), end_stream=False))
    status, _ = c.response(sid)
    assert status == 501, status


def test_8441_5_version_not_13_426(h2):
    """5 / RFC 6455 4.2.2: Sec-WebSocket-Version other than 13: 426 with
    sec-websocket-version: 13."""
    c = h2()
    sid = c.new_stream()
    fields = [f for f in connect_fields(c) if f[0] != "sec-websocket-version"] + [("sec-websocket-version", "8")]
    c.send(F.headers(sid, c.enc.block(fields), end_stream=False))
    out = c.collect(lambda f: f.stream_id == sid and f.fields is not None, 5)
    hf = [dict(f.fields) for f in out.frames if f.stream_id == sid and f.fields is not None]
    assert hf and hf[0][":status"] == "426" and hf[0].get("sec-websocket-version") == "13", hf


def test_8441_4_end_stream_on_connect_head_400(h2):
    """4/5: an extended CONNECT that ends its stream at once cannot carry a
    WebSocket: an error answer (400), no 200."""
    c = h2()
    sid = c.new_stream()
    c.send(F.headers(sid, c.enc.block(connect_fields(c)), end_stream=True))
    status, _ = c.response(sid)
    assert status == 400, status


def test_8441_6_close_handshake_then_end_stream(h2):
    """6: the WebSocket close handshake happens in the frames; then the
    server ends its side with END_STREAM (the orderly TCP FIN of RFC 6455)."""
    c = h2()
    sid, fields, _ = open_ws(c)
    c.send(F.data(sid, frame(CLOSE, close_payload(1000, b"bye"))))
    frames, ended, _ = ws_frames(c, sid)
    assert frames and frames[-1][0] == CLOSE and frames[-1][1][:2] == b"\x03\xe8", frames
    assert ended is True, ended
    sid2 = c.request(path="/")
    assert c.response(sid2)[0] == 200


def test_8441_6_protocol_error_closes_stream_only(h2):
    """6 / RFC 6455 5.1: an unmasked client frame fails the WebSocket with
    1002; only its stream ends, the HTTP/2 connection serves on."""
    c = h2()
    sid, _, _ = open_ws(c)
    c.send(F.data(sid, frame(BINARY, b"x", mask=False)))
    frames, ended, out = ws_frames(c, sid)
    assert frames and frames[-1][0] == CLOSE and frames[-1][1][:2] == b"\x03\xea", frames
    assert ended in (True, "rst"), ended
    assert out.goaway() is None
    sid2 = c.request(path="/")
    assert c.response(sid2)[0] == 200


def test_8441_6_rst_stream_aborts(h2):
    """6: RST_STREAM is the equivalent of a TCP RST: the WebSocket is gone
    (nothing more on that stream) and the connection serves on."""
    c = h2()
    sid, _, _ = open_ws(c)
    c.send(F.rst_stream(sid, F.CANCEL))
    sid2 = c.request(path="/")
    status, _ = c.response(sid2)
    assert status == 200
    out = c.collect(lambda f: False, 0.5)
    assert not [f for f in out.frames if f.stream_id == sid and f.type == F.DATA], out.describe()


def test_8441_wsproto_h2_client(h2):
    """4/5 with a WebSocket frame library we did not write (wsproto's
    frame protocol) over our raw HTTP/2 stream: a text echo."""
    from wsproto.frame_protocol import FrameProtocol, Opcode
    c = h2()
    sid, fields, _ = open_ws(c)
    assert fields[":status"] == "200"
    proto = FrameProtocol(client=True, extensions=[])
    c.send(F.data(sid, proto.send_data("wsproto says hi", fin=True)))
    frames, _, _ = ws_frames(c, sid, until=lambda f: True)
    assert frames[0] == (Opcode.TEXT, b"wsproto says hi"), frames
