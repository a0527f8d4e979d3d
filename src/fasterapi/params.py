"""Parameter declarations: ``Query``, ``Path``, ``Header``, ``Cookie``,
``Body``, ``Form``, ``File``, ``Depends`` and ``Security``.

Use them as defaults or inside ``Annotated``, exactly as in FastAPI::

    def read(q: Annotated[str | None, Query(max_length=50)] = None,
             item_id: int = Path(ge=1),
             user_agent: str | None = Header(default=None)): ...

Constraints: ``gt``, ``ge``, ``lt``, ``le``, ``multiple_of`` for numbers;
``min_length``, ``max_length`` for strings and lists; ``pattern`` (a regular
expression searched in strings).  ``alias`` is the name in the request;
``title``, ``description``, ``examples``, ``deprecated`` and
``include_in_schema`` go to the OpenAPI document.
"""
import warnings

from .exceptions import FastAPIDeprecationWarning

__all__ = ["Param", "Query", "Path", "Header", "Cookie", "Body", "Form", "File", "Depends",
           "Security", "Field", "FieldInfo"]


class _UndefinedType:
    __slots__ = ()

    def __repr__(self):
        return "PydanticUndefined"

    def __bool__(self):
        return False

    def __reduce__(self):
        return "Undefined"


#: "no default given": the parameter is required.
Undefined = _UndefinedType()

_CONSTRAINTS = ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern")


