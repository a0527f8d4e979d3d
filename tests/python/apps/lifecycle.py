"""In-process lifecycle checks: start(blocking=False), is_running(), stop(),
and starting/stopping many servers in one process.

Run as `python lifecycle.py MODE '<json of PyHttp2Server keywords>'`; prints
one JSON line of results on stdout (the test asserts on it).
"""
import gc
import http.client
import json
import os
import sys
import threading
import time

from fasterapi._native.http2 import PyHttp2Server


def hello(req, res):
    res['status'] = 200
    res['content_type'] = 'text/plain'
    res['body'] = f"Hello from {req['path']}"


def slow(req, res):
    time.sleep(float(req['query']))
    res['content_type'] = 'text/plain'
    res['body'] = "slow done"


def counts():
    gc.collect()
    return {"fds": len(os.listdir("/proc/self/fd")),
            "tasks": len(os.listdir("/proc/self/task")),
            "py_threads": threading.active_count()}


def get(port, path="/", timeout=20.0):
    """GET on a new connection, retrying the connect until the server listens."""
    deadline = time.monotonic() + timeout
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read().decode()
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
        finally:
            conn.close()


def make(cfg):
    server = PyHttp2Server(**cfg)
    server.add_route("GET", "/", hello)
    server.add_route("GET", "/slow", slow)
    server.add_route("GET", "/pooled/slow", slow, pooled=True)
    return server


def mode_nonblocking(cfg):
    out = {}
    server = make(cfg)
    out["before_start"] = server.is_running()
    t0 = time.monotonic()
    ret = server.start(blocking=False)
    out["start_seconds"] = time.monotonic() - t0
    out["start_returned"] = repr(ret)
    out["running_after_start"] = server.is_running()
    out["response"] = get(cfg["port"])
    t0 = time.monotonic()
    server.stop()
    out["stop_seconds"] = time.monotonic() - t0
    out["running_after_stop"] = server.is_running()
    try:
        get(cfg["port"], timeout=0.5)
        out["refused_after_stop"] = False
    except OSError:
        out["refused_after_stop"] = True
    return out


def mode_stop_inflight(cfg):
    out = {}
    server = make(cfg)
    server.start(blocking=False)
    get(cfg["port"])
    result = {}

    def client(path, ready):
        # A keep-alive connection that already carried a request: the
        # server has accepted it, so the slow request on it is in flight
        # from the server's side too.  (A connection still in a listener's
        # queue when stop() closes it is refused, as stopping promises; with
        # SO_REUSEPORT that happens when the worker that owns the queue is
        # blocked in a sleeping pinned handler.)
        conn = http.client.HTTPConnection("127.0.0.1", cfg["port"], timeout=20)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
            ready.set()
            conn.request("GET", path)
            r = conn.getresponse()
            result[path] = (r.status, r.read().decode())
        except Exception as e:  # noqa: BLE001
            ready.set()
            result[path] = repr(e)
        finally:
            conn.close()

    events = [threading.Event(), threading.Event()]
    # the pooled one first: the pinned sleep then cannot hold up its accept
    paths = ("/pooled/slow?1.5", "/slow?1.5")
    threads = [threading.Thread(target=client, args=(p, e)) for p, e in zip(paths, events)]
    for t, e in zip(threads, events):
        t.start()
        e.wait(10)
    time.sleep(0.5)
    t0 = time.monotonic()
    server.stop()
    out["stop_seconds"] = time.monotonic() - t0
    for t in threads:
        t.join(30)
    out["responses"] = result
    out["running_after_stop"] = server.is_running()
    return out


def mode_cycle(cfg):
    n = int(os.environ.get("FA_TEST_CYCLES", "20"))
    out = {"before": counts(), "after_each": []}
    for i in range(n):
        server = make(cfg)
        server.start(blocking=False)
        status, body = get(cfg["port"])
        if (status, body) != (200, "Hello from /"):
            out["bad_response"] = [i, status, body]
            break
        server.stop()
        if server.is_running():
            out["still_running"] = i
            break
        del server
        out["after_each"].append(counts())
    out["after"] = counts()
    out["cycles"] = len(out["after_each"])
    return out


if __name__ == "__main__":
    mode = sys.argv[1]
    cfg = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    result = globals()["mode_" + mode](cfg)
    print(json.dumps(result), flush=True)
