"""Endurance: many mixed HTTP/1.1 and h2c connections for minutes; is the server flat?

    .venv/bin/python bench/soak.py [--connections 10000] [--minutes 10] [--workers 2]
                                   [--period 2.0] [--out docs/soak.md]

(`make soak` runs the full form; not in CI.)

Starts bench/apps/fa_app.py (pinned workers plus one pooled thread and
interpreter, keep-alive 60 s) on 127.0.0.1 and holds --connections
connections to it, half HTTP/1.1 keep-alive and half h2c (prior knowledge,
the `h2` library), opened in batches. Each connection sleeps a random time
around --period, then:
- HTTP/1.1: one request (GET /, GET /json, GET /pooled/ or POST /echo of
  1 KB) and its answer; 3% of the time it closes and reconnects;
- h2c: 1 to 4 concurrent streams on the same paths; 10% of the rounds one
  more stream is reset (RST_STREAM CANCEL) right after its HEADERS; 3% of
  the rounds the connection closes and a new one is made.
Every 10 s it samples the server's RSS, open descriptors and threads. After
a warm-up (a fifth of the run, at least 30 s) the RSS must stay flat: the
last samples' median within 10% (+4 MB) of the median just after warm-up.
When every client has closed, descriptors must be back within 16 of the
count before the first connection, and the thread count unchanged. Prints
and writes the samples and the verdict (--out); exit status 1 when a check
fails, or when a request failed.
"""
import argparse
import asyncio
import datetime
import json
import os
import random
import statistics
import sys
import time

import benchlib as bl

PY = sys.executable
BODY = json.dumps({"message": "x" * 1000}).encode()
H1_PATHS = [("GET", "/"), ("GET", "/json"), ("GET", "/pooled/"), ("POST", "/echo")]
H2_PATHS = ["/", "/json", "/pooled/"]
RESET_SHARE = 0.1      # h2 rounds with one more stream, reset at once (--reset-share)
RECONNECT_SHARE = 0.03  # rounds after which a connection closes and reconnects (--reconnect-share)


class Stats:
    def __init__(self):
        self.ok = self.failed = self.resets = self.reconnects = self.opened = self.open_failed = 0
        self.errors = {}

    def error(self, kind):
        self.failed += 1
        self.errors[kind] = self.errors.get(kind, 0) + 1


def proc_sample(pid):
    out = {"rss_kb": bl.tree_kb(pid, "VmRSS"), "fds": 0, "threads": 0}
    try:
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    out["threads"] = int(line.split()[1])
    except OSError:
        pass
    return out


async def read_h1_answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    if length:
        await reader.readexactly(length)
    return status


async def h1_client(port, deadline, period, st):
    reader = writer = None
    try:
        while time.monotonic() < deadline:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                st.opened += 1
            else:
                # a new connection asks at once: the server gives a silent
                # one header_timeout (10 s) from accept, then closes it
                await asyncio.sleep(random.uniform(0, 2 * period))
            if time.monotonic() >= deadline:
                break
            method, path = random.choice(H1_PATHS)
            body = BODY if method == "POST" else b""
            writer.write(f"{method} {path} HTTP/1.1\r\nHost: soak\r\ncontent-length: {len(body)}\r\n"
                         "content-type: application/json\r\n\r\n".encode() + body)
            status = await asyncio.wait_for(read_h1_answer(reader), 30)
            if status == 200:
                st.ok += 1
            else:
                st.error(f"h1 status {status}")
            if random.random() < RECONNECT_SHARE:
                writer.close()
                writer = None
                st.reconnects += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
        st.error(f"h1 {type(e).__name__}")
    finally:
        if writer is not None:
            writer.close()


