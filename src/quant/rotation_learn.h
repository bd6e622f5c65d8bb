/* Learning R1 and R2 for a quantized model, as SpinQuant does, without
 * gradients. SpinQuant trains the rotations by Cayley SGD through the
 * quantized network, which needs automatic differentiation, so a
 * zeroth-order search replaces it here. Starting from randomized Hadamard
 * matrices, each step multiplies R1 or one layer's R2 by a Givens rotation
 * of two random columns. The step is kept when the objective decreases: the
 * mean KL divergence between the next-token distributions of the float
 * model and of the quantized model (RTN weights, the recipe's activation
 * and KV quantizers, R3 and R4) on calibration text. The result is written in
 * SpinQuant's rotation-file layout (quant/rotate.h), so the learned-rotation
 * recipes read it like SpinQuant's own files. */
#ifndef FLEXLLM_QUANT_ROTATION_LEARN_H
#define FLEXLLM_QUANT_ROTATION_LEARN_H

#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "modelio/model.h"
#include "quant/recipe.h"
#include "quant/rotate.h"

typedef struct flx_rotation_learn_options {
    const flx_recipe *recipe;    /* quantizers in the loop; its weights are quantized with RTN there */
    const int32_t *tokens;       /* calibration text, encoded without BOS */
    long n_tokens;
    int bos;                     /* start of every window, or -1 */
    long objective_tokens;       /* text tokens of the objective (and of the attention scales) */
    int window;                  /* positions per window, BOS included */
    int steps;                   /* candidate rotations tried */
    double angle;                /* first Givens angle in radians; it shrinks linearly to angle / 10 */
    uint64_t seed;               /* R1 starts as hadamard(seed), R2 of layer l as hadamard(seed + 1 + l), or
                                    random orthogonal where no Hadamard matrix of that order exists */
    FILE *log;                   /* progress lines, or NULL */
} flx_rotation_learn_options;

typedef struct flx_rotation_learn_result {
    double start_kl, final_kl;   /* objective of the start and of the result, nats per position */
    int accepted;                /* steps that lowered the objective */
    long positions;              /* positions of the objective */
} flx_rotation_learn_result;

/* Fills out (owned; free with flx_rotation_file_free) with the learned R1
 * [dim][dim] and R2 [n_layers][head_dim][head_dim]. */
int flx_rotation_learn(flx_rotation_file *out, const flx_model *model, const flx_rotation_learn_options *opt,
                       flx_rotation_learn_result *res, flx_error *err);

/* Writes rf as a safetensors file with F32 tensors "R1" and
 * "model.layers.N.self_attn.R2" (through a temporary file). */
int flx_rotation_file_save(const flx_rotation_file *rf, const char *path, flx_error *err);

#endif
