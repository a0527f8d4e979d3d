"""The fast path of a route with a pydantic body and response model
(APIRoute._make_fast_handler: the body validated from the JSON bytes by the
model's validate_json, the answer written by the response model's dump_json)
against the general path of the same route and against FastAPI itself, for
the same app code: status, content type, headers and body bytes must be
the same, including validation errors (FastAPI's 422 bodies), malformed
JSON, response_model filtering and response validation errors.

The general path is the same app with the route's fast handler removed
(``del route.handle``: the class's general pipeline answers)."""
import math
from typing import Optional

import pytest

from fasterapi import APIRouter as FaRouter
from fasterapi import FastAPI as FaApp
from fasterapi.responses import JSONResponse as FaJSONResponse
from fasterapi.routing import APIRoute
from fasterapi.testclient import TestClient as FaClient

pydantic = pytest.importorskip("pydantic")
fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient as FastAPIClient  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []
    note: Optional[str] = None


class Public(BaseModel):
    name: str
    price: float
    tags: list[str] = []
    note: Optional[str] = None


class Secret(Public):
    secret: str


class Aliased(BaseModel):
    item_name: str = Field(alias="itemName")
    price: float


def build(FastAPI, APIRouter, JSONResponse):  # noqa: N803 - the classes of either framework
    """The same app code for FasterAPI and FastAPI."""
    app = FastAPI()

    @app.post("/items/{item_id}", response_model=Public)
    def create(item_id: int, item: Item, q: Optional[str] = None):
        return Public(name=f"{item.name}{q or ''}", price=item.price * item_id, tags=item.tags, note=item.note)

    @app.post("/filtered", response_model=Public)
    def filtered(item: Item):
        # more fields than the response model: response_model drops them
        return Secret(name=item.name, price=item.price, tags=item.tags, secret="s3cret")

    @app.post("/dict", response_model=Public, status_code=201)
    def as_dict(item: Item):
        return {"name": item.name, "price": item.price, "extra": 1}

    @app.post("/unset", response_model=Public, response_model_exclude_unset=True)
    def unset(item: Item):
        return Public(name=item.name, price=item.price)

    @app.post("/none", response_model=Public, response_model_exclude_none=True)
    def none(item: Item):
        return Public(name=item.name, price=item.price)

    @app.post("/include", response_model=Public, response_model_include={"name"})
    def include(item: Item):
        return Public(name=item.name, price=item.price)

    @app.post("/alias", response_model=Aliased)
    def alias(item: Item):
        return {"itemName": item.name, "price": item.price}

    @app.post("/noalias", response_model=Aliased, response_model_by_alias=False)
    def noalias(item: Item):
        return {"itemName": item.name, "price": item.price}

    @app.post("/bad-response", response_model=Public)
    def bad_response(item: Item):
        return {"name": item.name}  # no price: a response validation error (500)

    @app.post("/floats", response_model=Public)
    def floats(item: Item):
        return Public(name=item.name, price=item.price * 1e16)

    @app.post("/inf", response_model=Public)
    def inf(item: Item):
        return Public(name=item.name, price=math.inf)

    @app.post("/explicit", response_model=Public, response_class=JSONResponse)
    def explicit(item: Item):
        return Public(name=item.name, price=item.price * 1e16)

    @app.post("/echo")
    def echo(item: Item):
        return item

    router = APIRouter()

    @router.post("/routed", response_model=Public)
    def routed(item: Item):
        return Public(name=item.name, price=item.price * 1e16)

    app.include_router(router, prefix="/r")
    return app


GOOD = b'{"name": "w\xc3\xa9", "price": 9.5, "tags": ["a", "b"]}'
BODIES = [
    ("good", GOOD, "application/json"),
    ("good, charset", GOOD, "application/json; charset=utf-8"),
    ("good, +json", GOOD, "application/vnd.api+json"),
    ("duplicate keys", b'{"name": "a", "name": "b", "price": 1}', "application/json"),
    ("lax types", b'{"name": "a", "price": "2.5", "tags": []}', "application/json"),
    ("wrong types", b'{"name": 1, "price": "x"}', "application/json"),
    ("missing field", b'{"price": 1}', "application/json"),
    ("not an object", b'[1, 2]', "application/json"),
    ("malformed", b'{"name": "a", "price": ', "application/json"),
    ("not utf-8", b'{"name": "\xff", "price": 1}', "application/json"),
    ("empty", b"", "application/json"),
    ("text/plain", GOOD, "text/plain"),
    ("no content-type", GOOD, None),
]
PATHS = ["/items/3", "/items/3?q=x", "/items/nope", "/filtered", "/dict", "/unset", "/none", "/include", "/alias",
         "/noalias", "/bad-response", "/floats", "/inf", "/explicit", "/echo", "/r/routed"]


def _answer(client, path, body, ct):
    headers = {"content-type": ct} if ct else {}
    r = client.post(path, content=body, headers=headers)
    h = {k: v for k, v in r.headers.items() if k in ("content-type", "content-length")}
    return r.status_code, h, r.content


