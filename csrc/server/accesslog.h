/* accesslog.h - the access log, and the per-request records behind it and
 * behind the request metrics (metrics.h).
 *
 * A record follows one request from its dispatch to the end of its answer:
 *
 *     fa_alog_request_begin    worker.c, fa_worker_dispatch (every protocol)
 *     fa_alog_request_respond  worker.c, when the answer's head is handed
 *                              to the protocol layer (status, body bytes)
 *     fa_alog_request_bytes    worker.c, each chunk of a streamed answer
 *     fa_alog_request_end      http1/conn.c once the exchange is complete,
 *                              http2/session.c when the stream closes
 *     fa_alog_conn_closed      worker.c, for what a closing connection
 *                              leaves unfinished
 *
 * A WebSocket handshake (ws/conn.c) has a record of its own, from the
 * handler's start (fa_alog_ws_begin) to its answer (fa_alog_ws_answer: the
 * 101 / HTTP/2 200 of accept(), or a refusal), when its line is written:
 * with the default format the line is Uvicorn's,
 *     INFO:     127.0.0.1:50312 - "WebSocket /chat" [accepted]
 *     INFO:     127.0.0.1:50312 - "WebSocket /chat" 403
 * and a custom format's atoms show the handshake request ({method} GET or
 * CONNECT, {status} 101 / 200 / the refusal's).
 *
 * An error answer the protocol layer gives without a dispatch (400, 431,
 * 408...) gets a record at its respond call and counts as a protocol error.
 * Records live in the connection (one for HTTP/1.1, one per open stream for
 * HTTP/2) and keep their buffers, so the steady state allocates nothing.
 *
 * Lines are formatted on the worker's thread, from C data, into that
 * worker's buffer; the buffer goes out with one write(2) when the next line
 * would not fit, FA_ALOG_FLUSH_MS after its first line, and at stop.  On a
 * pipe the buffer is at most PIPE_BUF bytes, so the kernel never interleaves
 * two workers' (or processes') writes inside a line.
 */
#ifndef FA_ACCESSLOG_H
#define FA_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/http.h"

struct fa_conn;
struct fa_worker;

/* Uvicorn's default line: INFO:     127.0.0.1:50312 - "GET /items/5 HTTP/1.1" 200 OK */
#define FA_ALOG_DEFAULT_FORMAT "INFO:     {client} - \"{method} {target} {protocol}\" {status} {status_phrase}"
/* ... and for a WebSocket handshake ({status} reads [accepted] for 101/200) */
#define FA_ALOG_WS_DEFAULT_FORMAT "INFO:     {client} - \"WebSocket {target}\" {status}"
#define FA_ALOG_FLUSH_MS 100
#define FA_ALOG_MAX_HEADERS 8
#define FA_ALOG_MAX_FORMAT 1024

/* --- formats: literal text with {atom}s; {{ and }} are literal braces --- */

typedef struct fa_alog_format fa_alog_format;
/* Compiles spec.  Returns NULL with err set (an unknown atom names the
 * known ones). */
fa_alog_format *fa_alog_format_compile(const char *spec, char *err, size_t err_size);
void fa_alog_format_free(fa_alog_format *f);

/* --- a worker's output buffer ---------------------------------------- */

typedef struct fa_alog_writer fa_alog_writer;
fa_alog_writer *fa_alog_writer_new(int fd);
/* Writes what is buffered (one write(2)). */
void fa_alog_writer_flush(fa_alog_writer *wr);
/* Flushes and frees. */
void fa_alog_writer_free(fa_alog_writer *wr);

/* --- per-connection records ------------------------------------------ */

typedef struct fa_alog_rec fa_alog_rec;
typedef struct fa_alog_conn {
    fa_alog_rec *recs;
    uint16_t n, cap;
    uint8_t proto; /* FA_M_CONN_*: which open-connections gauge counts it */
} fa_alog_conn;

void fa_alog_conn_opened(struct fa_conn *c);
void fa_alog_conn_closed(struct fa_conn *c);
void fa_alog_request_begin(struct fa_conn *c, int32_t stream_id, const fa_request *req);
void fa_alog_request_respond(struct fa_conn *c, int32_t stream_id, const fa_response *resp);
void fa_alog_request_bytes(struct fa_conn *c, int32_t stream_id, size_t n);
void fa_alog_request_end(struct fa_conn *c, int32_t stream_id);
/* A WebSocket handshake reached its handler / was answered (the record
 * ends there: the line does not wait for the WebSocket's end). */
void fa_alog_ws_begin(struct fa_conn *c, int32_t stream_id, const fa_request *req);
void fa_alog_ws_answer(struct fa_conn *c, int32_t stream_id, int status);

/* --- the worker's loop ----------------------------------------------- */

/* The poll timeout, shortened so that a buffered line goes out on time. */
int fa_alog_timeout(struct fa_worker *w, int ms);
/* Flushes the worker's buffer when its first line is FA_ALOG_FLUSH_MS old. */
void fa_alog_tick(struct fa_worker *w);

#endif
