/* test_ws.c - unit tests for csrc/ws/ (frame codec, handshake, deflate).
 *
 * Every stream of frames is fed to the parser whole, in 3-byte pieces and
 * one byte at a time, and each way must give the same events; each close
 * code RFC 6455 asks for is checked on its own case.  The last line printed
 * is "N passed, N failed"; the exit status is non-zero on any failure.
 */
#include "../../csrc/ws/deflate.h"
#include "../../csrc/ws/frame.h"
#include "../../csrc/ws/handshake.h"
#include "../../csrc/ws/reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* ---- a tiny client-side frame writer ------------------------------------ */

typedef struct fa_t_wire {
    uint8_t b[1 << 20];
    size_t n;
} fa_t_wire;

static fa_t_wire fa_t_w;

static void fa_t_frame(fa_t_wire *w, int fin, int rsv, uint8_t op, const void *payload, size_t len,
                       int masked)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = fa_ws_write_head(w->b + w->n, fin, rsv & 4, op, len, masked ? mask : NULL);
    w->b[w->n] |= (uint8_t)((rsv & 3) << 4); /* RSV2/RSV3 for the error cases */
    w->n += h;
    memcpy(w->b + w->n, payload, len);
    if (masked)
        fa_ws_unmask(w->b + w->n, len, mask, 0);
    w->n += len;
}

/* ---- running the parser ------------------------------------------------- */

/* What a stream gave: the messages and control frames in order, as text
 * ("T:hello|P:|B:3|E1002"), so that every feeding must give the same. */
typedef struct fa_t_events {
    char log[4096];
    size_t len;
    uint8_t msg[1 << 20];
    size_t msg_len;
} fa_t_events;

static fa_t_events fa_t_ev[3];

static void fa_t_log(fa_t_events *e, const char *fmt, const void *p, size_t n)
{
    char tmp[256];
    int k;
    if (p) {
        size_t show = n > 64 ? 64 : n;
        k = snprintf(tmp, sizeof(tmp), fmt, (int)show, (const char *)p);
    } else {
        k = snprintf(tmp, sizeof(tmp), fmt, n);
    }
    if (k > 0 && e->len + (size_t)k < sizeof(e->log)) {
        memcpy(e->log + e->len, tmp, (size_t)k);
        e->len += (size_t)k;
        e->log[e->len] = 0;
    }
}

/* Feeds `in` through a server parser `step` bytes at a time (0: all at
 * once), collecting events.  Bytes are copied into a buffer that grows by
 * `step`, as a socket read would. */
static void fa_t_run(const uint8_t *in, size_t n, size_t step, uint64_t max_msg, int rsv1,
                     fa_t_events *e)
{
    static uint8_t buf[1 << 20];
    fa_ws_parser p;
    fa_ws_parser_init(&p, 1, max_msg, 0);
    p.allow_rsv1 = rsv1 ? 1 : 0;
    memset(e, 0, sizeof(*e));
    size_t have = 0, fed = 0, pos = 0;
    uint8_t ctl[FA_WS_MAX_CONTROL];
    size_t ctl_len = 0;
    int in_head = 1;
    while (1) {
        if (pos == have) {
            if (fed == n)
                break;
            size_t k = step ? step : n;
            if (k > n - fed)
                k = n - fed;
            memcpy(buf + have, in + fed, k);
            have += k;
            fed += k;
        }
        if (in_head) {
            int r = fa_ws_parse_head(&p, buf + pos, have - pos);
            if (r == FA_WS_INCOMPLETE) {
                if (fed == n)
                    break;
                size_t k = step ? step : n;
                if (k > n - fed)
                    k = n - fed;
                memcpy(buf + have, in + fed, k);
                have += k;
                fed += k;
                continue;
            }
            if (r < 0) {
                fa_t_log(e, "E%zu", NULL, p.close_code);
                return;
            }
            pos += (size_t)r;
            in_head = 0;
            ctl_len = 0;
        }
        size_t take = have - pos;
        if (take > p.remaining)
            take = (size_t)p.remaining;
        uint8_t *data = buf + pos;
        if (fa_ws_payload(&p, data, take) != 0) {
            fa_t_log(e, "E%zu", NULL, p.close_code);
            return;
        }
        if (fa_ws_is_control(p.opcode)) {
            memcpy(ctl + ctl_len, data, take);
            ctl_len += take;
        } else {
            memcpy(e->msg + e->msg_len, data, take);
            e->msg_len += take;
        }
        pos += take;
        if (p.remaining == 0) {
            uint8_t op = p.opcode, compressed = p.msg_compressed;
            int r = fa_ws_frame_done(&p);
            if (r < 0) {
                fa_t_log(e, "E%zu", NULL, p.close_code);
                return;
            }
            if (op == FA_WS_OP_PING)
                fa_t_log(e, "P:%.*s|", ctl, ctl_len);
            else if (op == FA_WS_OP_PONG)
                fa_t_log(e, "O:%.*s|", ctl, ctl_len);
            else if (op == FA_WS_OP_CLOSE) {
                unsigned code;
                const uint8_t *reason;
                size_t rl;
                if (fa_ws_parse_close(ctl, ctl_len, &code, &reason, &rl) != 0) {
                    fa_t_log(e, "E%zu", NULL, code);
                    return;
                }
                fa_t_log(e, "C%zu:", NULL, code);
                fa_t_log(e, "%.*s|", reason, rl);
            } else if (r == 1) {
                fa_t_log(e, compressed ? "Z" : "M", NULL, 0);
                fa_t_log(e, "%.*s|", e->msg, e->msg_len);
                e->msg_len = 0;
            }
            in_head = 1;
        }
    }
    if (!in_head || pos != have)
        fa_t_log(e, "...", NULL, 0);
}

