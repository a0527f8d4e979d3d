"""Middleware classes for ``app.add_middleware``: CORS and gzip.

FasterAPI has no ASGI layer, so Starlette's ASGI middleware cannot run; these
are written for our middleware interface (an object with ``async def
dispatch(request, call_next)``), with the keywords of their Starlette
namesakes::

    from fasterapi.middleware import CORSMiddleware, GZipMiddleware

    app.add_middleware(CORSMiddleware, allow_origins=["https://example.com"],
                       allow_methods=["*"], allow_headers=["*"], allow_credentials=True)
    app.add_middleware(GZipMiddleware, minimum_size=1000)

Write your own the same way, or with ``@app.middleware("http")``.
"""
import gzip
import re

from .responses import PlainTextResponse, Response, StreamingResponse

__all__ = ["CORSMiddleware", "GZipMiddleware", "Middleware"]

_SAFELISTED_HEADERS = frozenset(("accept", "accept-language", "content-language", "content-type"))
_ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


class Middleware:
    """``Middleware(cls, **options)``, for ``FastAPI(middleware=[...])``."""

    def __init__(self, cls, *args, **kwargs):
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def __iter__(self):
        return iter((self.cls, self.kwargs))


class CORSMiddleware:
    """Cross-Origin Resource Sharing: answers preflight requests and adds the
    ``Access-Control-*`` headers to the responses of allowed origins."""

    def __init__(self, app=None, allow_origins=(), allow_methods=("GET",), allow_headers=(),
                 allow_credentials: bool = False, allow_origin_regex: str | None = None,
                 allow_private_network: bool = False, expose_headers=(), max_age: int = 600):
        self.allow_all_origins = "*" in allow_origins
        self.allow_origins = set(allow_origins)
        self.allow_origin_regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        self.allow_methods = list(_ALL_METHODS) if "*" in allow_methods else [m.upper() for m in allow_methods]
        self.allow_all_headers = "*" in allow_headers
        self.allow_headers = sorted(_SAFELISTED_HEADERS | {h.lower() for h in allow_headers if h != "*"})
        self.allow_credentials = allow_credentials
        self.allow_private_network = allow_private_network
        self.expose_headers = list(expose_headers)
        self.max_age = max_age

    def origin_allowed(self, origin: str) -> bool:
        if self.allow_all_origins:
            return True
        if self.allow_origin_regex is not None and self.allow_origin_regex.fullmatch(origin):
            return True
        return origin in self.allow_origins

    async def dispatch(self, request, call_next):
        origin = request.headers.get("origin")
        if origin is None:
            return await call_next(request)
        if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
            return self.preflight(request, origin)
        response = await call_next(request)
        self.add_simple_headers(response, origin, bool(request.headers.get("cookie")))
        return response

    def preflight(self, request, origin: str) -> Response:
        failures = []
        headers = {"Vary": "Origin"}
        if self.origin_allowed(origin):
            headers["Access-Control-Allow-Origin"] = "*" if self.allow_all_origins and not self.allow_credentials \
                else origin
        else:
            failures.append("origin")
        method = request.headers.get("access-control-request-method", "").upper()
        if method not in self.allow_methods:
            failures.append("method")
        requested = request.headers.get("access-control-request-headers")
        if self.allow_all_headers and requested:
            headers["Access-Control-Allow-Headers"] = requested
        else:
            headers["Access-Control-Allow-Headers"] = ", ".join(self.allow_headers)
            if requested:
                for h in requested.split(","):
                    if h.strip().lower() and h.strip().lower() not in self.allow_headers:
                        failures.append("headers")
                        break
        headers["Access-Control-Allow-Methods"] = ", ".join(self.allow_methods)
        headers["Access-Control-Max-Age"] = str(self.max_age)
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        if self.allow_private_network and request.headers.get("access-control-request-private-network"):
            headers["Access-Control-Allow-Private-Network"] = "true"
        if failures:
            return PlainTextResponse("Disallowed CORS " + ", ".join(failures), status_code=400, headers=headers)
        return PlainTextResponse("OK", status_code=200, headers=headers)

    def add_simple_headers(self, response: Response, origin: str, has_cookie: bool) -> None:
        if not self.origin_allowed(origin):
            return
        h = response.headers
        if self.allow_all_origins and not (self.allow_credentials and has_cookie):
            h["access-control-allow-origin"] = "*"
        else:
            h["access-control-allow-origin"] = origin
            vary = h.get("vary")
            h["vary"] = f"{vary}, Origin" if vary else "Origin"
        if self.allow_credentials:
            h["access-control-allow-credentials"] = "true"
        if self.expose_headers:
            h["access-control-expose-headers"] = ", ".join(self.expose_headers)


class GZipMiddleware:
    """Compresses bodies of at least ``minimum_size`` bytes with gzip when the
    client accepts it (streamed and file bodies are left alone)."""

    def __init__(self, app=None, minimum_size: int = 500, compresslevel: int = 9):
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel

    async def dispatch(self, request, call_next):
        response = await call_next(request)
        if "gzip" not in request.headers.get("accept-encoding", "").lower():
            return response
        if isinstance(response, StreamingResponse) or getattr(response, "path", None) is not None:
            return response
        body = response.body
        if len(body) < self.minimum_size or "content-encoding" in response.headers:
            return response
        response.body = gzip.compress(body, compresslevel=self.compresslevel)
        response.headers["content-encoding"] = "gzip"
        vary = response.headers.get("vary")
        if not vary or "accept-encoding" not in vary.lower():
            response.headers["vary"] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"
        return response
