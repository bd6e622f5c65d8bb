#include "quant/recipe.h"

#include <stdio.h>
#include <string.h>

#include "quant/rtn.h"

/* Clip ratio 1.0 everywhere: no clipping search in this first version. The
 * 4-bit activation recipe uses unsigned codes with a float offset, as the
 * reference FPGA design does. rtn-w8a8 has a 16-bit LM head with
 * asymmetric 8-bit inputs: greedy generation from BOS on stories260K
 * (calibrated on 2048 WikiText-2 tokens) then matches the float model for
 * 181 tokens, against 61 with 8-bit head weights (the float top-2 logit
 * margin there is 0.07) and 110 with symmetric 8-bit head inputs. */
static const flx_recipe recipes[] = {
    {"rtn-w8a8", 8, {8, false, 1.0f}, 16, {8, true, 1.0f}},
    {"rtn-w4a8", 4, {8, false, 1.0f}, 8, {8, false, 1.0f}},
    {"rtn-w4a4", 4, {4, true, 1.0f}, 4, {4, true, 1.0f}},
};

#define N_RECIPES ((int)(sizeof recipes / sizeof recipes[0]))

int flx_recipe_count(void) { return N_RECIPES; }

const flx_recipe *flx_recipe_at(int index) {
    return index >= 0 && index < N_RECIPES ? &recipes[index] : NULL;
}

void flx_recipe_list_names(char *out, size_t out_size) {
    size_t used = 0;
    if (out_size) out[0] = '\0';
    for (int i = 0; i < N_RECIPES && used < out_size; i++)
        used += (size_t)snprintf(out + used, out_size - used, "%s%s", i ? ", " : "", recipes[i].name);
}

const flx_recipe *flx_recipe_find(const char *name, flx_error *err) {
    for (int i = 0; i < N_RECIPES; i++)
        if (strcmp(name, recipes[i].name) == 0) return &recipes[i];
    char names[256];
    flx_recipe_list_names(names, sizeof names);
    flx_fail(err, "unknown recipe '%s' (valid recipes: %s)", name, names);
    return NULL;
}

static float *alloc_floats(flx_qmodel *qm, int n, flx_error *err) {
    return flx_qmodel_alloc(qm, (size_t)n * sizeof(float), err);
}

static int check_act(const flx_act_quant *a, const char *recipe, const char *what, flx_error *err) {
    if ((a->bits != 4 && a->bits != 8) || !(a->clip > 0.0f && a->clip <= 1.0f))
        return flx_fail(err, "recipe %s: %s quantizer of %d bits with clip %g is invalid (expected 4 or 8 bits, "
                             "clip in (0, 1])",
                        recipe, what, a->bits, (double)a->clip);
    return 0;
}

int flx_recipe_apply(flx_qmodel *qm, flx_model *model, const flx_recipe *recipe, flx_error *err) {
    const flx_config *c = &model->config;
    memset(qm, 0, sizeof *qm);
    if (recipe->weight_bits != 4 && recipe->weight_bits != 8)
        return flx_fail(err, "recipe %s: layer weight width of %d bits is invalid (expected 4 or 8)", recipe->name,
                        recipe->weight_bits);
    int head_bits = recipe->lm_head_weight_bits;
    if (head_bits != 4 && head_bits != 8 && head_bits != 16)
        return flx_fail(err, "recipe %s: LM-head weight width of %d bits is invalid (expected 4, 8 or 16)",
                        recipe->name, head_bits);
    if (check_act(&recipe->act, recipe->name, "layer input", err) != 0 ||
        check_act(&recipe->lm_head_act, recipe->name, "LM-head input", err) != 0)
        return -1;
    qm->config = *c;
    qm->act = recipe->act;
    qm->lm_head_act = recipe->lm_head_act;
    qm->token_embedding = model->token_embedding;
    qm->output_norm = model->output_norm;
    qm->rope_freqs = model->rope_freqs;
    qm->source = model;
    snprintf(qm->recipe, sizeof qm->recipe, "%s", recipe->name);

    int q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    qm->layers = flx_qmodel_alloc(qm, (size_t)c->n_layers * sizeof *qm->layers, err);
    if (!qm->layers) goto fail;
    for (int l = 0; l < c->n_layers; l++) {
        const flx_layer_weights *w = &model->layers[l];
        flx_qlayer *ql = &qm->layers[l];
        ql->attn_norm = w->attn_norm;
        ql->ffn_norm = w->ffn_norm;
        struct {
            flx_qlinear *dst;
            const float *src;
            int d_out, d_in;
            const char *name;
        } linears[] = {
            {&ql->wq, w->wq, q_dim, c->dim, "attn_q"},
            {&ql->wk, w->wk, kv_dim, c->dim, "attn_k"},
            {&ql->wv, w->wv, kv_dim, c->dim, "attn_v"},
            {&ql->wo, w->wo, c->dim, q_dim, "attn_output"},
            {&ql->w_gate, w->w_gate, c->ffn_dim, c->dim, "ffn_gate"},
            {&ql->w_up, w->w_up, c->ffn_dim, c->dim, "ffn_up"},
            {&ql->w_down, w->w_down, c->dim, c->ffn_dim, "ffn_down"},
        };
        for (size_t i = 0; i < sizeof linears / sizeof linears[0]; i++) {
            char name[640];
            snprintf(name, sizeof name, "%s: blk.%d.%s", model->path, l, linears[i].name);
            if (flx_rtn_quantize_linear(linears[i].dst, qm, linears[i].src, linears[i].d_out,
                                        linears[i].d_in, recipe->weight_bits, name, err) != 0)
                goto fail;
        }
        if (!(ql->q_scale = alloc_floats(qm, c->n_heads, err)) ||
            !(ql->k_scale = alloc_floats(qm, c->n_kv_heads, err)) ||
            !(ql->v_scale = alloc_floats(qm, c->n_kv_heads, err)))
            goto fail;
        ql->prob_scale = 1.0f / 255.0f;
    }
    char name[600];
    snprintf(name, sizeof name, "%s: output", model->path);
    if (flx_rtn_quantize_linear(&qm->lm_head, qm, model->output, c->vocab_size, c->dim,
                                recipe->lm_head_weight_bits, name, err) != 0)
        goto fail;
    return 0;

fail:
    flx_qmodel_free(qm);
    return -1;
}
