"""res['after']: work a handler wants done once its answer is on its way
(test_after.py).

Each `after` prints a line "FA-AFTER <what> ..." on stderr.  The ordering
checks use a file the test creates only once it holds the whole response:
an `after` that ran before the answer left would wait for it in vain.
"""
import asyncio
import os
import sys
import time


def _say(*words):
    print("FA-AFTER", *words, file=sys.stderr, flush=True)


def _wait_for_file(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.01)
    return False


def _flag_path(req):
    return req['query'].partition('flag=')[2]


def ordered(req, res):
    """after waits for the test's file: it appears only after the client
    read the answer."""
    path = _flag_path(req)
    res['body'] = b"answered"
    res['after'] = lambda: _say("ordered", req['path'], f"saw-client-flag={_wait_for_file(path)}")


async def ordered_async(req, res):
    await asyncio.sleep(0.01)  # suspends: answered through the Task's completion
    path = _flag_path(req)
    res['body'] = b"answered"
    res['after'] = lambda: _say("ordered", req['path'], f"saw-client-flag={_wait_for_file(path)}")


def coro_after(req, res):
    async def later():
        await asyncio.sleep(0.05)
        _say("coroutine", req['path'], f"loop-running={asyncio.get_running_loop().is_running()}")
    res['body'] = b"ok"
    res['after'] = later


def streamed(req, res):
    state = {"finished": False}

    def gen():
        try:
            for i in range(5):
                yield f"chunk{i}\n"
        finally:
            state["finished"] = True

    res['body'] = gen()
    res['after'] = lambda: _say("stream", f"generator-finished={state['finished']}")


def raising(req, res):
    def boom():
        raise ValueError("after failed on purpose")
    res['body'] = b"fine"
    res['after'] = boom


def not_callable(req, res):
    res['body'] = b"never sent"
    res['after'] = 42


ROUTES = [
    ("GET", "/ordered", ordered),
    ("GET", "/ordered/async", ordered_async),
    ("GET", "/coroutine", coro_after),
    ("GET", "/stream", streamed),
    ("GET", "/raising", raising),
    ("GET", "/not-callable", not_callable),
]
POOLED_ROUTES = [
    ("GET", "/pooled/ordered", ordered),
    ("GET", "/pooled/coroutine", coro_after),
    ("GET", "/pooled/stream", streamed),
]

if __name__ == "__main__":
    from _serve import serve
    serve(ROUTES, POOLED_ROUTES)
