/* fuzz_router.c - libFuzzer target for csrc/server/router.c: request paths
 * (network bytes) matched against a routing table.
 *
 * The input is lines.  The first byte says how many of them (1-8) are
 * routes, "METHOD PATTERN", added to a router that is then sealed; every
 * other line (at most 32) is a lookup, "METHOD PATH", each path copied into
 * a block of its exact size so ASan sees any read past it.  Every lookup is
 * also answered by a reference written here from router.h's contract, as
 * plainly as possible (split both at '/', compare segment by segment), and
 * the two must agree: the result, the route, each parameter's name and its
 * slice of the path, and the Allow list of a 405.  A disagreement or a
 * broken contract (a parameter outside the path, an Allow list that is not
 * NUL-terminated within its buffer) calls __builtin_trap().
 * Seeds: fuzz/corpus/router/.
 */
#include "../csrc/server/router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FZ_CHECK(cond)                                                       \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

#define FZ_MAX_ROUTES 8
#define FZ_MAX_LOOKUPS 32
#define FZ_MAX_SEGS 64

typedef struct fz_line {
    const char *p;
    size_t n;
} fz_line;

typedef struct fz_route {
    char method[64];
    char pattern[256];
    int index; /* in the router, or -1 when add refused it */
} fz_route;

static int fz_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

/* Splits s[0..n) at '/' after its leading '/'; -1 when there are too many. */
static int fz_split(const char *s, size_t n, fz_line *segs)
{
    int k = 0;
    const char *p = s + 1, *end = s + n;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        if (k == FZ_MAX_SEGS)
            return -1;
        segs[k].p = p;
        segs[k].n = (size_t)((slash ? slash : end) - p);
        k++;
        if (slash == NULL)
            return k;
        p = slash + 1;
    }
}

static int fz_is_pattern(const char *pattern)
{
    return strchr(pattern, '{') != NULL || strchr(pattern, '}') != NULL;
}

/* The reference match of one added route: 1 on a match, with params. */
static int fz_ref_match(const fz_route *rt, const char *path, size_t path_len, fa_header *params,
                        size_t *np)
{
    *np = 0;
    size_t pl = strlen(rt->pattern);
    if (!fz_is_pattern(rt->pattern))
        return fz_eq(rt->pattern, pl, path, path_len);
    if (path_len == 0 || path[0] != '/')
        return 0;
    fz_line ps[FZ_MAX_SEGS], qs[FZ_MAX_SEGS];
    int pk = fz_split(rt->pattern, pl, ps);
    int qk = fz_split(path, path_len, qs);
    if (pk < 0 || qk < 0)
        return -1; /* beyond the reference: not compared */
    for (int i = 0; i < pk; i++) {
        const fz_line *s = &ps[i];
        int param = s->n >= 2 && s->p[0] == '{' && s->p[s->n - 1] == '}';
        size_t name_len = param ? s->n - 2 : 0;
        const char *colon = param ? memchr(s->p + 1, ':', name_len) : NULL;
        int rest = colon != NULL && (size_t)(s->p + s->n - 1 - colon) == 5 &&
                   memcmp(colon + 1, "path", 4) == 0;
        if (colon != NULL)
            name_len = (size_t)(colon - (s->p + 1));
        if (i >= qk)
            return 0;
        if (!param) {
            if (!fz_eq(s->p, s->n, qs[i].p, qs[i].n))
                return 0;
            continue;
        }
        const char *v = qs[i].p;
        size_t vn = rest ? (size_t)(path + path_len - v) : qs[i].n;
        if (vn == 0)
            return 0;
        params[*np].name = s->p + 1;
        params[*np].name_len = name_len;
        params[*np].value = v;
        params[*np].value_len = vn;
        (*np)++;
        if (rest)
            return 1; /* the rest of the path, slashes included */
    }
    return pk == qk;
}

static void fz_allow_add(char *allow, const char *m)
{
    size_t l = strlen(m);
    const char *p = allow;
    while (*p) {
        const char *comma = strstr(p, ", ");
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (fz_eq(p, n, m, l))
            return;
        p += n + (comma ? 2 : 0);
    }
    if (*allow)
        strcat(allow, ", ");
    strcat(allow, m);
}

/* The reference lookup, following router.h: static paths before patterns,
 * each in registration order; HEAD falls back to GET; a path known under
 * other methods is 405 with every method of every route matching it (HEAD
 * after each GET), in registration order, without repeats.  Returns -1
 * when the reference cannot decide (too many segments). */
static int fz_ref_find(const fz_route *routes, int n, const char *method, size_t method_len,
                       const char *path, size_t path_len, int *out, fa_header *params,
                       size_t *np, char *allow)
{
    int any = 0, get = -1;
    size_t get_np = 0;
    fa_header get_params[FA_MAX_PATH_PARAMS];
    *out = -1;
    *np = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            const fz_route *rt = &routes[i];
            if (rt->index < 0 || fz_is_pattern(rt->pattern) != pass)
                continue;
            fa_header ps[FZ_MAX_SEGS];
            size_t k;
            int m = fz_ref_match(rt, path, path_len, ps, &k);
            if (m < 0)
                return -1;
            if (!m)
                continue;
            any = 1;
            if (fz_eq(rt->method, strlen(rt->method), method, method_len)) {
                *out = i;
                *np = k;
                memcpy(params, ps, k * sizeof(fa_header));
                return FA_ROUTE_FOUND;
            }
            if (get < 0 && strcmp(rt->method, "GET") == 0) {
                get = i;
                get_np = k;
                memcpy(get_params, ps, k * sizeof(fa_header));
            }
        }
    }
    if (!any)
        return FA_ROUTE_NOT_FOUND;
    if (get >= 0 && fz_eq(method, method_len, "HEAD", 4)) {
        *out = get;
        *np = get_np;
        memcpy(params, get_params, get_np * sizeof(fa_header));
        return FA_ROUTE_FOUND;
    }
    allow[0] = '\0';
    for (int i = 0; i < n; i++) {
        fa_header ps[FZ_MAX_SEGS];
        size_t k;
        if (routes[i].index < 0 || fz_ref_match(&routes[i], path, path_len, ps, &k) != 1)
            continue;
        fz_allow_add(allow, routes[i].method);
        if (strcmp(routes[i].method, "GET") == 0)
            fz_allow_add(allow, "HEAD");
    }
    return FA_ROUTE_BAD_METHOD;
}

