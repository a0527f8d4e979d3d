"""WebSocket routes and the WebSocket API through TestClient.websocket_connect
(the same app-layer code the server runs, over an in-memory ws object)."""
import asyncio
import json
import re
from typing import Annotated

import pytest

from fasterapi import (APIRouter, Cookie, Depends, FastAPI, Header, HTTPException, Query, WebSocket,
                       WebSocketDisconnect, WebSocketException, status)
from fasterapi.exceptions import WebSocketRequestValidationError
from fasterapi.testclient import TestClient, WebSocketDenialResponse
from fasterapi.websockets import WebSocketDisconnected, WebSocketState


def client_for(app):
    return TestClient(app)


# -- imports and constants --------------------------------------------------------------

def test_import_paths_match_fastapi():
    import fasterapi
    import fasterapi.exceptions
    import fasterapi.websockets
    assert fasterapi.WebSocket is fasterapi.websockets.WebSocket
    assert fasterapi.WebSocketDisconnect is fasterapi.websockets.WebSocketDisconnect
    assert fasterapi.WebSocketException is fasterapi.exceptions.WebSocketException
    assert [s.name for s in WebSocketState] == ["CONNECTING", "CONNECTED", "DISCONNECTED", "RESPONSE"]
    assert status.WS_1000_NORMAL_CLOSURE == 1000 and status.WS_1008_POLICY_VIOLATION == 1008
    assert status.WS_1011_INTERNAL_ERROR == 1011 and status.WS_1015_TLS_HANDSHAKE == 1015
    d = WebSocketDisconnect()
    assert (d.code, d.reason) == (1000, "")
    e = WebSocketException(1008, "no")
    assert (e.code, e.reason, str(e)) == (1008, "no", "1008: no")


def test_sync_endpoint_is_refused_at_definition():
    app = FastAPI()
    with pytest.raises(Exception, match="async def"):
        @app.websocket("/ws")
        def endpoint(websocket: WebSocket):
            pass


# -- echo: every message kind --------------------------------------------------------------

def echo_app():
    app = FastAPI()

    @app.websocket("/text")
    async def text(websocket: WebSocket):
        await websocket.accept()
        while True:
            msg = await websocket.receive_text()
            await websocket.send_text("echo: " + msg)

    @app.websocket("/bytes")
    async def data(websocket: WebSocket):
        await websocket.accept()
        async for b in websocket.iter_bytes():
            await websocket.send_bytes(b[::-1])

    @app.websocket("/json")
    async def js(websocket: WebSocket):
        await websocket.accept()
        async for obj in websocket.iter_json():
            await websocket.send_json({"got": obj})

    @app.websocket("/json-binary")
    async def jsb(websocket: WebSocket):
        await websocket.accept()
        obj = await websocket.receive_json(mode="binary")
        await websocket.send_json({"got": obj}, mode="binary")
        await websocket.send_json({"text": True})
        await websocket.close()

    return app


def test_text_echo_many_messages():
    with client_for(echo_app()).websocket_connect("/text") as ws:
        for i in range(50):
            ws.send_text(f"m{i} é")
            assert ws.receive_text() == f"echo: m{i} é"


def test_bytes_echo_and_iter_bytes():
    with client_for(echo_app()).websocket_connect("/bytes") as ws:
        ws.send_bytes(b"\x00\x01\xff")
        assert ws.receive_bytes() == b"\xff\x01\x00"
        ws.send_bytes(b"")
        assert ws.receive_bytes() == b""


def test_json_text_mode():
    with client_for(echo_app()).websocket_connect("/json") as ws:
        ws.send_json({"a": [1, 2], "s": "ü"})
        assert ws.receive_json() == {"got": {"a": [1, 2], "s": "ü"}}
        ws.send_text('"plain"')
        assert ws.receive_json() == {"got": "plain"}


def test_json_binary_mode():
    with client_for(echo_app()).websocket_connect("/json-binary") as ws:
        ws.send_json([1, "x"], mode="binary")
        assert ws.receive_json(mode="binary") == {"got": [1, "x"]}
        assert ws.receive_text() == '{"text":true}'
        with pytest.raises(WebSocketDisconnect) as ei:
            ws.receive_text()
        assert ei.value.code == 1000


def test_receive_after_server_close_raises_disconnect_every_time():
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text("bye")
        await websocket.close(code=4001, reason="done")

    with client_for(app).websocket_connect("/ws") as ws:
        assert ws.receive_text() == "bye"
        for _ in range(2):
            with pytest.raises(WebSocketDisconnect) as ei:
                ws.receive_text()
            assert (ei.value.code, ei.value.reason) == (4001, "done")


