"""File bodies (issue 5): res['file'] = path, optional res['file_range'] =
(offset, length).  sendfile on HTTP/1.1, pread within the flow-control
window on HTTP/2; a missing file is a 404; 206 and Content-Range are the
handler's business."""
import os
import random
import re
import subprocess
import time
import urllib.parse

import pytest

import helpers
from helpers import H1Reader, H2Client, build_request, connect, curl, h1_request

#: environment for curl and h2load: without the sanitizer runtimes the ASan pass
#: preloads (curl hangs at exit with them)
TOOL_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}

BIG = 20 * 2**20


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    rnd = random.Random(5)
    out = {}
    for name, size in (("big.bin", BIG), ("mid.bin", 1_000_003), ("small.txt", 1000), ("empty.bin", 0)):
        data = rnd.randbytes(size)
        (d / name).write_bytes(data)
        out[name] = (str(d / name), data)
    (d / "sub").mkdir()
    out["dir"] = (str(d / "sub"), None)
    out["missing"] = (str(d / "nope.bin"), None)
    out["missing_dir"] = (str(d / "small.txt" / "x"), None)  # ENOTDIR
    return out


@pytest.fixture(scope="module")
def fsrv(tmp_path_factory):
    yield from helpers.module_server("files_app.py", tmp_path_factory, "fsrv",
                                keepalive_timeout=30.0)


def _u(route, path, **kw):
    return route + "?" + urllib.parse.urlencode({"path": path, **kw})


def _fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


# --------------------------------------------------------------------------
# whole files
# --------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("mode", ["h1", "h2"])
def test_20mb_file_curl(fsrv, files, mode):
    path, data = files["big.bin"]
    r = curl(fsrv.url + _u("/file", path), mode)
    assert r.status == 200
    assert r.http_version == ("1.1" if mode == "h1" else "2")
    assert r.headers["content-length"] == str(BIG)
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-file"] == "big.bin"
    assert len(r.body) == BIG and helpers.sha256(r.body) == helpers.sha256(data)


@pytest.mark.slow
def test_20mb_file_h2_client(fsrv, files):
    path, data = files["big.bin"]
    with H2Client(fsrv.port, timeout=60) as c:
        st = c.response(c.request("GET", _u("/file", path)))
        assert st.status == 200 and st.reset is None
        assert st.header("content-length") == str(BIG)
        assert helpers.sha256(bytes(st.body)) == helpers.sha256(data)
        # the connection serves more requests afterwards
        st2 = c.response(c.request("GET", "/"))
        assert bytes(st2.body) == b"Hello from /"


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("kind", ["str", "bytes", "pathlike"])
def test_file_path_kinds(fsrv, files, proto, kind):
    path, data = files["mid.bin"]
    target = _u("/file", path, kind=kind)
    if proto == "h1":
        r = h1_request(fsrv.port, "GET", target)
        status, body, cl = r.status, r.body, r.header("content-length")
    else:
        st = helpers.h2_get(fsrv.port, target)
        status, body, cl = st.status, bytes(st.body), st.header("content-length")
    assert status == 200 and cl == str(len(data))
    assert body == data


@pytest.mark.parametrize("mode", ["h1", "h2"])
def test_empty_file(fsrv, files, mode):
    r = curl(fsrv.url + _u("/file", files["empty.bin"][0]), mode)
    assert r.status == 200 and r.body == b"" and r.headers["content-length"] == "0"


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_async_handler_file(fsrv, files, proto):
    path, data = files["mid.bin"]
    if proto == "h1":
        r = h1_request(fsrv.port, "GET", _u("/async/file", path))
        status, body = r.status, r.body
    else:
        st = helpers.h2_get(fsrv.port, _u("/async/file", path))
        status, body = st.status, bytes(st.body)
    assert status == 200 and body == data


@pytest.mark.parametrize("mode", ["h1", "h2"])
def test_pooled_file(fsrv, files, mode):
    path, data = files["mid.bin"]
    r = curl(fsrv.url + _u("/pooled/file", path), mode)
    assert r.status == 200 and r.body == data
    assert r.headers["content-length"] == str(len(data))


def test_h2load_many_file_streams(fsrv, files):
    if not helpers.have_tool("h2load"):
        pytest.skip("h2load not installed")
    path, data = files["mid.bin"]
    p = subprocess.run(["h2load", "-n", "40", "-c", "2", "-m", "10", fsrv.url + _u("/file", path)],
                       capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, env=TOOL_ENV)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "40 succeeded" in p.stdout and "status codes: 40 2xx" in p.stdout, p.stdout
    m = re.search(r"traffic: \S+ \((\d+)\) total", p.stdout)
    assert m and int(m.group(1)) > 40 * len(data), p.stdout


# --------------------------------------------------------------------------
# ranges
# --------------------------------------------------------------------------

RANGES = [(0, 1), (0, 1000), (12345, 500_000), (1_000_003 - 7, 7), (1_000_003, 0), (0, 1_000_003)]


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("off,n", RANGES)
def test_file_range(fsrv, files, proto, off, n):
    path, data = files["mid.bin"]
    target = _u("/file", path, off=off, len=n)
    if proto == "h1":
        r = h1_request(fsrv.port, "GET", target)
        status, body, cl = r.status, r.body, r.header("content-length")
    else:
        st = helpers.h2_get(fsrv.port, target)
        status, body, cl = st.status, bytes(st.body), st.header("content-length")
    assert status == 200 and cl == str(n)
    assert body == data[off:off + n]


