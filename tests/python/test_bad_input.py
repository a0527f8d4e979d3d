"""Malformed and oversized HTTP/1.1 requests, sent as raw bytes.

Every malformed request gets 400 and the connection closed; header blocks
over the limit 431; bodies over the limit 413 before the body is read; an
unsupported version 505.  After each case the server still serves.
"""
import time

import pytest

import helpers
from helpers import ServerProcess, assert_serving, build_request, connect, exchange_raw

LIMITS = dict(max_header_size=4096, max_headers=20, max_target_size=1024, max_body_size=65536)


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    yield from helpers.module_server("basic.py", tmp_path_factory, "limited", **LIMITS)


def expect(srv, data: bytes, statuses, must_close=True):
    resp, closed, rest = exchange_raw(srv.port, data, timeout=8)
    assert resp is not None, f"no response to {data[:200]!r} (closed={closed})"
    assert resp.status in statuses, f"{resp.status} for {data[:200]!r}"
    if must_close:
        assert closed, f"connection not closed after {resp.status} for {data[:200]!r}"
        assert rest == b"", f"bytes after the error response: {rest[:200]!r}"
    assert_serving(srv.port)
    return resp


H = "Host: localhost\r\n"

MALFORMED_400 = {
    # framing
    "cl_and_te": f"POST /echo HTTP/1.1\r\n{H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_and_cl": f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "duplicate_cl_differing": f"POST /echo HTTP/1.1\r\n{H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "cl_list_differing": f"POST /echo HTTP/1.1\r\n{H}Content-Length: 5, 6\r\n\r\nhello!",
    "cl_negative": f"POST /echo HTTP/1.1\r\n{H}Content-Length: -5\r\n\r\nhello",
    "cl_non_numeric": f"POST /echo HTTP/1.1\r\n{H}Content-Length: abc\r\n\r\nhello",
    "cl_trailing_garbage": f"POST /echo HTTP/1.1\r\n{H}Content-Length: 5x\r\n\r\nhello",
    "cl_plus_sign": f"POST /echo HTTP/1.1\r\n{H}Content-Length: +5\r\n\r\nhello",
    "cl_hex": f"POST /echo HTTP/1.1\r\n{H}Content-Length: 0x5\r\n\r\nhello",
    "cl_empty": f"POST /echo HTTP/1.1\r\n{H}Content-Length: \r\n\r\nhello",
    # header syntax
    "obs_fold_space": f"GET / HTTP/1.1\r\n{H}X-A: a\r\n b\r\n\r\n",
    "obs_fold_tab": f"GET / HTTP/1.1\r\n{H}X-A: a\r\n\tb\r\n\r\n",
    "nul_in_value": f"GET / HTTP/1.1\r\n{H}X-A: a\x00b\r\n\r\n",
    "nul_in_name": f"GET / HTTP/1.1\r\n{H}X-\x00A: b\r\n\r\n",
    "bare_cr_in_value": f"GET / HTTP/1.1\r\n{H}X-A: a\rb\r\n\r\n",
    "bare_cr_in_request_line": f"GET /\r HTTP/1.1\r\n{H}\r\n",
    "space_before_colon": "GET / HTTP/1.1\r\nHost : localhost\r\n\r\n",
    "space_in_name": f"GET / HTTP/1.1\r\n{H}X A: b\r\n\r\n",
    "empty_name": f"GET / HTTP/1.1\r\n{H}: b\r\n\r\n",
    "no_colon": f"GET / HTTP/1.1\r\n{H}NoColonHere\r\n\r\n",
    "missing_host_http11": "GET / HTTP/1.1\r\nX-A: b\r\n\r\n",
    "two_hosts": f"GET / HTTP/1.1\r\n{H}Host: other\r\n\r\n",
    # chunked encoding
    "chunk_size_not_hex": f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunk_size_negative": f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n-1\r\nh\r\n0\r\n\r\n",
    "chunk_size_0x": f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "chunk_size_empty": f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n",
    "chunk_data_without_crlf": f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    # request line
    "request_line_one_token": "GET\r\n\r\n",
    "request_line_extra_token": f"GET / HTTP/1.1 extra\r\n{H}\r\n",
    "request_line_double_space": f"GET  / HTTP/1.1\r\n{H}\r\n",
    "request_line_no_method": f"/ HTTP/1.1\r\n{H}\r\n",
    "bad_protocol_name": f"GET / HTTX/1.1\r\n{H}\r\n",
    "bad_version_suffix": f"GET / HTTP/1.1x\r\n{H}\r\n",
    "lowercase_protocol": f"GET / http/1.1\r\n{H}\r\n",
    "control_char_in_target": f"GET /a\x01b HTTP/1.1\r\n{H}\r\n",
    "del_in_target": f"GET /a\x7fb HTTP/1.1\r\n{H}\r\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED_400))
def test_malformed_gives_400_and_close(limited, name):
    expect(limited, MALFORMED_400[name].encode("latin-1"), {400})


OVERFLOW_400_OR_413 = {
    "cl_overflow": f"POST /echo HTTP/1.1\r\n{H}Content-Length: 99999999999999999999999999\r\n\r\nhello",
    "chunk_size_overflow": f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n"
                           "ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(OVERFLOW_400_OR_413))
def test_numeric_overflow_rejected(limited, name):
    expect(limited, OVERFLOW_400_OR_413[name].encode(), {400, 413})


TE_NOT_CHUNKED = {
    "te_chunked_not_last": f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "te_unknown_only": f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: gzip\r\n\r\nhello",
    "te_chunked_twice": f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(TE_NOT_CHUNKED))
def test_transfer_encoding_not_ending_in_chunked(limited, name):
    # RFC 9112 6.3: 400 and close; 501 (unknown coding) is tolerated.
    expect(limited, TE_NOT_CHUNKED[name].encode(), {400, 501})


def test_invalid_method_token(limited):
    expect(limited, f"G(T / HTTP/1.1\r\n{H}\r\n".encode(), {400, 501})


def test_tls_client_hello_on_cleartext_port(limited):
    """Binary garbage where a request line belongs (a TLS ClientHello, then a
    blank line so that a parser that waits for the end of the head sees one)."""
    hello = bytes.fromhex("16030100c4010000c00303") + b"\x00" * 200 + b"\r\n\r\n"
    expect(limited, hello, {400})


def test_duplicate_identical_content_length_is_not_smuggling(limited):
    """Identical duplicates may be accepted (RFC 9110 8.6) or refused; either
    way the body must be framed by that length."""
    data = f"POST /echo HTTP/1.1\r\n{H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello".encode()
    with connect(limited.port) as s:
        s.sendall(data + build_request("GET", "/query?next"))
        reader = helpers.H1Reader(s)
        r = reader.read_response()
        if r.status == 200:
            assert r.body == b"hello"
            assert reader.read_response().json()["query"] == "next"
        else:
            assert r.status == 400


# -- limits ----------------------------------------------------------------

def test_header_field_over_limit_gives_431(limited):
    data = build_request("GET", "/", headers={"X-Big": "a" * 5000})
    expect(limited, data, {431})


def test_header_block_over_limit_gives_431(limited):
    data = build_request("GET", "/", headers=[(f"X-H{i}", "b" * 500) for i in range(10)])
    expect(limited, data, {431})


def test_too_many_headers_gives_431(limited):
    data = build_request("GET", "/", headers=[(f"X-N{i}", "v") for i in range(30)])
    expect(limited, data, {431})


def test_headers_just_under_limits_are_fine(limited):
    r = helpers.h1_request(limited.port, "GET", "/", headers=[(f"X-N{i}", "v" * 100) for i in range(18)])
    assert r.status == 200


def test_target_over_limit(limited):
    data = build_request("GET", "/" + "a" * 2000)
    expect(limited, data, {414, 431})


def test_unterminated_head_over_limit_gives_431(limited):
    """A head that never ends: the server must stop buffering at the limit."""
    with connect(limited.port) as s:
        s.sendall(f"GET / HTTP/1.1\r\n{H}X-Endless: ".encode())
        resp = None
        try:  # a little over the limit, in pieces, and never a CRLF
            for _ in range(6):
                s.sendall(b"x" * 1000)
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reader = helpers.H1Reader(s)
        try:
            resp = reader.read_response()
        except helpers.ConnectionClosed:
            pass
        assert resp is not None and resp.status == 431
    assert_serving(limited.port)


def test_body_over_limit_gives_413_before_body_is_read(limited):
    head = build_request("POST", "/echo", headers={"Content-Length": str(LIMITS["max_body_size"] + 1)})
    t0 = time.monotonic()
    resp = expect(limited, head, {413})  # the body is never sent
    assert time.monotonic() - t0 < 5
    assert resp.status == 413


def test_body_over_limit_with_expect_gets_no_100(limited):
    head = build_request("POST", "/echo", headers={"Content-Length": str(10 * LIMITS["max_body_size"]),
                                                   "Expect": "100-continue"})
    with connect(limited.port) as s:
        s.sendall(head)
        r = helpers.H1Reader(s).read_response(allow_informational=True)
        assert r.status == 413
    assert_serving(limited.port)


def test_body_at_limit_is_accepted(limited):
    body = helpers.random_body(LIMITS["max_body_size"], seed=2)
    r = helpers.h1_request(limited.port, "POST", "/echo", body=body)
    assert r.status == 200 and r.body == body


def test_chunked_body_over_limit_gives_413(limited):
    chunk = b"c" * 11000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(6)) + b"0\r\n\r\n"  # 66000 bytes
    head = build_request("POST", "/echo", headers={"Transfer-Encoding": "chunked"})
    resp, closed, _ = exchange_raw(limited.port, head + body, timeout=8)
    assert resp is not None and resp.status == 413
    assert closed
    assert_serving(limited.port)


@pytest.mark.parametrize("version", ["HTTP/3.0", "HTTP/9.1"])
def test_unsupported_version_gives_505(limited, version):
    expect(limited, f"GET / {version}\r\n{H}\r\n".encode(), {505})


def test_http20_request_line_without_preface(limited):
    expect(limited, f"GET / HTTP/2.0\r\n{H}\r\n".encode(), {505, 400})


def test_malformed_after_valid_pipelined_request(limited):
    """The valid request is answered, then 400 and close."""
    with connect(limited.port) as s:
        s.sendall(build_request("GET", "/query?ok") + b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
        reader = helpers.H1Reader(s)
        assert reader.read_response().json()["query"] == "ok"
        assert reader.read_response().status == 400
        closed, _ = helpers.wait_closed(s, 5)
        assert closed


def test_bad_http2_preface_closes(limited):
    with connect(limited.port) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\x00" * 30)
        closed, _ = helpers.wait_closed(s, 5)
        assert closed
    assert_serving(limited.port)


def test_http2_garbage_frames_get_goaway(limited):
    with helpers.H2Client(limited.port) as c:
        c.handshake()
        # a DATA frame on stream 0 is a connection error (PROTOCOL_ERROR)
        c.sock.sendall(b"\x00\x00\x04\x00\x00\x00\x00\x00\x00abcd")
        c.read_until_closed(5)
        assert c.goaway is not None or c.closed
    assert_serving(limited.port)


def test_barrage_of_bad_requests_then_still_serving(limited):
    payloads = [v.encode("latin-1") for v in MALFORMED_400.values()]

    def send(p):
        try:
            exchange_raw(limited.port, p, timeout=8)
        except OSError:
            pass

    helpers.run_threads([lambda p=p: send(p) for p in payloads * 3], timeout=120)
    assert_serving(limited.port)
