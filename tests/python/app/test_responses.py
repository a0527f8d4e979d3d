"""Results and responses: serialization of every supported type, the
response classes, headers and cookies, status codes, response_model."""
import datetime
import enum
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TypedDict

from fasterapi import FastAPI, Response, status
from fasterapi.encoders import jsonable_encoder
from fasterapi.responses import (FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse,
                                 StreamingResponse)
from fasterapi.testclient import TestClient


class Color(enum.Enum):
    red = "r"


class Num(enum.IntEnum):
    one = 1


@dataclass
class Point:
    x: int
    y: int
    label: str | None = None


class PublicUser(TypedDict):
    name: str


@dataclass
class Out:
    name: str
    price: float


app = FastAPI()
U = uuid.UUID("12345678-1234-5678-1234-567812345678")


@app.get("/types")
def types_():
    return {"dt": datetime.datetime(2024, 1, 2, 3, 4, 5), "dt_tz": datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC),
            "d": datetime.date(2024, 1, 2), "t": datetime.time(10, 30), "td": datetime.timedelta(minutes=1, seconds=30),
            "u": U, "e": Color.red, "ie": Num.one, "dec": Decimal("1.25"), "dec_int": Decimal("3"),
            "set": {1}, "tuple": (1, 2), "bytes": b"raw", "point": Point(1, 2), "none": None, "uni": "é✓"}


@app.get("/list")
def list_():
    return [Point(1, 2), Point(3, 4, "p")]


@app.get("/dataclass")
def dataclass_():
    return Point(5, 6)


@app.get("/str")
def str_():
    return "hello"


@app.get("/bytes")
def bytes_():
    return b"bytes"


@app.get("/none")
def none_():
    return None


@app.get("/uuid")
def uuid_():
    return U


@app.get("/enum-key")
def enum_key():
    return {Color.red: 1, U: 2}


@app.post("/created", status_code=status.HTTP_201_CREATED)
def created():
    return {"ok": True}


@app.delete("/gone", status_code=204)
def gone():
    return None


@app.get("/plain", response_class=PlainTextResponse)
def plain():
    return "text"


@app.get("/html", response_class=HTMLResponse)
def html():
    return "<h1>hi</h1>"


@app.get("/custom")
def custom():
    r = JSONResponse({"a": 1}, status_code=202, headers={"X-Custom": "yes"})
    r.set_cookie("session", "abc", max_age=60, httponly=True)
    r.set_cookie("theme", "dark")
    return r


@app.get("/raw")
def raw():
    return Response(content=b"\x00\x01", media_type="application/octet-stream", headers={"x-a": "1"})


@app.get("/redirect")
def redirect():
    return RedirectResponse("/str")


@app.get("/redirect-303")
def redirect_303():
    return RedirectResponse(url="/plain", status_code=303)


@app.get("/sub-response")
def sub_response(response: Response):
    response.headers["X-From-Param"] = "1"
    response.set_cookie("c", "v")
    response.status_code = 203
    return {"ok": 1}


@app.get("/delete-cookie")
def delete_cookie(response: Response):
    response.delete_cookie("session")
    return {}


@app.get("/stream")
def stream():
    def gen():
        yield "a"
        yield b"b"
    return StreamingResponse(gen(), media_type="text/plain")


@app.get("/astream")
async def astream():
    async def gen():
        for i in range(3):
            yield f"{i},"
    return StreamingResponse(gen(), media_type="text/csv")


@app.get("/file")
def file_():
    return FileResponse(__file__, filename="test.py")


@app.get("/model", response_model=PublicUser)
def model():
    return {"name": "n", "password": "secret"}


@app.get("/model-dc", response_model=list[Out])
def model_dc():
    return [{"name": "a", "price": "1.5", "internal": 1}]


@app.get("/annotated")
def annotated() -> Out:
    return Out("x", 2)


@app.get("/bad-model", response_model=Out)
def bad_model():
    return {"name": "x"}


@app.get("/exclude-none", response_model_exclude_none=True)
def exclude_none():
    return {"a": None, "b": 1}


@app.get("/nan")
def nan():
    return {"x": float("nan")}


client = TestClient(app)


def test_type_serialization():
    r = client.get("/types")
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"dt": "2024-01-02T03:04:05", "dt_tz": "2024-01-02T00:00:00+00:00", "d": "2024-01-02",
                        "t": "10:30:00", "td": 90.0, "u": str(U), "e": "r", "ie": 1, "dec": 1.25, "dec_int": 3,
                        "set": [1], "tuple": [1, 2], "bytes": "raw", "point": {"x": 1, "y": 2, "label": None},
                        "none": None, "uni": "é✓"}
    assert "é✓".encode() in r.content  # UTF-8, not \\u escapes
    assert client.get("/list").json() == [{"x": 1, "y": 2, "label": None}, {"x": 3, "y": 4, "label": "p"}]
    assert client.get("/dataclass").json() == {"x": 5, "y": 6, "label": None}
    assert client.get("/str").json() == "hello"
    assert client.get("/bytes").json() == "bytes"
    r = client.get("/none")
    assert r.status_code == 200 and r.content == b"null"
    assert client.get("/uuid").json() == str(U)
    assert client.get("/enum-key").json() == {"r": 1, str(U): 2}
    assert client.get("/types").content.startswith(b'{"dt":"2024-01-02T03:04:05",')  # compact separators


