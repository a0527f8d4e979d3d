"""The process model's benchmark (issue 12): a pydantic FastAPI app, served
from the main interpreter, FasterAPI `--processes 2` against Uvicorn +
FastAPI `--workers 2`, the same code (bench/apps/pydantic_app.py).

    .venv/bin/python bench/processes.py [--seconds 10] [--runs 3] [--connections 64]

Also measured in the same invocation, for scale: FasterAPI in one process
with 2 worker threads (one GIL: what `--processes` improves on) and with
`--processes 2 --workers 2`. The servers are all started on 127.0.0.1 and
loaded in turn, the runs interleaved; h2load POSTs a JSON body over
HTTP/1.1 (`--h1`, keep-alive, -c connections, one request in flight each),
with a 2 s warm-up in the first run, and the figure is the median of
--runs runs. Every figure is a ratio against Uvicorn's, measured in this
run. Prints a Markdown table; `--json FILE` writes the numbers.
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


def _contenders(port: int) -> list:
    fa = [PY, "-m", "fasterapi", "pydantic_app:app", "--app-dir", APPS, "--host", "127.0.0.1", "--port", str(port),
          "--interpreters", "main", "--log-level", "warning", "--no-proxy-headers"]
    uv = [PY, "-m", "uvicorn", "pydantic_app:app", "--app-dir", APPS, "--host", "127.0.0.1", "--port", str(port),
          "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    return [
        ("uvicorn --workers 2", uv + ["--workers", "2"], {"BENCH_FRAMEWORK": "fastapi"}),
        ("fasterapi --processes 2 --workers 1", fa + ["--processes", "2", "--workers", "1"], {}),
        ("fasterapi --processes 1 --workers 2", fa + ["--workers", "2"], {}),
        ("fasterapi --processes 2 --workers 2", fa + ["--processes", "2", "--workers", "2"], {}),
    ]


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
    args = ap.parse_args()
    if shutil.which("h2load") is None:
        print("h2load (nghttp2-client) is needed", file=sys.stderr)
        return 2
    body_file = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
    body_file.write(BODY)
    body_file.close()
    results, live = {}, {}
    try:
        # all started at once (idle servers cost nothing), runs interleaved,
        # so a change in the machine's load touches every contender alike
        for label, _, env in _contenders(0):
            port = _free_port()
            argv = next(c[1] for c in _contenders(port) if c[0] == label)
            proc, log = _start(argv, env, port)
            live[label] = (proc, port, argv)
        runs = {label: [] for label in live}
        for i in range(args.runs):
            for label, (proc, port, _) in live.items():
                runs[label].append(_h2load(port, args.seconds, args.connections, body_file.name, 2 if i == 0 else 0))
                print(f"{label}: run {i + 1}: {runs[label][-1]['rps']:,.0f} req/s, {runs[label][-1]['failed']} "
                      "failed", file=sys.stderr)
        for label, (_, _, argv) in live.items():
            results[label] = {"rps": statistics.median(r["rps"] for r in runs[label]), "runs": runs[label],
                              "command": " ".join(os.path.basename(a) if a == PY else a for a in argv)}
    finally:
        for proc, _, _ in live.values():
            _stop(proc)
        os.unlink(body_file.name)
    base = results["uvicorn --workers 2"]["rps"]
    print(f"\nPOST /items/7 with a pydantic body and response model, h2load --h1 -c {args.connections}, "
          f"{args.seconds:g} s x {args.runs} (median), {os.cpu_count()} CPUs\n")
    print("| server | req/s | vs Uvicorn + FastAPI --workers 2 |")
    print("|---|---:|---:|")
    for label, r in results.items():
        print(f"| {label} | {r['rps']:,.0f} | {r['rps'] / base:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
