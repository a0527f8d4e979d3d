"""Request bodies: dataclasses, TypedDict, dict, list and nested types
validated from JSON; Body() with embed and several body parameters; the
422 shapes (missing, json_invalid, wrong types); forms and files."""
from dataclasses import dataclass, field
from typing import Annotated, NotRequired, TypedDict

from fasterapi import Body, FastAPI, Field, File, Form, UploadFile
from fasterapi.testclient import TestClient


@dataclass
class Image:
    url: str
    width: int = 100


@dataclass
class Item:
    name: str
    price: Annotated[float, Field(gt=0)]
    tags: list[str] | None = None
    images: list[Image] = field(default_factory=list)


class User(TypedDict):
    username: str
    age: int
    nickname: NotRequired[str]


@dataclass
class Node:
    value: int
    children: list["Node"] = field(default_factory=list)


@dataclass
class Checked:
    n: int

    def __post_init__(self):
        if self.n < 0:
            raise ValueError("n must not be negative")


app = FastAPI()


@app.post("/items")
def create_item(item: Item):
    return {"item": item, "type": type(item).__name__, "image_types": [type(i).__name__ for i in item.images]}


@app.post("/users")
def create_user(user: User):
    return user


@app.post("/dict")
def take_dict(data: dict[str, int]):
    return data


@app.post("/list")
def take_list(data: list[Item]):
    return len(data)


@app.post("/any")
def take_any(data: dict):
    return data


@app.post("/tree")
def tree(node: Node):
    def total(n):
        return n.value + sum(total(c) for c in n.children)
    return total(node)


@app.post("/checked")
def checked(c: Checked):
    return c.n


@app.post("/two")
def two(item: Item, user: User, importance: Annotated[int, Body(ge=1)]):
    return {"item": item.name, "user": user["username"], "importance": importance}


@app.post("/embed")
def embed(item: Annotated[Item, Body(embed=True)]):
    return item.name


@app.post("/scalar")
def scalar(n: Annotated[int, Body()]):
    return n


@app.post("/optional")
def optional(item: Item | None = None):
    return item is None


@app.post("/form")
def form(username: Annotated[str, Form()], age: Annotated[int, Form()] = 0, tags: list[str] = Form(default=[])):
    return {"username": username, "age": age, "tags": tags}


@app.post("/upload")
async def upload(file: UploadFile, raw: Annotated[bytes, File()], note: Annotated[str, Form()] = ""):
    content = await file.read()
    return {"name": file.filename, "type": file.content_type, "size": len(content), "raw": len(raw), "note": note}


client = TestClient(app)


def detail(r):
    assert r.status_code == 422, r.text
    return r.json()["detail"]


def test_dataclass_body():
    r = client.post("/items", json={"name": "x", "price": 2, "images": [{"url": "u"}], "extra": "ignored"})
    assert r.status_code == 200
    assert r.json() == {"item": {"name": "x", "price": 2.0, "tags": None, "images": [{"url": "u", "width": 100}]},
                        "type": "Item", "image_types": ["Image"]}


