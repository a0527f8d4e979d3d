"""The app tests/python/test_cli.py serves with `python -m fasterapi`:
what the environment, the lifespan and the WebSocket flags changed is
visible in its answers."""
import asyncio
import os

from fasterapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
STATE = {"started": False}


@app.on_event("startup")
def started():
    STATE["started"] = True


@app.get("/env/{name}")
def env(name: str):
    return {"name": name, "value": os.environ.get(name)}


@app.get("/started")
def was_started():
    return {"started": STATE["started"]}


@app.get("/slow")
async def slow():
    await asyncio.sleep(1.0)
    return {"slept": True}


@app.websocket("/ws")
async def echo(ws: WebSocket):
    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnect:
        pass
