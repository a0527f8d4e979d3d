#!/usr/bin/env python3
"""Longer runs of the attack suite (tests/attack/attacks.py): for each attack,
whether and how the attacker was cut off and how long it took, the server's
RSS growth, and a good client's latency on another connection (p50/p99/max,
answered, failed) during the attack.  Loopback only, bounded runs.

    .venv/bin/python bench/attack.py [--scale 4] [--only rapid_reset,slowloris]

--scale multiplies the attack sizes of the pytest short form; --duration
repeats each attack (a fresh attacker connection each time it is cut off)
for that many seconds, and the good client's figures are those of the
answers it got in that window.  Prints one line per attack and a Markdown
table (docs/security.md has the last run).
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "python"), str(ROOT / "tests" / "python" / "h2conf"),
                str(ROOT / "tests" / "attack")]

import attacks as A  # noqa: E402
import helpers  # noqa: E402

# (attack, keyword arguments at scale 1); scale multiplies the sizes
PLAN = [
    ("rapid_reset", dict(n=5000)),
    ("continuation_flood", dict(n=100000)),
    ("made_you_reset", dict(n=5000)),
    ("settings_flood", dict(n=2_000_000)),
    ("ping_flood", dict(n=2_000_000)),
    ("empty_frames", dict(n=20000)),
    ("hpack_bomb", dict(n=3000)),
    ("table_churn", dict(n=2000)),
    ("zero_window_hold", dict(streams=100)),
    ("slow_read", dict(streams=50)),
    ("stream_id_exhaustion", dict(n=3000)),
    ("tiny_data", dict()),
    ("slow_bodies", dict(streams=100)),
    ("window_update_flood", dict(n=1_000_000)),
    ("slowloris", dict(conns=200)),
    ("slow_body_h1", dict()),
    ("pipeline_unread", dict(n=1_000_000)),
] + [("h1_bad_request", dict(case=k)) for k in A.H1_BAD]

SCALED = {"n", "conns"}


def run_one(srv, name, kw, duration):
    rss = A.RssSampler(srv.pid)
    good = A.GoodClient(srv.port)
    rss.start()
    good.start()
    time.sleep(0.3)  # the good client's first answers come before the attack
    reps, first = 0, None
    t0 = time.monotonic()
    try:
        while True:
            res = getattr(A, name)(srv.port, **kw)
            first = first or res
            reps += 1
            if time.monotonic() - t0 >= duration:
                break
    finally:
        t1 = time.monotonic()
        good.stop()
        rss.stop()
    lat = [dt for dt, t in zip(good.latencies, good.done_at) if t0 <= t <= t1]
    return first, reps, lat, good, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument("--duration", type=float, default=5.0)
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    srv = helpers.ServerProcess("conformance.py", **A.SERVER_CONFIG)
    rows = []
    try:
        for name, kw in PLAN:
            label = name if name != "h1_bad_request" else "h1_" + kw["case"]
            if only and name not in only and label not in only:
                continue
            kw = {k: (v * args.scale if k in SCALED else v) for k, v in kw.items()}
            res, reps, lat, good, rss = run_one(srv, name, kw, args.duration)
            lat.sort()
            pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
            row = (label, res.cut_off, res.how, res.sent, res.seconds, reps, rss.growth_kb // 1024,
                   len(lat), len(good.failures), pct(0.5), pct(0.99), (lat[-1] * 1000) if lat else float("nan"))
            rows.append(row)
            print("%-22s cut=%-5s %-30s sent=%-8d first cut-off %.2fs reps=%d rss+%dMB "
                  "good: n=%d fail=%d p50=%.1fms p99=%.1fms max=%.1fms" % row, flush=True)
            if good.failures:
                print("   good client failures:", good.failures[:3], flush=True)
            if not srv.running():
                print("SERVER DIED", srv.stderr()[-3000:])
                break
    finally:
        srv.stop()
    print("\n| attack | cut off | how | attacker sent | s to cut-off | attacks in %gs | RSS growth MB "
          "| good answers | good failed | good p50 ms | good p99 ms | good max ms |" % args.duration)
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %s | %d | %.2f | %d | %d | %d | %d | %.1f | %.1f | %.1f |" % r)


if __name__ == "__main__":
    main()
