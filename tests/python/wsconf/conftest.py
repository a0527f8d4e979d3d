"""Fixtures of the MUST-by-MUST WebSocket suite (RFC 6455, RFC 7692,
RFC 8441).  `ws` is a transport (wsx.Transport) over **plain** TCP and
**tls** (TLS with ALPN http/1.1); the RFC 8441 tests use HTTP/2 (h2c prior
knowledge and TLS with ALPN h2) through tests/python/h2frames.py."""
from __future__ import annotations

import shutil
import ssl

import pytest

import helpers
from wsx import Transport


@pytest.fixture(scope="session")
def ws_plain_server(tmp_path_factory):
    yield from helpers.module_server("conf_app.py", tmp_path_factory, "wsconf-plain",
                                     num_pinned_workers=1)


@pytest.fixture(scope="session")
def ws_tls_server(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    from test_tls import make_pki
    pki = make_pki(tmp_path_factory.mktemp("wsconf-pki"))
    yield from helpers.module_server("conf_app.py", tmp_path_factory, "wsconf-tls",
                                     num_pinned_workers=1,
                                     ssl_certfile=pki["cert"], ssl_keyfile=pki["key"])


def tls_context(alpn):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([alpn])
    return ctx


@pytest.fixture(params=["plain", "tls"])
def ws(request):
    if request.param == "tls":
        t = Transport("tls", request.getfixturevalue("ws_tls_server").port, tls_context("http/1.1"))
    else:
        t = Transport("plain", request.getfixturevalue("ws_plain_server").port)
    yield t
    t.close_all()
