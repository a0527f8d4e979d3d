/* server.c - configuration, start and graceful stop of the whole server.
 *
 * Start order: listeners (so a busy port fails before anything else
 * exists), interpreters one at a time, then threads.  Stop order: workers
 * (they finish in-flight requests within the grace period), then pooled
 * threads, then interpreters; every thread is joined and every interpreter
 * ended, so the server can be started again in the same process.
 */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "server_internal.h"

void fa_config_defaults(fa_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->host, sizeof(cfg->host), "0.0.0.0");
    cfg->port = 8080;
    cfg->backlog = 4096;
    cfg->max_header_size = 16384;
    cfg->max_headers = 100;
    cfg->max_target_size = 8192;
    cfg->max_body_size = 16u << 20;
    cfg->max_concurrent_streams = 100;
    cfg->header_timeout = 10.0;
    cfg->body_timeout = 30.0;
    cfg->keepalive_timeout = 5.0;
    cfg->graceful_timeout = 10.0;
    cfg->max_inflight = 10000;
    cfg->num_processes = 1;
    cfg->kill_timeout = 5.0;
}

fa_server *fa_server_new(const fa_config *cfg)
{
    fa_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    srv->cfg = *cfg;
    fa_router_init(&srv->router);
    fa_router_init(&srv->ws_router);
    srv->fallback.handler_id = -1;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cond, NULL);
    srv->state = FA_SRV_IDLE;
    fa_obs_config_defaults(&srv->obs);
    return srv;
}

void fa_server_free(fa_server *srv)
{
    if (srv == NULL)
        return;
    for (size_t i = 0; i < srv->num_handlers; i++) {
        free(srv->handlers[i].module);
        free(srv->handlers[i].qualname);
        free(srv->handlers[i].label);
        free(srv->handlers[i].route);
    }
    free(srv->handlers);
    free(srv->listen_fds);
    free(srv->start_hooks);
    free(srv->stop_hooks);
    fa_router_free(&srv->router);
    fa_router_free(&srv->ws_router);
    free(srv->ws_opts);
    fa_tls_free(srv->tls);
    fa_alog_format_free(srv->alog_fmt);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cond);
    free(srv);
}

fa_config *fa_server_config(fa_server *srv) { return &srv->cfg; }

int fa_server_running(fa_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    int r = srv->state != FA_SRV_IDLE;
    pthread_mutex_unlock(&srv->mu);
    return r;
}

int fa_server_port(fa_server *srv) { return srv->cfg.port; }

int fa_server_main_interp(fa_server *srv) { return srv->main_interp; }

/* host:port for the log: the configured one, or what an inherited listener
 * (the supervisor's, --fd, --uds) is bound to. */
static void fa_server_where(fa_server *srv, char *out, size_t size)
{
    snprintf(out, size, "%s:%d", srv->cfg.host, srv->cfg.port);
    if (srv->num_listen_fds == 0)
        return;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    if (getsockname(srv->listen_fds[0], (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
        snprintf(out, size, "unix:%.200s", un->sun_path);
    } else if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)) != NULL)
            snprintf(out, size, "%s:%d", host, ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)) != NULL)
            snprintf(out, size, "[%s]:%d", host, ntohs(in6->sin6_port));
    }
}

int fa_server_set_listeners(fa_server *srv, const int *fds, int n)
{
    if (fa_server_running(srv))
        return -1;
    int *p = NULL;
    if (n > 0 && (p = malloc((size_t)n * sizeof(int))) == NULL)
        return -1;
    if (n > 0)
        memcpy(p, fds, (size_t)n * sizeof(int));
    free(srv->listen_fds);
    srv->listen_fds = p;
    srv->num_listen_fds = n;
    return 0;
}

unsigned long long fa_server_requests(fa_server *srv)
{
    unsigned long long n = 0;
    pthread_mutex_lock(&srv->mu);
    if (srv->state == FA_SRV_RUNNING && srv->workers != NULL)
        for (int i = 0; i < srv->num_workers; i++)
            n += atomic_load_explicit(&srv->workers[i].requests, memory_order_relaxed);
    pthread_mutex_unlock(&srv->mu);
    return n;
}

int fa_server_has_tls(fa_server *srv) { return srv->tls != NULL; }

void fa_server_set_proxy(fa_server *srv, const fa_proxy *proxy) { srv->proxy = *proxy; }

