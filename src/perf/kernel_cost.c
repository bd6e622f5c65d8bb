#include "perf/kernel_cost.h"

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

uint64_t flx_cost_linear_decode(int d_in, int n_rows, int wp) {
    if (n_rows <= 0) return 0;
    return ceil_div((uint64_t)n_rows, (uint64_t)wp) * ((uint64_t)d_in + FLX_DEPTH_LINEAR);
}

uint64_t flx_cost_linear_prefill(int d_in, int d_out, int wp) {
    return ceil_div((uint64_t)d_out, (uint64_t)wp) * ((uint64_t)d_in + FLX_DEPTH_LINEAR);
}

uint64_t flx_cost_quant_dynamic(int n, int lanes) {
    return 2 * ceil_div((uint64_t)n, (uint64_t)lanes) + FLX_DEPTH_FLOAT_REDUCE;
}

uint64_t flx_cost_elementwise(int n, int lanes) {
    return ceil_div((uint64_t)n, (uint64_t)lanes) + FLX_DEPTH_ELEMENTWISE;
}

uint64_t flx_cost_rmsnorm(int n, int lanes) {
    return 2 * ceil_div((uint64_t)n, (uint64_t)lanes) + FLX_DEPTH_FLOAT_REDUCE;
}

uint64_t flx_cost_qk(int n_keys, int head_dim, int kp) {
    return ceil_div((uint64_t)n_keys, (uint64_t)kp) * ((uint64_t)head_dim + FLX_DEPTH_ATTENTION);
}

uint64_t flx_cost_av(int n_keys, int head_dim, int vp) {
    return ceil_div((uint64_t)head_dim, (uint64_t)vp) * ((uint64_t)n_keys + FLX_DEPTH_ATTENTION);
}

uint64_t flx_cost_softmax(int n_keys) { return 3 * (uint64_t)n_keys + FLX_DEPTH_FLOAT_REDUCE; }

uint64_t flx_cost_fwht(int n, int lanes) {
    int log2n = 0;
    while ((1 << log2n) < n) log2n++;
    return (uint64_t)log2n * ceil_div((uint64_t)n / 2, (uint64_t)lanes) +
           ceil_div((uint64_t)n, (uint64_t)lanes) + FLX_DEPTH_ELEMENTWISE;
}

uint64_t flx_cost_rotate_dense(int n, int lanes) {
    return ceil_div((uint64_t)n * (uint64_t)n, (uint64_t)lanes) + FLX_DEPTH_FLOAT_REDUCE;
}

uint64_t flx_cost_sampler(int n, int k) { return (uint64_t)n + 3 * (uint64_t)k + FLX_DEPTH_FLOAT_REDUCE; }
