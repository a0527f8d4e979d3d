"""Tutorial: header and cookie parameters."""
from typing import Annotated

from fastapi import Cookie, FastAPI, Header

app = FastAPI()


@app.get("/items/")
async def read_items(user_agent: Annotated[str | None, Header()] = None,
                     x_token: Annotated[list[str] | None, Header()] = None):
    return {"User-Agent": user_agent, "X-Token values": x_token}


@app.get("/strange/")
async def strange(strange_header: Annotated[str | None, Header(convert_underscores=False)] = None):
    return {"strange_header": strange_header}


@app.get("/required/")
async def required(x_key: Annotated[str, Header(min_length=2)]):
    return {"x_key": x_key}


@app.get("/cookies/")
async def cookies(ads_id: Annotated[str | None, Cookie()] = None, count: Annotated[int, Cookie()] = 0):
    return {"ads_id": ads_id, "count": count}


REQUESTS = [
    ("GET", "/items/", {"headers": {"User-Agent": "agent/1"}}),
    ("GET", "/items/", {"headers": [("X-Token", "foo"), ("X-Token", "bar")]}),
    ("GET", "/strange/", {"headers": {"strange_header": "x"}}),
    ("GET", "/strange/", {"headers": {"strange-header": "x"}}),
    ("GET", "/required/"), ("GET", "/required/", {"headers": {"X-Key": "k"}}),
    ("GET", "/required/", {"headers": {"X-Key": "key"}}),
    ("GET", "/cookies/", {"headers": {"Cookie": "ads_id=abc; count=3"}}),
    ("GET", "/cookies/", {"headers": {"Cookie": "count=many"}}),
    ("GET", "/cookies/"),
]
