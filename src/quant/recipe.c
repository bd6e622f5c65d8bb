#include "quant/recipe.h"

#include <stdio.h>
#include <string.h>

#include "quant/clip_search.h"
#include "quant/rtn.h"

/* w8a8, w4a8 and w4a4-rtn use RTN, clip ratio 1.0 and no rotation. The 4-bit
 * activation recipes use unsigned codes with a float offset, as the
 * reference FPGA design does. w8a8 has a 16-bit LM head with
 * asymmetric 8-bit inputs: greedy generation from BOS on stories260K
 * (calibrated on 2048 WikiText-2 tokens) then matches the float model for
 * 181 tokens, against 61 with 8-bit head weights (the float top-2 logit
 * margin there is 0.07) and 110 with symmetric 8-bit head inputs.
 * flexllm-hw is the scheme of the reference hardware: R1 and R2 merged
 * offline, R4 as the only online rotation, INT4 weights everywhere, the LM
 * head included, static INT8 Q, K and V with one scale per layer.
 * quarot-w4a4kv4 and spinquant-w4a4kv4 follow those papers. Both rotate R1
 * and R2 offline (randomized Hadamard, or learned matrices from a SpinQuant
 * rotation file) and R3 and R4 online, and use GPTQ W4 and A4 per token
 * (QuaRot: symmetric with clip 0.9; SpinQuant: asymmetric). Their KV cache
 * is 4-bit asymmetric with one scale and offset per head and token. Their
 * LM head is 16-bit, where those papers keep it in float.
 * spinquant-learned-w4a4 is flexllm-hw with learned R1 and R2 from a
 * rotation file, and static INT8 K and V scales per head. */
/* GPTQ with activation order and the MSE range search. */
#define GPTQ_MSE .quantizer = FLX_QUANTIZER_GPTQ, .act_order = true, .clip_search = true
#define KV4_PER_HEAD {.dynamic = true, .bits = 4, .group_size = 0, .asymmetric = true, .clip = 1.0f}
static const flx_recipe recipes[] = {
    {.name = "w8a8", .weight_bits = 8, .act = {8, false, 1.0f}, .lm_head_weight_bits = 16,
     .lm_head_act = {8, true, 1.0f}},
    {.name = "w4a8", .weight_bits = 4, .act = {8, false, 1.0f}, .lm_head_weight_bits = 8,
     .lm_head_act = {8, false, 1.0f}},
    {.name = "w4a4-rtn", .weight_bits = 4, .act = {4, true, 1.0f}, .lm_head_weight_bits = 4,
     .lm_head_act = {4, true, 1.0f}},
    {.name = "flexllm-hw",
     .weight_bits = 4,
     .act = {4, true, 1.0f},
     .lm_head_weight_bits = 4,
     .lm_head_act = {4, true, 1.0f},
     GPTQ_MSE,
     .r1 = FLX_ROTATION_HADAMARD,
     .r2 = FLX_ROTATION_HADAMARD,
     .r4 = true,
     .r1_seed = 1,
     .r2_seed = 2,
     .r4_seed = 3,
     .kv = {.per_layer = true, .bits = 8}},
    {.name = "gptq-w4a8",
     .weight_bits = 4,
     .act = {8, false, 1.0f},
     .lm_head_weight_bits = 8,
     .lm_head_act = {8, false, 1.0f},
     GPTQ_MSE},
    {.name = "spinquant-learned-w4a4",
     .weight_bits = 4,
     .act = {4, true, 1.0f},
     .lm_head_weight_bits = 4,
     .lm_head_act = {4, true, 1.0f},
     GPTQ_MSE,
     .r1 = FLX_ROTATION_LEARNED,
     .r2 = FLX_ROTATION_LEARNED,
     .r4 = true},
    {.name = "quarot-w4a4kv4",
     .weight_bits = 4,
     .act = {4, false, 0.9f},
     .lm_head_weight_bits = 16,
     .lm_head_act = {8, true, 1.0f},
     GPTQ_MSE,
     .r1 = FLX_ROTATION_HADAMARD,
     .r2 = FLX_ROTATION_HADAMARD,
     .r3 = true,
     .r4 = true,
     .r1_seed = 1,
     .r2_seed = 2,
     .r4_seed = 3,
     .kv = KV4_PER_HEAD},
    {.name = "spinquant-w4a4kv4",
     .weight_bits = 4,
     .act = {4, true, 1.0f},
     .lm_head_weight_bits = 16,
     .lm_head_act = {8, true, 1.0f},
     GPTQ_MSE,
     .r1 = FLX_ROTATION_LEARNED,
     .r2 = FLX_ROTATION_LEARNED,
     .r3 = true,
     .r4 = true,
     .r4_seed = 3,
     .kv = KV4_PER_HEAD},
};

/* Former names of recipes, still accepted. */
static const struct {
    const char *old_name, *name;
} aliases[] = {{"rtn-w8a8", "w8a8"}, {"rtn-w4a8", "w4a8"}, {"rtn-w4a4", "w4a4-rtn"}};

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
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(name, aliases[i].old_name) == 0) name = aliases[i].name;
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

