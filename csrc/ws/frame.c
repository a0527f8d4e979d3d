/* frame.c - RFC 6455 frame parsing, unmasking, UTF-8 and close payloads.
 *
 * Everything here works on caller-owned bytes and keeps its state in
 * fa_ws_parser, so the same code runs on a socket's buffer, on an HTTP/2
 * stream's DATA and in the fuzzer.
 */
#include "frame.h"

#include <string.h>

void fa_ws_parser_init(fa_ws_parser *p, int server, uint64_t max_message, uint64_t max_frame)
{
    memset(p, 0, sizeof(*p));
    p->require_mask = server ? 1 : 0;
    p->max_message = max_message;
    p->max_frame = max_frame;
}

static int fa_ws_fail(fa_ws_parser *p, uint16_t code)
{
    p->close_code = code;
    return FA_WS_ERROR;
}

int fa_ws_parse_head(fa_ws_parser *p, const uint8_t *buf, size_t len)
{
    if (len < 2)
        return FA_WS_INCOMPLETE;
    uint8_t b0 = buf[0], b1 = buf[1];
    uint8_t fin = b0 >> 7, rsv1 = (b0 >> 6) & 1, opcode = b0 & 0x0F;
    uint8_t masked = b1 >> 7;
    size_t need = 2;
    uint64_t length = b1 & 0x7F;
    if (length == 126)
        need += 2;
    else if (length == 127)
        need += 8;
    if (masked)
        need += 4;

    /* Errors that the first two bytes already show are reported at once, so
     * a peer cannot make us wait for bytes of a frame we will refuse. */
    if (b0 & 0x30)
        return fa_ws_fail(p, FA_WS_CLOSE_PROTOCOL); /* RSV2/RSV3: no extension defines them */
    switch (opcode) {
    case FA_WS_OP_CONT:
        if (!p->msg_opcode)
            return fa_ws_fail(p, FA_WS_CLOSE_PROTOCOL); /* nothing to continue */
        if (rsv1)
            return fa_ws_fail(p, FA_WS_CLOSE_PROTOCOL); /* RFC 7692: RSV1 on the first frame only */
        break;
    case FA_WS_OP_TEXT:
    case FA_WS_OP_BINARY:
        if (p->msg_opcode)
            return fa_ws_fail(p, FA_WS_CLOSE_PROTOCOL); /* the open message was not finished */
        if (rsv1 && !p->allow_rsv1)
            return fa_ws_fail(p, FA_WS_CLOSE_PROTOCOL);
        break;
    case FA_WS_OP_CLOSE:
    case FA_WS_OP_PING:
    case FA_WS_OP_PONG:
        if (!fin || rsv1 || length > FA_WS_MAX_CONTROL)
            return fa_ws_fail(p, FA_WS_CLOSE_PROTOCOL);
        break;
    default:
        return fa_ws_fail(p, FA_WS_CLOSE_PROTOCOL); /* reserved opcode */
    }
    if (p->require_mask && !masked)
        return fa_ws_fail(p, FA_WS_CLOSE_PROTOCOL); /* section 5.1: a client masks every frame */
    if (!p->require_mask && masked)
        return fa_ws_fail(p, FA_WS_CLOSE_PROTOCOL); /* and a server none */

    if (len < need)
        return FA_WS_INCOMPLETE;
    const uint8_t *q = buf + 2;
    if (length == 126) {
        length = ((uint64_t)q[0] << 8) | q[1];
        q += 2;
        if (length < 126)
            return fa_ws_fail(p, FA_WS_CLOSE_PROTOCOL); /* section 5.2: minimal encoding */
    } else if (length == 127) {
        length = 0;
        for (int i = 0; i < 8; i++)
            length = (length << 8) | q[i];
        q += 8;
        if (length >> 63)
            return fa_ws_fail(p, FA_WS_CLOSE_PROTOCOL); /* the top bit must be 0 */
        if (length <= 0xFFFF)
            return fa_ws_fail(p, FA_WS_CLOSE_PROTOCOL);
    }
    if (p->max_frame && length > p->max_frame)
        return fa_ws_fail(p, FA_WS_CLOSE_TOO_BIG);
    if (!fa_ws_is_control(opcode) && p->max_message) {
        uint64_t so_far = opcode == FA_WS_OP_CONT ? p->msg_length : 0;
        if (length > p->max_message - so_far)
            return fa_ws_fail(p, FA_WS_CLOSE_TOO_BIG);
    }

    p->opcode = opcode;
    p->fin = fin;
    p->rsv1 = rsv1;
    p->masked = masked;
    if (masked)
        memcpy(p->mask, q, 4);
    else
        memset(p->mask, 0, 4);
    p->length = length;
    p->remaining = length;
    if (opcode == FA_WS_OP_TEXT || opcode == FA_WS_OP_BINARY) {
        p->msg_opcode = opcode;
        p->msg_compressed = rsv1;
        p->msg_length = length;
        p->utf8 = 0;
    } else if (opcode == FA_WS_OP_CONT) {
        p->msg_length += length;
    }
    return (int)need;
}

