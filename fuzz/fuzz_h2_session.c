/* fuzz_h2_session.c - libFuzzer target for csrc/http2/session.c.
 *
 * Each input gets a fresh stub connection and session (the stub worker is
 * fuzz/h2_fuzz_worker.h, shared with fuzz_h2_frames.c).  The first byte
 * chooses how the rest is fed:
 *   bit 0  prepend the client preface (so inputs need not spell it)
 *   bit 1  start through the h2c upgrade path; the next byte gives the
 *          length of an HTTP2-Settings payload taken from the input
 *   bit 2  answer requests late (after each read), as pooled handlers do,
 *          so some answers meet streams the peer has reset
 *   bit 3  begin a graceful shutdown halfway through the input
 *   bits 4-7  k: feed the input in pieces of 2^(k-1) bytes (0: all at once)
 * Every request gets a small response; output is drained after each read.
 * The seeds in fuzz/corpus/h2/ come from tests/c/test_h2_session.c
 * (--write-seeds).
 */
#define FZ_ANSWER_CLOSE 1 /* the session must drop it on HTTP/2 */
#include "h2_fuzz_worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;

    struct fa_worker w;
    memset(&w, 0, sizeof w);
    h2_stub_fuzz_limits(&w.cfg);
    w.defer = (mode & 0x04) != 0;

    fa_conn c;
    h2_stub_conn_init(&c, &w);

    int started;
    if (mode & 0x02) {
        size_t slen = size > 0 ? data[0] % 40u : 0;
        if (size > 0) {
            data++;
            size--;
        }
        if (slen > size)
            slen = size;
        static const fa_header hs[] = {{"host", 4, "fuzz", 4}, {"upgrade", 7, "h2c", 3}};
        fa_request req;
        memset(&req, 0, sizeof req);
        req.method = (mode & 0x08) ? "HEAD" : "GET";
        req.method_len = strlen(req.method);
        req.path = "/up";
        req.path_len = 3;
        req.query = "";
        req.headers = hs;
        req.num_headers = 2;
        req.body = "";
        req.http_version = 11;
        started = fa_h2_start(&c, data, slen, &req);
        data += slen;
        size -= slen;
    } else {
        started = fa_h2_start(&c, NULL, 0, NULL);
    }
    if (started < 0)
        goto out;
    if (mode & 0x01) {
        if (fa_h2_recv(&c, (const uint8_t *)FA_H2_PREFACE, FA_H2_PREFACE_LEN) < 0)
            goto out;
    }

    unsigned k = mode >> 4;
    size_t piece = k == 0 ? size : (size_t)1 << (k - 1);
    if (piece == 0)
        piece = 1;
    size_t off = 0, half = size / 2;
    int shut = 0;
    while (off < size) {
        size_t n = size - off < piece ? size - off : piece;
        int rv = fa_h2_recv(&c, data + off, n);
        off += n;
        fz_answer_deferred(&w, &c);
        if (fz_drain(&c) < 0 || rv < 0 || fa_h2_done(&c))
            goto out;
        if ((mode & 0x08) && !shut && off >= half) {
            shut = 1;
            fa_h2_shutdown(&c);
        }
        (void)fa_h2_busy(&c);
    }
    fz_answer_deferred(&w, &c);
    fz_drain(&c);
out:
    w.ndeferred = 0;
    h2_stub_conn_free(&c);
    return 0;
}
