"""Deprecated parameters FastAPI warns about while the app is declared:
regex= and example= on parameters."""
from typing import Annotated

from fastapi import Body, FastAPI, Path, Query

app = FastAPI()


@app.get("/items/{item_id}")
async def read_items(item_id: Annotated[int, Path(example=3)],
                     q: Annotated[str | None, Query(regex="^fixed")] = None):
    return {"item_id": item_id, "q": q}


@app.post("/body/")
async def body(x: Annotated[int, Body(example=1, embed=True)]):
    return {"x": x}


REQUESTS = [("GET", "/items/1?q=fixedquery"), ("GET", "/items/1?q=nope"), ("POST", "/body/", {"json": {"x": 2}})]
