"""Per-worker admission control (issue 5): max_inflight bounds the requests
awaiting a coroutine or a pooled thread; beyond it HTTP/1.1 gets 503 with
Retry-After and HTTP/2 gets RST_STREAM(REFUSED_STREAM)."""
import os
import re
import subprocess
import time

import pytest

import helpers
from helpers import H2Client, h1_request

#: environment for curl and h2load: without the sanitizer runtimes the ASan pass
#: preloads (curl hangs at exit with them)
TOOL_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}

LIMIT = 5
REFUSED_STREAM = 7


@pytest.fixture(scope="module")
def adm(tmp_path_factory):
    yield from helpers.module_server("admission_app.py", tmp_path_factory, "adm",
                                num_pinned_workers=1, num_pooled_workers=2, max_inflight=LIMIT,
                                keepalive_timeout=30.0)


def _timed_get(port, path):
    t0 = time.monotonic()
    r = h1_request(port, "GET", path, timeout=30)
    return r, time.monotonic() - t0


def _burst_h1(srv, path, n=20):
    return helpers.run_threads([lambda: _timed_get(srv.port, path) for _ in range(n)], timeout=60)


def _check_h1_burst(results, n=20):
    ok = [(r, t) for r, t in results if r.status == 200]
    refused = [(r, t) for r, t in results if r.status == 503]
    assert len(ok) + len(refused) == n, sorted({r.status for r, _ in results})
    assert 1 <= len(ok) <= LIMIT, f"{len(ok)} admitted with max_inflight={LIMIT}"
    assert refused, "nothing was refused"
    for r, t in refused:
        assert r.header("retry-after") == "1", r.raw_head
        assert t < 1.5, f"a refusal took {t:.2f}s: it was queued, not refused"
    for r, _ in ok:
        assert r.body == b"slept"
    return len(ok), len(refused)


@pytest.mark.parametrize("route", ["/sleep?2.0", "/pooled/sleep?0.8"])
def test_h1_over_limit_gets_503_retry_after(adm, route):
    _check_h1_burst(_burst_h1(adm, route))
    # once the sleepers are done the slots are free again
    results = _burst_h1(adm, "/sleep?0.1", n=LIMIT)
    assert [r.status for r, _ in results] == [200] * LIMIT


def test_h1_over_limit_h2load(adm):
    if not helpers.have_tool("h2load"):
        pytest.skip("h2load not installed")
    p = subprocess.run(["h2load", "--h1", "-n", "20", "-c", "20", "-t", "1", f"{adm.url}/sleep?2.0"],
                       capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, env=TOOL_ENV)
    out = p.stdout
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    assert m, out + p.stderr
    ok, _, _, err5 = map(int, m.groups())
    assert ok + err5 == 20, out
    assert 1 <= ok <= LIMIT and err5 >= 20 - LIMIT, out


def test_h2_over_limit_refuses_streams(adm):
    with H2Client(adm.port) as c:
        c.handshake()
        sids = [c.request("GET", "/sleep?1.0") for _ in range(20)]
        t0 = time.monotonic()
        for sid in sids:
            c.response(sid)
        statuses = [(c.streams[s].status, c.streams[s].reset) for s in sids]
        ok = [s for s in sids if c.streams[s].status == 200 and c.streams[s].reset is None]
        refused = [s for s in sids if c.streams[s].reset == REFUSED_STREAM]
        assert len(ok) + len(refused) == 20, statuses
        assert 1 <= len(ok) <= LIMIT, statuses
        for s in ok:
            assert bytes(c.streams[s].body) == b"slept"
        for s in refused:
            assert c.streams[s].status is None, "a refused stream got an answer"
        assert time.monotonic() - t0 < 5
        # the connection survives; the refused work can be retried
        again = [c.request("GET", "/sleep?0.1") for _ in range(LIMIT)]
        assert all(c.response(s).status == 200 for s in again)
        assert c.goaway is None


def test_h2_over_limit_h2load(adm):
    """h2load sees the refused streams as failed/errored, the rest 2xx."""
    if not helpers.have_tool("h2load"):
        pytest.skip("h2load not installed")
    p = subprocess.run(["h2load", "-n", "20", "-c", "1", "-m", "20", "-t", "1", f"{adm.url}/sleep?1.0"],
                       capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, env=TOOL_ENV)
    out = p.stdout
    m = re.search(r"requests: 20 total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored",
                  out)
    assert m, out + p.stderr
    succeeded, failed, errored = map(int, m.groups())
    codes = re.search(r"status codes: (\d+) 2xx", out)
    assert 1 <= succeeded <= LIMIT, out
    assert failed + errored >= 20 - LIMIT, out
    assert int(codes.group(1)) == succeeded, out
    assert "h2c" in out


def test_pooled_h2_over_limit(adm):
    with H2Client(adm.port) as c:
        sids = [c.request("GET", "/pooled/sleep?0.5") for _ in range(12)]
        for sid in sids:
            c.response(sid)
        ok = sum(1 for s in sids if c.streams[s].status == 200)
        refused = sum(1 for s in sids if c.streams[s].reset == REFUSED_STREAM)
    assert ok + refused == 12 and 1 <= ok <= LIMIT and refused >= 12 - LIMIT


def test_under_limit_nothing_refused(adm):
    results = _burst_h1(adm, "/sleep?0.3", n=LIMIT)
    assert [r.status for r, _ in results] == [200] * LIMIT


def test_refusals_are_counted_at_stop(start_server):
    srv = start_server("admission_app.py", num_pinned_workers=1, max_inflight=2)
    results = _burst_h1(srv, "/sleep?2.0", n=8)
    refused = sum(1 for r, _ in results if r.status == 503)
    assert refused >= 6 and refused == 8 - sum(1 for r, _ in results if r.status == 200)
    assert srv.stop() == 0
    m = re.search(r"Stopped after (\d+) requests \((\d+) refused by admission control\)", srv.stderr())
    assert m, srv.stderr()[-2000:]
    assert int(m.group(2)) == refused
