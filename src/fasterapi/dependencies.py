"""Analysis of endpoint and dependency signatures, and the per-request
resolution of parameters and dependencies.

``get_dependant(path, call)`` reads a callable's signature once, at route
compilation: each parameter becomes a ``ParamField`` (path, query, header,
cookie or body, with its compiled validator), a sub-``Dependant`` (for
``Depends``) or a special value (``Request``, ``Response``,
``BackgroundTasks``, ``SecurityScopes``).  ``solve_sync`` and
``solve_async`` fill the keyword arguments for one request.
"""
import copy
import inspect
import re
import types
import typing
from collections import abc

from . import _json
from ._validation import BAD, compile_validator, is_scalar_sequence_type, is_scalar_type, unwrap_annotated
from .background import BackgroundTasks
from .datastructures import UploadFile
from .exceptions import FasterAPIError, RequestValidationError
from .params import Depends, FieldInfo, File, Form, Path, Query, SecurityScopes, Undefined
from .requests import Request, parse_cookies
from .responses import Response
from .websockets import WebSocket

__all__ = ["Dependant", "ParamField", "get_dependant", "path_param_names"]

_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")
_MUTABLE = (list, dict, set)


def path_param_names(path: str) -> set:
    return set(_PATH_PARAM.findall(path))


class ParamField:
    """One request parameter of an endpoint or dependency."""

    __slots__ = ("name", "alias", "in_", "annotation", "info", "validator", "required", "default",
                 "is_seq", "is_form", "is_file")

    def __init__(self, name, alias, in_, annotation, info, validator, required, default, is_seq):
        self.name = name
        self.alias = alias
        self.in_ = in_
        self.annotation = annotation
        self.info = info
        self.validator = validator
        self.required = required
        self.default = default
        self.is_seq = is_seq
        self.is_form = isinstance(info, Form)
        self.is_file = isinstance(info, File) or _mentions_upload(annotation)

    def get_default(self):
        d = self.default
        if self.info is not None and self.info.default_factory is not None:
            return self.info.default_factory()
        if isinstance(d, _MUTABLE):
            return copy.deepcopy(d)
        return d

    def __repr__(self):
        return f"ParamField({self.in_}:{self.alias})"


def _is_list_of_uploads(tp) -> bool:
    base, _ = unwrap_annotated(tp)
    args = typing.get_args(base)
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        return any(_is_list_of_uploads(a) for a in args if a is not type(None))
    return typing.get_origin(base) in (list, set, tuple, frozenset, abc.Sequence) and bool(args) and \
        _mentions_upload(args[0])


def _mentions_upload(tp) -> bool:
    base, _ = unwrap_annotated(tp)
    if base is UploadFile or (isinstance(base, type) and issubclass(base, UploadFile)):
        return True
    return any(_mentions_upload(a) for a in typing.get_args(base) if a is not ...)


class Dependant:
    """A callable (endpoint or dependency) and what it needs."""

    __slots__ = ("call", "name", "path", "use_cache", "scopes", "params", "path_params", "query_params",
                 "header_params", "cookie_params", "body_params", "dependencies", "request_param",
                 "response_param", "background_param", "scopes_param", "kind", "cache_key", "is_async_tree",
                 "security_scopes", "own_async", "depends", "websocket_param")

    def __init__(self, call, name=None, path="", use_cache=True, scopes=None):
        self.call = call
        self.name = name
        self.path = path
        self.use_cache = use_cache
        self.scopes = list(scopes or [])
        self.security_scopes = []
        self.params = []  # ParamField, every source, declaration order
        self.path_params = []
        self.query_params = []
        self.header_params = []
        self.cookie_params = []
        self.body_params = []
        self.dependencies = []
        self.request_param = None
        self.response_param = None
        self.background_param = None
        self.scopes_param = None
        self.kind = _call_kind(call)
        self.cache_key = (call, tuple(sorted(set(self.scopes))))
        self.own_async = self.kind in ("async", "asyncgen")
        self.is_async_tree = self.own_async
        self.depends = None
        self.websocket_param = None

    def flat_body_params(self) -> list:
        out = []
        seen = set()

        def walk(d):
            for p in d.body_params:
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
            for s in d.dependencies:
                walk(s)
        walk(self)
        return out

    def flat_params(self) -> list:
        out = []

        def walk(d):
            for s in d.dependencies:
                walk(s)
            out.extend(d.params)
        walk(self)
        return out

    def __repr__(self):
        return f"Dependant({getattr(self.call, '__name__', self.call)!r})"