int fa_server_set_obs(fa_server *srv, const fa_obs_config *cfg, char *err, size_t err_size)
{
    fa_alog_format *f = NULL;
    if (cfg->access_log) {
        f = fa_alog_format_compile(cfg->access_log_format[0] ? cfg->access_log_format
                                                             : FA_ALOG_DEFAULT_FORMAT,
                                   err, err_size);
        if (f == NULL)
            return -1;
    }
    fa_alog_format_free(srv->alog_fmt);
    srv->alog_fmt = f;
    srv->obs = *cfg;
    return 0;
}

int fa_server_metrics_port(fa_server *srv) { return fa_obs_metrics_port(srv); }

fa_obs_config *fa_server_obs(fa_server *srv) { return &srv->obs; }

void fa_server_set_tls(fa_server *srv, fa_tls *tls)
{
    fa_tls_free(srv->tls);
    srv->tls = tls;
}

int fa_server_reload_tls(fa_server *srv, char *err, size_t err_size, int *kind, int *errnum)
{
    if (srv->tls == NULL) {
        snprintf(err, err_size, "the server has no TLS certificate to reload");
        *kind = FA_TLS_ERR_OTHER;
        *errnum = 0;
        return -1;
    }
    if (fa_tls_reload(srv->tls, err, err_size, kind, errnum) < 0)
        return -1;
    char line[1024];
    fa_tls_describe(srv->tls, line, sizeof(line));
    fa_log("Certificates reloaded: %s", line);
    return 0;
}

/* The next handler slot, grown if needed and zeroed; NULL when out of
 * memory.  It counts once fa_handler_fill() succeeded and the caller
 * increments num_handlers. */
static fa_handler_ref *fa_handler_slot(fa_server *srv)
{
    if (srv->num_handlers == srv->cap_handlers) {
        size_t cap = srv->cap_handlers ? srv->cap_handlers * 2 : 8;
        fa_handler_ref *p = realloc(srv->handlers, cap * sizeof(*p));
        if (p == NULL)
            return NULL;
        srv->handlers = p;
        srv->cap_handlers = cap;
    }
    fa_handler_ref *h = &srv->handlers[srv->num_handlers];
    memset(h, 0, sizeof(*h));
    return h;
}

/* Copies what a handler ref holds; its label is "<kind>:<name>".  Returns
 * 0, or -1 when out of memory (h is left empty). */
static int fa_handler_fill(fa_handler_ref *h, const char *module, const char *qualname,
                           const char *kind, const char *name, const char *route)
{
    size_t label_len = strlen(kind) + strlen(name) + 2;
    h->module = strdup(module);
    h->qualname = strdup(qualname);
    h->label = malloc(label_len);
    h->route = strdup(route);
    if (h->module == NULL || h->qualname == NULL || h->label == NULL || h->route == NULL) {
        free(h->module);
        free(h->qualname);
        free(h->label);
        free(h->route);
        memset(h, 0, sizeof(*h));
        return -1;
    }
    snprintf(h->label, label_len, "%s:%s", kind, name);
    return 0;
}

/* What fa_router_add()'s failure rc means, in err; what names the route
 * ("a route for GET /x", "a WebSocket route for /x"). */
static void fa_route_error(int rc, const char *what, const char *path, char *err, size_t err_size)
{
    if (rc == -2)
        snprintf(err, err_size, "%s is already registered", what);
    else if (rc == -3)
        snprintf(err, err_size,
                 "bad path pattern %s: a parameter is a whole segment like {name} or "
                 "{name:path} (last segment only), with distinct names, at most %d",
                 path, FA_MAX_PATH_PARAMS);
    else
        snprintf(err, err_size, "out of memory");
}

int fa_server_add_route(fa_server *srv, const char *method, const char *path, const char *module,
                        const char *qualname, int pooled, int stream_body, char *err,
                        size_t err_size)
{
    fa_handler_ref *h = fa_handler_slot(srv);
    if (h == NULL)
        goto oom;
    int id = (int)srv->num_handlers;
    int rc = fa_router_add(&srv->router, method, path, id, pooled);
    if (rc < 0) {
        char what[512];
        snprintf(what, sizeof(what), "a route for %s %s", method, path);
        fa_route_error(rc, what, path, err, err_size);
        return -1;
    }
    /* on failure the route stays but points at a handler id that will
     * never load: the caller raises MemoryError and the server is not
     * started */
    if (fa_handler_fill(h, module, qualname, method, path, path) < 0)
        goto oom;
    h->stream_body = stream_body;
    srv->router.routes[rc].stream_body = stream_body;
    srv->num_handlers++;
    return id;
oom:
    snprintf(err, err_size, "out of memory");
    return -1;
}

