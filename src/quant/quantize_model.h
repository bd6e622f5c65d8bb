/* The whole quantization of a float model by a recipe: rotations of a
 * copy of the model, weight quantization (RTN, or GPTQ with Hessians
 * captured on the rotated model from a calibration text), and the static
 * attention scales.
 *
 * With R4 the source model (qm.source) keeps its unrotated w_down: the
 * fake-quant model's float-weight path, which calibration runs, skips the
 * online transform. The quantized w_down is w_down H / sqrt(ffn_dim), as
 * flx_rotate_r4 computes it (w_down R^T for a dense R), and its GPTQ
 * Hessian is the captured one turned by the same matrix on both sides. */
#ifndef FLEXLLM_QUANT_QUANTIZE_MODEL_H
#define FLEXLLM_QUANT_QUANTIZE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "modelio/model.h"
#include "quant/calibrate.h"
#include "quant/qmodel.h"
#include "quant/recipe.h"
#include "quant/rotate.h"

/* Largest Hessian memory of one capture pass. The layers are captured in
 * as many passes as this needs, at least one layer per pass, and each pass
 * reruns the float model from layer 0. */
#define FLX_QUANTIZE_HESSIAN_BUDGET ((size_t)2 << 30)

typedef struct flx_quantize_options {
    const int32_t *calib_tokens; /* the calibration text encoded without BOS */
    long n_calib_tokens;
    int bos;                     /* start of every calibration window, or -1 */
    long max_calib_tokens;       /* text tokens for the attention scales and the Hessians */
    bool override_seed;          /* use seed instead of the recipe's rotation seeds */
    uint64_t seed;               /* R1 seed; R2 of layer l gets seed + 1 + l, a dense R4 seed + 1 + n_layers */
    const char *rotation_file;   /* learned R1 and R2, for recipes that request them */
    const flx_rotation_file *rotations; /* or the same in memory (not owned) */
} flx_quantize_options;

typedef struct flx_quantized {
    flx_qmodel qm;                /* qm.source is rotated when has_rotated, else the caller's model */
    flx_model rotated;            /* the rotated float copy, owned */
    bool has_rotated;
    flx_rotation_record rotations;
    char rotations_text[1024];    /* flx_rotation_record_format of rotations */
    char quantizer_text[64];      /* flx_recipe_quantizer_format */
    flx_calib_result calib;       /* of the attention scales */
    long hessian_tokens;          /* text tokens of the GPTQ Hessians, 0 for RTN */
} flx_quantized;

/* Quantizes model by recipe into out. When the recipe does not rotate,
 * qm.source and the norms point into model, so model must outlive out.
 * When it rotates, qm.source points into out, so out must not be moved.
 * With R4 and an ffn_dim that is not a power of two, R4 is a dense seeded
 * rotation (qm.r4_matrix). Fails, naming the size, when the recipe requests
 * R3 and head_dim is not a power of two, or a dense R4 above
 * FLX_MAX_DENSE_ROTATION. On failure out is left empty. */
int flx_quantize_model(flx_quantized *out, flx_model *model, const flx_recipe *recipe,
                       const flx_quantize_options *opt, flx_error *err);
void flx_quantized_free(flx_quantized *q);

#endif
