"""Bounded h2c load that follows GOAWAY as RFC 9113 says a client may, run
as a script by the process and deployment tests:

    h2_retry_load.py URL SECONDS CONNECTIONS STREAMS

Why not h2load for h2c: h2load (1.52) never opens a new HTTP/2 connection
after a GOAWAY, so every server-side close of a connection during a run,
however graceful, counts as failed requests.  httpx (httpcore 1.0) fails
every request still waiting for its answer when a GOAWAY arrives, even those
at or below the GOAWAY's last stream id, which the server still answers.

A graceful stop sends a GOAWAY notice (last stream id 2^31-1), a PING, and
after its ACK the final GOAWAY (RFC 9113 6.8); the answers keep coming in
between.  `h2` (4.x) closes its connection state machine at the first GOAWAY
and then refuses every frame as a protocol error, so this client gives it one
frame at a time and opens its state machine again after each GOAWAY: the
streams and HPACK state are untouched, and no new stream is sent anyway.

This client, built on the `h2` protocol library, keeps STREAMS requests in
flight on each of CONNECTIONS connections.  After a GOAWAY it waits for the
answers to the streams at or below the last stream id, re-sends the ones
above it on a new connection (section 6.8: those were not processed), and
opens the new connection for every later request.  A failure is anything
else: a reset stream, a connection closed while a processed stream had no
answer, a status other than 200, a connection refused.  Prints one JSON
line: ok, failed, retried, errors, pids.
"""
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events


def _receive(conn, pending: bytearray, data: bytes) -> list:
    """conn.receive_data() frame by frame (see the module docstring)."""
    pending += data
    events = []
    while len(pending) >= 9:
        end = 9 + int.from_bytes(pending[:3], "big")
        if len(pending) < end:
            break
        frame = bytes(pending[:end])
        del pending[:end]
        got = conn.receive_data(frame)
        events += got
        if any(isinstance(ev, h2.events.ConnectionTerminated) for ev in got):
            conn.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
    return events


class _Load:
    def __init__(self, url: str, seconds: float, streams: int):
        u = urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        self.authority = u.netloc
        self.deadline = time.monotonic() + seconds
        self.streams = streams
        self.ok = self.failed = self.retried = 0
        self.errors: dict = {}
        self.pids: set = set()
        self.backlog = 0  # requests refused by a GOAWAY, to send again

    def fail(self, kind: str, n: int = 1) -> None:
        self.failed += n
        self.errors[kind] = self.errors.get(kind, 0) + n

    def want_more(self) -> bool:
        return self.backlog > 0 or time.monotonic() < self.deadline

    async def connection(self) -> None:
        """One connection after another until the deadline."""
        while self.want_more():
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                self.fail(f"connect: {exc.strerror or exc}")
                await asyncio.sleep(0.05)
                continue
            try:
                await self._run(reader, writer)
            finally:
                writer.close()

    async def _run(self, reader, writer) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        open_streams: dict = {}  # stream id -> {"status": .., "body": bytearray}
        last_id = None  # set by a GOAWAY
        pending = bytearray()  # bytes of a frame not complete yet

        def send_one() -> None:
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":authority", self.authority),
                                    (":path", self.path)], end_stream=True)
            open_streams[sid] = {"status": None, "body": bytearray()}

        while len(open_streams) < self.streams and self.want_more():
            if self.backlog:
                self.backlog -= 1
                self.retried += 1
            send_one()
        writer.write(conn.data_to_send())
        while open_streams:
            try:
                data = await asyncio.wait_for(reader.read(65536), 15)
            except (OSError, asyncio.TimeoutError) as exc:
                data = b""
                why = type(exc).__name__
            else:
                why = "EOF"
            if not data:
                # the streams the server said it processed had to be answered
                lost = [s for s in open_streams if last_id is None or s <= last_id]
                if lost:
                    self.fail(f"connection closed ({why}) with a processed stream unanswered", len(lost))
                self.backlog += len(open_streams) - len(lost)
                return
            events = _receive(conn, pending, data)
            for ev in events:  # a GOAWAY anywhere in the batch: send nothing new on this connection
                if isinstance(ev, h2.events.ConnectionTerminated):
                    last_id = ev.last_stream_id
            for ev in events:
                if isinstance(ev, h2.events.ResponseReceived):
                    open_streams[ev.stream_id]["status"] = dict(ev.headers).get(":status")
                elif isinstance(ev, h2.events.DataReceived):
                    open_streams[ev.stream_id]["body"] += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    st = open_streams.pop(ev.stream_id)
                    if st["status"] == "200":
                        self.ok += 1
                        try:
                            self.pids.add(json.loads(st["body"])["pid"])
                        except (ValueError, KeyError, TypeError):
                            pass
                    else:
                        self.fail(f"status {st['status']}")
                    if last_id is None and self.want_more():
                        if self.backlog:
                            self.backlog -= 1
                            self.retried += 1
                        send_one()
                elif isinstance(ev, h2.events.StreamReset):
                    if open_streams.pop(ev.stream_id, None) is not None:
                        if last_id is not None and ev.stream_id > last_id:
                            self.backlog += 1
                        else:
                            self.fail(f"stream reset ({ev.error_code!r})")
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    if ev.error_code != 0:  # a graceful stop says NO_ERROR
                        self.fail(f"GOAWAY {ev.error_code!r}")
                    for sid in [s for s in open_streams if s > last_id]:
                        del open_streams[sid]
                        self.backlog += 1  # not processed: send again elsewhere
            out = conn.data_to_send()
            if out:
                try:
                    writer.write(out)
                except OSError:
                    pass
        if last_id is None:
            conn.close_connection()
            writer.write(conn.data_to_send())


async def _main(url: str, seconds: float, conns: int, streams: int) -> None:
    load = _Load(url, seconds, streams)
    await asyncio.gather(*(load.connection() for _ in range(conns)))
    print(json.dumps({"ok": load.ok, "failed": load.failed, "retried": load.retried, "errors": load.errors,
                      "pids": sorted(load.pids)}), flush=True)


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
