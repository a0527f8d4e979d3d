/* conn_internal.h - a client connection, as seen by the protocol layers.
 *
 * Internal to the server: shared by server/worker.c, http1/conn.c and
 * http2/session.c.  A connection lives on exactly one worker thread; nothing
 * here is touched by another thread.  Pooled handlers that answer later hold
 * a reference through `pending`: a closed connection with pending > 0 stays
 * allocated (fd closed, state "dead") until the last answer comes back.
 */
#ifndef FA_CONN_INTERNAL_H
#define FA_CONN_INTERNAL_H

#include <stdint.h>

#include "../common/buf.h"
#include "../common/http.h"
#include "../http1/parser.h"
#include "accesslog.h"

struct fa_worker;
struct fa_h2;
struct ssl_st;
struct fa_wsc;

typedef enum { FA_IO_LISTENER, FA_IO_WAKE, FA_IO_CONN, FA_IO_AIO } fa_io_kind;

/* What the poller's data pointer points to: every registered object starts
 * with this. */
typedef struct fa_io {
    fa_io_kind kind;
    int fd;
    uint32_t events; /* currently registered FA_EV_* mask */
} fa_io;

typedef enum {
    FA_PROTO_DETECT, /* no byte yet decides between HTTP/1.1 and h2 preface */
    FA_PROTO_H1,
    FA_PROTO_H2,
    FA_PROTO_WS,     /* HTTP/1.1 switched to a WebSocket (ws/conn.c) */
} fa_proto;

/* Which deadline list a connection sits on (see worker.c). */
typedef enum {
    FA_TIMER_NONE = -1,
    FA_TIMER_HEAD = 0, /* waiting for a complete request head (slowloris) */
    FA_TIMER_BODY,     /* waiting for body bytes */
    FA_TIMER_IDLE,     /* keep-alive, nothing in flight */
    FA_TIMER_WRITE,    /* output pending that the peer does not read */
    FA_TIMER_LINGER,   /* answered and shut down; draining the peer's bytes */
    FA_TIMER_COUNT
} fa_timer_kind;

/* HTTP/1.1 per-connection state (http1/conn.c). */
typedef struct fa_h1_state {
    int in_flight;         /* a request was dispatched and is not answered yet */
    int head_len;          /* > 0 once the current head is parsed */
    fa_h1_info info;
    uint64_t body_have;    /* body bytes received (decoded, when chunked) */
    fa_h1_chunked chunked;
    int sent_continue;     /* 100 Continue already sent for this request */
    int is_head;           /* current request is HEAD */
    int keep_alive;        /* current request allows keep-alive */
    size_t req_len;        /* bytes of rbuf the current request occupies */
    size_t raw_end;        /* chunked: rbuf offset up to which bytes were decoded */
    int minor_version;     /* of the current request: 0 or 1 */
    size_t scanned;        /* rbuf bytes known to hold no end of head */
    int streaming;         /* the answer's head is out; chunks follow */
    int body_streaming;    /* dispatched at the head; body bytes are fed */
    int body_unread;       /* nobody reads the rest of the body: close after */
    int file_fd;           /* a file body follows the head (-1: none) */
    uint64_t file_off, file_left;
} fa_h1_state;

