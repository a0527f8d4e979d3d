"""Shared helpers for the benchmarks in this folder (scaling.py, run.py, tls.py,
ws.py, ws_app.py): processes, load generators, memory, report writing.

Servers run as subprocesses on 127.0.0.1; load comes from h2load (HTTP/1.1
and h2c) and wrk; memory is read from /proc, summed over the server's whole
process tree (pre-fork servers have one process per worker).
"""
import errno
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
APPS = os.path.join(HERE, "apps")


class BenchError(RuntimeError):
    pass


# --- processes ---------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    """Waits until 127.0.0.1:port accepts a connection; raises if `proc`
    exits first or the time runs out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server exited early (code {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"server did not listen on port {port} within {timeout} s")


def restore_default_signals():
    """A shell without job control starts background commands with SIGINT
    ignored, and that disposition is inherited across exec: servers that stop
    on SIGINT would then never stop. Undo it for us and our children."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)


def raise_nofile():
    """Soft RLIMIT_NOFILE up to the hard limit (inherited by children)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Server:
    """A server subprocess in its own session (so its workers can be killed
    as a group if a graceful stop hangs). Output goes to `log_path`."""

    def __init__(self, cmd, port, cwd=None, env=None, log_path=None, start_timeout=30):
        self.cmd, self.port = cmd, port
        self.log_path = log_path or os.devnull
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_port(port, self.proc, start_timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Graceful stop with `sig`; SIGKILL to the whole group after
        `timeout`. Returns the exit code (negative: killed by a signal)."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # stragglers: workers of a pre-fork server, or a hung stop
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        rc = self.proc.wait()
        self._log.close()
        return rc

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
        except OSError:
            return ""


def process_tree(pid):
    """pid and all its descendants (from /proc/*/stat)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def tree_cpu_s(pid):
    """CPU seconds (user + system, all threads) the tree has used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / tick


def tree_kb(pid, field):
    """Sums a /proc/PID/status field in kB (VmRSS, VmHWM) over the tree."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def reset_hwm(pid):
    """Resets VmHWM to the current RSS for every process of the tree (Linux
    clear_refs "5"), so the next tree_kb(pid, "VmHWM") is the peak since now.
    Returns False where the kernel refuses."""
    ok = True
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            ok = False
    return ok


def tool_version(cmd, pattern=r"[\d]+\.[\d.]+\S*"):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    m = re.search(pattern, out.stdout + out.stderr)
    return m.group(0) if m else (out.stdout + out.stderr).strip().splitlines()[0][:60]


# --- load generators ---------------------------------------------------------

def _fmt_seconds(s):
    return f"{int(round(s * 1000))}ms"


def h2load_cmd(url, seconds=None, warmup=0, clients=64, streams=1, h1=False,
               data=None, headers=(), requests=None, log_file=None, threads=1):
    cmd = ["h2load", "-t", str(threads), "-c", str(clients)]
    if h1:
        cmd.append("--h1")
    else:
        cmd += ["-m", str(streams)]
    if requests is not None:
        cmd += ["-n", str(requests)]
    else:
        cmd += ["-D", _fmt_seconds(seconds)]
        if warmup:
            cmd += ["--warm-up-time", _fmt_seconds(warmup)]
    if data:
        cmd += ["-d", data]
    for h in headers:
        cmd += ["-H", h]
    if log_file:
        cmd += ["--log-file", log_file]
    cmd.append(url)
    return cmd


def parse_h2load(out):
    """h2load's summary: req/s, request counts, non-2xx answers; also
    'seconds' (its "finished in" wall time) and 'ok2xx' (2xx answers)."""
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not m or not req:
        raise BenchError("h2load printed no result:\n" + out[-2000:])
    total, _, done, ok, failed, errored, timeout = map(int, req.groups())
    non2xx = sum(map(int, codes.groups()[1:])) if codes else 0
    seconds = float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)
    return {"rps": float(m.group(3)), "total": total, "done": done, "succeeded": ok,
            "failed": failed, "errored": errored, "timeout": timeout, "non2xx": non2xx,
            "ok2xx": int(codes.group(1)) if codes else 0, "seconds": seconds}


def run_h2load(url, **kw):
    """Runs h2load; returns parse_h2load()'s dict plus 'cmd'. Raises when no
    request succeeded."""
    cmd = h2load_cmd(url, **kw)
    budget = (kw.get("seconds") or 60) + (kw.get("warmup") or 0) + 60
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=budget).stdout
    except subprocess.TimeoutExpired:
        raise BenchError("h2load timed out: " + " ".join(cmd))
    res = parse_h2load(out)
    if res["succeeded"] == 0:
        raise BenchError(f"h2load: 0 of {res['done']} responses succeeded ({res['failed']} failed, "
                         f"{res['errored']} errored, {res['non2xx']} non-2xx)")
    res["cmd"] = cmd
    return res


def latencies_from_log(path):
    """Latencies (µs) of the successful (2xx) requests in an h2load --log-file
    (columns: start time, status, microseconds to the end of the response)."""
    lat = []
    with open(path, "rb") as f:
        for line in f:
            parts = line.split(b"\t")
            if len(parts) >= 3 and parts[1].startswith(b"2"):
                lat.append(int(parts[2]))
    return lat


def percentiles(lat_us, pcts=(50, 99)):
    """Nearest-rank percentiles, in ms, of latencies in µs."""
    if not lat_us:
        return {p: None for p in pcts}
    lat = sorted(lat_us)
    return {p: lat[min(len(lat) - 1, int(len(lat) * p / 100))] / 1000.0 for p in pcts}


def percentiles_from_log(path, pcts=(50, 99)):
    """p-th percentiles (ms) of an h2load --log-file's successful requests."""
    return percentiles(latencies_from_log(path), pcts)


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _wrk_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _WRK_UNITS[m.group(2)]


def wrk_cmd(url, seconds, clients=64, threads=1):
    return ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{max(1, int(round(seconds)))}s",
            "--latency", url]


def run_wrk(url, seconds, clients=64, threads=1):
    cmd = wrk_cmd(url, seconds, clients, threads)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    except subprocess.TimeoutExpired:
        raise BenchError("wrk timed out: " + " ".join(cmd))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s*50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M)
    if not rps or not p50 or not p99:
        raise BenchError("wrk printed no result:\n" + out[-2000:])
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    n = re.search(r"(\d+) requests in", out)
    return {"rps": float(rps.group(1)), "p50": _wrk_ms(p50.group(1)), "p99": _wrk_ms(p99.group(1)),
            "done": int(n.group(1)) if n else 0,
            "errors": sum(map(int, errs.groups())) if errs else 0,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "cmd": cmd}