def _call_kind(call) -> str:
    """"sync", "async", "gen" or "asyncgen" (classes are "sync": calling
    one builds an instance)."""
    if call is None or inspect.isclass(call):
        return "sync"
    for target in (call, getattr(call, "__call__", None)):
        if target is None:
            continue
        if inspect.isasyncgenfunction(target):
            return "asyncgen"
        if inspect.isgeneratorfunction(target):
            return "gen"
        if inspect.iscoroutinefunction(target):
            return "async"
    return "sync"


def _type_hints(call):
    target = call
    if inspect.isclass(call):
        target = call.__init__
    elif not (inspect.isfunction(call) or inspect.ismethod(call)) and hasattr(call, "__call__"):
        if not hasattr(call, "func"):  # functools.partial keeps .func
            target = call.__call__
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable names: fall back to the raw annotations
        return dict(getattr(target, "__annotations__", {}) or {})


def _is_subclass(tp, cls) -> bool:
    return isinstance(tp, type) and issubclass(tp, cls)


def get_dependant(path: str, call, name=None, use_cache=True, scopes=None, path_names=None) -> Dependant:
    """Analyzes call's signature into a Dependant (see the module doc)."""
    dep = Dependant(call, name=name, path=path, use_cache=use_cache, scopes=scopes)
    if path_names is None:
        path_names = path_param_names(path)
    try:
        sig = inspect.signature(call)
    except (TypeError, ValueError):
        return dep
    hints = _type_hints(call)
    for pname, p in sig.parameters.items():
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        ann = hints.get(pname, p.annotation)
        if ann is inspect.Parameter.empty:
            ann = typing.Any
        base, meta = unwrap_annotated(ann)
        info = None
        depends = None
        for m in meta:
            if isinstance(m, Depends):
                depends = m
            elif isinstance(m, FieldInfo):
                info = m
        default = p.default
        if isinstance(default, Depends):
            depends = default
            default = inspect.Parameter.empty
        elif isinstance(default, FieldInfo):
            if info is not None:
                raise FasterAPIError(f"parameter {pname!r}: give Query()/Body()... either in Annotated "
                                     f"or as the default, not both")
            info = default
            default = inspect.Parameter.empty
        if depends is not None:
            sub_call = depends.dependency if depends.dependency is not None else base
            sub_scopes = list(dep.scopes)
            if getattr(depends, "scopes", None):
                sub_scopes += depends.scopes
            sub = get_dependant(path, sub_call, name=pname, use_cache=depends.use_cache, scopes=sub_scopes,
                                path_names=path_names)
            sub.depends = depends
            dep.dependencies.append(sub)
            if sub.is_async_tree:
                dep.is_async_tree = True
            continue
        if _is_subclass(base, WebSocket):
            dep.websocket_param = pname
            continue
        if _is_subclass(base, Request):
            dep.request_param = pname
            continue
        if _is_subclass(base, Response):
            dep.response_param = pname
            continue
        if _is_subclass(base, BackgroundTasks):
            dep.background_param = pname
            continue
        if _is_subclass(base, SecurityScopes):
            dep.scopes_param = pname
            continue
        field = _make_field(pname, ann, base, info, default, path_names)
        dep.params.append(field)
        getattr(dep, f"{field.in_}_params").append(field)
    return dep


