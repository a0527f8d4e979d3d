/* session.c - HTTP/2 server sessions on libnghttp2 (see session.h).
 *
 * One struct fa_h2 per connection owns the nghttp2 session and our
 * per-stream state (fa_h2_stream, attached to nghttp2's stream as user
 * data).  A request is collected from nghttp2's callbacks and handed to the
 * worker once the peer ends the stream; the answer comes back through
 * fa_h2_respond(), either inside that dispatch (hence inside an nghttp2
 * callback) or later from a pooled handler.  Output is serialized into
 * conn->wbuf only; the socket belongs to the worker.
 *
 * Limits nghttp2 does not enforce for us live here: header list bytes and
 * field count, body size, request-target length, and a budget for resets
 * and invalid frames the peer provokes ("MadeYouReset" and friends).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif

#include "session.h"
#include "../ws/conn.h"
#include "../common/slab.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../server/config.h"
#include "../server/obs.h"

enum {
    /* Stop serializing once this much output waits for the socket. */
    FA_H2_WBUF_HIGH = 256 * 1024,
    /* Receive windows: generous so that uploads are not throttled by
     * round trips; the body limit still bounds what one stream may send. */
    FA_H2_STREAM_WINDOW = 1 << 20,
    FA_H2_CONN_WINDOW = 8 << 20,
    /* Per-field overhead in header list size accounting (RFC 9113 6.5.2). */
    FA_H2_FIELD_OVERHEAD = 32,
    /* Peer-provoked resets and invalid frames tolerated per window. */
    FA_H2_GLITCH_LIMIT = 1000,
    FA_H2_GLITCH_WINDOW_MS = 10000,
    /* Entries per SETTINGS frame, and queued SETTINGS/PING acks. */
    FA_H2_MAX_SETTINGS = 32,
    FA_H2_MAX_OUTBOUND_ACK = 1000,
    /* Incoming RST_STREAM token bucket (rapid reset, CVE-2023-44487). */
    FA_H2_RESET_BURST = 1000,
    FA_H2_RESET_RATE = 33,
    /* CONTINUATION frames after one HEADERS (CVE-2024-28182). */
    FA_H2_MAX_CONTINUATIONS = 8,
    /* Ranges of client stream ids skipped over (never opened) that we
     * remember, to catch a lower id opened later (RFC 9113 5.1.1). */
    FA_H2_SKIPPED_RANGES = 8,
    /* Recently closed client streams whose late DATA or HEADERS is a
     * connection error STREAM_CLOSED (RFC 9113 5.1): nghttp2 keeps no
     * closed streams for us (nghttp2_option_set_no_closed_streams). */
    FA_H2_CLOSED_RING = 32,
};

/* Where one request header field sits in the stream's string buffer.
 * Offsets, because the buffer moves as it grows. */
typedef struct fa_h2_field {
    size_t name_off, name_len;
    size_t value_off, value_len;
} fa_h2_field;

typedef struct fa_h2_stream {
    struct fa_h2_stream *prev, *next; /* every stream of the session */
    int32_t id;
    /* --- request --- */
    fa_buf strs;   /* bytes of pseudo-headers and header fields */
    fa_buf fields; /* array of fa_h2_field */
    size_t nfields;
    size_t method_off, method_len;
    size_t path_off, path_len; /* :path as sent; split at '?' on dispatch */
    size_t authority_off, authority_len;
    size_t header_bytes; /* RFC 9113 header list size so far */
    size_t header_count; /* regular (non-pseudo) fields so far */
    uint64_t content_length;
    fa_buf body;
    unsigned has_method : 1, has_path : 1, has_authority : 1, has_host : 1;
    unsigned has_content_length : 1;
    unsigned is_head : 1;
    unsigned remote_closed : 1; /* peer sent END_STREAM */
    unsigned dispatched : 1;    /* handed to the worker */
    unsigned rejected : 1;      /* answered with an error before completion */
    unsigned responded : 1;     /* a response was submitted */
    unsigned streaming : 1;     /* the body arrives through fa_h2_stream_write */
    int file_fd;                /* a file body read with pread (-1: none) */
    unsigned body_streaming : 1; /* stream_body route: DATA goes to the handler */
    size_t withheld;            /* received bytes not yet given back to the window */
    uint64_t file_off, file_left;
    unsigned stream_ended : 1;  /* ... and its last bytes did */
    int32_t win_before;         /* our send window when a SETTINGS frame began */
    unsigned websocket : 1;     /* RFC 8441 extended CONNECT: ws/conn.c has the stream */
    unsigned protocol_other : 1; /* :protocol named something else */
    unsigned peer_done : 1;     /* the peer sent END_STREAM or RST_STREAM */
    unsigned in_rx : 1, in_tx : 1; /* counted in num_receiving / num_sending */
    /* --- response --- */
    fa_buf resp_body; /* moved out of the handler's fa_response */
    size_t resp_off;  /* bytes of resp_body already given to nghttp2 */
} fa_h2_stream;

/* Opaque data of the PING that follows a shutdown notice. */
#define H2_DRAIN_PING "fa-drain"

struct fa_h2 {
    fa_conn *conn;
    nghttp2_session *session;
    const fa_config *cfg;
    fa_h2_stream *streams;
    int busy;          /* streams dispatched and not closed */
    /* For fa_h2_timer_state() without a walk over the streams (h2_account):
     * streams whose request is still arriving, streams with answer bytes
     * that nghttp2 has not taken yet, and whether the last flush left
     * nghttp2 with nothing it could send (then those bytes wait for the
     * peer's flow-control window). */
    int num_receiving, num_sending;
    unsigned drained : 1;
    int nest;          /* > 0 while inside nghttp2 or a dispatch */
    unsigned zombie : 1;        /* fa_h2_free() came while nest > 0 */
    unsigned goaway_sent : 1;   /* fa_h2_shutdown() already ran */
    unsigned notice_sent : 1;   /* fa_h2_shutdown_notice() already ran */
    unsigned calm : 1;          /* glitch budget exhausted */
    unsigned calm_sent : 1;     /* ENHANCE_YOUR_CALM submitted */
    unsigned await_preface : 1; /* upgraded: hold our frames until the client's preface */
    unsigned progress : 1;      /* a request stream began since fa_h2_timer_state() */
    uint64_t glitch_start_ms;
    unsigned glitches;
    /* Stream-id bookkeeping for RFC 9113 5.1.1, which nghttp2 1.52 leaves
     * to us: the highest client stream id seen in a HEADERS frame, and the
     * last few ranges of ids the client jumped over.  A HEADERS frame on a
     * lower id that was never opened is a connection error; one on a lower
     * id that was opened is nghttp2's to judge (closed stream, or trailers
     * racing our RST_STREAM). */
    int32_t last_peer_sid;
    uint32_t iws_before; /* peer's INITIAL_WINDOW_SIZE when a SETTINGS began */
    struct { int32_t lo, hi; } skipped[FA_H2_SKIPPED_RANGES];
    unsigned num_skipped; /* ranges recorded so far (ring index) */
    /* The last FA_H2_CLOSED_RING client streams that closed after the peer
     * ended or reset them (0: empty slot).  A stream we reset before the
     * peer was done is not here: its late frames are ignored (5.1). */
    int32_t closed[FA_H2_CLOSED_RING];
    unsigned num_closed; /* ring index */
    /* Frame boundaries of the input, followed alongside nghttp2: it drops
     * DATA on a stream it does not know without any callback, so DATA on
     * a closed stream is judged here, before nghttp2 sees the frame. */
    uint32_t in_skip;  /* bytes to the next frame header (first: the preface) */
    uint8_t in_hd[9];  /* a frame header split between two reads */
    uint8_t in_hd_len;
    /* A connection error found in a callback: the code for the GOAWAY
     * that fa_h2_recv() queues when nghttp2 returns the failure. */
    uint32_t term_code;
    unsigned term_set : 1;
    fa_header *scratch; /* header slices rebuilt for each dispatch */
    size_t scratch_cap;
    fa_h2_stream *spare; /* closed streams kept with their buffers */
    int num_spare;
    nghttp2_mem mem;     /* nghttp2's allocations go to the worker's slab */
};

