"""fasterapi._native.json: the C JSON encoder.

Every value json accepts must come out byte for byte as
``json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()``;
hand-picked edge cases first, then randomly generated documents.  The types
json leaves to ``default`` (dataclasses, datetime, UUID, Enum, Decimal) are
compared with the package's Python path, ``fasterapi._json.dumps``.

Decisions these tests pin down (see csrc/json/encoder.h):
  * a lone surrogate, which json.dumps(...).encode() cannot encode at all, is
    written as a ``\\udXXX`` escape (valid JSON, read back as the same str);
  * Decimal is a number: int when its exponent is >= 0, else float (the rule
    of fasterapi.encoders and FastAPI), NaN/Infinity raise ValueError;
  * a circular reference raises ValueError("Circular reference detected"),
    nesting past the C recursion limit raises RecursionError, like json.

Under the sanitizer pass of scripts/test.sh (FA_TEST_PRELOAD set) the
pytest process itself has no ASan runtime and cannot load the sanitized
extension: the in-process tests skip there, and test_whole_file_under_sanitizers
runs this file again in a child process started with the runtime preloaded.
"""
import collections
import dataclasses
import datetime
import decimal
import enum
import json
import math
import os
import random
import struct
import threading
import typing
import uuid

import pytest

import helpers

_PRELOADED = "libasan" in os.environ.get("LD_PRELOAD", "")
IN_PROCESS = not helpers.SANITIZED or _PRELOADED

in_process = pytest.mark.skipif(not IN_PROCESS, reason="sanitized extension: runs in the child "
                                                      "of test_whole_file_under_sanitizers")

if IN_PROCESS:
    from fasterapi._native.json import dumps
else:  # pragma: no cover - the child process runs these
    dumps = None


def ref(obj, **kw):
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"), **kw).encode()


def check(obj):
    assert dumps(obj) == ref(obj), obj


# --- the sanitizer pass ------------------------------------------------------------


@pytest.mark.skipif(IN_PROCESS, reason="only when the sanitized extension cannot load here")
def test_whole_file_under_sanitizers():
    p = helpers.run_native(f"import sys, pytest; sys.exit(pytest.main([{__file__!r}, '-q', "
                           f"'-p', 'no:cacheprovider']))", timeout=600)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-6000:]


# --- hand-picked values --------------------------------------------------------------

SCALARS = [
    None, True, False, 0, 1, -1, 7, 10, 99, 100, 12345, -12345,
    2**30 - 1, 2**30, -(2**30), 2**31, 2**62, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1,
    2**64 - 1, 2**64, 10**20, -(10**20), 10**100, -(10**300),
    0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.30000000000000004, 1.5, -2.75, 1e15, 1e16, 1e17, -1e16,
    123456789012345.0, 9007199254740993.0, 9999999999999998.0, 1e22, 1e-7, 1e-5, 0.0001,
    5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
    3.141592653589793, 1 / 3, 2.5e-10, 1234.5678,
    "", "a", "Hello, World!", "é", "€", "😀", "\x7f", "\x80", "\xff", "\u0100", "\uffff",
    "\U0010ffff", 'quote " and backslash \\', "\b\f\n\r\t", "\x00\x01\x1f",
    "tab\there", "mixé€😀\n", "a" * 1000, "é" * 1000, "€" * 1000, "😀" * 1000,
]


@in_process
@pytest.mark.parametrize("value", SCALARS, ids=repr)
def test_scalars(value):
    check(value)


CONTAINERS = [
    [], {}, (), [[]], [{}], {"a": []}, {"a": {}}, [1, [2, [3, [4]]]], (1, (2, "x")),
    {"message": "Hello, World!"},
    {"a": 1, "b": [1, 2.5, None, True, False, "s"], "c": {"d": {"e": ["f", {"g": ()}]}}},
    [None] * 100, list(range(-500, 500)), [float(i) / 7 for i in range(200)],
    {str(i): i for i in range(300)},
    # keys as json converts them
    {1: "int", 2.5: "float", True: "true", False: "false", None: "null"},
    {-0.0: 1}, {1e16: 1}, {0.1: 1}, {10**30: 1}, {-(2**63): 1},
    {"é€😀": 1, "\n": 2, '"': 3},
]


