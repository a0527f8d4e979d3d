"""``TrustedHostMiddleware`` (``fasterapi.middleware.trustedhost``, as in
``fastapi.middleware.trustedhost``): answers 400 "Invalid host header"
unless the request's ``Host`` (port left out) is one of ``allowed_hosts``;
``"*.example.com"`` allows the subdomains of example.com, ``"*"`` any host::

    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["example.com", "*.example.com"])

With ``www_redirect`` (the default), a request for ``example.com`` when
only ``www.example.com`` is allowed is redirected there.
"""
from ..exceptions import FasterAPIError
from ..responses import PlainTextResponse, RedirectResponse

__all__ = ["TrustedHostMiddleware"]


class TrustedHostMiddleware:
    """Refuses requests whose Host header is not an allowed host."""

    def __init__(self, app=None, allowed_hosts=None, www_redirect: bool = True):
        hosts = ["*"] if allowed_hosts is None else list(allowed_hosts)
        for h in hosts:
            if "*" in h[1:] or (h.startswith("*") and h != "*" and not h.startswith("*.")):
                raise FasterAPIError(f"allowed_hosts: {h!r}: a wildcard is '*' alone or a leading '*.'")
        self.allowed_hosts = hosts
        self.allow_any = "*" in hosts
        self.www_redirect = www_redirect

    def _allowed(self, host: str) -> bool:
        for pattern in self.allowed_hosts:
            if host == pattern or (pattern.startswith("*") and host.endswith(pattern[1:])):
                return True
        return False

    async def dispatch(self, request, call_next):
        if self.allow_any:
            return await call_next(request)
        host = request.headers.get("host", "").split(":", 1)[0]
        if self._allowed(host):
            return await call_next(request)
        if self.www_redirect and not host.startswith("www.") and self._allowed("www." + host):
            url = request.url
            netloc = "www." + request.headers.get("host", "")
            return RedirectResponse(f"{url.scheme}://{netloc}{url.path}" + (f"?{url.query}" if url.query else ""))
        return PlainTextResponse("Invalid host header", status_code=400)
