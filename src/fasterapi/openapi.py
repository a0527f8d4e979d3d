"""The OpenAPI 3.1 document, built from the routes, and the interactive
documentation pages (Swagger UI at ``/docs``, ReDoc at ``/redoc``), which
load their JavaScript and CSS from a CDN.

``get_openapi(title=..., version=..., routes=app.routes)`` is the function
FastAPI has in ``fastapi.openapi.utils``; ``get_swagger_ui_html`` and
``get_redoc_html`` those of ``fastapi.openapi.docs`` (here all in one
module).  JSON Schemas follow JSON Schema 2020-12, as OpenAPI 3.1 does:
dataclasses, TypedDicts and Enums become ``components/schemas`` entries.
"""
import dataclasses
import datetime
import decimal
import enum
import html
import http
import inspect
import json
import pathlib
import re
import types
import typing
import uuid
from collections import abc, deque

from ._validation import pydantic_models, unwrap_annotated
from .datastructures import UploadFile
from .params import FieldInfo, Undefined
from .responses import HTMLResponse, JSONResponse

__all__ = ["get_openapi", "get_swagger_ui_html", "get_redoc_html", "get_swagger_ui_oauth2_redirect_html",
           "SchemaBuilder"]

SWAGGER_JS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
SWAGGER_CSS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
REDOC_JS = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"
FAVICON = "https://fastapi.tiangolo.com/img/favicon.png"

