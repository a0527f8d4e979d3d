"""HTTPS: TLS with ALPN (h2, http/1.1) in the native server.

Certificates are made here with Debian's `openssl` command: a throwaway CA,
a server certificate for localhost/127.0.0.1 and a client certificate,
all signed by it, in a temporary directory.  Clients: curl, httpx, h2load,
Python's ssl and h2, raw sockets for the bad inputs.
"""
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

import helpers
from helpers import ServerProcess

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

MB8 = 8 << 20


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _write_ext(path, kind):
    lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
             "authorityKeyIdentifier=keyid", "subjectKeyIdentifier=hash"]
    if kind == "server":
        lines += ["subjectAltName=DNS:localhost,IP:127.0.0.1", "extendedKeyUsage=serverAuth"]
    else:
        lines += ["extendedKeyUsage=clientAuth"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def make_pki(d, cn="localhost"):
    """CA, server and client certificates (ECDSA P-256: quick handshakes)."""
    d = str(d)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    # the extensions a strict verifier (Python 3.13's VERIFY_X509_STRICT) wants
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=FasterAPI test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, subj in (("server", f"/CN={cn}"), ("client", "/O=Test Clients/CN=alice")):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj, cwd=d)
        _write_ext(os.path.join(d, f"{name}.ext"), name)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return {k: os.path.join(d, v) for k, v in dict(
        ca="ca.pem", cert="server.pem", key="server.key", client_cert="client.pem",
        client_key="client.key").items()}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_config(pki, **extra):
    cfg = dict(ssl_certfile=pki["cert"], ssl_keyfile=pki["key"], num_pinned_workers=1)
    cfg.update(extra)
    return cfg


@pytest.fixture(scope="module")
def srv(pki, tmp_path_factory):
    yield from helpers.module_server("tls_app.py", tmp_path_factory, "tls",
                                     env_extra={"FASTERAPI_LOG_LEVEL": "debug"},
                                     **tls_config(pki, header_timeout=2.0))


def client_ctx(pki, alpn=("h2", "http/1.1"), cert=False):
    ctx = ssl.create_default_context(cafile=pki["ca"])
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if cert:
        ctx.load_cert_chain(pki["client_cert"], pki["client_key"])
    return ctx


