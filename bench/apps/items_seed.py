"""items_app.py's route, hand-written on the low-level API (the "seed" style).

    python items_seed.py PORT PINNED_WORKERS

GET /items/{item_id}?q=...  ->  {"item_id": <int>, "q": <str or null>}, 422 if item_id is not an int.
The query is split by hand (what a lean low-level handler does), not with
urllib.parse.parse_qs, whose generality costs more than the rest of the handler.
"""
import sys
from urllib.parse import unquote_plus

from fasterapi._native.http2 import PyHttp2Server


def read_item(req, res):
    try:
        item_id = int(req["path_params"]["item_id"])
    except ValueError:
        res["status"] = 422
        res["json"] = {"detail": "item_id must be an integer"}
        return
    q = None
    query = req["query"]
    if query:
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            if name == "q":
                q = unquote_plus(value)
    res["json"] = {"item_id": item_id, "q": q}


if __name__ == "__main__":
    port, pinned = int(sys.argv[1]), int(sys.argv[2])
    server = PyHttp2Server(port=port, host="127.0.0.1", num_pinned_workers=pinned)
    server.add_route("GET", "/items/{item_id}", read_item)
    server.start()
