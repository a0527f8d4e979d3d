/* router.h - maps (method, path) to a handler id.
 *
 * Built on the main thread before the workers start and read-only after, so
 * every worker thread reads it without locks.  Paths match exactly; a path
 * known under other methods answers 405 with an Allow list.
 */
#ifndef FA_ROUTER_H
#define FA_ROUTER_H

#include <stddef.h>

typedef struct fa_route {
    char *method;
    char *path;
    size_t method_len, path_len;
    int handler_id; /* index into every interpreter's handler table */
    int pooled;     /* run on a pooled worker */
} fa_route;

typedef struct fa_router {
    fa_route *routes;
    size_t count, cap;
    /* open-addressing hash of (method, path) -> index into routes, rebuilt by
     * fa_router_seal() */
    int *table;
    size_t table_mask;
} fa_router;

typedef enum { FA_ROUTE_FOUND = 0, FA_ROUTE_NOT_FOUND = 404, FA_ROUTE_BAD_METHOD = 405 } fa_route_result;

void fa_router_init(fa_router *r);
void fa_router_free(fa_router *r);
/* Adds a route.  Returns its index, -1 when out of memory, -2 when the same
 * method and path are already registered. */
int fa_router_add(fa_router *r, const char *method, const char *path, int handler_id, int pooled);
/* Builds the lookup table; call after the last add.  Returns 0 or -1. */
int fa_router_seal(fa_router *r);
/* Finds the route.  On FA_ROUTE_BAD_METHOD, writes "GET, HEAD, ..." into
 * allow (NUL-terminated, truncated to allow_size). HEAD falls back to GET. */
fa_route_result fa_router_find(const fa_router *r, const char *method, size_t method_len,
                               const char *path, size_t path_len, const fa_route **out,
                               char *allow, size_t allow_size);

#endif