/* Runs the stream three ways and checks they agree on `expect`. */
static void fa_t_expect(const char *what, const uint8_t *in, size_t n, uint64_t max_msg, int rsv1,
                        const char *expect)
{
    size_t steps[3] = {0, 3, 1};
    for (int i = 0; i < 3; i++) {
        fa_t_run(in, n, steps[i], max_msg, rsv1, &fa_t_ev[i]);
        CHECK(strcmp(fa_t_ev[i].log, expect) == 0, "%s (step %zu): got '%s', want '%s'", what,
              steps[i], fa_t_ev[i].log, expect);
    }
}

#define WIRE_RESET() (fa_t_w.n = 0)

static void test_messages(void)
{
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_TEXT, "hello", 5, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_BINARY, "\x01\x02\xff", 3, 1);
    fa_t_expect("text and binary", fa_t_w.b, fa_t_w.n, 0, 0, "Mhello|M\x01\x02\xff|");

    WIRE_RESET();
    fa_t_frame(&fa_t_w, 0, 0, FA_WS_OP_TEXT, "fra", 3, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_PING, "p1", 2, 1);
    fa_t_frame(&fa_t_w, 0, 0, FA_WS_OP_CONT, "gm", 2, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_PONG, "", 0, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CONT, "ents", 4, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CLOSE, "\x03\xe8" "bye", 5, 1);
    fa_t_expect("fragments with control frames between", fa_t_w.b, fa_t_w.n, 0, 0,
                "P:p1|O:|Mfragments|C1000:bye|");

    /* 126- and 64-bit lengths */
    static uint8_t big[70000];
    memset(big, 'a', sizeof(big));
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_BINARY, big, 200, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_BINARY, big, sizeof(big), 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CLOSE, "", 0, 1);
    fa_t_run(fa_t_w.b, fa_t_w.n, 0, 0, 0, &fa_t_ev[0]);
    CHECK(strstr(fa_t_ev[0].log, "C1005:|") != NULL, "long lengths parse: %s", fa_t_ev[0].log);

    /* UTF-8 split between fragments, and a multi-byte character per byte */
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 0, 0, FA_WS_OP_TEXT, "\xe2\x82", 2, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CONT, "\xac\xf0\x9f\x98\x80", 5, 1);
    fa_t_expect("utf-8 across fragments", fa_t_w.b, fa_t_w.n, 0, 0,
                "M\xe2\x82\xac\xf0\x9f\x98\x80|");

    /* the size limit counts the whole message, not one frame */
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 0, 0, FA_WS_OP_BINARY, big, 6, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CONT, big, 6, 1);
    fa_t_expect("12 bytes within 12", fa_t_w.b, fa_t_w.n, 12, 0, "Maaaaaaaaaaaa|");
    fa_t_expect("12 bytes over 11", fa_t_w.b, fa_t_w.n, 11, 0, "E1009");

    /* RSV1 opens a compressed message when negotiated */
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 0, 4, FA_WS_OP_TEXT, "\xff", 1, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CONT, "\xfe", 1, 1);
    fa_t_expect("rsv1 with deflate: no utf-8 check before inflating", fa_t_w.b, fa_t_w.n, 0, 1,
                "Z\xff\xfe|");
}

