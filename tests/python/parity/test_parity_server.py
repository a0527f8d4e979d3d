"""The parity harness over the real server (issue 13, part 3): each case
app of a subset, switched to fasterapi, is served by ``python -m
fasterapi`` (one worker, so its state is one interpreter's, as in a
TestClient), and its ``REQUESTS`` are sent with httpx over HTTP/1.1 and
over h2c (HTTP/2 with prior knowledge), in sub-interpreter mode and in main
mode; what comes back is compared with what FastAPI's TestClient answers
for the same requests (the oracle, as in test_parity.py).

Requests carry ``Host: testserver`` (TestClient's) and redirects are
followed back to the server, so URLs in bodies and Location headers
compare.  Hop-by-hop fields (RFC 9110 7.6.1: ``connection``,
``keep-alive``, ``transfer-encoding``) belong to one connection, not to the
response, and TestClient has no connection: they are not compared.

The subset is every case driven by ``REQUESTS`` (the ``scenario`` cases use
a TestClient themselves), not listed as differing in test_parity.KNOWN, and
not in NOT_OVER_A_SERVER (with the reason).
Cases whose module imports pydantic run in main mode only: pydantic-core
(a PyO3 extension) refuses to load in an own-GIL interpreter.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import harness
import helpers
from test_parity import KNOWN

httpx = pytest.importorskip("httpx")
pytest.importorskip("h2")
pytest.importorskip("fastapi")

HOP_BY_HOP = frozenset(("connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"))
SEED = {"PYTHONHASHSEED": "0"}
PYDANTIC_REASON = "imports pydantic: pydantic-core cannot load in an own-GIL sub-interpreter (PyO3)"


def _uses_pydantic(name: str) -> bool:
    src = harness.case_source(name, "fastapi")
    return any(line.startswith(("from pydantic", "import pydantic")) for line in src.splitlines())


# Cases of the subset that cannot be compared over a server, with why.
NOT_OVER_A_SERVER = {
    "background_tasks": "its next request reads what the previous one's background tasks wrote: a TestClient "
                        "runs them before it returns the response, a server after the answer is sent, so "
                        "whether they are done when the next request arrives is timing (seen failing once "
                        "in a loaded run)",
}


def _subset() -> list:
    out = []
    for name in harness.case_names():
        if name in KNOWN or name in NOT_OVER_A_SERVER:
            continue
        mod_src = harness.case_source(name, "fastapi")
        if "\nREQUESTS" not in mod_src:
            continue
        out.append(name)
    return out


def _params():
    out = []
    for name in _subset():
        for mode in ("sub", "main"):
            marks = []
            if mode == "sub" and _uses_pydantic(name):
                marks.append(pytest.mark.skip(reason=PYDANTIC_REASON))
            elif mode == "main" and not _uses_pydantic(name):
                # the same app and protocols as its sub run: left out of the (slower) sanitizer pass
                marks.append(pytest.mark.slow)
            out.append(pytest.param(name, mode, marks=marks, id=f"{name}-{mode}"))
    return out


class _ToServer(httpx.BaseTransport):
    """Sends every request to our server on 127.0.0.1:port, whatever the
    URL's host (the Host header stays the URL's: testserver)."""

    def __init__(self, port: int, http2: bool):
        self.port = port
        self.inner = httpx.HTTPTransport(http1=not http2, http2=http2)

    def handle_request(self, request):
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return self.inner.handle_request(request)

    def close(self):
        self.inner.close()


class _Server:
    """``python -m fasterapi <case>:app`` for the switched case source."""

    def __init__(self, tmp_path: Path, name: str, mode: str):
        modname = f"parity_case_{name}"
        (tmp_path / f"{modname}.py").write_text(harness.case_source(name, "fasterapi"))
        self.port = helpers.free_port()
        self.err_path = tmp_path / "stderr"
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fasterapi", f"{modname}:app", "--app-dir", str(tmp_path), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1", "--interpreters", mode],
            stdout=subprocess.DEVNULL, stderr=self._err, env=helpers.native_env(SEED), cwd=str(tmp_path),
            start_new_session=True)
        if not self._wait():
            self.stop()
            raise AssertionError(f"server for {name} ({mode}) did not start:\n{self.stderr()}")

    def _wait(self, timeout=30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._err.close()


def _normalized(obs: dict) -> dict:
    if "headers" in obs:
        obs = dict(obs)
        obs["headers"] = [(k, v) for k, v in obs["headers"] if k not in HOP_BY_HOP]
    return obs


def _observe_server(mod, port: int, http2: bool) -> dict:
    out = {}
    with httpx.Client(transport=_ToServer(port, http2), base_url="http://testserver", follow_redirects=True,
                      headers={"user-agent": "testclient"}, timeout=10) as client:
        seen = []
        for spec in mod.REQUESTS:
            method, url = spec[0], spec[1]
            kwargs = dict(spec[2]) if len(spec) > 2 else {}
            try:
                r = client.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                seen.append({"request": [method, url], "raised": type(exc).__name__})
                continue
            want_version = "HTTP/2" if http2 else "HTTP/1.1"
            assert r.http_version == want_version, (method, url, r.http_version)
            seen.append({"request": [method, url], **harness.observe(r)})
        out["requests"] = seen
        if getattr(mod, "OPENAPI", True):
            doc = harness.observe(client.get("/openapi.json"))
            doc["headers"] = [(k, v) for k, v in doc["headers"] if k != "content-length"]
            out["openapi"] = doc
    return out


def _without_hop_by_hop(out: dict) -> dict:
    res = dict(out)
    res["requests"] = [_normalized(o) for o in out.get("requests", [])]
    if "openapi" in res:
        res["openapi"] = _normalized(res["openapi"])
    return res


@pytest.fixture(scope="module")
def oracle():
    """FastAPI's observations of the subset, made in a process with the
    same PYTHONHASHSEED as the servers: a case that returns a set (a
    tutorial model has ``tags: set[str]``) lists it in hash order."""
    code = ("import json, sys, warnings; warnings.simplefilter('ignore'); sys.path.insert(0, sys.argv[1]); "
            "import harness; print(json.dumps({n: harness.run_case(harness.load_case(n, 'fastapi')) "
            "for n in sys.argv[2:]}, default=repr))")
    out = subprocess.run([sys.executable, "-c", code, str(Path(harness.__file__).parent), *_subset()],
                         capture_output=True, text=True, timeout=300, env={**os.environ, **SEED})
    assert out.returncode == 0, out.stderr
    return harness.json_roundtrip(__import__("json").loads(out.stdout))


@pytest.mark.parametrize("name,mode", _params())
def test_case_over_the_server(name, mode, tmp_path, oracle):
    want = {k: oracle[name][k] for k in ("requests", "openapi") if k in oracle[name]}
    mod = harness.load_case(name, "fastapi")  # only its REQUESTS (the same list on both sides)
    failures = []
    for http2 in (False, True):
        # a server per protocol: the cases keep state (background tasks' log) across requests
        server = _Server(tmp_path, name, mode)
        try:
            got = _without_hop_by_hop(_observe_server(mod, server.port, http2))
        finally:
            server.stop()
        helpers.assert_no_sanitizer_reports(server.stderr(), f"server for {name}")
        lines = harness.diff(harness.json_roundtrip(_without_hop_by_hop(want)), harness.json_roundtrip(got))
        if lines:
            failures.append(f"over {'h2c' if http2 else 'HTTP/1.1'} ({mode} mode): {len(lines)} difference(s):\n"
                            + "\n".join(lines))
    assert not failures, f"case {name}: the server differs from FastAPI:\n" + "\n".join(failures)
