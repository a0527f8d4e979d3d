"""Exceptions an application raises or handles, as in ``fastapi.exceptions``."""
import http

__all__ = ["HTTPException", "RequestValidationError", "ResponseValidationError",
           "ValidationException", "FasterAPIError", "FastAPIError", "FastAPIDeprecationWarning",
           "WebSocketException", "WebSocketRequestValidationError"]


class HTTPException(Exception):
    """Raise it in an endpoint or a dependency to answer with an error.

    ``HTTPException(404, detail="Item not found", headers={"X-Error": "1"})``
    answers 404 with ``{"detail": "Item not found"}``.  ``detail`` may be any
    JSON-serializable value; it defaults to the status code's reason phrase.
    """

    def __init__(self, status_code: int, detail=None, headers: dict | None = None):
        if detail is None:
            try:
                detail = http.HTTPStatus(status_code).phrase
            except ValueError:
                detail = ""
        self.status_code = status_code
        self.detail = detail
        self.headers = headers
        super().__init__(status_code, detail)

    def __str__(self):
        return f"{self.status_code}: {self.detail}"

    def __repr__(self):
        return f"{type(self).__name__}(status_code={self.status_code!r}, detail={self.detail!r})"


class WebSocketException(Exception):
    """Raise it in a WebSocket endpoint or dependency to close the
    WebSocket with ``code`` (``status.WS_1008_POLICY_VIOLATION``...) and
    ``reason``; before ``accept()`` the handshake is refused (HTTP 403)."""

    def __init__(self, code: int, reason: str | None = None):
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __str__(self):
        return f"{self.code}: {self.reason}"

    def __repr__(self):
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class FastAPIError(RuntimeError):
    """A mistake in how the application is declared (raised at definition),
    or in how it behaves where FastAPI raises its FastAPIError (a ``yield``
    dependency that catches the endpoint's exception and does not raise
    it again).  ``FasterAPIError`` is the same class."""


FasterAPIError = FastAPIError


class ValidationException(Exception):
    """Base of the validation errors; ``errors()`` lists them, each a dict
    with ``type``, ``loc``, ``msg``, ``input`` and sometimes ``ctx``."""

    def __init__(self, errors):
        self._errors = list(errors)

    def errors(self):
        return self._errors

    def __str__(self):
        lines = [f"{len(self._errors)} validation error{'s' if len(self._errors) != 1 else ''}:"]
        for e in self._errors:
            lines.append(f"  {e}")
        return "\n".join(lines)


class RequestValidationError(ValidationException):
    """The request did not match the endpoint's parameters.  The default
    handler answers 422 with ``{"detail": errors()}``; ``body`` is the
    parsed request body, when there was one."""

    def __init__(self, errors, *, body=None):
        super().__init__(errors)
        self.body = body


class WebSocketRequestValidationError(ValidationException):
    """A WebSocket's parameters did not match the endpoint's (path, query,
    header, cookie, dependencies).  The default handler closes the
    WebSocket with 1008 (policy violation), the errors as JSON in the
    reason (shortened to fit a close frame)."""


class ResponseValidationError(ValidationException):
    """The endpoint's return value did not match its ``response_model``
    (a server bug: answered with 500)."""

    def __init__(self, errors, *, body=None):
        super().__init__(errors)
        self.body = body


class FastAPIDeprecationWarning(UserWarning):
    """Warned at declaration for what FastAPI deprecates (``regex=``,
    ``example=``...): a UserWarning, so it is shown by default (Python
    hides DeprecationWarning outside ``__main__``).  Importable from
    ``fasterapi.exceptions`` too."""
