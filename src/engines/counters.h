/* Simulation counters of one engine: calls and modeled cycles per kernel,
 * bytes read and written per memory port. */
#ifndef FLEXLLM_ENGINES_COUNTERS_H
#define FLEXLLM_ENGINES_COUNTERS_H

#include <stdint.h>
#include <stdio.h>

typedef enum flx_kernel_id {
    FLX_KERNEL_EMBEDDING,
    FLX_KERNEL_RMSNORM,
    FLX_KERNEL_QUANT,
    FLX_KERNEL_LINEAR,
    FLX_KERNEL_DEQUANT,
    FLX_KERNEL_ROPE,
    FLX_KERNEL_STATIC_QUANT,
    FLX_KERNEL_KV_WRITE,
    FLX_KERNEL_QK,
    FLX_KERNEL_SOFTMAX,
    FLX_KERNEL_PROB_QUANT,
    FLX_KERNEL_AV,
    FLX_KERNEL_SILU_GATE,
    FLX_KERNEL_FWHT,
    FLX_KERNEL_ROTATE_DENSE,
    FLX_KERNEL_KV_QUANT,
    FLX_KERNEL_RESIDUAL,
    FLX_KERNEL_SAMPLER,
    FLX_KERNEL_COUNT
} flx_kernel_id;

typedef enum flx_port_id {
    FLX_PORT_WEIGHTS,    /* quantized weight streams */
    FLX_PORT_SCALES,     /* per-channel scales and row sums */
    FLX_PORT_KV_CACHE,   /* K and V codes, and their scales when dynamic */
    FLX_PORT_IO,         /* layer activations */
    FLX_PORT_EMBEDDINGS, /* float token embedding table */
    FLX_PORT_PARAMS,     /* norm gains, static scales, RoPE table */
    FLX_PORT_COUNT
} flx_port_id;

typedef struct flx_counters {
    uint64_t calls[FLX_KERNEL_COUNT];
    uint64_t cycles[FLX_KERNEL_COUNT];  /* summed over calls */
    uint64_t bytes_read[FLX_PORT_COUNT];
    uint64_t bytes_written[FLX_PORT_COUNT];
    uint64_t engine_cycles;  /* modeled latency of the runs counted */
    uint64_t tokens;         /* tokens processed */
    uint64_t runs;           /* engine invocations (prefill calls or decode steps) */
} flx_counters;

void flx_counters_add_kernel(flx_counters *c, flx_kernel_id k, uint64_t calls, uint64_t cycles);
void flx_counters_add_bytes(flx_counters *c, flx_port_id p, uint64_t read, uint64_t written);
void flx_counters_print(const flx_counters *c, const char *engine_name, FILE *out);
const char *flx_kernel_name(flx_kernel_id k);
const char *flx_port_name(flx_port_id p);

#endif
