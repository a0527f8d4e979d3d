"""The ``Request`` object: raw access to the incoming request.

Declare a parameter of type ``Request`` in an endpoint or a dependency to
receive it::

    @app.get("/info")
    async def info(request: Request):
        return {"agent": request.headers.get("user-agent"),
                "q": request.query_params.get("q"),
                "body": await request.json() if request.method == "POST" else None}
"""
import os
from http.cookies import _unquote as _cookie_unquote

from . import _json
from .datastructures import URL, Address, FormData, Headers, QueryParams, State

__all__ = ["Request", "HTTPConnection", "parse_cookies"]


def parse_cookies(header: str) -> dict:
    """Parses a Cookie header into a dict (last value wins), leniently, as
    browsers send it."""
    out = {}
    if not header:
        return out
    for chunk in header.split(";"):
        if "=" in chunk:
            k, v = chunk.split("=", 1)
        else:
            k, v = "", chunk
        k, v = k.strip(), v.strip()
        if k or v:
            out[k] = _cookie_unquote(v)
    return out


_MAX_BODY = None


def _max_body_size() -> int:
    """The server's max_body_size (the process that started it sets
    FASTERAPI_MAX_BODY_SIZE), which bounds a streamed body read whole."""
    global _MAX_BODY
    if _MAX_BODY is None:
        try:
            _MAX_BODY = int(os.environ.get("FASTERAPI_MAX_BODY_SIZE", 16 << 20))
        except ValueError:
            _MAX_BODY = 16 << 20
    return _MAX_BODY


