/* server_internal.h - the server, its workers and its pooled threads.
 *
 * Internal to server/ and python/module.c.  Threads:
 *  - the thread that calls start(): creates interpreters, listeners and
 *    threads, then waits; at stop it joins them and ends the interpreters;
 *  - N pinned workers (worker.c): one event loop, one SO_REUSEPORT listener
 *    and one own-GIL interpreter each; handlers run to completion inline;
 *  - P pooled threads (pool.c): run handlers of routes added with
 *    pooled=True on I shared interpreters, so a blocking handler never
 *    stalls an event loop.
 * Worker w and pooled thread p talk through two SPSC rings (w->p requests,
 * p->w answers) and eventfd wake-ups.
 */
#ifndef FA_SERVER_INTERNAL_H
#define FA_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "../common/http.h"
#include "../common/ring.h"
#include "../common/slab.h"
#include "../loop/loop.h"
#include "../python/interp.h"
#include "../tls/tls.h"
#include "../ws/conn.h"
#include "config.h"
#include "proxy.h"
#include "conn_internal.h"
#include "obs.h"
#include "router.h"

#define FA_POOL_RING_SIZE 1024
/* bytes a pooled thread pulls from a streamed answer per round trip */
#define FA_POOL_STREAM_BATCH (64 * 1024)
/* Connection read/write buffers come from a per-worker free list of
 * FA_CHUNK-byte blocks and go back when empty, so an idle connection holds
 * no buffer and a busy one does not call malloc per request. */
#define FA_CHUNK 16384
#define FA_CHUNK_POOL 256
/* a streamed answer pulls more while less than this waits to be written */
#define FA_STREAM_HIGH (64 * 1024)

struct fa_server;

/* What a job asks of its pooled thread. */
enum {
    FA_JOB_CALL = 0, /* run the handler; a streamed answer comes back with
                        its first batch and `producer` set */
    FA_JOB_PULL,     /* the next batch of `producer` into resp.body */
    FA_JOB_CLOSE,    /* close `producer` (the answer ended early); conn NULL */
};

/* A request handed to a pooled thread, and its answer on the way back.
 * One allocation holds the request's bytes (the connection's buffers may
 * move while the job runs).  A streamed answer keeps its job: the job goes
 * back and forth with PULL until the producer ends (NULL again). */
typedef struct fa_job {
    fa_conn *conn;
    int32_t stream_id;
    int handler_id;
    int worker_id;
    int kind;         /* FA_JOB_* */
    int pool_id;      /* the thread that holds the producer */
    void *producer;   /* python/interp.h stream handle, owned by that thread */
    int stream_failed; /* the producer raised: end the answer short */
    uint64_t queued_ns; /* when it was handed over (metrics), 0: not counted */
    struct fa_stream_out *so; /* PULL: the answer it feeds (NULL once gone) */
    fa_request req;
    fa_response resp;
    fa_header *headers;
    char data[];
} fa_job;

/* A coroutine handler that suspended: its Task answers later. */
typedef struct fa_async_req {
    struct fa_worker *worker;
    fa_conn *conn;
    int32_t stream_id;
    void *handle; /* the Task (python/interp.h) */
    void *body;   /* req['stream'] of a stream_body route, while fed */
    int body_paused; /* too much body waits unread: the client is held back */
    struct fa_async_req *prev, *next; /* the connection's list */
    struct fa_async_req *paused_next; /* the worker's list of paused bodies */
} fa_async_req;

/* A streamed answer: the worker pulls chunks from the handler layer's
 * producer while the connection has room, so a slow reader slows the
 * producer down instead of growing buffers. */
typedef struct fa_stream_out {
    fa_conn *conn;
    int32_t stream_id;
    void *producer;   /* python/interp.h stream handle */
    fa_job *job;      /* or, for a pooled route: the job holding its producer */
    int waiting;      /* an awaited chunk (or a PULL job) has not arrived */
    int queued;       /* on the worker's due list */
    struct fa_stream_out *next;     /* the connection's list */
    struct fa_stream_out *due_next; /* the worker's due list */
} fa_stream_out;

