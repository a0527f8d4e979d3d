"""HTTP/1.1 (RFC 9112) through curl --http1.1 and raw sockets."""
import email.utils
import json
import socket
import time

import pytest

import helpers
from helpers import H1Reader, build_request, connect, curl, h1_request

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_curl(server, method):
    body = f"payload for {method}".encode() if method in WITH_BODY else None
    r = curl(f"{server.url}/info?m={method}", "h1", method=method, data=body,
             headers=["X-Probe: p-" + method])
    assert r.http_version == "1.1"
    assert r.status == 200
    if method == "HEAD":
        assert r.body == b""
        return
    info = json.loads(r.body)
    assert info["method"] == method
    assert info["path"] == "/info"
    assert info["query"] == f"m={method}"
    assert info["probe"] == "p-" + method
    assert info["body_type"] == "bytes"
    assert info["body_len"] == (len(body) if body else 0)
    if body:
        assert info["body_sha256"] == helpers.sha256(body)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_raw(server, method):
    body = b"raw body \x00\xff" if method in WITH_BODY else b""
    r = h1_request(server.port, method, "/info?raw=1", body=body)
    assert r.status == 200
    assert r.version == "HTTP/1.1"
    if method == "HEAD":
        assert r.body == b""
        return
    info = r.json()
    assert (info["method"], info["query"], info["body_len"]) == (method, "raw=1", len(body))
    assert info["body_sha256"] == helpers.sha256(body)


def test_hello_matches_seed(server):
    for path in ("/", "/test"):
        r = curl(server.url + path, "h1")
        assert (r.status, r.body) == (200, f"Hello from {path}".encode())
        assert r.headers["content-type"].startswith("text/plain")
        assert r.headers["content-length"] == str(len(r.body))


def test_keepalive_sequential_requests(server):
    with connect(server.port) as s:
        reader = H1Reader(s)
        for i in range(5):
            s.sendall(build_request("GET", f"/query?i={i}"))
            r = reader.read_response()
            assert r.status == 200 and r.json()["query"] == f"i={i}"
            assert (r.header("connection") or "").lower() != "close"


def test_pipelining_answers_in_order(server):
    reqs = [build_request("GET", "/query?n=1"),
            build_request("POST", "/echo", body=b"second body"),
            build_request("GET", "/query?n=3"),
            build_request("POST", "/echo", headers={"Transfer-Encoding": "chunked"},
                          body=b"5\r\nfifth\r\n0\r\n\r\n"),
            build_request("HEAD", "/info"),
            build_request("GET", "/query?n=6")]
    with connect(server.port) as s:
        s.sendall(b"".join(reqs))  # all in one send
        reader = H1Reader(s)
        r1 = reader.read_response()
        r2 = reader.read_response()
        r3 = reader.read_response()
        r4 = reader.read_response()
        r5 = reader.read_response("HEAD")
        r6 = reader.read_response()
    assert r1.json()["query"] == "n=1"
    assert r2.body == b"second body"
    assert r3.json()["query"] == "n=3"
    assert r4.body == b"fifth"
    assert r5.status == 200 and r5.body == b""
    assert r6.json()["query"] == "n=6"


def test_pipelining_slow_pooled_then_fast(server):
    """A slow pooled request followed by a fast pinned one on the same
    connection: the answers still come in request order."""
    with connect(server.port) as s:
        s.sendall(build_request("GET", "/pooled/sleep?0.5") + build_request("GET", "/query?after")
                  + build_request("GET", "/sleep?0.2") + build_request("GET", "/query?last"))
        reader = H1Reader(s)
        a, b, c, d = (reader.read_response() for _ in range(4))
    assert a.json()["slept"] == 0.5
    assert b.json()["query"] == "after"
    assert c.json()["slept"] == 0.2
    assert d.json()["query"] == "last"


def test_pipelined_requests_byte_by_byte(server):
    data = build_request("GET", "/query?x=1") + build_request("POST", "/echo", body=b"abc")
    with connect(server.port) as s:
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
        reader = H1Reader(s)
        assert reader.read_response().json()["query"] == "x=1"
        assert reader.read_response().body == b"abc"


def test_chunked_upload_raw(server):
    chunks = [b"hello ", b"chunked ", b"world" * 1000, b"!"]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    r = h1_request(server.port, "POST", "/echo", headers={"Transfer-Encoding": "chunked"}, body=body)
    assert r.status == 200
    assert r.body == b"".join(chunks)
    assert r.header("x-body-len") == str(len(b"".join(chunks)))


def test_chunked_upload_with_extensions_and_trailers(server):
    body = b"3;name=value\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
    r = h1_request(server.port, "POST", "/echo", headers={"Transfer-Encoding": "chunked"}, body=body)
    assert (r.status, r.body) == (200, b"abcde")


def test_chunked_upload_curl(server):
    data = helpers.random_body(100_000, seed=3)
    r = curl(f"{server.url}/echo", "h1", method="POST", data=data, headers=["Transfer-Encoding: chunked"])
    assert r.status == 200 and r.body == data


