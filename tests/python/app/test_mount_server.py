"""app.mount over the real server, in sub-interpreter mode: StaticFiles
(sent by the native server from the file) and a mounted FastAPI app, over
HTTP/1.1 and h2c with httpx, and paths that try to leave the directory sent
as raw bytes (a client would have normalized them away)."""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import helpers

httpx = pytest.importorskip("httpx")
pytest.importorskip("h2")

APP = textwrap.dedent('''
    import os
    from fasterapi import FastAPI, Depends
    from fasterapi.security import HTTPBasic
    from fasterapi.staticfiles import StaticFiles

    HERE = os.path.dirname(os.path.abspath(__file__))
    app = FastAPI()
    app.mount("/static", StaticFiles(directory=os.path.join(HERE, "site")), name="static")
    sub = FastAPI(title="Sub")
    basic = HTTPBasic()

    @sub.get("/who")
    async def who(c=Depends(basic)):
        return {"user": c.username}

    app.mount("/sub", sub)
''')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("mount")
    (d / "mount_app.py").write_text(APP)
    (d / "site").mkdir()
    (d / "site" / "big.bin").write_bytes(os.urandom(300_000))
    (d / "secret.txt").write_text("top secret")
    port = helpers.free_port()
    err = open(d / "stderr", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "fasterapi", "mount_app:app", "--app-dir", str(d), "--host",
                             "127.0.0.1", "--port", str(port), "--workers", "1", "--interpreters", "sub"],
                            stdout=subprocess.DEVNULL, stderr=err, env=helpers.native_env(), cwd=str(d),
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    assert proc.poll() is None, (d / "stderr").read_text()
    yield port, d
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)
    err.close()
    helpers.assert_no_sanitizer_reports((d / "stderr").read_text(errors="replace"), "mount server")


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2c"])
def test_static_and_sub_app(server, http2):
    port, d = server
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", http1=not http2, http2=http2) as c:
        r = c.get("/static/big.bin")
        assert r.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
        assert r.status_code == 200 and r.content == (d / "site" / "big.bin").read_bytes()
        assert r.headers["content-length"] == "300000" and "etag" in r.headers
        assert c.get("/static/big.bin", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
        r = c.get("/static/big.bin", headers={"Range": "bytes=10-19"})
        assert r.status_code == 206 and r.content == (d / "site" / "big.bin").read_bytes()[10:20]
        assert c.get("/static/nope").json() == {"detail": "Not Found"}
        assert c.get("/static/b%69g.bin").content == (d / "site" / "big.bin").read_bytes()  # percent-decoded
        assert c.post("/static/big.bin").status_code == 405
        r = c.get("/sub/who")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Basic"
        assert c.get("/sub/who", auth=("ann", "pw")).json() == {"user": "ann"}
        doc = c.get("/sub/openapi.json").json()
        assert doc["servers"] == [{"url": "/sub"}] and doc["components"]["securitySchemes"] == {
            "HTTPBasic": {"type": "http", "scheme": "basic"}}


def _raw(port, target: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


@pytest.mark.parametrize("target", [b"/static/../secret.txt", b"/static/%2e%2e/secret.txt",
                                    b"/static/..%2fsecret.txt", b"/static/%2e%2e%2fsecret.txt",
                                    b"/static//..//secret.txt", b"/static/./../secret.txt",
                                    b"/static/big.bin%00", b"/static/%2fetc%2fpasswd"])
def test_traversal_over_the_wire(server, target):
    port, _ = server
    out = _raw(port, target)
    status = out.split(b"\r\n", 1)[0]
    assert b"top secret" not in out, target
    assert status.split()[1] in (b"400", b"404"), (target, status)
