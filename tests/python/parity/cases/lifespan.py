"""Advanced: lifespan events, state from the lifespan, TestClient as a
context manager running them exactly once."""
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

events = []


@asynccontextmanager
async def lifespan(app: FastAPI):
    events.append("startup")
    yield {"model": "the-model"}
    events.append("shutdown")


app = FastAPI(lifespan=lifespan)


@app.get("/predict")
async def predict(request: Request):
    return {"model": request.state.model, "events": list(events)}


def scenario(observe):
    from fastapi.testclient import TestClient
    out = [list(events)]
    with TestClient(app) as client:
        out.append(list(events))
        out.append(observe(client.get("/predict")))
    out.append(list(events))
    events.clear()
    return out


OPENAPI = False
