"""Routes and routers: ``APIRouter``, ``APIRoute``, and the request pipeline
of one route (resolve parameters and dependencies, call the endpoint, build
the response, finish generator dependencies, run background tasks).

A route's pipeline is plain synchronous code when the endpoint and all its
dependencies are synchronous; otherwise it is a coroutine, which the native
layer runs inline until it suspends (then as a Task on the worker's event
loop).
"""
import inspect
import re
import types
import typing
import warnings
from urllib.parse import unquote

from . import _json
from ._validation import BAD, compile_validator, pydantic_body_model, pydantic_dumper, unwrap_annotated
from .datastructures import Default, DefaultPlaceholder, parse_query
from .dependencies import (Dependant, RequestContext, _is_json_content_type, get_dependant, read_body, solve_async,
                           solve_sync, unwind_async, unwind_sync)
from .encoders import jsonable_encoder
from .exceptions import FasterAPIError, RequestValidationError, ResponseValidationError
from .responses import FileResponse, JSONResponse, Response, StreamingResponse, apply_file_conditions

__all__ = ["APIRouter", "APIRoute", "BaseRoute", "Mount", "Route", "generate_unique_id"]

_CONVERTORS = {
    "str": r"[^/]+",
    "int": r"[0-9]+",
    "float": r"[0-9]+(?:\.[0-9]+)?",
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "path": r".+",
}
_PARAM_SEG = re.compile(r"^{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?}$")
_NO_BODY_STATUSES = frozenset((204, 205, 304))
_RESPONSE_LOC = ("response",)


_SWALLOWED = ("the endpoint raised an exception, and a dependency with yield caught it (a bare except, or except "
              "Exception) without raising it again, so there is no response to send: re-raise it (or raise "
              "HTTPException) in the dependency's except block")


def body_allowed(status: int) -> bool:
    return status >= 200 and status not in _NO_BODY_STATUSES


def compile_path(path: str):
    """FastAPI path syntax -> (native pattern, regex, convertor map, format).

    ``{name}``, ``{name:str|int|float|uuid}`` and ``{name:path}`` (last).  A
    parameter must be a whole path segment (the native router's rule)."""
    if not path.startswith("/"):
        raise FasterAPIError(f"route paths must start with '/': {path!r}")
    segs = path.split("/")[1:]
    native, rx, convs = [], [], {}
    for i, seg in enumerate(segs):
        if "{" not in seg and "}" not in seg:
            native.append(seg)
            rx.append(re.escape(seg))
            continue
        m = _PARAM_SEG.match(seg)
        if not m:
            raise FasterAPIError(f"path {path!r}: a parameter must be a whole segment, like /{{name}}/")
        name, conv = m.group(1), m.group(2) or "str"
        if conv not in _CONVERTORS:
            raise FasterAPIError(f"path {path!r}: unknown convertor {conv!r}")
        if conv == "path" and i != len(segs) - 1:
            raise FasterAPIError(f"path {path!r}: {{{name}:path}} must be the last segment")
        if name in convs:
            raise FasterAPIError(f"path {path!r}: parameter {name!r} appears twice")
        convs[name] = conv
        native.append(f"{{{name}:path}}" if conv == "path" else f"{{{name}}}")
        rx.append(f"(?P<{name}>{_CONVERTORS[conv]})")
    native_path = "/" + "/".join(native)
    regex = re.compile("^/" + "/".join(rx) + "$") if convs else None
    fmt = re.sub(r"{([^}:]+):[^}]+}", r"{\1}", path)
    return native_path, regex, convs, fmt


def generate_unique_id(route) -> str:
    """The default operationId: the endpoint name, the path and the method,
    with every non-word character replaced by '_' (FastAPI's format)."""
    op = re.sub(r"\W", "_", f"{route.name}{route.path_format}")
    return f"{op}_{sorted(route.methods)[0].lower()}"


class BaseRoute:
    """Anything the router matches: has ``path``, ``methods``, ``name``."""
    include_in_schema = False


class FileBody:
    """A response body to send from a file (res['file'] for the native layer)."""

    __slots__ = ("path",)

    def __init__(self, path):
        self.path = path


class CallNextRes(dict):
    """The res a middleware's call_next has the route fill; it becomes the
    Response the middleware gets.  FileResponse conditions are applied to
    the res the server sends instead, after the middleware: call_next gives
    the whole file's response."""

    __slots__ = ()


def _after_sync(app, bg, exits):
    """res['after'] of a route without async dependencies: once the answer
    is written, the background tasks, then the exit code of the generator
    dependencies (as FastAPI does since 0.118: its request-scoped exit stack
    closes after the response was sent).  Returns None, or a coroutine for
    the rest when a background task is async."""
    pending = app._run_background(bg) if bg is not None and bg.tasks else None
    if pending is not None:
        return _after_async(app, None, exits, pending)
    if exits:
        exc = unwind_sync(exits, None)
        if exc is not None:
            _log_after_error(exc)
    return None


