"""Fixtures of the MUST-by-MUST HTTP/2 suite (RFC 9113 sections 3-8, RFC 7541).

Every test gets `h2`, a factory of raw HTTP/2 connections (h2frames.RawH2)
that have finished the preface and SETTINGS exchange, parametrized over the
three ways a client reaches HTTP/2 on our server:

- prior: h2c with prior knowledge (the preface first thing on TCP);
- upgrade: an HTTP/1.1 `GET /` with `Upgrade: h2c`; after the 101, stream 1
  is that request (half-closed remote) and the test's streams start at 3;
- tls: TLS with ALPN h2 (a throwaway certificate made with `openssl`).

With FA_H2CONF_ORACLE=1 a fourth transport runs the same frames against
nghttpd (nghttp2's server on the same libnghttp2) over prior knowledge: that
is how docs/conformance.md's oracle column was made.  Not in CI, since a few
tests need routes nghttpd has not (/slow, /echo).
"""
from __future__ import annotations

import base64
import os
import shutil
import socket
import ssl

import pytest

import h2frames as F
import helpers

TRANSPORTS = ["prior", "upgrade", "tls"]
if os.environ.get("FA_H2CONF_ORACLE"):
    TRANSPORTS.append("nghttpd")


@pytest.fixture(scope="session")
def h2c_server(tmp_path_factory):
    yield from helpers.module_server("conformance.py", tmp_path_factory, "h2conf-h2c",
                                     num_pinned_workers=1, num_pooled_workers=2)


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    from test_tls import make_pki
    pki = make_pki(tmp_path_factory.mktemp("h2conf-pki"))
    yield from helpers.module_server("conformance.py", tmp_path_factory, "h2conf-tls",
                                     num_pinned_workers=1, num_pooled_workers=2,
                                     ssl_certfile=pki["cert"], ssl_keyfile=pki["key"])


@pytest.fixture(scope="session")
def nghttpd_port(tmp_path_factory):
    yield from helpers.nghttpd_server(tmp_path_factory)


def upgrade_socket(port: int, settings_payload: bytes = b"") -> tuple[socket.socket, bytes]:
    """An HTTP/1.1 request that asks for h2c; returns the socket after the
    101 and whatever bytes followed it."""
    s = helpers.connect(port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
              b"Upgrade: h2c\r\nHTTP2-Settings: " + base64.urlsafe_b64encode(settings_payload).rstrip(b"=") + b"\r\n\r\n")
    buf = b""
    s.settimeout(10)
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"closed during the upgrade: {buf!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, rest


class Transport:
    def __init__(self, name, port, tls_ctx=None):
        self.name = name
        self.port = port
        self.tls_ctx = tls_ctx
        self.conns: list = []

    def raw(self) -> F.RawH2:
        """A connected RawH2 before the preface (tests of section 3)."""
        if self.name == "upgrade":
            s, rest = upgrade_socket(self.port)
            c = F.RawH2(s, upgraded=True)
            c.buf = rest
        else:
            s = helpers.connect(self.port)
            if self.tls_ctx is not None:
                s = self.tls_ctx.wrap_socket(s, server_hostname="localhost")
                assert s.selected_alpn_protocol() == "h2"
            c = F.RawH2(s)
            if self.tls_ctx is not None:
                c.scheme = "https"
        self.conns.append(c)
        return c

    def __call__(self, *settings) -> F.RawH2:
        """A RawH2 past the preface and the SETTINGS exchange."""
        c = self.raw()
        c.handshake(*settings)
        return c


@pytest.fixture(params=TRANSPORTS)
def h2(request):
    name = request.param
    if name == "tls":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        t = Transport(name, request.getfixturevalue("tls_server").port, ctx)
    elif name == "nghttpd":
        t = Transport(name, request.getfixturevalue("nghttpd_port"))
    else:
        t = Transport(name, request.getfixturevalue("h2c_server").port)
    yield t
    for c in t.conns:
        c.close()
