"""The OpenAPI 3.1 document (validated with openapi-spec-validator) and the
/docs and /redoc pages."""
import sys
from pathlib import Path

import pytest

from fasterapi import FastAPI
from fasterapi.testclient import TestClient

openapi_spec_validator = pytest.importorskip("openapi_spec_validator")

ROOT = Path(__file__).resolve().parents[3]


def _apps():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import shop
    finally:
        sys.path.pop(0)
    import test_app
    import test_bodies
    import test_dependencies
    import test_params
    import test_responses
    return {"shop": shop.app, "params": test_params.app, "bodies": test_bodies.app, "responses": test_responses.app,
            "deps": test_dependencies.app, "app": test_app.app}


@pytest.mark.parametrize("name", ["shop", "params", "bodies", "responses", "deps", "app"])
def test_documents_validate(name):
    app = _apps()[name]
    r = TestClient(app).get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    openapi_spec_validator.validate(doc)
    assert doc["openapi"] == "3.1.0"


def test_shop_document_content():
    doc = TestClient(_apps()["shop"]).get("/openapi.json").json()
    assert doc["info"] == {"title": "Shop", "description": "An example shop on FasterAPI.", "version": "1.0.0"}
    op = doc["paths"]["/items/{item_id}"]["get"]
    assert op["operationId"] == "read_item_items__item_id__get" and op["tags"] == ["items"]
    assert op["summary"] == "Read Item"
    assert op["parameters"] == [
        {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1,
                                                                       "title": "Item Id"}},
        {"name": "q", "in": "query", "required": False,
         "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Q"}}]
    assert op["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"}
    post = doc["paths"]["/items"]["post"]
    assert post["requestBody"] == {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}},
                                   "required": True}
    assert post["responses"]["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Item"}
    assert post["parameters"][0]["name"] == "x-api-key" and post["parameters"][0]["in"] == "header"
    schemas = doc["components"]["schemas"]
    assert schemas["Item"]["required"] == ["name", "price"]
    # field(default_factory=list): no "default" (pydantic does not call factories for the schema)
    assert schemas["Item"]["properties"]["tags"] == {"title": "Tags", "type": "array", "items": {"type": "string"}}
    assert schemas["Category"] == {"title": "Category", "enum": ["books", "games"], "type": "string"}
    assert set(schemas) == {"Category", "Item", "HTTPValidationError", "ValidationError"}
    get = doc["paths"]["/"]["get"]
    assert get["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}


def test_bodies_document_content():
    doc = TestClient(_apps()["bodies"]).get("/openapi.json").json()
    two = doc["paths"]["/two"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert two == {"$ref": "#/components/schemas/Body_two_two_post"}
    body = doc["components"]["schemas"]["Body_two_two_post"]
    assert body["required"] == ["item", "user", "importance"]
    assert body["properties"]["importance"] == {"type": "integer", "minimum": 1, "title": "Importance"}
    assert doc["components"]["schemas"]["User"]["required"] == ["username", "age"]
    node = doc["components"]["schemas"]["Node"]
    assert node["properties"]["children"]["items"] == {"$ref": "#/components/schemas/Node"}
    form = doc["paths"]["/form"]["post"]["requestBody"]["content"]
    assert list(form) == ["application/x-www-form-urlencoded"]
    assert list(doc["paths"]["/upload"]["post"]["requestBody"]["content"]) == ["multipart/form-data"]


def test_docs_pages():
    c = TestClient(FastAPI(title="Docs <Test>"))
    r = c.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js" in r.text
    assert '"url": "/openapi.json"' in r.text and "Docs &lt;Test&gt; - Swagger UI" in r.text
    r = c.get("/redoc")
    assert "redoc.standalone.js" in r.text and 'spec-url="/openapi.json"' in r.text
    assert "swaggerUIRedirectOauth2" in c.get("/docs/oauth2-redirect").text
    assert c.get("/openapi.json").json()["paths"] == {}


def test_docs_can_be_disabled_or_moved():
    c = TestClient(FastAPI(openapi_url="/api/schema.json", docs_url=None, redoc_url="/api/redoc"))
    assert c.get("/docs").status_code == 404
    assert c.get("/api/schema.json").status_code == 200
    assert 'spec-url="/api/schema.json"' in c.get("/api/redoc").text
    assert TestClient(FastAPI(openapi_url=None)).get("/openapi.json").status_code == 404


def test_route_options_in_document():
    a = FastAPI()

    @a.get("/hidden", include_in_schema=False)
    def hidden():
        return 1

    @a.get("/old", deprecated=True, summary="Old one", description="Long text", operation_id="oldOp",
           responses={404: {"description": "Not here"}})
    def old():
        """Docstring is not used when description is given."""
        return 1

    @a.get("/doc")
    def documented():
        """Returns things.

        More details.
        \f
        Internal notes.
        """
        return 1

    doc = TestClient(a).get("/openapi.json").json()
    openapi_spec_validator.validate(doc)
    assert "/hidden" not in doc["paths"]
    op = doc["paths"]["/old"]["get"]
    assert op["deprecated"] is True and op["summary"] == "Old one" and op["operationId"] == "oldOp"
    assert op["description"] == "Long text" and op["responses"]["404"] == {"description": "Not here"}
    assert doc["paths"]["/doc"]["get"]["description"] == "Returns things.\n\nMore details."