class Request:
    """An HTTP request.

    ``method``, ``url`` (``.path``, ``.query``...), ``headers``
    (case-insensitive), ``query_params`` (multi-dict), ``path_params``,
    ``cookies``, ``client`` (``Address(host, port)`` of the peer; None in
    TestClient unless given), ``state`` (per request; the lifespan state is copied in),
    ``app``; ``await body()``, ``await json()``, ``await form()``.
    The synchronous ``body_bytes`` property is our addition.
    """

    __slots__ = ("_req", "_app", "_headers", "_query", "_cookies", "_state", "_json", "_form", "_scope")

    def __init__(self, req: dict, app=None):
        self._req = req
        self._app = app
        self._headers = None
        self._query = None
        self._cookies = None
        self._state = None
        self._json = _MISSING
        self._form = None
        self._scope = None

    @property
    def scope(self) -> dict:
        """An ASGI-like scope dict (built on first access)."""
        if self._scope is None:
            self._scope = _Scope(self)
        return self._scope

    # -- request line -----------------------------------------------------------
    @property
    def method(self) -> str:
        return self._req["method"]

    @property
    def url(self) -> URL:
        """The URL the client asked for: behind a proxy (``--root-path``) the
        path includes the root path, as under Uvicorn and Starlette."""
        scheme = "https" if self._req.get("scheme") == "https" else "http"
        return URL(scheme, self.headers.get("host", ""), self._root_path() + self._req["path"],
                   self._req.get("query", ""))

    @property
    def base_url(self) -> URL:
        """scheme://host plus the root path, ending in "/" (what url_for builds on)."""
        u = self.url
        return URL(u.scheme, u.netloc, self._root_path().rstrip("/") + "/", "")

    def _root_path(self) -> str:
        # a mounted app's requests carry the prefixes above it (Mount sets req["root_path"])
        mounted = self._req.get("root_path")
        if mounted is not None:
            return mounted
        return getattr(self._app, "root_path", "") or ""

    @property
    def http_version(self) -> str:
        return self._req.get("http_version", "1.1")

    @property
    def headers(self) -> Headers:
        h = self._headers
        if h is None:
            h = Headers.__new__(Headers)
            h._d = self._req["headers"]
            self._headers = h
        return h

    @property
    def query_params(self) -> QueryParams:
        q = self._query
        if q is None:
            q = self._query = QueryParams(self._req.get("query", ""))
        return q

    @property
    def path_params(self) -> dict:
        return self._req.get("path_params") or {}

    @property
    def cookies(self) -> dict:
        c = self._cookies
        if c is None:
            c = self._cookies = parse_cookies(self._req["headers"].get("cookie", ""))
        return c

    @property
    def client(self):
        c = self._req.get("client")
        return Address(c[0], c[1]) if c else None

    @property
    def app(self):
        return self._app

    @property
    def state(self) -> State:
        s = self._state
        if s is None:
            app = self._app
            initial = getattr(app, "_lifespan_state", None) if app is not None else None
            s = self._state = State(initial)
        return s

    @property
    def route(self):
        return self._req.get("route")

    # -- body -------------------------------------------------------------------
    @property
    def body_bytes(self) -> bytes:
        if self._req.get("stream") is not None:
            raise RuntimeError("this route receives its body as it arrives (an async endpoint that takes the "
                               "Request and declares no body parameter): use await request.body()")
        return self._req["body"]

    async def body(self) -> bytes:
        """The whole body (on a route that streams it: read to the end
        first, then kept)."""
        req = self._req
        s = req.get("stream")
        if s is not None:
            if req.get("_stream_used"):
                raise RuntimeError("Stream consumed: request.stream() already read the body")
            req["_stream_used"] = True
            limit, parts, size = _max_body_size(), [], 0
            async for chunk in s:
                size += len(chunk)
                if size > limit:  # the bound the server puts on bodies it collects itself
                    from .exceptions import HTTPException  # noqa: PLC0415
                    raise HTTPException(413, "Request body too large")
                parts.append(chunk)
            req["body"] = b"".join(parts)
            req["stream"] = None
        return req["body"]

    async def json(self):
        if self._json is _MISSING:
            self._json = _json.loads(await self.body())
        return self._json

    async def form(self, **_limits) -> FormData:
        if self._form is None:
            from ._forms import parse_form  # noqa: PLC0415
            self._form = parse_form(self.headers.get("content-type", ""), await self.body())
        return self._form

    async def stream(self):
        """The body in chunks as they arrive (ends with b"", as
        Starlette's does).  Without a streamed body: the body at once."""
        req = self._req
        s = req.get("stream")
        if s is None:
            yield req["body"]
            yield b""
            return
        if req.get("_stream_used"):
            raise RuntimeError("Stream consumed: the body was already read")
        req["_stream_used"] = True
        async for chunk in s:
            yield chunk
        yield b""

    async def is_disconnected(self) -> bool:
        return False

    async def close(self) -> None:
        if self._form is not None:
            await self._form.close()

    def url_for(self, name: str, /, **path_params) -> str:
        return str(self.base_url).rstrip("/") + self._app.url_path_for(name, **path_params)

    def __getitem__(self, key):
        return self.scope[key]

    def __repr__(self):
        return f"<Request {self.method} {self._req['path']}>"


HTTPConnection = Request

_MISSING = object()


class _Scope(dict):
    """A minimal ASGI-like scope, built on first access, for code that
    reads ``request.scope[...]``."""

    __slots__ = ("_request", "_built")

    def __init__(self, request):
        super().__init__()
        self._request = request
        self._built = False

    def _build(self):
        if self._built:
            return
        self._built = True
        r = self._request
        req = r._req
        self.update({
            "type": "http",
            "http_version": req.get("http_version", "1.1"),
            "method": req["method"],
            "scheme": req.get("scheme") or "http",
            "path": r._root_path() + req["path"],
            "raw_path": (r._root_path() + req["path"]).encode("latin-1", "replace"),
            "query_string": req.get("query", "").encode("latin-1", "replace"),
            "root_path": r._root_path(),
            "headers": [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in req["headers"].items()],
            "path_params": req.get("path_params") or {},
            "route": req.get("route"),
            "app": r._app,
            "client": tuple(req["client"]) if req.get("client") else None,
            "server": None,
        })

    def __getitem__(self, key):
        self._build()
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._build()
        return super().get(key, default)

    def __contains__(self, key):
        self._build()
        return super().__contains__(key)

    def keys(self):
        self._build()
        return super().keys()

    def items(self):
        self._build()
        return super().items()
