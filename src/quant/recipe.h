/* Named quantization recipes: weight widths, the weight quantizer and the
 * activation quantizers of the layers and the LM head, the rotations
 * applied to the float model first and online, and the KV-cache quantizer.
 * Every recipe quantizes Q with a static per-head INT8 scale and the
 * attention probabilities with a static UINT8 scale. */
#ifndef FLEXLLM_QUANT_RECIPE_H
#define FLEXLLM_QUANT_RECIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "modelio/model.h"
#include "quant/qmodel.h"
#include "quant/rotate.h"

typedef enum flx_weight_quantizer {
    FLX_QUANTIZER_RTN = 0, /* round to nearest, no calibration data */
    FLX_QUANTIZER_GPTQ,    /* GPTQ with Hessians from the calibration text (quant/gptq.h) */
} flx_weight_quantizer;

/* Fields after lm_head_act default to 0: RTN without clip search, no
 * rotation. */
typedef struct flx_recipe {
    const char *name;
    int weight_bits;              /* linears inside the layers: 4 or 8 */
    flx_act_quant act;            /* inputs of those linears */
    int lm_head_weight_bits;      /* 4, 8 or 16 (16-bit weights run as two 8-bit passes) */
    flx_act_quant lm_head_act;    /* input of the LM head */
    flx_weight_quantizer quantizer; /* of every linear; a 16-bit LM head is always RTN */
    bool act_order;               /* GPTQ: columns by decreasing Hessian diagonal */
    bool clip_search;             /* MSE search of each row's range (quant/clip_search.h) */
    flx_rotation_kind r1, r2;     /* offline rotations of the float model */
    bool r3;                      /* online Walsh-Hadamard of each Q and K head after RoPE */
    bool r4;                      /* online rotation before w_down, inverse fused offline: Walsh-Hadamard,
                                     or a dense seeded rotation when ffn_dim is not a power of two */
    uint64_t r1_seed, r2_seed;    /* seeds of random and Hadamard R1 and R2 */
    uint64_t r4_seed;             /* seed of a dense R4 */
    flx_kv_quant kv;              /* KV cache; kv.dynamic false: static per-head INT8 */
    int weight_group_size;        /* layer linears: 0 per output channel, else 32, 64 or 128 columns per scale
                                     (the fake-quant model runs them; the engines take per-channel weights) */
} flx_recipe;

int flx_recipe_count(void);
const flx_recipe *flx_recipe_at(int index);

/* Looks a recipe up by name or by a former name (rtn-w8a8, rtn-w4a8,
 * rtn-w4a4); an unknown name fails with the list of valid names. */
const flx_recipe *flx_recipe_find(const char *name, flx_error *err);

/* Writes the valid names, comma-separated, into out. */
void flx_recipe_list_names(char *out, size_t out_size);

/* Checks widths, activation quantizers and the quantizer options. */
int flx_recipe_check(const flx_recipe *recipe, flx_error *err);

/* True when the recipe needs more than flx_recipe_apply: GPTQ Hessians
 * from calibration text or rotations (see quant/quantize_model.h). */
bool flx_recipe_needs_pipeline(const flx_recipe *recipe);

/* Writes e.g. "rtn" or "gptq(act_order,clip=mse)". */
void flx_recipe_quantizer_format(const flx_recipe *recipe, char *out, size_t out_size);

/* Quantizes one linear w [d_out][d_in] into out, its buffers owned by
 * owner. layer is -1 for the LM head; site is 0..6 for wq, wk, wv, wo,
 * w_gate, w_up, w_down and 7 for the LM head. */
typedef int (*flx_recipe_linear_fn)(void *ctx, flx_qlinear *out, flx_qmodel *owner, const float *w, int d_out,
                                    int d_in, int bits, int layer, int site, const char *name, flx_error *err);

/* The RTN quantizer of flx_recipe_apply as an flx_recipe_linear_fn; ctx is
 * the recipe (its clip_search flag; 16-bit weights never search). */
int flx_recipe_rtn_linear(void *ctx, flx_qlinear *out, flx_qmodel *owner, const float *w, int d_out, int d_in,
                          int bits, int layer, int site, const char *name, flx_error *err);

/* As flx_recipe_apply, with fn quantizing every linear. */
int flx_recipe_build(flx_qmodel *qm, flx_model *model, const flx_recipe *recipe, flx_recipe_linear_fn fn,
                     void *ctx, flx_error *err);

/* Builds qm from the float model: RTN weights for every linear (the LM head
 * from the output matrix, also when it is tied to the embedding), norms and
 * embedding shared with model, the recipe's activation settings. The
 * attention scales are left at 0 and prob_scale at 1/255 until calibration.
 * model becomes qm->source and must outlive qm. A recipe built by the
 * caller (e.g. a table entry with other LM-head bits) is checked first.
 * Fails for recipes that need flx_quantize_model (flx_recipe_needs_pipeline);
 * RTN with clip search needs no calibration and runs here. */
int flx_recipe_apply(flx_qmodel *qm, flx_model *model, const flx_recipe *recipe, flx_error *err);

#endif
