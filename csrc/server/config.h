/* config.h - server settings, filled by the Python constructor.
 * Defaults live in fa_config_defaults() (server.c) and are documented in
 * README.md; keep the three in step. */
#ifndef FA_CONFIG_H
#define FA_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "fields.h"

typedef struct fa_config {
    char host[256];
    int port;
    int num_pinned_workers;      /* event-loop threads, one interpreter each */
    int num_pooled_workers;      /* handler threads for pooled routes */
    int num_pooled_interpreters; /* interpreters shared by the pooled threads */
    int backlog;
    size_t max_header_size;      /* bytes of request head (HTTP/1) / header list (HTTP/2) */
    size_t max_headers;          /* header fields per request */
    size_t max_target_size;      /* request-target bytes */
    size_t max_body_size;        /* request body bytes */
    uint32_t max_concurrent_streams; /* HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS */
    double header_timeout;       /* seconds to receive a whole request head */
    double body_timeout;         /* seconds of silence allowed while a body arrives */
    double keepalive_timeout;    /* seconds an idle connection is kept */
    double graceful_timeout;     /* seconds in-flight requests get at stop */
    size_t max_inflight;         /* per worker: requests awaiting a coroutine or a
                                    pooled thread; beyond it 503 / REFUSED_STREAM */
    size_t max_websockets;       /* per worker: open WebSockets (handshakes included);
                                    beyond it 503 (0 = no cap) */
    int interpreters;            /* FA_INTERP_SUB / _MAIN / _AUTO: where handlers run */
    /* The process model (src/fasterapi/_supervisor.py reads these; the C
     * server itself always runs in one process). */
    int num_processes;           /* server processes under a supervisor; 1 = none */
    uint64_t max_requests;       /* recycle a process after this many requests (0 = never) */
    uint64_t max_requests_jitter; /* plus a random 0..jitter, per process */
    size_t max_rss_mib;          /* recycle past this resident size (0 = never) */
    double lifetime;             /* recycle after this many seconds (0 = never) */
    double kill_timeout;         /* after graceful_timeout, a child gets this long before SIGKILL */
    fa_fields fields;            /* server, date and default fields of every answer */
} fa_config;

/* Where handlers run.  SUB: one own-GIL sub-interpreter per pinned worker
 * (and the pooled ones).  MAIN: every thread uses the main interpreter (one
 * GIL shared by all; for apps importing extensions that cannot load in
 * sub-interpreters).  AUTO: SUB, falling back to MAIN when a handler module
 * cannot be imported in a sub-interpreter. */
enum { FA_INTERP_SUB = 0, FA_INTERP_MAIN = 1, FA_INTERP_AUTO = 2 };

void fa_config_defaults(fa_config *cfg);

#endif
