/* test_h2_session.c - unit tests for csrc/http2/session.c.
 *
 * session.c is linked with a stub worker (defined here and in h2_stub.h,
 * which the fuzz target shares) and driven by an nghttp2 *client* session
 * in memory: what the client serializes goes to fa_h2_recv(), what the
 * server leaves in conn->wbuf goes to the client.
 * No sockets, no threads, no Python.
 *
 *   test_h2_session                    run the tests
 *   test_h2_session --write-seeds DIR  also write the fuzz seed corpus
 *                                      (client bytes of each scenario)
 */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/http2/session.h"
#include "../../csrc/common/slab.h"
#include "../../csrc/server/config.h"

/* ------------------------------------------------------------------ */
/* results                                                              */

typedef struct counts {
    int passed, failed;
} counts;

static counts g_counts; /* test tally only; the code under test has no globals */

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (cond) {                                                                \
            g_counts.passed++;                                                     \
        } else {                                                                   \
            g_counts.failed++;                                                     \
            fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                          \
    } while (0)

/* ------------------------------------------------------------------ */
/* stub worker                                                          */

#define BIG_LEN (1u << 20)
#define MAX_DEFERRED 16

struct fa_worker {
    fa_config cfg;
    int stopping;
    int32_t deferred[MAX_DEFERRED];
    int ndeferred;
    int dispatches;
    int errors;     /* fa_conn_respond_error calls */
    int last_error; /* and the last status */
    /* the last request dispatched, copied */
    char method[16], path[2048], query[256], host[256], cookie[256];
    int saw_hop_by_hop;
    size_t num_headers, body_len;
    int http_version;
};

/* stream_body: "/upload" is such a route (fa_conn_body_feed below). */
#define H2_STUB_STREAM_BODY_PATH "/upload"
#include "h2_stub.h" /* the rest of the stub worker */

