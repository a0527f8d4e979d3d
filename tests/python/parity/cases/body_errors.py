"""Bodies that do not parse: broken JSON (422 json_invalid), a body whose
parsing fails otherwise (400 "There was an error parsing the body"),
malformed multipart, an empty body for a required model."""
from typing import Annotated

from fastapi import FastAPI, Form
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    name: str


@app.post("/items/")
def create(item: Item):
    return item


@app.post("/form/")
def form(name: Annotated[str, Form()]):
    return {"name": name}


J = {"content-type": "application/json"}
REQUESTS = [
    ("POST", "/items/", {"content": b'{"name": ', "headers": J}),
    ("POST", "/items/", {"content": b"\xff\xfe\x00garbage", "headers": J}),
    ("POST", "/items/", {"content": b"", "headers": J}),
    ("POST", "/items/", {"content": b'"just a string"', "headers": J}),
    ("POST", "/items/", {"content": b'{"name": "x"}', "headers": {"content-type": "application/vnd.api+json"}}),
    ("POST", "/form/", {"content": b"--xx\r\nnot a part", "headers": {"content-type": "multipart/form-data; boundary=xx"}}),
    ("POST", "/form/", {"content": b"name=n", "headers": {"content-type": "application/x-www-form-urlencoded"}}),
]