class FieldInfo:
    """Metadata about one parameter or field: default, alias, constraints
    and documentation.  Base of the ``Query``/``Path``/... classes, and
    usable in ``Annotated`` on dataclass fields (``fasterapi.Field``)."""

    in_ = None  # where the value comes from: "query", "path", "header", "cookie", "body"

    def __init__(self, default=Undefined, *, default_factory=None, alias: str | None = None,
                 alias_priority=None, validation_alias=None, serialization_alias=None,
                 title: str | None = None, description: str | None = None,
                 gt=None, ge=None, lt=None, le=None, multiple_of=None,
                 min_length: int | None = None, max_length: int | None = None,
                 pattern: str | None = None, regex: str | None = None,
                 discriminator=None, strict: bool | None = None, allow_inf_nan=None,
                 max_digits=None, decimal_places=None,
                 examples: list | None = None, example=Undefined, openapi_examples=None,
                 deprecated=None, include_in_schema: bool = True, json_schema_extra=None,
                 media_type: str | None = None, embed: bool | None = None,
                 convert_underscores: bool = True, **extra):
        if default is ...:
            default = Undefined
        self.default = default
        self.default_factory = default_factory
        self.alias = alias or (validation_alias if isinstance(validation_alias, str) else None)
        self.title = title
        self.description = description
        self.gt, self.ge, self.lt, self.le = gt, ge, lt, le
        self.multiple_of = multiple_of
        self.min_length = min_length
        self.max_length = max_length
        self.pattern = pattern if pattern is not None else regex
        self.strict = strict
        self.allow_inf_nan = allow_inf_nan
        self.examples = examples
        # the deprecated single example: FastAPI writes it beside the parameter's
        # schema ("example"), not into it
        self.example = example
        self.openapi_examples = openapi_examples
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.json_schema_extra = json_schema_extra or (extra or None)
        self.media_type = media_type
        self.embed = embed
        self.convert_underscores = convert_underscores

    @property
    def required(self) -> bool:
        return self.default is Undefined and self.default_factory is None

    def get_default(self):
        if self.default_factory is not None:
            return self.default_factory()
        return self.default

    def constraints(self) -> dict:
        """The constraints given, as a dict (name -> value)."""
        return {k: getattr(self, k) for k in _CONSTRAINTS if getattr(self, k) is not None}

    def __repr__(self):
        parts = [] if self.default is Undefined else [f"default={self.default!r}"]
        parts += [f"{k}={v!r}" for k, v in self.constraints().items()]
        if self.alias:
            parts.append(f"alias={self.alias!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def _warn_deprecated(kw: dict) -> None:
    if kw.get("example", Undefined) is not Undefined:
        warnings.warn("`example` has been deprecated, please use `examples` instead",
                      FastAPIDeprecationWarning, stacklevel=4)
    if kw.get("regex") is not None:
        warnings.warn("`regex` has been deprecated, please use `pattern` instead",
                      FastAPIDeprecationWarning, stacklevel=4)


class Param(FieldInfo):
    """Base of the request parameter declarations."""

    def __init__(self, default=Undefined, **kw):
        _warn_deprecated(kw)
        super().__init__(default, **kw)


class Path(Param):
    """A path parameter (``/items/{item_id}``).  Always required."""
    in_ = "path"

    def __init__(self, default=..., **kw):
        super().__init__(default, **kw)


class Query(Param):
    """A query-string parameter.  ``list[...]`` types collect repeated
    names (``?tag=a&tag=b``)."""
    in_ = "query"


class Header(Param):
    """A request header.  ``user_agent`` reads ``user-agent`` unless
    ``convert_underscores=False``.  Header names are case-insensitive."""
    in_ = "header"


class Cookie(Param):
    """A cookie from the ``Cookie`` request header."""
    in_ = "cookie"


class Body(FieldInfo):
    """A value from the JSON request body.  With several body parameters,
    or ``embed=True``, each is read from the key of its name."""
    in_ = "body"

    def __init__(self, default=Undefined, *, embed: bool | None = None,
                 media_type: str = "application/json", **kw):
        _warn_deprecated(kw)
        super().__init__(default, embed=embed, media_type=media_type, **kw)


class Form(Body):
    """A field of an ``application/x-www-form-urlencoded`` or
    ``multipart/form-data`` body."""

    def __init__(self, default=Undefined, *, media_type: str = "application/x-www-form-urlencoded",
                 **kw):
        super().__init__(default, media_type=media_type, **kw)


class File(Form):
    """A file of a ``multipart/form-data`` body (``UploadFile`` or bytes)."""

    def __init__(self, default=Undefined, *, media_type: str = "multipart/form-data", **kw):
        super().__init__(default, media_type=media_type, **kw)


def Field(default=Undefined, **kw):  # noqa: N802 (pydantic's name)
    """Constraints and documentation for a dataclass or TypedDict field,
    used inside ``Annotated`` (``price: Annotated[float, Field(gt=0)]``)."""
    return FieldInfo(default, **kw)


class Depends:
    """Declares a dependency: ``Depends(get_db)``.  The callable's own
    parameters are resolved like an endpoint's; its result is passed in.
    Within one request a dependency runs once (``use_cache=False`` to call
    it every time it is used).  Generator dependencies run their code after
    ``yield`` once the response is ready."""

    __slots__ = ("dependency", "use_cache", "scope")

    def __init__(self, dependency=None, *, use_cache: bool = True, scope: str | None = None):
        self.dependency = dependency
        self.use_cache = use_cache
        self.scope = scope

    def __repr__(self):
        name = getattr(self.dependency, "__name__", type(self.dependency).__name__)
        cache = "" if self.use_cache else ", use_cache=False"
        return f"{type(self).__name__}({name}{cache})"


class Security(Depends):
    """A dependency with OAuth2 scopes (``Security(get_user, scopes=["me"])``);
    endpoints and dependencies receive them through a ``SecurityScopes``
    parameter."""

    __slots__ = ("scopes",)

    def __init__(self, dependency=None, *, scopes=None, use_cache: bool = True):
        super().__init__(dependency, use_cache=use_cache)
        self.scopes = list(scopes or ())


class SecurityScopes:
    """The scopes required by the ``Security`` dependencies on the way to
    this one: ``scopes`` (list) and ``scope_str`` (space separated)."""

    def __init__(self, scopes=None):
        self.scopes = list(scopes or [])
        self.scope_str = " ".join(self.scopes)
