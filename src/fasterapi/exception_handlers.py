"""The default exception handlers, reusable from your own handlers (as in
``fastapi.exception_handlers``)::

    @app.exception_handler(RequestValidationError)
    async def log_and_answer(request, exc):
        log(exc.errors())
        return await request_validation_exception_handler(request, exc)

They return the Response directly; the Response is also awaitable (it
gives itself), so code written for FastAPI's async versions works as is.
"""
from .encoders import jsonable_encoder
from .responses import JSONResponse, Response

__all__ = ["http_exception_handler", "request_validation_exception_handler",
           "websocket_request_validation_exception_handler"]

_NO_BODY = (204, 205, 304)


def http_exception_handler(request, exc) -> Response:
    """``{"detail": exc.detail}`` with exc's status code and headers."""
    headers = getattr(exc, "headers", None)
    if exc.status_code < 200 or exc.status_code in _NO_BODY:
        return _Response(status_code=exc.status_code, headers=headers)
    return _JSON({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def request_validation_exception_handler(request, exc) -> Response:
    """422 with ``{"detail": exc.errors()}``."""
    return _JSON({"detail": jsonable_encoder(exc.errors())}, status_code=422)


async def websocket_request_validation_exception_handler(websocket, exc) -> None:
    """Closes the WebSocket with 1008 (policy violation), the errors as
    JSON in the reason when they fit a close frame (see
    fasterapi._websocket.validation_close_reason)."""
    from ._websocket import validation_close_reason  # noqa: PLC0415 - it imports the routing
    await websocket.close(code=1008, reason=validation_close_reason(exc.errors()))


class _Awaitable:
    def __await__(self):
        if False:  # pragma: no cover - makes this a generator
            yield
        return self


class _Response(Response, _Awaitable):
    pass


class _JSON(JSONResponse, _Awaitable):
    pass
