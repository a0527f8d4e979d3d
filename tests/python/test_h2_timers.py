"""Which deadline an HTTP/2 connection is under (fa_h2_timer_state): idle
(keep-alive, restarted by each new request), receiving request bodies (body
timeout, restarted by reads), waiting for the peer's window (write timeout),
handlers at work (none)."""
import time

import pytest

import h2frames as F
import helpers

CFG = dict(num_pinned_workers=1, keepalive_timeout=1.0, body_timeout=2.0, header_timeout=2.0)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    yield from helpers.module_server("conformance.py", tmp_path_factory, "h2timers", **CFG)


def _conn(srv, *settings):
    c = F.RawH2(helpers.connect(srv.port))
    c.handshake(*settings)
    return c


def test_busy_connection_not_sent_away_by_keepalive(srv):
    """Requests answered within one read never make the session busy: the
    keep-alive deadline must still restart with each of them."""
    c = _conn(srv)
    t_end = time.monotonic() + 3 * CFG["keepalive_timeout"]
    n = 0
    while time.monotonic() < t_end:
        status, _ = c.response(c.request())  # fails on a GOAWAY
        assert status == 200
        n += 1
        time.sleep(0.1)
    assert n >= 10
    # then idle: GOAWAY(NO_ERROR) and close after keepalive_timeout
    t0 = time.monotonic()
    out = c.collect(lambda f: False, 5)
    g = out.goaway()
    assert g is not None and g.error_code == F.NO_ERROR and out.closed, out.describe()
    assert time.monotonic() - t0 < CFG["keepalive_timeout"] + 3
    c.close()


def test_slow_upload_outlives_keepalive(srv):
    """A request body that keeps arriving is under the body timeout, not the
    keep-alive one."""
    c = _conn(srv)
    sid = c.new_stream()
    c.send(F.headers(sid, c.enc.block(F.request_fields("POST", "/echo")), end_stream=False))
    parts = [b"part%d" % i for i in range(8)]
    for p in parts:
        time.sleep(0.4)  # 3.2 s in all: > keepalive_timeout, each gap < body_timeout
        c.send(F.data(sid, p))
    c.send(F.data(sid, b"", end_stream=True))
    status, body = c.response(sid)
    assert status == 200 and body == b"".join(parts)
    c.close()


def test_stalled_body_times_out(srv):
    """A request body that stops: GOAWAY and close after body_timeout."""
    c = _conn(srv)
    sid = c.new_stream()
    c.send(F.headers(sid, c.enc.block(F.request_fields("POST", "/echo")), end_stream=False),
           F.data(sid, b"x"))
    out = c.collect(lambda f: False, CFG["body_timeout"] + 4)
    assert out.closed and out.goaway() is not None, out.describe()
    c.close()


def test_zero_window_answer_times_out(srv):
    """An answer the peer never gives window for: closed after the write
    timeout (body_timeout) instead of held for ever."""
    c = _conn(srv, (F.INITIAL_WINDOW_SIZE, 0))
    c.send(F.headers(1, c.enc.block(F.request_fields("GET", "/big?100000"))))
    t0 = time.monotonic()
    out = c.collect(lambda f: False, CFG["body_timeout"] + 4)
    assert out.closed, out.describe()
    assert time.monotonic() - t0 >= CFG["body_timeout"] - 0.5
    c.close()


def test_window_given_late_answer_completes(srv):
    """A zero window opened before the write timeout: the answer completes."""
    c = _conn(srv, (F.INITIAL_WINDOW_SIZE, 0))
    c.send(F.headers(1, c.enc.block(F.request_fields("GET", "/big?100000"))))
    time.sleep(CFG["body_timeout"] / 2)
    c.send(F.settings((F.INITIAL_WINDOW_SIZE, 1 << 20)))
    status, body = c.response(1)
    assert status == 200 and len(body) == 100000
    c.close()
