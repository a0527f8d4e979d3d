"""TLS: FasterAPI against h2o and Granian over HTTPS, one invocation.

    .venv/bin/python bench/tls.py [--quick] [--servers fasterapi,h2o,granian-rsgi]
                                  [--idle N] [--out docs/benchmarks-tls.md]

(`make bench` runs it after bench/run.py; `make bench-tls` alone.)

Each server runs with 1 worker (h2o: 1 thread) on 127.0.0.1 with the same
throwaway P-256 certificate, made here with the `openssl` command:
- requests/s over TLS: h2 (`h2load -c 64 -m 10`, ALPN h2) and HTTP/1.1
  (`h2load --h1 -c 64`), "Hello, World!" (h2o: the same text as a static
  file), median of 3 runs (QUICK: 1);
- new connections/s: `openssl s_time -new` (full TLS 1.3 handshakes) and
  `openssl s_time -reuse -tls1_2` (resumed sessions; s_time reads no data,
  so it never sees a TLS 1.3 ticket and only TLS 1.2 shows resumption); the
  figure is connections / wall seconds of the s_time run, one client
  process, which itself spends about half of each handshake's CPU;
- memory per idle TLS connection: N connections (default 2,000), each after
  its handshake and one HTTP/1.1 request, then held idle; the server's RSS
  (whole process tree) after minus before, over N. Same for h2 connections
  after the preface and SETTINGS exchange.
Ratios compare figures of this same run. Writes the markdown table to --out
and the raw figures to build/bench/tls.json.
"""
import argparse
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib as bl

PY = sys.executable
VENV_BIN = os.path.dirname(PY)
BUILD = os.path.join(bl.ROOT, "build", "bench")
HELLO = "Hello, World!"
H2_VS_H2O = 0.6          # issue 10's targets, h2 over TLS, 1 worker
H2_VS_GRANIAN = 2.0
IDLE_KB_TARGET = 16.0    # memory per idle TLS connection
KEEP_MARK = "<!-- kept by bench/tls.py: hand-written notes -->"