async def _after_async(app, bg, exits, pending=None):
    """_after_sync for routes whose dependencies may be async generators."""
    if pending is None and bg is not None and bg.tasks:
        pending = app._run_background(bg)
    if pending is not None:
        await pending
    if exits:
        exc = await unwind_async(exits, None)
        if exc is not None:
            _log_after_error(exc)


def _log_after_error(exc):
    # the answer is gone: the error can only be logged
    import logging
    logging.getLogger("fasterapi.error").error("A dependency's exit code raised after the response was sent",
                                               exc_info=(type(exc), exc, exc.__traceback__))


def _set_after(res, app, ctx, is_async):
    bg = ctx.background
    if ctx.exits or (bg is not None and bg.tasks):
        if is_async:
            res["after"] = lambda: _after_async(app, bg, ctx.exits)
        else:
            res["after"] = lambda: _after_sync(app, bg, ctx.exits)


def _emit(res: dict, out, req: dict) -> None:
    """Fills res from a response tuple.  A file body gets its conditional
    and range handling here, where it becomes res['file']: 304, 206 or 416
    (apply_file_conditions), which needs the request."""
    status, ct, body, headers = out
    res["status"] = status
    if ct is not None:
        res["content_type"] = ct
    if headers:
        res["headers"] = headers
    if body:
        if type(body) is FileBody:
            res["file"] = body.path
            if type(res) is not CallNextRes:
                apply_file_conditions(req, res)
        else:
            res["body"] = body


def response_tuple(resp: Response):
    """(status, content type, body, [(name, value)]) of a Response; body is
    bytes, an iterable of chunks (StreamingResponse) or a FileBody."""
    ct = None
    headers = []
    for k, v in resp.headers.items():
        if k == "content-type":
            ct = v
        elif k != "content-length":
            headers.append((k, v))
    if not body_allowed(resp.status_code):
        body = b""
    elif isinstance(resp, StreamingResponse):
        body = resp.body_iterator
    elif isinstance(resp, FileResponse):
        body = FileBody(resp.path)
    else:
        body = resp.body
    return (resp.status_code, ct, body, headers)


