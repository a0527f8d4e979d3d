"""The one place where FasterAPI turns Python values into JSON bytes.

Everything that serializes a response body goes through :func:`dumps`.  It
uses the native C encoder (``fasterapi._native.json``, which loads in
own-GIL sub-interpreters) when it is built, else the standard library's.

Output matches FastAPI's ``JSONResponse``: compact separators, UTF-8 kept
as is (``ensure_ascii=False``), NaN and infinities refused.  Values the
``json`` module does not know (dataclasses, datetime, UUID, Enum, Decimal,
sets, bytes, pydantic models...) are converted by :func:`_default`, the
same rules as :func:`fasterapi.encoders.jsonable_encoder`.
"""
import json

from .encoders import _default as _encode_default
from .encoders import jsonable_encoder

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                            default=_encode_default)
_loads = json.loads
try:
    # the C encoder, made once (JSONEncoder.encode makes one per call);
    # no circular-reference markers: a cycle ends in RecursionError
    from json.encoder import c_make_encoder as _c_make_encoder
    from json.encoder import encode_basestring as _encode_str
    _c_encode = _c_make_encoder(None, _encode_default, _encode_str, None, ":", ",", False, False, False)
except (ImportError, TypeError):  # pragma: no cover - no C accelerator
    _c_encode = None


def _encode(obj) -> str:
    if _c_encode is not None:
        return "".join(_c_encode(obj, 0))
    return _encoder.encode(obj)


try:
    from ._native.json import dumps as _native_dumps
except ImportError:  # pragma: no cover - extension not built
    _native_dumps = None


def dumps(obj) -> bytes:
    """Serializes obj to compact UTF-8 JSON bytes (FastAPI's rules)."""
    try:
        if _native_dumps is not None:
            return _native_dumps(obj, default=_encode_default)
        return _encode(obj).encode("utf-8", "surrogatepass")
    except TypeError:
        # e.g. dict keys that json refuses (Enum, UUID, tuples): take the
        # slow, complete path
        return _encoder.encode(jsonable_encoder(obj)).encode("utf-8", "surrogatepass")


def loads(data):
    """Parses JSON from bytes or str (raises json.JSONDecodeError)."""
    return _loads(data)


JSONDecodeError = json.JSONDecodeError
