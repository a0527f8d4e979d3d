"""Tutorial: dependencies: functions, classes, sub-dependencies, caching,
path-operation decorator dependencies, global dependencies."""
from typing import Annotated

from fastapi import Cookie, Depends, FastAPI, Header, HTTPException

calls = {"n": 0}


async def verify_key(x_key: Annotated[str, Header()]):
    if x_key != "fake-super-secret-key":
        raise HTTPException(status_code=400, detail="X-Key header invalid")
    return x_key


app = FastAPI(dependencies=[Depends(verify_key)])


async def common_parameters(q: str | None = None, skip: int = 0, limit: int = 100):
    return {"q": q, "skip": skip, "limit": limit}


CommonsDep = Annotated[dict, Depends(common_parameters)]


class CommonQueryParams:
    def __init__(self, q: str | None = None, skip: int = 0, limit: int = 100):
        self.q = q
        self.skip = skip
        self.limit = limit


def query_extractor(q: str | None = None):
    return q


def query_or_cookie_extractor(q: Annotated[str, Depends(query_extractor)],
                              last_query: Annotated[str | None, Cookie()] = None):
    if not q:
        return last_query
    return q


def counted():
    calls["n"] += 1
    return calls["n"]


def uses_counted(n: Annotated[int, Depends(counted)]):
    return n


async def verify_token(x_token: Annotated[str, Header()]):
    if x_token != "fake-super-secret-token":
        raise HTTPException(status_code=400, detail="X-Token header invalid")


@app.get("/items/")
async def read_items(commons: CommonsDep):
    return commons


@app.get("/users/")
async def read_users(commons: Annotated[CommonQueryParams, Depends()]):
    return {"q": commons.q, "skip": commons.skip, "limit": commons.limit}


@app.get("/sub/")
async def read_query(query_or_default: Annotated[str, Depends(query_or_cookie_extractor)]):
    return {"q_or_cookie": query_or_default}


@app.get("/cached/")
def cached(a: Annotated[int, Depends(counted)], b: Annotated[int, Depends(uses_counted)],
           c: Annotated[int, Depends(counted, use_cache=False)]):
    return {"same": a == b, "fresh": c != a}


@app.get("/decorated/", dependencies=[Depends(verify_token)])
async def decorated():
    return [{"item": "Foo"}]


K = {"X-Key": "fake-super-secret-key"}
REQUESTS = [
    ("GET", "/items/?q=a&skip=1", {"headers": K}), ("GET", "/items/?limit=x", {"headers": K}),
    ("GET", "/items/"), ("GET", "/items/", {"headers": {"X-Key": "bad"}}),
    ("GET", "/users/?q=b", {"headers": K}),
    ("GET", "/sub/?q=x", {"headers": K}), ("GET", "/sub/", {"headers": {**K, "Cookie": "last_query=lq"}}),
    ("GET", "/cached/", {"headers": K}),
    ("GET", "/decorated/", {"headers": K}), ("GET", "/decorated/", {"headers": {**K, "X-Token": "no"}}),
    ("GET", "/decorated/", {"headers": {**K, "X-Token": "fake-super-secret-token"}}),
]
