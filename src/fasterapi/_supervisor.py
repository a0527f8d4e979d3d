"""The process model: a supervisor and N server processes.

``num_processes=N`` (``--processes N``), a recycling limit or ``--reload``
make the process the user started a supervisor.  It creates the listening
sockets (one set of ``SO_REUSEPORT`` sockets per process slot, so the
kernel spreads connections over the slots), then forks one server process
per slot before any interpreter or thread exists in it; each child builds
its own workers, pooled threads and interpreters and serves on a dup of its
slot's sockets.

Why the supervisor holds the sockets: a successor (recycle, SIGHUP, reload)
inherits the very sockets of the process it replaces.  The old process
closing its copies leaves the sockets, and the connections queued on them,
to the successor; with sockets of its own, everything in the old accept
queues would be reset.  So a handover is: start the successor, wait until
it reports ready, then stop the old one gracefully.  No request fails.

The supervisor restarts a process that died (crash, kill -9, OOM killer)
after a backoff that doubles with every quick failure (0.5 s .. 30 s), logs
the exit code or signal, and gives up at startup if a process cannot start
at all.  SIGTERM/SIGINT stop every child gracefully (SIGKILL after
graceful_timeout + kill_timeout); the supervisor exits 0 when every child
did.  SIGHUP replaces the children one at a time (they import the code
again: nothing of the app is imported in the supervisor).

Metrics (``metrics_port``): the supervisor maps one shared region before
it forks (csrc/server/metrics.h), gives every child a slot of it of its own
(a successor gets another slot than the process it replaces), and retires a
child's slot when it exits: its counts stay in the totals, its gauges go.
Restarts and recycles are counted there by cause.  The scrapes are served
by a metrics process of their own (its C listener thread), forked first:
the supervisor forks server processes all its life, and a fork from a
process with a running thread inherits whatever lock that thread held,
held forever (the likely cause of a child that never started in the ASan
pass).  So the supervisor
stays single-threaded, and no server process inherits the metrics
listening socket.  The supervisor waits until the metrics process listens
before it forks the server processes, so a scrape at start-up is answered
(with zeros) rather than refused.

Children talk to the supervisor over a pipe: ``R`` once serving, ``C<cause>``
when a recycling limit is reached (the supervisor then runs the handover).
"""
import os
import random
import select
import signal
import socket
import sys
import time

__all__ = ["supervise", "run"]

_BACKOFF_MIN = 0.5
_BACKOFF_MAX = 30.0
_HEALTHY_AFTER = 10.0  # a child that lived this long resets the backoff
_START_TIMEOUT = 120.0  # a successor not ready by then is killed


def _log(msg: str) -> None:
    sys.stderr.write(f"[fasterapi] {msg}\n")
    sys.stderr.flush()


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by signal {sig} ({name})"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        return 0.0


