/* session.h - HTTP/2 (RFC 9113) connections on top of libnghttp2.
 *
 * nghttp2 does the framing, HPACK, flow control and stream state; this layer
 * turns its callbacks into fa_request dispatches and fa_response answers,
 * and enforces our limits (header list size and count, body size, reset
 * floods).  The library does no I/O: bytes come in through fa_h2_recv() and
 * go out into conn->wbuf through fa_h2_flush().
 */
#ifndef FA_H2_SESSION_H
#define FA_H2_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "../common/http.h"
#include "../server/conn_internal.h"

/* The 24-byte client connection preface. */
#define FA_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define FA_H2_PREFACE_LEN 24
/* Its first bytes, "PRI ": no HTTP/1.1 request starts so. */
#define FA_H2_PRI_LEN 4

/* Creates the session for c and queues our SETTINGS.  For a connection that
 * came through "Upgrade: h2c", `settings`/`settings_len` is the
 * base64url-decoded HTTP2-Settings payload and `upgrade_req` the request that
 * asked for the upgrade: it becomes stream 1 and is dispatched by this call
 * (`upgrade_req->method` tells whether it was HEAD).  For prior knowledge,
 * pass NULL, 0, NULL.  Returns 0, or -1 (the caller closes the connection). */
int fa_h2_start(fa_conn *c, const uint8_t *settings, size_t settings_len,
                const fa_request *upgrade_req);
/* Feeds bytes read from the socket.  Returns 0, or -1 when the connection is
 * beyond saving (the caller flushes what it can and closes). */
int fa_h2_recv(fa_conn *c, const uint8_t *data, size_t len);
/* Delivers a handler's answer for a stream.  Takes the response's buffers
 * (resp is left empty).  A stream that was reset meanwhile drops it. */
void fa_h2_respond(fa_conn *c, int32_t stream_id, fa_response *resp);
/* Streamed answers (resp->streaming): the head goes out with
 * fa_h2_respond() and the body as it is written here.
 * Bytes the stream holds that nghttp2 has not taken yet, or -1 when the
 * stream is gone (reset or closed). */
long fa_h2_stream_pending(fa_conn *c, int32_t stream_id);
/* Appends body bytes (end: they are the last) and wakes the stream's data
 * source.  Returns 0, or -1 when the stream is gone. */
int fa_h2_stream_write(fa_conn *c, int32_t stream_id, const char *data, size_t len, int end);
/* The handler of a stream_body request caught up: give back the flow-control
 * window held back while it was behind. */
void fa_h2_body_resume(fa_conn *c, int32_t stream_id);
/* Refuses a stream the worker has no room for: RST_STREAM(REFUSED_STREAM),
 * which tells the client it may retry it (RFC 9113 section 8.7). */
void fa_h2_refuse(fa_conn *c, int32_t stream_id);
/* Abandons a streamed answer midway: RST_STREAM(INTERNAL_ERROR). */
void fa_h2_stream_reset(fa_conn *c, int32_t stream_id);
/* Serializes pending frames into c->wbuf, stopping early when wbuf already
 * holds more than a high-water mark (the rest goes after the socket drains).
 * Returns 0, or -1 on a fatal session error. */
int fa_h2_flush(fa_conn *c);
/* True when the session neither wants to read nor to write: close now. */
int fa_h2_done(fa_conn *c);
/* Graceful stop: GOAWAY naming the last stream we accepted; streams in
 * flight finish, new ones are refused. */
void fa_h2_shutdown(fa_conn *c);
/* Graceful stop in two steps (RFC 9113 6.8): GOAWAY(2^31-1) and a PING now;
 * the final GOAWAY (fa_h2_shutdown) when the PING's ACK arrives, or when the
 * caller gives up waiting for it. */
void fa_h2_shutdown_notice(fa_conn *c);
/* True between fa_h2_shutdown_notice() and the final GOAWAY. */
int fa_h2_notice_pending(fa_conn *c);
/* Streams with a request being handled (for idle detection). */
int fa_h2_busy(fa_conn *c);
/* Which deadline fits the session now (the worker's timers); *progress
 * says whether requests arrived since the last call (the keep-alive
 * deadline then starts again: requests answered within one read never
 * make the session busy). */
enum {
    FA_H2_IDLE = 0,  /* no stream in progress: keep-alive timeout */
    FA_H2_BUSY,      /* handlers at work: no deadline */
    FA_H2_RECEIVING, /* request bodies arriving: body timeout, reset by reads */
    FA_H2_STALLED,   /* answers wait for the peer's flow-control window */
};
int fa_h2_timer_state(fa_conn *c, int *progress);
/* Frees the session and its streams. */
void fa_h2_free(fa_conn *c);

#endif
