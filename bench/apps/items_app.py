"""The application layer against FastAPI: the SAME code, only the import differs.

    python -m fasterapi items_app:app --port PORT --workers N --interpreters sub
    BENCH_FRAMEWORK=fastapi uvicorn items_app:app --workers N ...

BENCH_FRAMEWORK picks the import (fasterapi, the default, or fastapi);
items_seed.py answers the same route with the low-level API.
"""
import os

if os.environ.get("BENCH_FRAMEWORK", "fasterapi") == "fastapi":
    from fastapi import FastAPI
else:
    from fasterapi import FastAPI

app = FastAPI()


@app.get("/items/{item_id}")
def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q}
