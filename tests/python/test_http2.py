"""HTTP/2 with prior knowledge (RFC 9113): curl, httpx and the h2 library."""
import json
import time

import pytest

import helpers
from helpers import H2Client, curl

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_curl_prior_knowledge(server, method):
    body = f"h2 payload {method}".encode() if method in WITH_BODY else None
    r = curl(f"{server.url}/info?m={method}", "h2", method=method, data=body, headers=["X-Probe: h2"])
    assert r.http_version == "2"
    assert r.status == 200
    if method == "HEAD":
        assert r.body == b""
        return
    info = json.loads(r.body)
    assert (info["method"], info["path"], info["query"], info["probe"]) == (method, "/info", f"m={method}", "h2")
    assert info["body_len"] == (len(body) if body else 0)
    assert info["body_type"] == "bytes"


@pytest.mark.parametrize("method", METHODS)
def test_every_method_httpx(server, method):
    import httpx
    body = b"httpx body" if method in WITH_BODY else None
    with httpx.Client(http1=False, http2=True, timeout=30) as client:
        r = client.request(method, f"{server.url}/info?x=1", content=body, headers={"x-probe": "hx"})
    assert r.http_version == "HTTP/2"
    assert r.status_code == 200
    if method == "HEAD":
        assert r.content == b""
        return
    info = r.json()
    assert (info["method"], info["query"], info["probe"]) == (method, "x=1", "hx")
    assert info["body_len"] == (len(body) if body else 0)


def test_hello_prior_knowledge(server):
    r = curl(server.url + "/", "h2")
    assert (r.status, r.http_version, r.body) == (200, "2", b"Hello from /")
    assert r.headers["content-type"].startswith("text/plain")


def test_settings_max_concurrent_streams_is_100(server):
    import h2.settings
    with H2Client(server.port) as c:
        c.handshake()
        assert c.remote_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS) == 100


def test_many_streams_on_one_connection(server):
    with H2Client(server.port) as c:
        c.handshake()
        sids = [c.request("GET", f"/query?s={i}") for i in range(50)]
        for i, sid in enumerate(sids):
            st = c.response(sid)
            assert st.status == 200
            assert json.loads(st.body)["query"] == f"s={i}"


def test_streams_interleave_slow_and_fast(server):
    """A slow pooled stream does not hold up other streams of the connection."""
    with H2Client(server.port) as c:
        slow = c.request("GET", "/pooled/sleep?1.5")
        time.sleep(0.2)
        t0 = time.monotonic()
        fast = c.request("GET", "/")
        st = c.response(fast)
        elapsed = time.monotonic() - t0
        assert st.status == 200 and bytes(st.body) == b"Hello from /"
        assert elapsed < 0.5 * helpers.SLACK, elapsed
        assert not c.streams[slow].ended
        assert c.response(slow).status == 200


def test_request_body_and_headers(server):
    with H2Client(server.port) as c:
        sid = c.request("POST", "/echo", headers=[("content-type", "application/octet-stream")],
                        body=b"x" * 1000)
        st = c.response(sid)
        assert st.status == 200 and bytes(st.body) == b"x" * 1000
        assert st.header("x-body-len") == "1000"
        assert st.header("x-method") == "POST"


def test_request_body_without_content_length(server):
    with H2Client(server.port) as c:
        sid = c.request("POST", "/echo", end_stream=False)
        c.send_body(sid, b"part one, ", end_stream=False)
        c.send_body(sid, b"part two", end_stream=True)
        st = c.response(sid)
        assert st.status == 200 and bytes(st.body) == b"part one, part two"


def test_response_larger_than_flow_control_window(server):
    n = 1024 * 1024 + 3  # the initial window is 65535
    with H2Client(server.port) as c:
        sid = c.request("GET", f"/download?{n}")
        st = c.response(sid)
        assert st.status == 200 and bytes(st.body) == helpers.pattern_bytes(n)


def test_request_body_larger_than_flow_control_window(server):
    data = helpers.random_body(1024 * 1024, seed=11)
    with H2Client(server.port) as c:
        sid = c.request("POST", "/echo", body=data)
        st = c.response(sid)
        assert st.status == 200 and bytes(st.body) == data


def test_concurrent_large_responses(server):
    n = 300_000
    with H2Client(server.port) as c:
        sids = [c.request("GET", f"/download?{n + i}") for i in range(8)]
        for i, sid in enumerate(sids):
            st = c.response(sid)
            assert st.status == 200 and bytes(st.body) == helpers.pattern_bytes(n + i)


@pytest.mark.slow
def test_8mb_upload_echo_prior_knowledge(server):
    data = helpers.random_body(8 * 1024 * 1024, seed=21)
    r = curl(f"{server.url}/echo", "h2", method="POST", data=data, timeout=60)
    assert (r.status, r.http_version) == (200, "2")
    assert r.body == data


@pytest.mark.slow
def test_8mb_download_prior_knowledge(server):
    n = 8 * 1024 * 1024
    r = curl(f"{server.url}/download?{n}", "h2", timeout=60)
    assert (r.status, r.http_version) == (200, "2")
    assert r.body == helpers.pattern_bytes(n)


