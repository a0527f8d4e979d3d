"""Validation and conversion of request data from type annotations.

``compile_validator(annotation, constraints)`` returns a function
``v(value, loc, errors)`` that converts ``value`` to the annotated type, or
appends errors (dicts in pydantic's shape: ``type``, ``loc``, ``msg``,
``input``, optional ``ctx``) to ``errors`` and returns :data:`BAD`.

Conversion follows pydantic v2's lax mode, which is what FastAPI applies
to path, query, header and cookie strings and to JSON bodies: numeric
strings become numbers, ``"yes"``/``"off"`` booleans, ISO strings dates...
Only the standard library is used: this runs in own-GIL sub-interpreters.
"""
import dataclasses
import datetime
import decimal
import enum
import functools
import inspect
import math
import pathlib
import re
import sys
import types
import typing
import uuid
from collections import abc, deque

from .params import FieldInfo, Undefined

__all__ = ["BAD", "compile_validator", "unwrap_annotated", "is_scalar_type",
           "is_scalar_sequence_type", "type_name", "collect_constraints", "pydantic_models", "pydantic_dumper",
           "pydantic_body_model"]


class _Bad:
    __slots__ = ()

    def __repr__(self):
        return "<invalid>"


#: returned by a validator after it appended errors
BAD = _Bad()

_NoneType = type(None)
_UNION_TYPES = (typing.Union, types.UnionType)
_CONSTRAINT_NAMES = ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern")


def _err(errors, type_, loc, msg, value, ctx=None):
    e = {"type": type_, "loc": list(loc), "msg": msg, "input": value}
    if ctx is not None:
        e["ctx"] = ctx
    errors.append(e)
    return BAD


def _passthrough(value, loc, errors):
    return value


# ---------------------------------------------------------------------------
# annotations
# ---------------------------------------------------------------------------

def collect_constraints(metadata, into: dict | None = None) -> dict:
    """Constraint values (gt, ge, ..., pattern) from Annotated metadata:
    our FieldInfo/Query/..., and any object with those attributes (so
    annotated_types.Ge, Interval, MinLen... work too)."""
    out = into if into is not None else {}
    for m in metadata:
        for name in _CONSTRAINT_NAMES:
            v = getattr(m, name, None)
            if v is not None and not callable(v):
                out[name] = v
    return out


def unwrap_annotated(tp):
    """Returns (base type, list of Annotated metadata), flattening nested
    Annotated and type aliases."""
    meta = []
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            meta.extend(tp.__metadata__)
            tp = tp.__origin__
            continue
        value = getattr(tp, "__value__", None)  # PEP 695 `type X = ...`
        if value is not None and type(tp).__name__ == "TypeAliasType":
            tp = value
            continue
        supertype = getattr(tp, "__supertype__", None)  # typing.NewType
        if supertype is not None:
            tp = supertype
            continue
        return tp, meta


def _union_args(tp):
    if typing.get_origin(tp) in _UNION_TYPES:
        return typing.get_args(tp)
    return None


def type_name(tp) -> str:
    """The name pydantic uses for a type in union error locations."""
    tp, _ = unwrap_annotated(tp)
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "literal[" + ",".join(repr(a) for a in typing.get_args(tp)) + "]"
    if origin is not None:
        oname = getattr(origin, "__name__", str(origin))
        args = typing.get_args(tp)
        return f"{oname}[{','.join(type_name(a) if a is not ... else '...' for a in args)}]"
    return str(tp).replace("typing.", "")


_SCALARS = (str, int, float, bool, bytes, decimal.Decimal, uuid.UUID, datetime.datetime,
            datetime.date, datetime.time, datetime.timedelta, pathlib.PurePath)


def is_scalar_type(tp) -> bool:
    """True for types read from one string (query/header/cookie/path):
    numbers, str, bool, UUID, Enum, dates, Literal, and unions of them."""
    tp, _ = unwrap_annotated(tp)
    if tp is typing.Any or tp is object or tp is _NoneType or tp is None:
        return True
    args = _union_args(tp)
    if args is not None:
        return all(is_scalar_type(a) for a in args)
    if typing.get_origin(tp) is typing.Literal:
        return True
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return True
        return issubclass(tp, _SCALARS)
    return False


_SEQUENCE_ORIGINS = (list, tuple, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Set,
                     abc.MutableSet, abc.Collection, abc.Iterable, deque)


def is_scalar_sequence_type(tp) -> bool:
    """True for list/set/tuple of scalars (repeated query parameters), also
    inside Optional."""
    tp, _ = unwrap_annotated(tp)
    args = _union_args(tp)
    if args is not None:
        non_none = [a for a in args if a is not _NoneType]
        return bool(non_none) and all(is_scalar_sequence_type(a) for a in non_none)
    origin = typing.get_origin(tp) or tp
    if origin in _SEQUENCE_ORIGINS:
        targs = typing.get_args(tp)
        return all(a is ... or is_scalar_type(a) for a in targs)
    return False


# ---------------------------------------------------------------------------
# constraints
# ---------------------------------------------------------------------------