class APIRoute(BaseRoute):
    """One path operation: an endpoint for a path and a set of methods."""

    def __init__(self, path: str, endpoint, *, response_model=Default(None), status_code: int | None = None,
                 tags=None, dependencies=None, summary: str | None = None, description: str | None = None,
                 response_description: str = "Successful Response", responses=None, deprecated=None,
                 name: str | None = None, methods=None, operation_id: str | None = None,
                 response_model_include=None, response_model_exclude=None, response_model_by_alias: bool = True,
                 response_model_exclude_unset: bool = False, response_model_exclude_defaults: bool = False,
                 response_model_exclude_none: bool = False, include_in_schema: bool = True,
                 response_class=Default(JSONResponse), dependency_overrides_provider=None, callbacks=None,
                 openapi_extra=None, generate_unique_id_function=Default(generate_unique_id),
                 pooled: bool = False, **_extra):
        self.path = path
        self.endpoint = endpoint
        self.native_path, self.regex, self.convertors, self.path_format = compile_path(path)
        self.methods = {m.upper() for m in (methods or ["GET"])}
        self.name = name or getattr(endpoint, "__name__", type(endpoint).__name__)
        self.status_code = int(status_code) if status_code is not None else None
        self.tags = list(tags or [])
        self.dependencies = list(dependencies or [])
        self.summary = summary
        doc = inspect.cleandoc(endpoint.__doc__ or "") if description is None else description
        self.description = doc.split("\f")[0].strip() if doc else doc
        self.response_description = response_description
        self.responses = dict(responses or {})
        self.deprecated = deprecated
        self.operation_id = operation_id
        self.response_model_include = response_model_include
        self.response_model_exclude = response_model_exclude
        self.response_model_by_alias = response_model_by_alias
        self.response_model_exclude_unset = response_model_exclude_unset
        self.response_model_exclude_defaults = response_model_exclude_defaults
        self.response_model_exclude_none = response_model_exclude_none
        self.include_in_schema = include_in_schema
        # FastAPI serializes a response_model with pydantic's dump_json only when
        # the response class was left to its default (serialize_response)
        self._default_response_class = isinstance(response_class, DefaultPlaceholder)
        self.response_class = response_class.value if isinstance(response_class, DefaultPlaceholder) \
            else response_class
        self.callbacks = callbacks
        self.openapi_extra = openapi_extra
        self.pooled = bool(pooled)
        gen = generate_unique_id_function.value if isinstance(generate_unique_id_function, DefaultPlaceholder) \
            else generate_unique_id_function
        self.unique_id = self.operation_id or gen(self)
        if isinstance(response_model, DefaultPlaceholder):
            response_model = self._model_from_return_annotation()
        self.response_model = response_model
        self._dependant = None
        self._compiled = False

    def _model_from_return_annotation(self):
        try:
            hints = typing.get_type_hints(self.endpoint, include_extras=True)
        except Exception:  # noqa: BLE001
            return None
        ann = hints.get("return")
        if ann is None or ann is type(None):
            return None
        base, _ = unwrap_annotated(ann)
        origin = typing.get_origin(base)
        args = typing.get_args(base) if origin is not None else ()
        for t in (base, *args):
            if isinstance(t, type) and issubclass(t, Response):
                return None
        if base is typing.Any or (inspect.isclass(base) and base.__module__ == "builtins"
                                  and base not in (dict, list, set, tuple, str, int, float, bool)):
            return None
        return ann

    # -- compilation (first request or app.run) ------------------------------------
    @property
    def dependant(self) -> Dependant:
        if self._dependant is None:
            dep = get_dependant(self.path_format, self.endpoint)
            for d in reversed(self.dependencies):
                sub = get_dependant(self.path_format, d.dependency, name=None, use_cache=d.use_cache,
                                    scopes=getattr(d, "scopes", None))
                sub.depends = d
                dep.dependencies.insert(0, sub)
                if sub.is_async_tree:
                    dep.is_async_tree = True
            self._dependant = dep
        return self._dependant

    def compile(self):
        """Analyzes the endpoint and prepares the pipeline (idempotent)."""
        if self._compiled:
            return self
        dep = self.dependant
        body = dep.flat_body_params()
        self.body_fields = body
        self.has_form = any(f.is_form or f.is_file for f in body)
        self.body_embed = len(body) > 1 or any(f.info is not None and f.info.embed for f in body)
        self.needs_body = bool(body)
        self.is_async = dep.is_async_tree
        # An async endpoint that takes the Request and declares no body
        # parameter reads the body itself (await request.body() / .json() /
        # .form(), or request.stream()): the server then hands it over as it
        # arrives instead of collecting it first (no max_body_size either).
        self.streams_body = (self.is_async and not body and dep.request_param is not None
                             and not self.pooled)
        rm = self.response_model
        self.response_validator = compile_validator(rm) if rm is not None else None
        # a pydantic response model (main interpreter) is serialized by pydantic, with every
        # response_model_* option, as in FastAPI
        self.response_dump = pydantic_dumper(
            rm, include=self.response_model_include, exclude=self.response_model_exclude,
            by_alias=self.response_model_by_alias, exclude_unset=self.response_model_exclude_unset,
            exclude_defaults=self.response_model_exclude_defaults,
            exclude_none=self.response_model_exclude_none) if rm is not None else None
        self.fast_json = self.response_class is JSONResponse
        self.filters = self.response_dump is None and bool(
            self.response_model_include or self.response_model_exclude or self.response_model_exclude_none)
        # FastAPI (0.165) writes a response_model's JSON with the model's
        # TypeAdapter.dump_json when the route's response class is the default
        # one: pydantic-core's serializer, no Python dict on the way.  The
        # same here, on the fast and the general path alike.
        self.response_dump_json = pydantic_dumper(
            rm, json=True, include=self.response_model_include, exclude=self.response_model_exclude,
            by_alias=self.response_model_by_alias, exclude_unset=self.response_model_exclude_unset,
            exclude_defaults=self.response_model_exclude_defaults,
            exclude_none=self.response_model_exclude_none) \
            if rm is not None and self.fast_json and self._default_response_class else None
        # one pydantic model as the whole JSON body: validated from the bytes
        # on the fast path (see _make_fast_handler)
        self.body_model = pydantic_body_model(body[0]) if len(body) == 1 and not self.body_embed \
            and not self.has_form else None
        self._compiled = True
        if (not self.is_async and not dep.dependencies and (not body or self.body_model is not None)
                and dep.request_param is None
                and dep.response_param is None and dep.background_param is None and dep.scopes_param is None
                and not dep.cookie_params and (self.response_validator is None or self.response_dump_json is not None)
                and self.fast_json
                and not self.filters and body_allowed(self.status_code or 200) and dep.kind == "sync"):
            self.handle = self._make_fast_handler()
        return self

    def _make_fast_handler(self):
        """The pipeline of a route with only path, query and header
        parameters, a synchronous endpoint and a JSON answer: no context
        object, no dependency machinery.  Anything unusual (a validation
        error, an exception, a Response returned) goes to the general path."""
        dep = self.dependant
        endpoint = self.endpoint
        general = APIRoute.handle.__get__(self)
        finish = self._finish_general
        status = self.status_code or 200
        # (name, alias, validator, error location, ...): the location tuples are built once
        pspecs = [(f.name, f.alias, f.validator, ("path", f.alias)) for f in dep.path_params]
        qspecs = [(f.name, f.alias, f.validator, f.required, f.is_seq, f, ("query", f.alias))
                  for f in dep.query_params]
        hspecs = [(f.name, f.alias, f.validator, f.required, f.is_seq, f, ("header", f.alias))
                  for f in dep.header_params]
        # validators append to it only when they fail, and then the general path starts over:
        # one list serves every call
        errors = []
        dumps = _json.dumps
        parse = parse_query
        coro_type = types.CoroutineType
        if self.body_model is not None:
            body_name = self.body_fields[0].name
            # pydantic's validator of the model, straight from the JSON bytes; any failure
            # (malformed JSON, invalid data) goes to the general path, which parses the
            # body with json.loads and validates the Python data as FastAPI does, so the
            # 422 answer is FastAPI's
            validate_body = self.body_model.__pydantic_validator__.validate_json
            json_type = _is_json_content_type
        else:
            body_name = None
        # a pydantic response model: validated (from_attributes, as FastAPI's
        # field.validate) then written by pydantic-core; a failed validation goes
        # to the general path's build_response, which raises ResponseValidationError
        check_result = self.response_validator
        dump_result = self.response_dump_json

        def handle(app, req, res):
            kwargs = {}
            if body_name is not None:
                raw = req["body"]
                ct = req["headers"].get("content-type")
                if not raw or not ct or (ct != "application/json" and not json_type(ct)):
                    return general(app, req, res)
                try:
                    kwargs[body_name] = validate_body(raw)
                except ValueError:  # pydantic's ValidationError is one
                    return general(app, req, res)
            if pspecs:
                pp = req["path_params"]
                for name, alias, v, loc in pspecs:
                    r = v(pp.get(alias), loc, errors)
                    if r is BAD:
                        errors.clear()
                        return general(app, req, res)
                    kwargs[name] = r
            if qspecs:
                q = req["query"]
                pairs = parse(q) if q else ()
                qd = dict(pairs) if pairs else None
                for name, alias, v, required, is_seq, f, loc in qspecs:
                    if is_seq:
                        val = [b for a, b in pairs if a == alias] or None
                    else:
                        val = qd.get(alias) if qd else None
                    if val is None:
                        if required:
                            return general(app, req, res)
                        kwargs[name] = f.get_default()
                        continue
                    r = v(val, loc, errors)
                    if r is BAD:
                        errors.clear()
                        return general(app, req, res)
                    kwargs[name] = r
            if hspecs:
                h = req["headers"]
                for name, alias, v, required, is_seq, f, loc in hspecs:
                    val = h.get(alias)
                    if val is None:
                        if required:
                            return general(app, req, res)
                        kwargs[name] = f.get_default()
                        continue
                    r = v(val.split(", ") if is_seq else val, loc, errors)
                    if r is BAD:
                        errors.clear()
                        return general(app, req, res)
                    kwargs[name] = r
            try:
                result = endpoint(**kwargs)
                if type(result) is coro_type or isinstance(result, Response):
                    return finish(app, req, res, result)
                if check_result is not None:
                    value = check_result(result, _RESPONSE_LOC, errors)
                    if value is BAD:
                        errors.clear()
                        return finish(app, req, res, result)
                    body = dump_result(value)
                else:
                    body = dumps(result)
            except Exception as exc:  # noqa: BLE001
                return app._error_response(RequestContext(req, app, self), exc, res)
            res["status"] = status
            res["content_type"] = "application/json"
            res["body"] = body
            return None
        return handle

    def _finish_general(self, app, req, res, result):
        ctx = RequestContext(req, app, self)
        if inspect.isawaitable(result):
            return self._continue_async(app, ctx, result, res)
        try:
            out = self.build_response(result, ctx)
        except Exception as exc:  # noqa: BLE001
            return app._error_response(ctx, exc, res)
        _emit(res, out, req)
        _set_after(res, app, ctx, False)
        return None

    def matches(self, path: str):
        """The path parameters (decoded) if path matches, else None."""
        if self.regex is None:
            return {} if path == self.native_path else None
        m = self.regex.match(path)
        if m is None:
            return None
        return {k: unquote(v, errors="surrogateescape") for k, v in m.groupdict().items()}

    def convertors_ok(self, path_params: dict) -> bool:
        for name, conv in self.convertors.items():
            if conv in ("str", "path"):
                continue
            v = path_params.get(name, "")
            if not re.fullmatch(_CONVERTORS[conv], v):
                return False
        return True

    # -- the pipeline --------------------------------------------------------------
    def handle(self, app, req: dict, res: dict):
        """Runs the route for one request, filling res.  Returns None, or a
        coroutine that finishes the work (async parts)."""
        if not self._compiled:
            self.compile()
        if self.is_async:
            return self.handle_async(app, req, res)
        ctx = RequestContext(req, app, self)
        try:
            if self.needs_body:
                read_body(ctx, self.has_form)
            kwargs = solve_sync(self.dependant, ctx)
            if kwargs is None:
                raise RequestValidationError(ctx.errors, body=_body_for_error(ctx))
            result = self.endpoint(**kwargs)
            if inspect.isawaitable(result):
                return self._continue_async(app, ctx, result, res)
            out = self.build_response(result, ctx)
        except Exception as exc:  # noqa: BLE001 - every error becomes a response
            if ctx.exits:
                exc = unwind_sync(ctx.exits, exc)
                ctx.exits = None
                if exc is None:
                    exc = FasterAPIError(_SWALLOWED)
            return app._error_response(ctx, exc, res)
        _emit(res, out, req)
        _set_after(res, app, ctx, False)  # background tasks, then dependency exits
        return None

    async def handle_async(self, app, req: dict, res: dict):
        ctx = RequestContext(req, app, self)
        await self._run_async(app, ctx, res, None)

    async def _continue_async(self, app, ctx, awaitable, res):
        await self._run_async(app, ctx, res, awaitable)

    async def _run_async(self, app, ctx, res, awaitable):
        try:
            if awaitable is None:
                if self.needs_body:
                    read_body(ctx, self.has_form)
                kwargs = await solve_async(self.dependant, ctx)
                if kwargs is None:
                    raise RequestValidationError(ctx.errors, body=_body_for_error(ctx))
                result = self.endpoint(**kwargs)
                if inspect.isawaitable(result):
                    result = await result
            else:
                result = await awaitable
            out = self.build_response(result, ctx)
        except Exception as exc:  # noqa: BLE001
            if ctx.exits:
                exc = await unwind_async(ctx.exits, exc)
                ctx.exits = None
                if exc is None:
                    exc = FasterAPIError(_SWALLOWED)
            r = app._error_response(ctx, exc, res)
            if r is not None:
                await r
            return
        _emit(res, out, ctx.req)
        _set_after(res, app, ctx, True)  # background tasks, then dependency exits

    def build_response(self, result, ctx):
        """The endpoint's return value -> response tuple."""
        if isinstance(result, Response):
            if result.background is not None:
                bg = ctx.get_background()
                bg.tasks.append(result.background)
            return response_tuple(result)
        status = self.status_code or 200
        sub = ctx.sub_response
        if sub is not None and sub.status_code:
            status = sub.status_code
        if self.response_validator is not None:
            errors = []
            result = self.response_validator(result, ("response",), errors)
            if result is BAD:
                raise ResponseValidationError(errors)
        if self.response_dump_json is not None:
            # FastAPI's dump_json path: pydantic writes the bytes
            if not body_allowed(status):
                out = (status, "application/json", b"", None)
            else:
                out = (status, "application/json", self.response_dump_json(result), None)
            return self._add_sub_headers(out, sub)
        if self.response_dump is not None:
            result = self.response_dump(result)
        elif self.filters:
            result = jsonable_encoder(result, include=self.response_model_include,
                                      exclude=self.response_model_exclude,
                                      exclude_none=self.response_model_exclude_none)
        if self.fast_json:
            if not body_allowed(status):
                # no body, but JSONResponse's content type all the same, as in FastAPI
                out = (status, "application/json", b"", None)
            else:
                out = (status, "application/json", _json.dumps(result), None)
        else:
            if body_allowed(status):
                resp = self.response_class(result, status_code=status)
            else:
                resp = self.response_class(None, status_code=status)
            out = response_tuple(resp)
        return self._add_sub_headers(out, sub)

    @staticmethod
    def _add_sub_headers(out, sub):
        """out with the headers the endpoint set on its Response parameter."""
        if sub is not None and sub.headers:
            extra = [(k, v) for k, v in sub.headers.items() if k != "content-length"]
            status_, ct, body, headers = out
            for k, v in extra:
                if k == "content-type":
                    ct = v
            headers = list(headers or ()) + [(k, v) for k, v in extra if k != "content-type"]
            out = (status_, ct, body, headers)
        return out

    def __repr__(self):
        return f"APIRoute(path={self.path!r}, name={self.name!r}, methods={sorted(self.methods)!r})"


