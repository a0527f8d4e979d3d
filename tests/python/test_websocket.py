"""WebSockets in the native server (issue 11): RFC 6455 over HTTP/1.1 with
the `websockets` library as client, raw sockets for malformed frames (each
answered with the close code RFC 6455 names, and the server keeps serving),
backpressure both ways, keepalive, graceful stop (1001) and wss:// over TLS.

Handlers live in apps/ws_app.py; one module-wide server with ONE pinned
worker.
"""
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time

import pytest

import helpers

websockets = pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402


def closed_line(name: str):
    """A wait_stderr predicate: the handler's whole "FA-WS NAME-closed CODE
    ..." line is there (not only its start: stderr may be read mid-line)."""
    return lambda t: re.search(rf"{name}-closed [^\n]*\n", t) is not None


@pytest.fixture(scope="module")
def wsrv(tmp_path_factory):
    yield from helpers.module_server("ws_app.py", tmp_path_factory, "ws", num_pinned_workers=1,
                                     graceful_timeout=3.0)


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def url(srv, path):
    return f"ws://127.0.0.1:{srv.port}{path}"


# --------------------------------------------------------------------------
# raw WebSocket client (for bytes no library would send)
# --------------------------------------------------------------------------

KEY = base64.b64encode(b"0123456789abcdef").decode()


def raw_open(port, path="/echo", extra=b""):
    s = helpers.connect(port)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n".encode() + extra + b"\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, head
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return s, rest


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_frames(s, rest=b"", timeout=5.0):
    """Reads server frames until the connection closes; returns [(opcode, payload)]."""
    closed, data = helpers.wait_closed(s, timeout)
    assert closed, "the server did not close the connection"
    data = rest + data
    out = []
    while len(data) >= 2:
        op, n = data[0] & 0x0F, data[1] & 0x7F
        assert not data[1] & 0x80, "a server must not mask its frames (RFC 6455 5.1)"
        pos = 2
        if n == 126:
            n, pos = struct.unpack("!H", data[2:4])[0], 4
        elif n == 127:
            n, pos = struct.unpack("!Q", data[2:10])[0], 10
        out.append((op, data[pos:pos + n]))
        data = data[pos + n:]
    return out


def close_code_of(frames):
    closes = [p for op, p in frames if op == 0x8]
    assert closes, f"no close frame in {frames}"
    return struct.unpack("!H", closes[0][:2])[0] if len(closes[0]) >= 2 else 1005


def assert_still_serving(srv):
    r = helpers.h1_request(srv.port, "GET", "/plain")
    assert r.status == 200 and r.body == b"plain http"

    async def echo():
        async with websockets.connect(url(srv, "/echo")) as c:
            await c.send("still here")
            return await c.recv()
    assert run(echo()) == "still here"


# --------------------------------------------------------------------------
# messages
# --------------------------------------------------------------------------

def test_text_binary_and_fragmented_echo(wsrv):
    async def main():
        async with websockets.connect(url(wsrv, "/echo"), compression=None) as c:
            await c.send("hello")
            assert await c.recv() == "hello"
            await c.send("héllo wörld ✓")
            assert await c.recv() == "héllo wörld ✓"
            await c.send(b"\x00\x01\xff")
            assert await c.recv() == b"\x00\x01\xff"
            await c.send(["frag", "ment", "ed ✓"])  # one message in three frames
            assert await c.recv() == "fragmented ✓"
            await c.send([b"a" * 70000, b"b" * 3])
            assert await c.recv() == b"a" * 70000 + b"b" * 3
            await c.send("")
            assert await c.recv() == ""
            assert c.response.headers.get("sec-websocket-extensions") is None
    run(main())


def test_16_mib_message_round_trip(wsrv):
    data = helpers.random_body(16 << 20, seed=7)

    async def main():
        async with websockets.connect(url(wsrv, "/echo"), max_size=None, compression=None) as c:
            await c.send(data)
            got = await c.recv()
            assert len(got) == len(data) and got == data
    run(main(), timeout=120)


def test_ping_from_client_gets_pong(wsrv):
    async def main():
        async with websockets.connect(url(wsrv, "/echo")) as c:
            latency = await asyncio.wait_for(await c.ping(b"are you there"), 5)
            assert latency >= 0
            await c.send("after ping")
            assert await c.recv() == "after ping"
    run(main())


def test_async_for_ends_when_the_peer_closes(wsrv):
    since = wsrv.stderr_len()

    async def main():
        async with websockets.connect(url(wsrv, "/iter")) as c:
            for i in range(3):
                await c.send(f"m{i}")
                assert await c.recv() == f"m{i}"
    run(main())
    assert "FA-WS iter-done 3" in wsrv.wait_stderr(lambda t: "iter-done" in t, since)


