/* worker.c - a pinned worker: one thread, one event loop, one listener, one
 * own-GIL interpreter.
 *
 * The loop reads, hands bytes to the protocol layer (http1/conn.c or
 * http2/session.c), runs handlers inline (run-to-completion on the thread
 * that read the request) or queues them to a pooled thread, and writes.
 * Connections never move between workers.  Memory of a closed connection
 * is released at the end of the loop iteration (or when its last pooled
 * answer comes back), so no callback ever sees freed memory.
 */
#include "server_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../http2/session.h"
#include "accesslog.h"
#include "conn_io_internal.h"

static void fa_worker_attach(fa_worker *w);
static void fa_stream_out_free(fa_stream_out *so);
static void fa_pool_close_producer(fa_worker *w, fa_job *job);
static void fa_stream_out_write(fa_stream_out *so, const char *data, size_t len, int r);
#define FA_MAX_EVENTS 256

uint64_t fa_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void fa_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "[fasterapi] %s\n", line);
    fflush(stderr);
}

/* --------------------------------------------------------------------- */
/* Date header cache: formatted at most once a second per worker. */

static void fa_worker_update_clock(fa_worker *w)
{
    w->now_ms = fa_now_ms();
    time_t now = time(NULL);
    if ((int64_t)now == w->date_sec)
        return;
    w->date_sec = (int64_t)now;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(w->date, sizeof(w->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

const char *fa_worker_date(fa_worker *w) { return w->date; }
const fa_config *fa_worker_config(fa_worker *w) { return &w->srv->cfg; }
fa_slab *fa_worker_slab(fa_worker *w) { return &w->slab; }
int fa_worker_stopping(fa_worker *w) { return w->stopping; }

/* --------------------------------------------------------------------- */
/* Deadline lists.  Every connection on list k has the same timeout, so
 * appending at the tail keeps each list sorted by deadline: expiry checks
 * only look at heads, and moving a connection is O(1). */

static void fa_timer_unlink(fa_conn *c)
{
    if (c->timer == FA_TIMER_NONE)
        return;
    fa_conn **ends = c->worker->timers[c->timer];
    if (c->tprev)
        c->tprev->tnext = c->tnext;
    else
        ends[0] = c->tnext;
    if (c->tnext)
        c->tnext->tprev = c->tprev;
    else
        ends[1] = c->tprev;
    c->tprev = c->tnext = NULL;
    c->timer = FA_TIMER_NONE;
}

static void fa_timer_append(fa_conn *c, fa_timer_kind kind)
{
    fa_worker *w = c->worker;
    fa_conn **ends = w->timers[kind];
    c->timer = kind;
    c->deadline_ms = w->now_ms + w->timeout_ms[kind];
    c->tnext = NULL;
    c->tprev = ends[1];
    if (ends[1])
        ends[1]->tnext = c;
    else
        ends[0] = c;
    ends[1] = c;
}

void fa_conn_set_timer(fa_conn *c, fa_timer_kind kind)
{
    if (c->timer == kind)
        return;
    fa_timer_unlink(c);
    if (kind != FA_TIMER_NONE && !c->dead)
        fa_timer_append(c, kind);
}

/* Re-arms the current deadline: progress was made. */
void fa_conn_touch_timer(fa_conn *c)
{
    fa_timer_kind k = c->timer;
    if (k == FA_TIMER_NONE)
        return;
    fa_timer_unlink(c);
    fa_timer_append(c, k);
}

/* --------------------------------------------------------------------- */
/* Connections: the worker's lists and what it holds for each */

static void fa_conns_unlink(fa_conn **head, fa_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void fa_conns_push(fa_conn **head, fa_conn *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

/* The client is gone: its coroutine handlers get CancelledError; their
 * records go when the Tasks report back. */
void fa_conn_cancel_async(fa_conn *c)
{
    if (c->async_reqs == NULL)
        return;
    fa_worker *w = c->worker;
    fa_worker_attach(w);
    for (fa_async_req *ar = c->async_reqs; ar; ar = ar->next)
        fa_pythread_cancel(w->py, ar->handle);
    w->aio_due = 1;
}

/* The socket is about to close (conn_io.c): drop what the worker holds
 * for it.  Memory goes at the end of the iteration (or when the last
 * pooled answer for it returns). */
void fa_worker_conn_closing(fa_conn *c)
{
    fa_worker *w = c->worker;
    fa_timer_unlink(c);
    fa_conn_cancel_async(c);
    fa_alog_conn_closed(c);
    if (c->client_obj != NULL) {
        fa_worker_attach(w);
        fa_pythread_release(c->client_obj);
        c->client_obj = NULL;
    }
    while (c->outs)
        fa_stream_out_free(c->outs);
    if (c->ws != NULL)
        fa_wsc_conn_closing(c); /* their handlers see 1006 */
    fa_conns_unlink(&w->conns, c);
    w->num_conns--;
    fa_conns_push(&w->zombies, c);
}

void fa_worker_conn_opened(fa_conn *c)
{
    fa_conns_push(&c->worker->conns, c);
    c->worker->num_conns++;
    fa_alog_conn_opened(c);
}

static void fa_worker_queue_out(fa_worker *w, fa_stream_out *so)
{
    if (so->queued || so->waiting)
        return;
    so->queued = 1;
    so->due_next = w->due;
    w->due = so;
}

/* Room freed on a connection: its streamed answers may pull again. */
void fa_conn_queue_outs(fa_conn *c)
{
    for (fa_stream_out *so = c->outs; so; so = so->next)
        fa_worker_queue_out(c->worker, so);
}

static void fa_stream_out_free(fa_stream_out *so)
{
    fa_conn *c = so->conn;
    fa_worker *w = c->worker;
    fa_stream_out **pp = &c->outs;
    while (*pp && *pp != so)
        pp = &(*pp)->next;
    if (*pp)
        *pp = so->next;
    if (so->queued) {
        fa_stream_out **dp = &w->due;
        while (*dp && *dp != so)
            dp = &(*dp)->due_next;
        if (*dp)
            *dp = so->due_next;
    }
    if (so->producer) {
        fa_worker_attach(w);
        fa_pythread_stream_close(w->py, so->producer);
        w->aio_due = 1; /* an async generator closes (or a chunk Task ends) on the loop */
    }
    if (so->job != NULL) {
        if (so->waiting)
            so->job->so = NULL; /* a PULL is out: its answer closes the producer */
        else
            fa_pool_close_producer(w, so->job);
    }
    free(so);
}

/* A pooled streamed answer ended early: its thread closes the producer
 * (the job comes back and is freed). */
static void fa_pool_close_producer(fa_worker *w, fa_job *job)
{
    if (job->producer == NULL) {
        fa_job_free(job);
        return;
    }
    job->kind = FA_JOB_CLOSE;
    job->conn = NULL;
    job->so = NULL;
    if (fa_pool_send(w->srv, w, job) < 0) {
        /* its ring is full: the generator is left to its interpreter */
        fa_log("worker %d: cannot reach pooled thread %d to close a streamed body", w->id, job->pool_id);
        job->producer = NULL;
        fa_job_free(job);
    }
}

/* Sends resp; a streamed one continues from `producer` (pulled on this
 * thread) or from `job` (a pooled thread's producer). */
static void fa_conn_respond_stream(fa_conn *c, int32_t stream_id, fa_response *resp, void *producer,
                                   fa_job *job)
{
    resp->stream = NULL;
    resp->streaming = producer != NULL || job != NULL;
    int wants_body = 0;
    if (!c->dead) {
        fa_alog_request_respond(c, stream_id, resp);
        if (c->proto == FA_PROTO_H2) {
            fa_h2_respond(c, stream_id, resp);
            wants_body = (producer != NULL || job != NULL) && fa_h2_stream_pending(c, stream_id) >= 0;
        } else {
            wants_body = fa_h1_respond(c, resp);
        }
    }
    int streaming = resp->streaming;
    fa_response_reset(resp);
    if (!streaming)
        return;
    fa_stream_out *so = wants_body ? calloc(1, sizeof(*so)) : NULL;
    if (so == NULL) {
        if (wants_body) { /* out of memory: end the answer short */
            if (c->proto == FA_PROTO_H2)
                fa_h2_stream_reset(c, stream_id);
            else
                fa_h1_stream_end(c, 0);
        }
        if (job != NULL) {
            fa_pool_close_producer(c->worker, job);
        } else {
            fa_worker_attach(c->worker);
            fa_pythread_stream_close(c->worker->py, producer);
        }
        return;
    }
    so->conn = c;
    so->stream_id = stream_id;
    so->producer = producer;
    so->job = job;
    if (job != NULL)
        job->so = so;
    so->next = c->outs;
    c->outs = so;
    fa_worker_queue_out(c->worker, so);
}

void fa_conn_respond(fa_conn *c, int32_t stream_id, fa_response *resp)
{
    fa_conn_respond_stream(c, stream_id, resp, resp->stream, NULL);
}

/* An awaited chunk arrived (called from inside an asyncio step). */
static void fa_worker_stream_ready(void *token)
{
    fa_stream_out *so = token;
    so->waiting = 0;
    fa_worker_queue_out(so->conn->worker, so);
}

/* Pulls chunks for every due streamed answer while its connection has
 * room.  A producer that still has more goes back on the list, so one fast
 * generator cannot starve the loop. */
static void fa_worker_pump(fa_worker *w)
{
    fa_stream_out *list = w->due;
    w->due = NULL;
    while (list) {
        fa_stream_out *so = list;
        list = so->due_next;
        so->queued = 0;
        fa_conn *c = so->conn;
        if (c->dead) {
            fa_stream_out_free(so);
            continue;
        }
        size_t out_pending = c->wbuf.len - c->wpos;
        long pending = 0;
        if (c->proto == FA_PROTO_H2) {
            pending = fa_h2_stream_pending(c, so->stream_id);
            if (pending < 0) { /* reset by the peer, or HEAD */
                fa_stream_out_free(so);
                continue;
            }
        }
        if ((size_t)pending >= FA_STREAM_HIGH || out_pending >= 4 * FA_STREAM_HIGH)
            continue; /* fa_conn_flush queues it again when room frees up */
        if (so->job != NULL) {
            /* a pooled thread holds the producer: ask it for the next batch */
            fa_job *job = so->job;
            job->kind = FA_JOB_PULL;
            if (fa_pool_send(w->srv, w, job) == 0) {
                so->waiting = 1;
                c->pending++; /* the answer comes back to this connection */
            } else {
                fa_log("worker %d: pooled thread %d is not taking work; ending a streamed answer",
                       w->id, job->pool_id);
                fa_stream_out_write(so, NULL, 0, FA_PULL_ERROR);
            }
            continue;
        }
        fa_worker_attach(w);
        fa_buf_reset(&w->scratch);
        int r = fa_pythread_pull(w->py, so->producer, &w->scratch, FA_STREAM_HIGH, so);
        if (r == FA_PULL_WAIT) {
            so->waiting = 1;
            w->aio_due = 1; /* the Task awaiting the chunk needs its first step */
        }
        fa_stream_out_write(so, w->scratch.data, w->scratch.len, r);
    }
    fa_buf_shrink(&w->scratch, 1 << 20);
}

/* Writes a pulled batch of a streamed answer (r: FA_PULL_*); at its end
 * the answer is finished and `so` freed. */
static void fa_stream_out_write(fa_stream_out *so, const char *data, size_t len, int r)
{
    fa_conn *c = so->conn;
    fa_worker *w = c->worker;
    int end = r == FA_PULL_END, failed = r == FA_PULL_ERROR;
    fa_alog_request_bytes(c, so->stream_id, len);
    if (c->proto == FA_PROTO_H2) {
        if (failed)
            fa_h2_stream_reset(c, so->stream_id);
        else if (len > 0 || end)
            fa_h2_stream_write(c, so->stream_id, data, len, end);
    } else {
        fa_h1_stream_chunk(c, data, len);
        if (end || failed)
            fa_h1_stream_end(c, !failed);
    }
    if (end || failed) {
        fa_stream_out_free(so);
        if (c->proto == FA_PROTO_H1 && !c->h1.in_flight && !c->dead) {
            fa_conn_pause_reading(c, 0);
            fa_h1_process(c); /* pipelined requests waiting behind it */
        }
    } else if (r == FA_PULL_MORE) {
        fa_worker_queue_out(w, so);
    }
    fa_conn_flush(c);
}

void fa_conn_respond_error(fa_conn *c, int32_t stream_id, int status, const char *text)
{
    fa_worker *w = c->worker;
    fa_response_simple(&w->resp, status, text);
    /* The server's only 426 refuses a WebSocket version it does not speak:
     * RFC 6455 4.2.2 (and RFC 8441 5 over HTTP/2) has it name the one it
     * does, whichever protocol carries the handshake. */
    if (status == 426)
        fa_response_add_header(&w->resp, "sec-websocket-version", 21, "13", 2);
    fa_conn_respond(c, stream_id, &w->resp);
}

static void fa_worker_accept(fa_worker *w)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof(peer);
        int fd = accept4(w->listener.fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE)
                fa_log("worker %d: out of file descriptors; not accepting for now", w->id);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fa_conn_open(w, fd, &peer);
    }
}

static void fa_worker_expire(fa_worker *w)
{
    for (int k = 0; k < FA_TIMER_COUNT; k++) {
        fa_conn *c;
        while ((c = w->timers[k][0]) != NULL && c->deadline_ms <= w->now_ms) {
            fa_timer_unlink(c);
            if ((k == FA_TIMER_HEAD && c->rbuf.len > 0) || k == FA_TIMER_BODY) {
                if (c->proto != FA_PROTO_H2) {
                    /* best effort: tell the client why, then close */
                    c->h1.keep_alive = 0;
                    fa_conn_respond_error(c, 0, 408, "Request Timeout");
                    c->close_after_write = 1;
                    fa_conn_flush(c);
                    if (!c->dead && c->wpos < c->wbuf.len)
                        fa_conn_close(c); /* will not wait for a slow reader */
                    continue;
                }
            }
            if ((k == FA_TIMER_IDLE || k == FA_TIMER_BODY) && c->proto == FA_PROTO_H2 && c->h2) {
                /* idle, or request bodies stopped arriving: GOAWAY, close */
                fa_h2_shutdown(c);
                c->close_after_write = 1;
                fa_conn_flush(c);
                if (!c->dead && c->wpos < c->wbuf.len)
                    fa_conn_close(c);
                continue;
            }
            fa_conn_close(c);
        }
    }
}

static int fa_worker_next_timeout(fa_worker *w)
{
    uint64_t next = UINT64_MAX;
    for (int k = 0; k < FA_TIMER_COUNT; k++)
        if (w->timers[k][0] && w->timers[k][0]->deadline_ms < next)
            next = w->timers[k][0]->deadline_ms;
    if (w->stopping && w->stop_deadline_ms < next)
        next = w->stop_deadline_ms;
    if (w->stopping && w->notice_deadline_ms < next)
        next = w->notice_deadline_ms;
    if (w->aio_deadline_ms < next)
        next = w->aio_deadline_ms;
    if (w->ws_next_ms < next)
        next = w->ws_next_ms;
    if (w->aio_due || w->due || w->reads_due || w->ws_resume)
        return 0;
    uint64_t now = fa_now_ms();
    int ms = 1000; /* also refreshes the Date cache when idle */
    if (next != UINT64_MAX)
        ms = next <= now ? 0 : (next - now < 1000 ? (int)(next - now) : 1000);
    return fa_alog_timeout(w, ms);
}

static void fa_worker_attach(fa_worker *w)
{
    if (!w->py_attached) {
        fa_pythread_attach(w->py);
        w->py_attached = 1;
    }
}

fa_pythread *fa_worker_python(fa_worker *w)
{
    fa_worker_attach(w);
    return w->py;
}

static void fa_worker_detach(fa_worker *w)
{
    if (w->py_attached) {
        fa_pythread_detach(w->py);
        w->py_attached = 0;
    }
}

/* The request's C data before any handler object exists: the cheapest
 * place (one scan of the header slices, no Python) and the same for both
 * protocols, the pooled copy and the fallback. */
#define FA_PROXY_HEADERS_MAX 258 /* max_headers (256) + HTTP/2's host from :authority, + 1 */

static void fa_worker_apply_proxy(const fa_proxy *proxy, fa_conn *c, fa_request *r, fa_header *hdrs)
{
    fa_forwarded f;
    if (!fa_proxy_trusts(proxy, c->peer, c->peer_len) ||
        !fa_proxy_resolve(proxy, r->headers, r->num_headers, &f))
        return;
    if (f.client != NULL) {
        r->client = f.client;
        r->client_len = f.client_len;
        r->client_port = f.client_port;
        r->client_obj = NULL; /* per request now: not the connection's cached peer */
    }
    if (f.scheme != FA_FWD_SCHEME_NONE)
        r->fwd_scheme = f.scheme;
    if (f.host != NULL && r->num_headers < FA_PROXY_HEADERS_MAX) {
        /* the handler's Host (and the app layer's request.url) is the one
         * the client asked the proxy for */
        size_t n = 0;
        int replaced = 0;
        for (size_t i = 0; i < r->num_headers; i++) {
            hdrs[n] = r->headers[i];
            if (hdrs[n].name_len == 4 && memcmp(hdrs[n].name, "host", 4) == 0) {
                if (replaced)
                    continue;
                hdrs[n].value = f.host;
                hdrs[n].value_len = f.host_len;
                replaced = 1;
            }
            n++;
        }
        if (!replaced)
            hdrs[n++] = (fa_header){"host", 4, f.host, f.host_len};
        r->headers = hdrs;
        r->num_headers = n;
    }
}

void fa_worker_dispatch(fa_worker *w, fa_conn *c, int32_t stream_id, const fa_request *in)
{
    const fa_route *rt;
    char allow[256];
    fa_header params[FA_MAX_PATH_PARAMS];
    fa_header fwd_headers[FA_PROXY_HEADERS_MAX];
    fa_request routed = *in, *req = &routed;
    routed.client = c->peer;
    routed.client_len = c->peer_len;
    routed.client_port = c->peer_port;
    routed.client_obj = &c->client_obj;
    routed.allow = NULL;
    routed.allow_len = 0;
    routed.tls = c->ssl != NULL;
    routed.tls_version = routed.tls_cipher = routed.tls_alpn = routed.tls_subject = NULL;
    routed.tls_subject_len = 0;
    if (c->ssl != NULL) {
        routed.tls_version = fa_tls_version(c->ssl);
        routed.tls_cipher = fa_tls_cipher(c->ssl);
        routed.tls_alpn = fa_tls_alpn(c->ssl);
        routed.tls_subject = c->tls_subject;
        routed.tls_subject_len = c->tls_subject ? strlen(c->tls_subject) : 0;
    }
    routed.fwd_scheme = 0;
    if (w->srv->proxy.enabled)
        fa_worker_apply_proxy(&w->srv->proxy, c, &routed, fwd_headers);
    /* one writer: a relaxed load and store, no locked add on the request path */
    atomic_store_explicit(&w->requests, atomic_load_explicit(&w->requests, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    fa_alog_request_begin(c, stream_id, req); /* after the proxy headers: their client */
    fa_route_result r = fa_router_find(&w->srv->router, req->method, req->method_len, req->path,
                                       req->path_len, &rt, params, &routed.num_params, allow,
                                       sizeof(allow));
    routed.params = params;
    if (r != FA_ROUTE_FOUND && w->srv->fallback.handler_id >= 0) {
        /* the application answers what no route matches */
        rt = &w->srv->fallback;
        routed.num_params = 0;
        if (r == FA_ROUTE_BAD_METHOD) {
            routed.allow = allow;
            routed.allow_len = strlen(allow);
        }
        r = FA_ROUTE_FOUND;
    }
    if (r == FA_ROUTE_NOT_FOUND) {
        fa_conn_respond_error(c, stream_id, 404, "Not Found");
        return;
    }
    if (r == FA_ROUTE_BAD_METHOD) {
        fa_response_simple(&w->resp, 405, "Method Not Allowed");
        fa_response_add_header(&w->resp, "allow", 5, allow, strlen(allow));
        fa_conn_respond(c, stream_id, &w->resp);
        return;
    }
    if (w->inflight >= w->srv->cfg.max_inflight) {
        /* Admission control: turn the request away now rather than queue
         * without bound behind slow handlers. */
        w->refused++;
        fa_obs_refused(w);
        if (c->proto == FA_PROTO_H2) {
            fa_h2_refuse(c, stream_id);
            return;
        }
        fa_response_simple(&w->resp, 503, "Service Unavailable");
        fa_response_add_header(&w->resp, "retry-after", 11, "1", 1);
        fa_conn_respond(c, stream_id, &w->resp);
        return;
    }
    if (rt->pooled && w->srv->num_pool > 0) {
        fa_job *job = fa_job_new(req);
        if (job == NULL) {
            fa_conn_respond_error(c, stream_id, 503, "Service Unavailable");
            return;
        }
        job->conn = c;
        job->stream_id = stream_id;
        job->handler_id = rt->handler_id;
        job->worker_id = w->id;
        if (fa_pool_submit(w->srv, w, job) < 0) {
            fa_job_free(job);
            fa_conn_respond_error(c, stream_id, 503, "Service Unavailable");
            return;
        }
        c->pending++;
        w->inflight++;
        return;
    }
    fa_worker_attach(w);
    fa_response_reset(&w->resp);
    fa_async_req *ar = w->spare_async;
    if (ar == NULL && (ar = w->spare_async = calloc(1, sizeof(*ar))) == NULL) {
        fa_conn_respond_error(c, stream_id, 503, "Service Unavailable");
        return;
    }
    void *body = NULL;
    uint64_t t0 = fa_obs_handler_begin(w->mb);
    int called = fa_pythread_call(w->py, rt->handler_id, req, &w->resp, ar, &ar->handle, &body);
    fa_obs_handler_end(w->mb, t0);
    if (called == FA_CALL_DEFERRED) {
        /* a coroutine suspended: its Task answers through fa_worker_async_done */
        w->spare_async = NULL;
        ar->body = body;
        ar->body_paused = 0;
        ar->worker = w;
        ar->conn = c;
        ar->stream_id = stream_id;
        ar->prev = NULL;
        ar->next = c->async_reqs;
        if (c->async_reqs)
            c->async_reqs->prev = ar;
        c->async_reqs = ar;
        c->pending++;
        w->inflight++;
        w->aio_due = 1;
        return;
    }
    if (body != NULL)
        fa_pythread_body_release(body); /* answered without reading the body */
    fa_conn_respond(c, stream_id, &w->resp);
}

static void fa_worker_unpause(fa_worker *w, fa_async_req *ar)
{
    fa_async_req **pp = &w->paused;
    while (*pp && *pp != ar)
        pp = &(*pp)->paused_next;
    if (*pp)
        *pp = ar->paused_next;
    ar->body_paused = 0;
}

int fa_conn_route_streams_body(fa_conn *c, const char *method, size_t method_len, const char *path,
                               size_t path_len)
{
    const fa_route *rt;
    fa_header params[FA_MAX_PATH_PARAMS];
    size_t np;
    /* asked for every request with a body: no lookup unless a route streams */
    if (!c->worker->srv->router.any_stream_body)
        return 0;
    const char *q = memchr(path, '?', path_len);
    if (q)
        path_len = (size_t)(q - path);
    return fa_router_find(&c->worker->srv->router, method, method_len, path, path_len, &rt, params,
                          &np, NULL, 0) == FA_ROUTE_FOUND &&
           rt->stream_body && !(rt->pooled && c->worker->srv->num_pool > 0);
}

#define FA_BODY_HIGH (1u << 20)
#define FA_BODY_LOW (256u << 10)

int fa_conn_body_feed(fa_conn *c, int32_t stream_id, const char *data, size_t len, int end)
{
    fa_async_req *ar = c->async_reqs;
    while (ar && !(ar->stream_id == stream_id && ar->body != NULL))
        ar = ar->next;
    if (ar == NULL)
        return -1;
    fa_worker *w = c->worker;
    fa_worker_attach(w);
    long buffered = fa_pythread_body_feed(w->py, ar->body, data, len, end);
    w->aio_due = 1; /* the handler may be waiting for these bytes */
    if (end || buffered < 0) {
        fa_pythread_body_release(ar->body);
        ar->body = NULL;
        if (ar->body_paused)
            fa_worker_unpause(w, ar);
        return buffered < 0 ? -1 : 0;
    }
    if ((size_t)buffered > FA_BODY_HIGH) {
        if (!ar->body_paused) {
            ar->body_paused = 1;
            ar->paused_next = w->paused;
            w->paused = ar;
        }
        return 1;
    }
    return 0;
}

/* After an asyncio step: bodies whose handlers caught up flow again. */
static void fa_worker_resume_bodies(fa_worker *w)
{
    fa_async_req *ar = w->paused, *next;
    for (; ar; ar = next) {
        next = ar->paused_next;
        if (ar->body != NULL && (size_t)fa_pythread_body_buffered(w->py, ar->body) > FA_BODY_LOW)
            continue;
        fa_worker_unpause(w, ar);
        fa_conn *c = ar->conn;
        if (c->dead)
            continue;
        if (c->proto == FA_PROTO_H2) {
            fa_h2_body_resume(c, ar->stream_id);
        } else {
            fa_conn_pause_reading(c, 0);
            fa_h1_process(c); /* body bytes already read */
        }
        fa_conn_flush(c);
    }
}

/* A suspended coroutine handler finished (resp) or was cancelled (NULL). */
static void fa_worker_async_done(void *token, fa_response *resp)
{
    fa_async_req *ar = token;
    fa_conn *c = ar->conn;
    if (ar->prev)
        ar->prev->next = ar->next;
    else
        c->async_reqs = ar->next;
    if (ar->next)
        ar->next->prev = ar->prev;
    c->pending--;
    c->worker->inflight--;
    if (ar->body != NULL) {
        /* answered before the whole body came: nobody reads the rest */
        if (ar->body_paused)
            fa_worker_unpause(c->worker, ar);
        fa_pythread_body_release(ar->body);
        ar->body = NULL;
        if (c->proto == FA_PROTO_H1)
            c->h1.body_unread = 1;
    }
    if (resp != NULL && !c->dead) {
        fa_conn_respond(c, ar->stream_id, resp);
        if (c->proto == FA_PROTO_H1 && !c->h1.in_flight && !c->dead) {
            fa_conn_pause_reading(c, 0);
            fa_h1_process(c); /* pipelined requests waiting behind it */
        }
        fa_conn_flush(c);
    } else if (resp != NULL) {
        fa_response_reset(resp);
    }
    fa_pythread_release(ar->handle);
    free(ar);
}

void fa_conn_stream_closed(fa_conn *c, int32_t stream_id)
{
    for (fa_async_req *ar = c->async_reqs; ar; ar = ar->next)
        if (ar->stream_id == stream_id) {
            fa_worker_attach(c->worker);
            fa_pythread_cancel(c->worker->py, ar->handle);
            c->worker->aio_due = 1;
        }
}

static void fa_worker_aio_step(fa_worker *w)
{
    fa_worker_attach(w);
    w->aio_due = 0;
    /* the step runs the handlers' coroutines past their suspensions: their
     * time is handler time too (the call itself was counted on dispatch) */
    uint64_t t0 = fa_obs_handler_begin(w->mb);
    int ms = fa_pythread_aio_step(w->py);
    fa_obs_handler_resumed(w->mb, t0);
    w->aio_deadline_ms = ms < 0 ? UINT64_MAX : fa_now_ms() + (uint64_t)ms;
    if (ms == 0)
        w->aio_due = 1;
    if (w->paused)
        fa_worker_resume_bodies(w);
}

/* A pooled thread answered a PULL: write the batch, then ask again when
 * the connection has room. */
static void fa_worker_take_batch(fa_worker *w, fa_job *job)
{
    fa_stream_out *so = job->so;
    if (so == NULL) { /* the answer ended while the batch was on its way */
        fa_pool_close_producer(w, job);
        return;
    }
    so->waiting = 0;
    int r = job->stream_failed ? FA_PULL_ERROR : job->producer == NULL ? FA_PULL_END : FA_PULL_MORE;
    if (r != FA_PULL_MORE)
        so->job = NULL; /* the producer is closed: nothing to send back */
    fa_stream_out_write(so, job->resp.body.data, job->resp.body.len, r);
    if (r != FA_PULL_MORE)
        fa_job_free(job);
}

void fa_worker_take_answers(fa_worker *w)
{
    for (int p = 0; p < w->srv->num_pool; p++) {
        fa_job *job;
        while ((job = fa_ring_pop(&w->from_pool[p])) != NULL) {
            w->pool_inflight[p]--;
            if (job->kind == FA_JOB_CLOSE) {
                fa_job_free(job);
                continue;
            }
            fa_conn *c = job->conn;
            c->pending--;
            if (job->kind == FA_JOB_PULL) {
                fa_worker_take_batch(w, job);
                continue;
            }
            w->inflight--;
            if (c->dead) { /* a dead one is freed by fa_worker_bury() */
                fa_pool_close_producer(w, job);
                continue;
            }
            /* a streamed answer keeps its job for the next PULLs */
            int streaming = job->producer != NULL;
            fa_conn_respond_stream(c, job->stream_id, &job->resp, NULL, streaming ? job : NULL);
            if (c->proto == FA_PROTO_H1 && !c->h1.in_flight && !c->dead) {
                fa_conn_pause_reading(c, 0);
                fa_h1_process(c); /* pipelined requests waiting behind it */
            }
            fa_conn_flush(c);
            if (!streaming)
                fa_job_free(job);
        }
    }
}

void fa_worker_wake(fa_worker *w)
{
    uint64_t one = 1;
    ssize_t n = write(w->wake.fd, &one, sizeof(one));
    (void)n; /* a full counter still wakes the reader */
}

/* How long a graceful stop waits for a peer to acknowledge the PING after
 * its HTTP/2 shutdown notice before it sends the final GOAWAY anyway: a
 * round trip, with room for a loaded peer. */
#define FA_H2_NOTICE_MS 1000

static void fa_worker_begin_stop(fa_worker *w)
{
    w->stop_deadline_ms = w->now_ms + (uint64_t)(w->srv->cfg.graceful_timeout * 1000.0);
    w->notice_deadline_ms = w->now_ms + FA_H2_NOTICE_MS;
    if (w->listener.fd >= 0) {
        /* stop accepting: connections still in the kernel's queue are
         * refused, as a stop promises */
        fa_loop_del(w->loop, w->listener.fd, w->listener.events);
        close(w->listener.fd);
        w->listener.fd = -1;
    }
    w->stopping = 1;
    fa_ws_worker_stop(w); /* 1001 on every open WebSocket */
    fa_conn *next;
    for (fa_conn *c = w->conns; c; c = next) {
        next = c->next;
        if (c->proto == FA_PROTO_H2 && c->h2) {
            fa_h2_shutdown_notice(c);
            fa_conn_flush(c);
            continue;
        }
        /* A request may sit unread in the socket (say the worker was busy
         * in a handler): read before deciding the connection is idle.  It
         * is answered with "connection: close". */
        if (fa_h1_idle(c) && !c->read_paused)
            fa_conn_on_readable(c);
        if (!c->dead && c->proto == FA_PROTO_H2 && c->h2) {
            /* that read was a new connection's HTTP/2 preface: it gets a
             * GOAWAY too, not a close under the requests it sends next */
            fa_h2_shutdown_notice(c);
            fa_conn_flush(c);
            continue;
        }
        if (!c->dead && fa_h1_idle(c))
            fa_conn_close(c);
    }
}

/* Frees closed connections that no pooled job refers to. */
static void fa_worker_bury(fa_worker *w)
{
    fa_conn *c = w->zombies, *next;
    for (; c; c = next) {
        next = c->next;
        if (c->pending == 0 && !c->read_queued) {
            fa_conns_unlink(&w->zombies, c);
            fa_conn_free(c);
        }
    }
}

void *fa_worker_main(void *arg)
{
    fa_worker *w = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals belong to the main thread */

    fa_event evs[FA_MAX_EVENTS];
    /* hooks run once per interpreter: on every pinned worker, or only on
     * the first when they all share the main interpreter */
    int hooks = !w->srv->main_interp || w->id == 0;
    fa_worker_update_clock(w);
    w->py = fa_pythread_new(w->interp);
    if (w->py == NULL) {
        fa_log("worker %d: cannot create a Python thread state", w->id);
        fa_server_thread_started(w->srv, NULL, 0);
        pthread_mutex_lock(&w->srv->mu);
        w->srv->start_failed = 1;
        pthread_mutex_unlock(&w->srv->mu);
        goto out;
    }
    w->aio_deadline_ms = UINT64_MAX;
    fa_worker_attach(w);
    w->aio.kind = FA_IO_AIO;
    w->aio.fd = fa_pythread_aio_init(w->py, 0, fa_worker_async_done, fa_worker_stream_ready);
    if (w->aio.fd >= 0 && fa_loop_add(w->loop, w->aio.fd, FA_EV_READ, &w->aio) == 0)
        w->aio.events = FA_EV_READ;
    else
        fa_log("worker %d: coroutine handlers will not be able to suspend", w->id);
    fa_server_thread_started(w->srv, w->py, hooks);
    for (;;) {
        if (!w->stopping && atomic_load(&w->srv->stop_requested))
            fa_worker_begin_stop(w);
        if (w->stopping) {
            int final_goaway = w->now_ms >= w->notice_deadline_ms;
            if (final_goaway)
                w->notice_deadline_ms = UINT64_MAX;
            fa_conn *next;
            for (fa_conn *c = w->conns; c; c = next) {
                next = c->next;
                if (c->proto != FA_PROTO_H2 && fa_h1_idle(c))
                    fa_conn_close(c);
                else if (final_goaway && c->proto == FA_PROTO_H2 && !c->dead && fa_h2_notice_pending(c)) {
                    fa_h2_shutdown(c); /* no PING ACK in time */
                    fa_conn_flush(c);
                }
            }
            if (w->conns == NULL || w->now_ms >= w->stop_deadline_ms)
                break;
        }
        if (w->ws_flush)
            fa_ws_worker_flush(w); /* one write per socket for the round's messages */
        fa_worker_detach(w);
        if (w->ws_reap)
            fa_ws_worker_reap(w);
        fa_worker_bury(w);
        int n = fa_loop_poll(w->loop, evs, FA_MAX_EVENTS, fa_worker_next_timeout(w));
        fa_worker_update_clock(w);
        if (n < 0) {
            fa_log("worker %d: poll failed: %s", w->id, strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            fa_io *io = evs[i].data;
            switch (io->kind) {
            case FA_IO_LISTENER:
                if (!w->stopping)
                    fa_worker_accept(w);
                break;
            case FA_IO_AIO:
                w->aio_due = 1;
                break;
            case FA_IO_WAKE: {
                uint64_t v;
                ssize_t r = read(w->wake.fd, &v, sizeof(v));
                (void)r;
                fa_worker_take_answers(w);
                break;
            }
            case FA_IO_CONN:
                fa_conn_on_event((fa_conn *)io, evs[i].events);
                break;
            }
        }
        fa_worker_expire(w);
        fa_alog_tick(w);
        if (w->ws_next_ms <= w->now_ms)
            fa_ws_worker_sweep(w);
        if (w->aio_due || w->aio_deadline_ms <= w->now_ms)
            fa_worker_aio_step(w);
        if (w->ws_resume)
            fa_ws_worker_resume(w);
        if (w->due)
            fa_worker_pump(w);
        if (w->reads_due)
            fa_conn_run_reads_due(w);
        if (fa_pythread_after_pending(w->py)) {
            /* res['after'] callables, now that this round's answers were written */
            fa_worker_attach(w);
            fa_pythread_run_after(w->py);
            w->aio_due = 1; /* one may have started a Task */
        }
    }
out:
    /* Grace period over (or nothing left): close what remains.  Closing
     * cancels suspended handlers; closing the asyncio loop lets them
     * finish their cancellation and report back. */
    while (w->conns)
        fa_conn_close(w->conns);
    if (w->py) {
        fa_worker_attach(w);
        fa_server_thread_stopping(w->srv, w->py, hooks);
        if (w->aio.events)
            fa_loop_del(w->loop, w->aio.fd, w->aio.events);
        w->aio.events = 0;
        fa_pythread_aio_close(w->py);
    }
    free(w->spare_async);
    w->spare_async = NULL;
    fa_worker_detach(w);
    if (w->py) {
        fa_pythread_free(w->py);
        w->py = NULL;
    }
    pthread_mutex_lock(&w->srv->mu);
    atomic_fetch_sub(&w->srv->workers_alive, 1);
    pthread_cond_broadcast(&w->srv->cond);
    pthread_mutex_unlock(&w->srv->mu);
    return NULL;
}

/* --------------------------------------------------------------------- */

static int fa_listen(const fa_config *cfg, char *err, size_t err_size)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[16];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", cfg->port);
    int rc = getaddrinfo(cfg->host[0] ? cfg->host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_size, "cannot resolve host %s: %s", cfg->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, cfg->backlog) < 0) {
            saved = errno;
            close(fd);
            fd = -1;
            continue;
        }
        break;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, err_size, "cannot listen on %s:%d: %s", cfg->host, cfg->port, strerror(saved));
    return fd;
}

int fa_worker_init(fa_worker *w, fa_server *srv, int id, char *err, size_t err_size)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->srv = srv;
    w->listener.fd = -1;
    w->wake.fd = -1;
    w->date_sec = -1;
    w->ws_next_ms = UINT64_MAX;
    fa_response_init(&w->resp);
    w->timeout_ms[FA_TIMER_HEAD] = (uint64_t)(srv->cfg.header_timeout * 1000.0);
    w->timeout_ms[FA_TIMER_BODY] = (uint64_t)(srv->cfg.body_timeout * 1000.0);
    w->timeout_ms[FA_TIMER_IDLE] = (uint64_t)(srv->cfg.keepalive_timeout * 1000.0);
    w->timeout_ms[FA_TIMER_WRITE] = (uint64_t)(srv->cfg.body_timeout * 1000.0);
    w->timeout_ms[FA_TIMER_LINGER] = 2000;
    w->loop = fa_loop_create();
    if (w->loop == NULL) {
        snprintf(err, err_size, "cannot create the %s poller: %s", fa_loop_backend(), strerror(errno));
        return -1;
    }
    w->listener.kind = FA_IO_LISTENER;
    if (srv->num_listen_fds > 0) {
        /* a socket someone else made (the supervisor, --fd, --uds): ours is
         * a dup, so closing it at stop leaves the others' copies, and the
         * connections queued on it, alone */
        w->listener.fd = fcntl(srv->listen_fds[id % srv->num_listen_fds], F_DUPFD_CLOEXEC, 0);
        if (w->listener.fd < 0 || fcntl(w->listener.fd, F_SETFL, O_NONBLOCK) < 0) {
            snprintf(err, err_size, "cannot listen on descriptor %d: %s",
                     srv->listen_fds[id % srv->num_listen_fds], strerror(errno));
            return -1;
        }
    } else {
        w->listener.fd = fa_listen(&srv->cfg, err, err_size);
    }
    if (w->listener.fd < 0)
        return -1;
    w->wake.kind = FA_IO_WAKE;
    w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake.fd < 0) {
        snprintf(err, err_size, "eventfd: %s", strerror(errno));
        return -1;
    }
    if (fa_loop_add(w->loop, w->listener.fd, FA_EV_READ, &w->listener) < 0 ||
        fa_loop_add(w->loop, w->wake.fd, FA_EV_READ, &w->wake) < 0) {
        snprintf(err, err_size, "poller registration: %s", strerror(errno));
        return -1;
    }
    w->listener.events = w->wake.events = FA_EV_READ;
    if (srv->num_pool > 0) {
        w->from_pool = calloc((size_t)srv->num_pool, sizeof(fa_ring));
        w->pool_inflight = calloc((size_t)srv->num_pool, sizeof(int));
        if (w->from_pool == NULL || w->pool_inflight == NULL) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
        for (int p = 0; p < srv->num_pool; p++)
            if (fa_ring_init(&w->from_pool[p], FA_POOL_RING_SIZE) < 0) {
                snprintf(err, err_size, "out of memory");
                return -1;
            }
    }
    return 0;
}

void fa_worker_destroy(fa_worker *w)
{
    /* answers that came back after the worker stopped */
    for (int p = 0; w->from_pool && p < w->srv->num_pool; p++) {
        fa_job *job;
        if (w->from_pool[p].slots)
            while ((job = fa_ring_pop(&w->from_pool[p])) != NULL)
                fa_job_free(job);
        fa_ring_destroy(&w->from_pool[p]);
    }
    fa_conn *c, *next;
    for (c = w->zombies; c; c = next) {
        next = c->next;
        fa_conn_free(c);
    }
    w->zombies = NULL;
    while (w->num_chunks > 0)
        free(w->chunks[--w->num_chunks]);
    fa_slab_drain(&w->slab); /* after the last HTTP/2 session is gone */
    free(w->from_pool);
    free(w->pool_inflight);
    w->from_pool = NULL;
    w->pool_inflight = NULL;
    if (w->listener.fd >= 0)
        close(w->listener.fd);
    if (w->wake.fd >= 0)
        close(w->wake.fd);
    w->listener.fd = w->wake.fd = -1;
    fa_loop_destroy(w->loop);
    w->loop = NULL;
    fa_response_free(&w->resp);
    fa_buf_free(&w->scratch);
    fa_buf_free(&w->ws_scratch);
    if (w->tls_ctx != NULL)
        fa_tls_ctx_release(&w->tls_ctx);
}
