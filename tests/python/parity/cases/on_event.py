"""Advanced: the deprecated startup/shutdown events (FastAPI warns)."""
from fastapi import FastAPI

app = FastAPI()
items = {}
events = []


@app.on_event("startup")
async def startup_event():
    events.append("startup")
    items["foo"] = {"name": "Fighters"}


@app.on_event("shutdown")
def shutdown_event():
    events.append("shutdown")


@app.get("/items/{item_id}")
async def read_items(item_id: str):
    return items[item_id]


def scenario(observe):
    from fastapi.testclient import TestClient
    out = []
    with TestClient(app) as client:
        out.append(observe(client.get("/items/foo")))
        out.append(list(events))
    out.append(list(events))
    events.clear()
    return out
