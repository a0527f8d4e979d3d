/* router.c - routing: a hash table for static paths, then patterns with
 * parameters in registration order (a radix tree can replace the scan when
 * route counts grow; the interface stays). */
#include "router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void fa_router_init(fa_router *r) { memset(r, 0, sizeof(*r)); }

void fa_router_free(fa_router *r)
{
    for (size_t i = 0; i < r->count; i++) {
        free(r->routes[i].method);
        free(r->routes[i].path);
        free(r->routes[i].segs);
    }
    free(r->routes);
    free(r->table);
    memset(r, 0, sizeof(*r));
}

static uint64_t fa_hash(const char *p, size_t n, uint64_t h)
{
    /* FNV-1a: short keys, no adversary can grow a bucket past the route count */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t fa_path_hash(const char *path, size_t n)
{
    return fa_hash(path, n, 14695981039346656037ULL);
}

static int fa_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

/* Splits a pattern at '/' into segments.  Returns the count (0 for a
 * static path, which needs no segments), or -3 when malformed. */
static int fa_parse_pattern(const char *path, fa_route_seg **out)
{
    *out = NULL;
    if (strchr(path, '{') == NULL && strchr(path, '}') == NULL)
        return 0;
    size_t n = 0;
    for (const char *p = path; *p; p++)
        n += *p == '/';
    fa_route_seg *segs = calloc(n + 1, sizeof(*segs));
    if (segs == NULL)
        return -1;
    size_t k = 0, params = 0;
    const char *p = path + 1; /* paths start with '/' */
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        fa_route_seg *s = &segs[k++];
        const char *open = memchr(p, '{', len), *close = memchr(p, '}', len);
        if (open == NULL && close == NULL) {
            s->kind = 0;
            s->text = p;
            s->len = len;
        } else {
            /* a parameter must be the whole segment: "{name}" or "{name:path}" */
            if (open != p || close != p + len - 1 || len < 3 || memchr(p + 1, '{', len - 2) ||
                memchr(p + 1, '}', len - 2))
                goto bad;
            s->text = p + 1;
            s->len = len - 2;
            s->kind = 1;
            const char *colon = memchr(s->text, ':', s->len);
            if (colon != NULL) {
                size_t conv = s->len - (size_t)(colon - s->text) - 1;
                if (conv == 4 && memcmp(colon + 1, "path", 4) == 0) {
                    s->kind = 2;
                    if (end != NULL)
                        goto bad; /* must be last */
                } else if (!(conv == 3 && memcmp(colon + 1, "str", 3) == 0) &&
                           !(conv == 3 && memcmp(colon + 1, "int", 3) == 0)) {
                    goto bad;
                }
                s->len = (size_t)(colon - s->text);
            }
            if (s->len == 0 || ++params > FA_MAX_PATH_PARAMS)
                goto bad;
            for (size_t j = 0; j + 1 < k; j++)
                if (segs[j].kind && segs[j].len == s->len && memcmp(segs[j].text, s->text, s->len) == 0)
                    goto bad;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    *out = segs;
    return (int)k;
bad:
    free(segs);
    return -3;
}

int fa_router_add(fa_router *r, const char *method, const char *path, int handler_id, int pooled)
{
    size_t ml = strlen(method), pl = strlen(path);
    for (size_t i = 0; i < r->count; i++)
        if (fa_eq(r->routes[i].method, r->routes[i].method_len, method, ml) &&
            fa_eq(r->routes[i].path, r->routes[i].path_len, path, pl))
            return -2;
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        fa_route *p = realloc(r->routes, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        r->routes = p;
        r->cap = cap;
    }
    fa_route *rt = &r->routes[r->count];
    rt->method = strdup(method);
    rt->path = strdup(path);
    if (rt->method == NULL || rt->path == NULL) {
        free(rt->method);
        free(rt->path);
        return -1;
    }
    rt->method_len = ml;
    rt->path_len = pl;
    rt->handler_id = handler_id;
    rt->pooled = pooled;
    /* segments point into rt->path, which lives as long as the route */
    int nseg = fa_parse_pattern(rt->path, &rt->segs);
    if (nseg < 0) {
        free(rt->method);
        free(rt->path);
        return nseg;
    }
    rt->num_segs = (size_t)nseg;
    return (int)r->count++;
}

/* The table is keyed by path only: one probe finds the first route with
 * this path, and the (few) methods of that path are scanned linearly. */
int fa_router_seal(fa_router *r)
{
    size_t size = 16;
    while (size < r->count * 4)
        size *= 2;
    int *t = malloc(size * sizeof(int));
    if (t == NULL)
        return -1;
    for (size_t i = 0; i < size; i++)
        t[i] = -1;
    for (size_t i = 0; i < r->count; i++) {
        const fa_route *rt = &r->routes[i];
        if (rt->segs != NULL)
            continue; /* patterns are scanned, not hashed */
        size_t slot = fa_path_hash(rt->path, rt->path_len) & (size - 1);
        for (;;) {
            int j = t[slot];
            if (j < 0) {
                t[slot] = (int)i;
                break;
            }
            if (fa_eq(r->routes[j].path, r->routes[j].path_len, rt->path, rt->path_len))
                break; /* path already present: methods are scanned */
            slot = (slot + 1) & (size - 1);
        }
    }
    free(r->table);
    r->table = t;
    r->table_mask = size - 1;
    r->any_stream_body = 0;
    for (size_t i = 0; i < r->count; i++)
        r->any_stream_body |= r->routes[i].stream_body;
    return 0;
}

/* Matches path against a pattern; fills params.  Returns 1 on a match. */
static int fa_match(const fa_route *rt, const char *path, size_t path_len, fa_header *params,
                    size_t *num_params)
{
    size_t np = 0;
    const char *p = path + 1, *end = path + path_len;
    if (path_len == 0 || path[0] != '/')
        return 0;
    for (size_t i = 0; i < rt->num_segs; i++) {
        const fa_route_seg *s = &rt->segs[i];
        if (p > end)
            return 0; /* the path has fewer segments */
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *seg_end = slash ? slash : end;
        size_t len = (size_t)(seg_end - p);
        if (s->kind == 0) {
            if (len != s->len || memcmp(p, s->text, len) != 0)
                return 0;
        } else {
            if (s->kind == 2)
                seg_end = end, len = (size_t)(end - p);
            if (len == 0)
                return 0; /* an empty segment does not bind a parameter */
            params[np].name = s->text;
            params[np].name_len = s->len;
            params[np].value = p;
            params[np].value_len = len;
            np++;
        }
        p = seg_end + 1;
        if (i + 1 == rt->num_segs && seg_end != end)
            return 0; /* the path has more segments */
    }
    *num_params = np;
    return 1;
}

static int fa_route_matches(const fa_route *rt, const char *path, size_t path_len, fa_header *params,
                            size_t *num_params)
{
    if (rt->segs == NULL) {
        *num_params = 0;
        return fa_eq(rt->path, rt->path_len, path, path_len);
    }
    return fa_match(rt, path, path_len, params, num_params);
}

static void fa_allow_add(char *allow, size_t allow_size, size_t *n, const char *m)
{
    size_t l = strlen(m);
    /* skip duplicates ("HEAD" added for GET and registered on its own) */
    for (const char *p = allow; (p = strstr(p, m)) != NULL; p += l)
        if ((p == allow || p[-1] == ' ') && (p[l] == ',' || p[l] == '\0'))
            return;
    if (*n + l + 3 >= allow_size)
        return;
    if (*n) {
        memcpy(allow + *n, ", ", 2);
        *n += 2;
    }
    memcpy(allow + *n, m, l);
    *n += l;
    allow[*n] = '\0';
}

fa_route_result fa_router_find(const fa_router *r, const char *method, size_t method_len,
                               const char *path, size_t path_len, const fa_route **out,
                               fa_header *params, size_t *num_params, char *allow,
                               size_t allow_size)
{
    *out = NULL;
    *num_params = 0;
    if (r->table == NULL)
        return FA_ROUTE_NOT_FOUND;
    int is_head = fa_eq(method, method_len, "HEAD", 4);
    const fa_route *get = NULL, *any = NULL;
    size_t get_np = 0;
    fa_header get_params[FA_MAX_PATH_PARAMS];

    /* static paths: one probe finds the first route with this path */
    size_t first = r->count;
    size_t slot = fa_path_hash(path, path_len) & r->table_mask;
    for (;;) {
        int j = r->table[slot];
        if (j < 0)
            break;
        if (fa_eq(r->routes[j].path, r->routes[j].path_len, path, path_len)) {
            first = (size_t)j;
            break;
        }
        slot = (slot + 1) & r->table_mask;
    }
    for (size_t i = first; i < r->count; i++) {
        const fa_route *rt = &r->routes[i];
        if (rt->segs != NULL || !fa_eq(rt->path, rt->path_len, path, path_len))
            continue;
        any = rt;
        if (fa_eq(rt->method, rt->method_len, method, method_len)) {
            *out = rt;
            return FA_ROUTE_FOUND;
        }
        if (get == NULL && fa_eq(rt->method, rt->method_len, "GET", 3))
            get = rt;
    }
    /* patterns, in registration order */
    {
        for (size_t i = 0; i < r->count; i++) {
            const fa_route *rt = &r->routes[i];
            size_t np;
            if (rt->segs == NULL || !fa_match(rt, path, path_len, params, &np))
                continue;
            any = rt;
            if (fa_eq(rt->method, rt->method_len, method, method_len)) {
                *out = rt;
                *num_params = np;
                return FA_ROUTE_FOUND;
            }
            if (get == NULL && fa_eq(rt->method, rt->method_len, "GET", 3)) {
                get = rt;
                get_np = np;
                memcpy(get_params, params, np * sizeof(fa_header));
            }
        }
    }
    if (any == NULL)
        return FA_ROUTE_NOT_FOUND;
    if (get != NULL && is_head) {
        *out = get;
        *num_params = get_np;
        memcpy(params, get_params, get_np * sizeof(fa_header));
        return FA_ROUTE_FOUND;
    }
    if (allow != NULL && allow_size > 0) {
        size_t n = 0;
        allow[0] = '\0';
        for (size_t i = 0; i < r->count; i++) {
            const fa_route *rt = &r->routes[i];
            size_t np;
            fa_header scratch[FA_MAX_PATH_PARAMS];
            if (!fa_route_matches(rt, path, path_len, scratch, &np))
                continue;
            fa_allow_add(allow, allow_size, &n, rt->method);
            if (fa_eq(rt->method, rt->method_len, "GET", 3))
                fa_allow_add(allow, allow_size, &n, "HEAD");
        }
    }
    return FA_ROUTE_BAD_METHOD;
}
