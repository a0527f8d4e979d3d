/* buf.c - growable byte buffers (see buf.h). */
#include "buf.h"

#include <stdlib.h>

int fa_buf_reserve(fa_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    size_t need = b->len + extra;
    if (need < b->len)
        return -1; /* overflow */
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > ((size_t)-1) / 2)
            return -1;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int fa_buf_append(fa_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (fa_buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void fa_buf_consume(fa_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void fa_buf_free(fa_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void fa_buf_shrink(fa_buf *b, size_t keep)
{
    if (b->len == 0 && b->cap > keep)
        fa_buf_free(b);
}