def _num_checks(c):
    checks = []
    if c.get("gt") is not None:
        g = c["gt"]
        checks.append((lambda v, g=g: v > g, "greater_than", f"Input should be greater than {g}", {"gt": g}))
    if c.get("ge") is not None:
        g = c["ge"]
        checks.append((lambda v, g=g: v >= g, "greater_than_equal",
                       f"Input should be greater than or equal to {g}", {"ge": g}))
    if c.get("lt") is not None:
        g = c["lt"]
        checks.append((lambda v, g=g: v < g, "less_than", f"Input should be less than {g}", {"lt": g}))
    if c.get("le") is not None:
        g = c["le"]
        checks.append((lambda v, g=g: v <= g, "less_than_equal",
                       f"Input should be less than or equal to {g}", {"le": g}))
    if c.get("multiple_of") is not None:
        g = c["multiple_of"]

        def mult(v, g=g):
            r = v % g
            return r == 0 or (isinstance(r, float) and math.isclose(r, g))
        checks.append((mult, "multiple_of", f"Input should be a multiple of {g}", {"multiple_of": g}))
    return checks


def _with_checks(base, checks):
    if not checks:
        return base

    def v(value, loc, errors):
        r = base(value, loc, errors)
        if r is BAD:
            return r
        for ok, typ, msg, ctx in checks:
            if not ok(r):
                return _err(errors, typ, loc, msg, value, ctx)
        return r
    return v


def _plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _len_checks(c, field_type):
    checks = []
    mn, mx = c.get("min_length"), c.get("max_length")
    unit = "character" if field_type == "String" else "item"
    if mn is not None:
        if field_type == "String":
            checks.append((lambda v, n=mn: len(v) >= n, "string_too_short",
                           lambda v, n=mn: f"String should have at least {_plural(n, unit)}",
                           lambda v, n=mn: {"min_length": n}))
        else:
            checks.append((lambda v, n=mn: len(v) >= n, "too_short",
                           lambda v, n=mn: f"{field_type} should have at least {_plural(n, unit)} "
                                           f"after validation, not {len(v)}",
                           lambda v, n=mn: {"field_type": field_type, "min_length": n,
                                            "actual_length": len(v)}))
    if mx is not None:
        if field_type == "String":
            checks.append((lambda v, n=mx: len(v) <= n, "string_too_long",
                           lambda v, n=mx: f"String should have at most {_plural(n, unit)}",
                           lambda v, n=mx: {"max_length": n}))
        else:
            checks.append((lambda v, n=mx: len(v) <= n, "too_long",
                           lambda v, n=mx: f"{field_type} should have at most {_plural(n, unit)} "
                                           f"after validation, not {len(v)}",
                           lambda v, n=mx: {"field_type": field_type, "max_length": n,
                                            "actual_length": len(v)}))
    if field_type == "String" and c.get("pattern") is not None:
        pat = c["pattern"]
        rx = re.compile(pat)
        checks.append((lambda v, rx=rx: rx.search(v) is not None, "string_pattern_mismatch",
                       lambda v, p=pat: f"String should match pattern '{p}'",
                       lambda v, p=pat: {"pattern": p}))
    return checks


def _with_len_checks(base, checks, report_input_as_validated=False):
    if not checks:
        return base

    def v(value, loc, errors):
        r = base(value, loc, errors)
        if r is BAD:
            return r
        for ok, typ, msg, ctx in checks:
            if not ok(r):
                return _err(errors, typ, loc, msg(r), r if report_input_as_validated else value, ctx(r))
        return r
    return v


# ---------------------------------------------------------------------------
# scalars
# ---------------------------------------------------------------------------

_INT_FLOAT_STR = re.compile(r"\s*[+-]?\d[\d_]*\.0*\s*")


def _v_int(value, loc, errors):
    t = type(value)
    if t is int:
        return value
    if t is str:
        try:
            return int(value)
        except ValueError:
            if _INT_FLOAT_STR.fullmatch(value):
                return int(value.strip().split(".")[0])
            return _err(errors, "int_parsing", loc,
                        "Input should be a valid integer, unable to parse string as an integer", value)
    if t is float:
        if value.is_integer():
            return int(value)
        if math.isfinite(value):
            return _err(errors, "int_from_float", loc,
                        "Input should be a valid integer, got a number with a fractional part", value)
        return _err(errors, "finite_number", loc, "Input should be a finite number", value)
    if isinstance(value, int):  # bool, IntEnum
        return int(value)
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, (bytes, bytearray)):
        return _v_int(value.decode("utf-8", "replace"), loc, errors)
    return _err(errors, "int_type", loc, "Input should be a valid integer", value)


def _v_float(value, loc, errors):
    t = type(value)
    if t is float:
        return value
    if t is int:
        return float(value)
    if t is str:
        try:
            return float(value)
        except ValueError:
            return _err(errors, "float_parsing", loc,
                        "Input should be a valid number, unable to parse string as a number", value)
    if isinstance(value, (int, float, decimal.Decimal)):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return _v_float(value.decode("utf-8", "replace"), loc, errors)
    return _err(errors, "float_type", loc, "Input should be a valid number", value)


