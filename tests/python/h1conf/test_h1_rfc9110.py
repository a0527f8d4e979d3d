"""The server-side MUSTs of RFC 9110 on the HTTP/1.1 path: HEAD, 1xx, 204
and 304, Expect, 405 with Allow, 501, Date, Content-Length."""
import email.utils

import pytest

from h1x import answered, rejected, status_line, still_open


def test_9110_9_3_2_head_same_fields_no_body(h1):
    """9.3.2: the server SHOULD send the fields GET would have (the same
    Content-Length) and MUST NOT send content in the response to HEAD."""
    c = h1.conn()
    c.send(b"GET /big?321 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    g = c.response()
    c.send(b"HEAD /big?321 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    h = c.response("HEAD")
    status_line(h, 200)
    strip = {"date"}
    assert [kv for kv in g.headers if kv[0] not in strip] == [kv for kv in h.headers if kv[0] not in strip]
    still_open(c)  # would fail to parse if HEAD had sent 321 bytes


def test_9110_9_3_2_head_of_get_route(h1):
    """9.3.2: HEAD on a route registered for GET only: the router serves it
    as GET without content (the same Content-Length)."""
    c = h1.conn()
    c.send(b"HEAD /only-get HTTP/1.1\r\nHost: localhost\r\n\r\n")
    r = c.response("HEAD")
    status_line(r, 200)
    assert r.header("content-length") == "8", r.headers  # len("HEAD / 0")
    still_open(c)


def test_9110_15_3_5_204_no_content_length(h1):
    """8.6 / 15.3.5: a server MUST NOT send Content-Length in a 204, and a
    204 has no content (the handler's body is dropped)."""
    r = answered(h1, b"GET /status?204 HTTP/1.1\r\nHost: localhost\r\n\r\n", 204)
    assert r.header("content-length") is None and r.header("transfer-encoding") is None


def test_9110_15_4_5_304_no_content(h1):
    """15.4.5: a 304 has no content; the next response follows its head."""
    r = answered(h1, b"GET /status?304 HTTP/1.1\r\nHost: localhost\r\n\r\n", 304)
    assert r.header("transfer-encoding") is None


@pytest.mark.parametrize("status", [100, 101, 103])
def test_9110_15_2_handler_1xx_not_final(h1, status):
    """15.2: a 1xx is interim, never the final answer (a client would wait
    on for one); a handler that sets one as its status gets a 500."""
    r = answered(h1, b"GET /status?%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % status, 500)
    assert r.header("content-length") == str(len(r.body))


def test_9110_10_1_1_expect_100_continue(h1):
    """10.1.1: a server that receives 100-continue sends 100 (Continue)
    before reading the body (or a final status instead); the client waits
    for it here before it sends the body."""
    c = h1.conn()
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    r = c.response(informational=True)
    status_line(r, 100)
    assert r.headers == [], r.headers
    c.send(b"hello")
    r = c.response()
    status_line(r, 200)
    assert r.body == b"hello"
    still_open(c)


def test_9110_10_1_1_expect_100_no_body(h1):
    """10.1.1: a server MAY omit 100 when there is no body to wait for: the
    final answer comes, and no stray 100 before a later request."""
    c = h1.conn()
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n\r\n")
    r = c.response(informational=True)
    status_line(r, 200)
    still_open(c)


def test_9110_10_1_1_expect_100_in_http_1_0_ignored(h1):
    """10.1.1: a server MUST ignore a 100-continue expectation in an
    HTTP/1.0 request: no 100, the body is read as framed."""
    c = h1.conn()
    c.send(b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
    r = c.response(informational=True)
    status_line(r, 200)
    assert r.body == b"hi"


def test_9110_10_1_1_unknown_expectation_417(h1):
    """10.1.1: an Expect other than 100-continue MAY be answered 417."""
    rejected(h1, b"POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: x-magic\r\nContent-Length: 2\r\n\r\nhi", 417)


def test_9110_15_5_6_405_with_allow(h1):
    """15.5.6: the origin server MUST generate an Allow field in a 405."""
    r = answered(h1, b"DELETE /only-get HTTP/1.1\r\nHost: localhost\r\n\r\n", 405)
    allow = {m.strip() for m in r.header("allow", "").split(",")}
    assert "GET" in allow and "DELETE" not in allow, r.headers


def test_9110_9_1_unknown_method(h1):
    """9.1 / 15.6.2: a method the server does not recognize SHOULD be 501.
    Our router answers per resource: on a path that exists an unknown
    method (FOO) is a 405 with Allow (a deviation kept: the router knows
    the methods a path has, not a global method list; RFC 9110 allows 405
    for a method the target resource does not support)."""
    r = answered(h1, b"FOO / HTTP/1.1\r\nHost: localhost\r\n\r\n", 405)
    assert "GET" in r.header("allow", "")
    answered(h1, b"FOO /nope HTTP/1.1\r\nHost: localhost\r\n\r\n", 404)


def test_9110_6_6_1_date_header(h1):
    """6.6.1: an origin server with a clock MUST send Date in 2xx, 3xx and
    4xx responses (IMF-fixdate, GMT); we send it in every response."""
    for req, status in [(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 200),
                        (b"GET /status?302 HTTP/1.1\r\nHost: localhost\r\n\r\n", 302),
                        (b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n", 404)]:
        r = answered(h1, req, status)
        d = r.header("date")
        assert d and d.endswith(" GMT"), r.headers
        assert email.utils.parsedate_to_datetime(d) is not None
    r = rejected(h1, b"GET / HTTP/1.1\r\n\r\n")
    assert r.header("date", "").endswith(" GMT"), r.headers


@pytest.mark.parametrize("n", [0, 1, 16383, 16384, 65537, 300000])
def test_9110_8_6_content_length_is_bytes_sent(h1, n):
    """8.6: Content-Length is the number of octets of the content: exactly
    that many follow, then the next response."""
    c = h1.conn()
    c.send(b"GET /big?%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % n)
    r = c.response()
    status_line(r, 200)
    assert r.header("content-length") == str(n) and len(r.body) == n
    still_open(c)


def test_9110_server_header_once(h1):
    """5.3: a sender MUST NOT generate several lines of a field that is not
    a list (Date, Content-Length, Server): each appears once."""
    r = answered(h1, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    for name in ("date", "content-length", "server", "content-type"):
        assert len(r.header_all(name)) <= 1, (name, r.headers)
