/* conn.c - WebSockets on connections (see conn.h).
 *
 * One fa_wsc per WebSocket: on HTTP/1.1 the whole connection after the 101,
 * on HTTP/2 one stream after the 200 (RFC 8441).  Incoming bytes go through
 * the frame parser (frame.c), which unmasks in place and checks UTF-8; a
 * message that fits in one frame already in the read buffer reaches the
 * handler without a copy, fragmented or compressed ones are assembled in
 * `msg`.  Control frames are answered here (pong, close echo); the handler
 * sees only whole messages and the close code.
 *
 * Backpressure: the handler's inbox is bounded (python/ws.c); when it is
 * full we stop reading the socket (HTTP/1.1) or stop giving back HTTP/2
 * flow-control window, until the handler caught up (fa_wsc_inbox_low ->
 * the worker's resume list).  send() reports when the output is above its
 * high-water mark and the handler then waits for fa_wsc_conn_drained.
 *
 * The Python object is held (`pyws`) from the handler's start until the
 * WebSocket closes for it: fa_wsc_detach() hands it the close code once
 * and drops the reference; after that nothing here calls into Python for
 * this WebSocket.  The C state itself lives until the connection is freed,
 * so a pointer held by a running Python method never dangles.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../http2/session.h"
#include "../python/interp.h"
#include "../server/accesslog.h"
#include "../server/conn_io_internal.h"
#include "../server/metrics.h"
#include "../server/obs.h"
#include "../server/server_internal.h"
#include "deflate.h"
#include "frame.h"
#include "handshake.h"
#include "reader.h"

/* send() waits while more than this waits to be written */
#define FA_WS_OUT_HIGH (256u << 10)
/* ... and goes on once it is below this */
#define FA_WS_OUT_LOW (64u << 10)
/* the keepalive sweep runs at most this often (it looks at every socket) */
#define FA_WS_SWEEP_MIN_MS 100

typedef enum {
    FA_WSC_HANDSHAKE, /* the handler runs; no answer yet */
    FA_WSC_OPEN,      /* accepted: messages both ways */
    FA_WSC_CLOSING,   /* our close frame is out; waiting for the peer's */
    FA_WSC_CLOSED,    /* no more frames either way */
} fa_wsc_state;

struct fa_wsc {
    fa_conn *c;
    int32_t stream_id; /* 0 on HTTP/1.1 */
    fa_wsc_state state;
    const fa_ws_options *opt;
    fa_ws_reader rd;            /* bytes -> messages and control frames (ws/reader.c) */
    fa_ws_deflate *z;           /* permessage-deflate, once accepted */
    fa_ws_deflate_params zparams;
    char ext_resp[160];         /* negotiated Sec-WebSocket-Extensions answer */
    char key[32];               /* Sec-WebSocket-Key (HTTP/1.1) */
    size_t key_len;
    fa_buf in;                  /* HTTP/2: DATA not yet parsed (paused, or a partial frame) */
    void *pyws;                 /* the handler's `ws` object (a reference) */
    unsigned ext_ok : 1;        /* the client's deflate offer was acceptable */
    unsigned paused : 1;        /* the handler's inbox is full: not reading */
    unsigned close_sent : 1;
    unsigned close_rcvd : 1;
    unsigned send_blocked : 1;  /* a send() waits for the output to drain */
    unsigned pong_due : 1;      /* a keepalive ping is unanswered */
    unsigned resume_queued : 1;
    unsigned in_list : 1;       /* on the worker's list */
    unsigned reaped : 1;        /* HTTP/2 stream closed: on the worker's reap list */
    unsigned counted_open : 1;  /* in the metrics' open gauge (accepted, end not counted) */
    unsigned flush_queued : 1;  /* on the worker's flush list */
    uint64_t next_ping_ms, pong_deadline_ms, close_deadline_ms;
    struct fa_wsc *cnext;          /* the connection's WebSockets */
    struct fa_wsc *wprev, *wnext;  /* the worker's WebSockets */
    struct fa_wsc *resume_next;    /* the worker's resume list */
    struct fa_wsc *reap_next;      /* the worker's reap list */
    struct fa_wsc *flush_next;     /* the worker's flush list */
};

/* ------------------------------------------------------------------------ */
/* bookkeeping */

static const fa_ws_options *fa_wsc_route_options(fa_server *srv, const fa_route *rt)
{
    return &srv->ws_opts[rt - srv->ws_router.routes];
}

static void fa_wsc_schedule(fa_wsc *ws, uint64_t at)
{
    fa_worker *w = ws->c->worker;
    if (at < w->ws_next_ms)
        w->ws_next_ms = at;
}

static fa_wsc *fa_wsc_new(fa_conn *c, int32_t stream_id, const fa_ws_options *opt)
{
    fa_wsc *ws = calloc(1, sizeof(*ws));
    if (ws == NULL)
        return NULL;
    fa_worker *w = c->worker;
    ws->c = c;
    ws->stream_id = stream_id;
    ws->opt = opt;
    ws->state = FA_WSC_HANDSHAKE;
    fa_ws_reader_init(&ws->rd, opt->max_message, opt->max_frame);
    ws->cnext = c->ws;
    c->ws = ws;
    ws->wnext = w->ws_list;
    if (w->ws_list)
        w->ws_list->wprev = ws;
    w->ws_list = ws;
    ws->in_list = 1;
    w->num_ws++;
    return ws;
}

