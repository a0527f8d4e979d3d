"""RFC 9112 sections 6-7: message body length (6.3, its eight cases) and
the chunked transfer coding.  A framing error is a 400 and the connection
closes ("respond with 400 and then close"): what follows cannot be
delimited."""
import pytest

from h1x import answered, rejected, status_line, still_open


def post(headers: bytes, body: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return b"POST /echo " + version + b"\r\nHost: localhost\r\n" + headers + b"\r\n" + body


# -- 6.1 Transfer-Encoding -----------------------------------------------------------

def test_6_1_chunked_final_accepted(h1):
    """6.1: a recipient MUST be able to parse chunked: the body arrives
    decoded."""
    r = answered(h1, post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"))
    assert r.body == b"abcde"


@pytest.mark.parametrize("te", [b"chunked, gzip", b"gzip", b"identity", b"chunked;q=1"])
def test_6_1_chunked_not_final_400(h1, te):
    """6.1/6.3: a Transfer-Encoding in a request whose final coding is not
    chunked: the server MUST respond 400 and then close the connection."""
    rejected(h1, post(b"Transfer-Encoding: " + te + b"\r\n", b"3\r\nabc\r\n0\r\n\r\n"))


def test_6_1_chunked_twice_400(h1):
    """6.1: chunked MUST NOT be applied more than once: "chunked, chunked"
    cannot be decoded as sent: 400."""
    rejected(h1, post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"))


def test_6_1_unknown_coding_501(h1):
    """6.1: a transfer coding the server does not understand (before a
    final chunked) SHOULD be answered 501, then close."""
    rejected(h1, post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501)


def test_6_1_http_1_0_with_transfer_encoding(h1):
    """6.1: a server that receives an HTTP/1.0 request with
    Transfer-Encoding MUST treat the framing as faulty (even with a
    Content-Length) and close the connection: we answer 400 and close."""
    rejected(h1, post(b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n", b"HTTP/1.0"))
    rejected(h1, post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n", b"HTTP/1.0"))


# -- 6.2 / 6.3 message body length ---------------------------------------------------------

def test_6_3_case1_head_response_has_no_body(h1):
    """6.3 (1): a response to HEAD ends with its header section, whatever
    Content-Length says: the next response on the connection follows at
    once."""
    c = h1.conn()
    c.send(b"HEAD /big?100 HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    r = c.response("HEAD")
    status_line(r, 200)
    assert r.header("content-length") == "100"
    r2 = c.response()
    assert r2.status == 200 and r2.body == b"GET / 0", r2


@pytest.mark.parametrize("status", [204, 304])
def test_6_3_case1_204_304_no_body(h1, status):
    """6.3 (1): 1xx, 204 and 304 responses end with their header section
    (the handler's body is dropped); RFC 9110 8.6: no Content-Length on 204."""
    c = h1.conn()
    c.send(b"GET /status?%d HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n" % status)
    r = c.response()
    status_line(r, status)
    if status == 204:
        assert r.header("content-length") is None, r.headers
        assert r.header("transfer-encoding") is None, r.headers
    # a 304 may carry the Content-Length a GET would have had (RFC 9110 8.6)
    r2 = c.response()
    assert r2.status == 200 and r2.body == b"GET / 0", (r2, c.reader.buf)


def test_6_3_case3_te_and_cl_400(h1):
    """6.3 (3): Transfer-Encoding together with Content-Length: the server
    MAY reject and MUST close the connection after responding: 400."""
    rejected(h1, post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"))
    rejected(h1, post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"))


@pytest.mark.parametrize("cl", [b"abc", b"-1", b"+5", b"", b"5,", b"0x5", b"1 2", b"5.0",
                                b"99999999999999999999"])
def test_6_3_case5_invalid_content_length_400(h1, cl):
    """6.3 (5): an invalid Content-Length without Transfer-Encoding is an
    unrecoverable error: the server MUST respond 400 and then close."""
    rejected(h1, post(b"Content-Length: " + cl + b"\r\n", b"abcde"))


@pytest.mark.parametrize("fields", [b"Content-Length: 5\r\nContent-Length: 6\r\n",
                                    b"Content-Length: 5, 6\r\n"])
def test_6_3_case5_differing_content_lengths_400(h1, fields):
    """6.3 (5) / RFC 9110 8.6: several Content-Length values that differ are
    invalid framing: 400 and close."""
    rejected(h1, post(fields, b"abcdef"))


@pytest.mark.parametrize("fields", [b"Content-Length: 5\r\nContent-Length: 5\r\n",
                                    b"Content-Length: 5, 5\r\n"])
def test_6_3_case5_identical_content_lengths_accepted(h1, fields):
    """RFC 9110 8.6: a recipient MAY accept a list of identical
    Content-Length values as one: we do, and the body is 5 octets."""
    r = answered(h1, post(fields, b"abcde"))
    assert r.body == b"abcde"


def test_6_3_case6_content_length_delimits(h1):
    """6.3 (6): a valid Content-Length is the body length; bytes after it
    are the next request."""
    c = h1.conn()
    c.send(post(b"Content-Length: 3\r\n", b"abcGET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
    r = c.response()
    status_line(r, 200)
    assert r.body == b"abc"
    r2 = c.response()
    assert r2.status == 200 and r2.body == b"GET / 0"


def test_6_3_case6_incomplete_body_not_processed(h1):
    """6.3 (6) / 8: a connection closed before the Content-Length octets
    arrived is an incomplete message: it MUST NOT be processed as whole
    (no 200); the server closes."""
    c = h1.conn()
    c.send(post(b"Content-Length: 10\r\n", b"abc"))
    c.shutdown_write()
    assert c.closed(), "connection still open"
    assert b"HTTP/1.1 200" not in c.reader.buf, c.reader.buf
    h1.serves()


def test_6_3_case7_no_length_means_no_body(h1):
    """6.3 (7): a request with neither Content-Length nor Transfer-Encoding
    has a body of length zero; what follows is the next request."""
    c = h1.conn()
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    r = c.response()
    status_line(r, 200)
    assert r.body == b"" and r.header("x-body-len") == "0"
    r2 = c.response()
    assert r2.status == 200 and r2.body == b"GET / 0"


def test_6_3_body_over_limit_413(h1):
    """RFC 9110 15.5.14: a body larger than the server accepts (max_body_size
    1 MiB here) is refused with 413 before it is read, then close."""
    rejected(h1, post(b"Content-Length: %d\r\n" % (2 << 20)), 413)


# -- 7.1 chunked coding ------------------------------------------------------------------

@pytest.mark.parametrize("body,want", [
    (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),            # upper-case hex
    (b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),            # lower-case hex
    (b"0003\r\nabc\r\n000\r\n\r\n", b"abc"),                      # leading zeros
    (b"3;name=value\r\nabc\r\n0\r\n\r\n", b"abc"),               # extension
    (b"3;a;b=\"q s\"\r\nabc\r\n0;last\r\n\r\n", b"abc"),          # quoted ext value, on last-chunk
    (b"3 ;a\r\nabc\r\n0\r\n\r\n", b"abc"),                        # BWS before ';'
    (b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n", b"abc"),          # many chunks
    (b"0\r\n\r\n", b""),                                           # last-chunk only
])
def test_7_1_chunked_decoded(h1, body, want):
    """7.1: chunk-size is hex (any case, leading zeros); 7.1.1: unrecognized
    chunk extensions MUST be ignored; last-chunk ends the body."""
    r = answered(h1, post(b"Transfer-Encoding: chunked\r\n", body))
    assert r.body == want


def test_7_1_2_trailers_accepted_not_merged(h1):
    """7.1.2: a trailer section after the last-chunk is read (and, unlike
    a header, MUST NOT be merged into the header section without a reason:
    the handler does not see it)."""
    c = h1.conn()
    c.send(post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\nX-Trailer: t\r\nX-Two: 2\r\n\r\n"))
    r = c.response()
    status_line(r, 200)
    assert r.body == b"abc"
    assert "x-trailer" not in r.header("x-seen"), r.header("x-seen")
    still_open(c)


@pytest.mark.parametrize("body", [
    b"g\r\nabc\r\n0\r\n\r\n",                 # not hex
    b"\r\nabc\r\n0\r\n\r\n",                  # empty size
    b"-3\r\nabc\r\n0\r\n\r\n",                # sign
    b"0x3\r\nabc\r\n0\r\n\r\n",               # prefix
    b"3\r\nabcX\r\n0\r\n\r\n",                # data longer than the size
    b"3\r\nabc0\r\n\r\n",                     # no CRLF after the data
    b"3\nabc\n0\n\n",                         # bare LF
    b"3\rabc\r\n0\r\n\r\n",                   # bare CR
    b"11111111111111111\r\na\r\n",            # 17 hex digits: overflow
])
def test_7_1_bad_chunked_400(h1, body):
    """7.1: a chunk-size that is not 1*HEXDIG, chunk data not followed by
    CRLF, a bare CR or LF, an overflowing size: the framing is invalid: 400
    and close."""
    rejected(h1, post(b"Transfer-Encoding: chunked\r\n", body))


def test_7_1_chunked_over_limit_413(h1):
    """A chunked body that grows past max_body_size (1 MiB) is refused with
    413 (RFC 9110 15.5.14) and the connection closes."""
    chunk = b"x" * 65536
    body = (b"10000\r\n" + chunk + b"\r\n") * 20 + b"0\r\n\r\n"
    rejected(h1, post(b"Transfer-Encoding: chunked\r\n", body), 413)
