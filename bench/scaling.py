"""CPU-bound scaling: 1 pinned worker against 2, in one invocation.

Each pinned worker runs its own own-GIL sub-interpreter, so a CPU-bound
Python handler should scale with workers up to the core count.  Prints the
req/s of each run (median of RUNS), the ratio, and the hardware ceiling:
the same ratio for a pure-Python loop in 1 process against 2 processes.

    .venv/bin/python bench/scaling.py [--seconds 5] [--runs 3]

(bench/run.py measures this too, beside other servers.)
"""
import argparse
import os
import statistics
import sys

from benchlib import APPS, Server, cpu_ceiling, free_port, restore_default_signals, run_h2load


def measure(workers, seconds, runs, clients):
    port = free_port()
    server = Server([sys.executable, os.path.join(APPS, "fa_app.py"), str(port), str(workers), "0", "0"], port)
    try:
        rates = [run_h2load(f"http://127.0.0.1:{port}/cpu", seconds=seconds, warmup=1,
                            clients=clients, h1=True)["rps"] for _ in range(runs)]
    finally:
        server.stop()
    return statistics.median(rates), rates


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    restore_default_signals()
    one, r1 = measure(1, a.seconds, a.runs, a.clients)
    two, r2 = measure(2, a.seconds, a.runs, a.clients)
    hw = cpu_ceiling(min(a.seconds, 3))
    print(f"1 pinned worker : {one:9.1f} req/s  (runs: {', '.join(f'{x:.0f}' for x in r1)})")
    print(f"2 pinned workers: {two:9.1f} req/s  (runs: {', '.join(f'{x:.0f}' for x in r2)})")
    print(f"scaling 1 -> 2  : {two / one:.2f}x  (target >= 1.8x on 2 cores)")
    print(f"hardware ceiling: {hw['ratio']:.2f}x  (pure-Python loop, 2 processes vs 1)")


if __name__ == "__main__":
    main()
