"""A raw HTTP/2 frame builder and reader for conformance and attack tests.

The h2 library refuses to send most of what these tests need (frames on
closed streams, bad lengths, a PRIORITY that depends on its own stream), so
frames are built here byte by byte (RFC 9113 section 4.1).  Header blocks are
HPACK-encoded with the `hpack` package (a dependency of h2), or written by
hand where a test needs malformed HPACK.

A RawH2 connection reads frames with a deadline and classifies the server's
reaction to what a test sent: a connection error (GOAWAY, then the socket
closes), a stream error (RST_STREAM on that stream), an answer, or nothing.
"""
from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (RFC 9113 section 6)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
TYPE_NAMES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS",
              5: "PUSH_PROMISE", 6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}

# Flags
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# Error codes (RFC 9113 section 7)
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
SETTINGS_TIMEOUT = 0x4
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
CONNECT_ERROR = 0xA
ENHANCE_YOUR_CALM = 0xB
INADEQUATE_SECURITY = 0xC
HTTP_1_1_REQUIRED = 0xD
ERROR_NAMES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
               4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR",
               7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR", 10: "CONNECT_ERROR",
               11: "ENHANCE_YOUR_CALM", 12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}

# SETTINGS identifiers (RFC 9113 section 6.5.2)
HEADER_TABLE_SIZE = 0x1
ENABLE_PUSH = 0x2
MAX_CONCURRENT_STREAMS = 0x3
INITIAL_WINDOW_SIZE = 0x4
MAX_FRAME_SIZE = 0x5
MAX_HEADER_LIST_SIZE = 0x6


def err_name(code: int) -> str:
    return ERROR_NAMES.get(code, f"0x{code:x}")


# --------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------

def frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"",
          length: int | None = None) -> bytes:
    """One frame; `length` overrides the header's length field (to lie)."""
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream_id & 0xFFFFFFFF) + payload


def settings(*pairs, ack: bool = False) -> bytes:
    body = b"".join(struct.pack(">HI", k, v) for k, v in pairs)
    return frame(SETTINGS, ACK if ack else 0, 0, body)


def settings_ack() -> bytes:
    return frame(SETTINGS, ACK, 0)


def ping(data: bytes = b"\0" * 8, ack: bool = False) -> bytes:
    return frame(PING, ACK if ack else 0, 0, data)


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment & 0xFFFFFFFF))


def rst_stream(stream_id: int, code: int = CANCEL) -> bytes:
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def goaway(last_stream_id: int = 0, code: int = NO_ERROR, debug: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id, code) + debug)


def priority(stream_id: int, depends_on: int, weight: int = 16, exclusive: bool = False) -> bytes:
    dep = depends_on | (0x80000000 if exclusive else 0)
    return frame(PRIORITY, 0, stream_id, struct.pack(">IB", dep, weight - 1))


def data(stream_id: int, payload: bytes = b"", end_stream: bool = False,
         pad: int | None = None) -> bytes:
    flags = END_STREAM if end_stream else 0
    if pad is not None:
        flags |= PADDED
        payload = bytes([pad]) + payload + b"\0" * pad
    return frame(DATA, flags, stream_id, payload)


def request_fields(method: str = "GET", path: str = "/", authority: str = "localhost",
                   scheme: str = "http", extra=()) -> list:
    return [(":method", method), (":scheme", scheme), (":path", path),
            (":authority", authority), *extra]


class Encoder:
    """HPACK state of one connection (the dynamic table is per connection)."""

    def __init__(self):
        self.enc = hpack.Encoder()

    def block(self, fields) -> bytes:
        # Never-indexed-free literal encoding keeps blocks independent of the
        # dynamic table when a test builds frames it then does not send.
        return self.enc.encode(list(fields))