# --- idle connections ----------------------------------------------------------

IDLE_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def open_idle_connections(port, count, batch=256, stall=5.0, request=IDLE_REQUEST):
    """Opens `count` keep-alive connections to 127.0.0.1:port with one
    selector: each connects, sends one request and reads the whole answer
    (the head up to a blank line, then Content-Length bytes), then stays open
    and silent. At most `batch` connects are in flight at once (the listen
    backlog is finite). Gives up when no connection completes for `stall`
    seconds (a server that caps its connections). Returns (sockets, failures)."""
    sel = selectors.DefaultSelector()
    open_socks, failed, started = [], 0, 0
    pending = {}  # sock -> [state, buffer]
    last_progress = time.time()

    def start_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        # close with RST: 10,000 TIME_WAIT entries per run would pile up
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        err = s.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            return False
        pending[s] = ["connect", b""]
        sel.register(s, selectors.EVENT_WRITE)
        return True

    def finish(s, ok):
        nonlocal failed, last_progress
        last_progress = time.time()
        sel.unregister(s)
        del pending[s]
        if ok:
            open_socks.append(s)
        else:
            failed += 1
            s.close()

    while (started < count or pending) and time.time() - last_progress < stall:
        while started < count and len(pending) < batch:
            started += 1
            if not start_one():
                failed += 1
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            state = pending[s]
            if state[0] == "connect":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    finish(s, False)
                    continue
                try:
                    s.send(request)
                except OSError:
                    finish(s, False)
                    continue
                state[0] = "read"
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                finish(s, False)
                continue
            if not chunk:
                finish(s, False)
                continue
            state[1] += chunk
            head_end = state[1].find(b"\r\n\r\n")
            if head_end >= 0:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", state[1][:head_end])
                if m and len(state[1]) >= head_end + 4 + int(m.group(1)):
                    finish(s, True)
    for s in list(pending):
        finish(s, False)
    sel.close()
    return open_socks, failed


