"""WebSockets in the access log and the metrics (csrc/server/accesslog.c,
metrics.c, ws/conn.c), and the native deny() (an HTTP answer instead of
the handshake's, over HTTP/1.1 and HTTP/2 - RFC 8441 section 5).

Clients: `websockets` (HTTP/1.1; InvalidStatus carries the refusal), h2 +
wsproto (HTTP/2, test_websocket.H2WebSockets), prometheus_client's parser
for the metrics (test_metrics.samples).
"""
import asyncio
import re

import pytest

import helpers

websockets = pytest.importorskip("websockets")
from websockets.exceptions import InvalidStatus  # noqa: E402

pytest.importorskip("prometheus_client.parser")
from test_metrics import diff, samples, settle, value  # noqa: E402
from test_websocket import H2WebSockets, TextMessage, CloseConnection  # noqa: E402

PROBE = "/__fa_test_ready"
WS_LINE = re.compile(r'^INFO:     127\.0\.0\.1:(\d+) - "WebSocket (\S+)" (\S+)$')


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="module")
def mport():
    return helpers.free_port()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, mport):
    yield from helpers.module_server("ws_app.py", tmp_path_factory, "wsobs", num_pinned_workers=1,
                                     access_log=True, metrics_port=mport, graceful_timeout=3.0)


def ws_lines(srv, count, since, timeout=10.0, path=""):
    """WebSocket lines after since (with path in them); lines of an earlier
    test may come late (the log flushes on a 100 ms timer)."""
    def lines(t):
        return [ln for ln in t.splitlines() if ln.startswith("INFO:") and f'"WebSocket {path}' in ln]
    return lines(srv.wait_stderr(lambda t: len(lines(t)) >= count, since=since, timeout=timeout))


# --------------------------------------------------------------------------
# access log

def test_accepted_and_refused_lines_are_uvicorns(srv):
    since = srv.stderr_len()

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/echo?x=1") as c:
            port = c.transport.get_extra_info("sockname")[1]
            await c.send("hi")
            assert await c.recv() == "hi"
        with pytest.raises(InvalidStatus) as e:
            async with websockets.connect(f"ws://127.0.0.1:{srv.port}/reject"):
                pass
        assert e.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as e:
            async with websockets.connect(f"ws://127.0.0.1:{srv.port}/raise-before"):
                pass
        assert e.value.response.status_code == 500
        return port
    port = run(go())
    lines = [ln for ln in ws_lines(srv, 3, since) if "/echo-" not in ln]
    assert lines[0] == f'INFO:     127.0.0.1:{port} - "WebSocket /echo?x=1" [accepted]'
    got = [WS_LINE.match(ln).group(2, 3) for ln in lines]
    assert got == [("/echo?x=1", "[accepted]"), ("/reject", "403"), ("/raise-before", "500")]


def test_h2_websocket_line(srv):
    since = srv.stderr_len()
    c = H2WebSockets(srv.port)
    try:
        sid = c.connect_ws("/echo")
        assert c.wait_response(sid)[":status"] == "200"
        sid2 = c.connect_ws("/reject")
        assert c.wait_response(sid2)[":status"] == "403"
    finally:
        c.close()
    got = [WS_LINE.match(ln).group(2, 3) for ln in ws_lines(srv, 2, since)]
    assert got == [("/echo", "[accepted]"), ("/reject", "403")]


def test_custom_format_atoms(start_server):
    s_ = start_server("ws_app.py", num_pinned_workers=1, access_log=True,
                      access_log_format="W|{method}|{target}|{protocol}|{status}|{status_phrase}")
    since = s_.stderr_len()

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{s_.port}/echo") as c:
            await c.send("x")
            await c.recv()
    run(go())
    c = H2WebSockets(s_.port)
    try:
        sid = c.connect_ws("/reject")
        assert c.wait_response(sid)[":status"] == "403"
    finally:
        c.close()

    def lines(t):
        return [ln for ln in t.splitlines() if ln.startswith("W|") and PROBE not in ln]
    got = lines(s_.wait_stderr(lambda t: len(lines(t)) >= 2, since=since, timeout=10))
    assert got == ["W|GET|/echo|HTTP/1.1|101|Switching Protocols", "W|CONNECT|/reject|HTTP/2|403|Forbidden"]


