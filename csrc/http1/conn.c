/* conn.c - HTTP/1.1 connections: framing, pipelining, 100-continue, the
 * h2c upgrade, and response serialization.
 *
 * Requests are answered strictly in order: while one is in flight (e.g. on
 * a pooled thread) the connection stops reading, so pipelined requests wait
 * in the read buffer and memory stays bounded.  Bodies are collected in the
 * read buffer right after the head (chunked ones decoded in place), so a
 * request reaches the handler as slices of one buffer, without copies.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../http2/session.h"
#include "../ws/conn.h"
#include "../ws/handshake.h"
#include "../common/base64url.h"
#include "../server/config.h"
#include "../server/conn_io_internal.h"
#include "../server/server_internal.h"
#include "parser.h"

#define FA_H1_MAX_HEADERS 256
/* Answers queued for a pipelining client before we stop reading its requests. */
#define FA_H1_WBUF_HIGH (256 * 1024)

static void fa_h1_reset(fa_h1_state *h)
{
    h->in_flight = 0;
    h->head_len = 0;
    h->body_have = 0;
    h->sent_continue = 0;
    h->is_head = 0;
    h->req_len = 0;
    h->raw_end = 0;
    h->scanned = 0;
    h->streaming = 0;
    h->body_streaming = 0;
    h->body_unread = 0;
    if (h->file_fd >= 0)
        close(h->file_fd);
    h->file_fd = -1;
    h->file_off = h->file_left = 0;
}

/* True when rbuf may hold a complete head: a client that sends a byte at a
 * time must not make us parse the whole head again on every read. */
static int fa_h1_head_may_be_complete(fa_conn *c)
{
    fa_h1_state *h = &c->h1;
    const char *buf = c->rbuf.data;
    size_t len = c->rbuf.len;
    size_t from = h->scanned > 3 ? h->scanned - 3 : 0;
    /* a head too big for the limit must still reach the parser to get 431 */
    if (len >= fa_worker_config(c->worker)->max_header_size)
        return 1;
    for (const char *p = buf + from; (p = memchr(p, '\n', (size_t)(buf + len - p))) != NULL; p++) {
        /* "\n\r\n" ends a head; a bare "\n" is for the parser to reject */
        if (p + 2 < buf + len ? (p[1] == '\r' && p[2] == '\n') : 1)
            return 1;
        if (p > buf && p[-1] != '\r')
            return 1;
    }
    h->scanned = len;
    return 0;
}

/* The connection's HTTP/1 state before its first request. */
void fa_h1_init(fa_conn *c)
{
    c->h1.file_fd = -1;
    fa_h1_reset(&c->h1);
}

int fa_h1_idle(fa_conn *c)
{
    return !c->h1.in_flight && c->h1.head_len == 0 && c->rbuf.len == 0 && c->wpos >= c->wbuf.len;
}

/* Answers an error and closes after writing: the stream of bytes can no
 * longer be trusted to delimit the next request. */
static void fa_h1_fail(fa_conn *c, int status, const char *text)
{
    c->h1.keep_alive = 0;
    c->h1.in_flight = 1;
    c->h1.minor_version = 1;
    fa_conn_respond_error(c, 0, status, text);
    fa_buf_reset(&c->rbuf);
    c->close_after_write = 1;
    fa_conn_pause_reading(c, 1);
}

/* Splits the request-target into path and query.  Absolute-form targets
 * ("http://host/p?q", sent to proxies) keep only their path. */
static void fa_h1_split_target(const char *t, size_t n, fa_request *req)
{
    if (n > 0 && t[0] != '/' && t[0] != '*') {
        const char *scheme_end = memchr(t, ':', n);
        if (scheme_end && (size_t)(t + n - scheme_end) > 3 && scheme_end[1] == '/' && scheme_end[2] == '/') {
            const char *auth = scheme_end + 3;
            const char *slash = memchr(auth, '/', (size_t)(t + n - auth));
            const char *q = memchr(auth, '?', (size_t)(t + n - auth));
            if (slash == NULL || (q && q < slash)) {
                req->path = "/";
                req->path_len = 1;
                req->query = q ? q + 1 : "";
                req->query_len = q ? (size_t)(t + n - q - 1) : 0;
                return;
            }
            n -= (size_t)(slash - t);
            t = slash;
        }
    }
    const char *q = memchr(t, '?', n);
    req->path = t;
    req->path_len = q ? (size_t)(q - t) : n;
    req->query = q ? q + 1 : "";
    req->query_len = q ? n - (size_t)(q - t) - 1 : 0;
}

