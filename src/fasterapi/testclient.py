"""``TestClient``: call an app in-process, without a socket, with the
requests-style API FastAPI users know::

    from fasterapi.testclient import TestClient

    client = TestClient(app)
    r = client.get("/items/1", params={"q": "x"}, headers={"X-Token": "t"})
    assert r.status_code == 200 and r.json() == {"item_id": 1, "q": "x"}

    with TestClient(app) as client:   # runs startup/lifespan, then shutdown
        ...

Requests go through the same code as in a worker interpreter: the request
dict the native server would build, the same routing rules (static paths
first, HEAD answered by GET routes, FastAPI-shaped 404/405), the same
handler.  Unhandled exceptions are re-raised in the test
(``raise_server_exceptions=False`` to get the 500 instead).
"""
import base64
import inspect
import json as _jsonlib
import threading
import uuid
from collections.abc import MutableMapping
from http import HTTPStatus
from urllib.parse import quote, urlencode, urljoin, urlsplit

from . import _aio
from ._worker import Headers as _NativeHeaders
from .datastructures import MutableHeaders
from .requests import parse_cookies


def __getattr__(name):  # WebSocketDenialResponse, without importing the WebSocket test code up front
    if name in ("WebSocketDenialResponse", "WebSocketTestSession"):
        from . import _testclient_ws  # noqa: PLC0415
        return getattr(_testclient_ws, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Cookies", "TestClient", "TestResponse", "WebSocketDenialResponse", "WebSocketTestSession"]


class TestResponse:
    """A response: ``status_code``, ``headers`` (case-insensitive; ``get_list``
    for repeated fields), ``content``, ``text``, ``json()``, ``cookies``,
    ``url``, ``history`` (redirects followed), ``is_success``,
    ``raise_for_status()``."""

    __test__ = False

    def __init__(self, status_code, headers, content, url, request_method, http_version="HTTP/1.1"):
        self.status_code = status_code
        self.headers = _ResponseHeaders(headers)
        self.content = content
        self.url = url
        self.request_method = request_method
        self.http_version = http_version
        self.history = []
        self.cookies = Cookies()
        for v in self.headers.get_list("set-cookie"):
            name, _, rest = v.partition("=")
            self.cookies.set(name.strip(), rest.split(";", 1)[0].strip().strip('"'))

    @property
    def text(self) -> str:
        ct = self.headers.get("content-type", "")
        charset = "utf-8"
        if "charset=" in ct:
            charset = ct.split("charset=", 1)[1].split(";")[0].strip() or "utf-8"
        return self.content.decode(charset, "replace")

    def json(self, **kwargs):
        return _jsonlib.loads(self.content, **kwargs)

    @property
    def reason_phrase(self) -> str:
        try:
            return HTTPStatus(self.status_code).phrase
        except ValueError:
            return ""

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    ok = is_success

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

    def raise_for_status(self):
        if self.status_code >= 400:
            raise HTTPStatusError(f"{self.status_code} {self.reason_phrase} for {self.request_method} {self.url}",
                                  response=self)
        return self

    def __repr__(self):
        return f"<Response [{self.status_code}]>"


class HTTPStatusError(Exception):
    def __init__(self, message, response):
        super().__init__(message)
        self.response = response


class _ResponseHeaders(MutableHeaders):
    def get_list(self, key) -> list:
        return self.getlist(key)

    def multi_items(self) -> list:
        return self.items()

    def __eq__(self, other):
        if isinstance(other, dict):
            return dict(self.items()) == {k.lower(): v for k, v in other.items()}
        return NotImplemented


def _encode_multipart(data, files):
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in (data or {}).items():
        for item in (v if isinstance(v, (list, tuple)) else [v]):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode()
                         + str(item).encode() + b"\r\n")
    items = files.items() if isinstance(files, dict) else files
    for k, f in items:
        if isinstance(f, tuple):
            filename, content = f[0], f[1]
            ctype = f[2] if len(f) > 2 else "application/octet-stream"
        else:
            filename, content, ctype = getattr(f, "name", k), f, "application/octet-stream"
        if hasattr(content, "read"):
            content = content.read()
        if isinstance(content, str):
            content = content.encode()
        parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{filename}"\r\n'
                      f"Content-Type: {ctype}\r\n\r\n").encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Cookies(MutableMapping):
    """A cookie jar with httpx.Cookies' API: a mapping of name -> value,
    plus ``set(name, value, domain="", path="/")``, ``get(name, default,
    domain=, path=)``, ``delete(name, domain=, path=)``, ``clear()``,
    ``update()`` and ``jar`` (the cookies as an http.cookiejar.CookieJar).
    Cookies are kept by (name, domain, path); a lookup by name alone finds
    the first one."""

    def __init__(self, cookies=None):
        self._items = {}  # (name, domain, path) -> value
        if cookies:
            self.update(cookies)

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        self._items[(name, domain, path)] = value

    def _keys_of(self, name, domain=None, path=None) -> list:
        return [k for k in self._items if k[0] == name and (domain is None or k[1] == domain)
                and (path is None or k[2] == path)]

    def get(self, name: str, default=None, domain: str | None = None, path: str | None = None):
        keys = self._keys_of(name, domain, path)
        return self._items[keys[0]] if keys else default

    def delete(self, name: str, domain: str | None = None, path: str | None = None) -> None:
        for k in self._keys_of(name, domain, path):
            del self._items[k]

    def clear(self, domain: str | None = None, path: str | None = None) -> None:
        for k in [k for k in self._items if (domain is None or k[1] == domain) and (path is None or k[2] == path)]:
            del self._items[k]

    def update(self, cookies=None, **kw) -> None:  # noqa: D102 - MutableMapping's, taking a Cookies too
        if isinstance(cookies, Cookies):
            self._items.update(cookies._items)
        elif cookies:
            for k, v in (cookies.items() if hasattr(cookies, "items") else cookies):
                self.set(k, v)
        for k, v in kw.items():
            self.set(k, v)

    @property
    def jar(self):
        import http.cookiejar  # noqa: PLC0415
        jar = http.cookiejar.CookieJar()
        for (name, domain, path), value in self._items.items():
            jar.set_cookie(http.cookiejar.Cookie(
                0, name, value, None, False, domain, bool(domain), domain.startswith("."), path, True,
                False, None, False, None, None, {}))
        return jar

    def __getitem__(self, name):
        keys = self._keys_of(name)
        if not keys:
            raise KeyError(name)
        return self._items[keys[0]]

    def __setitem__(self, name, value):
        self.set(name, value)

    def __delitem__(self, name):
        keys = self._keys_of(name)
        if not keys:
            raise KeyError(name)
        for k in keys:
            del self._items[k]

    def __iter__(self):
        seen = []
        for k in self._items:
            if k[0] not in seen:
                seen.append(k[0])
        return iter(seen)

    def __len__(self):
        return len({k[0] for k in self._items})

    def __bool__(self):
        return bool(self._items)

    def __repr__(self):
        return "<Cookies[" + ", ".join(f"<Cookie {n}={v} for {d or ''}{p}>" for (n, d, p), v in
                                        self._items.items()) + "]>"


