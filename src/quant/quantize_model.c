#include "quant/quantize_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/calib_capture.h"
#include "quant/gptq.h"
#include "kernels/limits.h"
#include "quant/hadamard.h"

typedef struct pipeline {
    const flx_recipe *recipe;
    const flx_quantize_options *opt;
    const flx_model *src;    /* rotated float model, R4 not fused */
    bool r4;
    const double *r4_dense;  /* [ffn][ffn] dense R4, or NULL for Walsh-Hadamard */
    flx_calib_hessians hessians; /* layers [first_layer, first_layer + n_layers) */
    bool have_hessians;
    long hessian_tokens;
} pipeline;

/* S <- (H / sqrt(d)) S (H / sqrt(d)) for the Hessian of the w_down input,
 * which the online transform turns: x' = H x / sqrt(d), H symmetric. */
static int rotate_hessian_r4(flx_hessian *h, const double *dense, flx_error *err) {
    size_t d = (size_t)h->d;
    double *s = h->sum, *col = flx_malloc(d * sizeof *col, err);
    if (!col) return -1;
    for (size_t i = 0; i < d; i++)
        for (size_t j = i + 1; j < d; j++) s[i * d + j] = s[j * d + i];
    if (dense) {
        /* S <- R S R^T for the dense R4 x' = R x, one product at a time. */
        double *tmp = flx_malloc(d * d * sizeof *tmp, err);
        if (!tmp) {
            free(col);
            return -1;
        }
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j < d; j++) {
                double acc = 0.0;
                for (size_t k = 0; k < d; k++) acc += dense[i * d + k] * s[k * d + j];
                tmp[i * d + j] = acc;
            }
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j < d; j++) {
                double acc = 0.0;
                for (size_t k = 0; k < d; k++) acc += tmp[i * d + k] * dense[j * d + k];
                s[i * d + j] = acc;
            }
        free(tmp);
        free(col);
        return 0;
    }
    for (size_t i = 0; i < d; i++) flx_fwht_f64(s + i * d, (int)d);
    for (size_t j = 0; j < d; j++) {
        for (size_t i = 0; i < d; i++) col[i] = s[i * d + j];
        flx_fwht_f64(col, (int)d);
        for (size_t i = 0; i < d; i++) s[i * d + j] = col[i];
    }
    free(col);
    return 0;
}

/* Captures the Hessians of the layers from first on, as many as fit
 * FLX_QUANTIZE_HESSIAN_BUDGET, and the LM head's with the last layer. */
static int capture_from(pipeline *p, int first, flx_error *err) {
    const flx_config *c = &p->src->config;
    if (p->have_hessians) flx_calib_hessians_free(&p->hessians);
    p->have_hessians = false;
    size_t dim = (size_t)c->dim, q_dim = (size_t)c->n_heads * c->head_dim, ffn = (size_t)c->ffn_dim;
    size_t per_layer = 8 * (2 * dim * dim + q_dim * q_dim + ffn * ffn);
    size_t fit = FLX_QUANTIZE_HESSIAN_BUDGET / per_layer;
    int n = fit < 1 ? 1 : fit > (size_t)(c->n_layers - first) ? c->n_layers - first : (int)fit;
    flx_capture_options co = {p->opt->max_calib_tokens, first, n, first + n == c->n_layers};
    if (flx_calib_capture(&p->hessians, p->src, p->opt->calib_tokens, p->opt->n_calib_tokens, p->opt->bos, &co,
                          err) != 0)
        return -1;
    p->have_hessians = true;
    p->hessian_tokens = p->hessians.n_tokens;
    for (int i = 0; p->r4 && i < n; i++)
        if (rotate_hessian_r4(&p->hessians.layers[i].ffn_act, p->r4_dense, err) != 0) return -1;
    return 0;
}

static const flx_hessian *site_hessian(pipeline *p, int layer, int site) {
    if (site == 7) return p->hessians.has_lm_head ? &p->hessians.lm_head : NULL;
    flx_layer_hessians *lh = &p->hessians.layers[layer - p->hessians.first_layer];
    static const int kinds[7] = {0, 0, 0, 1, 2, 2, 3};
    flx_hessian *all[4] = {&lh->attn_in, &lh->attn_out, &lh->ffn_in, &lh->ffn_act};
    return all[kinds[site]];
}

