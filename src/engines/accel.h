/* The accelerator: a quantized model packed for a spatial prefill engine and
 * a temporal decode engine that share one INT8 KV cache. Both engines run
 * the kernels of src/kernels/ as a bit-exact C simulation and count modeled
 * cycles and memory traffic. */
#ifndef FLEXLLM_ENGINES_ACCEL_H
#define FLEXLLM_ENGINES_ACCEL_H

#include <stdint.h>

#include "common/error.h"
#include "engines/accel_config.h"
#include "engines/counters.h"
#include "engines/weight_stream.h"
#include "kernels/limits.h"
#include "quant/qmodel.h"

/* Below this many multiply-adds a simulated module runs on one thread:
 * OpenMP's fork and join would cost more than the work. */
#define FLX_SIM_PARALLEL_MIN_WORK (1L << 18)

typedef struct flx_packed_layer {
    flx_weight_streams wq, wk, wv, wo, w_gate, w_up, w_down;
} flx_packed_layer;

/* Per-thread attention buffers. */
typedef struct flx_attention_scratch {
    int8_t (*q8)[FLX_MAX_HEAD_DIM];    /* [FLX_MAX_TP] */
    float (*scores)[FLX_MAX_SEQ];      /* [FLX_MAX_TP] */
    uint8_t (*probs)[FLX_MAX_SEQ];     /* [FLX_MAX_TP] */
    float (*out)[FLX_MAX_HEAD_DIM];    /* [FLX_MAX_TP] */
    int8_t (*kv_rows)[FLX_MAX_HEAD_DIM]; /* [FLX_MAX_TP] */
    float (*kv_scales)[FLX_MAX_HEAD_DIM]; /* [FLX_MAX_TP] group scales of kv_rows (dynamic KV) */
    float (*kv_offsets)[FLX_MAX_HEAD_DIM]; /* [FLX_MAX_TP] group offsets of kv_rows (dynamic KV) */
} flx_attention_scratch;

typedef struct flx_accel {
    const flx_qmodel *qm;
    flx_accel_config cfg;
    int max_seq;                   /* KV cache positions */
    int8_t *k_cache, *v_cache;     /* [n_layers][n_kv_heads][max_seq][head_dim] codes */
    int kv_groups;                 /* scales per cached row: head_dim / group_size, 0 when static */
    float *k_scales, *v_scales;    /* [n_layers][n_kv_heads][max_seq][kv_groups] when dynamic, else NULL */
    float *k_offsets, *v_offsets;  /* as k_scales; 0 for a symmetric cache */
    float *rope_cos, *rope_sin;    /* [max_seq][rope_dim/2] */
    flx_packed_layer *decode_layers;   /* [n_layers] BP array streams */
    flx_weight_streams decode_lm_head;
    flx_packed_layer *prefill_layers;  /* [n_layers] weight-block streams, packed on first use */
    flx_weight_streams prefill_lm_head;
    int n_threads;
    flx_attention_scratch *attn;   /* [n_threads] */
    int32_t **acc;                 /* [n_threads][FLX_MAX_TP * max linear d_out] */
    int32_t **acc_lo;              /* as acc, for the low-byte pass of 16-bit weights (NULL without them) */
    float *dec_x, *dec_xn, *dec_q, *dec_k, *dec_v, *dec_att, *dec_proj; /* decode vectors */
    float *dec_gate, *dec_up, *dec_hidden, *dec_logits;
    int16_t *dec_xq;
    int32_t *dec_acc;
    int32_t *dec_acc_lo;           /* as dec_acc, for the low-byte pass of 16-bit weights (NULL without them) */
    flx_counters prefill_counters, decode_counters;
} flx_accel;

/* Checks the model against the kernel limits and the configuration, packs
 * the decode streams and allocates a KV cache of max_seq positions. */
int flx_accel_init(flx_accel *a, const flx_qmodel *qm, const flx_accel_config *cfg, int max_seq,
                   flx_error *err);
void flx_accel_free(flx_accel *a);

/* Prefill engine: tokens [n] at positions pos0..pos0+n-1, in blocks of TP.
 * Writes their K and V into the shared cache. With logits != NULL it also
 * runs the final norm and LM head for every token ([n][vocab]). */
int flx_accel_prefill(flx_accel *a, const int32_t *tokens, int n, int pos0, float *logits,
                      flx_error *err);

/* Decode engine: one token at position pos; writes logits [vocab]. */
int flx_accel_decode(flx_accel *a, int32_t token, int pos, float *logits, flx_error *err);

/* Samples the next token from logits with the engine's sampler kernel (top-k
 * up to FLX_MAX_TOPK, temperature, top-p, host random r in [0, 1)). */
int flx_accel_sample(flx_accel *a, const float *logits, int top_k, float temperature, float top_p, float r);

/* Internal: packs the prefill streams the first time the prefill engine runs. */
int flx_accel_pack_prefill(flx_accel *a, flx_error *err);

/* Internal: quantizes the K and V rows of n <= TP tokens at positions
 * pos..pos+n-1 (k and v [n][n_kv_heads*head_dim]) and writes them to the
 * cache of one layer, with the static or the dynamic KV quantizer. */
void flx_accel_store_kv(flx_accel *a, flx_attention_scratch *s, int layer, int pos, int n, const float *k,
                        const float *v);

/* Internal: bytes of one cached K or V row of a head: head_dim codes of
 * kv bits (8 when static), plus the group scales when dynamic and the group
 * offsets when also asymmetric. */
uint64_t flx_accel_kv_row_bytes(const flx_accel *a);

/* Internal: applies R3, the normalized Walsh-Hadamard transform, to each of
 * the n_heads heads of x [n_heads][head_dim]. */
void flx_accel_hadamard_heads(const flx_accel *a, float *x, int n_heads);

/* Internal: attention of n_q consecutive queries of head h (q rows of
 * head_dim floats at stride q_stride) against the cache of one layer. */
void flx_accel_attention_head(flx_accel *a, flx_attention_scratch *s, int layer, int h,
                              const float *q_rows, int q_stride, int n_q, int pos0, int kp, int vp,
                              float *out_rows, int out_stride);

#endif
