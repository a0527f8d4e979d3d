"""TestClient and lifespan: each `with TestClient(app)` runs the lifespan's
entry once and its exit once, the same client entered twice too; requests
outside `with` run no lifespan; the state it yields reaches request.state."""
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

events = []


@asynccontextmanager
async def lifespan(app):
    events.append("start")
    yield {"greeting": "hi"}
    events.append("stop")


app = FastAPI(lifespan=lifespan)


@app.get("/")
def root(request: Request):
    return {"events": list(events), "greeting": getattr(request.state, "greeting", None)}


def scenario(observe):
    from fastapi.testclient import TestClient
    out = []
    client = TestClient(app)
    out.append(observe(client.get("/")))
    with client:
        out.append(observe(client.get("/")))
    out.append(list(events))
    with client:
        out.append(observe(client.get("/")))
    with TestClient(app) as other:
        out.append(observe(other.get("/")))
    out.append(list(events))
    events.clear()
    return out


OPENAPI = False