int flx_recipe_check(const flx_recipe *recipe, flx_error *err) {
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
    if (recipe->quantizer != FLX_QUANTIZER_RTN && recipe->quantizer != FLX_QUANTIZER_GPTQ)
        return flx_fail(err, "recipe %s: weight quantizer %d is invalid (expected RTN or GPTQ)", recipe->name,
                        (int)recipe->quantizer);
    if (recipe->act_order && recipe->quantizer != FLX_QUANTIZER_GPTQ)
        return flx_fail(err, "recipe %s: act_order needs the GPTQ quantizer", recipe->name);
    if (recipe->r1 < FLX_ROTATION_NONE || recipe->r1 > FLX_ROTATION_LEARNED || recipe->r2 < FLX_ROTATION_NONE ||
        recipe->r2 > FLX_ROTATION_LEARNED)
        return flx_fail(err, "recipe %s: rotation kinds R1 %d, R2 %d are invalid (expected none, hadamard, "
                             "random or learned)",
                        recipe->name, (int)recipe->r1, (int)recipe->r2);
    int group = recipe->weight_group_size;
    if (group != 0 && group != 32 && group != 64 && group != 128)
        return flx_fail(err, "recipe %s: weight group size %d is invalid (expected 0 for per channel, 32, 64 or 128)",
                        recipe->name, group);
    const flx_kv_quant *kv = &recipe->kv;
    if (kv->dynamic && ((kv->bits != 4 && kv->bits != 8) || kv->group_size < 0 || !(kv->clip > 0.0f && kv->clip <= 1.0f)))
        return flx_fail(err,
                        "recipe %s: dynamic KV cache of %d bits, group %d, clip %g is invalid (expected 4 or 8 "
                        "bits, a group size of 0 (per head) or more, clip in (0, 1])",
                        recipe->name, kv->bits, kv->group_size, (double)kv->clip);
    return 0;
}

bool flx_recipe_needs_pipeline(const flx_recipe *recipe) {
    return recipe->quantizer != FLX_QUANTIZER_RTN || recipe->r1 != FLX_ROTATION_NONE ||
           recipe->r2 != FLX_ROTATION_NONE || recipe->r4 || recipe->r3;
}

void flx_recipe_quantizer_format(const flx_recipe *recipe, char *out, size_t out_size) {
    const char *clip = recipe->clip_search ? "clip=mse" : "clip=absmax";
    if (recipe->quantizer == FLX_QUANTIZER_GPTQ)
        snprintf(out, out_size, "gptq(%s%s)", recipe->act_order ? "act_order," : "", clip);
    else if (recipe->clip_search)
        snprintf(out, out_size, "rtn(%s)", clip);
    else
        snprintf(out, out_size, "rtn");
}

/* Per-channel symmetric RTN, with the MSE range search when the recipe requests it. */
int flx_recipe_rtn_linear(void *ctx, flx_qlinear *out, flx_qmodel *owner, const float *w, int d_out, int d_in,
                          int bits, int layer, int site, const char *name, flx_error *err) {
    const flx_recipe *recipe = ctx;
    (void)layer;
    int group = site == 7 ? 0 : recipe->weight_group_size;
    if ((!recipe->clip_search && group == 0) || bits == 16)
        return flx_rtn_quantize_linear(out, owner, w, d_out, d_in, bits, name, err);
    flx_weight_format f = {bits, group, false};
    flx_clip_options clip = flx_clip_options_default();
    clip.search = recipe->clip_search;
    flx_qweights qw;
    if (flx_rtn_clip_quantize(w, d_out, d_in, &f, &clip, NULL, &qw, name, err) != 0) return -1;
    int rc = flx_qweights_to_qlinear(&qw, out, owner, name, err);
    flx_qweights_free(&qw);
    return rc;
}

int flx_recipe_apply(flx_qmodel *qm, flx_model *model, const flx_recipe *recipe, flx_error *err) {
    memset(qm, 0, sizeof *qm);
    if (flx_recipe_check(recipe, err) != 0) return -1;
    if (flx_recipe_needs_pipeline(recipe))
        return flx_fail(err,
                        "recipe %s needs GPTQ Hessians or rotations of the float model; run it through "
                        "flx_quantize_model (flexllm quantize) with a calibration text",
                        recipe->name);
    return flx_recipe_build(qm, model, recipe, flx_recipe_rtn_linear, (void *)recipe, err);
}

int flx_recipe_build(flx_qmodel *qm, flx_model *model, const flx_recipe *recipe, flx_recipe_linear_fn fn,
                     void *ctx, flx_error *err) {
    const flx_config *c = &model->config;
    memset(qm, 0, sizeof *qm);
    if (flx_recipe_check(recipe, err) != 0) return -1;
    qm->config = *c;
    qm->act = recipe->act;
    qm->lm_head_act = recipe->lm_head_act;
    qm->kv = (flx_kv_quant){.dynamic = false, .per_layer = recipe->kv.per_layer, .bits = 8, .group_size = 0,
                            .clip = 1.0f};
    if (recipe->kv.dynamic) {
        qm->kv = recipe->kv;
        if (qm->kv.group_size == 0) qm->kv.group_size = c->head_dim;
        if (c->head_dim % qm->kv.group_size != 0)
            return flx_fail(err, "%s: KV-cache group size %d does not divide head_dim %d; pick a divisor of %d "
                                 "(--kv-group)",
                            model->path, qm->kv.group_size, c->head_dim, c->head_dim);
    }
    qm->online_hadamard_qk = recipe->r3;
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
            if (fn(ctx, linears[i].dst, qm, linears[i].src, linears[i].d_out, linears[i].d_in,
                   recipe->weight_bits, l, (int)i, name, err) != 0)
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
    if (fn(ctx, &qm->lm_head, qm, model->output, c->vocab_size, c->dim, recipe->lm_head_weight_bits, -1, 7, name,
           err) != 0)
        goto fail;
    return 0;

fail:
    flx_qmodel_free(qm);
    return -1;
}