static int quantize_linear(void *ctx, flx_qlinear *out, flx_qmodel *owner, const float *w, int d_out, int d_in,
                           int bits, int layer, int site, const char *name, flx_error *err) {
    pipeline *p = ctx;
    const flx_recipe *r = p->recipe;
    float *fused = NULL;
    if (p->r4 && site == 6) {
        /* Row i <- row_i H / sqrt(n), in double as flx_rotate_r4 does. */
        double *row = flx_malloc((size_t)d_in * sizeof *row, err);
        fused = row ? flx_malloc((size_t)d_out * d_in * sizeof *fused, err) : NULL;
        if (!fused) {
            free(row);
            return -1;
        }
        for (size_t o = 0; o < (size_t)d_out; o++) {
            const float *wo = w + o * d_in;
            if (p->r4_dense) {
                /* Row o <- row_o R^T, so that (W R^T)(R h) = W h. */
                for (int j = 0; j < d_in; j++) {
                    const double *rj = p->r4_dense + (size_t)j * d_in;
                    double acc = 0.0;
                    for (int i = 0; i < d_in; i++) acc += (double)wo[i] * rj[i];
                    row[j] = acc;
                }
            } else {
                for (int j = 0; j < d_in; j++) row[j] = wo[j];
                flx_fwht_f64(row, d_in);
            }
            for (int j = 0; j < d_in; j++) fused[o * d_in + j] = (float)row[j];
        }
        free(row);
        w = fused;
    }
    int rc;
    if (r->quantizer != FLX_QUANTIZER_GPTQ || bits == 16) {
        rc = flx_recipe_rtn_linear((void *)r, out, owner, w, d_out, d_in, bits, layer, site, name, err);
    } else {
        rc = 0;
        int in_range = p->have_hessians && layer >= p->hessians.first_layer &&
                       layer < p->hessians.first_layer + p->hessians.n_layers;
        if (site != 7 && !in_range) rc = capture_from(p, layer, err);
        const flx_hessian *h = rc == 0 ? site_hessian(p, layer, site) : NULL;
        if (rc == 0 && !h) rc = flx_fail(err, "%s: no Hessian was captured for this matrix", name);
        if (rc == 0) {
            flx_gptq_options go = flx_gptq_options_default();
            go.format.bits = bits;
            go.format.group_size = site == 7 ? 0 : r->weight_group_size;
            go.clip.search = r->clip_search;
            go.clip_weighted = r->clip_search;
            go.act_order = r->act_order;
            rc = flx_gptq_quantize_linear(out, owner, w, d_out, d_in, h, &go, name, err);
        }
    }
    free(fused);
    return rc;
}

/* The dense R4 of order n: a randomized Hadamard matrix when one of order
 * n is available, else a Haar-random orthogonal matrix, both from seed. */