_TRUE = frozenset(("1", "on", "t", "true", "y", "yes"))
_FALSE = frozenset(("0", "off", "f", "false", "n", "no"))


def _v_bool(value, loc, errors):
    if value is True or value is False:
        return value
    if isinstance(value, str):
        s = value.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        return _err(errors, "bool_parsing", loc, "Input should be a valid boolean, unable to interpret input",
                    value)
    if isinstance(value, (int, float, decimal.Decimal)):
        if value == 1:
            return True
        if value == 0:
            return False
        return _err(errors, "bool_parsing", loc, "Input should be a valid boolean, unable to interpret input",
                    value)
    return _err(errors, "bool_type", loc, "Input should be a valid boolean", value)


def _v_str(value, loc, errors):
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return _err(errors, "string_unicode", loc,
                        "Input should be a valid string, unable to parse raw data as a unicode string", value)
    return _err(errors, "string_type", loc, "Input should be a valid string", value)


def _v_bytes(value, loc, errors):
    if isinstance(value, bytes):
        return value
    if hasattr(value, "filename") and hasattr(value, "file"):  # an UploadFile, for File() params
        return value.file.getvalue()
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytearray):
        return bytes(value)
    return _err(errors, "bytes_type", loc, "Input should be a valid bytes", value)


def _v_none(value, loc, errors):
    if value is None:
        return None
    return _err(errors, "none_required", loc, "Input should be None", value)


_HEX = frozenset("0123456789abcdefABCDEF")


def _uuid_reason(s: str) -> str:
    body = s[9:] if s.lower().startswith("urn:uuid:") else s
    for i, ch in enumerate(body):
        if ch not in _HEX and ch != "-":
            return f"invalid character: found `{ch}` at {i}"
    if "-" not in body:
        return f"invalid length: expected length 32 for simple format, found {len(body)}"
    groups = body.split("-")
    if len(groups) != 5:
        return f"invalid group count: expected 5, found {len(groups)}"
    for i, (g, n) in enumerate(zip(groups, (8, 4, 4, 4, 12))):
        if len(g) != n:
            return f"invalid group length in group {i}: expected {n}, found {len(g)}"
    return "invalid format"


def _v_uuid(value, loc, errors):
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, (bytes, bytearray)):
        if len(value) == 16:
            return uuid.UUID(bytes=bytes(value))
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        s = value.strip()
        if "{" not in s:
            try:
                return uuid.UUID(s)
            except ValueError:
                pass
        reason = _uuid_reason(s)
        return _err(errors, "uuid_parsing", loc, f"Input should be a valid UUID, {reason}", value,
                    {"error": reason})
    return _err(errors, "uuid_type", loc, "UUID input should be a string, bytes or UUID object", value)


def _v_decimal(value, loc, errors):
    if isinstance(value, decimal.Decimal):
        d = value
    elif isinstance(value, bool):
        return _err(errors, "decimal_type", loc,
                    "Decimal input should be an integer, float, string or Decimal object", value)
    elif isinstance(value, int):
        return decimal.Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return _err(errors, "finite_number", loc, "Input should be a finite number", value)
        return decimal.Decimal(str(value))
    elif isinstance(value, str):
        try:
            d = decimal.Decimal(value.strip())
        except decimal.InvalidOperation:
            return _err(errors, "decimal_parsing", loc, "Input should be a valid decimal", value)
    else:
        return _err(errors, "decimal_type", loc,
                    "Decimal input should be an integer, float, string or Decimal object", value)
    if not d.is_finite():
        return _err(errors, "finite_number", loc, "Input should be a finite number", value)
    return d


def _v_path(value, loc, errors):
    if isinstance(value, pathlib.PurePath):
        return value
    if isinstance(value, str):
        return pathlib.Path(value)
    return _err(errors, "path_type", loc, "Input is not a valid path", value)


_UTC = datetime.timezone.utc
_NUMERIC = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def _from_timestamp(x):
    if abs(x) > 2e10:  # milliseconds, as pydantic does
        x = x / 1000
    return datetime.datetime(1970, 1, 1, tzinfo=_UTC) + datetime.timedelta(seconds=x)


def _parse_reason(s):
    if len(s) < 10:
        return "input is too short"
    return "invalid character in date or time"


def _v_datetime(value, loc, errors):
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return _from_timestamp(value)
        except (OverflowError, ValueError):
            pass
    elif isinstance(value, str):
        s = value.strip()
        if _NUMERIC.fullmatch(s):
            try:
                return _from_timestamp(float(s))
            except (OverflowError, ValueError):
                pass
        else:
            try:
                if len(s) == 10:
                    d = datetime.date.fromisoformat(s)
                    return datetime.datetime(d.year, d.month, d.day)
                return datetime.datetime.fromisoformat(s)
            except ValueError:
                pass
        reason = _parse_reason(s)
        return _err(errors, "datetime_from_date_parsing", loc,
                    f"Input should be a valid datetime or date, {reason}", value, {"error": reason})
    elif isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day)
    return _err(errors, "datetime_type", loc, "Input should be a valid datetime", value)


