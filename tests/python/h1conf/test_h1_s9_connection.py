"""RFC 9112 section 9: connection management (persistence, close,
pipelining, half-close) and RFC 9110 7.6.1 (Connection options)."""
import time

from h1x import answered, status_line

GET = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


def test_9_3_http_1_1_persistent_by_default(h1):
    """9.3: HTTP/1.1 connections persist unless "close" is sent: three
    requests, one after the other, on one connection."""
    c = h1.conn()
    for _ in range(3):
        c.send(GET)
        r = c.response()
        status_line(r, 200)
        assert (r.header("connection") or "").lower() != "close"


def test_9_3_http_1_0_closes_by_default(h1):
    """9.3: an HTTP/1.0 request without keep-alive: the connection is not
    persistent; the server closes after the answer."""
    answered(h1, b"GET / HTTP/1.0\r\n\r\n", keep=False)


def test_9_3_http_1_0_keep_alive(h1):
    """9.3 / RFC 9112 C.2.2: an HTTP/1.0 request with "Connection:
    keep-alive" may persist: we keep it and say so in the answer."""
    c = h1.conn()
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r = c.response()
    status_line(r, 200)
    assert (r.header("connection") or "").lower() == "keep-alive", r.headers
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert c.response().status == 200


def test_9_6_close_option_ends_connection(h1):
    """9.6: a server that receives "close" MUST initiate the close after the
    final response to that request, SHOULD send "close" in it, and MUST NOT
    process further requests on that connection (a pipelined second one)."""
    c = h1.conn()
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" + GET)
    r = c.response()
    status_line(r, 200)
    assert (r.header("connection") or "").lower() == "close"
    assert c.closed(), "connection still open after Connection: close"
    assert c.reader.buf == b"", f"a second request was answered: {c.reader.buf[:80]!r}"


def test_9_6_close_option_case_and_list(h1):
    """9.6 / RFC 9110 7.6.1: connection options are case-insensitive tokens
    in a list: "Foo, CLOSE" closes too."""
    answered(h1, b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: foo, CLOSE\r\n\r\n", keep=False)


def test_9_6_server_close_announced(h1):
    """9.6: a server that closes after a response (here a 400) sends the
    close connection option in it (checked by rejected() on every error
    of the suite; here once more, on a request that had asked to persist)."""
    c = h1.conn()
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\nContent-Length: x\r\n\r\n")
    r = c.response()
    status_line(r, 400)
    assert (r.header("connection") or "").lower() == "close"
    assert c.closed()


def test_9_3_2_pipelined_answers_in_order(h1):
    """9.3.2: a server MUST send the responses to pipelined requests in the
    order the requests were received (different routes and lengths)."""
    c = h1.conn()
    reqs = [b"GET /big?5000 HTTP/1.1\r\nHost: localhost\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\none",
            b"GET /status?404 HTTP/1.1\r\nHost: localhost\r\n\r\n",
            b"HEAD /big?7 HTTP/1.1\r\nHost: localhost\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n",
            GET]
    c.send(b"".join(reqs))
    got = [c.response(), c.response(), c.response(), c.response("HEAD"), c.response(), c.response()]
    assert [r.status for r in got] == [200, 200, 404, 200, 200, 200]
    assert len(got[0].body) == 5000 and got[1].body == b"one" and got[4].body == b"two"
    assert got[3].body == b"" and got[3].header("content-length") == "7"
    assert got[5].body == b"GET / 0"


def test_9_3_2_pipelined_byte_by_byte(h1):
    """9.3.2: pipelined requests split at every byte boundary are read the
    same (the parser never decides on a prefix)."""
    c = h1.conn()
    data = (b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi" + GET)
    for i in range(len(data)):
        c.send(data[i:i + 1])
        if i % 16 == 0:
            time.sleep(0.001)
    assert c.response().body == b"hi"
    assert c.response().body == b"GET / 0"


def test_9_6_half_close_answered(h1):
    """9.6: a client that half-closes (shutdown of its sending side) after
    a complete request still gets the answer; then the server closes."""
    c = h1.conn()
    c.send(GET)
    c.shutdown_write()
    r = c.response()
    status_line(r, 200)
    assert r.body == b"GET / 0"
    assert c.closed()


def test_9_6_half_close_pipelined_all_answered(h1):
    """9.6: requests received before the client's half-close are all
    answered, in order, before the server closes."""
    c = h1.conn()
    c.send(GET + b"GET /status?404 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    c.shutdown_write()
    assert c.response().status == 200
    assert c.response().status == 404
    assert c.closed()


def test_9110_7_6_1_connection_options_not_forwarded(h1):
    """RFC 9110 7.6.1: the Connection field and the fields it names are for
    this hop; we are the last hop, so the handler may see them, but our
    response never echoes the request's Connection options (Keep-Alive,
    Upgrade, TE) as its own."""
    c = h1.conn()
    c.send(b"GET /seen HTTP/1.1\r\nHost: localhost\r\nConnection: x-hop, TE\r\nTE: trailers\r\nX-Hop: 1\r\n\r\n")
    r = c.response()
    status_line(r, 200)
    names = {k for k, _ in r.headers}
    assert "x-hop" not in names and "te" not in names and "upgrade" not in names, r.headers
    assert (r.header("connection") or "keep-alive").lower() in ("keep-alive",), r.headers
