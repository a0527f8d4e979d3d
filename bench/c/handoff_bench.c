/* handoff_bench.c - the pooled hand-off mechanism alone, without Python.
 *
 *   handoff_bench [ROUND_TRIPS]
 *
 * Mirrors csrc/server/pool.c and worker.c: a "worker" thread pushes a job
 * pointer into an SPSC ring and writes the pooled thread's eventfd; the
 * "pooled" thread sleeps in read() on that eventfd, pops the job, pushes it
 * into the answer ring and writes the worker's eventfd; the worker sleeps in
 * epoll_wait() on its (non-blocking) eventfd, reads it and pops the answer.
 * One sample is one round trip worker -> pooled -> worker, both wake-ups
 * included. Prints p50, p99 and the mean in microseconds.
 */
#include "bench_util.h" /* first: it defines _GNU_SOURCE */

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../../csrc/common/ring.h"

static size_t trips = 100000;

static fa_ring to_pool, to_worker;
static int pool_fd, worker_fd;

static void wake(int fd)
{
    uint64_t one = 1;
    while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

static void *pooled(void *arg)
{
    (void)arg;
    bench_pin(1);
    for (;;) {
        uint64_t v;
        if (read(pool_fd, &v, sizeof(v)) < 0) { /* sleeps until a job */
            if (errno == EINTR)
                continue;
            abort();
        }
        void *job;
        while ((job = fa_ring_pop(&to_pool)) != NULL) {
            if (job == (void *)1) /* stop */
                return NULL;
            while (!fa_ring_push(&to_worker, job))
                ;
            wake(worker_fd);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc > 1)
        trips = strtoull(argv[1], NULL, 10);
    if (trips < 100)
        trips = 100;
    if (fa_ring_init(&to_pool, 256) || fa_ring_init(&to_worker, 256))
        abort();
    pool_fd = eventfd(0, EFD_CLOEXEC);
    worker_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = worker_fd};
    if (pool_fd < 0 || worker_fd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, worker_fd, &ev))
        abort();

    pthread_t t;
    if (pthread_create(&t, NULL, pooled, NULL) != 0)
        abort();
    bench_pin(0);

    uint64_t *samples = malloc(trips * sizeof(*samples));
    static int job_token;
    size_t warm = trips / 10;
    for (size_t i = 0; i < warm + trips; i++) {
        uint64_t t0 = bench_now_ns();
        while (!fa_ring_push(&to_pool, &job_token))
            ;
        wake(pool_fd);
        void *answer = NULL;
        while (answer == NULL) {
            struct epoll_event out;
            int n = epoll_wait(ep, &out, 1, -1);
            if (n < 0 && errno != EINTR)
                abort();
            uint64_t v;
            (void)!read(worker_fd, &v, sizeof(v));
            answer = fa_ring_pop(&to_worker);
        }
        uint64_t t1 = bench_now_ns();
        if (i >= warm)
            samples[i - warm] = t1 - t0;
    }
    while (!fa_ring_push(&to_pool, (void *)1))
        ;
    wake(pool_fd);
    pthread_join(t, NULL);

    double sum = 0;
    for (size_t i = 0; i < trips; i++)
        sum += (double)samples[i];
    double p50 = (double)bench_percentile(samples, trips, 50, 0) / 1000.0;
    double p99 = (double)bench_percentile(samples, trips, 99, 1) / 1000.0;
    printf("Pooled hand-off round trip (ring + eventfd both ways), %zu trips\n", trips);
    bench_result("handoff_p50_us", p50, "us", "round trip p50");
    bench_result("handoff_p99_us", p99, "us", "round trip p99");
    bench_result("handoff_mean_us", sum / (double)trips / 1000.0, "us", "round trip mean");
    free(samples);
    return 0;
}