def test_expect_100_continue(server):
    with connect(server.port) as s:
        s.sendall(build_request("POST", "/echo", headers={"Expect": "100-continue", "Content-Length": "11"}))
        reader = H1Reader(s)
        interim = reader.read_response(allow_informational=True)
        assert interim.status == 100
        s.sendall(b"hello world")
        r = reader.read_response()
        assert (r.status, r.body) == (200, b"hello world")
        # the connection stays usable
        s.sendall(build_request("GET", "/query?again"))
        assert reader.read_response().json()["query"] == "again"


def test_expect_100_continue_curl_large(server):
    data = helpers.random_body(2 * 1024 * 1024, seed=5)
    r = curl(f"{server.url}/echo", "h1", method="POST", data=data, headers=["Expect: 100-continue"])
    assert r.status == 200 and r.body == data
    assert "100 Continue" in r.all_head


@pytest.mark.slow
def test_8mb_upload_echo(server):
    data = helpers.random_body(8 * 1024 * 1024, seed=8)
    r = curl(f"{server.url}/echo", "h1", method="POST", data=data, timeout=60)
    assert r.status == 200
    assert len(r.body) == len(data) and r.body == data


@pytest.mark.slow
def test_8mb_download(server):
    n = 8 * 1024 * 1024
    r = curl(f"{server.url}/download?{n}", "h1", timeout=60)
    assert r.status == 200
    assert r.headers.get("content-length") in (None, str(n))
    assert r.body == helpers.pattern_bytes(n)


@pytest.mark.slow
def test_8mb_raw_upload_pooled(server):
    data = helpers.random_body(8 * 1024 * 1024, seed=9)
    r = h1_request(server.port, "POST", "/pooled/echo", body=data, timeout=60)
    assert r.status == 200 and r.body == data


def test_1mb_download_raw(server):
    n = 1024 * 1024 + 7
    r = h1_request(server.port, "GET", f"/download?{n}")
    assert r.status == 200 and r.body == helpers.pattern_bytes(n)


def test_head_has_no_body(server):
    with connect(server.port) as s:
        s.sendall(build_request("HEAD", "/download?1000") + build_request("GET", "/query?after-head"))
        reader = H1Reader(s)
        head = reader.read_response("HEAD")
        # if the server had sent a body, it would be parsed as the next response
        after = reader.read_response()
    assert head.status == 200
    cl = head.header("content-length")
    assert cl is None or int(cl) == 1000
    assert after.json()["query"] == "after-head"


def test_connection_close(server):
    with connect(server.port) as s:
        s.sendall(build_request("GET", "/", headers={"Connection": "close"}))
        reader = H1Reader(s)
        r = reader.read_response()
        assert (r.status, r.body) == (200, b"Hello from /")
        assert (r.header("connection") or "").lower() == "close"
        closed, extra = helpers.wait_closed(s, 5)
        assert closed and extra == b""


def test_pipelined_after_connection_close_is_ignored(server):
    with connect(server.port) as s:
        s.sendall(build_request("GET", "/query?first", headers={"Connection": "close"})
                  + build_request("GET", "/query?second"))
        reader = H1Reader(s)
        assert reader.read_response().json()["query"] == "first"
        closed, extra = helpers.wait_closed(s, 5)
        assert closed and extra == b""


def test_http10_closes_by_default(server):
    with connect(server.port) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        r = H1Reader(s).read_response()
        assert (r.status, r.body) == (200, b"Hello from /")
        closed, _ = helpers.wait_closed(s, 5)
        assert closed


def test_date_and_server_headers(server):
    r = h1_request(server.port, "GET", "/")
    date = r.header("date")
    assert date, r.headers
    assert date.endswith(" GMT")
    parsed = email.utils.parsedate_to_datetime(date)
    assert abs(parsed.timestamp() - time.time()) < 5
    assert r.header("server")
    # also on the server's own responses
    r404 = h1_request(server.port, "GET", "/no/such/path")
    assert r404.header("date") and r404.header("server")


def test_404_unknown_path(server):
    r = h1_request(server.port, "GET", "/no/such/path")
    assert r.status == 404
    # keep-alive survives a 404
    with connect(server.port) as s:
        s.sendall(build_request("GET", "/nope") + build_request("GET", "/query?ok"))
        reader = H1Reader(s)
        assert reader.read_response().status == 404
        assert reader.read_response().json()["query"] == "ok"


def test_405_with_allow(server):
    r = h1_request(server.port, "DELETE", "/")
    assert r.status == 405
    allow = [m.strip() for m in (r.header("allow") or "").split(",")]
    assert "GET" in allow
    assert "DELETE" not in allow
    r = h1_request(server.port, "GET", "/echo")
    assert r.status == 405
    allow = {m.strip() for m in (r.header("allow") or "").split(",")}
    assert {"POST", "PUT", "PATCH"} <= allow


def test_headers_lookup_is_case_insensitive(server):
    r = h1_request(server.port, "GET", "/ci", headers={"X-TeSt-HeAdEr": "Value1"})
    assert r.status == 200
    assert r.body == b"Value1|Value1|Value1|Value1|None"