typedef struct fa_worker {
    int id;
    struct fa_server *srv;
    pthread_t thread;
    int thread_started;
    fa_loop *loop;
    fa_io listener; /* kind FA_IO_LISTENER */
    fa_io wake;     /* eventfd, kind FA_IO_WAKE */
    fa_interp *interp;
    fa_pythread *py;
    int py_attached;
    fa_io aio;              /* asyncio selector fd, kind FA_IO_AIO */
    int aio_due;            /* asyncio wants a step now */
    uint64_t aio_deadline_ms; /* asyncio's next timer, or UINT64_MAX */
    fa_async_req *spare_async; /* handed to each call; kept when not used */
    fa_stream_out *due;        /* streamed answers to pull from */
    fa_async_req *paused;      /* streamed request bodies held back */
    fa_buf scratch;            /* chunks on their way to a connection */
    fa_slab slab;              /* small blocks for nghttp2 and HTTP/2 streams */
    char *chunks[FA_CHUNK_POOL]; /* free I/O buffers of FA_CHUNK bytes */
    int num_chunks;
    fa_response resp;       /* reused for inline handler calls */
    fa_ring *from_pool;     /* [num_pool] answers, pool p -> this worker */
    int *pool_inflight;     /* [num_pool] jobs this worker gave thread p */
    fa_conn *conns;         /* live connections */
    fa_conn *zombies;       /* closed, memory not yet released */
    size_t num_conns;
    fa_conn *timers[FA_TIMER_COUNT][2]; /* deadline lists: head, tail */
    uint64_t timeout_ms[FA_TIMER_COUNT];
    uint64_t now_ms;
    int64_t date_sec;
    char date[32];
    int stopping;           /* graceful stop began in this worker */
    uint64_t stop_deadline_ms;
    /* A graceful stop's HTTP/2 shutdown notices: the final GOAWAY goes to
     * a peer that has not acknowledged its PING by then (UINT64_MAX: sent) */
    uint64_t notice_deadline_ms;
    _Atomic uint64_t requests; /* served: the log at stop, requests_served (read from
                                  other threads, so relaxed atomic; one writer) */
    size_t inflight;        /* requests waiting on a coroutine or a pooled thread */
    uint64_t refused;       /* turned away by admission control */
    /* TLS: this worker's reference to the server's current SSL_CTX */
    struct ssl_ctx_st *tls_ctx;
    unsigned tls_gen;
    int tls_file_logged;    /* which way files go over TLS was logged */
    fa_conn *reads_due;     /* TLS connections with decrypted bytes waiting */
    struct fa_alog_writer *alog;   /* access log buffer (NULL: no access log) */
    struct fa_metrics_block *mb;   /* this thread's counters (NULL: no metrics) */
    /* WebSockets (ws/conn.c) */
    struct fa_wsc *ws_list;   /* every WebSocket of the worker (keepalive, stop) */
    struct fa_wsc *ws_resume; /* handlers that caught up: read again */
    struct fa_wsc *ws_reap;   /* closed HTTP/2 WebSockets to free */
    struct fa_wsc *ws_flush;  /* sent messages not written yet: written before the next poll */
    size_t num_ws;
    uint64_t ws_next_ms;      /* next keepalive / close deadline */
    fa_buf ws_scratch;        /* compressed messages on their way out */
    char errbuf[256];
} fa_worker;

typedef struct fa_pool_thread {
    int id;
    struct fa_server *srv;
    pthread_t thread;
    int thread_started;
    int wake_fd;           /* eventfd this thread sleeps on */
    fa_interp *interp;     /* shared with other pooled threads */
    fa_ring *from_worker;  /* [num_workers] requests, worker w -> this thread */
    _Atomic int inflight;  /* jobs queued or running here */
    struct fa_metrics_block *mb; /* this thread's counters (NULL: no metrics) */
} fa_pool_thread;

typedef enum { FA_SRV_IDLE, FA_SRV_RUNNING, FA_SRV_STOPPING } fa_srv_state;