static void test_protocol_errors(void)
{
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_TEXT, "x", 1, 0);
    fa_t_expect("unmasked client frame", fa_t_w.b, fa_t_w.n, 0, 0, "E1002");

    static const uint8_t reserved_ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof(reserved_ops); i++) {
        WIRE_RESET();
        fa_t_frame(&fa_t_w, 1, 0, reserved_ops[i], "x", 1, 1);
        fa_t_expect("reserved opcode", fa_t_w.b, fa_t_w.n, 0, 0, "E1002");
    }
    for (int rsv = 1; rsv <= 3; rsv++) {
        WIRE_RESET();
        fa_t_frame(&fa_t_w, 1, rsv, FA_WS_OP_TEXT, "x", 1, 1);
        fa_t_expect("rsv2/rsv3", fa_t_w.b, fa_t_w.n, 0, 0, "E1002");
    }
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 4, FA_WS_OP_TEXT, "x", 1, 1);
    fa_t_expect("rsv1 without deflate", fa_t_w.b, fa_t_w.n, 0, 0, "E1002");
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 0, 4, FA_WS_OP_TEXT, "x", 1, 1);
    fa_t_frame(&fa_t_w, 1, 4, FA_WS_OP_CONT, "x", 1, 1);
    fa_t_expect("rsv1 on a continuation", fa_t_w.b, fa_t_w.n, 0, 1, "E1002");
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 4, FA_WS_OP_PING, "x", 1, 1);
    fa_t_expect("rsv1 on a ping", fa_t_w.b, fa_t_w.n, 0, 1, "E1002");

    static uint8_t big[200];
    memset(big, 'p', sizeof(big));
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_PING, big, 126, 1);
    fa_t_expect("ping over 125 bytes", fa_t_w.b, fa_t_w.n, 0, 0, "E1002");
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_PING, big, 125, 1);
    fa_t_run(fa_t_w.b, fa_t_w.n, 1, 0, 0, &fa_t_ev[0]);
    CHECK(fa_t_ev[0].log[0] == 'P', "ping of 125 bytes accepted: %.10s", fa_t_ev[0].log);
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 0, 0, FA_WS_OP_PING, "x", 1, 1);
    fa_t_expect("fragmented ping", fa_t_w.b, fa_t_w.n, 0, 0, "E1002");
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 0, 0, FA_WS_OP_CLOSE, "", 0, 1);
    fa_t_expect("fragmented close", fa_t_w.b, fa_t_w.n, 0, 0, "E1002");

    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CONT, "x", 1, 1);
    fa_t_expect("continuation without a message", fa_t_w.b, fa_t_w.n, 0, 0, "E1002");
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 0, 0, FA_WS_OP_TEXT, "a", 1, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_TEXT, "b", 1, 1);
    fa_t_expect("new message inside a fragmented one", fa_t_w.b, fa_t_w.n, 0, 0, "E1002");

    /* non-minimal and over-63-bit lengths */
    static const uint8_t nonmin16[] = {0x82, 0xFE, 0x00, 0x05, 1, 2, 3, 4, 0, 0, 0, 0, 0};
    fa_t_expect("16-bit length under 126", nonmin16, sizeof(nonmin16), 0, 0, "E1002");
    static const uint8_t nonmin64[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4};
    fa_t_expect("64-bit length under 65536", nonmin64, sizeof(nonmin64), 0, 0, "E1002");
    static const uint8_t top64[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    fa_t_expect("64-bit length with the top bit", top64, sizeof(top64), 0, 0, "E1002");
    static const uint8_t huge[] = {0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
    fa_t_expect("4 GiB frame over a 16 MiB limit", huge, sizeof(huge), 16 << 20, 0, "E1009");

    /* server parser on a client: a masked server frame is an error too */
    fa_ws_parser cp;
    fa_ws_parser_init(&cp, 0, 0, 0);
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_TEXT, "x", 1, 1);
    CHECK(fa_ws_parse_head(&cp, fa_t_w.b, fa_t_w.n) == FA_WS_ERROR && cp.close_code == 1002,
          "client refuses a masked frame");
    fa_ws_parser_init(&cp, 0, 0, 4);
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_TEXT, "hello", 5, 0);
    CHECK(fa_ws_parse_head(&cp, fa_t_w.b, fa_t_w.n) == FA_WS_ERROR && cp.close_code == 1009,
          "max frame size");
}

