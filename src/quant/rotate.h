/* Offline rotations of a float model before quantization (the rotations of
 * SpinQuant and QuaRot). They change the weights so that the float model
 * computes the same logits while its activations and weights have fewer
 * outliers. With the residual stream carried as x' = Q^T x:
 *   R1 (dim x dim) on the residual stream: token embedding E <- E Q,
 *      wq, wk, wv, w_gate, w_up and the LM head W <- W Q, wo and w_down
 *      W <- Q^T W. RMSNorm commutes with Q only when its gain is 1, so the
 *      gains are folded into the next linears first, and a tied LM head is
 *      untied first so that the shared matrix is not rotated twice.
 *   R2 (head_dim x head_dim, one per layer) between V and O: the rows of
 *      each KV head of wv W_h <- R2^T W_h, and the columns of each query
 *      head of wo W_h <- W_h R2. With grouped-query attention every query
 *      head reads one KV head, so one R2 per layer serves all heads.
 *   R3 (head_dim) on Q and K after RoPE cancels inside Q K^T and needs no
 *      weight change; flx_fwht_f32 in quant/hadamard.h is its transform.
 *   R4 (ffn_dim): the engines apply the normalized Walsh-Hadamard transform
 *      h <- H h / sqrt(ffn_dim) to the SwiGLU output; its inverse is fused
 *      into w_down <- w_down H / sqrt(ffn_dim). flx_rotate_r4 needs a
 *      power-of-two ffn_dim; for other widths quant/quantize_model.c uses
 *      a dense R (h <- R h, w_down <- w_down R^T).
 * These are the orientations of SpinQuant's own code, so its learned R1 and
 * R2 apply unchanged. */
#ifndef FLEXLLM_QUANT_ROTATE_H
#define FLEXLLM_QUANT_ROTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "modelio/model.h"
#include "quant/orthogonal.h"

/* Largest allowed max_ij |(Q^T Q - I)[i][j]| of a learned rotation. */
#define FLX_ROTATION_ORTHOGONALITY_TOLERANCE 1e-3

typedef enum flx_rotation_kind {
    FLX_ROTATION_NONE = 0,
    FLX_ROTATION_HADAMARD, /* randomized Hadamard H D / sqrt(n), D from the seed */
    FLX_ROTATION_RANDOM,   /* Haar-random orthogonal matrix from the seed */
    FLX_ROTATION_LEARNED,  /* matrix read from a rotation file */
} flx_rotation_kind;

/* "none", "hadamard", "random" or "learned". */
const char *flx_rotation_kind_name(flx_rotation_kind kind);

typedef struct flx_rotate_options {
    flx_rotation_kind r1;
    flx_rotation_kind r2;
    uint64_t r1_seed;
    uint64_t r2_seed;          /* layer l uses r2_seed + l */
    bool r4;
    const char *rotation_file; /* read when r1 or r2 is FLX_ROTATION_LEARNED */
    const struct flx_rotation_file *rotations; /* learned rotations in memory; replaces rotation_file */
} flx_rotate_options;

/* What flx_rotate_model applied, for the artifact metadata. */
typedef struct flx_rotation_record {
    bool untied;          /* the tied LM head became its own matrix */
    bool norms_folded;    /* RMSNorm gains folded into the next linears, gains now 1 */
    flx_rotation_kind r1, r2;
    int r1_size, r2_size; /* dim and head_dim when applied, else 0 */
    uint64_t r1_seed, r2_seed;
    bool r3;              /* online Walsh-Hadamard of Q and K heads */
    int r3_size;          /* head_dim with R3, else 0 */
    bool r4;
    int r4_size;          /* ffn_dim when fused, else 0 */
    flx_rotation_kind r4_kind; /* NONE: Walsh-Hadamard; HADAMARD or RANDOM: dense matrix of r4_seed */
    uint64_t r4_seed;
    char rotation_file[512];
} flx_rotation_record;

/* Writes e.g. "untie fold-norms r1=hadamard(64,seed=1) r2=random(8,seed=2+layer)
 * r3=walsh-hadamard(8) r4=walsh-hadamard(256)" (or r4=dense-random(172,seed=3)),
 * or "none" when nothing was applied. */
void flx_rotation_record_format(const flx_rotation_record *rec, char *out, size_t out_size);

/* Learned rotations as SpinQuant saves them, stored as safetensors: the
 * tensor "R1" [dim][dim] and "model.layers.N.self_attn.R2"
 * [head_dim][head_dim] for every layer N. Either part may be absent, but R2
 * is all layers or none. Other tensor names are rejected. Values may be
 * F32, F64, F16 or BF16 and must be finite and orthogonal within
 * FLX_ROTATION_ORTHOGONALITY_TOLERANCE. */
typedef struct flx_rotation_file {
    int dim, head_dim, n_layers;
    double *r1; /* [dim][dim], or NULL when absent */
    double *r2; /* [n_layers][head_dim][head_dim], or NULL when absent */
} flx_rotation_file;

/* Reads and checks the rotations in path for a model of shape c. Messages
 * name the file and the tensor. */
int flx_rotation_file_load(flx_rotation_file *rf, const char *path, const flx_config *c, flx_error *err);
void flx_rotation_file_free(flx_rotation_file *rf);

/* Makes dst a copy of src that owns every tensor (the vocabulary too), so
 * that the steps below can change it; src is not changed. A tied src stays
 * tied: output and token_embedding share one buffer until flx_rotate_untie.
 * The checkpoint tensor table is not copied. */
int flx_rotate_copy_model(flx_model *dst, const flx_model *src, flx_error *err);

/* The steps below change m in place and need the tensors they change to be
 * owned by m, as after flx_rotate_copy_model. */

/* Gives a tied LM head its own copy of the embedding; no-op when untied. */
int flx_rotate_untie(flx_model *m, flx_error *err);

/* Multiplies the columns of wq, wk and wv by attn_norm, of w_gate and w_up
 * by ffn_norm, and of the LM head by output_norm, then sets the gains to 1.
 * Fails on a tied model. */
int flx_rotate_fold_norms(flx_model *m, flx_error *err);

/* Applies R1 = r (order dim). Fails on a tied model or on a gain that is
 * not 1. */
int flx_rotate_r1(flx_model *m, const flx_rotation *r, flx_error *err);

/* Applies R2 = r (order head_dim) to wv and wo of one layer. */
int flx_rotate_r2(flx_model *m, int layer, const flx_rotation *r, flx_error *err);

/* Fuses the inverse of the online FFN Walsh-Hadamard transform into every
 * w_down. Fails when ffn_dim is not a power of two. */
int flx_rotate_r4(flx_model *m, flx_error *err);

/* Copies src into out and applies the options: untie and fold (when R1 is
 * requested), R1, R2 of every layer, then R4. Fills rec when not NULL. On
 * failure out is left empty. */
int flx_rotate_model(flx_model *out, const flx_model *src, const flx_rotate_options *opt,
                     flx_rotation_record *rec, flx_error *err);

#endif
