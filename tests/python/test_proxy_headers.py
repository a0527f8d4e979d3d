"""Proxy headers (csrc/server/proxy.c, applied in worker.c before the
handler's request exists): `--proxy-headers` / `--forwarded-allow-ips`
with Uvicorn's defaults, X-Forwarded-For / -Proto / -Host and RFC 7239
Forwarded over HTTP/1.1 and h2c, from trusted and untrusted peers;
`--root-path`; `--uds` and `--fd` listeners.

The servers run `python -m fasterapi` on 127.0.0.1.  A trusted peer is
curl connecting from 127.0.0.1, an untrusted one curl connecting from
127.0.0.2 (`--interface`: every 127/8 address is local on Linux), so the
default trust list (127.0.0.1 only) is what is tested.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import helpers
from helpers import APPS, assert_no_sanitizer_reports, free_port, native_env, plain_env, run_native

FWD = ["-H", "X-Forwarded-For: 6.6.6.6, 203.0.113.9", "-H", "X-Forwarded-Proto: https",
       "-H", "X-Forwarded-Host: shop.example"]
RFC7239 = ["-H", 'Forwarded: for=192.0.2.1, for="[2001:db8::5]:4711";proto=https;host=h2.example']
MODES = {"http1": ["--http1.1"], "h2c": ["--http2-prior-knowledge"]}


class Cli(helpers.CliServer):
    """`python -m fasterapi proxy_app:app` with args, stopped by SIGTERM."""

    def __init__(self, tmp_path: Path, *args, env_extra=None, pass_fds=(), port=None, uds=None):
        self.uds = uds
        super().__init__(tmp_path, "proxy_app:app", *args, env_extra=env_extra, pass_fds=pass_fds, port=port)

    def who(self, *curl_args, source="127.0.0.1", path="/who") -> dict:
        target = ["--unix-socket", self.uds, f"http://x{path}"] if self.uds else \
            ["--interface", source, f"http://127.0.0.1:{self.port}{path}"]
        p = subprocess.run(["curl", "-sS", "--max-time", "20", *curl_args, *target], capture_output=True,
                           text=True, timeout=30, env=plain_env())
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)


@pytest.fixture
def cli(tmp_path):
    made = []

    def start(*args, **kw):
        c = Cli(tmp_path, *args, **kw)
        made.append(c)
        return c

    yield start
    for c in made:
        try:
            c.stop()
        finally:
            if c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait()


@pytest.fixture(scope="module")
def default_server(tmp_path_factory):
    c = Cli(tmp_path_factory.mktemp("proxy"), "--root-path", "/api")
    yield c
    c.stop()


@pytest.mark.parametrize("mode", MODES)
def test_trusted_proxy_x_forwarded(default_server, mode):
    r = default_server.who(*MODES[mode], *FWD)
    assert r["http_version"] == ("2" if mode == "h2c" else "1.1")
    assert r["client"] == ["203.0.113.9", 0]  # the rightmost untrusted hop; no port in X-Forwarded-For
    assert r["scheme"] == "https"
    assert r["host"] == "shop.example"
    assert r["url"] == "https://shop.example/api/who"
    assert r["url_for"] == "https://shop.example/api/who"


@pytest.mark.parametrize("mode", MODES)
def test_trusted_proxy_forwarded_rfc7239(default_server, mode):
    r = default_server.who(*MODES[mode], *RFC7239)
    assert r["client"] == ["2001:db8::5", 4711]
    assert r["scheme"] == "https" and r["host"] == "h2.example"


@pytest.mark.parametrize("mode", MODES)
def test_untrusted_peer_headers_ignored(default_server, mode):
    for headers in (FWD, RFC7239):
        r = default_server.who(*MODES[mode], *headers, source="127.0.0.2")
        assert r["client"][0] == "127.0.0.2" and r["client"][1] > 0, r
        assert r["scheme"] == "http"
        assert r["host"] == f"127.0.0.1:{default_server.port}"


@pytest.mark.parametrize("mode", MODES)
def test_no_headers_keeps_the_peer(default_server, mode):
    r = default_server.who(*MODES[mode])
    assert r["client"][0] == "127.0.0.1" and r["client"][1] > 0
    assert r["scheme"] == "http" and r["url"] == f"http://127.0.0.1:{default_server.port}/api/who"


def test_a_client_cannot_forge_its_way_past_the_proxy(default_server):
    """Whatever the client put left of the proxy's entry is ignored: the
    proxy (127.0.0.1) appended the address it saw last."""
    r = default_server.who("-H", "X-Forwarded-For: 127.0.0.1, 198.51.100.4, 127.0.0.1")
    assert r["client"] == ["198.51.100.4", 0]
    r = default_server.who("-H", "X-Forwarded-For: <script>")  # not an address list: ignored
    assert r["client"][0] == "127.0.0.1" and r["client"][1] > 0


def test_root_path_openapi_servers_and_docs(default_server):
    p = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{default_server.port}/openapi.json"],
                       capture_output=True, text=True, timeout=30, env=plain_env())
    assert json.loads(p.stdout)["servers"] == [{"url": "/api"}]
    p = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{default_server.port}/docs"],
                       capture_output=True, text=True, timeout=30, env=plain_env())
    assert "/api/openapi.json" in p.stdout
    r = default_server.who()
    assert r["root_path"] == "/api"


def test_cidr_star_env_and_off(cli):
    c = cli("--forwarded-allow-ips", "10.0.0.0/8, 127.0.0.0/30")
    assert c.who(*FWD, source="127.0.0.2")["client"] == ["203.0.113.9", 0]  # in 127.0.0.0/30
    assert c.who(*FWD, source="127.0.0.5")["client"][0] == "127.0.0.5"  # outside it
    c.stop()
    c = cli("--forwarded-allow-ips", "*")
    assert c.who(*FWD, source="127.0.0.9")["client"] == ["6.6.6.6", 0]  # "*": the leftmost, as Uvicorn
    c.stop()
    c = cli(env_extra={"FORWARDED_ALLOW_IPS": "127.0.0.2"})
    assert c.who(*FWD, source="127.0.0.2")["scheme"] == "https"
    assert c.who(*FWD, source="127.0.0.1")["scheme"] == "http"
    c.stop()
    c = cli("--no-proxy-headers")
    r = c.who(*MODES["h2c"], *FWD)
    assert r["client"][0] == "127.0.0.1" and r["scheme"] == "http"


def test_bad_forwarded_allow_ips_is_refused():
    p = subprocess.run([sys.executable, "-m", "fasterapi", "proxy_app:app", "--app-dir", str(APPS),
                        "--forwarded-allow-ips", "127.0.0.1, proxy.internal"], capture_output=True, text=True,
                       env=native_env(), timeout=60)
    assert p.returncode == 2
    assert "proxy.internal is not an IP address or network" in p.stderr, p.stderr


def test_uds_listener_trusts_with_star_only(cli, tmp_path):
    """A Unix-socket peer has no address: as Uvicorn, only "*" trusts it."""
    path = str(tmp_path / "fa.sock")
    c = cli("--uds", path, uds=path)
    r = c.who(*FWD)
    assert r["client"] is None and r["scheme"] == "http"
    c.stop()
    c = cli("--uds", path, "--forwarded-allow-ips", "*", uds=path)
    r = c.who(*MODES["h2c"], *FWD)
    assert r["client"] == ["6.6.6.6", 0] and r["scheme"] == "https" and r["http_version"] == "2"
    c.stop()
    assert not os.path.exists(path)


def test_fd_listener(cli):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    try:
        c = cli("--fd", lsock.fileno(), port=lsock.getsockname()[1], pass_fds=(lsock.fileno(),))
        assert c.who(*FWD)["client"] == ["203.0.113.9", 0]
        assert c.who(*MODES["h2c"])["http_version"] == "2"
    finally:
        lsock.close()


LOW_LEVEL = '''
import json, sys
from fasterapi._native.http2 import PyHttp2Server

def who(req, res):
    res["json"] = {"client": list(req["client"]) if req["client"] else None, "scheme": req["scheme"],
                   "host": req["headers"].get("host")}

if __name__ == "__main__":
    kw = json.loads(sys.argv[2])
    s = PyHttp2Server(host="127.0.0.1", port=int(sys.argv[1]), num_pinned_workers=1, num_pooled_workers=1,
                      **kw)
    s.add_route("GET", "/inline", who)
    s.add_route("GET", "/pooled", who, pooled=True)
    s.start(blocking=False)
    print("ready", flush=True)
    sys.stdin.read()
    s.stop()
'''


@pytest.mark.parametrize("kw", [{}, {"proxy_headers": True}, {"proxy_headers": True,
                                                               "forwarded_allow_ips": ["10.0.0.1", "::1"]}],
                         ids=["default-off", "on", "on-untrusted"])
def test_low_level_api(tmp_path, kw):
    script = tmp_path / "low.py"
    script.write_text(LOW_LEVEL)
    port = free_port()
    log = tmp_path / "low.log"
    with open(log, "wb") as out:
        p = subprocess.Popen([sys.executable, str(script), str(port), json.dumps(kw)], stdin=subprocess.PIPE,
                             stdout=out, stderr=out, text=True, env=native_env())
    try:
        deadline = time.monotonic() + 30
        while "ready" not in log.read_text():
            assert p.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        applied = kw.get("proxy_headers") and "forwarded_allow_ips" not in kw
        for path in ("/inline", "/pooled"):  # the pooled thread gets the same, copied
            for mode in MODES.values():
                r = subprocess.run(["curl", "-sS", *mode, *FWD, f"http://127.0.0.1:{port}{path}"],
                                   capture_output=True, text=True, timeout=30, env=plain_env())
                got = json.loads(r.stdout)
                if applied:
                    assert got == {"client": ["203.0.113.9", 0], "scheme": "https", "host": "shop.example"}
                else:
                    assert got["client"][0] == "127.0.0.1" and got["scheme"] == "http", got
                    assert got["host"] == f"127.0.0.1:{port}"
    finally:
        p.stdin.close()
        assert p.wait(30) == 0, log.read_text()
        assert_no_sanitizer_reports(log.read_text(), "server")


def test_low_level_bad_arguments():
    r = run_native(
        "from fasterapi._native.http2 import PyHttp2Server\n"
        "for kw in ({'forwarded_allow_ips': '10.0.0.0/40'}, {'forwarded_allow_ips': 5},\n"
        "           {'forwarded_allow_ips': ['10.0.0.1', 7]}, {'forwarded_allow_ips': 'example.com'}):\n"
        "    try:\n"
        "        PyHttp2Server(**kw)\n"
        "    except (ValueError, TypeError) as e:\n"
        "        print(type(e).__name__, e)\n")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ValueError forwarded_allow_ips: bad prefix length in 10.0.0.0/40"), r.stdout
    assert lines[1].startswith("TypeError forwarded_allow_ips must be a str"), r.stdout
    assert lines[2].startswith("TypeError forwarded_allow_ips must be a str or a list of str"), r.stdout
    assert lines[3].startswith("ValueError forwarded_allow_ips: example.com is not an IP address"), r.stdout
