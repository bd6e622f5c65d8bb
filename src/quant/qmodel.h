/* A quantized model as the accelerator engines consume it: integer weights
 * with per-output-channel scales and row sums, float norms and embeddings,
 * static attention scales, and the activation quantization settings. The
 * quantize command writes it to an artifact file; the engines and the
 * fake-quant float model read it. */
#ifndef FLEXLLM_QUANT_QMODEL_H
#define FLEXLLM_QUANT_QMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "modelio/model.h"

/* One quantized linear layer y = W x, W [d_out][d_in]. */
typedef struct flx_qlinear {
    int d_in, d_out;
    int bits;         /* 4 or 8: weights are integers in [-(2^(bits-1)-1), 2^(bits-1)-1] */
    int8_t *q;        /* [d_out][d_in] one weight per byte, row-major */
    float *scale;     /* [d_out] per-output-channel scale: W ~= scale[o] * q[o][i] */
    float *rowsum;    /* [d_out] sum_i scale[o] * q[o][i], for the asymmetric-activation offset */
} flx_qlinear;

/* Dynamic activation quantizer settings for the inputs of the linears. */
typedef struct flx_act_quant {
    int bits;         /* 4 or 8 */
    bool asymmetric;  /* true: unsigned codes with a float offset (the minimum) */
    float clip;       /* clip ratio in (0, 1]: range scaled by this before quantizing */
} flx_act_quant;

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
    bool online_hadamard_ffn;    /* R4: normalized Walsh-Hadamard before w_down */
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