def _v_date(value, loc, errors):
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0):
            return value.date()
        return _err(errors, "date_from_datetime_inexact", loc,
                    "Datetimes provided to dates should have zero time - e.g. be exact dates", value)
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        s = value.strip()
        try:
            if len(s) == 10:
                return datetime.date.fromisoformat(s)
            if _NUMERIC.fullmatch(s):
                return _v_date(_from_timestamp(float(s)), loc, errors)
            return _v_date(datetime.datetime.fromisoformat(s), loc, errors)
        except ValueError:
            reason = _parse_reason(s)
            return _err(errors, "date_from_datetime_parsing", loc,
                        f"Input should be a valid date or datetime, {reason}", value, {"error": reason})
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _v_date(_from_timestamp(value), loc, errors)
    return _err(errors, "date_type", loc, "Input should be a valid date", value)


def _v_time(value, loc, errors):
    if isinstance(value, datetime.time):
        return value
    if isinstance(value, str):
        try:
            return datetime.time.fromisoformat(value.strip())
        except ValueError:
            reason = _parse_reason(value.strip()) if len(value.strip()) < 5 else "invalid time format"
            return _err(errors, "time_parsing", loc, f"Input should be in a valid time format, {reason}",
                        value, {"error": reason})
    return _err(errors, "time_type", loc, "Input should be a valid time", value)


_ISO_DURATION = re.compile(
    r"([+-])?P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?")
_CLOCK = re.compile(r"([+-])?(?:(\d+)\s*days?,?\s*)?(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?")


def _v_timedelta(value, loc, errors):
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.timedelta(seconds=value)
    if isinstance(value, str):
        s = value.strip()
        if _NUMERIC.fullmatch(s):
            return datetime.timedelta(seconds=float(s))
        m = _ISO_DURATION.fullmatch(s)
        if m and s not in ("P", "-P", "+P") and not s.endswith("T"):
            sign, y, mo, w, d, h, mi, sec = m.groups()
            f = lambda x: float(x) if x else 0.0  # noqa: E731
            td = datetime.timedelta(days=f(y) * 365 + f(mo) * 30 + f(w) * 7 + f(d), hours=f(h),
                                    minutes=f(mi), seconds=f(sec))
            return -td if sign == "-" else td
        m = _CLOCK.fullmatch(s)
        if m:
            sign, d, h, mi, sec = m.groups()
            td = datetime.timedelta(days=int(d or 0), hours=int(h), minutes=int(mi), seconds=float(sec or 0))
            return -td if sign == "-" else td
        return _err(errors, "time_delta_parsing", loc,
                    "Input should be a valid timedelta, invalid digit in duration", value,
                    {"error": "invalid digit in duration"})
    return _err(errors, "time_delta_type", loc, "Input should be a valid timedelta", value)


def _expected(values) -> str:
    reprs = [repr(v) for v in values]
    if len(reprs) == 1:
        return reprs[0]
    return ", ".join(reprs[:-1]) + " or " + reprs[-1]


def _enum_validator(cls):
    members = list(cls)
    by_value = {}
    for m in members:
        try:
            by_value.setdefault(m.value, m)
        except TypeError:
            pass
    expected = _expected([m.value for m in members])
    value_types = {type(m.value) for m in members}

    def v(value, loc, errors):
        if isinstance(value, cls):
            return value
        try:
            m = by_value.get(value)
        except TypeError:
            m = None
        if m is not None and not (isinstance(value, bool) and not isinstance(m.value, bool)):
            return m
        if isinstance(value, str) and str not in value_types:
            for t in value_types:
                if t in (int, float):
                    try:
                        m = by_value.get(t(value.strip()))
                    except ValueError:
                        continue
                    if m is not None:
                        return m
        return _err(errors, "enum", loc, f"Input should be {expected}", value, {"expected": expected})
    return v


def _literal_validator(values):
    expected = _expected(values)
    allowed = []
    for x in values:
        if isinstance(x, enum.Enum):
            allowed.append((x, type(x)))
        else:
            allowed.append((x, type(x)))

    def v(value, loc, errors):
        for x, t in allowed:
            if value == x and (type(value) is t or isinstance(value, t)):
                return x
        for x, t in allowed:  # a str-valued Enum member given by its value
            if isinstance(x, enum.Enum) and value == x.value:
                return x
        return _err(errors, "literal_error", loc, f"Input should be {expected}", value, {"expected": expected})
    return v


# ---------------------------------------------------------------------------
# containers
# ---------------------------------------------------------------------------

_LIST_LIKE = (list, tuple, set, frozenset, deque, abc.KeysView, abc.ValuesView)