def test_request_attributes_subprotocol_and_headers(wsrv):
    async def main():
        async with websockets.connect(url(wsrv, "/info/b%C3%B6b?x=1&y=2"),
                                      subprotocols=["chat", "v2"],
                                      additional_headers={"X-Custom": "yes"}) as c:
            info = json.loads(await c.recv())
            assert c.subprotocol == "chat"
            assert c.response.headers["x-hello"] == "world"
            assert c.response.headers["x-bytes"] == "yes"
            return info
    info = run(main())
    assert info["path"] == "/info/b%C3%B6b" or info["path"] == "/info/böb"
    assert info["raw_path"] == "/info/b%C3%B6b"
    assert info["query"] == "x=1&y=2"
    assert info["path_params"] == {"name": "böb"}
    assert info["headers"]["x-custom"] == "yes"
    assert info["subprotocols"] == ["chat", "v2"]
    assert info["scheme"] == "ws" and info["http_version"] == "1.1"
    assert info["client"][0] == "127.0.0.1" and info["server"] == ["127.0.0.1", wsrv.port]


def test_receive_given_up_on_loses_no_message(wsrv):
    async def main():
        async with websockets.connect(url(wsrv, "/timeout")) as c:
            assert await c.recv() == "timed out"
            await c.send("hello")
            assert await c.recv() == "then hello"
    run(main())


def test_path_parameters(wsrv):
    async def main():
        async with websockets.connect(url(wsrv, "/rooms/42/a/b/c")) as c:
            return json.loads(await c.recv())
    assert run(main()) == {"room": "42", "rest": "a/b/c"}


# --------------------------------------------------------------------------
# close codes, rejection, handler errors
# --------------------------------------------------------------------------

def test_client_close_code_reaches_the_handler(wsrv):
    since = wsrv.stderr_len()

    async def main():
        c = await websockets.connect(url(wsrv, "/echo"))
        await c.send("x")
        await c.recv()
        await c.close(4000, "bye now")
        assert c.close_code == 4000  # the server echoed it
    run(main())
    text = wsrv.wait_stderr(closed_line("echo"), since)
    assert "FA-WS echo-closed 4000 'bye now'" in text


@pytest.mark.parametrize("code,reason", [(1000, ""), (1001, "away"), (4001, "bye"), (3000, "x" * 100)])
def test_handler_close_code_reaches_the_client(wsrv, code, reason):
    async def main():
        async with websockets.connect(url(wsrv, f"/close?{code}&{reason}")) as c:
            with pytest.raises(ConnectionClosed):
                await c.recv()
            assert c.close_code == code and c.close_reason == reason
    run(main())


def test_close_before_accept_is_403(wsrv):
    async def main():
        with pytest.raises(InvalidStatus) as ei:
            await websockets.connect(url(wsrv, "/reject"))
        assert ei.value.response.status_code == 403
    run(main())


def test_handler_raising_before_accept_is_500(wsrv):
    since = wsrv.stderr_len()

    async def main():
        with pytest.raises(InvalidStatus) as ei:
            await websockets.connect(url(wsrv, "/raise-before"))
        assert ei.value.response.status_code == 500
    run(main())
    assert "boom before accept" in wsrv.wait_stderr(lambda t: "boom" in t, since)


def test_handler_raising_after_accept_closes_1011(wsrv):
    since = wsrv.stderr_len()

    async def main():
        async with websockets.connect(url(wsrv, "/raise-after")) as c:
            await c.send("go")
            with pytest.raises(ConnectionClosed):
                await c.recv()
            assert c.close_code == 1011
    run(main())
    assert "boom after accept" in wsrv.wait_stderr(lambda t: "boom" in t, since)


def test_handler_returning_without_close_closes_1000(wsrv):
    async def main():
        async with websockets.connect(url(wsrv, "/return-open")) as c:
            assert await c.recv() == "bye"
            with pytest.raises(ConnectionClosed):
                await c.recv()
            assert c.close_code == 1000
    run(main())


def test_bad_api_calls_raise_clear_errors(wsrv):
    since = wsrv.stderr_len()

    async def main():
        async with websockets.connect(url(wsrv, "/api-errors")) as c:
            out = json.loads(await c.recv())
            with pytest.raises(ConnectionClosed):
                await c.recv()
            return out
    out = run(main())
    assert "accept" in out["send_before_accept"]
    assert "already" in out["accept_twice"]
    for code in (999, 1005, 1006, 2000, 5000):
        assert f"code {code} cannot be sent" in out[f"close_{code}"]
    assert "123" in out["long_reason"]
    assert "str" in out["send_int"] and "bytes" in out["send_int"]
    assert out["sub_not-offered"].startswith("ValueError") and "not offered" in out["sub_not-offered"]
    assert "not a token" in out["sub_bad token"]
    assert out["sub_7"].startswith("TypeError")
    assert "not allowed" in out["bad_header"] and "not allowed" in out["crlf_header"]
    assert "FA-WS send-after-close 1000" in wsrv.wait_stderr(lambda t: "send-after-close" in t, since)


