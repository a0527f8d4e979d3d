"""WebSockets: FasterAPI against Uvicorn and Granian, one invocation (issue 11).

    .venv/bin/python bench/ws.py [--quick] [--servers fasterapi,uvicorn,...]
                                 [--idle N] [--out docs/benchmarks-ws.md]

(`make bench` runs it after bench/run.py; `make bench-ws` alone.)

Each server runs the same echo (bench/apps/ws_bench_app.py: the native API for
FasterAPI, raw ASGI for the others) with 1 worker on 127.0.0.1, keepalive
pings off. The load is bench/c/ws_load.c (C, epoll, one thread, so the client
is not the limit):
- echo round trips/s: 64 WebSockets, each sends a 16-byte text message and
  waits for its echo before the next; median of 3 runs of 4 s after a 1 s
  warm-up (QUICK: 1 run of 1.5 s);
- memory per idle WebSocket: N (default 2,000) WebSockets opened and held;
  the server's RSS (whole process tree) after minus before, over N.
Ratios compare figures of this same run. Writes the markdown table to --out
and the raw figures to build/bench/ws.json.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import benchlib as bl

PY = sys.executable
VENV_BIN = os.path.dirname(PY)
BUILD = os.path.join(bl.ROOT, "build", "bench")
LOAD = os.path.join(BUILD, "ws_load")
TARGET = 3.0  # issue 11: echo round trips >= 3x the faster peer


def _have_pkg(name):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def fasterapi_cmd(port):
    return [PY, os.path.join(bl.APPS, "ws_bench_app.py"), str(port)]


def uvicorn_cmd(impl):
    def cmd(port):
        return [os.path.join(VENV_BIN, "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--ws", impl, "--ws-ping-interval", "0", "--log-level", "warning", "--no-access-log",
                "ws_bench_app:asgi"]
    return cmd


def granian_cmd(port):
    return [os.path.join(VENV_BIN, "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--log-level", "warning", "ws_bench_app:asgi"]


SERVERS = {
    # key: (label, argv maker, why it cannot run or None, version)
    "fasterapi": ("FasterAPI (add_websocket, 1 pinned worker)", fasterapi_cmd, lambda: None,
                  lambda: _have_pkg("fasterapi") or "?"),
    "uvicorn": ("Uvicorn + websockets (`--ws websockets`, 1 worker)", uvicorn_cmd("websockets"),
                lambda: None if _have_pkg("uvicorn") and _have_pkg("websockets") else
                "uvicorn / websockets are not installed",
                lambda: f"uvicorn {_have_pkg('uvicorn')}, websockets {_have_pkg('websockets')}"),
    "uvicorn-sansio": ("Uvicorn + websockets sans-I/O (`--ws websockets-sansio`)", uvicorn_cmd("websockets-sansio"),
                       lambda: None if _have_pkg("uvicorn") and _have_pkg("websockets") else
                       "uvicorn / websockets are not installed",
                       lambda: f"uvicorn {_have_pkg('uvicorn')}, websockets {_have_pkg('websockets')}"),
    "granian": ("Granian ASGI (1 worker)", granian_cmd,
                lambda: None if _have_pkg("granian") else "granian is not installed",
                lambda: _have_pkg("granian") or "?"),
}


def echo(port, seconds, warmup, conns=64, size=16):
    out = subprocess.run([LOAD, "echo", "127.0.0.1", str(port), "/ws", str(conns), str(seconds), str(size),
                          str(warmup)], capture_output=True, text=True, timeout=seconds + warmup + 60)
    if out.returncode != 0:
        raise bl.BenchError(f"ws_load failed: {out.stderr.strip()[:300]} {out.stdout.strip()[:300]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def idle_kb(server, count):
    before = bl.tree_kb(server.pid, "VmRSS")
    p = subprocess.Popen([LOAD, "idle", "127.0.0.1", str(server.port), "/ws", str(count), "30"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        if not line.startswith("ready"):
            raise bl.BenchError(f"ws_load idle: {line!r} {p.stderr.read()[:300]}")
        time.sleep(1.0)
        after = bl.tree_kb(server.pid, "VmRSS")
    finally:
        p.kill()
        p.wait()
    return (after - before) / count


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--servers", default="fasterapi,uvicorn,uvicorn-sansio,granian")
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--out", default=os.path.join(bl.ROOT, "docs", "benchmarks-ws.md"))
    args = ap.parse_args()
    bl.restore_default_signals()
    bl.raise_nofile()
    if not os.access(LOAD, os.X_OK):
        sys.exit(f"{LOAD} is missing: build it with `make -f mk/bench.mk bench-c`")
    seconds, warmup, runs = (1.5, 0.3, 1) if args.quick else (4, 1, 3)
    os.makedirs(os.path.join(BUILD, "logs"), exist_ok=True)
    res, notes, commands = {}, [], {}
    for key in args.servers.split(","):
        label, mk, why, version = SERVERS[key]
        r = res[key] = {"label": label}
        if why():
            r["error"] = why()
            print(f"{label}: {r['error']}", flush=True)
            continue
        r["version"] = version()
        port = bl.free_port()
        argv = mk(port)
        commands[key] = " ".join(os.path.relpath(a, bl.APPS) if a.startswith(bl.ROOT) else a
                                 for a in argv).replace(str(port), "PORT")
        log = os.path.join(BUILD, "logs", f"ws-{key}.log")
        try:
            server = bl.Server(argv, port, cwd=bl.APPS, log_path=log)
        except Exception as e:
            r["error"] = f"failed to start: {e}"
            continue
        try:
            echo(port, warmup + 0.5, 0)  # warm-up run
            figs = []
            for _ in range(runs):
                x = echo(port, seconds, warmup)
                figs.append(x["per_second"])
                if x["errors"]:
                    notes.append(f"{label}: {x['errors']} connections failed during a run")
            r["echo"] = statistics.median(figs)
            r["echo_runs"] = figs
            print(f"{label} echo: {r['echo']:,.0f} round trips/s {figs}", flush=True)
            r["idle_kb"] = idle_kb(server, args.idle)
            print(f"{label} idle: {r['idle_kb']:.1f} KB per WebSocket", flush=True)
        except Exception as e:
            r["error"] = str(e).splitlines()[0][:300]
            print(f"{label}: {e}", flush=True)
        finally:
            rc = server.stop()
            if rc not in (0, -15, 143):
                notes.append(f"{label} exited with {rc} at SIGTERM; log tail:\n{server.log_tail()}")
    with open(os.path.join(BUILD, "ws.json"), "w") as f:
        json.dump({"results": res, "notes": notes, "commands": commands}, f, indent=1)
    write_md(args, res, notes, commands, seconds, runs)
    print(f"wrote {args.out}")


def write_md(args, res, notes, commands, seconds, runs):
    lines = ["# WebSocket benchmarks", "",
             f"Written by `bench/ws.py{' --quick' if args.quick else ''}` on "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
             f"{os.cpu_count()} CPUs, {platform.platform()}. One worker each, the same echo handler; "
             f"echo: median of {runs} run(s) of {seconds} s, 64 WebSockets, 16-byte text messages, one in "
             f"flight per WebSocket (bench/c/ws_load.c); idle: {args.idle} WebSockets held open, server RSS "
             "growth / WebSockets.", "",
             "| server | echo round trips/s | KB per idle WebSocket |", "|---|---|---|"]
    for r in res.values():
        if "echo" not in r:
            lines.append(f"| {r['label']} | {r.get('error', '-')} | |")
            continue
        idle = f"{r['idle_kb']:.1f}" if "idle_kb" in r else "-"
        lines.append(f"| {r['label']} | {r['echo']:,.0f} | {idle} |")
    fa = res.get("fasterapi", {})
    peers = [(k, r) for k, r in res.items() if k != "fasterapi" and "echo" in r]
    if "echo" in fa and peers:
        best_key, best = max(peers, key=lambda kr: kr[1]["echo"])
        x = fa["echo"] / best["echo"]
        lines += ["", "| target (issue 11) | measured | |", "|---|---|---|",
                  f"| echo round trips >= {TARGET:.0f}x the faster peer ({best['label']}) | {x:.2f}x | "
                  f"{'met' if x >= TARGET else 'not met'} |"]
        for k, r in peers:
            if "idle_kb" in r and "idle_kb" in fa and fa["idle_kb"] > 0:
                lines.append(f"| memory per idle WebSocket vs {r['label']} | {fa['idle_kb']:.1f} KB vs "
                             f"{r['idle_kb']:.1f} KB ({r['idle_kb'] / fa['idle_kb']:.1f}x less) | |")
    lines += ["", "Commands (PORT stands for this run's port; run from bench/apps):", ""]
    lines += [f"- {SERVERS[k][0]}: `{c}`" + (f" ({res[k].get('version')})" if res[k].get("version") else "")
              for k, c in commands.items()]
    lines += [f"- load: `build/bench/ws_load echo 127.0.0.1 PORT /ws 64 {seconds} 16 {1 if runs > 1 else 0.3}`, "
              f"`build/bench/ws_load idle 127.0.0.1 PORT /ws {args.idle} 30`"]
    lines += ["", "Not measured yet: broadcast throughput (issue 11 names it), and WebSockets over HTTP/2 "
              "(RFC 8441; only FasterAPI and Hypercorn serve them)."]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
