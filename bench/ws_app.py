"""WebSockets through the application layer: what FastAPI's API costs on
FasterAPI, against the native handler and against FastAPI on Uvicorn, in
one invocation.

    .venv/bin/python bench/ws_app.py [--quick]

Three servers, 1 worker each, on 127.0.0.1, loaded by bench/c/ws_load.c
(`make -f mk/bench.mk bench-c`) exactly as bench/ws.py does (64 WebSockets,
16-byte text messages, one in flight per WebSocket; median of 3 runs of
4 s after a 1 s warm-up; --quick: 1 run of 1.5 s):

- FasterAPI native: bench/apps/ws_bench_app.py (add_websocket, `async for
  msg in ws: await ws.send(msg)`);
- FasterAPI app: bench/apps/ws_app_bench.py, `@app.websocket` with
  `send_text(await receive_text())`, served by `python -m fasterapi`;
- FastAPI on Uvicorn: the same file under FastAPI (WS_BENCH_FRAMEWORK=
  fastapi), `uvicorn --ws websockets`.

Then memory per idle WebSocket: --idle N (default 2,000) WebSockets held
open, the server's RSS growth / N (as bench/ws.py measures it).

Prints round trips/s, KB per idle WebSocket and the ratios of this run;
writes build/bench/ws_app.json.
"""
import argparse
import os
import statistics
import sys

import benchlib as bl
from ws import LOAD, echo, idle_kb  # the load generator drivers of bench/ws.py

PY = sys.executable
VENV_BIN = os.path.dirname(PY)


def servers():
    return {
        "native": ("FasterAPI native (add_websocket)", [PY, "ws_bench_app.py", "{port}"], None),
        "app": ("FasterAPI app (@app.websocket)",
                [PY, "-m", "fasterapi", "ws_app_bench:app", "--app-dir", ".", "--host", "127.0.0.1",
                 "--port", "{port}", "--workers", "1", "--log-level", "warning"], None),
        "fastapi": ("FastAPI on Uvicorn (--ws websockets)",
                    [os.path.join(VENV_BIN, "uvicorn"), "--host", "127.0.0.1", "--port", "{port}", "--workers",
                     "1", "--ws", "websockets", "--ws-ping-interval", "0", "--log-level", "warning",
                     "--no-access-log", "ws_app_bench:app"], {"WS_BENCH_FRAMEWORK": "fastapi"}),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--idle", type=int, default=2000)
    args = ap.parse_args()
    bl.restore_default_signals()
    bl.raise_nofile()
    if not os.access(LOAD, os.X_OK):
        sys.exit(f"{LOAD} is missing: build it with `make -f mk/bench.mk bench-c`")
    seconds, warmup, runs = (1.5, 0.3, 1) if args.quick else (4, 1, 3)
    out = {}
    for key, (label, argv, env_extra) in servers().items():
        if key == "fastapi" and not os.access(argv[0], os.X_OK):
            out[key] = {"label": label, "error": "uvicorn is not installed"}
            print(f"{label}: uvicorn is not installed", flush=True)
            continue
        port = bl.free_port()
        env = dict(os.environ, **(env_extra or {}))
        cmd = [a.replace("{port}", str(port)) for a in argv]
        log = os.path.join(bl.ROOT, "build", "bench", "logs", f"ws-app-{key}.log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        server = bl.Server(cmd, port, cwd=bl.APPS, env=env, log_path=log)
        try:
            echo(port, warmup + 0.5, 0)
            figs = [echo(port, seconds, warmup)["per_second"] for _ in range(runs)]
            kb = idle_kb(server, args.idle)
        finally:
            server.stop()
        out[key] = {"label": label, "echo": statistics.median(figs), "runs": figs, "idle_kb": kb,
                    "command": bl.command_key(cmd, port)}
        print(f"{label}: {out[key]['echo']:,.0f} round trips/s {[round(f) for f in figs]}, "
              f"{kb:.1f} KB per idle WebSocket", flush=True)
    if "echo" in out.get("app", {}) and "echo" in out.get("native", {}):
        print(f"app layer / native: {out['app']['echo'] / out['native']['echo']:.2f}")
    if "echo" in out.get("app", {}) and "echo" in out.get("fastapi", {}):
        print(f"FasterAPI app / FastAPI on Uvicorn: {out['app']['echo'] / out['fastapi']['echo']:.2f}x")
    bl.write_json("ws_app.json", out)


if __name__ == "__main__":
    main()