static int make_dense_r4(double **out, int n, uint64_t seed, flx_rotation_record *rec, flx_error *err) {
    flx_rotation r;
    flx_error ignored;
    int rc = flx_rotation_init_hadamard(&r, n, seed, &ignored);
    rec->r4_kind = rc == 0 ? FLX_ROTATION_HADAMARD : FLX_ROTATION_RANDOM;
    rec->r4_seed = seed;
    if (rc != 0 && flx_rotation_init_random(&r, n, seed, err) != 0) return -1;
    *out = flx_malloc((size_t)n * n * sizeof **out, err);
    rc = *out ? flx_rotation_to_matrix(&r, *out, err) : -1;
    flx_rotation_free(&r);
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

static int check_request(const flx_model *model, const flx_recipe *recipe, const flx_quantize_options *opt,
                         flx_error *err) {
    const flx_config *c = &model->config;
    if (flx_recipe_check(recipe, err) != 0) return -1;
    if (recipe->r4 && !flx_is_pow2(c->ffn_dim) && c->ffn_dim > FLX_MAX_DENSE_ROTATION)
        return flx_fail(err,
                        "%s: recipe %s applies an online R4 rotation; ffn_dim = %d is not a power of two, and "
                        "the dense rotation kernel takes at most %d; use a recipe without R4 (e.g. w4a4-rtn)",
                        model->path, recipe->name, c->ffn_dim, FLX_MAX_DENSE_ROTATION);
    if (recipe->r3 && !flx_is_pow2(c->head_dim))
        return flx_fail(err,
                        "%s: recipe %s applies the online R3 Walsh-Hadamard transform, which needs a "
                        "power-of-two head_dim, but head_dim = %d; use a recipe without R3 (e.g. flexllm-hw)",
                        model->path, recipe->name, c->head_dim);
    bool learned = recipe->r1 == FLX_ROTATION_LEARNED || recipe->r2 == FLX_ROTATION_LEARNED;
    bool have_file = (opt->rotation_file && opt->rotation_file[0]) || opt->rotations;
    if (learned && !have_file)
        return flx_fail(err,
                        "recipe %s takes learned R1 and R2 from a rotation file; give one (flexllm "
                        "quantize --rotation-file PATH)",
                        recipe->name);
    if (!learned && have_file)
        return flx_fail(err, "rotation file %s given, but recipe %s uses no learned rotation",
                        opt->rotation_file ? opt->rotation_file : "(in memory)",
                        recipe->name);
    if (opt->max_calib_tokens <= 0)
        return flx_fail(err, "calibration token count %ld: expected a positive number", opt->max_calib_tokens);
    bool seeded = recipe->r1 == FLX_ROTATION_HADAMARD || recipe->r1 == FLX_ROTATION_RANDOM ||
                  recipe->r2 == FLX_ROTATION_HADAMARD || recipe->r2 == FLX_ROTATION_RANDOM ||
                  (recipe->r4 && !flx_is_pow2(c->ffn_dim));
    if (opt->override_seed && !seeded)
        return flx_fail(err,
                        "%s: a rotation seed was given, but recipe %s has no seeded rotation for this model "
                        "(Walsh-Hadamard and learned rotations take no seed); drop --seed",
                        model->path, recipe->name);
    return 0;
}

int flx_quantize_model(flx_quantized *out, flx_model *model, const flx_recipe *recipe,
                       const flx_quantize_options *opt, flx_error *err) {
    memset(out, 0, sizeof *out);
    if (check_request(model, recipe, opt, err) != 0) return -1;

    flx_model *src = model;
    if (recipe->r1 != FLX_ROTATION_NONE || recipe->r2 != FLX_ROTATION_NONE) {
        flx_rotate_options ro = {
            .r1 = recipe->r1,
            .r2 = recipe->r2,
            .r1_seed = opt->override_seed ? opt->seed : recipe->r1_seed,
            .r2_seed = opt->override_seed ? opt->seed + 1 : recipe->r2_seed,
            .r4 = false,
            .rotation_file = opt->rotation_file,
            .rotations = opt->rotations,
        };
        if (flx_rotate_model(&out->rotated, model, &ro, &out->rotations, err) != 0) return -1;
        out->has_rotated = true;
        src = &out->rotated;
    }
    double *r4_dense = NULL;
    if (recipe->r4) {
        out->rotations.r4 = true;
        out->rotations.r4_size = model->config.ffn_dim;
        uint64_t r4_seed = opt->override_seed ? opt->seed + 1 + (uint64_t)model->config.n_layers : recipe->r4_seed;
        if (!flx_is_pow2(model->config.ffn_dim) && make_dense_r4(&r4_dense, model->config.ffn_dim, r4_seed,
                                                                 &out->rotations, err) != 0) {
            flx_quantized_free(out);
            return -1;
        }
    }
    out->rotations.r3 = recipe->r3;
    out->rotations.r3_size = recipe->r3 ? model->config.head_dim : 0;
    flx_rotation_record_format(&out->rotations, out->rotations_text, sizeof out->rotations_text);
    flx_recipe_quantizer_format(recipe, out->quantizer_text, sizeof out->quantizer_text);

    pipeline p = {.recipe = recipe, .opt = opt, .src = src, .r4 = recipe->r4, .r4_dense = r4_dense};
    int rc = flx_recipe_build(&out->qm, src, recipe, quantize_linear, &p, err);
    if (p.have_hessians) flx_calib_hessians_free(&p.hessians);
    out->hessian_tokens = p.hessian_tokens;
    if (rc == 0 && r4_dense) {
        size_t n = (size_t)model->config.ffn_dim;
        out->qm.r4_matrix = flx_qmodel_alloc(&out->qm, n * n * sizeof(float), err);
        if (!out->qm.r4_matrix) rc = -1;
        for (size_t i = 0; rc == 0 && i < n * n; i++) out->qm.r4_matrix[i] = (float)r4_dense[i];
    }
    free(r4_dense);
    if (rc == 0) {
        out->qm.online_hadamard_ffn = recipe->r4;
        rc = flx_calibrate(&out->qm, opt->calib_tokens, opt->n_calib_tokens, opt->bos, opt->max_calib_tokens,
                           &out->calib, err);
    }
    if (rc != 0) flx_quantized_free(out);
    return rc;
}

void flx_quantized_free(flx_quantized *q) {
    if (!q) return;
    flx_qmodel_free(&q->qm);
    if (q->has_rotated) flx_model_free(&q->rotated);
    memset(q, 0, sizeof *q);
}
