"""RFC 7541 (HPACK) as RFC 9113 4.3 applies it: a field block that cannot be
decoded is a connection error COMPRESSION_ERROR, whatever the stream."""
import pytest

import h2frames as F
from expect import assert_serves, block, conn_error, hpack_int, hstr, lit, req

# static table entries (RFC 7541 Appendix A) for the valid part of a block
GET, PATH_ROOT, SCHEME_HTTP, SCHEME_HTTPS = b"\x82", b"\x84", b"\x86", b"\x87"


def head(c):
    """:method GET, :scheme, :path / and :authority, all from the static table."""
    return GET + (SCHEME_HTTPS if c.scheme == "https" else SCHEME_HTTP) + PATH_ROOT + \
        b"\x41" + hstr("localhost")  # literal with incremental indexing, name index 1


def send_raw(c, blk):
    sid = c.new_stream()
    c.send(F.headers(sid, blk))
    return sid


def test_7541_2_3_static_and_dynamic_table_roundtrip(h2):
    """2.3/6.2.1: a field added to the dynamic table in one block is reached
    by index (62) in the next."""
    c = h2()
    sid = send_raw(c, head(c) + b"\x40" + hstr("x-custom") + hstr("v1"))
    assert c.response(sid)[0] == 200
    # index 62 is now x-custom: v1, 63 is :authority: localhost
    sid = send_raw(c, GET + (SCHEME_HTTPS if c.scheme == "https" else SCHEME_HTTP) + PATH_ROOT + b"\xbf" + b"\xbe")
    assert c.response(sid)[0] == 200


def test_7541_6_1_index_0_compression_error(h2):
    """6.1: index 0 is not used: COMPRESSION_ERROR."""
    c = h2()
    send_raw(c, head(c) + b"\x80")
    conn_error(c, F.COMPRESSION_ERROR)


@pytest.mark.parametrize("where", ["indexed", "literal-name"])
def test_7541_2_3_3_index_beyond_table_compression_error(h2, where):
    """2.3.3: an index beyond the static and dynamic tables is
    COMPRESSION_ERROR (as a field, or as a literal's name)."""
    c = h2()
    if where == "indexed":
        send_raw(c, head(c) + hpack_int(70, 7, 0x80))
    else:
        send_raw(c, head(c) + hpack_int(70, 4, 0x00) + hstr("v"))
    conn_error(c, F.COMPRESSION_ERROR)


def test_7541_4_2_table_size_update_above_settings(h2):
    """4.2/6.3: a dynamic table size update above SETTINGS_HEADER_TABLE_SIZE
    (4096, the default we do not change) is COMPRESSION_ERROR."""
    c = h2()
    send_raw(c, hpack_int(4097, 5, 0x20) + head(c))
    conn_error(c, F.COMPRESSION_ERROR)


def test_7541_4_2_table_size_update_within_limit(h2):
    """4.2: a size update at the start of a block, within the limit, is fine."""
    c = h2()
    sid = send_raw(c, hpack_int(0, 5, 0x20) + hpack_int(4096, 5, 0x20) + head(c))
    assert c.response(sid)[0] == 200


def test_7541_4_2_table_size_update_not_at_start(h2):
    """4.2: a dynamic table size update after the first field of a block is
    COMPRESSION_ERROR."""
    c = h2()
    send_raw(c, GET + hpack_int(100, 5, 0x20) + head(c)[1:])
    conn_error(c, F.COMPRESSION_ERROR)


def test_7541_5_1_integer_overflow(h2):
    """5.1: an integer encoding that overflows what the decoder accepts is
    COMPRESSION_ERROR (here: an index of 2^70)."""
    c = h2()
    send_raw(c, head(c) + b"\xff" + b"\xff" * 10 + b"\x01")
    conn_error(c, F.COMPRESSION_ERROR)


def test_7541_5_2_string_longer_than_block(h2):
    """5.2: a string length beyond the end of the block is COMPRESSION_ERROR."""
    c = h2()
    send_raw(c, head(c) + b"\x00" + hpack_int(50, 7) + b"abc")
    conn_error(c, F.COMPRESSION_ERROR)


@pytest.mark.parametrize("case", ["eos", "long-padding", "zero-padding"])
def test_7541_5_2_bad_huffman(h2, case):
    """5.2: a Huffman string containing EOS, with padding longer than 7 bits,
    or padding that is not the most significant bits of EOS (all ones), is
    COMPRESSION_ERROR."""
    c = h2()
    data = {
        # EOS is 30 ones; four 0xff octets hold it
        "eos": b"\xff\xff\xff\xff",
        # 'a' is 00011 (5 bits), then 11 bits of ones: padding over 7 bits
        "long-padding": bytes([0b00011111, 0xff]),
        # 'a' then three padding bits that are zeros
        "zero-padding": bytes([0b00011000]),
    }[case]
    send_raw(c, head(c) + b"\x00" + hstr("x-h") + hpack_int(len(data), 7, 0x80) + data)
    conn_error(c, F.COMPRESSION_ERROR)


def test_7541_5_2_valid_huffman(h2):
    """5.2: a Huffman-coded value with correct padding decodes ('a' + 3 ones)."""
    c = h2()
    sid = send_raw(c, head(c) + b"\x00" + hstr("x-h") + hpack_int(1, 7, 0x80) + bytes([0b00011111]))
    assert c.response(sid)[0] == 200
