"""Bodies as dataclasses and TypedDicts (what FasterAPI's sub-interpreters
validate without pydantic), nested and with defaults."""
from dataclasses import dataclass, field
from typing import TypedDict

from fastapi import FastAPI


@dataclass
class Dimensions:
    width: int
    height: int


@dataclass
class Item:
    name: str
    price: float
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    size: Dimensions | None = None


class Order(TypedDict):
    item_name: str
    quantity: int


app = FastAPI()


@app.post("/items/")
def create_item(item: Item):
    return item


@app.post("/orders/")
def create_order(order: Order):
    return {"order": order, "total": order["quantity"]}


@app.post("/bulk/")
def bulk(items: list[Item]):
    return {"count": len(items), "names": [i.name for i in items]}


REQUESTS = [
    ("POST", "/items/", {"json": {"name": "a", "price": 1.5}}),
    ("POST", "/items/", {"json": {"name": "a", "price": 1, "tags": ["x"], "size": {"width": 1, "height": "2"}}}),
    ("POST", "/items/", {"json": {"name": "a", "size": {"width": "w"}}}),
    ("POST", "/orders/", {"json": {"item_name": "a", "quantity": 3}}),
    ("POST", "/orders/", {"json": {"item_name": "a"}}),
    ("POST", "/bulk/", {"json": [{"name": "a", "price": 1}, {"name": "b", "price": 2}]}),
    ("POST", "/bulk/", {"json": {"name": "a"}}),
]
