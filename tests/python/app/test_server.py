"""The application layer on the real server: HTTP/1.1 and h2c (prior
knowledge) with two worker interpreters, startup and shutdown in every
interpreter that served, pooled and async endpoints, FileResponse ranges,
and the command line ``python -m fasterapi``."""
import email
import email.policy
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

import helpers

APP_DIR = Path(__file__).resolve().parent / "apps"

MODES = ["h1", "h2"]


@pytest.mark.parametrize("mode", MODES)
def test_json_endpoint_with_path_and_query(app_server, mode):
    r = helpers.curl(f"{app_server.url}/items/42?q=hello%20you", mode=mode)
    assert r.status == 200 and r.http_version == ("2" if mode == "h2" else "1.1")
    assert r.headers["content-type"] == "application/json"
    assert json.loads(r.body) == {"item_id": 42, "q": "hello you"}


@pytest.mark.parametrize("mode", MODES)
def test_validation_errors(app_server, mode):
    r = helpers.curl(f"{app_server.url}/items/abc", mode=mode)
    assert r.status == 422
    assert json.loads(r.body) == {"detail": [
        {"type": "int_parsing", "loc": ["path", "item_id"],
         "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "abc"}]}
    r = helpers.curl(f"{app_server.url}/items", mode=mode, method="POST", data=b'{"name": "x"}',
                     headers=["Content-Type: application/json"])
    assert r.status == 422 and json.loads(r.body)["detail"][0]["loc"] == ["body", "price"]


@pytest.mark.parametrize("mode", MODES)
def test_async_body_dependency_and_errors(app_server, mode):
    r = helpers.curl(f"{app_server.url}/items", mode=mode, method="POST",
                     data=json.dumps({"name": "n", "price": 2, "tags": ["a"]}).encode(),
                     headers=["Content-Type: application/json", "X-Token: t"])
    assert r.status == 201
    assert json.loads(r.body) == {"item": {"name": "n", "price": 2.0, "tags": ["a"]}, "token": "t"}
    r = helpers.curl(f"{app_server.url}/items", mode=mode, method="POST", data=b'{"name":"n","price":1}',
                     headers=["Content-Type: application/json", "X-Token: bad"])
    assert r.status == 401 and json.loads(r.body) == {"detail": "bad token"}
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("mode", MODES)
def test_not_found_method_not_allowed_redirect(app_server, mode):
    r = helpers.curl(f"{app_server.url}/nowhere", mode=mode)
    assert r.status == 404 and json.loads(r.body) == {"detail": "Not Found"}
    r = helpers.curl(f"{app_server.url}/items/1", mode=mode, method="DELETE")
    assert r.status == 405 and json.loads(r.body) == {"detail": "Method Not Allowed"}
    assert r.headers["allow"] == "GET, HEAD"
    r = helpers.curl(f"{app_server.url}/items/1/", mode=mode)
    assert r.status == 307 and r.headers["location"].endswith("/items/1")
    r = helpers.curl(f"{app_server.url}/", mode=mode)
    assert r.status == 404 and json.loads(r.body) == {"detail": "Not Found"}


@pytest.mark.parametrize("mode", MODES)
def test_head_and_cookies(app_server, mode):
    r = helpers.curl(f"{app_server.url}/items/1", mode=mode, method="HEAD")
    assert r.status == 200 and r.body == b"" and r.headers["content-type"] == "application/json"
    r = helpers.curl(f"{app_server.url}/cookies?session=s", mode=mode)
    assert r.status == 200
    cookies = [line.split(":", 1)[1].strip() for line in r.all_head.splitlines()
               if line.lower().startswith("set-cookie:")]
    assert cookies == ["a=1; Path=/; SameSite=lax", "b=s; HttpOnly; Path=/; SameSite=lax"]


def test_docs_and_openapi(app_server):
    r = helpers.curl(f"{app_server.url}/openapi.json", mode="h2")
    assert r.status == 200 and json.loads(r.body)["info"]["title"] == "server test app"
    r = helpers.curl(f"{app_server.url}/docs")
    assert r.status == 200 and b"swagger-ui-bundle.js" in r.body


def _interps_seen(url, want=2, tries=200):
    seen = {}
    for _ in range(tries):
        # a new connection each time: the kernel spreads them over the workers' listeners
        r = helpers.h1_request(int(url.rsplit(":", 1)[1]), "GET", "/interp", timeout=10)
        d = r.json()
        seen[d["interp"]] = d
        if len(seen) >= want:
            break
    return seen


def test_both_worker_interpreters_serve_and_started(app_server):
    seen = _interps_seen(app_server.url)
    assert len(seen) == 2, seen
    assert all(d["started"] for d in seen.values())
    # startup ran in every worker interpreter (2 pinned + 1 pooled) before
    # the server answered; lines from several interpreters may interleave
    text = app_server.wait_stderr(lambda t: t.count("FA-APP-STARTUP") >= 3)
    starts = re.findall(r"FA-APP-STARTUP interp=(\d+) module=(\S+?)(?=FA-APP|\s|$)", text)
    assert {int(n) for n, _ in starts} >= set(seen)
    assert all(m == "__mp_main__" for _, m in starts)  # imported again, main block not run


def test_h2_multiplexed_requests(app_server):
    with helpers.H2Client(app_server.port) as c:
        sids = [c.request("GET", f"/items/{i}?q=m") for i in range(20)]
        for i, sid in enumerate(sids):
            st = c.response(sid)
            assert st.status == 200 and json.loads(bytes(st.body)) == {"item_id": i, "q": "m"}


@pytest.mark.timing
def test_pooled_and_async_endpoints_do_not_block_each_other(app_server):
    t0 = time.monotonic()
    results = helpers.run_threads(
        [lambda: helpers.curl(f"{app_server.url}/pooled/sleep?t=0.5"),
         lambda: helpers.curl(f"{app_server.url}/async/sleep?t=0.5", mode="h2"),
         lambda: helpers.curl(f"{app_server.url}/items/1")])
    elapsed = time.monotonic() - t0
    assert [r.status for r in results] == [200, 200, 200]
    assert elapsed < 1.5 * helpers.SLACK + 0.5, elapsed
    assert json.loads(results[0].body)["end"] - json.loads(results[0].body)["start"] >= 0.5


def test_shutdown_runs_in_each_started_interpreter(start_server):
    # startup runs in every worker interpreter (2 pinned + 1 pooled) before
    # the server answers, and shutdown in each of them at stop
    srv = start_server(str(APP_DIR / "server_app.py"))
    seen = _interps_seen(srv.url)
    assert srv.stop() == 0
    text = srv.stderr()

    def interps(marker):
        # lines from different interpreters may interleave: match anywhere
        return {int(n) for n in re.findall(marker + r" interp=(\d+)", text)}

    started, shut = interps("FA-APP-STARTUP"), interps("FA-APP-SHUTDOWN")
    assert len(started) == 3, text[-3000:]
    assert set(seen) <= started
    assert shut == started, text[-3000:]


def _wait_port(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def test_command_line(tmp_path):
    port = helpers.free_port()
    err = open(tmp_path / "stderr", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fasterapi", "server_app:app", "--app-dir", str(APP_DIR), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2", "--pooled-workers", "1", "--pooled-interpreters", "1",
         "--log-level", "info"], stdout=subprocess.DEVNULL, stderr=err, env=helpers.native_env(),
        cwd=str(tmp_path), start_new_session=True)
    try:
        assert _wait_port(port, proc), (tmp_path / "stderr").read_text()
        r = helpers.curl(f"http://127.0.0.1:{port}/items/7?q=cli", mode="h2")
        assert json.loads(r.body) == {"item_id": 7, "q": "cli"}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        err.close()
    text = (tmp_path / "stderr").read_text()
    helpers.assert_no_sanitizer_reports(text, "python -m fasterapi")
    assert "serving server_app:app" in text and "FA-APP-STARTUP" in text and "module=server_app" in text


def test_command_line_errors(tmp_path):
    p = helpers.run_native("import runpy, sys; sys.argv=['fasterapi', 'no_such_module:app']; "
                           "runpy.run_module('fasterapi', run_name='__main__')")
    assert p.returncode == 1 and "cannot import no_such_module:app" in p.stderr
    p = helpers.run_native("import runpy, sys; sys.argv=['fasterapi', 'json:dumps']; "
                           "runpy.run_module('fasterapi', run_name='__main__')")
    assert p.returncode == 1 and "is not a FasterAPI application" in p.stderr


@pytest.mark.parametrize("mode", MODES)
def test_streaming_and_file_responses(app_server, mode):
    r = helpers.curl(f"{app_server.url}/stream?n=4", mode=mode)
    assert r.status == 200 and r.body == b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    if mode == "h1":
        assert r.headers.get("transfer-encoding") == "chunked"
    r = helpers.curl(f"{app_server.url}/file", mode=mode)
    assert r.status == 200 and r.body == (APP_DIR / "server_app.py").read_bytes()
    assert r.headers["content-disposition"] == 'attachment; filename="server_app.py"'


@pytest.fixture(scope="module")
def range_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ranges")
    rnd = random.Random(7)
    out = {}
    for name, size in (("small.bin", 10_000), ("big.bin", 3 * 2**20 + 11)):
        data = rnd.randbytes(size)
        (d / name).write_bytes(data)
        old = time.time() - 86400  # a Last-Modified older than a second is a strong validator
        os.utime(d / name, (old, old))
        out[name] = (str(d / name), data)
    return out


def _files_url(srv, path, kind="sync", **query):
    return f"{srv.url}/files/{kind}?" + urllib.parse.urlencode({"path": path, **query})


def _expected_byteranges(content_type, data, ranges, part_type="application/octet-stream"):
    boundary = content_type.removeprefix("multipart/byteranges; boundary=")
    assert re.fullmatch(r"[0-9a-f]{24}", boundary), content_type
    out = b""
    for i, (a, b) in enumerate(ranges):
        out += (b"\r\n" if i else b"") + (f"--{boundary}\r\nContent-Type: {part_type}\r\n"
                                          f"Content-Range: bytes {a}-{b}/{len(data)}\r\n\r\n").encode()
        out += data[a:b + 1]
    return out + f"\r\n--{boundary}--\r\n".encode()


def _parts(content_type, body):
    msg = email.message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body,
                                   policy=email.policy.HTTP)
    return [(p["content-range"], p.get_payload(decode=True)) for p in msg.iter_parts()]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_file_ranges_with_curl(app_server, range_files, mode, kind):
    path, data = range_files["small.bin"]
    size = len(data)
    url = _files_url(app_server, path, kind)
    r = helpers.curl(url, mode=mode, extra=["-r", "10-19"])
    assert r.status == 206 and r.body == data[10:20] and r.headers["content-range"] == f"bytes 10-19/{size}"
    assert r.headers["content-length"] == "10"
    # several ranges: multipart/byteranges, parts in the client's order
    r = helpers.curl(url, mode=mode, extra=["-r", "100-199,0-9,-5"])
    assert r.status == 206 and r.headers["content-type"].startswith("multipart/byteranges; boundary=")
    want = [(100, 199), (0, 9), (size - 5, size - 1)]
    assert r.body == _expected_byteranges(r.headers["content-type"], data, want)
    assert _parts(r.headers["content-type"], r.body) == [(f"bytes {a}-{b}/{size}", data[a:b + 1]) for a, b in want]
    assert r.headers["content-length"] == str(len(r.body))
    # overlapping ranges merge; one satisfiable range among unsatisfiable ones
    r = helpers.curl(url, mode=mode, extra=["-r", "0-9,5-19"])
    assert r.status == 206 and r.body == data[:20] and r.headers["content-range"] == f"bytes 0-19/{size}"
    r = helpers.curl(url, mode=mode, extra=["-r", f"{size}-,0-4"])
    assert r.status == 206 and r.body == data[:5]
    r = helpers.curl(url, mode=mode, extra=["-r", f"{size}-,{size + 5}-"])
    assert r.status == 416 and r.body == b"" and r.headers["content-range"] == f"bytes */{size}"
    # too many ranges, or overlaps adding up to more than the file: the whole file
    r = helpers.curl(url, mode=mode, extra=["-r", ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(17))])
    assert r.status == 200 and r.body == data
    r = helpers.curl(url, mode=mode, extra=["-r", "0-,0-"])
    assert r.status == 200 and r.body == data
    # If-Range: our ETag or our Last-Modified keep the range, anything else gets the whole file
    full = helpers.curl(url, mode=mode)
    etag, modified = full.headers["etag"], full.headers["last-modified"]
    for if_range in (etag, modified):
        r = helpers.curl(url, mode=mode, extra=["-r", "0-9,20-29"], headers=[f"If-Range: {if_range}"])
        assert r.status == 206 and _parts(r.headers["content-type"], r.body) == [
            (f"bytes 0-9/{size}", data[:10]), (f"bytes 20-29/{size}", data[20:30])]
    for if_range in ('"other"', "W/" + etag, "Mon, 01 Jan 2024 00:00:00 GMT"):
        r = helpers.curl(url, mode=mode, extra=["-r", "0-9"], headers=[f"If-Range: {if_range}"])
        assert r.status == 200 and r.body == data and "content-range" not in r.headers


@pytest.mark.parametrize("mode", MODES)
def test_file_multiple_ranges_streamed_from_big_file(app_server, range_files, mode):
    # more than MULTIPART_INLINE_MAX bytes of parts: streamed from the file
    path, data = range_files["big.bin"]
    size = len(data)
    url = _files_url(app_server, path, "async", media_type="video/mp4")
    r = helpers.curl(url, mode=mode, extra=["-r", "2000000-,5-1500004"])
    assert r.status == 206
    want = [(2000000, size - 1), (5, 1500004)]
    assert r.body == _expected_byteranges(r.headers["content-type"], data, want, "video/mp4")
    if mode == "h1":
        assert r.headers["transfer-encoding"] == "chunked"


def test_file_ranges_raw_http1(app_server, range_files):
    path, data = range_files["small.bin"]
    target = "/files/sync?" + urllib.parse.urlencode({"path": path})
    full = helpers.h1_request(app_server.port, "GET", target)
    assert full.status == 200 and full.body == data and full.header("accept-ranges") == "bytes"
    hdrs = {"Range": "bytes=0-0, 9999-, 500-509", "If-Range": full.header("last-modified")}
    r = helpers.h1_request(app_server.port, "GET", target, headers=hdrs)
    assert r.status == 206 and r.header("content-length") == str(len(r.body))
    assert r.body == _expected_byteranges(r.header("content-type"), data, [(0, 0), (9999, 9999), (500, 509)])
    head = helpers.h1_request(app_server.port, "HEAD", target, headers=hdrs)
    assert head.status == 206 and head.body == b"" and head.header("content-length") == r.header("content-length")
    assert head.header("content-type").startswith("multipart/byteranges; boundary=")
    # a Range that is not valid is ignored; 304 wins over Range
    r = helpers.h1_request(app_server.port, "GET", target, headers={"Range": "bytes=9-1,0-1"})
    assert r.status == 200 and r.body == data
    r = helpers.h1_request(app_server.port, "GET", target,
                           headers={"Range": "bytes=0-1,4-5", "If-None-Match": full.header("etag")})
    assert r.status == 304 and r.body == b""
