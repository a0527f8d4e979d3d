"""The WebSocket echo of bench/ws_app.py (and the broadcast of bench/ws.py,
FastAPI's ConnectionManager shape) as a FastAPI application:
FasterAPI's (`python -m fasterapi ws_app_bench:app`) or, with
WS_BENCH_FRAMEWORK=fastapi, FastAPI's itself (under Uvicorn)."""
import os

if os.environ.get("WS_BENCH_FRAMEWORK") == "fastapi":
    from fastapi import FastAPI, WebSocket, WebSocketDisconnect
else:
    from fasterapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI(openapi_url=None)


@app.get("/")
def root():
    return "ok"


@app.websocket("/ws")
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


subscribers = {}


@app.websocket("/sub")
async def sub(websocket: WebSocket):
    await websocket.accept()
    subscribers[websocket] = None
    try:
        await websocket.send_text("registered")
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        subscribers.pop(websocket, None)


@app.websocket("/pub")
async def pub(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            msg = await websocket.receive_text()
            for s in list(subscribers):
                try:
                    await s.send_text(msg)
                except Exception:  # that subscriber has gone; its handler removes it
                    pass
    except WebSocketDisconnect:
        pass