static void test_utf8(void)
{
    static const struct {
        const char *s;
        size_t n;
        int ok;
    } cases[] = {
        {"", 0, 1},
        {"plain ascii, longer than eight bytes", 36, 1},
        {"\xc2\x80", 2, 1},
        {"\xdf\xbf", 2, 1},
        {"\xe0\xa0\x80", 3, 1},
        {"\xed\x9f\xbf", 3, 1},      /* U+D7FF */
        {"\xee\x80\x80", 3, 1},      /* U+E000 */
        {"\xef\xbf\xbf", 3, 1},      /* U+FFFF */
        {"\xf0\x90\x80\x80", 4, 1},  /* U+10000 */
        {"\xf4\x8f\xbf\xbf", 4, 1},  /* U+10FFFF */
        {"\x80", 1, 0},              /* lone continuation */
        {"\xc0\xaf", 2, 0},          /* overlong '/' */
        {"\xc1\xbf", 2, 0},
        {"\xe0\x80\xaf", 3, 0},      /* overlong */
        {"\xed\xa0\x80", 3, 0},      /* U+D800 surrogate */
        {"\xed\xbf\xbf", 3, 0},      /* U+DFFF */
        {"\xf0\x80\x80\xaf", 4, 0},  /* overlong */
        {"\xf4\x90\x80\x80", 4, 0},  /* U+110000 */
        {"\xf5\x80\x80\x80", 4, 0},
        {"\xff", 1, 0},
        {"\xe2\x82", 2, 0},          /* truncated */
        {"abc\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 14, 1},
        {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64", 16, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const uint8_t *s = (const uint8_t *)cases[i].s;
        CHECK(fa_ws_utf8_valid(s, cases[i].n) == cases[i].ok, "utf8 case %zu", i);
        /* one byte at a time gives the same verdict */
        uint32_t st = 0;
        int bad = 0;
        for (size_t k = 0; k < cases[i].n && !bad; k++)
            bad = fa_ws_utf8_feed(&st, s + k, 1) != 0;
        CHECK((!bad && st == 0) == cases[i].ok, "utf8 case %zu byte by byte", i);
    }
    /* fail fast: the error is seen at the bad byte of an unfinished text */
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 0, 0, FA_WS_OP_TEXT, "ok\xed\xa0", 4, 1);
    fa_t_expect("invalid utf-8 in a first fragment", fa_t_w.b, fa_t_w.n, 0, 0, "E1007");
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_TEXT, "\xe2\x82", 2, 1);
    fa_t_expect("text ending inside a character", fa_t_w.b, fa_t_w.n, 0, 0, "E1007");
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_BINARY, "\xff\xfe", 2, 1);
    fa_t_expect("binary is not checked", fa_t_w.b, fa_t_w.n, 0, 0, "M\xff\xfe|");
}

static void test_close_codes(void)
{
    for (unsigned code = 0; code < 5100; code++) {
        int want = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                   (code >= 3000 && code <= 4999);
        if (fa_ws_close_code_valid(code) != want) {
            CHECK(0, "close code %u validity", code);
            break;
        }
    }
    CHECK(1, "close code table");
    static const unsigned bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t pl[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        WIRE_RESET();
        fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CLOSE, pl, 2, 1);
        char what[64];
        snprintf(what, sizeof(what), "close with code %u", bad[i]);
        fa_t_expect(what, fa_t_w.b, fa_t_w.n, 0, 0, "E1002");
    }
    static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint8_t pl[2] = {(uint8_t)(good[i] >> 8), (uint8_t)good[i]};
        WIRE_RESET();
        fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CLOSE, pl, 2, 1);
        char want[32];
        snprintf(want, sizeof(want), "C%u:|", good[i]);
        fa_t_expect("close with a valid code", fa_t_w.b, fa_t_w.n, 0, 0, want);
    }
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CLOSE, "\x03", 1, 1);
    fa_t_expect("close payload of 1 byte", fa_t_w.b, fa_t_w.n, 0, 0, "E1002");
    WIRE_RESET();
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CLOSE, "\x03\xe8\xff", 3, 1);
    fa_t_expect("close reason not utf-8", fa_t_w.b, fa_t_w.n, 0, 0, "E1007");

    /* writing: the reason is cut to fit 125 bytes at a character boundary */
    uint8_t out[FA_WS_MAX_CONTROL];
    char reason[200];
    for (int i = 0; i < 100; i++) {
        reason[2 * i] = (char)0xc3;
        reason[2 * i + 1] = (char)0xa9; /* é */
    }
    size_t n = fa_ws_write_close(out, 1001, reason, sizeof(reason));
    CHECK(n <= FA_WS_MAX_CONTROL && n >= 120, "close payload fits: %zu", n);
    CHECK(fa_ws_utf8_valid(out + 2, n - 2), "cut reason is utf-8");
    CHECK(out[0] == 0x03 && out[1] == 0xe9, "code 1001 big-endian");
    CHECK(fa_ws_write_close(out, 0, "x", 1) == 0, "no code: empty payload");
}