typedef struct fa_server {
    fa_config cfg;
    int *listen_fds;     /* inherited listeners (supervisor, --fd, --uds): worker i
                            listens on a dup of listen_fds[i % num_listen_fds] */
    int num_listen_fds;
    fa_router router;
    fa_handler_ref *handlers;
    size_t num_handlers, cap_handlers;
    fa_worker *workers;
    int num_workers;
    fa_pool_thread *pool;
    int num_pool;
    fa_interp **pool_interps;
    int num_pool_interps;
    int main_interp; /* this run serves from the main interpreter (config MAIN, or AUTO fell back) */
    _Atomic int stop_requested;
    _Atomic int pool_stop;
    _Atomic int workers_alive;
    int *start_hooks, *stop_hooks; /* handler ids of on_startup / on_shutdown */
    fa_route fallback;   /* set_fallback(): handler_id -1 when none */
    fa_router ws_router; /* add_websocket() routes (method GET) */
    fa_ws_options *ws_opts; /* per ws_router route, same index */
    size_t cap_ws_opts;
    size_t num_start_hooks, num_stop_hooks;
    int threads_ready;   /* threads past their startup hooks */
    int start_failed;    /* a startup hook raised */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* signalled when a worker exits or gets ready */
    fa_srv_state state;
    fa_tls *tls;         /* NULL: cleartext; owned by the server */
    fa_proxy proxy;      /* proxy headers: off unless set (fa_server_set_proxy) */
    int debug_log;       /* FASTERAPI_LOG_LEVEL=debug|trace at start */
    /* access log and metrics (obs.c) */
    fa_obs_config obs;
    struct fa_alog_format *alog_fmt;
    struct fa_metrics_region *mregion;
    unsigned mslot;
    int mregion_own;
    struct fa_metrics_http *mhttp;
} fa_server;

/* worker.c */
int fa_worker_init(fa_worker *w, fa_server *srv, int id, char *err, size_t err_size);
void fa_worker_destroy(fa_worker *w);
void *fa_worker_main(void *arg);
void fa_worker_wake(fa_worker *w);
void fa_worker_take_answers(fa_worker *w);

/* The worker's Python thread state, attached (for ws/conn.c). */
fa_pythread *fa_worker_python(fa_worker *w);

/* pool.c */
int fa_pool_init(fa_pool_thread *p, fa_server *srv, int id, char *err, size_t err_size);
void fa_pool_destroy(fa_pool_thread *p);
void *fa_pool_main(void *arg);
/* Queues a job from worker w.  Returns 0, or -1 when every queue is full. */
int fa_pool_submit(fa_server *srv, fa_worker *w, fa_job *job);
/* Sends a PULL or CLOSE job to the thread that holds its producer
 * (job->pool_id).  Returns 0, or -1 when that ring is full. */
int fa_pool_send(fa_server *srv, fa_worker *w, fa_job *job);
fa_job *fa_job_new(const fa_request *req);
void fa_job_free(fa_job *job);

/* http1/conn.c */
void fa_h1_init(fa_conn *c);
void fa_h1_process(fa_conn *c);
/* Writes the answer.  For a streamed one (resp->streaming), writes the head
 * and returns 1 when the body must follow through fa_h1_stream_chunk() and
 * fa_h1_stream_end(); returns 0 when the answer is complete (HEAD, 204...). */
int fa_h1_respond(fa_conn *c, fa_response *resp);
void fa_h1_stream_chunk(fa_conn *c, const char *data, size_t len);
/* ok = 0: the producer failed midway; the connection closes without the
 * last chunk so the client sees a truncated body, not a complete one. */
void fa_h1_stream_end(fa_conn *c, int ok);
/* Sends the file body with sendfile.  Returns 1 when it is all sent (the
 * exchange is complete), 0 when the socket is full, -1 on error. */
int fa_h1_send_file(fa_conn *c);
int fa_h1_idle(fa_conn *c);

/* hooks (server.c): run the startup hooks and report readiness; run the
 * shutdown hooks.  Attached to the thread's interpreter. */
void fa_server_thread_started(fa_server *srv, fa_pythread *py, int run_hooks);
void fa_server_thread_stopping(fa_server *srv, fa_pythread *py, int run_hooks);

/* small helpers */
uint64_t fa_now_ms(void);
void fa_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logged only when the server runs with debug logging. */
#define fa_debug(srv, ...)           \
    do {                             \
        if ((srv)->debug_log)        \
            fa_log(__VA_ARGS__);     \
    } while (0)

#endif
