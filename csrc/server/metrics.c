/* metrics.c - the metrics region, the Prometheus text rendering of its
 * sums, and the small blocking HTTP listener that serves it (see
 * metrics.h for the layout and who writes what).
 *
 * The listener has its own thread and socket: a scrape never runs on an
 * event loop and never takes a lock a request takes.  It answers one
 * connection at a time with a short deadline; scrapes are rare and small.
 */
#include "metrics.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define FA_M_MAGIC 0x31534d4952544641ull /* "FATRIMS1" */

typedef struct fa_metrics_slot {
    _Atomic int32_t pid;
    _Atomic int32_t live; /* a process serves from this slot */
} __attribute__((aligned(64))) fa_metrics_slot;

struct fa_metrics_region {
    uint64_t magic;
    uint32_t nslots, nblocks;
    size_t size;
    int mapped;          /* made by fa_metrics_region_new (munmap at free) */
    pthread_mutex_t mu;  /* process-shared: scrape against retire only */
    _Atomic uint64_t restarts[FA_M_RESTART_CAUSES];
    _Atomic uint64_t recycles[FA_M_RECYCLE_CAUSES];
    fa_metrics_block retired; /* counters of processes that are gone */
    /* then nslots x (fa_metrics_slot, nblocks x fa_metrics_block) */
};

static const uint64_t fa_m_bounds_ns[FA_M_BUCKETS] = {
    100000ull,    250000ull,    500000ull,    1000000ull,   2500000ull,    5000000ull,
    10000000ull,  25000000ull,  50000000ull,  100000000ull, 250000000ull,  500000000ull,
    1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull,
};
static const char *const fa_m_bounds_txt[FA_M_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",   "0.1",     "0.25",   "0.5",   "1",      "2.5",   "5",    "10",
};
static const char *const fa_m_proto_txt[FA_M_PROTOS] = {"HTTP/1.0", "HTTP/1.1", "HTTP/2"};
static const char *const fa_m_method_txt[FA_M_METHODS] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"};
static const char *const fa_m_class_txt[FA_M_CLASSES] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const fa_m_ws_close_txt[FA_M_WS_CLOSE_KINDS] = {"normal", "going_away", "abnormal",
                                                                    "error", "application"};
static const char *const fa_m_conn_txt[FA_M_CONN_KINDS] = {"unknown", "HTTP/1.1", "HTTP/2"};
static const char *const fa_m_err_txt[FA_M_ERR_KINDS] = {
    "400", "408", "413", "414", "431", "505", "other_status", "goaway", "rst_sent"};
static const char *const fa_m_restart_txt[FA_M_RESTART_CAUSES] = {"exit", "signal"};
static const char *const fa_m_recycle_txt[FA_M_RECYCLE_CAUSES] = {
    "max_requests", "max_rss", "lifetime", "sighup", "reload"};

uint64_t fa_m_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void fa_m_observe(_Atomic uint64_t *buckets, _Atomic uint64_t *sum_ns, uint64_t ns)
{
    int i = 0;
    while (i < FA_M_BUCKETS && ns > fa_m_bounds_ns[i])
        i++;
    fa_m_add(&buckets[i], 1);
    fa_m_add(sum_ns, ns);
}

int fa_m_method_index(const char *m, size_t n)
{
    for (int i = 0; i < FA_M_OTHER; i++)
        if (strlen(fa_m_method_txt[i]) == n && memcmp(fa_m_method_txt[i], m, n) == 0)
            return i;
    return FA_M_OTHER;
}

/* ------------------------------------------------------------------ */
/* the region                                                           */

static size_t fa_m_slot_bytes(unsigned nblocks)
{
    return sizeof(fa_metrics_slot) + (size_t)nblocks * sizeof(fa_metrics_block);
}

static size_t fa_m_header_bytes(void)
{
    return (sizeof(fa_metrics_region) + 63) & ~(size_t)63;
}