static void copy_slice(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static int slice_is(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

static uint8_t pattern_byte(size_t i, unsigned mul)
{
    return (uint8_t)((i * mul) ^ (i >> 9));
}

void fa_worker_dispatch(struct fa_worker *w, fa_conn *c, int32_t stream_id,
                        const fa_request *req)
{
    w->dispatches++;
    copy_slice(w->method, sizeof w->method, req->method, req->method_len);
    copy_slice(w->path, sizeof w->path, req->path, req->path_len);
    copy_slice(w->query, sizeof w->query, req->query, req->query_len);
    w->host[0] = w->cookie[0] = '\0';
    w->saw_hop_by_hop = 0;
    for (size_t i = 0; i < req->num_headers; i++) {
        const fa_header *h = &req->headers[i];
        if (slice_is(h->name, h->name_len, "host"))
            copy_slice(w->host, sizeof w->host, h->value, h->value_len);
        if (slice_is(h->name, h->name_len, "cookie"))
            copy_slice(w->cookie, sizeof w->cookie, h->value, h->value_len);
        if (slice_is(h->name, h->name_len, "connection") ||
            slice_is(h->name, h->name_len, "upgrade") ||
            slice_is(h->name, h->name_len, "http2-settings"))
            w->saw_hop_by_hop = 1;
    }
    w->num_headers = req->num_headers;
    w->body_len = req->body_len;
    w->http_version = req->http_version;

    if (slice_is(req->path, req->path_len, "/free")) {
        /* The worker drops the connection from inside a dispatch (say, a
         * write error while answering): the session must unwind safely. */
        fa_h2_free(c);
        return;
    }
    if (slice_is(req->path, req->path_len, "/defer") || slice_is(req->path, req->path_len, "/upload")) {
        if (w->ndeferred < MAX_DEFERRED)
            w->deferred[w->ndeferred++] = stream_id;
        return;
    }
    fa_response r;
    fa_response_init(&r);
    if (slice_is(req->path, req->path_len, "/echo")) {
        fa_buf_append(&r.body, req->body, req->body_len);
    } else if (slice_is(req->path, req->path_len, "/status")) {
        char q[16];
        copy_slice(q, sizeof q, req->query, req->query_len);
        r.status = atoi(q);
        fa_buf_appends(&r.body, "body");
    } else if (slice_is(req->path, req->path_len, "/big")) {
        fa_buf_reserve(&r.body, BIG_LEN);
        for (size_t i = 0; i < BIG_LEN; i++)
            r.body.data[i] = (char)pattern_byte(i, 7);
        r.body.len = BIG_LEN;
    } else {
        fa_buf_appends(&r.body, "hello");
        fa_response_add_header(&r, "Content-Type", 12, "text/plain", 10);
        /* Headers HTTP/2 forbids or that would break the stream: the
         * session must drop them, not send them. */
        fa_response_add_header(&r, "Connection", 10, "close", 5);
        fa_response_add_header(&r, "Transfer-Encoding", 17, "chunked", 7);
        fa_response_add_header(&r, "x-bad", 5, "a\r\nb", 4);
        fa_response_add_header(&r, "Content-Length", 14, "999", 3);
    }
    fa_conn_respond(c, stream_id, &r);
    fa_response_free(&r);
}

/* Streams reset before their answer, as reported to the worker. */
static int32_t g_stream_closed_last;
static int g_stream_closed_calls;

void fa_conn_stream_closed(fa_conn *c, int32_t stream_id)
{
    (void)c;
    g_stream_closed_last = stream_id;
    g_stream_closed_calls++;
}

/* stream_body ("/upload"): fed bytes are counted, and g_hold makes the
 * handler "fall behind" past 1 MiB. */
static size_t g_fed;
static int g_fed_end, g_hold;
static int32_t g_fed_stream;

int fa_conn_body_feed(fa_conn *c, int32_t stream_id, const char *data, size_t len, int end)
{
    (void)c;
    (void)data;
    g_fed_stream = stream_id;
    g_fed += len;
    if (end)
        g_fed_end = 1;
    return g_hold && g_fed > (1u << 20) ? 1 : 0;
}

/* The server's per-worker block cache, so nghttp2 runs on it here too. */
static fa_slab g_slab;

struct fa_slab *fa_worker_slab(struct fa_worker *w)
{
    (void)w;
    return &g_slab;
}

/* ------------------------------------------------------------------ */
/* in-memory client                                                     */

#define MAX_CSTREAMS 2048

typedef struct upload {
    size_t total, off;
    int trailer; /* end with a trailer section instead of END_STREAM on DATA */
} upload;

typedef struct cstream {
    int status;
    char clen[24];
    int has_date, has_server, has_forbidden;
    size_t body_len;
    uint32_t body_hash;
    int data_frames;
    int closed;
    uint32_t close_err;
    upload up;
} cstream;

typedef struct tc {
    struct fa_worker w;
    fa_conn conn;
    nghttp2_session *client;
    cstream *cs; /* indexed by (stream_id - 1) / 2 */
    int goaway;
    uint32_t goaway_err;
    int32_t goaway_last;
    int ping_acks;
    int server_failed; /* fa_h2_recv returned -1 */
    fa_buf capture;    /* every byte the client sent: a fuzz seed */
} tc;

static uint32_t fnv(uint32_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static cstream *cs_get(tc *t, int32_t id)
{
    if (id <= 0 || (id - 1) / 2 >= MAX_CSTREAMS)
        return NULL;
    return &t->cs[(id - 1) / 2];
}

static int cl_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                        size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags,
                        void *ud)
{
    (void)s;
    (void)flags;
    cstream *st = cs_get(ud, f->hd.stream_id);
    if (st == NULL || f->hd.type != NGHTTP2_HEADERS)
        return 0;
    const char *n = (const char *)name, *v = (const char *)value;
    if (slice_is(n, nlen, ":status"))
        st->status = atoi(v);
    else if (slice_is(n, nlen, "content-length"))
        copy_slice(st->clen, sizeof st->clen, v, vlen);
    else if (slice_is(n, nlen, "date"))
        st->has_date = vlen == 29;
    else if (slice_is(n, nlen, "server"))
        st->has_server = slice_is(v, vlen, "fasterapi");
    else if (slice_is(n, nlen, "connection") || slice_is(n, nlen, "transfer-encoding") ||
             slice_is(n, nlen, "x-bad"))
        st->has_forbidden = 1;
    return 0;
}

static int cl_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                      size_t len, void *ud)
{
    (void)s;
    (void)flags;
    cstream *st = cs_get(ud, id);
    if (st != NULL) {
        if (st->body_len == 0)
            st->body_hash = 2166136261u;
        st->body_hash = fnv(st->body_hash, data, len);
        st->body_len += len;
    }
    return 0;
}

static int cl_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)s;
    tc *t = ud;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        t->goaway++;
        t->goaway_err = f->goaway.error_code;
        t->goaway_last = f->goaway.last_stream_id;
    } else if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK)) {
        t->ping_acks++;
    } else if (f->hd.type == NGHTTP2_DATA) {
        cstream *st = cs_get(t, f->hd.stream_id);
        if (st != NULL && f->hd.length > 0)
            st->data_frames++;
    }
    return 0;
}

static int cl_on_close(nghttp2_session *s, int32_t id, uint32_t err, void *ud)
{
    (void)s;
    cstream *st = cs_get(ud, id);
    if (st != NULL) {
        st->closed = 1;
        st->close_err = err;
    }
    return 0;
}

static ssize_t cl_upload_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                              uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)ud;
    upload *u = src->ptr;
    size_t n = u->total - u->off;
    if (n > length)
        n = length;
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern_byte(u->off + i, 13);
    u->off += n;
    if (u->off == u->total) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (u->trailer) {
            nghttp2_nv tr[] = {{(uint8_t *)"x-checksum", (uint8_t *)"abc", 10, 3,
                                NGHTTP2_NV_FLAG_NONE}};
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            nghttp2_submit_trailer(s, id, tr, 1);
        }
    }
    return (ssize_t)n;
}

