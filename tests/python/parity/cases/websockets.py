"""WebSockets (FastAPI's "WebSockets" tutorial and its testing page): text,
bytes and JSON messages, path/query/header/cookie parameters, Depends,
routers with a prefix, WebSocketException, close codes before and after
accept, subprotocols, a validation failure (1008), an HTTPException before
accept (a denial response), and the OpenAPI document without them.

Observed through TestClient.websocket_connect: what each side receives and
the close codes.  The reason of a validation close is not compared (FastAPI
puts the error list itself there; we put JSON text that fits a close frame,
see docs/migration.md)."""
import warnings
from typing import Annotated

from fastapi import (APIRouter, Cookie, Depends, FastAPI, Header, HTTPException, Query, WebSocket,
                     WebSocketDisconnect, WebSocketException, status)

app = FastAPI()


@app.get("/")
def index():
    return {"hello": "http"}


@app.websocket("/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"Message text was: {text}")
    except WebSocketDisconnect:
        pass


@app.websocket("/kinds")
async def kinds(websocket: WebSocket):
    await websocket.accept()
    data = await websocket.receive_bytes()
    await websocket.send_bytes(data * 2)
    obj = await websocket.receive_json()
    await websocket.send_json({"got": obj})
    obj = await websocket.receive_json(mode="binary")
    await websocket.send_json({"binary": obj}, mode="binary")
    await websocket.close(code=status.WS_1000_NORMAL_CLOSURE)


async def get_cookie_or_token(session: Annotated[str | None, Cookie()] = None,
                              token: Annotated[str | None, Query()] = None):
    if session is None and token is None:
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="no session or token")
    return session or token


@app.websocket("/items/{item_id}/ws")
async def items_ws(websocket: WebSocket, item_id: str, q: int | None = None,
                   cookie_or_token: Annotated[str, Depends(get_cookie_or_token)] = "",
                   x_client: Annotated[str | None, Header()] = None):
    await websocket.accept()
    try:
        while True:
            data = await websocket.receive_text()
            await websocket.send_text(f"Session cookie or query token value is: {cookie_or_token}")
            if q is not None:
                await websocket.send_text(f"Query parameter q is: {q}")
            await websocket.send_text(f"Message text was: {data}, for item ID: {item_id}, client {x_client}")
    except WebSocketDisconnect:
        pass


@app.websocket("/closes")
async def closes(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_text("closing")
    await websocket.close(code=4000, reason="bye")


@app.websocket("/refuse")
async def refuse(websocket: WebSocket):
    await websocket.close(code=status.WS_1013_TRY_AGAIN_LATER, reason="busy")


@app.websocket("/protocols")
async def protocols(websocket: WebSocket):
    offered = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol=offered[0] if offered else None)
    await websocket.send_json({"offered": offered, "path": websocket.scope["path"],
                               "url": str(websocket.url), "q": dict(websocket.query_params)})
    await websocket.close()


@app.websocket("/forbidden")
async def forbidden(websocket: WebSocket):
    raise HTTPException(status_code=403, detail="not for you")


@app.websocket("/after")
async def after(websocket: WebSocket):
    await websocket.accept()
    text = await websocket.receive_text()
    raise WebSocketException(code=status.WS_1003_UNSUPPORTED_DATA, reason=f"no {text}")


calls = []


def router_dep(x_key: Annotated[str, Header()]):
    calls.append(x_key)


router = APIRouter(prefix="/chat", dependencies=[Depends(router_dep)])


@router.websocket("/{room}")
async def room(websocket: WebSocket, room: str):
    await websocket.accept()
    await websocket.send_text(f"welcome to {room}")
    await websocket.close()


app.include_router(router, prefix="/v1")


with warnings.catch_warnings():
    # Starlette's TestClient warns about httpx on its first import in the process:
    # which case imports it first depends on the order cases run in
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def scenario(observe):
    out = []
    client = TestClient(app)

    def closed(fn):
        try:
            fn()
        except WebSocketDisconnect as exc:
            status_code = getattr(exc, "status_code", None)
            if status_code is not None:  # a denial response
                return {"denied": status_code, "body": exc.json()}
            return {"code": exc.code, "reason": exc.reason}
        return {"code": None}

    with client.websocket_connect("/echo") as ws:
        for t in ("hello", "wörld", ""):
            ws.send_text(t)
            out.append(ws.receive_text())

    with client.websocket_connect("/kinds") as ws:
        ws.send_bytes(b"ab\x00")
        out.append(list(ws.receive_bytes()))
        ws.send_json({"a": [1, None, True]})
        out.append(ws.receive_json())
        ws.send_json(["x"], mode="binary")
        out.append(ws.receive_json(mode="binary"))
        out.append(closed(ws.receive_text))

    with client.websocket_connect("/items/foo/ws?q=3&token=tok", headers={"x-client": "c1"}) as ws:
        ws.send_text("one")
        out.extend([ws.receive_text(), ws.receive_text(), ws.receive_text()])
    with client.websocket_connect("/items/bar/ws", headers={"cookie": "session=s"}) as ws:
        ws.send_text("two")
        out.extend([ws.receive_text(), ws.receive_text()])

    def connect(url, **kw):
        def run():
            with client.websocket_connect(url, **kw):
                pass
        return run

    out.append(closed(connect("/items/foo/ws")))  # no cookie, no token: WebSocketException 1008
    out.append({"code": closed(connect("/items/foo/ws?token=t&q=notanint"))["code"]})  # validation: 1008
    out.append(closed(connect("/refuse")))
    out.append(closed(connect("/forbidden")))
    out.append(closed(connect("/not-a-route")))

    with client.websocket_connect("/closes") as ws:
        out.append(ws.receive_text())
        out.append(closed(ws.receive_text))

    with client.websocket_connect("/protocols?x=1", subprotocols=["v2", "v1"]) as ws:
        out.append(ws.accepted_subprotocol)
        out.append(ws.receive_json())

    with client.websocket_connect("/after") as ws:
        ws.send_text("thanks")
        out.append(closed(ws.receive_text))

    with client.websocket_connect("/v1/chat/lobby", headers={"x-key": "k1"}) as ws:
        out.append(ws.receive_text())
    out.append({"code": closed(connect("/v1/chat/lobby"))["code"]})  # the router's header is missing
    out.append(list(calls))
    out.append(observe(client.get("/")))
    out.append(observe(client.get("/echo")))  # a WebSocket path over HTTP: 404
    return out
