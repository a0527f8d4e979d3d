/* bench_util.h - timing, statistics and output for the C microbenchmarks.
 *
 * Every result is printed twice: a line for people, and a line
 *     RESULT <name> <value> <unit>
 * that bench/run.py reads.
 */
#ifndef FA_BENCH_UTIL_H
#define FA_BENCH_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Median of n doubles (sorts them in place). */
static inline double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* p-th percentile (nearest rank) of n samples; sorts them in place. */
static inline uint64_t bench_percentile(uint64_t *v, size_t n, double p, int sorted)
{
    if (!sorted)
        qsort(v, n, sizeof(*v), bench_cmp_u64);
    size_t i = (size_t)(p / 100.0 * (double)n);
    return v[i >= n ? n - 1 : i];
}

/* Pins the calling thread to one CPU (best effort: a no-op where it fails). */
static inline void bench_pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static inline void bench_result(const char *name, double value, const char *unit, const char *what)
{
    printf("%-48s %10.2f %s\n", what, value, unit);
    printf("RESULT %s %.3f %s\n", name, value, unit);
    fflush(stdout);
}

#endif