static uint32_t pattern_hash(size_t len, unsigned mul)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = pattern_byte(i, mul);
        h = fnv(h, &b, 1);
    }
    return h;
}

static nghttp2_session *client_new(tc *t)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_session *s = NULL;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_header_callback(cbs, cl_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cl_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cl_on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cl_on_close);
    if (nghttp2_session_client_new(&s, cbs, t) != 0)
        s = NULL;
    nghttp2_session_callbacks_del(cbs);
    return s;
}

/* Fills the config and the connection; the session starts in start(). */
static void tc_init(tc *t)
{
    memset(t, 0, sizeof *t);
    fa_config *cfg = &t->w.cfg;
    cfg->max_header_size = 8192;
    cfg->max_headers = 20;
    cfg->max_target_size = 1024;
    cfg->max_body_size = 1u << 20;
    cfg->max_concurrent_streams = 100;
    h2_stub_conn_init(&t->conn, &t->w);
    t->cs = calloc(MAX_CSTREAMS, sizeof *t->cs);
    t->client = client_new(t);
}

/* Prior-knowledge start: server session plus client SETTINGS. */
static int tc_start(tc *t)
{
    if (t->cs == NULL || t->client == NULL)
        return -1;
    if (nghttp2_submit_settings(t->client, NGHTTP2_FLAG_NONE, NULL, 0) != 0)
        return -1;
    return fa_h2_start(&t->conn, NULL, 0, NULL);
}

static void tc_free(tc *t)
{
    h2_stub_conn_free(&t->conn);
    fa_buf_free(&t->capture);
    if (t->client != NULL)
        nghttp2_session_del(t->client);
    free(t->cs);
}

/* Client to server.  Returns bytes moved. */
static size_t c2s(tc *t)
{
    size_t moved = 0;
    while (!t->server_failed) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(t->client, &data);
        if (n <= 0)
            break;
        fa_buf_append(&t->capture, data, (size_t)n);
        moved += (size_t)n;
        if (fa_h2_recv(&t->conn, data, (size_t)n) < 0)
            t->server_failed = 1;
    }
    return moved;
}

/* Server to client, the way the worker would: flush, then "write". */
static size_t s2c(tc *t)
{
    if (t->conn.h2 != NULL && fa_h2_flush(&t->conn) < 0)
        t->server_failed = 1;
    size_t n = t->conn.wbuf.len - t->conn.wpos;
    if (n > 0)
        nghttp2_session_mem_recv(t->client, (const uint8_t *)t->conn.wbuf.data + t->conn.wpos, n);
    fa_buf_reset(&t->conn.wbuf);
    t->conn.wpos = 0;
    return n;
}

static void pump(tc *t)
{
    for (int i = 0; i < 100000; i++) {
        size_t moved = c2s(t);
        moved += s2c(t);
        if (moved == 0 || t->server_failed) {
            s2c(t);
            break;
        }
    }
}

#define NV(n, v)                                                                     \
    {                                                                                \
        (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE   \
    }

/* Submits a request; `body_len` > 0 streams that many pattern bytes. */
static int32_t request(tc *t, const char *method, const char *path, const nghttp2_nv *extra,
                       size_t nextra, size_t body_len)
{
    nghttp2_nv nva[64];
    nghttp2_nv base[] = {NV(":method", method), NV(":scheme", "http"),
                         NV(":authority", "example.com"), NV(":path", path)};
    size_t n = 0;
    for (size_t i = 0; i < 4; i++)
        nva[n++] = base[i];
    for (size_t i = 0; i < nextra && n < 64; i++)
        nva[n++] = extra[i];
    nghttp2_data_provider prd;
    if (body_len > 0) {
        /* The provider is copied at submit: point it at the slot of the
         * stream id the client is about to use. */
        cstream *st = cs_get(t, (int32_t)nghttp2_session_get_next_stream_id(t->client));
        if (st == NULL)
            return -1;
        st->up.total = body_len;
        st->up.off = 0;
        prd.source.ptr = &st->up;
        prd.read_callback = cl_upload_read;
    }
    int32_t id = nghttp2_submit_request(t->client, NULL, nva, n, body_len ? &prd : NULL, NULL);
    return id;
}

/* ------------------------------------------------------------------ */
/* seeds                                                                */

static const char *g_seed_dir; /* --write-seeds; NULL otherwise */

/* Writes `flags` + bytes as a seed; the fuzz target reads the first byte
 * as its mode (see fuzz/fuzz_h2_session.c). */
static void write_seed(const char *name, uint8_t flags, const void *p, size_t n)
{
    if (g_seed_dir == NULL)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_seed_dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return;
    }
    fwrite(&flags, 1, 1, f);
    fwrite(p, 1, n, f);
    fclose(f);
}

/* The capture as seeds: raw (preface included) and with the preface cut,
 * for the target's "prepend the preface" mode. */