def make_cert(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def fasterapi_cmd(port, tmp, cert, key):
    env = dict(os.environ, FA_BENCH_SSL_CERTFILE=cert, FA_BENCH_SSL_KEYFILE=key)
    return [PY, os.path.join(bl.APPS, "fa_app.py"), str(port), "1", "0", "0", "60"], env


def h2o_cmd(port, tmp, cert, key):
    root = os.path.join(tmp, f"h2o-{port}")
    www = os.path.join(root, "www")
    os.makedirs(www, exist_ok=True)
    for d in (tmp, root, www):
        os.chmod(d, 0o755)  # h2o started as root serves as "nobody"
    with open(os.path.join(www, "index.txt"), "w") as f:
        f.write(HELLO)
    os.chmod(os.path.join(www, "index.txt"), 0o644)
    conf = os.path.join(root, "h2o.conf")
    with open(conf, "w") as f:
        f.write("num-threads: 1\n"
                "max-connections: 20000\nhttp1-request-timeout: 60\nhttp2-idle-timeout: 60\n"
                f"listen:\n  host: 127.0.0.1\n  port: {port}\n"
                f"  ssl:\n    certificate-file: {cert}\n    key-file: {key}\n"
                f"error-log: {os.path.join(root, 'error.log')}\n"
                "hosts:\n  default:\n    paths:\n      /:\n"
                f"        file.dir: {www}\n        file.index: ['index.txt']\n")
    return ["h2o", "-c", conf], None


def granian_cmd(port, tmp, cert, key):
    return [os.path.join(VENV_BIN, "granian"), "--interface", "rsgi", "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--http", "auto", "--no-ws", "--log-level", "warning",
            "--backpressure", "20000", "--ssl-certificate", cert, "--ssl-keyfile", key,
            "--ssl-protocol-min", "tls1.2", "rsgi_app:app"], None  # its default minimum is TLS 1.3


SERVERS = {
    # key: (label, argv maker, why it cannot run or None, version)
    "fasterapi": ("FasterAPI (seed API, 1 pinned worker)", fasterapi_cmd, lambda: None,
                  lambda: bl.have_pkg("fasterapi") or "?"),
    "h2o": ("h2o (static file, 1 thread)", h2o_cmd,
            lambda: None if bl.tool_version(["h2o", "--version"]) != "not found" else "h2o is not installed",
            lambda: bl.tool_version(["h2o", "--version"])),
    "granian-rsgi": ("Granian RSGI (1 worker)", granian_cmd,
                     lambda: None if bl.have_pkg("granian") else "granian is not installed",
                     lambda: bl.have_pkg("granian") or "?"),
}


# --- measurements --------------------------------------------------------------

def rps(port, h1, seconds, warmup):
    r = bl.run_h2load(f"https://127.0.0.1:{port}/", seconds=seconds, warmup=warmup, clients=64,
                      streams=10, h1=h1)
    return r["rps"], r["failed"] + r["errored"] + r["timeout"] + r["non2xx"]


def s_time(port, seconds, resume):
    """Connections per wall second from one `openssl s_time` client, and how
    many of them were resumed (s_time prints 'r' per resumed connection)."""
    cmd = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-time", str(int(seconds))]
    cmd += ["-reuse", "-tls1_2"] if resume else ["-new"]
    t0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    wall = time.monotonic() - t0
    m = re.findall(r"(\d+) connections in [\d.]+s", out)
    if not m:
        raise bl.BenchError("s_time printed no result:\n" + out[-1000:])
    n = int(m[-1])
    marks = "".join(line for line in out.splitlines() if set(line) <= set("r*") and line)
    return n / wall, marks.count("r"), n, " ".join(cmd)


H1_REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _read_some(s, need):
    got = b""
    while need not in got:
        chunk = s.recv(65536)
        if not chunk:
            raise bl.BenchError("the server closed an idle-test connection")
        got += chunk
    return got


def idle_kb(server, count, alpn):
    """Server RSS growth per connection for `count` TLS connections held idle
    after one exchange (HTTP/1.1: a request and its answer; h2: the preface
    and the server's SETTINGS)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([alpn])
    time.sleep(0.5)
    before = bl.tree_kb(server.pid, "VmRSS")
    socks = []
    try:
        for _ in range(count):
            raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            socks.append(s)
            if alpn == "h2":
                if s.selected_alpn_protocol() != "h2":
                    raise bl.BenchError(f"ALPN chose {s.selected_alpn_protocol()!r}, not h2")
                s.sendall(H2_PREFACE)
                _read_some(s, b"\x04\x00\x00\x00\x00\x00")  # a SETTINGS frame header (type 4, no flags)
            else:
                s.sendall(H1_REQUEST)
                _read_some(s, HELLO.encode())
        time.sleep(1.0)  # let the server settle (timers, buffer releases)
        after = bl.tree_kb(server.pid, "VmRSS")
        if not server.alive():
            raise bl.BenchError("server died while connections were held")
        return (after - before) / count
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


# --- the run ----------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--servers", default="fasterapi,h2o,granian-rsgi")
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--out", default=os.path.join(bl.ROOT, "docs", "benchmarks-tls.md"))
    args = ap.parse_args()
    bl.restore_default_signals()
    bl.raise_nofile()
    seconds, warmup, runs, hs_seconds = (1.5, 0.3, 1, 2) if args.quick else (4, 1, 3, 4)
    tmp = tempfile.mkdtemp(prefix="fa-tls-bench-")
    os.chmod(tmp, 0o755)
    cert, key = make_cert(tmp)
    os.makedirs(os.path.join(BUILD, "logs"), exist_ok=True)
    res, notes, commands = {}, [], {}
    for key_ in args.servers.split(","):
        label, mk, why, version = SERVERS[key_]
        r = res[key_] = {"label": label}
        if why():
            r["error"] = why()
            print(f"{label}: {r['error']}", flush=True)
            continue
        r["version"] = version()
        port = bl.free_port()
        argv, env = mk(port, tmp, cert, key)
        commands[key_] = bl.command_key(argv, port, tmp)
        log = os.path.join(BUILD, "logs", f"tls-{key_}.log")
        try:
            server = bl.Server(argv, port, cwd=bl.APPS, env=env, log_path=log)
        except Exception as e:
            r["error"] = f"failed to start: {e}"
            continue
        try:
            for name, h1 in (("h2", False), ("h1", True)):
                figs, errs = [], 0
                rps(port, h1, seconds, warmup)  # warm-up run
                for _ in range(runs):
                    x, e = rps(port, h1, seconds, 0)
                    figs.append(x)
                    errs += e
                r[name] = statistics.median(figs)
                r[name + "_runs"] = figs
                if errs:
                    notes.append(f"{label}, {name}: {errs} failed or non-2xx requests")
                print(f"{label} {name}: {r[name]:,.0f} req/s {figs}", flush=True)
            for name, resume in (("full", False), ("resumed", True)):
                cps, reused, n, cmd = s_time(port, hs_seconds, resume)
                r[name] = cps
                r[name + "_reused"] = f"{reused}/{n}"
                print(f"{label} {name} handshakes: {cps:,.0f}/s ({reused}/{n} resumed)", flush=True)
            for name, alpn in (("idle_h1", "http/1.1"), ("idle_h2", "h2")):
                r[name] = idle_kb(server, args.idle, alpn)
                print(f"{label} {name}: {r[name]:.1f} KB per connection", flush=True)
        except Exception as e:
            r["error"] = str(e).splitlines()[0][:300]
            print(f"{label}: {e}", flush=True)
        finally:
            rc = server.stop()
            if rc not in (0, -15, 143):
                notes.append(f"{label} exited with {rc} at SIGTERM; log tail:\n{server.log_tail()}")
    lib_bytes = conn_bytes(cert, key)
    bl.write_json("tls.json", {"results": res, "notes": notes, "commands": commands,
                               "lib_bytes": lib_bytes})
    write_md(args, res, notes, commands, seconds, runs, lib_bytes)
    print(f"wrote {args.out}")


def conn_bytes(cert, key):
    """The heap bytes libnghttp2 and OpenSSL hold per idle connection, as
    counted by bench/c/conn_bytes.c (`make bench-c` builds it): lines of its
    output, or a note that it was not built."""
    exe = os.path.join(BUILD, "conn_bytes")
    if not os.path.exists(exe):
        return [f"(not measured: {exe} not built; `make bench-c`)"]
    out = subprocess.run([exe, cert, key, "200"], capture_output=True, text=True, timeout=120)
    return out.stdout.strip().splitlines() or [f"(conn_bytes failed: {out.stderr.strip()[:200]})"]


def write_md(args, res, notes, commands, seconds, runs, lib_bytes=()):
    fa = res.get("fasterapi", {})
    lines = bl.report_header(
        "TLS benchmarks", "bench/tls.py", args.quick,
        f"{bl.tool_version(['openssl', 'version'])} (OpenSSL), h2load "
        f"{bl.tool_version(['h2load', '--version'])}. One worker each, the same P-256 certificate; "
        f"requests/s: median of {runs} run(s) of {seconds} s after a warm-up run, 64 connections "
        "(h2: 10 streams each); handshakes: one `openssl s_time` client; idle: "
        f"{args.idle} connections held after one exchange, server RSS growth / connections.")
    lines += ["| server | h2 req/s | HTTP/1.1 req/s | full handshakes/s | resumed/s (TLS 1.2) | "
             "KB per idle conn (h1) | KB per idle conn (h2) |",
             "|---|---|---|---|---|---|---|"]
    for k, r in res.items():
        if "error" in r and "h2" not in r:
            lines.append(f"| {r['label']} | {r['error']} | | | | | |")
            continue

        def f(name, fmt="{:,.0f}"):
            return fmt.format(r[name]) if name in r else "-"
        lines.append(f"| {r['label']} | {f('h2')} | {f('h1')} | {f('full')} | {f('resumed')}"
                     f" ({r.get('resumed_reused', '-')} resumed) | {f('idle_h1', '{:.1f}')} | "
                     f"{f('idle_h2', '{:.1f}')} |")
    lines += ["", "| target (issue 10) | measured | |", "|---|---|---|"]
    for other, target in (("h2o", H2_VS_H2O), ("granian-rsgi", H2_VS_GRANIAN)):
        x = bl.ratio(res, "fasterapi", other, "h2")
        lines.append(f"| h2 over TLS >= {target}x {other} | {'-' if x is None else f'{x:.2f}x'} | "
                     f"{'-' if x is None else ('met' if x >= target else 'not met')} |")
    for name in ("idle_h1", "idle_h2"):
        if name in fa:
            lines.append(f"| idle TLS connection ({name[5:]}) <= {IDLE_KB_TARGET:.0f} KB | {fa[name]:.1f} KB | "
                         f"{'met' if fa[name] <= IDLE_KB_TARGET else 'not met'} |")
    for other in ("h2o", "granian-rsgi"):
        parts = []
        for k in ("h1", "full", "resumed"):
            x = bl.ratio(res, "fasterapi", other, k)
            if x is not None:
                parts.append(f"{k} {x:.2f}x")
        if parts:
            lines.append(f"| FasterAPI / {other}, other figures | {', '.join(parts)} | |")
    lines += bl.report_commands(
        {k: v[0] for k, v in SERVERS.items()}, res, commands,
        "Commands (PORT and $TMP stand for this run's port and folder):",
        ["`h2load -c 64 -m 10 -D S https://127.0.0.1:PORT/`, `h2load --h1 -c 64 -D S ...`; "
         "`openssl s_time -connect 127.0.0.1:PORT -new -time T`, `... -reuse -tls1_2 -time T`"])
    if lib_bytes:
        lines += ["", "Heap bytes the libraries hold per idle connection (`build/bench/conn_bytes`, "
                  "bench/c/conn_bytes.c: requested bytes through counting allocators, server side "
                  "only; RSS counts touched pages, so an allocation never written to costs less):", ""]
        lines += [f"- {x}" for x in lib_bytes]
    lines += bl.report_notes(notes)
    # hand-written analysis below KEEP_MARK in the old file survives the run
    try:
        with open(args.out) as f:
            old = f.read()
        if KEEP_MARK in old:
            lines += ["", old[old.index(KEEP_MARK):].rstrip("\n")]
    except OSError:
        pass
    bl.write_report(args.out, lines)


if __name__ == "__main__":
    main()