@in_process
@pytest.mark.parametrize("value", CONTAINERS, ids=lambda v: repr(v)[:40])
def test_containers(value):
    check(value)


@in_process
def test_every_code_point_outside_surrogates():
    for start in range(0, 0x110000, 0x800):
        chars = [chr(c) for c in range(start, min(start + 0x800, 0x110000)) if not 0xD800 <= c <= 0xDFFF]
        check("".join(chars))
    for c in range(0, 0x3000):
        if not 0xD800 <= c <= 0xDFFF:
            check(chr(c))


@in_process
def test_escapes_at_every_position_of_ascii_words():
    """The ASCII path tests 8 bytes at a time: an escape at each offset of
    strings around the word size, and of each kind of str."""
    specials = ['"', "\\", "\n", "\x00", "\x1f", "\x7f", " ", "~"]
    for n in range(0, 26):
        for i in range(n):
            for s in specials:
                for base in ("a", "é", "€", "😀"):
                    text = "a" * n
                    text = text[:i] + s + text[i + 1:]
                    check(text)
                    check(base + text)


@in_process
def test_long_strings_cross_the_chunk_boundaries():
    for n in (511, 512, 513, 1023, 1024, 1025, 5000):
        for unit in ("a", "é", "€", "😀", "\n", '"', "\x01", "a\x01€"):
            check(unit * n)
            check(unit * n + "\x00")
    check("x" * 1_000_000 + "\n" + "y" * 1000)


@in_process
def test_lone_surrogates_are_escaped():
    # json.dumps keeps the surrogate in its str, which UTF-8 cannot encode
    with pytest.raises(UnicodeEncodeError):
        ref("\ud800")
    assert dumps("\ud800") == b'"\\ud800"'
    assert dumps("\udfff") == b'"\\udfff"'
    assert dumps("a\udc80é") == b'"a\\udc80\xc3\xa9"'
    assert dumps("\ud83d\ude00") == b'"\\ud83d\\ude00"'  # a pair as two code points
    assert dumps({"k\ud800": ["\udabc😀"]}) == '{"k\\ud800":["\\udabc😀"]}'.encode()
    for s in ["\ud800", "x\udfffy", "é\ud800", "€\udbff", "😀\udc00", "\ud800" * 600]:
        out = dumps(s)
        out.decode("utf-8")  # valid UTF-8
        back = json.loads(out)
        assert back == s
        if all(ord(c) < 0x80 or 0xD800 <= ord(c) <= 0xDFFF for c in s):
            assert out == json.dumps(s, separators=(",", ":")).encode()  # ensure_ascii=True


@in_process
def test_floats_from_random_bits():
    rnd = random.Random(1234)
    values = []
    while len(values) < 20000:
        (x,) = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))
        if math.isfinite(x):
            values.append(x)
    values += [rnd.uniform(-1e6, 1e6) for _ in range(5000)]
    values += [round(rnd.uniform(0, 1000), 2) for _ in range(5000)]
    values += [float(rnd.randrange(-(2**60), 2**60)) for _ in range(5000)]
    values += [float(rnd.randrange(10**15, 10**17)) for _ in range(5000)]
    assert dumps(values) == ref(values)
    for x in values[:2000]:
        assert dumps(x) == ref(x)
        assert dumps({x: x}) == ref({x: x})


@in_process
def test_ints_from_random_bits():
    rnd = random.Random(99)
    values = [rnd.getrandbits(rnd.randrange(1, 200)) * rnd.choice((1, -1)) for _ in range(20000)]
    values += [rnd.randrange(-(2**64), 2**64) for _ in range(5000)]
    assert dumps(values) == ref(values)
    assert dumps({v: v for v in values}) == ref({v: v for v in values})


@in_process
def test_int_past_max_str_digits_is_a_value_error_like_json():
    big = 10**5000
    with pytest.raises(ValueError):
        ref(big)
    with pytest.raises(ValueError):
        dumps(big)


@in_process
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_raise_value_error(bad):
    for obj in (bad, [1, bad], {"a": bad}, {bad: 1}, (bad,)):
        with pytest.raises(ValueError) as ours:
            dumps(obj)
        with pytest.raises(ValueError) as theirs:
            ref(obj)
        assert str(ours.value) == str(theirs.value)