static void seed_from(tc *t, const char *name)
{
    char alt[256];
    write_seed(name, 0x00, t->capture.data, t->capture.len);
    if (t->capture.len > FA_H2_PREFACE_LEN) {
        snprintf(alt, sizeof alt, "%s-nopreface-chunked", name);
        write_seed(alt, 0x31 | 0x04, t->capture.data + FA_H2_PREFACE_LEN,
                   t->capture.len - FA_H2_PREFACE_LEN);
    }
}

/* ------------------------------------------------------------------ */
/* tests                                                                */

static void test_get(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    nghttp2_nv extra[] = {NV("cookie", "a=1"), NV("accept", "*/*"), NV("cookie", "b=2")};
    int32_t id = request(&t, "GET", "/hello?x=1&y=2", extra, 3, 0);
    pump(&t);
    cstream *st = cs_get(&t, id);
    CHECK(t.w.dispatches == 1);
    CHECK(strcmp(t.w.method, "GET") == 0);
    CHECK(strcmp(t.w.path, "/hello") == 0);
    CHECK(strcmp(t.w.query, "x=1&y=2") == 0);
    CHECK(strcmp(t.w.host, "example.com") == 0); /* from :authority */
    CHECK(strcmp(t.w.cookie, "a=1; b=2") == 0);  /* crumbs joined */
    CHECK(t.w.num_headers == 3);                 /* cookie, accept, host */
    CHECK(t.w.http_version == 20);
    CHECK(st->status == 200);
    CHECK(strcmp(st->clen, "5") == 0);
    CHECK(st->body_len == 5);
    CHECK(st->has_date && st->has_server);
    CHECK(!st->has_forbidden);
    CHECK(st->closed && st->close_err == NGHTTP2_NO_ERROR);
    CHECK(fa_h2_busy(&t.conn) == 0);
    CHECK(nghttp2_session_get_remote_settings(t.client, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) == 100);
    CHECK(nghttp2_session_get_remote_settings(t.client, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE) == (1u << 20));
    CHECK(nghttp2_session_get_remote_settings(t.client, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE) == 8192);
    CHECK(!t.server_failed);
    CHECK(!fa_h2_done(&t.conn));
    seed_from(&t, "get");
    tc_free(&t);
}

static void test_post_echo(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    size_t len = 512 * 1024; /* beyond the default 64 KiB windows */
    int32_t id = request(&t, "POST", "/echo", NULL, 0, len);
    pump(&t);
    cstream *st = cs_get(&t, id);
    CHECK(t.w.dispatches == 1 && t.w.body_len == len);
    CHECK(st->status == 200);
    CHECK(st->body_len == len);
    CHECK(st->body_hash == pattern_hash(len, 13));
    CHECK(st->closed && st->close_err == NGHTTP2_NO_ERROR);
    tc_free(&t);

    /* A small one for the seed corpus. */
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    nghttp2_nv cl[] = {NV("content-length", "300")};
    id = request(&t, "POST", "/echo", cl, 1, 300);
    pump(&t);
    CHECK(cs_get(&t, id)->body_len == 300);
    seed_from(&t, "post");
    tc_free(&t);
}

static void test_stream_body(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    g_fed = 0;
    g_fed_end = 0;
    g_hold = 1;
    size_t len = 3u << 20;
    int32_t id = request(&t, "POST", "/upload", NULL, 0, len);
    pump(&t);
    /* dispatched at the head, with an empty body */
    CHECK(t.w.dispatches == 1 && t.w.body_len == 0);
    /* the handler is behind: the window stays shut, the client waits */
    CHECK(g_fed > (1u << 20) && g_fed < len && !g_fed_end);
    size_t held = g_fed;
    pump(&t);
    CHECK(g_fed == held);
    g_hold = 0;
    fa_h2_body_resume(&t.conn, id);
    pump(&t);
    CHECK(g_fed == len && g_fed_end == 1 && g_fed_stream == id);
    fa_response r;
    fa_response_init(&r);
    fa_buf_appends(&r.body, "ok");
    fa_conn_respond(&t.conn, id, &r);
    pump(&t);
    CHECK(cs_get(&t, id)->status == 200 && cs_get(&t, id)->body_len == 2);
    CHECK(!t.server_failed);
    tc_free(&t);
}

static void test_big_response(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    int32_t id = request(&t, "GET", "/big", NULL, 0, 0);
    pump(&t);
    cstream *st = cs_get(&t, id);
    CHECK(st->status == 200);
    CHECK(st->body_len == BIG_LEN);
    CHECK(st->body_hash == pattern_hash(BIG_LEN, 7));
    CHECK(st->data_frames > 16); /* came in window-sized pieces */
    CHECK(st->closed && st->close_err == NGHTTP2_NO_ERROR);
    seed_from(&t, "big-window-updates");
    tc_free(&t);
}

static void test_head(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    int32_t id = request(&t, "HEAD", "/hello", NULL, 0, 0);
    pump(&t);
    cstream *st = cs_get(&t, id);
    CHECK(st->status == 200);
    CHECK(strcmp(st->clen, "5") == 0);
    CHECK(st->data_frames == 0 && st->body_len == 0);
    CHECK(st->closed && st->close_err == NGHTTP2_NO_ERROR);
    seed_from(&t, "head");
    tc_free(&t);
}

