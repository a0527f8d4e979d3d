"""Tutorial: dependencies with yield: cleanup, HTTPException after yield,
and a dependency that catches the endpoint's exception without re-raising."""
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException

app = FastAPI()

log = []


class OwnerError(Exception):
    pass


def get_db():
    log.append("open")
    try:
        yield "db"
    finally:
        log.append("close")


def get_username():
    try:
        yield "Rick"
    except OwnerError as e:
        raise HTTPException(status_code=400, detail=f"Owner error: {e}")


def swallowing():
    try:
        yield "ok"
    except ValueError:
        log.append("swallowed")


def reraising():
    try:
        yield "ok"
    except ValueError:
        log.append("reraised")
        raise


@app.get("/db/")
def read_db(db: Annotated[str, Depends(get_db)]):
    return {"db": db, "log": list(log)}


@app.get("/items/{item_id}")
def get_item(item_id: str, username: Annotated[str, Depends(get_username)]):
    if item_id == "plumbus" and username != "Morty":
        raise OwnerError(username)
    if item_id == "missing":
        raise HTTPException(status_code=404, detail="Item not found")
    return {"item_id": item_id, "owner": username}


@app.get("/swallow/")
def swallow(v: Annotated[str, Depends(swallowing)]):
    raise ValueError("boom")


@app.get("/reraise/")
def reraise(v: Annotated[str, Depends(reraising)]):
    raise ValueError("boom")


@app.get("/log/")
def get_log():
    return log


def scenario(observe):
    from fastapi.testclient import TestClient
    out = []
    client = TestClient(app)
    out.append(observe(client.get("/db/")))
    out.append(observe(client.get("/items/portal-gun")))
    out.append(observe(client.get("/items/plumbus")))
    out.append(observe(client.get("/items/missing")))
    for path in ("/swallow/", "/reraise/"):
        try:
            out.append(observe(client.get(path)))
        except Exception as exc:  # noqa: BLE001
            out.append({"raised": type(exc).__name__, "module": type(exc).__module__.split(".")[0]
                        .replace("fasterapi", "fastapi")})
    quiet = TestClient(app, raise_server_exceptions=False)
    out.append(observe(quiet.get("/reraise/")))
    out.append(observe(client.get("/log/")))
    return out


OPENAPI = True
