"""RFC 9113 section 8: HTTP semantics over HTTP/2.  A malformed request is a
stream error PROTOCOL_ERROR (8.1.1): RST_STREAM on that stream, the
connection goes on serving."""
import pytest

import h2frames as F
from expect import assert_serves, block, conn_error, req, stream_error


def reset(c, fields, end_stream=True):
    sid = c.new_stream()
    c.send(F.headers(sid, block(*fields), end_stream=end_stream))
    stream_error(c, sid, F.PROTOCOL_ERROR)


BASE = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "localhost")]


def fields_without(c, name):
    return [f for f in req(c) if f[0] != name]


# -- 8.1 message framing ------------------------------------------------------------

@pytest.mark.parametrize("declared,sent", [(5, 3), (3, 5), (0, 1)])
def test_8_1_1_content_length_mismatch(h2, declared, sent):
    """8.1.1: a content-length that does not equal the sum of the DATA
    payloads makes the request malformed: stream error PROTOCOL_ERROR."""
    c = h2()
    sid = c.new_stream()
    c.send(F.headers(sid, block(*req(c, method="POST", path="/echo",
                                     extra=[("content-length", str(declared))])), end_stream=False),
           F.data(sid, b"x" * sent, end_stream=True))
    stream_error(c, sid, F.PROTOCOL_ERROR)


def test_8_1_1_content_length_matches(h2):
    """8.1.1: a correct content-length over several DATA frames is fine."""
    c = h2()
    sid = c.new_stream()
    c.send(F.headers(sid, block(*req(c, method="POST", path="/echo", extra=[("content-length", "6")])),
                     end_stream=False), F.data(sid, b"abc"), F.data(sid, b"def", end_stream=True))
    status, body = c.response(sid)
    assert status == 200 or h2.name == "nghttpd"  # nghttpd: 404 for POST
    if h2.name != "nghttpd":
        assert body == b"abcdef"


def test_8_1_trailers_accepted(h2):
    """8.1: trailers (a HEADERS with END_STREAM after DATA) end the request."""
    c = h2()
    sid = c.new_stream()
    c.send(F.headers(sid, block(*req(c, method="POST", path="/echo")), end_stream=False),
           F.data(sid, b"abc"), F.headers(sid, block(("x-digest", "1")), end_stream=True))
    status, body = c.response(sid)
    assert status == 200 or h2.name == "nghttpd"  # nghttpd: 404 for POST


def test_8_1_trailers_without_end_stream(h2):
    """8.1: a second HEADERS that does not end the stream is malformed:
    stream error PROTOCOL_ERROR."""
    c = h2()
    sid = c.new_stream()
    c.send(F.headers(sid, block(*req(c, method="POST", path="/echo")), end_stream=False),
           F.data(sid, b"abc"), F.headers(sid, block(("x-digest", "1")), end_stream=False))
    stream_error(c, sid, F.PROTOCOL_ERROR)


def test_8_1_pseudo_header_in_trailers(h2):
    """8.1/8.3: trailers MUST NOT contain pseudo-header fields: stream error
    PROTOCOL_ERROR."""
    c = h2()
    sid = c.new_stream()
    c.send(F.headers(sid, block(*req(c, method="POST", path="/echo")), end_stream=False),
           F.data(sid, b"abc"), F.headers(sid, block((":path", "/x")), end_stream=True))
    stream_error(c, sid, F.PROTOCOL_ERROR)


# -- 8.2 fields --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["X-Upper", "Host", "x-Mixed"])
def test_8_2_uppercase_field_name(h2, name):
    """8.2/8.2.1: field names with uppercase letters are malformed."""
    c = h2()
    reset(c, req(c, extra=[(name, "v")]))


@pytest.mark.parametrize("name", ["x y", "x:y", "x\x7f", "", "x\x00"])
def test_8_2_1_invalid_field_name(h2, name):
    """8.2.1: a field name with a character outside the token set (space,
    colon, DEL, NUL) or an empty name makes the request malformed."""
    c = h2()
    reset(c, req(c, extra=[(name, "v")]))


@pytest.mark.parametrize("value", ["a\x00b", "a\rb", "a\nb", " lead", "trail\t"])
def test_8_2_1_invalid_field_value(h2, value):
    """8.2.1: a field value with NUL, CR or LF, or starting or ending with
    whitespace, makes the request malformed."""
    c = h2()
    reset(c, req(c, extra=[("x-v", value)]))