def test_jsonable_encoder():
    assert jsonable_encoder({"p": Point(1, 2), "s": {Color.red}}, exclude_none=True) == {"p": {"x": 1, "y": 2},
                                                                                          "s": ["r"]}


def test_status_codes():
    r = client.post("/created")
    assert r.status_code == 201 and r.json() == {"ok": True}
    r = client.delete("/gone")
    assert r.status_code == 204 and r.content == b"" and "content-type" not in r.headers


def test_response_classes():
    r = client.get("/plain")
    assert r.text == "text" and r.headers["content-type"] == "text/plain; charset=utf-8"
    r = client.get("/html")
    assert r.text == "<h1>hi</h1>" and r.headers["content-type"] == "text/html; charset=utf-8"
    r = client.get("/raw")
    assert r.content == b"\x00\x01" and r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-a"] == "1"


def test_headers_and_cookies():
    r = client.get("/custom")
    assert r.status_code == 202 and r.json() == {"a": 1}
    assert r.headers["x-custom"] == "yes"
    cookies = r.headers.get_list("set-cookie")
    assert cookies == ["session=abc; HttpOnly; Max-Age=60; Path=/; SameSite=lax", "theme=dark; Path=/; SameSite=lax"]
    assert r.cookies == {"session": "abc", "theme": "dark"}
    c = TestClient(app)
    c.get("/custom")
    assert c.cookies["session"] == "abc"
    c.get("/delete-cookie")
    assert "session" not in c.cookies


def test_sub_response_param():
    r = client.get("/sub-response")
    assert r.status_code == 203 and r.json() == {"ok": 1}
    assert r.headers["x-from-param"] == "1" and r.headers["set-cookie"].startswith("c=v")


def test_redirects():
    r = client.get("/redirect", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/str"
    r = client.get("/redirect")
    assert r.json() == "hello" and [h.status_code for h in r.history] == [307]
    assert client.get("/redirect-303").text == "text"


def test_streaming_and_file():
    r = client.get("/stream")
    assert r.text == "ab" and r.headers["content-type"] == "text/plain; charset=utf-8"
    assert client.get("/astream").text == "0,1,2,"
    r = client.get("/file")
    assert b"test_streaming_and_file" in r.content
    assert r.headers["content-disposition"] == 'attachment; filename="test.py"'
    assert r.headers["content-type"] == "text/x-python; charset=utf-8"


def test_response_model_filters_and_validates():
    assert client.get("/model").json() == {"name": "n"}
    assert client.get("/model-dc").json() == [{"name": "a", "price": 1.5}]
    assert client.get("/annotated").json() == {"name": "x", "price": 2.0}
    assert client.get("/exclude-none").json() == {"b": 1}
    c = TestClient(app, raise_server_exceptions=False)
    r = c.get("/bad-model")
    assert r.status_code == 500 and r.text == "Internal Server Error"
    assert c.get("/nan").status_code == 500


def test_head_answers_without_body():
    r = client.head("/str")
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "7"


def test_file_response_conditional_and_range(tmp_path):
    from fasterapi import FastAPI
    from fasterapi.responses import FileResponse
    from fasterapi.testclient import TestClient

    data = bytes(range(256)) * 40
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    app = FastAPI()

    @app.get("/sync")
    def sync_file():
        return FileResponse(path)

    @app.get("/async")
    async def async_file():
        return FileResponse(path)

    c = TestClient(app)
    for url in ("/sync", "/async"):
        r = c.get(url)
        assert r.status_code == 200 and r.content == data
        assert r.headers["accept-ranges"] == "bytes"
        etag, modified = r.headers["etag"], r.headers["last-modified"]
        r = c.get(url, headers={"if-none-match": etag})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
        assert c.get(url, headers={"if-none-match": '"other"'}).status_code == 200
        assert c.get(url, headers={"if-modified-since": modified}).status_code == 304
        r = c.get(url, headers={"range": "bytes=10-19"})
        assert r.status_code == 206 and r.content == data[10:20]
        assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
        r = c.get(url, headers={"range": "bytes=-5"})
        assert r.status_code == 206 and r.content == data[-5:]
        r = c.get(url, headers={"range": "bytes=100-"})
        assert r.status_code == 206 and r.content == data[100:]
        r = c.get(url, headers={"range": f"bytes={len(data)}-"})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
        # several ranges: the whole file
        assert c.get(url, headers={"range": "bytes=0-1,5-6"}).status_code == 200