# --------------------------------------------------------------------------
# metrics

def test_metrics_count_websockets(srv, mport):
    a = samples(mport)

    async def go():
        for _ in range(3):
            async with websockets.connect(f"ws://127.0.0.1:{srv.port}/echo") as c:
                for i in range(4):
                    await c.send(str(i))
                    assert await c.recv() == str(i)
        c = await websockets.connect(f"ws://127.0.0.1:{srv.port}/close?4321&bye")  # the handler closes
        await c.wait_closed()
        # one left open while the gauge is read
        held = await websockets.connect(f"ws://127.0.0.1:{srv.port}/echo")
        await held.send("x")
        await held.recv()
        mid = samples(mport)
        await held.close(code=4000)
        return mid
    mid = run(go())
    assert value(mid, "fasterapi_websockets_open") == 1
    b = settle(mport, lambda s: value(s, "fasterapi_websockets_open") == 0)
    assert value(b, "fasterapi_websockets_open") == 0
    assert diff(a, b, "fasterapi_websockets_opened_total") == 5
    assert diff(a, b, "fasterapi_websocket_messages_total", direction="in") == 13
    assert diff(a, b, "fasterapi_websocket_messages_total", direction="out") == 13
    closed = {k: diff(a, b, "fasterapi_websockets_closed_total", code_class=k)
              for k in ("normal", "going_away", "abnormal", "error", "application")}
    assert closed == {"normal": 3, "going_away": 0, "abnormal": 0, "error": 0, "application": 2}, closed
    # the handshakes are requests too: 101 (1xx) on HTTP/1.1
    assert diff(a, b, "fasterapi_requests_total", method="GET", status_class="1xx", protocol="HTTP/1.1") == 5


def test_metrics_abnormal_and_h2(srv, mport):
    a = samples(mport)
    c = H2WebSockets(srv.port)
    sid = c.connect_ws("/echo")
    assert c.wait_response(sid)[":status"] == "200"
    c.send(sid, TextMessage(data="h2"))
    assert c.recv(sid) == ["h2"]
    c.close()  # no close frame: 1006
    b = settle(mport, lambda s: diff(a, s, "fasterapi_websockets_closed_total", code_class="abnormal") >= 1)
    assert diff(a, b, "fasterapi_websockets_opened_total") == 1
    assert diff(a, b, "fasterapi_websockets_closed_total", code_class="abnormal") == 1
    assert diff(a, b, "fasterapi_requests_total", method="CONNECT", status_class="2xx", protocol="HTTP/2") == 1
    assert value(b, "fasterapi_websockets_open") == 0


# --------------------------------------------------------------------------
# deny(): the handler's own HTTP answer before accept

def test_deny_h1(srv):
    since = srv.stderr_len()

    async def go():
        with pytest.raises(InvalidStatus) as e:
            async with websockets.connect(f"ws://127.0.0.1:{srv.port}/deny"):
                pass
        return e.value.response
    r = run(go())
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="ws"'
    assert r.headers["content-type"] == "text/plain"
    assert r.body == b"no token"
    srv.wait_stderr(lambda t: "FA-WS deny-accept" in t, since=since, timeout=10)
    assert "FA-WS deny-accept WebSocketDisconnect" in srv.stderr()[since:]
    assert WS_LINE.match(ws_lines(srv, 1, since, path="/deny")[0]).group(2, 3) == ("/deny", "401")
    # the server still serves
    assert helpers.h1_request(srv.port, "GET", "/plain").status == 200


def test_deny_bad_status_is_value_error(srv):
    async def go():
        with pytest.raises(InvalidStatus) as e:
            async with websockets.connect(f"ws://127.0.0.1:{srv.port}/deny?bad"):
                pass
        return e.value.response
    r = run(go())
    assert r.status_code == 400
    assert b"status 101 cannot refuse a WebSocket handshake" in r.body


