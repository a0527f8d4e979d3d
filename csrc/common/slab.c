/* slab.c - size-class free lists (see slab.h). */
#include "slab.h"

#include <stdlib.h>
#include <string.h>

#define FA_SLAB_HDR 16 /* keeps blocks 16-byte aligned */
#define FA_SLAB_LARGE 0xff

typedef struct fa_slab_hdr {
    size_t size;   /* usable bytes */
    uint8_t klass; /* size class, or FA_SLAB_LARGE */
} fa_slab_hdr;

static int fa_slab_class(size_t n)
{
    size_t c = 32;
    for (int k = 0; k < FA_SLAB_CLASSES; k++, c <<= 1)
        if (n <= c)
            return k;
    return -1;
}

void *fa_slab_alloc(fa_slab *s, size_t n)
{
    int k = fa_slab_class(n);
    fa_slab_hdr *h;
    if (k >= 0 && s->free[k] != NULL) {
        h = s->free[k];
        s->free[k] = *(void **)((char *)h + FA_SLAB_HDR);
        s->count[k]--;
        return (char *)h + FA_SLAB_HDR;
    }
    size_t size = k >= 0 ? (size_t)32 << k : n;
    if (size > SIZE_MAX - FA_SLAB_HDR)
        return NULL;
    h = malloc(FA_SLAB_HDR + size);
    if (h == NULL)
        return NULL;
    h->size = size;
    h->klass = k >= 0 ? (uint8_t)k : FA_SLAB_LARGE;
    return (char *)h + FA_SLAB_HDR;
}

void *fa_slab_calloc(fa_slab *s, size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size)
        return NULL;
    void *p = fa_slab_alloc(s, nmemb * size);
    if (p != NULL)
        memset(p, 0, nmemb * size);
    return p;
}

void fa_slab_free(fa_slab *s, void *p)
{
    if (p == NULL)
        return;
    fa_slab_hdr *h = (fa_slab_hdr *)((char *)p - FA_SLAB_HDR);
    int k = h->klass;
    if (k == FA_SLAB_LARGE || s->count[k] >= FA_SLAB_CACHE_BYTES / ((size_t)32 << k)) {
        free(h);
        return;
    }
    *(void **)p = s->free[k];
    s->free[k] = h;
    s->count[k]++;
}

void *fa_slab_realloc(fa_slab *s, void *p, size_t n)
{
    if (p == NULL)
        return fa_slab_alloc(s, n);
    fa_slab_hdr *h = (fa_slab_hdr *)((char *)p - FA_SLAB_HDR);
    if (n <= h->size)
        return p;
    void *q = fa_slab_alloc(s, n);
    if (q == NULL)
        return NULL;
    memcpy(q, p, h->size);
    fa_slab_free(s, p);
    return q;
}

void fa_slab_drain(fa_slab *s)
{
    for (int k = 0; k < FA_SLAB_CLASSES; k++) {
        void *h = s->free[k];
        while (h != NULL) {
            void *next = *(void **)((char *)h + FA_SLAB_HDR);
            free(h);
            h = next;
        }
        s->free[k] = NULL;
        s->count[k] = 0;
    }
}
