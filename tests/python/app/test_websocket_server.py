"""The application layer's WebSockets on the real server, in sub-interpreter
and main-interpreter modes: with Python's `websockets` library as the
client over HTTP/1.1 (messages of every kind, parameters and dependencies,
close codes both ways, refusals 403 / 404 / 500, 1 MiB messages, 50 at
once, HTTP beside them), and with h2 + wsproto over HTTP/2 (RFC 8441:
several app WebSockets and a plain request on one connection, refusals)."""
import asyncio
import json
from pathlib import Path

import pytest

import helpers

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

APP = str(Path(__file__).resolve().parent / "apps" / "ws_app.py")


def _native_has_websockets() -> bool:
    from fasterapi._native.http2 import PyHttp2Server
    return hasattr(PyHttp2Server, "add_websocket")


pytestmark = pytest.mark.skipif(not _native_has_websockets(),
                                reason="the native server of this build has no add_websocket")


@pytest.fixture(scope="module", params=["sub", "main"])
def ws_server(request, tmp_path_factory):
    yield from helpers.module_server(APP, tmp_path_factory, f"ws-app-{request.param}", num_pinned_workers=1,
                                     num_pooled_workers=0, num_pooled_interpreters=0,
                                     interpreters=request.param)


def url(srv, path):
    return f"ws://127.0.0.1:{srv.port}{path}"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def http_json(srv, path):
    r = helpers.curl(f"http://127.0.0.1:{srv.port}{path}")
    assert r.status == 200, r
    return json.loads(r.body)


def test_text_and_binary_echo(ws_server):
    async def main():
        async with connect(url(ws_server, "/echo")) as c:
            for i in range(20):
                await c.send(f"msg {i} ü")
                assert await c.recv() == f"msg {i} ü"
            await c.send(b"\x00\xffbin")
            assert await c.recv() == b"\x00\xffbin"
            await c.close(code=4001, reason="client done")
    run(main())
    assert {"echo closed": 4001, "reason": "client done"} in http_json(ws_server, "/log")


def test_json_text_and_binary_modes(ws_server):
    async def main():
        async with connect(url(ws_server, "/json")) as c:
            await c.send(json.dumps({"a": [1, 2]}))
            assert json.loads(await c.recv()) == {"got": {"a": [1, 2]}}
            binary = await c.recv()
            assert isinstance(binary, bytes) and json.loads(binary) == {"binary": {"a": [1, 2]}}
    run(main())


def test_parameters_dependencies_and_app_close_code(ws_server):
    async def main():
        async with connect(url(ws_server, "/items/7?token=tk&q=a&q=b"),
                           additional_headers={"X-Client": "c1"}) as c:
            got = json.loads(await c.recv())
            with pytest.raises(ConnectionClosed):
                await c.recv()
            return got, c.close_code, c.close_reason
    got, code, reason = run(main())
    assert got == {"item_id": 7, "user": "tk", "res": "res", "x_client": "c1", "q": ["a", "b"]}
    assert (code, reason) == (4000, "done")
    log = http_json(ws_server, "/log")
    assert log.index("resource open") < log.index("resource closed")


def test_cookie_parameter(ws_server):
    async def main():
        async with connect(url(ws_server, "/items/1"), additional_headers={"Cookie": "session=s1"}) as c:
            return json.loads(await c.recv())
    assert run(main())["user"] == "s1"


@pytest.mark.parametrize("path", ["/items/notanint?token=t", "/items/1", "/nothing-here"])
def test_refused_before_accept(ws_server, path):
    # validation failure (1008), WebSocketException before accept (1008), a path with no
    # WebSocket route: the handshake is refused; the client sees the HTTP status
    async def main():
        with pytest.raises(InvalidStatus) as ei:
            async with connect(url(ws_server, path)):
                pass  # pragma: no cover
        return ei.value.response.status_code
    status = run(main())
    assert status in ((404,) if path == "/nothing-here" else (403,)), status


def test_exception_before_accept_is_500(ws_server):
    async def main():
        with pytest.raises(InvalidStatus) as ei:
            async with connect(url(ws_server, "/raise-before")):
                pass  # pragma: no cover
        return ei.value.response.status_code
    assert run(main()) == 500


