"""request.stream() on the real server: an async endpoint that takes the
Request and declares no body parameter gets the body as it arrives
(stream_body), unbounded by max_body_size, with memory bounded."""
import hashlib
import json

import pytest

import helpers


def _vm_hwm_kb(pid):
    return helpers.proc_status_kb(pid, "VmHWM")


@pytest.mark.parametrize("mode", ["h1", "h2"])
def test_upload_is_hashed_as_it_arrives(app_server, tmp_path, mode):
    size = 48 * 1024 * 1024  # three times the default max_body_size (16 MiB)
    block = hashlib.sha256(mode.encode()).digest() * 2048  # 64 KiB
    path = tmp_path / "upload.bin"
    with open(path, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
    want = hashlib.sha256(path.read_bytes()).hexdigest()
    hwm0 = _vm_hwm_kb(app_server.pid)
    r = helpers.curl(f"{app_server.url}/upload/hash", mode=mode, method="POST",
                     extra=["--data-binary", f"@{path}", "-H", "Content-Type: application/octet-stream"],
                     timeout=120)
    assert r.status == 200, r.body[:300]
    got = json.loads(r.body)
    assert got["size"] == size and got["sha256"] == want
    assert got["chunks"] > 1, "the body came in one piece: it was collected before the endpoint ran"
    grew_mb = (_vm_hwm_kb(app_server.pid) - hwm0) / 1024
    if not helpers.SANITIZED:  # ASan's quarantine and shadow memory make RSS meaningless
        assert grew_mb < 40, f"peak RSS grew {grew_mb:.0f} MB for a {size >> 20} MB upload"


@pytest.mark.parametrize("mode", ["h1", "h2"])
def test_body_and_json_still_read_the_whole_body(app_server, mode):
    doc = {"a": [1, 2, 3], "b": "x" * 1000}
    raw = json.dumps(doc).encode()
    r = helpers.curl(f"{app_server.url}/upload/json", mode=mode, method="POST", data=raw,
                     headers=["Content-Type: application/json"])
    assert r.status == 200 and json.loads(r.body) == {"got": doc, "again": len(raw)}


def test_testclient_stream_yields_the_body():
    from fasterapi import FastAPI, Request
    from fasterapi.testclient import TestClient
    app = FastAPI()

    @app.post("/")
    async def echo(request: Request):
        return b"".join([c async for c in request.stream()]).decode()

    assert TestClient(app).post("/", content=b"hello").json() == "hello"


@pytest.mark.parametrize("mode", ["h1", "h2"])
def test_reading_a_streamed_body_whole_is_bounded_by_max_body_size(app_server, tmp_path, mode):
    path = tmp_path / "big.json"
    path.write_bytes(b'"' + b"x" * (17 << 20) + b'"')  # over the default 16 MiB
    r = helpers.curl(f"{app_server.url}/upload/json", mode=mode, method="POST",
                     extra=["--data-binary", f"@{path}", "-H", "Content-Type: application/json"], timeout=60)
    assert r.status == 413, (r.status, r.stderr)
    assert json.loads(r.body) == {"detail": "Request body too large"}
    # the server goes on
    r = helpers.curl(f"{app_server.url}/upload/json", mode=mode, method="POST", data=b"[1]",
                     headers=["Content-Type: application/json"])
    assert r.status == 200 and json.loads(r.body)["got"] == [1]
