"""A FastAPI app with pydantic bodies and response models: the SAME code
under FasterAPI (main interpreter: pydantic-core cannot load in own-GIL
sub-interpreters) and under Uvicorn + FastAPI; only the import differs.

    python -m fasterapi pydantic_app:app --interpreters main --processes 2 --workers 1
    BENCH_FRAMEWORK=fastapi uvicorn pydantic_app:app --workers 2

bench/processes.py runs both.
"""
import os

from pydantic import BaseModel

if os.environ.get("BENCH_FRAMEWORK", "fasterapi") == "fastapi":
    from fastapi import FastAPI
else:
    from fasterapi import FastAPI

app = FastAPI()


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


class Stored(BaseModel):
    id: int
    name: str
    price: float
    tags: list[str]
    total: float


@app.post("/items/{item_id}", response_model=Stored)
def create_item(item_id: int, item: Item):
    return Stored(id=item_id, name=item.name, price=item.price, tags=item.tags, total=item.price * 1.2)
