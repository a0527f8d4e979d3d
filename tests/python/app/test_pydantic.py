"""pydantic models in the main interpreter (TestClient; later the
--interpreters main mode): bodies (validated, FastAPI's 422s), nested
models, response_model (validated, filtered, serialized by pydantic with
the response_model_* options), returned model instances, and the OpenAPI
schemas pydantic generates.  pydantic cannot load in own-GIL
sub-interpreters: the layer never imports it unless the app did.

The expected answers and documents are FastAPI's (0.165, pydantic 2.14)
for the same app, except ``ctx.error`` of a value_error (FastAPI encodes
the exception as ``{}``; we give its message, as for dataclasses) and
``"default": null`` in schemas (FastAPI drops every null from its
document)."""
import sys
from decimal import Decimal
from typing import Annotated, Optional

import pytest

import helpers

from fasterapi import Body, FastAPI
from fasterapi.exceptions import ResponseValidationError
from fasterapi.testclient import TestClient

pydantic = pytest.importorskip("pydantic")
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator  # noqa: E402


class Tag(BaseModel):
    name: str = Field(min_length=1)


class Item(BaseModel):
    """An item.

    \f(not in the schema)"""
    name: str
    price: float = Field(gt=0)
    tags: list[Tag] = []
    description: Optional[str] = None

    @field_validator("name")
    @classmethod
    def no_bad(cls, v):
        if v == "bad":
            raise ValueError("bad name")
        return v


class Public(BaseModel):
    name: str
    tags: list[Tag] = []


class Owner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    nick: str = Field(alias="nickName")


class Order(BaseModel):
    items: list[Item]
    owner: Owner
    note: str | None = None

    @computed_field
    @property
    def count(self) -> int:
        return len(self.items)


app = FastAPI()


@app.post("/items", response_model=Public)
def create(item: Item):
    assert isinstance(item, Item)
    return item


@app.post("/items/raw")
def raw(item: Item):
    return item


@app.post("/items/created", status_code=201)
async def created(item: Item) -> Public:
    return item


@app.post("/orders")
async def order(order: Order) -> Order:
    assert isinstance(order.owner, Owner) and isinstance(order.items[0], Item)
    return order


@app.post("/embed")
def embed(item: Annotated[Item, Body(embed=True)]):
    return {"item": item}


@app.post("/two")
def two(item: Item, owner: Owner):
    return {"item": item, "owner": owner}


@app.post("/optional")
def optional(item: Item | None = None):
    return {"item": item}


@app.get("/filtered", response_model=Public)
def filtered():
    return {"name": "x", "price": 3, "secret": "s"}


@app.get("/list", response_model=list[Public])
def list_():
    return [Item(name="a", price=1), {"name": "b", "tags": [{"name": "t"}]}]


@app.get("/maybe", response_model=Optional[Public])
def maybe():
    return None


@app.get("/mapping", response_model=dict[str, Owner])
def mapping():
    return {"o": {"id": 1, "nickName": "x"}}


@app.get("/instance")
def instance():
    return Owner(id=1, nickName="n")


@app.get("/nested-instances")
def nested_instances():
    return {"o": Owner(id=1, nickName="x"), "l": [Owner(id=2, nickName="y")]}


@app.get("/by-alias", response_model=Owner)
def by_alias():
    return {"id": 1, "nickName": "n"}


@app.get("/by-name", response_model=Owner, response_model_by_alias=False)
def by_name():
    return {"id": 1, "nickName": "n"}


@app.get("/unset", response_model=Item, response_model_exclude_unset=True)
def unset():
    return Item(name="a", price=1)


@app.get("/unset-dict", response_model=Item, response_model_exclude_unset=True)
def unset_dict():
    return {"name": "a", "price": 1}


@app.get("/unset-nested", response_model=list[Order], response_model_exclude_unset=True)
def unset_nested():
    return [{"items": [{"name": "a", "price": 1}], "owner": {"id": 1, "nickName": "n"}}]


@app.get("/defaults", response_model=Item, response_model_exclude_defaults=True)
def defaults():
    return Item(name="a", price=1, tags=[], description="d")


@app.get("/none", response_model=Item, response_model_exclude_none=True)
def none_():
    return Item(name="a", price=1)


@app.get("/include", response_model=Item, response_model_include={"name", "tags"})
def include():
    return Item(name="a", price=1, tags=[Tag(name="t")])