typedef struct fa_conn {
    fa_io io; /* kind FA_IO_CONN; must stay first */
    struct fa_worker *worker;
    fa_proto proto;
    fa_buf rbuf;         /* bytes read and not yet consumed */
    fa_buf wbuf;         /* bytes to write */
    size_t wpos;         /* bytes of wbuf already written */
    int pending;         /* requests handed to pooled workers, not answered */
    unsigned dead : 1;   /* fd closed; waits for pending answers to be freed */
    unsigned close_after_write : 1; /* close once wbuf is drained */
    unsigned read_eof : 1;          /* peer shut down its sending side */
    unsigned read_paused : 1;       /* not reading (request in flight, output backlog) */
    unsigned lingering : 1;         /* our side is shut down; discarding input */
    unsigned want_file : 1;         /* a file body waits for the socket to drain */
    /* TLS (conn_io.c, tls/): ssl is NULL on a cleartext connection */
    unsigned tls_handshake : 1;        /* the handshake is not finished */
    unsigned tls_hs_write : 1;         /* ... and waits for writability */
    unsigned tls_read_wants_write : 1; /* a read waits for writability */
    unsigned tls_write_wants_read : 1; /* a write waits for readability */
    unsigned tls_failed : 1;           /* broken session: no close_notify */
    unsigned read_queued : 1;          /* on the worker's reads_due list */
    struct ssl_st *ssl;
    unsigned char tls_drained; /* OpenSSL's last read(2) left the socket empty (fa_tls_conn_new) */
    char *tls_subject;                 /* verified client certificate, or NULL */
    struct fa_conn *read_next;         /* reads_due list */
    /* deadline list membership */
    fa_timer_kind timer;
    uint64_t deadline_ms;
    struct fa_conn *tprev, *tnext;
    /* all live connections of the worker (for graceful stop) */
    struct fa_conn *prev, *next;
    fa_h1_state h1;
    struct fa_h2 *h2;
    struct fa_wsc *ws;               /* its WebSockets (ws/conn.c): the upgraded
                                        connection's, or HTTP/2 streams' */
    struct fa_async_req *async_reqs; /* suspended coroutine handlers */
    struct fa_stream_out *outs;      /* streamed answers being pulled */
    /* the peer, as accept() gave it: req['client'] */
    char peer[46]; /* INET6_ADDRSTRLEN */
    uint8_t peer_len;
    uint16_t peer_port;
    void *client_obj; /* req['client'] as built once by the worker's interpreter */
    fa_alog_conn alog; /* request records for the access log and metrics */
} fa_conn;

/* --- provided by server/worker.c ------------------------------------ */

/* Routes and runs (inline or on a pooled worker) a complete request.  The
 * request's slices need only live for the duration of the call.  The answer
 * comes back through fa_conn_respond(), possibly before this returns. */
void fa_worker_dispatch(struct fa_worker *w, fa_conn *c, int32_t stream_id,
                        const fa_request *req);
/* Answers a request of this connection without a handler (errors). */
void fa_conn_respond_error(fa_conn *c, int32_t stream_id, int status, const char *text);
/* Hands a response to the connection's protocol layer, which takes
 * ownership of its buffers (the caller's fa_response is left empty and
 * reusable). */
void fa_conn_respond(fa_conn *c, int32_t stream_id, fa_response *resp);
/* A request's stream ended before its answer (HTTP/2 RST_STREAM): cancels
 * a suspended coroutine handler serving it, if any. */
void fa_conn_stream_closed(fa_conn *c, int32_t stream_id);
/* Streamed request bodies (routes added with stream_body=True).
 * True when the request for method/path goes to such a route: the protocol
 * layer dispatches it as soon as the head is in, with an empty body. */
int fa_conn_route_streams_body(fa_conn *c, const char *method, size_t method_len,
                               const char *path, size_t path_len);
/* Hands body bytes of a dispatched stream_body request to its handler.
 * Returns 0, 1 when the handler has more than it reads (stop reading from
 * the client until fa_h2_body_resume / reading resumes), or -1 when nobody
 * reads the body any more (drop the bytes). */
int fa_conn_body_feed(fa_conn *c, int32_t stream_id, const char *data, size_t len, int end);
/* Moves the connection to a deadline list (FA_TIMER_NONE: none). */
void fa_conn_set_timer(fa_conn *c, fa_timer_kind kind);
/* Starts or stops reading from the socket. */
void fa_conn_pause_reading(fa_conn *c, int paused);
/* Gives an empty buffer a block from the worker's pool (no-op when it has
 * one) / returns an empty buffer's block to the pool. */
void fa_conn_buf_take(fa_conn *c, fa_buf *b);
void fa_conn_buf_release(fa_conn *c, fa_buf *b);
/* Tries to write wbuf now; arms write interest when the socket is full. */
void fa_conn_flush(fa_conn *c);
/* The worker's cached "Date" value (IMF-fixdate, 29 bytes, no CRLF). */
const char *fa_worker_date(struct fa_worker *w);
/* The worker's small-block cache (common/slab.h), or NULL for plain malloc. */
struct fa_slab *fa_worker_slab(struct fa_worker *w);
/* The worker's config. */
const struct fa_config *fa_worker_config(struct fa_worker *w);
/* True once a graceful stop began. */
int fa_worker_stopping(struct fa_worker *w);

#endif