REF_PREFIX = "#/components/schemas/"
_NoneType = type(None)
_METHODS_ORDER = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_VALIDATION_ERROR = {
    "title": "ValidationError",
    "type": "object",
    "properties": {
        "loc": {"title": "Location", "type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"title": "Message", "type": "string"},
        "type": {"title": "Error Type", "type": "string"},
        "input": {"title": "Input"},
        "ctx": {"title": "Context", "type": "object"},
    },
    "required": ["loc", "msg", "type"],
}
_HTTP_VALIDATION_ERROR = {
    "title": "HTTPValidationError",
    "type": "object",
    "properties": {"detail": {"title": "Detail", "type": "array", "items": {"$ref": REF_PREFIX + "ValidationError"}}},
}


def _title(name: str) -> str:
    return name.replace("_", " ").title()


def _refers(s: dict) -> bool:
    """A field schema that is a reference to a named schema, also when
    nullable: pydantic gives those no title of their own."""
    if "$ref" in s:
        return True
    any_of = s.get("anyOf")
    return isinstance(any_of, list) and len(any_of) == 2 and {"type": "null"} in any_of and \
        any("$ref" in m for m in any_of)


def _jsonable_default(v):
    """A default value as JSON, or Undefined when it has none."""
    if isinstance(v, enum.Enum):
        v = v.value
    if isinstance(v, (datetime.date, datetime.time, uuid.UUID, decimal.Decimal, pathlib.PurePath)):
        return str(v) if not isinstance(v, (datetime.date, datetime.time)) else v.isoformat()
    if isinstance(v, (set, frozenset, tuple)):
        v = list(v)
    try:
        json.dumps(v, allow_nan=False)
    except (TypeError, ValueError):
        return Undefined
    return v


class SchemaBuilder:
    """Turns annotations into JSON Schemas, collecting named ones (dataclass,
    TypedDict, Enum) into ``definitions``.

    pydantic models (main-interpreter mode) get placeholder references
    until :meth:`resolve_pydantic` has pydantic generate all their schemas
    at once, in the mode of each use: ``mode`` is "serialization" while
    response schemas are built."""

    def __init__(self, separate_input_output_schemas: bool = True):
        self.definitions = {}
        self.security_schemes = {}  # scheme_name -> security scheme object
        self._names = {}  # class -> component name
        self.mode = "validation"
        self.separate_input_output_schemas = separate_input_output_schemas
        self._pydantic = {}  # (model class, mode) -> placeholder reference

    def _name_for(self, cls) -> str:
        name = self._names.get(cls)
        if name is not None:
            return name
        name = re.sub(r"[^A-Za-z0-9._-]", "_", cls.__name__)
        taken = {v for k, v in self._names.items() if k is not cls}
        if name in taken:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{cls.__module__}__{cls.__qualname__}")
        self._names[cls] = name
        return name

    def ref(self, cls, build) -> dict:
        name = self._name_for(cls)
        if name not in self.definitions:
            self.definitions[name] = {}  # placeholder for recursion
            self.definitions[name] = build()
        return {"$ref": REF_PREFIX + name}

    def schema(self, tp, info: FieldInfo | None = None) -> dict:
        base, meta = unwrap_annotated(tp)
        infos = [m for m in meta if isinstance(m, FieldInfo)]
        if info is not None:
            infos.append(info)
        s = self._schema(base)
        for i in infos:
            s = self._apply_info(s, i, base)
        constraints = {}
        for m in meta:
            if not isinstance(m, FieldInfo):
                for k in ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern"):
                    v = getattr(m, k, None)
                    if v is not None and not callable(v):
                        constraints[k] = v
        if constraints:
            s = self._apply_constraints(s, constraints, base)
        return s

    def _apply_constraints(self, s, c, base):
        if "$ref" in s or "anyOf" in s:
            # constraints apply to the non-null member of Optional[...]
            if "anyOf" in s:
                s = dict(s)
                s["anyOf"] = [self._apply_constraints(m, c, base) if m.get("type") != "null" else m
                              for m in s["anyOf"]]
            return s
        s = dict(s)
        t = s.get("type")
        mapping = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum",
                   "multiple_of": "multipleOf", "pattern": "pattern"}
        for k, v in c.items():
            if k in ("min_length", "max_length"):
                if t == "array":
                    s["minItems" if k == "min_length" else "maxItems"] = v
                elif t == "object":
                    s["minProperties" if k == "min_length" else "maxProperties"] = v
                else:
                    s["minLength" if k == "min_length" else "maxLength"] = v
            elif k in mapping:
                s[mapping[k]] = float(v) if isinstance(v, decimal.Decimal) else v
        return s

    def _apply_info(self, s, info: FieldInfo, base):
        s = self._apply_constraints(s, info.constraints(), base)
        extra = {}
        if info.title:
            extra["title"] = info.title
        if info.description:
            extra["description"] = info.description
        if info.examples:
            extra["examples"] = list(info.examples)
        if info.deprecated:
            extra["deprecated"] = True
        if isinstance(info.json_schema_extra, dict):
            extra.update(info.json_schema_extra)
        if extra:
            if "$ref" in s:
                s = {"allOf": [s], **extra} if set(extra) - {"description", "title", "deprecated", "examples"} else \
                    {**s, **extra}
            else:
                s = {**s, **extra}
        return s

    def _schema(self, tp) -> dict:
        if tp is typing.Any or tp is object or tp is Undefined or isinstance(tp, typing.TypeVar):
            return {}
        if tp is None or tp is _NoneType:
            return {"type": "null"}
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            members = [self.schema(a) for a in args]
            return {"anyOf": members}
        if origin is typing.Literal:
            vals = [a.value if isinstance(a, enum.Enum) else a for a in args]
            if len(vals) == 1:
                s = {"const": vals[0]}
            else:
                s = {"enum": vals}
            kinds = {type(v) for v in vals}
            if len(kinds) == 1:
                k = kinds.pop()
                t = {str: "string", int: "integer", float: "number", bool: "boolean"}.get(k)
                if t:
                    s["type"] = t
            return s
        if origin is not None:
            if origin in (list, abc.Sequence, abc.MutableSequence, abc.Collection, abc.Iterable, deque):
                return {"type": "array", "items": self.schema(args[0]) if args else {}}
            if origin in (set, frozenset, abc.Set, abc.MutableSet):
                return {"type": "array", "uniqueItems": True, "items": self.schema(args[0]) if args else {}}
            if origin is tuple:
                if len(args) == 2 and args[1] is ...:
                    return {"type": "array", "items": self.schema(args[0])}
                if args == ((),) or not args:
                    return {"type": "array", "maxItems": 0}
                items = [self.schema(a) for a in args]
                return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
            if origin in (dict, abc.Mapping, abc.MutableMapping):
                s = {"type": "object"}
                if len(args) == 2:
                    s["additionalProperties"] = self.schema(args[1])
                return s
            if str(origin) in ("typing.Required", "typing.NotRequired", "typing.ReadOnly") or \
                    origin in (typing.ClassVar, typing.Final):
                return self.schema(args[0]) if args else {}
            return self._schema(origin)
        if not isinstance(tp, type):
            return {}
        if tp is bool:
            return {"type": "boolean"}
        if issubclass(tp, enum.Enum):
            return self.ref(tp, lambda: self._enum_schema(tp))
        if tp is int or (issubclass(tp, int) and not issubclass(tp, bool)):
            return {"type": "integer"}
        if tp is float or issubclass(tp, float):
            return {"type": "number"}
        if tp is str or issubclass(tp, str):
            return {"type": "string"}
        if issubclass(tp, (bytes, bytearray, UploadFile)):
            # JSON Schema 2020-12's way (FastAPI 0.165's), not OpenAPI 3.0's "format": "binary"
            return {"type": "string", "contentMediaType": "application/octet-stream"}
        if tp is decimal.Decimal:
            return {"anyOf": [{"type": "number"}, {"type": "string"}]}
        if issubclass(tp, uuid.UUID):
            return {"type": "string", "format": "uuid"}
        if issubclass(tp, datetime.datetime):
            return {"type": "string", "format": "date-time"}
        if issubclass(tp, datetime.date):
            return {"type": "string", "format": "date"}
        if issubclass(tp, datetime.time):
            return {"type": "string", "format": "time"}
        if issubclass(tp, datetime.timedelta):
            return {"type": "string", "format": "duration"}
        if issubclass(tp, pathlib.PurePath):
            return {"type": "string", "format": "path"}
        if tp in (list, tuple, set, frozenset):
            return {"type": "array", "items": {}}
        if tp is dict:
            return {"type": "object"}
        if dataclasses.is_dataclass(tp):
            return self.ref(tp, lambda: self._dataclass_schema(tp))
        if issubclass(tp, dict) and hasattr(tp, "__total__"):
            return self.ref(tp, lambda: self._typeddict_schema(tp))
        if pydantic_models(tp):  # pydantic, in main-interpreter mode
            return self._pydantic_ref(tp)
        return {}

    def _enum_schema(self, cls) -> dict:
        vals = [m.value for m in cls]
        s = {"title": cls.__name__, "enum": vals}
        kinds = {type(v) for v in vals}
        if kinds <= {str}:
            s["type"] = "string"
        elif kinds <= {int}:
            s["type"] = "integer"
        elif kinds <= {int, float}:
            s["type"] = "number"
        if cls.__doc__ and cls.__doc__ != enum.Enum.__doc__ and "An enumeration." not in cls.__doc__:
            s["description"] = inspect.cleandoc(cls.__doc__)
        return s

    def _fields_schema(self, cls, names_required_defaults) -> dict:
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception:  # noqa: BLE001
            hints = getattr(cls, "__annotations__", {})
        props = {}
        required = []
        for name, req, default in names_required_defaults:
            tp = hints.get(name, typing.Any)
            _base, meta = unwrap_annotated(tp)
            key = name
            for m in meta:
                if isinstance(m, FieldInfo):
                    if m.alias:
                        key = m.alias
                    if not m.required:
                        req = False
                        if default is Undefined and m.default is not Undefined:
                            default = m.default
            s = self.schema(tp)
            if not _refers(s) and "title" not in s:
                s = {"title": _title(name), **s}
            if default is not Undefined:
                d = _jsonable_default(default)
                if d is not Undefined:
                    s = {**s, "default": d}
            props[key] = s
            if req:
                required.append(key)
        out = {"title": cls.__name__, "type": "object", "properties": props}
        if required:
            out["required"] = required
        doc = cls.__doc__
        if doc and not (dataclasses.is_dataclass(cls) and doc.startswith(cls.__name__ + "(")):
            out["description"] = inspect.cleandoc(doc)
        return out

    def _dataclass_schema(self, cls) -> dict:
        fl = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            if f.default is not dataclasses.MISSING:
                fl.append((f.name, False, f.default))
            elif f.default_factory is not dataclasses.MISSING:
                fl.append((f.name, False, Undefined))  # a factory's value is not a schema default (pydantic's rule)
            else:
                fl.append((f.name, True, Undefined))
        return self._fields_schema(cls, fl)

    def _typeddict_schema(self, cls) -> dict:
        required = getattr(cls, "__required_keys__", frozenset())
        try:
            names = list(typing.get_type_hints(cls))
        except Exception:  # noqa: BLE001
            names = list(getattr(cls, "__annotations__", {}))
        return self._fields_schema(cls, [(n, n in required, Undefined) for n in names])

    def _pydantic_ref(self, cls) -> dict:
        mode = self.mode
        if not self.separate_input_output_schemas and not _has_computed_fields(cls):
            mode = "validation"  # as FastAPI does
        ref = self._pydantic.get((cls, mode))
        if ref is None:
            ref = self._pydantic[(cls, mode)] = f"{_PYDANTIC_REF}{len(self._pydantic)}"
        return {"$ref": ref}

    def resolve_pydantic(self, doc) -> None:
        """Generates the schemas of the pydantic models used, as FastAPI
        does (one pydantic GenerateJsonSchema run for every use): a model
        whose validation and serialization schemas differ (computed fields)
        and that is used both ways becomes ``Model-Input`` and
        ``Model-Output``.  Replaces the placeholder references in doc and in
        definitions."""
        if not self._pydantic:
            return
        from pydantic import TypeAdapter  # noqa: PLC0415 (main-interpreter mode only)
        from pydantic.json_schema import GenerateJsonSchema  # noqa: PLC0415
        gen = GenerateJsonSchema(ref_template=REF_PREFIX + "{model}")
        inputs = [(key, key[1], TypeAdapter(key[0]).core_schema) for key in self._pydantic]
        mapping, defs = gen.generate_definitions(inputs=inputs)
        by_ref = {ref: mapping[(key, key[1])] for key, ref in self._pydantic.items()}
        for name, d in (defs or {}).items():
            if isinstance(d.get("description"), str):
                d["description"] = d["description"].split("\f")[0]
            self.definitions.setdefault(name, d)
        _replace_refs(doc, by_ref)
        _replace_refs(self.definitions, by_ref)


