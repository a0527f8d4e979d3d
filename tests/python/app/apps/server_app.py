"""The app the server tests run: `python server_app.py '<json of server keywords>'`
(tests/python/helpers.ServerProcess), or `python -m fasterapi server_app:app
--app-dir tests/python/app/apps`.  Every worker interpreter imports this
module again; startup and shutdown print a line per interpreter."""
import asyncio
import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import Annotated

from fasterapi import BackgroundTasks, Depends, FastAPI, Header, HTTPException, Query, Request

STATE = {"started": False, "requests": 0}


def interp_id():
    try:
        import _interpreters
        return _interpreters.get_current()[0]
    except ImportError:  # 3.12
        import _xxsubinterpreters
        return int(_xxsubinterpreters.get_current())


app = FastAPI(title="server test app")


@app.on_event("startup")
async def startup():
    # runs on the worker's own thread and event loop, before its first request
    await asyncio.sleep(0.001)
    STATE["started"] = True
    print(f"FA-APP-STARTUP interp={interp_id()} module={__name__}", file=sys.stderr, flush=True)


@app.on_event("shutdown")
def shutdown():
    print(f"FA-APP-SHUTDOWN interp={interp_id()}", file=sys.stderr, flush=True)


@dataclass
class Item:
    name: str
    price: float
    tags: list[str] | None = None


def token(x_token: Annotated[str | None, Header()] = None):
    if x_token == "bad":
        raise HTTPException(status_code=401, detail="bad token", headers={"WWW-Authenticate": "Bearer"})
    return x_token


@app.get("/items/{item_id}")
def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q}


@app.post("/items", status_code=201)
async def create_item(item: Item, tok: Annotated[str | None, Depends(token)]):
    await asyncio.sleep(0.001)  # suspends: finishes as a Task on the worker's loop
    return {"item": item, "token": tok}


@app.get("/interp")
def interp(request: Request):
    STATE["requests"] += 1
    return {"interp": interp_id(), "started": STATE["started"], "http_version": request.http_version,
            "thread": threading.get_ident()}


@app.get("/pooled/sleep", pooled=True)
def pooled_sleep(t: Annotated[float, Query(le=2)] = 0.2):
    start = time.monotonic()
    time.sleep(t)
    return {"interp": interp_id(), "start": start, "end": time.monotonic()}


@app.get("/async/sleep")
async def async_sleep(t: float = 0.2):
    start = time.monotonic()
    await asyncio.sleep(t)
    return {"interp": interp_id(), "start": start, "end": time.monotonic()}


@app.get("/cookies")
def cookies(session: Annotated[str | None, Query()] = None):
    from fasterapi.responses import JSONResponse
    r = JSONResponse({"ok": True})
    r.set_cookie("a", "1")
    r.set_cookie("b", session or "2", httponly=True)
    return r


@app.get("/stream")
async def stream(n: int = 3):
    from fasterapi.responses import StreamingResponse

    async def chunks():
        for i in range(n):
            await asyncio.sleep(0.01)
            yield f"chunk {i}\n"
    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/file")
def file():
    from fasterapi.responses import FileResponse
    return FileResponse(__file__, filename="server_app.py")


@app.get("/files/sync")
def any_file(path: str):
    from fasterapi.responses import FileResponse
    return FileResponse(path)


@app.get("/files/async")
async def any_file_async(path: str, media_type: str | None = None):
    from fasterapi.responses import FileResponse
    await asyncio.sleep(0.001)  # finishes as a Task
    return FileResponse(path, media_type=media_type)


def _wait_for_file(path, timeout=10.0):
    import os
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.01)
    return False


def _resource(flag: str):
    """A generator dependency: its exit code runs after the response was
    sent (FastAPI >= 0.118), after the background tasks."""
    yield "res"
    print(f"FA-APP-DEP-EXIT saw-client-flag={_wait_for_file(flag + '.bg-done', 10)}", file=sys.stderr, flush=True)


@app.get("/after")
def after_response(flag: str, background: BackgroundTasks, res: Annotated[str, Depends(_resource)]):
    def task():
        seen = _wait_for_file(flag)
        open(flag + ".bg-done", "w").close()
        print(f"FA-APP-BG saw-client-flag={seen}", file=sys.stderr, flush=True)
    background.add_task(task)
    return {"dep": res}


@app.get("/after/async")
async def after_response_async(flag: str, background: BackgroundTasks,
                               res: Annotated[str, Depends(_resource)]):
    async def task():
        seen = await asyncio.to_thread(_wait_for_file, flag)
        open(flag + ".bg-done", "w").close()
        print(f"FA-APP-BG saw-client-flag={seen}", file=sys.stderr, flush=True)
    await asyncio.sleep(0.001)  # finishes as a Task
    background.add_task(task)
    return {"dep": res}


@app.post("/upload/hash")
async def upload_hash(request: Request):
    """Hashes the body as it arrives (request.stream()), never holding it."""
    import hashlib
    h, size, chunks = hashlib.sha256(), 0, 0
    async for chunk in request.stream():
        h.update(chunk)
        size += len(chunk)
        chunks += chunk != b""
    return {"size": size, "sha256": h.hexdigest(), "chunks": chunks}


@app.post("/upload/json")
async def upload_json(request: Request):
    return {"got": await request.json(), "again": len(await request.body())}


@app.get("/client")
def client(request: Request):
    return {"host": request.client.host, "port": request.client.port, "scheme": request.url.scheme}


if __name__ == "__main__":
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    app.run(host=cfg.pop("host", "127.0.0.1"), port=cfg.pop("port", 8000),
            workers=cfg.pop("num_pinned_workers", 2), pooled_workers=cfg.pop("num_pooled_workers", 2),
            pooled_interpreters=cfg.pop("num_pooled_interpreters", 1), log_level="warning", **cfg)