def _make_field(pname, ann, base, info, default, path_names) -> ParamField:
    if info is not None:
        in_ = info.in_
        if pname in path_names and in_ != "path" and info.alias is None:
            in_ = "path" if isinstance(info, Path) else in_
    elif pname in path_names:
        in_ = "path"
        info = Path()
    elif _mentions_upload(ann):
        in_ = "body"
        info = File()
    elif is_scalar_type(ann):
        in_ = "query"
    else:
        in_ = "body"
    # Path() on a name the route's path does not have is accepted, as FastAPI
    # does: never in the request, so its default (or a "missing" error)
    in_path = in_ != "path" or pname in path_names or (info is not None and info.alias in path_names)
    # default: the signature's, else the Param's
    if default is not inspect.Parameter.empty:
        dflt = default
    elif info is not None:
        dflt = info.default
    else:
        dflt = Undefined
    if dflt is ...:
        dflt = Undefined
    required = dflt is Undefined and (info is None or info.default_factory is None)
    if in_ == "path" and in_path:
        required = True
    alias = info.alias if info is not None and info.alias else pname
    if in_ == "header":
        if (info is None or info.convert_underscores) and not (info is not None and info.alias):
            alias = alias.replace("_", "-")
        alias = alias.lower()
    constraints = info.constraints() if info is not None else None
    is_seq = in_ in ("query", "header", "body") and is_scalar_sequence_type(ann)
    if in_ == "body" and not isinstance(info, Form):
        is_seq = False
    elif isinstance(info, Form) and not is_seq:
        is_seq = _is_list_of_uploads(ann)  # list[UploadFile], list[bytes]: every part of that name
    if info is not None and isinstance(info, Query) and not is_scalar_type(ann) and not is_seq:
        raise FasterAPIError(f"query parameter {pname!r}: type {ann!r} cannot come from a query string")
    validator = compile_validator(ann, constraints)
    return ParamField(pname, alias, in_, ann, info, validator, required, dflt, is_seq)


# ---------------------------------------------------------------------------
# per-request state
# ---------------------------------------------------------------------------

class _NotSet:
    __slots__ = ()


NOT_SET = _NotSet()


class RequestContext:
    """Everything one request's resolution needs and collects."""

    __slots__ = ("req", "app", "route", "_request", "_pairs", "_qdict", "_cookies", "cache", "exits", "errors",
                 "sub_response", "background", "body", "form", "overrides")

    def __init__(self, req, app, route):
        self.req = req
        self.app = app
        self.route = route
        self._request = None
        self._pairs = None
        self._qdict = None
        self._cookies = None
        self.cache = {}
        self.exits = None
        self.errors = []
        self.sub_response = None
        self.background = None
        self.body = NOT_SET
        self.form = None
        self.overrides = app.dependency_overrides if app is not None else None

    @property
    def request(self) -> Request:
        r = self._request
        if r is None:
            r = self._request = Request(self.req, self.app)
        return r

    def query_pairs(self):
        if self._pairs is None:
            from .datastructures import parse_query  # noqa: PLC0415
            self._pairs = parse_query(self.req["query"])
        return self._pairs

    def query_dict(self):
        if self._qdict is None:
            self._qdict = dict(self.query_pairs())
        return self._qdict

    def cookies(self):
        if self._cookies is None:
            self._cookies = parse_cookies(self.req["headers"].get("cookie", ""))
        return self._cookies

    def get_sub_response(self):
        if self.sub_response is None:
            self.sub_response = Response()
            self.sub_response.status_code = None
        return self.sub_response

    def get_background(self):
        if self.background is None:
            self.background = BackgroundTasks()
        return self.background


# ---------------------------------------------------------------------------
# body
# ---------------------------------------------------------------------------

def _is_json_content_type(ct: str) -> bool:
    ct = ct.split(";", 1)[0].strip().lower()
    if not ct.startswith("application/"):
        return False
    sub = ct[12:]
    return sub == "json" or sub.endswith("+json")


def read_body(ctx: RequestContext, has_form: bool):
    """Parses the request body once: JSON when the content type says so,
    a form for Form()/File() parameters, raw bytes otherwise.  Raises
    RequestValidationError for malformed JSON (FastAPI's json_invalid)."""
    req = ctx.req
    raw = req["body"]
    if has_form:
        from ._forms import MultipartError, parse_form  # noqa: PLC0415
        from .exceptions import HTTPException  # noqa: PLC0415
        try:
            ctx.form = parse_form(req["headers"].get("content-type", ""), raw)
        except MultipartError as e:
            raise HTTPException(400, str(e)) from None
        except ValueError:
            raise HTTPException(400, "There was an error parsing the body") from None
        ctx.body = ctx.form
        return
    if not raw:
        ctx.body = Undefined
        return
    ct = req["headers"].get("content-type")
    if ct and _is_json_content_type(ct):
        try:
            ctx.body = _json.loads(raw)
        except _json.JSONDecodeError as e:
            raise RequestValidationError([{"type": "json_invalid", "loc": ["body", e.pos], "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": e.msg}}], body=e.doc) from None
        except UnicodeDecodeError:
            # not a JSONDecodeError: FastAPI's "error parsing the body" (400)
            from .exceptions import HTTPException  # noqa: PLC0415
            raise HTTPException(400, "There was an error parsing the body") from None
    else:
        ctx.body = raw


