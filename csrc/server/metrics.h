/* metrics.h - Prometheus metrics for the whole server (every process).
 *
 * Counters live in one shared anonymous mapping (fa_metrics_region), made
 * before any server process forks, so every process writes into the same
 * memory and one scrape sums them all:
 *
 *     region: header (supervisor counters, a process-shared mutex)
 *             retired: the sums of processes that are gone
 *             slot 0 .. nslots-1: one per server process
 *                 block 0 .. nblocks-1: one per thread of that process
 *                 (pinned workers first, then pooled threads)
 *
 * A block has exactly one writer, the thread it belongs to, which updates
 * it with relaxed atomic loads and stores (no lock, no read-modify-write
 * instruction on the request path).  A scrape (metrics.c, on its own
 * thread or process) reads every block with relaxed loads and adds them up;
 * it takes the region's mutex only against fa_metrics_retire(), never
 * against the request path.  Gauges are derived at scrape time from pairs
 * of counters (requests begun - ended, jobs queued - started), except open
 * connections, which each thread keeps as its own signed sum.
 */
#ifndef FA_METRICS_H
#define FA_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/buf.h"

/* label values, in the order of the arrays below */
enum { FA_M_PROTO_10, FA_M_PROTO_11, FA_M_PROTO_2, FA_M_PROTOS };
enum {
    FA_M_GET, FA_M_HEAD, FA_M_POST, FA_M_PUT, FA_M_DELETE, FA_M_PATCH, FA_M_OPTIONS,
    FA_M_CONNECT, FA_M_TRACE, FA_M_OTHER, FA_M_METHODS
};
/* 1xx..5xx; NONE: the request ended without a status (reset, refused) */
enum { FA_M_CLASS_NONE = 0, FA_M_CLASSES = 6 };
enum { FA_M_CONN_UNKNOWN, FA_M_CONN_H1, FA_M_CONN_H2, FA_M_CONN_KINDS };
/* protocol errors: answers the server gave without a handler, and HTTP/2
 * frames that end something with an error code */
enum {
    FA_M_ERR_400, FA_M_ERR_408, FA_M_ERR_413, FA_M_ERR_414, FA_M_ERR_431, FA_M_ERR_505,
    FA_M_ERR_OTHER_STATUS, FA_M_ERR_GOAWAY, FA_M_ERR_RST_SENT, FA_M_ERR_KINDS
};
/* fed by the supervisor (src/fasterapi/_supervisor.py) */
enum { FA_M_RESTART_EXIT, FA_M_RESTART_SIGNAL, FA_M_RESTART_CAUSES };
enum {
    FA_M_RECYCLE_MAX_REQUESTS, FA_M_RECYCLE_MAX_RSS, FA_M_RECYCLE_LIFETIME, FA_M_RECYCLE_SIGHUP,
    FA_M_RECYCLE_RELOAD, FA_M_RECYCLE_CAUSES
};

/* WebSockets (ws/conn.c): how one ended, by the close code its handler saw */
enum {
    FA_M_WS_NORMAL,      /* 1000 */
    FA_M_WS_GOING_AWAY,  /* 1001 (a peer or the server going away) */
    FA_M_WS_ABNORMAL,    /* 1006: no close frame (the connection dropped) */
    FA_M_WS_ERROR,       /* the other 1xxx codes: protocol, data, size, policy, internal */
    FA_M_WS_APPLICATION, /* 3000-4999 */
    FA_M_WS_CLOSE_KINDS
};
static inline int fa_m_ws_close_kind(unsigned code)
{
    return code == 1000 ? FA_M_WS_NORMAL : code == 1001 ? FA_M_WS_GOING_AWAY
         : code == 1006 ? FA_M_WS_ABNORMAL : code >= 3000 ? FA_M_WS_APPLICATION : FA_M_WS_ERROR;
}

/* histogram upper bounds, seconds (the last bucket is +Inf) */
#define FA_M_BUCKETS 16

