/* pool.c - pooled handler threads.
 *
 * Routes added with pooled=True run here, so a handler that blocks (sleep,
 * blocking I/O) holds a pooled thread instead of an event loop.  P threads
 * share I interpreters (thread p uses interpreter p % I); threads of one
 * interpreter take turns on its GIL, which blocking calls release.
 *
 * Worker w -> thread p: ring p->from_worker[w] (producer w, consumer p),
 * wake-up through p's eventfd.  Thread p -> worker w: ring
 * w->from_pool[p], wake-up through w's eventfd.  A worker never has more
 * than the ring size in flight with one thread, so the answer ring cannot
 * overflow.
 */
#include "server_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

fa_job *fa_job_new(const fa_request *req)
{
    size_t bytes = req->method_len + req->path_len + req->query_len + req->body_len + req->client_len +
                   req->allow_len + req->tls_subject_len;
    for (size_t i = 0; i < req->num_headers; i++)
        bytes += req->headers[i].name_len + req->headers[i].value_len;
    for (size_t i = 0; i < req->num_params; i++)
        bytes += req->params[i].name_len + req->params[i].value_len;
    size_t hdr_bytes = (req->num_headers + req->num_params) * sizeof(fa_header);
    fa_job *job = malloc(sizeof(fa_job) + hdr_bytes + bytes);
    if (job == NULL)
        return NULL;
    memset(job, 0, sizeof(*job));
    fa_response_init(&job->resp);
    job->headers = (fa_header *)job->data;
    char *p = job->data + hdr_bytes;
#define FA_COPY(dst, src, n)      \
    do {                          \
        if ((n) > 0) /* src may be NULL when empty */ \
            memcpy(p, (src), (n)); \
        (dst) = p;                \
        p += (n);                 \
    } while (0)
    fa_request *r = &job->req;
    *r = *req;
    FA_COPY(r->method, req->method, req->method_len);
    FA_COPY(r->path, req->path, req->path_len);
    FA_COPY(r->query, req->query, req->query_len);
    FA_COPY(r->body, req->body, req->body_len);
    FA_COPY(r->client, req->client, req->client_len);
    r->client_obj = NULL; /* another interpreter: built afresh there */
    FA_COPY(r->allow, req->allow, req->allow_len);
    if (req->tls_subject != NULL)
        FA_COPY(r->tls_subject, req->tls_subject, req->tls_subject_len);
    for (size_t i = 0; i < req->num_headers; i++) {
        fa_header *h = &job->headers[i];
        h->name_len = req->headers[i].name_len;
        h->value_len = req->headers[i].value_len;
        FA_COPY(h->name, req->headers[i].name, h->name_len);
        FA_COPY(h->value, req->headers[i].value, h->value_len);
    }
    fa_header *params = job->headers + req->num_headers;
    for (size_t i = 0; i < req->num_params; i++) {
        fa_header *h = &params[i];
        h->name_len = req->params[i].name_len;
        h->value_len = req->params[i].value_len;
        FA_COPY(h->name, req->params[i].name, h->name_len);
        FA_COPY(h->value, req->params[i].value, h->value_len);
    }
#undef FA_COPY
    r->headers = job->headers;
    r->params = params;
    return job;
}

void fa_job_free(fa_job *job)
{
    if (job == NULL)
        return;
    fa_response_free(&job->resp);
    free(job);
}