@pytest.mark.slow
def test_8mb_each_way_h2_library(server):
    data = helpers.random_body(8 * 1024 * 1024, seed=22)
    with H2Client(server.port, timeout=60) as c:
        sid = c.request("POST", "/echo", body=data)
        st = c.response(sid)
        assert st.status == 200 and bytes(st.body) == data
        n = 8 * 1024 * 1024
        sid = c.request("GET", f"/download?{n}")
        st = c.response(sid)
        assert st.status == 200 and bytes(st.body) == helpers.pattern_bytes(n)


@pytest.mark.slow
def test_8mb_httpx_pooled_echo(server):
    import httpx
    data = helpers.random_body(8 * 1024 * 1024, seed=23)
    with httpx.Client(http1=False, http2=True, timeout=60) as client:
        r = client.post(f"{server.url}/pooled/echo", content=data)
    assert r.status_code == 200 and r.content == data


def test_head_has_no_body(server):
    with H2Client(server.port) as c:
        sid = c.request("HEAD", "/info")
        st = c.response(sid)
        assert st.status == 200 and bytes(st.body) == b""


def test_404_and_405_with_allow(server):
    with H2Client(server.port) as c:
        st = c.response(c.request("GET", "/no/such/path"))
        assert st.status == 404
        st = c.response(c.request("DELETE", "/"))
        assert st.status == 405
        assert "GET" in [m.strip() for m in (st.header("allow") or "").split(",")]


def test_date_and_server_headers(server):
    import email.utils
    with H2Client(server.port) as c:
        st = c.response(c.request("GET", "/"))
    date = st.header("date")
    assert date and abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time()) < 5
    assert st.header("server")


def test_headers_case_insensitive_and_query(server):
    with H2Client(server.port) as c:
        st = c.response(c.request("GET", "/ci", headers=[("x-test-header", "Value2")]))
        assert bytes(st.body) == b"Value2|Value2|Value2|Value2|None"
        st = c.response(c.request("GET", "/query?a=1&b=%20"))
        assert json.loads(st.body) == {"path": "/query", "query": "a=1&b=%20"}


def test_res_variants(server):
    with H2Client(server.port) as c:
        st = c.response(c.request("GET", "/str"))
        assert bytes(st.body) == "h\u00e9llo \u2713".encode()
        assert st.header("content-type") == "text/plain; charset=utf-8"
        st = c.response(c.request("GET", "/bytes"))
        assert bytes(st.body) == b"\x00\x01binary\xff\r\n"
        st = c.response(c.request("GET", "/headers"))
        assert st.header("x-custom") == "yes"
        st = c.response(c.request("GET", "/status?418"))
        assert st.status == 418
        # HTTP/2 forbids connection-specific headers in responses
        for name, _ in st.headers:
            assert name not in ("connection", "keep-alive", "transfer-encoding", "upgrade")


def test_raising_handler_gives_500_h2(server):
    marker = f"h2m{time.time_ns()}"
    since = server.stderr_len()
    with H2Client(server.port) as c:
        st = c.response(c.request("GET", f"/raise?{marker}"))
        assert st.status == 500
        log = server.wait_stderr(lambda t: f"boom-{marker}" in t, since)
        assert "Traceback" in log and f"ValueError: boom-{marker}" in log
        st = c.response(c.request("GET", "/"))
        assert st.status == 200


def test_parallel_connections(server):
    def one(i):
        with H2Client(server.port) as c:
            sids = [c.request("GET", f"/query?c={i}&s={j}") for j in range(10)]
            return [json.loads(c.response(s).body)["query"] for s in sids]

    results = helpers.run_threads([lambda i=i: one(i) for i in range(8)])
    for i, r in enumerate(results):
        assert r == [f"c={i}&s={j}" for j in range(10)]


def test_h2load_prior_knowledge(server):
    if not helpers.have_tool("h2load"):
        pytest.skip("h2load not installed")
    import subprocess
    p = subprocess.run(["h2load", "-n", "2000", "-c", "10", "-m", "10", f"{server.url}/"],
                       capture_output=True, text=True, timeout=60, env=helpers.plain_env())
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2000 succeeded" in p.stdout, p.stdout
    assert "h2c" in p.stdout, p.stdout


def test_header_values_change_between_requests(server):
    """The worker reuses the str objects of header names and values seen in
    earlier requests (interp.c, fa_header_strs): every request still gets its
    own values, over HTTP/2 (HPACK indexes them) and HTTP/1.1 alike."""
    values = ["1", "2", "1", "", "y" * 200, "y" * 200, "z" * 96, "z" * 95, "3"]
    with H2Client(server.port) as c:
        for v in values:
            sid = c.request("GET", "/info", headers=[("x-probe", v)])
            st = c.response(sid)
            assert st.status == 200 and json.loads(bytes(st.body))["probe"] == v
    for v in values:
        r = helpers.h1_request(server.port, "GET", "/info", headers={"X-Probe": v})
        assert r.status == 200 and json.loads(r.body)["probe"] == v