@in_process
def test_bad_keys_raise_type_error_like_json():
    for obj in ({(1, 2): 1}, {b"x": 1}, {frozenset(): 1}, {"ok": {object(): 1}}):
        with pytest.raises(TypeError) as ours:
            dumps(obj)
        with pytest.raises(TypeError) as theirs:
            ref(obj)
        assert str(ours.value) == str(theirs.value)


# --- subclasses of the builtin types --------------------------------------------------


class MyStr(str):
    def __str__(self):
        return "not this"


class MyInt(int):
    def __repr__(self):
        return "not this"


class MyFloat(float):
    def __repr__(self):
        return "not this"


class MyList(list):
    pass


class MyDict(dict):
    pass


class ReversedList(list):
    def __iter__(self):
        return reversed(list(super().__iter__()))


class Color(enum.IntEnum):
    RED = 1
    BLUE = 2


class Mood(str, enum.Enum):
    HAPPY = "happy"


@in_process
def test_builtin_subclasses_encode_like_json():
    od = collections.OrderedDict([("a", 1), ("b", 2), ("c", 3)])
    od.move_to_end("a")
    values = [
        MyStr("s\n"), MyInt(5), MyInt(2**70), MyFloat(0.5), MyList([1, MyList([2])]),
        MyDict(a=MyDict(b=1)), od, ReversedList([1, 2, 3]), collections.defaultdict(int, x=1),
        {MyStr("k"): 1, MyInt(7): 2, MyFloat(1.5): 3}, Color.RED, {Color.BLUE: Color.RED},
        Mood.HAPPY, {Mood.HAPPY: 1}, True, {True: False},
    ]
    for v in values:
        check(v)


# --- default ---------------------------------------------------------------------------


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


@in_process
def test_unknown_type_without_default_is_a_type_error_like_json():
    for obj in (b"bytes", bytearray(b"x"), {1, 2}, frozenset(), object(), Point(1, 2), [1, {"a": b"x"}],
                complex(1, 2), datetime.timedelta(1), range(3)):
        with pytest.raises(TypeError) as ours:
            dumps(obj)
        with pytest.raises(TypeError) as theirs:
            ref(obj)
        assert str(ours.value) == str(theirs.value)


@in_process
def test_default_is_called_and_its_result_encoded():
    calls = []

    def default(o):
        calls.append(o)
        if isinstance(o, Point):
            return {"x": o.x, "y": o.y, "t": (o.x, [Point(0, 0)] if o.x else None)}
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        if isinstance(o, bytes):
            return o.decode()
        raise TypeError(f"no {type(o).__name__}")

    obj = {"p": Point(1, 2), "s": {3, 1, 2}, "b": [b"raw", Point(0.5, "y")]}
    assert dumps(obj, default=default) == ref(obj, default=default)
    assert len(calls) == 2 * 6
    with pytest.raises(TypeError, match="no complex"):
        dumps([1, 2j], default=default)
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps(Point(1, 2), default=None)


@in_process
def test_default_errors_propagate():
    def boom(o):
        raise KeyError("boom")

    with pytest.raises(KeyError):
        dumps([1, object()], default=boom)
    with pytest.raises(TypeError):
        dumps(object(), default=42)  # not callable
    with pytest.raises(TypeError):
        dumps(object(), 42)  # default is keyword-only
    with pytest.raises(TypeError):
        dumps()
    with pytest.raises(TypeError):
        dumps(1, indent=2)


@in_process
def test_default_mutating_the_container_does_not_crash():
    lst = [Point(0, 0), 1, 2, 3]
    d = {"a": Point(0, 0), "b": 2}

    def clear_list(o):
        lst.clear()
        return "cleared"

    def clear_dict(o):
        d.clear()
        return "cleared"

    assert dumps(lst, default=clear_list) == b'["cleared"]'
    out = dumps(d, default=clear_dict)
    assert out.startswith(b'{"a":"cleared"')


