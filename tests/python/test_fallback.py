"""set_fallback(handler): requests no route matches go to the application
(req['route'] == "", req['allow'] when the path has other methods) instead
of the server's plain 404/405."""
import json

import pytest

import helpers

APP = "interp_modes.py"


@pytest.mark.parametrize("where", ["pinned", "pooled"])
def test_fallback_answers_unmatched_requests(start_server, where):
    srv = start_server(APP, fallback=where)
    assert "Unmatched requests go to fallback:fallback" in srv.wait_stderr(lambda t: "Unmatched" in t)
    for mode in ("h1", "h2"):
        r = helpers.curl(srv.url + "/nowhere/at/all?x=1", mode=mode)
        assert r.status == 404
        body = json.loads(r.body)
        assert body["route"] == "" and body["allow"] is None and body["path"] == "/nowhere/at/all"
        # a path with routes for other methods: the handler learns which
        r = helpers.curl(srv.url + "/where", mode=mode, method="DELETE")
        assert r.status == 405 and r.headers["allow"] == json.loads(r.body)["allow"]
        assert "GET" in json.loads(r.body)["allow"]
        # matched routes are untouched
        r = helpers.curl(srv.url + "/where", mode=mode)
        assert r.status == 200 and "thread" in json.loads(r.body)
    if where == "pooled":  # the pooled interpreter is neither pinned worker's
        pinned = {json.loads(helpers.curl(srv.url + "/where").body)["interp"] for _ in range(4)}
        assert json.loads(helpers.curl(srv.url + "/nowhere").body)["interp"] not in pinned


def test_without_a_fallback_the_server_answers_itself(start_server):
    srv = start_server(APP)
    r = helpers.h1_request(srv.port, "GET", "/nowhere")
    assert r.status == 404 and r.body == b"Not Found"
    r = helpers.h1_request(srv.port, "DELETE", "/where")
    assert r.status == 405 and "GET" in r.header("allow")


def test_fallback_must_be_a_module_level_function():
    p = helpers.run_native("from fasterapi._native.http2 import PyHttp2Server\n"
                           "PyHttp2Server().set_fallback(lambda req, res: None)")
    assert p.returncode != 0 and "TypeError: handler <lambda> is a lambda" in p.stderr