def test_endpoint_returning_without_close_ends_with_1000():
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text("only")

    with client_for(app).websocket_connect("/ws") as ws:
        assert ws.receive_text() == "only"
        with pytest.raises(WebSocketDisconnect) as ei:
            ws.receive_bytes()
        assert ei.value.code == 1000


# -- the app sees the client's close ---------------------------------------------------------

def test_client_close_reaches_endpoint_with_code_and_reason():
    seen = {}
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as exc:
            seen["code"], seen["reason"] = exc.code, exc.reason
            seen["client_state"] = websocket.client_state
            seen["app_state"] = websocket.application_state
            try:
                await websocket.receive_text()
            except WebSocketDisconnected as again:
                seen["again"] = str(again)

    with client_for(app).websocket_connect("/ws") as ws:
        ws.close(code=4000, reason="client leaves")
    assert seen["code"] == 4000 and seen["reason"] == "client leaves"
    assert seen["client_state"] is WebSocketState.DISCONNECTED
    assert seen["app_state"] is WebSocketState.CONNECTED
    assert "disconnect message has been received" in seen["again"]


def test_leaving_the_with_block_closes_with_1000():
    seen = []
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect as exc:
            seen.append(exc.code)

    with client_for(app).websocket_connect("/ws"):
        pass
    assert seen == [1000]


def test_uncaught_disconnect_in_endpoint_is_the_normal_end():
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        while True:  # FastAPI's tutorial loop: WebSocketDisconnect escapes it
            await websocket.send_text(await websocket.receive_text())

    with client_for(app).websocket_connect("/ws") as ws:
        ws.send_text("a")
        assert ws.receive_text() == "a"
    # no exception at the end of the with block


def test_iter_text_ends_when_client_closes():
    got = []
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        async for t in websocket.iter_text():
            got.append(t)
        got.append("end")

    with client_for(app).websocket_connect("/ws") as ws:
        ws.send_text("1")
        ws.send_text("2")
    assert got == ["1", "2", "end"]


# -- states and misuse -----------------------------------------------------------------------

def test_states_through_the_life_of_a_websocket():
    states = []
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        states.append((websocket.client_state, websocket.application_state))
        await websocket.accept()
        states.append((websocket.client_state, websocket.application_state))
        await websocket.close()
        states.append((websocket.client_state, websocket.application_state))

    with pytest.raises(WebSocketDisconnect):
        with client_for(app).websocket_connect("/ws") as ws:
            ws.receive_text()
    S = WebSocketState
    assert states == [(S.CONNECTING, S.CONNECTING), (S.CONNECTED, S.CONNECTED), (S.CONNECTED, S.DISCONNECTED)]


def misuse_app(action):
    errors = []
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        try:
            await action(websocket)
        except Exception as exc:  # noqa: BLE001
            errors.append((type(exc), str(exc)))
        if websocket.application_state == WebSocketState.CONNECTING:
            await websocket.accept()
        if websocket.application_state == WebSocketState.CONNECTED:
            await websocket.close()
    return app, errors


async def _accept_twice(ws):
    await ws.accept()
    await ws.accept()


async def _send_after_close(ws):
    await ws.accept()
    await ws.close()
    await ws.send_text("late")


async def _receive_after_close(ws):
    await ws.accept()
    await ws.close()
    await ws.receive_text()


async def _close_twice(ws):
    await ws.accept()
    await ws.close()
    await ws.close()


async def _send_before_accept(ws):
    await ws.send_text("early")


async def _receive_text_before_accept(ws):
    await ws.receive_text()


async def _send_text_bytes(ws):
    await ws.accept()
    await ws.send_text(b"not text")


async def _send_bytes_str(ws):
    await ws.accept()
    await ws.send_bytes("not bytes")


async def _bad_json_mode(ws):
    await ws.accept()
    await ws.send_json({}, mode="xml")


async def _long_reason(ws):
    await ws.accept()
    await ws.close(1000, "x" * 124)


@pytest.mark.parametrize("action, exc_type, words", [
    (_accept_twice, RuntimeError, "already called"),
    (_send_after_close, WebSocketDisconnected, "once a close message has been sent"),
    (_receive_after_close, WebSocketDisconnected, "not connected"),
    (_close_twice, WebSocketDisconnected, "closed"),
    (_send_before_accept, RuntimeError, "accept"),
    (_receive_text_before_accept, WebSocketDisconnected, 'Need to call "accept" first'),
    (_send_text_bytes, TypeError, "send_text() takes a str"),
    (_send_bytes_str, TypeError, "send_bytes() takes bytes"),
    (_bad_json_mode, RuntimeError, '"mode" argument'),
    (_long_reason, ValueError, "123"),
])
def test_misuse_raises_clear_errors(action, exc_type, words):
    app, errors = misuse_app(action)
    try:
        with client_for(app).websocket_connect("/ws") as ws:
            ws.receive_text()
    except WebSocketDisconnect:
        pass
    assert len(errors) == 1, errors
    assert issubclass(errors[0][0], exc_type), errors
    assert words in errors[0][1], errors


