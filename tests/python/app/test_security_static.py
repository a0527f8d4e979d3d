"""fasterapi.security, fasterapi.staticfiles with app.mount (sub-apps too),
and the middleware package (cors, gzip, trustedhost, httpsredirect):
what the parity cases do not reach (auto_error=False, realms, scopes,
traversal that a client would have normalized away, bad arguments)."""
import base64
import os
from typing import Annotated

import pytest

from fasterapi import Depends, FastAPI, Security
from fasterapi.middleware import Middleware
from fasterapi.middleware.httpsredirect import HTTPSRedirectMiddleware
from fasterapi.middleware.trustedhost import TrustedHostMiddleware
from fasterapi.security import (APIKeyCookie, HTTPBasic, HTTPDigest, OAuth2AuthorizationCodeBearer,
                                OAuth2PasswordBearer, OpenIdConnect, SecurityScopes)
from fasterapi.staticfiles import StaticFiles
from fasterapi.testclient import TestClient

app = FastAPI()
basic_realm = HTTPBasic(realm="shop", auto_error=False)
oauth = OAuth2PasswordBearer(tokenUrl="/token", scopes={"me": "read me", "items": "read items"},
                             auto_error=False)
code_flow = OAuth2AuthorizationCodeBearer(authorizationUrl="/auth", tokenUrl="/token", scheme_name="Code")
digest = HTTPDigest()
oidc = OpenIdConnect(openIdConnectUrl="https://id.example/.well-known/openid-configuration", auto_error=False)
cookie_key = APIKeyCookie(name="k", auto_error=False, description="the key cookie")


@app.get("/realm")
async def realm(c: Annotated[object, Depends(basic_realm)]):
    return {"c": None if c is None else [c.username, c.password]}


def current_user(scopes: SecurityScopes, token: Annotated[str | None, Depends(oauth)]):
    return {"scopes": scopes.scopes, "token": token}


@app.get("/scoped")
def scoped(user: Annotated[dict, Security(current_user, scopes=["items"])]):
    return user


@app.get("/code")
def code(token: Annotated[str, Depends(code_flow)], d: Annotated[object, Depends(oidc)],
         k: Annotated[str | None, Depends(cookie_key)]):
    return {"token": token, "oidc": d, "k": k}


@app.get("/digest")
def read_digest(c: Annotated[object, Depends(digest)]):
    return {"scheme": c.scheme, "credentials": c.credentials}


client = TestClient(app)


