"""``GZipMiddleware`` (``fasterapi.middleware.gzip``, as in
``fastapi.middleware.gzip``)::

    from fasterapi.middleware.gzip import GZipMiddleware

    app.add_middleware(GZipMiddleware, minimum_size=1000)
"""
import gzip

from ..responses import StreamingResponse

__all__ = ["GZipMiddleware"]


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