def test_websocket_disconnected_is_a_runtime_error():
    assert issubclass(WebSocketDisconnected, RuntimeError)


def test_receive_text_on_binary_message_raises_keyerror():
    errors = []
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        try:
            await websocket.receive_text()
        except KeyError as exc:
            errors.append(str(exc))
        try:
            await websocket.receive_bytes()
        except KeyError as exc:
            errors.append(str(exc))
        await websocket.send_text("checked")

    with client_for(app).websocket_connect("/ws") as ws:
        ws.send_bytes(b"binary")
        ws.send_text("text")
        assert ws.receive_text() == "checked"
    assert "binary message" in errors[0] and "text message" in errors[1]


def test_low_level_receive_and_send_messages():
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        assert await websocket.receive() == {"type": "websocket.connect"}
        await websocket.send({"type": "websocket.accept"})
        m1 = await websocket.receive()
        m2 = await websocket.receive()
        await websocket.send({"type": "websocket.send", "text": json.dumps([m1, repr(m2)])})
        m3 = await websocket.receive()
        await websocket.send({"type": "websocket.send", "text": json.dumps(m3)})

    with client_for(app).websocket_connect("/ws") as ws:
        ws.send_text("t")
        ws.send_bytes(b"b")
        got = json.loads(ws.receive_text())
        assert got == [{"type": "websocket.receive", "text": "t"}, repr({"type": "websocket.receive", "bytes": b"b"})]
        ws.close(1001)
        # the endpoint's last send comes after the client closed: it raises in the
        # endpoint (WebSocketDisconnect, the normal end), the test gets nothing more
    # m3 was the disconnect message


# -- handshake: subprotocols, headers, refusal -----------------------------------------------

def test_subprotocol_and_accept_headers():
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        offered = websocket.subprotocols
        await websocket.accept(subprotocol=offered[-1], headers=[(b"x-extra", b"1"), ("x-str", "2")])
        await websocket.send_json(offered)

    with client_for(app).websocket_connect("/ws", subprotocols=["chat", "superchat"]) as ws:
        assert ws.accepted_subprotocol == "superchat"
        assert ws.extra_headers == [("x-extra", "1"), ("x-str", "2")]
        assert ws.receive_json() == ["chat", "superchat"]


def test_close_before_accept_refuses_with_code():
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="go away")

    with pytest.raises(WebSocketDisconnect) as ei:
        with client_for(app).websocket_connect("/ws"):
            pass  # pragma: no cover
    assert (ei.value.code, ei.value.reason) == (1008, "go away")


def test_no_matching_route_refuses_with_1000():
    app = FastAPI()

    @app.websocket("/items/{item_id:int}")
    async def endpoint(websocket: WebSocket, item_id: int):
        await websocket.accept()  # pragma: no cover

    for path in ("/nothing", "/items/abc"):
        with pytest.raises(WebSocketDisconnect) as ei:
            with client_for(app).websocket_connect(path):
                pass  # pragma: no cover
        assert ei.value.code == 1000


def test_denial_response():
    from fasterapi.responses import JSONResponse
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.send_denial_response(JSONResponse({"detail": "nope"}, status_code=401,
                                                          headers={"www-authenticate": "Bearer"}))

    with pytest.raises(WebSocketDenialResponse) as ei:
        with client_for(app).websocket_connect("/ws"):
            pass  # pragma: no cover
    r = ei.value
    assert isinstance(r, WebSocketDisconnect)
    assert r.status_code == 401 and r.json() == {"detail": "nope"}
    assert r.headers["www-authenticate"] == "Bearer"


def test_http_exception_before_accept_is_a_denial_response():
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        raise HTTPException(status_code=404, detail="no such room")

    with pytest.raises(WebSocketDenialResponse) as ei:
        with client_for(app).websocket_connect("/ws"):
            pass  # pragma: no cover
    assert ei.value.status_code == 404 and ei.value.json() == {"detail": "no such room"}


# -- request data ------------------------------------------------------------------------------

