"""An application-layer app for the proxy-header tests: answers what the
request says about its client, scheme, host and URLs."""
import os

from fasterapi import FastAPI, Request

app = FastAPI()


@app.get("/who")
def who(request: Request):
    c = request.client
    return {"client": [c.host, c.port] if c else None, "scheme": request.url.scheme,
            "host": request.headers.get("host"), "url": str(request.url), "pid": os.getpid(),
            "root_path": request.scope["root_path"], "url_for": request.url_for("who"),
            "http_version": request.scope["http_version"]}
