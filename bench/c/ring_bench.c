/* ring_bench.c - cost of the SPSC ring (csrc/common/ring.h).
 *
 *   ring_bench [ITERATIONS]
 *
 * 1. one thread, push then pop of one item (the ring stays near empty,
 *    so every pop re-reads the producer's index): ns per push+pop pair;
 * 2. one thread, 64 pushes then 64 pops (the cached indexes hit);
 * 3. two threads, producer and consumer on different CPUs, streaming
 *    ITERATIONS items through a 1024-slot ring: ns per item;
 * 4. two threads ping-pong over two rings (push, wait for the echo): ns per
 *    round trip, i.e. two cross-core hand-offs with busy-waiting, no sleep.
 * Each figure is the median of 5 repetitions.
 */
#include "bench_util.h"
#include "../../csrc/common/ring.h"

#define REPS 5

static size_t iterations = 20000000;

static double one_thread_pairs(void)
{
    fa_ring r;
    if (fa_ring_init(&r, 1024) != 0)
        abort();
    uintptr_t sum = 0;
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < iterations; i++) {
        fa_ring_push(&r, (void *)(uintptr_t)(i + 1));
        sum += (uintptr_t)fa_ring_pop(&r);
    }
    uint64_t t1 = bench_now_ns();
    fa_ring_destroy(&r);
    if (sum == 0)
        abort();
    return (double)(t1 - t0) / (double)iterations;
}

static double one_thread_batches(void)
{
    fa_ring r;
    if (fa_ring_init(&r, 1024) != 0)
        abort();
    uintptr_t sum = 0;
    size_t rounds = iterations / 64;
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < rounds; i++) {
        for (uintptr_t k = 1; k <= 64; k++)
            fa_ring_push(&r, (void *)k);
        for (int k = 0; k < 64; k++)
            sum += (uintptr_t)fa_ring_pop(&r);
    }
    uint64_t t1 = bench_now_ns();
    fa_ring_destroy(&r);
    if (sum == 0)
        abort();
    return (double)(t1 - t0) / (double)(rounds * 64);
}

struct pair {
    fa_ring a, b; /* a: main -> helper, b: helper -> main (ping-pong only) */
    size_t n;
    int pingpong;
    uintptr_t sum;
};

static void *helper(void *arg)
{
    struct pair *p = arg;
    bench_pin(1);
    uintptr_t sum = 0;
    for (size_t i = 0; i < p->n; i++) {
        void *item;
        while ((item = fa_ring_pop(&p->a)) == NULL)
            ; /* busy-wait, no syscall */
        sum += (uintptr_t)item;
        if (p->pingpong)
            while (!fa_ring_push(&p->b, item))
                ;
    }
    p->sum = sum;
    return NULL;
}

static double two_threads(int pingpong)
{
    struct pair p = {.n = pingpong ? iterations / 20 : iterations, .pingpong = pingpong};
    if (fa_ring_init(&p.a, 1024) != 0 || fa_ring_init(&p.b, 1024) != 0)
        abort();
    pthread_t t;
    if (pthread_create(&t, NULL, helper, &p) != 0)
        abort();
    bench_pin(0);
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < p.n; i++) {
        while (!fa_ring_push(&p.a, (void *)(uintptr_t)(i + 1)))
            ;
        if (pingpong)
            while (fa_ring_pop(&p.b) == NULL)
                ;
    }
    pthread_join(t, NULL);
    uint64_t t1 = bench_now_ns();
    fa_ring_destroy(&p.a);
    fa_ring_destroy(&p.b);
    if (p.sum == 0)
        abort();
    return (double)(t1 - t0) / (double)p.n;
}

static double median_of(double (*fn)(void))
{
    double v[REPS];
    for (int i = 0; i < REPS; i++)
        v[i] = fn();
    return bench_median(v, REPS);
}

static double stream(void) { return two_threads(0); }
static double pingpong(void) { return two_threads(1); }

int main(int argc, char **argv)
{
    if (argc > 1)
        iterations = strtoull(argv[1], NULL, 10);
    if (iterations < 1000)
        iterations = 1000;
    printf("SPSC ring (csrc/common/ring.h), %zu iterations, median of %d\n", iterations, REPS);
    bench_result("ring_1thread_pair_ns", median_of(one_thread_pairs), "ns",
                 "1 thread, push+pop pair");
    bench_result("ring_1thread_batch_ns", median_of(one_thread_batches), "ns",
                 "1 thread, push+pop per item, batches of 64");
    bench_result("ring_2thread_stream_ns", median_of(stream), "ns",
                 "2 threads, push -> pop per item (streaming)");
    bench_result("ring_2thread_roundtrip_ns", median_of(pingpong), "ns",
                 "2 threads, ping-pong round trip (spinning)");
    return 0;
}