static void fa_h1_lower_names(fa_h1_request *rq)
{
    for (size_t i = 0; i < rq->num_headers; i++) {
        char *p = (char *)rq->headers[i].name; /* our own read buffer */
        for (size_t k = 0; k < rq->headers[i].name_len; k++)
            if (p[k] >= 'A' && p[k] <= 'Z')
                p[k] = (char)(p[k] + 32);
    }
}

static void fa_h1_to_request(const fa_h1_request *rq, const char *body, size_t body_len, fa_request *req)
{
    req->method = rq->method;
    req->method_len = rq->method_len;
    fa_h1_split_target(rq->target, rq->target_len, req);
    /* RFC 9112 3.2.2: with an absolute-form target the origin server MUST
     * ignore Host and use the target's authority (the slice points into
     * the read buffer, as every other one does). */
    const char *auth;
    size_t auth_len;
    if (rq->target_len > 0 && rq->target[0] != '/' &&
        fa_h1_absolute_authority(rq->target, rq->target_len, &auth, &auth_len)) {
        for (size_t i = 0; i < rq->num_headers; i++) {
            fa_header *hd = &rq->headers[i];
            if (hd->name_len == 4 && strncasecmp(hd->name, "host", 4) == 0) {
                hd->value = auth;
                hd->value_len = auth_len;
            }
        }
    }
    req->headers = rq->headers;
    req->num_headers = rq->num_headers;
    req->body = body;
    req->body_len = body_len;
    req->http_version = rq->minor_version == 0 ? 10 : 11;
}

/* "Upgrade: h2c": answer 101, then the request continues as stream 1 of an
 * HTTP/2 session. */
static void fa_h1_upgrade(fa_conn *c, fa_h1_request *rq, const char *body, size_t body_len,
                          size_t req_len)
{
    uint8_t settings[1024];
    long n = fa_b64url_decode(c->h1.info.http2_settings, c->h1.info.http2_settings_len,
                              settings, sizeof(settings));
    if (n < 0 || n % 6 != 0) {
        fa_h1_fail(c, 400, "Bad HTTP2-Settings");
        return;
    }
    static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    if (fa_buf_append(&c->wbuf, sw, sizeof(sw) - 1) < 0) {
        fa_h1_fail(c, 500, "Internal Server Error");
        return;
    }
    fa_h1_lower_names(rq);
    fa_request req;
    fa_h1_to_request(rq, body, body_len, &req);
    c->proto = FA_PROTO_H2;
    fa_h1_reset(&c->h1);
    if (fa_h2_start(c, settings, (size_t)n, &req) < 0) {
        c->close_after_write = 1;
        fa_buf_reset(&c->rbuf);
        return;
    }
    /* Whatever followed the request (the client preface, normally after it
     * saw the 101) belongs to the HTTP/2 session. */
    size_t rest = c->rbuf.len - req_len;
    if (rest > 0 && fa_h2_recv(c, (const uint8_t *)c->rbuf.data + req_len, rest) < 0)
        c->close_after_write = 1;
    fa_buf_reset(&c->rbuf);
}

/* "Upgrade: websocket": the WebSocket layer takes the request when a
 * websocket route matches.  Returns 1 when it did (or answered a bad
 * handshake), 0 to serve the request as plain HTTP. */
static int fa_h1_ws_upgrade(fa_conn *c, fa_h1_request *rq, size_t head_len)
{
    fa_h1_lower_names(rq);
    fa_request req;
    fa_h1_to_request(rq, "", 0, &req);
    if (!fa_ws_is_upgrade_h1(&req))
        return 0;
    int status = 0;
    const char *why = NULL;
    int r = fa_wsc_h1_begin(c, &req, head_len, &status, &why);
    if (r >= 0)
        return r;
    /* a refused handshake (a 426 names the version we speak: see
     * fa_conn_respond_error) closes the connection */
    fa_h1_state *h = &c->h1;
    h->keep_alive = 0;
    h->in_flight = 1;
    h->minor_version = 1;
    fa_conn_respond_error(c, 0, status, why ? why : fa_http_reason(status));
    fa_buf_reset(&c->rbuf);
    c->close_after_write = 1;
    fa_conn_pause_reading(c, 1);
    return 1;
}