@pytest.mark.parametrize("mode", ["h1", "h2"])
def test_partial_content_206(fsrv, files, mode):
    path, data = files["big.bin"]
    off, n = 5 * 2**20 + 3, 2**20
    r = curl(fsrv.url + _u("/partial", path, off=off, len=n), mode)
    assert r.status == 206
    assert r.headers["content-range"] == f"bytes {off}-{off + n - 1}/{BIG}"
    assert r.headers["content-length"] == str(n)
    assert r.body == data[off:off + n]


@pytest.mark.parametrize("off,n", [(0, 1_000_004), (1_000_004, 0), (999_999, 10)])
def test_file_range_outside_the_file_is_500(fsrv, files, off, n):
    since = fsrv.stderr_len()
    r = h1_request(fsrv.port, "GET", _u("/file", files["mid.bin"][0], off=off, len=n))
    assert r.status == 500
    assert "file_range" in fsrv.wait_stderr(lambda t: "file_range" in t, since)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("which", ["missing", "missing_dir"])
def test_missing_file_404(fsrv, files, proto, which):
    target = _u("/file", files[which][0])
    if proto == "h1":
        r = h1_request(fsrv.port, "GET", target)
        assert r.status == 404
        assert (r.header("connection") or "") != "close"
    else:
        st = helpers.h2_get(fsrv.port, target)
        assert st.status == 404 and st.reset is None


def test_missing_file_404_curl(fsrv, files):
    for mode in ("h1", "h2"):
        assert curl(fsrv.url + _u("/file", files["missing"][0]), mode).status == 404


def test_directory_is_500(fsrv, files):
    since = fsrv.stderr_len()
    r = h1_request(fsrv.port, "GET", _u("/file", files["dir"][0]))
    assert r.status == 500
    assert "not a regular file" in fsrv.wait_stderr(lambda t: "not a regular file" in t, since)


# --------------------------------------------------------------------------
# HTTP/1.1 framing around files
# --------------------------------------------------------------------------

def test_head_file(fsrv, files):
    path, data = files["mid.bin"]
    with connect(fsrv.port) as s:
        rd = H1Reader(s)
        s.sendall(build_request("HEAD", _u("/file", path)))
        r = rd.read_response("HEAD")
        assert r.status == 200 and r.header("content-length") == str(len(data)) and r.body == b""
        s.sendall(build_request("GET", "/"))
        assert rd.read_response().body == b"Hello from /"
    st = helpers.h2_get(fsrv.port, _u("/file", path), method="HEAD")
    assert st.status == 200 and bytes(st.body) == b"" and st.header("content-length") == str(len(data))


def test_pipelined_requests_after_file(fsrv, files):
    path, data = files["mid.bin"]
    small, sdata = files["small.txt"]
    reqs = [build_request("GET", _u("/file", path)),
            build_request("GET", "/query?after-file"),
            build_request("GET", _u("/file", path, off=10, len=100)),
            build_request("HEAD", _u("/file", small)),
            build_request("GET", _u("/file", small)),
            build_request("GET", _u("/file", files["missing"][0])),
            build_request("GET", "/query?last")]
    with connect(fsrv.port) as s:
        s.sendall(b"".join(reqs))
        rd = H1Reader(s)
        r1 = rd.read_response()
        r2 = rd.read_response()
        r3 = rd.read_response()
        r4 = rd.read_response("HEAD")
        r5 = rd.read_response()
        r6 = rd.read_response()
        r7 = rd.read_response()
    assert r1.status == 200 and r1.body == data
    assert r2.json()["query"] == "after-file"
    assert r3.body == data[10:110]
    assert r4.status == 200 and r4.body == b"" and r4.header("content-length") == str(len(sdata))
    assert r5.body == sdata
    assert r6.status == 404
    assert r7.json()["query"] == "last"


@pytest.mark.parametrize("name", ["small.txt", "mid.bin"])
def test_keepalive_sequential_requests_after_file(fsrv, files, name):
    path, data = files[name]
    with connect(fsrv.port, timeout=3) as s:
        rd = H1Reader(s)
        for i in range(3):
            s.sendall(build_request("GET", _u("/file", path, off=i, len=10)))
            assert rd.read_response().body == data[i:i + 10]
        s.sendall(build_request("GET", _u("/file", path)))
        assert rd.read_response().body == data
        s.sendall(build_request("GET", "/"))
        assert rd.read_response().body == b"Hello from /"


# --------------------------------------------------------------------------
# abandoned downloads leave no descriptor behind
# --------------------------------------------------------------------------

def test_abandoned_downloads_do_not_leak_fds(fsrv, files):
    path, _ = files["big.bin"]
    # warm up both workers' buffers and interpreters
    for _ in range(4):
        h1_request(fsrv.port, "GET", "/")
    time.sleep(0.2)
    base = _fds(fsrv.pid)
    for _ in range(5):
        # HTTP/1.1: read 1 MB of 20 MB, then hang up
        with connect(fsrv.port) as s:
            s.sendall(build_request("GET", _u("/file", path)))
            n = 0
            while n < 2**20:
                n += len(s.recv(65536))
        # HTTP/2: reset the stream after 1 MB, then close
        with H2Client(fsrv.port) as c:
            sid = c.request("GET", _u("/file", path))
            c.pump(lambda: len(c.streams[sid].body) > 2**20)
            c.conn.reset_stream(sid, error_code=8)
            c.flush()
            assert c.response(c.request("GET", "/")).status == 200
        # HEAD and 404s open nothing that stays open
        h1_request(fsrv.port, "HEAD", _u("/file", path))
        h1_request(fsrv.port, "GET", _u("/file", files["missing"][0]))
    deadline = time.monotonic() + 5
    while _fds(fsrv.pid) > base and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _fds(fsrv.pid) <= base, sorted(os.readlink(f"/proc/{fsrv.pid}/fd/{f}")
                                          for f in os.listdir(f"/proc/{fsrv.pid}/fd"))