def test_dataclass_errors():
    assert detail(client.post("/items", json={"name": "x"})) == [
        {"type": "missing", "loc": ["body", "price"], "msg": "Field required", "input": {"name": "x"}}]
    assert detail(client.post("/items", json={"name": 1, "price": -1, "images": [{"width": "w"}]})) == [
        {"type": "string_type", "loc": ["body", "name"], "msg": "Input should be a valid string", "input": 1},
        {"type": "greater_than", "loc": ["body", "price"], "msg": "Input should be greater than 0", "input": -1,
         "ctx": {"gt": 0}},
        {"type": "missing", "loc": ["body", "images", 0, "url"], "msg": "Field required", "input": {"width": "w"}},
        {"type": "int_parsing", "loc": ["body", "images", 0, "width"],
         "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "w"},
    ]
    assert detail(client.post("/items", json=[1])) == [
        {"type": "dataclass_type", "loc": ["body"], "msg": "Input should be a dictionary or an instance of Item",
         "input": [1], "ctx": {"class_name": "Item"}}]


def test_missing_and_invalid_json():
    assert detail(client.post("/items")) == [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
    assert detail(client.post("/items", content=b'{"name": ', headers={"content-type": "application/json"})) == [
        {"type": "json_invalid", "loc": ["body", 9], "msg": "JSON decode error", "input": {},
         "ctx": {"error": "Expecting value"}}]


def test_body_without_json_content_type_is_not_parsed():
    # as FastAPI (strict_content_type): the raw body does not validate as a dataclass
    d = detail(client.post("/items", content=b'{"name":"a","price":1}', headers={"content-type": "text/plain"}))
    assert d[0]["type"] == "dataclass_type" and d[0]["input"] == '{"name":"a","price":1}'
    r = client.post("/items", content=b'{"name":"a","price":1}',
                    headers={"content-type": "application/vnd.api+json; charset=utf-8"})
    assert r.status_code == 200


def test_typeddict_dict_list():
    assert client.post("/users", json={"username": "u", "age": "3", "x": 1}).json() == {"username": "u", "age": 3}
    assert client.post("/users", json={"username": "u", "age": 3, "nickname": "n"}).json()["nickname"] == "n"
    assert detail(client.post("/users", json={"username": "u"})) == [
        {"type": "missing", "loc": ["body", "age"], "msg": "Field required", "input": {"username": "u"}}]
    assert detail(client.post("/users", json="u")) == [
        {"type": "dict_type", "loc": ["body"], "msg": "Input should be a valid dictionary", "input": "u"}]
    assert client.post("/dict", json={"a": 1, "b": "2"}).json() == {"a": 1, "b": 2}
    assert detail(client.post("/dict", json={"a": "x"}))[0]["loc"] == ["body", "a"]
    assert detail(client.post("/dict", json=[1])) == [
        {"type": "dict_type", "loc": ["body"], "msg": "Input should be a valid dictionary", "input": [1]}]
    assert client.post("/list", json=[{"name": "a", "price": 1}, {"name": "b", "price": 2}]).json() == 2
    assert detail(client.post("/list", json=[{"name": "a", "price": 1}, {"name": "b"}]))[0]["loc"] == \
        ["body", 1, "price"]
    assert detail(client.post("/list", json={"a": 1})) == [
        {"type": "list_type", "loc": ["body"], "msg": "Input should be a valid list", "input": {"a": 1}}]
    assert client.post("/any", json={"k": [1, {"x": None}]}).json() == {"k": [1, {"x": None}]}


def test_recursive_and_post_init():
    body = {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}, {"value": 4}]}
    assert client.post("/tree", json=body).json() == 10
    assert client.post("/checked", json={"n": 2}).json() == 2
    assert detail(client.post("/checked", json={"n": -1})) == [
        {"type": "value_error", "loc": ["body"], "msg": "Value error, n must not be negative", "input": {"n": -1},
         "ctx": {"error": "n must not be negative"}}]


def test_several_body_params_are_embedded():
    r = client.post("/two", json={"item": {"name": "i", "price": 1}, "user": {"username": "u", "age": 1},
                                  "importance": 2})
    assert r.json() == {"item": "i", "user": "u", "importance": 2}
    assert detail(client.post("/two", json={"name": "i", "price": 1})) == [
        {"type": "missing", "loc": ["body", "item"], "msg": "Field required", "input": None},
        {"type": "missing", "loc": ["body", "user"], "msg": "Field required", "input": None},
        {"type": "missing", "loc": ["body", "importance"], "msg": "Field required", "input": None},
    ]
    d = detail(client.post("/two", json={"item": {"name": "i", "price": 1}, "user": {"username": "u", "age": 1},
                                          "importance": 0}))
    assert d == [{"type": "greater_than_equal", "loc": ["body", "importance"],
                  "msg": "Input should be greater than or equal to 1", "input": 0, "ctx": {"ge": 1}}]


def test_embed_scalar_optional():
    assert client.post("/embed", json={"item": {"name": "e", "price": 1}}).json() == "e"
    assert detail(client.post("/embed", json={"name": "e", "price": 1}))[0]["loc"] == ["body", "item"]
    assert client.post("/scalar", json=5).json() == 5
    assert detail(client.post("/scalar", json={"n": 5})) == [
        {"type": "int_type", "loc": ["body"], "msg": "Input should be a valid integer", "input": {"n": 5}}]
    assert client.post("/optional").json() is True
    assert client.post("/optional", json={"name": "a", "price": 1}).json() is False


def test_form_and_files():
    r = client.post("/form", data={"username": "bob", "age": "4", "tags": ["a", "b"]})
    assert r.json() == {"username": "bob", "age": 4, "tags": ["a", "b"]}
    assert detail(client.post("/form", data={"age": "x"})) == [
        {"type": "missing", "loc": ["body", "username"], "msg": "Field required", "input": None},
        {"type": "int_parsing", "loc": ["body", "age"],
         "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "x"}]
    r = client.post("/upload", files={"file": ("a.txt", b"hello", "text/plain"), "raw": ("r.bin", b"\x00\x01")},
                    data={"note": "n"})
    assert r.json() == {"name": "a.txt", "type": "text/plain", "size": 5, "raw": 2, "note": "n"}