def test_url_headers_query_cookies_client_scope():
    app = FastAPI()

    @app.websocket("/rooms/{room}")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_json({
            "url": str(websocket.url), "base_url": str(websocket.base_url), "path": websocket.url.path,
            "scope_path": websocket.scope["path"], "type": websocket.scope["type"],
            "scope_qs": websocket.scope["query_string"].decode(), "scheme": websocket["scheme"],
            "q": websocket.query_params.getlist("q"), "x": websocket.headers.get("X-Thing"),
            "cookies": websocket.cookies, "path_params": websocket.path_params,
            "client": list(websocket.client), "host": websocket.headers["host"],
        })
        await websocket.close()

    c = client_for(app)
    with c.websocket_connect("/rooms/r%201?q=1&q=2", headers={"X-Thing": "t"}, cookies={"session": "s1"}) as ws:
        got = ws.receive_json()
    assert got["url"] == "ws://testserver/rooms/r%201?q=1&q=2" and got["path"] == "/rooms/r%201"
    assert got["base_url"] == "ws://testserver/"
    assert got["scope_path"] == "/rooms/r 1" and got["type"] == "websocket" and got["scheme"] == "ws"
    assert got["scope_qs"] == "q=1&q=2" and got["q"] == ["1", "2"] and got["x"] == "t"
    assert got["cookies"] == {"session": "s1"} and got["path_params"] == {"room": "r 1"}
    assert got["client"] == ["testclient", 50000] and got["host"] == "testserver"


def test_wss_url():
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text(str(websocket.url))

    with client_for(app).websocket_connect("wss://example.org/ws?a=b") as ws:
        assert ws.receive_text() == "wss://example.org/ws?a=b"


def test_lifespan_state_on_websocket():
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        yield {"greeting": "hello"}

    app = FastAPI(lifespan=lifespan)

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text(websocket.state.greeting)

    with TestClient(app) as c:
        with c.websocket_connect("/ws") as ws:
            assert ws.receive_text() == "hello"


# -- parameters and dependencies ------------------------------------------------------------

def params_app():
    app = FastAPI()

    @app.websocket("/items/{item_id}")
    async def endpoint(websocket: WebSocket, item_id: int, q: Annotated[list[str] | None, Query()] = None,
                       x_token: Annotated[str | None, Header()] = None,
                       session: Annotated[str | None, Cookie()] = None, limit: int = 10):
        await websocket.accept()
        await websocket.send_json({"item_id": item_id, "q": q, "x_token": x_token, "session": session,
                                   "limit": limit})
        await websocket.close()

    @app.websocket("/required")
    async def required(websocket: WebSocket, token: str, n: Annotated[int, Query(ge=1)]):
        await websocket.accept()
        await websocket.send_json({"token": token, "n": n})

    return app


def test_path_query_header_cookie_parameters():
    c = client_for(params_app())
    with c.websocket_connect("/items/7?q=a&q=b&limit=3", headers={"x-token": "tok"},
                             cookies={"session": "abc"}) as ws:
        assert ws.receive_json() == {"item_id": 7, "q": ["a", "b"], "x_token": "tok", "session": "abc",
                                     "limit": 3}
    with c.websocket_connect("/items/8") as ws:
        assert ws.receive_json() == {"item_id": 8, "q": None, "x_token": None, "session": None, "limit": 10}


@pytest.mark.parametrize("url, loc", [
    ("/items/notanint", "path.item_id"),
    ("/required?n=1", "query.token"),
    ("/required?token=t&n=0", "query.n"),
    ("/required?token=t&n=x", "query.n"),
])
def test_validation_failure_closes_with_1008(url, loc):
    with pytest.raises(WebSocketDisconnect) as ei:
        with client_for(params_app()).websocket_connect(url):
            pass  # pragma: no cover
    assert ei.value.code == status.WS_1008_POLICY_VIOLATION
    reason = ei.value.reason
    assert len(reason.encode()) <= 123
    if reason.startswith("["):
        errors = json.loads(reason)
        assert ".".join(map(str, errors[0]["loc"])) == loc
    else:
        assert loc in reason


def test_validation_reason_is_json_when_it_fits():
    from fasterapi._websocket import validation_close_reason
    short = [{"type": "missing", "loc": ("query", "t"), "msg": "Field required", "input": None}]
    assert json.loads(validation_close_reason(short)) == [{"type": "missing", "loc": ["query", "t"],
                                                           "msg": "Field required", "input": None}]
    long = short * 5
    r = validation_close_reason(long)
    assert r.startswith("5 validation errors: query.t: Field required") and len(r.encode()) <= 123


def test_custom_validation_handler():
    app = params_app()
    seen = []

    @app.exception_handler(WebSocketRequestValidationError)
    async def handler(websocket, exc):
        seen.append([e["loc"] for e in exc.errors()])
        await websocket.close(code=4400, reason="bad params")

    with pytest.raises(WebSocketDisconnect) as ei:
        with client_for(app).websocket_connect("/required"):
            pass  # pragma: no cover
    assert (ei.value.code, ei.value.reason) == (4400, "bad params")
    assert [tuple(x) for x in seen[0]] == [("query", "token"), ("query", "n")]


