"""What the application layer costs per request, in-process (no socket):
timeit of the native handlers the layer registers for
`GET /items/{item_id}?q=abc` (bench/apps/items_app.py), against the
seed-style handler on the same route (bench/apps/items_seed.py).

    .venv/bin/python bench/layer_overhead.py [--number N]

Prints microseconds per call, the best of 5 repeats: the route's direct
handler (`_runtime.route_<i>`, what the server calls), the generic
dispatcher (`_runtime.handle`, used for routes with convertors, apps with
middleware, and unmatched requests) and the seed handler.
"""
import argparse
import os
import sys
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "apps"))

from fasterapi import _runtime  # noqa: E402
from fasterapi._worker import Headers  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--number", type=int, default=200_000)
    args = ap.parse_args()
    os.environ.setdefault("BENCH_FRAMEWORK", "fasterapi")
    import items_app
    import items_seed
    app = items_app.app
    _runtime.adopt(app)
    app._startup_state = None  # as after the startup hook
    names = dict(zip(((m, p) for m, p, *_ in app.native_routes()), _runtime.direct_handlers(app)))
    direct = getattr(_runtime, names[("GET", "/items/{item_id}")])
    req = {"method": "GET", "path": "/items/5", "query": "q=abc", "headers": Headers(), "body": b"",
           "http_version": "1.1", "path_params": {"item_id": "5"}, "route": "/items/{item_id}",
           "client": ("127.0.0.1", 40000), "scheme": "http"}
    for name, h in (("layer, direct handler", direct), ("layer, dispatcher", _runtime.handle),
                    ("seed handler", items_seed.read_item)):
        res = {}
        h(dict(req), res)
        assert res.get("body") == b'{"item_id":5,"q":"abc"}' or res.get("json") == {"item_id": 5, "q": "abc"}, res
        best = min(timeit.repeat(lambda: h(req, {}), number=args.number, repeat=5)) / args.number
        print(f"{name:24s} {best * 1e6:6.2f} us per call")


if __name__ == "__main__":
    main()
