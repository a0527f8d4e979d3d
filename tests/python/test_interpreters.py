"""Where handlers run: interpreters='sub' (own-GIL sub-interpreters, the
default), 'main' (every thread shares the main interpreter) and 'auto'
(sub, falling back to main when a handler's module imports an extension
that cannot load in a sub-interpreter)."""
import importlib.util
import json

import pytest

import helpers

APP = "interp_modes.py"


def _unloadable_module():
    """An installed extension that refuses own-GIL sub-interpreters."""
    for name in ("readline", "_testsinglephase", "pydantic_core._pydantic_core"):
        try:
            if importlib.util.find_spec(name) is not None:
                return name
        except ImportError:
            continue
    return None


UNLOADABLE = _unloadable_module()
needs_unloadable = pytest.mark.skipif(UNLOADABLE is None,
                                      reason="no single-phase-init extension installed to refuse sub-interpreters")


def _where(srv, path="/where", http2=False):
    if http2:  # curl over h2c (prior knowledge)
        r = helpers.curl(srv.url + path, mode="h2")
        assert r.http_version == "2", r.all_head
    else:
        r = helpers.h1_request(srv.port, "GET", path)
    assert r.status == 200, (r.status, r.body[:300])
    return json.loads(r.body)


@pytest.mark.parametrize("path", ["/where", "/where/async", "/where/pooled"])
def test_main_mode_runs_every_handler_in_the_main_interpreter(start_server, path):
    srv = start_server(APP, interpreters="main")
    assert "FA-TEST-MODE main" in srv.stderr()
    seen = [_where(srv, path, http2=i % 2 == 1) for i in range(6)]
    assert {w["interp"] for w in seen} == {0}
    # the handlers are the main script's own functions, not a re-import
    assert {w["module"] for w in seen} == {"__main__"}
    # the startup hook ran once (on the first worker), in the same interpreter
    assert {w["starts"] for w in seen} == {1}
    assert srv.stderr().count("FA-TEST-STARTUP interp=0") == 1
    assert "Handlers run in the main interpreter" in srv.wait_stderr(lambda t: "main interpreter (one" in t)


def test_main_mode_uses_every_worker_thread(start_server):
    srv = start_server(APP, interpreters="main", num_pinned_workers=2)
    threads = set()
    for _ in range(40):
        threads.add(_where(srv)["thread"])
        if len(threads) == 2:
            break
    assert len(threads) == 2, "two pinned workers should both serve from the main interpreter"


def test_main_mode_shutdown_hook_runs_once(start_server):
    srv = start_server(APP, interpreters="main")
    _where(srv)
    assert srv.stop() == 0
    assert srv.stderr().count("FA-TEST-SHUTDOWN interp=0") == 1


def test_sub_mode_is_the_default(start_server):
    srv = start_server(APP)
    assert "FA-TEST-MODE sub" in srv.stderr()
    w = _where(srv)
    assert w["interp"] != 0 and w["module"] != "__main__"
    assert w["starts"] == 1  # each worker interpreter ran the hook in its own copy of the module


@needs_unloadable
def test_auto_falls_back_to_main_and_names_the_module(start_server):
    srv = start_server(APP, interpreters="auto", unloadable=UNLOADABLE)
    assert "FA-TEST-MODE auto" in srv.stderr()
    r = helpers.h1_request(srv.port, "GET", "/unloadable")
    assert r.status == 200 and r.body == f"loaded {UNLOADABLE}".encode()
    assert _where(srv)["interp"] == 0
    err = srv.stderr()
    assert f"module {UNLOADABLE} does not support loading in subinterpreters" in err
    assert "serving from the main interpreter instead" in err


@needs_unloadable
def test_sub_mode_refuses_with_the_module_name(tmp_path):
    p = helpers.run_native(helpers.APPS / APP, '{"interpreters": "sub", "unloadable": "%s", "port": %d, '
                           '"host": "127.0.0.1"}' % (UNLOADABLE, helpers.free_port()), timeout=60)
    assert p.returncode != 0
    assert "the server could not start" in p.stderr
    assert f"module {UNLOADABLE} does not support loading in subinterpreters" in p.stderr


def test_bad_interpreters_value_says_what_to_pass():
    p = helpers.run_native("from fasterapi._native.http2 import PyHttp2Server\n"
                           "PyHttp2Server(interpreters='threads')")
    assert p.returncode != 0
    assert "ValueError: interpreters must be 'sub'" in p.stderr and "'threads'" in p.stderr


@pytest.mark.parametrize("path", ["/client", "/client/pooled"])
@pytest.mark.parametrize("interpreters", ["sub", "main"])
def test_request_carries_the_client_address_and_scheme(start_server, path, interpreters):
    srv = start_server(APP, interpreters=interpreters)
    # HTTP/1.1 on a socket whose local port we know
    s = helpers.connect(srv.port)
    try:
        s.sendall(helpers.build_request("GET", path))
        r = helpers.H1Reader(s).read_response()
        assert r.status == 200
        assert r.json() == {"client": ["127.0.0.1", s.getsockname()[1]], "scheme": "http"}
    finally:
        s.close()
    # HTTP/2 (prior knowledge)
    with helpers.H2Client(srv.port) as c:
        r = c.response(c.request("GET", path))
        assert r.status == 200
        assert json.loads(r.body) == {"client": ["127.0.0.1", c.sock.getsockname()[1]], "scheme": "http"}