def test_http_exception_and_denial_response_before_accept(ws_server):
    # the native server's deny(): the handler's own HTTP answer, not a 403
    async def main():
        out = []
        for path in ("/http-exception", "/denial"):
            with pytest.raises(InvalidStatus) as ei:
                async with connect(url(ws_server, path)):
                    pass  # pragma: no cover
            out.append(ei.value.response)
        return out
    exc, denial = run(main())
    assert exc.status_code == 401
    assert exc.headers["www-authenticate"] == "Ticket"
    assert json.loads(exc.body) == {"detail": "no ticket"}
    assert denial.status_code == 418
    assert denial.headers["x-why"] == "tea"
    assert denial.headers["content-type"].startswith("text/plain")
    assert denial.body == b"go away"


def test_h2_http_exception_and_denial_response(ws_server):
    c = _h2_client(ws_server.port)
    try:
        for path, status, body in (("/http-exception", "401", b'{"detail":"no ticket"}'),
                                   ("/denial", "418", b"go away")):
            sid = c.connect_ws(path)
            c.ws.pop(sid)  # an HTTP answer: its DATA is a body
            c.pump(lambda: sid in c.ended or sid in c.resets)
            assert c.responses[sid][":status"] == status
            assert c.bodies.get(sid) == body
        assert c.get("/plain") == ("200", b'{"http":true}')
    finally:
        c.close()


def test_exception_after_accept_closes_1011(ws_server):
    async def main():
        async with connect(url(ws_server, "/raise-after")) as c:
            await c.send("go")
            with pytest.raises(ConnectionClosed):
                await c.recv()
            return c.close_code
    assert run(main()) == 1011


def test_websocket_exception_after_accept(ws_server):
    async def main():
        async with connect(url(ws_server, "/app-closes")) as c:
            await c.send("that")
            with pytest.raises(ConnectionClosed):
                await c.recv()
            return c.close_code, c.close_reason
    assert run(main()) == (1003, "cannot take that")


def test_endpoint_returning_closes_1000(ws_server):
    async def main():
        async with connect(url(ws_server, "/returns")) as c:
            assert await c.recv() == "bye"
            with pytest.raises(ConnectionClosed):
                await c.recv()
            return c.close_code
    assert run(main()) == 1000


def test_subprotocol_headers_scope_and_url(ws_server):
    async def main():
        async with connect(url(ws_server, "/info/b%C3%B6b?x=1"), subprotocols=["v1", "v2"]) as c:
            return c.subprotocol, c.response.headers.get("x-accepted"), json.loads(await c.recv())
    proto, accepted, got = run(main())
    assert proto == "v2" and accepted == "yes"
    assert got["name"] == "böb" and got["path"] == "/info/böb" and got["offered"] == ["v1", "v2"]
    assert got["url"].startswith(f"ws://127.0.0.1:{ws_server.port}/info/") and got["query"] == {"x": "1"}
    assert got["client_host"] == "127.0.0.1" and got["type"] == "websocket" and got["http_version"] == "1.1"


def test_router_prefix_and_client_close(ws_server):
    async def main():
        async with connect(url(ws_server, "/v1/rooms/lobby")) as c:
            await c.send("hi")
            assert await c.recv() == "lobby: hi"
    run(main())
    assert "left lobby" in http_json(ws_server, "/log")


def test_large_message(ws_server):
    data = bytes(range(256)) * 4096  # 1 MiB
    async def main():
        async with connect(url(ws_server, "/big"), max_size=None) as c:
            await c.send(data)
            return await c.recv(), await c.recv()
    echoed, n = run(main())
    assert echoed == data and n == str(len(data))


def test_many_websockets_at_once_and_http_beside_them(ws_server):
    async def one(i):
        async with connect(url(ws_server, f"/v1/rooms/r{i}")) as c:
            for j in range(5):
                await c.send(str(j))
                assert await c.recv() == f"r{i}: {j}"
    async def main():
        await asyncio.gather(*(one(i) for i in range(50)))
    run(main())
    assert http_json(ws_server, "/plain") == {"http": True}


# -- HTTP/2 (RFC 8441), with the native tests' h2 + wsproto client ------------------------

def _h2_client(port):
    # the HTTP/2 WebSocket client of the native layer's tests (h2 for the
    # connection, wsproto for the frames)
    pytest.importorskip("h2.connection")
    pytest.importorskip("wsproto")
    from test_websocket import H2WebSockets  # noqa: PLC0415 - tests/python is on sys.path
    return H2WebSockets(port)


