"""FasterAPI against the field: one command, one machine, one invocation.

    .venv/bin/python bench/run.py [--quick] [--no-install]
                                  [--servers fasterapi,h2o,...] [--skip SECTION,...]

(`make bench` / `make bench QUICK=1` from the repository root build the C
microbenchmarks first and run this.)

Every server runs in turn on 127.0.0.1 as a subprocess, with 1 and with 2
workers, and is loaded by h2load (HTTP/1.1 and h2c) and wrk. Each figure is
the median of 3 runs after a warm-up (QUICK: one shorter run), and every
comparison is a ratio of figures taken in this same invocation. Writes
docs/benchmarks.md, docs/benchmarks.png and build/bench/results.json.

Sections (names for --skip): micro (C microbenchmarks), matrix (every server
and workload), cpu (CPU-bound scaling), idle (idle connections), rss (RSS over
many requests), handoff (pooled hand-off), allocs (allocations per request),
sleepers (1,000 concurrent asyncio.sleep(0.2) requests on one worker against
Uvicorn and Granian), obs (the access log on vs off, metrics scraped every
second vs none, on one worker), stream (a 1 GiB answer from a file and from a generator
against h2o, HTTP/1.1 and h2c) and app (the application layer against Uvicorn +
FastAPI running the same code, and against the same route on the low-level API).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata

import benchlib as bl

PY = sys.executable
VENV_BIN = os.path.dirname(PY)
BUILD = os.path.join(bl.ROOT, "build", "bench")
DOCS = os.path.join(bl.ROOT, "docs")
REQUIREMENTS = os.path.join(bl.HERE, "requirements.txt")
DEBIAN_TOOLS = {"h2o": "h2o", "wrk": "wrk", "h2load": "nghttp2-client"}
PY_MODULES = ["granian", "uvicorn", "httptools", "uvloop", "fastapi", "hypercorn", "matplotlib"]


# --- settings ------------------------------------------------------------------

@dataclass
class Settings:
    name: str
    seconds: float       # one measured run
    warmup: float        # h2load --warm-up-time before the first run
    runs: int            # measured runs per figure (median)
    lat_seconds: float   # the separate run with h2load --log-file (p50/p99)
    clients: int = 64
    streams: int = 10    # h2c streams per connection
    cpu_clients: int = 8
    cpu_seconds: float = 4  # CPU-bound runs, the hardware ceiling, the hand-off runs
    idle_conns: int = 10000
    rss_h2c: int = 1000000
    rss_h1: int = 200000
    two_workers: tuple = ()  # servers measured with 2 workers too (empty: all)
    wrk_warmup: bool = True
    sleep_runs: int = 5     # 1,000-sleepers runs per figure (median), after one warm-up round
    stream_runs: int = 5    # 1 GiB transfers per figure (median)


FULL = Settings("full", seconds=3, warmup=1, runs=3, lat_seconds=2)
QUICK = Settings("QUICK", seconds=0.75, warmup=0.2, runs=1, lat_seconds=0.4, cpu_seconds=1.5, rss_h2c=300000,
                 rss_h1=50000, two_workers=("fasterapi", "granian-rsgi", "h2o"), wrk_warmup=False,
                 sleep_runs=3, stream_runs=3)


# --- workloads -------------------------------------------------------------------

@dataclass
class Workload:
    key: str
    title: str
    proto: str
    path: str
    tool: str = "h2load"   # or "wrk"
    h1: bool = True
    post: bool = False
    static_ok: bool = False  # h2o's static file can answer it

    @property
    def label(self):
        return f"{self.title}, {self.proto}"


WORKLOADS = [
    Workload("plain-h1", "Plaintext", "HTTP/1.1 (h2load)", "/", static_ok=True),
    Workload("plain-wrk", "Plaintext", "HTTP/1.1 (wrk)", "/", tool="wrk", static_ok=True),
    Workload("plain-h2c", "Plaintext", "h2c (h2load)", "/", h1=False, static_ok=True),
    Workload("json-h1", "JSON", "HTTP/1.1 (h2load)", "/json"),
    Workload("json-h2c", "JSON", "h2c (h2load)", "/json", h1=False),
    Workload("param-h1", "Path parameter", "HTTP/1.1 (h2load)", "/user/12345"),
    Workload("param-h2c", "Path parameter", "h2c (h2load)", "/user/12345", h1=False),
    Workload("post-h1", "POST 1 KB JSON echo", "HTTP/1.1 (h2load)", "/echo", post=True),
    Workload("post-h2c", "POST 1 KB JSON echo", "h2c (h2load)", "/echo", h1=False, post=True),
]


# --- servers -----------------------------------------------------------------------

class ServerSpec:
    key = label = ""
    h2c = True
    static = False  # serves only the plaintext file
    unit = "workers"

    def command(self, port, workers, tmp, idle=False):
        raise NotImplementedError

    def version(self):
        return ""

    def available(self):
        return None  # or a reason it cannot run


def _pkg(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


class FasterAPI(ServerSpec):
    key, label = "fasterapi", "FasterAPI"

    def command(self, port, workers, tmp, idle=False):
        # "0 0": no pooled routes, so no pooled threads or interpreter
        cmd = [PY, os.path.join(bl.APPS, "fa_app.py"), str(port), str(workers), "0", "0"]
        if idle:
            cmd.append("60")  # keepalive_timeout 60 s while connections sit idle
        return cmd

    def version(self):
        v = _pkg("fasterapi") or "?"
        try:
            rev = subprocess.run(["git", "-C", bl.ROOT, "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True, timeout=10).stdout.strip()
            dirty = subprocess.run(["git", "-C", bl.ROOT, "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            if rev:
                v += f" (git {rev}{', with uncommitted changes' if dirty else ''})"
        except (OSError, subprocess.TimeoutExpired):
            pass
        return v + "; seed API `PyHttp2Server`, `num_pinned_workers=N`, no pooled route (so no pooled threads)"


class H2O(ServerSpec):
    key, label, static, unit = "h2o", "h2o (static file)", True, "threads"

    def command(self, port, workers, tmp, idle=False):
        root = os.path.join(tmp, f"h2o-{port}")
        www = os.path.join(root, "www")
        os.makedirs(www, exist_ok=True)
        # h2o started as root serves as "nobody": the files must be readable
        os.chmod(tmp, 0o755)
        os.chmod(root, 0o755)
        os.chmod(www, 0o755)
        with open(os.path.join(www, "index.txt"), "w") as f:
            f.write("Hello, World!")
        os.chmod(os.path.join(www, "index.txt"), 0o644)
        conf = os.path.join(root, "h2o.conf")
        with open(conf, "w") as f:
            f.write(h2o_config(port, workers, www, os.path.join(root, "error.log"), idle))
        return ["h2o", "-c", conf]

    def version(self):
        return bl.tool_version(["h2o", "--version"]) + "; `num-threads: N`, no access log, file.dir"

    def available(self):
        return None if shutil.which("h2o") else "h2o is not installed"


def h2o_config(port, threads, www, error_log, idle=False):
    # idle test: keep 10,000 connections (default max-connections: 1024)
    timeouts = ("max-connections: 20000\nhttp1-request-timeout: 60\nhttp2-idle-timeout: 60\n"
                if idle else "")
    return (f"num-threads: {threads}\n"
            f"listen:\n  host: 127.0.0.1\n  port: {port}\n"
            f"error-log: {error_log}\n"
            f"{timeouts}"
            "hosts:\n  default:\n    paths:\n      /:\n"
            f"        file.dir: {www}\n"
            "        file.index: ['index.txt']\n")


class Granian(ServerSpec):
    def __init__(self, interface):
        self.interface = interface
        self.key = f"granian-{interface}"
        self.label = f"Granian {interface.upper()}"

    def command(self, port, workers, tmp, idle=False):
        app = "rsgi_app:app" if self.interface == "rsgi" else "asgi_app:app"
        cmd = [os.path.join(VENV_BIN, "granian"), "--interface", self.interface, "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers), "--http", "auto", "--no-ws",
               "--log-level", "warning"]
        if idle:  # its default caps a worker at backlog/workers = 1024 connections
            cmd += ["--backpressure", "20000"]
        return cmd + [app]

    def version(self):
        return (_pkg("granian") or "?") + f"; `--interface {self.interface} --workers N --http auto`"

    def available(self):
        return None if _pkg("granian") else "granian is not installed"


class Uvicorn(ServerSpec):
    h2c = False

    def __init__(self, fastapi):
        self.fastapi = fastapi
        self.key = "uvicorn-fastapi" if fastapi else "uvicorn"
        self.label = "Uvicorn + FastAPI" if fastapi else "Uvicorn (raw ASGI)"

    def command(self, port, workers, tmp, idle=False):
        cmd = [os.path.join(VENV_BIN, "uvicorn"), "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--loop", "uvloop", "--http", "httptools",
               "--no-access-log", "--log-level", "warning"]
        if idle:
            cmd += ["--timeout-keep-alive", "60"]
        return cmd + ["fastapi_app:app" if self.fastapi else "asgi_app:app"]

    def version(self):
        v = f"{_pkg('uvicorn') or '?'} (httptools {_pkg('httptools') or '?'}, uvloop {_pkg('uvloop') or '?'})"
        if self.fastapi:
            v = f"FastAPI {_pkg('fastapi') or '?'} (Starlette {_pkg('starlette') or '?'}) on Uvicorn " + v
        return v + "; `--workers N --loop uvloop --http httptools --no-access-log`"

    def available(self):
        if not (_pkg("uvicorn") and _pkg("httptools") and _pkg("uvloop")):
            return "uvicorn[standard] is not installed"
        if self.fastapi and not _pkg("fastapi"):
            return "fastapi is not installed"
        return None


class Hypercorn(ServerSpec):
    key, label = "hypercorn", "Hypercorn (raw ASGI)"

    def command(self, port, workers, tmp, idle=False):
        cmd = [os.path.join(VENV_BIN, "hypercorn"), "-b", f"127.0.0.1:{port}", "-w", str(workers),
               "-k", "uvloop"]
        if idle:
            cmd += ["--keep-alive", "60"]
        return cmd + ["asgi_app:app"]

    def version(self):
        return (_pkg("hypercorn") or "?") + "; `-w N -k uvloop` (h2c with prior knowledge and upgrade)"

    def available(self):
        return None if _pkg("hypercorn") else "hypercorn is not installed"


SERVERS = [FasterAPI(), H2O(), Granian("rsgi"), Granian("asgi"), Uvicorn(False), Uvicorn(True), Hypercorn()]
SPECS = {spec.key: spec for spec in SERVERS}


# --- the sections beyond the matrix: sleepers, streaming, the application layer ----------

SLEEPERS = 1000             # concurrent requests, one connection each
SLEEP_SECONDS = 0.2         # what each handler awaits (bench/apps/sleep_app.py)
SLEEP_TARGET = 2.0          # on one pinned worker, all of them complete in well under this
STREAM_BYTES = 1 << 30      # the streamed response
ITEMS_URL = "/items/5?q=abc"
ITEMS_ANSWER = {"item_id": 5, "q": "abc"}
LAYER_VS_FASTAPI = 20.0     # the application layer >= 20x Uvicorn + FastAPI running the same code
SEED_VS_LAYER = 1.5         # the seed-style handler <= 1.5x the application layer


@dataclass
class Contender:
    """A server started from a plain argv in bench/apps (sections other than
    the matrix). `key` is the matrix server key that --servers selects and
    whose availability applies (None: FasterAPI itself)."""
    name: str                 # unique within its section: results, logs
    key: str
    label: str
    argv: object              # port -> argv
    h2c: bool = True
    env: dict = field(default_factory=dict)
    workers: int = 1

    def available(self):
        spec = SPECS.get(self.key)
        return spec.available() if spec else None


def _app(name):
    return os.path.join(bl.APPS, name)


def _swap_app(spec_key, workers, app):
    """The matrix's command line for that server, serving `app` instead."""
    return lambda port: SPECS[spec_key].command(port, workers, None)[:-1] + [app]


