"""Raw WebSocket frames (RFC 6455 section 5) for the MUST-by-MUST suite:
a client that masks (or not), sets any RSV bit or opcode, and a reader that
checks every server frame is unmasked.

`expect_close(c, code)` is how a test says "the server fails the
connection with this close code" (RFC 6455 7.1.7): a Close frame with that
code, then the TCP connection closes.
"""
from __future__ import annotations

import base64
import os
import socket
import ssl
import struct
import time

import helpers

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0,
          mask: bool = True, length: int | None = None, key: bytes | None = None) -> bytes:
    """One frame; rsv is the 3 RSV bits as 0b(RSV1 RSV2 RSV3); length
    overrides the encoded payload length (for the 64-bit MSB case)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = key or os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code: int | None = None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, rsv, opcode, payload):
        self.fin, self.rsv, self.opcode, self.payload = fin, rsv, opcode, payload

    @property
    def close_code(self):
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def __repr__(self):
        return f"Frame(op={self.opcode:#x} fin={self.fin} rsv={self.rsv} {self.payload[:40]!r})"


class Closed(Exception):
    pass


class WsConn:
    """A WebSocket after the 101 on a raw (possibly TLS) socket."""

    def __init__(self, sock, buf: bytes = b"", head: bytes = b""):
        self.sock = sock
        self.buf = buf
        self.head = head
        self.eof = False

    def send(self, *frames: bytes) -> None:
        try:
            self.sock.sendall(b"".join(frames))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    def _fill(self, deadline: float) -> None:
        while True:
            self.sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
                if time.monotonic() >= deadline:
                    raise TimeoutError("no frame from the server")
                continue
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                data = b""
            if not data:
                self.eof = True
                raise Closed()
            self.buf += data
            return

    def _need(self, n: int, deadline: float) -> None:
        while len(self.buf) < n:
            self._fill(deadline)

    def read_frame(self, timeout: float = 5.0) -> Frame:
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "RFC 6455 5.1: a server MUST NOT mask its frames"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n, deadline)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload)

    def message(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """The next data message (pings answered are not expected here)."""
        first = self.read_frame(timeout)
        assert first.opcode in (TEXT, BINARY), first
        parts = [first.payload]
        f = first
        while not f.fin:
            f = self.read_frame(timeout)
            assert f.opcode == CONT, f
            parts.append(f.payload)
        return first.opcode, b"".join(parts)

    def closed(self, timeout: float = 5.0) -> bool:
        """Waits for the TCP close; True when it came (bytes kept in buf)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    self._fill(deadline)
                except TimeoutError:
                    return False
        except Closed:
            return True
        return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def expect_close(c: WsConn, code: int, timeout: float = 5.0) -> Frame:
    """The server sends Close(code), sends nothing after it (5.5.1), and
    closes the TCP connection."""
    frames = []
    while True:
        try:
            f = c.read_frame(timeout)
        except Closed:
            raise AssertionError(f"closed without a Close frame (expected {code}); got {frames}")
        if f.opcode == CLOSE:
            break
        frames.append(f)
        assert len(frames) < 50, frames
    assert f.close_code == code, f"close code {f.close_code} != {code} ({f.payload!r}); before: {frames}"
    assert c.closed(timeout), "TCP connection still open after the Close"
    assert c.buf == b"", f"bytes after the Close frame: {c.buf[:60]!r}"
    return f


def echo_ok(c: WsConn, data: bytes = b"still here") -> None:
    """The WebSocket still echoes a message."""
    c.send(frame(BINARY, data))
    op, got = c.message()
    assert (op, got) == (BINARY, data), (op, got)


def key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def upgrade_request(path="/ws", headers=None, method="GET", version="HTTP/1.1", drop=()) -> bytes:
    base = {"Host": "localhost", "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": key(), "Sec-WebSocket-Version": "13"}
    for d in drop:
        base.pop(d, None)
    hdrs = list(base.items()) + list((headers or {}).items() if isinstance(headers, dict) else headers or [])
    head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
    return head.encode("latin-1")


class Transport:
    def __init__(self, name: str, port: int, tls_ctx=None):
        self.name = name
        self.port = port
        self.tls_ctx = tls_ctx
        self.conns: list = []

    def socket(self):
        s = helpers.connect(self.port)
        if self.tls_ctx is not None:
            s = self.tls_ctx.wrap_socket(s, server_hostname="localhost")
        self.conns.append(s)
        return s

    def handshake(self, data: bytes):
        """Sends a raw upgrade request; returns (H1Response, socket, rest)."""
        s = self.socket()
        s.sendall(data)
        r = helpers.H1Reader(s)
        resp = r.read_head()
        return resp, s, r.buf

    def open(self, path="/ws", headers=None) -> WsConn:
        resp, s, rest = self.handshake(upgrade_request(path, headers))
        assert resp.status == 101, (resp.status, resp.raw_head)
        c = WsConn(s, rest, resp.raw_head)
        c.response = resp
        return c

    def close_all(self):
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass
