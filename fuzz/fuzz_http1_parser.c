/* fuzz_http1_parser.c - libFuzzer target for csrc/http1/parser.c.
 *
 * For each input, under a roomy and a tight set of limits:
 *  - the head parser runs on the whole input and on prefixes (each in a
 *    buffer of exactly its size, so ASan sees reads past `len`); a prefix
 *    must answer FA_H1_INCOMPLETE or the whole-input answer, and once it has
 *    answered it must keep answering the same;
 *  - a parsed head's slices must lie inside it and obey the grammar's
 *    promises, and fa_h1_analyze runs on it;
 *  - the chunked decoder runs one-shot and in pieces (random sizes and one
 *    byte at a time) on the raw input and on the body after a chunked head,
 *    and every way of feeding it must decode the same bytes to the same end.
 * A broken contract calls __builtin_trap().
 */
#include "../csrc/http1/parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FA_F_CHECK(cond)                                                     \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

#define FA_F_MAX_HEADERS 64
#define FA_F_ALL_PREFIXES 256 /* inputs up to this size try every prefix */
#define FA_F_SAMPLES 48       /* otherwise this many prefixes */

typedef struct fa_f_limits {
    size_t max_head, max_target, cap;
} fa_f_limits;

static const fa_f_limits fa_f_configs[] = {
    {65536, 8192, FA_F_MAX_HEADERS}, /* roomy: parsing itself is exercised */
    {64, 12, 2},                     /* tight: limits are hit often */
};

static void *fa_f_dup(const void *s, size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        abort();
    if (n)
        memcpy(p, s, n);
    return p;
}

