/* obs.h - what the server can show of itself: its settings for the access
 * log (accesslog.h) and the metrics (metrics.h), their start and stop with
 * the server, and the metrics hooks outside a request's record (I/O bytes,
 * pooled hand-offs, handler time, HTTP/2 error frames).
 *
 * Every hook is a no-op when its feature is off: a worker without metrics
 * has no block (mb == NULL), a worker without an access log no writer.
 */
#ifndef FA_OBS_H
#define FA_OBS_H

#include <stddef.h>
#include <stdint.h>

struct fa_server;
struct fa_worker;
struct fa_pool_thread;
struct fa_conn;
struct fa_job;
struct fa_metrics_block;

typedef struct fa_obs_config {
    int access_log;                /* write the access log */
    int access_log_fd;             /* to this descriptor (stderr unless told; the caller's file) */
    char access_log_format[1024];  /* "" : FA_ALOG_DEFAULT_FORMAT */
    int metrics_port;              /* -1: no listener of our own; 0: any port */
    char metrics_host[256];        /* "" : the server's host */
    /* a region made by a supervisor before it forked (NULL: our own one
     * when metrics_port >= 0), and this process's slot in it */
    void *region_mem;
    size_t region_size;
    unsigned region_slot;
} fa_obs_config;

void fa_obs_config_defaults(fa_obs_config *cfg);

/* Before threads start (interpreters exist, so handler-time labels are
 * known): per-worker log buffers, metrics blocks, the scrape listener.
 * Returns 0, or -1 with err set. */
int fa_obs_start(struct fa_server *srv, char *err, size_t err_size);
/* After every thread was joined: flushes the logs, stops the listener. */
void fa_obs_stop(struct fa_server *srv);
/* The scrape listener's port (-1: none). */
int fa_obs_metrics_port(struct fa_server *srv);

/* bytes moved on a connection's transport */
void fa_obs_io(struct fa_conn *c, size_t in, size_t out);
/* admission control turned a request away */
void fa_obs_refused(struct fa_worker *w);
/* a handler call on thread block mb begins (returns its start, 0 when not
 * counted) / ends */
uint64_t fa_obs_handler_begin(struct fa_metrics_block *mb);
void fa_obs_handler_end(struct fa_metrics_block *mb, uint64_t t0);
/* Time from t0 added to handler time without counting a call: the asyncio
 * steps that resume suspended coroutine handlers and WebSocket handlers. */
void fa_obs_handler_resumed(struct fa_metrics_block *mb, uint64_t t0);
/* a job goes to a pooled thread (delta 1, before the push: the thread may
 * take it at once; -1 when the push failed) / the thread takes it */
void fa_obs_pool_submit(struct fa_worker *w, struct fa_job *job, int delta);
void fa_obs_pool_take(struct fa_pool_thread *p, struct fa_job *job);
/* an HTTP/2 frame went out (GOAWAY / RST_STREAM with an error code count
 * as protocol errors) */
void fa_obs_h2_sent(struct fa_conn *c, int frame_type, uint32_t error_code);

#endif