# --------------------------------------------------------------------------
# compression
# --------------------------------------------------------------------------

def test_compression_negotiated_when_allowed(wsrv):
    text = "compressible " * 5000

    async def main():
        async with websockets.connect(url(wsrv, "/zecho"), max_size=None) as c:
            ext = c.response.headers.get("sec-websocket-extensions", "")
            assert ext.startswith("permessage-deflate"), ext
            for msg in [text, b"\x00" * 100000, "short", "", "✓" * 1000]:
                await c.send(msg)
                assert await c.recv() == msg
            await c.send(["frag " * 100, "mented"])  # a compressed fragmented message
            assert await c.recv() == "frag " * 100 + "mented"
    run(main())


def test_compression_off_by_default(wsrv):
    async def main():
        async with websockets.connect(url(wsrv, "/echo")) as c:  # the client offers deflate
            assert c.response.headers.get("sec-websocket-extensions") is None
            await c.send("plain")
            assert await c.recv() == "plain"
    run(main())


def test_compressed_frame_without_negotiation_is_1002(wsrv):
    s, rest = raw_open(wsrv.port, "/echo")
    s.sendall(frame(0x1, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv=0x40))
    assert close_code_of(read_frames(s, rest)) == 1002
    s.close()


def test_decompression_bomb_is_1009(wsrv):
    import zlib
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = z.compress(b"\x00" * (20 << 20)) + z.flush(zlib.Z_SYNC_FLUSH)
    bomb = bomb[:-4]  # RFC 7692 7.2.1: the tail is not sent
    s, rest = raw_open(wsrv.port, "/zecho", b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    s.sendall(frame(0x2, bomb, rsv=0x40))
    assert close_code_of(read_frames(s, rest)) == 1009
    s.close()
    assert_still_serving(wsrv)


# --------------------------------------------------------------------------
# malformed frames (raw sockets): each closed with the code RFC 6455 names
# --------------------------------------------------------------------------

BAD_FRAMES = {
    "unmasked client frame": (frame(0x1, b"hi", mask=False), 1002),
    "reserved opcode 0x3": (frame(0x3, b"hi"), 1002),
    "reserved opcode 0xB": (frame(0xB, b""), 1002),
    "RSV2 set": (frame(0x1, b"hi", rsv=0x20), 1002),
    "RSV3 set": (frame(0x1, b"hi", rsv=0x10), 1002),
    "control frame over 125 bytes": (frame(0x9, b"p" * 126), 1002),
    "fragmented control frame": (frame(0x9, b"p", fin=False), 1002),
    "continuation without a message": (frame(0x0, b"x"), 1002),
    "new message inside a fragmented one": (frame(0x1, b"a", fin=False) + frame(0x1, b"b"), 1002),
    "invalid UTF-8 text": (frame(0x1, b"\xff\xfe"), 1007),
    "UTF-8 cut across fragments": (frame(0x1, b"\xe2\x82", fin=False) + frame(0x0, b"A"), 1007),
    "text ending inside a character": (frame(0x1, b"ok\xe2\x82"), 1007),
    "close code 1005 on the wire": (frame(0x8, struct.pack("!H", 1005)), 1002),
    "close code 999": (frame(0x8, struct.pack("!H", 999)), 1002),
    "close code 2999": (frame(0x8, struct.pack("!H", 2999)), 1002),
    "1-byte close payload": (frame(0x8, b"\x03"), 1002),
    "close reason not UTF-8": (frame(0x8, struct.pack("!H", 1000) + b"\xff"), 1007),
    "non-minimal length encoding": (b"\x81\xfe\x00\x05" + b"\x00" * 4 + b"hello", 1002),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_malformed_frame_closes_with_rfc_code(wsrv, name):
    data, code = BAD_FRAMES[name]
    s, rest = raw_open(wsrv.port)
    s.sendall(data)
    frames = read_frames(s, rest)
    assert close_code_of(frames) == code, frames
    s.close()


def test_server_keeps_serving_after_malformed_frames(wsrv):
    for data, _ in BAD_FRAMES.values():
        s, _ = raw_open(wsrv.port)
        s.sendall(data)
        helpers.wait_closed(s, 5)
        s.close()
    assert_still_serving(wsrv)


def test_message_and_frame_limits_are_1009(wsrv):
    # /small: max_message_size=1000, max_frame_size=600
    for data in [frame(0x2, b"x" * 601),                                        # one frame too big
                 frame(0x2, b"x" * 500, fin=False) + frame(0x0, b"x" * 501),   # message too big
                 frame(0x2, b"", length=1 << 40)]:                             # announced only
        s, rest = raw_open(wsrv.port, "/small")
        s.sendall(data)
        assert close_code_of(read_frames(s, rest)) == 1009
        s.close()

    async def main():  # at the limit it goes through
        async with websockets.connect(url(wsrv, "/small"), compression=None) as c:
            await c.send([b"y" * 500, b"y" * 500])
            assert await c.recv() == b"y" * 1000
    run(main())


def test_server_answers_ping_and_close_on_raw_socket(wsrv):
    s, rest = raw_open(wsrv.port)
    s.sendall(frame(0x9, b"ping-data") + frame(0x1, b"msg"))
    want = b"\x8a\x09ping-data\x81\x03msg"
    got = rest
    while len(got) < len(want):
        got += s.recv(100)
    assert got == want
    s.sendall(frame(0x8, struct.pack("!H", 1000) + b"done"))
    frames = read_frames(s)
    assert frames == [(0x8, struct.pack("!H", 1000) + b"done")]  # the code echoed, then TCP closed
    s.close()


def test_control_frames_between_fragments(wsrv):
    s, rest = raw_open(wsrv.port)
    s.sendall(frame(0x1, b"hel", fin=False) + frame(0x9, b"p") + frame(0x0, b"lo", fin=False)
              + frame(0x0, b"!") + frame(0x8, b""))
    frames = read_frames(s, rest)
    # the echo may or may not beat the close echo out (the handler runs on
    # the next loop step); the pong and the empty close are certain
    assert frames[0] == (0xA, b"p") and frames[-1] == (0x8, b"")
    assert [f for f in frames[1:-1]] in ([], [(0x1, b"hello!")])
    s.close()


def test_bytes_sent_byte_by_byte(wsrv):
    s, rest = raw_open(wsrv.port)
    data = frame(0x1, "bytewise ✓".encode()) + frame(0x8, struct.pack("!H", 1000))
    for i in range(len(data)):
        s.sendall(data[i:i + 1])
        time.sleep(0.002)
    frames = read_frames(s, rest)
    assert frames[0] == (0x1, "bytewise ✓".encode())
    s.close()


def test_peer_dropping_tcp_is_1006_for_the_handler(wsrv):
    since = wsrv.stderr_len()
    s, rest = raw_open(wsrv.port, "/wait")
    while len(rest) < 7:
        rest += s.recv(100)
    assert rest == b"\x81\x05ready"
    s.close()
    assert "FA-WS wait-closed 1006" in wsrv.wait_stderr(closed_line("wait"), since)


# --------------------------------------------------------------------------
# handshake checks (RFC 6455 section 4.2)
# --------------------------------------------------------------------------

def _handshake(port, lines):
    """The response to a raw request (the server closes after it)."""
    resp, closed, _ = helpers.exchange_raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode())
    assert resp is not None and closed
    return resp


def test_wrong_version_is_426_with_supported_version(wsrv):
    r = _handshake(wsrv.port, ["GET /echo HTTP/1.1", "Host: x", "Upgrade: websocket",
                               "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}",
                               "Sec-WebSocket-Version: 8"])
    assert r.status == 426
    assert r.header("sec-websocket-version") == "13"


@pytest.mark.parametrize("lines", [
    ["GET /echo HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"],
    ["GET /echo HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: Upgrade",
     "Sec-WebSocket-Key: c2hvcnQ=", "Sec-WebSocket-Version: 13"],
    ["GET /echo HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: keep-alive",
     f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"],
    ["POST /echo HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: Upgrade",
     f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13", "Content-Length: 0"],
    ["GET /echo HTTP/1.0", "Host: x", "Upgrade: websocket", "Connection: Upgrade",
     f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"],
], ids=["no key", "short key", "no Connection upgrade", "POST", "HTTP/1.0"])
def test_bad_handshake_is_400(wsrv, lines):
    assert _handshake(wsrv.port, lines).status == 400


def test_upgrade_on_a_plain_route_is_plain_http(wsrv):
    r = _handshake(wsrv.port, ["GET /plain HTTP/1.1", "Host: x", "Upgrade: websocket",
                               "Connection: Upgrade, close", f"Sec-WebSocket-Key: {KEY}",
                               "Sec-WebSocket-Version: 13"])
    assert r.status == 200 and r.body == b"plain http"


def test_accept_key_is_rfc_example(wsrv):
    # RFC 6455 section 1.3: this key gives this accept value
    s = helpers.connect(wsrv.port)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = helpers.H1Reader(s).read_head()
    assert head.status == 101
    assert head.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    s.close()


# --------------------------------------------------------------------------
# backpressure
# --------------------------------------------------------------------------

def test_handler_that_does_not_read_stops_the_socket(wsrv):
    """The handler sleeps 1 s before reading: the client cannot push more
    than socket buffers plus the bounded inbox; then every message arrives."""
    s, rest = raw_open(wsrv.port, "/slow?0")
    s.setblocking(False)
    msg = frame(0x2, b"z" * 65536)
    offered, pushed, sent_msgs = 100 << 20, 0, 0
    deadline = time.monotonic() + 0.8
    buf = b""
    while pushed < offered and time.monotonic() < deadline:
        if not buf:
            buf = msg
            sent_msgs += 1
        try:
            n = s.send(buf)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        pushed += n
        buf = buf[n:]
    assert pushed < 48 << 20, f"the server took {pushed >> 20} MiB while its handler read nothing"
    s.setblocking(True)
    if buf:
        s.sendall(buf)
    s.sendall(frame(0x1, b"done"))
    s.settimeout(30)
    data = rest
    while True:
        chunk = s.recv(4096)
        assert chunk, "closed before the count came"
        data += chunk
        if len(data) >= 2 and len(data) >= 2 + (data[1] & 0x7F):
            break
    assert data[0] & 0x0F == 0x1
    assert int(data[2:2 + (data[1] & 0x7F)]) == sent_msgs + 1
    s.close()


def test_send_waits_while_the_peer_does_not_read(wsrv):
    since = wsrv.stderr_len()
    count, size = 400, 65536  # 25 MiB: more than socket buffers hold
    s, rest = raw_open(wsrv.port, f"/flood?{count}&{size}")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    time.sleep(1.0)
    assert "flood-done" not in wsrv.stderr()[since:], "send() did not wait for the reader"
    got, data = 0, rest
    s.settimeout(30)
    while True:
        chunk = s.recv(1 << 20)
        assert chunk
        data += chunk
        # count whole frames
        while len(data) >= 4:
            n, pos = data[1] & 0x7F, 2
            if n == 126:
                n, pos = struct.unpack("!H", data[2:4])[0], 4
            elif n == 127:
                if len(data) < 10:
                    break
                n, pos = struct.unpack("!Q", data[2:10])[0], 10
            if len(data) < pos + n:
                break
            if data[0] & 0x0F == 0x1:
                assert data[pos:pos + n] == b"end"
                got = -got
            else:
                got += 1
            data = data[pos + n:]
        if got < 0:
            break
    assert -got == count
    assert "FA-WS flood-done" in wsrv.wait_stderr(lambda t: "flood-done" in t, since)
    s.sendall(frame(0x8, struct.pack("!H", 1000)))
    s.close()


# --------------------------------------------------------------------------
# keepalive
# --------------------------------------------------------------------------

def test_keepalive_ping_timeout_drops_a_silent_peer(wsrv):
    """/ping pings every 0.3 s and waits 0.5 s: a raw client that never
    answers is dropped, a library client that answers stays."""
    since = wsrv.stderr_len()
    s, rest = raw_open(wsrv.port, "/ping")
    frames = read_frames(s, rest, timeout=10)
    ops = [op for op, _ in frames]
    assert 0x9 in ops, frames  # it was pinged
    assert close_code_of(frames) == 1011
    s.close()
    assert "FA-WS wait-closed 1006" in wsrv.wait_stderr(closed_line("wait"), since)

    async def main():
        async with websockets.connect(url(wsrv, "/ping"), ping_interval=None) as c:
            assert await c.recv() == "ready"
            await asyncio.sleep(1.5)  # several server pings, answered by the library
            await c.send("still open")
    run(main())


# --------------------------------------------------------------------------
# graceful stop, TLS, many sockets (own servers)
# --------------------------------------------------------------------------

def test_graceful_stop_sends_1001(tmp_path):
    srv = helpers.ServerProcess("ws_app.py", workdir=tmp_path, num_pinned_workers=1, graceful_timeout=5.0)
    try:
        async def main():
            conns = [await websockets.connect(url(srv, "/wait")) for _ in range(3)]
            for c in conns:
                assert await c.recv() == "ready"
            t0 = time.monotonic()
            srv.send_signal(signal.SIGINT)
            for c in conns:
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(c.recv(), 10)
                assert c.close_code == 1001
            return time.monotonic() - t0
        run(main())
        assert srv.wait(15) == 0
        err = srv.stderr()
        assert err.count("FA-WS wait-closed 1001") == 3, err[-3000:]
        helpers.assert_no_sanitizer_reports(err)
    finally:
        srv.kill()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_wss_over_tls(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", "k.pem", "-out", "c.pem", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=60)
    srv = helpers.ServerProcess("ws_app.py", workdir=tmp_path, num_pinned_workers=1,
                                ssl_certfile=str(tmp_path / "c.pem"), ssl_keyfile=str(tmp_path / "k.pem"))
    try:
        ctx = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))
        big = helpers.random_body(3 << 20, seed=3)

        async def main():
            async with websockets.connect(f"wss://127.0.0.1:{srv.port}/echo", ssl=ctx, max_size=None) as c:
                await c.send("over tls")
                assert await c.recv() == "over tls"
                await c.send(big)
                assert await c.recv() == big
            async with websockets.connect(f"wss://127.0.0.1:{srv.port}/info/t", ssl=ctx) as c:
                info = json.loads(await c.recv())
                assert info["scheme"] == "wss"
            async with websockets.connect(f"wss://127.0.0.1:{srv.port}/zecho", ssl=ctx) as c:
                await c.send("z" * 10000)
                assert await c.recv() == "z" * 10000
        run(main())
        # and over HTTP/2 (ALPN h2): RFC 8441 inside TLS
        h2ctx = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))
        h2ctx.set_alpn_protocols(["h2"])
        c = H2WebSockets(srv.port, h2ctx)
        sid = c.connect_ws("/info/t2")
        assert c.wait_response(sid)[":status"] == "200"
        info = json.loads(c.recv(sid)[0])
        assert info["scheme"] == "wss" and info["http_version"] == "2"
        e = c.connect_ws("/echo")
        c.send(e, TextMessage(data="h2 over tls"))
        assert c.recv(e) == ["h2 over tls"]
        c.close()
        srv.check_clean_exit()
    finally:
        srv.kill()


def test_main_interpreter_mode(tmp_path):
    """interpreters="main": every worker shares the main interpreter."""
    srv = helpers.ServerProcess("ws_app.py", workdir=tmp_path, num_pinned_workers=2, interpreters="main")
    try:
        async def main():
            conns = [await websockets.connect(url(srv, "/echo")) for _ in range(6)]
            for i, c in enumerate(conns):
                await c.send(f"m{i}")
            for i, c in enumerate(conns):
                assert await c.recv() == f"m{i}"
            for c in conns:
                await c.close()
        run(main())
        srv.check_clean_exit()
    finally:
        srv.kill()


def test_h2_many_websocket_streams_in_turn(wsrv):
    """Streams come and go on one connection (their state is freed as they close)."""
    c = H2WebSockets(wsrv.port)
    for i in range(60):
        sid = c.connect_ws("/echo")
        assert c.wait_response(sid)[":status"] == "200"
        c.send(sid, TextMessage(data=f"n{i}"))
        assert c.recv(sid) == [f"n{i}"]
        if i % 2:
            c.send(sid, CloseConnection(code=1000))
            c.pump(lambda: sid in c.ended)
        else:
            c.h2.reset_stream(sid)
            c.flush()
    assert c.get("/plain") == ("200", b"plain http")
    c.close()


def _many(tmp_path, count):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 512:
        if hard != resource.RLIM_INFINITY and hard < count + 512:
            pytest.skip(f"needs {count + 512} file descriptors, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (count + 512, hard))
    srv = helpers.ServerProcess("ws_app.py", workdir=tmp_path, num_pinned_workers=1, graceful_timeout=5.0)
    try:
        rss0 = helpers.proc_status_kb(srv.pid, "VmRSS")

        async def main():
            conns = []
            for i in range(0, count, 100):
                conns += await asyncio.gather(*[websockets.connect(url(srv, "/echo"), compression=None,
                                                                   ping_interval=None)
                                                for _ in range(min(100, count - i))])
            await asyncio.sleep(0.5)
            rss1 = helpers.proc_status_kb(srv.pid, "VmRSS")
            # every socket still answers
            for c in conns[:: max(1, count // 200)]:
                await c.send("x")
                assert await c.recv() == "x"
            await asyncio.gather(*[c.close() for c in conns])
            return rss1
        rss1 = run(main(), timeout=300)
        per = (rss1 - rss0) * 1024 / count
        print(f"\n{count} idle WebSockets: RSS {rss0} kB -> {rss1} kB, {per:.0f} bytes per WebSocket")
        srv.check_clean_exit()
        return per
    finally:
        srv.kill()


def test_1000_concurrent_websockets_one_worker(tmp_path):
    _many(tmp_path, 1000)


@pytest.mark.slow
def test_10000_concurrent_websockets_one_worker(tmp_path):
    _many(tmp_path, 10000)


# --------------------------------------------------------------------------
# HTTP/2: RFC 8441 extended CONNECT (h2 for HTTP/2, wsproto for the frames)
# --------------------------------------------------------------------------

h2conn = pytest.importorskip("h2.connection")
import h2.config  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402
wsproto = pytest.importorskip("wsproto")
from wsproto import Connection as WsConnection, ConnectionType  # noqa: E402
from wsproto.events import BytesMessage, CloseConnection, TextMessage  # noqa: E402


class H2WebSockets:
    """One HTTP/2 connection carrying WebSocket streams and plain requests."""

    def __init__(self, port, ssl_context=None):
        self.sock = helpers.connect(port)
        if ssl_context is not None:
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname="localhost")
        self.sock.settimeout(10)
        self.h2 = h2conn.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        self.flush()
        self.ws = {}        # stream id -> wsproto Connection
        self.messages = {}  # stream id -> [message data]
        self.closes = {}    # stream id -> (code, reason)
        self.responses = {}  # stream id -> headers dict
        self.bodies = {}
        self.ended = set()
        self.resets = {}
        self.settings_seen = False
        self.pump(lambda: self.settings_seen)

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, until, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "timed out"
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            assert data, "connection closed"
            for ev in self.h2.receive_data(data):
                self._event(ev)
            self.flush()

    def _event(self, ev):
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            self.settings_seen = True
        elif isinstance(ev, h2.events.ResponseReceived):
            self.responses[ev.stream_id] = dict(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            if ev.stream_id in self.ws:
                w = self.ws[ev.stream_id]
                w.receive_data(ev.data)
                for we in w.events():
                    if isinstance(we, (TextMessage, BytesMessage)):
                        buf = self.messages.setdefault(ev.stream_id, [])
                        if buf and getattr(buf[-1], "_open", False):
                            buf[-1] = _Partial(buf[-1] + we.data, not we.message_finished)
                        else:
                            buf.append(_Partial(we.data, not we.message_finished))
                    elif isinstance(we, CloseConnection):
                        self.closes[ev.stream_id] = (we.code, we.reason)
            else:
                self.bodies[ev.stream_id] = self.bodies.get(ev.stream_id, b"") + ev.data
        elif isinstance(ev, h2.events.StreamEnded):
            self.ended.add(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            self.resets[ev.stream_id] = ev.error_code

    def connect_ws(self, path, headers=()):
        sid = self.h2.get_next_available_stream_id()
        self.h2.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                                   (":path", path), (":authority", "127.0.0.1"),
                                   ("sec-websocket-version", "13"), *headers])
        self.flush()
        self.ws[sid] = WsConnection(ConnectionType.CLIENT)
        return sid

    def wait_response(self, sid):
        self.pump(lambda: sid in self.responses or sid in self.resets)
        return self.responses.get(sid, {})

    def send(self, sid, event):
        data = self.ws[sid].send(event)
        while data:
            room = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if room <= 0:
                self.pump(lambda: self.h2.local_flow_control_window(sid) > 0)
                continue
            self.h2.send_data(sid, data[:room])
            data = data[room:]
            self.flush()

    def recv(self, sid, n=1):
        self.pump(lambda: len([m for m in self.messages.get(sid, []) if not m._open]) >= n
                  or sid in self.closes or sid in self.resets)
        out = [m.value for m in self.messages.get(sid, []) if not m._open][:n]
        self.messages[sid] = self.messages.get(sid, [])[len(out):]
        return out

    def get(self, path):
        sid = self.h2.get_next_available_stream_id()
        self.h2.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", path),
                                   (":authority", "127.0.0.1")], end_stream=True)
        self.flush()
        self.pump(lambda: sid in self.ended or sid in self.resets)
        return self.responses[sid][":status"], self.bodies.get(sid, b"")

    def close(self):
        self.sock.close()


class _Partial:
    """A message as wsproto delivers it (maybe in pieces)."""

    def __init__(self, value, open_):
        self.value, self._open = value, open_

    def __add__(self, more):
        return self.value + more


def test_h2_settings_enable_connect_protocol(wsrv):
    c = H2WebSockets(wsrv.port)
    assert c.h2.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL) == 1
    c.close()


