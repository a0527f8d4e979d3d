"""`python -m fasterapi` with Uvicorn's flags: the names Uvicorn users type
(--timeout-keep-alive, --limit-concurrency, --backlog, --ws-*, --lifespan,
--env-file, --log-config, --version) reach the server and change what a
client sees; bad values stop the command with a message naming the flag."""
import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import helpers
from helpers import APPS, ROOT, free_port, native_env, plain_env

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect as ws_connect  # noqa: E402


class Cli(helpers.CliServer):
    """`python -m fasterapi cli_app:app ARGS` on a free port, stopped by SIGTERM."""

    def __init__(self, tmp_path: Path, *args):
        super().__init__(tmp_path, "cli_app:app", *args)

    def get(self, path: str) -> tuple[int, bytes]:
        p = subprocess.run(["curl", "-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}",
                            f"http://127.0.0.1:{self.port}{path}"], capture_output=True, timeout=30,
                           env=plain_env())
        assert p.returncode == 0, p.stderr
        body, _, code = p.stdout.rpartition(b"\n")
        return int(code), body

    def json(self, path: str):
        status, body = self.get(path)
        assert status == 200, body
        return json.loads(body)


@pytest.fixture
def cli(tmp_path):
    made = []

    def start(*args):
        c = Cli(tmp_path, *args)
        made.append(c)
        return c
    yield start
    for c in made:
        c.stop()


def run_cli(tmp_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fasterapi", "cli_app:app", "--app-dir", str(APPS),
                           "--port", str(free_port()), *map(str, args)], capture_output=True, text=True,
                          timeout=60, env=native_env(), cwd=str(tmp_path))


def test_version():
    p = subprocess.run([sys.executable, "-m", "fasterapi", "--version"], capture_output=True, text=True,
                       timeout=60, env=native_env(), cwd=str(ROOT))
    assert p.returncode == 0
    from fasterapi import __version__
    assert p.stdout.split()[:2] == ["FasterAPI", __version__]


def test_env_file_sets_variables_the_app_reads(cli, tmp_path):
    env = tmp_path / "app.env"
    env.write_text("# settings\n\nFA_T_PLAIN=plain value # a comment\nexport FA_T_EXPORTED=yes\n"
                   "FA_T_SINGLE='keep # and \\n as is'\nFA_T_DOUBLE=\"two\\nlines\"\nFA_T_EMPTY=\n")
    c = cli("--env-file", env)
    assert c.json("/env/FA_T_PLAIN")["value"] == "plain value"
    assert c.json("/env/FA_T_EXPORTED")["value"] == "yes"
    assert c.json("/env/FA_T_SINGLE")["value"] == "keep # and \\n as is"
    assert c.json("/env/FA_T_DOUBLE")["value"] == "two\nlines"
    assert c.json("/env/FA_T_EMPTY")["value"] == ""


def test_env_file_does_not_override_the_environment(tmp_path):
    from fasterapi.cli import load_env_file
    env = tmp_path / "app.env"
    env.write_text("FA_T_ALREADY=from file\nFA_T_NEW=new\n")
    import os
    os.environ["FA_T_ALREADY"] = "from environment"
    try:
        assert load_env_file(str(env)) == {"FA_T_NEW": "new"}
        assert os.environ["FA_T_ALREADY"] == "from environment"
    finally:
        os.environ.pop("FA_T_ALREADY", None)
        os.environ.pop("FA_T_NEW", None)


def test_env_file_bad_line_names_it(tmp_path):
    env = tmp_path / "bad.env"
    env.write_text("GOOD=1\nthis is not an assignment\n")
    p = run_cli(tmp_path, "--env-file", env)
    assert p.returncode == 2
    assert f"{env}:2" in p.stderr and "KEY=VALUE" in p.stderr
    p = run_cli(tmp_path, "--env-file", tmp_path / "missing.env")
    assert p.returncode == 2 and "missing.env" in p.stderr


def head_fields(port):
    p = subprocess.run(["curl", "-sS", "-D", "-", "-o", "/dev/null", "--max-time", "20",
                        f"http://127.0.0.1:{port}/started"], capture_output=True, text=True, timeout=30,
                       env=plain_env())
    assert p.returncode == 0, p.stderr
    return [tuple(x.strip() for x in line.split(":", 1)) for line in p.stdout.splitlines()[1:] if ":" in line]


def test_header_flags(cli):
    fields = head_fields(cli("--header", "X-Frame-Options: DENY", "--header", "X-Team:core").port)
    got = {k.lower(): v for k, v in fields}
    assert got["x-frame-options"] == "DENY" and got["x-team"] == "core"
    assert got["server"] == "fasterapi" and "date" in got
    got = {k.lower() for k, _ in head_fields(cli("--no-server-header", "--no-date-header").port)}
    assert "server" not in got and "date" not in got and "content-type" in got