async def h2_client(port, deadline, period, st):
    import h2.config
    import h2.connection
    import h2.events
    import h2.errors
    reader = writer = conn = None

    async def connect():
        r, w = await asyncio.open_connection("127.0.0.1", port)
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        c.initiate_connection()
        w.write(c.data_to_send())
        st.opened += 1
        return r, w, c

    try:
        while time.monotonic() < deadline:
            if conn is None:
                reader, writer, conn = await connect()
            else:
                await asyncio.sleep(random.uniform(0, 2 * period))
            if time.monotonic() >= deadline:
                break
            want = set()
            for _ in range(random.randint(1, 4)):
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":authority", "soak"),
                                        (":path", random.choice(H2_PATHS))], end_stream=True)
                want.add(sid)
            if random.random() < RESET_SHARE:
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":authority", "soak"),
                                        (":path", "/")], end_stream=True)
                conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
                st.resets += 1
            writer.write(conn.data_to_send())
            statuses = {}
            t_end = time.monotonic() + 30
            while want and time.monotonic() < t_end:
                data = await asyncio.wait_for(reader.read(65536), 30)
                if not data:
                    raise ConnectionResetError("server closed")
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.ResponseReceived):
                        statuses[ev.stream_id] = dict(ev.headers).get(":status")
                    elif isinstance(ev, h2.events.DataReceived):
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id in want:
                        want.discard(ev.stream_id)
                        if statuses.get(ev.stream_id) == "200":
                            st.ok += 1
                        else:
                            st.error(f"h2 status {statuses.get(ev.stream_id)}")
                    elif isinstance(ev, h2.events.StreamReset) and ev.stream_id in want:
                        want.discard(ev.stream_id)
                        st.error(f"h2 reset {ev.error_code}")
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        raise ConnectionResetError(f"GOAWAY {ev.error_code}")
                out = conn.data_to_send()
                if out:
                    writer.write(out)
            if want:
                st.error("h2 answer timeout")
            if random.random() < RECONNECT_SHARE:
                conn.close_connection()
                writer.write(conn.data_to_send())
                writer.close()
                conn = None
                st.reconnects += 1
    except (OSError, asyncio.TimeoutError, ConnectionResetError) as e:
        st.error(f"h2 {type(e).__name__}: {str(e)[:60]}")
    finally:
        if writer is not None:
            writer.close()


async def soak(port, pid, args, samples):
    st = Stats()
    t0 = time.monotonic()
    deadline = t0 + args.minutes * 60
    tasks = []
    for i in range(args.connections):
        fn = h1_client if (i * args.h1_share) % 1 + args.h1_share >= 1 else h2_client
        tasks.append(asyncio.create_task(fn(port, deadline, args.period, st)))
        if i % 500 == 499:
            await asyncio.sleep(0.2)  # ramp up: 500 connects at a time

    async def sampler():
        while time.monotonic() < deadline:
            s = proc_sample(pid)
            s.update(t=round(time.monotonic() - t0, 1), ok=st.ok, failed=st.failed)
            samples.append(s)
            print(f"[{s['t']:6.1f}s] rss {s['rss_kb'] / 1024:7.1f} MB  fds {s['fds']:6d}  threads {s['threads']:3d}"
                  f"  ok {st.ok:9,d}  failed {st.failed}  resets {st.resets}  reconnects {st.reconnects}"
                  + (f"  errors {dict(sorted(st.errors.items(), key=lambda kv: -kv[1])[:4])}" if st.errors else ""),
                  flush=True)
            await asyncio.sleep(10)

    smp = asyncio.create_task(sampler())
    await asyncio.gather(*tasks, return_exceptions=True)
    await smp
    return st