def sleep_contenders():
    return [
        Contender("fasterapi", "fasterapi", "FasterAPI (low-level API, 1 pinned worker)",
                  lambda port: [PY, _app("sleep_app.py"), str(port)]),
        Contender("uvicorn", "uvicorn", "Uvicorn (raw ASGI, 1 worker)",
                  _swap_app("uvicorn", 1, "sleep_app:asgi"), h2c=False),
        Contender("granian-asgi", "granian-asgi", "Granian ASGI (1 worker)",
                  _swap_app("granian-asgi", 1, "sleep_app:asgi")),
        Contender("granian-rsgi", "granian-rsgi", "Granian RSGI (1 worker)",
                  _swap_app("granian-rsgi", 1, "sleep_app:rsgi")),
    ]


def app_contenders(workers):
    w = str(workers)
    return [
        Contender(f"layer-{w}", "fasterapi", "FasterAPI application layer (`from fasterapi import FastAPI`)",
                  lambda port: [PY, "-m", "fasterapi", "items_app:app", "--host", "127.0.0.1", "--port", str(port),
                                "--workers", w, "--interpreters", "sub", "--log-level", "warning"],
                  env={"BENCH_FRAMEWORK": "fasterapi"}, workers=workers),
        Contender(f"seed-{w}", "fasterapi", "FasterAPI low-level handler (seed API, `items_seed.py`)",
                  lambda port: [PY, _app("items_seed.py"), str(port), w], workers=workers),
        Contender(f"uvicorn-fastapi-{w}", "uvicorn-fastapi", "Uvicorn + FastAPI (`from fastapi import FastAPI`)",
                  _swap_app("uvicorn-fastapi", workers, "items_app:app"), h2c=False,
                  env={"BENCH_FRAMEWORK": "fastapi"}, workers=workers),
    ]


APP_WORKLOADS = [
    Workload("items-h1", "Path + query parameter, JSON", "HTTP/1.1 (h2load)", ITEMS_URL),
    Workload("items-h2c", "Path + query parameter, JSON", "h2c (h2load)", ITEMS_URL, h1=False),
]
STREAM_PROTOS = (("h1", "HTTP/1.1", ["--http1.1"], "1.1"), ("h2c", "h2c", ["--http2-prior-knowledge"], "2"))


def sleep_cmd(h1):
    return bl.h2load_cmd("http://127.0.0.1:PORT/sleep", requests=SLEEPERS, clients=SLEEPERS, h1=h1)


def curl_cmd(url, flags):
    return ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total} %{http_version}",
            *flags, url]


def curl_download(url, flags, version):
    """One GET with curl into /dev/null; returns seconds. Raises unless the
    answer is a 200 of exactly STREAM_BYTES over the expected HTTP version."""
    cmd = curl_cmd(url, flags)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise bl.BenchError("curl timed out: " + " ".join(cmd))
    parts = out.stdout.split()
    if out.returncode != 0 or len(parts) != 4:
        raise bl.BenchError(f"curl exit {out.returncode}: {(out.stderr or out.stdout).strip()[:200]}")
    code, size, seconds, got = parts[0], int(float(parts[1])), float(parts[2]), parts[3]
    if code != "200" or size != STREAM_BYTES or got != version:
        raise bl.BenchError(f"status {code}, {size:,} bytes over HTTP/{got} (expected 200, {STREAM_BYTES:,} "
                            f"bytes over HTTP/{version})")
    return seconds


def write_big_file(path, size=STREAM_BYTES):
    """A real file (not sparse) of random-looking bytes: one random 1 MiB
    block written over and over."""
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
    os.chmod(path, 0o644)  # h2o started as root serves as nobody


# --- results ----------------------------------------------------------------------

@dataclass
class Figure:
    rps: float = 0.0
    p50: float = None  # ms
    p99: float = None  # ms
    rss_kb: int = 0    # peak RSS (VmHWM) of the server tree so far
    errors: int = 0
    runs: list = field(default_factory=list)
    error: str = ""    # the figure could not be taken