_PYDANTIC_REF = "#pydantic/"


def _replace_refs(node, by_ref) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_PYDANTIC_REF):
            del node["$ref"]
            node.update(by_ref[ref])
        for v in node.values():
            _replace_refs(v, by_ref)
    elif isinstance(node, list):
        for v in node:
            _replace_refs(v, by_ref)


def _has_computed_fields(cls, seen=None) -> bool:
    """Whether a pydantic model or one it contains has computed fields."""
    seen = set() if seen is None else seen
    seen.add(cls)
    if getattr(cls, "__pydantic_computed_fields__", None):
        return True
    for f in getattr(cls, "__pydantic_fields__", {}).values():
        for m in pydantic_models(f.annotation):
            if m not in seen and _has_computed_fields(m, seen):
                return True
    return False


def _operation_id(route, method: str) -> str:
    if route.operation_id:
        return route.operation_id if len(route.methods) == 1 else f"{route.operation_id}_{method.lower()}"
    if len(route.methods) == 1:
        return route.unique_id
    op = re.sub(r"\W", "_", f"{route.name}{route.path_format}")
    return f"{op}_{method.lower()}"


def _param_schema(sb, f) -> dict:
    s = sb.schema(f.annotation, f.info if f.info is not None and not isinstance(f.info, type) else None)
    s = dict(s)
    if f.info is not None and f.info.title:
        s["title"] = f.info.title
    elif "$ref" not in s:
        s.setdefault("title", _title(f.alias))
    if not f.required and f.default is not None:
        d = _jsonable_default(f.default)
        if d is not Undefined and "$ref" not in s:
            s["default"] = d
    # FastAPI 0.165 keeps description and deprecated in the parameter's schema too
    return s