def test_h2_several_websockets_beside_plain_requests(wsrv):
    c = H2WebSockets(wsrv.port)
    sids = [c.connect_ws("/echo") for _ in range(4)]
    for sid in sids:
        assert c.wait_response(sid)[":status"] == "200"
    assert c.get("/plain") == ("200", b"plain http")
    for round_ in range(3):
        for i, sid in enumerate(sids):
            c.send(sid, TextMessage(data=f"ws{i} round{round_} ✓"))
        assert c.get("/plain") == ("200", b"plain http")
        for i, sid in enumerate(sids):
            assert c.recv(sid) == [f"ws{i} round{round_} ✓"]
    c.send(sids[0], BytesMessage(data=b"\x00\xff" * 1000))
    assert c.recv(sids[0]) == [b"\x00\xff" * 1000]
    for sid in sids:
        c.send(sid, CloseConnection(code=1000, reason="done"))
    c.pump(lambda: all(s in c.closes and s in c.ended for s in sids))
    assert all(c.closes[s] == (1000, "done") for s in sids)
    assert c.get("/plain") == ("200", b"plain http")  # the connection lives on
    c.close()


def test_h2_large_message_under_flow_control(wsrv):
    data = helpers.random_body(2 << 20, seed=11)  # far beyond the initial windows
    c = H2WebSockets(wsrv.port)
    sid = c.connect_ws("/echo")
    assert c.wait_response(sid)[":status"] == "200"
    c.send(sid, BytesMessage(data=data))
    assert c.recv(sid) == [data]
    c.close()


