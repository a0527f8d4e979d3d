#!/usr/bin/env python3
"""Seeds for fuzz/fuzz_h2_frames.c: programs in its input format (see the
comments there), one per shape of conversation.  Usage:
    python3 fuzz/h2frames_seeds.py fuzz/corpus/h2frames
"""
import os
import struct
import sys

DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT, UNKNOWN = range(11)
NEW, LAST, ZERO, EVEN = 4, 1, 0, 6          # stream selectors
END_STREAM, END_HEADERS, PADDED, PRIO = 1, 4, 8, 0x20


def frame(op, flags, stream, body=b""):
    return bytes([op, flags, stream]) + body


def block(get=True, post=False, stream_path=False, ops=b""):
    sel = (1 if get or post else 0) | (2 if post else 0) | (4 if stream_path else 0)
    nops = ops.count(b"\xff")  # ops are written with 0xff separators, removed here
    return bytes([sel, nops]) + ops.replace(b"\xff", b"")


def lit(kind, name_i, value_i):  # kind 1/2/3: the three literal forms
    return bytes([kind, name_i, value_i]) + b"\xff"


def data_body(payload):
    return bytes([len(payload)]) + payload


SEEDS = {
    "get": frame(HEADERS, END_STREAM | END_HEADERS, NEW, block()),
    "post-body": frame(HEADERS, END_HEADERS, NEW, block(post=True, ops=lit(2, 7, 12)))
                 + frame(DATA, END_STREAM, LAST, data_body(b"hello")),
    "trailers": frame(HEADERS, END_HEADERS, NEW, block(post=True))
                + frame(DATA, 0, LAST, data_body(b"abc"))
                + frame(HEADERS, END_STREAM | END_HEADERS, LAST, block(get=False, ops=lit(2, 15, 11))),
    "continuation": frame(HEADERS, END_STREAM, NEW, block())
                    + frame(CONT, 0, LAST, block(get=False, ops=lit(1, 15, 11)))
                    + frame(CONT, END_HEADERS, LAST, block(get=False, ops=lit(3, 17, 14))),
    "settings-ping": frame(SETTINGS, 0, ZERO, bytes([3, 0x14, 0x41, 0x35]))
                     + frame(PING, 0, ZERO, b"12345678") + frame(SETTINGS, 1, ZERO),
    "window-updates": frame(HEADERS, END_STREAM | END_HEADERS, NEW, block())
                      + frame(WINDOW, 0, ZERO, bytes([4])) + frame(WINDOW, 0, LAST, bytes([0])),
    "rst-reopen": frame(HEADERS, END_HEADERS, NEW, block(post=True))
                  + frame(RST, 0, LAST, bytes([8])) + frame(DATA, END_STREAM, LAST, data_body(b"x")),
    "priority": frame(PRIORITY, 0, NEW, struct.pack(">IB", 0, 15))
                + frame(HEADERS, END_STREAM | END_HEADERS | PRIO, NEW, struct.pack(">IB", 1, 20) + block()),
    "padded": frame(HEADERS, END_HEADERS | PADDED, NEW, bytes([5]) + block(post=True))
              + frame(DATA, END_STREAM | PADDED, LAST, bytes([3]) + data_body(b"pad")),
    "hpack-table": frame(HEADERS, END_STREAM | END_HEADERS, NEW, block(ops=lit(1, 15, 13) + b"\x05\x00\x00\x10\x00\xff"))
                   + frame(HEADERS, END_STREAM | END_HEADERS, NEW, block(ops=b"\x00\x3e\xff")),
    "stream-body": frame(HEADERS, END_HEADERS, NEW, block(post=True, stream_path=True))
                   + frame(DATA, 0, LAST, data_body(b"x" * 200)) + frame(DATA, END_STREAM, LAST, data_body(b"y")),
    "goaway": frame(HEADERS, END_STREAM | END_HEADERS, NEW, block()) + frame(GOAWAY, 0, ZERO, b"\0\0\0\0\0"),
    "bad-mix": frame(PUSH, END_HEADERS, LAST, b"\0\0\0\2" + block())
               + frame(HEADERS, END_STREAM | END_HEADERS, EVEN, block()) + frame(UNKNOWN, 0, ZERO, b"\x05\x03abc"),
    "lying-length": frame(PING | 0x80, 0, ZERO, b"12345678\x05"),
}

MODES = {"": 0x1c, "-defer-bytewise": 0x01, "-smallwindow-shutdown": 0x22 | 0x1c}

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/h2frames"
    os.makedirs(out, exist_ok=True)
    for name, prog in SEEDS.items():
        for suffix, mode in MODES.items():
            with open(os.path.join(out, name + suffix), "wb") as f:
                f.write(bytes([mode]) + prog)
    print(f"{len(SEEDS) * len(MODES)} seeds in {out}")