static uint64_t fa_f_rand(uint64_t *s)
{
    /* xorshift64: the piece sizes only need to vary, and to be the same on
     * every run of one input so crashes reproduce. */
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static int fa_f_ows(char c) { return c == ' ' || c == '\t'; }

/* Promises a successful parse makes about buf[0..head). */
static void fa_f_check_head(const char *buf, int head, const fa_h1_request *req,
                            const fa_f_limits *lim)
{
    const char *end = buf + head;
    FA_F_CHECK(head >= 16 && (size_t)head <= lim->max_head);
    FA_F_CHECK(memcmp(end - 4, "\r\n\r\n", 4) == 0);
    FA_F_CHECK(req->method >= buf && req->method_len > 0 &&
               req->method + req->method_len < end);
    FA_F_CHECK(req->method[req->method_len] == ' ');
    FA_F_CHECK(req->target == req->method + req->method_len + 1);
    FA_F_CHECK(req->target_len > 0 && req->target_len <= lim->max_target);
    FA_F_CHECK(memcmp(req->target + req->target_len, " HTTP/1.", 8) == 0);
    FA_F_CHECK(req->minor_version == 0 || req->minor_version == 1);
    FA_F_CHECK(req->num_headers <= lim->cap);
    for (size_t i = 0; i < req->num_headers; i++) {
        const fa_header *h = &req->headers[i];
        FA_F_CHECK(h->name > req->target && h->name_len > 0);
        FA_F_CHECK(h->name + h->name_len < end && h->name[h->name_len] == ':');
        FA_F_CHECK(h->value > h->name + h->name_len && h->value + h->value_len < end);
        for (size_t j = 0; j < h->value_len; j++) {
            unsigned char c = (unsigned char)h->value[j];
            FA_F_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (h->value_len > 0)
            FA_F_CHECK(!fa_f_ows(h->value[0]) && !fa_f_ows(h->value[h->value_len - 1]));
        if (i > 0)
            FA_F_CHECK(h->name > req->headers[i - 1].value + req->headers[i - 1].value_len);
    }
}

/* Same parse result, slices compared by offset from their buffer. */
static int fa_f_same(const char *a, const fa_h1_request *ra, const char *b,
                     const fa_h1_request *rb)
{
    if (ra->method - a != rb->method - b || ra->method_len != rb->method_len ||
        ra->target - a != rb->target - b || ra->target_len != rb->target_len ||
        ra->minor_version != rb->minor_version || ra->num_headers != rb->num_headers)
        return 0;
    for (size_t i = 0; i < ra->num_headers; i++) {
        const fa_header *x = &ra->headers[i], *y = &rb->headers[i];
        if (x->name - a != y->name - b || x->name_len != y->name_len ||
            x->value - a != y->value - b || x->value_len != y->value_len)
            return 0;
    }
    return 1;
}

/* Decodes s[0..n) in pieces: sizes from *rng, or all 1 when rng is NULL, or
 * one piece when n fits in `whole`.  Output goes to out (n bytes of room);
 * returns the decoder's final answer, with a final n >= 0 turned into the
 * count of input bytes never consumed. */
static ssize_t fa_f_decode(const uint8_t *s, size_t n, uint64_t *rng, int one_shot,
                           char *out, size_t *out_len)
{
    fa_h1_chunked d;
    fa_h1_chunked_init(&d);
    *out_len = 0;
    size_t off = 0;
    do {
        size_t piece = n - off;
        if (!one_shot) {
            size_t want = 1;
            if (rng != NULL) {
                uint64_t x = fa_f_rand(rng);
                want = (x & 3) == 0 ? (size_t)(x >> 8) % 512 : 1 + (size_t)(x >> 8) % 8;
            }
            if (want < piece)
                piece = want;
        }
        char *copy = fa_f_dup(s + off, piece);
        size_t len = piece;
        ssize_t r = fa_h1_decode_chunked(&d, copy, &len);
        FA_F_CHECK(len <= piece && *out_len + len <= n);
        memcpy(out + *out_len, copy, len);
        *out_len += len;
        if (r >= 0) {
            FA_F_CHECK((size_t)r <= piece - len);
            FA_F_CHECK(memcmp(copy + piece - r, s + off + piece - r, (size_t)r) == 0);
            free(copy);
            /* Done: later calls must hand everything back. */
            char probe[1] = {'x'};
            size_t plen = 1;
            FA_F_CHECK(fa_h1_decode_chunked(&d, probe, &plen) == 1 && plen == 0);
            return (ssize_t)(n - off - piece) + r;
        }
        free(copy);
        FA_F_CHECK(r == FA_H1_INCOMPLETE || r == FA_H1_EBAD);
        if (r == FA_H1_EBAD) {
            size_t plen = 0;
            FA_F_CHECK(fa_h1_decode_chunked(&d, NULL, &plen) == FA_H1_EBAD);
            return r;
        }
        off += piece;
    } while (off < n);
    return FA_H1_INCOMPLETE;
}

static void fa_f_chunked(const uint8_t *s, size_t n, uint64_t seed)
{
    char *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
    size_t alen, blen;
    if (a == NULL || b == NULL)
        abort();

    ssize_t ra = fa_f_decode(s, n, NULL, 1, a, &alen);
    FA_F_CHECK(ra == FA_H1_INCOMPLETE || ra == FA_H1_EBAD || (ra >= 0 && (size_t)ra <= n));

    /* Decoded bytes come out as they are consumed, so even up to an error
     * every way of feeding gives the same output. */
    uint64_t rng = seed | 1;
    ssize_t rb = fa_f_decode(s, n, &rng, 0, b, &blen);
    FA_F_CHECK(rb == ra && blen == alen && memcmp(a, b, alen) == 0);
    if (n <= 4096) {
        rb = fa_f_decode(s, n, NULL, 0, b, &blen);
        FA_F_CHECK(rb == ra && blen == alen && memcmp(a, b, alen) == 0);
    }
    free(a);
    free(b);
}

static void fa_f_parse(const uint8_t *data, size_t n, const fa_f_limits *lim, uint64_t seed)
{
    const char *buf = (const char *)data;
    fa_header h_whole[FA_F_MAX_HEADERS], h_inc[FA_F_MAX_HEADERS];
    fa_h1_request whole = {.headers = h_whole, .num_headers = lim->cap};
    fa_h1_request inc = {.headers = h_inc, .num_headers = lim->cap};

    int r = fa_h1_parse_request(buf, n, &whole, lim->max_head, lim->max_target);
    FA_F_CHECK(r > 0 || r == FA_H1_INCOMPLETE || r == FA_H1_EBAD || r == FA_H1_ETOO_LARGE ||
               r == FA_H1_EVERSION || r == FA_H1_EURI_TOO_LONG);
    FA_F_CHECK(r <= 0 || (size_t)r <= n);
    if (r <= 0)
        FA_F_CHECK(whole.num_headers == lim->cap);
    else
        fa_f_check_head(buf, r, &whole, lim);

    /* Prefixes in increasing order, through one request struct that is not
     * reset between calls (as a server re-calls after each read). */
    size_t steps = n <= FA_F_ALL_PREFIXES ? n + 1 : FA_F_SAMPLES;
    int answered = 0;
    for (size_t i = 0; i <= steps + 1; i++) {
        size_t k;
        if (n <= FA_F_ALL_PREFIXES)
            k = i < steps ? i : n;
        else if (i < steps)
            k = n * i / steps + (size_t)(fa_f_rand(&seed) % 4); /* still increasing */
        else /* both sides of the end of the head, if any */
            k = r > 0 ? (size_t)r - (i == steps) : n;
        if (k > n)
            k = n;
        char *copy = fa_f_dup(buf, k);
        int rk = fa_h1_parse_request(copy, k, &inc, lim->max_head, lim->max_target);
        if (rk == FA_H1_INCOMPLETE) {
            FA_F_CHECK(inc.num_headers == lim->cap);
            if (r > 0)
                FA_F_CHECK(k < (size_t)r);
            /* The last two probes may go back below earlier ones. */
            if (i < steps)
                FA_F_CHECK(!answered);
        } else {
            FA_F_CHECK(rk == r);
            answered = 1;
            if (r > 0) {
                FA_F_CHECK(k >= (size_t)r);
                FA_F_CHECK(fa_f_same(copy, &inc, buf, &whole));
                inc.num_headers = lim->cap;
            }
        }
        free(copy);
    }
    if (r != FA_H1_INCOMPLETE)
        FA_F_CHECK(answered);

    if (r <= 0)
        return;
    fa_h1_info info;
    int st = fa_h1_analyze(&whole, &info);
    FA_F_CHECK(st == 0 || st == 400 || st == 417 || st == 501);
    if (st != 0) {
        FA_F_CHECK(!info.keep_alive);
        return;
    }
    FA_F_CHECK(info.keep_alive == 0 || info.keep_alive == 1);
    if (info.chunked)
        FA_F_CHECK(info.content_length == 0);
    if (info.upgrade_h2c)
        FA_F_CHECK(info.http2_settings >= buf && info.http2_settings + info.http2_settings_len <= buf + r);
    if (info.chunked)
        fa_f_chunked(data + r, n - (size_t)r, seed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One seed per input, from its bytes. */
    uint64_t seed = 0xcbf29ce484222325ull ^ size;
    for (size_t i = 0; i < size && i < 64; i++)
        seed = (seed ^ data[i]) * 0x100000001b3ull;

    for (size_t i = 0; i < sizeof fa_f_configs / sizeof fa_f_configs[0]; i++)
        fa_f_parse(data, size, &fa_f_configs[i], seed);
    fa_f_chunked(data, size, seed);

    uint64_t v;
    if (fa_h1_parse_content_length((const char *)data, size, &v) == 0)
        FA_F_CHECK(size > 0 && v <= (uint64_t)INT64_MAX);
    return 0;
}