def make_listeners(host: str, port: int, backlog: int, count: int) -> list:
    """count listening TCP sockets on host:port with SO_REUSEPORT (port 0:
    the first one's port for all)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, stype, proto, _, addr = infos[0]
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(family, stype, proto)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(addr)
            s.listen(backlog)
            if addr[1] == 0:
                addr = (addr[0], s.getsockname()[1]) + tuple(addr[2:])
    except OSError as exc:
        for s in socks:
            s.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return socks


class _Child:
    def __init__(self, pid, slot, rfd, mslot=None):
        self.pid = pid
        self.slot = slot
        self.rfd = rfd
        self.mslot = mslot  # its slot in the metrics region
        self.buf = b""
        self.ready = False
        self.born = time.monotonic()
        self.stopping = False
        self.kill_at = None


class _Slot:
    def __init__(self, index, socks):
        self.index = index
        self.socks = socks
        self.current = None
        self.successor = None
        self.recycle = None  # cause of a pending handover
        self.retry_at = 0.0
        self.restart_at = None
        self.failures = 0
        self.ever_ready = False


_SUPERVISOR_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}


def _child_main(make_server, opts, slot, wfd, close_fds, metrics=None, sigmask=None) -> int:
    """Runs in the forked child: builds the server, serves on the slot's
    sockets, watches the recycling limits, stops on SIGTERM.  It starts with
    the supervisor's signals blocked (see _spawn); sigmask is the mask to
    restore once its own handlers are in place."""
    for fd in close_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    # Ctrl-C reaches the whole process group: the supervisor decides
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # forwarded by the supervisor: the CLI's --access-logfile reopens on it
    # (make_server installs that handler); ignored until then, not fatal
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if sigmask is not None:  # a SIGTERM sent since the fork is delivered now, to the handler above
        signal.pthread_sigmask(signal.SIG_SETMASK, sigmask)
    sup = os.getppid()
    server = make_server()
    server._use_listeners([s.fileno() for s in slot.socks], child=True)
    if metrics is not None:
        server._use_metrics(*metrics)  # (region, slot): the supervisor serves the scrapes
    server.start(blocking=False)
    _log(f"process {slot.index} (pid {os.getpid()}) serving")
    os.write(wfd, b"R\n")
    limit = opts.get("max_requests") or 0
    if limit:
        limit += random.randint(0, opts.get("max_requests_jitter") or 0)
    max_rss = opts.get("max_rss") or 0
    lifetime = opts.get("lifetime") or 0
    born = time.monotonic()
    asked = False
    while not stop:
        time.sleep(0.1)
        if os.getppid() != sup:  # the supervisor is gone (kill -9): do not linger
            _log(f"process {slot.index} (pid {os.getpid()}): supervisor gone, stopping")
            break
        if asked:
            continue
        cause = None
        if limit and server.requests_served >= limit:
            cause = "max_requests"
        elif max_rss and _rss_mib() > max_rss:
            cause = "max_rss"
        elif lifetime and time.monotonic() - born >= lifetime:
            cause = "lifetime"
        if cause:
            asked = True
            try:
                os.write(wfd, f"C{cause}\n".encode())
            except OSError:
                break
    server.stop()
    return 0


def _metrics_main(region, host, port, wfd, close_fds) -> int:
    """Runs in the forked metrics process: serves the region's scrapes from
    the C listener thread until SIGTERM or the supervisor's end.  It never
    forks, so its thread is harmless.  Says "P<port>" on wfd once listening,
    "E<error>" when it cannot."""
    from ._native import http2 as native
    for fd in close_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # SIGTERM stays blocked, as across the fork (see _spawn_metrics), and
    # is taken by sigtimedwait: no handler, nothing lost before one exists
    sup = os.getppid()
    try:
        handle = native._metrics_serve(region, host, port)
    except OSError as exc:
        os.write(wfd, f"E{exc}\n".encode(errors="replace"))
        return 1
    os.write(wfd, f"P{native._metrics_serve_port(handle)}\n".encode())
    os.close(wfd)
    while os.getppid() == sup:
        if signal.sigtimedwait({signal.SIGTERM}, 1.0) is not None:
            break
    native._metrics_serve_stop(handle)
    return 0


class Supervisor:
    def __init__(self, make_server, opts, reload_dirs=None, shared_fds=None):
        self.make_server = make_server
        self.opts = opts
        self.n = opts["num_processes"]
        self.grace = opts.get("graceful_timeout", 10.0) + opts.get("kill_timeout", 5.0)
        self.reload_dirs = reload_dirs or []
        self.shared_fds = shared_fds
        self.slots = []
        self.children = {}  # pid -> _Child
        self.stopping = False
        self.hup = False
        self.failed = False
        self.restarts = {}  # cause -> count
        self.recycles = {}
        self._mtimes = None
        self._next_scan = 0.0
        self._watcher = None  # the watchfiles subprocess, when watchfiles is installed
        self.region = None      # the metrics region (an mmap), when metrics_port is set
        self.metrics_pid = None  # the metrics process serving it
        self._metrics_addr = None  # (host, port) it listens on
        self._metrics_restart_at = None
        self._free_mslots = []

    # -- metrics ---------------------------------------------------------
    def _open_metrics(self):
        port = self.opts.get("metrics_port")
        if port is None or port < 0:
            return
        import mmap
        from ._native import http2 as native
        # a slot per child, and one more per slot for a successor that
        # overlaps the process it replaces
        nslots = 2 * self.n + 2
        nblocks = max(64, (self.opts.get("num_pinned_workers") or os.cpu_count() or 1) +
                      (self.opts.get("num_pooled_workers") or 0) + 8)
        self.region = mmap.mmap(-1, native._metrics_region_size(nslots, nblocks))
        native._metrics_init(self.region, nslots, nblocks)
        self._free_mslots = list(range(nslots))
        host = self.opts.get("metrics_host") or self.opts["host"]
        port = self._spawn_metrics(host, port)
        self._metrics_addr = (host, port)
        _log(f"supervisor: metrics of every process on http://{host}:{port}/metrics")

    def _spawn_metrics(self, host, port) -> int:
        """Forks the metrics process; returns the port it listens on once it
        does (OSError when it cannot)."""
        rfd, wfd = os.pipe()
        close = [c.rfd for c in self.children.values()] + [rfd]
        close += [s.fileno() for slot in self.slots for s in slot.socks]
        if self._watcher is not None:
            close.append(self._watcher.stdout.fileno())
        sys.stdout.flush()
        sys.stderr.flush()
        sigmask = signal.pthread_sigmask(signal.SIG_BLOCK, _SUPERVISOR_SIGNALS)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _metrics_main(self.region, host, port, wfd, close)
            except BaseException as exc:  # noqa: BLE001 - the child must end here, whatever happened
                try:
                    os.write(wfd, f"E{type(exc).__name__}: {exc}\n".encode(errors="replace"))
                except OSError:
                    pass
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, sigmask)
        os.close(wfd)
        line = b""
        deadline = time.monotonic() + 30.0
        try:
            while not line.endswith(b"\n") and time.monotonic() < deadline:
                ready, _, _ = select.select([rfd], [], [], 0.5)
                if ready:
                    chunk = os.read(rfd, 512)
                    if not chunk:
                        break
                    line += chunk
        finally:
            os.close(rfd)
        if line.startswith(b"P"):
            self.metrics_pid = pid
            return int(line[1:])
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        why = line[1:].decode(errors="replace").strip() if line.startswith(b"E") else "it did not start"
        raise OSError(why)

    def _on_metrics_exit(self, status):
        self.metrics_pid = None
        if self.stopping:
            return
        _log(f"supervisor: the metrics process died ({_describe(status)}); restarting it in 1.0 s")
        self._metrics_restart_at = time.monotonic() + 1.0

    def _stop_metrics(self):
        pid, self.metrics_pid = self.metrics_pid, None
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def _metrics_count(self, kind, cause):
        if self.region is None:
            return
        from ._native import http2 as native
        try:
            native._metrics_count(self.region, kind, cause)
        except ValueError:
            pass  # a cause the metrics have no label for

    def _retire(self, child):
        if self.region is None or child.mslot is None:
            return
        from ._native import http2 as native
        native._metrics_retire(self.region, child.mslot)
        self._free_mslots.append(child.mslot)
        child.mslot = None

    # -- processes -----------------------------------------------------
    def _spawn(self, slot):
        rfd, wfd = os.pipe()
        keep = {wfd} | {s.fileno() for s in slot.socks}
        close = [c.rfd for c in self.children.values()] + [rfd]
        if self._watcher is not None:
            close.append(self._watcher.stdout.fileno())
        for other in self.slots:
            if other is not slot:
                close += [s.fileno() for s in other.socks if s.fileno() not in keep]
        mslot = self._free_mslots.pop(0) if self.region is not None and self._free_mslots else None
        metrics = (self.region, mslot) if mslot is not None else None
        sys.stdout.flush()
        sys.stderr.flush()
        # Until the child has its own handlers, a SIGTERM sent to it would
        # run the supervisor's handler it inherited (and be lost): blocked
        # across the fork, it stays pending until _child_main unblocks it.
        sigmask = signal.pthread_sigmask(signal.SIG_BLOCK, _SUPERVISOR_SIGNALS)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child_main(self.make_server, self.opts, slot, wfd, close, metrics, sigmask)
            except BaseException as exc:  # noqa: BLE001 - the child must end here, whatever happened
                import traceback
                traceback.print_exc()
                _log(f"process {slot.index} (pid {os.getpid()}) failed to start: {type(exc).__name__}: {exc}")
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, sigmask)
        os.close(wfd)
        os.set_blocking(rfd, False)
        child = _Child(pid, slot, rfd, mslot)
        self.children[pid] = child
        return child

    def _terminate(self, child, sig=signal.SIGTERM):
        if not child.stopping:
            child.stopping = True
            child.kill_at = time.monotonic() + self.grace
        try:
            os.kill(child.pid, sig)
        except ProcessLookupError:
            pass

    def _backoff(self, slot, child):
        if time.monotonic() - child.born >= _HEALTHY_AFTER:
            slot.failures = 0
        delay = min(_BACKOFF_MAX, _BACKOFF_MIN * (2 ** slot.failures))
        slot.failures += 1
        return delay

    def _on_exit(self, child, status):
        os.close(child.rfd)
        slot = child.slot
        why = _describe(status)
        now = time.monotonic()
        if child is slot.successor:
            slot.successor = None
            delay = self._backoff(slot, child)
            slot.retry_at = now + delay
            _log(f"process {slot.index}: successor (pid {child.pid}) ended before it was ready ({why}); "
                 f"keeping pid {slot.current.pid if slot.current else '-'}, retrying in {delay:.1f} s")
            return
        if child is not slot.current:  # a replaced one, finishing its drain
            _log(f"process {slot.index} (pid {child.pid}) retired ({why})")
            return
        slot.current = None
        if self.stopping or child.stopping:
            _log(f"process {slot.index} (pid {child.pid}) stopped ({why})")
            if status != 0:
                self.failed = True
            return
        cause = "signal" if os.WIFSIGNALED(status) else "exit"
        if not slot.ever_ready and not child.ready:
            _log(f"process {slot.index} (pid {child.pid}) could not start ({why}); stopping")
            self.failed = True
            self._begin_stop()
            return
        self.restarts[cause] = self.restarts.get(cause, 0) + 1
        self._metrics_count("restart", cause)
        delay = self._backoff(slot, child)
        slot.restart_at = now + delay
        _log(f"process {slot.index} (pid {child.pid}) died: {why}; restarting in {delay:.1f} s")

    def _on_message(self, child, line):
        slot = child.slot
        if line == b"R":
            child.ready = True
            slot.ever_ready = True
            if child is slot.successor:
                old = slot.current
                slot.current = child
                slot.successor = None
                cause = slot.recycle or "restart"
                slot.recycle = None
                self.recycles[cause] = self.recycles.get(cause, 0) + 1
                self._metrics_count("recycle", cause)
                if old is not None:
                    _log(f"process {slot.index}: pid {child.pid} replaces pid {old.pid} ({cause}); "
                         f"pid {old.pid} drains")
                    self._terminate(old)
        elif line.startswith(b"C") and child is slot.current and slot.recycle is None:
            slot.recycle = line[1:].decode("ascii", "replace")
            _log(f"process {slot.index} (pid {child.pid}) reached its {slot.recycle} limit: recycling")

    # -- the loop --------------------------------------------------------
    def _begin_stop(self):
        if not self.stopping:
            self.stopping = True
        for child in list(self.children.values()):
            self._terminate(child)

    def _start_watcher(self) -> bool:
        """watchfiles (as Uvicorn's --reload) in a subprocess of its own: its
        Rust notifier runs a thread, and this process must stay thread-free
        because it forks.  It prints a line per batch of *.py changes."""
        try:
            import watchfiles  # noqa: F401
        except ImportError:
            return False
        import subprocess
        code = ("import sys, watchfiles\n"
                "for changes in watchfiles.watch(*sys.argv[1:], watch_filter=watchfiles.PythonFilter()):\n"
                "    print(len(changes), flush=True)\n")
        self._watcher = subprocess.Popen([sys.executable, "-c", code, *self.reload_dirs], stdout=subprocess.PIPE,
                                         stdin=subprocess.DEVNULL)
        os.set_blocking(self._watcher.stdout.fileno(), False)
        return True

    def _watcher_changed(self, ready) -> bool:
        w = self._watcher
        if w is None or w.stdout.fileno() not in ready:
            return False
        try:
            data = os.read(w.stdout.fileno(), 4096)
        except BlockingIOError:
            return False
        if not data:  # it ended: fall back to polling
            _log("supervisor: the watchfiles watcher ended; polling for changes instead")
            self._watcher = None
            self._scan()
        return bool(data)

    def _scan(self):
        mtimes = {}
        for d in self.reload_dirs:
            for root, dirs, files in os.walk(d):
                dirs[:] = [x for x in dirs if not x.startswith(".") and x != "__pycache__"]
                for f in files:
                    if f.endswith(".py"):
                        p = os.path.join(root, f)
                        try:
                            mtimes[p] = os.stat(p).st_mtime_ns
                        except OSError:
                            pass
        changed = self._mtimes is not None and mtimes != self._mtimes
        self._mtimes = mtimes
        return changed

    def run(self) -> int:
        n_socks = self.opts.get("num_pinned_workers") or os.cpu_count() or 1
        if self.shared_fds is not None:
            shared = [socket.socket(fileno=os.dup(fd)) for fd in self.shared_fds]
            self.slots = [_Slot(i, shared) for i in range(self.n)]
        else:
            self.slots = []
            try:
                first = make_listeners(self.opts["host"], self.opts["port"], self.opts.get("backlog", 4096),
                                       n_socks)
                port = first[0].getsockname()[1]
                self.slots.append(_Slot(0, first))
                for i in range(1, self.n):
                    self.slots.append(_Slot(i, make_listeners(self.opts["host"], port,
                                                              self.opts.get("backlog", 4096), n_socks)))
            except OSError:
                for s in self.slots:
                    for sock in s.socks:
                        sock.close()
                raise
        flags = {"term": False}

        def on_term(*_):
            flags["term"] = True

        def on_hup(*_):
            self.hup = True

        def on_usr1(*_):
            flags["usr1"] = True

        old = {s: signal.signal(s, on_term) for s in (signal.SIGTERM, signal.SIGINT)}
        old[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
        old[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, on_usr1)
        try:
            scheme = "https" if self.opts.get("tls") else "http"
            where = (f"{scheme}://{self.opts['host']}:{self.slots[0].socks[0].getsockname()[1]}"
                     if self.shared_fds is None else f"descriptor {self.shared_fds[0]}")
            _log(f"supervisor (pid {os.getpid()}) starting {self.n} server process(es) on {where}")
            self._open_metrics()
            for slot in self.slots:
                slot.current = self._spawn(slot)
                _log(f"process {slot.index}: pid {slot.current.pid}")
            if self.reload_dirs:
                how = "watchfiles" if self._start_watcher() else "polling every 0.5 s"
                if self._watcher is None:
                    self._scan()
                _log("watching " + ", ".join(self.reload_dirs) + f" for changes (*.py, {how})")
            return self._loop(flags)
        finally:
            if self._watcher is not None:
                self._watcher.terminate()
                try:
                    self._watcher.wait(5)
                except Exception:  # noqa: BLE001 - reaped by the loop already, or stuck
                    self._watcher.kill()
            for s, h in old.items():
                signal.signal(s, h)
            self._stop_metrics()
            seen = set()
            for slot in self.slots:
                for sock in slot.socks:
                    if id(sock) not in seen:
                        seen.add(id(sock))
                        sock.close()

    def _loop(self, flags) -> int:
        while True:
            if flags["term"] and not self.stopping:
                _log("supervisor: stopping every process (finishing in-flight requests)")
                self._begin_stop()
            if flags.pop("usr1", False):  # logrotate: every process opens its access log again
                for child in list(self.children.values()):
                    try:
                        os.kill(child.pid, signal.SIGUSR1)
                    except ProcessLookupError:
                        pass
            if self.hup:
                self.hup = False
                if not self.stopping:
                    _log("supervisor: SIGHUP: replacing every process, one at a time")
                    for slot in self.slots:
                        slot.recycle = slot.recycle or "sighup"
            now = time.monotonic()
            if self.reload_dirs and self._watcher is None and not self.stopping and now >= self._next_scan:
                self._next_scan = now + 0.5
                if self._scan():
                    _log("supervisor: a Python file changed: reloading")
                    for slot in self.slots:
                        slot.recycle = slot.recycle or "reload"
            # reap
            while self.children:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                if pid == self.metrics_pid:
                    self._on_metrics_exit(status)
                    continue
                child = self.children.pop(pid, None)
                if child is not None:
                    self._read(child)
                    self._retire(child)
                    self._on_exit(child, status)
            if self.stopping and not self.children:
                return 1 if self.failed else 0
            # messages
            fds = {c.rfd: c for c in self.children.values()}
            watch = [self._watcher.stdout.fileno()] if self._watcher is not None else []
            try:
                ready, _, _ = select.select(list(fds) + watch, [], [], 0.05) if fds or watch else ([], [], [])
            except InterruptedError:
                ready = []
            if not fds and not watch:
                time.sleep(0.05)
            for fd in ready:
                if fd in fds:
                    self._read(fds[fd])
            if self._watcher_changed(ready) and not self.stopping:
                _log("supervisor: a Python file changed: reloading")
                for slot in self.slots:
                    slot.recycle = slot.recycle or "reload"
            now = time.monotonic()
            for child in list(self.children.values()):
                if child.stopping and child.kill_at is not None and now >= child.kill_at:
                    _log(f"process {child.slot.index} (pid {child.pid}) outlived graceful_timeout + "
                         "kill_timeout: SIGKILL")
                    child.kill_at = None
                    try:
                        os.kill(child.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                elif (not child.ready and child is child.slot.successor and
                      now - child.born > _START_TIMEOUT):
                    _log(f"process {child.slot.index}: successor pid {child.pid} not ready after "
                         f"{_START_TIMEOUT:.0f} s: killing it")
                    self._terminate(child, signal.SIGKILL)
            if self.stopping:
                continue
            if self._metrics_restart_at is not None and now >= self._metrics_restart_at:
                self._metrics_restart_at = None
                try:
                    self._spawn_metrics(*self._metrics_addr)
                except OSError as exc:
                    _log(f"supervisor: the metrics process could not start again ({exc}); retrying in 5.0 s")
                    self._metrics_restart_at = now + 5.0
            for slot in self.slots:
                if slot.current is None and slot.restart_at is not None and now >= slot.restart_at:
                    slot.restart_at = None
                    slot.current = self._spawn(slot)
                    _log(f"process {slot.index}: restarted as pid {slot.current.pid}")
            # one handover at a time (a rolling restart)
            if not any(s.successor for s in self.slots):
                for slot in self.slots:
                    if slot.recycle and slot.current is not None and now >= slot.retry_at:
                        slot.successor = self._spawn(slot)
                        _log(f"process {slot.index}: starting successor pid {slot.successor.pid} "
                             f"({slot.recycle})")
                        break

    def _read(self, child):
        while True:
            try:
                data = os.read(child.rfd, 4096)
            except BlockingIOError:
                return
            except OSError:
                return
            if not data:
                return
            child.buf += data
            while b"\n" in child.buf:
                line, child.buf = child.buf.split(b"\n", 1)
                self._on_message(child, line)


def run(make_server, opts, reload_dirs=None, shared_fds=None) -> int:
    """Supervises opts['num_processes'] server processes; make_server()
    runs in each child and returns a PyHttp2Server that is not started.
    Returns the exit status for the supervisor (0: every child stopped
    cleanly)."""
    sup = Supervisor(make_server, opts, reload_dirs, shared_fds)
    code = sup.run()
    if sup.restarts or sup.recycles:
        _log("supervisor: restarts " + (", ".join(f"{k}={v}" for k, v in sup.restarts.items()) or "none") +
             "; recycles " + (", ".join(f"{k}={v}" for k, v in sup.recycles.items()) or "none"))
    _log(f"supervisor (pid {os.getpid()}) exiting ({code})")
    return code


def supervise(server):
    """PyHttp2Server.start() with num_processes > 1 or a recycling limit:
    this process supervises forked copies of the (not started) server."""
    opts = server._process_options()
    opts.update(server._metrics_options())  # the supervisor serves them, for every process
    code = run(lambda: server, opts)
    if code != 0:
        raise RuntimeError("a server process failed (see the log above)")
    return None