def test_depends_sync_async_yield_and_cache():
    events = []
    app = FastAPI()

    def get_db():
        events.append("db open")
        yield "db"
        events.append("db closed")

    async def get_user(websocket: WebSocket, token: str | None = None):
        if token is None:
            raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="no token")
        return {"user": token, "path": websocket.url.path}

    async def agen():
        events.append("agen in")
        yield 1
        events.append("agen out")

    def counted(db: Annotated[str, Depends(get_db)]):
        return db + "!"

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, user: Annotated[dict, Depends(get_user)],
                       db: Annotated[str, Depends(get_db)], x: Annotated[str, Depends(counted)],
                       one: Annotated[int, Depends(agen)]):
        await websocket.accept()
        events.append("endpoint")
        await websocket.send_json({"user": user, "db": db, "x": x, "one": one})
        try:
            await websocket.receive_text()  # until the client leaves
        except WebSocketDisconnect:
            pass  # caught: the dependencies end normally (not thrown into)

    c = client_for(app)
    with c.websocket_connect("/ws?token=t") as ws:
        assert ws.receive_json() == {"user": {"user": "t", "path": "/ws"}, "db": "db", "x": "db!", "one": 1}
    assert events == ["db open", "agen in", "endpoint", "agen out", "db closed"]

    events.clear()
    with pytest.raises(WebSocketDisconnect) as ei:
        with c.websocket_connect("/ws"):
            pass  # pragma: no cover
    assert (ei.value.code, ei.value.reason) == (1008, "no token")
    assert events == []  # get_user runs first and refuses: get_db never opened


def test_yield_dependency_sees_the_disconnect():
    events = []
    app = FastAPI()

    async def tracked():
        try:
            yield "r"
        except WebSocketDisconnect as exc:
            events.append(("dep saw", exc.code))
            raise
        finally:
            events.append("dep done")

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, r: Annotated[str, Depends(tracked)]):
        await websocket.accept()
        await websocket.receive_text()

    with client_for(app).websocket_connect("/ws") as ws:
        ws.close(1001)
    assert events == [("dep saw", 1001), "dep done"]


def test_route_and_router_dependencies_and_include_router_prefix():
    calls = []
    app = FastAPI()

    def app_level():
        calls.append("app")

    def router_level(x_key: Annotated[str, Header()]):
        calls.append("router:" + x_key)

    def include_level():
        calls.append("include")

    def route_level():
        calls.append("route")

    router = APIRouter(prefix="/chat", dependencies=[Depends(router_level)])

    @router.websocket("/{room}", name="room_ws", dependencies=[Depends(route_level)])
    async def room(websocket: WebSocket, room: str):
        await websocket.accept()
        await websocket.send_text(room)
        await websocket.close()

    app = FastAPI(dependencies=[Depends(app_level)])
    app.include_router(router, prefix="/v1", dependencies=[Depends(include_level)])
    c = client_for(app)
    with c.websocket_connect("/v1/chat/lobby", headers={"x-key": "k"}) as ws:
        assert ws.receive_text() == "lobby"
    assert calls == ["app", "include", "router:k", "route"]
    assert app.url_path_for("room_ws", room="r1") == "/v1/chat/r1"
    with pytest.raises(WebSocketDisconnect) as ei:  # the router's header dependency fails validation
        with c.websocket_connect("/v1/chat/lobby"):
            pass  # pragma: no cover
    assert ei.value.code == 1008


def test_add_api_websocket_route_and_override():
    app = FastAPI()

    def dep():
        return "real"

    async def endpoint(websocket: WebSocket, v: Annotated[str, Depends(dep)]):
        await websocket.accept()
        await websocket.send_text(v)
        await websocket.close()

    app.add_api_websocket_route("/ws", endpoint, name="plain")
    c = client_for(app)
    with c.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "real"
    app.dependency_overrides[dep] = lambda: "fake"
    with c.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "fake"


def test_first_matching_route_wins_and_convertors_split_routes():
    app = FastAPI()

    @app.websocket("/r/{n:int}")
    async def by_int(websocket: WebSocket, n: int):
        await websocket.accept()
        await websocket.send_json({"int": n})

    @app.websocket("/r/{name}")
    async def by_name(websocket: WebSocket, name: str):
        await websocket.accept()
        await websocket.send_json({"name": name})

    c = client_for(app)
    with c.websocket_connect("/r/12") as ws:
        assert ws.receive_json() == {"int": 12}
    with c.websocket_connect("/r/abc") as ws:
        assert ws.receive_json() == {"name": "abc"}
    assert app.native_websocket_routes() == ["/r/{n}"]