static void fa_wsc_unlist(fa_wsc *ws)
{
    fa_worker *w = ws->c->worker;
    if (ws->in_list) {
        if (ws->wprev)
            ws->wprev->wnext = ws->wnext;
        else
            w->ws_list = ws->wnext;
        if (ws->wnext)
            ws->wnext->wprev = ws->wprev;
        ws->wprev = ws->wnext = NULL;
        ws->in_list = 0;
        w->num_ws--;
    }
    if (ws->resume_queued) {
        fa_wsc **pp = &w->ws_resume;
        while (*pp && *pp != ws)
            pp = &(*pp)->resume_next;
        if (*pp)
            *pp = ws->resume_next;
        ws->resume_queued = 0;
    }
    if (ws->flush_queued) {
        fa_wsc **pp = &w->ws_flush;
        while (*pp && *pp != ws)
            pp = &(*pp)->flush_next;
        if (*pp)
            *pp = ws->flush_next;
        ws->flush_queued = 0;
    }
}

/* The message just queued goes out with the round's other output. */
static void fa_wsc_queue_flush(fa_wsc *ws)
{
    if (ws->flush_queued)
        return;
    fa_worker *w = ws->c->worker;
    ws->flush_queued = 1;
    ws->flush_next = w->ws_flush;
    w->ws_flush = ws;
}

static void fa_wsc_queue_resume(fa_wsc *ws)
{
    if (ws->resume_queued)
        return;
    fa_worker *w = ws->c->worker;
    ws->resume_queued = 1;
    ws->resume_next = w->ws_resume;
    w->ws_resume = ws;
}

/* Metrics: an accepted WebSocket ended with code (once). */
static void fa_wsc_count_end(fa_wsc *ws, unsigned code)
{
    fa_metrics_block *mb = ws->c->worker->mb;
    if (!ws->counted_open)
        return;
    ws->counted_open = 0;
    if (mb != NULL) {
        fa_m_add(&mb->ws_closed[fa_m_ws_close_kind(code)], 1);
        fa_m_gauge(&mb->ws_open, -1);
    }
}

/* Hands the handler its close code, once, and lets go of the `ws` object. */
static void fa_wsc_detach(fa_wsc *ws, unsigned code, const char *reason, size_t reason_len)
{
    fa_wsc_count_end(ws, code);
    void *py = ws->pyws;
    if (py == NULL)
        return;
    ws->pyws = NULL;
    fa_worker *w = ws->c->worker;
    fa_worker_python(w);
    fa_pythread_ws_detach(py, code, reason, reason_len);
    w->aio_due = 1; /* a receive() or send() may have been waiting */
}

/* ------------------------------------------------------------------------ */
/* output */

static size_t fa_wsc_pending(fa_wsc *ws)
{
    fa_conn *c = ws->c;
    size_t n = c->wbuf.len - c->wpos;
    if (ws->stream_id != 0) {
        long s = fa_h2_stream_pending(c, ws->stream_id);
        n = s > 0 ? (size_t)s : 0;
    }
    return n;
}

/* Queues a frame: head, then payload (already compressed when rsv1). */
static int fa_wsc_frame(fa_wsc *ws, uint8_t opcode, int rsv1, const uint8_t *data, size_t len)
{
    fa_conn *c = ws->c;
    if (c->dead)
        return -1;
    uint8_t head[FA_WS_MAX_HEAD];
    size_t hn = fa_ws_write_head(head, 1, rsv1, opcode, len, NULL);
    if (ws->stream_id != 0) {
        if (len <= 4096) { /* one piece: a small frame is one DATA write */
            uint8_t one[FA_WS_MAX_HEAD + 4096];
            memcpy(one, head, hn);
            if (len)
                memcpy(one + hn, data, len);
            return fa_h2_stream_write(c, ws->stream_id, (const char *)one, hn + len, 0);
        }
        if (fa_h2_stream_write(c, ws->stream_id, (const char *)head, hn, 0) < 0)
            return -1;
        return fa_h2_stream_write(c, ws->stream_id, (const char *)data, len, 0);
    }
    fa_conn_buf_take(c, &c->wbuf);
    if (fa_buf_reserve(&c->wbuf, hn + len) < 0)
        return -1;
    fa_buf_append(&c->wbuf, head, hn);
    if (len)
        fa_buf_append(&c->wbuf, data, len);
    return 0;
}

static void fa_wsc_send_close(fa_wsc *ws, unsigned code, const char *reason, size_t reason_len)
{
    if (ws->close_sent)
        return;
    ws->close_sent = 1;
    uint8_t pl[FA_WS_MAX_CONTROL];
    /* 1005 means "no code": its answer is an empty close frame */
    size_t n = fa_ws_write_close(pl, code == FA_WS_CLOSE_NO_STATUS ? 0 : code, reason, reason_len);
    fa_wsc_frame(ws, FA_WS_OP_CLOSE, 0, pl, n);
}

