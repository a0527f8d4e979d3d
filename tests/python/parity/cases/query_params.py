"""Tutorial: query parameters and string validations (Query options, lists,
aliases, AfterValidator)."""
from typing import Annotated

from fastapi import FastAPI, Query
from pydantic import AfterValidator

app = FastAPI()

fake_items_db = [{"item_name": "Foo"}, {"item_name": "Bar"}, {"item_name": "Baz"}]


@app.get("/items/")
async def read_items(skip: int = 0, limit: int = 10):
    return fake_items_db[skip: skip + limit]


@app.get("/items/{item_id}")
async def read_item(item_id: str, needy: str, q: str | None = None, short: bool = False):
    item = {"item_id": item_id, "needy": needy}
    if q:
        item.update({"q": q})
    if not short:
        item.update({"description": "This is an amazing item that has a long description"})
    return item


@app.get("/search/")
async def search(q: Annotated[str | None, Query(min_length=3, max_length=50, pattern="^fixedquery$")] = None):
    results = {"items": [{"item_id": "Foo"}, {"item_id": "Bar"}]}
    if q:
        results.update({"q": q})
    return results


@app.get("/multi/")
async def multi(q: Annotated[list[str] | None, Query()] = None, n: Annotated[list[int], Query()] = []):
    return {"q": q, "n": n}


@app.get("/meta/")
async def meta(q: Annotated[str | None, Query(alias="item-query", title="Query string",
                                              description="Query string for the items to search",
                                              min_length=3, deprecated=True)] = None,
               hidden: Annotated[str | None, Query(include_in_schema=False)] = None):
    return {"q": q, "hidden": hidden}


def check_valid_id(id: str):
    if not id.startswith(("isbn-", "imdb-")):
        raise ValueError('Invalid ID format, it must start with "isbn-" or "imdb-"')
    return id


@app.get("/validated/")
async def validated(id: Annotated[str | None, AfterValidator(check_valid_id)] = None):
    return {"id": id}


@app.get("/numbers/")
async def numbers(a: Annotated[int, Query(gt=0, le=100)], b: Annotated[float, Query(ge=0.5)] = 1.0):
    return {"a": a, "b": b}


REQUESTS = [
    ("GET", "/items/"), ("GET", "/items/?skip=1&limit=1"), ("GET", "/items/?skip=x"),
    ("GET", "/items/foo?needy=n"), ("GET", "/items/foo"), ("GET", "/items/foo?needy=n&q=z&short=yes"),
    ("GET", "/items/foo?needy=n&short=off"), ("GET", "/items/foo?needy=n&short=maybe"),
    ("GET", "/search/"), ("GET", "/search/?q=fixedquery"), ("GET", "/search/?q=ab"), ("GET", "/search/?q=nonfixed"),
    ("GET", "/search/?q=" + "x" * 51),
    ("GET", "/multi/?q=a&q=b&n=1&n=2"), ("GET", "/multi/"), ("GET", "/multi/?n=x"),
    ("GET", "/meta/?item-query=abcd&hidden=h"), ("GET", "/meta/?item-query=ab"), ("GET", "/meta/?q=abcd"),
    ("GET", "/validated/?id=isbn-123"), ("GET", "/validated/?id=xyz"), ("GET", "/validated/"),
    ("GET", "/numbers/?a=5"), ("GET", "/numbers/?a=0&b=0.1"), ("GET", "/numbers/"), ("GET", "/numbers/?a=101"),
]
