"""Small containers used by requests and responses: query parameters,
headers, URL, State, UploadFile and the Default placeholder."""
import typing
from urllib.parse import parse_qsl, urlencode

__all__ = ["QueryParams", "Headers", "MutableHeaders", "URL", "State", "Address",
           "UploadFile", "FormData", "Default", "DefaultPlaceholder", "parse_query"]


def parse_query(qs: str) -> list:
    """Splits a raw query string into (name, value) pairs, percent-decoded,
    '+' as space, blank values kept (as Starlette does)."""
    if not qs:
        return []
    if "%" in qs or "+" in qs or ";" in qs:
        return parse_qsl(qs, keep_blank_values=True)
    out = []
    for part in qs.split("&"):
        if part:
            k, _, v = part.partition("=")
            out.append((k, v))
    return out


class _MultiDict:
    """Read access shared by the immutable multi-dicts: ``_list`` holds the
    (key, value) pairs in order, ``_dict`` the last value of each key."""

    __slots__ = ()

    def __getitem__(self, key):
        return self._dict[key]

    def get(self, key, default=None):
        return self._dict.get(key, default)

    def getlist(self, key) -> list:
        return [v for k, v in self._list if k == key]

    def keys(self):
        return self._dict.keys()

    def values(self):
        return self._dict.values()

    def items(self):
        return self._dict.items()

    def multi_items(self) -> list:
        return list(self._list)

    def __contains__(self, key):
        return key in self._dict

    def __iter__(self):
        return iter(self._dict)

    def __len__(self):
        return len(self._dict)


class QueryParams(_MultiDict):
    """The query string as an immutable multi-dict.

    ``params["q"]`` and ``params.get("q")`` give the last value of ``q``;
    ``params.getlist("q")`` every value, in order."""

    __slots__ = ("_list", "_dict", "_raw")

    def __init__(self, query=""):
        if isinstance(query, str):
            self._raw = query
            self._list = parse_query(query)
        else:
            items = query.items() if hasattr(query, "items") else query
            self._list = [(str(k), str(v)) for k, v in items]
            self._raw = None
        self._dict = dict(self._list)


    def __eq__(self, other):
        if isinstance(other, QueryParams):
            return sorted(self._list) == sorted(other._list)
        return NotImplemented

    def __str__(self):
        return self._raw if self._raw is not None else urlencode(self._list)

    def __repr__(self):
        return f"QueryParams({str(self)!r})"


class Headers:
    """Request headers: a read-only, case-insensitive mapping.

    Repeated fields arrive joined by ", " (cookies by "; "), as RFC 9110
    allows; ``getlist`` splits them again."""

    __slots__ = ("_d",)

    def __init__(self, headers=None):
        if headers is None:
            self._d = {}
        elif isinstance(headers, dict):
            # the native layer's dict already has lowercase names
            self._d = headers if all(k.islower() or not k.isalpha() for k in headers) else \
                {k.lower(): v for k, v in headers.items()}
        else:
            d = {}
            for k, v in headers:
                k = k.lower()
                d[k] = f"{d[k]}, {v}" if k in d else v
            self._d = d

    def __getitem__(self, key):
        return self._d[key.lower()]

    def get(self, key, default=None):
        return self._d.get(key.lower(), default)

    def getlist(self, key) -> list:
        v = self._d.get(key.lower())
        if v is None:
            return []
        return v.split(", ")

    def keys(self):
        return self._d.keys()

    def values(self):
        return self._d.values()

    def items(self):
        return self._d.items()

    def raw_items(self):
        return list(self._d.items())

    def __contains__(self, key):
        return isinstance(key, str) and key.lower() in self._d

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def __eq__(self, other):
        if isinstance(other, Headers):
            return self._d == other._d
        return NotImplemented

    def __repr__(self):
        return f"Headers({self._d!r})"


class MutableHeaders:
    """Response headers: an ordered list of (name, value) pairs with
    case-insensitive access.  ``h["x"] = v`` replaces every ``x`` field;
    ``h.append("set-cookie", v)`` adds one more."""

    __slots__ = ("_list",)

    def __init__(self, headers=None):
        self._list = []
        if headers:
            items = headers.items() if hasattr(headers, "items") else headers
            for k, v in items:
                self._list.append((str(k).lower(), str(v)))

    def __getitem__(self, key):
        key = key.lower()
        for k, v in self._list:
            if k == key:
                return v
        raise KeyError(key)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def getlist(self, key) -> list:
        key = key.lower()
        return [v for k, v in self._list if k == key]

    def __setitem__(self, key, value):
        key = key.lower()
        self._list = [(k, v) for k, v in self._list if k != key]
        self._list.append((key, str(value)))

    def __delitem__(self, key):
        key = key.lower()
        n = len(self._list)
        self._list = [(k, v) for k, v in self._list if k != key]
        if len(self._list) == n:
            raise KeyError(key)

    def pop(self, key, *default):
        try:
            v = self[key]
        except KeyError:
            if default:
                return default[0]
            raise
        del self[key]
        return v

    def setdefault(self, key, value):
        try:
            return self[key]
        except KeyError:
            self[key] = value
            return value

    def append(self, key, value):
        self._list.append((key.lower(), str(value)))

    def update(self, other=(), **kw):
        items = other.items() if hasattr(other, "items") else other
        for k, v in items:
            self[k] = v
        for k, v in kw.items():
            self[k] = v

    def keys(self):
        return [k for k, _ in self._list]

    def values(self):
        return [v for _, v in self._list]

    def items(self):
        return list(self._list)

    def raw_items(self):
        return list(self._list)

    def __contains__(self, key):
        key = key.lower()
        return any(k == key for k, _ in self._list)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._list)

    def __bool__(self):
        return bool(self._list)

    def __repr__(self):
        return f"MutableHeaders({self._list!r})"


