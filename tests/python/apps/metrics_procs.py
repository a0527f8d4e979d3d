"""Several server processes, one metrics region: what a supervisor does.

Run as `python metrics_procs.py PORT REQUESTS`.  The parent maps a region
with mmap before it forks two server processes (slots 0 and 1, both on
PORT through SO_REUSEPORT), sends REQUESTS requests on fresh connections
(the kernel spreads them over both), then kill -9s one process and stops
the other, retiring each slot as a supervisor does when its child exits.
It prints the region's text exposition after each step between markers:
==serving==, ==killed==, ==stopped==.
"""
import os
import signal
import socket
import sys
import time


def hello(req, res):
    res["content_type"] = "text/plain"
    res["body"] = f"pid {os.getpid()}"


def child(region, slot, port, wfd):
    from fasterapi._native.http2 import PyHttp2Server
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    server = PyHttp2Server(host="127.0.0.1", port=port, num_pinned_workers=1, _metrics_region=region,
                           _metrics_slot=slot)
    server.add_route("GET", "/", hello)
    server.start(blocking=False)
    os.write(wfd, b"R")
    while not stop:
        time.sleep(0.05)
    server.stop()
    return 0


def get(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:100]
    return data.rsplit(b"pid ", 1)[1].decode()


def main():
    import mmap
    from fasterapi._native import http2 as native
    port, n = int(sys.argv[1]), int(sys.argv[2])
    slots, blocks = 4, 8
    region = mmap.mmap(-1, native._metrics_region_size(slots, blocks))
    native._metrics_init(region, slots, blocks)
    kids = []
    for slot in range(2):
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            code = 1
            try:
                code = child(region, slot, port, wfd)
            finally:
                os._exit(code)
        os.close(wfd)
        assert os.read(rfd, 1) == b"R"
        os.close(rfd)
        kids.append(pid)
    # The scrape listener (a C thread) starts after the forks, as in the
    # supervisor, whose metrics process is forked before the servers and
    # never forks again. A fork while another thread holds an allocator lock
    # leaves the child waiting on that lock for ever: under ASan (GCC 12's
    # runtime) CI saw the child hang in free() on the listener's mutex.
    listener = native._metrics_serve(region, "127.0.0.1", 0)
    mport = native._metrics_serve_port(listener)
    pids = [get(port) for _ in range(n)]
    print("served-by", len(set(pids)))
    # the servers see our closes a moment later: wait for the open-connection
    # gauges to settle, so that the two scrapes below read the same state
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
            line.startswith("fasterapi_connections_open") and not line.endswith(" 0")
            for line in native._metrics_render(region).decode().splitlines()):
        time.sleep(0.02)
    print("==serving==")
    print(native._metrics_render(region).decode())
    print("==http==")
    with socket.create_connection(("127.0.0.1", mport), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"version=0.0.4" in head, head
    print(body.decode())
    os.kill(kids[1], signal.SIGKILL)
    os.waitpid(kids[1], 0)
    native._metrics_retire(region, 1)
    native._metrics_count(region, "restart", "signal")
    print("==killed==")
    print(native._metrics_render(region).decode())
    os.kill(kids[0], signal.SIGTERM)
    _, status = os.waitpid(kids[0], 0)
    native._metrics_retire(region, 0)
    native._metrics_count(region, "recycle", "max_requests")
    print("==stopped==")
    print(native._metrics_render(region).decode())
    print("==end==")
    native._metrics_serve_stop(listener)
    native._metrics_serve_stop(listener)  # twice: a no-op
    print("child0-exit", os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
