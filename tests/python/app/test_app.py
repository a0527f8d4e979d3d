"""The application: routers and include_router, api_route, Request,
HTTPException and exception handlers, startup/shutdown and lifespan with
TestClient, middleware, background tasks, unmatched requests (404, 405,
trailing-slash redirects), HEAD, async endpoints."""
import asyncio
from contextlib import asynccontextmanager

import pytest

from fasterapi import APIRouter, BackgroundTasks, FastAPI, HTTPException, Request, status
from fasterapi.exceptions import RequestValidationError
from fasterapi.responses import JSONResponse, PlainTextResponse
from fasterapi.testclient import TestClient


class TeapotError(Exception):
    def __init__(self, name):
        self.name = name


app = FastAPI(title="T")
items = APIRouter(prefix="/items", tags=["items"])
users = APIRouter()
LOG = []


@items.get("/")
def list_items():
    return ["a"]


@items.get("/{item_id}")
def get_item(item_id: int):
    if item_id == 0:
        raise HTTPException(status_code=404, detail="Item not found", headers={"X-Error": "missing"})
    if item_id == 418:
        raise TeapotError("pot")
    if item_id == 500:
        raise RuntimeError("boom")
    return {"item_id": item_id}


@users.api_route("/users/{name}", methods=["GET", "POST"])
def user(name: str, request: Request):
    return {"name": name, "method": request.method}


app.include_router(items)
app.include_router(users, prefix="/v1", tags=["users"])


@app.exception_handler(TeapotError)
async def teapot_handler(request: Request, exc: TeapotError):
    return JSONResponse(status_code=418, content={"message": f"I am a {exc.name}", "path": request.url.path})


@app.post("/request/{p}")
async def request_info(p: str, request: Request):
    return {"method": request.method, "path": request.url.path, "query": str(request.url.query),
            "q": request.query_params.getlist("q"), "header": request.headers.get("X-Probe"),
            "cookies": request.cookies, "path_params": request.path_params, "json": await request.json()
            if request.headers.get("content-type") == "application/json" else None,
            "body": (await request.body()).decode(), "route": request.scope["route"]}


@app.post("/async-sleep")
async def async_sleep(delay: float = 0.01):
    await asyncio.sleep(delay)
    return {"slept": delay}


@app.get("/bg")
def bg(tasks: BackgroundTasks, name: str = "x"):
    tasks.add_task(LOG.append, f"sync {name}")

    async def later(n):
        LOG.append(f"async {n}")
    tasks.add_task(later, name)
    return "queued"


@app.head("/explicit-head")
def explicit_head():
    return PlainTextResponse("", headers={"x-head": "1"})


@app.get("/status-const", status_code=status.HTTP_202_ACCEPTED)
def status_const():
    return None


client = TestClient(app)


def test_router_prefix_and_api_route():
    assert client.get("/items/").json() == ["a"]
    assert client.get("/items/3").json() == {"item_id": 3}
    assert client.get("/v1/users/bob").json() == {"name": "bob", "method": "GET"}
    assert client.post("/v1/users/bob").json() == {"name": "bob", "method": "POST"}
    assert [r.path for r in app.routes if getattr(r, "tags", None)] == ["/items/", "/items/{item_id}",
                                                                         "/v1/users/{name}"]
    assert app.routes[-1].tags == [] and app.routes[6].tags == ["users"]
    assert app.url_path_for("get_item", item_id=5) == "/items/5"


def test_http_exception_and_handlers():
    r = client.get("/items/0")
    assert r.status_code == 404 and r.json() == {"detail": "Item not found"} and r.headers["x-error"] == "missing"
    r = client.get("/items/418")
    assert r.status_code == 418 and r.json() == {"message": "I am a pot", "path": "/items/418"}
    with pytest.raises(RuntimeError, match="boom"):
        client.get("/items/500")
    r = TestClient(app, raise_server_exceptions=False).get("/items/500")
    assert r.status_code == 500 and r.text == "Internal Server Error"


def test_override_default_handlers():
    a = FastAPI()

    @a.get("/x/{n}")
    def x(n: int):
        raise HTTPException(400, "bad")

    @a.exception_handler(RequestValidationError)
    def validation(request, exc):
        return PlainTextResponse(f"{len(exc.errors())} errors", status_code=400)

    @a.exception_handler(400)
    def by_status(request, exc):
        return PlainTextResponse(f"status handler: {exc.detail}", status_code=400)

    @a.exception_handler(Exception)
    def anything(request, exc):
        return PlainTextResponse("custom 500", status_code=500)

    @a.get("/fail")
    def fail():
        raise ValueError("x")

    c = TestClient(a)
    assert c.get("/x/abc").text == "1 errors"
    assert c.get("/x/1").text == "status handler: bad"
    assert c.get("/fail").text == "custom 500"


