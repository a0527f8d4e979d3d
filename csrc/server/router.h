/* router.h - maps (method, path) to a handler id.
 *
 * Built on the main thread before the workers start and read-only after, so
 * every worker thread reads it without locks.  Static paths match exactly
 * through a hash table; patterns with parameters ("/items/{id}",
 * "/files/{rest:path}") are tried after, in registration order.  A path
 * known under other methods answers 405 with an Allow list.
 */
#ifndef FA_ROUTER_H
#define FA_ROUTER_H

#include <stddef.h>

#include "../common/http.h"

#define FA_MAX_PATH_PARAMS 16

/* One segment of a pattern: literal text, "{name}" (one segment) or
 * "{name:path}" (the rest of the path, slashes included). */
typedef struct fa_route_seg {
    const char *text; /* literal text, or the parameter name */
    size_t len;
    int kind;         /* 0 literal, 1 parameter, 2 path parameter */
} fa_route_seg;

typedef struct fa_route {
    char *method;
    char *path;
    size_t method_len, path_len;
    int handler_id; /* index into every interpreter's handler table */
    int pooled;     /* run on a pooled worker */
    int stream_body; /* dispatched at the end of the head; body fed as it comes */
    fa_route_seg *segs; /* NULL for a static path */
    size_t num_segs;
} fa_route;

typedef struct fa_router {
    fa_route *routes;
    size_t count, cap;
    /* open-addressing hash of (method, path) -> index into routes, rebuilt by
     * fa_router_seal() */
    int *table;
    size_t table_mask;
    int any_stream_body; /* some route has stream_body: set by fa_router_seal() */
} fa_router;

typedef enum { FA_ROUTE_FOUND = 0, FA_ROUTE_NOT_FOUND = 404, FA_ROUTE_BAD_METHOD = 405 } fa_route_result;

void fa_router_init(fa_router *r);
void fa_router_free(fa_router *r);
/* Adds a route.  Returns its index, -1 when out of memory, -2 when the same
 * method and path are already registered, -3 for a malformed pattern (empty
 * or repeated parameter name, a brace inside a segment, a path parameter
 * that is not last, more than FA_MAX_PATH_PARAMS parameters). */
int fa_router_add(fa_router *r, const char *method, const char *path, int handler_id, int pooled);
/* Builds the lookup table; call after the last add.  Returns 0 or -1. */
int fa_router_seal(fa_router *r);
/* Finds the route.  On FA_ROUTE_FOUND, params[0..*num_params) hold the
 * parameters (name from the pattern, value a raw slice of path; params must
 * have room for FA_MAX_PATH_PARAMS).  On FA_ROUTE_BAD_METHOD, writes
 * "GET, HEAD, ..." into allow (NUL-terminated, truncated to allow_size).
 * HEAD falls back to GET. */
fa_route_result fa_router_find(const fa_router *r, const char *method, size_t method_len,
                               const char *path, size_t path_len, const fa_route **out,
                               fa_header *params, size_t *num_params, char *allow,
                               size_t allow_size);

#endif