# -- exceptions ---------------------------------------------------------------------------------

def test_websocket_exception_after_accept_closes_with_its_code():
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        msg = await websocket.receive_text()
        raise WebSocketException(code=status.WS_1003_UNSUPPORTED_DATA, reason=f"cannot take {msg}")

    with client_for(app).websocket_connect("/ws") as ws:
        ws.send_text("x")
        with pytest.raises(WebSocketDisconnect) as ei:
            ws.receive_text()
    assert (ei.value.code, ei.value.reason) == (1003, "cannot take x")


def test_unhandled_exception_reaches_the_test():
    app = FastAPI()

    @app.websocket("/before")
    async def before(websocket: WebSocket):
        raise ValueError("before accept")

    @app.websocket("/after")
    async def after(websocket: WebSocket):
        await websocket.accept()
        await websocket.receive_text()
        raise ValueError("after accept")

    c = client_for(app)
    with pytest.raises(ValueError, match="before accept"):
        with c.websocket_connect("/before"):
            pass  # pragma: no cover
    with pytest.raises(ValueError, match="after accept"):
        with c.websocket_connect("/after") as ws:
            ws.send_text("go")
            ws.receive_text()


def test_unhandled_exception_without_raise_server_exceptions_closes_1011():
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        raise ValueError("boom")

    c = TestClient(app, raise_server_exceptions=False)
    with c.websocket_connect("/ws") as ws:
        with pytest.raises(WebSocketDisconnect) as ei:
            ws.receive_text()
    assert ei.value.code == 1011


def test_custom_exception_handler_for_websocket():
    class Custom(Exception):
        pass

    app = FastAPI()

    @app.exception_handler(Custom)
    async def handle(websocket, exc):
        await websocket.close(code=4321, reason="custom")

    @app.exception_handler(Exception)
    async def http_only(request, exc):  # pragma: no cover - not used for WebSockets (Starlette too)
        raise AssertionError("the Exception handler is for HTTP")

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        raise Custom()

    with client_for(app).websocket_connect("/ws") as ws:
        with pytest.raises(WebSocketDisconnect) as ei:
            ws.receive_text()
    assert (ei.value.code, ei.value.reason) == (4321, "custom")


# -- the app around it ------------------------------------------------------------------------

def test_websocket_routes_not_in_openapi_and_http_on_same_path_is_404():
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()  # pragma: no cover

    @app.get("/http")
    def http():
        return {"ok": True}

    c = client_for(app)
    assert list(c.get("/openapi.json").json()["paths"]) == ["/http"]
    assert c.get("/ws").status_code == 404
    assert app.native_websocket_routes() == ["/ws"]
    assert all(m != "" for m, *_ in app.native_routes())
    assert "/ws" not in [p for _, p, *_ in app.native_routes()]


def test_http_and_websocket_on_the_same_path():
    app = FastAPI()

    @app.get("/both")
    def http():
        return {"via": "http"}

    @app.websocket("/both")
    async def ws_endpoint(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_json({"via": "ws"})

    c = client_for(app)
    assert c.get("/both").json() == {"via": "http"}
    with c.websocket_connect("/both") as ws:
        assert ws.receive_json() == {"via": "ws"}


def test_broadcast_between_two_sessions():
    app = FastAPI()
    app.state.peers = []

    @app.websocket("/room/{who}")
    async def room(websocket: WebSocket, who: str):
        await websocket.accept()
        websocket.app.state.peers.append(websocket)
        await websocket.send_text("joined")
        try:
            async for text in websocket.iter_text():
                for peer in list(websocket.app.state.peers):
                    await peer.send_text(f"{who}: {text}")
        finally:
            websocket.app.state.peers.remove(websocket)

    c = client_for(app)
    with c.websocket_connect("/room/a") as a, c.websocket_connect("/room/b") as b:
        assert a.receive_text() == "joined" and b.receive_text() == "joined"
        a.send_text("hi")
        assert a.receive_text() == "a: hi" and b.receive_text() == "a: hi"
        b.send_text("yo")
        assert a.receive_text() == "b: yo" and b.receive_text() == "b: yo"
    assert app.state.peers == []


def test_async_test_can_use_websocket_connect():
    app = echo_app()

    async def main():
        with TestClient(app).websocket_connect("/text") as ws:
            ws.send_text("in loop")
            return ws.receive_text()

    assert asyncio.run(main()) == "echo: in loop"


async def _reserved_close_code(ws):
    await ws.accept()
    await ws.close(1005)


async def _bad_subprotocol(ws):
    await ws.accept(subprotocol="not a token")


@pytest.mark.parametrize("action, exc_type, words", [
    (_reserved_close_code, ValueError, "1000-1003, 1007-1014 or 3000-4999"),
    (_bad_subprotocol, ValueError, "not a token"),
])
def test_values_the_native_layer_refuses_are_refused_here_too(action, exc_type, words):
    test_misuse_raises_clear_errors(action, exc_type, words)


def test_examples_chat_room():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[3] / "examples" / "chat.py"
    spec = importlib.util.spec_from_file_location("example_chat", path)
    chat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chat)
    c = TestClient(chat.app)
    with c.websocket_connect("/ws/alice") as alice:
        assert alice.receive_text() == "alice joined"
        with c.websocket_connect("/ws/bob") as bob:
            assert alice.receive_text() == "bob joined" and bob.receive_text() == "bob joined"
            assert c.get("/").json() == {"connected": 2}
            bob.send_text("hello")
            assert alice.receive_text() == "bob: hello" and bob.receive_text() == "bob: hello"
        assert alice.receive_text() == "bob left"
    assert c.get("/").json() == {"connected": 0}


