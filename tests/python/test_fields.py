"""The fields the server adds to every answer (csrc/server/fields.c):
`server: fasterapi`, `date:` and the operator's defaults (headers=, the
CLI's --header), the same on HTTP/1.1 and HTTP/2; a field the handler sets
replaces ours of the same name; server_header=False / date_header=False
leave ours out.  Read with raw HTTP/1.1 and the h2 library."""
import email.utils

import pytest

import helpers
from fasterapi._native.http2 import PyHttp2Server

DEFAULTS = ["X-Frame-Options: DENY", ["Strict-Transport-Security", "max-age=63072000"]]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    yield from helpers.module_server("basic.py", tmp_path_factory, "fields", headers=DEFAULTS)


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    yield from helpers.module_server("basic.py", tmp_path_factory, "fields-bare",
                                     server_header=False, date_header=False)


def fields_h1(port, path):
    r = helpers.h1_request(port, "GET", path)
    assert r.status == 200
    return r.headers


def fields_h2(port, path):
    r = helpers.h2_get(port, path)
    assert r.status == 200
    return [(k, v) for k, v in r.headers if not k.startswith(":")]


def names(fields):
    return [k for k, _ in fields]


@pytest.mark.parametrize("get", [fields_h1, fields_h2], ids=["h1", "h2"])
def test_defaults_on_every_answer(srv, get):
    f = get(srv.port, "/")
    assert dict(f)["server"] == "fasterapi"
    assert email.utils.parsedate_to_datetime(dict(f)["date"]) is not None
    assert dict(f)["x-frame-options"] == "DENY"
    assert dict(f)["strict-transport-security"] == "max-age=63072000"
    for n in ("server", "date", "x-frame-options", "strict-transport-security"):
        assert names(f).count(n) == 1, f


@pytest.mark.parametrize("get", [fields_h1, fields_h2], ids=["h1", "h2"])
def test_handler_fields_replace_ours(srv, get):
    f = get(srv.port, "/own-fields")
    for n, v in (("server", "mine"), ("date", "Thu, 01 Jan 1970 00:00:00 GMT"),
                 ("x-frame-options", "SAMEORIGIN")):
        assert [x for k, x in f if k == n] == [v], f
    assert dict(f)["strict-transport-security"] == "max-age=63072000"


def test_error_answers_carry_them_too(srv):
    r, _, _ = helpers.exchange_raw(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    assert r.status == 400
    assert r.header("x-frame-options") == "DENY" and r.header("server") == "fasterapi"


@pytest.mark.parametrize("get", [fields_h1, fields_h2], ids=["h1", "h2"])
def test_server_and_date_off(bare, get):
    f = get(bare.port, "/")
    assert "server" not in names(f) and "date" not in names(f), f
    f = get(bare.port, "/own-fields")
    assert dict(f)["server"] == "mine" and dict(f)["date"] == "Thu, 01 Jan 1970 00:00:00 GMT"


@pytest.mark.parametrize("kw, exc, text", [
    (dict(headers=["no colon"]), ValueError, "is not 'Name: value'"),
    (dict(headers=[("Bad Name", "v")]), ValueError, "only letters, digits"),
    (dict(headers=[("X-A", "a\r\nInjected: 1")]), ValueError, "must not hold CR, LF or NUL"),
    (dict(headers=[("X-A", 1)]), TypeError, "(name, value) pair of str"),
    (dict(headers=5), TypeError, "headers must be a dict"),
    (dict(headers=[f"X-{i}: v" for i in range(17)]), ValueError, "too many default headers"),
])
def test_bad_defaults_are_refused(kw, exc, text):
    with pytest.raises(exc, match=text.replace("(", r"\(").replace(")", r"\)")):
        PyHttp2Server(port=0, **kw)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    # a dict is taken as its items; a `server` default replaces ours
    yield from helpers.module_server("basic.py", tmp_path_factory, "fields-edge",
                                     headers={"Server": "edge", "X-A": "1"})


@pytest.mark.parametrize("get", [fields_h1, fields_h2], ids=["h1", "h2"])
def test_a_server_default_replaces_ours(edge, get):
    f = get(edge.port, "/")
    assert [v for k, v in f if k == "server"] == ["edge"], f
    assert dict(f)["x-a"] == "1" and "date" in names(f)
    f = get(edge.port, "/own-fields")
    assert [v for k, v in f if k == "server"] == ["mine"], f