@app.get("/exclude", response_model=Order, response_model_exclude={"owner"})
def exclude():
    return {"items": [{"name": "a", "price": 1}], "owner": {"id": 1, "nickName": "n"}}


@app.get("/bad-response", response_model=Public)
def bad_response():
    return {"nope": 1}


client = TestClient(app)
ITEM = {"name": "a", "price": 1.0, "tags": [], "description": None}


def test_body_validated_and_response_model_filters():
    r = client.post("/items", json={"name": "a", "price": 1, "extra": 1, "tags": [{"name": "t"}]})
    assert r.status_code == 200 and r.json() == {"name": "a", "tags": [{"name": "t"}]}
    assert client.post("/items/raw", json={"name": "a", "price": "1"}).json() == ITEM
    r = client.post("/items/created", json={"name": "a", "price": 1})
    assert r.status_code == 201 and r.json() == {"name": "a", "tags": []}
    assert client.post("/embed", json={"item": {"name": "a", "price": 1}}).json() == {"item": ITEM}
    assert client.post("/two", json={"item": {"name": "a", "price": 1}, "owner": {"id": 1, "nickName": "n"}}).json() \
        == {"item": ITEM, "owner": {"id": 1, "nickName": "n"}}
    assert client.post("/optional").json() == {"item": None}
    assert client.post("/optional", json={"name": "a", "price": 1}).json() == {"item": ITEM}


def test_nested_models_and_computed_field():
    body = {"items": [{"name": "a", "price": 1}], "owner": {"id": 1, "nickName": "n"}}
    assert client.post("/orders", json=body).json() == {
        "items": [ITEM], "owner": {"id": 1, "nickName": "n"}, "note": None, "count": 1}