typedef struct fa_h2 fa_h2;

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static uint64_t h2_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Counts one thing the peer made us do that a well-behaved client would not
 * (a reset we had to send, an invalid frame, an empty DATA frame).  nghttp2
 * 1.52 has no such budget of its own. */
static void h2_glitch(fa_h2 *h2)
{
    uint64_t now = h2_now_ms();
    if (now - h2->glitch_start_ms >= FA_H2_GLITCH_WINDOW_MS) {
        h2->glitch_start_ms = now;
        h2->glitches = 0;
    }
    if (++h2->glitches > FA_H2_GLITCH_LIMIT)
        h2->calm = 1;
}

/* Queues GOAWAY(ENHANCE_YOUR_CALM) once the budget is gone.  Called between
 * library calls rather than from callbacks, so the frame that used up the
 * budget is finished first. */
static void h2_check_calm(fa_h2 *h2)
{
    if (h2->calm && !h2->calm_sent) {
        h2->calm_sent = 1;
        nghttp2_session_terminate_session(h2->session, NGHTTP2_ENHANCE_YOUR_CALM);
    }
}

static int h2_eq(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    return alen == n && memcmp(a, lit, n) == 0;
}

/* Decimal digits only; saturates instead of overflowing.  nghttp2 has
 * already refused a malformed content-length, so this only measures it. */
static uint64_t h2_parse_u64(const uint8_t *s, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return UINT64_MAX;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return UINT64_MAX;
        v = v * 10 + d;
    }
    return v;
}

/* Appends bytes to the stream's string buffer and reports their offset. */
/* Writes v in decimal at the end of buf[24]; returns the digit count. */
static size_t h2_u64_str(char buf[24], uint64_t v)
{
    char *p = buf + 24;
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return (size_t)(buf + 24 - p);
}

static int h2_store(fa_h2_stream *st, const void *p, size_t n, size_t *off)
{
    *off = st->strs.len;
    return fa_buf_append(&st->strs, p, n);
}

static int h2_add_field(fa_h2_stream *st, const void *name, size_t name_len,
                        const void *value, size_t value_len)
{
    fa_h2_field f;
    f.name_len = name_len;
    f.value_len = value_len;
    if (h2_store(st, name, name_len, &f.name_off) < 0 ||
        h2_store(st, value, value_len, &f.value_off) < 0 ||
        fa_buf_append(&st->fields, &f, sizeof f) < 0)
        return -1;
    st->nfields++;
    return 0;
}

/* Fields a handler must not see in an HTTP/2 request (the h2c upgrade
 * request brings them) nor send in an HTTP/2 response. */
static int h2_hop_by_hop(const char *name, size_t len)
{
    return h2_eq(name, len, "connection") || h2_eq(name, len, "keep-alive") ||
           h2_eq(name, len, "transfer-encoding") || h2_eq(name, len, "upgrade") ||
           h2_eq(name, len, "proxy-connection") || h2_eq(name, len, "te") ||
           h2_eq(name, len, "http2-settings");
}

/* A response field a peer would reject (and with it the whole stream):
 * names must be lowercase tokens, values free of NUL, CR and LF. */
