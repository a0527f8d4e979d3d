"""Response classes, as in ``fastapi.responses``.

Return one from an endpoint to control the status, headers and body, or set
one as ``response_class`` of a route (then the endpoint's return value is
its content)::

    @app.get("/hello", response_class=PlainTextResponse)
    def hello():
        return "Hello"

    @app.get("/legacy")
    def legacy():
        r = JSONResponse({"moved": True}, status_code=410, headers={"X-Reason": "old"})
        r.set_cookie("seen", "1", max_age=3600, httponly=True)
        return r

The native server computes ``content-length``; ``StreamingResponse`` bodies
go out as they are produced and ``FileResponse`` bodies straight from the
file.
"""
import datetime
import email.utils
import http.cookies
import mimetypes
import os
from urllib.parse import quote

from . import _json
from .datastructures import MutableHeaders

__all__ = ["Response", "JSONResponse", "PlainTextResponse", "HTMLResponse", "RedirectResponse",
           "StreamingResponse", "FileResponse", "ORJSONResponse", "UJSONResponse"]


class Response:
    """A response: ``content`` (str or bytes), ``status_code``, ``headers``,
    ``media_type``, ``background`` (a BackgroundTask(s) to run after)."""

    media_type = None
    charset = "utf-8"

    def __init__(self, content=None, status_code: int = 200, headers=None, media_type: str | None = None,
                 background=None):
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.background = background
        self.body = self.render(content)
        self.headers = MutableHeaders(headers)
        self._init_content_type()

    def render(self, content) -> bytes:
        if content is None:
            return b""
        if isinstance(content, (bytes, bytearray, memoryview)):
            return bytes(content)
        return content.encode(self.charset)

    def _init_content_type(self):
        if self.media_type is None or "content-type" in self.headers:
            return
        ct = self.media_type
        if ct.startswith("text/") and "charset=" not in ct.lower():
            ct += "; charset=" + self.charset
        self.headers.append("content-type", ct)

    @property
    def raw_headers(self) -> list:
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]

    def set_cookie(self, key: str, value: str = "", max_age: int | None = None,
                   expires: datetime.datetime | str | int | None = None, path: str | None = "/",
                   domain: str | None = None, secure: bool = False, httponly: bool = False,
                   samesite: str | None = "lax", partitioned: bool = False) -> None:
        """Adds a ``set-cookie`` header (one per call)."""
        cookie = http.cookies.SimpleCookie()
        cookie[key] = value
        m = cookie[key]
        if max_age is not None:
            m["max-age"] = max_age
        if expires is not None:
            if isinstance(expires, datetime.datetime):
                m["expires"] = email.utils.format_datetime(expires, usegmt=True)
            else:
                m["expires"] = expires
        if path is not None:
            m["path"] = path
        if domain is not None:
            m["domain"] = domain
        if secure:
            m["secure"] = True
        if httponly:
            m["httponly"] = True
        if samesite is not None:
            if samesite.lower() not in ("strict", "lax", "none"):
                raise ValueError("samesite must be either 'strict', 'lax' or 'none'")
            m["samesite"] = samesite
        out = m.OutputString()
        if partitioned:
            out += "; Partitioned"
        self.headers.append("set-cookie", out)

    def delete_cookie(self, key: str, path: str = "/", domain: str | None = None, secure: bool = False,
                      httponly: bool = False, samesite: str | None = "lax") -> None:
        """Adds a ``set-cookie`` header that expires the cookie."""
        self.set_cookie(key, max_age=0, expires=0, path=path, domain=domain, secure=secure,
                        httponly=httponly, samesite=samesite)

    def __repr__(self):
        return f"<{type(self).__name__} {self.status_code}>"


class HTMLResponse(Response):
    """``text/html; charset=utf-8``."""
    media_type = "text/html"


class PlainTextResponse(Response):
    """``text/plain; charset=utf-8``."""
    media_type = "text/plain"


class JSONResponse(Response):
    """Content serialized as compact UTF-8 JSON, ``application/json``.
    The default ``response_class``."""
    media_type = "application/json"

    def render(self, content) -> bytes:
        return _json.dumps(content)


class ORJSONResponse(JSONResponse):
    """FastAPI's orjson response, for import compatibility: orjson cannot
    load in sub-interpreters, so this serializes like JSONResponse."""


class UJSONResponse(JSONResponse):
    """FastAPI's ujson response, for import compatibility (serializes like
    JSONResponse)."""