size_t fa_metrics_region_size(unsigned nslots, unsigned nblocks)
{
    return fa_m_header_bytes() + (size_t)nslots * fa_m_slot_bytes(nblocks);
}

static fa_metrics_slot *fa_m_slot(const fa_metrics_region *r, unsigned slot)
{
    return (fa_metrics_slot *)(void *)((char *)r + fa_m_header_bytes() +
                                       (size_t)slot * fa_m_slot_bytes(r->nblocks));
}

static fa_metrics_block *fa_m_block(const fa_metrics_region *r, unsigned slot, unsigned idx)
{
    return (fa_metrics_block *)(void *)((char *)fa_m_slot(r, slot) + sizeof(fa_metrics_slot) +
                                        (size_t)idx * sizeof(fa_metrics_block));
}

static int fa_m_init(fa_metrics_region *r, size_t size, unsigned nslots, unsigned nblocks)
{
    memset(r, 0, size);
    r->nslots = nslots;
    r->nblocks = nblocks;
    r->size = size;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    int rc = pthread_mutex_init(&r->mu, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0)
        return -1;
    atomic_thread_fence(memory_order_release);
    r->magic = FA_M_MAGIC;
    return 0;
}

fa_metrics_region *fa_metrics_region_new(unsigned nslots, unsigned nblocks)
{
    if (nslots == 0 || nblocks == 0) {
        errno = EINVAL;
        return NULL;
    }
    size_t size = fa_metrics_region_size(nslots, nblocks);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    fa_metrics_region *r = p;
    if (fa_m_init(r, size, nslots, nblocks) < 0) {
        munmap(p, size);
        errno = ENOMEM;
        return NULL;
    }
    r->mapped = 1;
    return r;
}

fa_metrics_region *fa_metrics_region_attach(void *mem, size_t size, unsigned nslots, unsigned nblocks)
{
    fa_metrics_region *r = mem;
    if (((uintptr_t)mem & 63) != 0 || size < fa_m_header_bytes())
        return NULL;
    if (r->magic == FA_M_MAGIC)
        return size >= fa_metrics_region_size(r->nslots, r->nblocks) ? r : NULL;
    if (nslots == 0 || nblocks == 0 || size < fa_metrics_region_size(nslots, nblocks))
        return NULL;
    return fa_m_init(r, size, nslots, nblocks) < 0 ? NULL : r;
}

void fa_metrics_region_free(fa_metrics_region *r)
{
    if (r == NULL || !r->mapped)
        return;
    pthread_mutex_destroy(&r->mu);
    munmap(r, r->size);
}

unsigned fa_metrics_region_slots(const fa_metrics_region *r) { return r->nslots; }
unsigned fa_metrics_region_blocks(const fa_metrics_region *r) { return r->nblocks; }

void fa_metrics_slot_open(fa_metrics_region *r, unsigned slot, pid_t pid)
{
    if (slot >= r->nslots)
        return;
    fa_metrics_slot *s = fa_m_slot(r, slot);
    atomic_store(&s->pid, (int32_t)pid);
    atomic_store(&s->live, 1);
}

fa_metrics_block *fa_metrics_block_claim(fa_metrics_region *r, unsigned slot, unsigned idx,
                                         const char *interp)
{
    if (slot >= r->nslots || idx >= r->nblocks)
        return NULL;
    fa_metrics_block *b = fa_m_block(r, slot, idx);
    snprintf(b->interp, sizeof(b->interp), "%s", interp);
    atomic_store_explicit(&b->used, 1, memory_order_release);
    return b;
}

/* The counters of a block as one array (every field before the gauges is
 * an _Atomic uint64_t). */
#define FA_M_NCOUNTERS (offsetof(fa_metrics_block, conns_open) / sizeof(uint64_t))