_PARAM_LOCATIONS = ("path", "query", "header", "cookie")


def _params_own_first(dep) -> list:
    """The parameters of dep's tree in FastAPI's document order: grouped by
    location (path, query, header, cookie), each group in the order of a
    depth-first walk (a dependant's own parameters, then its dependencies'
    in declaration order), a dependency reached twice counted once."""
    flat = []
    seen = set()

    def walk(d):
        key = (d.call, tuple(d.scopes))
        if key in seen:
            return
        seen.add(key)
        flat.extend(d.params)
        for sub in d.dependencies:
            walk(sub)
    walk(dep)
    return [f for where in _PARAM_LOCATIONS for f in flat if f.in_ == where] + \
        [f for f in flat if f.in_ not in _PARAM_LOCATIONS]


def _security_requirements(dep) -> list:
    """[(scheme object, scopes)] of the security dependencies in dep's tree,
    in FastAPI's order (depth first, a dependency before the ones it
    depends on), one entry per scheme name with the scopes of all its uses
    merged."""
    from .security import SecurityBase  # noqa: PLC0415
    found = {}  # scheme_name -> (scheme, scopes)

    def walk(d):
        for sub in d.dependencies:
            if isinstance(sub.call, SecurityBase):
                scheme, scopes = found.setdefault(sub.call.scheme_name, (sub.call, []))
                scopes.extend(s for s in sub.scopes if s not in scopes)
            walk(sub)
    walk(dep)
    return list(found.values())


