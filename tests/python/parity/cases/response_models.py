"""Tutorial: response_model, return annotations and the response_model_*
options; extra models (input/output)."""
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class UserIn(BaseModel):
    username: str
    password: str
    email: str
    full_name: str | None = None


class UserOut(BaseModel):
    username: str
    email: str
    full_name: str | None = None


class Item(BaseModel):
    name: str
    description: str | None = None
    price: float
    tax: float = 10.5
    tags: list[str] = []


items = {
    "foo": {"name": "Foo", "price": 50.2},
    "bar": {"name": "Bar", "description": "The bartenders", "price": 62, "tax": 20.2},
    "baz": {"name": "Baz", "description": None, "price": 50.2, "tax": 10.5, "tags": []},
}


@app.post("/user/", response_model=UserOut)
async def create_user(user: UserIn) -> Any:
    return user


@app.get("/items/{item_id}", response_model=Item, response_model_exclude_unset=True)
async def read_item(item_id: str):
    return items[item_id]


@app.get("/items/{item_id}/name", response_model=Item, response_model_include={"name", "description"})
async def read_item_name(item_id: str):
    return items[item_id]


@app.get("/items/{item_id}/public", response_model=Item, response_model_exclude={"tax"})
async def read_item_public_data(item_id: str):
    return items[item_id]


@app.get("/items/{item_id}/nonone", response_model=Item, response_model_exclude_none=True)
async def read_item_nonone(item_id: str):
    return items[item_id]


@app.get("/annotated/")
async def annotated() -> list[Item]:
    return [Item(name="Portal Gun", price=42.0), {"name": "Plumbus", "price": 32.0}]


@app.get("/invalid/", response_model=Item)
async def invalid():
    return {"name": "no price"}


@app.get("/nomodel/", response_model=None)
async def nomodel() -> dict | None:
    return {"x": 1}


def scenario(observe):
    from fastapi.testclient import TestClient
    client = TestClient(app)
    out = [observe(client.post("/user/", json={"username": "u", "password": "p", "email": "u@example.com"}))]
    for iid in ("foo", "bar", "baz"):
        for suffix in ("", "/name", "/public", "/nonone"):
            out.append(observe(client.get(f"/items/{iid}{suffix}")))
    out.append(observe(client.get("/annotated/")))
    out.append(observe(client.get("/nomodel/")))
    try:
        client.get("/invalid/")
        out.append("no exception")
    except Exception as exc:  # noqa: BLE001
        out.append({"raised": type(exc).__name__, "errors": exc.errors() if hasattr(exc, "errors") else None})
    return out
