"""Writes the seed corpus of fuzz_ws_frame into fuzz/corpus/ws.

Each seed is one configuration byte (see fuzz_ws_frame.c: bit 0 client
side, bit 1 64-byte message limit, bit 2 32-byte frame limit, bit 3 RSV1
allowed, bit 4 no context takeover) and a stream of frames.
Run: python3 fuzz/ws_seeds.py
"""
import os
import struct
import zlib

MASK = b"\x37\xfa\x21\x3d"


def frame(op, payload=b"", fin=True, rsv1=False, masked=True, rsv=0):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (rsv << 4) | op
    n = len(payload)
    mbit = 0x80 if masked else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n <= 0xFFFF:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if masked:
        payload = bytes(c ^ MASK[i % 4] for i, c in enumerate(payload))
        head += MASK
    return head + payload


def deflate(data):
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


SEEDS = {
    "text": (0, frame(1, b"hello")),
    "binary-126": (0, frame(2, bytes(range(256)) * 1)),
    "binary-64bit": (0, frame(2, b"x" * 70000)),
    "fragments-ping": (0, frame(1, b"fra", fin=False) + frame(9, b"p") + frame(0, b"gm", fin=False)
                       + frame(10) + frame(0, b"ents") + frame(8, b"\x03\xe8bye")),
    "utf8-split": (0, frame(1, b"\xe2\x82", fin=False) + frame(0, b"\xac\xf0\x9f\x98\x80")),
    "utf8-bad": (0, frame(1, b"ok\xed\xa0\x80")),
    "close-bad-code": (0, frame(8, b"\x03\xed")),
    "close-1byte": (0, frame(8, b"\x03")),
    "close-bad-reason": (0, frame(8, b"\x03\xe8\xff")),
    "unmasked": (0, frame(1, b"x", masked=False)),
    "client-side": (1, frame(1, b"server says", masked=False) + frame(8, b"\x03\xe9", masked=False)),
    "opcode-3": (0, frame(3, b"x")),
    "rsv2": (0, frame(1, b"x", rsv=2)),
    "ping-126": (0, frame(9, b"p" * 126)),
    "cont-alone": (0, frame(0, b"x")),
    "limits": (6, frame(2, b"a" * 30, fin=False) + frame(0, b"b" * 30, fin=False) + frame(0, b"c" * 30)),
    "deflate": (8, frame(1, deflate(b"Hello"), rsv1=True) + frame(1, deflate(b"Hello"), rsv1=True)),
    "deflate-fragmented": (24, frame(1, deflate(b"abc" * 100)[:5], rsv1=True, fin=False)
                           + frame(0, deflate(b"abc" * 100)[5:])),
    "deflate-bomb": (8, frame(2, deflate(b"\0" * 100000), rsv1=True)),
    "deflate-corrupt": (8, frame(2, b"\xff\xff\xff\xff", rsv1=True)),
    "extension-offer": (0x28, b"permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
                              b"permessage-deflate"),
}

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "ws")
    os.makedirs(out, exist_ok=True)
    for name, (cfg, data) in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([cfg]) + data)