class Bench:
    def __init__(self, args):
        self.args = args
        self.s = QUICK if args.quick else FULL
        self.tmp = tempfile.mkdtemp(prefix="fa-bench-")
        self.logs = os.path.join(BUILD, "logs")
        os.makedirs(self.logs, exist_ok=True)
        for name in os.listdir(self.logs):  # this run's logs only
            if name.endswith(".log"):
                os.unlink(os.path.join(self.logs, name))
        self.body_file = os.path.join(self.tmp, "body.json")
        self._write_body()
        self.results = {}       # (server, workers) -> {workload: Figure}
        self.status = {}        # (server, workers) -> "ok" or what went wrong
        self.exit_codes = {}    # (server, workers) -> code at stop
        self.notes = []         # anomalies seen
        self.commands = {}      # (server, workers) -> argv
        self.cpu = {}           # label -> Figure
        self.idle = {}          # server -> dict
        self.rss_flat = {}
        self.handoff = {}
        self.micro = {}
        self.allocs = {}
        self.allocs_cmd = ""
        self.ceiling = None
        self.sleepers = {}      # contender name -> {"label", "command", "h1"/"h2c": {seconds, runs} or {error}}
        self.stream = {}        # case -> {"label", "h1"/"h2c": {mbps, seconds, runs, rss_kb} or {error}}
        self.stream_commands = []
        self.app = {}           # contender name -> {workload key: Figure}
        self.obs = {}           # variant -> {"h1"/"h2c": [req/s per round]}, "commands"
        self.app_info = {}      # contender name -> {"label", "workers", "command", "error"?}
        self.timings = []
        self.started = time.time()

    def _write_body(self):
        head, tail = '{"message": "Hello, World!", "padding": "', '"}'
        pad = 1024 - len(head) - len(tail)
        with open(self.body_file, "w") as f:
            f.write(head + "x" * pad + tail)

    def log(self, msg):
        print(f"[{time.time() - self.started:6.1f}s] {msg}", flush=True)

    def section(self, name, fn):
        if name in self.args.skip:
            self.log(f"skipping {name}")
            return
        t0 = time.time()
        try:
            fn()
        except Exception as e:  # one broken section must not lose the others
            self.notes.append(f"Section {name} failed: {e}")
            self.log(f"section {name} failed: {e}")
        self.timings.append((name, time.time() - t0))

    # -- one figure --------------------------------------------------------------

    def url(self, port, path):
        return f"http://127.0.0.1:{port}{path}"

    def h2load_args(self, w):
        kw = {"clients": self.s.clients, "h1": w.h1, "streams": self.s.streams}
        if w.post:
            kw["data"] = self.body_file
            kw["headers"] = ["content-type: application/json"]
        return kw

    def measure_once(self, server, w, warm):
        """One measured run of workload w; returns a dict with rps, errors,
        rss_kb (peak during the run) and, for wrk, p50/p99."""
        url = self.url(server.port, w.path)
        if w.tool == "wrk":
            if warm and self.s.wrk_warmup:
                bl.run_wrk(url, 1, self.s.clients)
            bl.reset_hwm(server.pid)
            r = bl.run_wrk(url, self.s.seconds, self.s.clients)
            r["errors"] = r["errors"] + r["non2xx"]
        else:
            bl.reset_hwm(server.pid)
            r = bl.run_h2load(url, seconds=self.s.seconds, warmup=self.s.warmup if warm else 0,
                              **self.h2load_args(w))
            r["errors"] = r["failed"] + r["errored"] + r["timeout"] + r["non2xx"]
        r["rss_kb"] = bl.tree_kb(server.pid, "VmHWM")
        return r

    def measure_latency(self, server, w):
        """p50/p99 (ms) from a separate h2load run with --log-file: the
        per-request log costs h2load CPU, which it shares with the server."""
        log = os.path.join(self.tmp, "latency.tsv")
        try:
            r = bl.run_h2load(self.url(server.port, w.path), seconds=self.s.lat_seconds, log_file=log,
                              **self.h2load_args(w))
            pct = bl.percentiles_from_log(log)
        finally:
            if os.path.exists(log):
                os.unlink(log)
        return pct[50], pct[99], r["failed"] + r["errored"] + r["timeout"] + r["non2xx"]

    # -- the matrix ----------------------------------------------------------------

    def configs(self):
        for spec in SERVERS:
            if self.args.servers and spec.key not in self.args.servers:
                continue
            for workers in (1, 2):
                if workers == 2 and self.s.two_workers and spec.key not in self.s.two_workers:
                    continue
                yield spec, workers

    def start(self, spec, workers, tag, idle=False):
        port = bl.free_port()
        cmd = spec.command(port, workers, self.tmp, idle=idle)
        log = os.path.join(self.logs, f"{spec.key}-{workers}-{tag}.log")
        if os.path.exists(log):
            os.unlink(log)
        return bl.Server(cmd, port, cwd=bl.APPS, log_path=log), cmd

    def applies(self, spec, w):
        return not (spec.static and not w.static_ok) and (w.h1 or spec.h2c)

    def run_matrix(self):
        """Starts every server configuration at once (each on its own port;
        the idle ones sleep), then interleaves: run 1 of every (workload,
        server), then run 2 of every one, and so on, so that a burst of
        outside load spreads over all servers instead of skewing one."""
        live = {}  # key -> (spec, server)
        for spec, workers in self.configs():
            key = (spec.key, workers)
            self.results[key] = {}
            why = spec.available()
            if why:
                self.status[key] = why
                self.log(f"{spec.label} x{workers}: {why}")
                continue
            try:
                server, cmd = self.start(spec, workers, "matrix")
            except Exception as e:
                self.status[key] = f"failed to start: {str(e).splitlines()[0]}"
                self.log(f"{spec.label} x{workers}: failed to start: {e}")
                continue
            self.commands[key] = [("PORT" if c == str(server.port) else
                                   c.replace(self.tmp, "$TMP").replace(str(server.port), "PORT")) for c in cmd]
            self.status[key] = "ok"
            live[key] = (spec, server)
        self.log(f"{len(live)} server configurations running")
        runs, errors = {}, {}

        def check(key, spec, server, w):
            if not server.alive() and self.status[key] == "ok":
                self.status[key] = f"died during {w.label} (exit {server.proc.returncode})"
                self.notes.append(f"{spec.label} x{key[1]} died during {w.label}; log tail:\n"
                                  + server.log_tail())

        try:
            for r in range(self.s.runs):
                for w in WORKLOADS:
                    for key, (spec, server) in live.items():
                        if not self.applies(spec, w) or (key, w.key) in errors:
                            continue
                        if not server.alive():
                            errors[(key, w.key)] = "server died"
                            continue
                        t0 = time.time()
                        try:
                            res = self.measure_once(server, w, warm=(r == 0))
                            runs.setdefault((key, w.key), []).append(res)
                            msg = f"{res['rps']:,.0f} req/s, {res['errors']} errors"
                        except Exception as e:
                            errors[(key, w.key)] = msg = str(e).splitlines()[0][:200]
                        check(key, spec, server, w)
                        self.log(f"run {r + 1}/{self.s.runs} {spec.label} x{key[1]} {w.label}: {msg} "
                                 f"({time.time() - t0:.1f}s)")
            lat = {}
            for w in WORKLOADS:
                if w.tool == "wrk":
                    continue
                for key, (spec, server) in live.items():
                    if (key, w.key) in runs and (key, w.key) not in errors and server.alive():
                        try:
                            lat[(key, w.key)] = self.measure_latency(server, w)
                        except Exception as e:
                            self.notes.append(f"{spec.label} x{key[1]}, {w.label}: latency run failed: {e}")
                        check(key, spec, server, w)
        finally:
            for key, (spec, server) in live.items():
                rc = server.stop()
                self.exit_codes[key] = rc
                if rc not in (0, -15, 143) and self.status[key] == "ok":
                    self.notes.append(f"{spec.label} x{key[1]} exited with code {rc} at SIGTERM; "
                                      "log tail:\n" + server.log_tail())

        for key, (spec, server) in live.items():
            for w in WORKLOADS:
                if not self.applies(spec, w):
                    continue
                rs = runs.get((key, w.key), [])
                if (key, w.key) in errors or not rs:
                    fig = Figure(error=errors.get((key, w.key), "not run"))
                else:
                    fig = Figure(rps=statistics.median(x["rps"] for x in rs), runs=[x["rps"] for x in rs],
                                 rss_kb=max(x["rss_kb"] for x in rs), errors=sum(x["errors"] for x in rs))
                    if w.tool == "wrk":
                        fig.p50 = statistics.median(x["p50"] for x in rs)
                        fig.p99 = statistics.median(x["p99"] for x in rs)
                    elif (key, w.key) in lat:
                        fig.p50, fig.p99, lat_errors = lat[(key, w.key)]
                        fig.errors += lat_errors
                    if fig.errors:
                        self.notes.append(f"{spec.label} x{key[1]}, {w.label}: {fig.errors} failed, timed-out "
                                          "or non-2xx requests")
                self.results[key][w.key] = fig

    def scan_log(self, path, who):
        try:
            with open(path, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return
        bad = [ln for ln in lines if any(k in ln.lower() for k in ("error", "traceback", "warning", "fatal"))]
        if bad:
            self.notes.append(f"{who}: {len(bad)} error/warning lines in its log, e.g.:\n" + "\n".join(bad[:5]))

    # -- CPU-bound scaling -------------------------------------------------------------

    def run_cpu(self):
        """All CPU-bound configurations are started at once and their runs
        interleaved with runs of the hardware ceiling, as in the matrix."""
        fa, gr = SERVERS[0], Granian("rsgi")
        cases = [("FasterAPI, 1 pinned worker", fa, 1, "/cpu"),
                 ("FasterAPI, 2 pinned workers", fa, 2, "/cpu"),
                 # one pinned worker hands /pooled/cpu to 2 pooled threads that
                 # share one interpreter (and so its GIL)
                 ("FasterAPI, 2 pooled threads in 1 interpreter",
                  lambda port: [PY, os.path.join(bl.APPS, "fa_app.py"), str(port), "1", "2", "1"], 1,
                  "/pooled/cpu")]
        if gr.available() is None:
            cases += [("Granian RSGI, 1 worker", gr, 1, "/cpu"), ("Granian RSGI, 2 workers", gr, 2, "/cpu"),
                      ("Granian WSGI, 1 worker, 2 threads in 1 interpreter",
                       lambda port: [os.path.join(VENV_BIN, "granian"), "--interface", "wsgi", "--host",
                                     "127.0.0.1", "--port", str(port), "--workers", "1", "--blocking-threads",
                                     "2", "--no-ws", "--log-level", "warning", "wsgi_app:app"], 1, "/cpu")]
        live = {}
        for label, spec_or_cmd, workers, path in cases:
            try:
                if isinstance(spec_or_cmd, ServerSpec):
                    server, _ = self.start(spec_or_cmd, workers, "cpu")
                else:
                    port = bl.free_port()
                    slug = "".join(c if c.isalnum() else "-" for c in label.lower())
                    server = bl.Server(spec_or_cmd(port), port, cwd=bl.APPS,
                                       log_path=os.path.join(self.logs, f"cpu-{slug}.log"))
                live[label] = (server, path)
            except Exception as e:
                self.cpu[label] = Figure(error=f"failed to start: {str(e).splitlines()[0]}")
        runs, errors, ceilings, hwm = {}, {}, [], {}
        try:
            for r in range(self.s.runs):
                for label, (server, path) in live.items():
                    if label in errors:
                        continue
                    try:
                        bl.reset_hwm(server.pid)
                        res = bl.run_h2load(self.url(server.port, path), seconds=self.s.cpu_seconds, h1=True,
                                            warmup=0.5 if r == 0 else 0, clients=self.s.cpu_clients)
                        runs.setdefault(label, []).append(res)
                        hwm[label] = max(hwm.get(label, 0), bl.tree_kb(server.pid, "VmHWM"))
                        self.log(f"CPU run {r + 1}/{self.s.runs} {label}: {res['rps']:,.0f} req/s")
                    except Exception as e:
                        errors[label] = str(e).splitlines()[0][:200]
                        self.log(f"CPU {label}: {errors[label]}")
                ceilings.append(bl.cpu_ceiling(self.s.cpu_seconds / 2))
                self.log(f"hardware ceiling run {r + 1}: 2 processes = {ceilings[-1]['ratio']:.2f}x one")
        finally:
            for server, _ in live.values():
                server.stop()
        for label, *_ in cases:
            if label in self.cpu:
                continue
            rs = runs.get(label)
            if label in errors or not rs:
                self.cpu[label] = Figure(error=errors.get(label, "not run"))
            else:
                self.cpu[label] = Figure(rps=statistics.median(x["rps"] for x in rs), runs=[x["rps"] for x in rs],
                                         errors=sum(x["failed"] + x["errored"] + x["non2xx"] for x in rs),
                                         rss_kb=hwm.get(label, 0))
        if ceilings:
            ratios = [c["ratio"] for c in ceilings]
            self.ceiling = {"ratio": statistics.median(ratios), "runs": ratios}

    # -- idle connections ---------------------------------------------------------------

    def run_idle(self):
        n = self.s.idle_conns
        for spec in SERVERS:
            if self.args.servers and spec.key not in self.args.servers:
                continue
            if spec.available():
                self.idle[spec.key] = {"error": spec.available()}
                continue
            try:
                server, cmd = self.start(spec, 1, "idle", idle=True)
            except Exception as e:
                self.idle[spec.key] = {"error": f"failed to start: {e}"}
                continue
            socks = []
            try:
                # a few connections first, so lazily built per-worker state exists
                warm, _ = bl.open_idle_connections(server.port, 64)
                bl.close_all(warm)
                time.sleep(0.5)
                before = bl.tree_kb(server.pid, "VmRSS")
                t0 = time.time()
                socks, failed = bl.open_idle_connections(server.port, n)
                took = time.time() - t0
                time.sleep(0.5)
                after = bl.tree_kb(server.pid, "VmRSS")
                still = bl.count_still_open(socks)
                res = {"requested": n, "opened": len(socks), "failed": failed, "open_at_measure": still,
                       "before_kb": before, "after_kb": after, "open_seconds": took,
                       "per_conn_kb": (after - before) / still if still else None,
                       "alive": server.alive()}
            except Exception as e:
                res = {"error": str(e).splitlines()[0][:200]}
            finally:
                bl.close_all(socks)
                server.stop()
            self.idle[spec.key] = res
            self.log(f"idle {spec.label}: {res}")

    # -- RSS over many requests, pooled hand-off ------------------------------------------------

    def run_rss_flat(self):
        fa = SERVERS[0]
        server, cmd = self.start(fa, 1, "rss")
        try:
            url = self.url(server.port, "/")
            post = self.url(server.port, "/echo")
            bl.run_h2load(url, requests=100000, clients=64, streams=10)
            warm = bl.tree_kb(server.pid, "VmRSS")
            r1 = bl.run_h2load(url, requests=self.s.rss_h2c, clients=64, streams=10)
            mid = bl.tree_kb(server.pid, "VmRSS")
            r2 = bl.run_h2load(post, requests=self.s.rss_h1, clients=64, h1=True, data=self.body_file,
                               headers=["content-type: application/json"])
            end = bl.tree_kb(server.pid, "VmRSS")
            self.rss_flat = {"warm_kb": warm, "after_h2c_kb": mid, "after_h1_kb": end,
                             "h2c_requests": r1["succeeded"], "h1_requests": r2["succeeded"],
                             "errors": r1["failed"] + r1["errored"] + r2["failed"] + r2["errored"],
                             "hwm_kb": bl.tree_kb(server.pid, "VmHWM")}
        finally:
            server.stop()
        self.log(f"RSS over requests: {self.rss_flat}")

    def run_handoff(self):
        port = bl.free_port()
        # one pinned worker, 2 pooled threads sharing 1 interpreter (the defaults)
        server = bl.Server([PY, os.path.join(bl.APPS, "fa_app.py"), str(port), "1", "2", "1"], port,
                           cwd=bl.APPS, log_path=os.path.join(self.logs, "fasterapi-1-handoff.log"))
        rounds = 3  # pinned and pooled alternate, so outside load hits both alike
        lat = {"pinned": [], "pooled": []}
        rps = {"pinned": [], "pooled": []}
        try:
            for label, path in (("pinned", "/"), ("pooled", "/pooled/")):
                bl.run_h2load(self.url(server.port, path), seconds=0.3, clients=1, h1=True)
            for _ in range(rounds):
                for label, path in (("pinned", "/"), ("pooled", "/pooled/")):
                    if "error" in self.handoff.get(label, {}):
                        continue
                    log = os.path.join(self.tmp, "handoff.tsv")
                    try:
                        r = bl.run_h2load(self.url(server.port, path), seconds=self.s.cpu_seconds / rounds,
                                          clients=1, h1=True, log_file=log)
                        rps[label].append(r["rps"])
                        lat[label] += bl.latencies_from_log(log)
                    except bl.BenchError as e:
                        self.handoff[label] = {"error": str(e).splitlines()[0][:200]}
                    finally:
                        if os.path.exists(log):
                            os.unlink(log)
        finally:
            server.stop()
        for label in ("pinned", "pooled"):
            if label not in self.handoff and lat[label]:
                pct = bl.percentiles(lat[label])
                self.handoff[label] = {"rps": statistics.median(rps[label]), "p50": pct[50], "p99": pct[99]}
        self.log(f"hand-off: {self.handoff}")

    # -- the access log and metrics: what they cost ------------------------------------------

    def run_obs(self):
        """Three servers of bench/apps/fa_app.py with one pinned worker each:
        neither access log nor metrics, the access log on (to a file), and
        metrics with a scrape every second.  Their runs alternate round by
        round, so outside load hits all three alike; each figure is the median
        of the rounds."""
        import threading
        variants = [("off", {}), ("access_log", {"access_log": True}), ("metrics", None)]
        rounds = 5 if self.s.name != "QUICK" else 2  # short rounds: this VM's load swings run to run
        live, scrape_stop, scrapes = {}, [], {"n": 0, "errors": 0}
        try:
            for name, opts in variants:
                port = bl.free_port()
                if opts is None:
                    mport = bl.free_port()
                    opts = {"metrics_port": mport}
                    self.obs["metrics_port"] = mport
                env = dict(os.environ, FA_BENCH_OPTIONS=json.dumps(opts))
                argv = [PY, os.path.join(bl.APPS, "fa_app.py"), str(port), "1", "0"]
                live[name] = bl.Server(argv, port, cwd=bl.APPS, env=env,
                                       log_path=os.path.join(self.tmp, f"obs-{name}.log"))
                self.obs.setdefault("commands", {})[name] = f"FA_BENCH_OPTIONS='{json.dumps(opts)}' " + \
                    shlex.join(["python", "bench/apps/fa_app.py", "PORT", "1", "0"])

            def scraper():
                url = f"http://127.0.0.1:{self.obs['metrics_port']}/metrics"
                while not scrape_stop:
                    try:
                        with urllib.request.urlopen(url, timeout=5) as r:
                            r.read()
                        scrapes["n"] += 1
                    except OSError:
                        scrapes["errors"] += 1
                    time.sleep(1.0)

            # the metrics listener opens once the interpreters exist, after the server's own port
            bl.wait_port(self.obs["metrics_port"], live["metrics"].proc, 30)
            t = threading.Thread(target=scraper, daemon=True)
            t.start()
            for proto, h1, streams in (("h1", True, 1), ("h2c", False, self.s.streams)):
                for name in live:  # warm-up
                    bl.run_h2load(self.url(live[name].port, "/"), seconds=0.3, clients=self.s.clients,
                                  streams=streams, h1=h1)
                for _ in range(rounds):
                    for name, server in live.items():
                        cpu0 = _proc_cpu_seconds(server.pid)
                        r = bl.run_h2load(self.url(server.port, "/"), seconds=self.s.cpu_seconds / 2,
                                          clients=self.s.clients, streams=streams, h1=h1)
                        cpu = _proc_cpu_seconds(server.pid) - cpu0
                        self.obs.setdefault(name, {}).setdefault(proto, []).append(r["rps"])
                        # the server's CPU time per answer: steadier than req/s on a shared VM
                        done = r.get("succeeded") or 0
                        self.obs[name].setdefault(proto + "_cpu_us", []).append(cpu * 1e6 / done if done else None)
                        self.obs.setdefault("h2load", {})[proto] = shlex.join(
                            ["h2load"] + [x for x in r["cmd"][1:-1]] + ["http://127.0.0.1:PORT/"])
            scrape_stop.append(1)
            t.join(5)
        finally:
            scrape_stop.append(1)
            for server in live.values():
                server.stop()
        log = os.path.join(self.tmp, "obs-access_log.log")
        if os.path.exists(log):
            with open(log, "rb") as f:
                self.obs["log_lines"] = sum(1 for ln in f if ln.startswith(b"INFO:"))
            os.unlink(log)
        self.obs["scrapes"] = scrapes
        self.log(f"obs: {self.obs}")

    # -- allocations per request (bench/allocs.py, an LD_PRELOAD counting shim) -------------

    def run_allocs(self):
        script = os.path.join(bl.HERE, "allocs.py")
        if not os.path.exists(script):
            return
        n = 20000 if self.s.name == "QUICK" else 200000
        out = subprocess.run([PY, script, "--requests", str(n)], capture_output=True, text=True, timeout=600)
        for line in out.stdout.splitlines():
            m = re.match(r"\s*(\S+)\s+allocations per request: ([\d.]+)", line)
            if m:
                self.allocs[m.group(1)] = float(m.group(2))
        self.allocs_cmd = f"bench/allocs.py --requests {n}"
        if not self.allocs:
            self.notes.append(f"bench/allocs.py gave no result (exit {out.returncode}): "
                              + (out.stderr or out.stdout)[-300:])
        self.log(f"allocations per request: {self.allocs}")

    # -- C microbenchmarks ----------------------------------------------------------------------

    def run_micro(self):
        for name in ("ring_bench", "interp_switch", "handoff_bench"):
            exe = os.path.join(self.args.cbin, name)
            if not os.path.exists(exe):
                self.micro[name] = {"error": f"{exe} not built (make -f mk/bench.mk bench-c)"}
                continue
            argv = [exe]
            if self.s.name == "QUICK":
                argv.append({"ring_bench": "5000000", "interp_switch": "500000",
                             "handoff_bench": "30000"}[name])
            try:
                out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
            except subprocess.TimeoutExpired:
                self.micro[name] = {"error": "timed out"}
                continue
            vals = {}
            for line in out.stdout.splitlines():
                parts = line.split()
                if len(parts) == 4 and parts[0] == "RESULT":
                    vals[parts[1]] = (float(parts[2]), parts[3])
            if out.returncode != 0 or not vals:
                vals = {"error": f"exit {out.returncode}: {(out.stderr or out.stdout)[-300:]}"}
            vals["argv"] = " ".join(["bench/c/" + name if i == 0 else a for i, a in enumerate(argv)])
            self.micro[name] = vals
            self.log(f"{name}: {vals}")

    # -- servers from a plain argv (sleepers, stream, app) -------------------------------------

    def show_cmd(self, argv, port, env=None):
        """argv as the report shows it: PORT, $TMP, paths relative to the repository."""
        words = [shlex.quote(f"{k}={v}") for k, v in (env or {}).items()]
        for c in argv:
            if c == str(port):
                words.append("PORT")
            elif c.startswith(self.tmp):
                words.append("$TMP" + shlex.quote(c[len(self.tmp):]))
            else:
                words.append(shlex.quote(os.path.relpath(c, bl.ROOT) if c.startswith(bl.ROOT) else c))
        return " ".join(words)

    def start_contenders(self, contenders, section):
        """Starts every wanted, available contender; returns {name: (contender,
        server, shown command)} and {name: why it did not start}."""
        live, failed = {}, {}
        for c in contenders:
            if self.args.servers and c.key not in self.args.servers:
                continue
            why = c.available()
            if why:
                failed[c.name] = why
                self.log(f"{section} {c.label}: {why}")
                continue
            port = bl.free_port()
            argv = c.argv(port)
            log = os.path.join(self.logs, f"{section}-{c.name}.log")
            if os.path.exists(log):
                os.unlink(log)
            try:
                server = bl.Server(argv, port, cwd=bl.APPS, env=dict(os.environ, **c.env) if c.env else None,
                                   log_path=log)
            except Exception as e:
                failed[c.name] = f"failed to start: {str(e).splitlines()[0]}"
                self.log(f"{section} {c.label}: {failed[c.name]}")
                continue
            live[c.name] = (c, server, self.show_cmd(argv, port, c.env))
        return live, failed

    def stop_contenders(self, live, section):
        for name, (c, server, _) in live.items():
            rc = server.stop()
            if rc not in (0, -15, 143):
                self.notes.append(f"{section}: {c.label} exited with code {rc} at SIGTERM; log tail:\n"
                                  + server.log_tail())

    # -- 1,000 concurrent sleepers on one worker ---------------------------------------------------

    def run_sleepers(self):
        """SLEEPERS requests at once (one connection each) to a handler that
        awaits asyncio.sleep(SLEEP_SECONDS), one worker per server: the wall
        time until the last answer (h2load's "finished in"). Every run must
        get SLEEPERS 2xx answers. One warm-up round, then the rounds
        interleave the servers."""
        live, failed = self.start_contenders(sleep_contenders(), "sleep")
        for name, why in failed.items():
            self.sleepers[name] = {"error": why}
        times, errors = {}, {}
        try:
            for r in range(self.s.sleep_runs + 1):
                for name, (c, server, _) in live.items():
                    for proto, h1 in (("h1", True), ("h2c", False)):
                        if (not h1 and not c.h2c) or (name, proto) in errors:
                            continue
                        try:
                            res = bl.run_h2load(self.url(server.port, "/sleep"), requests=SLEEPERS,
                                                clients=SLEEPERS, h1=h1)
                            if res["ok2xx"] != SLEEPERS:
                                raise bl.BenchError(
                                    f"{res['ok2xx']} of {SLEEPERS} requests answered 2xx ({res['failed']} failed, "
                                    f"{res['errored']} errored, {res['timeout']} timed out, "
                                    f"{res['non2xx']} non-2xx)")
                            if r:
                                times.setdefault((name, proto), []).append(res["seconds"])
                            msg = f"{res['seconds']:.3f} s"
                        except Exception as e:
                            errors[(name, proto)] = msg = str(e).splitlines()[0][:200]
                        if not server.alive() and (name, proto) not in errors:
                            errors[(name, proto)] = msg = f"server died (exit {server.proc.returncode})"
                        self.log(f"sleepers {'warm-up' if r == 0 else f'run {r}/{self.s.sleep_runs}'} "
                                 f"{c.label} {proto}: {msg}")
        finally:
            self.stop_contenders(live, "sleepers")
        for name, (c, _, shown) in live.items():
            d = self.sleepers[name] = {"label": c.label, "command": shown}
            for proto in ("h1", "h2c") if c.h2c else ("h1",):
                if (name, proto) in errors:
                    d[proto] = {"error": errors[(name, proto)]}
                    self.notes.append(f"Sleepers, {c.label}, {proto}: {errors[(name, proto)]}")
                elif times.get((name, proto)):
                    rs = times[(name, proto)]
                    d[proto] = {"seconds": statistics.median(rs), "runs": rs}
        self.log("sleepers: " + ", ".join(f"{k} {v.get('h1', {}).get('seconds', '-')}"
                                          for k, v in self.sleepers.items()))

    # -- streaming 1 GiB ------------------------------------------------------------------------------

    def run_stream(self):
        """A 1 GiB answer over one connection, with curl into /dev/null, over
        HTTP/1.1 and h2c: FasterAPI's res['file'] (sendfile on HTTP/1.1) and
        a generator of 64 KiB chunks, against h2o serving the same file."""
        root = os.path.join(self.tmp, "stream")
        www = os.path.join(root, "www")
        os.makedirs(www, exist_ok=True)
        for d in (self.tmp, root, www):
            os.chmod(d, 0o755)  # h2o started as root serves as nobody
        big = os.path.join(www, "big.bin")
        t0 = time.time()
        write_big_file(big)
        self.log(f"stream: wrote {STREAM_BYTES:,} bytes in {time.time() - t0:.1f} s")

        def h2o_argv(port):
            conf = os.path.join(root, "h2o.conf")
            with open(conf, "w") as f:
                f.write(h2o_config(port, 1, www, os.path.join(root, "error.log")))
            return ["h2o", "-c", conf]

        servers = [Contender("fasterapi", "fasterapi", "FasterAPI (1 pinned worker)",
                             lambda port: [PY, _app("stream_app.py"), str(port), "1", big]),
                   Contender("h2o", "h2o", "h2o (1 thread)", h2o_argv)]
        cases = [("fasterapi-file", "FasterAPI, `res['file']` (sendfile on HTTP/1.1)", "fasterapi", "/file"),
                 ("fasterapi-gen", "FasterAPI, `res['body']` = generator of 64 KiB chunks", "fasterapi", "/gen"),
                 ("h2o", "h2o, static file (1 thread)", "h2o", "/big.bin")]
        live, failed = {}, {}
        try:
            live, failed = self.start_contenders(servers, "stream")
            self.stream_commands = [shown for _, _, shown in live.values()]
            times, rss, errors = {}, {}, {}
            try:
                for r in range(self.s.stream_runs):
                    for case, label, sname, path in cases:
                        if sname not in live:
                            continue
                        server = live[sname][1]
                        for proto, _, flags, version in STREAM_PROTOS:
                            if (case, proto) in errors:
                                continue
                            try:
                                bl.reset_hwm(server.pid)
                                secs = curl_download(self.url(server.port, path), flags, version)
                                times.setdefault((case, proto), []).append(secs)
                                rss[(case, proto)] = max(rss.get((case, proto), 0),
                                                         bl.tree_kb(server.pid, "VmHWM"))
                                msg = f"{STREAM_BYTES / secs / 1e6:,.0f} MB/s ({secs:.3f} s)"
                            except Exception as e:
                                errors[(case, proto)] = msg = str(e).splitlines()[0][:200]
                            if not server.alive() and (case, proto) not in errors:
                                errors[(case, proto)] = msg = f"server died (exit {server.proc.returncode})"
                            self.log(f"stream run {r + 1}/{self.s.stream_runs} {label} {proto}: {msg}")
            finally:
                self.stop_contenders(live, "stream")
        finally:
            if os.path.exists(big):
                os.unlink(big)
        for case, label, sname, path in cases:
            if sname in failed:
                self.stream[case] = {"label": label, "error": failed[sname]}
                continue
            if sname not in live:
                continue
            d = self.stream[case] = {"label": label, "path": path}
            for proto, *_ in STREAM_PROTOS:
                if (case, proto) in errors:
                    d[proto] = {"error": errors[(case, proto)]}
                    self.notes.append(f"Stream, {label}, {proto}: {errors[(case, proto)]}")
                elif times.get((case, proto)):
                    secs = statistics.median(times[(case, proto)])
                    d[proto] = {"mbps": STREAM_BYTES / secs / 1e6, "seconds": secs, "runs": times[(case, proto)],
                                "rss_kb": rss.get((case, proto), 0)}
        self.log("stream: " + ", ".join(f"{k} " + "/".join(f"{v[p]['mbps']:,.0f}" if "mbps" in v.get(p, {}) else "-"
                                                           for p in ("h1", "h2c"))
                                        for k, v in self.stream.items()) + " MB/s")

    # -- the application layer against Uvicorn + FastAPI ------------------------------------------

    def run_app(self):
        """items_app.py under FasterAPI's layer and under Uvicorn + FastAPI (only
        the import differs), and items_seed.py (the same route on the
        low-level API), with 1 and 2 workers: all started at once, runs
        interleaved as in the matrix."""
        contenders = app_contenders(1) + app_contenders(2)
        live, failed = self.start_contenders(contenders, "app")
        for c in contenders:
            if c.name in failed:
                self.app_info[c.name] = {"label": c.label, "workers": c.workers, "error": failed[c.name]}
        for name, (c, server, shown) in live.items():
            self.app_info[name] = {"label": c.label, "workers": c.workers, "command": shown}
        runs, errors, lat = {}, {}, {}
        try:
            for name, (c, server, _) in list(live.items()):
                try:  # the same answer from each
                    with urllib.request.urlopen(self.url(server.port, ITEMS_URL), timeout=10) as resp:
                        got = json.loads(resp.read())
                    if got != ITEMS_ANSWER:
                        self.notes.append(f"App: {c.label} x{c.workers} answered {got!r}, not {ITEMS_ANSWER!r}")
                except Exception as e:
                    self.notes.append(f"App: {c.label} x{c.workers}: GET {ITEMS_URL} failed: {e}")
            for r in range(self.s.runs):
                for w in APP_WORKLOADS:
                    for name, (c, server, _) in live.items():
                        if (not w.h1 and not c.h2c) or (name, w.key) in errors:
                            continue
                        t0 = time.time()
                        try:
                            res = self.measure_once(server, w, warm=(r == 0))
                            runs.setdefault((name, w.key), []).append(res)
                            msg = f"{res['rps']:,.0f} req/s, {res['errors']} errors"
                        except Exception as e:
                            errors[(name, w.key)] = msg = str(e).splitlines()[0][:200]
                        if not server.alive() and (name, w.key) not in errors:
                            errors[(name, w.key)] = msg = f"server died (exit {server.proc.returncode})"
                        self.log(f"app run {r + 1}/{self.s.runs} {c.label} x{c.workers} {w.label}: {msg} "
                                 f"({time.time() - t0:.1f}s)")
            for w in APP_WORKLOADS:
                for name, (c, server, _) in live.items():
                    if (name, w.key) in runs and (name, w.key) not in errors and server.alive():
                        try:
                            lat[(name, w.key)] = self.measure_latency(server, w)
                        except Exception as e:
                            self.notes.append(f"App: {c.label} x{c.workers}, {w.label}: latency run failed: {e}")
        finally:
            self.stop_contenders(live, "app")
        for name, (c, _, _) in live.items():
            self.app[name] = {}
            for w in APP_WORKLOADS:
                if not w.h1 and not c.h2c:
                    continue
                rs = runs.get((name, w.key), [])
                if (name, w.key) in errors or not rs:
                    fig = Figure(error=errors.get((name, w.key), "not run"))
                else:
                    fig = Figure(rps=statistics.median(x["rps"] for x in rs), runs=[x["rps"] for x in rs],
                                 rss_kb=max(x["rss_kb"] for x in rs), errors=sum(x["errors"] for x in rs))
                    if (name, w.key) in lat:
                        fig.p50, fig.p99, lat_errors = lat[(name, w.key)]
                        fig.errors += lat_errors
                    if fig.errors:
                        self.notes.append(f"App: {c.label} x{c.workers}, {w.label}: {fig.errors} failed, "
                                          "timed-out or non-2xx requests")
                self.app[name][w.key] = fig

    # -- everything --------------------------------------------------------------------------------

    def run(self):
        self.loadavg_before = os.getloadavg()
        self.section("micro", self.run_micro)
        self.section("matrix", self.run_matrix)
        self.section("cpu", self.run_cpu)
        self.section("idle", self.run_idle)
        self.section("rss", self.run_rss_flat)
        self.section("handoff", self.run_handoff)
        self.section("allocs", self.run_allocs)
        self.section("sleepers", self.run_sleepers)
        self.section("obs", self.run_obs)
        self.section("stream", self.run_stream)
        self.section("app", self.run_app)
        for name in sorted(os.listdir(self.logs)):
            if name.startswith(("fasterapi-", "cpu-fasterapi", "sleep-fasterapi", "stream-fasterapi",
                                "app-layer", "app-seed")):
                self.scan_log(os.path.join(self.logs, name), f"FasterAPI ({name})")
        self.loadavg_after = os.getloadavg()
        self.elapsed = time.time() - self.started


# --- installation --------------------------------------------------------------------

def install(no_install):
    missing_tools = [pkg for tool, pkg in DEBIAN_TOOLS.items() if not shutil.which(tool)]
    missing_py = [m for m in PY_MODULES if _pkg(m) is None]
    if no_install:
        return
    if missing_tools:
        print(f"installing Debian packages: {' '.join(missing_tools)}", flush=True)
        if os.geteuid() != 0:
            print("  (not root: run `sudo apt-get install -y " + " ".join(missing_tools) + "`)")
        else:
            subprocess.run(["apt-get", "update", "-q"], check=False)
            subprocess.run(["apt-get", "install", "-y", "-q", *missing_tools], check=False)
    if missing_py:
        print(f"installing Python packages ({', '.join(missing_py)} missing) from {REQUIREMENTS}",
              flush=True)
        subprocess.run([PY, "-m", "pip", "install", "-q", "-r", REQUIREMENTS], check=False)
        metadata_cache_clear()


def metadata_cache_clear():
    import importlib
    importlib.invalidate_caches()


# --- report -----------------------------------------------------------------------------

def fmt_rps(x):
    return f"{x:,.0f}" if x else "-"


def fmt_ms(x):
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def fmt_mb(kb):
    return f"{kb / 1024:.1f}" if kb else "-"


def ratio(a, b):
    return a / b if a and b else None


def fmt_ratio(r):
    return f"{r:.2f}x" if r is not None else "-"


def verdict(value, target, higher=True):
    if value is None:
        return "not measured"
    ok = value >= target if higher else value <= target
    return "**met**" if ok else "**not met**"


def machine_rows():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        tpc = next((ln.split(":")[1].strip() for ln in lscpu.splitlines()
                    if ln.startswith("Thread(s) per core")), "?")
        hyp = next((ln.split(":")[1].strip() for ln in lscpu.splitlines()
                    if ln.startswith("Hypervisor vendor")), None)
    except OSError:
        tpc, hyp = "?", None
    osname = "?"
    try:
        with open("/etc/os-release") as f:
            osname = next(ln.split("=", 1)[1].strip().strip('"') for ln in f if ln.startswith("PRETTY_NAME"))
    except (OSError, StopIteration):
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1048576:.1f} GiB"
    except OSError:
        pass
    return [("CPU", f"{cpu}, {os.cpu_count()} logical CPUs, {tpc} thread(s) per core"
             + (f", virtual machine ({hyp})" if hyp else "")),
            ("Memory", mem), ("OS", osname), ("Kernel", platform.release()),
            ("Python", f"{platform.python_version()} ({PY})")]