static void test_statuses(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    int32_t s204 = request(&t, "GET", "/status?204", NULL, 0, 0);
    int32_t s304 = request(&t, "GET", "/status?304", NULL, 0, 0);
    int32_t s99 = request(&t, "GET", "/status?99", NULL, 0, 0);
    int32_t s404 = request(&t, "GET", "/status?404", NULL, 0, 0);
    pump(&t);
    cstream *a = cs_get(&t, s204), *b = cs_get(&t, s304), *c = cs_get(&t, s99),
            *d = cs_get(&t, s404);
    /* No body and no content-length where the status forbids a body. */
    CHECK(a->status == 204 && a->clen[0] == '\0' && a->data_frames == 0);
    CHECK(b->status == 304 && b->clen[0] == '\0' && b->data_frames == 0);
    CHECK(a->close_err == NGHTTP2_NO_ERROR && b->close_err == NGHTTP2_NO_ERROR);
    /* A status HTTP/2 cannot carry as a final answer becomes 500. */
    CHECK(c->status == 500 && c->body_len == 4);
    CHECK(d->status == 404 && strcmp(d->clen, "4") == 0 && d->body_len == 4);
    tc_free(&t);
}

static void test_header_limits(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    /* Header list over max_header_size (8192). */
    static char big[9000];
    memset(big, 'v', sizeof big - 1);
    nghttp2_nv large[] = {NV("x-large", big)};
    int32_t id1 = request(&t, "GET", "/hello", large, 1, 0);
    /* More fields than max_headers (20). */
    nghttp2_nv many[25];
    char names[25][8];
    for (int i = 0; i < 25; i++) {
        snprintf(names[i], sizeof names[i], "x-h%d", i);
        nghttp2_nv nv = NV(names[i], "1");
        many[i] = nv;
    }
    int32_t id2 = request(&t, "GET", "/hello", many, 25, 0);
    /* Exactly at the field limit is fine. */
    int32_t id3 = request(&t, "GET", "/hello", many, 20, 0);
    pump(&t);
    cstream *s1 = cs_get(&t, id1), *s2 = cs_get(&t, id2), *s3 = cs_get(&t, id3);
    CHECK(s1->closed && s1->status == 0 && s1->close_err == NGHTTP2_INTERNAL_ERROR);
    CHECK(s2->closed && s2->status == 0 && s2->close_err == NGHTTP2_INTERNAL_ERROR);
    CHECK(s3->status == 200);
    CHECK(t.w.dispatches == 1);
    CHECK(!t.server_failed);
    tc_free(&t);
}

static void test_target_too_long(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    static char path[1100];
    path[0] = '/';
    memset(path + 1, 'p', sizeof path - 2);
    int32_t id = request(&t, "GET", path, NULL, 0, 0);
    pump(&t);
    CHECK(cs_get(&t, id)->status == 414);
    CHECK(t.w.dispatches == 0);
    tc_free(&t);
}

static void test_body_limit(void)
{
    tc t;
    tc_init(&t);
    t.w.cfg.max_body_size = 64 * 1024;
    CHECK(tc_start(&t) == 0);
    /* Announced: refused at END_HEADERS, before the data. */
    nghttp2_nv cl[] = {NV("content-length", "200000")};
    int32_t id1 = request(&t, "POST", "/echo", cl, 1, 200000);
    /* Not announced: refused once the data passes the limit. */
    int32_t id2 = request(&t, "POST", "/echo", NULL, 0, 200000);
    /* At the limit: served. */
    int32_t id3 = request(&t, "POST", "/echo", NULL, 0, 64 * 1024);
    pump(&t);
    cstream *s1 = cs_get(&t, id1), *s2 = cs_get(&t, id2), *s3 = cs_get(&t, id3);
    CHECK(s1->status == 413 && s1->closed);
    CHECK(s2->status == 413 && s2->closed);
    CHECK(s1->close_err == NGHTTP2_NO_ERROR && s2->close_err == NGHTTP2_NO_ERROR);
    CHECK(s1->up.off < 200000); /* the client was told to stop sending */
    CHECK(s3->status == 200 && s3->body_len == 64 * 1024);
    CHECK(t.w.dispatches == 1);
    CHECK(t.w.errors == 2 && t.w.last_error == 413);
    CHECK(!t.server_failed);
    tc_free(&t);
}

