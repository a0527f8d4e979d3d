"""``CORSMiddleware`` (``fasterapi.middleware.cors``, as in
``fastapi.middleware.cors``): Cross-Origin Resource Sharing with the
keywords of Starlette's namesake::

    from fasterapi.middleware.cors import CORSMiddleware

    app.add_middleware(CORSMiddleware, allow_origins=["https://example.com"],
                       allow_methods=["*"], allow_headers=["*"], allow_credentials=True)
"""
import re

from ..responses import PlainTextResponse, Response

__all__ = ["CORSMiddleware"]

# what browsers send without asking (CORS-safelisted request headers), as
# Starlette spells them in Access-Control-Allow-Headers
_SAFELISTED_HEADERS = frozenset(("Accept", "Accept-Language", "Content-Language", "Content-Type"))
_ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY")
_PREFLIGHT_VARY = ("Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
                   "Access-Control-Request-Private-Network")


class CORSMiddleware:
    """Cross-Origin Resource Sharing: answers preflight requests (OPTIONS
    with Origin and Access-Control-Request-Method) and adds the
    ``Access-Control-*`` headers to the other responses, header for header
    as Starlette's CORSMiddleware does (including ``Vary: Origin`` on every
    response, since the answer depends on the origin)."""

    def __init__(self, app=None, allow_origins=(), allow_methods=("GET",), allow_headers=(),
                 allow_credentials: bool = False, allow_origin_regex: str | None = None,
                 allow_private_network: bool = False, expose_headers=(), max_age: int = 600):
        self.allow_all_origins = "*" in allow_origins
        self.allow_origins = set(allow_origins)
        self.allow_origin_regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        self.allow_methods = list(_ALL_METHODS) if "*" in allow_methods else list(allow_methods)
        self.allow_all_headers = "*" in allow_headers
        listed = sorted(_SAFELISTED_HEADERS | set(allow_headers))
        self.allow_headers = [h.lower() for h in listed]
        self.allow_credentials = allow_credentials
        self.allow_private_network = allow_private_network
        # the origin is echoed (not "*") whenever credentials are allowed or origins are listed
        self.echo_origin = not self.allow_all_origins or allow_credentials
        simple = {}
        if self.allow_all_origins:
            simple["access-control-allow-origin"] = "*"
        if allow_credentials:
            simple["access-control-allow-credentials"] = "true"
        if expose_headers:
            simple["access-control-expose-headers"] = ", ".join(expose_headers)
        self.simple_headers = simple
        pre = {"Vary": _PREFLIGHT_VARY}
        if not self.echo_origin:
            pre["Access-Control-Allow-Origin"] = "*"
        pre["Access-Control-Allow-Methods"] = ", ".join(self.allow_methods)
        pre["Access-Control-Max-Age"] = str(max_age)
        if not self.allow_all_headers:
            pre["Access-Control-Allow-Headers"] = ", ".join(listed)
        if allow_credentials:
            pre["Access-Control-Allow-Credentials"] = "true"
        self.preflight_headers = pre

    def origin_allowed(self, origin: str) -> bool:
        if self.allow_all_origins:
            return True
        if self.allow_origin_regex is not None and self.allow_origin_regex.fullmatch(origin):
            return True
        return origin in self.allow_origins

    async def dispatch(self, request, call_next):
        origin = request.headers.get("origin")
        if origin is not None and request.method == "OPTIONS" and "access-control-request-method" in request.headers:
            return self.preflight(request, origin)
        response = await call_next(request)
        self.add_simple_headers(response, origin)
        return response

    def preflight(self, request, origin: str) -> Response:
        headers = dict(self.preflight_headers)
        failures = []
        if not self.origin_allowed(origin):
            failures.append("origin")
        elif self.echo_origin:
            headers["Access-Control-Allow-Origin"] = origin
        if request.headers.get("access-control-request-method") not in self.allow_methods:
            failures.append("method")
        requested = request.headers.get("access-control-request-headers")
        if requested is not None:
            if self.allow_all_headers:
                headers["Access-Control-Allow-Headers"] = requested
            elif any(h.strip() not in self.allow_headers for h in requested.lower().split(",")):
                failures.append("headers")
        if request.headers.get("access-control-request-private-network") is not None:
            if self.allow_private_network:
                headers["Access-Control-Allow-Private-Network"] = "true"
            else:
                failures.append("private-network")
        if failures:
            return PlainTextResponse("Disallowed CORS " + ", ".join(failures), status_code=400, headers=headers)
        return PlainTextResponse("OK", status_code=200, headers=headers)

    def add_simple_headers(self, response: Response, origin: str | None) -> None:
        h = response.headers
        if origin is not None:
            for k, v in self.simple_headers.items():
                h[k] = v
            if (self.allow_all_origins and self.allow_credentials) or \
                    (not self.allow_all_origins and self.origin_allowed(origin)):
                h["access-control-allow-origin"] = origin
        vary = h.getlist("vary")
        h["vary"] = ", ".join([*vary, "Origin"])