def write_report(b, md_path, png_path):
    s = b.s
    L = []
    add = L.append
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    add("# Benchmarks\n")
    add(f"Generated by `make bench{' QUICK=1' if s.name == 'QUICK' else ''}` (`bench/run.py`) on {when}, "
        f"in {b.elapsed / 60:.1f} minutes. Do not edit by hand: run it again.\n")
    if s.name == "QUICK":
        add(f"> **QUICK mode**: one run of {s.seconds:g} s per figure, 2 workers only for "
            + ", ".join(x.label for x in SERVERS if x.key in s.two_workers)
            + ". Use these numbers to check the harness, not to quote them: run `make bench`.\n")
    add("Method:\n")
    add(f"- Every server runs on 127.0.0.1 as a subprocess. All configurations are started at once, each on "
        "its own port (the ones not under load sleep), and the runs are interleaved: run 1 of every workload "
        "on every server, then run 2, and so on, so that a burst of outside load spreads over all servers "
        "instead of skewing one.")
    add(f"- req/s: the median of {s.runs} run(s) of {s.seconds:g} s; the first run of each figure starts "
        f"with a {s.warmup:g} s warm-up (h2load `--warm-up-time`).")
    add(f"- p50/p99: h2load figures take them from one separate {s.lat_seconds:g} s run with `--log-file` "
        "(per-request latencies; writing the log costs h2load CPU, which it shares with the server, so it is "
        "kept out of the req/s runs); wrk figures from `--latency` of the same runs (median over runs).")
    add("- Peak RSS: VmHWM summed over the server's process tree (pre-fork workers and supervisors "
        "included), reset through `/proc/PID/clear_refs` before each run, so it is the peak during that "
        "workload; the maximum over its runs.")
    add("- The load generators run on the same 2 vCPUs, with one thread: a 2-worker server competes with "
        "h2load for the CPUs, and over HTTP/1.1 the client itself tops out near h2o's figure.")
    add("- Ratios compare figures of this one invocation.\n")

    add("## Machine\n")
    add("| | |\n|---|---|")
    for k, v in machine_rows():
        add(f"| {k} | {v} |")
    if b.ceiling:
        add(f"| Hardware ceiling | a pure-Python loop in 2 processes runs **{b.ceiling['ratio']:.2f}x** "
            f"the throughput of 1 process (2.00 = two independent full-speed cores; median of "
            f"{', '.join(f'{x:.2f}' for x in b.ceiling['runs'])}, measured between the CPU-bound runs) |")
    add(f"| Load average | {b.loadavg_before[0]:.2f} at start, {b.loadavg_after[0]:.2f} at the end "
        "(anything else running skews the figures) |")
    add("")
    add("## Versions and configurations\n")
    add("| server / tool | version and configuration |\n|---|---|")
    for spec in SERVERS:
        add(f"| {spec.label} | {spec.version() if not spec.available() else spec.available()} |")
    add(f"| h2load | {bl.tool_version(['h2load', '--version'])} |")
    wrk_version = bl.tool_version(["wrk", "-v"], r"\d+\.\d+\.\d+\S*")
    add(f"| wrk | {wrk_version} |")
    add("")

    add("## Targets\n")
    add("| target | measured | status |\n|---|---|---|")
    for row in target_rows(b):
        add("| " + " | ".join(row) + " |")
    add("")

    add("## Results per workload\n")
    add("req/s is the median; p50/p99 in milliseconds; peak RSS in MB; errors = failed, timed-out or "
        "non-2xx requests over all runs of the figure; the last column is FasterAPI's req/s divided by "
        "that row's, with the same number of workers.\n")
    for w in WORKLOADS:
        rows = []
        for spec, workers in b.configs():
            key = (spec.key, workers)
            if (spec.static and not w.static_ok):
                continue
            if not w.h1 and not spec.h2c:
                rows.append((spec, workers, None, "no h2c in this server"))
                continue
            st = b.status.get(key, "not run")
            fig = b.results.get(key, {}).get(w.key)
            if fig is None:
                rows.append((spec, workers, None, st if st != "ok" else "not run"))
            elif fig.error:
                rows.append((spec, workers, None, fig.error))
            else:
                rows.append((spec, workers, fig, ""))
        if not rows:
            continue
        add(f"### {w.label}\n")
        add(f"`{shlex.join(load_cmd(b, w))}`\n")
        add("| server | workers | req/s | p50 (ms) | p99 (ms) | peak RSS (MB) | errors | FasterAPI ÷ this |")
        add("|---|---:|---:|---:|---:|---:|---:|---:|")
        for spec, workers, fig, why in rows:
            unit = f"{workers} {'thread' if spec.unit == 'threads' else 'worker'}{'s' if workers > 1 else ''}"
            if fig is None:
                add(f"| {spec.label} | {unit} | {why} | | | | | |")
                continue
            fa = b.results.get(("fasterapi", workers), {}).get(w.key)
            r = ratio(fa.rps, fig.rps) if fa and not fa.error and spec.key != "fasterapi" else None
            add(f"| {spec.label} | {unit} | {fmt_rps(fig.rps)} | {fmt_ms(fig.p50)} | {fmt_ms(fig.p99)} | "
                f"{fmt_mb(fig.rss_kb)} | {fig.errors or ''} | {fmt_ratio(r) if r else ''} |")
        add("")

    add("## CPU-bound handler scaling\n")
    add("A handler that runs a 20,000-iteration Python loop (about a millisecond), "
        f"`h2load --h1 -c {s.cpu_clients}`, median of {s.runs} run(s) of {s.cpu_seconds:g} s after a "
        "0.5 s warm-up; all configurations run at once and their runs are interleaved. The hardware ceiling "
        "runs the same kind of loop in 1 process, then in 2 processes at once, after each round of runs.\n")
    add("| configuration | req/s | vs 1 worker of the same server | peak RSS (MB) |\n|---|---:|---:|---:|")
    base = {"FasterAPI": b.cpu.get("FasterAPI, 1 pinned worker"), "Granian": b.cpu.get("Granian RSGI, 1 worker")}
    for label, fig in b.cpu.items():
        if fig.error:
            add(f"| {label} | {fig.error} | | |")
            continue
        ref = base["FasterAPI" if label.startswith("FasterAPI") else "Granian"]
        r = ratio(fig.rps, ref.rps) if ref and not ref.error else None
        add(f"| {label} | {fmt_rps(fig.rps)} | {fmt_ratio(r)} | {fmt_mb(fig.rss_kb)} |")
    if b.ceiling:
        add(f"| hardware ceiling: pure-Python loop, 2 processes vs 1 | | {b.ceiling['ratio']:.2f}x | |")
    add("")

    add("## Idle connections\n")
    add(f"One worker each. {s.idle_conns:,} connections are opened with a selectors-based raw-socket "
        "client (RLIMIT_NOFILE raised), each sends one `GET /` over HTTP/1.1 and reads the answer, then "
        "stays open and silent; RSS (VmRSS summed over the process tree) before and after; kernel socket "
        "buffers are not in RSS. For this test only, keep-alive timeouts are raised to 60 s where a server "
        "has one, and connection caps are lifted (h2o `max-connections: 20000`, default 1024; Granian "
        "`--backpressure 20000`, default backlog/workers = 1024).\n")
    add("| server | connections open | RSS before | RSS after | per connection |\n|---|---:|---:|---:|---:|")
    for spec in SERVERS:
        r = b.idle.get(spec.key)
        if r is None:
            continue
        if "error" in r:
            add(f"| {spec.label} | {r['error']} | | | |")
            continue
        per = f"{r['per_conn_kb']:.1f} KB" if r["per_conn_kb"] is not None else "-"
        add(f"| {spec.label} | {r['open_at_measure']:,} of {r['requested']:,} | {fmt_mb(r['before_kb'])} MB | "
            f"{fmt_mb(r['after_kb'])} MB | {per} |")
    add("")

    if b.rss_flat:
        r = b.rss_flat
        add("## RSS over many requests (FasterAPI, 1 pinned worker)\n")
        add(f"| point | RSS |\n|---|---:|\n| after 100,000 warm-up requests (h2c) | {fmt_mb(r['warm_kb'])} MB |\n"
            f"| after {r['h2c_requests']:,} more plaintext requests over h2c | {fmt_mb(r['after_h2c_kb'])} MB |\n"
            f"| after {r['h1_requests']:,} more 1 KB POST echoes over HTTP/1.1 | {fmt_mb(r['after_h1_kb'])} MB |\n")

    if b.handoff:
        h = b.handoff
        add("## Pooled hand-off, end to end\n")
        add("The same plaintext handler as a pinned route (`/`) and as a pooled route (`/pooled/`, "
            "worker → pooled thread → worker through the rings and eventfd wake-ups), one connection "
            "(`h2load --h1 -c 1`), so each request waits for the previous one.\n")
        add("| route | req/s | p50 | p99 |\n|---|---:|---:|---:|")
        for k in ("pinned", "pooled"):
            if "error" in h.get(k, {}):
                add(f"| {k} | {h[k]['error']} | | |")
            elif k in h:
                add(f"| {k} | {fmt_rps(h[k]['rps'])} | {fmt_ms(h[k]['p50'])} ms | {fmt_ms(h[k]['p99'])} ms |")
        if h.get("pinned", {}).get("p50") and h.get("pooled", {}).get("p50"):
            d50 = (h["pooled"]["p50"] - h["pinned"]["p50"]) * 1000
            d99 = (h["pooled"]["p99"] - h["pinned"]["p99"]) * 1000
            add(f"\nPooled minus pinned: **{d50:+.0f} µs** at p50, {d99:+.0f} µs at p99 (three alternating runs "
                "of each, latencies pooled; a difference near zero or below is within this machine's noise).\n")
        else:
            add("")

    report_sleepers(b, add)
    report_obs(b, add)
    report_stream(b, add)
    report_app(b, add)

    add("## C microbenchmarks\n")
    add("Built by `mk/bench.mk` with `gcc -O2` (as the extension), sources in `bench/c/`; medians of 5 "
        "repetitions.\n")
    add("| benchmark | result | claim | status |\n|---|---:|---|---|")
    m = b.micro
    def mval(prog, name):
        v = m.get(prog, {}).get(name)
        return v[0] if isinstance(v, tuple) else None
    for prog, name, what, claim, limit in (
            ("ring_bench", "ring_1thread_pair_ns", "SPSC ring push+pop, one thread", "< 50 ns", 50),
            ("ring_bench", "ring_1thread_batch_ns", "SPSC ring push+pop per item, batches of 64, one thread", "", None),
            ("ring_bench", "ring_2thread_stream_ns", "SPSC ring push → pop per item, two threads streaming", "< 50 ns", 50),
            ("ring_bench", "ring_2thread_roundtrip_ns", "SPSC ring ping-pong round trip, two spinning threads", "", None),
            ("interp_switch", "interp_attach_detach_ns", "attach + detach one own-GIL interpreter", "", None),
            ("interp_switch", "interp_switch_ns", "switch a thread between two own-GIL interpreters", "< 1 µs", 1000),
            ("handoff_bench", "handoff_p50_us", "hand-off round trip worker → pooled → worker (ring + eventfd), p50", "", None),
            ("handoff_bench", "handoff_p99_us", "the same, p99", "", None)):
        if "error" in m.get(prog, {}):
            add(f"| {what} | {m[prog]['error']} | {claim} | |")
            continue
        v = mval(prog, name)
        unit = "µs" if name.endswith("_us") else "ns"
        status = verdict(v, limit, higher=False) if limit else ""
        add(f"| {what} | {v:.2f} {unit} | {claim} | {status} |" if v is not None else f"| {what} | - | {claim} | |")
    add("")
    add("Commands: " + ", ".join(f"`{v['argv']}`" for v in m.values() if "argv" in v) + ".\n")

    add("## Commands\n")
    add("Servers (working directory `bench/apps/`, PORT chosen free; h2o's YAML is written to a temporary "
        "directory):\n")
    add("```")
    seen = set()
    for (key, workers), cmd in b.commands.items():
        txt = shlex.join(os.path.relpath(c, bl.ROOT) if c.startswith(bl.ROOT) else c for c in cmd)
        if txt not in seen:
            seen.add(txt)
            add(txt)
    add("```\n")
    add("h2o configuration (`num-threads` 1 or 2):\n\n```yaml\n"
        + h2o_config("PORT", "N", "/tmp/.../www", "/tmp/.../error.log").rstrip() + "\n```\n")
    add("Load (URL `http://127.0.0.1:PORT/...`):\n")
    add("```")
    for w in WORKLOADS:
        add(f"{w.key:10s} {shlex.join(load_cmd(b, w))}")
    add("```\n")

    add("## Notes\n")
    failed = [f"{spec.label} x{w}: {b.status[(spec.key, w)]}" for spec, w in b.configs()
              if b.status.get((spec.key, w), "ok") != "ok"]
    for spec, workers in b.configs():
        for w in WORKLOADS:
            f = b.results.get((spec.key, workers), {}).get(w.key)
            if f is not None and f.error:
                failed.append(f"{spec.label} x{workers}, {w.label}: {f.error}")
    failed += [f"CPU-bound, {label}: {f.error}" for label, f in b.cpu.items() if f.error]
    failed += [f"Idle connections, {k}: {v['error']}" for k, v in b.idle.items() if "error" in v]
    failed += [f"Pooled hand-off, {k} route: {v['error']}" for k, v in b.handoff.items() if "error" in v]
    for n in failed + b.notes:
        add("- " + n.replace("\n", "\n  "))
    if not failed and not b.notes:
        add("- Every server started, answered every workload it supports without errors and stopped cleanly; "
            "no FasterAPI log had an error or warning line.")
    if any("responses succeeded" in (f.error or "") for (k, _), d in b.results.items() if k == "hypercorn"
           for f in d.values()):
        add("- Hypercorn over HTTP/1.1 with h2load: h2load 1.52 counts a status line without a reason phrase "
            "(`HTTP/1.1 200 `, which Hypercorn sends) as a failed response (checked against a minimal "
            "server that differs only in the reason phrase); wrk accepts it, so Hypercorn's HTTP/1.1 figure "
            "is the wrk row.")
    ran = {spec.key for spec, _ in b.configs()}
    if ran & {"uvicorn", "uvicorn-fastapi"}:
        add("- Uvicorn with httptools speaks HTTP/1.1 only, so it has no h2c rows.")
    if "h2o" in ran:
        add("- h2o serves only the static file, so it appears in the plaintext tables only. When started as "
            "root it serves as `nobody` and keeps a `perl` crash-report helper as a child; the helper's few MB "
            "are in h2o's RSS sum.")
    add("- Section times: " + ", ".join(f"{k} {v:.0f} s" for k, v in b.timings) + ".")
    add("")
    if png_path:
        add(f"![benchmarks]({os.path.basename(png_path)})\n")
    with open(md_path, "w") as f:
        f.write("\n".join(L))


