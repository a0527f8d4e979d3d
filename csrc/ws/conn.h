/* conn.h - a WebSocket on a connection: the state between the frame codec
 * (frame.h, deflate.h) and the handler's `ws` object (python/ws.c).
 *
 * Layering: the HTTP/1.1 layer (http1/conn.c) hands an `Upgrade:
 * websocket` request on a websocket route to fa_wsc_h1_begin(); the handler
 * then runs (a Task on the worker's asyncio loop) and decides: accept() ->
 * 101 and the connection switches to FA_PROTO_WS, whose bytes come here
 * through fa_wsc_h1_process() (conn_io.c) instead of the HTTP/1.1 parser.
 * Frames go out through the connection's write buffer (fa_conn_flush), so
 * TLS works underneath unchanged.  An HTTP/2 extended CONNECT (RFC 8441)
 * carries the same frames in a stream's DATA (fa_wsc_h2_*).
 *
 * Everything runs on the connection's worker thread; the Python side is
 * reached only through python/interp.h (fa_pythread_ws_*), attached.
 */
#ifndef FA_WS_CONN_H
#define FA_WS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "../common/http.h"

struct fa_conn;
struct fa_worker;
typedef struct fa_wsc fa_wsc;

/* What add_websocket() configured for a route. */
typedef struct fa_ws_options {
    int compression;        /* permessage-deflate when the client offers it */
    uint64_t max_message;   /* bytes of a message (inflated); 0: no limit -> 1009 */
    uint64_t max_frame;     /* bytes of one frame's payload; 0: no limit -> 1009 */
    double ping_interval;   /* seconds between keepalive pings; 0: none */
    double ping_timeout;    /* seconds to wait for the pong; 0: forever */
} fa_ws_options;

/* --- called by the protocol layers and the worker ---------------------- */

/* An HTTP/1.1 request with "Upgrade: websocket" whose head is the first
 * head_len bytes of the read buffer.  Returns 0 when no websocket route
 * matches (serve it as plain HTTP), 1 when the handler was started (the
 * connection stays in flight until it accepts or refuses), or -1 for a bad
 * handshake: *status (400 / 426) and *why say what to answer. */
int fa_wsc_h1_begin(struct fa_conn *c, const fa_request *req, size_t head_len, int *status,
                    const char **why);
/* Bytes arrived on an accepted HTTP/1.1 WebSocket (FA_PROTO_WS). */
void fa_wsc_h1_process(struct fa_conn *c);
/* HTTP/2 (RFC 8441): an extended CONNECT with :protocol websocket.  Returns
 * as fa_wsc_h1_begin does; on 1 the stream carries the WebSocket. */
int fa_wsc_h2_begin(struct fa_conn *c, int32_t stream_id, const fa_request *req, int *status,
                    const char **why);
/* DATA of such a stream (copied).  Returns 0, or 1 when the handler is
 * behind: the stream's bytes are not consumed (no WINDOW_UPDATE) until
 * fa_h2_ws_consume() is called from a resume. */
int fa_wsc_h2_data(struct fa_conn *c, int32_t stream_id, const uint8_t *data, size_t len);
/* The peer ended or reset the stream. */
void fa_wsc_h2_closed(struct fa_conn *c, int32_t stream_id, int reset);
/* True when the connection's stream carries a WebSocket. */
int fa_wsc_h2_is_ws(struct fa_conn *c, int32_t stream_id);
/* True when the server has websocket routes (HTTP/2 then announces
 * SETTINGS_ENABLE_CONNECT_PROTOCOL). */
int fa_wsc_enabled(struct fa_conn *c);

/* The connection is closing (fa_worker_conn_closing): every WebSocket on
 * it sees 1006 unless it was closed already.  Attaches to Python. */
void fa_wsc_conn_closing(struct fa_conn *c);
/* Frees the C state of the connection's WebSockets (fa_conn_free). */
void fa_wsc_conn_free(struct fa_conn *c);
/* Output drained on the connection: senders waiting on it go on. */
void fa_wsc_conn_drained(struct fa_conn *c);

/* The worker: keepalive pings and close timeouts, due at *next_ms. */
void fa_ws_worker_sweep(struct fa_worker *w);
/* Graceful stop: every open WebSocket is closed with 1001. */
void fa_ws_worker_stop(struct fa_worker *w);
/* WebSockets whose handler caught up: read again. */
void fa_ws_worker_resume(struct fa_worker *w);
/* Writes what send() queued this loop round (before the worker polls):
 * a handler that sends several messages in one asyncio step - a broadcast
 * to many sockets, a burst to one - costs one write per socket. */
void fa_ws_worker_flush(struct fa_worker *w);
/* Frees the state of WebSockets whose HTTP/2 stream closed (end of a loop
 * round, so no caller still holds one). */
void fa_ws_worker_reap(struct fa_worker *w);

/* --- called by the handler's `ws` object (python/ws.c), attached --------- */

/* Sends the handshake's answer (101, or 200 on HTTP/2) with the chosen
 * subprotocol (NULL: none) and extra header fields.  Returns 0, or -1 when
 * the connection is gone. */
int fa_wsc_accept(fa_wsc *ws, const char *subprotocol, size_t sub_len, const fa_header *headers,
                  size_t num_headers);
/* close() before accept(): the handshake is refused with HTTP 403. */
void fa_wsc_reject(fa_wsc *ws);
/* deny() before accept(): the handshake is answered with this HTTP
 * response (status checked by the caller: not 101, no 2xx on HTTP/2). */
void fa_wsc_deny(fa_wsc *ws, int status, const fa_header *headers, size_t num_headers, const void *body,
                 size_t body_len);
/* Sends one message.  Returns 0, 1 when it went out but the peer is behind
 * (the output is above its high-water mark: wait for fa_pythread_ws_drained),
 * or -1 when the WebSocket is closed. */
int fa_wsc_send(fa_wsc *ws, int binary, const uint8_t *data, size_t len);
/* Starts the close handshake with code and reason (valid, checked by the
 * caller). */
void fa_wsc_close(fa_wsc *ws, unsigned code, const char *reason, size_t reason_len);
/* The handler's inbox fell below its low-water mark: read again. */
void fa_wsc_inbox_low(fa_wsc *ws);
/* The handler's Task ended (failed: it raised or was cancelled). */
void fa_wsc_handler_done(fa_wsc *ws, int failed);

#endif
