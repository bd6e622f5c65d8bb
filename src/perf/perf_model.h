/* The model side of the performance model: a model shape with its weight
 * widths, and the counters (calls, cycles and bytes per kernel and port)
 * that the engines' simulation records for it. The counters come from the
 * shape and the configuration alone, with the kernel_cost.h formulas that
 * the simulation uses too. */
#ifndef FLEXLLM_PERF_PERF_MODEL_H
#define FLEXLLM_PERF_PERF_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "engines/accel_config.h"
#include "engines/counters.h"
#include "modelio/model.h"

typedef struct flx_perf_model {
    char name[64];
    flx_config shape;
    int weight_bits;      /* linears inside the layers: 4, 8 or 16 */
    int lm_head_bits;     /* 4, 8 or 16 */
    int act_bits;         /* dynamic activation codes of the linears: 4 or 8 */
    bool online_hadamard; /* R4: Walsh-Hadamard before w_down (power-of-two ffn_dim) */
    bool r4_dense;        /* R4 as a dense [ffn_dim][ffn_dim] float rotation instead */
    bool r3;              /* Walsh-Hadamard of every Q and K head after RoPE */
    bool kv_dynamic;      /* per-token KV quantizer, else the static INT8 one */
    int kv_bits;          /* KV code width: 8 when static, 4 or 8 when dynamic */
    int kv_group_size;    /* dynamic only: channels per scale, divides head_dim */
    bool kv_asymmetric;   /* dynamic only: an offset per group besides the scale */
} flx_perf_model;

/* Fills m from a model name known to `flexllm synth` (llama-3.2-1b, ...)
 * or a Hugging Face config.json path, with the reference design's
 * quantization: 4-bit weights and LM head, 4-bit activations, online
 * Hadamard when ffn_dim is a power of two, static INT8 KV cache, no R3. */
int flx_perf_model_get(const char *name_or_path, flx_perf_model *m, flx_error *err);

/* Checks the shape and widths against the kernel limits. */
int flx_perf_model_validate(const flx_perf_model *m, flx_error *err);

/* Bytes of one cached K or V row of one head: head_dim codes of kv_bits,
 * plus a float scale per group when dynamic and a float offset per group
 * when also asymmetric. */
uint64_t flx_perf_kv_row_bytes(const flx_perf_model *m);

/* Adds to c what the decode engine records for one token at position pos
 * (pos + 1 keys), engine_cycles included. */
void flx_perf_count_decode_token(const flx_perf_model *m, const flx_accel_config *cfg, int pos, flx_counters *c);

/* Per-layer cycles of the prefill engine's hardware modules for n tokens
 * at positions pos0.. (one layer; every layer is the same). The K and Q
 * projections share one array, as do V and O. */
typedef enum flx_prefill_module {
    FLX_PM_NORM_ATTN, FLX_PM_KQ, FLX_PM_VO, FLX_PM_ROPE, FLX_PM_KV, FLX_PM_R3, FLX_PM_QK, FLX_PM_SOFTMAX,
    FLX_PM_AV, FLX_PM_RESIDUAL_ATTN, FLX_PM_NORM_FFN, FLX_PM_GATE, FLX_PM_UP, FLX_PM_SILU, FLX_PM_FWHT,
    FLX_PM_ROTATE_DENSE, FLX_PM_DOWN, FLX_PM_RESIDUAL_FFN, FLX_PM_COUNT
} flx_prefill_module;

typedef struct flx_prefill_layer {
    uint64_t module[FLX_PM_COUNT];  /* cycles over the whole prompt, 0 for a module the model lacks */
    int n_blocks;                   /* token blocks of TP */
    int slowest;                    /* index of the slowest module */
    uint64_t cycles;                /* slowest module plus pipeline fill */
} flx_prefill_layer;

const char *flx_prefill_module_name(int module);

void flx_perf_prefill_layer(const flx_perf_model *m, const flx_accel_config *cfg, int n, int pos0,
                            flx_prefill_layer *out);

/* Adds to c what the prefill engine records for n tokens at pos0 (with
 * the final norm and LM head when logits is true). Kernel calls, cycles
 * and bytes equal the simulation's; engine_cycles is the hardware
 * composition of flx_perf_prefill_layer. */
void flx_perf_count_prefill(const flx_perf_model *m, const flx_accel_config *cfg, int n, int pos0, bool logits,
                            flx_counters *c);

/* Bytes of one pass of a decode array's stream, and of a prefill block's
 * stream (kernel word layout of kernels/linear.h). */
uint64_t flx_perf_decode_stream_bytes(int d_in, int n_rows, int wp, int bits);
uint64_t flx_perf_prefill_stream_bytes(int d_in, int d_out, int wp, int n_blocks, int bits);

/* Width of the streamed weight words of a matrix of `bits`-bit weights (4
 * or 8) and the number of passes over the arrays (2 for 16-bit). */
int flx_perf_stream_bits(int bits);
int flx_perf_passes(int bits);

#endif
