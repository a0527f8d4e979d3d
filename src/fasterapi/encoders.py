"""Conversion of Python values to JSON-compatible data.

:func:`jsonable_encoder` is FastAPI's function of the same name: it returns
a structure made only of dict, list, str, int, float, bool and None.  The
rules, per type:

==========================  ==============================================
dataclass instance          dict of its fields
datetime, date, time        ``isoformat()``
timedelta                   total seconds (float)
UUID, Path, IP addresses    ``str()``
Enum member                 its value
Decimal                     int when it has no fractional digits, else float
set, frozenset, tuple,      list
deque, generator
bytes                       decoded as UTF-8
pydantic URLs, NameEmail,   ``str()`` (as FastAPI does)
SecretStr, Color
pydantic model              ``model_dump(mode="json", by_alias=True)`` (main interpreter)
anything else               ``dict(obj)``, then ``vars(obj)``
==========================  ==============================================
"""
import dataclasses
import datetime
import decimal
import enum
import ipaddress
import pathlib
import re
import types
import uuid
from collections import deque

__all__ = ["jsonable_encoder"]

_PRIMITIVES = (str, int, float, bool, type(None))


def _decimal(o):
    if o.as_tuple().exponent >= 0:
        return int(o)
    return float(o)


def _dataclass_dict(o):
    return {f.name: getattr(o, f.name) for f in dataclasses.fields(o)}


#: type -> converter to a JSON-compatible value (one level deep)
ENCODERS_BY_TYPE = {
    bytes: lambda o: o.decode(),
    datetime.datetime: datetime.datetime.isoformat,
    datetime.date: datetime.date.isoformat,
    datetime.time: datetime.time.isoformat,
    datetime.timedelta: lambda o: o.total_seconds(),
    decimal.Decimal: _decimal,
    uuid.UUID: str,
    set: list,
    frozenset: list,
    deque: list,
    types.GeneratorType: list,
    re.Pattern: lambda o: o.pattern,
    pathlib.PurePath: str,
    ipaddress.IPv4Address: str,
    ipaddress.IPv6Address: str,
    ipaddress.IPv4Network: str,
    ipaddress.IPv6Network: str,
    ipaddress.IPv4Interface: str,
    ipaddress.IPv6Interface: str,
}


# pydantic's value types that FastAPI encodes as their str(), named, since
# pydantic is not imported here (it cannot load in a worker interpreter;
# values of these types only exist in main mode)
_PYDANTIC_STR_TYPES = frozenset((
    ("pydantic_core._pydantic_core", "Url"), ("pydantic_core._pydantic_core", "MultiHostUrl"),
    ("pydantic.networks", "AnyUrl"), ("pydantic.networks", "HttpUrl"), ("pydantic.networks", "AnyHttpUrl"),
    ("pydantic.networks", "NameEmail"), ("pydantic.types", "SecretStr"), ("pydantic.types", "SecretBytes"),
    ("pydantic.color", "Color"), ("pydantic_extra_types.color", "Color"),
))


def _is_pydantic_str_type(cls) -> bool:
    return any((c.__module__, c.__name__) in _PYDANTIC_STR_TYPES for c in cls.__mro__)


def _default(o):
    """One-level conversion of a value json does not know (the ``default``
    hook of our JSON encoder).  Raises TypeError for unknown values."""
    enc = ENCODERS_BY_TYPE.get(type(o))
    if enc is not None:
        return enc(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return _dataclass_dict(o)
    if isinstance(o, enum.Enum):
        return o.value
    dump = getattr(o, "model_dump", None)
    if dump is not None and not isinstance(o, type):
        return dump(mode="json", by_alias=True)
    for base, enc in ENCODERS_BY_TYPE.items():
        if isinstance(o, base):
            return enc(o)
    if _is_pydantic_str_type(type(o)):
        return str(o)
    try:
        return dict(o)
    except Exception:  # noqa: BLE001
        pass
    try:
        return vars(o)
    except TypeError:
        pass
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def jsonable_encoder(obj, include=None, exclude=None, by_alias: bool = True, exclude_unset: bool = False,
                     exclude_defaults: bool = False, exclude_none: bool = False,
                     custom_encoder: dict | None = None, **_ignored):
    """Returns obj converted to JSON-compatible data (see the module doc).

    ``include`` and ``exclude`` (sets of keys) filter the top-level keys of
    a mapping or dataclass; ``exclude_none`` drops keys whose value is None
    at every level; ``custom_encoder`` maps types to converters tried
    first.  ``by_alias``, ``exclude_unset`` and ``exclude_defaults`` apply
    to pydantic models, as in FastAPI; other keywords (``sqlalchemy_safe``)
    are accepted and ignored."""
    if custom_encoder:
        for tp, enc in custom_encoder.items():
            if isinstance(obj, tp):
                return enc(obj)
    if isinstance(obj, _PRIMITIVES):
        if isinstance(obj, enum.Enum):
            return obj.value
        return obj
    opts = {"by_alias": by_alias, "exclude_unset": exclude_unset, "exclude_defaults": exclude_defaults,
            "exclude_none": exclude_none, "custom_encoder": custom_encoder}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if include is not None and k not in include:
                continue
            if exclude is not None and k in exclude:
                continue
            if exclude_none and v is None:
                continue
            out[jsonable_encoder(k, custom_encoder=custom_encoder)] = jsonable_encoder(v, **opts)
        return out
    if isinstance(obj, (list, tuple, set, frozenset, deque, types.GeneratorType)):
        return [jsonable_encoder(v, **opts) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable_encoder(_dataclass_dict(obj), include=include, exclude=exclude, **opts)
    if isinstance(obj, enum.Enum):
        return jsonable_encoder(obj.value, custom_encoder=custom_encoder)
    dump = getattr(obj, "model_dump", None)
    if dump is not None and not isinstance(obj, type):
        data = dump(mode="json", include=include, exclude=exclude, by_alias=by_alias, exclude_unset=exclude_unset,
                    exclude_defaults=exclude_defaults, exclude_none=exclude_none)
        return jsonable_encoder(data, custom_encoder=custom_encoder) if custom_encoder else data
    return jsonable_encoder(_default(obj), **opts)