def _titled(schema: dict, field_name: str) -> dict:
    """A response schema that is not a reference gets the title FastAPI
    gives it, from the name of its response field ("Response_<id>")."""
    if "$ref" in schema:
        return schema
    return {**schema, "title": field_name.title().replace("_", " ")}


def _response_schema(sb, tp) -> dict:
    if tp is None:
        return {}
    mode, sb.mode = sb.mode, "serialization"
    try:
        return sb.schema(tp)
    finally:
        sb.mode = mode


def _route_operation(sb, route, method: str, operation_ids: set) -> tuple:
    dep = route.compile().dependant
    op = {}
    if route.tags:
        op["tags"] = list(route.tags)
    op["summary"] = route.summary or _title(route.name)
    if route.description:
        op["description"] = route.description
    oid = _operation_id(route, method)
    op["operationId"] = oid
    operation_ids.add(oid)
    if route.deprecated:
        op["deprecated"] = True
    params = []
    seen = set()
    for f in _params_own_first(dep):
        if f.in_ == "body" or (f.in_, f.alias) in seen:
            continue
        if f.info is not None and not f.info.include_in_schema:
            continue
        seen.add((f.in_, f.alias))
        p = {"name": f.alias, "in": f.in_, "required": f.required,
             "schema": _param_schema(sb, f)}
        if f.info is not None:
            if f.info.description:
                p["description"] = f.info.description
            if f.info.deprecated:
                p["deprecated"] = True
            if f.info.openapi_examples:
                p["examples"] = f.info.openapi_examples
            elif f.info.example is not Undefined:
                p["example"] = f.info.example
        params.append(p)
    if params:
        op["parameters"] = params
    body = [f for f in route.body_fields if f.info is None or f.info.include_in_schema]
    if body:
        is_form = any(f.is_form or f.is_file for f in body)
        media = "application/json"
        if is_form:
            media = "multipart/form-data" if any(f.is_file for f in body) else "application/x-www-form-urlencoded"
        elif body[0].info is not None and body[0].info.media_type:
            media = body[0].info.media_type
        if route.body_embed or is_form:
            name = f"Body_{route.unique_id}"
            props = {}
            req = []
            for f in body:
                s = dict(sb.schema(f.annotation, f.info))
                if "$ref" not in s:
                    s.setdefault("title", _title(f.alias))
                if not f.required:
                    d = _jsonable_default(f.default)
                    if d is not Undefined and "$ref" not in s:
                        s["default"] = d
                props[f.alias] = s
                if f.required:
                    req.append(f.alias)
            comp = {"title": name, "type": "object", "properties": props}
            if req:
                comp["required"] = req
            sb.definitions[name] = comp
            schema = {"$ref": REF_PREFIX + name}
        else:
            f = body[0]
            schema = dict(sb.schema(f.annotation, f.info))
            if "$ref" not in schema:
                schema.setdefault("title", _title(f.alias))
        rb = {"content": {media: {"schema": schema}}}
        if any(f.required for f in body):
            rb["required"] = True
        op["requestBody"] = rb
    responses = {}
    status = route.status_code or 200
    status_key = str(status)
    rc = route.response_class
    media = getattr(rc, "media_type", None) or "application/json"
    main = {"description": route.response_description}
    if status >= 200 and status not in (204, 205, 304):
        content_schema = _response_schema(sb, route.response_model) if media == "application/json" \
            else {"type": "string"}
        if route.response_model is not None and media == "application/json":
            content_schema = _titled(content_schema, f"Response_{route.unique_id}")
        main["content"] = {media: {"schema": content_schema}}
    responses[status_key] = main
    for code, extra in (route.responses or {}).items():
        code_s = str(code).upper() if not isinstance(code, int) else str(code)
        entry = dict(responses.get(code_s, {}))
        extra = dict(extra or {})
        model = extra.pop("model", None)
        content = extra.pop("content", None)
        if model is not None:
            entry.setdefault("content", {})
            schema = _titled(_response_schema(sb, model), f"Response_{code_s}_{route.unique_id}")
            entry["content"] = {**entry.get("content", {}), media: {"schema": schema}}
        if content:
            entry["content"] = {**entry.get("content", {}), **content}
        entry.update(extra)
        if "description" not in entry:
            try:
                entry["description"] = http.HTTPStatus(int(code_s)).phrase
            except ValueError:
                entry["description"] = "Additional Response"
        responses[code_s] = entry
    if (params or body) and "422" not in responses:
        responses["422"] = {"description": "Validation Error",
                            "content": {"application/json": {"schema": {"$ref": REF_PREFIX + "HTTPValidationError"}}}}
        sb.definitions.setdefault("ValidationError", _VALIDATION_ERROR)
        sb.definitions.setdefault("HTTPValidationError", _HTTP_VALIDATION_ERROR)
    op["responses"] = responses
    security = _security_requirements(dep)
    if security:
        op["security"] = [{scheme.scheme_name: scopes} for scheme, scopes in security]
        for scheme, _ in security:
            sb.security_schemes.setdefault(scheme.scheme_name, scheme.model)
    if route.openapi_extra:
        _deep_update(op, route.openapi_extra)
    return op


