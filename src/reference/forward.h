/* The float32 reference Llama forward pass: the golden model every
 * accelerator path is checked against. */
#ifndef FLEXLLM_REFERENCE_FORWARD_H
#define FLEXLLM_REFERENCE_FORWARD_H

#include <stdint.h>

#include "common/error.h"
#include "modelio/model.h"

typedef struct flx_state {
    int max_seq;      /* KV cache capacity in positions */
    int max_batch;    /* tokens processed per flx_forward call at most */
    float *x;         /* [max_batch][dim] residual stream */
    float *xb;        /* [max_batch][max(dim, q_dim)] normalized input / attention output */
    float *xb2;       /* [max_batch][dim] projection output */
    float *q;         /* [max_batch][n_heads*head_dim] */
    float *k;         /* [max_batch][kv_dim] */
    float *v;         /* [max_batch][kv_dim] */
    float *hb;        /* [max_batch][ffn_dim] gate, then SiLU(gate)*up */
    float *hb2;       /* [max_batch][ffn_dim] up */
    float *att;       /* [n_threads][max_seq] attention scores of one head */
    int n_att_rows;
    float *key_cache;   /* [n_layers][max_seq][kv_dim] */
    float *value_cache; /* [n_layers][max_seq][kv_dim] */
    float *rope_cos;    /* [max_seq][rope_dim/2] */
    float *rope_sin;    /* [max_seq][rope_dim/2] */
} flx_state;

/* Allocates activations and a KV cache of max_seq positions, and the RoPE
 * tables (theta, llama3 or linear scaling, or the model's rope_freqs). */
int flx_state_init(flx_state *s, const flx_model *model, int max_seq, int max_batch, flx_error *err);
void flx_state_free(flx_state *s);

/* Computes the RoPE inverse frequency of pair i (0 <= i < rope_dim/2),
 * including llama3 or linear scaling and the model's rope_freqs tensor. */
double flx_rope_inv_freq(const flx_config *c, const float *rope_freqs, int i);

/* Fills the RoPE tables cos_out and sin_out [max_seq][rope_dim/2] with
 * (float)cos(pos * f_i) and (float)sin(pos * f_i), computed in double, where
 * f_i = flx_rope_inv_freq(c, rope_freqs, i). Every model of the project uses
 * this table, so their rotations agree bit for bit. */
void flx_rope_table(const flx_config *c, const float *rope_freqs, int max_seq, float *cos_out, float *sin_out);

/* Runs n tokens at positions pos..pos+n-1 (n <= max_batch, pos+n <= max_seq),
 * appending their keys and values to the cache. Writes logits for every
 * token ([n][vocab]) when all_logits is set, else only for the last ([vocab]). */
int flx_forward(const flx_model *model, flx_state *s, const int32_t *tokens, int n, int pos,
                float *logits, int all_logits, flx_error *err);

#endif
