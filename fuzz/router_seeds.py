"""Writes fuzz/corpus/router/: seed inputs for fuzz/fuzz_router.c.

Each seed is a first byte (how many of the lines that follow are routes,
minus one, modulo 8) and lines "METHOD PATTERN" then "METHOD PATH", in the
shapes the app layer registers: static paths, {name}, {name:int}, a last
{name:path}, the same path under several methods, HEAD and 405 lookups.
"""
from pathlib import Path

SEEDS = {
    "static": (["GET /", "GET /items", "POST /items"],
               ["GET /", "GET /items", "POST /items", "PUT /items", "HEAD /items", "GET /nope"]),
    "params": (["GET /items/{id}", "PUT /items/{id}", "GET /users/{uid}/items/{iid:int}"],
               ["GET /items/5", "DELETE /items/5", "HEAD /items/x", "GET /items/", "GET /items/5/",
                "GET /users/a/items/9", "GET /users//items/9"]),
    "rest": (["GET /files/{rest:path}", "GET /files/readme", "POST /files/{rest:path}"],
             ["GET /files/a/b/c", "GET /files/", "GET /files/readme", "POST /files/readme",
              "PATCH /files/x/y", "GET /files"]),
    "order": (["GET /a/{x}", "GET /a/b", "POST /a/{y}", "OPTIONS /a/{z}/"],
              ["GET /a/b", "POST /a/b", "DELETE /a/b", "OPTIONS /a/q/", "GET a/b", "GET /a/b/"]),
    "malformed": (["GET /{}", "GET /{a}{b}", "GET /{a}/{a}", "GET /{p:path}/x", "GET /{a:float}",
                   "get /ok", "GET /ok"],
                  ["GET /ok", "GET /{}", "GET /x"]),
}

out = Path(__file__).parent / "corpus" / "router"
out.mkdir(parents=True, exist_ok=True)
for name, (routes, lookups) in SEEDS.items():
    body = "\n".join(routes + lookups).encode()
    (out / name).write_bytes(bytes([(len(routes) - 1) % 8]) + body)
print(f"wrote {len(SEEDS)} seeds to {out}")
