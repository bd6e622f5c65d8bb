/* A quantized model as the accelerator engines consume it: integer weights
 * with per-output-channel scales and row sums, float norms and embeddings,
 * static attention scales, and the activation quantization settings. The
 * quantize command writes it to an artifact file; the engines and the
 * fake-quant float model read it. */
#ifndef FLEXLLM_QUANT_QMODEL_H
#define FLEXLLM_QUANT_QMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "modelio/model.h"

/* Largest code of a 16-bit weight: 127 * 256 + 127, so that both bytes of
 * every code split as below fit an 8-bit linear array. */
#define FLX_QMAX16 32639

/* One quantized linear layer y = W x, W [d_out][d_in]. A 16-bit weight code
 * c is stored as two int8 bytes, c = 256 * hi + lo with
 * hi = floor((c + 128) / 256) in [-127, 127] and lo in [-128, 127]. The
 * engines stream each byte matrix through the 8-bit arrays. */
typedef struct flx_qlinear {
    int d_in, d_out;
    int bits;         /* 4, 8 or 16: codes in [-qmax, qmax], qmax = 2^(bits-1)-1, or FLX_QMAX16 */
    int8_t *q;        /* [d_out][d_in] one code per byte, row-major (the high bytes when bits == 16) */
    int8_t *q_lo;     /* [d_out][d_in] low bytes when bits == 16, else NULL */
    int group_size;   /* 0: one scale per output channel; else input columns per scale (32, 64 or 128) */
    float *scale;     /* [d_out][groups] W ~= scale[o][i / group_size] * code[o][i] (one group per row when 0) */
    float *rowsum;    /* [d_out] sum_i scale[o][group of i] * code[o][i], for the asymmetric-activation offset */
} flx_qlinear;

/* Returns the scales per output row: 1, or d_in / group_size. */
static inline int flx_qlinear_groups(const flx_qlinear *w) { return w->group_size > 0 ? w->d_in / w->group_size : 1; }

/* Largest code of a bits-bit weight (4, 8 or 16). */
static inline int flx_weight_qmax(int bits) { return bits == 16 ? FLX_QMAX16 : (1 << (bits - 1)) - 1; }

/* High byte of a 16-bit code c in [-FLX_QMAX16, FLX_QMAX16]: floor((c + 128) / 256),
 * computed on a non-negative dividend so that the division is a floor. */
static inline int8_t flx_code16_high(int c) { return (int8_t)((c + 128 + 32768) / 256 - 128); }

/* Low byte of a 16-bit code: c - 256 * high, in [-128, 127]. */
static inline int8_t flx_code16_low(int c) { return (int8_t)(c - 256 * flx_code16_high(c)); }

/* Weight code [o][i] at index o * d_in + i, whatever the width. */
static inline int flx_qlinear_code(const flx_qlinear *w, size_t index) {
    return w->bits == 16 ? 256 * w->q[index] + w->q_lo[index] : w->q[index];
}

/* Dynamic activation quantizer settings for the inputs of the linears. */
typedef struct flx_act_quant {
    int bits;         /* 4 or 8 */
    bool asymmetric;  /* true: unsigned codes with a float offset (the minimum) */
    float clip;       /* clip ratio in (0, 1]: range scaled by this before quantizing */
} flx_act_quant;

/* KV-cache quantizer. Static: INT8 codes with the calibrated per-head
 * k_scale and v_scale of each layer. Dynamic: every K and V row of a head
 * is quantized when it is written. Each group of group_size channels gets
 * one scale, and an offset when asymmetric. group_size divides head_dim,
 * and group_size = head_dim gives one scale per head and token. */
typedef struct flx_kv_quant {
    bool dynamic;
    bool per_layer;   /* one calibrated Q scale, and K and V scale when static, for all heads of a layer */
    int bits;         /* 8 when static; 4 or 8 when dynamic */
    int group_size;   /* dynamic only */
    bool asymmetric;  /* dynamic only: min/max range with an offset per group, else symmetric */
    float clip;       /* dynamic only: clip ratio in (0, 1] applied to each group's range */
} flx_kv_quant;

typedef struct flx_qlayer {
    const float *attn_norm;  /* [dim] */
    const float *ffn_norm;   /* [dim] */
    flx_qlinear wq, wk, wv, wo, w_gate, w_up, w_down;
    float *q_scale;          /* [n_heads] static INT8 scale of Q after RoPE */
    float *k_scale;          /* [n_kv_heads] static INT8 scale of the K cache */
    float *v_scale;          /* [n_kv_heads] static INT8 scale of the V cache */
    float prob_scale;        /* static UINT8 scale of attention probabilities */
} flx_qlayer;

typedef struct flx_qmodel {
    flx_config config;
    flx_act_quant act;           /* linear inputs inside the layers */
    flx_act_quant lm_head_act;   /* LM head input */
    flx_kv_quant kv;             /* KV cache */
    bool online_hadamard_qk;     /* R3: normalized Walsh-Hadamard of each Q and K head after RoPE */
    bool online_hadamard_ffn;    /* R4 before w_down: normalized Walsh-Hadamard, or r4_matrix */
    float *r4_matrix;            /* [ffn_dim][ffn_dim] dense R4, h <- R h, or NULL for Walsh-Hadamard */
    const float *token_embedding;/* [vocab_size][dim] float32 */
    const float *output_norm;    /* [dim] */
    flx_qlinear lm_head;         /* [vocab_size][dim] */
    flx_qlayer *layers;          /* [n_layers] */
    const float *rope_freqs;     /* [rope_dim/2] or NULL, as in flx_model */
    char recipe[32];
    /* Ownership of every buffer above. */
    void **owned;
    int n_owned, cap_owned;
    /* Float model the weights were quantized from, or NULL after loading an
     * artifact. Borrowed: the norms and embedding may point into it, so it
     * must outlive this model. */
    flx_model *source;
} flx_qmodel;

void *flx_qmodel_alloc(flx_qmodel *m, size_t bytes, flx_error *err);
void flx_qmodel_free(flx_qmodel *m);

#endif