static int h2_valid_field(const char *name, size_t nlen, const char *value, size_t vlen)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    if (nlen == 0)
        return 0;
    for (size_t i = 0; i < nlen; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              (ch != '\0' && strchr(tchar, ch) != NULL)))
            return 0;
    }
    for (size_t i = 0; i < vlen; i++) {
        char ch = value[i];
        if (ch == '\0' || ch == '\r' || ch == '\n')
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* streams                                                              */

#define FA_H2_SPARE_STREAMS 16
#define FA_H2_KEEP_BUF 16384 /* larger stream buffers are not kept */

/* Keeps num_receiving and num_sending in step with the stream's state:
 * called wherever the flags or the answer bytes below change. */
static void h2_account(fa_h2 *h2, fa_h2_stream *st)
{
    unsigned rx = !st->remote_closed && !st->dispatched && !st->rejected;
    unsigned tx = st->responded && (st->file_fd >= 0 || st->resp_off < st->resp_body.len);
    h2->num_receiving += (int)rx - (int)st->in_rx;
    h2->num_sending += (int)tx - (int)st->in_tx;
    st->in_rx = rx;
    st->in_tx = tx;
}

/* Streams are recycled with their buffers: a connection that serves many
 * requests stops allocating once it has seen its usual concurrency. */
static fa_h2_stream *h2_stream_new(fa_h2 *h2, int32_t id)
{
    fa_h2_stream *st = h2->spare;
    if (st != NULL) {
        h2->spare = st->next;
        h2->num_spare--;
        fa_buf strs = st->strs, fields = st->fields, body = st->body, resp = st->resp_body;
        memset(st, 0, sizeof *st);
        st->strs = strs;
        st->fields = fields;
        st->body = body;
        st->resp_body = resp;
    } else if ((st = calloc(1, sizeof *st)) == NULL) {
        return NULL;
    }
    st->file_fd = -1;
    st->id = id;
    st->next = h2->streams;
    if (h2->streams != NULL)
        h2->streams->prev = st;
    h2->streams = st;
    h2_account(h2, st);
    return st;
}

/* Empties a buffer, keeping a small one's memory for the next stream. */
static void h2_buf_recycle(fa_buf *b)
{
    fa_buf_reset(b);
    fa_buf_shrink(b, FA_H2_KEEP_BUF);
}

/* Drops the request's memory; its slices are dead after dispatch. */
static void h2_stream_drop_request(fa_h2_stream *st)
{
    h2_buf_recycle(&st->strs);
    h2_buf_recycle(&st->fields);
    h2_buf_recycle(&st->body);
    st->nfields = 0;
}

static void h2_stream_free(fa_h2 *h2, fa_h2_stream *st)
{
    if (st->prev != NULL)
        st->prev->next = st->next;
    else
        h2->streams = st->next;
    if (st->next != NULL)
        st->next->prev = st->prev;
    if (st->dispatched)
        h2->busy--;
    h2->num_receiving -= st->in_rx;
    h2->num_sending -= st->in_tx;
    h2_stream_drop_request(st);
    h2_buf_recycle(&st->resp_body);
    if (st->file_fd >= 0)
        close(st->file_fd);
    st->file_fd = -1;
    if (h2->num_spare < FA_H2_SPARE_STREAMS) {
        st->next = h2->spare;
        h2->spare = st;
        h2->num_spare++;
        return;
    }
    fa_buf_free(&st->strs);
    fa_buf_free(&st->fields);
    fa_buf_free(&st->body);
    fa_buf_free(&st->resp_body);
    free(st);
}

static fa_h2_stream *h2_stream_get(fa_h2 *h2, int32_t id)
{
    if (id <= 0)
        return NULL;
    return nghttp2_session_get_stream_user_data(h2->session, id);
}

/* Answers a stream with an error status before its request completed;
 * further body bytes are dropped.  Returns -1 if the connection went away
 * during the answer (the caller must not touch the session any more). */
static int h2_reject(fa_h2 *h2, fa_h2_stream *st, int status, const char *text)
{
    st->rejected = 1;
    h2_account(h2, st);
    fa_buf_free(&st->body);
    h2->nest++;
    fa_conn_respond_error(h2->conn, st->id, status, text);
    h2->nest--;
    return h2->zombie ? -1 : 0;
}

/* Builds the fa_request from a complete stream and hands it to the worker.
 * Returns -1 if the connection was freed from inside the dispatch. */
static int h2_dispatch(fa_h2 *h2, fa_h2_stream *st)
{
    if (st->dispatched || st->rejected)
        return 0;
    st->dispatched = 1;
    h2->busy++;
    h2_account(h2, st);

    /* HTTP/2 may split cookie into several fields (RFC 9113 8.2.3); handlers
     * expect one, joined with "; ".  The joined value is appended to strs,
     * before any slice is taken, since appending may move the buffer. */
    size_t ncookie = 0, cookie_len = 0, cookie_off = 0;
    const fa_h2_field *fields = (const fa_h2_field *)(void *)st->fields.data;
    for (size_t i = 0; i < st->nfields; i++) {
        if (h2_eq(st->strs.data + fields[i].name_off, fields[i].name_len, "cookie")) {
            cookie_len += (ncookie ? 2 : 0) + fields[i].value_len;
            ncookie++;
        }
    }
    if (ncookie > 1) {
        if (fa_buf_reserve(&st->strs, cookie_len) < 0)
            goto fail;
        cookie_off = st->strs.len;
        int first = 1;
        for (size_t i = 0; i < st->nfields; i++) {
            if (!h2_eq(st->strs.data + fields[i].name_off, fields[i].name_len, "cookie"))
                continue;
            if (!first)
                fa_buf_append(&st->strs, "; ", 2); /* reserved: cannot fail */
            fa_buf_append(&st->strs, st->strs.data + fields[i].value_off,
                          fields[i].value_len);
            first = 0;
        }
    }

    size_t need = st->nfields + 1; /* + host from :authority */
    if (need > h2->scratch_cap) {
        fa_header *p = realloc(h2->scratch, need * sizeof *p);
        if (p == NULL)
            goto fail;
        h2->scratch = p;
        h2->scratch_cap = need;
    }
    size_t n = 0;
    int cookie_done = 0;
    for (size_t i = 0; i < st->nfields; i++) {
        fa_header *h = &h2->scratch[n];
        h->name = st->strs.data + fields[i].name_off;
        h->name_len = fields[i].name_len;
        h->value = st->strs.data + fields[i].value_off;
        h->value_len = fields[i].value_len;
        if (ncookie > 1 && h2_eq(h->name, h->name_len, "cookie")) {
            if (cookie_done)
                continue;
            cookie_done = 1;
            h->value = st->strs.data + cookie_off;
            h->value_len = cookie_len;
        }
        n++;
    }
    if (!st->has_host && st->has_authority) {
        fa_header *h = &h2->scratch[n++];
        h->name = "host";
        h->name_len = 4;
        h->value = st->strs.data + st->authority_off;
        h->value_len = st->authority_len;
    }

    fa_request req;
    memset(&req, 0, sizeof req);
    req.method = st->has_method ? st->strs.data + st->method_off : "";
    req.method_len = st->method_len;
    req.path = st->has_path ? st->strs.data + st->path_off : "";
    req.path_len = st->path_len;
    const char *q = req.path_len ? memchr(req.path, '?', req.path_len) : NULL;
    if (q != NULL) {
        req.query = q + 1;
        req.query_len = req.path_len - (size_t)(q + 1 - req.path);
        req.path_len = (size_t)(q - req.path);
    } else {
        req.query = "";
    }
    req.headers = h2->scratch;
    req.num_headers = n;
    req.body = st->body.data ? st->body.data : "";
    req.body_len = st->body.len;
    req.http_version = 20;

    h2->nest++;
    if (st->websocket) {
        /* --- RFC 8441: the WebSocket layer takes the stream (ws/conn.c) --- */
        int status = 0;
        const char *why = NULL;
        if (fa_wsc_h2_begin(h2->conn, st->id, &req, &status, &why) < 0) {
            h2->nest--;
            return h2_reject(h2, st, status, why ? why : fa_http_reason(status));
        }
    } else {
        fa_worker_dispatch(h2->conn->worker, h2->conn, st->id, &req);
    }
    h2->nest--;
    if (h2->zombie)
        return -1;
    h2_stream_drop_request(st);
    return 0;

fail:
    /* Out of memory: the stream cannot be served, the connection can. */
    st->dispatched = 0;
    h2->busy--;
    h2_account(h2, st);
    return h2_reject(h2, st, 503, "Service Unavailable\n");
}

/* ------------------------------------------------------------------ */
/* nghttp2 callbacks                                                    */

/* Whether a client stream id below last_peer_sid was jumped over. */
static int h2_was_skipped(const fa_h2 *h2, int32_t id)
{
    unsigned n = h2->num_skipped < FA_H2_SKIPPED_RANGES ? h2->num_skipped : FA_H2_SKIPPED_RANGES;
    for (unsigned i = 0; i < n; i++)
        if (id >= h2->skipped[i].lo && id <= h2->skipped[i].hi)
            return 1;
    return 0;
}

/* Whether a client stream closed recently after the peer was done with it. */
static int h2_was_closed(const fa_h2 *h2, int32_t id)
{
    for (unsigned i = 0; i < FA_H2_CLOSED_RING; i++)
        if (h2->closed[i] == id)
            return 1;
    return 0;
}

/* Every frame's header, before nghttp2 acts on it: the stream-id rules of
 * RFC 9113 5.1.1 that nghttp2 1.52 does not apply.  A new stream id must be
 * greater than every id the client used before; the ids it skips are
 * implicitly closed. */
static int on_begin_frame(nghttp2_session *session, const nghttp2_frame_hd *hd,
                          void *user_data)
{
    fa_h2 *h2 = user_data;
    if (h2->zombie)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    /* RFC 9113 4.2: nghttp2 1.52 checks every frame's length against our
     * SETTINGS_MAX_FRAME_SIZE except a CONTINUATION's. */
    if (hd->type == NGHTTP2_CONTINUATION &&
        hd->length > nghttp2_session_get_local_settings(session, NGHTTP2_SETTINGS_MAX_FRAME_SIZE)) {
        h2->term_code = NGHTTP2_FRAME_SIZE_ERROR;
        h2->term_set = 1;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (hd->type == NGHTTP2_SETTINGS && !(hd->flags & NGHTTP2_FLAG_ACK)) {
        /* for h2_check_window_change(), once the frame is applied */
        h2->iws_before =
            nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE);
        for (fa_h2_stream *st = h2->streams; st != NULL; st = st->next)
            st->win_before = nghttp2_session_get_stream_remote_window_size(session, st->id);
        return 0;
    }
    int32_t id = hd->stream_id;
    /* DATA on closed streams: h2_recv_frames(), since nghttp2 drops those
     * frames before this callback */
    if (hd->type != NGHTTP2_HEADERS || id <= 0 || (id & 1) == 0)
        return 0; /* even ids and stream 0: nghttp2 judges them */
    if (id > h2->last_peer_sid) {
        /* the next id the client could have used: 1 on a fresh session */
        int32_t next = h2->last_peer_sid > 0 ? h2->last_peer_sid + 2 : 1;
        if (id > next) {
            unsigned i = h2->num_skipped++ % FA_H2_SKIPPED_RANGES;
            h2->skipped[i].lo = next;
            h2->skipped[i].hi = id - 2;
        }
        h2->last_peer_sid = id;
        return 0;
    }
    if (id < h2->last_peer_sid && h2_was_skipped(h2, id)) {
        /* a HEADERS frame opening a lower id (5.1.1: PROTOCOL_ERROR) */
        h2->term_code = NGHTTP2_PROTOCOL_ERROR;
        h2->term_set = 1;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (h2_was_closed(h2, id)) {
        /* 5.1 closed, 8.1: HEADERS on a stream the peer had ended or reset.
         * The RFC allows a connection error STREAM_CLOSED here (5.4.1), and
         * it is what nghttp2 answers on the closed streams it keeps. */
        h2->term_code = NGHTTP2_STREAM_CLOSED;
        h2->term_set = 1;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    /* open streams are nghttp2's; a closed one we reset before the peer was
     * done, or one too old to be remembered: nghttp2 ignores the frame
     * (5.1: frames after our RST_STREAM MUST be ignored) */
    return 0;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame,
                            void *user_data)
{
    fa_h2 *h2 = user_data;
    if (h2->zombie)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    fa_h2_stream *st = h2_stream_new(h2, frame->hd.stream_id);
    if (st == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    h2->progress = 1;
    if (nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, st) != 0) {
        h2_stream_free(h2, st);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *user_data)
{
    (void)session;
    (void)flags;
    fa_h2 *h2 = user_data;
    if (h2->zombie)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    fa_h2_stream *st = h2_stream_get(h2, frame->hd.stream_id);
    if (st == NULL)
        return 0;

    /* nghttp2 does not enforce our SETTINGS_MAX_HEADER_LIST_SIZE: count
     * what RFC 9113 counts, trailers included, and reset past the limit. */
    st->header_bytes += namelen + valuelen + FA_H2_FIELD_OVERHEAD;
    if (namelen == 0 || name[0] != ':')
        st->header_count++;
    if (st->header_bytes > h2->cfg->max_header_size ||
        st->header_count > h2->cfg->max_headers)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;

    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers: counted, not kept */

    const char *n = (const char *)name;
    int rv = 0;
    if (namelen > 0 && n[0] == ':') {
        /* nghttp2 has validated pseudo-headers (no duplicates, none after
         * regular fields); :scheme is not exposed to handlers. */
        if (h2_eq(n, namelen, ":method")) {
            rv = h2_store(st, value, valuelen, &st->method_off);
            st->method_len = valuelen;
            st->has_method = 1;
        } else if (h2_eq(n, namelen, ":path")) {
            rv = h2_store(st, value, valuelen, &st->path_off);
            st->path_len = valuelen;
            st->has_path = 1;
        } else if (h2_eq(n, namelen, ":authority")) {
            rv = h2_store(st, value, valuelen, &st->authority_off);
            st->authority_len = valuelen;
            st->has_authority = 1;
        } else if (h2_eq(n, namelen, ":protocol")) {
            /* RFC 8441 (nghttp2 allows it only with CONNECT, and only
             * since we sent SETTINGS_ENABLE_CONNECT_PROTOCOL) */
            if (h2_eq((const char *)value, valuelen, "websocket"))
                st->websocket = 1;
            else
                st->protocol_other = 1;
        }
    } else {
        if (h2_eq(n, namelen, "host"))
            st->has_host = 1;
        else if (h2_eq(n, namelen, "content-length")) {
            st->has_content_length = 1;
            st->content_length = h2_parse_u64(value, valuelen);
        }
        rv = h2_add_field(st, name, namelen, value, valuelen);
    }
    return rv < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

/* The request head is complete: refuse early what we will not accept, so
 * that the client learns it before sending a large body. */
static int h2_on_request_head(fa_h2 *h2, fa_h2_stream *st)
{
    st->is_head = st->has_method &&
                  h2_eq(st->strs.data + st->method_off, st->method_len, "HEAD");
    if (st->path_len > h2->cfg->max_target_size)
        return h2_reject(h2, st, 414, "URI Too Long\n");
    if (st->has_content_length && st->content_length > h2->cfg->max_body_size &&
        !(st->has_method && st->has_path &&
          fa_conn_route_streams_body(h2->conn, st->strs.data + st->method_off, st->method_len,
                                     st->strs.data + st->path_off, st->path_len)))
        return h2_reject(h2, st, 413, "Content Too Large\n"); /* stream_body routes are unbounded */
    return 0;
}

/* RFC 9113 6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that takes a
 * stream's send window above 2^31-1 is a connection error
 * FLOW_CONTROL_ERROR; nghttp2 1.52 only resets that stream.  The windows
 * were noted when the frame began (on_begin_frame). */
static int h2_check_window_change(nghttp2_session *session, fa_h2 *h2)
{
    int64_t delta = (int64_t)nghttp2_session_get_remote_settings(
                        session, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE) -
                    (int64_t)h2->iws_before;
    if (delta <= 0)
        return 0;
    for (fa_h2_stream *st = h2->streams; st != NULL; st = st->next) {
        if ((int64_t)st->win_before + delta > NGHTTP2_MAX_WINDOW_SIZE) {
            h2->term_code = NGHTTP2_FLOW_CONTROL_ERROR;
            h2->term_set = 1;
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                         void *user_data)
{
    fa_h2 *h2 = user_data;
    if (h2->zombie)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
        return h2_check_window_change(session, h2);
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        /* the stream closes right after this callback */
        fa_h2_stream *st = h2_stream_get(h2, frame->hd.stream_id);
        if (st != NULL)
            st->peer_done = 1;
        return 0;
    }
    if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK) && h2->notice_sent &&
        memcmp(frame->ping.opaque_data, H2_DRAIN_PING, 8) == 0) {
        /* The peer has read the notice: every stream it opened before
         * is in, so the final GOAWAY refuses none of them. */
        fa_h2_shutdown(h2->conn);
        return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    fa_h2_stream *st = h2_stream_get(h2, frame->hd.stream_id);
    if (st == NULL)
        return 0;
    int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (end)
        st->peer_done = 1;
    if (frame->hd.type == NGHTTP2_DATA && frame->hd.length == 0 && !end)
        h2_glitch(h2); /* empty DATA frames cost us and carry nothing */
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
        h2_on_request_head(h2, st) < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
        !st->rejected && (st->websocket || st->protocol_other)) {
        /* --- RFC 8441 extended CONNECT: a WebSocket starts at its head --- */
        int bad = st->protocol_other || end;
        if ((bad ? h2_reject(h2, st, st->protocol_other ? 501 : 400,
                             st->protocol_other ? "Unknown :protocol\n" : "Bad Request\n")
                 : h2_dispatch(h2, st)) < 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        return 0;
    }
    if (end && st->websocket) {
        st->remote_closed = 1; /* the peer's half is closed: so is the WebSocket */
        h2_account(h2, st);
        h2->nest++;
        fa_wsc_h2_closed(h2->conn, st->id, 0);
        h2->nest--;
        return h2->zombie ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST && !end &&
        !st->rejected && st->has_method && st->has_path &&
        fa_conn_route_streams_body(h2->conn, st->strs.data + st->method_off, st->method_len,
                                   st->strs.data + st->path_off, st->path_len)) {
        /* stream_body route: the handler starts now, the body follows */
        st->body_streaming = 1;
        if (h2_dispatch(h2, st) < 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        return 0;
    }
    if (end && st->body_streaming) {
        st->remote_closed = 1;
        h2_account(h2, st);
        h2->nest++;
        fa_conn_body_feed(h2->conn, st->id, "", 0, 1);
        h2->nest--;
        return h2->zombie ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
    }
    if (end) {
        st->remote_closed = 1;
        h2_account(h2, st);
        if (h2_dispatch(h2, st) < 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *user_data)
{
    (void)flags;
    fa_h2 *h2 = user_data;
    if (h2->zombie)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    fa_h2_stream *st = h2_stream_get(h2, stream_id);
    if (st != NULL && st->websocket && st->dispatched && !st->rejected) {
        /* RFC 8441: WebSocket frames; while the handler is behind, the
         * window stays shut (given back by fa_h2_body_resume) */
        h2->nest++;
        int r = fa_wsc_h2_data(h2->conn, stream_id, data, len);
        h2->nest--;
        if (h2->zombie)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        if (r == 1 || st->withheld > 0)
            st->withheld += len;
        else
            nghttp2_session_consume(session, stream_id, len);
        return 0;
    }
    if (st != NULL && st->body_streaming && st->dispatched && !st->rejected) {
        /* stream_body: the handler reads it; while it is behind, the
         * window stays shut so the client waits instead of us buffering */
        h2->nest++;
        int r = fa_conn_body_feed(h2->conn, stream_id, (const char *)data, len, 0);
        h2->nest--;
        if (h2->zombie)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        if (r == 1 || st->withheld > 0) {
            st->withheld += len;
            return 0;
        }
        nghttp2_session_consume(session, stream_id, len);
        return 0;
    }
    /* Windows are given back by hand (no automatic WINDOW_UPDATE, so that
     * stream_body routes can hold a client back): everything else is
     * consumed at once. */
    nghttp2_session_consume(session, stream_id, len);
    if (st == NULL || st->rejected || st->dispatched)
        return 0;
    if (st->body.len > h2->cfg->max_body_size || len > h2->cfg->max_body_size - st->body.len)
        return h2_reject(h2, st, 413, "Content Too Large\n") < 0
                   ? NGHTTP2_ERR_CALLBACK_FAILURE
                   : 0;
    if (fa_buf_append(&st->body, data, len) < 0) {
        st->rejected = 1;
        h2_account(h2, st);
        fa_buf_free(&st->body);
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
    }
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame,
                         void *user_data)
{
    fa_h2 *h2 = user_data;
    if (h2->zombie)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    fa_obs_h2_sent(h2->conn, frame->hd.type,
                   frame->hd.type == NGHTTP2_RST_STREAM ? frame->rst_stream.error_code
                   : frame->hd.type == NGHTTP2_GOAWAY   ? frame->goaway.error_code
                                                        : 0);
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        if (frame->rst_stream.error_code != NGHTTP2_NO_ERROR)
            h2_glitch(h2);
        return 0;
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        /* An early error answer is complete: tell the client to stop
         * sending the body we are discarding (RFC 9113 8.1). */
        fa_h2_stream *st = h2_stream_get(h2, frame->hd.stream_id);
        if (st != NULL && st->rejected && !st->remote_closed)
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, st->id,
                                      NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int on_invalid_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                                 int lib_error_code, void *user_data)
{
    (void)session;
    (void)frame;
    (void)lib_error_code;
    fa_h2 *h2 = user_data;
    if (h2->zombie)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    h2_glitch(h2);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id,
                           uint32_t error_code, void *user_data)
{
    (void)error_code;
    fa_h2 *h2 = user_data;
    fa_h2_stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
    fa_alog_request_end(h2->conn, stream_id);
    if (st != NULL) {
        if (st->websocket && st->dispatched && !h2->zombie)
            fa_wsc_h2_closed(h2->conn, stream_id, 1); /* RFC 8441: the WebSocket is over */
        int unanswered = st->dispatched && !st->responded;
        if (st->peer_done)
            h2->closed[h2->num_closed++ % FA_H2_CLOSED_RING] = stream_id;
        nghttp2_session_set_stream_user_data(session, stream_id, NULL);
        h2_stream_free(h2, st);
        /* reset before its answer: a coroutine handler serving it is
         * cancelled (its late answer would be dropped anyway) */
        if (unanswered && !h2->zombie)
            fa_conn_stream_closed(h2->conn, stream_id);
    }
    return h2->zombie ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static ssize_t h2_read_body(fa_h2_stream *st, uint8_t *buf, size_t length, uint32_t *data_flags)
{
    if (st->file_fd >= 0) {
        /* nghttp2 asks only for what the flow-control window allows */
        size_t want = st->file_left < length ? (size_t)st->file_left : length;
        ssize_t n;
        do
            n = pread(st->file_fd, buf, want, (off_t)st->file_off);
        while (n < 0 && errno == EINTR);
        if (n < 0 || (n == 0 && want > 0))
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
        st->file_off += (uint64_t)n;
        st->file_left -= (uint64_t)n;
        if (st->file_left == 0) {
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
            close(st->file_fd);
            st->file_fd = -1;
        }
        return n;
    }
    size_t left = st->resp_body.len - st->resp_off;
    if (left == 0 && st->streaming && !st->stream_ended)
        return NGHTTP2_ERR_DEFERRED; /* fa_h2_stream_write resumes us */
    size_t n = left < length ? left : length;
    if (n > 0)
        memcpy(buf, st->resp_body.data + st->resp_off, n);
    st->resp_off += n;
    if (st->streaming && st->resp_off == st->resp_body.len) {
        /* keep the buffer for the next chunks */
        st->resp_body.len = 0;
        st->resp_off = 0;
        if (st->stream_ended)
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (st->resp_off == st->resp_body.len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        /* Everything is copied out: keep a small buffer for the stream's
         * next life (streams are recycled), drop a large one. */
        h2_buf_recycle(&st->resp_body);
        st->resp_off = 0;
    }
    return (ssize_t)n;
}

static ssize_t read_response_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                                  size_t length, uint32_t *data_flags,
                                  nghttp2_data_source *source, void *user_data)
{
    (void)session;
    (void)stream_id;
    fa_h2 *h2 = user_data;
    if (h2->zombie)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    fa_h2_stream *st = source->ptr;
    ssize_t n = h2_read_body(st, buf, length, data_flags);
    h2_account(h2, st);
    return n;
}

/* ------------------------------------------------------------------ */
/* session setup                                                        */

static void h2_destroy(fa_h2 *h2)
{
    if (h2->session != NULL)
        nghttp2_session_del(h2->session);
    /* nghttp2_session_del() reports no stream closures: free the rest. */
    while (h2->streams != NULL)
        h2_stream_free(h2, h2->streams);
    while (h2->spare != NULL) {
        fa_h2_stream *st = h2->spare;
        h2->spare = st->next;
        fa_buf_free(&st->strs);
        fa_buf_free(&st->fields);
        fa_buf_free(&st->body);
        fa_buf_free(&st->resp_body);
        free(st);
    }
    free(h2->scratch);
    free(h2);
}

static void *h2_mem_malloc(size_t n, void *slab) { return fa_slab_alloc(slab, n); }
static void h2_mem_free(void *p, void *slab) { fa_slab_free(slab, p); }
static void *h2_mem_calloc(size_t a, size_t b, void *slab) { return fa_slab_calloc(slab, a, b); }
static void *h2_mem_realloc(void *p, size_t n, void *slab) { return fa_slab_realloc(slab, p, n); }

static int h2_new_session(fa_h2 *h2)
{
    int rc = -1;
    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;

    if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
        goto out;
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);

    nghttp2_option_set_max_settings(opt, FA_H2_MAX_SETTINGS);
    nghttp2_option_set_max_outbound_ack(opt, FA_H2_MAX_OUTBOUND_ACK);
    /* nghttp2 keeps no closed streams: kept, they cost ~47 KB per busy
     * connection (up to MAX_CONCURRENT_STREAMS of them) and ~11% CPU per
     * request.  The STREAM_CLOSED answers of RFC 9113 5.1/6.1 they gave
     * come from our ring of recently closed ids instead (on_begin_frame).
     * We still do not announce SETTINGS_NO_RFC7540_PRIORITIES: with it,
     * nghttp2 1.52 skips PRIORITY frames unchecked (6.3: stream 0; 5.3.1:
     * self-dependency). */
    nghttp2_option_set_no_closed_streams(opt, 1);
    /* we give flow-control credit back ourselves (on_data_chunk_recv) */
    nghttp2_option_set_no_auto_window_update(opt, 1);
#ifdef FA_HAVE_NGHTTP2_STREAM_RESET_RATE_LIMIT
    nghttp2_option_set_stream_reset_rate_limit(opt, FA_H2_RESET_BURST, FA_H2_RESET_RATE);
#endif
#ifdef FA_HAVE_NGHTTP2_MAX_CONTINUATIONS
    nghttp2_option_set_max_continuations(opt, FA_H2_MAX_CONTINUATIONS);
#endif

    fa_slab *slab = fa_worker_slab(h2->conn->worker);
    h2->mem = (nghttp2_mem){slab, h2_mem_malloc, h2_mem_free, h2_mem_calloc, h2_mem_realloc};
    if (nghttp2_session_server_new3(&h2->session, cbs, h2, opt, slab ? &h2->mem : NULL) != 0) {
        h2->session = NULL;
        goto out;
    }

    uint32_t max_hdr = h2->cfg->max_header_size > UINT32_MAX
                           ? UINT32_MAX
                           : (uint32_t)h2->cfg->max_header_size;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h2->cfg->max_concurrent_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, max_hdr},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, FA_H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1}, /* RFC 8441, with websocket routes */
    };
    size_t niv = sizeof iv / sizeof iv[0] - (fa_wsc_enabled(h2->conn) ? 0 : 1);
    if (nghttp2_submit_settings(h2->session, NGHTTP2_FLAG_NONE, iv, niv) != 0)
        goto out;
    if (nghttp2_session_set_local_window_size(h2->session, NGHTTP2_FLAG_NONE, 0,
                                              FA_H2_CONN_WINDOW) != 0)
        goto out;
    rc = 0;
out:
    if (cbs != NULL)
        nghttp2_session_callbacks_del(cbs);
    if (opt != NULL)
        nghttp2_option_del(opt);
    return rc;
}

/* Stream 1 of an h2c upgrade: the HTTP/1.1 request that asked for it. */
static int h2_start_upgrade(fa_h2 *h2, const uint8_t *settings, size_t settings_len,
                            const fa_request *req)
{
    static const uint8_t no_settings[1] = {0};
    int head = h2_eq(req->method, req->method_len, "HEAD");
    if (nghttp2_session_upgrade2(h2->session, settings ? settings : no_settings,
                                 settings_len, head, NULL) != 0)
        return -1;
    h2->last_peer_sid = 1;
    fa_h2_stream *st = h2_stream_new(h2, 1);
    if (st == NULL)
        return -1;
    /* upgrade2 ignores its user-data argument on the server side. */
    if (nghttp2_session_set_stream_user_data(h2->session, 1, st) != 0)
        return -1;
    st->remote_closed = 1;
    st->peer_done = 1;
    h2_account(h2, st);
    st->is_head = head != 0;
    st->has_method = st->has_path = 1;
    st->method_len = req->method_len;
    st->path_len = req->path_len + (req->query_len ? 1 + req->query_len : 0);
    /* Copy everything: the caller's slices die when this returns. */
    if (h2_store(st, req->method, req->method_len, &st->method_off) < 0 ||
        h2_store(st, req->path, req->path_len, &st->path_off) < 0)
        return -1;
    if (req->query_len &&
        (fa_buf_append(&st->strs, "?", 1) < 0 ||
         fa_buf_append(&st->strs, req->query, req->query_len) < 0))
        return -1;
    for (size_t i = 0; i < req->num_headers; i++) {
        const fa_header *h = &req->headers[i];
        if (h2_hop_by_hop(h->name, h->name_len))
            continue;
        if (h2_eq(h->name, h->name_len, "host"))
            st->has_host = 1;
        if (h2_add_field(st, h->name, h->name_len, h->value, h->value_len) < 0)
            return -1;
    }
    if (fa_buf_append(&st->body, req->body, req->body_len) < 0)
        return -1;
    return h2_dispatch(h2, st);
}

/* ------------------------------------------------------------------ */
/* interface                                                            */

int fa_h2_start(fa_conn *c, const uint8_t *settings, size_t settings_len,
                const fa_request *upgrade_req)
{
    int rc = -1;
    fa_h2 *h2 = calloc(1, sizeof *h2);
    if (h2 == NULL)
        goto out;
    h2->conn = c;
    h2->cfg = fa_worker_config(c->worker);
    h2->glitch_start_ms = h2_now_ms();
    h2->in_skip = 24; /* the client's connection preface (RFC 9113 3.4) */
    if (h2_new_session(h2) < 0)
        goto out;
    c->h2 = h2;
    if (upgrade_req != NULL) {
        h2->nest++;
        int up = h2_start_upgrade(h2, settings, settings_len, upgrade_req);
        h2->nest--;
        if (h2->zombie) {
            /* The worker dropped the connection while serving stream 1
             * (c->h2 is already NULL). */
            h2_destroy(h2);
            h2 = NULL;
            goto out;
        }
        if (up < 0)
            goto out;
        /* Our frames wait for the client's preface: some clients (curl
         * 7.88) cannot take more than 32 KiB arriving with the 101. */
        h2->await_preface = 1;
    }
    if (fa_worker_stopping(c->worker))
        fa_h2_shutdown(c);
    if (fa_h2_flush(c) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0 && h2 != NULL) {
        c->h2 = NULL;
        h2_destroy(h2);
    }
    return rc;
}

/* The GOAWAY error code for a failure nghttp2_session_mem_recv() returned. */
static uint32_t h2_recv_error_code(const fa_h2 *h2, ssize_t err)
{
    if (h2->term_set)
        return h2->term_code; /* one of our callbacks found it */
    switch (err) {
    case NGHTTP2_ERR_BAD_CLIENT_MAGIC: /* RFC 9113 3.4 */
        return NGHTTP2_PROTOCOL_ERROR;
    case NGHTTP2_ERR_FLOODED:
        return NGHTTP2_ENHANCE_YOUR_CALM;
#ifdef FA_HAVE_NGHTTP2_MAX_CONTINUATIONS
    case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS: /* CONTINUATION flood */
        return NGHTTP2_ENHANCE_YOUR_CALM;
#endif
    default: /* out of memory, or a callback gave up */
        return NGHTTP2_INTERNAL_ERROR;
    }
}

/* Gives nghttp2 data[*fed, to).  Returns its error, or 0. */
static ssize_t h2_feed(fa_h2 *h2, const uint8_t *data, size_t *fed, size_t to)
{
    while (*fed < to) {
        ssize_t n = nghttp2_session_mem_recv(h2->session, data + *fed, to - *fed);
        if (n <= 0)
            return n; /* 0 only if paused, which we never ask for */
        *fed += (size_t)n;
    }
    return 0;
}

/* Feeds nghttp2 frame by frame where it matters: every frame before a DATA
 * frame is processed first (an RST_STREAM just before it may have closed
 * its stream), then the DATA frame's stream is looked up. */
static ssize_t h2_recv_frames(fa_h2 *h2, const uint8_t *data, size_t len)
{
    size_t off = 0, fed = 0;
    while (off < len) {
        if (h2->in_skip > 0) {
            size_t k = len - off < h2->in_skip ? len - off : h2->in_skip;
            h2->in_skip -= (uint32_t)k;
            off += k;
            continue;
        }
        size_t k = 9u - h2->in_hd_len;
        if (k > len - off)
            k = len - off;
        memcpy(h2->in_hd + h2->in_hd_len, data + off, k);
        h2->in_hd_len = (uint8_t)(h2->in_hd_len + k);
        off += k;
        if (h2->in_hd_len < 9)
            break;
        const uint8_t *hd = h2->in_hd;
        h2->in_hd_len = 0;
        h2->in_skip = (uint32_t)hd[0] << 16 | (uint32_t)hd[1] << 8 | hd[2];
        int32_t id = (int32_t)((uint32_t)(hd[5] & 0x7f) << 24 | (uint32_t)hd[6] << 16 |
                               (uint32_t)hd[7] << 8 | hd[8]);
        if (hd[3] != NGHTTP2_DATA || (id & 1) == 0)
            continue;
        /* the header began in this read, or was all fed before it */
        ssize_t n = h2_feed(h2, data, &fed, off - fed >= 9 ? off - 9 : fed);
        if (n != 0 || h2->zombie)
            return n;
        if (id > h2->last_peer_sid)
            continue; /* DATA on an idle stream: nghttp2's PROTOCOL_ERROR */
        if (h2_was_closed(h2, id) || (id < h2->last_peer_sid && h2_was_skipped(h2, id))) {
            /* 6.1: DATA on a stream that is not open or half-closed (local)
             * is STREAM_CLOSED: a connection error, as nghttp2 answers it on
             * the closed streams it keeps (5.4.1 allows it); streams jumped
             * over are closed (5.1.1) */
            h2->term_code = NGHTTP2_STREAM_CLOSED;
            h2->term_set = 1;
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    }
    return h2_feed(h2, data, &fed, len);
}

int fa_h2_recv(fa_conn *c, const uint8_t *data, size_t len)
{
    fa_h2 *h2 = c->h2;
    if (h2 == NULL || h2->nest > 0)
        return -1;
    if (len > 0)
        h2->await_preface = 0; /* the client speaks HTTP/2 now */
    h2->nest++;
    ssize_t n = h2_recv_frames(h2, data, len);
    h2->nest--;
    if (h2->zombie) {
        h2_destroy(h2);
        return -1;
    }
    int rc = 0;
    if (n < 0) {
        /* The connection is lost, but the peer learns why: a GOAWAY with
         * the code the RFC names, queued here (nghttp2 queues none for a
         * failure it returns) and flushed below before the worker closes.
         * If nghttp2 already queued its own GOAWAY, this one is ignored. */
        nghttp2_session_terminate_session(h2->session, h2_recv_error_code(h2, n));
        rc = -1;
    }
    if (h2->calm) {
        h2_check_calm(h2);
        rc = -1;
    }
    if (fa_h2_flush(c) < 0)
        rc = -1;
    return rc;
}

void fa_h2_respond(fa_conn *c, int32_t stream_id, fa_response *resp)
{
    /* Small bodies are copied into the stream's recycled buffer, so the
     * caller keeps its buffers for the next answer; a large body is moved
     * instead of copied.  The caller resets resp afterwards. */
    fa_response r = *resp;

    fa_h2 *h2 = c->h2;
    fa_h2_stream *st = h2 != NULL ? h2_stream_get(h2, stream_id) : NULL;
    if (st == NULL || st->responded)
        goto out; /* reset by the peer meanwhile, or a second answer */
    st->responded = 1;

    int status = r.status;
    if (status < 200 || status > 999)
        status = 500;
    /* digits by hand: snprintf cost more than a tenth of our part of a request */
    char status_str[3] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                          (char)('0' + status % 10)};
    int no_body = fa_http_status_has_no_body(status);
    char len_buf[24];
    size_t len_len = h2_u64_str(len_buf, r.file_fd >= 0 ? (uint64_t)r.file_len : (uint64_t)r.body.len);
    const char *len_str = len_buf + sizeof len_buf - len_len;

    nghttp2_nv nva[FA_RESP_MAX_HEADERS + 4 + FA_FIELDS_MAX];
    size_t n = 0;
#define FA_NV(nm, nl, val, vl)                                                   \
    do {                                                                         \
        nva[n].name = (uint8_t *)(nm);                                           \
        nva[n].namelen = (nl);                                                   \
        nva[n].value = (uint8_t *)(val);                                         \
        nva[n].valuelen = (vl);                                                  \
        nva[n].flags = NGHTTP2_NV_FLAG_NONE;                                     \
        n++;                                                                     \
    } while (0)
    FA_NV(":status", 7, status_str, 3);
    for (uint32_t i = 0; i < r.num_headers && i < FA_RESP_MAX_HEADERS; i++) {
        const char *name = fa_resp_hname(&r, i), *value = fa_resp_hvalue(&r, i);
        size_t nl = r.headers[i].name_len, vl = r.headers[i].value_len;
        /* Framing is ours; hop-by-hop fields are illegal in HTTP/2. */
        if (h2_hop_by_hop(name, nl) || h2_eq(name, nl, "content-length") ||
            !h2_valid_field(name, nl, value, vl))
            continue;
        FA_NV(name, nl, value, vl);
    }
    if (!no_body && !r.streaming)
        FA_NV("content-length", 14, len_str, len_len);
    /* ours (server, date, the defaults), unless the handler set the same */
    const fa_fields *ff = &h2->cfg->fields;
    uint32_t replaced = fa_fields_replaced(ff, &r);
    const char *date = fa_worker_date(c->worker);
    if (!ff->no_date && !(replaced & FA_FIELD_DATE) && date != NULL)
        FA_NV("date", 4, date, strlen(date));
    if (!ff->no_server && !(replaced & FA_FIELD_SERVER))
        FA_NV("server", 6, "fasterapi", 9);
    for (unsigned i = 0; i < ff->n; i++)
        if (!(replaced & FA_FIELD_DEFAULT(i)))
            FA_NV(fa_field_name(ff, i), ff->f[i].name_len, fa_field_value(ff, i), ff->f[i].value_len);
#undef FA_NV

    int send_body = !no_body && !st->is_head &&
                    (r.body.len > 0 || r.streaming || (r.file_fd >= 0 && r.file_len > 0));
    if (send_body && r.file_fd >= 0) {
        st->file_fd = r.file_fd;
        st->file_off = r.file_off;
        st->file_left = r.file_len;
        resp->file_fd = -1;
    }
    if (send_body && r.streaming) {
        st->streaming = 1;
        st->stream_ended = 0;
    }
    nghttp2_data_provider prd;
    prd.source.ptr = st;
    prd.read_callback = read_response_body;
    if (send_body) {
        st->resp_off = 0;
        if (r.body.len > FA_H2_KEEP_BUF) {
            fa_buf_free(&st->resp_body);
            st->resp_body = r.body;
            resp->body = (fa_buf)FA_BUF_INIT;
        } else {
            fa_buf_reset(&st->resp_body);
            if (fa_buf_append(&st->resp_body, r.body.data, r.body.len) < 0) {
                h2_account(h2, st);
                nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, stream_id,
                                          NGHTTP2_INTERNAL_ERROR);
                return;
            }
        }
    }
    /* nghttp2 copies the header fields; only the body must outlive this. */
    if (nghttp2_submit_response(h2->session, stream_id, nva, n, send_body ? &prd : NULL) != 0) {
        fa_buf_free(&st->resp_body);
        nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
    }
    h2_account(h2, st);
    /* A pooled answer arrives outside nghttp2: serialize it now so the
     * worker's fa_conn_flush() has bytes to write.  Inside a callback, the
     * running fa_h2_recv() flushes when the library returns. */
    if (h2->nest == 0)
        fa_h2_flush(c);
    return;
out:
    /* dropped: nothing of it is needed any more */
    fa_response_free(resp);
}

long fa_h2_stream_pending(fa_conn *c, int32_t stream_id)
{
    fa_h2_stream *st = c->h2 != NULL ? h2_stream_get(c->h2, stream_id) : NULL;
    if (st == NULL || !st->streaming || st->stream_ended)
        return -1;
    return (long)(st->resp_body.len - st->resp_off);
}

int fa_h2_stream_write(fa_conn *c, int32_t stream_id, const char *data, size_t len, int end)
{
    fa_h2 *h2 = c->h2;
    fa_h2_stream *st = h2 != NULL ? h2_stream_get(h2, stream_id) : NULL;
    if (st == NULL || !st->streaming || st->stream_ended)
        return -1;
    if (len > 0 && fa_buf_append(&st->resp_body, data, len) < 0) {
        nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_INTERNAL_ERROR);
        return -1;
    }
    h2_account(h2, st);
    if (end)
        st->stream_ended = 1;
    nghttp2_session_resume_data(h2->session, stream_id);
    return 0;
}

void fa_h2_body_resume(fa_conn *c, int32_t stream_id)
{
    fa_h2 *h2 = c->h2;
    fa_h2_stream *st = h2 != NULL ? h2_stream_get(h2, stream_id) : NULL;
    if (st == NULL || st->withheld == 0)
        return;
    nghttp2_session_consume(h2->session, stream_id, st->withheld);
    st->withheld = 0;
}

void fa_h2_refuse(fa_conn *c, int32_t stream_id)
{
    fa_h2 *h2 = c->h2;
    fa_h2_stream *st = h2 != NULL ? h2_stream_get(h2, stream_id) : NULL;
    if (st == NULL)
        return;
    st->responded = 1; /* nothing to cancel when it closes */
    nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_REFUSED_STREAM);
}

void fa_h2_stream_reset(fa_conn *c, int32_t stream_id)
{
    fa_h2 *h2 = c->h2;
    if (h2 != NULL && h2_stream_get(h2, stream_id) != NULL)
        nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_INTERNAL_ERROR);
}

int fa_h2_flush(fa_conn *c)
{
    fa_h2 *h2 = c->h2;
    if (h2 == NULL)
        return -1;
    if (h2->nest > 0 || h2->await_preface)
        return 0; /* the library is busy below us (the outer call flushes),
                     or an upgraded client has not sent its preface yet */
    int rc = 0;
    h2_check_calm(h2);
    fa_conn_buf_take(c, &c->wbuf); /* a pooled block, not a fresh malloc */
    h2->nest++;
    h2->drained = 0;
    while (c->wbuf.len - c->wpos < FA_H2_WBUF_HIGH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h2->session, &data);
        if (n < 0) {
            rc = -1;
            break;
        }
        if (n == 0) {
            h2->drained = 1;
            break;
        }
        if (fa_buf_append(&c->wbuf, data, (size_t)n) < 0) {
            rc = -1;
            break;
        }
        h2_check_calm(h2); /* an RST just sent may have used up the budget */
    }
    h2->nest--;
    if (h2->zombie) {
        h2_destroy(h2);
        return -1;
    }
    return rc;
}