int fa_server_add_websocket(fa_server *srv, const char *path, const char *module, const char *qualname,
                            const fa_ws_options *opt, char *err, size_t err_size)
{
    if (srv->ws_router.count == srv->cap_ws_opts) {
        size_t cap = srv->cap_ws_opts ? srv->cap_ws_opts * 2 : 4;
        fa_ws_options *p = realloc(srv->ws_opts, cap * sizeof(*p));
        if (p == NULL)
            goto oom;
        srv->ws_opts = p;
        srv->cap_ws_opts = cap;
    }
    fa_handler_ref *h = fa_handler_slot(srv);
    if (h == NULL)
        goto oom;
    int id = (int)srv->num_handlers;
    int rc = fa_router_add(&srv->ws_router, "GET", path, id, 0);
    if (rc < 0) {
        char what[512];
        snprintf(what, sizeof(what), "a WebSocket route for %s", path);
        fa_route_error(rc, what, path, err, err_size);
        return -1;
    }
    srv->ws_opts[rc] = *opt;
    if (fa_handler_fill(h, module, qualname, "WS", path, path) < 0)
        goto oom;
    srv->num_handlers++;
    return id;
oom:
    snprintf(err, err_size, "out of memory");
    return -1;
}

/* Appends a handler that no route names (a hook, the fallback): its label
 * is "<what>:<qualname>", its req['route'] "".  Returns its id, or -1 when
 * out of memory. */
static int fa_server_new_handler(fa_server *srv, const char *what, const char *module, const char *qualname)
{
    fa_handler_ref *h = fa_handler_slot(srv);
    if (h == NULL || fa_handler_fill(h, module, qualname, what, qualname, "") < 0)
        return -1;
    return (int)srv->num_handlers++;
}

int fa_server_add_hook(fa_server *srv, int stop, const char *module, const char *qualname, char *err,
                       size_t err_size)
{
    int **ids = stop ? &srv->stop_hooks : &srv->start_hooks;
    size_t *n = stop ? &srv->num_stop_hooks : &srv->num_start_hooks;
    int *p = realloc(*ids, (*n + 1) * sizeof(int));
    if (p == NULL)
        goto oom;
    *ids = p;
    int id = fa_server_new_handler(srv, stop ? "shutdown" : "startup", module, qualname);
    if (id < 0)
        goto oom;
    p[(*n)++] = id;
    return 0;
oom:
    snprintf(err, err_size, "out of memory");
    return -1;
}

int fa_server_set_fallback(fa_server *srv, const char *module, const char *qualname, int pooled, char *err,
                           size_t err_size)
{
    int id = fa_server_new_handler(srv, "fallback", module, qualname);
    if (id < 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    srv->fallback.handler_id = id; /* an earlier one stays loaded, unused */
    srv->fallback.pooled = pooled;
    return 0;
}

void fa_server_thread_started(fa_server *srv, fa_pythread *py, int run_hooks)
{
    int ok = 1;
    for (size_t i = 0; run_hooks && py && i < srv->num_start_hooks; i++)
        if (fa_pythread_run_hook(py, srv->start_hooks[i]) < 0)
            ok = 0;
    pthread_mutex_lock(&srv->mu);
    srv->threads_ready++;
    if (!ok)
        srv->start_failed = 1;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->mu);
}

void fa_server_thread_stopping(fa_server *srv, fa_pythread *py, int run_hooks)
{
    for (size_t i = 0; run_hooks && py && i < srv->num_stop_hooks; i++)
        fa_pythread_run_hook(py, srv->stop_hooks[i]); /* a failure is logged; the stop goes on */
}

/* 10,000 connections need more descriptors than the usual soft limit. */
static void fa_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int fa_any_pooled(const fa_server *srv)
{
    for (size_t i = 0; i < srv->router.count; i++)
        if (srv->router.routes[i].pooled)
            return 1;
    return 0;
}

/* Ends every interpreter start created.  GIL held. */
static void fa_server_end_interps(fa_server *srv)
{
    for (int i = 0; srv->workers && i < srv->num_workers; i++) {
        fa_interp_end(srv->workers[i].interp);
        srv->workers[i].interp = NULL;
    }
    for (int i = 0; srv->pool_interps && i < srv->num_pool_interps; i++) {
        fa_interp_end(srv->pool_interps[i]);
        srv->pool_interps[i] = NULL;
    }
}