def test_h2_app_websockets_beside_requests(ws_server):
    from wsproto.events import BytesMessage, CloseConnection, TextMessage
    c = _h2_client(ws_server.port)
    try:
        echo = c.connect_ws("/echo")
        item = c.connect_ws("/items/5?token=h2tok&q=z", headers=[("x-client", "h2c")])
        info = c.connect_ws("/info/h2name?x=2", headers=[("sec-websocket-protocol", "p1, p2")])
        for sid in (echo, item, info):
            assert c.wait_response(sid)[":status"] == "200"
        assert c.responses[info].get("sec-websocket-protocol") == "p2"
        assert c.get("/plain") == ("200", b'{"http":true}')
        c.send(echo, TextMessage(data="over h2 ✓"))
        assert c.recv(echo) == ["over h2 ✓"]
        c.send(echo, BytesMessage(data=b"\x01\x02"))
        assert c.recv(echo) == [b"\x01\x02"]
        got = json.loads(c.recv(item)[0])
        assert got == {"item_id": 5, "user": "h2tok", "res": "res", "x_client": "h2c", "q": ["z"]}
        c.pump(lambda: item in c.closes)
        assert c.closes[item] == (4000, "done")
        meta = json.loads(c.recv(info)[0])
        assert meta["http_version"] == "2" and meta["name"] == "h2name" and meta["offered"] == ["p1", "p2"]
        assert meta["query"] == {"x": "2"} and meta["url"] == "ws://127.0.0.1/info/h2name?x=2"
        c.send(echo, CloseConnection(code=4002, reason="h2 bye"))
        c.pump(lambda: echo in c.closes)
    finally:
        c.close()
    assert {"echo closed": 4002, "reason": "h2 bye"} in http_json(ws_server, "/log")


def test_h2_app_refusals(ws_server):
    c = _h2_client(ws_server.port)
    try:
        assert c.wait_response(c.connect_ws("/items/notanint?token=t"))[":status"] == "403"  # validation: 1008
        assert c.wait_response(c.connect_ws("/items/1"))[":status"] == "403"  # WebSocketException before accept
        assert c.wait_response(c.connect_ws("/raise-before"))[":status"] == "500"
        sid = c.connect_ws("/raise-after")
        assert c.wait_response(sid)[":status"] == "200"
        from wsproto.events import TextMessage
        c.send(sid, TextMessage(data="go"))
        c.pump(lambda: sid in c.closes)
        assert c.closes[sid][0] == 1011
        assert c.get("/plain") == ("200", b'{"http":true}')
    finally:
        c.close()


@pytest.mark.parametrize("mode", ["sub", "main"])
def test_graceful_stop_closes_app_websockets_with_1001(tmp_path, mode):
    import signal
    srv = helpers.ServerProcess(APP, workdir=tmp_path, num_pinned_workers=1, num_pooled_workers=0,
                                num_pooled_interpreters=0, interpreters=mode)
    try:
        async def main():
            async with connect(url(srv, "/hold")) as c:
                assert await c.recv() == "ready"
                srv.send_signal(signal.SIGTERM)
                with pytest.raises(ConnectionClosed):
                    await c.recv()
                return c.close_code
        assert run(main()) == 1001
        assert srv.wait(30) == 0
        err = srv.stderr()
        helpers.assert_no_sanitizer_reports(err, "ws_app.py")
        # the endpoint saw the server's going-away, and its yield dependency finished
        assert "FA-WSAPP hold closed 1001" in err and "FA-WSAPP hold dependency exit" in err
    finally:
        srv.kill()


def test_mounted_app_websocket_and_http(ws_server):
    async def main():
        async with connect(url(ws_server, "/sub/ws/r9")) as c:
            return json.loads(await c.recv())
    assert run(main()) == {"mounted": "r9", "path": "/sub/ws/r9"}
    assert http_json(ws_server, "/sub/hello") == {"sub": True}


def test_websocket_endpoint_class(ws_server):
    async def main():
        async with connect(url(ws_server, "/endpoint")) as c:
            for i in range(3):
                await c.send(json.dumps({"i": i}))
                assert json.loads(await c.recv()) == {"echo": {"i": i}, "seen": i + 1}
            await c.close(code=4005)
    run(main())
    assert {"endpoint closed": 4005, "seen": 3} in http_json(ws_server, "/log")