typedef struct fa_metrics_block {
    /* --- counters (summed, and folded into `retired` when a process goes) */
    _Atomic uint64_t requests[FA_M_PROTOS][FA_M_METHODS][FA_M_CLASSES];
    _Atomic uint64_t begun[FA_M_PROTOS], ended[FA_M_PROTOS];
    _Atomic uint64_t duration[FA_M_BUCKETS + 1]; /* per bucket, not cumulative */
    _Atomic uint64_t duration_ns;
    _Atomic uint64_t bytes_in, bytes_out;
    _Atomic uint64_t accepted;
    _Atomic uint64_t refused; /* admission control (503 / REFUSED_STREAM) */
    _Atomic uint64_t errors[FA_M_ERR_KINDS];
    _Atomic uint64_t submitted; /* jobs this worker gave pooled threads */
    _Atomic uint64_t started;   /* jobs this pooled thread took */
    _Atomic uint64_t wait[FA_M_BUCKETS + 1];
    _Atomic uint64_t wait_ns;
    _Atomic uint64_t handler_ns, handler_calls;
    /* WebSockets: accepted, ended (by close kind), whole messages each way */
    _Atomic uint64_t ws_opened, ws_closed[FA_M_WS_CLOSE_KINDS], ws_msgs_in, ws_msgs_out;
    /* --- gauges (a gone process's are dropped, not folded) */
    _Atomic int64_t conns_open[FA_M_CONN_KINDS];
    _Atomic int64_t ws_open;
    /* --- identity, written before the thread starts */
    _Atomic int used;
    char interp[32]; /* the interpreter this thread runs handlers in */
} __attribute__((aligned(64))) fa_metrics_block;

typedef struct fa_metrics_region fa_metrics_region;

/* Single-writer updates: a relaxed load and store, so no locked
 * instruction; the scraper's relaxed loads see each value whole. */
static inline void fa_m_add(_Atomic uint64_t *p, uint64_t n)
{
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline void fa_m_gauge(_Atomic int64_t *p, int64_t d)
{
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + d,
                          memory_order_relaxed);
}
/* Counts one observation of ns nanoseconds in a histogram. */
void fa_m_observe(_Atomic uint64_t *buckets, _Atomic uint64_t *sum_ns, uint64_t ns);
uint64_t fa_m_now_ns(void);
int fa_m_method_index(const char *m, size_t n);

/* --- the region ------------------------------------------------------ */

/* Bytes of a region with nslots process slots of nblocks threads each. */
size_t fa_metrics_region_size(unsigned nslots, unsigned nblocks);
/* Maps a region (MAP_SHARED | MAP_ANONYMOUS: children forked later share
 * it).  Returns NULL with errno set. */
fa_metrics_region *fa_metrics_region_new(unsigned nslots, unsigned nblocks);
/* Uses `size` bytes at `mem` (already shared, e.g. a Python mmap made by
 * the supervisor) as a region, initializing it when its magic is absent.
 * Returns NULL when size is too small for the layout it says. */
fa_metrics_region *fa_metrics_region_attach(void *mem, size_t size, unsigned nslots,
                                            unsigned nblocks);
void fa_metrics_region_free(fa_metrics_region *r); /* only for regions from _new */
unsigned fa_metrics_region_slots(const fa_metrics_region *r);
unsigned fa_metrics_region_blocks(const fa_metrics_region *r);

/* Marks slot as serving for process pid and returns its block idx (NULL
 * when idx is beyond the slot: that thread goes uncounted).  interp labels
 * its handler time. */
fa_metrics_block *fa_metrics_block_claim(fa_metrics_region *r, unsigned slot, unsigned idx,
                                         const char *interp);
void fa_metrics_slot_open(fa_metrics_region *r, unsigned slot, pid_t pid);
/* The process of slot is gone: its counters move to `retired` (so totals
 * never go down), its gauges are dropped, the slot is free again. */
void fa_metrics_retire(fa_metrics_region *r, unsigned slot);
/* Supervisor events. */
void fa_metrics_count_restart(fa_metrics_region *r, int cause);
void fa_metrics_count_recycle(fa_metrics_region *r, int cause);
/* Cause names <-> indexes ("exit", "signal"; "max_requests", "max_rss",
 * "lifetime", "sighup", "reload").  -1 when unknown. */
int fa_metrics_restart_cause(const char *name);
int fa_metrics_recycle_cause(const char *name);

/* Appends the Prometheus text exposition (version 0.0.4) of the sums of
 * every slot to out.  Returns 0, or -1 when out of memory. */
int fa_metrics_render(fa_metrics_region *r, fa_buf *out);

/* --- the scrape listener: its own thread, blocking I/O ---------------- */

typedef struct fa_metrics_http fa_metrics_http;
/* Listens on host:port (port 0: any) and serves GET /metrics from r.
 * Returns NULL with err set. */
fa_metrics_http *fa_metrics_http_start(fa_metrics_region *r, const char *host, int port, char *err,
                                       size_t err_size);
int fa_metrics_http_port(const fa_metrics_http *h);
/* Stops the thread and closes the listener. */
void fa_metrics_http_stop(fa_metrics_http *h);

#endif
