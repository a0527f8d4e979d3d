"""Path, query, header and cookie parameters: conversion by annotation,
Query/Path/Header/Cookie declarations and constraints, and every 422 shape
(compared with what FastAPI answers for the same app)."""
import datetime
import enum
import uuid
from decimal import Decimal
from typing import Annotated, Literal

import pytest

from fasterapi import Cookie, FastAPI, Header, Path, Query
from fasterapi.testclient import TestClient


class Color(str, enum.Enum):
    red = "red"
    green = "green"


class Level(enum.IntEnum):
    low = 1
    high = 2


app = FastAPI()


@app.get("/int/{x}")
def p_int(x: int):
    return {"x": x, "type": type(x).__name__}


@app.get("/float/{x}")
def p_float(x: float):
    return x


@app.get("/bool/{x}")
def p_bool(x: bool):
    return x


@app.get("/uuid/{x}")
def p_uuid(x: uuid.UUID):
    return {"x": x, "version": x.version}


@app.get("/color/{c}")
def p_enum(c: Color):
    return {"c": c, "is_enum": isinstance(c, Color)}


@app.get("/level/{lv}")
def p_int_enum(lv: Level):
    return lv


@app.get("/files/{file_path:path}")
def p_path(file_path: str):
    return file_path


@app.get("/conv/{n:int}")
def p_convertor(n: int):
    return n


@app.get("/str/{s}")
def p_str(s: str):
    return s


@app.get("/ge/{x}")
def p_ge(x: Annotated[int, Path(ge=3, le=10)]):
    return x


@app.get("/q")
def q_types(a: int, b: float = 1.5, c: bool = False, d: str | None = None, e: list[int] = Query(default=[]),
            f: Annotated[list[str] | None, Query()] = None, g: datetime.date | None = None,
            h: Decimal | None = None, i: Literal["x", "y"] = "x", j: Color = Color.red):
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g, "h": h, "i": i, "j": j}


@app.get("/qc")
def q_constraints(s: Annotated[str | None, Query(min_length=2, max_length=4, pattern="^[a-z]+$")] = None,
                  n: Annotated[int, Query(gt=0, lt=5)] = 1, m: Annotated[float, Query(multiple_of=0.5)] = 1.0,
                  tags: Annotated[list[str], Query(max_length=2)] = []):  # noqa: B006
    return {"s": s, "n": n, "m": m, "tags": tags}


@app.get("/alias")
def q_alias(item_query: Annotated[str, Query(alias="item-query")]):
    return item_query


@app.get("/headers")
def headers(user_agent: Annotated[str | None, Header()] = None, x_token: list[str] = Header(default=[]),
            strange_header: Annotated[str | None, Header(convert_underscores=False)] = None,
            x_num: Annotated[int | None, Header()] = None):
    return {"ua": user_agent, "tokens": x_token, "strange": strange_header, "num": x_num}


@app.get("/required-header")
def required_header(x_key: Annotated[str, Header()]):
    return x_key


@app.get("/cookies")
def cookies(session: Annotated[str | None, Cookie()] = None, count: int = Cookie(default=0)):
    return {"session": session, "count": count}


@app.get("/required-cookie")
def required_cookie(session: Annotated[str, Cookie()]):
    return session


client = TestClient(app)


def detail(r):
    assert r.status_code == 422, r.text
    return r.json()["detail"]


@pytest.mark.parametrize("raw,value", [("5", 5), ("-3", -3), ("+7", 7), ("1_000", 1000), ("2.0", 2)])
def test_int_path(raw, value):
    assert client.get(f"/int/{raw}").json() == {"x": value, "type": "int"}