def _missing(ctx, loc):
    ctx.errors.append({"type": "missing", "loc": list(loc), "msg": "Field required", "input": None})


def _put(ctx, kwargs: dict, f, where: str, v) -> None:
    """Validates parameter f's raw value v (None: absent, so its default
    or a "missing" error) into kwargs."""
    if v is None:
        if f.required:
            _missing(ctx, (where, f.alias))
        else:
            kwargs[f.name] = f.get_default()
        return
    r = f.validator(v, (where, f.alias), ctx.errors)
    if r is not BAD:
        kwargs[f.name] = r


def extract_params(dep: Dependant, ctx: RequestContext, kwargs: dict) -> None:
    """Fills kwargs with dep's validated request parameters (errors go to
    ctx.errors)."""
    req = ctx.req
    errors = ctx.errors
    if dep.path_params:
        pp = req["path_params"]
        for f in dep.path_params:
            v = pp.get(f.alias)
            if v is None:
                if f.required:
                    _missing(ctx, ("path", f.alias))
                else:  # a Path() the route's path does not have
                    kwargs[f.name] = f.get_default()
                continue
            r = f.validator(v, ("path", f.alias), errors)
            if r is not BAD:
                kwargs[f.name] = r
    if dep.query_params:
        q = ctx.query_dict() if req["query"] else None
        for f in dep.query_params:
            if f.is_seq:
                vals = [v for k, v in ctx.query_pairs() if k == f.alias] if q else []
                v = vals or None
            else:
                v = q.get(f.alias) if q else None
            _put(ctx, kwargs, f, "query", v)
    if dep.header_params:
        h = req["headers"]
        for f in dep.header_params:
            v = h.get(f.alias)
            if v is not None and f.is_seq:
                v = v.split(", ")
            _put(ctx, kwargs, f, "header", v)
    if dep.cookie_params:
        c = ctx.cookies()
        for f in dep.cookie_params:
            _put(ctx, kwargs, f, "cookie", c.get(f.alias))
    if dep.body_params:
        route = ctx.route
        embed = route.body_embed
        body = ctx.body
        for f in dep.body_params:
            if f.is_form or ctx.form is not None:
                form = ctx.form
                if f.is_seq:
                    vals = form.getlist(f.alias) if form is not None else []
                    v = vals or None
                else:
                    v = form.get(f.alias) if form is not None else None
                loc = ("body", f.alias)
            elif embed:
                v = body.get(f.alias) if isinstance(body, dict) else None
                loc = ("body", f.alias)
            else:
                v = None if body is Undefined else body
                loc = ("body",)
            if v is None:
                if f.required:
                    _missing(ctx, loc)
                else:
                    kwargs[f.name] = f.get_default()
                continue
            r = f.validator(v, loc, errors)
            if r is not BAD:
                kwargs[f.name] = r
    if dep.request_param is not None:
        kwargs[dep.request_param] = ctx.request
    if dep.websocket_param is not None:  # a WebSocket route's context has one (see _websocket)
        kwargs[dep.websocket_param] = getattr(ctx, "websocket", None)
    if dep.response_param is not None:
        kwargs[dep.response_param] = ctx.get_sub_response()
    if dep.background_param is not None:
        kwargs[dep.background_param] = ctx.get_background()
    if dep.scopes_param is not None:
        kwargs[dep.scopes_param] = SecurityScopes(dep.scopes)


# ---------------------------------------------------------------------------
# solving
# ---------------------------------------------------------------------------

def _resolve_override(dep: Dependant, ctx: RequestContext) -> Dependant:
    ov = ctx.overrides
    if not ov:
        return dep
    repl = ov.get(dep.call)
    if repl is None:
        return dep
    cache = ctx.app._override_cache
    key = (repl, dep.path, dep.name, tuple(dep.scopes))
    d = cache.get(key)
    if d is None:
        d = get_dependant(dep.path, repl, name=dep.name, use_cache=dep.use_cache, scopes=dep.scopes)
        cache[key] = d
    return d