def _drop_null_defaults(node) -> None:
    """FastAPI (0.165) writes no ``"default": null`` in its schemas (an
    optional field's null default is implied by its ``anyOf`` with null);
    pydantic and our builder do, so they are taken out, except in the
    application's own examples."""
    if isinstance(node, dict):
        if "default" in node and node["default"] is None:
            del node["default"]
        for k, v in node.items():
            if k not in ("example", "examples"):
                _drop_null_defaults(v)
    elif isinstance(node, list):
        for v in node:
            _drop_null_defaults(v)


def _deep_update(d, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            _deep_update(d[k], v)
        else:
            d[k] = v


def get_openapi(*, title: str, version: str, openapi_version: str = "3.1.0", summary: str | None = None,
                description: str | None = None, routes=(), webhooks=None, tags=None, servers=None,
                terms_of_service: str | None = None, contact=None, license_info=None, external_docs=None,
                separate_input_output_schemas: bool = True) -> dict:
    """The OpenAPI document for routes (a list of APIRoute)."""
    info = {"title": title}
    if summary:
        info["summary"] = summary
    if description:
        info["description"] = description
    if terms_of_service:
        info["termsOfService"] = terms_of_service
    if contact:
        info["contact"] = contact
    if license_info:
        info["license"] = license_info
    info["version"] = version
    out = {"openapi": openapi_version, "info": info}
    if servers:
        out["servers"] = list(servers)
    sb = SchemaBuilder(separate_input_output_schemas)
    paths = {}
    operation_ids = set()
    for route in routes:
        if not getattr(route, "include_in_schema", False) or not hasattr(route, "dependant"):
            continue
        item = paths.setdefault(route.path_format, {})
        for method in sorted(route.methods, key=lambda m: _METHODS_ORDER.index(m.lower())
                             if m.lower() in _METHODS_ORDER else 99):
            item[method.lower()] = _route_operation(sb, route, method, operation_ids)
    sb.resolve_pydantic(paths)
    _drop_null_defaults(paths)
    _drop_null_defaults(sb.definitions)
    out["paths"] = paths
    if webhooks:
        out["webhooks"] = {}
    components = {}
    if sb.definitions:
        components["schemas"] = dict(sorted(sb.definitions.items()))
    if sb.security_schemes:
        components["securitySchemes"] = dict(sb.security_schemes)
    if components:
        out["components"] = components
    if tags:
        out["tags"] = list(tags)
    if external_docs:
        out["externalDocs"] = external_docs
    return out


# ---------------------------------------------------------------------------
# documentation pages
# ---------------------------------------------------------------------------

def get_swagger_ui_html(*, openapi_url: str, title: str, swagger_js_url: str = SWAGGER_JS,
                        swagger_css_url: str = SWAGGER_CSS, swagger_favicon_url: str = FAVICON,
                        oauth2_redirect_url: str | None = None, init_oauth: dict | None = None,
                        swagger_ui_parameters: dict | None = None) -> HTMLResponse:
    """The Swagger UI page for the document at openapi_url."""
    config = {"url": openapi_url, "dom_id": "#swagger-ui", "layout": "BaseLayout", "deepLinking": True,
              "showExtensions": True, "showCommonExtensions": True}
    if oauth2_redirect_url:
        config["oauth2RedirectUrl"] = "__ORIGIN__" + oauth2_redirect_url
    config.update(swagger_ui_parameters or {})
    cfg = json.dumps(config).replace("<", "\\u003c")
    cfg = cfg.replace('"__ORIGIN__', 'window.location.origin + "')
    oauth = ""
    if init_oauth:
        oauth = f"ui.initOAuth({json.dumps(init_oauth).replace('<', chr(92) + 'u003c')});"
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="shortcut icon" href="{html.escape(swagger_favicon_url)}">
<link rel="stylesheet" href="{html.escape(swagger_css_url)}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{html.escape(swagger_js_url)}"></script>
<script>
const options = {cfg};
options.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];
const ui = SwaggerUIBundle(options);
{oauth}
</script>
</body>
</html>
"""
    return HTMLResponse(page)


def get_redoc_html(*, openapi_url: str, title: str, redoc_js_url: str = REDOC_JS,
                   redoc_favicon_url: str = FAVICON, with_google_fonts: bool = True) -> HTMLResponse:
    """The ReDoc page for the document at openapi_url."""
    fonts = ('<link href="https://fonts.googleapis.com/css?family=Montserrat:300,400,700|Roboto:300,400,700" '
             'rel="stylesheet">\n') if with_google_fonts else ""
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
{fonts}<link rel="shortcut icon" href="{html.escape(redoc_favicon_url)}">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<redoc spec-url="{html.escape(openapi_url)}"></redoc>
<script src="{html.escape(redoc_js_url)}"></script>
</body>
</html>
"""
    return HTMLResponse(page)