int fa_h2_done(fa_conn *c)
{
    fa_h2 *h2 = c->h2;
    if (h2 == NULL)
        return 1;
    return !nghttp2_session_want_read(h2->session) &&
           !nghttp2_session_want_write(h2->session);
}

void fa_h2_shutdown_notice(fa_conn *c)
{
    fa_h2 *h2 = c->h2;
    if (h2 == NULL || h2->goaway_sent || h2->notice_sent)
        return;
    h2->notice_sent = 1;
    /* RFC 9113 6.8: GOAWAY(2^31-1) first, so a stream the peer opens while
     * it is on its way is still served, then a PING: its ACK comes back
     * after every such stream, and brings the final GOAWAY (on_frame_recv).
     * A one-step GOAWAY refuses the streams racing it; clients may retry
     * them, but HAProxy 2.6 does not always (issue 12: a few aborted
     * requests per rolling restart). */
    if (nghttp2_submit_shutdown_notice(h2->session) != 0 ||
        nghttp2_submit_ping(h2->session, NGHTTP2_FLAG_NONE, (const uint8_t *)H2_DRAIN_PING) != 0) {
        fa_h2_shutdown(c);
        return;
    }
    if (h2->nest == 0)
        fa_h2_flush(c);
}

int fa_h2_notice_pending(fa_conn *c)
{
    return c->h2 != NULL && c->h2->notice_sent && !c->h2->goaway_sent;
}