class RedirectResponse(Response):
    """A redirect to ``url`` (307 by default, as in FastAPI)."""

    def __init__(self, url, status_code: int = 307, headers=None, background=None):
        super().__init__(content=b"", status_code=status_code, headers=headers, background=background)
        self.headers["location"] = quote(str(url), safe=":/%#?=@[]!$&'()*+,;")


class StreamingResponse(Response):
    """A body from an iterator or async iterator of str/bytes chunks, sent
    as the chunks come (HTTP/1.1 chunked encoding, HTTP/2 DATA frames)."""

    def __init__(self, content, status_code: int = 200, headers=None, media_type: str | None = None,
                 background=None):
        self.body_iterator = content
        super().__init__(None, status_code=status_code, headers=headers, media_type=media_type,
                         background=background)


class FileResponse(Response):
    """A file's content, with its media type guessed from the name and an
    optional ``content-disposition`` (``filename=``).  The native server
    sends it from the file (sendfile on HTTP/1.1)."""

    def __init__(self, path, status_code: int = 200, headers=None, media_type: str | None = None,
                 background=None, filename: str | None = None, stat_result=None, method=None,
                 content_disposition_type: str = "attachment"):
        self.path = path
        if media_type is None:
            media_type = mimetypes.guess_type(filename or str(path))[0] or "text/plain"
        super().__init__(None, status_code=status_code, headers=headers, media_type=media_type,
                         background=background)
        if filename is not None:
            quoted = quote(filename)
            if quoted != filename:
                disp = f"{content_disposition_type}; filename*=utf-8''{quoted}"
            else:
                disp = f'{content_disposition_type}; filename="{filename}"'
            self.headers.setdefault("content-disposition", disp)
        st = stat_result or os.stat(path)
        self.headers.setdefault("last-modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        self.headers.setdefault("etag", f'"{st.st_mtime_ns:x}-{st.st_size:x}"')


def apply_file_conditions(req: dict, res: dict) -> None:
    """Conditional and range requests for a file answer (res['file']), as
    Starlette's FileResponse does: If-None-Match / If-Modified-Since give
    304, a single ``Range: bytes=`` range gives 206 with Content-Range (the
    native server then sends just that slice with sendfile), an
    unsatisfiable one 416.  Multiple ranges get the whole file (200)."""
    if res.get("status", 200) != 200 or req["method"] not in ("GET", "HEAD"):
        return
    headers = list(res.get("headers") or [])
    etag = last_modified = None
    for k, v in headers:
        lk = k.lower()
        if lk == "etag":
            etag = v
        elif lk == "last-modified":
            last_modified = v
    h = req["headers"]
    inm = h.get("if-none-match")
    if inm is not None:
        tags = [t.strip() for t in inm.split(",")]
        if etag is not None and ("*" in tags or etag in tags or f"W/{etag}" in tags):
            _not_modified(res, headers)
            return
    elif last_modified is not None:
        ims = h.get("if-modified-since")
        if ims:
            try:
                since = email.utils.parsedate_to_datetime(ims)
                modified = email.utils.parsedate_to_datetime(last_modified)
            except (TypeError, ValueError, IndexError):
                since = modified = None
            if since is not None and modified is not None and modified <= since:
                _not_modified(res, headers)
                return
    headers.append(("accept-ranges", "bytes"))
    res["headers"] = headers
    rng = h.get("range")
    if not rng or not rng.startswith("bytes=") or "," in rng:
        return
    size = os.stat(res["file"]).st_size
    start_s, sep, end_s = rng[6:].strip().partition("-")
    try:
        if not sep:
            raise ValueError
        if start_s == "":  # the last N bytes
            n = int(end_s)
            start, end = max(size - n, 0), size - 1
            if n <= 0:
                raise ValueError
        else:
            start = int(start_s)
            end = int(end_s) if end_s else size - 1
            end = min(end, size - 1)
        if start < 0 or start > end or start >= size:
            raise ValueError
    except ValueError:
        res["status"] = 416
        res.pop("file", None)
        res.pop("file_range", None)
        res["body"] = b""
        headers.append(("content-range", f"bytes */{size}"))
        return
    res["status"] = 206
    res["file_range"] = (start, end - start + 1)
    headers.append(("content-range", f"bytes {start}-{end}/{size}"))


def _not_modified(res, headers):
    res["status"] = 304
    res.pop("file", None)
    res.pop("file_range", None)
    res["body"] = b""
    keep = ("etag", "last-modified", "cache-control", "expires", "vary", "content-location", "date")
    res["headers"] = [(k, v) for k, v in headers if k.lower() in keep]
