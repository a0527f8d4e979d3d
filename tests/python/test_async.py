"""Coroutine handlers (issue 5): async def on pinned workers (stepped by the
native loop on the worker interpreter's own asyncio loop) and on pooled
routes; asyncio features inside handlers; cancellation on disconnect.

One module-wide server of apps/async_app.py with ONE pinned worker, so that
"a task that outlives the request" can be observed by a later request and
concurrency numbers are per worker.
"""
import asyncio
import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid

import pytest

import helpers
from helpers import H1Reader, H2Client, build_request, connect, curl, h1_request

#: environment for curl and h2load: without the sanitizer runtimes the ASan pass
#: preloads (curl hangs at exit with them)
TOOL_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}

SLACK = helpers.SLACK


@pytest.fixture(scope="module")
def asrv(tmp_path_factory):
    yield from helpers.module_server("async_app.py", tmp_path_factory, "async",
                                num_pinned_workers=1, keepalive_timeout=30.0,
                                graceful_timeout=3.0)


def _get(srv, path, proto):
    """GET over "h1" (raw socket) or "h2" (h2 client): (status, body bytes)."""
    if proto == "h1":
        r = h1_request(srv.port, "GET", path)
        return r.status, r.body
    st = helpers.h2_get(srv.port, path)
    assert st.reset is None, f"stream reset with {st.reset}"
    return st.status, bytes(st.body)


def _tag():
    return uuid.uuid4().hex[:10]


# --------------------------------------------------------------------------
# basics
# --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["h1", "h2"])
def test_async_handler_that_never_awaits_curl(asrv, mode):
    r = curl(f"{asrv.url}/async/noawait", mode)
    assert r.status == 200, r
    assert r.http_version == ("1.1" if mode == "h1" else "2")
    body = json.loads(r.body)
    assert body["ok"] is True and body["path"] == "/async/noawait"
    assert body["interp"] != 0


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_async_handler_that_never_awaits_post(asrv, proto):
    if proto == "h1":
        r = h1_request(asrv.port, "POST", "/async/noawait", body=b"x" * 1000)
        status, body = r.status, r.body
    else:
        st = helpers.h2_get(asrv.port, "/async/noawait", method="POST", body=b"x" * 1000)
        status, body = st.status, bytes(st.body)
    assert status == 200 and json.loads(body)["ok"] is True


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_async_handler_awaits_sleep(asrv, proto):
    status, body = _get(asrv, "/async/sleep?0.15", proto)
    assert status == 200, body
    info = json.loads(body)
    assert info["slept"] == 0.15
    assert 0.14 <= info["elapsed"] < 2.0 * SLACK
    assert info["same_loop"] is True, "the running loop changed across the await"
    assert info["in_task"] is True, "after its first suspension the handler runs as a Task"


def test_new_connections_after_earlier_requests(asrv):
    """Regression: a zero-initialised response struct once had file_fd 0,
    so its first reset closed descriptor 0 -- by then the socket of a later
    connection, whose deferred answer was lost."""
    for i in range(3):
        assert h1_request(asrv.port, "GET", "/").status == 200
        assert _get(asrv, "/async/sleep?0.01", "h1")[0] == 200
        assert _get(asrv, "/pooled/async/sleep", "h1")[0] == 200
        assert _get(asrv, "/async/sleep?0.01", "h2")[0] == 200


def test_one_loop_per_worker_interpreter(asrv):
    """Inline and suspended handlers see the same running loop, always."""
    loops = set()
    with connect(asrv.port) as s:
        rd = H1Reader(s)
        for path in ("/async/noawait", "/async/sleep?0.01", "/async/noawait", "/async/sleep?0.01"):
            s.sendall(build_request("GET", path))
            r = rd.read_response()
            assert r.status == 200
            loops.add(r.json()["loop"])
    assert len(loops) == 1, loops
    assert h1_request(asrv.port, "GET", "/async/loops").json()["loops"] == 1


