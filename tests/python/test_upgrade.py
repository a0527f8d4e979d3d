"""HTTP/2 through the HTTP/1.1 Upgrade: h2c mechanism (curl --http2 and h2)."""
import json

import pytest

import helpers
from helpers import H2Client, curl

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_curl_upgrade(server, method):
    body = f"upgrade payload {method}".encode() if method in WITH_BODY else None
    r = curl(f"{server.url}/info?m={method}", "h2c", method=method, data=body, headers=["X-Probe: up"])
    assert "HTTP/1.1 101" in r.all_head, r.all_head  # switched
    assert r.http_version == "2"
    assert r.status == 200
    if method == "HEAD":
        assert r.body == b""
        return
    info = json.loads(r.body)
    assert (info["method"], info["path"], info["query"], info["probe"]) == (method, "/info", f"m={method}", "up")
    assert info["body_len"] == (len(body) if body else 0)
    if body:
        assert info["body_sha256"] == helpers.sha256(body)


def test_hello_upgrade(server):
    r = curl(server.url + "/", "h2c")
    assert (r.status, r.http_version, r.body) == (200, "2", b"Hello from /")


@pytest.mark.parametrize("method", METHODS)
def test_upgrade_h2_library_then_more_streams(server, method):
    body = b"upgrade body" if method in WITH_BODY else b""
    with H2Client(server.port, mode="upgrade") as c:
        sid = c.upgrade(method, "/info?via=upgrade", headers=[("X-Probe", "lib")], body=body)
        assert sid == 1
        st = c.response(1)
        assert st.status == 200
        if method != "HEAD":
            info = json.loads(st.body)
            assert (info["method"], info["query"], info["probe"], info["body_len"]) == \
                (method, "via=upgrade", "lib", len(body))
        else:
            assert bytes(st.body) == b""
        # the connection now speaks HTTP/2
        st = c.response(c.request("POST", "/echo", body=b"after upgrade"))
        assert st.status == 200 and bytes(st.body) == b"after upgrade"
        st = c.response(c.request("GET", "/"))
        assert bytes(st.body) == b"Hello from /"


def test_upgrade_101_headers(server):
    with H2Client(server.port, mode="upgrade") as c:
        c.upgrade("GET", "/")
        r = c.upgrade_response
        assert r.status == 101
        assert (r.header("upgrade") or "").lower() == "h2c"
        assert "upgrade" in (r.header("connection") or "").lower()
        assert bytes(c.response(1).body) == b"Hello from /"


def test_upgrade_large_response(server):
    n = 2 * 1024 * 1024 + 1
    with H2Client(server.port, mode="upgrade") as c:
        c.upgrade("GET", f"/download?{n}")
        st = c.response(1)
        assert st.status == 200 and bytes(st.body) == helpers.pattern_bytes(n)


def test_upgrade_without_http2_settings_is_not_upgraded(server):
    """RFC 9113 (and 7540 3.2): no HTTP2-Settings, no upgrade; the request is
    answered over HTTP/1.1."""
    r = helpers.h1_request(server.port, "GET", "/", headers={"Connection": "Upgrade", "Upgrade": "h2c"})
    assert r.status in (200, 400)
    assert r.status != 101


@pytest.mark.slow
def test_8mb_download_upgrade(server):
    n = 8 * 1024 * 1024
    r = curl(f"{server.url}/download?{n}", "h2c", timeout=60)
    assert (r.status, r.http_version) == (200, "2")
    assert r.body == helpers.pattern_bytes(n)


@pytest.mark.slow
def test_8mb_upload_upgrade(server):
    # A server may decline to upgrade a request with a large body (the
    # upgrade then does not happen and HTTP/1.1 answers); either way the
    # echo must be exact.
    data = helpers.random_body(8 * 1024 * 1024, seed=31)
    r = curl(f"{server.url}/echo", "h2c", method="POST", data=data, timeout=60)
    assert r.status == 200 and r.http_version in ("1.1", "2")
    assert r.body == data