def _secs(d):
    return d.get("seconds") if d and "error" not in d else None


def report_sleepers(b, add):
    if not b.sleepers:
        return
    add("## 1,000 concurrent sleepers, one worker\n")
    add(f"Each server runs ONE worker, whose handler awaits `asyncio.sleep({SLEEP_SECONDS:g})` and answers `ok` "
        "(`bench/apps/sleep_app.py`: the same handler as a FasterAPI low-level `async def` handler, a raw ASGI "
        f"app and an RSGI app). {SLEEPERS:,} requests are sent at once, one connection each; the figure is "
        "h2load's wall time until the last answer (its `finished in`), the median of "
        f"{b.s.sleep_runs} run(s) after one warm-up round, with the servers' runs interleaved. Every run must "
        f"get {SLEEPERS:,} 2xx answers. {SLEEP_SECONDS:g} s is the floor; the ratio is this server's time "
        "divided by FasterAPI's (above 1: FasterAPI finishes first).\n")
    add(f"HTTP/1.1: `{shlex.join(sleep_cmd(True))}`; h2c: `{shlex.join(sleep_cmd(False))}`\n")
    add("| server | HTTP/1.1: all done in | this ÷ FasterAPI | h2c: all done in | this ÷ FasterAPI |")
    add("|---|---:|---:|---:|---:|")
    fa = b.sleepers.get("fasterapi", {})
    for name, d in b.sleepers.items():
        label = d.get("label") or next((c.label for c in sleep_contenders() if c.name == name), name)
        if "error" in d and "label" not in d:
            add(f"| {label} | {d['error']} | | | |")
            continue
        cells = []
        for proto in ("h1", "h2c"):
            x = d.get(proto)
            if x is None:
                cells += ["no h2c in this server" if proto == "h2c" else "not run", ""]
            elif "error" in x:
                cells += [x["error"], ""]
            else:
                r = ratio(x["seconds"], _secs(fa.get(proto))) if name != "fasterapi" else None
                cells += [f"{x['seconds']:.3f} s", fmt_ratio(r) if r else ""]
        add(f"| {label} | " + " | ".join(cells) + " |")
    add("")
    add("```")
    for d in b.sleepers.values():
        if d.get("command"):
            add(d["command"])
    add("```\n")


