"""What differs between the supported CPython versions (see ARCHITECTURE.md,
"CPython pitfalls"), checked on whichever version runs the suite.

scripts/test.sh runs this suite on 3.13 and again on 3.12; on 3.12.0-3.12.3
it sets PYTHONMALLOC=malloc for that pass, which the server requires there
for sub-interpreters (CPython gh-119213).  The tests that need it unset take
it out of their child's environment.
"""
import subprocess
import sys
import time

import pytest

import helpers

# CPython gh-119213: keyword tuples cached process-wide, allocated by a
# sub-interpreter, freed by the main interpreter at exit (fixed in 3.12.4)
AFFECTED = (3, 12, 0) <= sys.version_info[:3] < (3, 12, 4)
needs_affected = pytest.mark.skipif(not AFFECTED, reason="only CPython 3.12.0-3.12.3 has gh-119213")

# Starts a sub-interpreter server twice in one process (thread states of an
# interpreter are made, deleted and made again), serves a request over each
# start, calls a C function with keywords inside the sub-interpreters (what
# aborts 3.12.0-3.12.3 at exit without PYTHONMALLOC=malloc), and exits.
SERVE_TWICE = r"""
import json, socket, sys
from fasterapi._native.http2 import PyHttp2Server

def handler(req, res):
    import asyncio
    loop = asyncio.new_event_loop()
    fut = loop.create_future()
    fut.add_done_callback(lambda f: None, context=None)  # a keyword call into _asyncio
    loop.close()
    res['body'] = 'ok'

if __name__ == '__main__':
    mode = sys.argv[1]
    for _ in range(2):
        server = PyHttp2Server(port=0, host='127.0.0.1', num_pinned_workers=2, num_pooled_workers=1,
                               num_pooled_interpreters=1, interpreters=mode)
        server.add_route('GET', '/', handler)
        server.add_route('GET', '/pooled', handler, pooled=True)
        server.start(blocking=False)
        for path in ('/', '/pooled'):
            s = socket.create_connection(('127.0.0.1', server.port))
            s.sendall(f'GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode())
            data = b''
            while chunk := s.recv(65536):
                data += chunk
            s.close()
            assert data.startswith(b'HTTP/1.1 200') and data.endswith(b'ok'), data
        print('INTERPRETERS', server.interpreters, flush=True)
        server.stop()
    print('DONE', flush=True)
"""


def _run(tmp_path, mode, malloc):
    script = tmp_path / "serve_twice.py"
    script.write_text(SERVE_TWICE)
    env = helpers.native_env()
    env.pop("PYTHONMALLOC", None)
    if malloc:
        env["PYTHONMALLOC"] = malloc
    return subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                          timeout=90, env=env, cwd=str(tmp_path), stdin=subprocess.DEVNULL)


def test_sub_interpreters_start_twice_serve_and_exit_cleanly(tmp_path):
    # On 3.12 this aborted at the first start ("init_threadstate: thread state
    # already initialized") until an interpreter kept its creation thread state.
    p = _run(tmp_path, "sub", "malloc" if AFFECTED else None)
    helpers.assert_no_sanitizer_reports(p.stderr)
    assert p.returncode == 0, p.stderr[-4000:]
    assert p.stdout.count("INTERPRETERS sub") == 2 and "DONE" in p.stdout


@needs_affected
def test_affected_312_refuses_sub_interpreters_without_libc_malloc(tmp_path):
    p = _run(tmp_path, "sub", None)
    assert p.returncode != 0
    assert "the server could not start" in p.stderr
    assert "gh-119213" in p.stderr and "3.12.4" in p.stderr and "PYTHONMALLOC=malloc" in p.stderr
    assert "DONE" not in p.stdout


@needs_affected
def test_affected_312_auto_falls_back_to_the_main_interpreter(tmp_path):
    p = _run(tmp_path, "auto", None)
    assert p.returncode == 0, p.stderr[-4000:]
    assert p.stdout.count("INTERPRETERS main") == 2
    assert "gh-119213" in p.stderr and "serving from the main interpreter instead" in p.stderr


@needs_affected
def test_affected_312_cli_restarts_itself_with_libc_malloc(tmp_path):
    (tmp_path / "tinyapp.py").write_text("from fasterapi import FastAPI\napp = FastAPI()\n\n"
                                         "@app.get('/')\ndef root():\n    return {'ok': True}\n")
    env = helpers.native_env()
    env.pop("PYTHONMALLOC", None)
    port = helpers.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "fasterapi", "tinyapp:app", "--port", str(port),
                             "--workers", "1", "--interpreters", "sub"], cwd=str(tmp_path), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        answer = None
        deadline = time.monotonic() + 30
        while answer is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                s = helpers.connect(port)
            except OSError:
                time.sleep(0.1)
                continue
            s.sendall(helpers.build_request("GET", "/"))
            r = helpers.H1Reader(s).read_response()
            s.close()
            answer = (r.status, r.json())
        assert answer == (200, {"ok": True})
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-4000:]
    assert "restarting with it" in err
    assert "Pinned sub-interpreters: 1 (own GIL)" in err
