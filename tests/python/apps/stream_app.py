"""Streamed response bodies: res['body'] as a (sync or async) iterable.

Run as `python stream_app.py '<json of PyHttp2Server keywords>'`.
Generators print FA-STREAM-* markers on stderr when they finish or are
closed, so tests can see that an abandoned generator ran its finally block.
"""
import asyncio
import json
import sys
import time

BLOCK = bytes(range(256)) * 256  # 64 KiB
#: bytes produced so far by the endless generators, per tag (this interpreter)
PRODUCED = {}


def _q(req):
    q = req['query'] or ""
    return dict(p.split("=", 1) for p in q.split("&") if "=" in p)


def _mark(*parts):
    print("FA-STREAM-" + " ".join(str(p) for p in parts), file=sys.stderr, flush=True)


def sync_chunks(req, res):
    n = int(_q(req).get("n", 5))

    def gen():
        for i in range(n):
            yield f"chunk {i}\n" if i % 2 else f"chunk {i}\n".encode()

    res['content_type'] = 'text/plain'
    res['headers'] = {'x-streamed': 'sync'}
    res['body'] = gen()


def big_sync(req, res):
    """n blocks of 64 KiB with a running counter in the first bytes."""
    n = int(_q(req).get("n", 32))

    def gen():
        for i in range(n):
            yield i.to_bytes(4, "big") + BLOCK[4:]

    res['content_type'] = 'application/octet-stream'
    res['body'] = gen()


def async_chunks(req, res):
    n = int(_q(req).get("n", 5))

    async def agen():
        for i in range(n):
            await asyncio.sleep(0.01)
            yield f"achunk {i}\n"

    res['content_type'] = 'text/plain'
    res['body'] = agen()


async def sse(req, res):
    """Server-Sent Events: each event carries the monotonic time it was made."""
    q = _q(req)
    n, interval = int(q.get("n", 5)), float(q.get("interval", 0.3))
    await asyncio.sleep(0)

    async def events():
        for i in range(n):
            if i:
                await asyncio.sleep(interval)
            yield f"id: {i}\nevent: tick\ndata: {json.dumps({'i': i, 't': time.monotonic()})}\n\n"

    res['content_type'] = 'text/event-stream'
    res['headers'] = {'cache-control': 'no-cache'}
    res['body'] = events()


def list_body(req, res):
    res['content_type'] = 'text/plain'
    res['body'] = [b"alpha,", "beta,", bytearray(b"gamma,"), "delta"]


def empty_iter(req, res):
    res['content_type'] = 'text/plain'
    res['body'] = iter(())


def raise_midway(req, res):
    tag = _q(req).get("tag", "x")
    size = int(_q(req).get("size", 1000))

    def gen():
        try:
            for i in range(3):
                yield BLOCK[:size]
            raise RuntimeError(f"stream-boom-{tag}")
        finally:
            _mark("RAISED-FINALLY", tag)

    res['content_type'] = 'application/octet-stream'
    res['body'] = gen()


def araise_midway(req, res):
    tag = _q(req).get("tag", "x")
    size = int(_q(req).get("size", 1000))

    async def agen():
        for i in range(3):
            await asyncio.sleep(0.01)
            yield BLOCK[:size]
        raise RuntimeError(f"astream-boom-{tag}")

    res['content_type'] = 'application/octet-stream'
    res['body'] = agen()


def endless(req, res):
    """64 KiB blocks for ever; counts what it produced; reports when closed."""
    tag = _q(req).get("tag", "x")
    PRODUCED[tag] = 0

    def gen():
        try:
            while True:
                PRODUCED[tag] += len(BLOCK)
                yield BLOCK
        except GeneratorExit:
            _mark("GENEXIT", tag)
            raise
        finally:
            _mark("FINALLY", tag, f"produced={PRODUCED[tag]}")

    res['content_type'] = 'application/octet-stream'
    res['body'] = gen()


def aendless(req, res):
    tag = _q(req).get("tag", "x")
    PRODUCED[tag] = 0

    async def agen():
        try:
            while True:
                PRODUCED[tag] += len(BLOCK)
                await asyncio.sleep(0)
                yield BLOCK
        finally:
            _mark("FINALLY", tag, f"produced={PRODUCED[tag]}")

    res['content_type'] = 'application/octet-stream'
    res['body'] = agen()


def produced(req, res):
    res['content_type'] = 'application/json'
    res['body'] = json.dumps(PRODUCED)


def hello(req, res):
    res['content_type'] = 'text/plain'
    res['body'] = "Hello from " + req['path']


ROUTES = [
    ("GET", "/", hello),
    ("GET", "/stream/sync", sync_chunks),
    ("HEAD", "/stream/sync", sync_chunks),
    ("GET", "/stream/big", big_sync),
    ("GET", "/stream/async", async_chunks),
    ("HEAD", "/stream/async", async_chunks),
    ("GET", "/stream/sse", sse),
    ("GET", "/stream/list", list_body),
    ("GET", "/stream/empty", empty_iter),
    ("GET", "/stream/raise", raise_midway),
    ("GET", "/stream/araise", araise_midway),
    ("GET", "/stream/endless", endless),
    ("HEAD", "/stream/endless", endless),
    ("GET", "/stream/aendless", aendless),
    ("GET", "/stream/produced", produced),
]
POOLED_ROUTES = [
    ("GET", "/pooled/stream/sync", sync_chunks),
    ("GET", "/pooled/stream/async", async_chunks),
    ("GET", "/pooled/stream/list", list_body),
    ("GET", "/pooled/stream/big", big_sync),
    ("GET", "/pooled/stream/raise", raise_midway),
    ("GET", "/pooled/stream/araise", araise_midway),
    ("GET", "/pooled/stream/endless", endless),
    ("HEAD", "/pooled/stream/endless", endless),
    ("GET", "/pooled/stream/aendless", aendless),
    ("GET", "/pooled/stream/produced", produced),
]


if __name__ == "__main__":
    from _serve import serve
    serve(ROUTES, POOLED_ROUTES)
