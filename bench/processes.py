"""The process model's benchmark (issue 12): a pydantic FastAPI app, served
from the main interpreter, FasterAPI `--processes 2` against Uvicorn +
FastAPI `--workers 2`, the same code (bench/apps/pydantic_app.py).

    .venv/bin/python bench/processes.py [--seconds 10] [--runs 3] [--connections 64] [--baseline-src DIR]

Also measured in the same invocation, for scale: FasterAPI in one process
with 2 worker threads (one GIL: what `--processes` improves on) and with
`--processes 2 --workers 2`. The servers are all started on 127.0.0.1 and
loaded in turn, the runs interleaved; h2load POSTs a JSON body over
HTTP/1.1 (`--h1`, keep-alive, -c connections, one request in flight each),
with a 2 s warm-up in the first run, and the figure is the median of
--runs runs. Every figure is a ratio against Uvicorn's, measured in this
run. Beside req/s: the servers' CPU time per request (user + system time
of the server's whole process tree over each run, from /proc, divided by
the requests answered; median), which does not depend on the share of the
CPUs the server got on a loaded machine. Prints a Markdown table and
writes it with the load average to --out (docs/benchmarks-processes.md);
`--json FILE` writes the numbers.
Needs uvicorn (bench/requirements.txt) and h2load (nghttp2-client).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
APPS = os.path.join(HERE, "apps")
PY = sys.executable
BODY = json.dumps({"name": "widget", "price": 9.5, "tags": ["a", "b", "c"]}).encode()
EXPECT = {"id": 7, "name": "widget", "price": 9.5, "tags": ["a", "b", "c"], "total": 11.4}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _contenders(port: int, baseline: str | None = None) -> list:
    fa = [PY, "-m", "fasterapi", "pydantic_app:app", "--app-dir", APPS, "--host", "127.0.0.1", "--port", str(port),
          "--interpreters", "main", "--log-level", "warning", "--no-proxy-headers", "--no-access-log"]
    uv = [PY, "-m", "uvicorn", "pydantic_app:app", "--app-dir", APPS, "--host", "127.0.0.1", "--port", str(port),
          "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    return [
        ("uvicorn --workers 2", uv + ["--workers", "2"], {"BENCH_FRAMEWORK": "fastapi"}),
        ("fasterapi --processes 2 --workers 1", fa + ["--processes", "2", "--workers", "1"], {}),
        ("fasterapi --processes 1 --workers 2", fa + ["--workers", "2"], {}),
        ("fasterapi --processes 2 --workers 2", fa + ["--processes", "2", "--workers", "2"], {}),
    ] + ([
        # another copy of the package (an older commit's src/), for a before/after in one run
        ("baseline: fasterapi --processes 2 --workers 1", fa + ["--processes", "2", "--workers", "1"],
         {"PYTHONPATH": baseline}),
    ] if baseline else [])


def _post(port: int) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /items/7 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer: {data[:200]!r}")
    if b"chunked" in head.lower():
        raise RuntimeError("chunked answer: not expected here")
    return json.loads(body)


def _start(argv, env_extra, port):
    env = dict(os.environ, PYTHONUNBUFFERED="1", **env_extra)
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=APPS)
    deadline = time.monotonic() + 60
    while True:
        try:
            got = _post(port)
            if got != EXPECT:
                raise RuntimeError(f"answered {got!r}, not {EXPECT!r}")
            # every process up: a few more answers (the supervisor starts them in turn)
            time.sleep(1.0)
            return proc, log
        except (OSError, RuntimeError):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"{argv[2]} did not start:\n{log.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.2)


def _stop(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of pid and all its descendants (live ones)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue  # gone meanwhile
    return total / tick


def _h2load(port, seconds, connections, body_file, warmup) -> dict:
    argv = ["h2load", "--h1", "-D", f"{seconds:g}", "--warm-up-time", f"{warmup:g}", "-c", str(connections), "-m", "1",
            "-d", body_file, "-H", "content-type: application/json", f"http://127.0.0.1:{port}/items/7"]
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=seconds + warmup + 60).stdout
    m = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
    r = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    codes = re.search(r"status codes: (\d+) 2xx", out)
    if not (m and r and codes):
        raise RuntimeError(f"h2load said:\n{out[-2000:]}")
    return {"rps": float(m.group(1)), "failed": int(r.group(5)), "ok_2xx": int(codes.group(1))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--json", default=None)
    ap.add_argument("--baseline-src", default=None,
                    help="also run --processes 2 --workers 1 with PYTHONPATH=this (another copy of src/, "
                         "the built extension copied in)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks-processes.md"),
                    help="the Markdown page to write ('' for none)")
    args = ap.parse_args()
    if shutil.which("h2load") is None:
        print("h2load (nghttp2-client) is needed", file=sys.stderr)
        return 2
    body_file = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
    body_file.write(BODY)
    body_file.close()
    results, live = {}, {}
    load0 = os.getloadavg()
    try:
        # all started at once (idle servers cost nothing), runs interleaved,
        # so a change in the machine's load touches every contender alike
        for label, _, env in _contenders(0, args.baseline_src):
            port = _free_port()
            argv = next(c[1] for c in _contenders(port, args.baseline_src) if c[0] == label)
            proc, log = _start(argv, env, port)
            live[label] = (proc, port, argv)
        runs = {label: [] for label in live}
        for i in range(args.runs):
            for label, (proc, port, _) in live.items():
                warmup = 2 if i == 0 else 0
                if warmup:
                    _h2load(port, warmup, args.connections, body_file.name, 0)
                cpu0 = _tree_cpu_seconds(proc.pid)
                r = _h2load(port, args.seconds, args.connections, body_file.name, 0)
                r["cpu_us_per_request"] = (_tree_cpu_seconds(proc.pid) - cpu0) * 1e6 / max(r["ok_2xx"], 1)
                runs[label].append(r)
                print(f"{label}: run {i + 1}: {r['rps']:,.0f} req/s, {r['failed']} failed, "
                      f"{r['cpu_us_per_request']:.1f} us CPU/request", file=sys.stderr)
        for label, (_, _, argv) in live.items():
            results[label] = {"rps": statistics.median(r["rps"] for r in runs[label]),
                              "cpu_us": statistics.median(r["cpu_us_per_request"] for r in runs[label]),
                              "runs": runs[label],
                              "command": " ".join(os.path.basename(a) if a == PY else a for a in argv)}
    finally:
        for proc, _, _ in live.values():
            _stop(proc)
        os.unlink(body_file.name)
    base = results["uvicorn --workers 2"]
    lines = [f"POST /items/7 with a pydantic body and response model, h2load --h1 -c {args.connections}, "
             f"{args.seconds:g} s x {args.runs} interleaved (median), {os.cpu_count()} CPUs, load average "
             f"{load0[0]:.1f} before, {os.getloadavg()[0]:.1f} after, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             "",
             "| server | req/s | vs Uvicorn + FastAPI --workers 2 | CPU us/request | CPU vs Uvicorn |",
             "|---|---:|---:|---:|---:|"]
    for label, r in results.items():
        lines.append(f"| {label} | {r['rps']:,.0f} | {r['rps'] / base['rps']:.2f}x | {r['cpu_us']:.1f} | "
                     f"{base['cpu_us'] / r['cpu_us']:.2f}x |")
    print("\n" + "\n".join(lines))
    if args.out:
        _write_doc(args.out, lines, results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


def _write_doc(path, lines, results, args) -> None:
    cmds = "\n".join(f"    {r['command']}" for r in results.values())
    runs = "\n".join(f"| {label} | " + " | ".join(f"{x['rps']:,.0f} ({x['cpu_us_per_request']:.1f} us)"
                                                  for x in r["runs"]) + " |" for label, r in results.items())
    text = f"""# The process model's benchmark: a pydantic app, main interpreter

Written by `bench/processes.py` (issue 12's target: FasterAPI `--processes 2`
>= 6x Uvicorn + FastAPI `--workers 2`, the same app code:
[bench/apps/pydantic_app.py](../bench/apps/pydantic_app.py), a JSON body
validated into a pydantic model and a `response_model`). pydantic-core cannot
load in own-GIL sub-interpreters, so FasterAPI serves it from the main
interpreter (`--interpreters main`): one GIL per process.

This VM has 2 vCPUs shared with other work (see the load average): req/s
depend on the share of the CPUs each server got; the CPU time per request
(user + system time of the server's process tree over the run, divided by
the requests answered) does not, and h2load's own CPU is not in it.

{chr(10).join(lines)}

Each run (req/s, CPU us/request), in the order run:

| server | {' | '.join(f'run {i + 1}' for i in range(args.runs))} |
|---|{'---:|' * args.runs}
{runs}

Commands (started side by side on 127.0.0.1, loaded in turn):

    .venv/bin/python bench/processes.py --seconds {args.seconds:g} --runs {args.runs} --connections {args.connections}{' --baseline-src ' + args.baseline_src if args.baseline_src else ''}
{cmds}
"""
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
