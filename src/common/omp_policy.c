#include "common/omp_policy.h"

#include <stdlib.h>
#include <unistd.h>

void flx_prefer_passive_omp_wait(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* execv returned: keep running with libgomp's default policy. */
}