def test_request_object():
    r = client.post("/request/pp?q=1&q=2", json={"a": 1}, headers={"X-Probe": "p"}, cookies={"c": "v"})
    assert r.json() == {"method": "POST", "path": "/request/pp", "query": "q=1&q=2", "q": ["1", "2"], "header": "p",
                        "cookies": {"c": "v"}, "path_params": {"p": "pp"}, "json": {"a": 1}, "body": '{"a":1}',
                        "route": "/request/{p}"}


def test_async_endpoint_that_suspends():
    assert client.post("/async-sleep?delay=0.02").json() == {"slept": 0.02}


def test_background_tasks_run_after_the_response_is_built():
    LOG.clear()
    assert client.get("/bg?name=n").json() == "queued"
    assert LOG == ["sync n", "async n"]


def test_unmatched_requests():
    r = client.get("/nope")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = client.delete("/items/3")
    assert r.status_code == 405 and r.json() == {"detail": "Method Not Allowed"}
    assert r.headers["allow"] == "GET, HEAD"
    r = client.get("/items", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "http://testserver/items/"
    assert client.get("/items").json() == ["a"]
    r = client.get("/items/3/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].endswith("/items/3")


def test_head():
    r = client.head("/items/3")
    assert r.status_code == 200 and r.content == b"" and r.headers["content-type"] == "application/json"
    r = client.head("/explicit-head")
    assert r.headers["x-head"] == "1"
    assert client.get("/status-const").status_code == 202


def test_startup_shutdown_events():
    events = []
    a = FastAPI()

    @a.on_event("startup")
    def s1():
        events.append("startup")

    @a.on_event("startup")
    async def s2():
        await asyncio.sleep(0)
        events.append("async startup")

    @a.on_event("shutdown")
    def d():
        events.append("shutdown")

    @a.get("/")
    def root():
        return events

    with TestClient(a) as c:
        assert c.get("/").json() == ["startup", "async startup"]
    assert events == ["startup", "async startup", "shutdown"]


def test_lifespan_state():
    events = []

    @asynccontextmanager
    async def lifespan(app):
        events.append("enter")
        yield {"db": "conn"}
        events.append("exit")

    a = FastAPI(lifespan=lifespan)

    @a.get("/")
    def root(request: Request):
        return request.state.db

    with TestClient(a) as c:
        assert c.get("/").json() == "conn"
        assert events == ["enter"]
    assert events == ["enter", "exit"]


def test_middleware():
    a = FastAPI()
    order = []

    @a.middleware("http")
    async def add_header(request, call_next):
        order.append("outer-in" if not order else "inner-in")
        response = await call_next(request)
        response.headers["X-Process"] = "yes"
        return response

    @a.middleware("http")
    async def short_circuit(request, call_next):
        if request.url.path == "/blocked":
            return PlainTextResponse("blocked", status_code=403)
        return await call_next(request)

    @a.get("/hello")
    def hello():
        return "hi"

    c = TestClient(a)
    r = c.get("/hello")
    assert r.json() == "hi" and r.headers["x-process"] == "yes"
    r = c.get("/blocked")  # the last middleware added is the outermost, as in Starlette
    assert r.status_code == 403 and r.text == "blocked" and "x-process" not in r.headers
    r = c.get("/missing")
    assert r.status_code == 404 and r.headers["x-process"] == "yes"


def test_native_route_list():
    routes = app.native_routes()
    assert ("GET", "/items/{item_id}", False, False) in routes
    assert ("POST", "/v1/users/{name}", False, False) in routes
    assert not any("{__" in p for _, p, _, _ in routes)  # unmatched requests: the server's fallback
    assert len(set((m, p) for m, p, _, _ in routes)) == len(routes)


def test_cors_and_gzip_middleware():
    from fasterapi.middleware import CORSMiddleware, GZipMiddleware, Middleware

    a = FastAPI(middleware=[Middleware(CORSMiddleware, allow_origins=["https://ok.example"], allow_methods=["*"],
                                       allow_headers=["X-Token"], allow_credentials=True, expose_headers=["X-N"])])
    a.add_middleware(GZipMiddleware, minimum_size=100)

    @a.get("/data")
    def data():
        return {"x": "y" * 500}

    c = TestClient(a)
    r = c.options("/data", headers={"Origin": "https://ok.example", "Access-Control-Request-Method": "PUT",
                                    "Access-Control-Request-Headers": "x-token"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://ok.example"
    assert "PUT" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-allow-credentials"] == "true"
    r = c.options("/data", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 400 and r.text == "Disallowed CORS origin"
    r = c.get("/data", headers={"Origin": "https://ok.example", "Accept-Encoding": "gzip"})
    assert r.headers["access-control-allow-origin"] == "https://ok.example" and r.headers["vary"] == \
        "Origin, Accept-Encoding"  # GZip, added last, is the outer one
    assert r.headers["content-encoding"] == "gzip" and r.headers["access-control-expose-headers"] == "X-N"
    assert r.json() == {"x": "y" * 500}  # decoded by the client, as httpx does
    r = c.get("/data", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers and "access-control-allow-origin" not in r.headers
    with pytest.raises(Exception, match="not a FasterAPI middleware"):
        a.add_middleware(dict)