def solve_sync(dep: Dependant, ctx: RequestContext):
    """Resolves dep's sub-dependencies (calling them) and parameters; returns
    its keyword arguments, or None when some of them failed validation."""
    n_errors = len(ctx.errors)
    kwargs = {}
    for sub in dep.dependencies:
        name = sub.name
        sub = _resolve_override(sub, ctx)
        cache = ctx.cache
        if sub.use_cache and sub.cache_key in cache:
            if name is not None:
                kwargs[name] = cache[sub.cache_key]
            continue
        sub_kwargs = solve_sync(sub, ctx)
        if sub_kwargs is None:
            continue
        kind = sub.kind
        if kind == "sync":
            value = sub.call(**sub_kwargs)
        elif kind == "gen":
            gen = sub.call(**sub_kwargs)
            value = next(gen)
            if ctx.exits is None:
                ctx.exits = []
            ctx.exits.append(gen)
        else:
            raise RuntimeError("async dependency in a synchronous resolution")  # route is_async_tree guards this
        cache[sub.cache_key] = value
        if name is not None:
            kwargs[name] = value
    extract_params(dep, ctx, kwargs)
    return kwargs if len(ctx.errors) == n_errors else None


async def solve_async(dep: Dependant, ctx: RequestContext):
    """solve_sync's twin for trees with async dependencies."""
    n_errors = len(ctx.errors)
    kwargs = {}
    for sub in dep.dependencies:
        name = sub.name
        sub = _resolve_override(sub, ctx)
        cache = ctx.cache
        if sub.use_cache and sub.cache_key in cache:
            if name is not None:
                kwargs[name] = cache[sub.cache_key]
            continue
        sub_kwargs = await solve_async(sub, ctx) if sub.is_async_tree else solve_sync(sub, ctx)
        if sub_kwargs is None:
            continue
        kind = sub.kind
        if kind == "sync":
            value = sub.call(**sub_kwargs)
            if inspect.isawaitable(value):
                value = await value
        elif kind == "async":
            value = await sub.call(**sub_kwargs)
        elif kind == "gen":
            gen = sub.call(**sub_kwargs)
            value = next(gen)
            if ctx.exits is None:
                ctx.exits = []
            ctx.exits.append(gen)
        else:
            agen = sub.call(**sub_kwargs)
            value = await agen.__anext__()
            if ctx.exits is None:
                ctx.exits = []
            ctx.exits.append(agen)
        cache[sub.cache_key] = value
        if name is not None:
            kwargs[name] = value
    extract_params(dep, ctx, kwargs)
    return kwargs if len(ctx.errors) == n_errors else None


def unwind_sync(exits: list, exc):
    """Finishes generator dependencies, last first.  exc (or None) is thrown
    into them; returns the exception left to handle (None when handled or
    there was none)."""
    for gen in reversed(exits):
        if exc is None:
            try:
                next(gen)
            except StopIteration:
                continue
            except Exception as e:  # noqa: BLE001
                exc = e
                continue
            exc = RuntimeError("a dependency with yield yielded more than once")
        else:
            try:
                gen.throw(exc)
            except StopIteration:
                exc = None
            except Exception as e:  # noqa: BLE001
                exc = e
            else:
                exc = RuntimeError("a dependency with yield yielded again after an exception")
    return exc


async def unwind_async(exits: list, exc):
    """unwind_sync for trees that hold async generators too."""
    for gen in reversed(exits):
        is_async = inspect.isasyncgen(gen)
        if exc is None:
            try:
                if is_async:
                    await gen.__anext__()
                else:
                    next(gen)
            except (StopIteration, StopAsyncIteration):
                continue
            except Exception as e:  # noqa: BLE001
                exc = e
                continue
            exc = RuntimeError("a dependency with yield yielded more than once")
        else:
            try:
                if is_async:
                    await gen.athrow(exc)
                else:
                    gen.throw(exc)
            except (StopIteration, StopAsyncIteration):
                exc = None
            except Exception as e:  # noqa: BLE001
                exc = e
            else:
                exc = RuntimeError("a dependency with yield yielded again after an exception")
    return exc
