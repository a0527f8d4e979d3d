"""Each attack: the attacker is cut off (the way and the bound are in
docs/security.md), the server's RSS grows by less than a stated bound, and a
good client on another connection is answered throughout.  Timing is not
asserted here (bench/attack.py measures the good client's p99)."""
import pytest

import attacks as A
import helpers
import h2frames as F

# RSS growth bounds (MiB) for the short form.  ASan's quarantine keeps freed
# memory resident, so the sanitizer pass gets a looser bound.
SLACK = 8 if helpers.SANITIZED else 1
MB = 1024


def check(res, good, rss, t0, t1, rss_mb=32, want_cut=True):
    assert res.cut_off == want_cut, res
    assert rss.growth_kb < rss_mb * MB * SLACK, f"RSS +{rss.growth_kb // MB} MiB > {rss_mb * SLACK} MiB: {res}"
    assert not good.failures, good.failures[:5]
    assert good.latencies, "the good client got no answer"
    if t1 - t0 > 0.5:
        assert good.answered_between(t0, t1) > 0, "the good client got no answer during the attack"


def test_rapid_reset(watch):
    """CVE-2023-44487: nghttp2's stream reset rate limit (burst 1000, 33/s)."""
    res, *rest = watch(A.rapid_reset, n=5000)
    check(res, *rest)
    assert res.how.startswith("GOAWAY("), res


def test_continuation_flood(watch):
    """CVE-2024-27316 family: at most 8 CONTINUATION frames per field block."""
    res, *rest = watch(A.continuation_flood, n=20000)
    check(res, *rest)
    assert res.how == "GOAWAY(ENHANCE_YOUR_CALM)", res


def test_made_you_reset(watch):
    """CVE-2025-8671: resets the server must send count against a budget
    (1000 per 10 s), and streams wait for their RST in the concurrency
    limit: either ends the connection."""
    res, *rest = watch(A.made_you_reset, n=5000)
    check(res, *rest)
    assert res.how in ("GOAWAY(ENHANCE_YOUR_CALM)", "GOAWAY(PROTOCOL_ERROR)"), res


@pytest.mark.slow
def test_settings_flood(watch):
    """SETTINGS whose ACKs are never read: nghttp2's outbound ACK limit (1000)."""
    res, *rest = watch(A.settings_flood, n=2_000_000)
    check(res, *rest)


@pytest.mark.slow
def test_ping_flood(watch):
    """PINGs whose ACKs are never read: same limit."""
    res, *rest = watch(A.ping_flood, n=2_000_000)
    check(res, *rest)


def test_empty_frames(watch):
    """Empty DATA frames count as glitches (1000 per 10 s)."""
    res, *rest = watch(A.empty_frames, n=20000)
    check(res, *rest)
    assert res.how == "GOAWAY(ENHANCE_YOUR_CALM)", res


def test_hpack_bomb(watch):
    """One 4 KB table entry referenced thousands of times: the header list
    limit (16 KiB) resets each stream; the resets exhaust the budget."""
    res, *rest = watch(A.hpack_bomb, n=3000)
    check(res, *rest)
    assert res.how == "GOAWAY(ENHANCE_YOUR_CALM)", res


def test_table_churn(watch):
    """Each request replaces the dynamic table's content: legal, served, and
    bounded by the 4 KiB table."""
    res, *rest = watch(A.table_churn, n=500)
    check(res, *rest, want_cut=False)
    assert res.sent == 500


def test_zero_window_hold(watch):
    """Answers held by a zero window: the write timeout (body_timeout) ends
    the connection; memory is the answers themselves (50 x 200 kB)."""
    res, *rest = watch(A.zero_window_hold, streams=50, size=200_000)
    check(res, *rest, rss_mb=32)


def test_slow_read(watch):
    """A client that never reads: the write timeout; memory is the answers
    (20 x 1 MB) plus 256 KiB of serialized frames."""
    res, *rest = watch(A.slow_read, streams=20, size=1_000_000)
    check(res, *rest, rss_mb=48)


def test_stream_id_exhaustion(watch):
    """3000 streams on one connection, then id 2^31-1, then one more:
    GOAWAY(PROTOCOL_ERROR), and no state kept per closed id."""
    res, *rest = watch(A.stream_id_exhaustion, n=3000)
    check(res, *rest)
    assert res.how == "GOAWAY(PROTOCOL_ERROR)", res


@pytest.mark.slow
def test_tiny_data(watch):
    """A body one octet per DATA frame: max_body_size (1 MiB here) answers
    413 and resets the stream."""
    res, *rest = watch(A.tiny_data, n=1_200_000)
    check(res, *rest)
    assert res.how.startswith("413"), res


def test_slow_bodies(watch):
    """100 streams with bodies that stop: the body timeout ends the
    connection (GOAWAY, close)."""
    res, *rest = watch(A.slow_bodies, streams=100)
    check(res, *rest)


@pytest.mark.slow
def test_window_update_flood(watch):
    """Legal WINDOW_UPDATEs and no request: the keep-alive timeout, which
    frames other than requests do not extend."""
    res, *rest = watch(A.window_update_flood, n=1_000_000)
    check(res, *rest)


def test_slowloris(watch):
    """Request heads one line every 0.5 s: header_timeout covers the whole
    head, 408 and close."""
    res, *rest = watch(A.slowloris, conns=50)
    check(res, *rest)


def test_slow_body_h1(watch):
    """A body trickled an octet at a time, slower than body_timeout: 408 and
    close (body_timeout bounds silence: a faster trickle is not cut off,
    see docs/security.md)."""
    res, *rest = watch(A.slow_body_h1)
    check(res, *rest)


@pytest.mark.slow
def test_pipeline_unread(watch):
    """Pipelined requests whose answers are never read: no reading beyond
    256 KiB of queued answers, then the write timeout."""
    res, *rest = watch(A.pipeline_unread, n=1_000_000)
    check(res, *rest, rss_mb=16)


@pytest.mark.parametrize("case", sorted(A.H1_BAD))
def test_h1_bad_request(watch, case):
    """Header bombs and smuggling shapes: one 4xx answer, then close; the
    bytes after the bad part are never answered."""
    res, *rest = watch(A.h1_bad_request, case)
    check(res, *rest)