def _body_for_error(ctx):
    b = ctx.body
    return None if b is None or b.__class__.__name__ in ("_NotSet", "_UndefinedType") else b


class Route(BaseRoute):
    """A plain route: ``endpoint(request)`` returns a Response (Starlette
    style, added with ``add_route``); no parameter parsing, no schema."""

    def __init__(self, path, endpoint, *, methods=None, name=None, include_in_schema=False):
        self.path = path
        self.endpoint = endpoint
        self.native_path, self.regex, self.convertors, self.path_format = compile_path(path)
        self.methods = {m.upper() for m in (methods or ["GET"])}
        self.name = name or getattr(endpoint, "__name__", "route")
        self.include_in_schema = include_in_schema
        self.pooled = False
        self.is_async = inspect.iscoroutinefunction(endpoint)
        self.streams_body = self.is_async  # it gets the Request: its body arrives as it comes

    matches = APIRoute.matches
    convertors_ok = APIRoute.convertors_ok

    def compile(self):
        return self

    def handle(self, app, req, res):
        from .dependencies import RequestContext  # noqa: PLC0415
        ctx = RequestContext(req, app, self)
        if self.is_async:
            return self._handle_async(app, ctx, res)
        try:
            out = self.endpoint(ctx.request)
            if inspect.isawaitable(out):
                return self._finish(app, ctx, out, res)
            _emit(res, response_tuple(out), ctx.req)
        except Exception as exc:  # noqa: BLE001
            return app._error_response(ctx, exc, res)
        return None

    async def _handle_async(self, app, ctx, res):
        await self._finish(app, ctx, self.endpoint(ctx.request), res)

    async def _finish(self, app, ctx, awaitable, res):
        try:
            out = await awaitable
            _emit(res, response_tuple(out), ctx.req)
        except Exception as exc:  # noqa: BLE001
            r = app._error_response(ctx, exc, res)
            if r is not None:
                await r


