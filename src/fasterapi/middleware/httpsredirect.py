"""``HTTPSRedirectMiddleware`` (``fasterapi.middleware.httpsredirect``, as
in ``fastapi.middleware.httpsredirect``): a request over plain HTTP is
redirected (307) to the same URL over HTTPS; ports 80 and 443 are left out
of the new URL, any other port is kept."""
from ..responses import RedirectResponse

__all__ = ["HTTPSRedirectMiddleware"]


class HTTPSRedirectMiddleware:
    """Redirects http:// requests to https://."""

    def __init__(self, app=None):
        pass

    async def dispatch(self, request, call_next):
        url = request.url
        if url.scheme != "http":
            return await call_next(request)
        host = request.headers.get("host", "")
        name, _, port = host.partition(":")
        netloc = name if port in ("", "80", "443") else host
        return RedirectResponse(f"https://{netloc}{url.path}" + (f"?{url.query}" if url.query else ""))