@pytest.mark.parametrize("field", [("connection", "keep-alive"), ("keep-alive", "5"),
                                   ("proxy-connection", "x"), ("transfer-encoding", "chunked"),
                                   ("upgrade", "h2c"), ("te", "gzip"), ("te", "trailers, gzip")])
def test_8_2_2_connection_specific_field(h2, field):
    """8.2.2: connection-specific fields, and TE with anything but "trailers",
    make the request malformed."""
    c = h2()
    reset(c, req(c, extra=[field]))


def test_8_2_2_te_trailers_allowed(h2):
    """8.2.2: TE: trailers is the one value allowed."""
    c = h2()
    sid = c.new_stream()
    c.send(F.headers(sid, block(*req(c, extra=[("te", "trailers")]))))
    status, _ = c.response(sid)
    assert status == 200


def test_8_2_3_cookie_crumbs_joined(h2):
    """8.2.3: several cookie fields are allowed (and joined for the app)."""
    c = h2()
    sid = c.new_stream()
    c.send(F.headers(sid, block(*req(c, extra=[("cookie", "a=1"), ("cookie", "b=2")]))))
    status, _ = c.response(sid)
    assert status == 200


# -- 8.3 pseudo-header fields ---------------------------------------------------------------

@pytest.mark.parametrize("missing", [":method", ":scheme", ":path"])
def test_8_3_1_missing_pseudo_header(h2, missing):
    """8.3.1: a request without :method, :scheme or :path is malformed."""
    c = h2()
    reset(c, fields_without(c, missing))


@pytest.mark.parametrize("dup", [":method", ":scheme", ":path", ":authority"])
def test_8_3_duplicated_pseudo_header(h2, dup):
    """8.3: a pseudo-header field appears at most once."""
    c = h2()
    f = req(c)
    f.insert(4, (dup, dict(f)[dup]))
    reset(c, f)


def test_8_3_unknown_pseudo_header(h2):
    """8.3: an undefined pseudo-header field makes the request malformed."""
    c = h2()
    reset(c, req(c) + [(":foo", "bar")])


def test_8_3_response_pseudo_header_in_request(h2):
    """8.3: :status is for responses; in a request it is malformed."""
    c = h2()
    reset(c, req(c) + [(":status", "200")])


def test_8_3_pseudo_header_after_regular_field(h2):
    """8.3: pseudo-header fields come before regular ones."""
    c = h2()
    f = req(c)
    reset(c, f[:2] + [("x-a", "1")] + f[2:])


def test_8_3_1_empty_path(h2):
    """8.3.1: :path MUST NOT be empty for http and https URIs."""
    c = h2()
    f = [(k, "" if k == ":path" else v) for k, v in req(c)]
    reset(c, f)


def test_8_3_1_missing_authority_and_host(h2):
    """8.3.1: for http and https the request MUST carry :authority or Host:
    without both it is malformed."""
    c = h2()
    reset(c, fields_without(c, ":authority"))


def test_8_3_1_host_instead_of_authority(h2):
    """8.3.1: a Host field may stand in for :authority."""
    c = h2()
    sid = c.new_stream()
    c.send(F.headers(sid, block(*fields_without(c, ":authority"), ("host", "localhost"))))
    status, _ = c.response(sid)
    assert status == 200


def test_8_5_connect_with_path_malformed(h2):
    """8.5: a CONNECT request (not extended) has no :scheme or :path."""
    c = h2()
    reset(c, [(":method", "CONNECT"), (":authority", "localhost:443"), (":path", "/"),
              (":scheme", c.scheme)])


def test_8_5_connect_without_authority_malformed(h2):
    """8.5: a CONNECT request MUST carry :authority."""
    c = h2()
    reset(c, [(":method", "CONNECT")])


def test_8_1_1_malformed_then_connection_serves(h2):
    """8.1.1: a malformed request costs only its stream: several in a row,
    then a good request, all on one connection."""
    c = h2()
    for name in ("X-A", "connection", ":foo"):
        sid = c.new_stream()
        c.send(F.headers(sid, block(*req(c, extra=[(name, "v")]))))
        stream_error(c, sid, F.PROTOCOL_ERROR, serves=False)
    assert_serves(c)
