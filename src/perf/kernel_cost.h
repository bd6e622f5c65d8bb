/* Cycle and byte counts of each kernel invocation, from its loop bounds,
 * initiation interval (1 for every pipelined loop) and an estimated
 * pipeline depth. The simulation counters and the performance model both
 * use these functions, so the two cannot disagree. */
#ifndef FLEXLLM_PERF_KERNEL_COST_H
#define FLEXLLM_PERF_KERNEL_COST_H

#include <stdint.h>

/* Estimated fill/drain latency of a pipelined loop nest, in cycles.
 * NOTE: estimates; no HLS report has been read for these kernels. */
#define FLX_DEPTH_LINEAR 12
#define FLX_DEPTH_ATTENTION 10
#define FLX_DEPTH_ELEMENTWISE 8
#define FLX_DEPTH_FLOAT_REDUCE 16

/* One decode array: ceil(n_rows / wp) tiles, each d_in cycles plus depth. */
uint64_t flx_cost_linear_decode(int d_in, int n_rows, int wp);
/* One prefill weight block over one token block: ceil(d_out / wp) tiles. */
uint64_t flx_cost_linear_prefill(int d_in, int d_out, int wp);
/* Dynamic quantizer: range pass plus quantize pass over n / lanes cycles. */
uint64_t flx_cost_quant_dynamic(int n, int lanes);
/* Elementwise pass (dequantizer, static quantizers, SiLU gate, residual,
 * embedding, KV write) over n elements, lanes per cycle. */
uint64_t flx_cost_elementwise(int n, int lanes);
/* RMSNorm: sum of squares then scaling. */
uint64_t flx_cost_rmsnorm(int n, int lanes);
/* QK array for one head: ceil(n_keys / kp) tiles of head_dim cycles. */
uint64_t flx_cost_qk(int n_keys, int head_dim, int kp);
/* AV array for one head: ceil(head_dim / vp) passes of n_keys cycles. */
uint64_t flx_cost_av(int n_keys, int head_dim, int vp);
/* Softmax of one row: max, exp-and-sum, scale passes. */
uint64_t flx_cost_softmax(int n_keys);
/* Walsh-Hadamard: log2(n) stages of n/2 butterflies, then normalization. */
uint64_t flx_cost_fwht(int n, int lanes);
/* Dense rotation: n x n multiply-adds on `lanes` multipliers. */
uint64_t flx_cost_rotate_dense(int n, int lanes);
/* Sampler: one pass over the logits plus the candidate softmax. */
uint64_t flx_cost_sampler(int n, int k);

#endif
