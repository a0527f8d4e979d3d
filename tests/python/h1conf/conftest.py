"""Fixtures of the MUST-by-MUST HTTP/1.1 suite (RFC 9112 sections 2-9 and
the server requirements of RFC 9110 on that path).

Every test gets `h1`, a transport (h1x.Transport) parametrized over the two
ways a client reaches HTTP/1.1 on our server: **plain** (cleartext TCP) and
**tls** (TLS with ALPN http/1.1, a throwaway certificate made with
`openssl`).  Requests are raw bytes on a socket so that a test controls
every octet (bare CR, obs-fold, a space before the colon...).
"""
from __future__ import annotations

import shutil
import ssl

import pytest

import helpers
from h1x import Transport


@pytest.fixture(scope="session")
def h1_plain_server(tmp_path_factory):
    yield from helpers.module_server("conf_app.py", tmp_path_factory, "h1conf-plain",
                                     num_pinned_workers=1, max_body_size=1 << 20)


@pytest.fixture(scope="session")
def h1_tls_server(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    from test_tls import make_pki
    pki = make_pki(tmp_path_factory.mktemp("h1conf-pki"))
    yield from helpers.module_server("conf_app.py", tmp_path_factory, "h1conf-tls",
                                     num_pinned_workers=1, max_body_size=1 << 20,
                                     ssl_certfile=pki["cert"], ssl_keyfile=pki["key"])


@pytest.fixture(params=["plain", "tls"])
def h1(request):
    if request.param == "tls":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        t = Transport("tls", request.getfixturevalue("h1_tls_server").port, ctx)
    else:
        t = Transport("plain", request.getfixturevalue("h1_plain_server").port)
    yield t
    t.close_all()