static int fa_h1_error_status(int r, const char **text)
{
    switch (r) {
    case FA_H1_ETOO_LARGE:
        *text = "Request Header Fields Too Large";
        return 431;
    case FA_H1_EVERSION:
        *text = "HTTP Version Not Supported";
        return 505;
    case FA_H1_EURI_TOO_LONG:
        *text = "URI Too Long";
        return 414;
    default:
        *text = "Bad Request";
        return 400;
    }
}

/* stream_body routes: hands the body bytes read so far to the handler and
 * drops them from the read buffer (the head stays until the answer).
 * Returns 0 to go on, -1 when the connection must stop reading (the handler
 * is behind, or the body was malformed). */
static int fa_h1_feed_body(fa_conn *c)
{
    fa_h1_state *h = &c->h1;
    size_t head = (size_t)h->head_len;
    while (h->body_streaming && c->rbuf.len > head) {
        char *src = c->rbuf.data + head;
        size_t avail = c->rbuf.len - head, take, rest;
        int end;
        if (h->info.chunked) {
            size_t len = avail;
            ssize_t left = fa_h1_decode_chunked(&h->chunked, src, &len);
            if (left == FA_H1_EBAD) {
                h->body_unread = 1;
                fa_buf_reset(&c->rbuf);
                h->body_streaming = 0;
                c->close_after_write = 1;
                return -1;
            }
            end = left != FA_H1_INCOMPLETE;
            take = len;
            rest = end ? (size_t)left : 0;
            /* decoded bytes sit at src; what follows the body at the end */
            if (rest)
                memmove(src + take, src + avail - rest, rest);
        } else {
            uint64_t need = h->info.content_length - h->body_have;
            take = avail < need ? avail : (size_t)need;
            end = take == need;
            rest = avail - take;
        }
        h->body_have += take;
        int r = h->body_unread ? -1 : fa_conn_body_feed(c, 0, src, take, end);
        if (r < 0)
            h->body_unread = 1;
        /* drop what was fed: pipelined bytes (if the body ended) move up */
        memmove(src, src + take, rest);
        c->rbuf.len = head + rest;
        if (end)
            h->body_streaming = 0;
        if (r == 1) {
            fa_conn_pause_reading(c, 1);
            return -1;
        }
        if (c->dead)
            return -1;
    }
    return 0;
}