static void test_heads_and_mask(void)
{
    uint8_t h[FA_WS_MAX_HEAD];
    CHECK(fa_ws_write_head(h, 1, 0, FA_WS_OP_TEXT, 5, NULL) == 2 && h[0] == 0x81 && h[1] == 5,
          "small head");
    CHECK(fa_ws_write_head(h, 1, 0, FA_WS_OP_BINARY, 126, NULL) == 4 && h[1] == 126 &&
              h[2] == 0 && h[3] == 126, "16-bit head");
    CHECK(fa_ws_write_head(h, 0, 1, FA_WS_OP_TEXT, 65536, NULL) == 10 && h[0] == 0x41 &&
              h[1] == 127 && h[7] == 1, "64-bit head");
    static const uint8_t m[4] = {1, 2, 3, 4};
    CHECK(fa_ws_write_head(h, 1, 0, FA_WS_OP_PING, 0, m) == 6 && h[1] == 0x80, "masked head");

    /* unmasking in pieces at any offset equals unmasking at once */
    uint8_t a[37], b[37];
    for (int i = 0; i < 37; i++)
        a[i] = b[i] = (uint8_t)(i * 7);
    fa_ws_unmask(a, 37, m, 0);
    fa_ws_unmask(b, 5, m, 0);
    fa_ws_unmask(b + 5, 13, m, 5);
    fa_ws_unmask(b + 18, 19, m, 18);
    CHECK(memcmp(a, b, 37) == 0, "unmask in pieces");
    CHECK(a[0] == (0 ^ 1) && a[1] == (7 ^ 2) && a[4] == (28 ^ 1), "unmask values");

    /* RFC 6455 section 5.7: a masked "Hello" */
    static const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    fa_t_expect("RFC 6455 5.7 masked Hello", hello, sizeof(hello), 0, 0, "MHello|");
}

static void test_handshake(void)
{
    char acc[FA_WS_ACCEPT_LEN + 1];
    CHECK(fa_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, acc) == 0 &&
              strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0, "RFC 6455 accept example: %s", acc);
    char b64[16];
    fa_ws_base64((const unsigned char *)"f", 1, b64);
    CHECK(strcmp(b64, "Zg==") == 0, "base64 f");
    fa_ws_base64((const unsigned char *)"fo", 2, b64);
    CHECK(strcmp(b64, "Zm8=") == 0, "base64 fo");
    fa_ws_base64((const unsigned char *)"foo", 3, b64);
    CHECK(strcmp(b64, "Zm9v") == 0, "base64 foo");

    CHECK(fa_ws_has_token("keep-alive, Upgrade", 19, "upgrade"), "token list");
    CHECK(!fa_ws_has_token("upgraded", 8, "upgrade"), "no prefix match");
    CHECK(fa_ws_has_token(" websocket ", 11, "websocket"), "spaces");

    fa_header hs[6] = {
        {"host", 4, "x", 1},
        {"upgrade", 7, "websocket", 9},
        {"connection", 10, "Upgrade", 7},
        {"sec-websocket-key", 17, "dGhlIHNhbXBsZSBub25jZQ==", 24},
        {"sec-websocket-version", 21, "13", 2},
        {"sec-websocket-protocol", 22, "chat, superchat", 15},
    };
    fa_request r;
    memset(&r, 0, sizeof(r));
    r.method = "GET";
    r.method_len = 3;
    r.http_version = 11;
    r.headers = hs;
    r.num_headers = 6;
    fa_ws_handshake h;
    CHECK(fa_ws_is_upgrade_h1(&r), "is upgrade");
    fa_ws_check_h1(&r, &h);
    CHECK(h.status == 0 && h.key_len == 24 && h.protocols_len == 15, "good handshake");
    hs[4].value = "8";
    hs[4].value_len = 1;
    fa_ws_check_h1(&r, &h);
    CHECK(h.status == 426, "version 8: 426");
    hs[4].value = "13";
    hs[4].value_len = 2;
    hs[3].value = "short==";
    hs[3].value_len = 7;
    fa_ws_check_h1(&r, &h);
    CHECK(h.status == 400, "bad key: 400");
    hs[3].value = "dGhlIHNhbXBsZSBub25jZR==";
    hs[3].value_len = 24;
    fa_ws_check_h1(&r, &h);
    CHECK(h.status == 400, "key with non-zero padding bits: 400");
    hs[3].value = "dGhlIHNhbXBsZSBub25jZQ==";
    r.method = "POST";
    r.method_len = 4;
    fa_ws_check_h1(&r, &h);
    CHECK(h.status == 400, "POST: 400");
    r.method = "GET";
    r.method_len = 3;
    r.http_version = 10;
    fa_ws_check_h1(&r, &h);
    CHECK(h.status == 400, "HTTP/1.0: 400");
    r.http_version = 11;
    hs[2].value = "keep-alive";
    hs[2].value_len = 10;
    fa_ws_check_h1(&r, &h);
    CHECK(h.status == 400, "no Connection: upgrade: 400");
    r.num_headers = 5;
    hs[2].value = "Upgrade";
    hs[2].value_len = 7;
    r.http_version = 20;
    fa_ws_check_h2(&r, &h);
    CHECK(h.status == 0 && h.protocols == NULL, "h2 handshake needs no key");
    /* RFC 6455 11.3.1 / 11.3.5: the key and the version appear once */
    fa_header twice[7];
    memcpy(twice, hs, sizeof(hs));
    r.headers = twice;
    r.num_headers = 7;
    r.http_version = 11;
    twice[6] = hs[3];
    fa_ws_check_h1(&r, &h);
    CHECK(h.status == 400, "two keys: 400");
    twice[6] = hs[4];
    fa_ws_check_h1(&r, &h);
    CHECK(h.status == 400, "two versions: 400");
    fa_ws_check_h2(&r, &h);
    CHECK(h.status == 400, "h2: two versions: 400");
}

