/* Named quantization recipes: weight widths and activation quantizers of
 * the layers and the LM head. Every recipe quantizes attention with static
 * per-head INT8 Q/K/V scales and UINT8 probabilities. */
#ifndef FLEXLLM_QUANT_RECIPE_H
#define FLEXLLM_QUANT_RECIPE_H

#include <stddef.h>

#include "common/error.h"
#include "modelio/model.h"
#include "quant/qmodel.h"

typedef struct flx_recipe {
    const char *name;
    int weight_bits;              /* linears inside the layers: 4 or 8 */
    flx_act_quant act;            /* inputs of those linears */
    int lm_head_weight_bits;      /* 4, 8 or 16 (16-bit weights run as two 8-bit passes) */
    flx_act_quant lm_head_act;    /* input of the LM head */
} flx_recipe;

int flx_recipe_count(void);
const flx_recipe *flx_recipe_at(int index);

/* Looks a recipe up by name; an unknown name fails with the list of valid
 * names. */
const flx_recipe *flx_recipe_find(const char *name, flx_error *err);

/* Writes the valid names, comma-separated, into out. */
void flx_recipe_list_names(char *out, size_t out_size);

/* Builds qm from the float model: RTN weights for every linear (the LM head
 * from the output matrix, also when it is tied to the embedding), norms and
 * embedding shared with model, the recipe's activation settings. The
 * attention scales are left at 0 and prob_scale at 1/255 until calibration.
 * model becomes qm->source and must outlive qm. A recipe built by the
 * caller (e.g. a table entry with other LM-head bits) is checked first. */
int flx_recipe_apply(flx_qmodel *qm, flx_model *model, const flx_recipe *recipe, flx_error *err);

#endif
