/* Minimal test assertions: each failure prints file:line, the expression and
 * the values, and the test exits non-zero at the end. */
#ifndef FLEXLLM_TESTS_CHECK_H
#define FLEXLLM_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>

extern int flx_check_failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
            flx_check_failures++;                                                     \
        }                                                                             \
    } while (0)

#define CHECK_INT_EQ(actual, expected)                                                \
    do {                                                                              \
        long long a_ = (long long)(actual), e_ = (long long)(expected);               \
        if (a_ != e_) {                                                               \
            fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, \
                    #actual, a_, e_);                                                 \
            flx_check_failures++;                                                     \
        }                                                                             \
    } while (0)

/* |actual - expected| <= tol * max(1, |expected|) */
#define CHECK_NEAR(actual, expected, tol)                                             \
    do {                                                                              \
        double a_ = (double)(actual), e_ = (double)(expected);                        \
        double s_ = fabs(e_) > 1.0 ? fabs(e_) : 1.0;                                  \
        if (!(fabs(a_ - e_) <= (tol) * s_)) {                                         \
            fprintf(stderr, "%s:%d: %s == %.9g, expected %.9g (tolerance %g)\n",      \
                    __FILE__, __LINE__, #actual, a_, e_, (double)(tol));              \
            flx_check_failures++;                                                     \
        }                                                                             \
    } while (0)

/* Call at the end of main: prints PASS or FAIL and returns the exit status. */
int flx_check_report(const char *test_name);

#endif
