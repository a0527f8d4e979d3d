"""A FastAPI-style shop served by FasterAPI.

    python -m fasterapi shop:app --app-dir examples --port 8000 --workers 2
    # or: python examples/shop.py            (app.run() below)

then: curl localhost:8000/items/1?q=x, open http://localhost:8000/docs.
Each worker interpreter imports this module again: keep it at module level.
"""
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated

from fasterapi import Depends, FastAPI, Header, HTTPException, Path, Query, status
from fasterapi.responses import PlainTextResponse

app = FastAPI(title="Shop", version="1.0.0", description="An example shop on FasterAPI.")


class Category(str, Enum):
    books = "books"
    games = "games"


@dataclass
class Item:
    name: str
    price: float
    category: Category = Category.books
    tags: list[str] = field(default_factory=list)


# per interpreter: each worker has its own copy (no shared memory between interpreters)
ITEMS: dict[int, Item] = {1: Item("Dune", 9.5, tags=["sf"])}


def pagination(skip: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=100)] = 10):
    return {"skip": skip, "limit": limit}


def api_key(x_api_key: Annotated[str | None, Header()] = None):
    if x_api_key is not None and x_api_key != "secret":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bad API key")
    return x_api_key


@app.get("/", response_class=PlainTextResponse)
def index():
    return "Welcome to the shop"


@app.get("/items/{item_id}", tags=["items"])
def read_item(item_id: Annotated[int, Path(ge=1)], q: str | None = None):
    item = ITEMS.get(item_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Item not found")
    return {"item_id": item_id, "q": q, "item": item}


@app.get("/items", tags=["items"])
def list_items(page: Annotated[dict, Depends(pagination)], category: Category | None = None):
    items = [i for i in ITEMS.values() if category is None or i.category == category]
    return items[page["skip"]:page["skip"] + page["limit"]]


@app.post("/items", status_code=status.HTTP_201_CREATED, tags=["items"])
async def create_item(item: Item, key: Annotated[str | None, Depends(api_key)]) -> Item:
    ITEMS[max(ITEMS) + 1] = item
    return item


if __name__ == "__main__":
    app.run(port=8000, workers=2)