/* No more frames either way.  HTTP/1.1: the server closes the TCP
 * connection once the output is written (RFC 6455 section 7.1.1), with a
 * lingering close so the peer reads our close frame; HTTP/2: END_STREAM. */
static void fa_wsc_finish(fa_wsc *ws)
{
    ws->state = FA_WSC_CLOSED;
    fa_conn *c = ws->c;
    if (c->dead)
        return;
    if (ws->stream_id == 0) {
        c->close_after_write = 1;
        fa_conn_pause_reading(c, 1);
    } else {
        fa_h2_stream_write(c, ws->stream_id, NULL, 0, 1);
    }
}

/* Our close frame goes out; the peer has a while to answer with its own. */
static void fa_wsc_start_close(fa_wsc *ws, unsigned code, const char *reason, size_t reason_len)
{
    fa_wsc_send_close(ws, code, reason, reason_len);
    ws->state = FA_WSC_CLOSING;
    /* after our close frame the peer has graceful_timeout to answer with
     * its own (at a stop, the worker's deadline is the same moment) */
    fa_worker *w = ws->c->worker;
    ws->close_deadline_ms = w->now_ms + (uint64_t)(w->srv->cfg.graceful_timeout * 1000.0);
    fa_wsc_schedule(ws, ws->close_deadline_ms);
}

/* "Fail the WebSocket Connection" (section 7.1.7): close frame with the
 * code, then the transport closes. */
static void fa_wsc_fail(fa_wsc *ws, unsigned code, const char *why)
{
    fa_debug(ws->c->worker->srv, "worker %d: WebSocket failed with %u: %s", ws->c->worker->id, code,
             why);
    fa_wsc_send_close(ws, code, why, strlen(why));
    fa_wsc_detach(ws, code, why, strlen(why));
    fa_wsc_finish(ws);
    fa_conn_flush(ws->c);
}

/* ------------------------------------------------------------------------ */
/* input */

/* A whole message for the handler.  Returns 0, 1 when its inbox is full
 * (stop reading), -1 when the WebSocket failed. */
static int fa_wsc_deliver(fa_wsc *ws, int binary, const uint8_t *data, size_t len)
{
    if (ws->state != FA_WSC_OPEN || ws->pyws == NULL)
        return 0; /* closing, or the handler is done: dropped */
    fa_worker *w = ws->c->worker;
    fa_worker_python(w);
    int r = fa_pythread_ws_deliver(ws->pyws, binary, data, len);
    w->aio_due = 1;
    if (w->mb != NULL && r >= 0)
        fa_m_add(&w->mb->ws_msgs_in, 1);
    if (r < 0) {
        fa_wsc_fail(ws, FA_WS_CLOSE_INTERNAL, "internal error");
        return -1;
    }
    if (r == 1) {
        ws->paused = 1;
        return 1;
    }
    return 0;
}

/* A complete control frame.  Returns 0, or -1 when the WebSocket is
 * over. */
static int fa_wsc_control(fa_wsc *ws, const fa_ws_event *ev)
{
    switch (ev->opcode) {
    case FA_WS_OP_PING:
        if (!ws->close_sent)
            fa_wsc_frame(ws, FA_WS_OP_PONG, 0, ev->data, ev->len);
        return 0;
    case FA_WS_OP_PONG:
        if (ws->pong_due) {
            ws->pong_due = 0;
            ws->next_ping_ms = ws->c->worker->now_ms + (uint64_t)(ws->opt->ping_interval * 1000.0);
        }
        return 0;
    default: { /* close */
        unsigned code;
        const uint8_t *reason;
        size_t rn;
        if (fa_ws_parse_close(ev->data, ev->len, &code, &reason, &rn) < 0) {
            fa_wsc_fail(ws, code, code == FA_WS_CLOSE_PROTOCOL ? "bad close code" : "invalid UTF-8");
            return -1;
        }
        ws->close_rcvd = 1;
        /* echo the code (section 5.5.1); the handshake is then complete */
        fa_wsc_send_close(ws, code, (const char *)reason, rn);
        fa_wsc_detach(ws, code, (const char *)reason, rn);
        fa_wsc_finish(ws);
        fa_conn_flush(ws->c);
        return -1;
    }
    }
}

/* Parses what buf holds.  Returns the bytes consumed; stops early when the
 * handler's inbox is full or the WebSocket ended. */