void fa_h2_shutdown(fa_conn *c)
{
    fa_h2 *h2 = c->h2;
    if (h2 == NULL || h2->goaway_sent)
        return;
    h2->goaway_sent = 1;
    /* Without a notice before it (idle or stalled connections, or a peer
     * that never acknowledged the notice's PING), a request racing this
     * GOAWAY is refused: its stream id is above the last one, so the
     * client may safely retry it. */
    nghttp2_submit_goaway(h2->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h2->session),
                          NGHTTP2_NO_ERROR, NULL, 0);
    if (h2->nest == 0)
        fa_h2_flush(c);
}

int fa_h2_busy(fa_conn *c)
{
    return c->h2 != NULL ? c->h2->busy : 0;
}

int fa_h2_timer_state(fa_conn *c, int *progress)
{
    fa_h2 *h2 = c->h2;
    *progress = 0;
    if (h2 == NULL)
        return FA_H2_IDLE;
    *progress = h2->progress;
    h2->progress = 0;
    /* A peer that stops giving window (zero-window hold) gets the write
     * timeout, as one that stops reading: it cannot keep our answers in
     * memory for ever.  Answer bytes that nghttp2 left after a flush that
     * drained it wait for window (the connection's or their stream's): it
     * sends all that flow control allows. */
    if (h2->num_sending > 0 && h2->drained)
        return FA_H2_STALLED;
    if (h2->busy > 0)
        return FA_H2_BUSY;
    return h2->num_receiving > 0 ? FA_H2_RECEIVING : FA_H2_IDLE;
}

void fa_h2_free(fa_conn *c)
{
    fa_h2 *h2 = c->h2;
    if (h2 == NULL)
        return;
    c->h2 = NULL;
    if (h2->nest > 0) {
        /* Called from inside a dispatch: nghttp2 is still on the stack.
         * The outermost fa_h2_* call frees it when the library returns. */
        h2->zombie = 1;
        return;
    }
    h2_destroy(h2);
}