def test_query_string(server):
    r = h1_request(server.port, "GET", "/query?a=1&b=two%20x&c")
    assert r.json() == {"path": "/query", "query": "a=1&b=two%20x&c"}
    r = h1_request(server.port, "GET", "/query")
    assert r.json() == {"path": "/query", "query": ""}
    r = h1_request(server.port, "GET", "/query?")
    assert r.json()["path"] == "/query" and r.json()["query"] == ""


def test_str_body_is_utf8(server):
    r = h1_request(server.port, "GET", "/str")
    assert r.status == 200
    assert r.body == "h\u00e9llo \u2713".encode("utf-8")
    assert r.header("content-type") == "text/plain; charset=utf-8"
    assert r.header("content-length") == str(len(r.body))


def test_bytes_body(server):
    r = h1_request(server.port, "GET", "/bytes")
    assert (r.status, r.body) == (200, b"\x00\x01binary\xff\r\n")
    assert r.header("content-type") == "application/octet-stream"


def test_custom_headers(server):
    r = h1_request(server.port, "GET", "/headers")
    assert r.status == 200
    assert r.header("x-custom") == "yes"
    assert r.header("x-another-one") == "value with spaces"


@pytest.mark.parametrize("code", [201, 202, 418, 503])
def test_status_codes(server, code):
    r = h1_request(server.port, "GET", f"/status?{code}")
    assert r.status == code
    assert r.body == f"status {code}".encode()


def test_default_status_is_200(server):
    r = h1_request(server.port, "GET", "/default")
    assert (r.status, r.body) == (200, b"default")


def test_empty_body(server):
    r = h1_request(server.port, "GET", "/empty")
    assert r.status == 200 and r.body == b""
    assert r.header("content-length") == "0"


def test_response_header_injection_is_not_possible(server):
    with connect(server.port) as s:
        s.sendall(build_request("GET", "/inject"))
        r = H1Reader(s).read_response()
    assert b"\r\nInjected:" not in r.raw_head
    assert r.header("injected") is None
    assert r.status in (200, 500)


@pytest.mark.parametrize("key", ["status", "body", "content_type", "headers"])
def test_wrong_type_in_res_gives_500_and_names_key(start_server, key):
    srv = start_server()
    since = srv.stderr_len()
    r = h1_request(srv.port, "GET", f"/bad?{key}")
    assert r.status == 500
    assert b"should not be sent" not in r.body
    log = srv.wait_stderr(lambda t: key in t, since)
    assert key in log, f"no log line naming {key!r}:\n{log}"
    helpers.assert_serving(srv.port)


def test_raising_handler_gives_500_and_traceback(server):
    marker = f"m{time.time_ns()}"
    since = server.stderr_len()
    r = h1_request(server.port, "GET", f"/raise?{marker}")
    assert r.status == 500
    assert marker.encode() not in r.body  # no traceback leaks to the client
    log = server.wait_stderr(lambda t: f"ValueError: boom-{marker}" in t, since)
    assert "Traceback" in log and f"ValueError: boom-{marker}" in log, log
    # the worker serves on, many times over
    for _ in range(10):
        helpers.assert_serving(server.port)
    r = h1_request(server.port, "GET", f"/raise?{marker}2")
    assert r.status == 500
    helpers.assert_serving(server.port)


def test_raising_pooled_handler(server):
    marker = f"p{time.time_ns()}"
    since = server.stderr_len()
    r = h1_request(server.port, "GET", f"/pooled/raise?{marker}")
    assert r.status == 500
    log = server.wait_stderr(lambda t: f"ValueError: boom-{marker}" in t, since)
    assert "Traceback" in log and f"boom-{marker}" in log
    r = h1_request(server.port, "GET", "/pooled/interp")
    assert r.status == 200


def test_many_connections_sequentially(server):
    for _ in range(200):
        r = h1_request(server.port, "GET", "/")
        assert r.status == 200


def test_client_half_close_after_request(server):
    with connect(server.port) as s:
        s.sendall(build_request("GET", "/query?halfclose"))
        s.shutdown(socket.SHUT_WR)
        r = H1Reader(s).read_response()
        assert r.json()["query"] == "halfclose"


@pytest.mark.parametrize("status, phrase", [(200, "OK"), (207, "Multi-Status"), (418, "I'm a Teapot"),
                                            (421, "Misdirected Request"), (451, "Unavailable For Legal Reasons"),
                                            (511, "Network Authentication Required"), (599, "")])
def test_reason_phrases(server, status, phrase):
    # the registry's phrases as Python's http.HTTPStatus spells them; a code
    # it does not name gets an empty one (RFC 9112 4: reason-phrase may be empty)
    with connect(server.port) as s:
        s.sendall(f"GET /status?{status} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        r = H1Reader(s).read_response()
    assert r.status == status and r.raw_head.split(b"\r\n", 1)[0] == f"HTTP/1.1 {status} {phrase}".encode()