def _seq_validator(item_v, kind, c):
    field_type = {"list": "List", "set": "Set", "frozenset": "Frozenset", "tuple": "Tuple",
                  "deque": "List"}[kind]
    type_err = {"list": ("list_type", "Input should be a valid list"),
                "set": ("set_type", "Input should be a valid set"),
                "frozenset": ("frozen_set_type", "Input should be a valid frozenset"),
                "tuple": ("tuple_type", "Input should be a valid tuple"),
                "deque": ("list_type", "Input should be a valid list")}[kind]
    make = {"list": list, "set": set, "frozenset": frozenset, "tuple": tuple, "deque": deque}[kind]
    accepts = (list, tuple, deque) if kind in ("list", "tuple", "deque") else _LIST_LIKE

    def v(value, loc, errors):
        if not isinstance(value, accepts) or (kind in ("list", "tuple", "deque") and
                                              isinstance(value, (set, frozenset))):
            if not (kind in ("list", "deque") and isinstance(value, (set, frozenset))):
                return _err(errors, type_err[0], loc, type_err[1], value)
        if item_v is _passthrough:
            out = list(value)
        else:
            out = []
            bad = False
            for i, item in enumerate(value):
                r = item_v(item, (*loc, i), errors)
                if r is BAD:
                    bad = True
                else:
                    out.append(r)
            if bad:
                return BAD
        return out if kind == "list" else make(out)
    return _with_len_checks(v, _len_checks(c, field_type))


def _fixed_tuple_validator(item_vs):
    n = len(item_vs)

    def v(value, loc, errors):
        if not isinstance(value, (list, tuple)):
            return _err(errors, "tuple_type", loc, "Input should be a valid tuple", value)
        out = []
        bad = False
        for i, iv in enumerate(item_vs):
            if i >= len(value):
                _err(errors, "missing", (*loc, i), "Field required", value)
                bad = True
                continue
            r = iv(value[i], (*loc, i), errors)
            if r is BAD:
                bad = True
            else:
                out.append(r)
        if len(value) > n:
            _err(errors, "too_long", loc, f"Tuple should have at most {_plural(n, 'item')} after validation, "
                 f"not {len(value)}", value, {"field_type": "Tuple", "max_length": n,
                                              "actual_length": len(value)})
            bad = True
        return BAD if bad else tuple(out)
    return v


def _dict_validator(key_v, val_v, c):
    def v(value, loc, errors):
        if not isinstance(value, dict):
            if isinstance(value, abc.Mapping):
                value = dict(value)
            else:
                return _err(errors, "dict_type", loc, "Input should be a valid dictionary", value)
        if key_v is _passthrough and val_v is _passthrough:
            return dict(value)
        out = {}
        bad = False
        for k, item in value.items():
            rk = key_v(k, (*loc, k, "[key]"), errors)
            rv = val_v(item, (*loc, k), errors)
            if rk is BAD or rv is BAD:
                bad = True
            else:
                out[rk] = rv
        return BAD if bad else out
    return _with_len_checks(v, _len_checks(c, "Dictionary"))


def _union_validator(members):
    """pydantic's smart mode, approximately: an exact type match first,
    then each member in order; errors of every member, located by its
    type name."""
    compiled = [(m, compile_validator(m), type_name(m)) for m in members]
    exact = {}
    for m, v, _ in compiled:
        base, _meta = unwrap_annotated(m)
        if isinstance(base, type) and not typing.get_args(base) and base not in exact:
            exact[base] = v

    def v(value, loc, errors):
        ev = exact.get(type(value))
        if ev is not None:
            trial = []
            r = ev(value, loc, trial)
            if r is not BAD:
                return r
        collected = []
        for m, mv, name in compiled:
            trial = []
            r = mv(value, (*loc, name), trial)
            if r is not BAD:
                return r
            collected.extend(trial)
        errors.extend(collected)
        return BAD
    return v


def _nullable(inner):
    def v(value, loc, errors):
        if value is None:
            return None
        return inner(value, loc, errors)
    return v


def _field_alias(meta):
    for m in meta:
        if isinstance(m, FieldInfo) and m.alias:
            return m.alias
    return None