@pytest.fixture(scope="module")
def clients():
    fast = build(FaApp, FaRouter, FaJSONResponse)
    slow = build(FaApp, FaRouter, FaJSONResponse)
    ref = build(fastapi.FastAPI, fastapi.APIRouter, fastapi.responses.JSONResponse)
    fast_client = FaClient(fast, raise_server_exceptions=False)
    slow_client = FaClient(slow, raise_server_exceptions=False)
    fast_client.__enter__()
    slow_client.__enter__()
    for app in (fast, slow):
        for r in app.routes:
            if isinstance(r, APIRoute):
                r.compile()
    for r in slow.routes:
        if isinstance(r, APIRoute) and "handle" in r.__dict__:
            del r.handle  # the general pipeline
    yield fast, fast_client, slow_client, FastAPIClient(ref, raise_server_exceptions=False)
    fast_client.__exit__(None, None, None)
    slow_client.__exit__(None, None, None)


def test_the_fast_path_is_taken(clients):
    """Every POST route of the app has the fast handler (else the
    comparison below would compare the general path with itself)."""
    fast = clients[0]
    routes = [r for r in fast.routes if isinstance(r, APIRoute) and "POST" in r.methods]
    assert len(routes) == len(PATHS) - 2  # two paths repeat /items/{item_id}
    for r in routes:
        assert r.body_model is Item, r.path
        if r.path == "/explicit":
            # response_class given: FastAPI's dump_python + JSONResponse, the general path
            assert "handle" not in r.__dict__
        else:
            assert "handle" in r.__dict__, r.path


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("label,body,ct", BODIES, ids=[b[0] for b in BODIES])
def test_fast_equals_general_equals_fastapi(clients, path, label, body, ct):
    _, fast, slow, ref = clients
    got_fast = _answer(fast, path, body, ct)
    got_slow = _answer(slow, path, body, ct)
    want = _answer(ref, path, body, ct)
    assert got_fast == got_slow
    if path == "/bad-response" and want[0] == 500:
        # a response validation error: FastAPI's TestClient gives its text, as ours
        assert got_fast[0] == 500
        return
    assert got_fast == want


def test_answers_of_the_fast_path(clients):
    """A few answers spelled out (so the comparison above cannot pass by
    all three being wrong the same way)."""
    fast = clients[1]
    st, _, body = _answer(fast, "/items/2?q=!", GOOD, "application/json")
    assert (st, body) == (200, '{"name":"wé!","price":19.0,"tags":["a","b"],"note":null}'.encode())
    st, _, body = _answer(fast, "/filtered", GOOD, "application/json")
    assert (st, body) == (200, '{"name":"wé","price":9.5,"tags":["a","b"],"note":null}'.encode())
    st, _, body = _answer(fast, "/unset", GOOD, "application/json")
    assert (st, body) == (200, '{"name":"wé","price":9.5}'.encode())
    st, _, body = _answer(fast, "/dict", GOOD, "application/json")
    assert (st, body) == (201, '{"name":"wé","price":9.5,"tags":[],"note":null}'.encode())
    st, _, body = _answer(fast, "/items/3", b'{"name": 1}', "application/json")
    assert st == 422
    assert body == (b'{"detail":[{"type":"string_type","loc":["body","name"],"msg":"Input should be a valid string",'
                    b'"input":1},{"type":"missing","loc":["body","price"],"msg":"Field required",'
                    b'"input":{"name":1}}]}')
    st, _, body = _answer(fast, "/floats", GOOD, "application/json")
    assert body == b'{"name":"w\xc3\xa9","price":9.5e+16,"tags":[],"note":null}'


class StrictWhen(BaseModel):
    model_config = pydantic.ConfigDict(strict=True)
    when: __import__("datetime").datetime


class StrictField(BaseModel):
    n: int = Field(strict=True)
    when: __import__("datetime").datetime = Field(strict=True)


class Base64Bytes(BaseModel):
    model_config = pydantic.ConfigDict(val_json_bytes="base64")
    data: bytes


def _strict_app(FastAPI):  # noqa: N803
    app = FastAPI()

    @app.post("/strict")
    def strict(body: StrictWhen):
        return {"when": body.when.isoformat()}

    @app.post("/strict-field")
    def strict_field(body: StrictField):
        return {"n": body.n}

    @app.post("/b64")
    def b64(body: Base64Bytes):
        return {"n": len(body.data)}
    return app


@pytest.mark.parametrize("path,body", [
    ("/strict", b'{"when": "2024-01-02T03:04:05"}'),  # strict Python mode refuses a str, strict JSON mode takes it
    ("/strict-field", b'{"n": 1, "when": "2024-01-02T03:04:05"}'),
    ("/strict-field", b'{"n": "1", "when": "2024-01-02T03:04:05"}'),
    ("/b64", b'{"data": "aGVsbG8="}'),  # base64 decoded from JSON only
])
def test_models_that_json_mode_would_validate_differently(path, body):
    """Strict models and JSON-only config keep the general path (json.loads
    + the model's Python validator), so the answer is FastAPI's."""
    ours = _strict_app(FaApp)
    for r in ours.routes:
        if isinstance(r, APIRoute) and r.path == path:
            assert r.compile().body_model is None
    with FaClient(ours, raise_server_exceptions=False) as c:
        got = _answer(c, path, body, "application/json")
    want = _answer(FastAPIClient(_strict_app(fastapi.FastAPI), raise_server_exceptions=False), path, body,
                   "application/json")
    assert got == want