def test_starlette_style_websocket_route_gets_only_the_websocket():
    app = FastAPI()

    @app.websocket_route("/plain")
    async def plain(websocket):  # no annotation: Starlette's form, no parameter analysis
        await websocket.accept()
        await websocket.send_text(websocket.query_params.get("x", "-"))
        await websocket.close()

    async def raw(websocket):
        await websocket.close(code=4003)

    router = APIRouter()
    router.add_websocket_route("/raw", raw)
    app.include_router(router, prefix="/r")
    c = client_for(app)
    with c.websocket_connect("/plain?x=7") as ws:
        assert ws.receive_text() == "7"
    with pytest.raises(WebSocketDisconnect) as ei:
        with c.websocket_connect("/r/raw"):
            pass  # pragma: no cover
    assert ei.value.code == 4003
    assert app.native_websocket_routes() == ["/plain", "/r/raw"]


def test_testclient_exports():
    import fasterapi.testclient as tc
    assert issubclass(tc.WebSocketDenialResponse, WebSocketDisconnect)
    assert tc.WebSocketTestSession.__name__ == "WebSocketTestSession"


def test_http_middleware_does_not_touch_websockets():
    app = FastAPI()
    seen = []

    @app.middleware("http")
    async def mw(request, call_next):
        seen.append(request.url.path)
        return await call_next(request)

    @app.get("/h")
    def h():
        return {}

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text("through")
        await websocket.close()

    c = client_for(app)
    with c.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "through"
    c.get("/h")
    assert seen == ["/h"]


def test_startup_runs_first_when_a_websocket_comes_before_it():
    # a worker interpreter where the startup hook has not run yet (the server
    # normally runs it before serving): dispatch runs it first
    from fasterapi._runtime import handle_websocket  # noqa: F401 - the server's entry point
    events = []

    async def up():
        events.append("startup")

    app = FastAPI(on_startup=[up])

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        events.append("endpoint")
        await websocket.accept()
        await websocket.close()

    app._startup_state = "todo"
    with pytest.raises(WebSocketDisconnect):
        with client_for(app).websocket_connect("/ws") as ws:
            ws.receive_text()
    assert events == ["startup", "endpoint"] and app._startup_state is None


def test_failed_startup_closes_with_1011():
    async def up():
        raise RuntimeError("no database")

    app = FastAPI(on_startup=[up])

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):  # pragma: no cover - never reached
        await websocket.accept()

    app._startup_state = "todo"
    with pytest.raises(WebSocketDisconnect) as ei:
        with client_for(app).websocket_connect("/ws"):
            pass  # pragma: no cover
    assert ei.value.code == 1011


def test_leaving_cancels_an_endpoint_that_waits_elsewhere(monkeypatch):
    import fasterapi._testclient_ws as tws
    monkeypatch.setattr(tws, "_EXIT_GRACE", 0.2)
    cancelled = []
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket):
        await websocket.accept()
        try:
            await asyncio.sleep(3600)  # not reading: the client's close is never seen
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with client_for(app).websocket_connect("/ws"):
        pass
    assert cancelled == [True]


async def _unoffered_subprotocol(ws):
    await ws.accept(subprotocol="never-offered")


def test_accepting_a_subprotocol_the_client_did_not_offer_is_refused():
    test_misuse_raises_clear_errors(_unoffered_subprotocol, ValueError, "was not offered by the client")