void fa_h1_process(fa_conn *c)
{
    fa_worker *w = c->worker;
    const fa_config *cfg = fa_worker_config(w);
    fa_h1_state *h = &c->h1;
    fa_header hdrs[FA_H1_MAX_HEADERS];
    size_t max_headers = cfg->max_headers < FA_H1_MAX_HEADERS ? cfg->max_headers : FA_H1_MAX_HEADERS;

    if (h->body_streaming && fa_h1_feed_body(c) < 0)
        return;
    while (!c->dead && !h->in_flight && !c->close_after_write && c->rbuf.len > 0) {
        if (c->wbuf.len - c->wpos >= FA_H1_WBUF_HIGH) {
            /* Pipelined requests whose answers the client does not read:
             * stop here; the writer resumes us once the backlog is out. */
            fa_conn_pause_reading(c, 1);
            return;
        }
        fa_h1_request rq;
        const char *text;
        if (h->head_len == 0) {
            if (!fa_h1_head_may_be_complete(c))
                return;
            rq.headers = hdrs;
            rq.num_headers = max_headers;
            int r = fa_h1_parse_request(c->rbuf.data, c->rbuf.len, &rq, cfg->max_header_size,
                                        cfg->max_target_size);
            if (r == FA_H1_INCOMPLETE)
                return;
            if (r < 0) {
                int status = fa_h1_error_status(r, &text);
                fa_h1_fail(c, status, text);
                return;
            }
            int status = fa_h1_analyze(&rq, &h->info);
            if (status != 0) {
                fa_h1_fail(c, status, fa_http_reason(status));
                return;
            }
            h->head_len = r;
            h->minor_version = rq.minor_version;
            h->keep_alive = h->info.keep_alive;
            h->is_head = rq.method_len == 4 && memcmp(rq.method, "HEAD", 4) == 0;
            /* Upgrade: websocket on a websocket route (ws/conn.c) */
            if (c->worker->srv->ws_router.count > 0 && fa_h1_ws_upgrade(c, &rq, (size_t)r))
                return;
            /* h2c is cleartext only (RFC 9113 section 3.2): over TLS the
             * Upgrade field is ignored and ALPN is the way to h2 */
            if (h->info.upgrade_h2c && c->ssl == NULL && !h->info.chunked &&
                h->info.content_length == 0) {
                fa_h1_upgrade(c, &rq, "", 0, (size_t)r);
                return;
            }
            if (h->info.chunked) {
                fa_h1_chunked_init(&h->chunked);
                h->raw_end = (size_t)r;
            }
            int wants_body = h->info.chunked || h->info.content_length > 0;
            fa_request sreq;
            fa_h1_to_request(&rq, "", 0, &sreq);
            if (wants_body && fa_conn_route_streams_body(c, sreq.method, sreq.method_len, sreq.path,
                                                         sreq.path_len)) {
                /* dispatch now; the body follows as it arrives */
                if (h->info.expect_continue && c->rbuf.len == (size_t)r) {
                    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                    fa_buf_append(&c->wbuf, cont, sizeof(cont) - 1);
                    h->sent_continue = 1;
                }
                fa_h1_lower_names(&rq);
                fa_h1_to_request(&rq, "", 0, &sreq);
                h->req_len = (size_t)r;
                h->in_flight = 1;
                h->body_streaming = 1;
                fa_worker_dispatch(w, c, 0, &sreq);
                if (c->dead)
                    return;
                if (!h->in_flight) {
                    /* answered at once: the body will never be read */
                    c->close_after_write = 1;
                    fa_conn_pause_reading(c, 1);
                    return;
                }
                fa_h1_feed_body(c);
                return;
            }
            /* everyone else gets the whole body: bounded, and refused before
             * it is read (stream_body routes are not bounded: they read it
             * as it comes) */
            if (!h->info.chunked && h->info.content_length > cfg->max_body_size) {
                fa_h1_fail(c, 413, "Content Too Large");
                return;
            }
            if (wants_body && h->info.expect_continue && c->rbuf.len == (size_t)r && !h->sent_continue) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                fa_buf_append(&c->wbuf, cont, sizeof(cont) - 1);
                h->sent_continue = 1;
            }
        }

        size_t body_len;
        if (h->info.chunked) {
            if (c->rbuf.len > h->raw_end) {
                char *src = c->rbuf.data + h->raw_end;
                size_t orig = c->rbuf.len - h->raw_end, len = orig;
                ssize_t left = fa_h1_decode_chunked(&h->chunked, src, &len);
                if (left == FA_H1_EBAD) {
                    fa_h1_fail(c, 400, "Bad Request");
                    return;
                }
                char *dst = c->rbuf.data + h->head_len + h->body_have;
                memmove(dst, src, len);
                h->body_have += len;
                if (h->body_have > cfg->max_body_size) {
                    fa_h1_fail(c, 413, "Content Too Large");
                    return;
                }
                if (left == FA_H1_INCOMPLETE) {
                    c->rbuf.len = h->head_len + (size_t)h->body_have;
                    h->raw_end = c->rbuf.len;
                    return;
                }
                /* the body ended: the next request's bytes move up behind it */
                memmove(dst + len, src + orig - (size_t)left, (size_t)left);
                c->rbuf.len = h->head_len + (size_t)h->body_have + (size_t)left;
                h->raw_end = c->rbuf.len;
                h->req_len = h->head_len + (size_t)h->body_have;
                body_len = (size_t)h->body_have;
            } else if (h->req_len == 0) {
                return;
            } else {
                body_len = (size_t)h->body_have;
            }
        } else {
            size_t need = (size_t)h->head_len + (size_t)h->info.content_length;
            if (c->rbuf.len < need) {
                /* one allocation for the whole body instead of doubling */
                if (fa_buf_reserve(&c->rbuf, need - c->rbuf.len) < 0)
                    fa_h1_fail(c, 500, "Internal Server Error");
                return;
            }
            h->req_len = need;
            body_len = (size_t)h->info.content_length;
        }

        /* The whole request is here: parse the head again for slices (the
         * buffer may have moved while the body arrived). */
        rq.headers = hdrs;
        rq.num_headers = max_headers;
        if (fa_h1_parse_request(c->rbuf.data, c->rbuf.len, &rq, cfg->max_header_size,
                                cfg->max_target_size) != h->head_len) {
            fa_h1_fail(c, 500, "Internal Server Error");
            return;
        }
        if (h->info.upgrade_h2c && c->ssl == NULL) {
            /* an upgrade that carried a body (RFC 7540 3.2: sent whole
             * before the switch); stream 1 gets it */
            fa_h1_upgrade(c, &rq, c->rbuf.data + h->head_len, body_len, h->req_len);
            return;
        }
        if (rq.target_len == 1 && rq.target[0] == '*') {
            /* RFC 9110 9.3.7: OPTIONS * (the only method fa_h1_analyze lets
             * have the asterisk-form) asks about the server, not a route */
            fa_response resp;
            fa_response_init(&resp);
            h->in_flight = 1;
            if (fa_response_simple(&resp, 200, "") == 0)
                fa_conn_respond(c, 0, &resp);
            else
                fa_h1_fail(c, 500, "Internal Server Error");
            fa_response_free(&resp);
            continue;
        }
        fa_h1_lower_names(&rq);
        fa_request req;
        fa_h1_to_request(&rq, c->rbuf.data + h->head_len, body_len, &req);
        h->in_flight = 1;
        fa_worker_dispatch(w, c, 0, &req);
        if (h->in_flight && !c->dead && !h->body_streaming) {
            fa_conn_pause_reading(c, 1); /* answered later, by a pooled thread */
            return;
        }
    }
}

