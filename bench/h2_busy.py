"""HTTP/2 (h2c) memory per busy-then-idle connection and CPU per request.

    .venv/bin/python bench/h2_busy.py [--conns 1000] [--streams 100]
                                      [--requests 200000] [--skip-mem] [--skip-cpu]

bench/apps/fa_app.py, 1 pinned worker, no pooled threads, on 127.0.0.1:
- memory: CONNS h2c connections (prior knowledge), each sends STREAMS GET /
  requests at once (stream ids 1, 3, ...) and reads every answer, then all
  stay open and silent; the server's RSS after minus before, over CONNS.
  This is what a connection that has served a burst keeps (nghttp2 state,
  our stream structs and buffers), unlike bench/tls.py's idle figure which
  is taken right after the preface.
- CPU: `perf stat -e task-clock -p PID` around `h2load -n REQUESTS -c 16
  -m 10 http://.../`: server CPU microseconds per request (task-clock over
  all of the server's threads), which moves far less than req/s on a
  shared machine.
"""
import argparse
import os
import re
import selectors
import socket
import subprocess
import sys
import time

import benchlib as bl

PY = sys.executable
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _headers_frame(sid):
    # HPACK: :method GET (static 2), :scheme http (6), :path / (4),
    # :authority localhost (literal without indexing, name index 1)
    block = b"\x82\x86\x84" + b"\x01\x09localhost"
    return (len(block).to_bytes(3, "big") + b"\x01\x05" + sid.to_bytes(4, "big") + block)


def _ended_streams(buf):
    """Frames parsed from buf: (count of END_STREAM frames, bytes used)."""
    off, ended = 0, 0
    while len(buf) - off >= 9:
        n = int.from_bytes(buf[off:off + 3], "big")
        if len(buf) - off < 9 + n:
            break
        ftype, flags = buf[off + 3], buf[off + 4]
        if ftype in (0, 1) and flags & 1:
            ended += 1
        if ftype == 7:
            raise bl.BenchError("the server sent GOAWAY")
        off += 9 + n
    return ended, off


def busy_kb(port, pid, conns, streams):
    requests = b"".join(_headers_frame(2 * i + 1) for i in range(streams))
    time.sleep(0.5)
    before = bl.tree_kb(pid, "VmRSS")
    sel = selectors.DefaultSelector()
    socks, state = [], {}
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sendall(PREFACE + requests)
        s.setblocking(False)
        socks.append(s)
        state[s] = [b"", 0]
        sel.register(s, selectors.EVENT_READ)
        # keep a bounded number in flight (the worker is single-threaded)
        while len(state) >= 64:
            _pump(sel, state, streams)
    while state:
        _pump(sel, state, streams)
    time.sleep(1.0)
    after = bl.tree_kb(pid, "VmRSS")
    for s in socks:
        s.close()
    return (after - before) / conns


def _pump(sel, state, streams):
    events = sel.select(10)
    if not events:
        raise bl.BenchError("no answer for 10 s")
    for key, _ in events:
        s = key.fileobj
        chunk = s.recv(1 << 20)
        if not chunk:
            raise bl.BenchError("the server closed a busy-test connection")
        st = state[s]
        st[0] += chunk
        ended, used = _ended_streams(st[0])
        st[0] = st[0][used:]
        st[1] += ended
        if st[1] >= streams:
            sel.unregister(s)
            del state[s]
            s.sendall(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")  # SETTINGS ack


def task_clock_us(port, pid, requests):
    perf = subprocess.Popen(["perf", "stat", "-x,", "-e", "task-clock", "-p", str(pid)],
                            stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    out = subprocess.run(["h2load", "-n", str(requests), "-c", "16", "-m", "10",
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True).stdout
    perf.send_signal(2)
    err = perf.communicate()[1]
    ok = re.search(r"(\d+) succeeded", out)
    msec = float(err.strip().splitlines()[-1].split(",")[0])
    return msec * 1000 / int(ok.group(1)), int(ok.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--skip-mem", action="store_true")
    ap.add_argument("--skip-cpu", action="store_true")
    args = ap.parse_args()
    bl.raise_nofile()
    port = bl.free_port()
    proc = subprocess.Popen([PY, "fa_app.py", str(port), "1", "0"],
                            cwd=os.path.join(bl.ROOT, "bench", "apps"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bl.wait_port(port, proc)
        if not args.skip_mem:
            kb = busy_kb(port, proc.pid, args.conns, args.streams)
            print(f"busy-then-idle h2c: {kb:.1f} KB per connection "
                  f"({args.conns} connections x {args.streams} requests)")
        if not args.skip_cpu:
            task_clock_us(port, proc.pid, 20000)  # warm-up
            us, n = task_clock_us(port, proc.pid, args.requests)
            print(f"task-clock: {us:.2f} us per request ({n} requests, h2load -c 16 -m 10)")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
