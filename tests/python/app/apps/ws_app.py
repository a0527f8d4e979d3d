"""The app the WebSocket server tests run: `python ws_app.py '<json of server
keywords>'` (tests/python/helpers.ServerProcess).  One worker interpreter
is enough for what is tested, and it lets /log report what the WebSocket
endpoints saw (state is per interpreter)."""
import json
import sys
from typing import Annotated

from fasterapi import (APIRouter, Cookie, Depends, FastAPI, Header, Query, WebSocket, WebSocketDisconnect,
                       WebSocketException, status)

app = FastAPI(title="websocket server test app")
LOG = []


@app.get("/log")
def log():
    return LOG


@app.get("/plain")
def plain():
    return {"http": True}


@app.websocket("/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            msg = await websocket.receive()
            if msg["type"] == "websocket.disconnect":
                LOG.append({"echo closed": msg["code"], "reason": msg["reason"]})
                return
            if "text" in msg:
                await websocket.send_text(msg["text"])
            else:
                await websocket.send_bytes(msg["bytes"])
    except WebSocketDisconnect as exc:  # pragma: no cover - receive() reports it as a message
        LOG.append({"echo raised": exc.code})


@app.websocket("/json")
async def json_echo(websocket: WebSocket):
    await websocket.accept()
    async for obj in websocket.iter_json():
        await websocket.send_json({"got": obj})
        await websocket.send_json({"binary": obj}, mode="binary")


def session_user(session: Annotated[str | None, Cookie()] = None, token: Annotated[str | None, Query()] = None):
    if session is None and token is None:
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="no session or token")
    return session or token


def resource():
    LOG.append("resource open")
    try:
        yield "res"
    finally:
        LOG.append("resource closed")


@app.websocket("/items/{item_id}")
async def items(websocket: WebSocket, item_id: int, user: Annotated[str, Depends(session_user)],
                res: Annotated[str, Depends(resource)], x_client: Annotated[str | None, Header()] = None,
                q: list[str] = Query(default=[])):
    await websocket.accept()
    await websocket.send_json({"item_id": item_id, "user": user, "res": res, "x_client": x_client, "q": q})
    await websocket.close(code=4000, reason="done")


@app.websocket("/info/{name}")
async def info(websocket: WebSocket, name: str):
    offered = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol=offered[-1] if offered else None, headers=[("x-accepted", "yes")])
    await websocket.send_json({
        "name": name, "path": websocket.scope["path"], "url": str(websocket.url), "offered": offered,
        "client_host": websocket.client.host, "query": dict(websocket.query_params),
        "http_version": websocket.scope["http_version"], "type": websocket.scope["type"],
    })
    await websocket.close()


@app.websocket("/http-exception")
async def http_exception(websocket: WebSocket):
    """An HTTPException before accept: its HTTP answer, as the handshake's."""
    from fasterapi import HTTPException
    raise HTTPException(status_code=401, detail="no ticket", headers={"www-authenticate": "Ticket"})


@app.websocket("/denial")
async def denial(websocket: WebSocket):
    """Starlette's send_denial_response."""
    from fasterapi.responses import PlainTextResponse
    await websocket.send_denial_response(PlainTextResponse("go away", status_code=418, headers={"x-why": "tea"}))


@app.websocket("/raise-before")
async def raise_before(websocket: WebSocket):
    raise ValueError("before accept")


@app.websocket("/raise-after")
async def raise_after(websocket: WebSocket):
    await websocket.accept()
    await websocket.receive_text()
    raise ValueError("after accept")


@app.websocket("/app-closes")
async def app_closes(websocket: WebSocket):
    await websocket.accept()
    text = await websocket.receive_text()
    raise WebSocketException(code=status.WS_1003_UNSUPPORTED_DATA, reason=f"cannot take {text}")


@app.websocket("/returns")
async def returns(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_text("bye")


router = APIRouter(prefix="/rooms", dependencies=[Depends(resource)])


@router.websocket("/{room}")
async def room(websocket: WebSocket, room: str):
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(f"{room}: {text}")
    LOG.append(f"left {room}")


app.include_router(router, prefix="/v1")


@app.websocket("/big")
async def big(websocket: WebSocket):
    await websocket.accept()
    data = await websocket.receive_bytes()
    await websocket.send_bytes(data)
    await websocket.send_text(str(len(data)))
    await websocket.close()


sub = FastAPI(title="mounted")


@sub.websocket("/ws/{room}")
async def sub_room(websocket: WebSocket, room: str):
    await websocket.accept()
    await websocket.send_json({"mounted": room, "path": websocket.scope["path"]})
    await websocket.close()


@sub.get("/hello")
def sub_hello():
    return {"sub": True}


app.mount("/sub", sub)


def held():
    try:
        yield "held"
    finally:
        print("FA-WSAPP hold dependency exit", file=sys.stderr, flush=True)


@app.websocket("/hold")
async def hold(websocket: WebSocket, h: Annotated[str, Depends(held)]):
    await websocket.accept()
    await websocket.send_text("ready")
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect as exc:
        print(f"FA-WSAPP hold closed {exc.code}", file=sys.stderr, flush=True)


from fasterapi.endpoints import WebSocketEndpoint  # noqa: E402


@app.websocket_route("/endpoint")
class CountingEcho(WebSocketEndpoint):
    """Starlette's class-based form: JSON in, JSON out, the close code logged."""
    encoding = "json"

    async def on_connect(self, websocket):
        self.seen = 0
        await websocket.accept()

    async def on_receive(self, websocket, data):
        self.seen += 1
        await websocket.send_json({"echo": data, "seen": self.seen})

    async def on_disconnect(self, websocket, close_code):
        LOG.append({"endpoint closed": close_code, "seen": self.seen})


if __name__ == "__main__":
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    app.run(host=cfg.pop("host", "127.0.0.1"), port=cfg.pop("port", 8000),
            workers=cfg.pop("num_pinned_workers", 1), pooled_workers=cfg.pop("num_pooled_workers", 0),
            pooled_interpreters=cfg.pop("num_pooled_interpreters", 0), log_level="warning", **cfg)
