"""Depends: functions, classes, sub-dependencies, per-request caching,
generator dependencies (cleanup after the response is built, exceptions
thrown into them), async dependencies, route/router dependencies,
dependency_overrides and Security scopes."""
from typing import Annotated

import pytest

from fasterapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request, Security, SecurityScopes
from fasterapi.testclient import TestClient

EVENTS = []
CALLS = {"common": 0}


def common(q: str | None = None, skip: int = 0, limit: Annotated[int, Query(le=100)] = 10):
    CALLS["common"] += 1
    return {"q": q, "skip": skip, "limit": limit}


class Pager:
    def __init__(self, page: int = 1, size: int = 20):
        self.page = page
        self.size = size


def user_id(x_user: Annotated[int, Header()]):
    return x_user


def user(uid: Annotated[int, Depends(user_id)], c: Annotated[dict, Depends(common)]):
    return {"uid": uid, "common_q": c["q"]}


def db():
    EVENTS.append("db open")
    try:
        yield "DB"
    except HTTPException as e:
        EVENTS.append(f"db saw {e.status_code}")
        raise
    finally:
        EVENTS.append("db close")


def tx(conn: Annotated[str, Depends(db)]):
    EVENTS.append("tx begin")
    yield f"TX({conn})"
    EVENTS.append("tx end")


async def async_dep(q: str = "a"):
    return q.upper()


async def async_gen_dep():
    EVENTS.append("agen open")
    yield "AGEN"
    EVENTS.append("agen close")


def verify_token(x_token: Annotated[str, Header()]):
    if x_token != "secret":
        raise HTTPException(status_code=400, detail="X-Token header invalid")


def scoped(security_scopes: SecurityScopes):
    return security_scopes.scopes


app = FastAPI()


@app.get("/common")
def read_common(commons: Annotated[dict, Depends(common)]):
    return commons


@app.get("/class")
def read_class(p: Annotated[Pager, Depends()]):
    return {"page": p.page, "size": p.size}


@app.get("/sub")
def read_sub(u: Annotated[dict, Depends(user)], c: Annotated[dict, Depends(common)]):
    return {"u": u, "c": c}


@app.get("/nocache")
def read_nocache(a: Annotated[dict, Depends(common)], b: Annotated[dict, Depends(common, use_cache=False)]):
    return a == b


@app.get("/gen")
def read_gen(t: Annotated[str, Depends(tx)]):
    EVENTS.append("endpoint")
    return t


@app.get("/gen-error")
def read_gen_error(t: Annotated[str, Depends(tx)]):
    raise HTTPException(status_code=409, detail="conflict")


@app.get("/async")
async def read_async(a: Annotated[str, Depends(async_dep)], g: Annotated[str, Depends(async_gen_dep)]):
    return [a, g]


@app.get("/sync-with-async-dep")
def sync_with_async(a: Annotated[str, Depends(async_dep)]):
    return a


@app.get("/guarded", dependencies=[Depends(verify_token)])
def guarded():
    return "ok"


@app.get("/scopes")
def read_scopes(s: Annotated[list, Security(scoped, scopes=["items", "me"])]):
    return s


@app.get("/request-dep")
def request_dep(path: Annotated[str, Depends(lambda request: request.url.path)]):
    return path


def _path_of(request: Request):
    return request.url.path


@app.get("/request-dep2")
def request_dep2(path: Annotated[str, Depends(_path_of)]):
    return path


router = APIRouter(prefix="/admin", dependencies=[Depends(verify_token)], tags=["admin"])


@router.get("/stats")
def stats():
    return {"ok": True}


app.include_router(router)
client = TestClient(app)


@pytest.fixture(autouse=True)
def _reset():
    EVENTS.clear()
    CALLS["common"] = 0
    app.dependency_overrides.clear()


def test_function_and_class_dependencies():
    assert client.get("/common?q=x&skip=1").json() == {"q": "x", "skip": 1, "limit": 10}
    assert client.get("/common?limit=101").json()["detail"][0]["loc"] == ["query", "limit"]
    assert client.get("/class?page=3").json() == {"page": 3, "size": 20}


def test_sub_dependencies_and_cache():
    r = client.get("/sub?q=z", headers={"x-user": "7"})
    assert r.json() == {"u": {"uid": 7, "common_q": "z"}, "c": {"q": "z", "skip": 0, "limit": 10}}
    assert CALLS["common"] == 1  # used twice, called once per request
    assert client.get("/nocache").json() is True
    assert CALLS["common"] == 3  # use_cache=False: called again
    # a sub-dependency's missing header is reported, the endpoint not called
    assert client.get("/sub").json()["detail"] == [
        {"type": "missing", "loc": ["header", "x-user"], "msg": "Field required", "input": None}]


def test_generator_dependencies_cleanup_order():
    assert client.get("/gen").json() == "TX(DB)"
    assert EVENTS == ["db open", "tx begin", "endpoint", "tx end", "db close"]


def test_generator_dependencies_see_exceptions():
    r = client.get("/gen-error")
    assert r.status_code == 409 and r.json() == {"detail": "conflict"}
    assert EVENTS == ["db open", "tx begin", "db saw 409", "db close"]


def test_async_dependencies():
    assert client.get("/async?q=b").json() == ["B", "AGEN"]
    assert EVENTS == ["agen open", "agen close"]
    assert client.get("/sync-with-async-dep?q=c").json() == "C"


def test_route_and_router_dependencies():
    assert client.get("/guarded").status_code == 422
    assert client.get("/guarded", headers={"x-token": "bad"}).json() == {"detail": "X-Token header invalid"}
    assert client.get("/guarded", headers={"x-token": "secret"}).json() == "ok"
    assert client.get("/admin/stats", headers={"x-token": "secret"}).json() == {"ok": True}
    assert client.get("/admin/stats").status_code == 422


def test_overrides():
    app.dependency_overrides[common] = lambda: {"q": "override"}
    assert client.get("/common?q=x").json() == {"q": "override"}
    app.dependency_overrides[verify_token] = lambda: None
    assert client.get("/admin/stats").json() == {"ok": True}


def test_security_scopes_and_request():
    assert client.get("/scopes").json() == ["items", "me"]
    assert client.get("/request-dep2").json() == "/request-dep2"
