/* fuzz_h2_frames.c - structure-aware libFuzzer target for csrc/http2/session.c.
 *
 * fuzz_h2_session.c feeds the fuzzer's bytes to the session as they are, so
 * most inputs die at the preface or the first frame header.  Here the bytes
 * are a program that builds well-framed HTTP/2 instead: after the preface
 * and a SETTINGS frame, each step takes an opcode byte and builds one frame
 * of the type it names (DATA, HEADERS with an HPACK block made of field
 * operations, PRIORITY, RST_STREAM, SETTINGS entries, PUSH_PROMISE, PING,
 * GOAWAY, WINDOW_UPDATE, CONTINUATION, an unknown type), with flags, a
 * stream id picked from the ids in play, and lengths that are right unless
 * the program asks for a lie.  The frames go to the session in pieces of a
 * chosen size; deferred answers and a graceful stop are chosen as in the raw
 * target.  Seeds: fuzz/corpus/h2frames/ (fuzz/h2frames_seeds.py).
 *
 * The stub worker is fuzz/h2_fuzz_worker.h (shared with fuzz_h2_session.c).
 */
#include <stddef.h>
#define FZ_ANSWER_BODY "answer body, long enough to need a window\n"
#include "h2_fuzz_worker.h"

#define FZ_OUT_MAX (256 * 1024) /* bytes of frames one input may build */

/* ------------------------------------------------------------------ */
/* reading the program                                                  */

typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in;