def test_h2_request_attributes(wsrv):
    c = H2WebSockets(wsrv.port)
    sid = c.connect_ws("/info/h2?q=1", headers=[("sec-websocket-protocol", "chat")])
    resp = c.wait_response(sid)
    assert resp[":status"] == "200" and resp.get("sec-websocket-protocol") == "chat"
    info = json.loads(c.recv(sid)[0])
    assert info["http_version"] == "2" and info["path_params"] == {"name": "h2"}
    assert info["query"] == "q=1" and info["subprotocols"] == ["chat"]
    c.close()


def test_h2_refusals(wsrv):
    c = H2WebSockets(wsrv.port)
    assert c.wait_response(c.connect_ws("/nope"))[":status"] == "404"
    assert c.wait_response(c.connect_ws("/reject"))[":status"] == "403"
    assert c.wait_response(c.connect_ws("/raise-before"))[":status"] == "500"
    sid = c.h2.get_next_available_stream_id()
    c.h2.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                            (":path", "/echo"), (":authority", "x"), ("sec-websocket-version", "8")])
    c.flush()
    c.ws[sid] = WsConnection(ConnectionType.CLIENT)
    assert c.wait_response(sid)[":status"] == "426"
    assert c.get("/plain") == ("200", b"plain http")
    c.close()


