"""FasterAPI: FastAPI's API on a C server (HTTP/1.1 and h2c) that runs the
application in own-GIL sub-interpreters, one per core.

Move a FastAPI app over by changing its imports::

    from fasterapi import FastAPI, HTTPException, Query, Depends

    app = FastAPI(title="Shop")

    @app.get("/items/{item_id}")
    def read_item(item_id: int, q: str | None = None):
        return {"item_id": item_id, "q": q}

and serve it with ``python -m fasterapi shop:app --port 8000`` (or
``app.run(port=8000)``).  See docs/migration.md for what differs.

Only the standard library is used in worker interpreters: bodies are
dataclasses, TypedDicts, dicts and lists (pydantic cannot load in an
own-GIL interpreter).  The low-level server is
:class:`fasterapi._native.http2.PyHttp2Server`.
"""

__version__ = "0.1.0"

from . import status  # noqa: E402
from .applications import FastAPI  # noqa: E402
from .background import BackgroundTasks  # noqa: E402
from .datastructures import UploadFile  # noqa: E402
from .exceptions import HTTPException, RequestValidationError, ResponseValidationError, WebSocketException  # noqa: E402
from .params import Body, Cookie, Depends, Field, File, Form, Header, Path, Query, Security, SecurityScopes  # noqa: E402
from .requests import Request  # noqa: E402
from .responses import Response  # noqa: E402
from .routing import APIRouter  # noqa: E402
from .websockets import WebSocket, WebSocketDisconnect  # noqa: E402

__all__ = ["FastAPI", "APIRouter", "Request", "Response", "HTTPException", "RequestValidationError",
           "ResponseValidationError", "WebSocket", "WebSocketDisconnect", "WebSocketException", "BackgroundTasks", "UploadFile", "Body", "Cookie",
           "Depends", "Field", "File", "Form", "Header", "Path", "Query", "Security", "SecurityScopes", "status"]
