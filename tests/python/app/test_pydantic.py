"""pydantic models in the main interpreter (TestClient; later the
--interpreters main mode): bodies, response_model and OpenAPI schemas.
pydantic cannot load in own-GIL sub-interpreters."""
import pytest

from fasterapi import FastAPI
from fasterapi.testclient import TestClient

pydantic = pytest.importorskip("pydantic")


class Item(pydantic.BaseModel):
    name: str
    price: float = pydantic.Field(gt=0)


class Public(pydantic.BaseModel):
    name: str


app = FastAPI()


@app.post("/items", response_model=Public)
def create(item: Item):
    assert isinstance(item, Item)
    return item


client = TestClient(app)


def test_pydantic_body_and_response_model():
    assert client.post("/items", json={"name": "a", "price": 1}).json() == {"name": "a"}
    assert client.post("/items", json={"name": "a", "price": -1}).json() == {"detail": [
        {"type": "greater_than", "loc": ["body", "price"], "msg": "Input should be greater than 0", "input": -1,
         "ctx": {"gt": 0.0}}]}
    assert client.post("/items", json={"price": 2}).json()["detail"] == [
        {"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": {"price": 2}}]


def test_pydantic_openapi():
    validator = pytest.importorskip("openapi_spec_validator")
    doc = client.get("/openapi.json").json()
    validator.validate(doc)
    assert doc["components"]["schemas"]["Item"]["required"] == ["name", "price"]
    assert doc["paths"]["/items"]["post"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Public"}
