/* buf.h - growable byte buffers.
 *
 * A fa_buf owns its bytes (malloc'd).  Buffers are kept and reused by their
 * owner (a connection, a worker's response slot) so that the steady-state
 * request path does not allocate: fa_buf_reset() keeps the capacity.
 */
#ifndef FA_BUF_H
#define FA_BUF_H

#include <stddef.h>
#include <string.h>

typedef struct fa_buf {
    char *data;
    size_t len;
    size_t cap;
} fa_buf;

#define FA_BUF_INIT {NULL, 0, 0}

/* Ensures room for `extra` more bytes. Returns 0, or -1 when out of memory. */
int fa_buf_reserve(fa_buf *b, size_t extra);
/* Appends bytes. Returns 0, or -1 when out of memory. */
int fa_buf_append(fa_buf *b, const void *p, size_t n);
/* Drops the first n bytes, moving the rest to the front. */
void fa_buf_consume(fa_buf *b, size_t n);
/* Frees the storage and leaves an empty buffer. */
void fa_buf_free(fa_buf *b);
/* Frees the storage when it grew past `keep` bytes (so one large request
 * does not pin memory for the life of a connection); otherwise just empties. */
void fa_buf_shrink(fa_buf *b, size_t keep);

static inline void fa_buf_reset(fa_buf *b) { b->len = 0; }

static inline int fa_buf_appends(fa_buf *b, const char *s) {
    return fa_buf_append(b, s, strlen(s));
}

#endif