int fa_pool_init(fa_pool_thread *p, fa_server *srv, int id, char *err, size_t err_size)
{
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->srv = srv;
    atomic_init(&p->inflight, 0);
    p->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (p->wake_fd < 0) {
        snprintf(err, err_size, "eventfd: %s", strerror(errno));
        return -1;
    }
    p->from_worker = calloc((size_t)srv->num_workers, sizeof(fa_ring));
    if (p->from_worker == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (int w = 0; w < srv->num_workers; w++)
        if (fa_ring_init(&p->from_worker[w], FA_POOL_RING_SIZE) < 0) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
    return 0;
}

void fa_pool_destroy(fa_pool_thread *p)
{
    for (int w = 0; p->from_worker && w < p->srv->num_workers; w++) {
        fa_job *job;
        if (p->from_worker[w].slots)
            while ((job = fa_ring_pop(&p->from_worker[w])) != NULL)
                fa_job_free(job);
        fa_ring_destroy(&p->from_worker[w]);
    }
    free(p->from_worker);
    p->from_worker = NULL;
    if (p->wake_fd >= 0)
        close(p->wake_fd);
    p->wake_fd = -1;
}

int fa_pool_submit(fa_server *srv, fa_worker *w, fa_job *job)
{
    /* least loaded thread first; ties go to the lowest id */
    int best = -1, best_load = 0;
    for (int i = 0; i < srv->num_pool; i++) {
        if (w->pool_inflight[i] >= FA_POOL_RING_SIZE - 1)
            continue;
        int load = atomic_load_explicit(&srv->pool[i].inflight, memory_order_relaxed);
        if (best < 0 || load < best_load) {
            best = i;
            best_load = load;
        }
    }
    if (best < 0)
        return -1;
    job->pool_id = best;
    fa_obs_pool_submit(w, job, 1);
    if (fa_pool_send(srv, w, job) < 0) {
        fa_obs_pool_submit(w, job, -1);
        return -1;
    }
    return 0;
}

int fa_pool_send(fa_server *srv, fa_worker *w, fa_job *job)
{
    fa_pool_thread *p = &srv->pool[job->pool_id];
    if (w->pool_inflight[job->pool_id] >= FA_POOL_RING_SIZE - 1 ||
        !fa_ring_push(&p->from_worker[w->id], job))
        return -1;
    w->pool_inflight[job->pool_id]++;
    atomic_fetch_add(&p->inflight, 1);
    uint64_t one = 1;
    ssize_t n = write(p->wake_fd, &one, sizeof(one));
    (void)n;
    return 0;
}

/* The next batch of a streamed answer into job->resp.body; at its end (or
 * failure) the producer is closed.  Attached. */
static void fa_pool_pull(fa_pythread *py, fa_job *job)
{
    fa_buf_reset(&job->resp.body);
    int r = fa_pythread_pull(py, job->producer, &job->resp.body, FA_POOL_STREAM_BATCH, NULL);
    if (r != FA_PULL_MORE) { /* END or ERROR: a blocking pull never WAITs */
        fa_pythread_stream_close(py, job->producer);
        job->producer = NULL;
        job->stream_failed = r == FA_PULL_ERROR;
    }
}

/* At stop, after every worker was joined (pool_stop is set only then):
 * answers this thread sent that no worker took may hold a streamed body's
 * producer, which belongs to this thread's interpreter.  Close them here,
 * with this thread now the rings' only user.  Attached. */
static void fa_pool_drop_answers(fa_server *srv, fa_pool_thread *p, fa_pythread *py)
{
    for (int w = 0; w < srv->num_workers; w++) {
        fa_ring *ring = &srv->workers[w].from_pool[p->id];
        fa_job *job;
        while ((job = fa_ring_pop(ring)) != NULL) {
            if (job->producer != NULL)
                fa_pythread_stream_close(py, job->producer);
            job->producer = NULL;
            fa_job_free(job);
        }
    }
    fa_pythread_run_after(py);
}

/* Runs one job on this pooled thread.  Attached. */
static void fa_pool_run(fa_pythread *py, fa_job *job)
{
    switch (job->kind) {
    case FA_JOB_CALL: {
        void *handle = NULL, *body = NULL;
        fa_pythread_call(py, job->handler_id, &job->req, &job->resp, NULL, &handle, &body);
        if (job->resp.stream == NULL)
            break;
        /* a streamed answer: its head leaves with the first batch; a short
         * one that ends within it goes out whole, with a content-length */
        job->producer = job->resp.stream;
        job->resp.stream = NULL;
        fa_pool_pull(py, job);
        if (job->stream_failed) {
            job->stream_failed = 0;
            fa_response_simple(&job->resp, 500, "Internal Server Error");
        }
        break;
    }
    case FA_JOB_PULL:
        fa_pool_pull(py, job);
        break;
    case FA_JOB_CLOSE:
        fa_pythread_stream_close(py, job->producer);
        job->producer = NULL;
        break;
    }
}

void *fa_pool_main(void *arg)
{
    fa_pool_thread *p = arg;
    fa_server *srv = p->srv;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    fa_pythread *py = fa_pythread_new(p->interp);
    if (py == NULL) {
        fa_log("pooled thread %d: cannot create a Python thread state", p->id);
        pthread_mutex_lock(&srv->mu);
        srv->start_failed = 1;
        pthread_cond_broadcast(&srv->cond);
        pthread_mutex_unlock(&srv->mu);
        return NULL;
    }
    /* coroutine handlers on a pooled route run to the end on this thread;
     * hooks run once per interpreter: on its first thread (p < I); never
     * in main-interpreter mode, where pinned worker 0 runs them */
    int hooks = !srv->main_interp && p->id < srv->num_pool_interps;
    fa_pythread_attach(py);
    fa_pythread_aio_init(py, 1, NULL, NULL);
    fa_server_thread_started(srv, py, hooks);
    fa_pythread_detach(py);
    for (;;) {
        int did = 0;
        for (int w = 0; w < srv->num_workers; w++) {
            fa_job *job;
            while ((job = fa_ring_pop(&p->from_worker[w])) != NULL) {
                did = 1;
                fa_obs_pool_take(p, job);
                fa_pythread_attach(py);
                uint64_t t0 = job->kind == FA_JOB_CALL ? fa_obs_handler_begin(p->mb) : 0;
                fa_pool_run(py, job);
                fa_obs_handler_end(p->mb, t0);
                fa_pythread_detach(py);
                atomic_fetch_sub(&p->inflight, 1);
                fa_worker *dst = &srv->workers[job->worker_id];
                /* cannot fail: see the comment at the top */
                fa_ring_push(&dst->from_pool[p->id], job);
                fa_worker_wake(dst);
                if (fa_pythread_after_pending(py)) {
                    /* res['after'], now that the answer is on its way */
                    fa_pythread_attach(py);
                    fa_pythread_run_after(py);
                    fa_pythread_detach(py);
                }
            }
        }
        if (did)
            continue;
        if (atomic_load(&srv->pool_stop))
            break;
        uint64_t v;
        ssize_t n = read(p->wake_fd, &v, sizeof(v)); /* sleeps until a job or stop */
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            break;
    }
    fa_pythread_attach(py);
    fa_pool_drop_answers(srv, p, py);
    fa_server_thread_stopping(srv, py, hooks);
    fa_pythread_detach(py);
    fa_pythread_free(py);
    return NULL;
}