def test_int_path_error():
    assert detail(client.get("/int/abc")) == [
        {"type": "int_parsing", "loc": ["path", "x"],
         "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "abc"}]
    assert detail(client.get("/int/1.5"))[0]["type"] == "int_parsing"


def test_float_bool_uuid_enum():
    assert client.get("/float/2.5").json() == 2.5
    assert detail(client.get("/float/x"))[0] == {
        "type": "float_parsing", "loc": ["path", "x"],
        "msg": "Input should be a valid number, unable to parse string as a number", "input": "x"}
    for raw, v in [("true", True), ("1", True), ("yes", True), ("on", True), ("False", False), ("0", False),
                   ("off", False), ("n", False)]:
        assert client.get(f"/bool/{raw}").json() is v
    assert detail(client.get("/bool/maybe"))[0] == {
        "type": "bool_parsing", "loc": ["path", "x"], "msg": "Input should be a valid boolean, unable to interpret input",
        "input": "maybe"}
    u = uuid.uuid4()
    assert client.get(f"/uuid/{u}").json() == {"x": str(u), "version": 4}
    assert client.get(f"/uuid/{u.hex}").json()["x"] == str(u)
    assert detail(client.get("/uuid/nope"))[0] == {
        "type": "uuid_parsing", "loc": ["path", "x"], "msg": "Input should be a valid UUID, invalid character: found `n` at 0",
        "input": "nope", "ctx": {"error": "invalid character: found `n` at 0"}}
    assert client.get("/color/green").json() == {"c": "green", "is_enum": True}
    assert detail(client.get("/color/blue"))[0] == {
        "type": "enum", "loc": ["path", "c"], "msg": "Input should be 'red' or 'green'", "input": "blue",
        "ctx": {"expected": "'red' or 'green'"}}
    assert client.get("/level/2").json() == 2
    assert detail(client.get("/level/3"))[0]["msg"] == "Input should be 1 or 2"


def test_path_convertor_and_percent_decoding():
    assert client.get("/files/a/b/c.txt").json() == "a/b/c.txt"
    assert client.get("/str/caf%C3%A9%20au%2Flait").json() == "café au/lait"
    assert client.get("/conv/12").json() == 12
    assert client.get("/conv/abc").status_code == 404  # a convertor that does not match: no route


def test_path_constraints():
    assert client.get("/ge/5").json() == 5
    assert detail(client.get("/ge/1")) == [
        {"type": "greater_than_equal", "loc": ["path", "x"], "msg": "Input should be greater than or equal to 3",
         "input": "1", "ctx": {"ge": 3}}]
    assert detail(client.get("/ge/11"))[0]["ctx"] == {"le": 10}


def test_query_types_and_defaults():
    r = client.get("/q", params={"a": 1})
    assert r.json() == {"a": 1, "b": 1.5, "c": False, "d": None, "e": [], "f": None, "g": None, "h": None,
                        "i": "x", "j": "red"}
    r = client.get("/q?a=2&b=3&c=true&d=hi&e=1&e=2&f=x&f=y&g=2024-02-29&h=1.25&i=y&j=green")
    assert r.json() == {"a": 2, "b": 3.0, "c": True, "d": "hi", "e": [1, 2], "f": ["x", "y"], "g": "2024-02-29",
                        "h": 1.25, "i": "y", "j": "green"}
    # repeated scalar: the last value wins; blank values are kept
    assert client.get("/q?a=1&a=9&d=").json()["a"] == 9
    assert client.get("/q?a=1&d=").json()["d"] == ""
    assert client.get("/q?a=1&d=a+b%26c").json()["d"] == "a b&c"


def test_query_errors_all_reported():
    assert detail(client.get("/q?a=x&e=1&e=y&c=maybe&i=z")) == [
        {"type": "int_parsing", "loc": ["query", "a"],
         "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "x"},
        {"type": "bool_parsing", "loc": ["query", "c"], "msg": "Input should be a valid boolean, unable to interpret input",
         "input": "maybe"},
        {"type": "int_parsing", "loc": ["query", "e", 1],
         "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "y"},
        {"type": "literal_error", "loc": ["query", "i"], "msg": "Input should be 'x' or 'y'", "input": "z",
         "ctx": {"expected": "'x' or 'y'"}},
    ]
    assert detail(client.get("/q")) == [{"type": "missing", "loc": ["query", "a"], "msg": "Field required", "input": None}]
    assert detail(client.get("/q?a="))[0]["input"] == ""


def test_query_constraints():
    assert client.get("/qc?s=ab&n=4&m=2.5&tags=a&tags=b").json() == {"s": "ab", "n": 4, "m": 2.5, "tags": ["a", "b"]}
    assert detail(client.get("/qc?s=a")) == [
        {"type": "string_too_short", "loc": ["query", "s"], "msg": "String should have at least 2 characters",
         "input": "a", "ctx": {"min_length": 2}}]
    assert detail(client.get("/qc?s=abcde"))[0] == {
        "type": "string_too_long", "loc": ["query", "s"], "msg": "String should have at most 4 characters",
        "input": "abcde", "ctx": {"max_length": 4}}
    assert detail(client.get("/qc?s=AB"))[0] == {
        "type": "string_pattern_mismatch", "loc": ["query", "s"], "msg": "String should match pattern '^[a-z]+$'",
        "input": "AB", "ctx": {"pattern": "^[a-z]+$"}}
    assert detail(client.get("/qc?n=0"))[0] == {
        "type": "greater_than", "loc": ["query", "n"], "msg": "Input should be greater than 0", "input": "0",
        "ctx": {"gt": 0}}
    assert detail(client.get("/qc?n=5"))[0]["type"] == "less_than"
    assert detail(client.get("/qc?m=0.3"))[0]["type"] == "multiple_of"
    assert detail(client.get("/qc?tags=a&tags=b&tags=c"))[0] == {
        "type": "too_long", "loc": ["query", "tags"], "msg": "List should have at most 2 items after validation, not 3",
        "input": ["a", "b", "c"], "ctx": {"field_type": "List", "max_length": 2, "actual_length": 3}}


def test_query_alias():
    assert client.get("/alias?item-query=v").json() == "v"
    assert detail(client.get("/alias?item_query=v"))[0]["loc"] == ["query", "item-query"]


def test_headers():
    r = client.get("/headers", headers={"User-Agent": "ua/1", "X-Token": "a, b", "strange_header": "s",
                                        "X-Num": "7"})
    assert r.json() == {"ua": "ua/1", "tokens": ["a", "b"], "strange": "s", "num": 7}
    assert client.get("/headers").json()["ua"] == "testclient"
    assert detail(client.get("/headers", headers={"x-num": "x"}))[0]["loc"] == ["header", "x-num"]
    assert detail(client.get("/required-header")) == [
        {"type": "missing", "loc": ["header", "x-key"], "msg": "Field required", "input": None}]
    assert client.get("/required-header", headers={"X-KEY": "k"}).json() == "k"


def test_cookies():
    assert client.get("/cookies", cookies={"session": "abc", "count": "3"}).json() == {"session": "abc", "count": 3}
    assert client.get("/cookies").json() == {"session": None, "count": 0}
    assert detail(client.get("/cookies", cookies={"count": "x"}))[0]["loc"] == ["cookie", "count"]
    assert detail(client.get("/required-cookie")) == [
        {"type": "missing", "loc": ["cookie", "session"], "msg": "Field required", "input": None}]
