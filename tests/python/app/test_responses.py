"""Results and responses: serialization of every supported type, the
response classes, headers and cookies, status codes, response_model,
FileResponse conditional and range requests."""
import asyncio
import datetime
import email
import email.policy
import email.utils
import enum
import os
import random
import re
import time
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
    # no body, but JSONResponse's content type, as FastAPI sends it
    assert r.status_code == 204 and r.content == b"" and r.headers["content-type"] == "application/json"
    assert "content-length" not in r.headers


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
        # several ranges: multipart/byteranges (test_file_multiple_ranges)
        assert c.get(url, headers={"range": "bytes=0-1,5-6"}).status_code == 206


def _byteranges(content_type: str, body: bytes) -> list:
    """The parts of a multipart/byteranges body, read by the email package:
    [(media type, content-range, bytes)]."""
    msg = email.message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body,
                                   policy=email.policy.HTTP)
    assert msg.is_multipart() and msg.get_content_type() == "multipart/byteranges"
    return [(p.get_content_type(), p["content-range"], p.get_payload(decode=True)) for p in msg.iter_parts()]


def _expected_byteranges(boundary: str, ctype: str, data: bytes, ranges) -> bytes:
    """The exact body we send for inclusive (first, last) ranges."""
    out = b""
    for i, (a, b) in enumerate(ranges):
        out += (b"\r\n" if i else b"") + (f"--{boundary}\r\nContent-Type: {ctype}\r\n"
                                          f"Content-Range: bytes {a}-{b}/{len(data)}\r\n\r\n").encode()
        out += data[a:b + 1]
    return out + f"\r\n--{boundary}--\r\n".encode()


def _file_app(path):
    app = FastAPI()

    @app.get("/sync")
    def sync_file():
        return FileResponse(path)

    @app.get("/async")
    async def async_file():
        await asyncio.sleep(0)
        return FileResponse(path)

    @app.get("/text")
    def text_file():
        return FileResponse(path, media_type="text/plain")

    return app


def test_file_if_range(tmp_path):
    data = bytes(range(256)) * 40
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    old = time.time() - 86400
    os.utime(path, (old, old))
    c = TestClient(_file_app(path))
    for url in ("/sync", "/async"):
        r = c.get(url)
        etag, modified = r.headers["etag"], r.headers["last-modified"]
        rng = {"range": "bytes=10-19"}
        for if_range in (etag, modified):
            r = c.get(url, headers={**rng, "if-range": if_range})
            assert r.status_code == 206 and r.content == data[10:20], if_range
            assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
        for if_range in ('"other"', "W/" + etag, etag.strip('"'), "Mon, 01 Jan 2024 00:00:00 GMT", "garbage", ""):
            r = c.get(url, headers={**rng, "if-range": if_range})
            assert r.status_code == 200 and r.content == data, if_range
            assert "content-range" not in r.headers
        # the same date in another HTTP-date format is the same date
        rfc850 = email.utils.parsedate_to_datetime(modified).strftime("%A, %d-%b-%y %H:%M:%S GMT")
        assert c.get(url, headers={**rng, "if-range": rfc850}).status_code == 206
        assert c.get(url, headers={**rng, "if-range": modified.replace("GMT", "-0000")}).status_code == 206
        # a zone of "-0000" (a naive datetime for email.utils) compares too
        assert c.get(url, headers={"if-modified-since": modified.replace("GMT", "-0000")}).status_code == 304
        assert c.get(url, headers={"if-modified-since": "Mon, 01 Jan 2024 00:00:00 -0000"}).status_code == 200
        # multiple ranges honor If-Range too; If-Range without Range changes nothing
        r = c.get(url, headers={"range": "bytes=0-1,5-6", "if-range": etag})
        assert r.status_code == 206 and r.headers["content-type"].startswith("multipart/byteranges")
        assert c.get(url, headers={"range": "bytes=0-1,5-6", "if-range": '"x"'}).content == data
        assert c.get(url, headers={"if-range": etag}).status_code == 200
    # a Last-Modified less than a second old is a weak validator: a date never matches
    now = time.time()
    os.utime(path, (now, now))
    r = c.get("/sync")
    assert c.get("/sync", headers={"range": "bytes=0-0", "if-range": r.headers["last-modified"]}).status_code == 200
    assert c.get("/sync", headers={"range": "bytes=0-0", "if-range": r.headers["etag"]}).status_code == 206
    # a weak ETag of the application's never matches (strong comparison)
    app = FastAPI()

    @app.get("/weak")
    def weak():
        return FileResponse(path, headers={"etag": 'W/"v1"'})
    c2 = TestClient(app)
    assert c2.get("/weak", headers={"range": "bytes=0-0", "if-range": 'W/"v1"'}).status_code == 200
    assert c2.get("/weak", headers={"range": "bytes=0-0"}).status_code == 206


