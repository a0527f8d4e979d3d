/* fuzz_ws_frame.c - libFuzzer target for csrc/ws/ (frames, close payloads,
 * permessage-deflate negotiation and bounded inflate).
 *
 * The first byte picks the configuration (server or client side, RSV1
 * allowed, limits); the rest is a byte stream fed to the parser whole and
 * in pieces of 1..7 bytes.  Every way of feeding must give the same
 * summary (messages, control frames, the error and its close code), the
 * parser must never consume more than it was given, an error's close code
 * must be one RFC 6455 lets us send, compressed messages go through a
 * bounded inflate that may never buffer past its limit, and the input's
 * text is also tried as a Sec-WebSocket-Extensions offer.  A broken
 * contract calls __builtin_trap().
 */
#include "../csrc/ws/deflate.h"
#include "../csrc/ws/frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FA_F_CHECK(cond)                                                     \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

#define FA_F_INFLATE_LIMIT 4096

typedef struct fa_f_summary {
    uint64_t hash;  /* FNV-1a over the events */
    unsigned close; /* 0, or the close code of the error */
    size_t consumed;
} fa_f_summary;

static void fa_f_mix(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= UINT64_C(1099511628211);
    }
}

static void fa_f_run(const uint8_t *in, size_t n, uint8_t cfg, size_t step, fa_f_summary *out)
{
    fa_ws_parser p;
    fa_ws_parser_init(&p, !(cfg & 1), (cfg & 2) ? 64 : 0, (cfg & 4) ? 32 : 0);
    p.allow_rsv1 = (cfg & 8) ? 1 : 0;
    fa_ws_deflate d;
    fa_ws_deflate_params dp = {(cfg >> 4) & 1, (cfg >> 4) & 1, 15, 15};
    int have_deflate = p.allow_rsv1 && fa_ws_deflate_init(&d, &dp) == 0;
    uint8_t *buf = malloc(n ? n : 1);
    uint8_t ctl[FA_WS_MAX_CONTROL];
    size_t ctl_len = 0;
    fa_buf inflated = FA_BUF_INIT;
    memset(out, 0, sizeof(*out));
    out->hash = UINT64_C(14695981039346656037);
    size_t have = 0, pos = 0;
    int in_head = 1;
    for (;;) {
        if (in_head) {
            int r = fa_ws_parse_head(&p, buf + pos, have - pos);
            if (r == FA_WS_INCOMPLETE) {
                if (have == n)
                    break;
                size_t k = step ? step : n - have;
                if (k > n - have)
                    k = n - have;
                memcpy(buf + have, in + have, k); /* a read appends */
                have += k;
                continue;
            }
            if (r < 0) {
                out->close = p.close_code;
                break;
            }
            FA_F_CHECK((size_t)r <= have - pos && r >= 2 && r <= FA_WS_MAX_HEAD);
            FA_F_CHECK(!fa_ws_is_control(p.opcode) || p.length <= FA_WS_MAX_CONTROL);
            pos += (size_t)r;
            in_head = 0;
            ctl_len = 0;
            uint8_t ev[2] = {p.opcode, p.fin};
            fa_f_mix(&out->hash, ev, 2);
        }
        if (p.remaining && pos == have) {
            if (have == n)
                break;
            size_t k = step ? step : n - have;
            if (k > n - have)
                k = n - have;
            memcpy(buf + have, in + have, k);
            have += k;
        }
        size_t take = have - pos;
        if (take > p.remaining)
            take = (size_t)p.remaining;
        uint8_t *data = buf + pos;
        if (fa_ws_payload(&p, data, take) != 0) {
            out->close = p.close_code;
            break;
        }
        pos += take;
        if (fa_ws_is_control(p.opcode)) {
            memcpy(ctl + ctl_len, data, take);
            ctl_len += take;
        } else {
            fa_f_mix(&out->hash, data, take);
            if (p.msg_compressed && have_deflate) {
                unsigned code = 0;
                int fin = p.remaining == 0 && p.fin;
                if (fa_ws_inflate(&d, data, take, fin, &inflated, FA_F_INFLATE_LIMIT, &code) != 0) {
                    FA_F_CHECK(code == 1009 || code == 1007 || code == 1011);
                    FA_F_CHECK(inflated.len <= FA_F_INFLATE_LIMIT + 1);
                    out->close = code;
                    break;
                }
                if (fin) {
                    /* step-independent: the inflated text depends only on the bytes */
                    fa_f_mix(&out->hash, inflated.data, inflated.len);
                    fa_buf_reset(&inflated);
                }
            }
        }
        if (p.remaining == 0) {
            uint8_t op = p.opcode;
            int r = fa_ws_frame_done(&p);
            if (r < 0) {
                out->close = p.close_code;
                break;
            }
            if (op == FA_WS_OP_CLOSE) {
                unsigned code;
                const uint8_t *reason;
                size_t rl;
                int cr = fa_ws_parse_close(ctl, ctl_len, &code, &reason, &rl);
                FA_F_CHECK(cr == 0 || code == 1002 || code == 1007);
                FA_F_CHECK(cr != 0 || code == 1005 || fa_ws_close_code_valid(code));
                uint8_t back[FA_WS_MAX_CONTROL];
                if (cr == 0 && code != 1005) {
                    size_t bl = fa_ws_write_close(back, code, (const char *)reason, rl);
                    FA_F_CHECK(bl == ctl_len && memcmp(back, ctl, bl) == 0);
                }
                fa_f_mix(&out->hash, &code, sizeof(code));
            } else if (fa_ws_is_control(op)) {
                fa_f_mix(&out->hash, ctl, ctl_len);
            }
            in_head = 1;
        }
    }
    FA_F_CHECK(pos <= have && have <= n);
    FA_F_CHECK(out->close == 0 || out->close == 1002 || out->close == 1007 ||
               out->close == 1009 || out->close == 1011);
    out->consumed = pos;
    free(buf);
    fa_buf_free(&inflated);
    if (have_deflate)
        fa_ws_deflate_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t cfg = data[0];
    const uint8_t *in = data + 1;
    size_t n = size - 1;

    fa_f_summary whole, piece;
    fa_f_run(in, n, cfg, 0, &whole);
    /* On an error the bytes seen before it depend on the piece sizes (the
     * UTF-8 check fails inside a piece), so then only the code must agree. */
    fa_f_run(in, n, cfg, 1, &piece);
    FA_F_CHECK(whole.close == piece.close && (whole.close || whole.hash == piece.hash));
    fa_f_run(in, n, cfg, (size_t)(cfg % 7) + 1, &piece);
    FA_F_CHECK(whole.close == piece.close && (whole.close || whole.hash == piece.hash));

    /* The same bytes as an extension offer: accepted answers are sane. */
    fa_ws_deflate_config dc = {(cfg & 0x20) ? 10 : 15, (cfg & 0x40) ? 9 : 15, (cfg >> 7) & 1};
    fa_ws_deflate_params dp;
    char resp[256];
    if (fa_ws_deflate_negotiate((const char *)in, n, &dc, &dp, resp, sizeof(resp)) == 1) {
        FA_F_CHECK(strncmp(resp, "permessage-deflate", 18) == 0);
        FA_F_CHECK(dp.server_max_window_bits >= 9 && dp.server_max_window_bits <= 15);
        FA_F_CHECK(dp.client_max_window_bits >= 8 && dp.client_max_window_bits <= 15);
    }
    return 0;
}