def test_h2_malformed_frame_and_reset(wsrv):
    since = wsrv.stderr_len()
    c = H2WebSockets(wsrv.port)
    bad = c.connect_ws("/echo")
    assert c.wait_response(bad)[":status"] == "200"
    c.h2.send_data(bad, frame(0x1, b"unmasked", mask=False))
    c.flush()
    c.pump(lambda: bad in c.ended)
    assert c.closes[bad][0] == 1002  # close frame, then END_STREAM
    sid = c.connect_ws("/wait")
    assert c.wait_response(sid)[":status"] == "200"
    assert c.recv(sid) == ["ready"]
    c.h2.reset_stream(sid)
    c.flush()
    assert "FA-WS wait-closed 1006" in wsrv.wait_stderr(closed_line("wait"), since)
    assert c.get("/plain") == ("200", b"plain http")
    c.close()


def test_h2_handler_that_does_not_read_holds_the_window(wsrv):
    """/slow sleeps 1 s before reading: the client's stream window runs out
    (the server gives it back only as the handler reads)."""
    c = H2WebSockets(wsrv.port)
    sid = c.connect_ws("/slow?0")
    assert c.wait_response(sid)[":status"] == "200"
    sent = 0
    msg = c.ws[sid].send(BytesMessage(data=b"q" * 8000))
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.6:
        room = min(c.h2.local_flow_control_window(sid), c.h2.max_outbound_frame_size)
        if room < len(msg):
            break
        c.h2.send_data(sid, msg)
        c.flush()
        sent += 1
    assert c.h2.local_flow_control_window(sid) < len(msg), "the window did not run out"
    assert sent * len(msg) < 8 << 20
    for _ in range(3):
        c.send(sid, BytesMessage(data=b"q" * 8000))  # waits for WINDOW_UPDATEs
    c.send(sid, TextMessage(data="done"))
    assert c.recv(sid) == [str(sent + 4)]
    c.close()