@in_process
def test_reentrant_and_threaded_calls():
    def default(o):
        return dumps({"inner": [o.x, o.y]}).decode()

    obj = {"p": [Point(i, str(i)) for i in range(50)]}
    assert dumps(obj, default=default) == ref(obj, default=lambda o: ref({"inner": [o.x, o.y]}).decode())

    doc = {"items": [{"id": i, "name": f"n{i}é", "v": i / 3} for i in range(2000)]}
    want = ref(doc)
    errors = []

    def worker():
        for _ in range(20):
            if dumps(doc) != want:
                errors.append("mismatch")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@in_process
def test_errors_leave_no_trace():
    with pytest.raises(ValueError):
        dumps(["x" * 100000, math.nan])
    assert dumps({"message": "Hello, World!"}) == b'{"message":"Hello, World!"}'
    assert dumps("x" * 200000) == ref("x" * 200000)  # past the kept scratch size
    assert dumps(1) == b"1"


# --- recursion ------------------------------------------------------------------------


@dataclasses.dataclass
class Node:
    name: str
    children: list


@in_process
def test_circular_references_raise_value_error():
    lst = []
    lst.append(lst)
    d = {}
    d["self"] = d
    deep = []
    cur = deep
    for _ in range(200):
        nxt = []
        cur.append(nxt)
        cur = nxt
    cur.append(deep)  # a cycle 200 levels long
    n = Node("root", [])
    n.children.append(n)
    for obj in (lst, d, [1, {"a": lst}], deep, n, (lst,)):
        with pytest.raises(ValueError, match="^Circular reference detected$"):
            dumps(obj)
    with pytest.raises(ValueError, match="^Circular reference detected$"):
        dumps(Point(1, 2), default=lambda o: o)  # default returns its argument
    with pytest.raises(ValueError, match="^Circular reference detected$"):
        dumps(lst, default=str)


@in_process
def test_deep_nesting_matches_json_and_then_raises_recursion_error():
    # 1,400 levels: under CPython 3.12's C recursion limit (1,500), which
    # the stdlib encoder and ours both hit at 2,000 there (3.13 allows more)
    obj = []
    for _ in range(1400):
        obj = [obj]
    check(obj)
    d = {}
    for _ in range(1400):
        d = {"a": d}
    check(d)
    obj = []
    for _ in range(100_000):
        obj = [obj]
    with pytest.raises(RecursionError):
        ref(obj)
    with pytest.raises(RecursionError):
        dumps(obj)
    with pytest.raises(RecursionError):
        dumps(Point(1, 2), default=lambda o: [o.__class__(1, 2)])  # fresh objects, never repeats
    assert dumps([1]) == b"[1]"  # the recursion counter was given back


# --- random documents -------------------------------------------------------------------

ALPHABET = (["a", "b", "Z", "0", " ", "~", "\x7f"] * 6 + ['"', "\\", "/", "\n", "\r", "\t", "\b", "\f",
            "\x00", "\x01", "\x1f", "é", "ÿ", "\x80", "Ā", "€", "中", "\uffff", "😀", "\U0010ffff"])


def rand_str(rnd):
    n = rnd.choice((0, 1, 3, 7, 8, 9, 15, 16, 17, 40, 100))
    return "".join(rnd.choice(ALPHABET) for _ in range(n))


def rand_float(rnd):
    kind = rnd.randrange(4)
    if kind == 0:
        (x,) = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))
        return x if math.isfinite(x) else 0.5
    if kind == 1:
        return rnd.uniform(-1e3, 1e3)
    if kind == 2:
        return float(rnd.randrange(-(10**17), 10**17))
    return rnd.choice((0.0, -0.0, 1e16, 5e-324, 0.1, 1e-7, 1.7976931348623157e308))


def rand_int(rnd):
    return rnd.choice((rnd.randrange(-300, 300), rnd.getrandbits(31), -rnd.getrandbits(63),
                       rnd.getrandbits(64), rnd.getrandbits(150) - 2**149))


def rand_key(rnd):
    kind = rnd.randrange(10)
    if kind < 6:
        return rand_str(rnd)
    return (rand_int, rand_float, lambda r: r.choice((True, False, None)), rand_str)[kind - 6](rnd)


