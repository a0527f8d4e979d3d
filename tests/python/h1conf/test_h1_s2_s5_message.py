"""RFC 9112 sections 2-5: message format, request line, request target,
Host, status line, field syntax.  A request the server cannot parse is a
400 and the connection closes (the framing of what follows is unknown)."""
import pytest

from h1x import answered, rejected, status_line

GET = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


# -- 2 message format ---------------------------------------------------------------

def test_2_2_leading_empty_lines_ignored(h1):
    """2.2: a server SHOULD ignore at least one empty line (CRLF) received
    before the request-line."""
    answered(h1, b"\r\n\r\n" + GET)


@pytest.mark.parametrize("where", ["field-value", "request-line", "field-name"])
def test_2_2_bare_cr_rejected(h1, where):
    """2.2: a bare CR (not followed by LF) MUST be treated as invalid (or
    replaced by SP): we reject it with 400."""
    data = {"field-value": b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n",
            "request-line": b"GET /\r HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "field-name": b"GET / HTTP/1.1\r\nHost: localhost\r\nX\rA: b\r\n\r\n"}[where]
    rejected(h1, data)


def test_2_2_whitespace_before_first_field_rejected(h1):
    """2.2: whitespace between the start-line and the first field line MUST
    be rejected as invalid (or the line consumed unprocessed): 400."""
    rejected(h1, b"GET / HTTP/1.1\r\n Host: localhost\r\n\r\n")


def test_2_2_lf_only_line_ends_rejected(h1):
    """2.2: a recipient MAY recognize a single LF as a line terminator; we
    do not (a bare LF is a request-smuggling vector between parsers that
    differ on it): 400 and close.  Kept on purpose."""
    rejected(h1, b"GET / HTTP/1.1\nHost: localhost\n\n")


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/3.0", b"HTTP/9.9"])
def test_2_3_unsupported_major_version_505(h1, version):
    """2.3 / RFC 9110 15.6.6: a major version the server does not support
    is answered 505 (HTTP Version Not Supported)."""
    rejected(h1, b"GET / " + version + b"\r\nHost: localhost\r\n\r\n", 505)


@pytest.mark.parametrize("version", [b"http/1.1", b"HTTP/1", b"HTTP/1.1.1", b"HTTP/11", b"HTTP/1.x",
                                     b"HTTP /1.1"])
def test_2_3_malformed_version_400(h1, version):
    """2.3: HTTP-version is case-sensitive "HTTP/" DIGIT "." DIGIT; anything
    else makes the request-line invalid: 400."""
    rejected(h1, b"GET / " + version + b"\r\nHost: localhost\r\n\r\n")


def test_2_3_higher_minor_version_served_as_1_1(h1):
    """2.3: a server SHOULD accept a higher minor version of HTTP/1 and
    answer as HTTP/1.1, the highest it conforms to."""
    r = answered(h1, b"GET / HTTP/1.9\r\nHost: localhost\r\n\r\n")
    assert r.body == b"GET / 0"


def test_2_3_http_1_0_answered_with_1_1(h1):
    """2.3: a server sends its own version (HTTP/1.1) in the status line of
    its answer to an HTTP/1.0 request."""
    r = answered(h1, b"GET / HTTP/1.0\r\n\r\n", keep=False)
    assert r.body == b"GET / 0"


# -- 3 request line -----------------------------------------------------------------

@pytest.mark.parametrize("line", [b"GET /", b"GET", b"GET  / HTTP/1.1", b"GET / HTTP/1.1 x",
                                  b"G(T / HTTP/1.1", b" GET / HTTP/1.1", b"GET /a b HTTP/1.1"])
def test_3_invalid_request_line_400(h1, line):
    """3: request-line = method SP request-target SP HTTP-version, method a
    token; an invalid request-line SHOULD get 400 (we never guess)."""
    rejected(h1, line + b"\r\nHost: localhost\r\n\r\n")


def test_3_method_case_sensitive(h1):
    """3.1: the method token is case-sensitive: "get" is not GET (the
    router has no such method for /: 405 with Allow)."""
    r = answered(h1, b"get / HTTP/1.1\r\nHost: localhost\r\n\r\n", 405)
    assert "GET" in r.header("allow", "")


def test_3_target_too_long_414(h1):
    """3 / RFC 9110 15.5.15: a request-target longer than the server wishes
    to parse MUST be answered 414 (our max_target_size is 8192)."""
    rejected(h1, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414)


def test_3_2_missing_host_400(h1):
    """3.2: a server MUST respond 400 to an HTTP/1.1 request without Host."""
    rejected(h1, b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n")


def test_3_2_two_hosts_400(h1):
    """3.2: ... or with more than one Host field line."""
    rejected(h1, b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n")


def test_3_2_host_list_400(h1):
    """3.2: ... or a Host field of several values (one line, a list)."""
    rejected(h1, b"GET / HTTP/1.1\r\nHost: a.example, b.example\r\n\r\n")


@pytest.mark.parametrize("host", [b"a b", b"a/b", b"local\"host", b"[::1", b"host:port", b"a@b",
                                  b"a:1:2", b"[]"])
def test_3_2_invalid_host_400(h1, host):
    """3.2: ... or a Host field with an invalid value (uri-host [":" port])."""
    rejected(h1, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")


@pytest.mark.parametrize("host", [b"localhost:8000", b"127.0.0.1", b"[::1]:80", b"xn--bcher-kva.example"])
def test_3_2_valid_host_forms(h1, host):
    """3.2: reg-name, IPv4, IP-literal and a port are valid Host values."""
    answered(h1, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")


def test_3_2_empty_host_accepted(h1):
    """3.2: an empty Host is valid when the target has no authority (the
    ABNF allows uri-host to be empty)."""
    answered(h1, b"GET / HTTP/1.1\r\nHost:\r\n\r\n")


def test_3_2_http_1_0_without_host(h1):
    """3.2: the 400 for a missing Host is for HTTP/1.1; an HTTP/1.0 request
    without it is answered."""
    answered(h1, b"GET / HTTP/1.0\r\n\r\n", keep=False)


@pytest.mark.parametrize("scheme", [b"http", b"HTTPS"])
def test_3_2_2_absolute_form_accepted(h1, scheme):
    """3.2.2: a server MUST accept the absolute-form; the target's authority
    replaces Host (3.2.2: the Host field MUST be ignored)."""
    c = h1.conn()
    c.send(b"GET " + scheme + b"://origin.example/seen?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n")
    r = c.response()
    status_line(r, 200)
    seen = r.json()
    assert seen["path"] == "/seen" and seen["query"] == "q=1", seen
    assert seen["headers"].get("host") == "origin.example", seen


def test_3_2_3_authority_form_only_for_connect(h1):
    """3.2.3: the authority-form is only for CONNECT: a GET with it is a
    400."""
    rejected(h1, b"GET localhost:80 HTTP/1.1\r\nHost: localhost\r\n\r\n")


def test_3_2_3_connect_not_a_proxy(h1):
    """3.2.3 / RFC 9110 9.1: CONNECT with an authority-form target; we are
    an origin server, not a tunnel: 501 (a method the server does not
    implement), and the connection closes (what followed might be tunnel
    bytes)."""
    rejected(h1, b"CONNECT origin.example:443 HTTP/1.1\r\nHost: origin.example:443\r\n\r\n", 501)


@pytest.mark.parametrize("target", [b"/", b"origin.example", b"http://origin.example/"])
def test_3_2_3_connect_needs_authority_form(h1, target):
    """3.2.3: CONNECT takes the authority-form only (host ":" port): any
    other target is a bad request."""
    rejected(h1, b"CONNECT " + target + b" HTTP/1.1\r\nHost: origin.example\r\n\r\n")


def test_3_2_4_asterisk_form_options(h1):
    """3.2.4: OPTIONS * (the asterisk-form) asks about the server itself,
    not a resource (RFC 9110 9.3.7): answered 200, empty, not routed."""
    r = answered(h1, b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert r.header("content-length") == "0" and r.body == b""


@pytest.mark.parametrize("method", [b"GET", b"POST", b"HEAD"])
def test_3_2_4_asterisk_form_only_for_options(h1, method):
    """3.2.4: the asterisk-form is only for OPTIONS: another method is 400."""
    rejected(h1, method + b" * HTTP/1.1\r\nHost: localhost\r\n\r\n")


@pytest.mark.parametrize("target", [b"localhost/", b"?q", b"#frag", b"/a#frag", b"/a\x7fb", b"/\x00",
                                    b"ftp://origin.example/", b"http://user@origin.example/",
                                    b"http:///x"])
def test_3_2_invalid_target_400(h1, target):
    """3.2: a target that is none of the four forms (or one with a
    fragment, userinfo, an empty authority, a scheme we do not serve) is
    a bad request: 400."""
    rejected(h1, b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")


# -- 4 status line ------------------------------------------------------------------

def test_4_status_line_format(h1):
    """4: status-line = HTTP-version SP 3DIGIT SP [reason-phrase] CRLF."""
    c = h1.conn()
    c.send(b"GET /status?404 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    r = c.response()
    line = r.raw_head.split(b"\r\n", 1)[0]
    assert line == b"HTTP/1.1 404 Not Found", line


# -- 5 field syntax -----------------------------------------------------------------

@pytest.mark.parametrize("line", [b"Host : localhost", b"Host\t: localhost", b"X-A : b"])
def test_5_1_whitespace_before_colon_400(h1, line):
    """5.1: no whitespace is allowed between the field name and the colon;
    a server MUST reject such a request with 400."""
    extra = b"" if line.startswith(b"Host") else b"Host: localhost\r\n"
    rejected(h1, b"GET / HTTP/1.1\r\n" + extra + line + b"\r\n\r\n")


@pytest.mark.parametrize("line", [b": empty-name", b"X A: b", b"X(A): b", b"no-colon", b"X-\x80: b"])
def test_5_1_invalid_field_name_400(h1, line):
    """5.1: field-name is a token; a line that is not `token ":" value` is
    an invalid request: 400."""
    rejected(h1, b"GET / HTTP/1.1\r\nHost: localhost\r\n" + line + b"\r\n\r\n")


def test_5_1_ows_around_value_stripped(h1):
    """5.1: OWS before and after the field value is not part of it."""
    c = h1.conn()
    c.send(b"GET /seen HTTP/1.1\r\nHost: localhost\r\nX-A: \t value \t \r\n\r\n")
    r = c.response()
    status_line(r, 200)
    assert r.json()["headers"]["x-a"] == "value"


def test_5_2_obs_fold_400(h1):
    """5.2: a server that receives obs-fold MUST reject with 400 or replace
    each obs-fold with SP: we reject."""
    rejected(h1, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n b\r\n\r\n")


@pytest.mark.parametrize("value", [b"a\x00b", b"a\x01b", b"a\x7fb"])
def test_5_5_control_in_value_400(h1, value):
    """5.5 / RFC 9110 5.5: CR, LF and NUL are invalid in a field value and
    MUST be rejected (or replaced); other CTLs are not field-vchar: 400."""
    rejected(h1, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: " + value + b"\r\n\r\n")


def test_5_5_obs_text_value_accepted(h1):
    """5.5: obs-text (octets 0x80-0xFF) is allowed in a field value."""
    answered(h1, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: caf\xe9\r\n\r\n")


def test_5_header_section_too_large_431(h1):
    """RFC 6585 / RFC 9110 15.5: a header section larger than the server's
    limit (max_header_size 16384) is answered 431."""
    rejected(h1, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: " + b"a" * 20000 + b"\r\n\r\n", 431)


def test_5_too_many_fields_431(h1):
    """RFC 6585 5: more field lines than the server's limit (max_headers
    100) is answered 431."""
    lines = b"".join(b"X-%d: v\r\n" % i for i in range(150))
    rejected(h1, b"GET / HTTP/1.1\r\nHost: localhost\r\n" + lines + b"\r\n", 431)
