/* slab.h - a per-thread cache of small heap blocks.
 *
 * Freed blocks of up to 4 KiB go to a free list of their size class (32,
 * 64, ... 4096 bytes) instead of back to malloc, so code that allocates and
 * frees the same shapes per request (nghttp2's streams, frames and header
 * buffers) stops calling malloc once warm.  Not thread-safe: one slab per
 * worker thread.  Each block carries a 16-byte header with its class.
 */
#ifndef FA_SLAB_H
#define FA_SLAB_H

#include <stddef.h>
#include <stdint.h>

#define FA_SLAB_CLASSES 8 /* 32 << 0 .. 32 << 7 = 4096 */
#define FA_SLAB_CACHE_BYTES (1u << 20) /* cached per class at most */

typedef struct fa_slab {
    void *free[FA_SLAB_CLASSES];
    uint32_t count[FA_SLAB_CLASSES];
} fa_slab;

void *fa_slab_alloc(fa_slab *s, size_t n);
void *fa_slab_calloc(fa_slab *s, size_t nmemb, size_t size);
void *fa_slab_realloc(fa_slab *s, void *p, size_t n);
void fa_slab_free(fa_slab *s, void *p);
/* Returns every cached block to the system. */
void fa_slab_drain(fa_slab *s);

#endif
