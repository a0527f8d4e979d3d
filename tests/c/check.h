/* check.h - the C unit tests' one assertion (internal to tests/c/).
 *
 * CHECK(cond, fmt, ...) counts a pass, or counts a failure and prints where
 * and why; the test's main() ends by printing "N passed, N failed" (the line
 * scripts/test.sh and CI read) and exiting non-zero on any failure.
 */
#ifndef FA_TESTS_CHECK_H
#define FA_TESTS_CHECK_H

#include <stdio.h>

static int fa_t_passed, fa_t_failed;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (cond) {                                                          \
            fa_t_passed++;                                                   \
        } else {                                                             \
            fa_t_failed++;                                                   \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

#endif