def test_deny_h2_is_a_non_2xx_on_the_connect_stream(srv):
    c = H2WebSockets(srv.port)
    try:
        sid = c.connect_ws("/deny")
        c.ws.pop(sid)  # a refusal is expected: its DATA is an HTTP body, not frames
        c.pump(lambda: sid in c.ended or sid in c.resets)
        assert sid not in c.resets
        h = c.responses[sid]
        assert h[":status"] == "401"
        assert h["www-authenticate"] == 'Bearer realm="ws"'
        assert c.bodies.get(sid) == b"no token"
        # the connection goes on: a WebSocket and a plain request after it
        sid2 = c.connect_ws("/echo")
        assert c.wait_response(sid2)[":status"] == "200"
        c.send(sid2, TextMessage(data="after deny"))
        assert c.recv(sid2) == ["after deny"]
        c.send(sid2, CloseConnection(code=1000))
        assert c.get("/plain")[0] == "200"
    finally:
        c.close()


def test_deny_h2_refuses_2xx(srv):
    c = H2WebSockets(srv.port)
    try:
        sid = c.connect_ws("/deny?bad")
        c.ws.pop(sid)
        c.pump(lambda: sid in c.ended or sid in c.resets)
        assert c.responses[sid][":status"] == "400"
        assert b"status 204 cannot refuse a WebSocket handshake; use 300-599" in c.bodies.get(sid, b"")
    finally:
        c.close()


# --------------------------------------------------------------------------
# max_websockets (a cap per worker: 503 past it) and the close wait

def test_max_websockets_refuses_503_over_h1_and_h2(start_server):
    from test_websocket import raw_open
    s_ = start_server("ws_app.py", num_pinned_workers=1, max_websockets=2, metrics_port=helpers.free_port())
    a = samples(s_.config["metrics_port"])

    async def go():
        c1 = await websockets.connect(f"ws://127.0.0.1:{s_.port}/echo")
        c2 = await websockets.connect(f"ws://127.0.0.1:{s_.port}/echo")
        with pytest.raises(InvalidStatus) as e:
            async with websockets.connect(f"ws://127.0.0.1:{s_.port}/echo"):
                pass
        assert e.value.response.status_code == 503
        h = H2WebSockets(s_.port)
        try:
            sid = h.connect_ws("/echo")
            assert h.wait_response(sid)[":status"] == "503"
            assert h.get("/plain")[0] == "200"  # plain requests are not capped
        finally:
            h.close()
        await c1.send("still open")
        assert await c1.recv() == "still open"
        await c1.close()
        await c1.wait_closed()
        # one place is free again (once the server has let go of the first)
        for _ in range(100):
            try:
                c3 = await websockets.connect(f"ws://127.0.0.1:{s_.port}/echo")
                break
            except InvalidStatus as e:
                assert e.response.status_code == 503
                await asyncio.sleep(0.05)
        await c3.send("third")
        assert await c3.recv() == "third"
        await c3.close()
        await c2.close()
    run(go())
    b = samples(s_.config["metrics_port"])
    assert diff(a, b, "fasterapi_admission_refusals_total") >= 2
    s, _ = raw_open(s_.port)  # the server still serves
    s.close()


@pytest.mark.parametrize("bad, exc, text", [
    (-1, ValueError, "max_websockets must be >= 0"),
    ("10", TypeError, "max_websockets must be an int"),
    (True, TypeError, "max_websockets must be an int"),
])
def test_max_websockets_bad_values(bad, exc, text):
    from fasterapi._native.http2 import PyHttp2Server
    with pytest.raises(exc, match=text):
        PyHttp2Server(port=0, max_websockets=bad)


def test_close_wait_follows_graceful_timeout(start_server):
    # the handler closes; the client never answers with its close frame: the
    # server gives up after graceful_timeout (0.5 s here; it was a fixed 5 s)
    from test_websocket import raw_open
    import time
    s_ = start_server("ws_app.py", num_pinned_workers=1, graceful_timeout=0.5)
    s, rest = raw_open(s_.port, "/close?1000")
    t0 = time.monotonic()
    closed, data = helpers.wait_closed(s, 10.0)
    waited = time.monotonic() - t0
    s.close()
    assert closed
    assert (rest + data)[:1] == b"\x88"  # our close frame came first
    assert waited < 4.5, waited