static size_t fa_wsc_feed(fa_wsc *ws, uint8_t *buf, size_t len)
{
    size_t pos = 0;
    while ((ws->state == FA_WSC_OPEN || ws->state == FA_WSC_CLOSING) && !ws->paused) {
        fa_ws_event ev;
        /* closing: frames are still parsed (the peer's close comes), data dropped */
        ws->rd.drop_data = ws->state != FA_WSC_OPEN;
        int k = fa_ws_reader_next(&ws->rd, buf, len, &pos, &ev);
        if (k == FA_WS_EV_NONE)
            break;
        if (k == FA_WS_EV_ERROR) {
            fa_wsc_fail(ws, ev.close_code, ev.why);
            break;
        }
        if (k == FA_WS_EV_CONTROL) {
            if (fa_wsc_control(ws, &ev) < 0)
                break;
            continue;
        }
        if (fa_wsc_deliver(ws, ev.opcode == FA_WS_OP_BINARY, ev.data, ev.len) < 0)
            break;
    }
    return pos;
}

void fa_wsc_h1_process(fa_conn *c)
{
    fa_wsc *ws = c->ws;
    if (ws == NULL || ws->state == FA_WSC_CLOSED) {
        fa_buf_reset(&c->rbuf);
        return;
    }
    size_t n = fa_wsc_feed(ws, (uint8_t *)c->rbuf.data, c->rbuf.len);
    fa_buf_consume(&c->rbuf, n);
    if (c->dead)
        return;
    if (ws->paused)
        fa_conn_pause_reading(c, 1);
    else if (ws->state == FA_WSC_CLOSED)
        fa_buf_reset(&c->rbuf);
}

/* ------------------------------------------------------------------------ */
/* the handshake */

/* max_websockets: the worker has as many as it may (503, as admission
 * control answers). */
static int fa_wsc_over_cap(fa_worker *w, int *status, const char **why)
{
    size_t max = w->srv->cfg.max_websockets;
    if (max == 0 || w->num_ws < max)
        return 0;
    fa_obs_refused(w);
    *status = 503;
    *why = "Service Unavailable";
    return 1;
}

/* The handler's view of the request: who, where, which route. */
static int fa_wsc_start(fa_wsc *ws, const fa_route *rt, const fa_header *params, size_t num_params,
                        const fa_request *in, const char *protocols, size_t protocols_len)
{
    fa_conn *c = ws->c;
    fa_worker *w = c->worker;
    fa_request req = *in;
    req.params = params;
    req.num_params = num_params;
    req.client = c->peer;
    req.client_len = c->peer_len;
    req.client_port = c->peer_port;
    req.client_obj = &c->client_obj;
    req.allow = NULL;
    req.allow_len = 0;
    req.tls = c->ssl != NULL;
    /* the local address: ws.server */
    char host[46] = "";
    int port = 0;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(c->io.fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
            port = ntohs(a->sin6_port);
        }
    }
    w->requests++;
    fa_alog_ws_begin(c, ws->stream_id, &req);
    fa_worker_python(w);
    int rc = fa_pythread_ws_start(w->py, rt->handler_id, &req, protocols, protocols_len, host, port,
                                  ws, &ws->pyws);
    w->aio_due = 1;
    return rc;
}

/* Answers the handshake with an HTTP response instead of switching:
 * status with the reason phrase as body, or the handler's own headers and
 * body (deny()). */
static void fa_wsc_answer(fa_wsc *ws, int status, const fa_header *hdrs, size_t nh, const void *body,
                          size_t body_len, int own)
{
    fa_conn *c = ws->c;
    ws->state = FA_WSC_CLOSED;
    if (c->dead)
        return;
    fa_alog_ws_answer(c, ws->stream_id, status);
    fa_response resp;
    fa_response_init(&resp);
    if (!own) {
        fa_response_simple(&resp, status, fa_http_reason(status));
    } else {
        resp.status = status;
        for (size_t i = 0; i < nh; i++)
            fa_response_add_header(&resp, hdrs[i].name, hdrs[i].name_len, hdrs[i].value, hdrs[i].value_len);
        if (body_len > 0)
            fa_buf_append(&resp.body, body, body_len);
    }
    if (ws->stream_id == 0) {
        c->h1.keep_alive = 0;
        fa_h1_respond(c, &resp);
    } else {
        fa_h2_respond(c, ws->stream_id, &resp);
    }
    fa_response_free(&resp);
    fa_conn_flush(c);
}

static void fa_wsc_refuse(fa_wsc *ws, int status) { fa_wsc_answer(ws, status, NULL, 0, NULL, 0, 0); }

static void fa_wsc_negotiate(fa_wsc *ws, const fa_ws_handshake *hs)
{
    if (!ws->opt->compression || hs->extensions == NULL)
        return;
    fa_ws_deflate_config cfg = {.server_max_window_bits = 15, .client_max_window_bits = 15,
                                .server_no_context_takeover = 0};
    ws->ext_ok = fa_ws_deflate_negotiate(hs->extensions, hs->extensions_len, &cfg, &ws->zparams,
                                         ws->ext_resp, sizeof(ws->ext_resp)) == 1;
}