class URL:
    """The request URL, built from the Host header and the request target."""

    __slots__ = ("scheme", "netloc", "path", "query")

    def __init__(self, scheme="http", netloc="", path="/", query=""):
        self.scheme = scheme
        self.netloc = netloc
        self.path = path
        self.query = query

    @property
    def hostname(self):
        host = self.netloc
        if host.startswith("["):
            return host[1:host.find("]")]
        return host.rsplit(":", 1)[0] if ":" in host else host

    @property
    def port(self):
        host = self.netloc
        tail = host[host.find("]") + 1:] if host.startswith("[") else host
        if ":" in tail:
            try:
                return int(tail.rsplit(":", 1)[1])
            except ValueError:
                return None
        return None

    def replace(self, **kw):
        d = {"scheme": self.scheme, "netloc": self.netloc, "path": self.path, "query": self.query}
        d.update(kw)
        return URL(**d)

    def include_query_params(self, **params):
        q = dict(parse_query(self.query))
        q.update({k: str(v) for k, v in params.items()})
        return self.replace(query=urlencode(q))

    def __str__(self):
        s = f"{self.scheme}://{self.netloc}{self.path}" if self.netloc else self.path
        return f"{s}?{self.query}" if self.query else s

    def __eq__(self, other):
        return str(self) == str(other)

    def __hash__(self):
        return hash(str(self))

    def __repr__(self):
        return f"URL({str(self)!r})"


class Address(typing.NamedTuple):
    """A peer address: ``request.client.host``, ``request.client.port``."""

    host: str
    port: int


class State:
    """An attribute bag: ``app.state`` and ``request.state``."""

    def __init__(self, state: dict | None = None):
        object.__setattr__(self, "_state", dict(state or {}))

    def __setattr__(self, name, value):
        self._state[name] = value

    def __getattr__(self, name):
        try:
            return self._state[name]
        except KeyError:
            raise AttributeError(f"'State' object has no attribute '{name}'") from None

    def __delattr__(self, name):
        del self._state[name]

    def __contains__(self, name):
        return name in self._state

    def __repr__(self):
        return f"State({self._state!r})"


class UploadFile:
    """A file from a multipart/form-data body, held in memory.

    ``filename``, ``content_type``, ``headers``, ``size``; ``await read()``,
    ``await seek()``, ``await close()`` as in FastAPI, and ``file`` (a
    BytesIO) for synchronous code."""

    def __init__(self, file, *, size=None, filename=None, headers=None, content_type=None):
        self.file = file
        self.size = size
        self.filename = filename
        self.headers = headers if headers is not None else Headers()
        self._content_type = content_type

    @property
    def content_type(self):
        return self._content_type or self.headers.get("content-type")

    async def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    async def write(self, data: bytes) -> None:
        self.file.write(data)

    async def seek(self, offset: int) -> None:
        self.file.seek(offset)

    async def close(self) -> None:
        self.file.close()

    def __repr__(self):
        return f"UploadFile(filename={self.filename!r}, size={self.size!r})"


class FormData(_MultiDict):
    """A form body (urlencoded or multipart) as an immutable multi-dict of
    str values and UploadFile objects."""

    __slots__ = ("_list", "_dict")

    def __init__(self, items=()):
        self._list = list(items)
        self._dict = dict(self._list)

    async def close(self):
        for _, v in self._list:
            if isinstance(v, UploadFile):
                await v.close()


class DefaultPlaceholder:
    """Marks a keyword the user did not give, so a router's or the app's
    value applies."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __bool__(self):
        return bool(self.value)

    def __eq__(self, other):
        return isinstance(other, DefaultPlaceholder) and other.value == self.value

    def __repr__(self):
        return f"Default({self.value!r})"


def Default(value):  # noqa: N802 (FastAPI's name)
    """Wraps a default value so it can be told apart from a given one."""
    return DefaultPlaceholder(value)