void fa_ws_unmask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
    uint8_t m[4];
    for (int i = 0; i < 4; i++)
        m[i] = mask[(offset + (uint64_t)i) & 3];
    size_t i = 0;
    /* Eight bytes at a time through memcpy (no alignment assumptions; the
     * compiler turns it into plain loads and stores). */
    if (len >= 8) {
        uint8_t m8[8] = {m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]};
        uint64_t w, k;
        memcpy(&k, m8, 8);
        for (; i + 8 <= len; i += 8) {
            memcpy(&w, data + i, 8);
            w ^= k;
            memcpy(data + i, &w, 8);
        }
    }
    for (; i < len; i++)
        data[i] ^= m[i & 3];
}

/* The UTF-8 decoder's state packs what the next byte must be:
 *   bits 0-7   continuation bytes still expected (0: between characters)
 *   bits 8-15  the lowest allowed value of the next byte
 *   bits 16-23 the highest
 * The first continuation byte's range excludes overlong forms (E0, F0),
 * surrogates (ED) and code points past U+10FFFF (F4). */
static inline uint32_t fa_ws_utf8_expect(uint32_t count, uint32_t lo, uint32_t hi)
{
    return count | (lo << 8) | (hi << 16);
}

int fa_ws_utf8_feed(uint32_t *state, const uint8_t *s, size_t len)
{
    uint32_t st = *state;
    size_t i = 0;
    while (i < len) {
        if (st == 0) {
            /* ASCII runs are the common case: skip them eight at a time. */
            while (i + 8 <= len) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & UINT64_C(0x8080808080808080))
                    break;
                i += 8;
            }
            if (i >= len)
                break;
            uint8_t c = s[i++];
            if (c < 0x80)
                continue;
            if (c >= 0xC2 && c <= 0xDF)
                st = fa_ws_utf8_expect(1, 0x80, 0xBF);
            else if (c == 0xE0)
                st = fa_ws_utf8_expect(2, 0xA0, 0xBF);
            else if (c == 0xED)
                st = fa_ws_utf8_expect(2, 0x80, 0x9F);
            else if (c >= 0xE1 && c <= 0xEF)
                st = fa_ws_utf8_expect(2, 0x80, 0xBF);
            else if (c == 0xF0)
                st = fa_ws_utf8_expect(3, 0x90, 0xBF);
            else if (c >= 0xF1 && c <= 0xF3)
                st = fa_ws_utf8_expect(3, 0x80, 0xBF);
            else if (c == 0xF4)
                st = fa_ws_utf8_expect(3, 0x80, 0x8F);
            else {
                *state = st;
                return -1;
            }
        } else {
            uint8_t c = s[i++];
            uint32_t lo = (st >> 8) & 0xFF, hi = (st >> 16) & 0xFF;
            if (c < lo || c > hi) {
                *state = st;
                return -1;
            }
            uint32_t left = (st & 0xFF) - 1;
            st = left ? fa_ws_utf8_expect(left, 0x80, 0xBF) : 0;
        }
    }
    *state = st;
    return 0;
}