def headers(stream_id: int, block: bytes, end_stream: bool = True, end_headers: bool = True,
            pad: int | None = None, prio: tuple | None = None) -> bytes:
    """HEADERS with a ready header block.  prio = (depends_on, weight, exclusive)."""
    flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
    payload = block
    if prio is not None:
        dep, weight, excl = prio
        flags |= PRIORITY_FLAG
        payload = struct.pack(">IB", dep | (0x80000000 if excl else 0), weight - 1) + payload
    if pad is not None:
        flags |= PADDED
        payload = bytes([pad]) + payload + b"\0" * pad
    return frame(HEADERS, flags, stream_id, payload)


def continuation(stream_id: int, block: bytes, end_headers: bool = True) -> bytes:
    return frame(CONTINUATION, END_HEADERS if end_headers else 0, stream_id, block)


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------

@dataclass
class Frame:
    type: int
    flags: int
    stream_id: int
    payload: bytes
    fields: list | None = None  # decoded field block (HEADERS/CONTINUATION with END_HEADERS)

    @property
    def name(self) -> str:
        return TYPE_NAMES.get(self.type, f"type{self.type}")

    @property
    def error_code(self) -> int:
        """Of a RST_STREAM or GOAWAY."""
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        raise ValueError(f"{self.name} has no error code")

    @property
    def last_stream_id(self) -> int:
        return struct.unpack(">I", self.payload[:4])[0] & 0x7FFFFFFF

    def __repr__(self) -> str:
        extra = ""
        if self.type in (RST_STREAM, GOAWAY):
            extra = f" {err_name(self.error_code)}"
        if self.type == GOAWAY:
            extra += f" last={self.last_stream_id} debug={self.payload[8:]!r}"
        return f"<{self.name} flags=0x{self.flags:x} stream={self.stream_id}{extra} len={len(self.payload)}>"


class Closed(Exception):
    pass


@dataclass
class Outcome:
    """What the server did after a test's frames, until it showed an error
    or the deadline passed: the frames it sent, and whether it closed."""
    frames: list
    closed: bool

    def goaway(self):
        return next((f for f in self.frames if f.type == GOAWAY), None)

    def rst(self, stream_id: int):
        return next((f for f in self.frames if f.type == RST_STREAM and f.stream_id == stream_id), None)

    def describe(self) -> str:
        return f"{self.frames!r} closed={self.closed}"


