/* fuzz_ws_reader.c - libFuzzer target for csrc/ws/reader.c: received bytes
 * to WebSocket events, as ws/conn.c drives it for every connection.
 *
 * The first byte picks the configuration (message and frame limits,
 * permessage-deflate with or without context takeover); the rest is the
 * byte stream from a client, fed whole and in pieces of 1..7 bytes.  Every
 * way of feeding must give the same events (messages, control frames, the
 * error and its close code); the reader never consumes past what it was
 * given; a message is within its limit and, as text, valid UTF-8; a control
 * payload is at most 125 bytes; an error's close code is one of 1002,
 * 1007, 1009, 1011.  A broken contract calls __builtin_trap().  Shares the
 * corpus of fuzz_ws_frame (same first-byte convention).
 */
#include "../csrc/ws/deflate.h"
#include "../csrc/ws/frame.h"
#include "../csrc/ws/reader.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FA_R_CHECK(cond)                                                     \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

typedef struct {
    uint64_t hash;
    unsigned close;
    size_t events;
} fa_r_summary;

static void fa_r_mix(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= UINT64_C(1099511628211);
    }
}

static void fa_r_run(const uint8_t *in, size_t n, uint8_t cfg, size_t step, fa_r_summary *out)
{
    uint64_t max_message = (cfg & 2) ? 64 : (cfg & 0x40) ? 4096 : 0;
    fa_ws_reader r;
    fa_ws_reader_init(&r, max_message, (cfg & 4) ? 32 : 0);
    fa_ws_deflate z;
    fa_ws_deflate_params zp = {(cfg >> 4) & 1, (cfg >> 4) & 1, 15, 15};
    int deflate = (cfg & 8) && fa_ws_deflate_init(&z, &zp) == 0;
    if (deflate)
        fa_ws_reader_set_deflate(&r, &z);
    uint8_t *buf = malloc(n ? n : 1);
    memset(out, 0, sizeof(*out));
    out->hash = UINT64_C(14695981039346656037);
    size_t have = 0, pos = 0;
    for (;;) {
        fa_ws_event ev;
        size_t before = pos;
        int k = fa_ws_reader_next(&r, buf, have, &pos, &ev);
        FA_R_CHECK(pos >= before && pos <= have);
        if (k == FA_WS_EV_NONE) {
            FA_R_CHECK(pos == have || r.in_frame == 0); /* only an incomplete head stays */
            if (have == n)
                break;
            size_t add = step ? step : n - have;
            if (add > n - have)
                add = n - have;
            memcpy(buf + have, in + have, add); /* a read appends */
            have += add;
            continue;
        }
        out->events++;
        uint8_t kind = (uint8_t)k;
        fa_r_mix(&out->hash, &kind, 1);
        if (k == FA_WS_EV_ERROR) {
            FA_R_CHECK(ev.close_code == 1002 || ev.close_code == 1007 || ev.close_code == 1009 ||
                       ev.close_code == 1011);
            FA_R_CHECK(ev.why != NULL);
            out->close = ev.close_code;
            break;
        }
        fa_r_mix(&out->hash, &ev.opcode, 1);
        fa_r_mix(&out->hash, ev.data, ev.len);
        if (k == FA_WS_EV_CONTROL) {
            FA_R_CHECK(fa_ws_is_control(ev.opcode) && ev.len <= FA_WS_MAX_CONTROL);
        } else {
            FA_R_CHECK(ev.opcode == FA_WS_OP_TEXT || ev.opcode == FA_WS_OP_BINARY);
            FA_R_CHECK(max_message == 0 || ev.len <= max_message);
            if (ev.opcode == FA_WS_OP_TEXT)
                FA_R_CHECK(fa_ws_utf8_valid(ev.data, ev.len));
        }
    }
    fa_ws_reader_free(&r);
    if (deflate)
        fa_ws_deflate_free(&z);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1 << 16))
        return 0;
    uint8_t cfg = data[0];
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    fa_r_summary whole, piece;
    fa_r_run(in, n, cfg, 0, &whole);
    fa_r_run(in, n, cfg, 1 + (size_t)(cfg >> 5), &piece);
    FA_R_CHECK(whole.hash == piece.hash && whole.close == piece.close && whole.events == piece.events);
    return 0;
}