def test_validation_errors():
    def detail(url, **kw):
        r = client.post(url, **kw)
        assert r.status_code == 422, r.text
        return r.json()["detail"]

    assert detail("/items", json={"name": "a", "price": -1}) == [
        {"type": "greater_than", "loc": ["body", "price"], "msg": "Input should be greater than 0", "input": -1,
         "ctx": {"gt": 0.0}}]
    assert detail("/items", json={"price": 2}) == [
        {"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": {"price": 2}}]
    assert detail("/items", json={"name": "bad", "price": 2}) == [
        {"type": "value_error", "loc": ["body", "name"], "msg": "Value error, bad name", "input": "bad",
         "ctx": {"error": "bad name"}}]
    assert detail("/items", json={"name": "a", "price": "x", "tags": [{"name": ""}, {}]}) == [
        {"type": "float_parsing", "loc": ["body", "price"],
         "msg": "Input should be a valid number, unable to parse string as a number", "input": "x"},
        {"type": "string_too_short", "loc": ["body", "tags", 0, "name"],
         "msg": "String should have at least 1 character", "input": "", "ctx": {"min_length": 1}},
        {"type": "missing", "loc": ["body", "tags", 1, "name"], "msg": "Field required", "input": {}}]
    assert detail("/items", json=[1, 2]) == [
        {"type": "model_attributes_type", "loc": ["body"],
         "msg": "Input should be a valid dictionary or object to extract fields from", "input": [1, 2]}]
    assert detail("/items") == [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
    assert detail("/items", content=b"{bad", headers={"content-type": "application/json"}) == [
        {"type": "json_invalid", "loc": ["body", 1], "msg": "JSON decode error", "input": {},
         "ctx": {"error": "Expecting property name enclosed in double quotes"}}]
    assert detail("/orders", json={"items": [{"name": "a", "price": 0}],
                                   "owner": {"id": "x", "nickName": "n", "zz": 1}}) == [
        {"type": "greater_than", "loc": ["body", "items", 0, "price"], "msg": "Input should be greater than 0",
         "input": 0, "ctx": {"gt": 0.0}},
        {"type": "int_parsing", "loc": ["body", "owner", "id"],
         "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "x"},
        {"type": "extra_forbidden", "loc": ["body", "owner", "zz"], "msg": "Extra inputs are not permitted",
         "input": 1}]
    assert detail("/embed", json={"name": "a", "price": 1}) == [
        {"type": "missing", "loc": ["body", "item"], "msg": "Field required", "input": None}]
    assert detail("/two", json={"item": {"name": "a"}}) == [
        {"type": "missing", "loc": ["body", "item", "price"], "msg": "Field required", "input": {"name": "a"}},
        {"type": "missing", "loc": ["body", "owner"], "msg": "Field required", "input": None}]
    assert detail("/optional", json={"name": "a"}) == [
        {"type": "missing", "loc": ["body", "price"], "msg": "Field required", "input": {"name": "a"}}]


def test_response_models_and_returned_instances():
    assert client.get("/filtered").json() == {"name": "x", "tags": []}
    assert client.get("/list").json() == [{"name": "a", "tags": []}, {"name": "b", "tags": [{"name": "t"}]}]
    assert client.get("/maybe").json() is None
    assert client.get("/mapping").json() == {"o": {"id": 1, "nickName": "x"}}
    # returned instances are serialized by alias, as FastAPI's jsonable_encoder does
    assert client.get("/instance").json() == {"id": 1, "nickName": "n"}
    assert client.get("/nested-instances").json() == {"o": {"id": 1, "nickName": "x"},
                                                      "l": [{"id": 2, "nickName": "y"}]}


def test_response_model_options():
    assert client.get("/by-alias").json() == {"id": 1, "nickName": "n"}
    assert client.get("/by-name").json() == {"id": 1, "nick": "n"}
    assert client.get("/unset").json() == {"name": "a", "price": 1.0}
    assert client.get("/unset-dict").json() == {"name": "a", "price": 1.0}
    assert client.get("/unset-nested").json() == [
        {"items": [{"name": "a", "price": 1.0}], "owner": {"id": 1, "nickName": "n"}, "count": 1}]
    assert client.get("/defaults").json() == {"name": "a", "price": 1.0, "description": "d"}
    assert client.get("/none").json() == {"name": "a", "price": 1.0, "tags": []}
    assert client.get("/include").json() == {"name": "a", "tags": [{"name": "t"}]}
    assert client.get("/exclude").json() == {"items": [ITEM], "note": None, "count": 1}


def test_response_validation_error():
    with pytest.raises(ResponseValidationError) as e:
        client.get("/bad-response")
    assert e.value.errors() == [
        {"type": "missing", "loc": ["response", "name"], "msg": "Field required", "input": {"nope": 1}}]
    r = TestClient(app, raise_server_exceptions=False).get("/bad-response")
    assert r.status_code == 500 and r.text == "Internal Server Error"


def _ref(name):
    return {"$ref": "#/components/schemas/" + name}


def _json_schema(op, where="requestBody"):
    content = op[where]["content"] if where == "requestBody" else op["responses"][where]["content"]
    return content["application/json"]["schema"]


# Cut at the form feed, as FastAPI does.  Python 3.13's compiler strips the
# docstring's indentation and keeps the form feed; on 3.12 pydantic's
# inspect.cleandoc() takes the form feed for indentation and drops it, so
# nothing is cut there (FastAPI on 3.12 shows the same).
ITEM_DESCRIPTION = "An item.\n\n" if sys.version_info >= (3, 13) else "An item.\n\n(not in the schema)"


def test_openapi():
    validator = pytest.importorskip("openapi_spec_validator")
    doc = client.get("/openapi.json").json()
    validator.validate(doc)
    schemas = doc["components"]["schemas"]
    assert set(schemas) == {"Item", "Tag", "Public", "Owner", "Order-Input", "Order-Output", "Body_embed_embed_post",
                            "Body_two_two_post", "HTTPValidationError", "ValidationError"}
    assert schemas["Item"] == {
        "title": "Item", "type": "object", "description": ITEM_DESCRIPTION,
        "properties": {"name": {"title": "Name", "type": "string"},
                       "price": {"title": "Price", "type": "number", "exclusiveMinimum": 0},
                       "tags": {"title": "Tags", "type": "array", "items": _ref("Tag"), "default": []},
                       # no "default": null, as FastAPI 0.165 writes it
                       "description": {"title": "Description", "anyOf": [{"type": "string"}, {"type": "null"}]}},
        "required": ["name", "price"]}
    assert schemas["Owner"] == {"title": "Owner", "type": "object", "additionalProperties": False,
                                "properties": {"id": {"title": "Id", "type": "integer"},
                                               "nickName": {"title": "Nickname", "type": "string"}},
                                "required": ["id", "nickName"]}
    # a computed field: the model differs between request and response
    assert "count" not in schemas["Order-Input"]["properties"]
    assert schemas["Order-Output"]["properties"]["count"] == {"title": "Count", "type": "integer", "readOnly": True}
    assert schemas["Order-Output"]["required"] == ["items", "owner", "count"]
    paths = doc["paths"]
    items = paths["/items"]["post"]
    assert items["requestBody"] == {"content": {"application/json": {"schema": _ref("Item")}}, "required": True}
    assert _json_schema(items, "200") == _ref("Public")
    assert _json_schema(items, "422") == _ref("HTTPValidationError")
    assert _json_schema(paths["/items/created"]["post"], "201") == _ref("Public")
    assert _json_schema(paths["/orders"]["post"]) == _ref("Order-Input")
    assert _json_schema(paths["/orders"]["post"], "200") == _ref("Order-Output")
    assert _json_schema(paths["/exclude"]["get"], "200") == _ref("Order-Output")
    assert _json_schema(paths["/list"]["get"], "200")["items"] == _ref("Public")
    assert _json_schema(paths["/mapping"]["get"], "200")["additionalProperties"] == _ref("Owner")
    assert schemas["Body_embed_embed_post"]["properties"] == {"item": _ref("Item")}
    assert schemas["Body_two_two_post"]["properties"] == {"item": _ref("Item"), "owner": _ref("Owner")}
    assert _json_schema(paths["/optional"]["post"]) == {"anyOf": [_ref("Item"), {"type": "null"}], "title": "Item"}
    assert "required" not in paths["/optional"]["post"]["requestBody"]


class Price(BaseModel):
    amount: Decimal  # a number or a string in, a string out
    currency: str = "EUR"


class OnlyOut(BaseModel):
    amount: Decimal


@pytest.mark.parametrize("separate", [True, False])
def test_openapi_separate_input_output_schemas(separate):
    validator = pytest.importorskip("openapi_spec_validator")
    app2 = FastAPI(separate_input_output_schemas=separate)

    @app2.post("/p")
    def p(price: Price) -> Price:
        return price

    @app2.get("/o")
    def o() -> OnlyOut:
        return OnlyOut(amount=Decimal("1.5"))

    c = TestClient(app2)
    assert c.post("/p", json={"amount": 2}).json() == {"amount": "2", "currency": "EUR"}
    assert c.get("/o").json() == {"amount": "1.5"}
    doc = c.get("/openapi.json").json()
    validator.validate(doc)
    schemas = doc["components"]["schemas"]
    number_or_string = {"anyOf": [{"type": "number"}, {"type": "string"}], "title": "Amount"}
    if separate:
        assert _json_schema(doc["paths"]["/p"]["post"]) == _ref("Price-Input")
        assert _json_schema(doc["paths"]["/p"]["post"], "200") == _ref("Price-Output")
        assert schemas["Price-Input"]["properties"]["amount"] == number_or_string
        assert schemas["Price-Output"]["properties"]["amount"] == {"title": "Amount", "type": "string"}
        assert schemas["OnlyOut"]["properties"]["amount"] == {"title": "Amount", "type": "string"}
    else:
        assert _json_schema(doc["paths"]["/p"]["post"]) == _json_schema(doc["paths"]["/p"]["post"], "200") \
            == _ref("Price")
        assert schemas["Price"]["properties"]["amount"] == number_or_string
        assert schemas["OnlyOut"]["properties"]["amount"] == number_or_string


def test_layer_does_not_import_pydantic():
    # what own-GIL sub-interpreters rely on: an app without pydantic models never loads it
    code = """
import sys
from dataclasses import dataclass
from fasterapi import FastAPI
from fasterapi.responses import FileResponse
from fasterapi.testclient import TestClient

@dataclass
class Item:
    name: str
    price: float

app = FastAPI()

@app.post("/items", response_model=Item, response_model_exclude_none=True)
async def create(item: Item) -> Item:
    return item

c = TestClient(app)
assert c.post("/items", json={"name": "a", "price": 1}).json() == {"name": "a", "price": 1.0}
assert c.post("/items", json={"name": "a"}).status_code == 422
assert "Item" in c.get("/openapi.json").json()["components"]["schemas"]
assert "pydantic" not in sys.modules and "pydantic_core" not in sys.modules, sorted(sys.modules)
"""
    p = helpers.run_native(code)  # with the sanitizer runtimes when the ASan pass runs
    assert p.returncode == 0, p.stderr