def get_swagger_ui_oauth2_redirect_html() -> HTMLResponse:
    """The page an OAuth2 provider sends the browser back to: it hands the
    code or token to the Swagger UI window that opened it, then closes."""
    page = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Swagger UI: OAuth2 Redirect</title></head>
<body>
<script>
(function () {
  var handoff = window.opener && window.opener.swaggerUIRedirectOauth2;
  if (!handoff) { document.body.textContent = "No Swagger UI window to return to."; return; }
  var raw = window.location.hash.length > 1 && /code|token|error/.test(window.location.hash)
    ? window.location.hash.substring(1) : window.location.search.substring(1);
  var params = {};
  new URLSearchParams(raw).forEach(function (v, k) { params[k] = v; });
  var stateOk = params.state === handoff.state;
  var flow = handoff.auth.schema.get("flow");
  var codeFlows = ["accessCode", "authorizationCode", "authorization_code"];
  if (codeFlows.indexOf(flow) >= 0 && !handoff.auth.code) {
    if (!stateOk) {
      handoff.errCb({authId: handoff.auth.name, source: "auth", level: "warning",
                     message: "OAuth2 state mismatch: the answer may not come from the expected server"});
    }
    if (params.code) {
      delete handoff.state;
      handoff.auth.code = params.code;
      handoff.callback({auth: handoff.auth, redirectUrl: handoff.redirectUrl});
    } else {
      handoff.errCb({authId: handoff.auth.name, source: "auth", level: "error",
                     message: params.error ? ("[" + params.error + "]: " + (params.error_description || "")) :
                       "no authorization code in the answer"});
    }
  } else {
    handoff.callback({auth: handoff.auth, token: params, isValid: stateOk, redirectUrl: handoff.redirectUrl});
  }
  window.close();
})();
</script>
</body>
</html>
"""
    return HTMLResponse(page)


# ---------------------------------------------------------------------------
# the routes FastAPI() adds (plain routes: endpoint(request) -> Response)
# ---------------------------------------------------------------------------

def _root_path(request) -> str:
    """The prefix the app is served under: its own root_path, else the
    mount's (Mount sets req["root_path"])."""
    return request.app.root_path or request._req.get("root_path", "").rstrip("/")


def openapi_endpoint(request):
    app = request.app
    root = request._req.get("root_path", "").rstrip("/")
    if root and app.root_path_in_servers and not any(s.get("url") == root for s in app.servers):
        # a mounted app lists its prefix, as FastAPI's does from the scope's root_path
        app.servers.insert(0, {"url": root})
        app.openapi_schema = None
    return JSONResponse(app.openapi())


def swagger_endpoint(request):
    app = request.app
    return get_swagger_ui_html(openapi_url=_root_path(request) + app.openapi_url, title=f"{app.title} - Swagger UI",
                               oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
                               init_oauth=app.swagger_ui_init_oauth, swagger_ui_parameters=app.swagger_ui_parameters)


def swagger_redirect_endpoint(request):
    return get_swagger_ui_oauth2_redirect_html()


def redoc_endpoint(request):
    app = request.app
    return get_redoc_html(openapi_url=_root_path(request) + app.openapi_url, title=f"{app.title} - ReDoc")