def test_keepalive_mixes_sync_and_async(asrv):
    with connect(asrv.port) as s:
        rd = H1Reader(s)
        for i in range(4):
            for path in ("/", "/async/sleep?0.01", "/async/noawait"):
                s.sendall(build_request("GET", path))
                r = rd.read_response()
                assert r.status == 200, (path, r.status, r.body)
                assert (r.header("connection") or "") != "close"


def test_pipelined_async_requests_answer_in_order(asrv):
    paths = ["/async/sleep?0.2", "/async/noawait", "/async/sleep?0.05", "/", "/async/sleep?0.01"]
    with connect(asrv.port) as s:
        s.sendall(b"".join(build_request("GET", p) for p in paths))
        rd = H1Reader(s)
        got = [rd.read_response() for _ in paths]
    assert [r.status for r in got] == [200] * len(paths)
    assert got[0].json()["slept"] == 0.2
    assert got[1].json()["ok"] is True
    assert got[2].json()["slept"] == 0.05
    assert got[3].body == b"Hello from /"
    assert got[4].json()["slept"] == 0.01


def test_async_handler_as_h2c_upgrade_stream(asrv):
    """The request that carries Upgrade: h2c becomes stream 1 and may suspend."""
    with H2Client(asrv.port, mode="upgrade") as c:
        st = c.response(c.upgrade("GET", "/async/sleep?0.05"))
        assert st.status == 200 and json.loads(st.body)["slept"] == 0.05
        st = c.response(c.request("GET", "/async/noawait"))
        assert st.status == 200


def test_h2_streams_of_one_connection_interleave(asrv):
    """A slow stream does not hold back a fast one on the same connection."""
    with H2Client(asrv.port) as c:
        slow = c.request("GET", "/async/sleep?0.6")
        fast = c.request("GET", "/async/sleep?0.05")
        c.response(fast)
        assert c.streams[fast].status == 200
        assert not c.streams[slow].ended, "the fast stream should finish first"
        st = c.response(slow)
        assert st.status == 200 and json.loads(st.body)["slept"] == 0.6


# --------------------------------------------------------------------------
# concurrency on ONE pinned worker
# --------------------------------------------------------------------------

def _h2load(args, timeout=60):
    p = subprocess.run(["h2load", *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, env=TOOL_ENV)
    out = p.stdout
    m = re.search(r"finished in ([\d.]+)(ms|s)", out)
    assert m, out + p.stderr
    secs = float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)
    return p, out, secs


def _raise_nofile():
    import resource
    h = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (h, h))


@pytest.mark.parametrize("proto", ["h1", "h2c"])
def test_1000_concurrent_sleepers_on_one_worker(asrv, proto):
    """1,000 requests that each await asyncio.sleep(0.2), all at once, on one
    pinned worker: one at a time would take 200 s."""
    if not helpers.have_tool("h2load"):
        pytest.skip("h2load not installed")
    if proto == "h1":
        args = ["--h1", "-n", "1000", "-c", "1000", "-t", "1"]
    else:
        args = ["-n", "1000", "-c", "10", "-m", "100", "-t", "1"]
    t0 = time.monotonic()
    p, out, secs = _h2load(args + ["-T", "30", f"{asrv.url}/async/sleep?0.2"])
    wall = time.monotonic() - t0
    assert p.returncode == 0, out + p.stderr
    assert "1000 succeeded, 0 failed, 0 errored" in out, out
    assert "status codes: 1000 2xx" in out, out
    if proto == "h2c":
        assert "h2c" in out, out
    assert secs < 5.0 * SLACK, f"1000 sleepers took {secs:.2f}s (h2load), wall {wall:.2f}s\n{out}"


