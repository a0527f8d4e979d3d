"""Compares fasterapi._native.json.dumps with the stdlib encoder.

The baseline is what FastAPI's JSONResponse does:
``json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()``.
Three documents: a small dict, a ~1 KB nested document and a ~100 KB list of
records.  Each is timed with timeit (best of 5 repeats); prints ns per call
and the speed-up, measured in this one invocation.  The last columns compare
with a JSONEncoder built once, as fasterapi._json uses it.

    .venv/bin/python bench/json_bench.py
"""
import json
import os
import sys
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

from fasterapi._native.json import dumps  # noqa: E402


def stdlib_dumps(obj):
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


# What fasterapi._json does today: one encoder built once (json.dumps with
# these keywords builds a JSONEncoder on every call).
_prebuilt = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def prebuilt_dumps(obj):
    return _prebuilt(obj).encode()


def nested_document():
    """~1 KB: an order with a customer, addresses and a few lines."""
    return {
        "id": 918273645,
        "status": "shipped",
        "created_at": "2024-05-06T07:08:09Z",
        "customer": {"id": 4711, "name": "Zoë Müller", "email": "zoe@example.com", "vip": True,
                     "address": {"street": "Hauptstraße 5", "city": "Zürich", "zip": "8001",
                                 "country": "CH", "geo": [47.3769, 8.5417]}},
        "lines": [{"sku": f"SKU-{i:05d}", "title": f"Item number {i}", "qty": i % 3 + 1,
                   "price": 9.99 + i, "discount": None if i % 2 else 0.15}
                  for i in range(5)],
        "totals": {"net": 84.95, "tax": 6.54, "gross": 91.49, "currency": "CHF"},
        "notes": "Leave at the door \"if nobody answers\".\nThanks!",
        "flags": [False, True, None],
    }


def records(target_bytes=100_000):
    """A list of flat records whose JSON is about target_bytes long."""
    out, size, i = [], 2, 0
    while size < target_bytes:
        rec = {"id": i, "name": f"user{i}", "email": f"user{i}@example.com", "active": i % 3 != 0,
               "score": round(i * 1.37 % 100, 2), "age": 18 + i % 60, "tags": ["alpha", "beta"][: i % 3],
               "city": "Montréal" if i % 5 == 0 else "Berlin"}
        out.append(rec)
        size += len(stdlib_dumps(rec)) + 1
        i += 1
    return out


def best_ns(fn, obj, repeat=5):
    """Best time per call in ns; the number of calls makes one repeat ~0.2 s."""
    timer = timeit.Timer(lambda: fn(obj))
    number, _ = timer.autorange()
    number = max(1, number)
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def main():
    docs = [("small dict", {"message": "Hello, World!"}),
            ("1 KB nested", nested_document()),
            ("100 KB records", records())]
    print(f"python {sys.version.split()[0]}; baseline: json.dumps(..., ensure_ascii=False, "
          f"allow_nan=False, separators=(',', ':')).encode()")
    print(f"{'document':<16}{'bytes':>8}{'json ns/op':>12}{'fasterapi ns/op':>17}{'speed-up':>10}"
          f"{'prebuilt ns/op':>16}{'speed-up':>10}")
    for name, obj in docs:
        data = dumps(obj)
        assert data == stdlib_dumps(obj) == prebuilt_dumps(obj), name
        base = best_ns(stdlib_dumps, obj)
        ours = best_ns(dumps, obj)
        pre = best_ns(prebuilt_dumps, obj)
        print(f"{name:<16}{len(data):>8}{base:>12.0f}{ours:>17.0f}{base / ours:>9.1f}x"
              f"{pre:>16.0f}{pre / ours:>9.1f}x")


if __name__ == "__main__":
    main()