static void test_deferred_and_reset(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    int32_t a = request(&t, "GET", "/defer", NULL, 0, 0);
    int32_t b = request(&t, "GET", "/defer", NULL, 0, 0);
    pump(&t);
    CHECK(t.w.ndeferred == 2);
    CHECK(fa_h2_busy(&t.conn) == 2);

    /* The peer resets a; its answer arrives later and must be dropped. */
    int calls = g_stream_closed_calls;
    nghttp2_submit_rst_stream(t.client, NGHTTP2_FLAG_NONE, a, NGHTTP2_CANCEL);
    pump(&t);
    CHECK(fa_h2_busy(&t.conn) == 1);
    /* the worker hears of it, to cancel a coroutine handler */
    CHECK(g_stream_closed_calls == calls + 1 && g_stream_closed_last == a);
    fa_response r;
    fa_response_init(&r);
    fa_buf_appends(&r.body, "late");
    fa_response_add_header(&r, "x-late", 6, "1", 1);
    fa_conn_respond(&t.conn, a, &r);
    CHECK(r.body.data == NULL && r.strs.data == NULL && r.num_headers == 0);
    /* An unknown stream id, too. */
    fa_buf_appends(&r.body, "nobody");
    fa_conn_respond(&t.conn, 99, &r);
    CHECK(r.body.data == NULL);

    /* b is answered the pooled way: outside any nghttp2 callback, and the
     * bytes must be in wbuf without an explicit fa_h2_flush(). */
    fa_buf_appends(&r.body, "pooled");
    fa_conn_respond(&t.conn, b, &r);
    CHECK(t.conn.wbuf.len > 0);
    /* A second answer for the same stream is ignored. */
    fa_buf_appends(&r.body, "again");
    fa_conn_respond(&t.conn, b, &r);
    CHECK(r.body.data == NULL);
    pump(&t);
    cstream *sa = cs_get(&t, a), *sb = cs_get(&t, b);
    CHECK(sa->closed && sa->status == 0);
    CHECK(sb->status == 200 && sb->body_len == 6);
    CHECK(fa_h2_busy(&t.conn) == 0);
    /* b closed after its answer: nothing to cancel */
    CHECK(g_stream_closed_calls == calls + 1);
    /* The connection still works. */
    int32_t c = request(&t, "GET", "/hello", NULL, 0, 0);
    pump(&t);
    CHECK(cs_get(&t, c)->status == 200);
    CHECK(!t.server_failed);
    seed_from(&t, "rst");
    tc_free(&t);
}

static void test_upgrade(int head)
{
    tc t;
    tc_init(&t);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65535}};
    uint8_t payload[64];
    ssize_t plen = nghttp2_pack_settings_payload(payload, sizeof payload, iv, 2);
    CHECK(plen > 0);
    CHECK(nghttp2_session_upgrade2(t.client, payload, (size_t)plen, head, NULL) == 0);

    fa_header hs[] = {
        {"host", 4, "up.example", 10},
        {"connection", 10, "Upgrade, HTTP2-Settings", 23},
        {"upgrade", 7, "h2c", 3},
        {"http2-settings", 14, "AAMAAABkAAQAAP__", 16},
        {"x-one", 5, "1", 1},
    };
    fa_request req;
    memset(&req, 0, sizeof req);
    req.method = head ? "HEAD" : "GET";
    req.method_len = strlen(req.method);
    req.path = "/up";
    req.path_len = 3;
    req.query = "a=1";
    req.query_len = 3;
    req.headers = hs;
    req.num_headers = 5;
    req.body = "";
    req.http_version = 11;
    CHECK(fa_h2_start(&t.conn, payload, (size_t)plen, &req) == 0);
    CHECK(t.w.dispatches == 1);
    CHECK(strcmp(t.w.path, "/up") == 0 && strcmp(t.w.query, "a=1") == 0);
    CHECK(strcmp(t.w.host, "up.example") == 0);
    CHECK(!t.w.saw_hop_by_hop && t.w.num_headers == 2);
    CHECK(t.w.http_version == 20);
    pump(&t);
    cstream *st = cs_get(&t, 1);
    CHECK(st->status == 200);
    CHECK(strcmp(st->clen, "5") == 0);
    CHECK(st->body_len == (head ? 0u : 5u));
    CHECK(st->closed && st->close_err == NGHTTP2_NO_ERROR);
    /* And the connection carries ordinary streams afterwards. */
    int32_t id = request(&t, "GET", "/hello", NULL, 0, 0);
    CHECK(id == 3);
    pump(&t);
    CHECK(cs_get(&t, id)->status == 200);
    CHECK(!t.server_failed);
    if (!head) {
        /* The target's upgrade mode reads a length byte and that many
         * bytes of HTTP2-Settings before the client's bytes. */
        fa_buf seed = FA_BUF_INIT;
        uint8_t len_byte = (uint8_t)plen;
        fa_buf_append(&seed, &len_byte, 1);
        fa_buf_append(&seed, payload, (size_t)plen);
        fa_buf_append(&seed, t.capture.data, t.capture.len);
        write_seed("upgrade", 0x02, seed.data, seed.len);
        write_seed("upgrade-head-shutdown-chunked", 0x2e, seed.data, seed.len);
        fa_buf_free(&seed);
    }
    tc_free(&t);
}

