"""The native handlers the application layer registers (fasterapi._runtime):
one direct function per plain route, the generic dispatcher otherwise."""
from fasterapi import FastAPI, _runtime
from fasterapi._worker import Headers


def _req(method, path, route, params=None, query=""):
    return {"method": method, "path": path, "query": query, "headers": Headers(), "body": b"",
            "http_version": "1.1", "path_params": params or {}, "route": route}


def _names(app):
    return dict(zip(((m, p) for m, p, *_ in app.native_routes()), _runtime.direct_handlers(app)))


def test_plain_routes_get_direct_handlers_and_answer_like_the_dispatcher():
    app = FastAPI()

    @app.get("/items/{item_id}")
    def read(item_id: int, q: str | None = None):
        return {"item_id": item_id, "q": q}

    @app.get("/files/{rest:path}")
    def files(rest: str):
        return rest

    @app.get("/n/{n:int}")
    def n_int(n: int):
        return n

    _runtime.adopt(app)
    app._startup_state = None
    names = _names(app)
    assert names[("GET", "/items/{item_id}")].startswith("route_")
    assert names[("GET", "/files/{rest:path}")].startswith("route_")
    # a {p:int} convertor may send the request to another route: the dispatcher decides
    assert names[("GET", "/n/{n}")] == "handle"

    direct = getattr(_runtime, names[("GET", "/items/{item_id}")])
    assert direct.__module__ == "fasterapi._runtime" and direct.__qualname__ == names[("GET", "/items/{item_id}")]
    for h in (direct, _runtime.handle):
        res = {}
        assert h(_req("GET", "/items/5", "/items/{item_id}", {"item_id": "5"}, "q=x"), res) is None
        assert res["status"] == 200 and res["body"] == b'{"item_id":5,"q":"x"}'
        res = {}
        h(_req("GET", "/items/x", "/items/{item_id}", {"item_id": "x"}), res)
        assert res["status"] == 422

    # routes added later: the direct handler defers to the dispatcher
    @app.get("/late")
    def late():
        return "late"

    res = {}
    direct(_req("GET", "/items/6", "/items/{item_id}", {"item_id": "6"}), res)
    assert res["body"] == b'{"item_id":6,"q":null}'


def test_apps_with_middleware_use_the_dispatcher():
    app = FastAPI()

    @app.middleware("http")
    async def mw(request, call_next):
        return await call_next(request)

    @app.get("/")
    def root():
        return "ok"

    _runtime.adopt(app)
    assert set(_names(app).values()) == {"handle"}