def _field_specs(cls, fields_with_defaults):
    """[(name, key, validator, required, default_factory_or_value)] from type hints."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for name, required, default in fields_with_defaults:
        tp = hints.get(name, typing.Any)
        base, meta = unwrap_annotated(tp)
        key = _field_alias(meta) or name
        for m in meta:
            if isinstance(m, FieldInfo) and not m.required and required:
                required = False
                default = m.get_default
        out.append((name, key, compile_validator(tp), required, default))
    return out


def _has_attributes(value) -> bool:
    """An arbitrary object (ORM row...) read by attribute, as pydantic's
    from_attributes does."""
    return hasattr(value, "__dict__") and not isinstance(value, (type, str, bytes, list, tuple, dict, enum.Enum))


def _dataclass_validator(cls):
    specs = None
    cname = cls.__name__

    def build():
        nonlocal specs
        fl = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            fl.append((f.name, required, None))
        specs = _field_specs(cls, fl)

    def v(value, loc, errors):
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            elif _has_attributes(value):
                if specs is None:
                    build()
                value = {key: getattr(value, name) for name, key, _v, _r, _d in specs if hasattr(value, name)}
            else:
                return _err(errors, "dataclass_type", loc, f"Input should be a dictionary or an instance of {cname}",
                            value.decode("utf-8", "replace") if isinstance(value, bytes) else value,
                            {"class_name": cname})
        if specs is None:
            build()
        kwargs = _validate_fields(specs, value, loc, errors)
        if kwargs is BAD:
            return BAD
        try:
            return cls(**kwargs)
        except (ValueError, AssertionError) as e:
            return _err(errors, "value_error", loc, f"Value error, {e}", value, {"error": str(e)})
    return v


def _validate_fields(specs, value: dict, loc, errors):
    """The fields of a dataclass or TypedDict from a dict: {name: value},
    or BAD after reporting every wrong or missing one."""
    out = {}
    bad = False
    for name, key, fv, required, default in specs:
        if key in value:
            r = fv(value[key], (*loc, key), errors)
            if r is BAD:
                bad = True
            else:
                out[name] = r
        elif required:
            _err(errors, "missing", (*loc, key), "Field required", value)
            bad = True
        elif default is not None:
            out[name] = default()
    return BAD if bad else out


def _typeddict_validator(cls):
    specs = None

    def build():
        nonlocal specs
        required = getattr(cls, "__required_keys__", frozenset())
        hints = typing.get_type_hints(cls, include_extras=True)
        fl = []
        for name in hints:
            fl.append((name, name in required, None))
        specs = []
        for name, key, fv, req, default in _field_specs(cls, fl):
            specs.append((name, key, fv, req, default))

    def v(value, loc, errors):
        if specs is None:
            build()
        if not isinstance(value, dict):
            if dataclasses.is_dataclass(value) and not isinstance(value, type) or _has_attributes(value):
                value = {key: getattr(value, name) for name, key, _v, _r, _d in specs if hasattr(value, name)}
            else:
                return _err(errors, "dict_type", loc, "Input should be a valid dictionary",
                            value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
        return _validate_fields(specs, value, loc, errors)
    return v


def _pydantic_validator(cls):
    """For pydantic models (main-interpreter mode only)."""
    from pydantic import ValidationError  # noqa: PLC0415 (only when such a model is used)

    def v(value, loc, errors):
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        try:
            # from_attributes: a returned model or object validates against another model, as in FastAPI
            return cls.model_validate(value, from_attributes=True)
        except ValidationError as e:
            for err in e.errors(include_url=False):
                d = {"type": err["type"], "loc": [*loc, *err["loc"]], "msg": err["msg"], "input": err["input"]}
                if "ctx" in err:
                    d["ctx"] = {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
                                for k, v in err["ctx"].items()}
                errors.append(d)
            return BAD
    return v


def pydantic_models(tp) -> list:
    """The pydantic model classes tp is or contains (through Annotated,
    unions, containers, generics), without importing pydantic: none unless
    pydantic is already loaded (main-interpreter mode)."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None:
        return []
    base_model = pydantic.BaseModel
    out = []
    todo = [tp]
    seen = set()
    while todo:
        t = todo.pop()
        try:
            if t in seen:
                continue
            seen.add(t)
        except TypeError:  # unhashable metadata
            continue
        t, _ = unwrap_annotated(t)
        if isinstance(t, type) and issubclass(t, base_model):
            out.append(t)
        todo.extend(typing.get_args(t))
    return out


def pydantic_dumper(tp, json=False, **options):
    """For a response model that is or contains a pydantic model: a
    function that turns a validated result into JSON data as FastAPI does
    (``TypeAdapter(tp).dump_python(mode="json", ...)`` with ``by_alias``,
    ``include``, ``exclude``, ``exclude_unset``, ``exclude_defaults``,
    ``exclude_none``).  json=True: a function that returns the JSON bytes
    (``TypeAdapter(tp).dump_json``).  None for other types (never imports
    pydantic)."""
    if not pydantic_models(tp):
        return None
    from pydantic import TypeAdapter  # noqa: PLC0415 (main-interpreter mode only)
    base, _ = unwrap_annotated(tp)  # our Field()/Query() metadata is not pydantic's
    if json:
        # JSON bytes in one pass (pydantic-core), FastAPI's serialize_json
        # only the options that are set (by_alias always: pydantic's own default
        # comes from the model's config, FastAPI's is True)
        opts = {k: v for k, v in options.items() if k == "by_alias" or (v is not None and v is not False)}
        return functools.partial(TypeAdapter(base).dump_json, **opts)
    dump = TypeAdapter(base).dump_python

    def dumper(value):
        return dump(value, mode="json", **options)
    return dumper


def pydantic_body_model(field):
    """The pydantic model class of a body parameter whose annotation is
    exactly that class (no constraints, no validators of ours around it),
    else None: such a body can be validated from the JSON bytes by the
    model's own validator (validate_json)."""
    base_model = getattr(sys.modules.get("pydantic"), "BaseModel", None)
    if base_model is None:
        return None
    tp = field.annotation
    if not (isinstance(tp, type) and issubclass(tp, base_model)):
        return None
    if field.validator is not compile_validator(tp):
        return None  # constraints or functional validators of the parameter itself
    if not _same_in_json_mode(getattr(tp, "__pydantic_core_schema__", None)):
        return None
    return tp


