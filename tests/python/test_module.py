"""The extension module itself: own-GIL sub-interpreter support, its type,
the constructor's keywords, add_route's checks, and the seed example."""
import json
import socket

import pytest

import helpers
from helpers import APPS, ROOT, curl

SUBINTERP_IMPORT = r'''
import sys
# CPython 3.12/3.13.0 crash (free(): invalid pointer) when two isolated
# interpreters that imported _datetime are destroyed and the main
# interpreter never imported it (python/cpython#136423).  The fasterapi
# package imports datetime, and a server's main script always imports the
# package first, so do the same here.
import datetime
CODE = """
import fasterapi._native.http2 as m
assert hasattr(m, "PyHttp2Server"), dir(m)
s = m.PyHttp2Server(port=1, num_pinned_workers=1)
assert s.is_running() is False
"""
failures = []
try:
    import _interpreters as I  # 3.13
    for round_ in range(3):
        ids = [I.create("isolated") for _ in range(3)]
        for iid in ids:
            cfg = I.get_config(iid)
            assert cfg.gil == "own" and cfg.check_multi_interp_extensions and not cfg.use_main_obmalloc, cfg
            err = I.exec(iid, CODE)
            if err is not None:
                failures.append(repr(err))
        for iid in ids:
            I.destroy(iid)
except ImportError:  # 3.12
    import _xxsubinterpreters as I
    for round_ in range(3):
        iid = I.create(isolated=True)
        try:
            I.run_string(iid, CODE)
        except Exception as e:
            failures.append(repr(e))
        I.destroy(iid)
import fasterapi._native.http2 as m  # and in the main interpreter afterwards
assert m.PyHttp2Server
if failures:
    print("FAILED:", failures[0])
    sys.exit(1)
print("OK")
'''


def test_imports_in_own_gil_subinterpreter():
    p = helpers.run_native(SUBINTERP_IMPORT)
    assert p.returncode == 0 and p.stdout.strip().endswith("OK"), p.stdout + p.stderr


def test_type_is_a_heap_type_and_module_is_multiphase():
    p = helpers.run_native(r'''
import fasterapi._native.http2 as m
T = m.PyHttp2Server
assert T.__flags__ & (1 << 9), "PyHttp2Server is not a heap type"   # Py_TPFLAGS_HEAPTYPE
assert T.__module__.startswith("fasterapi"), T.__module__
assert m.__spec__ is not None and m.__spec__.name == "fasterapi._native.http2"
print("OK")
''')
    assert p.returncode == 0 and "OK" in p.stdout, p.stderr


def test_constructor_keywords():
    p = helpers.run_native(r'''
from fasterapi._native.http2 import PyHttp2Server
s = PyHttp2Server(port=8123, host="127.0.0.1", num_pinned_workers=2, num_pooled_workers=2,
                  num_pooled_interpreters=1, max_header_size=16384, max_headers=100,
                  max_target_size=8192, max_body_size=16 * 1024 * 1024, max_concurrent_streams=100,
                  header_timeout=10.0, body_timeout=30.0, keepalive_timeout=5.0, graceful_timeout=10.0)
assert s.is_running() is False
PyHttp2Server()                     # every keyword has a default
PyHttp2Server(port=8124)
try:
    PyHttp2Server(port=8125, no_such_keyword=1)
except TypeError:
    pass
else:
    raise SystemExit("unknown keyword accepted")
print("OK")
''')
    assert p.returncode == 0 and "OK" in p.stdout, p.stdout + p.stderr


def test_add_route_refuses_unimportable_handlers():
    p = helpers.run_native(APPS / "refuse.py", json.dumps({"port": helpers.free_port()}))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["module_level"] == "ok"
    assert out["module_level_pooled"] == "ok"
    for kind in ("lambda", "closure", "bound_method"):
        msg = out[kind]
        assert msg.startswith("TypeError: "), f"{kind}: {msg}"
        assert len(msg) > len("TypeError: ") + 15, f"{kind}: the error must say why: {msg!r}"
    assert out["not_callable"].startswith("TypeError"), out["not_callable"]


def test_add_route_refuses_nested_function():
    """A nested function without free variables still cannot be imported by
    another interpreter."""
    p = helpers.run_native(APPS / "refuse.py", json.dumps({"port": helpers.free_port()}))
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["nested"].startswith("TypeError"), out["nested"]


def _port_free(port):
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_seed_example_hello_py(start_server):
    """examples/hello.py exactly as the README shows it, on port 8080."""
    if not _port_free(8080):
        pytest.skip("port 8080 is in use")
    srv = start_server(str(ROOT / "examples" / "hello.py"), port=8080)
    for mode, version in (("h2", "2"), ("h1", "1.1"), ("h2c", "2")):
        for path in ("/", "/test"):
            r = curl(f"http://localhost:8080{path}", mode)
            assert (r.status, r.http_version, r.body) == (200, version, f"Hello from {path}".encode())
    log = srv.stderr()
    assert "GET:/ (ID: 0)" in log and "GET:/test (ID: 1)" in log, log
    assert "8080" in log and "epoll" in log
    assert srv.stop() == 0