static void fa_m_fold(fa_metrics_block *dst, fa_metrics_block *src)
{
    _Atomic uint64_t *d = (_Atomic uint64_t *)(void *)dst, *s = (_Atomic uint64_t *)(void *)src;
    for (size_t i = 0; i < FA_M_NCOUNTERS; i++)
        fa_m_add(&d[i], atomic_load_explicit(&s[i], memory_order_relaxed));
}

void fa_metrics_retire(fa_metrics_region *r, unsigned slot)
{
    if (slot >= r->nslots)
        return;
    pthread_mutex_lock(&r->mu);
    fa_metrics_slot *s = fa_m_slot(r, slot);
    for (unsigned i = 0; i < r->nblocks; i++) {
        fa_metrics_block *b = fa_m_block(r, slot, i);
        if (!atomic_load(&b->used))
            continue;
        fa_m_fold(&r->retired, b);
        /* handler time stays visible under its interpreter's name only
         * while the process lives; the total moves to the retired sums */
        memset(b, 0, sizeof(*b));
    }
    /* nothing of a gone process is in flight any more */
    for (int p = 0; p < FA_M_PROTOS; p++)
        atomic_store(&r->retired.ended[p], atomic_load(&r->retired.begun[p]));
    atomic_store(&r->retired.started, atomic_load(&r->retired.submitted));
    atomic_store(&s->live, 0);
    atomic_store(&s->pid, 0);
    pthread_mutex_unlock(&r->mu);
}

void fa_metrics_count_restart(fa_metrics_region *r, int cause)
{
    if (cause >= 0 && cause < FA_M_RESTART_CAUSES)
        atomic_fetch_add(&r->restarts[cause], 1); /* the supervisor: any process may */
}

void fa_metrics_count_recycle(fa_metrics_region *r, int cause)
{
    if (cause >= 0 && cause < FA_M_RECYCLE_CAUSES)
        atomic_fetch_add(&r->recycles[cause], 1);
}

