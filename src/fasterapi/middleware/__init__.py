"""Middleware for ``app.add_middleware``, in the modules FastAPI has them:
``fasterapi.middleware.cors.CORSMiddleware``,
``fasterapi.middleware.gzip.GZipMiddleware``,
``fasterapi.middleware.trustedhost.TrustedHostMiddleware`` and
``fasterapi.middleware.httpsredirect.HTTPSRedirectMiddleware`` (also
importable from here).

FasterAPI has no ASGI layer, so Starlette's ASGI middleware cannot run;
these are written for our middleware interface (an object with ``async def
dispatch(request, call_next)``), with the keywords of their Starlette
namesakes.  Write your own the same way, or with ``@app.middleware("http")``.
"""
from .cors import CORSMiddleware
from .gzip import GZipMiddleware
from .httpsredirect import HTTPSRedirectMiddleware
from .trustedhost import TrustedHostMiddleware

__all__ = ["CORSMiddleware", "GZipMiddleware", "HTTPSRedirectMiddleware", "Middleware", "TrustedHostMiddleware"]


class Middleware:
    """``Middleware(cls, **options)``, for ``FastAPI(middleware=[...])``."""

    def __init__(self, cls, *args, **kwargs):
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def __iter__(self):
        return iter((self.cls, self.kwargs))