/* One interpreter per pinned worker and num_pool_interps for the pooled
 * threads (or, in main-interpreter mode, as many records on the main
 * interpreter).  GIL held.  Returns 0, or -1 with err set. */
static int fa_server_make_interps(fa_server *srv, const char *main_path, char **sys_path,
                                  size_t sys_path_len, char *err, size_t err_size)
{
    fa_app_spec spec = {
        .handlers = srv->handlers,
        .num_handlers = srv->num_handlers,
        .main_path = main_path,
        .sys_path = sys_path,
        .sys_path_len = sys_path_len,
        .main_interp = srv->main_interp,
    };
    /* One at a time: concurrent creation of own-GIL interpreters races in
     * CPython 3.12/3.13 (python/cpython#105699, #123134). */
    for (int i = 0; i < srv->num_workers; i++) {
        srv->workers[i].interp = fa_interp_new(&spec, err, err_size);
        if (srv->workers[i].interp == NULL)
            return -1;
    }
    for (int i = 0; i < srv->num_pool_interps; i++) {
        srv->pool_interps[i] = fa_interp_new(&spec, err, err_size);
        if (srv->pool_interps[i] == NULL)
            return -1;
    }
    return 0;
}

/* The last non-empty line of a traceback: the exception itself. */
static const char *fa_last_line(const char *text)
{
    const char *end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == ' '))
        end--;
    const char *p = end;
    while (p > text && p[-1] != '\n')
        p--;
    static __thread char line[512];
    snprintf(line, sizeof(line), "%.*s", (int)(end - p), p);
    return line;
}

/* Releases what a failed or finished start created.  GIL held. */
static void fa_server_teardown(fa_server *srv)
{
    fa_server_end_interps(srv);
    for (int i = 0; srv->pool && i < srv->num_pool; i++)
        fa_pool_destroy(&srv->pool[i]);
    for (int i = 0; srv->workers && i < srv->num_workers; i++)
        fa_worker_destroy(&srv->workers[i]);
    free(srv->pool_interps);
    free(srv->pool);
    free(srv->workers);
    srv->pool_interps = NULL;
    srv->pool = NULL;
    srv->workers = NULL;
}