static uint8_t fz_u8(fz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static uint32_t fz_u32(fz_in *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | fz_u8(in);
    return v;
}

/* Up to max bytes of the program taken as they are. */
static size_t fz_bytes(fz_in *in, size_t max, const uint8_t **out)
{
    size_t n = fz_u8(in);
    if (n > max)
        n = max;
    if (n > in->n)
        n = in->n;
    *out = in->p;
    in->p += n;
    in->n -= n;
    return n;
}

/* ------------------------------------------------------------------ */
/* writing frames                                                       */

typedef struct fz_out {
    uint8_t buf[FZ_OUT_MAX];
    size_t len;
} fz_out;

static int fz_put(fz_out *o, const void *p, size_t n)
{
    if (n > FZ_OUT_MAX - o->len)
        return -1;
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    return 0;
}

static int fz_put8(fz_out *o, uint8_t v) { return fz_put(o, &v, 1); }

static int fz_put32(fz_out *o, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return fz_put(o, b, 4);
}

/* HPACK integer (RFC 7541 5.1) with `first` in the high bits. */
static int fz_hint(fz_out *o, uint32_t v, unsigned prefix, uint8_t first)
{
    uint32_t limit = (1u << prefix) - 1;
    if (v < limit)
        return fz_put8(o, (uint8_t)(first | v));
    if (fz_put8(o, (uint8_t)(first | limit)) < 0)
        return -1;
    v -= limit;
    while (v >= 128) {
        if (fz_put8(o, (uint8_t)((v & 0x7f) | 0x80)) < 0)
            return -1;
        v >>= 7;
    }
    return fz_put8(o, (uint8_t)v);
}

static int fz_hstr(fz_out *o, const void *s, size_t n)
{
    return fz_hint(o, (uint32_t)n, 7, 0) < 0 ? -1 : fz_put(o, s, n);
}

/* Names worth trying: the pseudo-headers, fields with rules of their own
 * in RFC 9113 8.2 and 8.3, and a few plain ones. */
static const char *const fz_names[] = {
    ":method", ":scheme", ":path", ":authority", ":status", ":protocol", ":bogus",
    "content-length", "te", "connection", "upgrade", "transfer-encoding", "keep-alive",
    "host", "cookie", "x-a", "X-Upper", "accept", "user-agent", "",
};
static const char *const fz_values[] = {
    "GET", "POST", "HEAD", "CONNECT", "http", "https", "/", "/stream", "/x?q=1", "",
    "trailers", "0", "5", "100000", "localhost", "a=1", " lead", "a\r\nb", "websocket",
};
#define FZ_N(a) (sizeof(a) / sizeof((a)[0]))

/* A field block: a valid request head first (when bit 0 of the selector
 * asks for it), then field operations from the program. */
static int fz_block(fz_in *in, fz_out *o)
{
    uint8_t sel = fz_u8(in);
    if (sel & 1) {
        /* :method GET|POST, :scheme http, :path / or /stream, :authority */
        if (fz_put8(o, (sel & 2) ? 0x83 : 0x82) < 0 || fz_put8(o, 0x86) < 0)
            return -1;
        if (sel & 4) {
            if (fz_put8(o, 0x04) < 0 || fz_hstr(o, "/stream", 7) < 0)
                return -1;
        } else if (fz_put8(o, 0x84) < 0) {
            return -1;
        }
        if (fz_put8(o, 0x41) < 0 || fz_hstr(o, "fuzz", 4) < 0)
            return -1;
    }
    unsigned nops = fz_u8(in) % 12;
    for (unsigned i = 0; i < nops && in->n > 0; i++) {
        uint8_t op = fz_u8(in);
        const uint8_t *raw;
        size_t rn;
        switch (op % 8) {
        case 0: /* indexed: static, dynamic, or past both */
            if (fz_hint(o, fz_u8(in) % 80, 7, 0x80) < 0)
                return -1;
            break;
        case 1: /* literal, incremental indexing, name from the list */
        case 2: /* ... without indexing */
        case 3: /* ... never indexed */ {
            const char *nm = fz_names[fz_u8(in) % FZ_N(fz_names)];
            const char *vl = fz_values[fz_u8(in) % FZ_N(fz_values)];
            uint8_t lead = op % 8 == 1 ? 0x40 : op % 8 == 2 ? 0x00 : 0x10;
            if (fz_put8(o, lead) < 0 || fz_hstr(o, nm, strlen(nm)) < 0 ||
                fz_hstr(o, vl, strlen(vl)) < 0)
                return -1;
            break;
        }
        case 4: /* literal with an indexed name, value from the program */
            if (fz_hint(o, fz_u8(in) % 70, 6, 0x40) < 0)
                return -1;
            rn = fz_bytes(in, 200, &raw);
            if (fz_hstr(o, raw, rn) < 0)
                return -1;
            break;
        case 5: /* dynamic table size update (legal only first) */
            if (fz_hint(o, fz_u32(in) % 8192, 5, 0x20) < 0)
                return -1;
            break;
        case 6: /* a Huffman-flagged string of program bytes */
            if (fz_put8(o, 0x00) < 0 || fz_hstr(o, "x-h", 3) < 0)
                return -1;
            rn = fz_bytes(in, 64, &raw);
            if (fz_hint(o, (uint32_t)rn, 7, 0x80) < 0 || fz_put(o, raw, rn) < 0)
                return -1;
            break;
        default: /* raw octets */
            rn = fz_bytes(in, 64, &raw);
            if (fz_put(o, raw, rn) < 0)
                return -1;
            break;
        }
    }
    return 0;
}

enum { FZ_DATA, FZ_HEADERS, FZ_PRIORITY, FZ_RST, FZ_SETTINGS, FZ_PUSH, FZ_PING,
       FZ_GOAWAY, FZ_WINDOW, FZ_CONT, FZ_UNKNOWN, FZ_NTYPES };

/* The stream id of a frame: 0, one of the last client ids (so frames meet
 * open, half-closed and closed streams), the next new one, an even id, or
 * any 31-bit value. */
static uint32_t fz_stream(fz_in *in, uint32_t *next_id)
{
    uint8_t s = fz_u8(in);
    switch (s % 8) {
    case 0:
        return 0;
    case 1:
    case 2:
    case 3: { /* the last few ids used */
        uint32_t back = 2u * (s >> 3 & 3);
        return *next_id > 2 + back ? *next_id - 2 - back : 1;
    }
    case 4:
    case 5: { /* a new stream */
        uint32_t id = *next_id;
        *next_id += 2;
        return id;
    }
    case 6:
        return *next_id + 1; /* even */
    default:
        return fz_u32(in) & 0x7fffffffu;
    }
}

/* One frame from the program; -1 when the output is full. */
static int fz_frame(fz_in *in, fz_out *o, uint32_t *next_id)
{
    uint8_t op = fz_u8(in);
    unsigned type = op % FZ_NTYPES;
    uint8_t flags = fz_u8(in);
    uint32_t sid = fz_stream(in, next_id);
    int lie = (op & 0x80) != 0; /* the length field will not match */

    size_t hd = o->len;
    uint8_t zero9[9] = {0};
    if (fz_put(o, zero9, 9) < 0)
        return -1;
    size_t start = o->len;
    uint8_t wire_type = (uint8_t)type;
    const uint8_t *raw;
    size_t rn;

    switch (type) {
    case FZ_DATA:
    case FZ_HEADERS:
    case FZ_PUSH: {
        unsigned pad = (flags & 0x08) ? fz_u8(in) % 32 : 0;
        if (flags & 0x08 && fz_put8(o, (uint8_t)pad) < 0)
            return -1;
        if (type == FZ_HEADERS && (flags & 0x20) && fz_put32(o, fz_u32(in)) < 0)
            return -1;
        if (type == FZ_HEADERS && (flags & 0x20) && fz_put8(o, fz_u8(in)) < 0)
            return -1;
        if (type == FZ_PUSH && fz_put32(o, fz_u32(in)) < 0)
            return -1;
        if (type == FZ_DATA) {
            rn = fz_bytes(in, 255, &raw);
            if (fz_put(o, raw, rn) < 0)
                return -1;
        } else if (fz_block(in, o) < 0) {
            return -1;
        }
        for (unsigned i = 0; i < pad; i++)
            if (fz_put8(o, 0) < 0)
                return -1;
        wire_type = type == FZ_DATA ? 0 : type == FZ_HEADERS ? 1 : 5;
        break;
    }
    case FZ_PRIORITY:
        if (fz_put32(o, fz_u32(in)) < 0 || fz_put8(o, fz_u8(in)) < 0)
            return -1;
        break;
    case FZ_RST:
        if (fz_put32(o, fz_u8(in) % 16) < 0)
            return -1;
        break;
    case FZ_SETTINGS: {
        unsigned n = (flags & 0x01) ? 0 : fz_u8(in) % 6;
        static const uint32_t vals[] = {0, 1, 2, 100, 16383, 16384, 65535, 16777215,
                                        16777216, 0x7fffffff, 0x80000000, 0xffffffff};
        for (unsigned i = 0; i < n; i++) {
            uint8_t k = fz_u8(in);
            uint8_t idb[2] = {0, (uint8_t)(k % 10)};
            uint32_t v = (k & 0x80) ? fz_u32(in) : vals[(k >> 4) % FZ_N(vals)];
            if (fz_put(o, idb, 2) < 0 || fz_put32(o, v) < 0)
                return -1;
        }
        break;
    }
    case FZ_PING: {
        uint8_t p8[8] = {0};
        for (int i = 0; i < 8; i++)
            p8[i] = fz_u8(in);
        if (fz_put(o, p8, 8) < 0)
            return -1;
        break;
    }
    case FZ_GOAWAY:
        if (fz_put32(o, fz_u32(in) & 0x7fffffffu) < 0 || fz_put32(o, fz_u8(in) % 16) < 0)
            return -1;
        break;
    case FZ_WINDOW: {
        static const uint32_t incs[] = {0, 1, 1024, 65535, 0x7fffffff, 0x80000001};
        uint8_t k = fz_u8(in);
        if (fz_put32(o, (k & 0x80) ? fz_u32(in) : incs[k % FZ_N(incs)]) < 0)
            return -1;
        break;
    }
    case FZ_CONT:
        if (fz_block(in, o) < 0)
            return -1;
        break;
    default:
        wire_type = (uint8_t)(10 + fz_u8(in) % 240);
        rn = fz_bytes(in, 64, &raw);
        if (fz_put(o, raw, rn) < 0)
            return -1;
        break;
    }

    size_t len = o->len - start;
    if (lie)
        len = (len + fz_u8(in)) & 0xffffff;
    o->buf[hd] = (uint8_t)(len >> 16);
    o->buf[hd + 1] = (uint8_t)(len >> 8);
    o->buf[hd + 2] = (uint8_t)len;
    o->buf[hd + 3] = wire_type;
    o->buf[hd + 4] = flags;
    o->buf[hd + 5] = (uint8_t)(sid >> 24);
    o->buf[hd + 6] = (uint8_t)(sid >> 16);
    o->buf[hd + 7] = (uint8_t)(sid >> 8);
    o->buf[hd + 8] = (uint8_t)sid;
    return 0;
}

/* ------------------------------------------------------------------ */
/* driving the session                                                  */

/* 256 KiB is too much for the stack; libFuzzer runs one input at a time
 * (this harness only: the server has no such state). */
static fz_out fz_frames;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fz_in in = {data, size};
    /* mode: bit 0 defer answers; bit 1 graceful stop halfway; bits 2-4 the
     * piece size 2^k (7: everything at once); bit 5 our SETTINGS carry a
     * small INITIAL_WINDOW_SIZE so answers wait for window. */
    uint8_t mode = fz_u8(&in);

    struct fa_worker w;
    memset(&w, 0, sizeof w);
    h2_stub_fuzz_limits(&w.cfg);
    w.defer = (mode & 0x01) != 0;

    fa_conn c;
    h2_stub_conn_init(&c, &w);
    if (fa_h2_start(&c, NULL, 0, NULL) < 0)
        goto out;

    fz_out *o = &fz_frames;
    o->len = 0;
    fz_put(o, FA_H2_PREFACE, FA_H2_PREFACE_LEN);
    /* the client's SETTINGS: nothing, or a small window */
    static const uint8_t settings_plain[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    static const uint8_t settings_small[15] = {0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 16};
    if (mode & 0x20)
        fz_put(o, settings_small, sizeof settings_small);
    else
        fz_put(o, settings_plain, sizeof settings_plain);
    uint32_t next_id = 1;
    while (in.n > 0 && fz_frame(&in, o, &next_id) == 0)
        ;

    unsigned k = (mode >> 2) & 7;
    size_t piece = k == 7 ? o->len : (size_t)1 << k;
    size_t off = 0, half = o->len / 2;
    int shut = 0;
    while (off < o->len) {
        size_t n = o->len - off < piece ? o->len - off : piece;
        int rv = fa_h2_recv(&c, o->buf + off, n);
        off += n;
        fz_answer_deferred(&w, &c);
        if (fz_drain(&c) < 0 || rv < 0 || fa_h2_done(&c))
            goto out;
        if ((mode & 0x02) && !shut && off >= half) {
            shut = 1;
            fa_h2_shutdown(&c);
        }
        (void)fa_h2_busy(&c);
        int progress;
        (void)fa_h2_timer_state(&c, &progress);
    }
    fz_answer_deferred(&w, &c);
    fz_drain(&c);
out:
    w.ndeferred = 0;
    h2_stub_conn_free(&c);
    return 0;
}
