"""The attack suite (tests/attack): each known HTTP/2 and HTTP/1.1
denial-of-service shape against a server on loopback, in a short form.

It shares the native tests' plumbing (tests/python/helpers.py,
tests/python/h2frames.py), put on sys.path here.  The attacks themselves
live in attacks.py, which bench/attack.py runs longer and with timings.
"""
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "python"), str(HERE.parent / "python" / "h2conf"), str(HERE)]

import attacks as A  # noqa: E402
import helpers  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: heavy or long test; the ASan pass deselects these")


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    yield from helpers.module_server("conformance.py", tmp_path_factory, "attack", **A.SERVER_CONFIG)


@pytest.fixture
def watch(target):
    """Runs an attack with a good client on another connection and an RSS
    sampler beside it; returns (result, good client, sampler, t0, t1)."""
    def run(fn, *args, **kw):
        import time
        rss = A.RssSampler(target.pid)
        good = A.GoodClient(target.port)
        rss.start()
        good.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        try:
            res = fn(target.port, *args, **kw)
        finally:
            t1 = time.monotonic()
            time.sleep(0.3)
            good.stop()
            rss.stop()
        assert target.running(), f"server died:\n{target.stderr()[-4000:]}"
        return res, good, rss, t0, t1
    return run