int fa_server_start(fa_server *srv, const char *main_path, char **sys_path, size_t sys_path_len,
                    char *err, size_t err_size, void (*release)(void *), void (*reacquire)(void *),
                    void *arg)
{
    pthread_mutex_lock(&srv->mu);
    if (srv->state != FA_SRV_IDLE) {
        pthread_mutex_unlock(&srv->mu);
        snprintf(err, err_size, "the server is already running");
        return -1;
    }
    srv->state = FA_SRV_RUNNING;
    pthread_mutex_unlock(&srv->mu);

    fa_config *cfg = &srv->cfg;
    const char *level = getenv("FASTERAPI_LOG_LEVEL");
    srv->debug_log = level != NULL && (strcmp(level, "debug") == 0 || strcmp(level, "trace") == 0);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    int requested_port = cfg->port;
    srv->num_workers = cfg->num_pinned_workers > 0 ? cfg->num_pinned_workers : (int)ncpu;
    srv->num_pool = cfg->num_pooled_workers;
    if (srv->num_pool == 0 && fa_any_pooled(srv))
        srv->num_pool = ncpu > 2 ? (int)ncpu : 2;
    srv->num_pool_interps = srv->num_pool == 0 ? 0
                            : cfg->num_pooled_interpreters > 0 ? cfg->num_pooled_interpreters : 1;
    atomic_store(&srv->stop_requested, 0);
    atomic_store(&srv->pool_stop, 0);

    fa_raise_nofile();
    if (fa_router_seal(&srv->router) < 0 || fa_router_seal(&srv->ws_router) < 0) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    srv->workers = calloc((size_t)srv->num_workers, sizeof(fa_worker));
    srv->pool = calloc(srv->num_pool ? (size_t)srv->num_pool : 1, sizeof(fa_pool_thread));
    srv->pool_interps = calloc(srv->num_pool_interps ? (size_t)srv->num_pool_interps : 1, sizeof(fa_interp *));
    if (srv->workers == NULL || srv->pool == NULL || srv->pool_interps == NULL) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    for (int i = 0; i < srv->num_workers; i++) {
        if (fa_worker_init(&srv->workers[i], srv, i, err, err_size) < 0) {
            srv->num_workers = i + 1; /* destroy the partial one too */
            goto fail;
        }
        if (i == 0 && cfg->port == 0) {
            /* port 0: let the kernel pick for the first listener, and have
             * the others share that port */
            struct sockaddr_storage ss;
            socklen_t len = sizeof(ss);
            if (getsockname(srv->workers[0].listener.fd, (struct sockaddr *)&ss, &len) == 0 &&
                (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
                cfg->port = ss.ss_family == AF_INET6
                                ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    for (int i = 0; i < srv->num_pool; i++)
        if (fa_pool_init(&srv->pool[i], srv, i, err, err_size) < 0) {
            srv->num_pool = i + 1;
            goto fail;
        }

    srv->main_interp = cfg->interpreters == FA_INTERP_MAIN;
    if (!srv->main_interp && fa_interp_check_subinterp_safe(err, err_size) < 0) {
        if (cfg->interpreters != FA_INTERP_AUTO)
            goto fail;
        fa_log("%s", err);
        fa_log("serving from the main interpreter instead (one GIL for every thread)");
        srv->main_interp = 1;
    }
    if (fa_server_make_interps(srv, main_path, sys_path, sys_path_len, err, err_size) < 0) {
        if (cfg->interpreters != FA_INTERP_AUTO || strstr(err, FA_NOT_SUBINTERP_MSG) == NULL)
            goto fail;
        fa_log("%s", fa_last_line(err));
        fa_log("a handler's module cannot load in a sub-interpreter: serving from the main "
               "interpreter instead (one GIL for every thread)");
        fa_server_end_interps(srv);
        srv->main_interp = 1;
        if (fa_server_make_interps(srv, main_path, sys_path, sys_path_len, err, err_size) < 0)
            goto fail;
    }
    for (int i = 0; i < srv->num_pool; i++)
        srv->pool[i].interp = srv->pool_interps[i % srv->num_pool_interps];
    if (fa_obs_start(srv, err, err_size) < 0)
        goto fail;

    atomic_store(&srv->workers_alive, srv->num_workers);
    srv->threads_ready = 0;
    srv->start_failed = 0;
    for (int i = 0; i < srv->num_pool; i++) {
        if (pthread_create(&srv->pool[i].thread, NULL, fa_pool_main, &srv->pool[i]) != 0) {
            snprintf(err, err_size, "cannot start a pooled thread: %s", strerror(errno));
            goto fail_threads;
        }
        srv->pool[i].thread_started = 1;
    }
    for (int i = 0; i < srv->num_workers; i++) {
        if (pthread_create(&srv->workers[i].thread, NULL, fa_worker_main, &srv->workers[i]) != 0) {
            atomic_store(&srv->workers_alive, i);
            snprintf(err, err_size, "cannot start a worker thread: %s", strerror(errno));
            goto fail_threads;
        }
        srv->workers[i].thread_started = 1;
    }

    /* Every thread runs its startup hooks before the server counts as
     * started; one that fails makes start() fail.  The caller's GIL is
     * released meanwhile: a sub-interpreter may need the main interpreter
     * for a moment (CPython interns some process-wide strings there). */
    if (release)
        release(arg);
    pthread_mutex_lock(&srv->mu);
    while (srv->threads_ready < srv->num_workers + srv->num_pool && !srv->start_failed)
        pthread_cond_wait(&srv->cond, &srv->mu);
    int failed = srv->start_failed;
    pthread_mutex_unlock(&srv->mu);
    if (reacquire)
        reacquire(arg);
    if (failed) {
        snprintf(err, err_size, "a startup hook raised in a worker interpreter (traceback above)");
        goto fail_threads;
    }

    for (size_t i = 0; i < srv->router.count; i++) {
        const fa_route *rt = &srv->router.routes[i];
        fa_log("Registered handler %s (ID: %d)%s", srv->handlers[rt->handler_id].label, rt->handler_id,
               rt->pooled ? " [pooled]" : "");
    }
    for (size_t i = 0; i < srv->ws_router.count; i++)
        fa_log("Registered WebSocket handler %s (ID: %d)",
               srv->handlers[srv->ws_router.routes[i].handler_id].label,
               srv->ws_router.routes[i].handler_id);
    if (srv->fallback.handler_id >= 0)
        fa_log("Unmatched requests go to %s%s", srv->handlers[srv->fallback.handler_id].label,
               srv->fallback.pooled ? " [pooled]" : "");
    char where[300];
    fa_server_where(srv, where, sizeof(where));
    if (srv->tls != NULL) {
        char line[1024];
        fa_tls_describe(srv->tls, line, sizeof(line));
        fa_log("Listening on https://%s (%s)", where, line);
    } else {
        fa_log("Listening on %s (HTTP/1.1, h2c prior knowledge, h2c upgrade)", where);
    }
    fa_log("Event-loop workers: %d (poller: %s, %s)", srv->num_workers, fa_loop_backend(),
           srv->num_listen_fds > 0 ? "inherited listeners" : "SO_REUSEPORT listener each");
    if (srv->main_interp)
        fa_log("Handlers run in the main interpreter (one GIL shared by every thread)");
    else
        fa_log("Pinned sub-interpreters: %d (own GIL)", srv->num_workers);
    fa_log("Pooled workers: %d", srv->num_pool);
    if (!srv->main_interp)
        fa_log("Pooled sub-interpreters: %d (own GIL)", srv->num_pool_interps);
    return 0;

fail_threads:
    /* threads that did start need a stop and a join before teardown */
    fa_server_request_stop(srv);
    fa_server_finish(srv, release, reacquire, arg);
    cfg->port = requested_port;
    return -1;
fail:
    fa_server_teardown(srv);
    cfg->port = requested_port;
    pthread_mutex_lock(&srv->mu);
    srv->state = FA_SRV_IDLE;
    pthread_mutex_unlock(&srv->mu);
    return -1;
}

void fa_server_request_stop(fa_server *srv)
{
    atomic_store(&srv->stop_requested, 1);
    for (int i = 0; srv->workers && i < srv->num_workers; i++)
        if (srv->workers[i].wake.fd >= 0)
            fa_worker_wake(&srv->workers[i]);
}

int fa_server_wait(fa_server *srv, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->mu);
    while (atomic_load(&srv->workers_alive) > 0 && srv->state == FA_SRV_RUNNING) {
        if (pthread_cond_timedwait(&srv->cond, &srv->mu, &ts) != 0)
            break;
    }
    int done = atomic_load(&srv->workers_alive) == 0 || srv->state != FA_SRV_RUNNING;
    pthread_mutex_unlock(&srv->mu);
    return done;
}

void fa_server_finish(fa_server *srv, void (*release)(void *), void (*reacquire)(void *), void *arg)
{
    pthread_mutex_lock(&srv->mu);
    if (srv->state != FA_SRV_RUNNING) {
        /* another thread is finishing: wait for it */
        pthread_mutex_unlock(&srv->mu);
        if (release)
            release(arg);
        pthread_mutex_lock(&srv->mu);
        while (srv->state != FA_SRV_IDLE)
            pthread_cond_wait(&srv->cond, &srv->mu);
        pthread_mutex_unlock(&srv->mu);
        if (reacquire)
            reacquire(arg);
        return;
    }
    srv->state = FA_SRV_STOPPING;
    pthread_mutex_unlock(&srv->mu);

    fa_server_request_stop(srv);
    if (release)
        release(arg);
    uint64_t served = 0, refused = 0;
    for (int i = 0; i < srv->num_workers; i++)
        if (srv->workers[i].thread_started) {
            pthread_join(srv->workers[i].thread, NULL);
            srv->workers[i].thread_started = 0;
            served += atomic_load(&srv->workers[i].requests);
            refused += srv->workers[i].refused;
        }
    atomic_store(&srv->pool_stop, 1);
    for (int i = 0; i < srv->num_pool; i++) {
        uint64_t one = 1;
        ssize_t n = write(srv->pool[i].wake_fd, &one, sizeof(one));
        (void)n;
    }
    for (int i = 0; i < srv->num_pool; i++)
        if (srv->pool[i].thread_started) {
            pthread_join(srv->pool[i].thread, NULL);
            srv->pool[i].thread_started = 0;
        }
    if (reacquire)
        reacquire(arg);
    fa_obs_stop(srv); /* the last access log lines go out */
    fa_server_teardown(srv);
    fa_log("Stopped after %llu requests (%llu refused by admission control)",
           (unsigned long long)served, (unsigned long long)refused);

    pthread_mutex_lock(&srv->mu);
    srv->state = FA_SRV_IDLE;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->mu);
}