OBS_TARGET = 0.90  # the access log or metrics cost at most 10% of req/s


def _proc_cpu_seconds(pid):
    """User + system CPU time of a process (every thread), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report_obs(b, add):
    o = b.obs
    if not o.get("off"):
        return
    add("## Access log and metrics: what they cost (FasterAPI, 1 pinned worker)\n")
    add("Three servers of `bench/apps/fa_app.py` (plaintext `/`, one pinned worker, no pooled thread): "
        "nothing on; the access log on (Uvicorn's line, written to a file); metrics on, scraped once a second "
        f"({o.get('scrapes', {}).get('n', 0)} scrapes, {o.get('scrapes', {}).get('errors', 0)} failed). Their "
        "h2load runs alternate round by round; each figure is the median of the rounds, and each ratio is "
        "the median over the rounds of (this variant's req/s / nothing on's req/s in the same round) "
        f"(target: >= {OBS_TARGET:.2f}).\n")
    add("| variant | HTTP/1.1 req/s | ratio | server CPU per answer | h2c req/s | ratio | server CPU per answer |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    base = {p: statistics.median(o["off"][p]) for p in ("h1", "h2c") if o["off"].get(p)}
    for name, label in (("off", "nothing on"), ("access_log", "access log on"), ("metrics", "metrics, scraped 1/s")):
        cells = []
        for p in ("h1", "h2c"):
            xs = o.get(name, {}).get(p)
            if not xs:
                cells += ["not run", "", ""]
                continue
            med = statistics.median(xs)
            # the median of the rounds' own ratios: each round's runs are
            # seconds apart, so a load swing between rounds cancels out
            pairs = [x / b for x, b in zip(xs, o["off"].get(p, [])) if b]
            r = statistics.median(pairs) if pairs else None
            cells += [fmt_rps(med), "" if name == "off" or r is None else f"{r:.3f} {verdict(r, OBS_TARGET)}"]
            cpu = [x for x in o.get(name, {}).get(p + "_cpu_us", []) if x]
            base_cpu = [x for x in o["off"].get(p + "_cpu_us", []) if x]
            if cpu and base_cpu:
                c, cb = statistics.median(cpu), statistics.median(base_cpu)
                cells.append(f"{c:.1f} µs" + ("" if name == "off" else f" ({c / cb - 1:+.1%})"))
            else:
                cells.append("")
        add(f"| {label} | " + " | ".join(cells) + " |")
    add("\nServer CPU per answer: the server process's user + system time (every thread, from /proc) during "
        "a run over the answers h2load counted; the change against nothing on is the cost in CPU, which "
        "other load on the machine disturbs far less than req/s.\n")
    if o.get("log_lines") is not None:
        add(f"The access log server wrote {o['log_lines']:,} lines.\n")
    add("```")
    for name, cmd in o.get("commands", {}).items():
        add(f"{name}: {cmd}")
    for p, cmd in o.get("h2load", {}).items():
        add(f"{p}: {cmd}")
    add("```\n")


def report_stream(b, add):
    if not b.stream:
        return
    add("## Streaming a 1 GiB response\n")
    add(f"One GET of {STREAM_BYTES:,} bytes (1 GiB) over one connection, read by curl into `/dev/null`; "
        f"MB/s = 10^6 bytes per second of curl's `time_total`, the median of {b.s.stream_runs} transfer(s) "
        "per figure, transfers interleaved. Every transfer must be a 200 of exactly 1 GiB over the protocol "
        "asked for. The file is a real file in a temporary directory (a random 1 MiB block written 1,024 "
        "times, so it sits in the page cache), deleted afterwards. FasterAPI: `bench/apps/stream_app.py`, one "
        "pinned worker: `/file` sets `res['file']` (sendfile on HTTP/1.1, pread into DATA frames on h2c), "
        "`/gen` sets `res['body']` to a generator of 64 KiB bytes chunks (chunked coding on HTTP/1.1). "
        "h2o: one thread, `file.dir` on the same file. Peak RSS: VmHWM of the server's process tree during "
        "the transfer (reset before each).\n")
    add("HTTP/1.1: `" + shlex.join(curl_cmd("http://127.0.0.1:PORT/PATH", STREAM_PROTOS[0][2])) + "`; h2c: `"
        + shlex.join(curl_cmd("http://127.0.0.1:PORT/PATH", STREAM_PROTOS[1][2])) + "`\n")
    add("| source | HTTP/1.1 MB/s | ÷ h2o | peak RSS (MB) | h2c MB/s | ÷ h2o | peak RSS (MB) |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    ref = b.stream.get("h2o", {})
    for case, d in b.stream.items():
        if "error" in d:
            add(f"| {d['label']} | {d['error']} | | | | | |")
            continue
        cells = []
        for proto, *_ in STREAM_PROTOS:
            x = d.get(proto)
            if x is None or "error" in x:
                cells += [x["error"] if x else "not run", "", ""]
                continue
            rx = ref.get(proto, {})
            r = ratio(x["mbps"], rx.get("mbps")) if case != "h2o" else None
            cells += [f"{x['mbps']:,.0f}", fmt_ratio(r) if r else "", fmt_mb(x["rss_kb"])]
        add(f"| {d['label']} | " + " | ".join(cells) + " |")
    add("")
    if b.stream_commands:
        add("```")
        for c in b.stream_commands:
            add(c)
        add("```\n")


def report_app(b, add):
    if not b.app_info:
        return
    add("## The application layer against Uvicorn + FastAPI\n")
    add("The same file, `bench/apps/items_app.py`, served by FasterAPI's application layer and by Uvicorn + "
        "FastAPI; only its import differs (`BENCH_FRAMEWORK` picks `from fasterapi import FastAPI` or "
        "`from fastapi import FastAPI`):\n")
    add("```python\napp = FastAPI()\n\n@app.get(\"/items/{item_id}\")\n"
        "def read_item(item_id: int, q: str | None = None):\n    return {\"item_id\": item_id, \"q\": q}\n```\n")
    add("The third row is the same route hand-written on the low-level API (`bench/apps/items_seed.py`: "
        "`int()` of the path parameter, the query split by hand, `res['json']`). Each answers "
        f"`{json.dumps(ITEMS_ANSWER, separators=(',', ':'))}` to `GET {ITEMS_URL}` (checked once before the "
        f"runs). req/s: median of {b.s.runs} run(s) of {b.s.seconds:g} s, all six configurations started at "
        "once and their runs interleaved, as in the matrix; p50/p99 from a separate run with `--log-file`. "
        "Uvicorn has no h2c. The last column is the application layer's req/s divided by that row's, with the "
        "same number of workers.\n")
    add("- FastAPI runs a plain `def` endpoint on its thread pool (anyio), which costs it more than an "
        "`async def` endpoint would; the issue's code is `def`, so that is what both frameworks run here.")
    add("- h2load runs with one thread on the same 2 vCPUs: with 2 workers the servers compete with it for the "
        "CPUs, and over HTTP/1.1 FasterAPI's figures are capped near what the client itself can drive (see "
        "the plaintext tables), so a 2-worker ratio against a slower server understates the difference.\n")
    for w in APP_WORKLOADS:
        add(f"### {w.label}\n")
        add(f"`{shlex.join(load_cmd(b, w))}`\n")
        add("| server | workers | req/s | p50 (ms) | p99 (ms) | peak RSS (MB) | errors | layer ÷ this |")
        add("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, info in b.app_info.items():
            unit = f"{info['workers']} worker{'s' if info['workers'] > 1 else ''}"
            if "error" in info:
                add(f"| {info['label']} | {unit} | {info['error']} | | | | | |")
                continue
            fig = b.app.get(name, {}).get(w.key)
            if fig is None:
                add(f"| {info['label']} | {unit} | no h2c in this server | | | | | |")
                continue
            if fig.error:
                add(f"| {info['label']} | {unit} | {fig.error} | | | | | |")
                continue
            layer = b.app.get(f"layer-{info['workers']}", {}).get(w.key)
            r = ratio(layer.rps, fig.rps) if layer and not layer.error and not name.startswith("layer") else None
            add(f"| {info['label']} | {unit} | {fmt_rps(fig.rps)} | {fmt_ms(fig.p50)} | {fmt_ms(fig.p99)} | "
                f"{fmt_mb(fig.rss_kb)} | {fig.errors or ''} | {fmt_ratio(r) if r else ''} |")
        add("")
    add("```")
    for info in b.app_info.values():
        if info.get("command"):
            add(info["command"])
    add("```\n")


def load_cmd(b, w):
    s = b.s
    url = f"http://127.0.0.1:PORT{w.path}"
    if w.tool == "wrk":
        return bl.wrk_cmd(url, s.seconds, s.clients)
    kw = b.h2load_args(w)
    if w.post:
        kw["data"] = "body.json"
    return bl.h2load_cmd(url, seconds=s.seconds, **kw)


def target_rows(b):
    rows = []

    def fig(server, workers, wk):
        f = b.results.get((server, workers), {}).get(wk)
        return f if f and not f.error else None

    for wk, proto, target in (("plain-h2c", "h2c", 0.6), ("plain-h1", "HTTP/1.1", 0.8)):
        fa, ref = fig("fasterapi", 1, wk), fig("h2o", 1, wk)
        r = ratio(fa.rps if fa else None, ref.rps if ref else None)
        rows.append((f"Plaintext over {proto}, 1 pinned worker ≥ {target}x h2o static file with 1 thread",
                     f"{fmt_ratio(r)} ({fmt_rps(fa.rps if fa else 0)} vs {fmt_rps(ref.rps if ref else 0)} req/s)",
                     verdict(r, target)))
    for workers in (1, 2):
        for wk, name in (("plain-h1", "Plaintext, HTTP/1.1"), ("plain-h2c", "Plaintext, h2c"),
                         ("json-h1", "JSON, HTTP/1.1"), ("json-h2c", "JSON, h2c")):
            fa, ref = fig("fasterapi", workers, wk), fig("granian-rsgi", workers, wk)
            r = ratio(fa.rps if fa else None, ref.rps if ref else None)
            rows.append((f"{name}, {workers} worker{'s' if workers > 1 else ''}: ≥ 2x Granian RSGI",
                         f"{fmt_ratio(r)} ({fmt_rps(fa.rps if fa else 0)} vs {fmt_rps(ref.rps if ref else 0)} req/s)",
                         verdict(r, 2.0)))
    one, two = b.cpu.get("FasterAPI, 1 pinned worker"), b.cpu.get("FasterAPI, 2 pinned workers")
    r = ratio(two.rps if two and not two.error else None, one.rps if one and not one.error else None)
    ceil = f"; hardware ceiling here {b.ceiling['ratio']:.2f}x" if b.ceiling else ""
    rows.append(("CPU-bound scaling 1 → 2 pinned workers ≥ 1.8x", f"{fmt_ratio(r)}{ceil}", verdict(r, 1.8)))
    idle = b.idle.get("fasterapi", {})
    per = idle.get("per_conn_kb")
    rows.append(("Idle connection memory ≤ 8 KB each",
                 f"{per:.1f} KB ({idle['open_at_measure']:,} connections)" if per is not None else "-",
                 verdict(per, 8, higher=False)))
    if b.rss_flat:
        r = b.rss_flat
        growth = r["after_h1_kb"] - r["warm_kb"]
        total = r["h2c_requests"] + r["h1_requests"]
        rows.append((f"RSS flat over {'1 million' if total >= 1000000 else f'{total:,}'} requests "
                     "(1 pinned worker; flat = grows by at most 1 MB after warm-up)",
                     f"{growth / 1024:+.1f} MB after warm-up ({fmt_mb(r['warm_kb'])} → {fmt_mb(r['after_h1_kb'])} MB, "
                     f"{total:,} requests)", verdict(growth, 1024, higher=False) +
                     ("" if total >= 1000000 else " (fewer than 1 million requests: QUICK)")))
    else:
        rows.append(("RSS flat over 1 million requests", "-", "not measured"))
    if b.allocs:
        worst = max(b.allocs.values())
        rows.append(("No malloc on the steady-state request path (C side; pymalloc not counted)",
                     ", ".join(f"{k}: {v:.3f}" for k, v in b.allocs.items()) + f" allocations per request "
                     f"(`{b.allocs_cmd}`)", verdict(worst, 0.01, higher=False)))
    else:
        rows.append(("No malloc on the steady-state request path", "not measured (bench/allocs.py)",
                     "not measured"))
    if b.sleepers:
        fa = b.sleepers.get("fasterapi", {})
        t = _secs(fa.get("h1"))
        others = [f"{d['label'].split(' (')[0]} {_secs(d.get('h1')):.2f} s" for k, d in b.sleepers.items()
                  if k != "fasterapi" and _secs(d.get("h1"))]
        h2 = _secs(fa.get("h2c"))
        measured = (f"{t:.2f} s over HTTP/1.1" + (f" ({h2:.2f} s over h2c)" if h2 else "")
                    + ("; 1 worker each: " + ", ".join(others) if others else "")) if t else \
            (fa.get("h1", {}).get("error") or fa.get("error") or "-")
        rows.append((f"{SLEEPERS:,} concurrent `await asyncio.sleep({SLEEP_SECONDS:g})` requests on ONE pinned "
                     f"worker all complete in well under {SLEEP_TARGET:g} s", measured,
                     # a run without 1,000 2xx answers fails the target
                     "**not met**" if "error" in fa.get("h1", {}) else verdict(t, SLEEP_TARGET, higher=False)))
    if b.app_info:
        def app_fig(name, wk):
            f = b.app.get(name, {}).get(wk)
            return f if f and not f.error else None

        for workers in (1, 2):
            plural = "s" if workers > 1 else ""
            layer, ref = app_fig(f"layer-{workers}", "items-h1"), app_fig(f"uvicorn-fastapi-{workers}", "items-h1")
            r = ratio(layer.rps if layer else None, ref.rps if ref else None)
            rows.append((f"Application layer ≥ {LAYER_VS_FASTAPI:g}x Uvicorn + FastAPI running the same code "
                         f"(`{ITEMS_URL}`), HTTP/1.1, {workers} worker{plural}",
                         f"{fmt_ratio(r)} ({fmt_rps(layer.rps if layer else 0)} vs "
                         f"{fmt_rps(ref.rps if ref else 0)} req/s)", verdict(r, LAYER_VS_FASTAPI)))
        for workers in (1, 2):
            plural = "s" if workers > 1 else ""
            for w in APP_WORKLOADS:
                layer, seed = app_fig(f"layer-{workers}", w.key), app_fig(f"seed-{workers}", w.key)
                r = ratio(seed.rps if seed else None, layer.rps if layer else None)
                rows.append((f"Application layer within {SEED_VS_LAYER:g}x of the seed-style handler "
                             f"(seed ÷ layer ≤ {SEED_VS_LAYER:g}), {w.proto.split(' (')[0]}, {workers} worker{plural}",
                             f"{fmt_ratio(r)} ({fmt_rps(seed.rps if seed else 0)} vs "
                             f"{fmt_rps(layer.rps if layer else 0)} req/s)", verdict(r, SEED_VS_LAYER, higher=False)))
    return rows


# --- chart -------------------------------------------------------------------------------

def write_chart(b, png_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"fasterapi": "#d62728", "h2o": "#7f7f7f", "granian-rsgi": "#1f77b4", "granian-asgi": "#6baed6",
              "uvicorn": "#2ca02c", "uvicorn-fastapi": "#98df8a", "hypercorn": "#9467bd"}
    wls = WORKLOADS
    fig, axes = plt.subplots(3, 1, figsize=(13, 14.5), gridspec_kw={"height_ratios": [1, 1, 0.85]})
    handles = {}
    for ax, workers in zip(axes[:2], (1, 2)):
        specs = [s for s in SERVERS if any(not f.error for f in b.results.get((s.key, workers), {}).values())]
        n = len(specs)
        width = 0.84 / max(n, 1)
        for i, spec in enumerate(specs):
            vals = []
            for w in wls:
                f = b.results.get((spec.key, workers), {}).get(w.key)
                vals.append(f.rps if f and not f.error else 0)
            xs = [j + (i - (n - 1) / 2) * width for j in range(len(wls))]
            handles[spec.key] = ax.bar(xs, vals, width, label=spec.label, color=colors.get(spec.key))
        ax.set_yscale("log")
        ax.set_ylim(bottom=1000)
        ax.set_xticks(range(len(wls)))
        ax.set_xticklabels([f"{w.title}\n{w.proto}" for w in wls], fontsize=8)
        ax.set_ylabel("requests / s (log scale)")
        plural = "s" if workers > 1 else ""
        ax.set_title(f"{workers} worker{plural} per server (h2o: {workers} thread{plural}); "
                     "a missing bar: not applicable or failed, see benchmarks.md", fontsize=10)
        ax.grid(axis="y", which="both", alpha=0.3)
    order = [s for s in SERVERS if s.key in handles]
    fig.legend([handles[s.key] for s in order], [s.label for s in order], loc="upper center",
               ncol=len(order), fontsize=9, bbox_to_anchor=(0.5, 0.965), frameon=False)
    ax = axes[2]
    labels, vals, cols, notes = [], [], [], []
    base = {"FasterAPI": b.cpu.get("FasterAPI, 1 pinned worker"), "Granian": b.cpu.get("Granian RSGI, 1 worker")}
    for label, f in b.cpu.items():
        labels.append(label.replace(", ", "\n", 1).replace(" in 1 interpreter", "\nin 1 interpreter"))
        vals.append(f.rps if not f.error else 0)
        mine = label.startswith("FasterAPI")
        cols.append("#d62728" if mine else "#1f77b4")
        ref = base["FasterAPI" if mine else "Granian"]
        notes.append(f"{f.rps:,.0f}" + (f"\n{f.rps / ref.rps:.2f}x" if ref and not ref.error and ref.rps and
                                         not f.error else ""))
    bars = ax.bar(range(len(vals)), vals, color=cols)
    for i, f in enumerate(b.cpu.values()):
        if f.error:
            notes[i] = "failed"
    for rect, v, note in zip(bars, vals, notes):
        ax.annotate(note, (rect.get_x() + rect.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
    ax.set_ylim(top=max(vals + [1]) * 1.25)
    ax.set_xticks(range(len(vals)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("requests / s")
    title = "CPU-bound handler (~1 ms of Python per request), HTTP/1.1; ratios vs 1 worker of the same server"
    if b.ceiling:
        title += f"\nhardware ceiling, 2 processes vs 1: {b.ceiling['ratio']:.2f}x"
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"FasterAPI against the field, {os.cpu_count()} vCPUs, loopback, {datetime.date.today()}"
                 + (" (QUICK mode: one short run per figure)" if b.s.name == "QUICK" else ""), fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.955))
    fig.savefig(png_path, dpi=90)
    plt.close(fig)


# --- main ----------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one short run per figure (about 4 minutes)")
    ap.add_argument("--no-install", action="store_true", help="do not install missing tools and packages")
    ap.add_argument("--servers", default="", help="comma-separated subset of: "
                    + ", ".join(s.key for s in SERVERS))
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: micro, matrix, cpu, idle, "
                    "rss, handoff, allocs, sleepers, obs, stream, app")
    ap.add_argument("--cbin", default=BUILD, help="where the C microbenchmarks were built")
    ap.add_argument("--out", default=os.path.join(DOCS, "benchmarks.md"))
    ap.add_argument("--png", default=os.path.join(DOCS, "benchmarks.png"))
    args = ap.parse_args()
    args.servers = [x for x in args.servers.split(",") if x]
    args.skip = [x for x in args.skip.split(",") if x]

    bl.restore_default_signals()
    nofile = bl.raise_nofile()
    install(args.no_install)
    b = Bench(args)
    if nofile < b.s.idle_conns + 1000:
        b.notes.append(f"RLIMIT_NOFILE is only {nofile}: the idle-connection test is capped by it")
    b.log(f"mode {b.s.name}; logs in {b.logs}")
    try:
        b.run()
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    png = args.png
    try:
        write_chart(b, png)
    except Exception as e:
        b.notes.append(f"chart not drawn: {e}")
        png = None
    write_report(b, args.out, png)
    raw = {"mode": b.s.name, "status": {f"{k}:{w}": v for (k, w), v in b.status.items()},
           "results": {f"{k}:{w}": {wk: vars(f) for wk, f in d.items()} for (k, w), d in b.results.items()},
           "cpu": {k: {kk: vv for kk, vv in vars(f).items()} for k, f in b.cpu.items()},
           "ceiling": b.ceiling, "idle": b.idle, "rss_flat": b.rss_flat, "handoff": b.handoff,
           "micro": b.micro, "allocs": b.allocs, "sleepers": b.sleepers, "stream": b.stream, "obs": b.obs,
           "app": {name: dict(info, **{wk: vars(f) for wk, f in b.app.get(name, {}).items()})
                   for name, info in b.app_info.items()},
           "notes": b.notes, "elapsed": b.elapsed}
    with open(os.path.join(BUILD, "results.json"), "w") as f:
        json.dump(raw, f, indent=1, default=str)
    b.log(f"wrote {os.path.relpath(args.out, bl.ROOT)}"
          + (f" and {os.path.relpath(png, bl.ROOT)}" if png else "") + f" in {b.elapsed:.0f} s")


if __name__ == "__main__":
    main()