def test_file_multiple_ranges(tmp_path, monkeypatch):
    from fasterapi import responses

    data = random.Random(3).randbytes(10240)
    size = len(data)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    c = TestClient(_file_app(path))

    def get(url, rng, **headers):
        return c.get(url, headers={"range": rng, **headers})

    for inline_max in (responses.MULTIPART_INLINE_MAX, 16):  # built in memory, then streamed
        monkeypatch.setattr(responses, "MULTIPART_INLINE_MAX", inline_max)
        for url, ctype in (("/sync", "application/octet-stream"), ("/async", "application/octet-stream"),
                           ("/text", "text/plain; charset=utf-8")):
            # parts in the client's order; a suffix range
            r = get(url, "bytes=50-59, 0-9,-3 ,9000-9099")
            assert r.status_code == 206
            boundary = r.headers["content-type"].removeprefix("multipart/byteranges; boundary=")
            assert re.fullmatch(r"[0-9a-f]{24}", boundary), r.headers["content-type"]
            want = [(50, 59), (0, 9), (size - 3, size - 1), (9000, 9099)]
            assert r.content == _expected_byteranges(boundary, ctype, data, want)
            if inline_max > 16:  # a streamed body has no content-length (it goes out chunked)
                assert r.headers["content-length"] == str(len(r.content))
            else:
                assert "content-length" not in r.headers
            assert "content-range" not in r.headers and r.headers["accept-ranges"] == "bytes"
            assert _byteranges(r.headers["content-type"], r.content) == [
                (ctype.partition(";")[0], f"bytes {a}-{b}/{size}", data[a:b + 1]) for a, b in want]
            # an end past the file is clipped, an open end goes to the end
            r = get(url, "bytes=10000-99999,0-0,9000-9099")
            assert [cr for _, cr, _ in _byteranges(r.headers["content-type"], r.content)] == [
                f"bytes 10000-{size - 1}/{size}", f"bytes 0-0/{size}", f"bytes 9000-9099/{size}"]
            r = get(url, "bytes=0-0,10000-")
            assert [cr for _, cr, _ in _byteranges(r.headers["content-type"], r.content)] == [
                f"bytes 0-0/{size}", f"bytes 10000-{size - 1}/{size}"]
            # overlapping and adjacent ranges are merged (at the place of the first)
            r = get(url, "bytes=100-109,0-9,5-14,15-19")
            assert [cr for _, cr, _ in _byteranges(r.headers["content-type"], r.content)] == [
                f"bytes 100-109/{size}", f"bytes 0-19/{size}"]
            # merged into one range: a plain 206
            r = get(url, "bytes=10-19,0-9")
            assert r.status_code == 206 and r.content == data[:20]
            assert r.headers["content-range"] == f"bytes 0-19/{size}"
            # one satisfiable range among unsatisfiable ones
            r = get(url, f"bytes={size}-,0-4,{size + 10}-{size + 20}")
            assert r.status_code == 206 and r.content == data[:5]
            assert r.headers["content-range"] == f"bytes 0-4/{size}"
            r = get(url, f"bytes={size}-,{size + 10}-{size + 20},-0")
            assert r.status_code == 416 and r.content == b"" and r.headers["content-range"] == f"bytes */{size}"
            # at most 16 ranges
            r = get(url, "bytes=" + ",".join(f"{i * 100}-{i * 100 + 9}" for i in range(16)))
            assert r.status_code == 206 and len(_byteranges(r.headers["content-type"], r.content)) == 16
            r = get(url, "bytes=" + ",".join(f"{i * 100}-{i * 100 + 9}" for i in range(17)))
            assert r.status_code == 200 and r.content == data
            # overlaps adding up to more than the file: the whole file
            for rng in ("bytes=0-,0-", "bytes=-6000,0-5000", "bytes=" + ",".join(["0-9999"] * 2)):
                r = get(url, rng)
                assert r.status_code == 200 and r.content == data and "content-range" not in r.headers, rng
            # not a valid bytes range set: ignored
            for rng in ("bytes=5-2", "bytes=5-2,0-1", "bytes=a-b", "bytes=0-1,x", "bytes=", "bytes=,",
                        "items=0-1", "0-1", "bytes=1+2-3", "bytes=٣-4", "bytes=0-1-2"):
                r = get(url, rng)
                assert r.status_code == 200 and r.content == data, rng
            # positions of any length
            huge = "9" * 5000
            r = get(url, f"bytes=0-{huge},{huge}-")
            assert r.status_code == 206 and r.content == data
            assert r.headers["content-range"] == f"bytes 0-{size - 1}/{size}"
            r = get(url, f"bytes=-{huge}")
            assert r.status_code == 206 and r.content == data
            assert get(url, f"bytes={huge}-{huge}0").status_code == 416
            # unit and empty elements as RFC 9110 allows
            r = get(url, "Bytes=0-1,,4-5")
            assert [p for _, _, p in _byteranges(r.headers["content-type"], r.content)] == [data[0:2], data[4:6]]
            # HEAD: the same head, no body
            g, h = get(url, "bytes=0-1,4-5"), c.head(url, headers={"range": "bytes=0-1,4-5"})
            assert h.status_code == 206 and h.content == b""
            assert h.headers["content-type"].startswith("multipart/byteranges; boundary=")
            if inline_max > 16:
                assert h.headers["content-length"] == g.headers["content-length"]
            # 304 wins over Range
            assert get(url, "bytes=0-1,4-5", **{"if-none-match": g.headers["etag"]}).status_code == 304