int fa_wsc_h1_begin(fa_conn *c, const fa_request *req, size_t head_len, int *status, const char **why)
{
    fa_worker *w = c->worker;
    fa_server *srv = w->srv;
    if (srv->ws_router.count == 0)
        return 0;
    const fa_route *rt;
    fa_header params[FA_MAX_PATH_PARAMS];
    size_t np = 0;
    if (fa_router_find(&srv->ws_router, "GET", 3, req->path, req->path_len, &rt, params, &np, NULL,
                       0) != FA_ROUTE_FOUND)
        return 0;
    fa_ws_handshake hs;
    fa_ws_check_h1(req, &hs);
    if (hs.status == 0 && (c->h1.info.chunked || c->h1.info.content_length > 0)) {
        hs.status = 400;
        hs.error = "a WebSocket handshake has no body";
    }
    if (hs.status == 0 && hs.key_len >= sizeof(((fa_wsc *)0)->key)) {
        hs.status = 400;
        hs.error = "bad Sec-WebSocket-Key";
    }
    if (hs.status != 0) {
        *status = hs.status;
        *why = hs.error;
        return -1;
    }
    if (fa_wsc_over_cap(w, status, why))
        return -1;
    fa_wsc *ws = fa_wsc_new(c, 0, fa_wsc_route_options(srv, rt));
    if (ws == NULL) {
        *status = 503;
        *why = "Service Unavailable";
        return -1;
    }
    memcpy(ws->key, hs.key, hs.key_len);
    ws->key_len = hs.key_len;
    fa_wsc_negotiate(ws, &hs);
    c->h1.in_flight = 1;
    c->h1.req_len = head_len;
    fa_conn_pause_reading(c, 1); /* until the handler accepts */
    if (fa_wsc_start(ws, rt, params, np, req, hs.protocols, hs.protocols_len) < 0) {
        fa_wsc_detach(ws, FA_WS_CLOSE_ABNORMAL, "", 0);
        fa_wsc_refuse(ws, 500);
    }
    return 1;
}

