/* OpenMP wait policy for the command-line programs. */
#ifndef FLEXLLM_COMMON_OMP_POLICY_H
#define FLEXLLM_COMMON_OMP_POLICY_H

/* Makes idle OpenMP threads sleep instead of spinning, unless the user set
 * OMP_WAIT_POLICY: libgomp's default spin made the engine simulation up to
 * 7x slower on a 2-vCPU virtual machine (bench/run.sh, 2026-12). libgomp
 * reads the variable when it loads, before main, so the program re-executes
 * itself once with the variable set; if that fails it carries on. Call it
 * first thing in main. */
void flx_prefer_passive_omp_wait(char **argv);

#endif
