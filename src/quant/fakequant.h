/* The fake-quant float model: docs/quantized-inference.md computed with
 * float quantize -> dequantize steps instead of integer arithmetic, written
 * separately from src/kernels so that each checks the other. Linear layers
 * and attention products add dequantized terms in double and round the sum
 * to float, which equals the integer form to about 1e-7 relative. */
#ifndef FLEXLLM_QUANT_FAKEQUANT_H
#define FLEXLLM_QUANT_FAKEQUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "quant/qmodel.h"

/* Receives one layer's Q and K after RoPE and V, before the static
 * quantizers: q [n][n_heads*head_dim], k and v [n][n_kv_heads*head_dim]. */
typedef void (*flx_fakequant_observer)(void *ctx, int layer, int n, const float *q, const float *k,
                                       const float *v);

/* Switches that turn parts of the quantization off, for calibration and
 * tests. All false (the default) runs the quantized model as specified. */
typedef struct flx_fakequant_options {
    bool float_weights;     /* use qm->source's float weights; needs qm->source */
    bool float_activations; /* skip the dynamic quantizers of the linear inputs */
    bool float_attention;   /* skip the static Q/K/V and probability quantizers */
    flx_fakequant_observer observe;
    void *observe_ctx;
} flx_fakequant_options;

typedef struct flx_fakequant_state {
    int max_seq;        /* KV cache capacity in positions */
    int max_batch;      /* tokens per flx_fakequant_forward call at most */
    flx_fakequant_options options;
    float *x;           /* [max_batch][dim] residual stream */
    float *xb;          /* [max_batch][max(dim, q_dim)] normalized input / attention output */
    float *xb2;         /* [max_batch][dim] projection output */
    float *q;           /* [max_batch][q_dim] */
    float *k;           /* [max_batch][kv_dim] */
    float *v;           /* [max_batch][kv_dim] */
    float *hb;          /* [max_batch][ffn_dim] gate, then SiLU(gate)*up */
    float *hb2;         /* [max_batch][ffn_dim] up */
    float *xq;          /* [max_batch][max(dim, q_dim, ffn_dim)] dequantized linear input */
    float *xcode;       /* [max_batch][max(dim, q_dim, ffn_dim)] its integer codes */
    float *xscale;      /* [max_batch] scale of each token's codes */
    float *xoffset;     /* [max_batch] offset (asymmetric) of each token's codes */
    float *wrows;       /* [n_att_rows][max(dim, q_dim, ffn_dim)] dequantized weight row */
    float *att;         /* [n_att_rows][max_seq] scores, then probabilities, of one head */
    int n_att_rows;     /* one row per OpenMP thread */
    float *q_codes;     /* [n_att_rows][head_dim] INT8 codes of the query of one head */
    float *key_cache;   /* [n_layers][n_kv_heads][max_seq][head_dim] dequantized K, or its codes with a dynamic KV cache */
    float *value_cache; /* [n_layers][n_kv_heads][max_seq][head_dim] as key_cache, for V */
    int kv_groups;      /* dynamic KV cache: scales per row, head_dim / group_size; else 0 */
    float *key_scales;  /* [n_layers][n_kv_heads][max_seq][kv_groups] when dynamic, else NULL */
    float *value_scales;/* as key_scales, for V */
    float *key_offsets; /* as key_scales: the group offsets, 0 when symmetric */
    float *value_offsets;
    float *rope_cos;    /* [max_seq][rope_dim/2] */
    float *rope_sin;    /* [max_seq][rope_dim/2] */
} flx_fakequant_state;

int flx_fakequant_state_init(flx_fakequant_state *s, const flx_qmodel *qm, int max_seq, int max_batch,
                             flx_error *err);
void flx_fakequant_state_free(flx_fakequant_state *s);

/* Runs n tokens at positions pos..pos+n-1, as flx_forward does: appends
 * their K and V to the cache and writes logits [n][vocab] when all_logits is
 * set, else [vocab] for the last token. */
int flx_fakequant_forward(const flx_qmodel *qm, flx_fakequant_state *s, const int32_t *tokens, int n,
                          int pos, float *logits, int all_logits, flx_error *err);

/* Quantizes x [n] with the dynamic activation quantizer and writes the
 * dequantized values s*q + offset to out. */
void flx_fakequant_dynamic(float *out, const float *x, int n, const flx_act_quant *aq);

/* The normalized Walsh-Hadamard transform of x [n] in place (n a power of
 * two): x <- H x / sqrt(n), so applying it twice restores x. */
void flx_fakequant_hadamard(float *x, int n);

#endif
