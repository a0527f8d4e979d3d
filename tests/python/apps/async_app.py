"""Coroutine (async def) handlers on the low-level API.

Run as `python async_app.py '<json of PyHttp2Server keywords>'`.  Handlers
print FA-ASYNC-* markers on stderr where a test needs to observe something
that happens after the response (cancellation, background tasks).
"""
import asyncio
import json
import sys
import threading
import time

#: Keys written by tasks that outlive their request (read by /async/bg).
BACKGROUND_DONE = []
#: id() of every running loop seen by a handler in this interpreter.
LOOPS_SEEN = set()


def _q(req):
    """The query string as a dict (a=1&b=2), or {"": raw} for a bare value."""
    q = req['query'] or ""
    if "=" not in q:
        return {"": q}
    return dict(p.split("=", 1) for p in q.split("&") if p)


def _json(res, obj, status=200):
    res['status'] = status
    res['content_type'] = 'application/json'
    res['body'] = json.dumps(obj)


def _interp_id():
    try:
        import _interpreters  # 3.13
        return _interpreters.get_current()[0]
    except ImportError:  # 3.12
        import _xxsubinterpreters
        return int(_xxsubinterpreters.get_current())


async def no_await(req, res):
    """Never suspends: answered inline, like a plain function."""
    loop = asyncio.get_running_loop()
    LOOPS_SEEN.add(id(loop))
    _json(res, {"ok": True, "path": req['path'], "loop": id(loop), "interp": _interp_id()})


async def sleep(req, res):
    t = float(_q(req)[""] or 0.2)
    loop = asyncio.get_running_loop()
    LOOPS_SEEN.add(id(loop))
    t0 = time.monotonic()
    await asyncio.sleep(t)
    _json(res, {"slept": t, "elapsed": time.monotonic() - t0, "loop": id(loop),
                "same_loop": asyncio.get_running_loop() is loop,
                "in_task": asyncio.current_task() is not None,
                "thread": threading.get_ident(), "interp": _interp_id()})


async def loops(req, res):
    _json(res, {"loops": len(LOOPS_SEEN), "tasks": len(asyncio.all_tasks())})


async def gather(req, res):
    async def one(i):
        await asyncio.sleep(0.4)
        return i * i

    t0 = time.monotonic()
    results = await asyncio.gather(*(one(i) for i in range(5)))
    _json(res, {"results": results, "elapsed": time.monotonic() - t0})


async def wait_for(req, res):
    """wait_for and asyncio.timeout; with ?later they come after a first
    suspension (inside the Task), else they are the handler's first await."""
    out = {}
    if _q(req)[""] == "later":
        await asyncio.sleep(0.01)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.sleep(30), timeout=0.1)
        out["wait_for"] = "no timeout"
    except TimeoutError:
        out["wait_for"] = "timeout"
    out["wait_for_elapsed"] = time.monotonic() - t0
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(0.1):
            await asyncio.sleep(30)
        out["timeout_cm"] = "no timeout"
    except TimeoutError:
        out["timeout_cm"] = "timeout"
    out["timeout_cm_elapsed"] = time.monotonic() - t0
    out["value"] = await asyncio.wait_for(asyncio.sleep(0.01, result="v"), timeout=5)
    _json(res, out)


async def task_group(req, res):
    """asyncio.TaskGroup (needs a current task) as the first await."""
    async def one(i):
        await asyncio.sleep(0.05)
        return i + 1

    if _q(req)[""] == "later":
        await asyncio.sleep(0.01)
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(one(i)) for i in range(3)]
    _json(res, {"results": [t.result() for t in tasks],
                "current_task": asyncio.current_task() is not None})


def _blocking(t):
    time.sleep(t)
    return threading.get_ident()


async def to_thread(req, res):
    t0 = time.monotonic()
    idents = await asyncio.gather(*(asyncio.to_thread(_blocking, 0.4) for _ in range(4)))
    _json(res, {"handler_thread": threading.get_ident(), "threads": idents,
                "elapsed": time.monotonic() - t0})


async def _background(key, path, delay):
    await asyncio.sleep(delay)
    BACKGROUND_DONE.append(key)
    if path:
        with open(path, "a") as f:
            f.write(key + "\n")
    print(f"FA-ASYNC-BG-DONE {key}", file=sys.stderr, flush=True)


async def spawn(req, res):
    """Starts a task that outlives the request, then answers at once."""
    q = _q(req)
    asyncio.create_task(_background(q["key"], q.get("file"), float(q.get("delay", 0.3))))
    await asyncio.sleep(0)
    _json(res, {"spawned": q["key"]})


async def bg(req, res):
    _json(res, {"done": list(BACKGROUND_DONE)})


async def tcp_client(req, res):
    """An asyncio TCP client talking to a server the test runs."""
    port = int(_q(req)["port"])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping from handler\n")
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    await writer.wait_closed()
    _json(res, {"reply": line.decode()})


async def _echo(reader, writer):
    data = await reader.readline()
    writer.write(b"echo:" + data)
    await writer.drain()
    writer.close()


async def tcp_loopback(req, res):
    """Starts an asyncio server inside the handler and talks to it."""
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    replies = []
    for i in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"hello {i}\n".encode())
        await writer.drain()
        replies.append((await reader.readline()).decode())
        writer.close()
        await writer.wait_closed()
    server.close()
    await server.wait_closed()
    _json(res, {"replies": replies})


async def raise_after_await(req, res):
    await asyncio.sleep(0.01)
    raise ValueError(f"async-boom-{req['query']}")


async def raise_inline(req, res):
    raise KeyError(f"inline-boom-{req['query']}")


async def cancel_me(req, res):
    """Sleeps long; records the CancelledError it gets when the client leaves."""
    marker = req['query']
    print(f"FA-ASYNC-STARTED {marker}", file=sys.stderr, flush=True)
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        print(f"FA-ASYNC-CANCELLED {marker}", file=sys.stderr, flush=True)
        raise
    finally:
        print(f"FA-ASYNC-FINALLY {marker}", file=sys.stderr, flush=True)
    _json(res, {"not": "cancelled"})


async def pooled_sleep(req, res):
    t0 = time.monotonic()
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    _json(res, {"elapsed": time.monotonic() - t0, "loop": id(loop),
                "thread": threading.get_ident(), "interp": _interp_id()})


def sync_hello(req, res):
    res['content_type'] = 'text/plain'
    res['body'] = "Hello from " + req['path']


ROUTES = [
    ("GET", "/", sync_hello),
    ("GET", "/async/noawait", no_await),
    ("POST", "/async/noawait", no_await),
    ("GET", "/async/sleep", sleep),
    ("GET", "/async/loops", loops),
    ("GET", "/async/gather", gather),
    ("GET", "/async/wait_for", wait_for),
    ("GET", "/async/task_group", task_group),
    ("GET", "/async/to_thread", to_thread),
    ("GET", "/async/spawn", spawn),
    ("GET", "/async/bg", bg),
    ("GET", "/async/tcp_client", tcp_client),
    ("GET", "/async/tcp_loopback", tcp_loopback),
    ("GET", "/async/raise", raise_after_await),
    ("GET", "/async/raise_inline", raise_inline),
    ("GET", "/async/cancel", cancel_me),
]
POOLED_ROUTES = [
    ("GET", "/pooled/async/sleep", pooled_sleep),
    ("GET", "/pooled/async/gather", gather),
    ("GET", "/pooled/async/raise", raise_after_await),
]


if __name__ == "__main__":
    from _serve import serve
    serve(ROUTES, POOLED_ROUTES)
