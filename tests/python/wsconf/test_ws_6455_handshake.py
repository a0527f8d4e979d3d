"""RFC 6455 section 4: the opening handshake (4.2.1 what the server reads,
4.2.2 what it answers).  A request that is not a valid handshake gets an
HTTP error (400, or 426 with the version we speak) and no 101."""
import base64
import hashlib

import pytest

import helpers
from wsx import BINARY, TEXT, echo_ok, frame, key, upgrade_request

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def refused(ws, data, status):
    resp, s, _ = ws.handshake(data)
    assert resp.status == status, (resp.status, resp.raw_head)
    return resp


def test_4_2_2_accept_key(ws):
    """4.2.2: 101 with Upgrade: websocket, Connection: Upgrade and
    Sec-WebSocket-Accept = base64(SHA-1(key + GUID))."""
    k = key()
    resp, s, rest = ws.handshake(upgrade_request(headers={"Sec-WebSocket-Key": k}, drop=("Sec-WebSocket-Key",)))
    assert resp.status == 101 and resp.version == "HTTP/1.1", resp.raw_head
    assert resp.header("upgrade").lower() == "websocket"
    assert "upgrade" in resp.header("connection").lower()
    want = base64.b64encode(hashlib.sha1(k.encode() + GUID).digest()).decode()
    assert resp.header("sec-websocket-accept") == want
    assert resp.header("sec-websocket-extensions") is None  # none offered


@pytest.mark.parametrize("method", ["POST", "PUT", "HEAD"])
def test_4_2_1_method_get(ws, method):
    """4.2.1 (1): the handshake MUST be a GET; another method is refused."""
    refused(ws, upgrade_request(method=method), 400)


def test_4_2_1_http_1_1(ws):
    """4.2.1 (1): ... of HTTP/1.1 or higher: an HTTP/1.0 upgrade is refused."""
    refused(ws, upgrade_request(version="HTTP/1.0"), 400)


def test_4_2_1_host_required(ws):
    """4.2.1 (2): a Host field MUST be present (a missing Host is a 400 of
    HTTP/1.1 anyway, RFC 9112 3.2)."""
    refused(ws, upgrade_request(drop=("Host",)), 400)


@pytest.mark.parametrize("upgrade,connection", [("WebSocket", "upgrade"), ("WEBSOCKET", "keep-alive, Upgrade"),
                                                ("foo, websocket", "UPGRADE")])
def test_4_2_1_tokens_case_insensitive(ws, upgrade, connection):
    """4.2.1 (3)(4): Upgrade contains "websocket" and Connection contains
    "Upgrade", both ASCII case-insensitive tokens, possibly in a list."""
    c = ws.open(headers={"Upgrade": upgrade, "Connection": connection})
    echo_ok(c)


def test_4_2_1_connection_upgrade_required(ws):
    """4.2.1 (4): without the Upgrade token in Connection it is no
    handshake: 400."""
    refused(ws, upgrade_request(headers={"Connection": "keep-alive"}, drop=("Connection",)), 400)


@pytest.mark.parametrize("bad", ["", "abc", base64.b64encode(b"x" * 15).decode(),
                                 base64.b64encode(b"x" * 17).decode(), "!" * 22 + "==",
                                 base64.b64encode(b"x" * 16).decode()[:-2]])
def test_4_2_1_key_16_bytes_base64(ws, bad):
    """4.2.1 (5): Sec-WebSocket-Key is base64 of 16 bytes; anything else is
    a 400."""
    refused(ws, upgrade_request(headers={"Sec-WebSocket-Key": bad}, drop=("Sec-WebSocket-Key",)), 400)


def test_4_2_1_key_missing(ws):
    """4.2.1 (5): no Sec-WebSocket-Key: 400."""
    refused(ws, upgrade_request(drop=("Sec-WebSocket-Key",)), 400)


@pytest.mark.parametrize("version", ["8", "12", "14", "", None])
def test_4_2_2_version_not_13_426(ws, version):
    """4.2.1 (6) / 4.2.2: a version other than 13 (or none) MUST be answered
    with 426 and a Sec-WebSocket-Version header naming 13."""
    hdrs = {} if version is None else {"Sec-WebSocket-Version": version}
    resp = refused(ws, upgrade_request(headers=hdrs, drop=("Sec-WebSocket-Version",)), 426)
    assert resp.header("sec-websocket-version") == "13", resp.headers


def test_4_2_2_no_route_not_upgraded(ws):
    """4.2.2: a handshake on a path with no WebSocket route is not
    upgraded (no 101): the HTTP answer for that path."""
    resp, _, _ = ws.handshake(upgrade_request(path="/nope"))
    assert resp.status == 404, resp.raw_head


def test_4_2_2_subprotocol_not_offered_not_selected(ws):
    """4.2.2: the server MUST NOT select a subprotocol the client did not
    offer: the echo route accepts without one, so none is in the 101."""
    c = ws.open(headers={"Sec-WebSocket-Protocol": "chat, superchat"})
    assert c.response.header("sec-websocket-protocol") is None
    echo_ok(c)


def test_4_websockets_client(ws):
    """4 / 5: a client we did not write (websockets) completes the
    handshake and exchanges text and binary messages."""
    import asyncio

    import websockets

    async def go():
        kw = {"ssl": ws.tls_ctx} if ws.tls_ctx else {}
        scheme = "wss" if ws.tls_ctx else "ws"
        async with websockets.connect(f"{scheme}://localhost:{ws.port}/ws", **kw) as w:
            await w.send("héllo")
            assert await w.recv() == "héllo"
            await w.send(b"\x00\xff")
            assert await w.recv() == b"\x00\xff"
    asyncio.run(asyncio.wait_for(go(), 20))
