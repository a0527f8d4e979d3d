"""RFC 9113 findings of issue 9, each with its exact error code, over raw
frames (h2frames), against our server and nghttpd (the oracle) alike."""

import pytest

import h2frames as F
import helpers


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    yield from helpers.module_server("conformance.py", tmp_path_factory, "h2conf",
                                     num_pinned_workers=1, num_pooled_workers=1)


@pytest.fixture(scope="module")
def nghttpd(tmp_path_factory):
    yield from helpers.nghttpd_server(tmp_path_factory)


@pytest.fixture(params=["ours", "nghttpd"])
def target(request):
    port = request.getfixturevalue("ours").port if request.param == "ours" else request.getfixturevalue("nghttpd")
    socks = []

    def connect():
        c = F.RawH2(helpers.connect(port))
        socks.append(c)
        return c
    connect.name = request.param
    yield connect
    for c in socks:
        c.close()


def _stop(f):
    return f.type in (F.GOAWAY, F.RST_STREAM)


def assert_conn_error(out, code):
    g = out.goaway()
    assert g is not None, f"no GOAWAY: {out.describe()}"
    assert g.error_code == code, f"{F.err_name(g.error_code)} != {F.err_name(code)}: {out.describe()}"


def test_3_4_invalid_preface_goaway_protocol_error(target, request):
    if target.name == "nghttpd":
        request.applymarker(pytest.mark.xfail(strict=True, reason="nghttpd 1.52 closes without GOAWAY"))
    c = target()
    c.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + F.settings())
    assert_conn_error(c.collect(_stop, 5), F.PROTOCOL_ERROR)


@pytest.mark.parametrize("kind", ["data", "headers"])
def test_5_1_frame_after_client_rst_stream_closed(target, kind):
    c = target()
    c.handshake()
    sid = c.request(end_stream=False)
    c.send(F.rst_stream(sid))
    c.send(F.data(sid, b"x", end_stream=True) if kind == "data"
           else F.headers(sid, c.enc.block([("x-trailer", "1")])))
    assert_conn_error(c.collect(_stop, 5), F.STREAM_CLOSED)


@pytest.mark.parametrize("kind", ["data", "headers"])
def test_5_1_6_1_frame_on_ended_stream_after_answer(target, kind):
    c = target()
    c.handshake()
    sid = c.request()
    status, _ = c.response(sid)
    assert status == 200
    c.send(F.data(sid, b"x", end_stream=True) if kind == "data"
           else F.headers(sid, c.enc.block([("x-trailer", "1")])))
    assert_conn_error(c.collect(_stop, 5), F.STREAM_CLOSED)


def test_5_1_1_lower_stream_id_protocol_error(target, request):
    if target.name == "nghttpd":
        request.applymarker(pytest.mark.xfail(strict=True, reason="nghttp2 1.52 ignores it"))
    c = target()
    c.handshake()
    c.request(stream_id=5)
    c.response(5)
    c.request(stream_id=3)
    out = c.collect(_stop, 5)
    assert_conn_error(out, F.PROTOCOL_ERROR)
    assert not any(f.stream_id == 3 and f.type in (F.HEADERS, F.DATA) for f in out.frames)


def test_5_3_1_priority_on_itself_protocol_error(target):
    c = target()
    c.handshake()
    c.send(F.priority(1, 1))
    assert_conn_error(c.collect(_stop, 5), F.PROTOCOL_ERROR)


def test_6_3_priority_stream_0_protocol_error(target):
    c = target()
    c.handshake()
    c.send(F.priority(0, 1))
    assert_conn_error(c.collect(_stop, 5), F.PROTOCOL_ERROR)


def test_6_1_data_on_idle_stream_protocol_error(target):
    c = target()
    c.handshake()
    c.send(F.data(1, b"x", end_stream=True))
    assert_conn_error(c.collect(_stop, 5), F.PROTOCOL_ERROR)