static int fa_h1_skip_header(const char *name, size_t n)
{
    switch (n) {
    case 7:
        return memcmp(name, "upgrade", 7) == 0;
    case 10:
        return memcmp(name, "connection", 10) == 0 || memcmp(name, "keep-alive", 10) == 0;
    case 14:
        return memcmp(name, "content-length", 14) == 0;
    case 17:
        return memcmp(name, "transfer-encoding", 17) == 0;
    default:
        return 0;
    }
}

static char *fa_utoa(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* Ends the exchange: drops the request's bytes, keeps what was pipelined
 * after it. */
static void fa_h1_complete(fa_conn *c, int keep)
{
    fa_h1_state *h = &c->h1;
    fa_alog_request_end(c, 0);
    if (h->req_len > 0)
        fa_buf_consume(&c->rbuf, h->req_len);
    fa_h1_reset(h);
    if (!keep)
        c->close_after_write = 1;
}

int fa_h1_respond(fa_conn *c, fa_response *resp)
{
    fa_h1_state *h = &c->h1;
    fa_buf *o = &c->wbuf;
    /* RFC 9110 15.2: a 1xx is interim, never the final answer (the client
     * would wait on for one); the upgrades write their own 101 */
    if (resp->status >= 100 && resp->status < 200 &&
        fa_response_simple(resp, 500, "Internal Server Error\n") < 0) {
        c->close_after_write = 1;
        return 0;
    }
    /* an answer that comes before its streamed body was read whole leaves
     * body bytes on the wire: the connection cannot carry another request */
    int keep = h->keep_alive && !fa_worker_stopping(c->worker) && !c->read_eof &&
               !h->body_unread && !h->body_streaming;
    int no_body = fa_http_status_has_no_body(resp->status);
    int stream = resp->streaming && !no_body && !h->is_head;
    /* HTTP/1.0 has no chunked coding: a streamed body ends with the
     * connection */
    if (stream && h->minor_version == 0)
        keep = 0;
    const fa_fields *ff = &fa_worker_config(c->worker)->fields;
    size_t need = 160 + ff->used + 4u * ff->n + resp->strs.len + 4 * resp->num_headers +
                  (h->is_head ? 0 : resp->body.len);
    fa_conn_buf_take(c, o);
    if (fa_buf_reserve(o, need) < 0) {
        c->close_after_write = 1;
        return 0;
    }
    char num[24], *p;
    /* status line and the server's own fields */
    fa_buf_append(o, "HTTP/1.1 ", 9);
    p = fa_utoa(num + sizeof(num), (uint64_t)resp->status);
    fa_buf_append(o, p, (size_t)(num + sizeof(num) - p));
    fa_buf_append(o, " ", 1);
    fa_buf_appends(o, fa_http_reason(resp->status));
    fa_buf_append(o, "\r\n", 2);
    /* ours (server, date, the defaults), unless the handler set the same */
    uint32_t replaced = fa_fields_replaced(ff, resp);
    if (!ff->no_server && !(replaced & FA_FIELD_SERVER))
        fa_buf_append(o, "server: fasterapi\r\n", 19);
    if (!ff->no_date && !(replaced & FA_FIELD_DATE)) {
        fa_buf_append(o, "date: ", 6);
        fa_buf_appends(o, fa_worker_date(c->worker));
        fa_buf_append(o, "\r\n", 2);
    }
    for (unsigned i = 0; i < ff->n; i++) {
        if (replaced & FA_FIELD_DEFAULT(i))
            continue;
        fa_buf_append(o, fa_field_name(ff, i), ff->f[i].name_len);
        fa_buf_append(o, ": ", 2);
        fa_buf_append(o, fa_field_value(ff, i), ff->f[i].value_len);
        fa_buf_append(o, "\r\n", 2);
    }
    for (uint32_t i = 0; i < resp->num_headers; i++) {
        const char *name = fa_resp_hname(resp, i);
        if (fa_h1_skip_header(name, resp->headers[i].name_len))
            continue;
        fa_buf_append(o, name, resp->headers[i].name_len);
        fa_buf_append(o, ": ", 2);
        fa_buf_append(o, fa_resp_hvalue(resp, i), resp->headers[i].value_len);
        fa_buf_append(o, "\r\n", 2);
    }
    if (resp->streaming && !no_body) {
        if (h->minor_version == 1)
            fa_buf_append(o, "transfer-encoding: chunked\r\n", 28);
    } else if (!no_body) {
        fa_buf_append(o, "content-length: ", 16);
        p = fa_utoa(num + sizeof(num), resp->file_fd >= 0 ? resp->file_len : resp->body.len);
        fa_buf_append(o, p, (size_t)(num + sizeof(num) - p));
        fa_buf_append(o, "\r\n", 2);
    }
    if (!keep)
        fa_buf_append(o, "connection: close\r\n", 19);
    else if (h->minor_version == 0)
        fa_buf_append(o, "connection: keep-alive\r\n", 24);
    fa_buf_append(o, "\r\n", 2);
    if (stream) {
        h->keep_alive = keep;
        h->streaming = 1;
        if (resp->body.len > 0)
            fa_h1_stream_chunk(c, resp->body.data, resp->body.len);
        return 1; /* in flight until fa_h1_stream_end */
    }
    if (resp->file_fd >= 0 && !no_body && !h->is_head && resp->file_len > 0) {
        /* the head goes first; fa_conn_flush then calls fa_h1_send_file */
        h->file_fd = resp->file_fd;
        h->file_off = resp->file_off;
        h->file_left = resp->file_len;
        resp->file_fd = -1;
        h->keep_alive = keep;
        return 0;
    }
    if (!no_body && !h->is_head)
        fa_buf_append(o, resp->body.data, resp->body.len);
    fa_h1_complete(c, keep);
    return 0;
}

int fa_h1_send_file(fa_conn *c)
{
    fa_h1_state *h = &c->h1;
    while (h->file_left > 0) {
        size_t want = h->file_left > (1u << 30) ? (1u << 30) : (size_t)h->file_left;
        ssize_t n = fa_conn_sendfile(c, h->file_fd, &h->file_off, want);
        if (n == FA_IO_AGAIN)
            return 0;
        if (n < 0)
            return -1; /* error, or the file shrank under us */
        h->file_left -= (uint64_t)n;
        fa_obs_io(c, 0, (size_t)n);
    }
    close(h->file_fd);
    h->file_fd = -1;
    fa_h1_complete(c, h->keep_alive);
    return 1;
}

void fa_h1_stream_chunk(fa_conn *c, const char *data, size_t len)
{
    if (len == 0)
        return; /* a zero-size chunk would end the body */
    fa_buf *o = &c->wbuf;
    fa_conn_buf_take(c, o);
    if (c->h1.minor_version == 1) {
        char hex[20];
        int n = snprintf(hex, sizeof(hex), "%zx\r\n", len);
        fa_buf_append(o, hex, (size_t)n);
        fa_buf_append(o, data, len);
        fa_buf_append(o, "\r\n", 2);
    } else {
        fa_buf_append(o, data, len);
    }
}

void fa_h1_stream_end(fa_conn *c, int ok)
{
    fa_h1_state *h = &c->h1;
    if (!h->streaming)
        return;
    if (!ok) {
        fa_h1_complete(c, 0);
        return;
    }
    if (h->minor_version == 1)
        fa_buf_append(&c->wbuf, "0\r\n\r\n", 5);
    fa_h1_complete(c, h->keep_alive);
}
