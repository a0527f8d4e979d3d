"""The WebSocket echo of bench/ws_app.py as a FastAPI application:
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