int fa_ws_utf8_valid(const uint8_t *s, size_t len)
{
    uint32_t st = 0;
    return fa_ws_utf8_feed(&st, s, len) == 0 && st == 0;
}

int fa_ws_payload(fa_ws_parser *p, uint8_t *data, size_t len)
{
    if (len > p->remaining)
        len = (size_t)p->remaining; /* a caller bug; never read past the frame */
    uint64_t offset = p->length - p->remaining;
    if (p->masked)
        fa_ws_unmask(data, len, p->mask, offset);
    p->remaining -= len;
    /* Compressed text is checked after inflating (deflate.h); control
     * payloads by their own rules (fa_ws_parse_close). */
    if (!fa_ws_is_control(p->opcode) && p->msg_opcode == FA_WS_OP_TEXT && !p->msg_compressed) {
        if (fa_ws_utf8_feed(&p->utf8, data, len) != 0)
            return fa_ws_fail(p, FA_WS_CLOSE_INVALID_DATA);
    }
    return 0;
}

int fa_ws_frame_done(fa_ws_parser *p)
{
    if (fa_ws_is_control(p->opcode) || !p->fin)
        return 0;
    int text_open = p->msg_opcode == FA_WS_OP_TEXT && !p->msg_compressed && p->utf8 != 0;
    p->msg_opcode = 0;
    p->msg_compressed = 0;
    p->msg_length = 0;
    p->utf8 = 0;
    if (text_open)
        return fa_ws_fail(p, FA_WS_CLOSE_INVALID_DATA);
    return 1;
}

size_t fa_ws_write_head(uint8_t *out, int fin, int rsv1, uint8_t opcode, uint64_t len,
                        const uint8_t *mask)
{
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0F));
    uint8_t mbit = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = (uint8_t)(mbit | len);
    } else if (len <= 0xFFFF) {
        out[n++] = (uint8_t)(mbit | 126);
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = (uint8_t)(mbit | 127);
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(len >> (8 * i));
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

int fa_ws_close_code_valid(unsigned code)
{
    if (code >= 1000 && code <= 1003)
        return 1;
    if (code >= 1007 && code <= 1014)
        return 1;
    return code >= 3000 && code <= 4999;
}

int fa_ws_parse_close(const uint8_t *payload, size_t len, unsigned *code,
                      const uint8_t **reason, size_t *reason_len)
{
    *reason = payload;
    *reason_len = 0;
    if (len == 0) {
        *code = FA_WS_CLOSE_NO_STATUS;
        return 0;
    }
    if (len == 1) {
        *code = FA_WS_CLOSE_PROTOCOL;
        return FA_WS_ERROR;
    }
    unsigned c = ((unsigned)payload[0] << 8) | payload[1];
    if (!fa_ws_close_code_valid(c)) {
        *code = FA_WS_CLOSE_PROTOCOL;
        return FA_WS_ERROR;
    }
    if (!fa_ws_utf8_valid(payload + 2, len - 2)) {
        *code = FA_WS_CLOSE_INVALID_DATA;
        return FA_WS_ERROR;
    }
    *code = c;
    *reason = payload + 2;
    *reason_len = len - 2;
    return 0;
}

size_t fa_ws_write_close(uint8_t *out, unsigned code, const char *reason, size_t reason_len)
{
    if (code == 0)
        return 0;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    size_t n = reason_len;
    if (n > FA_WS_MAX_CONTROL - 2) {
        n = FA_WS_MAX_CONTROL - 2;
        /* Back up to the start of a character so the cut reason stays UTF-8. */
        while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80)
            n--;
    }
    if (n)
        memcpy(out + 2, reason, n);
    return 2 + n;
}