def tls_connect(port, ctx, timeout=10.0):
    raw = helpers.connect(port, timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def curl_tls(pki, url, mode, **kw):
    """curl over https: mode "h2" is `--http2` (ALPN h2), "h1" `--http1.1`."""
    extra = ["--cacert", pki["ca"], *kw.pop("extra", ())]
    return helpers.curl(url, mode={"h2": "h2c", "h1": "h1"}[mode], extra=extra, **kw)


# --------------------------------------------------------------------------
# real clients, both protocols


@pytest.mark.parametrize("mode,version", [("h2", "2"), ("h1", "1.1")])
def test_curl_https(srv, pki, mode, version):
    r = curl_tls(pki, srv.url + "/info", mode)
    assert r.status == 200 and r.http_version == version
    info = json.loads(r.body)
    assert info["scheme"] == "https"
    assert info["tls"]["alpn"] == ("h2" if mode == "h2" else "http/1.1")
    assert info["tls"]["version"].startswith("TLSv1.")
    assert info["tls"]["client_subject"] is None


def test_no_alpn_is_http11(srv, pki):
    with tls_connect(srv.port, client_ctx(pki, alpn=None)) as s:
        assert s.selected_alpn_protocol() is None
        s.sendall(helpers.build_request("GET", "/info"))
        resp = helpers.H1Reader(s).read_response()
    assert resp.status == 200 and json.loads(resp.body)["tls"]["alpn"] is None


@pytest.mark.parametrize("count,record", [(200, 1), (60, 60)])
def test_pipelined_requests_over_tls(srv, pki, count, record):
    """Requests pipelined over HTTP/1.1: the server reads ahead (one read(2)
    takes many records) and stops reading while a request is in flight, so
    later requests wait, already read, inside OpenSSL, where the poller
    cannot see them.  Every one must still be answered, in order: with one
    request per TLS record (count records in one burst) and with all of
    them in one record."""
    reqs = [helpers.build_request("POST", "/info", body=str(i).encode()) for i in range(count)]
    with tls_connect(srv.port, client_ctx(pki, alpn=("http/1.1",))) as s:
        for k in range(0, count, record):
            s.sendall(b"".join(reqs[k:k + record]))  # each sendall: one TLS record
        reader = helpers.H1Reader(s)
        lens = [json.loads(reader.read_response().body)["body_len"] for _ in range(count)]
    assert lens == [len(str(i)) for i in range(count)]


def test_h2c_upgrade_is_ignored_over_tls(srv, pki):
    """RFC 9113 section 3.2: h2c is for cleartext; over TLS ALPN decides."""
    with tls_connect(srv.port, client_ctx(pki, alpn=("http/1.1",))) as s:
        s.sendall(helpers.build_request("GET", "/info", headers={
            "Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAAQAAP__"}))
        resp = helpers.H1Reader(s).read_response()
    assert resp.status == 200


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_httpx_http2_every_method(srv, pki, method):
    import httpx
    with httpx.Client(http2=True, verify=client_ctx(pki)) as c:
        r = c.request(method, srv.url + "/info", content=b"x" * 100 if method in ("POST", "PUT", "PATCH") else None)
    assert r.status_code == 200 and r.http_version == "HTTP/2"
    if method != "HEAD":
        assert r.json()["method"] == method and r.json()["scheme"] == "https"


@pytest.mark.parametrize("http2", [True, False])
def test_8mb_bodies_each_way(srv, pki, http2):
    import httpx
    body = helpers.random_body(MB8, seed=7)
    with httpx.Client(http2=http2, verify=client_ctx(pki), timeout=60) as c:
        up = c.post(srv.url + "/echo", content=body)
        down = c.get(srv.url + f"/download?{MB8}")
    assert up.status_code == 200 and up.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert hashlib.sha256(up.content).digest() == hashlib.sha256(body).digest()
    assert down.status_code == 200 and len(down.content) == MB8
    block = bytes(range(256)) * 64
    assert down.content == (block * (MB8 // len(block) + 1))[:MB8]


@pytest.mark.parametrize("mode", ["h2", "h1"])
def test_streamed_answer(srv, pki, mode):
    r = curl_tls(pki, srv.url + "/stream?64", mode)
    assert r.status == 200
    assert r.body == b"".join(i.to_bytes(4, "big") * 4096 for i in range(64))


@pytest.mark.parametrize("mode", ["h2", "h1"])
def test_file_answer(srv, pki, mode, tmp_path):
    data = helpers.random_body(3 << 20, seed=3)
    p = tmp_path / "blob.bin"
    p.write_bytes(data)
    r = curl_tls(pki, srv.url + "/file?" + str(p), mode)
    assert r.status == 200 and r.body == data
    # the way files went over TLS is reported (kTLS sendfile or read + encrypt)
    if mode == "h1":
        err = srv.wait_stderr(lambda t: "files over TLS go by" in t, timeout=5)
        assert "files over TLS go by" in err


def test_pooled_route_sees_tls(srv, pki):
    r = curl_tls(pki, srv.url + "/pooled/info", "h2")
    assert r.status == 200 and json.loads(r.body)["scheme"] == "https"


def test_h2load_https(srv):
    if not helpers.have_tool("h2load"):
        pytest.skip("h2load missing")
    p = subprocess.run(["h2load", "-n", "2000", "-c", "20", "-m", "10", srv.url + "/info"],
                       capture_output=True, text=True, timeout=120, env=helpers.plain_env())
    assert "2000 succeeded" in p.stdout, p.stdout + p.stderr
    assert "TLS Protocol: TLSv1.3" in p.stdout and "h2" in p.stdout


def test_session_resumption(srv, pki):
    ctx = client_ctx(pki, alpn=("http/1.1",))
    with tls_connect(srv.port, ctx) as s:
        s.sendall(helpers.build_request("GET", "/info"))
        helpers.H1Reader(s).read_response()  # the TLS 1.3 ticket comes after the handshake
        session = s.session
    assert session is not None
    raw = helpers.connect(srv.port)
    with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s2:
        s2.sendall(helpers.build_request("GET", "/info"))
        assert helpers.H1Reader(s2).read_response().status == 200
        assert s2.session_reused


# --------------------------------------------------------------------------
# bad input: each closed cleanly, logged once at debug level, server goes on


def _assert_serving_tls(srv, pki):
    with tls_connect(srv.port, client_ctx(pki, alpn=("http/1.1",))) as s:
        s.sendall(helpers.build_request("GET", "/info"))
        assert helpers.H1Reader(s).read_response().status == 200


def _bad_client(srv, pki, send, wait=5.0):
    before = srv.stderr_len()
    with helpers.connect(srv.port) as s:
        send(s)
        closed, data = helpers.wait_closed(s, wait)
    assert closed, "the server did not close the connection"
    log = srv.wait_stderr(lambda t: "TLS handshake with" in t, since=before, timeout=5)
    assert log.count("TLS handshake with") == 1, log
    _assert_serving_tls(srv, pki)
    return data


def test_plaintext_http_to_tls_port(srv, pki):
    data = _bad_client(srv, pki, lambda s: s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert not data.startswith(b"HTTP/")  # never answered in cleartext


def test_garbage_client_hello(srv, pki):
    # a TLS record header for a handshake, then nonsense
    _bad_client(srv, pki, lambda s: s.sendall(b"\x16\x03\x01\x00\x40" + os.urandom(64)))


def test_client_closes_mid_handshake(srv, pki):
    before = srv.stderr_len()
    ctx = client_ctx(pki)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = out.read()
    with helpers.connect(srv.port) as s:
        s.sendall(hello[: len(hello) // 2])  # half a ClientHello, then leave
    log = srv.wait_stderr(lambda t: "TLS handshake with" in t, since=before, timeout=5)
    assert log.count("TLS handshake with") == 1, log
    _assert_serving_tls(srv, pki)


def test_stalled_handshake_times_out(srv, pki):
    """A client that connects and never finishes the handshake is closed on
    the head deadline (header_timeout=2 s here): slowloris on TLS."""
    with helpers.connect(srv.port) as s:
        s.sendall(b"\x16\x03\x01")  # the first bytes of a record, then silence
        t0 = time.monotonic()
        closed, _ = helpers.wait_closed(s, 10)
        assert closed and time.monotonic() - t0 < 9
    _assert_serving_tls(srv, pki)


def test_tls10_client_refused(srv, pki):
    before = srv.stderr_len()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this Python's OpenSSL cannot even offer TLS 1.0")
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        with tls_connect(srv.port, ctx) as s:
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
            s.recv(10)
    log = srv.wait_stderr(lambda t: "TLS handshake with" in t, since=before, timeout=5)
    assert log.count("TLS handshake with") == 1, log
    _assert_serving_tls(srv, pki)


# The HTTP/1.1 and HTTP/2 bad-input cases, over TLS.

def test_http1_bad_input_over_tls(srv, pki):
    from test_bad_input import MALFORMED_400
    ctx = client_ctx(pki, alpn=("http/1.1",))
    for name, raw in sorted(MALFORMED_400.items()):
        with tls_connect(srv.port, ctx) as s:
            s.sendall(raw.encode("latin-1"))
            r = helpers.H1Reader(s)
            resp = r.read_response()
            assert resp.status == 400, name
            try:
                rest = r.read_to_eof()
            except ssl.SSLError as exc:  # a close without close_notify would land here
                raise AssertionError(f"{name}: {exc}") from None
            assert rest == b"", name
    _assert_serving_tls(srv, pki)


def test_http2_bad_input_over_tls(srv, pki):
    with helpers.H2Client(srv.port, tls_context=client_ctx(pki, alpn=("h2",))) as c:
        assert c.sock.selected_alpn_protocol() == "h2"
        c.handshake()
        # DATA on stream 0: a connection error of type PROTOCOL_ERROR (RFC 9113 6.1)
        c.sock.sendall(b"\x00\x00\x04\x00\x00\x00\x00\x00\x00abcd")
        c.read_until_closed(5)
        assert c.goaway is not None and c.goaway.error_code == 1
    with helpers.H2Client(srv.port, tls_context=client_ctx(pki, alpn=("h2",))) as c:
        c.handshake()
        sid = c.request("GET", "/info")
        assert c.response(sid, timeout=5).status == 200


# --------------------------------------------------------------------------
# mTLS


@pytest.fixture(scope="module")
def mtls(pki, tmp_path_factory):
    yield from helpers.module_server("tls_app.py", tmp_path_factory, "mtls",
                                     probe_cert=(pki["client_cert"], pki["client_key"]),
                                     **tls_config(pki, ssl_ca_certs=pki["ca"], ssl_cert_reqs="required"))


def test_mtls_required_refuses_client_without_certificate(mtls, pki):
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        with tls_connect(mtls.port, client_ctx(pki, alpn=("http/1.1",))) as s:
            # TLS 1.3: the refusal arrives after the client's handshake ends
            s.sendall(helpers.build_request("GET", "/info"))
            if not s.recv(100):
                raise ConnectionResetError("closed")


def test_mtls_required_accepts_good_certificate(mtls, pki):
    r = curl_tls(pki, mtls.url + "/info", "h2",
                 extra=["--cert", pki["client_cert"], "--key", pki["client_key"]])
    assert r.status == 200
    tls = json.loads(r.body)["tls"]
    assert tls["client_subject"] == "CN=alice,O=Test Clients"


def test_mtls_subject_reaches_pooled_handler(mtls, pki):
    r = curl_tls(pki, mtls.url + "/pooled/info", "h1",
                 extra=["--cert", pki["client_cert"], "--key", pki["client_key"]])
    assert json.loads(r.body)["tls"]["client_subject"] == "CN=alice,O=Test Clients"


# --------------------------------------------------------------------------
# configuration errors name the file


def _construct(**kw):
    code = ("import json, sys\nfrom fasterapi._native.http2 import PyHttp2Server\n"
            "try:\n    PyHttp2Server(**json.loads(sys.argv[1]))\n"
            "except Exception as e:\n    print(type(e).__name__, e)\nelse:\n    print('OK')\n")
    p = helpers.run_native(code, json.dumps(kw), timeout=60)
    return p.stdout.strip()


def test_missing_certificate_file(pki, tmp_path):
    missing = str(tmp_path / "nope.pem")
    out = _construct(ssl_certfile=missing, ssl_keyfile=pki["key"])
    assert out.startswith("FileNotFoundError") and missing in out


def test_wrong_key_password(pki, tmp_path):
    enc = tmp_path / "enc.key"
    _openssl("pkey", "-in", pki["key"], "-aes256", "-passout", "pass:right", "-out", str(enc), cwd=tmp_path)
    out = _construct(ssl_certfile=pki["cert"], ssl_keyfile=str(enc), ssl_keyfile_password="wrong")
    assert out.startswith("ValueError") and str(enc) in out and "password" in out
    out = _construct(ssl_certfile=pki["cert"], ssl_keyfile=str(enc))
    assert out.startswith("ValueError") and "ssl_keyfile_password" in out
    assert _construct(ssl_certfile=pki["cert"], ssl_keyfile=str(enc), ssl_keyfile_password="right") == "OK"


def test_key_not_matching_certificate(pki):
    out = _construct(ssl_certfile=pki["cert"], ssl_keyfile=pki["client_key"])
    assert out.startswith("ValueError") and "does not match" in out


def test_bad_settings(pki):
    assert "ssl_cert_reqs" in _construct(ssl_certfile=pki["cert"], ssl_keyfile=pki["key"], ssl_cert_reqs="maybe")
    assert "needs ssl_ca_certs" in _construct(ssl_certfile=pki["cert"], ssl_keyfile=pki["key"],
                                              ssl_cert_reqs="required")
    assert "ssl_min_version" in _construct(ssl_certfile=pki["cert"], ssl_keyfile=pki["key"], ssl_min_version="TLSv1")
    assert "ssl_certfile" in _construct(ssl_keyfile=pki["key"])
    assert "ssl_ciphers" in _construct(ssl_certfile=pki["cert"], ssl_keyfile=pki["key"], ssl_ciphers="NOPE-NOTHING")


# --------------------------------------------------------------------------
# startup log, reload, graceful stop, many connections


def test_startup_log_says_tls(srv):
    err = srv.stderr()
    assert "Listening on https://127.0.0.1:" in err
    assert "ALPN h2, http/1.1" in err and "CN=localhost" in err and "expires" in err


def test_sighup_reloads_certificates_without_dropping(pki, tmp_path):
    d = tmp_path / "live"
    d.mkdir()
    shutil.copy(pki["cert"], d / "cert.pem")
    shutil.copy(pki["key"], d / "key.pem")
    s = ServerProcess("tls_app.py", workdir=tmp_path / "srv",
                      **tls_config(pki, ssl_certfile=str(d / "cert.pem"), ssl_keyfile=str(d / "key.pem")))
    try:
        ctx = client_ctx(pki, alpn=("http/1.1",))
        old = tls_connect(s.port, ctx)
        old.sendall(helpers.build_request("GET", "/info"))
        reader = helpers.H1Reader(old)
        assert reader.read_response().status == 200
        # a renewed certificate (another CN, same CA) replaces the files
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", str(d / "key.pem.new"), "-out", str(d / "new.csr"), "-subj", "/CN=renewed", cwd=d)
        _write_ext(str(d / "server.ext"), "server")
        _openssl("x509", "-req", "-in", "new.csr", "-CA", pki["ca"], "-CAkey", pki["ca"].replace(".pem", ".key"),
                 "-CAcreateserial", "-out", "cert.pem.new", "-days", "2", "-extfile", "server.ext", cwd=d)
        os.replace(d / "cert.pem.new", d / "cert.pem")
        os.replace(d / "key.pem.new", d / "key.pem")
        before = s.stderr_len()
        s.send_signal(signal.SIGHUP)
        log = s.wait_stderr(lambda t: "Certificates reloaded" in t, since=before, timeout=10)
        assert "CN=renewed" in log, log
        # the open connection goes on with its old session
        old.sendall(helpers.build_request("GET", "/info"))
        assert reader.read_response().status == 200
        old.close()
        # a new one gets the renewed certificate
        with tls_connect(s.port, ctx) as new:
            subject = dict(x[0] for x in new.getpeercert()["subject"])
            assert subject["commonName"] == "renewed"
        # a broken file is reported and the running certificate stays
        (d / "cert.pem").write_text("not a certificate\n")
        before = s.stderr_len()
        s.send_signal(signal.SIGHUP)
        log = s.wait_stderr(lambda t: "not reloaded" in t, since=before, timeout=10)
        assert str(d / "cert.pem") in log
        _assert_serving_tls(s, pki)
        s.check_clean_exit()
    finally:
        s.kill()


def test_graceful_stop_sends_close_notify(pki, tmp_path):
    s = ServerProcess("tls_app.py", workdir=tmp_path, **tls_config(pki))
    try:
        conns = []
        for alpn in (("http/1.1",), ("h2",)):
            c = tls_connect(s.port, client_ctx(pki, alpn=alpn))
            conns.append(c)
        c = conns[0]
        c.sendall(helpers.build_request("GET", "/info"))
        reader = helpers.H1Reader(c)
        assert reader.read_response().status == 200
        s.send_signal(signal.SIGINT)
        # a close_notify makes recv return b"" cleanly; a bare TCP close
        # would raise SSLEOFError
        c.settimeout(10)
        assert reader.read_to_eof() == b""
        h2sock = conns[1]
        h2sock.settimeout(10)
        data = b""
        while True:
            chunk = h2sock.recv(65536)
            if not chunk:
                break
            data += chunk
        assert b"\x07" in data  # a GOAWAY frame type came before the close
        assert s.wait(30) == 0
        for c in conns:
            c.close()
    finally:
        s.kill()


def _concurrent(pki, tmp_path, n):
    import resource
    # the client sockets live here, the server's in its own process: each
    # side needs n descriptors and some spare (the server inherits ours)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < n + 200:
        pytest.skip(f"hard RLIMIT_NOFILE {hard} is too low for {n} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    s = ServerProcess("tls_app.py", workdir=tmp_path, **tls_config(pki, keepalive_timeout=60.0,
                                                                      header_timeout=60.0))
    try:
        socks = []
        ctx = client_ctx(pki, alpn=("http/1.1",))
        for i in range(n):
            socks.append(tls_connect(s.port, ctx, timeout=30))
        # every one of them is still served
        for i, c in enumerate(socks):
            c.sendall(helpers.build_request("GET", "/info"))
        for c in socks:
            assert helpers.H1Reader(c).read_response().status == 200
        rss = helpers.proc_status_kb(s.pid, "VmRSS")
        for c in socks:
            c.close()
        s.check_clean_exit()
        return rss
    finally:
        s.kill()


def test_many_concurrent_tls_connections(pki, tmp_path):
    _concurrent(pki, tmp_path, 500)


@pytest.mark.slow
def test_10000_concurrent_tls_connections(pki, tmp_path):
    _concurrent(pki, tmp_path, 10000)