/* Splits "A B" at its first space. */
static int fz_two(const fz_line *l, fz_line *a, fz_line *b)
{
    const char *sp = memchr(l->p, ' ', l->n);
    if (sp == NULL)
        return 0;
    a->p = l->p;
    a->n = (size_t)(sp - l->p);
    b->p = sp + 1;
    b->n = l->n - a->n - 1;
    return 1;
}

/* What add_route lets through (csrc/python/module.c): a method is an upper
 * case token under 32 bytes; a path starts with '/' and has no space, '?',
 * '#', CR, LF or tab. */
static int fz_route_ok(const char *method, const char *pattern)
{
    size_t ml = strlen(method);
    if (ml == 0 || ml >= 32)
        return 0;
    for (const char *m = method; *m; m++)
        if (!((*m >= 'A' && *m <= 'Z') || (*m >= '0' && *m <= '9') || strchr("!#$%&'*+-.^_`|~", *m)))
            return 0;
    return pattern[0] == '/' && strpbrk(pattern, " ?#\r\n\t") == NULL;
}

static int fz_cstr(const fz_line *l, char *out, size_t cap)
{
    if (l->n >= cap || memchr(l->p, '\0', l->n) != NULL)
        return 0; /* the API takes C strings */
    memcpy(out, l->p, l->n);
    out[l->n] = '\0';
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int nroutes = 1 + data[0] % FZ_MAX_ROUTES;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;

    fa_router r;
    fa_router_init(&r);
    fz_route routes[FZ_MAX_ROUTES];
    int n = 0, lookups = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        fz_line line = {p, (size_t)((nl ? nl : end) - p)}, a, b;
        p = nl ? nl + 1 : end;
        if (!fz_two(&line, &a, &b))
            continue;
        if (n < nroutes) {
            fz_route *rt = &routes[n];
            if (!fz_cstr(&a, rt->method, sizeof rt->method) ||
                !fz_cstr(&b, rt->pattern, sizeof rt->pattern) ||
                !fz_route_ok(rt->method, rt->pattern))
                continue;
            rt->index = fa_router_add(&r, rt->method, rt->pattern, n, 0);
            FZ_CHECK(rt->index >= -3 && rt->index != -1);
            n++;
            if (n == nroutes)
                FZ_CHECK(fa_router_seal(&r) == 0);
            continue;
        }
        if (lookups++ == FZ_MAX_LOOKUPS)
            break;
        /* exact-size copies: a read past either is an ASan report */
        char *method = malloc(a.n ? a.n : 1), *path = malloc(b.n ? b.n : 1);
        FZ_CHECK(method != NULL && path != NULL);
        memcpy(method, a.p, a.n);
        memcpy(path, b.p, b.n);

        const fa_route *found;
        fa_header params[FA_MAX_PATH_PARAMS], ref_params[FZ_MAX_SEGS];
        size_t np, ref_np;
        char allow[512], small[8], ref_allow[FZ_MAX_ROUTES * 72];
        fa_route_result res = fa_router_find(&r, method, a.n, path, b.n, &found, params, &np,
                                             allow, sizeof allow);
        int ref_i;
        int ref = fz_ref_find(routes, n, method, a.n, path, b.n, &ref_i, ref_params, &ref_np,
                              ref_allow);
        if (n < nroutes) /* never sealed: every lookup misses */
            ref = FA_ROUTE_NOT_FOUND;
        if (ref >= 0) {
            FZ_CHECK((int)res == ref);
            if (res == FA_ROUTE_FOUND) {
                FZ_CHECK(found != NULL && found->handler_id == ref_i);
                FZ_CHECK(np == ref_np && np <= FA_MAX_PATH_PARAMS);
                for (size_t i = 0; i < np; i++) {
                    FZ_CHECK(fz_eq(params[i].name, params[i].name_len, ref_params[i].name,
                                   ref_params[i].name_len));
                    FZ_CHECK(params[i].value == path + (ref_params[i].value - path));
                    FZ_CHECK(params[i].value_len == ref_params[i].value_len);
                    FZ_CHECK(params[i].value >= path &&
                             params[i].value + params[i].value_len <= path + b.n);
                }
            } else if (res == FA_ROUTE_BAD_METHOD) {
                FZ_CHECK(strcmp(allow, ref_allow) == 0);
            }
        }
        /* a small Allow buffer is truncated, never overrun */
        memset(small, 'x', sizeof small);
        if (fa_router_find(&r, method, a.n, path, b.n, &found, params, &np, small, sizeof small) ==
            FA_ROUTE_BAD_METHOD)
            FZ_CHECK(memchr(small, '\0', sizeof small) != NULL);
        free(method);
        free(path);
    }
    fa_router_free(&r);
    return 0;
}
