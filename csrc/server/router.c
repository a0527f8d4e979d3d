/* router.c - exact-match routing with a small open-addressing hash table. */
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
    return 0;
}

fa_route_result fa_router_find(const fa_router *r, const char *method, size_t method_len,
                               const char *path, size_t path_len, const fa_route **out,
                               char *allow, size_t allow_size)
{
    *out = NULL;
    if (r->table == NULL)
        return FA_ROUTE_NOT_FOUND;
    size_t slot = fa_path_hash(path, path_len) & r->table_mask;
    int first = -1;
    for (;;) {
        int j = r->table[slot];
        if (j < 0)
            return FA_ROUTE_NOT_FOUND;
        if (fa_eq(r->routes[j].path, r->routes[j].path_len, path, path_len)) {
            first = j;
            break;
        }
        slot = (slot + 1) & r->table_mask;
    }
    const fa_route *get = NULL;
    for (size_t i = (size_t)first; i < r->count; i++) {
        const fa_route *rt = &r->routes[i];
        if (!fa_eq(rt->path, rt->path_len, path, path_len))
            continue;
        if (fa_eq(rt->method, rt->method_len, method, method_len)) {
            *out = rt;
            return FA_ROUTE_FOUND;
        }
        if (fa_eq(rt->method, rt->method_len, "GET", 3))
            get = rt;
    }
    if (get != NULL && fa_eq(method, method_len, "HEAD", 4)) {
        *out = get;
        return FA_ROUTE_FOUND;
    }
    if (allow != NULL && allow_size > 0) {
        size_t n = 0;
        allow[0] = '\0';
        for (size_t i = (size_t)first; i < r->count; i++) {
            const fa_route *rt = &r->routes[i];
            if (!fa_eq(rt->path, rt->path_len, path, path_len))
                continue;
            const char *names[2] = {rt->method, get == rt ? "HEAD" : NULL};
            for (int k = 0; k < 2 && names[k]; k++) {
                size_t l = strlen(names[k]);
                if (n + l + 3 >= allow_size)
                    break;
                if (n) {
                    memcpy(allow + n, ", ", 2);
                    n += 2;
                }
                memcpy(allow + n, names[k], l);
                n += l;
                allow[n] = '\0';
            }
        }
    }
    return FA_ROUTE_BAD_METHOD;
}
