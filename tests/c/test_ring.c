/* test_ring.c - unit tests for the SPSC ring in csrc/common/ring.h.
 *
 * Single-thread checks of push/pop/full/empty and index wraparound, then one
 * producer and one consumer thread passing 10 million sequence numbers that
 * the consumer checks arrive in order.  The last line printed is
 * "N passed, N failed"; the exit status is non-zero on any failure.
 */
#include "../../csrc/common/ring.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>

#include "check.h"

/* Items are sequence numbers + 1 disguised as pointers: NULL means empty. */
static void *fa_t_item(uintptr_t seq) { return (void *)(seq + 1); }
static uintptr_t fa_t_seq(void *item) { return (uintptr_t)item - 1; }

/* The ring is over-aligned (cache lines), so keep it in static storage where
 * the compiler honours the alignment rather than in malloc'd memory. */
static fa_ring fa_t_ring;

static void test_init(void)
{
    fa_ring *r = &fa_t_ring;
    CHECK(fa_ring_init(r, 0) == -1, "capacity 0 refused");
    CHECK(fa_ring_init(r, ((size_t)1 << 30) + 1) == -1, "capacity over 2^30 refused");
    CHECK(fa_ring_init(r, 5) == 0, "capacity 5");
    CHECK(fa_ring_capacity(r) == 8, "5 rounds up to 8: %zu", fa_ring_capacity(r));
    fa_ring_destroy(r);
    CHECK(r->slots == NULL, "destroy clears slots");
    CHECK(fa_ring_init(r, 1) == 0 && fa_ring_capacity(r) == 1, "capacity 1");
    CHECK(fa_ring_push(r, fa_t_item(0)), "push into capacity 1");
    CHECK(!fa_ring_push(r, fa_t_item(1)), "capacity 1 full");
    CHECK(fa_ring_pop(r) == fa_t_item(0), "pop capacity 1");
    CHECK(fa_ring_pop(r) == NULL, "capacity 1 empty");
    fa_ring_destroy(r);
    CHECK(fa_ring_init(r, 16) == 0 && fa_ring_capacity(r) == 16, "power of two kept");
    fa_ring_destroy(r);
}

static void test_single_thread(void)
{
    fa_ring *r = &fa_t_ring;
    CHECK(fa_ring_init(r, 8) == 0, "init 8");

    CHECK(fa_ring_pop(r) == NULL, "new ring is empty");
    CHECK(fa_ring_size(r) == 0, "size 0");
    for (uintptr_t i = 0; i < 8; i++)
        CHECK(fa_ring_push(r, fa_t_item(i)), "push %zu", (size_t)i);
    CHECK(fa_ring_size(r) == 8, "size 8: %zu", fa_ring_size(r));
    CHECK(!fa_ring_push(r, fa_t_item(8)), "push into full ring fails");
    CHECK(fa_ring_size(r) == 8, "failed push changes nothing");
    for (uintptr_t i = 0; i < 8; i++) {
        void *it = fa_ring_pop(r);
        CHECK(it != NULL && fa_t_seq(it) == i, "pop %zu in order", (size_t)i);
    }
    CHECK(fa_ring_pop(r) == NULL, "empty after draining");
    CHECK(fa_ring_push(r, fa_t_item(100)), "push after full/empty cycle");
    CHECK(fa_ring_pop(r) == fa_t_item(100), "pop it back");

    /* Interleaved pushes and pops move the indexes far past the capacity
     * with every fill level from 0 to 8, checking FIFO order across the
     * wrap of the slot array. */
    uintptr_t next_push = 0, next_pop = 0;
    int ok = 1;
    for (int round = 0; round < 10000 && ok; round++) {
        int pushes = 1 + round % 8, pops = 1 + (round * 5) % 8;
        for (int i = 0; i < pushes; i++) {
            int want = next_push - next_pop < 8;
            int got = fa_ring_push(r, fa_t_item(next_push));
            if (got != want)
                ok = 0;
            if (got)
                next_push++;
        }
        for (int i = 0; i < pops; i++) {
            void *it = fa_ring_pop(r);
            if (next_pop == next_push) {
                if (it != NULL)
                    ok = 0;
            } else if (it == NULL || fa_t_seq(it) != next_pop++) {
                ok = 0;
            }
        }
        if (fa_ring_size(r) != next_push - next_pop)
            ok = 0;
    }
    CHECK(ok, "wraparound FIFO order and full/empty (stopped at %zu)", (size_t)next_pop);
    CHECK(next_push > 1000, "indexes wrapped many times: %zu", (size_t)next_push);
    fa_ring_destroy(r);
}

#define FA_T_COUNT 10000000u

typedef struct fa_t_consumer {
    fa_ring *ring;
    uintptr_t received;
    uintptr_t out_of_order; /* first mismatch, or UINTPTR_MAX */
} fa_t_consumer;

static void *fa_t_produce(void *arg)
{
    fa_ring *r = arg;
    for (uintptr_t i = 0; i < FA_T_COUNT; i++)
        while (!fa_ring_push(r, fa_t_item(i)))
            sched_yield(); /* full: give the consumer the CPU on small machines */
    return NULL;
}

static void *fa_t_consume(void *arg)
{
    fa_t_consumer *c = arg;
    while (c->received < FA_T_COUNT) {
        void *it = fa_ring_pop(c->ring);
        if (it == NULL) {
            sched_yield();
            continue;
        }
        if (fa_t_seq(it) != c->received && c->out_of_order == UINTPTR_MAX)
            c->out_of_order = c->received;
        c->received++;
    }
    return NULL;
}

static void test_two_threads(void)
{
    fa_ring *r = &fa_t_ring;
    fa_t_consumer c = {r, 0, UINTPTR_MAX};
    pthread_t prod, cons;

    CHECK(fa_ring_init(r, 1024) == 0, "init 1024");
    CHECK(pthread_create(&cons, NULL, fa_t_consume, &c) == 0, "start consumer");
    CHECK(pthread_create(&prod, NULL, fa_t_produce, r) == 0, "start producer");
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    CHECK(c.received == FA_T_COUNT, "received %zu", (size_t)c.received);
    CHECK(c.out_of_order == UINTPTR_MAX, "in order (first mismatch at %zu)",
          (size_t)c.out_of_order);
    CHECK(fa_ring_pop(r) == NULL && fa_ring_size(r) == 0, "empty at the end");
    fa_ring_destroy(r);
}

int main(void)
{
    test_init();
    test_single_thread();
    test_two_threads();
    printf("%d passed, %d failed\n", fa_t_passed, fa_t_failed);
    return fa_t_failed != 0;
}