def test_lifespan_off_skips_startup(cli):
    assert cli().json("/started") == {"started": True}
    assert cli("--lifespan", "off").json("/started") == {"started": False}


def test_timeout_keep_alive_closes_an_idle_connection(cli):
    c = cli("--timeout-keep-alive", "1")
    s = socket.create_connection(("127.0.0.1", c.port), timeout=10)
    s.sendall(b"GET /started HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got or not got.endswith(b"}"):
        got += s.recv(65536)
    assert got.startswith(b"HTTP/1.1 200")
    # the server closes it (the default would keep it 5 s; the recv timeout is 10 s)
    t0 = time.monotonic()
    assert s.recv(1) == b""
    assert time.monotonic() - t0 < 4.5
    s.close()


def test_limit_concurrency_answers_503_past_the_limit(cli):
    c = cli("--limit-concurrency", "1")
    codes = []

    def one():
        codes.append(c.get("/slow")[0])
    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(set(codes)) == [200, 503], codes


def test_websocket_flags(cli):
    c = cli("--ws-max-size", "1000", "--ws-per-message-deflate", "true")

    async def go():
        async with ws_connect(f"ws://127.0.0.1:{c.port}/ws") as ws:
            assert "permessage-deflate" in (ws.response.headers.get("Sec-WebSocket-Extensions") or "")
            await ws.send("x" * 900)
            assert await ws.recv() == "x" * 900
            await ws.send("y" * 2000)
            with pytest.raises(websockets.ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1009
    asyncio.run(go())


def test_max_websockets_refuses_past_the_cap(cli):
    c = cli("--max-websockets", "1")

    async def go():
        async with ws_connect(f"ws://127.0.0.1:{c.port}/ws") as ws:
            await ws.send("one")
            assert await ws.recv() == "one"
            with pytest.raises(websockets.InvalidStatus) as info:
                async with ws_connect(f"ws://127.0.0.1:{c.port}/ws"):
                    pass
            assert info.value.response.status_code == 503
    asyncio.run(go())


def test_websocket_defaults_have_no_compression(cli):
    c = cli()

    async def go():
        async with ws_connect(f"ws://127.0.0.1:{c.port}/ws") as ws:
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
            await ws.send("hi")
            assert await ws.recv() == "hi"
    asyncio.run(go())


def test_ws_none_serves_no_websocket(cli):
    c = cli("--ws", "none")

    async def go():
        with pytest.raises(websockets.InvalidStatus) as info:
            async with ws_connect(f"ws://127.0.0.1:{c.port}/ws"):
                pass
        return info.value.response.status_code
    assert asyncio.run(go()) != 101
    assert c.json("/started") == {"started": True}  # the rest of the app is served


def test_log_config_json(cli, tmp_path):
    log_file = tmp_path / "fasterapi.log"
    cfg = tmp_path / "log.json"
    cfg.write_text(json.dumps({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "CFG %(levelname)s %(name)s %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(log_file), "formatter": "plain"}},
        "loggers": {"fasterapi": {"handlers": ["file"], "level": "INFO"}},
    }))
    c = cli("--log-config", cfg)
    assert c.json("/started")["started"] is True
    c.stop()
    text = log_file.read_text()
    assert "CFG INFO fasterapi" in text, text


@pytest.mark.parametrize("args, flag", [
    (["--backlog", "0"], "--backlog"),
    (["--limit-concurrency", "0"], "--limit-concurrency"),
    (["--ws-per-message-deflate", "maybe"], "--ws-per-message-deflate"),
    (["--timeout-keep-alive", "-1"], "--timeout-keep-alive"),
    (["--lifespan", "sometimes"], "--lifespan"),
    (["--max-websockets", "-1"], "--max-websockets"),
    (["--header", "no-colon"], "--header"),
    (["--header", ": v"], "--header"),
])
def test_bad_values_name_the_flag(tmp_path, args, flag):
    p = run_cli(tmp_path, *args)
    assert p.returncode == 2
    assert flag in p.stderr, p.stderr


def test_uvicorn_aliases(tmp_path):
    from fasterapi.cli import _parser
    a = _parser().parse_args(["m:app", "--timeout-graceful-shutdown", "3", "--limit-max-requests", "50",
                              "--limit-max-requests-jitter", "5"])
    assert (a.graceful_timeout, a.max_requests, a.max_requests_jitter) == (3.0, 50, 5)
    a = _parser().parse_args(["m:app"])
    assert (a.graceful_timeout, a.max_requests, a.max_requests_jitter) == (10.0, 0, 0)