def _basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_realm_and_optional():
    assert client.get("/realm").json() == {"c": None}
    assert client.get("/realm", headers={"Authorization": "Bearer x"}).json() == {"c": None}
    assert client.get("/realm", headers={"Authorization": _basic("a", "b:c")}).json() == {"c": ["a", "b:c"]}
    # malformed credentials answer 401 even with auto_error=False (FastAPI's rule), with the realm
    r = client.get("/realm", headers={"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()})
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Basic realm="shop"'
    assert r.json() == {"detail": "Not authenticated"}


def test_security_scopes_and_optional_bearer():
    assert client.get("/scoped").json() == {"scopes": ["items"], "token": None}
    assert client.get("/scoped", headers={"Authorization": "bearer t"}).json() == {"scopes": ["items"], "token": "t"}


def test_other_schemes():
    r = client.get("/code")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = client.get("/code", headers={"Authorization": "Bearer tok", "Cookie": "k=v"})
    assert r.json() == {"token": "tok", "oidc": "Bearer tok", "k": "v"}
    r = client.get("/digest", headers={"Authorization": "Bearer tok"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Digest"
    assert client.get("/digest", headers={"Authorization": "Digest a=1"}).json() == {"scheme": "Digest",
                                                                                       "credentials": "a=1"}


def test_openapi_security():
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"] == {"type": "oauth2", "flows": {"password": {
        "tokenUrl": "/token", "scopes": {"me": "read me", "items": "read items"}}}}
    assert schemes["Code"] == {"type": "oauth2", "flows": {"authorizationCode": {
        "authorizationUrl": "/auth", "tokenUrl": "/token", "scopes": {}}}}
    assert schemes["OpenIdConnect"]["type"] == "openIdConnect"
    assert schemes["APIKeyCookie"] == {"type": "apiKey", "in": "cookie", "name": "k",
                                       "description": "the key cookie"}
    assert schemes["HTTPBasic"] == {"type": "http", "scheme": "basic"}
    assert doc["paths"]["/scoped"]["get"]["security"] == [{"OAuth2PasswordBearer": ["items"]}]
    assert doc["paths"]["/code"]["get"]["security"] == [{"Code": []}, {"OpenIdConnect": []}, {"APIKeyCookie": []}]


# -- static files and mounts ---------------------------------------------------------------

@pytest.fixture(scope="module")
def static_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("static")
    (root / "site").mkdir()
    (root / "site" / "a.css").write_text("body{}")
    (root / "site" / "docs").mkdir()
    (root / "site" / "docs" / "index.html").write_text("<p>docs</p>")
    (root / "site" / "404.html").write_text("<p>none</p>")
    (root / "secret.txt").write_text("secret")
    os.symlink(root / "secret.txt", root / "site" / "link.txt")
    a = FastAPI()
    a.mount("/s", StaticFiles(directory=root / "site"))
    a.mount("/h", StaticFiles(directory=root / "site", html=True))
    sub = FastAPI(title="Sub")

    @sub.get("/where")
    def where(request: __import__("fasterapi").Request):
        return {"url": str(request.url), "path": request.url.path, "root_path": request.scope["root_path"]}
    a.mount("/sub", sub, name="subapp")
    a.mount("/s2", StaticFiles(directory=root / "site"), name="st")
    return a


def _raw(app, path, method="GET", headers=None):
    """A request as the native server hands it over (no client-side path
    normalization, unlike TestClient and httpx)."""
    from fasterapi._worker import Headers  # noqa: PLC0415
    h = Headers()
    for k, v in {"host": "t", **(headers or {})}.items():
        dict.__setitem__(h, k, v)
    req = {"method": method, "path": path, "query": "", "headers": h, "body": b"", "http_version": "1.1",
           "path_params": {}, "route": None, "client": ("c", 1), "scheme": "http"}
    res = {"status": 200}
    pending = app._handle(req, res)
    if pending is not None:
        from fasterapi import _aio  # noqa: PLC0415
        _aio.run(pending)
    return res


def test_static_files(static_app):
    c = TestClient(static_app)
    r = c.get("/s/a.css")
    assert r.status_code == 200 and r.text == "body{}" and r.headers["content-type"].startswith("text/css")
    assert r.headers["accept-ranges"] == "bytes" and "etag" in r.headers
    assert c.get("/s/a.css", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    r = c.get("/s/a.css", headers={"Range": "bytes=0-3"})
    assert r.status_code == 206 and r.text == "body"
    assert c.head("/s/a.css").content == b""
    r = c.post("/s/a.css")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD" and r.json() == {"detail": "Method Not Allowed"}
    assert c.get("/s/docs").status_code == 404  # a directory without html=True
    assert c.get("/s/nope").json() == {"detail": "Not Found"}
    # html=True: index.html for a directory (after the trailing-slash redirect), 404.html
    r = c.get("/h/docs", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].endswith("/h/docs/")
    assert c.get("/h/docs/").text == "<p>docs</p>"
    r = c.get("/h/nope")
    assert r.status_code == 404 and r.text == "<p>none</p>"


def test_static_traversal_and_symlinks(static_app):
    for path in ("/s/../secret.txt", "/s/%2e%2e/secret.txt", "/s/docs/../../secret.txt", "/s/link.txt",
                 "/s/a.css\x00", "/s//etc/passwd"):
        res = _raw(static_app, path)
        assert res["status"] == 404, path
        assert "file" not in res, path


def test_mounted_app(static_app):
    c = TestClient(static_app)
    assert static_app.url_path_for("st", path="/a.css") == "/s2/a.css"
    assert static_app.url_path_for("subapp:where") == "/sub/where"
    assert c.get("/sub/where").json() == {"url": "http://testserver/sub/where", "path": "/sub/where",
                                          "root_path": "/sub"}
    doc = c.get("/sub/openapi.json").json()
    assert doc["servers"] == [{"url": "/sub"}] and list(doc["paths"]) == ["/where"]
    assert "/sub/openapi.json" in c.get("/sub/docs").text
    assert c.get("/openapi.json").json()["paths"] == {}
    r = c.get("/sub", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "http://testserver/sub/"
    assert c.get("/sub/nowhere").json() == {"detail": "Not Found"}


def test_bad_mount_and_static_arguments(tmp_path):
    with pytest.raises(RuntimeError, match="does not exist"):
        StaticFiles(directory=tmp_path / "missing")
    StaticFiles(directory=tmp_path / "missing", check_dir=False)
    with pytest.raises(RuntimeError, match="directory= or packages="):
        StaticFiles()
    with pytest.raises(Exception, match="must start with '/'"):
        FastAPI().mount("static", StaticFiles(directory=tmp_path))


# -- middleware package -----------------------------------------------------------------------

def test_trusted_host_and_https_redirect():
    a = FastAPI(middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=["www.example.com", "*.api.test"])])

    @a.get("/")
    def root():
        return {"ok": True}
    c = TestClient(a, base_url="http://www.example.com")
    assert c.get("/").json() == {"ok": True}
    assert TestClient(a, base_url="http://x.api.test:8000").get("/").json() == {"ok": True}
    r = TestClient(a, base_url="http://evil.test").get("/")
    assert r.status_code == 400 and r.text == "Invalid host header"
    r = TestClient(a, base_url="http://example.com").get("/?q=1", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "http://www.example.com/?q=1"
    with pytest.raises(Exception, match="wildcard"):
        TrustedHostMiddleware(allowed_hosts=["a.*.com"])

    b = FastAPI()
    b.add_middleware(HTTPSRedirectMiddleware)

    @b.get("/p")
    def p():
        return {}
    r = TestClient(b, base_url="http://h:8080").get("/p?x=1", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "https://h:8080/p?x=1"
    r = TestClient(b, base_url="http://h:80").get("/p", follow_redirects=False)
    assert r.headers["location"] == "https://h/p"