def test_websockets_of_a_mounted_app():
    sub = FastAPI()

    @sub.websocket("/ws/{room}")
    async def room(websocket: WebSocket, room: str, q: int = 0):
        await websocket.accept()
        await websocket.send_json({"room": room, "q": q, "path": websocket.scope["path"],
                                   "own_app": websocket.app is sub})
        await websocket.close()

    @sub.exception_handler(LookupError)
    async def lookup(websocket, exc):
        await websocket.close(code=4404, reason="sub handler")

    @sub.websocket("/missing")
    async def missing(websocket: WebSocket):
        raise LookupError()

    app = FastAPI()

    @app.websocket("/ws/{room}")
    async def top(websocket: WebSocket, room: str):
        await websocket.accept()
        await websocket.send_json({"top": room})
        await websocket.close()

    app.mount("/v1", sub)
    c = client_for(app)
    with c.websocket_connect("/v1/ws/lobby?q=2") as ws:
        assert ws.receive_json() == {"room": "lobby", "q": 2, "path": "/v1/ws/lobby", "own_app": True}
    with c.websocket_connect("/ws/lobby") as ws:
        assert ws.receive_json() == {"top": "lobby"}
    with pytest.raises(WebSocketDisconnect) as ei:
        with c.websocket_connect("/v1/missing"):
            pass  # pragma: no cover
    assert (ei.value.code, ei.value.reason) == (4404, "sub handler")
    assert app.native_websocket_routes() == ["/ws/{room}", "/v1/ws/{room}", "/v1/missing"]


# -- WebSocketEndpoint (starlette.endpoints' class-based form) ----------------------------

def _endpoint_app(log):
    from fasterapi.endpoints import WebSocketEndpoint
    app = FastAPI()

    @app.websocket_route("/text")
    class Text(WebSocketEndpoint):
        encoding = "text"

        async def on_receive(self, websocket, data):
            await websocket.send_text(f"got {data}")

        async def on_disconnect(self, websocket, close_code):
            log.append(("text", close_code))

    class Json(WebSocketEndpoint):
        encoding = "json"

        async def on_connect(self, websocket):
            await websocket.accept(subprotocol="j1")

        async def on_receive(self, websocket, data):
            await websocket.send_json({"n": data["n"] + 1})

        async def on_disconnect(self, websocket, close_code):
            log.append(("json", close_code))

    class Raw(WebSocketEndpoint):  # encoding None: str or bytes as they came
        async def on_receive(self, websocket, data):
            if isinstance(data, bytes):
                await websocket.send_bytes(data[::-1])
            else:
                await websocket.send_text(data.upper())

    app.add_websocket_route("/json", Json)
    router = APIRouter()
    router.add_websocket_route("/raw", Raw)
    app.include_router(router, prefix="/r")
    return app


def test_websocket_endpoint_hooks_and_encodings():
    log = []
    app = _endpoint_app(log)
    c = client_for(app)
    with c.websocket_connect("/text") as ws:
        ws.send_text("a")
        assert ws.receive_text() == "got a"
        ws.close(code=4002)
    with c.websocket_connect("/json", subprotocols=["j1"]) as ws:
        assert ws.accepted_subprotocol == "j1"
        ws.send_json({"n": 1})
        assert ws.receive_json() == {"n": 2}
        ws.send_bytes(b'{"n": 41}')  # json from a binary message too
        assert ws.receive_json() == {"n": 42}
    with c.websocket_connect("/r/raw") as ws:
        ws.send_text("abc")
        assert ws.receive_text() == "ABC"
        ws.send_bytes(b"\x01\x02")
        assert ws.receive_bytes() == b"\x02\x01"
    assert ("text", 4002) in log and ("json", 1000) in log
    assert app.native_websocket_routes() == ["/text", "/json", "/r/raw"]


@pytest.mark.parametrize("path, send, text", [
    ("/text", lambda ws: ws.send_bytes(b"x"), "Expected text websocket messages, but got bytes"),
    ("/json", lambda ws: ws.send_text("{not json"), "Malformed JSON data received."),
])
def test_websocket_endpoint_wrong_data_closes_1003(path, send, text):
    log, codes = [], []
    c = client_for(_endpoint_app(log))
    # the hook's error is the app's error: the TestClient raises it (as
    # Starlette's does), after the socket was closed with 1003
    with pytest.raises(RuntimeError, match=re.escape(text)):
        with c.websocket_connect(path, subprotocols=["j1"]) as ws:
            send(ws)
            try:
                ws.receive_text()
            except WebSocketDisconnect as exc:
                codes.append(exc.code)
    assert codes == [1003]
    assert log == [(path.strip("/"), 1011)]  # on_disconnect hears 1011


def test_websocket_endpoint_only_with_starlette_routes():
    from fasterapi.endpoints import WebSocketEndpoint
    from fasterapi.exceptions import FastAPIError
    app = FastAPI()
    with pytest.raises(FastAPIError, match="must be an 'async def' function"):
        app.add_api_websocket_route("/x", WebSocketEndpoint)
