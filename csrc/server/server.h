/* server.h - the server's lifecycle, as used by the Python binding.
 *
 * Threading contract: add_route/start/stop are called from Python threads.
 * fa_server_start() and fa_server_finish() need the main interpreter's GIL
 * (they create and end sub-interpreters); fa_server_wait() must be called
 * with the GIL released.
 */
#ifndef FA_SERVER_H
#define FA_SERVER_H

#include <stddef.h>

#include "config.h"
#include "obs.h"
#include "../tls/tls.h"

typedef struct fa_server fa_server;

fa_server *fa_server_new(const fa_config *cfg);
void fa_server_free(fa_server *srv);
fa_config *fa_server_config(fa_server *srv);
/* Registers a route.  Returns the handler id (>= 0), or -1 with err set. */
int fa_server_add_route(fa_server *srv, const char *method, const char *path, const char *module,
                        const char *qualname, int pooled, int stream_body, char *err,
                        size_t err_size);
/* Registers a WebSocket route (ws/conn.h): `async def handler(ws)` at the
 * path pattern.  Returns the handler id, or -1 with err set. */
struct fa_ws_options;
int fa_server_add_websocket(fa_server *srv, const char *path, const char *module, const char *qualname,
                            const struct fa_ws_options *opt, char *err, size_t err_size);
/* Registers the handler of requests no route matches (instead of the
 * server's plain 404 / 405): it gets req['route'] == "" and, when the path
 * exists for other methods, req['allow'].  Replaces an earlier one.
 * Returns 0, or -1 with err set. */
int fa_server_set_fallback(fa_server *srv, const char *module, const char *qualname, int pooled, char *err,
                           size_t err_size);
/* Registers a function every worker interpreter runs once when its thread
 * starts (stop = 0: before the server answers) or stops (stop = 1).
 * Returns 0, or -1 with err set. */
int fa_server_add_hook(fa_server *srv, int stop, const char *module, const char *qualname, char *err,
                       size_t err_size);
/* Starts every thread and waits until each ran its startup hooks.  GIL
 * held; `release`/`reacquire` let the binding drop it while waiting (the
 * worker threads may need the main interpreter briefly).  Returns 0, or -1
 * with err set (nothing left running). */
int fa_server_start(fa_server *srv, const char *main_path, char **sys_path, size_t sys_path_len,
                    char *err, size_t err_size, void (*release)(void *), void (*reacquire)(void *),
                    void *arg);
/* Asks for a graceful stop; returns at once.  Any thread, GIL or not. */
void fa_server_request_stop(fa_server *srv);
/* Waits up to timeout_ms for every worker to exit.  Returns 1 when they
 * have.  GIL released. */
int fa_server_wait(fa_server *srv, int timeout_ms);
/* Joins the workers (GIL released inside through the callbacks) and ends
 * the interpreters.  Call with the GIL held: `release`/`reacquire` let the
 * binding drop it around the joins. */
void fa_server_finish(fa_server *srv, void (*release)(void *), void (*reacquire)(void *), void *arg);
int fa_server_running(fa_server *srv);
/* The port actually bound (differs from the config when it asked for 0). */
int fa_server_port(fa_server *srv);
/* Listen on these already listening sockets instead of binding host:port
 * (they stay the caller's; each worker uses a dup).  0, or -1 when out of
 * memory or running. */
int fa_server_set_listeners(fa_server *srv, const int *fds, int n);
/* Requests dispatched so far by every worker of the running server. */
unsigned long long fa_server_requests(fa_server *srv);
/* 1 when the last start() serves from the main interpreter. */
int fa_server_main_interp(fa_server *srv);
/* Makes the listener speak TLS with this context (the server owns it from
 * now on).  Before start(). */
void fa_server_set_tls(fa_server *srv, fa_tls *tls);
int fa_server_has_tls(fa_server *srv);
/* Proxy headers (proxy.h): a trusted peer's Forwarded / X-Forwarded-*
 * set the request's client, scheme and host.  Before start(). */
struct fa_proxy;
void fa_server_set_proxy(fa_server *srv, const struct fa_proxy *proxy);
/* Access log and metrics settings (obs.h); before start().  Checks the
 * access log format.  Returns 0, or -1 with err set. */
int fa_server_set_obs(fa_server *srv, const fa_obs_config *cfg, char *err, size_t err_size);
/* The port the metrics listener bound while running (-1: none). */
int fa_server_metrics_port(fa_server *srv);
/* The access log and metrics settings (before start()). */
fa_obs_config *fa_server_obs(fa_server *srv);
/* Loads the certificate files again (new connections use them; open ones
 * keep theirs).  Any thread, running or not.  Returns 0, or -1 with err,
 * *kind and *errnum set as fa_tls_new() does. */
int fa_server_reload_tls(fa_server *srv, char *err, size_t err_size, int *kind, int *errnum);

#endif
