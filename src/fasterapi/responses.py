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
import re
import time
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


#: a Range with more parts than this gets the whole file (200), as servers
#: do against range abuse (RFC 9110 14.2 lets a server ignore Range)
MAX_RANGES = 16
#: multipart/byteranges bodies up to this size are built in memory (and
#: sent with a content-length); larger ones are streamed from the file
MULTIPART_INLINE_MAX = 1 << 20
_CHUNK = 1 << 16
_RANGE_SPEC = re.compile(r"[ \t]*(?:([0-9]+)-([0-9]*)|-([0-9]+))[ \t]*")


def apply_file_conditions(req: dict, res: dict) -> None:
    """Conditional and range requests for a file answer (res['file']):

    * If-None-Match / If-Modified-Since give 304;
    * ``Range: bytes=`` with one satisfiable range gives 206 with
      Content-Range (the native server sends just that slice with
      sendfile); several give 206 ``multipart/byteranges``, one part per
      range (overlapping or adjacent ranges are merged), read from the
      file here; none satisfiable gives 416;
    * If-Range (RFC 9110 13.1.5) keeps the Range only if it is our strong
      ETag or exactly our Last-Modified date, else the whole file goes out;
    * a Range that is not a valid ``bytes`` range set, has more than
      MAX_RANGES parts, or whose parts add up to more than the file
      (overlaps) is ignored: 200 with the whole file."""
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
            since, modified = _http_date(ims), _http_date(last_modified)
            if since is not None and modified is not None and modified <= since:
                _not_modified(res, headers)
                return
    headers.append(("accept-ranges", "bytes"))
    res["headers"] = headers
    rng = h.get("range")
    if not rng:
        return
    if_range = h.get("if-range")
    if if_range is not None and not _if_range_holds(if_range.strip(), etag, last_modified):
        return
    try:
        size = os.stat(res["file"]).st_size
    except OSError:
        return  # the native layer answers 404
    ranges = _parse_ranges(rng, size)
    if ranges is None:
        return
    if not ranges:
        res["status"] = 416
        res.pop("file", None)
        res.pop("file_range", None)
        res["body"] = b""
        headers.append(("content-range", f"bytes */{size}"))
        return
    if len(ranges) == 1:
        start, end = ranges[0]
        res["status"] = 206
        res["file_range"] = (start, end - start + 1)
        headers.append(("content-range", f"bytes {start}-{end}/{size}"))
        return
    _multipart_byteranges(res, ranges, size)


def _http_date(value):
    """An HTTP-date as an aware datetime (UTC when the zone is "-0000",
    which parsedate_to_datetime leaves naive), or None."""
    try:
        d = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return d.replace(tzinfo=datetime.timezone.utc) if d.tzinfo is None else d


def _if_range_holds(value: str, etag, last_modified) -> bool:
    """RFC 9110 13.1.5: an entity tag must be strong and equal to ours (a
    weak one never matches); a date must equal our Last-Modified, which
    counts as a strong validator only once a second has passed since."""
    if value.startswith(('"', "W/")):
        return etag is not None and not etag.startswith("W/") and value == etag
    if last_modified is None:
        return False
    date, modified = _http_date(value), _http_date(last_modified)
    if date is None or modified is None or date != modified:
        return False
    return modified.timestamp() <= time.time() - 1


def _parse_ranges(value: str, size: int):
    """A ``bytes=`` range set -> the satisfiable ranges as inclusive
    (first, last) pairs: overlapping and adjacent ones merged, in the order
    the client listed them.  [] when none is satisfiable, None when the
    Range is to be ignored (another unit, invalid syntax, too many parts,
    parts adding up to more than the file)."""
    unit, eq, spec = value.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    items = [s for s in spec.split(",") if s.strip()]
    if not items or len(items) > MAX_RANGES:
        return None
    ranges = []
    total = 0
    for i, item in enumerate(items):
        m = _RANGE_SPEC.fullmatch(item)
        if m is None:
            return None
        first, last, suffix = m.groups()
        if suffix is not None:
            n = _pos(suffix)
            if n == 0 or size == 0:
                continue
            start, end = max(size - n, 0), size - 1
        else:
            start = _pos(first)
            if last != "" and _pos(last) < start:
                return None  # invalid (RFC 9110 14.1.1): the whole Range is ignored
            if start >= size:
                continue
            end = size - 1 if last == "" else min(_pos(last), size - 1)
        total += end - start + 1
        ranges.append((start, end, i))
    if total > size:
        return None
    ranges.sort()
    merged = []
    for start, end, i in ranges:
        if merged and start <= merged[-1][1] + 1:
            m_start, m_end, m_i = merged[-1]
            merged[-1] = (m_start, max(m_end, end), min(m_i, i))
        else:
            merged.append((start, end, i))
    merged.sort(key=lambda r: r[2])
    return [(start, end) for start, end, _ in merged]


def _pos(digits: str) -> int:
    # past any file size; int() refuses more than 4300 digits
    return int(digits) if len(digits) <= 18 else 10 ** 18


def _multipart_byteranges(res: dict, ranges, size: int) -> None:
    """206 multipart/byteranges (RFC 9110 14.6): one part per range, each
    with the file's Content-Type and its Content-Range."""
    boundary = os.urandom(12).hex()
    ctype = res.get("content_type")
    ctype_line = f"Content-Type: {ctype}\r\n" if ctype else ""
    # the CRLF before a boundary belongs to it (RFC 2046 5.1.1)
    heads = [((b"\r\n" if i else b"") + f"--{boundary}\r\n{ctype_line}"
              f"Content-Range: bytes {start}-{end}/{size}\r\n\r\n".encode("latin-1"))
             for i, (start, end) in enumerate(ranges)]
    tail = f"\r\n--{boundary}--\r\n".encode("latin-1")
    path = res["file"]
    if sum(end - start + 1 for start, end in ranges) <= MULTIPART_INLINE_MAX:
        out = []
        try:
            with open(path, "rb") as f:
                for head, (start, end) in zip(heads, ranges):
                    f.seek(start)
                    data = f.read(end - start + 1)
                    if len(data) != end - start + 1:
                        return  # the file shrank meanwhile: the whole (current) file, 200
                    out += (head, data)
        except OSError:
            return  # the native layer answers (404...)
        out.append(tail)
        body = b"".join(out)
    else:
        body = _multipart_chunks(path, heads, ranges, tail)
    res["status"] = 206
    res["content_type"] = f"multipart/byteranges; boundary={boundary}"
    res.pop("file", None)
    res.pop("file_range", None)
    res["body"] = body


def _multipart_chunks(path, heads, ranges, tail):
    with open(path, "rb") as f:
        for head, (start, end) in zip(heads, ranges):
            yield head
            f.seek(start)
            left = end - start + 1
            while left:
                data = f.read(min(left, _CHUNK))
                if not data:
                    raise OSError(f"{path}: the file shrank while its ranges were sent")
                left -= len(data)
                yield data
    yield tail


def _not_modified(res, headers):
    res["status"] = 304
    res.pop("file", None)
    res.pop("file_range", None)
    res["body"] = b""
    keep = ("etag", "last-modified", "cache-control", "expires", "vary", "content-location", "date")
    res["headers"] = [(k, v) for k, v in headers if k.lower() in keep]
