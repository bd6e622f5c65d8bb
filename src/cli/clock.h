/* Wall-clock seconds from a monotonic clock, for throughput reports. */
#ifndef FLEXLLM_CLI_CLOCK_H
#define FLEXLLM_CLI_CLOCK_H

#include <time.h>

static inline double flx_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#endif
