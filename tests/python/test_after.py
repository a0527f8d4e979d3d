"""res['after']: a callable run once the answer was handed to the
connection (after the last chunk for a streamed body), on the thread and
interpreter that ran the handler; a coroutine it returns runs as a Task."""
import pytest

import helpers

APP = "after_app.py"


@pytest.fixture(scope="module")
def after_server(tmp_path_factory):
    yield from helpers.module_server(APP, tmp_path_factory, "after")


def _wait_line(srv, since, needle, timeout=15.0):
    text = srv.wait_stderr(lambda t: needle in t, since=since, timeout=timeout)
    assert needle in text, f"no {needle!r} on stderr:\n{text[-3000:]}"
    return text


@pytest.mark.parametrize("mode", ["h1", "h2"])
@pytest.mark.parametrize("path", ["/ordered", "/ordered/async", "/pooled/ordered"])
def test_after_runs_once_the_client_has_the_answer(after_server, tmp_path, mode, path):
    flag = tmp_path / f"flag-{mode}-{path.strip('/').replace('/', '-')}"
    since = after_server.stderr_len()
    r = helpers.curl(f"{after_server.url}{path}?flag={flag}", mode=mode, timeout=30)
    assert r.status == 200 and r.body == b"answered"
    flag.write_bytes(b"")  # only now: the client holds the whole answer
    text = _wait_line(after_server, since, f"FA-AFTER ordered {path} ")
    assert f"FA-AFTER ordered {path} saw-client-flag=True" in text


@pytest.mark.parametrize("path", ["/coroutine", "/pooled/coroutine"])
def test_coroutine_after_runs_on_a_loop(after_server, path):
    since = after_server.stderr_len()
    r = helpers.h1_request(after_server.port, "GET", path)
    assert r.status == 200 and r.body == b"ok"
    _wait_line(after_server, since, f"FA-AFTER coroutine {path} loop-running=True")


@pytest.mark.parametrize("mode", ["h1", "h2"])
@pytest.mark.parametrize("path", ["/stream", "/pooled/stream"])
def test_streamed_answer_runs_after_at_its_end(after_server, mode, path):
    since = after_server.stderr_len()
    r = helpers.curl(after_server.url + path, mode=mode)
    assert r.status == 200 and r.body == b"".join(f"chunk{i}\n".encode() for i in range(5))
    _wait_line(after_server, since, "FA-AFTER stream generator-finished=True")


def test_after_that_raises_is_logged_and_the_server_goes_on(after_server):
    since = after_server.stderr_len()
    r = helpers.h1_request(after_server.port, "GET", "/raising")
    assert r.status == 200 and r.body == b"fine"
    text = _wait_line(after_server, since, "after failed on purpose")
    assert "res['after'] raised" in text
    r = helpers.h1_request(after_server.port, "GET", "/coroutine")
    assert r.status == 200 and r.body == b"ok"


def test_after_must_be_callable(after_server):
    since = after_server.stderr_len()
    r = helpers.h1_request(after_server.port, "GET", "/not-callable")
    assert r.status == 500
    _wait_line(after_server, since, "res['after'] must be a callable taking no arguments, got int")
