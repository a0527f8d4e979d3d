"""Advanced: testing dependencies with app.dependency_overrides."""
from typing import Annotated

from fastapi import Depends, FastAPI

app = FastAPI()


async def common_parameters(q: str | None = None, skip: int = 0, limit: int = 100):
    return {"q": q, "skip": skip, "limit": limit}


@app.get("/items/")
async def read_items(commons: Annotated[dict, Depends(common_parameters)]):
    return {"message": "Hello Items!", "params": commons}


@app.get("/users/")
async def read_users(commons: Annotated[dict, Depends(common_parameters)]):
    return {"message": "Hello Users!", "params": commons}


async def override_dependency(q: str | None = None):
    return {"q": q, "skip": 5, "limit": 10}


def scenario(observe):
    from fastapi.testclient import TestClient
    client = TestClient(app)
    out = [observe(client.get("/items/?q=a&skip=1"))]
    app.dependency_overrides[common_parameters] = override_dependency
    out.append(observe(client.get("/items/?q=a&skip=1")))
    out.append(observe(client.get("/users/?limit=x")))
    app.dependency_overrides = {}
    out.append(observe(client.get("/users/?limit=x")))
    return out
