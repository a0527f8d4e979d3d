/* ring.h - a lock-free single-producer / single-consumer ring of pointers.
 *
 * Exactly one thread may push and exactly one thread may pop.  The producer
 * owns `tail`, the consumer owns `head`; each reads the other's index with
 * acquire ordering and publishes its own with release ordering, so a slot's
 * contents are visible before the index that exposes it.  The two indexes sit
 * on separate cache lines so producer and consumer do not false-share.
 * Indexes grow without bound and are masked into the slot array (capacity is
 * a power of two), so "full" is tail - head == capacity.
 *
 * The ring carries no wake-up: pair it with an eventfd (see worker.c).
 */
#ifndef FA_RING_H
#define FA_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#define FA_CACHELINE 64

typedef struct fa_ring {
    _Alignas(FA_CACHELINE) _Atomic size_t head; /* next slot to pop */
    size_t cached_tail;                         /* consumer's view of tail */
    _Alignas(FA_CACHELINE) _Atomic size_t tail; /* next slot to push */
    size_t cached_head;                         /* producer's view of head */
    _Alignas(FA_CACHELINE) size_t mask;
    void **slots;
} fa_ring;

/* capacity is rounded up to a power of two. Returns 0, or -1 on bad
 * capacity or out of memory. */
static inline int fa_ring_init(fa_ring *r, size_t capacity)
{
    size_t cap = 1;
    if (capacity == 0 || capacity > ((size_t)1 << 30))
        return -1;
    while (cap < capacity)
        cap <<= 1;
    r->slots = calloc(cap, sizeof(void *));
    if (r->slots == NULL)
        return -1;
    r->mask = cap - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    r->cached_head = r->cached_tail = 0;
    return 0;
}

static inline void fa_ring_destroy(fa_ring *r)
{
    free(r->slots);
    r->slots = NULL;
}

static inline size_t fa_ring_capacity(const fa_ring *r) { return r->mask + 1; }

/* Producer only. Returns false when the ring is full. */
static inline bool fa_ring_push(fa_ring *r, void *item)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (tail - r->cached_head > r->mask) {
        r->cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
        if (tail - r->cached_head > r->mask)
            return false;
    }
    r->slots[tail & r->mask] = item;
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    return true;
}

/* Consumer only. Returns NULL when the ring is empty. */
static inline void *fa_ring_pop(fa_ring *r)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (head == r->cached_tail) {
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head == r->cached_tail)
            return NULL;
    }
    void *item = r->slots[head & r->mask];
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return item;
}

/* Either side; a snapshot that may be stale by the time it returns. */
static inline size_t fa_ring_size(fa_ring *r)
{
    size_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    return t - h;
}

#endif