def _same_in_json_mode(schema) -> bool:
    """Whether a core schema validates JSON data as it validates the same
    data parsed by json.loads: not when anything in it is strict (strict
    JSON mode takes strings for datetimes, UUIDs, enums... that strict Python
    mode refuses), when a type has its own JSON schema (json-or-python), or
    when the config decodes bytes from JSON differently (val_json_bytes)."""
    if not isinstance(schema, dict):
        return False  # no schema to look at: not known to be safe
    todo = [schema]
    while todo:
        x = todo.pop()
        if isinstance(x, dict):
            if x.get("strict") is True or x.get("type") == "json-or-python" or "val_json_bytes" in x:
                return False
            todo.extend(x.values())
        elif isinstance(x, (list, tuple)):
            todo.extend(x)
    return True


def _instance_validator(cls):
    def v(value, loc, errors):
        if isinstance(value, cls):
            return value
        return _err(errors, "is_instance_of", loc, f"Input should be an instance of {cls.__name__}", value,
                    {"class": cls.__name__})
    return v


_SCALAR_VALIDATORS = {
    int: (_v_int, "num"), float: (_v_float, "num"), bool: (_v_bool, None), str: (_v_str, "str"),
    bytes: (_v_bytes, "bytes"), uuid.UUID: (_v_uuid, None), decimal.Decimal: (_v_decimal, "num"),
    datetime.datetime: (_v_datetime, "num"), datetime.date: (_v_date, "num"),
    datetime.time: (_v_time, "num"), datetime.timedelta: (_v_timedelta, "num"),
}


def _is_typeddict(tp):
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__") and \
        hasattr(tp, "__annotations__")


_cache: dict = {}
_TD_QUALIFIERS = tuple(getattr(typing, n) for n in ("Required", "NotRequired", "ReadOnly") if hasattr(typing, n))


def compile_validator(tp, constraints: dict | None = None):
    """Returns the validator for annotation tp with extra constraints
    (gt/ge/lt/le/multiple_of/min_length/max_length/pattern)."""
    key = None
    try:
        key = (tp, tuple(sorted(constraints.items())) if constraints else ())
        hit = _cache.get(key)
        if hit is not None:
            return hit
    except TypeError:
        key = None
    if key is not None:
        # placeholder for recursive types: resolved after compilation
        holder = []

        def forward(value, loc, errors):
            return holder[0](value, loc, errors)
        _cache[key] = forward
    try:
        v = _compile(tp, dict(constraints or {}))
    except BaseException:
        if key is not None:
            _cache.pop(key, None)
        raise
    if key is not None:
        holder.append(v)
        _cache[key] = v
    return v


_FUNCTIONAL = ("AfterValidator", "BeforeValidator", "PlainValidator", "WrapValidator")


def _functional_validators(meta) -> list:
    """pydantic's functional validators among Annotated metadata, known by
    class name and module (pydantic itself is not imported: it cannot load
    in a worker interpreter, and an app that uses them runs in main mode)."""
    return [m for m in meta if type(m).__name__ in _FUNCTIONAL
            and type(m).__module__.startswith("pydantic") and callable(getattr(m, "func", None))]


def _call_user(func, value):
    """Calls a validator function with (value) or (value, info): info is
    None here (no ValidationInfo outside pydantic)."""
    try:
        n = len([p for p in inspect.signature(func).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty])
    except (TypeError, ValueError):
        n = 1
    return func(value) if n <= 1 else func(value, None)


def _user_error(errors, loc, value, exc):
    """A ValueError/AssertionError from a validator function, as pydantic
    reports it (the exception itself in ctx.error)."""
    if isinstance(exc, AssertionError):
        return _err(errors, "assertion_error", loc, f"Assertion failed, {exc}", value, {"error": exc})
    return _err(errors, "value_error", loc, f"Value error, {exc}", value, {"error": exc})


def _wrap_functional(inner, m):
    kind = type(m).__name__
    func = m.func

    def run(value, loc, errors, given=None):
        try:
            return _call_user(func, value)
        except (ValueError, AssertionError) as exc:
            # the error shows the input as given (a query string's "3"), as pydantic's does
            return _user_error(errors, loc, value if given is None else given, exc)

    if kind == "AfterValidator":
        def after(value, loc, errors):
            r = inner(value, loc, errors)
            return r if r is BAD else run(r, loc, errors, value)
        return after
    if kind == "BeforeValidator":
        def before(value, loc, errors):
            r = run(value, loc, errors)
            return r if r is BAD else inner(r, loc, errors)
        return before
    if kind == "PlainValidator":
        return run

    def wrap(value, loc, errors):  # WrapValidator: func(value, handler)
        def handler(v):
            sub = []
            r = inner(v, loc, sub)
            if r is BAD:
                errors.extend(sub)
                raise _HandlerFailed()
            return r
        try:
            return func(value, handler)
        except _HandlerFailed:
            return BAD
        except (ValueError, AssertionError) as exc:
            return _user_error(errors, loc, value, exc)
    return wrap


class _HandlerFailed(Exception):
    """The inner validation a WrapValidator's handler ran failed (its
    errors are already recorded)."""