int fa_wsc_accept(fa_wsc *ws, const char *sub, size_t sub_len, const fa_header *hdrs, size_t nh)
{
    fa_conn *c = ws->c;
    if (ws->state != FA_WSC_HANDSHAKE || c->dead)
        return -1;
    if (ws->ext_ok) {
        ws->z = calloc(1, sizeof(*ws->z));
        if (ws->z != NULL && fa_ws_deflate_init(ws->z, &ws->zparams) < 0) {
            free(ws->z);
            ws->z = NULL;
        }
    }
    fa_ws_reader_set_deflate(&ws->rd, ws->z);
    if (ws->stream_id == 0) {
        char accept[FA_WS_ACCEPT_LEN + 1];
        if (fa_ws_accept_key(ws->key, ws->key_len, accept) < 0)
            return -1;
        fa_buf *o = &c->wbuf;
        fa_conn_buf_take(c, o);
        fa_buf_appends(o, "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                          "connection: Upgrade\r\nsec-websocket-accept: ");
        fa_buf_append(o, accept, FA_WS_ACCEPT_LEN);
        fa_buf_append(o, "\r\n", 2);
        if (sub != NULL) {
            fa_buf_appends(o, "sec-websocket-protocol: ");
            fa_buf_append(o, sub, sub_len);
            fa_buf_append(o, "\r\n", 2);
        }
        if (ws->z != NULL) {
            fa_buf_appends(o, "sec-websocket-extensions: ");
            fa_buf_appends(o, ws->ext_resp);
            fa_buf_append(o, "\r\n", 2);
        }
        for (size_t i = 0; i < nh; i++) {
            fa_buf_append(o, hdrs[i].name, hdrs[i].name_len);
            fa_buf_append(o, ": ", 2);
            fa_buf_append(o, hdrs[i].value, hdrs[i].value_len);
            fa_buf_append(o, "\r\n", 2);
        }
        if (fa_buf_append(o, "\r\n", 2) < 0)
            return -1;
        /* the head is done with; frames the client sent early stay */
        fa_buf_consume(&c->rbuf, c->h1.req_len);
        c->h1.req_len = 0;
        c->h1.head_len = 0;
        c->proto = FA_PROTO_WS;
        fa_conn_set_timer(c, FA_TIMER_NONE);
    } else {
        fa_response resp;
        fa_response_init(&resp);
        resp.status = 200;
        if (sub != NULL)
            fa_response_add_header(&resp, "sec-websocket-protocol", 22, sub, sub_len);
        if (ws->z != NULL)
            fa_response_add_header(&resp, "sec-websocket-extensions", 24, ws->ext_resp,
                                   strlen(ws->ext_resp));
        for (size_t i = 0; i < nh; i++)
            fa_response_add_header(&resp, hdrs[i].name, hdrs[i].name_len, hdrs[i].value,
                                   hdrs[i].value_len);
        resp.streaming = 1; /* DATA frames follow, with no END_STREAM */
        fa_h2_respond(c, ws->stream_id, &resp);
        fa_response_free(&resp);
    }
    ws->state = FA_WSC_OPEN;
    fa_alog_ws_answer(c, ws->stream_id, ws->stream_id == 0 ? 101 : 200);
    ws->counted_open = 1;
    if (c->worker->mb != NULL) {
        fa_m_add(&c->worker->mb->ws_opened, 1);
        fa_m_gauge(&c->worker->mb->ws_open, 1);
    }
    if (ws->opt->ping_interval > 0) {
        ws->next_ping_ms = c->worker->now_ms + (uint64_t)(ws->opt->ping_interval * 1000.0);
        fa_wsc_schedule(ws, ws->next_ping_ms);
    }
    /* read again; bytes that came with the request are parsed from the
     * worker's loop, not from inside the handler's call */
    if (ws->stream_id == 0)
        fa_conn_pause_reading(c, 0);
    if (c->rbuf.len > 0 || ws->in.len > 0)
        fa_wsc_queue_resume(ws);
    fa_conn_flush(c);
    return c->dead ? -1 : 0;
}

void fa_wsc_reject(fa_wsc *ws)
{
    if (ws->state != FA_WSC_HANDSHAKE)
        return;
    fa_wsc_detach(ws, FA_WS_CLOSE_NORMAL, "", 0);
    fa_wsc_refuse(ws, 403);
}

void fa_wsc_deny(fa_wsc *ws, int status, const fa_header *hdrs, size_t nh, const void *body, size_t len)
{
    if (ws->state != FA_WSC_HANDSHAKE)
        return;
    fa_wsc_detach(ws, FA_WS_CLOSE_NORMAL, "", 0);
    fa_wsc_answer(ws, status, hdrs, nh, body, len, 1);
}

int fa_wsc_send(fa_wsc *ws, int binary, const uint8_t *data, size_t len)
{
    fa_conn *c = ws->c;
    if (ws->state != FA_WSC_OPEN || c->dead)
        return -1;
    uint8_t op = binary ? FA_WS_OP_BINARY : FA_WS_OP_TEXT;
    int rc;
    if (ws->z != NULL) {
        fa_buf *s = &c->worker->ws_scratch;
        fa_buf_reset(s);
        if (fa_ws_deflate_message(ws->z, data, len, s) < 0) {
            fa_wsc_fail(ws, FA_WS_CLOSE_INTERNAL, "out of memory");
            return -1;
        }
        rc = fa_wsc_frame(ws, op, 1, (const uint8_t *)s->data, s->len);
        fa_buf_shrink(s, 1u << 20);
    } else {
        rc = fa_wsc_frame(ws, op, 0, data, len);
    }
    if (rc < 0) {
        fa_wsc_fail(ws, FA_WS_CLOSE_INTERNAL, "out of memory");
        return -1;
    }
    if (c->worker->mb != NULL)
        fa_m_add(&c->worker->mb->ws_msgs_out, 1);
    if (fa_wsc_pending(ws) > FA_WS_OUT_HIGH) {
        /* a burst: write now, and wait if the peer is behind */
        fa_conn_flush(c);
        if (c->dead || ws->state != FA_WSC_OPEN)
            return -1;
    } else {
        fa_wsc_queue_flush(ws);
    }
    if (fa_wsc_pending(ws) > FA_WS_OUT_HIGH) {
        ws->send_blocked = 1;
        return 1;
    }
    return 0;
}

void fa_wsc_close(fa_wsc *ws, unsigned code, const char *reason, size_t reason_len)
{
    if (ws->state != FA_WSC_OPEN)
        return;
    fa_wsc_start_close(ws, code, reason, reason_len);
    fa_wsc_detach(ws, code, reason, reason_len);
    fa_conn_flush(ws->c);
}

void fa_wsc_inbox_low(fa_wsc *ws)
{
    if (!ws->paused)
        return;
    ws->paused = 0;
    fa_wsc_queue_resume(ws);
}

void fa_wsc_handler_done(fa_wsc *ws, int failed)
{
    if (ws->state == FA_WSC_HANDSHAKE) {
        /* returned or raised before accept(): as Uvicorn, a 500 */
        fa_wsc_detach(ws, FA_WS_CLOSE_ABNORMAL, "", 0);
        fa_wsc_refuse(ws, 500);
        return;
    }
    unsigned code = failed ? FA_WS_CLOSE_INTERNAL : FA_WS_CLOSE_NORMAL;
    if (ws->state == FA_WSC_OPEN)
        fa_wsc_start_close(ws, code, "", 0);
    fa_wsc_detach(ws, code, "", 0);
    fa_conn_flush(ws->c);
}

/* ------------------------------------------------------------------------ */
/* HTTP/2 (RFC 8441) */

static fa_wsc *fa_wsc_of_stream(fa_conn *c, int32_t stream_id)
{
    for (fa_wsc *ws = c->ws; ws; ws = ws->cnext)
        if (ws->stream_id == stream_id)
            return ws;
    return NULL;
}

int fa_wsc_h2_is_ws(fa_conn *c, int32_t stream_id)
{
    fa_wsc *ws = fa_wsc_of_stream(c, stream_id);
    return ws != NULL && ws->state != FA_WSC_CLOSED;
}

int fa_wsc_h2_begin(fa_conn *c, int32_t stream_id, const fa_request *req, int *status, const char **why)
{
    fa_worker *w = c->worker;
    fa_server *srv = w->srv;
    const fa_route *rt;
    fa_header params[FA_MAX_PATH_PARAMS];
    size_t np = 0;
    if (srv->ws_router.count == 0 ||
        fa_router_find(&srv->ws_router, "GET", 3, req->path, req->path_len, &rt, params, &np, NULL,
                       0) != FA_ROUTE_FOUND) {
        *status = 404;
        *why = "Not Found";
        return -1;
    }
    fa_ws_handshake hs;
    fa_ws_check_h2(req, &hs);
    if (hs.status != 0) {
        *status = hs.status;
        *why = hs.error;
        return -1;
    }
    if (fa_wsc_over_cap(w, status, why))
        return -1;
    fa_wsc *ws = fa_wsc_new(c, stream_id, fa_wsc_route_options(srv, rt));
    if (ws == NULL) {
        *status = 503;
        *why = "Service Unavailable";
        return -1;
    }
    fa_wsc_negotiate(ws, &hs);
    if (fa_wsc_start(ws, rt, params, np, req, hs.protocols, hs.protocols_len) < 0) {
        fa_wsc_detach(ws, FA_WS_CLOSE_ABNORMAL, "", 0);
        fa_wsc_refuse(ws, 500);
    }
    return 1;
}

/* Parses what the stream holds in ws->in. */
static void fa_wsc_h2_feed(fa_wsc *ws)
{
    size_t n = fa_wsc_feed(ws, (uint8_t *)ws->in.data, ws->in.len);
    fa_buf_consume(&ws->in, n);
    if (ws->state == FA_WSC_CLOSED)
        fa_buf_reset(&ws->in);
}

int fa_wsc_h2_data(fa_conn *c, int32_t stream_id, const uint8_t *data, size_t len)
{
    fa_wsc *ws = fa_wsc_of_stream(c, stream_id);
    if (ws == NULL || ws->state == FA_WSC_CLOSED || ws->state == FA_WSC_HANDSHAKE) {
        /* before the 200 nothing may come (RFC 8441 section 5); after the
         * close, bytes are dropped */
        if (ws != NULL && ws->state == FA_WSC_HANDSHAKE && fa_buf_append(&ws->in, data, len) == 0)
            return ws->in.len > FA_WS_OUT_HIGH;
        return 0;
    }
    if (fa_buf_append(&ws->in, data, len) < 0) {
        fa_wsc_fail(ws, FA_WS_CLOSE_INTERNAL, "out of memory");
        return 0;
    }
    if (!ws->paused)
        fa_wsc_h2_feed(ws);
    return ws->paused || ws->in.len > FA_WS_OUT_HIGH;
}

void fa_wsc_h2_closed(fa_conn *c, int32_t stream_id, int reset)
{
    fa_wsc *ws = fa_wsc_of_stream(c, stream_id);
    if (ws == NULL || ws->reaped)
        return;
    /* END_STREAM without a close frame, or RST_STREAM: the peer is gone */
    fa_wsc_detach(ws, FA_WS_CLOSE_ABNORMAL, "", 0);
    if (!reset && ws->state != FA_WSC_CLOSED && ws->state != FA_WSC_HANDSHAKE)
        fa_wsc_finish(ws); /* our END_STREAM too */
    ws->state = FA_WSC_CLOSED;
    fa_buf_free(&ws->in);
    if (reset) {
        /* the stream is gone: free the state at the end of the loop round
         * (a caller up the stack may still hold ws) */
        fa_wsc_unlist(ws);
        fa_worker *w = c->worker;
        ws->reaped = 1;
        ws->reap_next = w->ws_reap;
        w->ws_reap = ws;
    }
}

int fa_wsc_enabled(fa_conn *c) { return c->worker->srv->ws_router.count > 0; }

void fa_ws_worker_reap(fa_worker *w)
{
    fa_wsc *list = w->ws_reap;
    w->ws_reap = NULL;
    while (list) {
        fa_wsc *ws = list;
        list = ws->reap_next;
        fa_wsc_count_end(ws, FA_WS_CLOSE_ABNORMAL);
        fa_wsc **pp = &ws->c->ws;
        while (*pp && *pp != ws)
            pp = &(*pp)->cnext;
        if (*pp)
            *pp = ws->cnext;
        if (ws->z != NULL) {
            fa_ws_deflate_free(ws->z);
            free(ws->z);
        }
        fa_ws_reader_free(&ws->rd);
        fa_buf_free(&ws->in);
        free(ws);
    }
}

/* ------------------------------------------------------------------------ */
/* the worker's side */

void fa_wsc_conn_closing(fa_conn *c)
{
    for (fa_wsc *ws = c->ws; ws; ws = ws->cnext) {
        fa_wsc_unlist(ws);
        fa_wsc_detach(ws, FA_WS_CLOSE_ABNORMAL, "", 0);
        ws->state = FA_WSC_CLOSED;
    }
}

void fa_wsc_conn_free(fa_conn *c)
{
    fa_ws_worker_reap(c->worker); /* no reap entry may outlive its connection */
    fa_wsc *ws = c->ws, *next;
    for (; ws; ws = next) {
        next = ws->cnext;
        fa_wsc_unlist(ws); /* (already, unless the connection never closed for it) */
        fa_wsc_count_end(ws, FA_WS_CLOSE_ABNORMAL);
        if (ws->z != NULL) {
            fa_ws_deflate_free(ws->z);
            free(ws->z);
        }
        fa_ws_reader_free(&ws->rd);
        fa_buf_free(&ws->in);
        free(ws);
    }
    c->ws = NULL;
}

void fa_wsc_conn_drained(fa_conn *c)
{
    for (fa_wsc *ws = c->ws; ws; ws = ws->cnext) {
        if (!ws->send_blocked || fa_wsc_pending(ws) > FA_WS_OUT_LOW)
            continue;
        ws->send_blocked = 0;
        if (ws->pyws != NULL) {
            fa_worker_python(c->worker);
            fa_pythread_ws_drained(ws->pyws);
            c->worker->aio_due = 1;
        }
    }
}

void fa_ws_worker_sweep(fa_worker *w)
{
    uint64_t now = w->now_ms, next = UINT64_MAX;
    fa_wsc *ws = w->ws_list, *nx;
    for (; ws; ws = nx) {
        nx = ws->wnext;
        fa_conn *c = ws->c;
        if (ws->state == FA_WSC_OPEN && ws->opt->ping_interval > 0) {
            if (ws->pong_due && now >= ws->pong_deadline_ms) {
                /* the peer stopped answering: it is gone as far as we know */
                fa_wsc_send_close(ws, FA_WS_CLOSE_INTERNAL, "keepalive ping timeout", 22);
                fa_wsc_detach(ws, FA_WS_CLOSE_ABNORMAL, "keepalive ping timeout", 22);
                fa_wsc_finish(ws);
                fa_conn_flush(c);
                next = now;
                continue;
            }
            if (!ws->pong_due && now >= ws->next_ping_ms) {
                uint8_t pl[8];
                for (int i = 0; i < 8; i++)
                    pl[i] = (uint8_t)(now >> (8 * i));
                fa_wsc_frame(ws, FA_WS_OP_PING, 0, pl, sizeof(pl));
                ws->next_ping_ms = now + (uint64_t)(ws->opt->ping_interval * 1000.0);
                if (ws->opt->ping_timeout > 0) {
                    ws->pong_due = 1;
                    ws->pong_deadline_ms = now + (uint64_t)(ws->opt->ping_timeout * 1000.0);
                }
                fa_conn_flush(c);
            }
            uint64_t due = ws->pong_due ? ws->pong_deadline_ms : ws->next_ping_ms;
            if (due < next)
                next = due;
        } else if (ws->state == FA_WSC_CLOSING) {
            if (now >= ws->close_deadline_ms) {
                /* no close frame came back in time */
                ws->state = FA_WSC_CLOSED;
                if (ws->stream_id == 0)
                    fa_conn_close(c);
                else
                    fa_h2_stream_reset(c, ws->stream_id);
                fa_conn_flush(c);
                next = now;
                continue;
            }
            if (ws->close_deadline_ms < next)
                next = ws->close_deadline_ms;
        }
    }
    if (next != UINT64_MAX && next < now + FA_WS_SWEEP_MIN_MS)
        next = now + FA_WS_SWEEP_MIN_MS;
    w->ws_next_ms = next;
}

void fa_ws_worker_stop(fa_worker *w)
{
    fa_wsc *ws = w->ws_list, *nx;
    for (; ws; ws = nx) {
        nx = ws->wnext;
        if (ws->state != FA_WSC_OPEN)
            continue;
        fa_wsc_start_close(ws, FA_WS_CLOSE_GOING_AWAY, "server shutting down", 20);
        fa_wsc_detach(ws, FA_WS_CLOSE_GOING_AWAY, "server shutting down", 20);
        fa_conn_flush(ws->c);
    }
}

void fa_ws_worker_flush(fa_worker *w)
{
    fa_wsc *list = w->ws_flush;
    w->ws_flush = NULL;
    while (list) {
        fa_wsc *ws = list;
        list = ws->flush_next;
        ws->flush_queued = 0;
        /* two WebSockets of one HTTP/2 connection: the second flush finds
         * nothing left to write */
        if (!ws->c->dead)
            fa_conn_flush(ws->c);
    }
}

void fa_ws_worker_resume(fa_worker *w)
{
    fa_wsc *list = w->ws_resume;
    w->ws_resume = NULL;
    while (list) {
        fa_wsc *ws = list;
        list = ws->resume_next;
        ws->resume_queued = 0;
        fa_conn *c = ws->c;
        if (c->dead || ws->state == FA_WSC_CLOSED || ws->paused)
            continue;
        if (ws->stream_id == 0) {
            fa_conn_pause_reading(c, 0);
            fa_wsc_h1_process(c);
        } else {
            fa_wsc_h2_feed(ws);
            if (!ws->paused && !c->dead)
                fa_h2_body_resume(c, ws->stream_id);
        }
        if (!c->dead)
            fa_conn_flush(c);
    }
}