def test_concurrent_sleepers_httpx_h2(asrv):
    """The same over one HTTP/2 connection with httpx (prior knowledge)."""
    httpx = pytest.importorskip("httpx")

    async def main():
        async with httpx.AsyncClient(http1=False, http2=True, base_url=asrv.url, timeout=30) as cl:
            t0 = time.monotonic()
            rs = await asyncio.gather(*(cl.get("/async/sleep?0.3") for _ in range(80)))
            return rs, time.monotonic() - t0

    rs, elapsed = asyncio.run(main())
    assert all(r.status_code == 200 and r.http_version == "HTTP/2" for r in rs)
    assert all(r.json()["slept"] == 0.3 for r in rs)
    assert elapsed < 2.0 * SLACK, f"80 concurrent sleepers took {elapsed:.2f}s"


# --------------------------------------------------------------------------
# asyncio features inside handlers
# --------------------------------------------------------------------------

@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_gather(asrv, proto):
    status, body = _get(asrv, "/async/gather", proto)
    assert status == 200, body
    info = json.loads(body)
    assert info["results"] == [0, 1, 4, 9, 16]
    # one after the other they would take 2.0 s
    assert info["elapsed"] < 1.5, f"5 gathered 0.4 s sleeps took {info['elapsed']:.2f}s: not concurrent"


@pytest.mark.parametrize("when", ["first", "later"])
def test_wait_for_and_timeout(asrv, when):
    """asyncio.wait_for / asyncio.timeout as the handler's first await (it
    starts as an eager Task, so they have a current task) and later on."""
    r = h1_request(asrv.port, "GET", f"/async/wait_for?{when}")
    assert r.status == 200, r.body
    info = r.json()
    assert info["wait_for"] == "timeout" and info["timeout_cm"] == "timeout"
    assert 0.09 <= info["wait_for_elapsed"] < 1.0
    assert 0.09 <= info["timeout_cm_elapsed"] < 1.0
    assert info["value"] == "v"


@pytest.mark.parametrize("when", ["first", "later"])
def test_task_group(asrv, when):
    r = h1_request(asrv.port, "GET", f"/async/task_group?{when}")
    assert r.status == 200, r.body
    assert r.json() == {"results": [1, 2, 3], "current_task": True}


def test_to_thread(asrv):
    r = h1_request(asrv.port, "GET", "/async/to_thread")
    assert r.status == 200, r.body
    info = r.json()
    assert info["handler_thread"] not in info["threads"], "to_thread ran on the worker thread"
    assert len(set(info["threads"])) > 1
    # one after the other they would take 1.6 s
    assert info["elapsed"] < 1.2, f"4 parallel 0.4 s to_thread calls took {info['elapsed']:.2f}s"


def test_task_outlives_request(asrv, tmp_path):
    key = "bg-" + _tag()
    out = tmp_path / "bg.txt"
    since = asrv.stderr_len()
    t0 = time.monotonic()
    r = h1_request(asrv.port, "GET", f"/async/spawn?key={key}&file={out}&delay=1.0")
    assert r.status == 200 and r.json()["spawned"] == key
    assert time.monotonic() - t0 < 0.9, "the answer waited for the background task"
    assert key not in h1_request(asrv.port, "GET", "/async/bg").json()["done"]
    log = asrv.wait_stderr(lambda t: f"FA-ASYNC-BG-DONE {key}" in t, since, timeout=5)
    assert f"FA-ASYNC-BG-DONE {key}" in log
    assert key in h1_request(asrv.port, "GET", "/async/bg").json()["done"]
    assert out.read_text().split() == [key]


def test_task_outlives_h2_request(asrv):
    key = "bg2-" + _tag()
    since = asrv.stderr_len()
    st = helpers.h2_get(asrv.port, f"/async/spawn?key={key}&delay=0.2")
    assert st.status == 200
    asrv.wait_stderr(lambda t: key in t, since, timeout=5)
    st = helpers.h2_get(asrv.port, "/async/bg")
    assert key in json.loads(st.body)["done"]