def count_still_open(socks):
    """How many of `socks` the server has not closed (no EOF or error yet)."""
    alive = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                continue
        except BlockingIOError:
            pass
        except OSError:
            continue
        alive += 1
    return alive


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


# --- the hardware ceiling ----------------------------------------------------

def _spin_child(seconds, conn):
    count = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = 0
        for i in range(10000):
            t += i * i % 7
        count += 1
    os.write(conn, f"{count}\n".encode())
    os.close(conn)


def cpu_ceiling(seconds=2.0):
    """Pure-Python loop throughput of 2 processes over 1 (each process counts
    10,000-iteration blocks for `seconds`). On two independent full-speed
    cores this is 2.0; shared or throttled vCPUs give less."""
    def run(nproc):
        fds, pids = [], []
        for _ in range(nproc):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                try:
                    _spin_child(seconds, w)
                finally:
                    os._exit(0)
            os.close(w)
            fds.append(r)
            pids.append(pid)
        total = 0
        for r, pid in zip(fds, pids):
            with os.fdopen(r) as f:
                total += int(f.read().strip() or 0)
            os.waitpid(pid, 0)
        return total / seconds
    one = run(1)
    two = run(2)
    return {"one": one, "two": two, "ratio": two / one if one else 0.0}


if __name__ == "__main__":
    print(cpu_ceiling(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0))


# --- reports (bench/tls.py, bench/ws.py, bench/ws_app.py) --------------------

def have_pkg(name):
    """The installed version of distribution `name`, or None."""
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def ratio(res, a, b, key):
    """res[a][key] / res[b][key], or None when either figure is missing."""
    try:
        return res[a][key] / res[b][key]
    except (KeyError, ZeroDivisionError, TypeError):
        return None


def fmt_ratio(x, target=None):
    """'2.43x' (and ' | met' / ' | not met' when a target is given)."""
    if x is None:
        return "-" if target is None else "- | -"
    return f"{x:.2f}x" if target is None else f"{x:.2f}x | {'met' if x >= target else 'not met'}"


def report_header(title, script, quick, what):
    """The first lines of a docs/benchmarks-*.md page: who wrote it, when,
    on what machine (with the load average: the VM is shared), and `what`
    (how the figures were obtained)."""
    import datetime
    import platform
    try:
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return [f"# {title}", "",
            f"Written by `{script}{' --quick' if quick else ''}` on "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs, "
            f"{platform.platform()}, load average at the end {load}. {what}", ""]


def command_key(argv, port, tmp=None):
    """argv as one line for a report: this run's port as PORT, paths under
    the repository relative to bench/apps (where the servers run), a
    temporary folder as $TMP."""
    out = []
    for a in argv:
        a = str(a)
        if tmp:
            a = a.replace(tmp, "$TMP")
        if a.startswith(ROOT):
            a = os.path.relpath(a, APPS)
        out.append(a.replace(str(port), "PORT"))
    return " ".join(out)


def report_commands(labels, res, commands, intro, load_lines):
    """The 'Commands' section: one line per server (with its version) and
    the load generators' command lines."""
    lines = ["", intro, ""]
    lines += [f"- {labels[k]}: `{c}`" + (f" ({res[k].get('version')})" if res[k].get("version") else "")
              for k, c in commands.items()]
    lines += [f"- load: {x}" for x in load_lines]
    return lines


def report_notes(notes):
    return ["", "Notes:", ""] + [f"- {n}" for n in notes] if notes else []


def write_report(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_json(name, obj):
    """build/bench/<name>: the raw figures of a run."""
    import json
    os.makedirs(os.path.join(ROOT, "build", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench", name), "w") as f:
        json.dump(obj, f, indent=1)
