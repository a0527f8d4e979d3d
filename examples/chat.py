"""A chat room over WebSockets, FastAPI's tutorial example on FasterAPI.

    python -m fasterapi chat:app --app-dir examples --port 8000 --workers 1
    python -m websockets ws://127.0.0.1:8000/ws/alice      # in two terminals

Every worker interpreter has its own copy of this module, hence its own
`manager`: a broadcast reaches the clients connected to the same worker,
as with Uvicorn's --workers (one process each). --workers 1 puts everyone
in one room; across workers, use an external pub/sub.
"""
from fasterapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI(title="chat")


class ConnectionManager:
    def __init__(self):
        self.active: list[WebSocket] = []

    async def connect(self, websocket: WebSocket):
        await websocket.accept()
        self.active.append(websocket)

    def disconnect(self, websocket: WebSocket):
        self.active.remove(websocket)

    async def broadcast(self, message: str):
        for connection in list(self.active):
            try:
                await connection.send_text(message)
            except WebSocketDisconnect:
                pass  # it is leaving; its own endpoint removes it


manager = ConnectionManager()


@app.get("/")
def index():
    return {"connected": len(manager.active)}


@app.websocket("/ws/{name}")
async def chat(websocket: WebSocket, name: str):
    await manager.connect(websocket)
    await manager.broadcast(f"{name} joined")
    try:
        async for text in websocket.iter_text():
            await manager.broadcast(f"{name}: {text}")
    finally:
        manager.disconnect(websocket)
    await manager.broadcast(f"{name} left")