static int fa_m_lookup(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

int fa_metrics_restart_cause(const char *name)
{
    return fa_m_lookup(fa_m_restart_txt, FA_M_RESTART_CAUSES, name);
}

int fa_metrics_recycle_cause(const char *name)
{
    return fa_m_lookup(fa_m_recycle_txt, FA_M_RECYCLE_CAUSES, name);
}

/* ------------------------------------------------------------------ */
/* rendering                                                            */

#define FA_M_MAX_INTERPS 256

/* One scrape's sums. */
typedef struct fa_m_sums {
    fa_metrics_block all; /* counters summed; gauges of live slots only */
    int64_t conns_open[FA_M_CONN_KINDS];
    int64_t ws_open;
    uint64_t processes;
    size_t ninterp;
    struct {
        char name[32];
        uint64_t ns, calls;
    } interp[FA_M_MAX_INTERPS];
} fa_m_sums;

static uint64_t fa_m_ld(_Atomic uint64_t *p) { return atomic_load_explicit(p, memory_order_relaxed); }

static void fa_m_sum_block(fa_m_sums *s, fa_metrics_block *b, int live)
{
    fa_m_fold(&s->all, b);
    if (live) {
        for (int k = 0; k < FA_M_CONN_KINDS; k++)
            s->conns_open[k] += atomic_load_explicit(&b->conns_open[k], memory_order_relaxed);
        s->ws_open += atomic_load_explicit(&b->ws_open, memory_order_relaxed);
    }
    uint64_t calls = fa_m_ld(&b->handler_calls);
    if (calls == 0 || b->interp[0] == '\0')
        return;
    size_t i = 0;
    while (i < s->ninterp && strcmp(s->interp[i].name, b->interp) != 0)
        i++;
    if (i == s->ninterp) {
        if (s->ninterp == FA_M_MAX_INTERPS)
            return;
        snprintf(s->interp[i].name, sizeof(s->interp[i].name), "%s", b->interp);
        s->ninterp++;
    }
    s->interp[i].ns += fa_m_ld(&b->handler_ns);
    s->interp[i].calls += calls;
}

static int fa_m_printf(fa_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fa_m_printf(fa_buf *out, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    return fa_buf_append(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static int fa_m_family(fa_buf *out, const char *name, const char *type, const char *help)
{
    return fa_m_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int fa_m_histogram(fa_buf *out, const char *name, const char *help, _Atomic uint64_t *b,
                          _Atomic uint64_t *sum_ns)
{
    int rc = fa_m_family(out, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < FA_M_BUCKETS; i++) {
        cum += fa_m_ld(&b[i]);
        rc |= fa_m_printf(out, "%s_bucket{le=\"%s\"} %llu\n", name, fa_m_bounds_txt[i],
                          (unsigned long long)cum);
    }
    cum += fa_m_ld(&b[FA_M_BUCKETS]);
    rc |= fa_m_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    rc |= fa_m_printf(out, "%s_sum %.9f\n", name, (double)fa_m_ld(sum_ns) / 1e9);
    rc |= fa_m_printf(out, "%s_count %llu\n", name, (unsigned long long)cum);
    return rc;
}

int fa_metrics_render(fa_metrics_region *r, fa_buf *out)
{
    fa_m_sums *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    pthread_mutex_lock(&r->mu);
    /* "ended" before "begun" everywhere: both only grow, so the in-flight
     * difference read this way is never negative */
    uint64_t ended[FA_M_PROTOS] = {0}, started = 0;
    for (int p = 0; p < FA_M_PROTOS; p++)
        ended[p] += fa_m_ld(&r->retired.ended[p]);
    started += fa_m_ld(&r->retired.started);
    for (unsigned sl = 0; sl < r->nslots; sl++)
        for (unsigned i = 0; i < r->nblocks; i++) {
            fa_metrics_block *b = fa_m_block(r, sl, i);
            for (int p = 0; p < FA_M_PROTOS; p++)
                ended[p] += fa_m_ld(&b->ended[p]);
            started += fa_m_ld(&b->started);
        }
    atomic_thread_fence(memory_order_acquire);
    fa_m_sum_block(s, &r->retired, 0);
    for (unsigned sl = 0; sl < r->nslots; sl++) {
        fa_metrics_slot *slot = fa_m_slot(r, sl);
        int live = atomic_load(&slot->live);
        s->processes += (uint64_t)live;
        for (unsigned i = 0; i < r->nblocks; i++) {
            fa_metrics_block *b = fa_m_block(r, sl, i);
            if (atomic_load_explicit(&b->used, memory_order_acquire))
                fa_m_sum_block(s, b, live);
        }
    }
    uint64_t restarts[FA_M_RESTART_CAUSES], recycles[FA_M_RECYCLE_CAUSES];
    for (int i = 0; i < FA_M_RESTART_CAUSES; i++)
        restarts[i] = atomic_load(&r->restarts[i]);
    for (int i = 0; i < FA_M_RECYCLE_CAUSES; i++)
        recycles[i] = atomic_load(&r->recycles[i]);
    pthread_mutex_unlock(&r->mu);

    fa_metrics_block *a = &s->all;
    int rc = 0;
    rc |= fa_m_family(out, "fasterapi_requests_total", "counter",
                      "Requests finished, by method, status class and protocol.");
    for (int p = 0; p < FA_M_PROTOS; p++)
        for (int m = 0; m < FA_M_METHODS; m++)
            for (int c = 0; c < FA_M_CLASSES; c++) {
                uint64_t v = fa_m_ld(&a->requests[p][m][c]);
                if (v != 0)
                    rc |= fa_m_printf(out,
                                      "fasterapi_requests_total{method=\"%s\",status_class=\"%s\","
                                      "protocol=\"%s\"} %llu\n",
                                      fa_m_method_txt[m], fa_m_class_txt[c], fa_m_proto_txt[p],
                                      (unsigned long long)v);
            }
    rc |= fa_m_histogram(out, "fasterapi_request_duration_seconds",
                         "Time from a request's dispatch to the end of its answer.", a->duration,
                         &a->duration_ns);
    uint64_t begun_all = 0, ended_all = 0;
    for (int p = 0; p < FA_M_PROTOS; p++) {
        begun_all += fa_m_ld(&a->begun[p]);
        ended_all += ended[p];
    }
    rc |= fa_m_family(out, "fasterapi_requests_in_flight", "gauge",
                      "Requests dispatched and not finished yet.");
    rc |= fa_m_printf(out, "fasterapi_requests_in_flight %llu\n",
                      (unsigned long long)(begun_all - ended_all));
    rc |= fa_m_family(out, "fasterapi_streams_open", "gauge",
                      "HTTP/2 streams carrying a request not finished yet.");
    rc |= fa_m_printf(out, "fasterapi_streams_open %llu\n",
                      (unsigned long long)(fa_m_ld(&a->begun[FA_M_PROTO_2]) - ended[FA_M_PROTO_2]));
    rc |= fa_m_family(out, "fasterapi_requests_queued", "gauge",
                      "Requests handed to pooled threads and not picked up yet.");
    rc |= fa_m_printf(out, "fasterapi_requests_queued %llu\n",
                      (unsigned long long)(fa_m_ld(&a->submitted) - started));
    rc |= fa_m_histogram(out, "fasterapi_pool_wait_seconds",
                         "Time a pooled request waited for its thread (hand-off).", a->wait,
                         &a->wait_ns);
    rc |= fa_m_family(out, "fasterapi_bytes_received_total", "counter",
                      "Bytes read from clients (after TLS decryption).");
    rc |= fa_m_printf(out, "fasterapi_bytes_received_total %llu\n",
                      (unsigned long long)fa_m_ld(&a->bytes_in));
    rc |= fa_m_family(out, "fasterapi_bytes_sent_total", "counter",
                      "Bytes written to clients (before TLS encryption).");
    rc |= fa_m_printf(out, "fasterapi_bytes_sent_total %llu\n",
                      (unsigned long long)fa_m_ld(&a->bytes_out));
    rc |= fa_m_family(out, "fasterapi_connections_total", "counter", "Connections accepted.");
    rc |= fa_m_printf(out, "fasterapi_connections_total %llu\n",
                      (unsigned long long)fa_m_ld(&a->accepted));
    rc |= fa_m_family(out, "fasterapi_connections_open", "gauge",
                      "Open connections by protocol (unknown: no request yet).");
    for (int k = 0; k < FA_M_CONN_KINDS; k++)
        rc |= fa_m_printf(out, "fasterapi_connections_open{protocol=\"%s\"} %lld\n",
                          fa_m_conn_txt[k], (long long)s->conns_open[k]);
    /* --- WebSockets (ws/conn.c) --- */
    rc |= fa_m_family(out, "fasterapi_websockets_opened_total", "counter",
                      "WebSockets accepted (HTTP/1.1 101 or an HTTP/2 extended CONNECT's 200).");
    rc |= fa_m_printf(out, "fasterapi_websockets_opened_total %llu\n",
                      (unsigned long long)fa_m_ld(&a->ws_opened));
    rc |= fa_m_family(out, "fasterapi_websockets_open", "gauge", "WebSockets accepted and not ended yet.");
    rc |= fa_m_printf(out, "fasterapi_websockets_open %lld\n", (long long)s->ws_open);
    rc |= fa_m_family(out, "fasterapi_websockets_closed_total", "counter",
                      "WebSockets ended, by close code class: normal 1000, going_away 1001, abnormal "
                      "1006 (no close frame), error (other 1xxx codes), application 3000-4999.");
    for (int k = 0; k < FA_M_WS_CLOSE_KINDS; k++)
        rc |= fa_m_printf(out, "fasterapi_websockets_closed_total{code_class=\"%s\"} %llu\n",
                          fa_m_ws_close_txt[k], (unsigned long long)fa_m_ld(&a->ws_closed[k]));
    rc |= fa_m_family(out, "fasterapi_websocket_messages_total", "counter",
                      "Whole WebSocket data messages, by direction (in: from clients).");
    rc |= fa_m_printf(out, "fasterapi_websocket_messages_total{direction=\"in\"} %llu\n",
                      (unsigned long long)fa_m_ld(&a->ws_msgs_in));
    rc |= fa_m_printf(out, "fasterapi_websocket_messages_total{direction=\"out\"} %llu\n",
                      (unsigned long long)fa_m_ld(&a->ws_msgs_out));
    rc |= fa_m_family(out, "fasterapi_handler_seconds_total", "counter",
                      "Time spent running handlers, by interpreter: the calls, and the asyncio steps "
                      "that resume suspended coroutine and WebSocket handlers.");
    for (size_t i = 0; i < s->ninterp; i++)
        rc |= fa_m_printf(out, "fasterapi_handler_seconds_total{interpreter=\"%s\"} %.9f\n",
                          s->interp[i].name, (double)s->interp[i].ns / 1e9);
    rc |= fa_m_family(out, "fasterapi_handler_calls_total", "counter",
                      "Handler calls, by interpreter.");
    for (size_t i = 0; i < s->ninterp; i++)
        rc |= fa_m_printf(out, "fasterapi_handler_calls_total{interpreter=\"%s\"} %llu\n",
                          s->interp[i].name, (unsigned long long)s->interp[i].calls);
    rc |= fa_m_family(out, "fasterapi_admission_refusals_total", "counter",
                      "Requests turned away by admission control (503, REFUSED_STREAM).");
    rc |= fa_m_printf(out, "fasterapi_admission_refusals_total %llu\n",
                      (unsigned long long)fa_m_ld(&a->refused));
    rc |= fa_m_family(out, "fasterapi_protocol_errors_total", "counter",
                      "Protocol errors by kind: error answers given without a handler (by "
                      "status), GOAWAY with an error code, RST_STREAM sent with an error code.");
    for (int k = 0; k < FA_M_ERR_KINDS; k++)
        rc |= fa_m_printf(out, "fasterapi_protocol_errors_total{kind=\"%s\"} %llu\n", fa_m_err_txt[k],
                          (unsigned long long)fa_m_ld(&a->errors[k]));
    rc |= fa_m_family(out, "fasterapi_processes", "gauge", "Server processes serving.");
    rc |= fa_m_printf(out, "fasterapi_processes %llu\n", (unsigned long long)s->processes);
    rc |= fa_m_family(out, "fasterapi_process_restarts_total", "counter",
                      "Server processes restarted after they died, by cause.");
    for (int i = 0; i < FA_M_RESTART_CAUSES; i++)
        rc |= fa_m_printf(out, "fasterapi_process_restarts_total{cause=\"%s\"} %llu\n",
                          fa_m_restart_txt[i], (unsigned long long)restarts[i]);
    rc |= fa_m_family(out, "fasterapi_process_recycles_total", "counter",
                      "Server processes replaced on purpose, by cause.");
    for (int i = 0; i < FA_M_RECYCLE_CAUSES; i++)
        rc |= fa_m_printf(out, "fasterapi_process_recycles_total{cause=\"%s\"} %llu\n",
                          fa_m_recycle_txt[i], (unsigned long long)recycles[i]);
    free(s);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* the scrape listener                                                  */

struct fa_metrics_http {
    fa_metrics_region *region;
    int fd;
    int stop_fd; /* eventfd: stop */
    int port;
    pthread_t thread;
};

/* Whole write with the socket's send timeout; gives up on error. */
static void fa_m_send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void fa_m_answer(int fd, const char *status, const char *type, const char *body, size_t len,
                        int head_only)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n"
                     "connection: close\r\n\r\n",
                     status, type, len);
    fa_m_send_all(fd, head, (size_t)n);
    if (!head_only)
        fa_m_send_all(fd, body, len);
}

/* One scrape connection: reads the request head (2 s at most), answers,
 * closes. */
static void fa_m_serve_one(fa_metrics_http *h, int fd)
{
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char req[4096];
    size_t have = 0;
    uint64_t deadline = fa_m_now_ns() + 2000000000ull;
    while (have < sizeof(req) - 1) {
        ssize_t n = recv(fd, req + have, sizeof(req) - 1 - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        have += (size_t)n;
        req[have] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n") != NULL)
            break;
        if (fa_m_now_ns() > deadline)
            return;
    }
    req[have] = '\0';
    int head_only = strncmp(req, "HEAD ", 5) == 0;
    const char *target = head_only ? req + 5 : strncmp(req, "GET ", 4) == 0 ? req + 4 : NULL;
    static const char text_type[] = "text/plain; charset=utf-8";
    if (target == NULL) {
        static const char msg[] = "only GET /metrics here\n";
        fa_m_answer(fd, "405 Method Not Allowed", text_type, msg, sizeof(msg) - 1, 0);
        return;
    }
    size_t tlen = strcspn(target, " ?\r\n");
    if (!((tlen == 8 && memcmp(target, "/metrics", 8) == 0) || (tlen == 1 && target[0] == '/'))) {
        static const char msg[] = "not found: the metrics are at /metrics\n";
        fa_m_answer(fd, "404 Not Found", text_type, msg, sizeof(msg) - 1, head_only);
        return;
    }
    fa_buf body = FA_BUF_INIT;
    if (fa_metrics_render(h->region, &body) < 0) {
        static const char msg[] = "out of memory\n";
        fa_m_answer(fd, "500 Internal Server Error", text_type, msg, sizeof(msg) - 1, head_only);
    } else {
        fa_m_answer(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body.data, body.len,
                    head_only);
    }
    fa_buf_free(&body);
}

static void *fa_m_http_main(void *arg)
{
    fa_metrics_http *h = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals belong to the main thread */
    for (;;) {
        struct pollfd pf[2] = {{h->fd, POLLIN, 0}, {h->stop_fd, POLLIN, 0}};
        int n = poll(pf, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (pf[1].revents & POLLIN))
            break;
        if (pf[0].revents & POLLIN) {
            int c = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0)
                continue;
            fa_m_serve_one(h, c);
            close(c);
        }
    }
    return NULL;
}

fa_metrics_http *fa_metrics_http_start(fa_metrics_region *r, const char *host, int port, char *err,
                                       size_t err_size)
{
    struct addrinfo hints = {0}, *res = NULL;
    char ports[16];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(ports, sizeof(ports), "%d", port);
    int rc = getaddrinfo(host && host[0] ? host : NULL, ports, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_size, "cannot resolve metrics host %s: %s", host, gai_strerror(rc));
        return NULL;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, err_size, "cannot listen on %s:%d (metrics): %s", host, port, strerror(saved));
        return NULL;
    }
    fa_metrics_http *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        close(fd);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    h->region = r;
    h->fd = fd;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    h->port = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        h->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    h->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (h->stop_fd < 0 || pthread_create(&h->thread, NULL, fa_m_http_main, h) != 0) {
        snprintf(err, err_size, "cannot start the metrics thread: %s", strerror(errno));
        if (h->stop_fd >= 0)
            close(h->stop_fd);
        close(fd);
        free(h);
        return NULL;
    }
    return h;
}

int fa_metrics_http_port(const fa_metrics_http *h) { return h->port; }

void fa_metrics_http_stop(fa_metrics_http *h)
{
    if (h == NULL)
        return;
    uint64_t one = 1;
    ssize_t n = write(h->stop_fd, &one, sizeof(one));
    (void)n;
    pthread_join(h->thread, NULL);
    close(h->stop_fd);
    close(h->fd);
    free(h);
}
