/* h2_stub.h - INTERNAL test support, not part of fasterapi and not installed.
 *
 * The in-memory stand-in for the server side (server/worker.c) that
 * csrc/http2/session.c calls into, shared by the two programs that drive
 * session.c without the real worker:
 *
 *   tests/c/test_h2_session.c   unit test   (make ctest-h2, mk/h2.mk)
 *   fuzz/fuzz_h2_session.c      fuzz target (make fuzz-h2, mk/h2.mk)
 *
 * It defines, not only declares, the worker functions of
 * csrc/server/conn_internal.h that both programs stub the same way, so
 * include it from exactly one translation unit per program.  Before the
 * #include, the includer defines
 *
 *   struct fa_worker, with at least the members
 *       fa_config cfg;       returned by fa_worker_config()
 *       int stopping;        returned by fa_worker_stopping()
 *       int errors;          fa_conn_respond_error() calls, counted
 *       int last_error;      and the last status it was given
 *   H2_STUB_STREAM_BODY_PATH  the one path whose route streams its body
 *
 * and defines itself the hooks that differ between the two programs:
 * fa_worker_dispatch, fa_conn_stream_closed, fa_conn_body_feed and
 * fa_worker_slab.
 */
#ifndef FA_TEST_H2_STUB_H
#define FA_TEST_H2_STUB_H

#include <string.h>

#include "../../csrc/http2/session.h"
#include "../../csrc/server/config.h"
#include "../../csrc/ws/conn.h" /* the fa_wsc_* stubs below match it */

#ifndef H2_STUB_STREAM_BODY_PATH
#error "define H2_STUB_STREAM_BODY_PATH (and struct fa_worker) before including h2_stub.h"
#endif

/* The limits the fuzz target runs with (tests/c/test_h2_session.c writes
 * seeds that hit each of them). */
static inline void h2_stub_fuzz_limits(fa_config *cfg)
{
    cfg->max_header_size = 32768; /* the continuation seed fits */
    cfg->max_headers = 16;
    cfg->max_target_size = 256;
    cfg->max_body_size = 4096;
    cfg->max_concurrent_streams = 16;
}

/* A fresh h2 connection of worker w, with no socket; the session itself
 * starts with fa_h2_start(). */
static inline void h2_stub_conn_init(fa_conn *c, struct fa_worker *w)
{
    memset(c, 0, sizeof *c);
    c->io.kind = FA_IO_CONN;
    c->io.fd = -1;
    c->worker = w;
    c->proto = FA_PROTO_H2;
    c->timer = FA_TIMER_NONE;
}

/* Frees the session and the connection's buffers. */
static inline void h2_stub_conn_free(fa_conn *c)
{
    fa_h2_free(c);
    fa_buf_free(&c->wbuf);
    fa_buf_free(&c->rbuf);
}

/* --- the worker side of csrc/server/conn_internal.h ------------------ */

void fa_conn_respond(fa_conn *c, int32_t stream_id, fa_response *resp)
{
    /* as the worker does: the session copies or takes what it sends, then
     * the caller's buffers are done with */
    fa_h2_respond(c, stream_id, resp);
    fa_response_free(resp);
}

void fa_conn_respond_error(fa_conn *c, int32_t stream_id, int status, const char *text)
{
    c->worker->errors++;
    c->worker->last_error = status;
    fa_response r;
    fa_response_init(&r);
    fa_response_simple(&r, status, text);
    fa_conn_respond(c, stream_id, &r);
    fa_response_free(&r);
}

int fa_conn_route_streams_body(fa_conn *c, const char *method, size_t method_len,
                               const char *path, size_t path_len)
{
    (void)c;
    (void)method;
    (void)method_len;
    return path_len == sizeof H2_STUB_STREAM_BODY_PATH - 1 &&
           memcmp(path, H2_STUB_STREAM_BODY_PATH, path_len) == 0;
}

void fa_conn_buf_take(fa_conn *c, fa_buf *b)
{
    (void)c;
    (void)b; /* plain growable buffers here */
}

void fa_conn_buf_release(fa_conn *c, fa_buf *b)
{
    (void)c;
    (void)b;
}

void fa_conn_set_timer(fa_conn *c, fa_timer_kind kind)
{
    c->timer = kind;
}

void fa_conn_pause_reading(fa_conn *c, int paused)
{
    c->read_paused = paused ? 1u : 0u;
}

void fa_conn_flush(fa_conn *c)
{
    (void)c; /* the harness moves (or drops) wbuf itself */
}

const char *fa_worker_date(struct fa_worker *w)
{
    (void)w;
    return "Sun, 06 Nov 1994 08:49:37 GMT";
}

const struct fa_config *fa_worker_config(struct fa_worker *w)
{
    return &w->cfg;
}

int fa_worker_stopping(struct fa_worker *w)
{
    return w->stopping;
}

/* the access log and metrics hooks (server/accesslog.c, obs.c): nothing to
 * record without a worker */
void fa_alog_request_end(fa_conn *c, int32_t stream_id)
{
    (void)c;
    (void)stream_id;
}

void fa_obs_h2_sent(fa_conn *c, int frame_type, uint32_t error_code)
{
    (void)c;
    (void)frame_type;
    (void)error_code;
}

/* the WebSocket layer (ws/conn.c): no websocket routes here, so an extended
 * CONNECT is served as a plain request and the setting is not announced */
int fa_wsc_h2_begin(struct fa_conn *c, int32_t stream_id, const fa_request *req, int *status,
                    const char **why)
{
    (void)c;
    (void)stream_id;
    (void)req;
    (void)status;
    (void)why;
    return 0;
}

int fa_wsc_h2_data(struct fa_conn *c, int32_t stream_id, const uint8_t *data, size_t len)
{
    (void)c;
    (void)stream_id;
    (void)data;
    (void)len;
    return 0;
}

void fa_wsc_h2_closed(struct fa_conn *c, int32_t stream_id, int reset)
{
    (void)c;
    (void)stream_id;
    (void)reset;
}

int fa_wsc_h2_is_ws(struct fa_conn *c, int32_t stream_id)
{
    (void)c;
    (void)stream_id;
    return 0;
}

int fa_wsc_enabled(struct fa_conn *c)
{
    (void)c;
    return 0;
}

#endif