def rand_value(rnd, depth):
    kind = rnd.randrange(10 if depth < 5 else 6)
    if kind == 0:
        return rnd.choice((None, True, False))
    if kind == 1:
        return rand_int(rnd)
    if kind == 2:
        return rand_float(rnd)
    if kind in (3, 4, 5):
        return rand_str(rnd)
    n = rnd.randrange(0, 8)
    if kind in (6, 7):
        return {rand_key(rnd): rand_value(rnd, depth + 1) for _ in range(n)}
    if kind == 8:
        return [rand_value(rnd, depth + 1) for _ in range(n)]
    return tuple(rand_value(rnd, depth + 1) for _ in range(n))


@in_process
@pytest.mark.parametrize("seed", range(8))
def test_random_documents(seed):
    rnd = random.Random(seed)
    for _ in range(400):
        doc = rand_value(rnd, 0)
        assert dumps(doc) == ref(doc), doc


# --- types json leaves to default --------------------------------------------------------


@dataclasses.dataclass
class Inner:
    when: datetime.date
    tags: tuple = ()


@dataclasses.dataclass
class Outer:
    z: int
    a: str
    inner: Inner
    kind: Color
    maybe: typing.Optional[Inner] = None
    counter: typing.ClassVar[int] = 0
    seed: dataclasses.InitVar[int] = 0
    computed: float = dataclasses.field(init=False, default=0.5)

    def __post_init__(self, seed):
        self.computed = seed / 2


@dataclasses.dataclass(frozen=True, slots=True)
class Slotted:
    b: int
    a: "list[Slotted]" = dataclasses.field(default_factory=list)


class Status(enum.Enum):
    OK = "ok"
    NESTED = ("a", 1, None)
    DATE = datetime.date(2024, 2, 29)


class Flags(enum.IntFlag):
    R = 4
    W = 2


class MyUUID(uuid.UUID):
    pass


class MyDate(datetime.date):
    pass


TZ = datetime.timezone(datetime.timedelta(hours=5, minutes=30))

NATIVE = [
    Outer(3, "x", Inner(datetime.date(2024, 1, 2), (1, "t")), Color.BLUE, Inner(datetime.date(1, 1, 1)), seed=3),
    Slotted(1, [Slotted(2), Slotted(3, [Slotted(4)])]),
    [Inner(datetime.date(2000, 12, 31))] * 3,
    datetime.datetime(2024, 5, 6, 7, 8, 9), datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=TZ),
    datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc), datetime.date(2024, 5, 6),
    datetime.time(23, 59, 59, 999999), datetime.time(0, 0, tzinfo=TZ), MyDate(2020, 1, 1),
    uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID("12345678-1234-5678-1234-567812345678"),
    uuid.uuid4(), MyUUID(int=255),
    Status.OK, Status.NESTED, Status.DATE, Color.RED, Mood.HAPPY, Flags.R, Flags.R | Flags.W,
    decimal.Decimal("1.10"), decimal.Decimal("100"), decimal.Decimal("1E+2"), decimal.Decimal("-0"),
    decimal.Decimal("0.000"), decimal.Decimal("-12.5"), decimal.Decimal("3.14159265358979323846"),
    decimal.Decimal(10**30), decimal.Decimal("1e-400"),
    {"when": datetime.datetime(2024, 1, 1), "ids": [uuid.UUID(int=7)], "price": decimal.Decimal("9.99")},
]


@in_process
@pytest.mark.parametrize("value", NATIVE, ids=lambda v: repr(v)[:50])
def test_native_types_match_the_python_path(value):
    from fasterapi import _json
    from fasterapi.encoders import _default

    assert dumps(value) == _json.dumps(value)
    assert dumps(value) == ref(value, default=_default)


@in_process
def test_native_types_explicitly():
    assert dumps(uuid.UUID(int=0x0123456789ABCDEF0123456789ABCDEF)) == b'"01234567-89ab-cdef-0123-456789abcdef"'
    assert dumps(datetime.date(2024, 5, 6)) == b'"2024-05-06"'
    assert dumps(Status.NESTED) == b'["a",1,null]'
    assert dumps(decimal.Decimal("1.10")) == b"1.1"
    assert dumps(decimal.Decimal("1E+2")) == b"100"
    assert dumps(Outer(1, "a", Inner(datetime.date(2024, 1, 2)), Color.RED)) == (
        b'{"z":1,"a":"a","inner":{"when":"2024-01-02","tags":[]},"kind":1,"maybe":null,"computed":0.0}')
    for bad in ("NaN", "-NaN", "sNaN", "Infinity", "-Infinity"):
        with pytest.raises(ValueError):
            dumps(decimal.Decimal(bad))


