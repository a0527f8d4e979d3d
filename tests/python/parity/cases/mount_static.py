"""Advanced: sub-applications with mount, and static files."""
import os
import tempfile

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = tempfile.mkdtemp(prefix="parity-static-")
with open(os.path.join(STATIC, "hello.txt"), "w") as f:
    f.write("hello static\n")
os.makedirs(os.path.join(STATIC, "sub"), exist_ok=True)
with open(os.path.join(STATIC, "sub", "page.html"), "w") as f:
    f.write("<p>page</p>")

app = FastAPI()


@app.get("/app")
def read_main():
    return {"message": "Hello World from main app"}


subapi = FastAPI()


@subapi.get("/sub")
def read_sub():
    return {"message": "Hello World from sub API"}


app.mount("/subapi", subapi)
app.mount("/static", StaticFiles(directory=STATIC), name="static")


def scenario(observe):
    from fastapi.testclient import TestClient
    client = TestClient(app)
    out = []
    for path in ("/app", "/subapi/sub", "/subapi/openapi.json", "/static/hello.txt", "/static/sub/page.html",
                 "/static/missing.txt", "/static/../mount_static.py", "/subapi/nowhere"):
        r = client.get(path)
        o = observe(r)
        # file times differ between the two loads of the case: compare that they are there
        o["headers"] = [(k, "<present>" if k in ("etag", "last-modified") else v) for k, v in o["headers"]]
        out.append(o)
    out.append(observe(client.post("/static/hello.txt")))
    return out