def _compile(tp, c):
    base_tp, meta = unwrap_annotated(tp)
    functional = _functional_validators(meta) if meta else ()
    if functional:
        # the type with its other metadata, then each validator around it, in declaration order
        rest = [m for m in meta if m not in functional]
        inner = compile_validator(typing.Annotated[(base_tp, *rest)] if rest else base_tp, c)
        for m in functional:
            inner = _wrap_functional(inner, m)
        return inner
    tp = base_tp
    if meta:
        c = collect_constraints(meta, dict(c))
        for m in meta:
            if isinstance(m, FieldInfo) and m.allow_inf_nan is False:
                c["allow_inf_nan"] = False
    if tp is typing.Any or tp is object or isinstance(tp, typing.TypeVar) or tp is Undefined:
        return _passthrough
    if tp is None or tp is _NoneType:
        return _v_none
    args = _union_args(tp)
    if args is not None:
        non_none = [a for a in args if a is not _NoneType]
        nullable = len(non_none) != len(args)
        if len(non_none) == 1:
            inner = compile_validator(non_none[0], c)
        else:
            inner = _union_validator([typing.Annotated[a, _Constraints(c)] if c else a for a in non_none])
        return _nullable(inner) if nullable else inner
    origin = typing.get_origin(tp)
    targs = typing.get_args(tp)
    if origin is typing.Literal:
        return _literal_validator(targs)
    if origin is typing.ClassVar or origin is typing.Final:
        return compile_validator(targs[0], c) if targs else _passthrough
    if origin in _TD_QUALIFIERS:
        return compile_validator(targs[0], c)
    if origin is not None:
        if origin in (list, abc.Sequence, abc.MutableSequence, abc.Collection, abc.Iterable):
            return _seq_validator(compile_validator(targs[0]) if targs else _passthrough, "list", c)
        if origin is deque:
            return _seq_validator(compile_validator(targs[0]) if targs else _passthrough, "deque", c)
        if origin in (set, abc.Set, abc.MutableSet):
            return _seq_validator(compile_validator(targs[0]) if targs else _passthrough, "set", c)
        if origin is frozenset:
            return _seq_validator(compile_validator(targs[0]) if targs else _passthrough, "frozenset", c)
        if origin is tuple:
            if len(targs) == 2 and targs[1] is ...:
                return _seq_validator(compile_validator(targs[0]), "tuple", c)
            if targs == ((),):
                return _fixed_tuple_validator([])
            return _fixed_tuple_validator([compile_validator(a) for a in targs])
        if origin in (dict, abc.Mapping, abc.MutableMapping):
            kv = compile_validator(targs[0]) if targs else _passthrough
            vv = compile_validator(targs[1]) if len(targs) > 1 else _passthrough
            return _dict_validator(kv, vv, c)
        if origin is type:
            return _passthrough
        # other generics (user classes): validate the origin
        return compile_validator(origin, c)
    if not isinstance(tp, type):
        if isinstance(tp, str):
            raise TypeError(f"unresolved forward reference {tp!r}")
        return _passthrough
    if tp is list or tp is abc.Sequence or tp is abc.Iterable:
        return _seq_validator(_passthrough, "list", c)
    if tp is tuple:
        return _seq_validator(_passthrough, "tuple", c)
    if tp is set:
        return _seq_validator(_passthrough, "set", c)
    if tp is frozenset:
        return _seq_validator(_passthrough, "frozenset", c)
    if tp is dict or tp is abc.Mapping:
        return _dict_validator(_passthrough, _passthrough, c)
    if issubclass(tp, enum.Enum):
        return _enum_validator(tp)
    if dataclasses.is_dataclass(tp):
        return _dataclass_validator(tp)
    if _is_typeddict(tp):
        return _typeddict_validator(tp)
    if hasattr(tp, "model_validate") and hasattr(tp, "model_fields"):
        return _pydantic_validator(tp)
    for base, (fn, kind) in _SCALAR_VALIDATORS.items():
        if tp is base:
            return _apply_scalar_constraints(fn, kind, c)
    if issubclass(tp, pathlib.PurePath):
        return _v_path
    for base, (fn, kind) in _SCALAR_VALIDATORS.items():
        if issubclass(tp, base) and base is not bool:
            conv = _apply_scalar_constraints(fn, kind, c)

            def sub(value, loc, errors, conv=conv, tp=tp):
                r = conv(value, loc, errors)
                return r if r is BAD or isinstance(r, tp) else tp(r)
            return sub
    return _instance_validator(tp)


class _Constraints:
    """Carries constraints into union members (as Annotated metadata)."""

    def __init__(self, c):
        for k, v in c.items():
            setattr(self, k, v)


def _apply_scalar_constraints(fn, kind, c):
    if kind == "num":
        checks = _num_checks(c)
        if c.get("allow_inf_nan") is False and fn is _v_float:
            checks.insert(0, (math.isfinite, "finite_number", "Input should be a finite number", None))
        return _with_checks(fn, checks)
    if kind in ("str", "bytes"):
        return _with_len_checks(fn, _len_checks(c, "String" if kind == "str" else "Bytes"))
    return fn


def validate(tp, value, loc=()):
    """Validates value against tp; returns (result, errors)."""
    errors = []
    r = compile_validator(tp)(value, loc, errors)
    return (None if r is BAD else r), errors


if sys.version_info < (3, 12):  # pragma: no cover
    raise ImportError("fasterapi needs Python 3.12 or newer")
