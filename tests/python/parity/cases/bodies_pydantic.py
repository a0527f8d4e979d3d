"""Tutorial: request bodies with pydantic models (main interpreter): nested
models, Field, several bodies, Body(embed=True), body + path + query."""
from typing import Annotated

from fastapi import Body, FastAPI
from pydantic import BaseModel, Field, HttpUrl

app = FastAPI()


class Image(BaseModel):
    url: HttpUrl
    name: str


class Item(BaseModel):
    name: str
    description: str | None = Field(default=None, title="The description of the item", max_length=300)
    price: float = Field(gt=0, description="The price must be greater than zero")
    tax: float | None = None
    tags: set[str] = set()
    images: list[Image] | None = None


class User(BaseModel):
    username: str
    full_name: str | None = None


@app.post("/items/")
async def create_item(item: Item):
    d = item.model_dump()
    if item.tax is not None:
        d.update({"price_with_tax": item.price + item.tax})
    return d


@app.put("/items/{item_id}")
async def update_item(item_id: int, item: Item, user: User, importance: Annotated[int, Body(gt=0)],
                      q: str | None = None):
    results = {"item_id": item_id, "item": item, "user": user, "importance": importance}
    if q:
        results.update({"q": q})
    return results


@app.put("/embedded/{item_id}")
async def embedded(item_id: int, item: Annotated[Item, Body(embed=True)]):
    return {"item_id": item_id, "item": item}


@app.post("/index-weights/")
async def create_index_weights(weights: dict[int, float]):
    return weights


@app.post("/images/multiple/")
async def create_multiple_images(images: list[Image]):
    return images


GOOD = {"name": "Foo", "price": 35.4, "tax": 3.2, "tags": ["a", "b", "a"],
        "images": [{"url": "http://example.com/baz.jpg", "name": "The Foo live"}]}

REQUESTS = [
    ("POST", "/items/", {"json": GOOD}),
    ("POST", "/items/", {"json": {"name": "Foo"}}),
    ("POST", "/items/", {"json": {"name": "Foo", "price": -1, "images": [{"url": "nope", "name": 3}]}}),
    ("POST", "/items/", {"json": {"name": "Foo", "price": "12.5"}}),
    ("POST", "/items/", {"json": [1, 2]}),
    ("POST", "/items/"),
    ("POST", "/items/", {"content": b'{"name": "Foo", "price":', "headers": {"content-type": "application/json"}}),
    ("POST", "/items/", {"content": b'{"name": "Foo", "price": 2}', "headers": {"content-type": "text/plain"}}),
    ("PUT", "/items/5?q=x", {"json": {"item": {"name": "Foo", "price": 1}, "user": {"username": "dave"},
                                      "importance": 5}}),
    ("PUT", "/items/5", {"json": {"item": {"name": "Foo", "price": 1}, "importance": 0}}),
    ("PUT", "/embedded/5", {"json": {"item": {"name": "Foo", "price": 1}}}),
    ("PUT", "/embedded/5", {"json": {"name": "Foo", "price": 1}}),
    ("POST", "/index-weights/", {"json": {"1": 0.5, "2": 1}}),
    ("POST", "/index-weights/", {"json": {"a": 0.5}}),
    ("POST", "/images/multiple/", {"json": [{"url": "http://example.com/a.png", "name": "a"}]}),
]
