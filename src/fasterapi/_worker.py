"""Runs inside every worker sub-interpreter at start.

The native server creates one own-GIL interpreter per pinned worker (and per
pooled interpreter).  Each imports this module and calls load_handlers() to
import its own copy of the application's handlers: Python objects never
cross interpreters, only their import paths do.
"""
import importlib
import importlib.util
import sys

# multiprocessing's spawn start method uses the same alias: the main script
# runs again under a name other than "__main__", so its
# `if __name__ == "__main__":` block stays quiet.
MAIN_ALIAS = "__mp_main__"


class Headers(dict):
    """Request headers with case-insensitive lookup.

    Names are stored lowercase; lookups lowercase the key first.
    """

    __slots__ = ()

    def __getitem__(self, key):
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key):
        return isinstance(key, str) and dict.__contains__(self, key.lower())

    def get(self, key, default=None):
        return dict.get(self, key.lower(), default)


def _load_main(path):
    mod = sys.modules.get(MAIN_ALIAS)
    if mod is not None:
        return mod
    if path is None:
        raise ImportError(
            "a handler lives in __main__, but the main module has no file to "
            "import again in worker interpreters; define handlers in a script "
            "or an importable module"
        )
    spec = importlib.util.spec_from_file_location(MAIN_ALIAS, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the main script {path!r} in a worker interpreter")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[MAIN_ALIAS] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[MAIN_ALIAS]
        raise
    return mod


def load_handlers(main_path, refs, main_interp=False):
    """Imports each (module, qualname) pair and returns the objects, in order.
    In the main interpreter (main_interp), ``__main__`` is the running
    script itself."""
    out = []
    for module, qualname in refs:
        if module == "__main__":
            mod = sys.modules["__main__"] if main_interp else _load_main(main_path)
        else:
            mod = importlib.import_module(module)
        obj = mod
        for part in qualname.split("."):
            obj = getattr(obj, part)
        out.append(obj)
    return out


# ---------------------------------------------------------------------------
# asyncio inside a worker interpreter
#
# Each pinned worker runs one asyncio loop in its interpreter, stepped by the
# worker's native event loop instead of owning the thread: the native loop
# polls the asyncio selector's file descriptor along with its sockets and
# calls step() when it is readable or when the next asyncio timer is due.
# A coroutine handler is first run inline by the native code; only when it
# suspends does it become a Task here.

import asyncio
import inspect
import selectors
import types


class _NonBlockingSelector(selectors.DefaultSelector):
    """The native loop does the waiting; asyncio's own poll never blocks
    (except while a startup/shutdown hook runs the loop by itself)."""

    blocking = False

    def select(self, timeout=None):
        return super().select(timeout if self.blocking else 0)


class WorkerLoop(asyncio.SelectorEventLoop):
    """An asyncio loop driven by the native worker loop (see step())."""

    def __init__(self):
        self._fa_selector = _NonBlockingSelector()
        self._fa_inline = False
        super().__init__(self._fa_selector)

    def is_running(self):
        # True while it is this thread's running loop: the native worker owns
        # the thread and steps it (handlers see what they would under
        # run_forever; asyncio.Task only starts eagerly on a running loop).
        # Hooks and close_all unset the running loop before driving it with
        # run_until_complete, which refuses a loop that is running.
        return (self._fa_inline or asyncio.events._get_running_loop() is self
                or super().is_running())

    def fileno(self):
        """The descriptor that becomes readable when asyncio has I/O to handle."""
        return self._fa_selector.fileno()

    def step(self):
        """Runs one iteration without blocking.

        Returns the seconds until asyncio needs another step (0.0: at once),
        or -1.0 when only I/O on fileno() can give it work.
        """
        # _run_once is the body of run_forever(); calling it directly lets
        # the native loop own the thread (stable from 3.4 to 3.13).
        self._run_once()
        if self._ready:
            return 0.0
        if self._scheduled:
            return max(0.0, self._scheduled[0].when() - self.time())
        return -1.0

    def close_all(self):
        """Cancels what is left and closes the loop (worker shutdown)."""
        tasks = [t for t in asyncio.all_tasks(self) if not t.done()]
        for t in tasks:
            t.cancel()
        for _ in range(10):
            if not any(not t.done() for t in tasks):
                break
            self.step()
        asyncio.events._set_running_loop(None)
        try:
            self.run_until_complete(self.shutdown_default_executor())
        except Exception:
            pass
        self.close()


def make_loop():
    """Creates this interpreter's worker loop and makes it the running loop
    of the calling thread, so handlers can use asyncio as usual."""
    loop = WorkerLoop()
    asyncio.events._set_running_loop(loop)
    return loop


@types.coroutine
def _continue(coro, yielded):
    # Resumes a coroutine that the native code already started and that
    # suspended by yielding `yielded`: re-yield each awaited object to the
    # Task that drives us and pass back values and exceptions (including
    # cancellation) unchanged, which is what `yield from` does once started.
    send, throw = coro.send, coro.throw
    while True:
        try:
            value = yield yielded
        except BaseException as exc:
            try:
                yielded = throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = send(value)
            except StopIteration as stop:
                return stop.value


async def _resume(coro, yielded):
    return await _continue(coro, yielded)


def start_task(loop, coro):
    """Runs a coroutine handler as an eager Task: its first step runs now,
    inside the Task (so asyncio.timeout, wait_for and TaskGroup work from the
    first line), and a handler that never suspends is done on return."""
    loop._fa_inline = True
    try:
        return asyncio.Task(coro, loop=loop, eager_start=True)
    finally:
        loop._fa_inline = False


def resume(loop, coro, yielded, done):
    """Turns a suspended handler coroutine into a Task with a done callback."""
    task = loop.create_task(_resume(coro, yielded))
    task.add_done_callback(done)
    return task


def run_coroutine(loop, coro):
    """For pooled threads, which may block: run the coroutine to the end."""
    return loop.run_until_complete(coro)


def make_blocking_loop():
    return asyncio.new_event_loop()


async def _aclose(it):
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()


def close_async_iter(loop, it):
    """Closes an abandoned async generator on the loop (its finally blocks
    may await)."""
    if loop is None or loop.is_closed():
        return
    if loop.is_running():
        loop.create_task(_aclose(it))
    else:  # a pooled thread's loop: close it now
        loop.run_until_complete(_aclose(it))


# ---------------------------------------------------------------------------
# streamed request bodies (routes added with stream_body=True)

import collections


class BodyStream:
    """The request body of a stream_body route, as it arrives.

    ``async for chunk in req['stream']`` yields bytes chunks; ``await
    req['stream'].read()`` returns the rest at once.  The native server
    feeds it and stops reading from the client while more than a
    megabyte is waiting here, so a slow handler slows the upload down
    instead of filling memory.
    """

    __slots__ = ("_chunks", "_size", "_ended", "_waiter", "_loop")

    def __init__(self, loop):
        self._chunks = collections.deque()
        self._size = 0
        self._ended = False
        self._waiter = None
        self._loop = loop

    def _feed(self, data, end):
        # called by the native worker; returns the bytes now buffered
        if data:
            self._chunks.append(data)
            self._size += len(data)
        if end:
            self._ended = True
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)
        return self._size

    def _buffered(self):
        return self._size

    def __aiter__(self):
        return self

    async def __anext__(self):
        while not self._chunks:
            if self._ended:
                raise StopAsyncIteration
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        self._size -= len(chunk)
        return chunk

    async def read(self):
        """The rest of the body as one bytes object."""
        parts = [chunk async for chunk in self]
        return b"".join(parts)