class RawH2:
    """One HTTP/2 connection over an already-connected socket (prior
    knowledge, after an Upgrade, or TLS: the transport fixture makes it)."""

    def __init__(self, sock: socket.socket, upgraded: bool = False):
        self.sock = sock
        self.buf = b""
        self.enc = Encoder()
        self.upgraded = upgraded  # stream 1 is taken (half-closed remote)
        self.peer_settings: dict = {}
        self.next_stream = 3 if upgraded else 1
        self.closed = False
        self.dec = hpack.Decoder()
        self._block = b""
        self.scheme = "http"  # the TLS transport sets "https"

    # -- I/O ---------------------------------------------------------------
    def send(self, *chunks: bytes) -> None:
        try:
            self.sock.sendall(b"".join(chunks))
        except OSError:  # the server closed first (TCP or TLS)
            self.closed = True

    def _recv(self, deadline: float) -> bool:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            return False
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError:  # reset, or a TLS alert / unclean TLS EOF
            chunk = b""
        if not chunk:
            self.closed = True
            raise Closed()
        self.buf += chunk
        return True

    def _header_block(self, f: Frame) -> None:
        """Decodes every field block the server sends, whoever reads the
        frame: the HPACK dynamic table is per connection, so skipping one
        block would garble the next.  A complete block's fields land in
        f.fields (on the frame with END_HEADERS)."""
        p = f.payload
        if f.type == HEADERS:
            if f.flags & PADDED:
                p = p[1:len(p) - p[0]]
            if f.flags & PRIORITY_FLAG:
                p = p[5:]
            self._block = p
        else:
            self._block += p
        if f.flags & END_HEADERS:
            f.fields = self.dec.decode(self._block)
            self._block = b""

    def read_frame(self, timeout: float = 5.0) -> Frame | None:
        """The next frame, None at the deadline; raises Closed at EOF."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    f = Frame(self.buf[3], self.buf[4],
                              int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF,
                              self.buf[9:9 + n])
                    self.buf = self.buf[9 + n:]
                    if f.type == SETTINGS and not f.flags & ACK:
                        for i in range(0, len(f.payload) - 5, 6):
                            k, v = struct.unpack(">HI", f.payload[i:i + 6])
                            self.peer_settings[k] = v
                    elif f.type in (HEADERS, CONTINUATION):
                        self._header_block(f)
                    return f
            if self.closed:
                raise Closed()
            if not self._recv(deadline):
                return None

    # -- conversation --------------------------------------------------------
    def handshake(self, *extra_settings, timeout: float = 5.0) -> None:
        """Sends the preface (unless upgraded, where the preface follows the
        101 and is sent here too) and SETTINGS, acknowledges the server's
        SETTINGS and waits for the ACK of ours."""
        self.send(PREFACE, settings(*extra_settings))
        got_settings = got_ack = False
        deadline = time.monotonic() + timeout
        while not (got_settings and got_ack):
            f = self.read_frame(max(0.01, deadline - time.monotonic()))
            if f is None:
                raise AssertionError(f"handshake: settings={got_settings} ack={got_ack} within {timeout}s")
            if f.type == SETTINGS and f.flags & ACK:
                got_ack = True
            elif f.type == SETTINGS:
                got_settings = True
                self.send(settings_ack())
            elif f.type == GOAWAY:
                raise AssertionError(f"handshake: {f!r}")

    def new_stream(self) -> int:
        sid = self.next_stream
        self.next_stream += 2
        return sid

    def request(self, stream_id: int | None = None, method: str = "GET", path: str = "/",
                body: bytes | None = None, extra=(), end_stream: bool | None = None) -> int:
        """Sends a well-formed request head (and body); returns its stream id."""
        sid = self.new_stream() if stream_id is None else stream_id
        if end_stream is None:
            end_stream = body is None
        self.send(headers(sid, self.enc.block(request_fields(method, path, scheme=self.scheme,
                                                             extra=extra)),
                          end_stream=end_stream))
        if body is not None:
            self.send(data(sid, body, end_stream=True))
        return sid

    def collect(self, until, timeout: float = 5.0) -> Outcome:
        """Reads frames until until(frame) is true, the connection closes or
        the deadline passes; answers PINGs it does not ask about."""
        frames = []
        deadline = time.monotonic() + timeout
        closed = False
        while True:
            try:
                f = self.read_frame(max(0.0, deadline - time.monotonic()))
            except Closed:
                closed = True
                break
            if f is None:
                break
            frames.append(f)
            if until(f):
                break
        return Outcome(frames, closed)

    def response(self, stream_id: int, timeout: float = 10.0) -> tuple[int, bytes]:
        """Waits for a complete answer on stream_id: (status, body).  Fails
        on RST_STREAM, GOAWAY or close."""
        status, body = None, b""
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(max(0.01, deadline - time.monotonic()))
            if f is None:
                raise AssertionError(f"no complete answer on stream {stream_id} within {timeout}s")
            if f.type == GOAWAY or (f.type == RST_STREAM and f.stream_id == stream_id):
                raise AssertionError(f"stream {stream_id}: {f!r}")
            if f.fields is not None and f.stream_id == stream_id and status is None:
                status = int(dict(f.fields)[":status"])
            elif f.type == DATA and f.stream_id == stream_id:
                p = f.payload
                if f.flags & PADDED:
                    p = p[1:len(p) - p[0]]
                body += p
                if f.payload:
                    # keep the windows open so large answers flow
                    self.send(window_update(0, len(f.payload)), window_update(stream_id, len(f.payload)))
            if f.stream_id == stream_id and f.flags & END_STREAM and f.type in (HEADERS, DATA):
                return status, body

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def conn_error(outcome: Outcome):
    """The GOAWAY of a connection error (None if there was none)."""
    return outcome.goaway()