def _header_pairs(headers) -> list:
    """[(lower-case name, value)] of headers given as a dict, a Headers
    object (multi_items / items) or a list of (name, value) pairs."""
    if headers is None:
        return []
    if hasattr(headers, "multi_items"):
        items = headers.multi_items()
    elif hasattr(headers, "items"):
        items = headers.items()
    else:
        items = headers
    out = []
    for k, v in items:
        k = k.decode("latin-1") if isinstance(k, bytes) else k
        v = v.decode("latin-1") if isinstance(v, bytes) else str(v)
        out.append((k.lower(), v))
    return out


def _merge_headers(base: dict, extra) -> None:
    """Puts extra's headers into base: a name given replaces base's value,
    a name repeated in extra is joined with ", " (as the native server
    joins repeated request fields; "; " for cookie)."""
    given = {}
    for k, v in _header_pairs(extra):
        if k in given:
            given[k] = f"{given[k]}{'; ' if k == 'cookie' else ', '}{v}"
        else:
            given[k] = v
    base.update(given)


class TestClient:
    """An in-process client for a FastAPI app (see the module doc)."""

    __test__ = False

    def __init__(self, app, base_url: str = "http://testserver", raise_server_exceptions: bool = True,
                 root_path: str = "", backend: str = "asyncio", backend_options=None, cookies=None,
                 headers=None, follow_redirects: bool = True, client=None):
        self.app = app
        self.base_url = base_url.rstrip("/")
        self.raise_server_exceptions = raise_server_exceptions
        self.follow_redirects = follow_redirects
        self.cookies = Cookies(cookies)
        self.headers = {}
        _merge_headers(self.headers, headers)
        self._started = False

    # -- context manager: startup / shutdown ------------------------------------------
    def __enter__(self):
        _run(self.app.startup_async())
        self._started = True
        return self

    def __exit__(self, *exc):
        if self._started:
            self._started = False
            _run(self.app.shutdown_async())
        return False

    # -- requests ------------------------------------------------------------------------
    def request(self, method: str, url: str, *, params=None, content=None, data=None, files=None, json=None,
                headers=None, cookies=None, auth=None, follow_redirects=None, timeout=None, extensions=None):
        """Sends one request (following redirects unless told not to)."""
        method = method.upper()
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        history = []
        if auth is not None:
            headers = _with_auth(headers, auth)
        r = self._send(method, url, params, content, data, files, json, headers, cookies)
        while follow and r.is_redirect and len(history) < 20:
            history.append(r)
            loc = urljoin(r.url, r.headers["location"])
            if r.status_code == 303 or (r.status_code in (301, 302) and method == "POST"):
                method, content, data, files, json = "GET", None, None, None, None
            r = self._send(method, loc, None, content, data, files, json, headers, cookies)
        r.history = history
        return r

    def _send(self, method, url, params, content, data, files, json, headers, cookies):
        full = url if "://" in url else self.base_url + (url if url.startswith("/") else "/" + url)
        parts = urlsplit(full)
        path = quote(_remove_dot_segments(parts.path or "/"), safe="/%:@!$&'()*+,;=-._~")
        query = parts.query
        if params:
            items = params.items() if hasattr(params, "items") else params
            flat = []
            for k, v in items:
                for item in (v if isinstance(v, (list, tuple)) else [v]):
                    flat.append((k, _param_str(item)))
            extra = urlencode(flat)
            query = f"{query}&{extra}" if query else extra
        hdrs = {"host": parts.netloc or "testserver", "user-agent": "testclient", "accept": "*/*",
                "accept-encoding": "gzip, deflate", "connection": "keep-alive"}
        hdrs.update(self.headers)
        body = b""
        if json is not None:
            body = _jsonlib.dumps(json, separators=(",", ":"), ensure_ascii=False).encode()
            hdrs["content-type"] = "application/json"
        elif files:
            body, hdrs["content-type"] = _encode_multipart(data if isinstance(data, dict) else None, files)
        elif isinstance(data, dict):
            body = urlencode(data, doseq=True).encode()
            hdrs["content-type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            body = data.encode() if isinstance(data, str) else bytes(data)
        elif content is not None:
            body = content.encode() if isinstance(content, str) else bytes(content)
        _merge_headers(hdrs, headers)
        jar = dict(self.cookies)
        jar.update(cookies or {})
        if jar:
            given = parse_cookies(hdrs.get("cookie", ""))
            jar.update(given)
            hdrs["cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        if body and method not in ("GET", "HEAD") or body:
            hdrs.setdefault("content-length", str(len(body)))
        native_headers = _NativeHeaders()
        for k, v in hdrs.items():
            dict.__setitem__(native_headers, k, v)
        req = {"method": method, "path": path, "query": query, "headers": native_headers, "body": body,
               "http_version": "1.1", "path_params": {}, "route": None,
               "client": ("testclient", 50000), "scheme": parts.scheme or "http"}
        if self.raise_server_exceptions:
            req["_raise_server_exceptions"] = True
        res = {"status": 200}
        pending = self.app._handle(req, res)
        if pending is not None:
            _run(pending)
        status = res.get("status", 200)
        out_headers = []
        ct = res.get("content_type")
        # a streamed body goes out chunked (HTTP/1.1) or as DATA frames: no content-length
        streamed = res.get("file") is None and not isinstance(res.get("body"), (type(None), str, bytes, bytearray))
        rbody = _collect_body(res)
        after = res.get("after")
        if after is not None:  # as the server does once the answer is written
            r = after()
            if inspect.isawaitable(r):
                _run(r)
        if ct is None and rbody is not None:
            ct = "text/plain; charset=utf-8" if isinstance(rbody, str) else "application/octet-stream"
        if isinstance(rbody, str):
            rbody = rbody.encode("utf-8")
        rbody = rbody or b""
        if ct is not None:
            out_headers.append(("content-type", ct))
        rh = res.get("headers") or []
        for k, v in (rh.items() if isinstance(rh, dict) else rh):
            out_headers.append((k.lower(), v))
        if status >= 200 and status not in (204, 304):
            if not streamed:
                out_headers.append(("content-length", str(len(rbody))))
        else:
            rbody = b""
        if method == "HEAD":
            rbody = b""
        enc = dict(out_headers).get("content-encoding", "")
        if rbody and enc in ("gzip", "deflate"):  # decoded as httpx/requests do
            import zlib
            rbody = zlib.decompress(rbody, 16 + zlib.MAX_WBITS if enc == "gzip" else zlib.MAX_WBITS)
        resp = TestResponse(status, out_headers, rbody, f"{parts.scheme or 'http'}://{hdrs['host']}{path}"
                            + (f"?{query}" if query else ""), method)
        for h in resp.headers.get_list("set-cookie"):
            name, _, rest = h.partition("=")
            value, _, attrs = rest.partition(";")
            attrs = attrs.lower().replace(" ", "")
            if "max-age=0" in attrs or "expires=thu,01jan1970" in attrs:
                self.cookies.delete(name.strip())
            else:
                self.cookies.set(name.strip(), value.strip().strip('"'), domain=parts.hostname or "")
        return resp

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def options(self, url, **kw):
        return self.request("OPTIONS", url, **kw)

    def head(self, url, **kw):
        return self.request("HEAD", url, **kw)

    def post(self, url, **kw):
        return self.request("POST", url, **kw)

    def put(self, url, **kw):
        return self.request("PUT", url, **kw)

    def patch(self, url, **kw):
        return self.request("PATCH", url, **kw)

    def delete(self, url, **kw):
        return self.request("DELETE", url, **kw)

    def websocket_connect(self, url: str, subprotocols=None, headers=None, *, params=None, cookies=None):
        """A WebSocket session with the app (a context manager; see
        fasterapi._testclient_ws.WebSocketTestSession): ``send_text``,
        ``send_bytes``, ``send_json``, ``receive_text``, ``receive_bytes``,
        ``receive_json``, ``close``.  Entering it raises WebSocketDisconnect
        when the app closes instead of accepting."""
        from ._testclient_ws import WebSocketTestSession  # noqa: PLC0415
        return WebSocketTestSession(self, url, subprotocols=subprotocols, headers=headers, params=params,
                                    cookies=cookies)

    def close(self):
        pass


def _collect_body(res: dict):
    """The body as the native server would send it: str/bytes, the chunks
    of an iterable (streamed), or the file (res['file'], res['file_range'])."""
    if res.get("file") is not None:
        with open(res["file"], "rb") as f:
            rng = res.get("file_range")
            if rng:
                f.seek(rng[0])
                return f.read(rng[1])
            return f.read()
    body = res.get("body", None)
    if body is None or isinstance(body, (str, bytes, bytearray)):
        return body
    chunks = []
    if hasattr(body, "__aiter__"):
        async def drain():
            async for c in body:
                chunks.append(c)
        _run(drain())
    else:
        chunks.extend(body)
    return b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in chunks)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, as httpx applies it to every URL: "/a/../b" -> "/b"."""
    if "." not in path:
        return path
    out = []
    segs = path.split("/")
    for i, seg in enumerate(segs):
        if seg == "..":
            if len(out) > 1:
                out.pop()
            if i == len(segs) - 1:
                out.append("")
        elif seg == ".":
            if i == len(segs) - 1:
                out.append("")
        else:
            out.append(seg)
    return "/".join(out) or "/"


def _with_auth(headers, auth):
    """headers plus the Authorization of auth: (user, password) for Basic
    (as httpx does), or a callable given the headers to change."""
    out = {}
    _merge_headers(out, headers)
    if callable(auth):
        return auth(out) or out
    user, password = auth
    token = base64.b64encode(f"{user}:{password}".encode("latin-1")).decode("ascii")
    out["authorization"] = f"Basic {token}"
    return out


def _param_str(v) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return ""
    return str(v)


def _run(coro):
    """Runs a coroutine on this thread's loop, or on a helper thread when
    the caller is itself inside a running loop (an async test)."""
    if _aio._get_running_loop() is None:
        return _aio.run(coro)
    box = {}

    def target():
        try:
            box["v"] = _aio.run(coro)
        except BaseException as e:  # noqa: BLE001
            box["e"] = e
    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box.get("v")
