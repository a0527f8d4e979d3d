"""Running coroutines from synchronous code, outside the native server.

In worker interpreters the native layer drives coroutines itself: a request
handler that returns a coroutine runs inline until it suspends, then as a
Task on the worker's asyncio loop (see fasterapi._worker).  This module is
for the other places: TestClient (main interpreter) and the shutdown
handlers that run when a worker interpreter ends, after its loop is closed.

Each thread gets its own loop, created on first use and kept.  ``run(coro)``
first steps the coroutine directly, with that loop set as the running loop,
so one that never suspends costs no loop iteration at all; if it suspends,
the rest runs on the loop with ``run_until_complete``.
"""
import asyncio
import threading
import types

_local = threading.local()
_set_running_loop = asyncio.events._set_running_loop
_get_running_loop = asyncio.events._get_running_loop


def get_loop() -> asyncio.AbstractEventLoop:
    """The event loop of this interpreter and thread (created once)."""
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
    return loop


@types.coroutine
def _resume(coro, first):
    """Delegates to an already started coroutine (like ``yield from``)."""
    to_yield = first
    while True:
        try:
            sent = yield to_yield
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - delivered into the coroutine
            try:
                to_yield = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                to_yield = coro.send(sent)
            except StopIteration as stop:
                return stop.value


async def _finish(coro, first):
    return await _resume(coro, first)


def run(coro):
    """Runs a coroutine to completion from synchronous code and returns
    its result (or raises its exception)."""
    if _get_running_loop() is not None:
        # already inside a running loop (a caller drives us): cannot nest
        raise RuntimeError("fasterapi._aio.run() called from a running event loop")
    loop = get_loop()
    _set_running_loop(loop)
    try:
        first = coro.send(None)
    except StopIteration as stop:
        return stop.value
    except BaseException:
        raise
    finally:
        _set_running_loop(None)
    return loop.run_until_complete(_finish(coro, first))


def close_loop() -> None:
    """Closes this interpreter's loop (at shutdown)."""
    loop = getattr(_local, "loop", None)
    if loop is not None and not loop.is_closed():
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
    _local.loop = None