static void test_shutdown(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    int32_t a = request(&t, "GET", "/defer", NULL, 0, 0);
    pump(&t);
    CHECK(t.w.ndeferred == 1);
    fa_h2_shutdown(&t.conn);
    fa_h2_shutdown(&t.conn); /* idempotent */
    /* A request racing the GOAWAY: the server must not start it. */
    int32_t b = request(&t, "GET", "/hello", NULL, 0, 0);
    c2s(&t);
    CHECK(t.w.dispatches == 1);
    s2c(&t);
    CHECK(t.goaway == 1 && t.goaway_err == NGHTTP2_NO_ERROR && t.goaway_last == a);
    CHECK(!fa_h2_done(&t.conn)); /* a is still in flight */
    pump(&t);
    CHECK(cs_get(&t, b)->status == 0 && cs_get(&t, b)->closed);

    fa_response r;
    fa_response_init(&r);
    fa_buf_appends(&r.body, "bye");
    fa_conn_respond(&t.conn, a, &r);
    pump(&t);
    CHECK(cs_get(&t, a)->status == 200 && cs_get(&t, a)->body_len == 3);
    CHECK(fa_h2_busy(&t.conn) == 0);
    CHECK(fa_h2_done(&t.conn));
    CHECK(t.w.dispatches == 1);
    tc_free(&t);

    /* A connection started while the worker is stopping gets GOAWAY at once. */
    tc_init(&t);
    t.w.stopping = 1;
    CHECK(tc_start(&t) == 0);
    pump(&t);
    CHECK(t.goaway == 1 && t.goaway_last == 0);
    CHECK(fa_h2_done(&t.conn));
    tc_free(&t);
}

static void test_bad_preface(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(fa_h2_recv(&t.conn, (const uint8_t *)junk, sizeof junk - 1) == -1);
    tc_free(&t);
}

static void test_ping_settings_window(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 1024},
                                   {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 32768}};
    nghttp2_submit_settings(t.client, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_submit_ping(t.client, NGHTTP2_FLAG_NONE, (const uint8_t *)"pingpong");
    nghttp2_submit_window_update(t.client, NGHTTP2_FLAG_NONE, 0, 1 << 20);
    pump(&t);
    CHECK(t.ping_acks == 1);
    int32_t id = request(&t, "GET", "/hello", NULL, 0, 0);
    nghttp2_submit_window_update(t.client, NGHTTP2_FLAG_NONE, id, 4096);
    nghttp2_priority_spec pri;
    nghttp2_priority_spec_init(&pri, 0, 200, 0);
    nghttp2_submit_priority(t.client, NGHTTP2_FLAG_NONE, id, &pri);
    pump(&t);
    CHECK(cs_get(&t, id)->status == 200);
    CHECK(!t.server_failed);
    /* The client library no longer sends PRIORITY once the server said
     * NO_RFC7540_PRIORITIES, and drops some frames a fuzzer should see:
     * append them by hand (PRIORITY, a self-dependent PRIORITY, a stream
     * WINDOW_UPDATE, an empty DATA, a RST_STREAM, a zero WINDOW_UPDATE). */
    static const uint8_t raw[] = {
        0, 0, 5, 2, 0, 0, 0, 0, 3, 0, 0, 0, 1, 16,
        0, 0, 5, 2, 0, 0, 0, 0, 5, 0, 0, 0, 5, 16,
        0, 0, 4, 8, 0, 0, 0, 0, 1, 0, 0, 16, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 1,
        0, 0, 4, 3, 0, 0, 0, 0, 1, 0, 0, 0, 8,
        0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    };
    fa_buf_append(&t.capture, raw, sizeof raw);
    seed_from(&t, "settings-ping-window-priority");
    tc_free(&t);
}

static void test_continuation(void)
{
    tc t;
    tc_init(&t);
    t.w.cfg.max_header_size = 64 * 1024;
    CHECK(tc_start(&t) == 0);
    /* About 30 KB of headers: HEADERS plus CONTINUATION frames. */
    static char v[6][5001];
    nghttp2_nv extra[6];
    static const char *const names[6] = {"x-a", "x-b", "x-c", "x-d", "x-e", "x-f"};
    for (int i = 0; i < 6; i++) {
        memset(v[i], 'a' + i, 5000);
        nghttp2_nv nv = {(uint8_t *)names[i], (uint8_t *)v[i], 3, 5000,
                         NGHTTP2_NV_FLAG_NO_INDEX};
        extra[i] = nv;
    }
    int32_t id = request(&t, "GET", "/hello", extra, 6, 0);
    pump(&t);
    CHECK(cs_get(&t, id)->status == 200);
    CHECK(t.w.num_headers == 7);
    CHECK(!t.server_failed);
    seed_from(&t, "continuation");
    tc_free(&t);
}

static void test_reset_flood(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    nghttp2_nv many[25];
    char names[25][8];
    for (int i = 0; i < 25; i++) {
        snprintf(names[i], sizeof names[i], "x-h%d", i);
        nghttp2_nv nv = NV(names[i], "1");
        many[i] = nv;
    }
    /* Every one of these makes the server send RST_STREAM. */
    for (int round = 0; round < 12 && !t.server_failed; round++) {
        for (int i = 0; i < 100; i++)
            request(&t, "GET", "/hello", many, 25, 0);
        pump(&t);
    }
    CHECK(t.server_failed);
    CHECK(t.goaway == 1 && t.goaway_err == NGHTTP2_ENHANCE_YOUR_CALM);
    CHECK(fa_h2_done(&t.conn));
    CHECK(t.w.dispatches == 0);
    tc_free(&t);
}