class _AsyncioEchoServer:
    """An asyncio TCP server in a thread of the test process."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = None
        self.lines = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    async def _handle(self, reader, writer):
        line = await reader.readline()
        self.lines.append(line)
        writer.write(b"pong:" + line)
        await writer.drain()
        writer.close()

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def start():
            self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            self.ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def close(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_asyncio_tcp_client_to_server_in_test(asrv, proto):
    echo = _AsyncioEchoServer()
    try:
        status, body = _get(asrv, f"/async/tcp_client?port={echo.port}", proto)
    finally:
        echo.close()
    assert status == 200, body
    assert json.loads(body)["reply"] == "pong:ping from handler\n"
    assert echo.lines == [b"ping from handler\n"]


def test_asyncio_server_started_inside_handler(asrv):
    r = h1_request(asrv.port, "GET", "/async/tcp_loopback")
    assert r.status == 200, r.body
    assert r.json()["replies"] == [f"echo:hello {i}\n" for i in range(3)]


def test_concurrent_tcp_clients_in_handlers(asrv):
    """Several handlers doing asyncio network I/O at the same time."""
    echo = _AsyncioEchoServer()
    try:
        rs = helpers.run_threads([lambda: h1_request(asrv.port, "GET", f"/async/tcp_client?port={echo.port}")
                                  for _ in range(10)])
    finally:
        echo.close()
    assert [r.status for r in rs] == [200] * 10
    assert len(echo.lines) == 10


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("route,exc", [("/async/raise", "ValueError: async-boom-"),
                                       ("/async/raise_inline", "KeyError: 'inline-boom-"),
                                       ("/pooled/async/raise", "ValueError: async-boom-")])
def test_async_handler_raises_500_with_traceback(asrv, proto, route, exc):
    tag = _tag()
    since = asrv.stderr_len()
    status, body = _get(asrv, f"{route}?{tag}", proto)
    assert status == 500
    assert b"boom" not in body, "the exception text must not reach the client"
    log = asrv.wait_stderr(lambda t: exc + tag in t, since)
    assert "Traceback" in log and exc + tag in log, log[-3000:]
    # the worker goes on serving
    assert _get(asrv, "/async/noawait", proto)[0] == 200


# --------------------------------------------------------------------------
# cancellation when the client goes away
# --------------------------------------------------------------------------

def _wait_marker(srv, marker, since, timeout=5.0):
    log = srv.wait_stderr(lambda t: marker in t, since, timeout)
    assert marker in log, f"{marker!r} not on stderr:\n{log[-3000:]}"


def _tasks(srv):
    return h1_request(srv.port, "GET", "/async/loops").json()["tasks"]


def _tasks_settle(srv, baseline, timeout=5.0):
    """Waits until the Tasks on the worker's loop are back to baseline (the
    cancelled handlers left nothing behind); returns the last count."""
    deadline = time.monotonic() + timeout
    while True:
        n = _tasks(srv)
        if n <= baseline or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def test_h1_disconnect_cancels_handler(asrv):
    base = _tasks(asrv)
    tag = "h1-" + _tag()
    since = asrv.stderr_len()
    s = connect(asrv.port)
    s.sendall(build_request("GET", f"/async/cancel?{tag}"))
    _wait_marker(asrv, f"FA-ASYNC-STARTED {tag}", since)
    t0 = time.monotonic()
    s.close()
    _wait_marker(asrv, f"FA-ASYNC-CANCELLED {tag}", since)
    _wait_marker(asrv, f"FA-ASYNC-FINALLY {tag}", since)
    assert time.monotonic() - t0 < 3.0
    assert _tasks_settle(asrv, base) <= base
    helpers.assert_serving(asrv.port)


def test_h1_half_close_cancels_handler(asrv):
    """shutdown(SHUT_WR) is a disconnect too, for a handler still waiting."""
    tag = "h1half-" + _tag()
    since = asrv.stderr_len()
    with connect(asrv.port) as s:
        s.sendall(build_request("GET", f"/async/cancel?{tag}"))
        _wait_marker(asrv, f"FA-ASYNC-STARTED {tag}", since)
        s.shutdown(socket.SHUT_WR)
        _wait_marker(asrv, f"FA-ASYNC-CANCELLED {tag}", since)
        closed, _ = helpers.wait_closed(s, 5)
        assert closed


def test_h1_many_disconnects_cancel_all(asrv):
    base = _tasks(asrv)
    tags = ["many-" + _tag() for _ in range(20)]
    since = asrv.stderr_len()
    socks = []
    for t in tags:
        s = connect(asrv.port)
        s.sendall(build_request("GET", f"/async/cancel?{t}"))
        socks.append(s)
    asrv.wait_stderr(lambda txt: all(f"STARTED {t}" in txt for t in tags), since)
    for s in socks:
        s.close()
    log = asrv.wait_stderr(lambda txt: all(f"CANCELLED {t}" in txt for t in tags), since)
    missing = [t for t in tags if f"FA-ASYNC-CANCELLED {t}" not in log]
    assert not missing, missing
    assert _tasks_settle(asrv, base) <= base


def test_h2_rst_stream_cancels_handler(asrv):
    base = _tasks(asrv)
    tag = "rst-" + _tag()
    since = asrv.stderr_len()
    with H2Client(asrv.port) as c:
        sid = c.request("GET", f"/async/cancel?{tag}")
        other = c.request("GET", "/async/sleep?0.3")
        _wait_marker(asrv, f"FA-ASYNC-STARTED {tag}", since)
        c.conn.reset_stream(sid, error_code=8)  # CANCEL
        c.flush()
        _wait_marker(asrv, f"FA-ASYNC-CANCELLED {tag}", since)
        # the connection and its other stream are unaffected
        st = c.response(other)
        assert st.status == 200 and json.loads(st.body)["slept"] == 0.3
        st = c.response(c.request("GET", "/async/noawait"))
        assert st.status == 200
    assert _tasks_settle(asrv, base) <= base


def test_h2_connection_close_cancels_all_streams(asrv):
    base = _tasks(asrv)
    tags = ["h2close-" + _tag() for _ in range(5)]
    since = asrv.stderr_len()
    c = H2Client(asrv.port)
    for t in tags:
        c.request("GET", f"/async/cancel?{t}")
    asrv.wait_stderr(lambda txt: all(f"STARTED {t}" in txt for t in tags), since)
    c.close()
    log = asrv.wait_stderr(lambda txt: all(f"CANCELLED {t}" in txt for t in tags), since)
    missing = [t for t in tags if f"FA-ASYNC-CANCELLED {t}" not in log]
    assert not missing, missing
    assert _tasks_settle(asrv, base) <= base


# --------------------------------------------------------------------------
# pooled routes: the coroutine runs to completion on the pooled thread's loop
# --------------------------------------------------------------------------

@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_pooled_async_handler(asrv, proto):
    status, body = _get(asrv, "/pooled/async/sleep", proto)
    assert status == 200, body
    info = json.loads(body)
    assert info["elapsed"] >= 0.09
    pinned = json.loads(_get(asrv, "/async/noawait", proto)[1])
    assert info["interp"] != pinned["interp"], "pooled handler ran in the pinned interpreter"


def test_pooled_async_gather(asrv):
    r = h1_request(asrv.port, "GET", "/pooled/async/gather")
    assert r.status == 200 and r.json()["results"] == [0, 1, 4, 9, 16]
    assert r.json()["elapsed"] < 1.5


def test_pooled_async_does_not_block_pinned_worker(asrv):
    """While a pooled coroutine sleeps, the pinned worker answers."""
    results = {}

    def pooled():
        results["pooled"] = h1_request(asrv.port, "GET", "/pooled/async/gather").status

    th = threading.Thread(target=pooled)
    th.start()
    time.sleep(0.1)
    assert h1_request(asrv.port, "GET", "/async/noawait").status == 200
    assert th.is_alive(), "the pinned answer waited for the pooled coroutine"
    th.join(10)
    assert results["pooled"] == 200