static void test_deflate(void)
{
    fa_ws_deflate_config cfg = {15, 15, 0};
    fa_ws_deflate_params p;
    char resp[256];
    CHECK(fa_ws_deflate_negotiate("permessage-deflate", 18, &cfg, &p, resp, sizeof(resp)) == 1 &&
              strcmp(resp, "permessage-deflate") == 0, "plain offer: %s", resp);
    const char *o = "permessage-deflate; client_max_window_bits";
    CHECK(fa_ws_deflate_negotiate(o, strlen(o), &cfg, &p, resp, sizeof(resp)) == 1 &&
              strcmp(resp, "permessage-deflate") == 0 && p.client_max_window_bits == 15,
          "client_max_window_bits without value: %s", resp);
    fa_ws_deflate_config small = {10, 9, 1};
    CHECK(fa_ws_deflate_negotiate(o, strlen(o), &small, &p, resp, sizeof(resp)) == 1 &&
              strcmp(resp, "permessage-deflate; server_no_context_takeover; "
                           "server_max_window_bits=10; client_max_window_bits=9") == 0,
          "server limits: %s", resp);
    o = "permessage-deflate; server_max_window_bits=8, permessage-deflate; "
        "server_no_context_takeover; client_no_context_takeover; server_max_window_bits=\"12\"";
    CHECK(fa_ws_deflate_negotiate(o, strlen(o), &cfg, &p, resp, sizeof(resp)) == 1 &&
              p.server_max_window_bits == 12 && p.server_no_context_takeover &&
              p.client_no_context_takeover &&
              strcmp(resp, "permessage-deflate; server_no_context_takeover; "
                           "client_no_context_takeover; server_max_window_bits=12") == 0,
          "second offer taken (8 bits declined): %s", resp);
    static const char *declined[] = {
        "permessage-deflate; foo",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover=1",
        "x-webkit-deflate-frame",
        "",
    };
    for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++)
        CHECK(fa_ws_deflate_negotiate(declined[i], strlen(declined[i]), &cfg, &p, resp,
                                      sizeof(resp)) == 0, "declined: %s", declined[i]);

    /* RFC 7692 section 7.2.3.1: "Hello" compressed */
    fa_ws_deflate_params pp = {0, 0, 15, 15};
    fa_ws_deflate d;
    CHECK(fa_ws_deflate_init(&d, &pp) == 0, "deflate init");
    fa_buf out = FA_BUF_INIT;
    unsigned code = 0;
    static const uint8_t hello_z[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    CHECK(fa_ws_inflate(&d, hello_z, sizeof(hello_z), 1, &out, 100, &code) == 0 &&
              out.len == 5 && memcmp(out.data, "Hello", 5) == 0, "inflate RFC Hello");
    /* with context takeover the second "Hello" refers back (7.2.3.2) */
    static const uint8_t hello_z2[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    fa_buf_reset(&out);
    CHECK(fa_ws_inflate(&d, hello_z2, sizeof(hello_z2), 1, &out, 100, &code) == 0 &&
              out.len == 5 && memcmp(out.data, "Hello", 5) == 0, "inflate with shared window");
    /* in pieces */
    fa_buf_reset(&out);
    fa_ws_deflate_free(&d);
    CHECK(fa_ws_deflate_init(&d, &pp) == 0, "deflate init 2");
    int ok = 1;
    for (size_t i = 0; i < sizeof(hello_z); i++)
        ok &= fa_ws_inflate(&d, hello_z + i, 1, 0, &out, 100, &code) == 0;
    ok &= fa_ws_inflate(&d, NULL, 0, 1, &out, 100, &code) == 0;
    CHECK(ok && out.len == 5 && memcmp(out.data, "Hello", 5) == 0, "inflate byte by byte");

    /* round trip, both context modes */
    for (int nct = 0; nct < 2; nct++) {
        fa_ws_deflate_params q = {nct, nct, 15, 15};
        fa_ws_deflate a, b;
        CHECK(fa_ws_deflate_init(&a, &q) == 0 && fa_ws_deflate_init(&b, &q) == 0, "init pair");
        /* b inflates what a deflates: the same parameters in both directions */
        for (int m = 0; m < 3; m++) {
            static char text[5000];
            for (size_t i = 0; i < sizeof(text); i++)
                text[i] = (char)('a' + (i * 7 + (size_t)m) % 26);
            fa_buf z = FA_BUF_INIT, back = FA_BUF_INIT;
            CHECK(fa_ws_deflate_message(&a, (const uint8_t *)text, sizeof(text), &z) == 0,
                  "deflate message");
            CHECK(z.len < sizeof(text) / 4, "compresses: %zu", z.len);
            CHECK(fa_ws_inflate(&b, (uint8_t *)z.data, z.len, 1, &back, 1 << 20, &code) == 0 &&
                      back.len == sizeof(text) && memcmp(back.data, text, sizeof(text)) == 0,
                  "round trip %d/%d", nct, m);
            fa_buf_free(&z);
            fa_buf_free(&back);
        }
        fa_buf z = FA_BUF_INIT, back = FA_BUF_INIT;
        CHECK(fa_ws_deflate_message(&a, (const uint8_t *)"", 0, &z) == 0 && z.len >= 1,
              "empty message compresses to something");
        CHECK(fa_ws_inflate(&b, (uint8_t *)z.data, z.len, 1, &back, 10, &code) == 0 && back.len == 0,
              "empty message round trip");
        fa_buf_free(&z);
        fa_buf_free(&back);
        fa_ws_deflate_free(&a);
        fa_ws_deflate_free(&b);
    }

    /* a decompression bomb stops at the limit with 1009 */
    fa_ws_deflate a;
    CHECK(fa_ws_deflate_init(&a, &pp) == 0, "init bomb");
    size_t zeros_n = 8 << 20;
    uint8_t *zeros = calloc(1, zeros_n);
    fa_buf z = FA_BUF_INIT;
    CHECK(zeros && fa_ws_deflate_message(&a, zeros, zeros_n, &z) == 0, "deflate 8 MiB of zeros");
    CHECK(z.len < 16384, "bomb is small: %zu", z.len);
    fa_buf_reset(&out);
    fa_ws_deflate_free(&d);
    CHECK(fa_ws_deflate_init(&d, &pp) == 0, "init inflater");
    code = 0;
    CHECK(fa_ws_inflate(&d, (uint8_t *)z.data, z.len, 1, &out, 1 << 20, &code) == -1 && code == 1009,
          "bomb: 1009 (%u)", code);
    CHECK(out.len <= (1 << 20) + 1 && out.cap <= (2 << 20) + 16384 * 2,
          "bomb buffered at most the limit (capacity grows by doubling): %zu/%zu", out.len, out.cap);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    fa_ws_deflate_free(&d);
    CHECK(fa_ws_deflate_init(&d, &pp) == 0, "init inflater 2");
    fa_buf_reset(&out);
    CHECK(fa_ws_inflate(&d, junk, sizeof(junk), 1, &out, 1 << 20, &code) == -1 && code == 1007,
          "corrupt data: 1007 (%u)", code);
    free(zeros);
    fa_buf_free(&z);
    fa_buf_free(&out);
    fa_ws_deflate_free(&a);
    fa_ws_deflate_free(&d);
}

/* ---- the reader: bytes to events, fed whole, in 3-byte pieces, byte by byte */

typedef struct fa_t_rdlog {
    char log[4096]; /* "M1:hello|C9:p|E1002|" ... */
    size_t n;
    int copied;     /* some message was delivered from the reader's buffer */
} fa_t_rdlog;

static void fa_t_rd(const uint8_t *wire, size_t n, size_t step, uint64_t max_message,
                    fa_ws_deflate *z, fa_t_rdlog *out)
{
    static uint8_t buf[1 << 20];
    fa_ws_reader r;
    fa_ws_reader_init(&r, max_message, 0);
    if (z != NULL)
        fa_ws_reader_set_deflate(&r, z);
    memset(out, 0, sizeof(*out));
    size_t have = 0, pos = 0;
    for (;;) {
        fa_ws_event ev;
        int k = fa_ws_reader_next(&r, buf, have, &pos, &ev);
        if (k == FA_WS_EV_NONE) {
            if (have == n)
                break;
            size_t add = step && step < n - have ? step : n - have;
            memcpy(buf + have, wire + have, add);
            have += add;
            continue;
        }
        int w;
        if (k == FA_WS_EV_ERROR)
            w = snprintf(out->log + out->n, sizeof(out->log) - out->n, "E%u|", ev.close_code);
        else
            w = snprintf(out->log + out->n, sizeof(out->log) - out->n, "%c%u:%.*s|",
                         k == FA_WS_EV_MESSAGE ? 'M' : 'C', ev.opcode, (int)ev.len, (const char *)ev.data);
        if (k == FA_WS_EV_MESSAGE && ev.data == (const uint8_t *)r.msg.data)
            out->copied = 1;
        out->n += (size_t)w;
        if (k == FA_WS_EV_ERROR)
            break;
    }
    fa_ws_reader_free(&r);
}

static void fa_t_expect_rd(const char *what, uint64_t max_message, const char *want)
{
    static fa_t_rdlog a, b, c;
    fa_t_rd(fa_t_w.b, fa_t_w.n, 0, max_message, NULL, &a);
    fa_t_rd(fa_t_w.b, fa_t_w.n, 3, max_message, NULL, &b);
    fa_t_rd(fa_t_w.b, fa_t_w.n, 1, max_message, NULL, &c);
    CHECK(strcmp(a.log, want) == 0, "%s: whole gave %s, want %s", what, a.log, want);
    CHECK(strcmp(b.log, want) == 0, "%s: 3-byte pieces gave %s", what, b.log);
    CHECK(strcmp(c.log, want) == 0, "%s: bytewise gave %s", what, c.log);
}

static void test_reader(void)
{
    static fa_t_rdlog ev;
    fa_t_w.n = 0;
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_TEXT, "hello", 5, 1);
    fa_t_frame(&fa_t_w, 0, 0, FA_WS_OP_BINARY, "ab", 2, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_PING, "p", 1, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CONT, "cd", 2, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CLOSE, "\x03\xe8", 2, 1);
    fa_t_expect_rd("messages around a ping", 0, "M1:hello|C9:p|M2:abcd|C8:\x03\xe8|");
    fa_t_rd(fa_t_w.b, fa_t_w.n, 0, 0, NULL, &ev);
    CHECK(ev.copied, "the fragmented message is assembled in the reader's buffer");
    fa_t_w.n = 0;
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_TEXT, "in place", 8, 1);
    fa_t_rd(fa_t_w.b, fa_t_w.n, 0, 0, NULL, &ev);
    CHECK(!ev.copied && strcmp(ev.log, "M1:in place|") == 0, "a whole frame is delivered in place");

    fa_t_w.n = 0;
    fa_t_frame(&fa_t_w, 0, 0, FA_WS_OP_TEXT, "\xe2\x82", 2, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CONT, "\xac!", 2, 1);
    fa_t_expect_rd("UTF-8 across fragments", 0, "M1:\xe2\x82\xac!|");
    fa_t_w.n = 0;
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_TEXT, "ok", 2, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_TEXT, "\xff", 1, 1);
    fa_t_expect_rd("bad UTF-8 after a message", 0, "M1:ok|E1007|");
    fa_t_w.n = 0;
    fa_t_frame(&fa_t_w, 0, 0, FA_WS_OP_BINARY, "12345", 5, 1);
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_CONT, "6789", 4, 1);
    fa_t_expect_rd("message over the limit", 8, "E1009|");
    fa_t_w.n = 0;
    fa_t_frame(&fa_t_w, 1, 0, FA_WS_OP_TEXT, "x", 1, 0);
    fa_t_expect_rd("unmasked", 0, "E1002|");

    /* compressed: a message, then a bomb past the limit */
    fa_ws_deflate_params pp = {0, 0, 15, 15};
    fa_ws_deflate tx, rx;
    CHECK(fa_ws_deflate_init(&tx, &pp) == 0, "reader: deflate init");
    fa_buf zbuf = FA_BUF_INIT;
    const char *text = "compressed compressed compressed";
    fa_ws_deflate_message(&tx, (const uint8_t *)text, strlen(text), &zbuf);
    fa_t_w.n = 0;
    fa_t_frame(&fa_t_w, 1, 4, FA_WS_OP_TEXT, zbuf.data, zbuf.len, 1);
    for (size_t step = 0; step <= 3; step += 3) {
        CHECK(fa_ws_deflate_init(&rx, &pp) == 0, "reader: inflate init");
        fa_t_rd(fa_t_w.b, fa_t_w.n, step, 1000, &rx, &ev);
        CHECK(strcmp(ev.log, "M1:compressed compressed compressed|") == 0, "compressed (step %zu): %s",
              step, ev.log);
        fa_ws_deflate_free(&rx);
    }
    static uint8_t zeros[100000];
    fa_buf_reset(&zbuf);
    fa_ws_deflate_message(&tx, zeros, sizeof(zeros), &zbuf);
    fa_t_w.n = 0;
    fa_t_frame(&fa_t_w, 1, 4, FA_WS_OP_BINARY, zbuf.data, zbuf.len, 1);
    CHECK(fa_ws_deflate_init(&rx, &pp) == 0, "reader: inflate init 2");
    fa_t_rd(fa_t_w.b, fa_t_w.n, 0, 1000, &rx, &ev);
    CHECK(strcmp(ev.log, "E1009|") == 0, "inflating past the limit: %s", ev.log);
    fa_ws_deflate_free(&rx);
    fa_ws_deflate_free(&tx);
    fa_buf_free(&zbuf);
}

int main(void)
{
    test_messages();
    test_protocol_errors();
    test_utf8();
    test_close_codes();
    test_heads_and_mask();
    test_handshake();
    test_deflate();
    test_reader();
    printf("%d passed, %d failed\n", fa_t_passed, fa_t_failed);
    return fa_t_failed != 0;
}
