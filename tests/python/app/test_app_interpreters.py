"""Apps that import modules which cannot load in own-GIL sub-interpreters:
`python -m fasterapi --interpreters sub` refuses them naming the module;
auto (the default) and main serve them from the main interpreter, where
pydantic models work as bodies and response models."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import helpers

APP_DIR = Path(__file__).resolve().parent / "apps"
try:
    import pydantic  # noqa: F401
    HAVE_PYDANTIC = True
except ImportError:
    HAVE_PYDANTIC = False


def _wait_http(port, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /__probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(16).startswith(b"HTTP/1."):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


class Cli:
    """`python -m fasterapi main_only_app:app ...` in a subprocess."""

    def __init__(self, tmp_path, *args):
        self.port = helpers.free_port()
        self.err_path = tmp_path / "stderr"
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fasterapi", "main_only_app:app", "--app-dir", str(APP_DIR), "--host",
             "127.0.0.1", "--port", str(self.port), "--workers", "2", *args],
            stdout=subprocess.DEVNULL, stderr=self._err, env=helpers.native_env(), cwd=str(tmp_path),
            start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def stop(self):
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self._err.close()
            helpers.assert_no_sanitizer_reports(self.stderr(), "python -m fasterapi")


def test_sub_only_refuses_and_names_the_module(tmp_path):
    cli = Cli(tmp_path, "--interpreters", "sub")
    rc = cli.proc.wait(timeout=60)
    cli.stop()
    err = cli.stderr()
    assert rc == 1, err
    assert "cannot be served from own-GIL sub-interpreters" in err
    assert "extension module 'readline'" in err
    assert "--interpreters main or auto" in err


@pytest.mark.parametrize("mode", ["auto", "main"])
def test_served_from_the_main_interpreter(tmp_path, mode):
    cli = Cli(tmp_path, "--interpreters", mode)
    try:
        assert _wait_http(cli.port, cli.proc), cli.stderr()
        for m in ("h1", "h2"):
            r = helpers.curl(cli.url + "/where", mode=m)
            assert r.status == 200, r.body
            # the main interpreter; the app's startup ran once for both workers
            assert json.loads(r.body) == {"interp": 0, "starts": 1}
    finally:
        assert cli.stop() == 0, cli.stderr()
    err = cli.stderr()
    assert err.count("FA-APP-MAIN-STARTUP") == 1
    if mode == "auto":
        assert "module readline does not support loading in subinterpreters" in err
        assert "serving from the main interpreter instead" in err


@pytest.mark.skipif(not HAVE_PYDANTIC, reason="pydantic is not installed")
def test_pydantic_body_and_response_model_on_the_server(tmp_path):
    cli = Cli(tmp_path)  # --interpreters auto is the default
    try:
        assert _wait_http(cli.port, cli.proc), cli.stderr()
        for m in ("h1", "h2"):
            r = helpers.curl(cli.url + "/items", mode=m, method="POST",
                             data=b'{"name": "hammer", "price": "9.5", "tags": ["tool"]}',
                             headers=["Content-Type: application/json"])
            assert r.status == 201, r.body
            assert json.loads(r.body) == {"name": "hammer", "price": 9.5}  # response_model drops tags
            r = helpers.curl(cli.url + "/items", mode=m, method="POST", data=b'{"name": "hammer"}',
                             headers=["Content-Type: application/json"])
            assert r.status == 422
            detail = json.loads(r.body)["detail"]
            assert [(d["type"], d["loc"]) for d in detail] == [("missing", ["body", "price"])]
    finally:
        assert cli.stop() == 0, cli.stderr()
