"""Streamed request bodies: routes added with stream_body=True get the body
as it arrives through req['stream'], unbounded by max_body_size, and the
server holds the client back while the handler is behind."""
import hashlib
import json
import subprocess

import pytest

import helpers


def _rss_peak_kb(pid):
    return helpers.proc_status_kb(pid, "VmHWM")


@pytest.fixture(scope="module")
def usrv(tmp_path_factory):
    # a small body limit: streamed routes must not be bound by it
    yield from helpers.module_server("upload_app.py", tmp_path_factory, "usrv",
                                num_pinned_workers=1, max_body_size=1 << 20)


@pytest.mark.parametrize("mode", ["h1", "h2", "h2c"])  # h2: prior knowledge, h2c: upgrade
def test_upload_hashed_as_it_arrives(usrv, mode):
    data = helpers.random_body(5 * 1024 * 1024, seed=7)
    r = helpers.curl(f"{usrv.url}/up", mode, method="POST", data=data, timeout=60)
    assert r.status == 200, r.body
    info = json.loads(r.body)
    assert info["bytes"] == len(data) and info["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["body"] == 0  # req['body'] stays empty on a stream_body route
    assert info["chunks"] > 1


def test_chunked_upload_h1(usrv):
    data = helpers.random_body(3 * 1024 * 1024, seed=8)
    r = helpers.curl(f"{usrv.url}/up", "h1", method="POST", data=data,
                     headers=["Transfer-Encoding: chunked"], timeout=60)
    info = json.loads(r.body)
    assert r.status == 200 and info["sha256"] == hashlib.sha256(data).hexdigest()


def test_other_routes_keep_the_body_limit(usrv):
    data = helpers.random_body(2 * 1024 * 1024, seed=9)
    r = helpers.curl(f"{usrv.url}/plain", "h1", method="POST", data=data, timeout=60)
    assert r.status == 413


def test_answer_before_the_body_is_read(usrv):
    data = helpers.random_body(4 * 1024 * 1024, seed=10)
    for mode in ("h1", "h2"):
        r = helpers.curl(f"{usrv.url}/early", mode, method="POST", data=data, timeout=60)
        assert r.status == 413 and r.body == b"no thanks"
    # the server still serves
    r = helpers.curl(f"{usrv.url}/up", "h1", method="POST", data=b"abc")
    assert json.loads(r.body)["bytes"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["--http1.1", "--http2-prior-knowledge"])
def test_slow_handler_holds_the_client_back(usrv, mode):
    # 100 MB into a handler that sleeps on every chunk: without backpressure
    # the server would buffer most of it
    total = 100 * 1024 * 1024
    before = _rss_peak_kb(usrv.pid)
    feed = subprocess.Popen(["head", "-c", str(total), "/dev/zero"], stdout=subprocess.PIPE)
    out = subprocess.run(["curl", "-sS", "--max-time", "120", mode, "-X", "POST", "-T", "-",
                          f"{usrv.url}/slow"], stdin=feed.stdout, capture_output=True, timeout=150)
    feed.stdout.close()
    feed.wait()
    info = json.loads(out.stdout)
    assert info["bytes"] == total
    assert info["sha256"] == hashlib.sha256(b"\0" * total).hexdigest()
    grew_mb = (_rss_peak_kb(usrv.pid) - before) / 1024
    assert grew_mb < 48, f"peak RSS grew {grew_mb:.0f} MB while streaming {total >> 20} MB in"
