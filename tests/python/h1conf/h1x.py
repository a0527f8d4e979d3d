"""What the HTTP/1.1 suite asserts about the server's answer to raw bytes.

Each check names the exact status code and whether the connection is kept:
`rejected` expects that status and then the server's close (RFC 9112 says
"respond with 400 and then close" for every framing error), `answered`
expects the status and a connection that still serves a second request.
After a rejection a fresh connection must still be served (`Transport.serves`).
"""
from __future__ import annotations

import socket
import ssl
import time

import helpers
from helpers import ConnectionClosed, H1Reader, H1Response

REASONS = {100: "Continue", 200: "OK", 204: "No Content", 304: "Not Modified",
           400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           411: "Length Required", 413: "Content Too Large", 414: "URI Too Long",
           417: "Expectation Failed", 431: "Request Header Fields Too Large",
           501: "Not Implemented", 505: "HTTP Version Not Supported"}


class Conn:
    """One client connection: raw bytes out, parsed responses in."""

    def __init__(self, sock):
        self.sock = sock
        self.reader = H1Reader(sock)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    def response(self, method: str = "GET", informational: bool = False) -> H1Response:
        return self.reader.read_response(method, allow_informational=informational)

    def shutdown_write(self) -> None:
        s = self.sock
        if isinstance(s, ssl.SSLSocket):
            # a TLS half-close: close_notify is not sent by shutdown(2); the
            # kernel FIN is what the server sees either way
            socket.socket.shutdown(s, socket.SHUT_WR)
        else:
            s.shutdown(socket.SHUT_WR)

    def closed(self, timeout: float = 5.0) -> bool:
        """True once the server has closed (EOF or reset) within timeout;
        any bytes it sends meanwhile are kept in self.reader.buf."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        try:
            while time.monotonic() < deadline:
                if self.reader.eof:
                    return True
                try:
                    self.reader._fill()
                except ConnectionClosed:
                    return True
                except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
                    continue
                except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                    return True
            return False
        finally:
            self.sock.settimeout(10)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Transport:
    def __init__(self, name: str, port: int, tls_ctx=None):
        self.name = name
        self.port = port
        self.tls_ctx = tls_ctx
        self.conns: list[Conn] = []

    def conn(self) -> Conn:
        s = helpers.connect(self.port)
        if self.tls_ctx is not None:
            s = self.tls_ctx.wrap_socket(s, server_hostname="localhost")
        c = Conn(s)
        self.conns.append(c)
        return c

    def close_all(self) -> None:
        for c in self.conns:
            c.close()

    def serves(self) -> None:
        """A fresh connection still gets GET / answered."""
        c = self.conn()
        c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = c.response()
        assert r.status == 200 and r.body == b"GET / 0", (r.status, r.body)
        c.close()


def status_line(r: H1Response, status: int) -> None:
    """The exact status line: HTTP/1.1, the code, its reason phrase."""
    line = r.raw_head.split(b"\r\n", 1)[0].decode("latin-1")
    assert r.version == "HTTP/1.1" and r.status == status, f"{line!r}, expected {status}"
    if status in REASONS:
        assert r.reason == REASONS[status], f"{line!r}: reason != {REASONS[status]!r}"


def still_open(c: Conn) -> None:
    """The same connection answers another request."""
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    r = c.response()
    assert r.status == 200 and r.body == b"GET / 0", ("second request", r.status, r.body)


def rejected(t: Transport, data: bytes, status: int = 400) -> H1Response:
    """The server answers data with status, then closes; it still serves."""
    c = t.conn()
    c.send(data)
    try:
        r = c.response()
    except ConnectionClosed:
        raise AssertionError(f"closed without a response (expected {status})")
    status_line(r, status)
    assert (r.header("connection") or "").lower() == "close", f"no Connection: close on {status}"
    assert c.closed(), f"connection still open after {status}"
    c.close()
    t.serves()
    return r


def answered(t: Transport, data: bytes, status: int = 200, method: str = "GET",
             keep: bool = True) -> H1Response:
    """The server answers data with status; keep: the connection then serves
    another request; not keep: the server closes it after the answer."""
    c = t.conn()
    c.send(data)
    r = c.response(method)
    status_line(r, status)
    if keep:
        still_open(c)
    else:
        assert c.closed(), "connection still open"
    c.close()
    return r
