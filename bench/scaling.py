"""CPU-bound scaling: 1 pinned worker against 2, in one invocation.

Each pinned worker runs its own own-GIL sub-interpreter, so a CPU-bound
Python handler should scale with workers up to the core count.  Prints the
req/s of each run (median of RUNS) and the ratio.

    .venv/bin/python bench/scaling.py [--seconds 5] [--runs 3]
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def h2load(url, seconds, clients):
    out = subprocess.run(
        ["h2load", "--h1", "-D", str(seconds), "--warm-up-time", "1", "-c", str(clients), url],
        capture_output=True, text=True, timeout=seconds + 60,
    ).stdout
    m = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    ok = re.search(r"(\d+) succeeded", out)
    if not m or not ok or int(ok.group(1)) == 0:
        raise RuntimeError("h2load failed:\n" + out)
    return float(m.group(1))


def measure(workers, seconds, runs, clients):
    port = free_port()
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "cpu_app.py"), str(port), str(workers)],
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        rates = [h2load(f"http://127.0.0.1:{port}/cpu", seconds, clients) for _ in range(runs)]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    return statistics.median(rates), rates


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    one, r1 = measure(1, a.seconds, a.runs, a.clients)
    two, r2 = measure(2, a.seconds, a.runs, a.clients)
    print(f"1 pinned worker : {one:9.1f} req/s  (runs: {', '.join(f'{x:.0f}' for x in r1)})")
    print(f"2 pinned workers: {two:9.1f} req/s  (runs: {', '.join(f'{x:.0f}' for x in r2)})")
    print(f"scaling 1 -> 2  : {two / one:.2f}x  (target >= 1.8x on 2 cores)")


if __name__ == "__main__":
    main()