_MOUNT_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"))


class Mount(BaseRoute):
    """An application answering everything under a path prefix
    (``app.mount("/sub", subapp)``): another FastAPI app, a StaticFiles,
    or anything with ``get_response(path, method, request_path)``.

    The mounted app sees the path without the prefix and the prefix as its
    ``root_path`` (its /openapi.json lists it in ``servers``, as FastAPI's
    does); ``request.url`` stays the full URL.  The prefix alone is
    redirected to prefix + "/" by the usual trailing-slash rule."""

    def __init__(self, path: str, app, name: str | None = None):
        path = path.rstrip("/")
        if not path.startswith("/"):
            raise FasterAPIError(f"mount paths must start with '/': {path!r}")
        if "{" in path:
            raise FasterAPIError(f"mount path {path!r}: parameters in a mount path are not supported")
        self.path = path
        self.app = app
        self.name = name
        self.native_path, self.regex, self.convertors, self.path_format = compile_path(path + "/{path:path}")
        self.convertors = {}
        self.methods = set(_MOUNT_METHODS)
        self.include_in_schema = False
        self.pooled = False
        self.is_async = True  # a sub-app's routes may be async: run where coroutines can
        self.streams_body = False

    def matches(self, path: str):
        prefix = self.path + "/"
        if path.startswith(prefix):
            return {"path": path[len(prefix):]}
        return None

    def convertors_ok(self, params) -> bool:
        return True

    def compile(self):
        return self

    def handle(self, app, req, res):
        sub_path = req["path"][len(self.path):] or "/"
        child = dict(req)
        child["path"] = sub_path
        child["route"] = None
        child["path_params"] = {}
        above = req["root_path"] if "root_path" in req else (getattr(app, "root_path", "") or "")
        child["root_path"] = above + self.path
        target = self.app
        if hasattr(target, "_handle"):  # a FastAPI application
            return target._handle(child, res)
        from .dependencies import RequestContext  # noqa: PLC0415
        ctx = RequestContext(child, app, self)
        try:
            # the file name percent-decoded, as Starlette's decoded scope path gives it
            # (StaticFiles still refuses whatever resolves outside its directory)
            out = target.get_response(unquote(sub_path).lstrip("/"), req["method"], req["path"])
            _emit(res, response_tuple(out), child)
        except Exception as exc:  # noqa: BLE001 - its HTTPExceptions go to the app's handlers
            return app._error_response(ctx, exc, res)
        return None

    def __repr__(self):
        return f"Mount(path={self.path!r}, name={self.name!r}, app={self.app!r})"