@in_process
def test_native_types_win_over_default_and_others_still_reach_it():
    seen = []

    def default(o):
        seen.append(type(o))
        return "D"

    assert dumps([datetime.date(2024, 1, 1), Inner(datetime.date(2024, 1, 1)), b"x", Inner],
                 default=default) == b'["2024-01-01",{"when":"2024-01-01","tags":[]},"D","D"]'
    assert seen == [bytes, type]  # a dataclass *class* is not an instance


@in_process
def test_native_type_errors_propagate():
    class BadEnum(enum.Enum):
        A = 1

        @property
        def value(self):
            raise RuntimeError("no value")

    @dataclasses.dataclass
    class Missing:
        a: int

    m = Missing(1)
    del m.a
    with pytest.raises(RuntimeError, match="no value"):
        dumps(BadEnum.A)
    with pytest.raises(AttributeError):
        dumps(m)


# --- module -------------------------------------------------------------------------------


@in_process
def test_module_is_multiphase_and_documented():
    import inspect

    import fasterapi._native.json as m

    assert m.__spec__ is not None and m.__spec__.name == "fasterapi._native.json"
    assert str(inspect.signature(m.dumps)) == "(obj, /, *, default=None)"
    assert "ensure_ascii=False" in m.dumps.__doc__ and m.__doc__
    assert m.dumps({"message": "Hello, World!"}) == b'{"message":"Hello, World!"}'


SUBINTERP = r'''
import sys
CODE = """
import dataclasses, datetime, decimal, enum, json, uuid
import fasterapi._native.json as m

@dataclasses.dataclass
class D:
    when: datetime.datetime
    id: uuid.UUID
    price: decimal.Decimal

class E(enum.Enum):
    A = "a"

doc = {"message": "Hello, World!", "n": [1, 2.5, None, True, -0.0, 10**30, "é€😀\\n"],
       "d": D(datetime.datetime(2024, 1, 2, 3, 4, 5), uuid.UUID(int=1), decimal.Decimal("1.5")),
       "e": E.A, 3: (4,)}
out = m.dumps(doc)
want = json.dumps({"message": "Hello, World!", "n": [1, 2.5, None, True, -0.0, 10**30, "é€😀\\n"],
                   "d": {"when": "2024-01-02T03:04:05", "id": str(uuid.UUID(int=1)), "price": 1.5},
                   "e": "a", 3: [4]}, ensure_ascii=False, separators=(",", ":")).encode()
assert out == want, (out, want)
lst = []
lst.append(lst)
try:
    m.dumps(lst)
except ValueError as e:
    assert str(e) == "Circular reference detected"
else:
    raise AssertionError("no error")
assert m.dumps(b"x", default=bytes.decode) == b'"x"'
"""
failures = []
# One interpreter alive at a time: on CPython 3.13.0, two live interpreters
# that imported datetime (the fasterapi package does) crash when they are
# destroyed (python/cpython#136423), with or without this module.
try:
    import _interpreters as I  # 3.13
    for round_ in range(3):
        iid = I.create("isolated")
        cfg = I.get_config(iid)
        assert cfg.gil == "own" and cfg.check_multi_interp_extensions and not cfg.use_main_obmalloc, cfg
        for _ in range(2):  # the second run finds the module already imported
            err = I.exec(iid, CODE)
            if err is not None:
                failures.append(err.formatted)
        I.destroy(iid)
except ImportError:  # 3.12
    import _xxsubinterpreters as I
    for round_ in range(3):
        iid = I.create(isolated=True)
        try:
            I.run_string(iid, CODE)
            I.run_string(iid, CODE)
        except Exception as e:
            failures.append(repr(e))
        I.destroy(iid)
exec(CODE)  # and in the main interpreter afterwards
if failures:
    print("FAILED:", failures[0])
    sys.exit(1)
print("OK")
'''


def test_encodes_in_own_gil_subinterpreters():
    p = helpers.run_native(SUBINTERP)
    assert p.returncode == 0 and p.stdout.strip().endswith("OK"), p.stdout + p.stderr