static void test_free_with_streams(void)
{
    /* Streams in every state when the connection goes: no leak (ASan). */
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    request(&t, "GET", "/defer", NULL, 0, 0);
    request(&t, "GET", "/big", NULL, 0, 0);
    request(&t, "POST", "/echo", NULL, 0, 100000);
    c2s(&t);
    CHECK(fa_h2_busy(&t.conn) >= 1);
    tc_free(&t);
}

/* The fuzz target's limits, with a request that hits each of them; the
 * capture seeds the fuzzer with paths it does not find alone through
 * HPACK. */
static void test_small_limits_and_trailers(void)
{
    tc t;
    tc_init(&t);
    h2_stub_fuzz_limits(&t.w.cfg);
    CHECK(tc_start(&t) == 0);
    nghttp2_nv cl[] = {NV("content-length", "8000")};
    int32_t over_cl = request(&t, "POST", "/echo", cl, 1, 8000);
    int32_t over = request(&t, "POST", "/echo", NULL, 0, 8000);
    static char path[300];
    path[0] = '/';
    memset(path + 1, 'p', sizeof path - 2);
    int32_t longpath = request(&t, "GET", path, NULL, 0, 0);
    nghttp2_nv many[17];
    char names[17][8];
    for (int i = 0; i < 17; i++) {
        snprintf(names[i], sizeof names[i], "x-h%d", i);
        nghttp2_nv nv = NV(names[i], "1");
        many[i] = nv;
    }
    int32_t toomany = request(&t, "GET", "/hello", many, 17, 0);
    cstream *ts = cs_get(&t, (int32_t)nghttp2_session_get_next_stream_id(t.client));
    ts->up.trailer = 1;
    int32_t trailers = request(&t, "POST", "/echo", NULL, 0, 100);
    pump(&t);
    CHECK(cs_get(&t, over_cl)->status == 413);
    CHECK(cs_get(&t, over)->status == 413);
    CHECK(cs_get(&t, longpath)->status == 414);
    CHECK(cs_get(&t, toomany)->status == 0 && cs_get(&t, toomany)->closed);
    CHECK(cs_get(&t, trailers)->status == 200 && cs_get(&t, trailers)->body_len == 100);
    CHECK(t.w.dispatches == 1 && t.w.body_len == 100);
    CHECK(t.w.num_headers == 1); /* host only: the trailer is not a header */
    CHECK(!t.server_failed);
    seed_from(&t, "limits-trailers");
    tc_free(&t);
}

static void test_free_inside_dispatch(void)
{
    tc t;
    tc_init(&t);
    CHECK(tc_start(&t) == 0);
    request(&t, "GET", "/defer", NULL, 0, 0);
    request(&t, "GET", "/free", NULL, 0, 0);
    request(&t, "GET", "/hello", NULL, 0, 0);
    pump(&t);
    CHECK(t.server_failed);
    CHECK(t.conn.h2 == NULL);
    CHECK(t.w.dispatches == 2); /* nothing after the free */
    /* A pooled answer for the dead connection is dropped. */
    fa_response r;
    fa_response_init(&r);
    fa_buf_appends(&r.body, "late");
    fa_conn_respond(&t.conn, t.w.deferred[0], &r);
    CHECK(r.body.data == NULL);
    CHECK(fa_h2_busy(&t.conn) == 0 && fa_h2_done(&t.conn));
    CHECK(fa_h2_flush(&t.conn) == -1 && fa_h2_recv(&t.conn, (const uint8_t *)"x", 1) == -1);
    fa_h2_shutdown(&t.conn);
    tc_free(&t);

    /* The same during the upgrade's stream 1. */
    tc_init(&t);
    fa_request req;
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.method_len = 3;
    req.path = "/free";
    req.path_len = 5;
    req.query = req.body = "";
    req.http_version = 11;
    CHECK(fa_h2_start(&t.conn, NULL, 0, &req) == -1);
    CHECK(t.conn.h2 == NULL);
    tc_free(&t);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
        g_seed_dir = argv[2];

    test_get();
    test_post_echo();
    test_big_response();
    test_stream_body();
    test_head();
    test_statuses();
    test_header_limits();
    test_target_too_long();
    test_body_limit();
    test_deferred_and_reset();
    test_upgrade(0);
    test_upgrade(1);
    test_shutdown();
    test_bad_preface();
    test_ping_settings_window();
    test_continuation();
    test_reset_flood();
    test_free_with_streams();
    test_small_limits_and_trailers();
    test_free_inside_dispatch();

    fa_slab_drain(&g_slab);
    printf("%d passed, %d failed\n", g_counts.passed, g_counts.failed);
    return g_counts.failed ? 1 : 0;
}