def _warn_on_event():
    # FastAPI marks both FastAPI.on_event and APIRouter.on_event deprecated
    # (app.on_event calls the router's, so it warns twice there too)
    warnings.warn("on_event is deprecated, use lifespan event handlers instead", DeprecationWarning, stacklevel=3)


def _merge(a, b):
    return list(a or []) + list(b or [])


class APIRouter:
    """A group of routes with a common ``prefix``, ``tags``,
    ``dependencies`` and ``responses``, included in an app (or another
    router) with ``include_router``.

    ``pooled=True`` sends this router's synchronous endpoints to the pooled
    worker threads, where they may block (sleep, blocking I/O) without
    stalling an event loop; each route can also say ``pooled=`` itself.
    """

    def __init__(self, *, prefix: str = "", tags=None, dependencies=None,
                 default_response_class=Default(JSONResponse), responses=None, callbacks=None, routes=None,
                 redirect_slashes: bool = True, default=None, dependency_overrides_provider=None,
                 route_class=APIRoute, on_startup=None, on_shutdown=None, lifespan=None, deprecated=None,
                 include_in_schema: bool = True, generate_unique_id_function=Default(generate_unique_id),
                 pooled: bool = False, **_extra):
        if prefix:
            if not prefix.startswith("/"):
                raise FasterAPIError("a router prefix must start with '/'")
            if prefix.endswith("/"):
                raise FasterAPIError("a router prefix must not end with '/'")
        self.prefix = prefix
        self.tags = list(tags or [])
        self.dependencies = list(dependencies or [])
        self.default_response_class = default_response_class
        self.responses = dict(responses or {})
        self.callbacks = callbacks
        self.routes = list(routes or [])
        self.redirect_slashes = redirect_slashes
        self.route_class = route_class
        self.on_startup = list(on_startup or [])
        self.on_shutdown = list(on_shutdown or [])
        self.lifespan_context = lifespan
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.generate_unique_id_function = generate_unique_id_function
        self.pooled = pooled
        self._version = 0

    # -- adding routes -------------------------------------------------------------
    def add_api_route(self, path: str, endpoint, *, response_model=Default(None), status_code=None, tags=None,
                      dependencies=None, summary=None, description=None,
                      response_description="Successful Response", responses=None, deprecated=None,
                      methods=None, operation_id=None, response_model_include=None,
                      response_model_exclude=None, response_model_by_alias=True,
                      response_model_exclude_unset=False, response_model_exclude_defaults=False,
                      response_model_exclude_none=False, include_in_schema=True,
                      response_class=Default(JSONResponse), name=None, route_class_override=None,
                      callbacks=None, openapi_extra=None, generate_unique_id_function=Default(generate_unique_id),
                      pooled: bool | None = None, **extra):
        """Adds a route for endpoint (what the method decorators call)."""
        route_class = route_class_override or self.route_class
        if isinstance(response_class, DefaultPlaceholder) and not isinstance(self.default_response_class,
                                                                             DefaultPlaceholder):
            response_class = self.default_response_class
        if isinstance(generate_unique_id_function, DefaultPlaceholder):
            generate_unique_id_function = self.generate_unique_id_function
        route = route_class(
            self.prefix + path, endpoint, response_model=response_model, status_code=status_code,
            tags=self.tags + list(tags or []), dependencies=self.dependencies + list(dependencies or []),
            summary=summary, description=description, response_description=response_description,
            responses={**self.responses, **(responses or {})},
            deprecated=deprecated if deprecated is not None else self.deprecated, name=name, methods=methods,
            operation_id=operation_id, response_model_include=response_model_include,
            response_model_exclude=response_model_exclude, response_model_by_alias=response_model_by_alias,
            response_model_exclude_unset=response_model_exclude_unset,
            response_model_exclude_defaults=response_model_exclude_defaults,
            response_model_exclude_none=response_model_exclude_none,
            include_in_schema=include_in_schema and self.include_in_schema, response_class=response_class,
            callbacks=callbacks, openapi_extra=openapi_extra,
            generate_unique_id_function=generate_unique_id_function,
            pooled=self.pooled if pooled is None else pooled, **extra)
        self.routes.append(route)
        self._version += 1
        return route

    def api_route(self, path: str, *, methods=None, **kwargs):
        """Decorator: ``@router.api_route("/x", methods=["GET", "POST"])``."""
        def decorator(func):
            self.add_api_route(path, func, methods=methods, **kwargs)
            return func
        return decorator

    def add_route(self, path: str, endpoint, methods=None, name=None, include_in_schema=False):
        """Adds a plain route: endpoint(request) -> Response."""
        self.routes.append(Route(self.prefix + path, endpoint, methods=methods, name=name,
                                 include_in_schema=include_in_schema))
        self._version += 1

    def route(self, path: str, methods=None, name=None, include_in_schema=False):
        """Decorator form of add_route."""
        def decorator(func):
            self.add_route(path, func, methods=methods, name=name, include_in_schema=include_in_schema)
            return func
        return decorator

    def _method(method):  # noqa: N805 - builds the get/post/... decorators
        def decorator_factory(self, path: str, **kwargs):
            def decorator(func):
                self.add_api_route(path, func, methods=[method], **kwargs)
                return func
            return decorator
        decorator_factory.__name__ = method.lower()
        decorator_factory.__doc__ = (f"Decorator: the function answers {method} requests on path.  Keywords: "
                                     "response_model, status_code, tags, dependencies, summary, description, "
                                     "response_description, responses, deprecated, operation_id, "
                                     "response_class, name, include_in_schema, openapi_extra, pooled.")
        return decorator_factory

    get = _method("GET")
    put = _method("PUT")
    post = _method("POST")
    delete = _method("DELETE")
    options = _method("OPTIONS")
    head = _method("HEAD")
    patch = _method("PATCH")
    trace = _method("TRACE")
    del _method

    def mount(self, path: str, app, name: str | None = None) -> None:
        """Mounts app (a FastAPI app, StaticFiles...) under path (see Mount)."""
        self.routes.append(Mount(self.prefix + path, app, name=name))
        self._version += 1

    def add_api_websocket_route(self, path: str, endpoint, name: str | None = None, *, dependencies=None):
        """Adds a WebSocket endpoint (``async def endpoint(websocket: WebSocket,
        ...)``) for path, under this router's prefix and dependencies."""
        from ._websocket import APIWebSocketRoute  # noqa: PLC0415 - it imports this module
        route = APIWebSocketRoute(self.prefix + path, endpoint, name=name,
                                  dependencies=self.dependencies + list(dependencies or []))
        self.routes.append(route)
        self._version += 1
        return route

    def add_websocket_route(self, path: str, endpoint, name: str | None = None):
        """Starlette's form: ``async def endpoint(websocket)``, called with
        the WebSocket only (no parameters, no dependencies)."""
        from ._websocket import APIWebSocketRoute  # noqa: PLC0415
        route = APIWebSocketRoute(self.prefix + path, endpoint, name=name, plain=True)
        self.routes.append(route)
        self._version += 1
        return route

    def websocket_route(self, path: str, name: str | None = None):
        """Decorator form of add_websocket_route."""
        def decorator(func):
            self.add_websocket_route(path, func, name=name)
            return func
        return decorator

    def websocket(self, path: str, name: str | None = None, *, dependencies=None):
        """Decorator: ``@router.websocket("/ws/{room}")`` on an ``async def``
        endpoint taking a ``WebSocket`` (and path, query, header, cookie
        parameters and ``Depends`` as HTTP endpoints do)."""
        def decorator(func):
            self.add_api_websocket_route(path, func, name=name, dependencies=dependencies)
            return func
        return decorator

    # -- composition ---------------------------------------------------------------
    def include_router(self, router: "APIRouter", *, prefix: str = "", tags=None, dependencies=None,
                       default_response_class=Default(JSONResponse), responses=None, callbacks=None,
                       deprecated=None, include_in_schema: bool = True,
                       generate_unique_id_function=Default(generate_unique_id), pooled: bool | None = None):
        """Copies router's routes into this one, under prefix, adding tags,
        dependencies and responses (and router's startup/shutdown handlers)."""
        if prefix:
            if not prefix.startswith("/"):
                raise FasterAPIError("an include prefix must start with '/'")
            if prefix.endswith("/"):
                raise FasterAPIError("an include prefix must not end with '/'")
        for r in router.routes:
            if isinstance(r, APIRoute):
                # a response class left to its default stays a default (FastAPI's
                # get_value_or_default): it decides the dump_json path
                rc = Default(r.response_class) if r._default_response_class else r.response_class
                if not isinstance(default_response_class, DefaultPlaceholder) and r.response_class is JSONResponse:
                    rc = default_response_class
                gen = generate_unique_id_function
                if isinstance(gen, DefaultPlaceholder):
                    gen = self.generate_unique_id_function
                self.add_api_route(
                    prefix + r.path, r.endpoint, response_model=r.response_model, status_code=r.status_code,
                    tags=_merge(tags, r.tags), dependencies=_merge(dependencies, r.dependencies),
                    summary=r.summary, description=r.description, response_description=r.response_description,
                    responses={**(responses or {}), **r.responses},
                    deprecated=r.deprecated if r.deprecated is not None else deprecated,
                    methods=r.methods, operation_id=r.operation_id,
                    response_model_include=r.response_model_include,
                    response_model_exclude=r.response_model_exclude,
                    response_model_by_alias=r.response_model_by_alias,
                    response_model_exclude_unset=r.response_model_exclude_unset,
                    response_model_exclude_defaults=r.response_model_exclude_defaults,
                    response_model_exclude_none=r.response_model_exclude_none,
                    include_in_schema=r.include_in_schema and include_in_schema, response_class=rc, name=r.name,
                    route_class_override=type(r), callbacks=r.callbacks, openapi_extra=r.openapi_extra,
                    generate_unique_id_function=gen if r.operation_id is None else Default(generate_unique_id),
                    pooled=r.pooled if pooled is None else pooled)
            elif isinstance(r, Mount):
                self.routes.append(Mount(self.prefix + prefix + r.path, r.app, name=r.name))
            elif getattr(r, "is_websocket", False) and r.plain:
                self.add_websocket_route(prefix + r.path, r.endpoint, name=r.name)
            elif getattr(r, "is_websocket", False):
                self.add_api_websocket_route(prefix + r.path, r.endpoint, name=r.name,
                                             dependencies=_merge(dependencies, r.dependencies))
            elif isinstance(r, Route):
                self.routes.append(Route(self.prefix + prefix + r.path, r.endpoint, methods=r.methods, name=r.name,
                                         include_in_schema=r.include_in_schema))
        self.on_startup.extend(router.on_startup)
        self.on_shutdown.extend(router.on_shutdown)
        if router.lifespan_context is not None:
            self._included_lifespans = getattr(self, "_included_lifespans", []) + [router.lifespan_context]
        self._version += 1

    # -- events --------------------------------------------------------------------
    def add_event_handler(self, event_type: str, func) -> None:
        """Registers func for "startup" or "shutdown"."""
        if event_type == "startup":
            self.on_startup.append(func)
        elif event_type == "shutdown":
            self.on_shutdown.append(func)
        else:
            raise ValueError("event_type must be 'startup' or 'shutdown'")

    def on_event(self, event_type: str):
        """Decorator for startup/shutdown handlers (deprecated, as in FastAPI:
        use ``lifespan``)."""
        _warn_on_event()

        def decorator(func):
            self.add_event_handler(event_type, func)
            return func
        return decorator

    def url_path_for(self, name: str, /, **path_params) -> str:
        """The path of the route named name, with its parameters filled in."""
        for r in self.routes:
            if isinstance(r, Mount):
                if r.name == name and set(path_params) == {"path"}:  # url_for("static", path="/app.css")
                    return r.path + "/" + str(path_params["path"]).lstrip("/")
                if name.startswith(f"{r.name}:") and hasattr(r.app, "url_path_for"):  # "sub:route" of a mounted app
                    return r.path + r.app.url_path_for(name.split(":", 1)[1], **path_params)
                continue
            if r.name == name and set(r.convertors) == set(path_params):
                path = r.path_format
                for k, v in path_params.items():
                    path = path.replace("{" + k + "}", str(v))
                return path
        raise LookupError(f"no route named {name!r} with parameters {sorted(path_params)}")
