"""What FastAPI runs after the response was sent: background tasks, then
the exit code of generator dependencies; and request.client.  On the real
server (HTTP/1.1 and h2c, two worker interpreters) and in TestClient."""
import json

import pytest

import helpers
from fasterapi import BackgroundTasks, Depends, FastAPI, Request
from fasterapi.testclient import TestClient


@pytest.mark.parametrize("mode", ["h1", "h2"])
@pytest.mark.parametrize("path", ["/after", "/after/async"])
def test_background_then_dependency_exit_after_the_response(app_server, tmp_path, mode, path):
    flag = tmp_path / "flag"
    since = app_server.stderr_len()
    r = helpers.curl(f"{app_server.url}{path}?flag={flag}", mode=mode, timeout=30)
    assert r.status == 200 and json.loads(r.body) == {"dep": "res"}
    flag.write_bytes(b"")  # the client holds the answer: only now may the task see the flag
    text = app_server.wait_stderr(lambda t: "FA-APP-DEP-EXIT" in t, since=since, timeout=20)
    assert "FA-APP-BG saw-client-flag=True" in text, text[-2000:]
    # the dependency's exit code ran after the background task finished
    assert "FA-APP-DEP-EXIT saw-client-flag=True" in text, text[-2000:]
    assert text.index("FA-APP-BG") < text.index("FA-APP-DEP-EXIT")


def test_request_client_on_the_server(app_server):
    s = helpers.connect(app_server.port)
    try:
        s.sendall(helpers.build_request("GET", "/client"))
        r = helpers.H1Reader(s).read_response()
        assert r.json() == {"host": "127.0.0.1", "port": s.getsockname()[1], "scheme": "http"}
    finally:
        s.close()


def test_testclient_runs_background_and_exits_after_the_response():
    app = FastAPI()
    events = []

    def dep():
        events.append("dep enter")
        yield "d"
        events.append("dep exit")

    @app.get("/")
    def endpoint(background: BackgroundTasks, d: str = Depends(dep)):
        background.add_task(events.append, "background")
        events.append("endpoint")
        return d

    @app.get("/client")
    def client(request: Request):
        return [request.client.host, request.client.port, tuple(request.client) == ("testclient", 50000)]

    with TestClient(app) as c:
        assert c.get("/").json() == "d"
        assert events == ["dep enter", "endpoint", "background", "dep exit"]
        assert c.get("/client").json() == ["testclient", 50000, True]