def make_body(loop):
    return BodyStream(loop)


_AFTER_TASKS = set()


def _after_task_done(task):
    _AFTER_TASKS.discard(task)
    if not task.cancelled() and task.exception() is not None:
        import traceback
        print("fasterapi: res['after'] raised", file=sys.stderr)
        traceback.print_exception(task.exception(), file=sys.stderr)


def run_after(fn, loop, blocking):
    """Runs a handler's res['after'] once its answer was handed to the
    connection.  A coroutine it returns runs as a Task on the worker's loop
    (to the end, on a pooled thread)."""
    result = fn()
    if not inspect.isawaitable(result):
        return
    if blocking or loop is None:
        run_coroutine(loop, result) if loop is not None else asyncio.run(result)
        return
    task = loop.create_task(result)
    _AFTER_TASKS.add(task)  # the loop keeps only weak references to tasks
    task.add_done_callback(_after_task_done)


def run_hook(loop, fn):
    """Runs a startup or shutdown hook in this interpreter; a coroutine runs
    to the end on the worker's loop (which owns the thread meanwhile)."""
    result = fn()
    if not inspect.isawaitable(result):
        return
    if loop is None:
        asyncio.run(result)
        return
    selector = getattr(loop, "_fa_selector", None)
    running = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    if selector is not None:
        selector.blocking = True
    try:
        loop.run_until_complete(result)
    finally:
        if selector is not None:
            selector.blocking = False
        asyncio.events._set_running_loop(running)