def main():
    global RESET_SHARE, RECONNECT_SHARE, H1_PATHS, H2_PATHS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--period", type=float, default=2.0, help="mean seconds between a connection's rounds")
    ap.add_argument("--h1-share", type=float, default=0.5, help="share of HTTP/1.1 connections")
    ap.add_argument("--reset-share", type=float, default=RESET_SHARE)
    ap.add_argument("--reconnect-share", type=float, default=RECONNECT_SHARE)
    ap.add_argument("--paths", default=None, help="comma list: only these paths (both protocols)")
    ap.add_argument("--out", default=os.path.join(bl.ROOT, "docs", "soak.md"))
    args = ap.parse_args()
    RESET_SHARE, RECONNECT_SHARE = args.reset_share, args.reconnect_share
    if args.paths:
        keep = args.paths.split(",")
        H1_PATHS = [(m, p) for m, p in H1_PATHS if p in keep]
        H2_PATHS = [p for p in H2_PATHS if p in keep]
    bl.restore_default_signals()
    nofile = bl.raise_nofile()
    if nofile < args.connections + 200:
        sys.exit(f"RLIMIT_NOFILE {nofile} is too low for {args.connections} connections")
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    port = bl.free_port()
    argv = [PY, os.path.join(bl.APPS, "fa_app.py"), str(port), str(args.workers), "1", "1", "60"]
    server = bl.Server(argv, port, cwd=bl.APPS, log_path=os.path.join(bl.ROOT, "build", "soak-server.log"))
    # the baseline once every worker serves: one answer from each route
    import urllib.request
    for path in ("/", "/pooled/"):
        urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).read()
    time.sleep(0.5)
    before = proc_sample(server.pid)
    samples = []
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        st = asyncio.run(soak(port, server.pid, args, samples))
        time.sleep(3)  # the server notices the closes
        after = proc_sample(server.pid)
        alive = server.alive()
    finally:
        rc = server.stop()
    warm_t = max(30.0, args.minutes * 60 / 5)
    post = [s for s in samples if s["t"] >= warm_t]
    checks = []
    if len(post) >= 4:
        k = max(2, len(post) // 4)
        early = statistics.median(s["rss_kb"] for s in post[:k])
        late = statistics.median(s["rss_kb"] for s in post[-k:])
        checks.append(("RSS flat after warm-up", late <= early * 1.10 + 4096,
                       f"median {early / 1024:.1f} MB just after warm-up ({warm_t:.0f} s), "
                       f"{late / 1024:.1f} MB at the end"))
    else:
        checks.append(("RSS flat after warm-up", False, "too few samples after warm-up: run longer"))
    checks.append(("descriptors back after the clients closed", after["fds"] <= before["fds"] + 16,
                   f"{before['fds']} before, {max(s['fds'] for s in samples) if samples else 0} at most, "
                   f"{after['fds']} after"))
    checks.append(("threads unchanged", after["threads"] == before["threads"],
                   f"{before['threads']} before, {after['threads']} after"))
    checks.append(("no failed request", st.failed == 0, f"{st.ok:,} answered, {st.failed} failed {st.errors}"))
    checks.append(("server alive to the end, clean exit", alive and rc in (0, -15, 143), f"exit {rc}"))
    lines = ["# Soak", "",
             f"`bench/soak.py --connections {args.connections} --minutes {args.minutes:g} --workers "
             f"{args.workers} --period {args.period:g}` on {started:%Y-%m-%d %H:%M} UTC, "
             f"{os.cpu_count()} CPUs (client and server share them). "
             f"Connections opened {st.opened:,} (reconnects {st.reconnects:,}), requests answered {st.ok:,}, "
             f"streams reset by the client {st.resets:,}.", "",
             "| check | result | figures |", "|---|---|---|"]
    lines += [f"| {name} | {'pass' if ok else '**FAIL**'} | {fig} |" for name, ok, fig in checks]
    lines += ["", "| t (s) | RSS (MB) | descriptors | threads | answered |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {s['t']:.0f} | {s['rss_kb'] / 1024:.1f} | {s['fds']} | {s['threads']} | {s['ok']:,} |"
              for s in samples]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "w") as f:
        f.write(text)
    sys.exit(0 if all(ok for _, ok, _ in checks) else 1)


if __name__ == "__main__":
    main()