def test_file_ranges_through_middleware_and_exception_handler(tmp_path):
    data = random.Random(4).randbytes(5000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    app = FastAPI()

    class Gone(Exception):
        pass

    @app.exception_handler(Gone)
    async def gone(request, exc):
        return FileResponse(path)

    @app.get("/file")
    async def file_():
        return FileResponse(path)

    @app.get("/raise")
    def raise_():
        raise Gone()

    seen = []

    @app.middleware("http")
    async def mw(request, call_next):
        response = await call_next(request)
        seen.append(response.status_code)  # the middleware sees the whole file
        response.headers["x-mw"] = "1"
        return response

    c = TestClient(app)
    for url in ("/file", "/raise"):
        r = c.get(url, headers={"range": "bytes=1-2"})
        assert r.status_code == 206 and r.content == data[1:3] and r.headers["x-mw"] == "1"
        assert r.headers["content-range"] == "bytes 1-2/5000"
        r = c.get(url, headers={"range": "bytes=1-2,10-19"})
        assert r.status_code == 206 and r.headers["x-mw"] == "1"
        assert [p for _, _, p in _byteranges(r.headers["content-type"], r.content)] == [data[1:3], data[10:20]]
        assert c.get(url, headers={"if-none-match": r.headers["etag"]}).status_code == 304
    assert seen == [200] * 6
