"""WebSockets: FasterAPI against Uvicorn and Granian, one invocation (issue 11).

    .venv/bin/python bench/ws.py [--quick] [--servers fasterapi,fasterapi-app,...]
                                 [--subscribers 64,256] [--idle N]
                                 [--out docs/benchmarks-ws.md]

(`make bench` runs it after bench/run.py; `make bench-ws` alone.)

Each server runs the same handlers with 1 worker on 127.0.0.1, keepalive
pings off: bench/apps/ws_bench_app.py (the native API for FasterAPI, raw ASGI
for Uvicorn and Granian) and bench/apps/ws_app_bench.py (@app.websocket on
FasterAPI's app layer). The load is bench/c/ws_load.c (C, epoll, one thread,
so the client is not the limit):
- echo round trips/s: 64 WebSockets, each sends a 16-byte text message and
  waits for its echo before the next;
- broadcast deliveries/s: N subscribers (--subscribers, default 64 and 256)
  on /sub, one publisher on /pub whose 16-byte messages the server sends to
  every subscriber in turn (FastAPI's ConnectionManager shape); at most 8
  published messages not yet received by all; messages received by the
  subscribers per second;
  (each: median of 3 runs of 4 s after a 1 s warm-up; QUICK: 1 run of 1.5 s)
- memory per idle WebSocket: N (default 2,000) WebSockets opened and held;
  the server's RSS (whole process tree) after minus before, over N.
Ratios compare figures of this same run. Writes the markdown table to --out
and the raw figures to build/bench/ws.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import benchlib as bl

PY = sys.executable
VENV_BIN = os.path.dirname(PY)
BUILD = os.path.join(bl.ROOT, "build", "bench")
LOAD = os.path.join(BUILD, "ws_load")
TARGET = 3.0  # issue 11: echo round trips and broadcast >= 3x the faster peer


def fasterapi_cmd(port):
    return [PY, os.path.join(bl.APPS, "ws_bench_app.py"), str(port)]


def fasterapi_app_cmd(port):
    return [PY, "-m", "fasterapi", "ws_app_bench:app", "--app-dir", ".", "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"]


def uvicorn_cmd(impl):
    def cmd(port):
        return [os.path.join(VENV_BIN, "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--ws", impl, "--ws-ping-interval", "0", "--log-level", "warning", "--no-access-log",
                "ws_bench_app:asgi"]
    return cmd


def granian_cmd(port):
    return [os.path.join(VENV_BIN, "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--log-level", "warning", "ws_bench_app:asgi"]


def _uvicorn_missing():
    return None if bl.have_pkg("uvicorn") and bl.have_pkg("websockets") else "uvicorn / websockets are not installed"


def _uvicorn_version():
    return f"uvicorn {bl.have_pkg('uvicorn')}, websockets {bl.have_pkg('websockets')}"


SERVERS = {
    # key: (label, argv maker, why it cannot run or None, version); FasterAPI's
    # own rows first, the peers after them
    "fasterapi": ("FasterAPI native (add_websocket, 1 pinned worker)", fasterapi_cmd, lambda: None,
                  lambda: bl.have_pkg("fasterapi") or "?"),
    "fasterapi-app": ("FasterAPI app layer (@app.websocket, 1 worker)", fasterapi_app_cmd, lambda: None,
                      lambda: bl.have_pkg("fasterapi") or "?"),
    "uvicorn": ("Uvicorn + websockets (`--ws websockets`, 1 worker)", uvicorn_cmd("websockets"),
                _uvicorn_missing, _uvicorn_version),
    "uvicorn-sansio": ("Uvicorn + websockets sans-I/O (`--ws websockets-sansio`)", uvicorn_cmd("websockets-sansio"),
                       _uvicorn_missing, _uvicorn_version),
    "granian": ("Granian ASGI (1 worker)", granian_cmd,
                lambda: None if bl.have_pkg("granian") else "granian is not installed",
                lambda: bl.have_pkg("granian") or "?"),
}
OURS = ("fasterapi", "fasterapi-app")


def _load(mode, port, path, conns, seconds, warmup, size=16):
    out = subprocess.run([LOAD, mode, "127.0.0.1", str(port), path, str(conns), str(seconds), str(size),
                          str(warmup)], capture_output=True, text=True, timeout=seconds + warmup + 60)
    if out.returncode != 0:
        raise bl.BenchError(f"ws_load {mode} failed: {out.stderr.strip()[:300]} {out.stdout.strip()[:300]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def broadcast(port, subscribers, seconds, warmup):
    return _load("broadcast", port, "/sub", subscribers, seconds, warmup)


def echo(port, seconds, warmup, conns=64, size=16):
    return _load("echo", port, "/ws", conns, seconds, warmup, size)


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


def idle_h2_kb(server, conns, streams):
    """Memory per idle WebSocket over HTTP/2 (RFC 8441): `conns` h2c
    connections each carrying `streams` WebSockets (extended CONNECT,
    answered 200), held open; the server's RSS growth / WebSockets, and /
    connections.  FasterAPI only: Uvicorn and Granian do not serve RFC 8441."""
    import socket
    import h2.config
    import h2.connection
    import h2.events
    before = bl.tree_kb(server.pid, "VmRSS")
    held = []
    try:
        for _ in range(conns):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
            c.initiate_connection()
            s.sendall(c.data_to_send())
            ok, settings = 0, False
            while not settings:  # the server's SETTINGS (ENABLE_CONNECT_PROTOCOL) first
                for ev in c.receive_data(s.recv(65536)):
                    settings |= isinstance(ev, h2.events.RemoteSettingsChanged)
                s.sendall(c.data_to_send())
            for _ in range(streams):
                sid = c.get_next_available_stream_id()
                c.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                                     (":path", "/ws"), (":authority", "127.0.0.1"), ("sec-websocket-version", "13")])
            s.sendall(c.data_to_send())
            while ok < streams:
                data = s.recv(65536)
                if not data:
                    raise bl.BenchError("h2 idle: the server closed a connection")
                for ev in c.receive_data(data):
                    if isinstance(ev, h2.events.ResponseReceived):
                        if dict(ev.headers).get(":status") != "200":
                            raise bl.BenchError(f"h2 idle: {dict(ev.headers)}")
                        ok += 1
                s.sendall(c.data_to_send())
            held.append(s)
        time.sleep(1.0)
        after = bl.tree_kb(server.pid, "VmRSS")
    finally:
        for s in held:
            s.close()
    return (after - before) / (conns * streams), (after - before) / conns


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--subscribers", default="64,256", help="broadcast subscriber counts, comma-separated")
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--idle-h2", default="20x100", help="HTTP/2 idle WebSockets: CONNSxSTREAMS (FasterAPI native)")
    ap.add_argument("--out", default=os.path.join(bl.ROOT, "docs", "benchmarks-ws.md"))
    args = ap.parse_args()
    bl.restore_default_signals()
    bl.raise_nofile()
    if not os.access(LOAD, os.X_OK):
        sys.exit(f"{LOAD} is missing: build it with `make -f mk/bench.mk bench-c`")
    seconds, warmup, runs = (1.5, 0.3, 1) if args.quick else (4, 1, 3)
    subs = [int(x) for x in args.subscribers.split(",") if x]
    os.makedirs(os.path.join(BUILD, "logs"), exist_ok=True)
    res, notes, commands, running = {}, [], {}, {}
    # Every server is started first and the runs interleave (A B C A B C ...):
    # this 2-core VM is shared, and its speed drifts from minute to minute.
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
        commands[key] = bl.command_key(argv, port)
        try:
            running[key] = bl.Server(argv, port, cwd=bl.APPS, log_path=os.path.join(BUILD, "logs", f"ws-{key}.log"))
        except Exception as e:
            r["error"] = f"failed to start: {e}"
    measures = [("echo", lambda port, s, w: echo(port, s, w))]
    measures += [(f"bcast{n}", lambda port, s, w, n=n: broadcast(port, n, s, w)) for n in subs]
    try:
        # Idle memory first: after the load runs, the heap would hand back
        # memory it already holds, and RSS growth would understate the cost.
        for key, server in running.items():
            try:
                res[key]["idle_kb"] = idle_kb(server, args.idle)
                print(f"{res[key]['label']} idle: {res[key]['idle_kb']:.1f} KB per WebSocket", flush=True)
            except Exception as e:
                notes.append(f"{res[key]['label']}: idle: {str(e).splitlines()[0][:300]}")
        if "fasterapi" in running and args.idle_h2:
            hc, hs = (int(x) for x in args.idle_h2.split("x"))
            h2srv = None
            try:
                # a fresh server: one that held WebSockets already would reuse
                # the memory they left in its heap
                port = bl.free_port()
                h2srv = bl.Server(fasterapi_cmd(port), port, cwd=bl.APPS,
                                  log_path=os.path.join(BUILD, "logs", "ws-fasterapi-h2idle.log"))
                kb, per_conn = idle_h2_kb(h2srv, hc, hs)
                res["fasterapi"].update(idle_h2_kb=kb, idle_h2_conn_kb=per_conn, idle_h2_shape=args.idle_h2)
                print(f"FasterAPI idle over HTTP/2 ({args.idle_h2}): {kb:.1f} KB per WebSocket, "
                      f"{per_conn:.1f} KB per connection", flush=True)
            except Exception as e:
                notes.append(f"FasterAPI: idle over HTTP/2: {str(e).splitlines()[0][:300]}")
            finally:
                if h2srv is not None:
                    h2srv.stop()
        for key, server in running.items():
            echo(server.port, warmup + 0.5, 0)  # warm-up run
        for name, fn in measures:
            for _ in range(runs):
                for key, server in running.items():
                    r = res[key]
                    if "error" in r:
                        continue
                    try:
                        cpu0 = bl.tree_cpu_s(server.pid)
                        x = fn(server.port, seconds, warmup)
                        cpu = bl.tree_cpu_s(server.pid) - cpu0
                    except Exception as e:
                        r["error"] = f"{name}: {str(e).splitlines()[0][:300]}"
                        print(f"{r['label']}: {r['error']}", flush=True)
                        continue
                    r.setdefault(name + "_runs", []).append(x["per_second"])
                    # the server's CPU per message over the whole run (warm-up
                    # included: its messages are counted from the rate)
                    msgs = x["per_second"] * (seconds + warmup)
                    if msgs > 0:
                        r.setdefault(name + "_cpu_runs", []).append(cpu / msgs * 1e6)
                    if x["errors"]:
                        notes.append(f"{r['label']}, {name}: {x['errors']} connections failed during a run")
            for key in running:
                r = res[key]
                if r.get(name + "_cpu_runs"):
                    r[name + "_cpu_us"] = statistics.median(r[name + "_cpu_runs"])
                if r.get(name + "_runs"):
                    r[name] = statistics.median(r[name + "_runs"])
                    print(f"{r['label']} {name}: {r[name]:,.0f}/s {[round(f) for f in r[name + '_runs']]}",
                          flush=True)
    finally:
        for key, server in running.items():
            rc = server.stop()
            if rc not in (0, -15, 143):
                notes.append(f"{res[key]['label']} exited with {rc} at SIGTERM; log tail:\n{server.log_tail()}")
    bl.write_json("ws.json", {"results": res, "notes": notes, "commands": commands})
    write_md(args, res, notes, commands, seconds, runs, subs)
    print(f"wrote {args.out}")


def write_md(args, res, notes, commands, seconds, runs, subs):
    lines = bl.report_header(
        "WebSocket benchmarks", "bench/ws.py", args.quick,
        f"One worker each, the same handlers (bench/apps/ws_bench_app.py, ws_app_bench.py); every figure "
        f"is the median of {runs} run(s) of {seconds} s, the servers' runs interleaved. Echo: 64 WebSockets, "
        "16-byte text messages, one in flight per WebSocket; broadcast: N subscribers, one publisher whose "
        "16-byte messages the handler sends to each subscriber in turn (at most 8 not yet received by "
        "all), messages received by the subscribers per second (bench/c/ws_load.c); idle: "
        f"{args.idle} WebSockets held open, server RSS growth / WebSockets.")
    cols = [("echo", "echo round trips/s")] + [(f"bcast{n}", f"broadcast to {n}, deliveries/s") for n in subs]
    lines += ["| server | " + " | ".join(c[1] for c in cols) + " | KB per idle WebSocket |",
              "|---|" + "---|" * (len(cols) + 1)]
    for r in res.values():
        cells = [f"{r[k]:,.0f}" if k in r else "-" for k, _ in cols]
        if "error" in r and all(c == "-" for c in cells):
            cells[0] = r["error"]
        idle = f"{r['idle_kb']:.1f}" if "idle_kb" in r else "-"
        lines.append(f"| {r['label']} | " + " | ".join(cells) + f" | {idle} |")
    lines += ["", "Server CPU time per message (user + system of the server's processes over each run, / "
              "messages: a round trip for echo, a delivery for broadcast; median of the runs). The rate above "
              "is capped by whatever is slowest on this shared 2-core machine (the load generator included); "
              "this is what each message costs the server.", "",
              "| server | " + " | ".join(f"{c[1].split(',')[0]}, us CPU" for c in cols) + " |",
              "|---|" + "---|" * len(cols)]
    for r in res.values():
        lines.append(f"| {r['label']} | " + " | ".join(f"{r[k + '_cpu_us']:.1f}" if k + "_cpu_us" in r else "-"
                                                        for k, _ in cols) + " |")
    peers = [k for k in res if k not in OURS]
    lines += ["", "| target (issue 11: >= 3x the faster peer) | measured | |", "|---|---|---|"]
    for ours in OURS:
        for k, title in cols:
            have = [p for p in peers if k in res[p]]
            if k not in res.get(ours, {}) or not have:
                continue
            best = max(have, key=lambda p: res[p][k])
            lines.append(f"| {res[ours]['label']}, {title} vs {res[best]['label']} | "
                         f"{bl.fmt_ratio(bl.ratio(res, ours, best, k), TARGET)} |")
            cheap = [p for p in peers if k + "_cpu_us" in res[p]]
            if k + "_cpu_us" in res[ours] and cheap:
                bc = min(cheap, key=lambda p: res[p][k + "_cpu_us"])
                lines.append(f"| {res[ours]['label']}, {title.split(',')[0]}: server CPU per message, "
                             f"{res[bc]['label']} / ours | "
                             f"{bl.fmt_ratio(bl.ratio(res, bc, ours, k + '_cpu_us'), TARGET)} |")
    fa = res.get("fasterapi", {})
    for k in peers:
        r = res[k]
        if "idle_kb" in r and fa.get("idle_kb", 0) > 0:
            lines.append(f"| memory per idle WebSocket vs {r['label']} | {fa['idle_kb']:.1f} KB vs "
                         f"{r['idle_kb']:.1f} KB ({r['idle_kb'] / fa['idle_kb']:.1f}x less) | |")
    if "idle_h2_kb" in fa:
        lines.append(f"| memory per idle WebSocket over HTTP/2 (RFC 8441; {fa['idle_h2_shape']} connections x "
                     f"streams; the peers do not serve it) | {fa['idle_h2_kb']:.1f} KB "
                     f"({fa['idle_h2_conn_kb']:.1f} KB per connection of {fa['idle_h2_shape'].split('x')[1]}) | |")
    w = 1 if runs > 1 else 0.3
    lines += bl.report_commands(
        {k: v[0] for k, v in SERVERS.items()}, res, commands,
        "Commands (PORT stands for this run's port; run from bench/apps):",
        [f"`build/bench/ws_load echo 127.0.0.1 PORT /ws 64 {seconds} 16 {w}`"] +
        [f"`build/bench/ws_load broadcast 127.0.0.1 PORT /sub {n} {seconds} 16 {w}` (publisher on /pub)"
         for n in subs] +
        [f"`build/bench/ws_load idle 127.0.0.1 PORT /ws {args.idle} 30`"])
    lines += ["", "How to read it:", "",
              "- Broadcast: FasterAPI's send() queues the frame and its worker writes each socket once before "
              "it polls again, so the messages a handler sends to one subscriber within one asyncio step "
              "(here: the publisher's queued messages, each fanned out in turn) leave in one write; the peers "
              "write each message as it is sent. Echo has one message in flight per WebSocket, so there every "
              "message is one read and one write on every server.",
              "- Echo: the server's CPU per round trip is mostly the kernel's (a loopback send and receive, "
              "the client's wake-up): `perf record` of the native server under this load puts ~70% of its "
              "samples in the kernel; `bench/callgrind_ws.sh` counts the user-space instructions per round "
              "trip.",
              "- Memory: RSS growth is coarse (pages, the allocator's arenas): the per-WebSocket figures move "
              "by a few KB from run to run."]
    lines += bl.report_notes(notes)
    bl.write_report(args.out, lines)


if __name__ == "__main__":
    main()
