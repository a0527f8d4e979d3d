/* fuzz_h2_session.c - libFuzzer target for csrc/http2/session.c.
 *
 * Each input gets a fresh stub connection and session (the stub worker is
 * tests/c/h2_stub.h plus the few hooks below).  The first byte
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
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../csrc/http2/session.h"
#include "../csrc/server/config.h"

#define FZ_MAX_DEFERRED 64

struct fa_worker {
    fa_config cfg;
    int stopping;
    int defer;
    int32_t deferred[FZ_MAX_DEFERRED];
    int ndeferred;
    unsigned sink; /* touches every request byte so ASan sees bad slices */
    int errors, last_error; /* kept by h2_stub.h, unused here */
};

/* one path streams its body, so the fuzzer reaches that code too */
#define H2_STUB_STREAM_BODY_PATH "/stream"
#include "../tests/c/h2_stub.h" /* the rest of the stub worker */

static unsigned fz_touch(const char *p, size_t n)
{
    unsigned h = 0;
    for (size_t i = 0; i < n; i++)
        h = h * 31u + (unsigned char)p[i];
    return h;
}

static void fz_answer(fa_conn *c, int32_t stream_id)
{
    fa_response r;
    fa_response_init(&r);
    fa_response_add_header(&r, "content-type", 12, "text/plain", 10);
    fa_response_add_header(&r, "connection", 10, "close", 5);
    fa_buf_appends(&r.body, "ok\n");
    fa_conn_respond(c, stream_id, &r);
    fa_response_free(&r);
}

void fa_worker_dispatch(struct fa_worker *w, fa_conn *c, int32_t stream_id,
                        const fa_request *req)
{
    w->sink += fz_touch(req->method, req->method_len);
    w->sink += fz_touch(req->path, req->path_len);
    w->sink += fz_touch(req->query, req->query_len);
    w->sink += fz_touch(req->body, req->body_len);
    for (size_t i = 0; i < req->num_headers; i++) {
        w->sink += fz_touch(req->headers[i].name, req->headers[i].name_len);
        w->sink += fz_touch(req->headers[i].value, req->headers[i].value_len);
    }
    if (w->defer && w->ndeferred < FZ_MAX_DEFERRED) {
        w->deferred[w->ndeferred++] = stream_id;
        return;
    }
    fz_answer(c, stream_id);
}

void fa_conn_stream_closed(fa_conn *c, int32_t stream_id)
{
    (void)c;
    (void)stream_id;
}

struct fa_slab *fa_worker_slab(struct fa_worker *w)
{
    (void)w;
    return NULL; /* plain malloc: ASan sees every block */
}

int fa_conn_body_feed(fa_conn *c, int32_t stream_id, const char *data, size_t len, int end)
{
    (void)c;
    (void)stream_id;
    (void)data;
    (void)end;
    return len > 1000 ? 1 : 0; /* sometimes "behind" */
}

/* Serializes and "writes" everything the session has to say. */
static int fz_drain(fa_conn *c)
{
    for (int i = 0; i < 1000 && c->h2 != NULL; i++) {
        if (fa_h2_flush(c) < 0)
            return -1;
        size_t n = c->wbuf.len - c->wpos;
        fa_buf_reset(&c->wbuf);
        c->wpos = 0;
        if (n == 0)
            break;
    }
    return 0;
}

static void fz_answer_deferred(struct fa_worker *w, fa_conn *c)
{
    for (int i = 0; i < w->ndeferred; i++)
        fz_answer(c, w->deferred[i]);
    w->ndeferred = 0;
}

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
