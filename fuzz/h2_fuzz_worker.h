/* h2_fuzz_worker.h - the stub worker both HTTP/2 fuzz targets link the
 * session against (internal to fuzz/; include it once, from a target).
 *
 * fuzz_h2_session.c (raw bytes) and fuzz_h2_frames.c (frames built from the
 * input) differ only in how they make the bytes they feed; what stands on the
 * other side of the session is this: a worker that reads every byte of each
 * request (so ASan sees a bad slice), answers at once or later (w->defer, as
 * pooled handlers do), and a drain that serializes and drops the output.
 *
 * Before including it a target may define:
 *   FZ_ANSWER_BODY   the body of every answer (a string literal)
 *   FZ_ANSWER_CLOSE  1 to add "connection: close" to every answer, which the
 *                    session must drop on HTTP/2 (RFC 9113 8.2.2)
 * The rest of the stub (connections, timers, limits) is tests/c/h2_stub.h.
 */
#ifndef FA_FUZZ_H2_FUZZ_WORKER_H
#define FA_FUZZ_H2_FUZZ_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../csrc/http2/session.h"
#include "../csrc/server/config.h"

#ifndef FZ_ANSWER_BODY
#define FZ_ANSWER_BODY "ok\n"
#endif
#ifndef FZ_ANSWER_CLOSE
#define FZ_ANSWER_CLOSE 0
#endif

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

/* one path streams its body, so the fuzzers reach that code too */
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
    if (FZ_ANSWER_CLOSE)
        fa_response_add_header(&r, "connection", 10, "close", 5);
    fa_buf_appends(&r.body, FZ_ANSWER_BODY);
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

#endif
