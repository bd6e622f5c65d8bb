/* The accelerator engines on stories260K: bit-identical results across
 * parallelism configurations and between prefill-then-decode and
 * decode-only processing (logits and KV cache), and bit-identical logits
 * from the independently written fake-quant float model. Covers the RTN
 * recipes, a 16-bit LM head with asymmetric 4-bit inputs, R3, a dense R4
 * and the dynamic KV cache (quarot-w4a4kv4), and a grouped KV cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "engines/accel.h"
#include "quant/calibrate.h"
#include "quant/fakequant.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"
#include "tokenizer/tokenizer.h"

enum { N_TOKENS = 41, N_PREFILL = 23 };

typedef struct run_result {
    float *logits;   /* [N_TOKENS][vocab] */
    int8_t *k_cache, *v_cache;
    size_t cache_bytes;
    float *k_scales, *v_scales; /* dynamic KV cache only, else NULL */
    size_t scale_count;
} run_result;

static void free_result(run_result *r) {
    free(r->logits);
    free(r->k_cache);
    free(r->v_cache);
    free(r->k_scales);
    free(r->v_scales);
}

/* Runs the tokens through the engines: the first n_prefill through the
 * prefill engine (with logits), the rest one by one through decode. */
static int run(const flx_qmodel *qm, const char *config, const int32_t *tokens, int n_prefill,
               run_result *out) {
    flx_error err;
    flx_accel_config cfg;
    flx_accel a;
    int V = qm->config.vocab_size;
    if (flx_accel_config_get(config, &cfg, &err) != 0 || flx_accel_init(&a, qm, &cfg, 64, &err) != 0) {
        fprintf(stderr, "%s: %s\n", config, err.msg);
        return -1;
    }
    out->logits = malloc(sizeof(float) * N_TOKENS * V);
    if (n_prefill > 0 && flx_accel_prefill(&a, tokens, n_prefill, 0, out->logits, &err) != 0) {
        fprintf(stderr, "prefill: %s\n", err.msg);
        flx_accel_free(&a);
        return -1;
    }
    for (int t = n_prefill; t < N_TOKENS; t++)
        if (flx_accel_decode(&a, tokens[t], t, out->logits + (size_t)t * V, &err) != 0) {
            fprintf(stderr, "decode: %s\n", err.msg);
            flx_accel_free(&a);
            return -1;
        }
    const flx_config *c = &qm->config;
    out->cache_bytes = (size_t)c->n_layers * c->n_kv_heads * 64 * c->head_dim;
    out->k_cache = malloc(out->cache_bytes);
    out->v_cache = malloc(out->cache_bytes);
    memcpy(out->k_cache, a.k_cache, out->cache_bytes);
    memcpy(out->v_cache, a.v_cache, out->cache_bytes);
    out->k_scales = out->v_scales = NULL;
    out->scale_count = 0;
    if (a.k_scales) {
        out->scale_count = (size_t)c->n_layers * c->n_kv_heads * 64 * a.kv_groups;
        out->k_scales = malloc(out->scale_count * sizeof(float));
        out->v_scales = malloc(out->scale_count * sizeof(float));
        memcpy(out->k_scales, a.k_scales, out->scale_count * sizeof(float));
        memcpy(out->v_scales, a.v_scales, out->scale_count * sizeof(float));
    }
    CHECK(a.decode_counters.engine_cycles > 0 || n_prefill == N_TOKENS);
    flx_accel_free(&a);
    return 0;
}

static void check_identical(const run_result *a, const run_result *b, int V, const char *what) {
    int mismatches = 0;
    for (size_t i = 0; i < (size_t)N_TOKENS * V; i++)
        if (memcmp(&a->logits[i], &b->logits[i], sizeof(float)) != 0 && mismatches++ < 5)
            fprintf(stderr, "%s: logit %zu (token %zu) differs: %.9g vs %.9g\n", what, i, i / V,
                    a->logits[i], b->logits[i]);
    CHECK_INT_EQ(mismatches, 0);
    CHECK(memcmp(a->k_cache, b->k_cache, a->cache_bytes) == 0);
    CHECK(memcmp(a->v_cache, b->v_cache, a->cache_bytes) == 0);
    CHECK(a->scale_count == b->scale_count);
    if (a->scale_count && a->scale_count == b->scale_count) {
        CHECK(memcmp(a->k_scales, b->k_scales, a->scale_count * sizeof(float)) == 0);
        CHECK(memcmp(a->v_scales, b->v_scales, a->scale_count * sizeof(float)) == 0);
    }
}

/* Counts the logits where the fake-quant model differs from the engines
 * (bit for bit) and prints max |engine - fakequant| / max |logit|. */
static long fakequant_mismatches(const flx_qmodel *qm, const int32_t *tokens, const run_result *r,
                                 const char *label) {
    flx_error err;
    flx_fakequant_state s;
    int V = qm->config.vocab_size;
    if (flx_fakequant_state_init(&s, qm, 64, N_TOKENS, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    float *logits = malloc(sizeof(float) * N_TOKENS * V);
    if (flx_fakequant_forward(qm, &s, tokens, N_TOKENS, 0, logits, 1, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        free(logits);
        flx_fakequant_state_free(&s);
        return -1;
    }
    double worst = 0, scale = 0;
    long mismatches = 0;
    for (size_t i = 0; i < (size_t)N_TOKENS * V; i++) {
        if (fabs(logits[i]) > scale) scale = fabs(logits[i]);
        double d = fabs((double)logits[i] - r->logits[i]);
        if (d > worst) worst = d;
        mismatches += memcmp(&logits[i], &r->logits[i], sizeof(float)) != 0;
    }
    printf("%s: %ld logits differ from the fake-quant model, max |engine - fakequant| / max |logit| = %.3g\n",
           label, mismatches, worst / (scale > 0 ? scale : 1));
    free(logits);
    flx_fakequant_state_free(&s);
    return mismatches;
}

int main(void) {
    char path[1024];
    flx_error err;
    flx_model model;
    flx_tokenizer *tok = NULL;
    size_t len;
    CHECK_INT_EQ(flx_model_load(&model, flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin"), &err), 0);
    CHECK_INT_EQ(flx_tokenizer_load(&tok, flx_data_path(path, sizeof path, "models/stories260K/tok512.bin"), &err), 0);
    char *text = flx_read_text_file(flx_data_path(path, sizeof path, "text/wikitext-2/wiki.test.raw"), &len, &err);
    if (flx_check_failures || !text) return flx_check_report("test_engines");
    int32_t *calib;
    int n_calib;
    CHECK_INT_EQ(flx_tokenizer_encode(tok, text, len, 0, &calib, &n_calib, &err), 0);

    /* The prompt: BOS and a story opening, 41 tokens. */
    const char *prompt = "Once upon a time, there was a little dog named Max. Max liked to run in the park with his friend Sam, and every morning they played with a big red ball near the old tree.";
    int32_t *ids;
    int n_ids;
    CHECK_INT_EQ(flx_tokenizer_encode(tok, prompt, strlen(prompt), FLX_ENCODE_BOS, &ids, &n_ids, &err), 0);
    CHECK(n_ids >= N_TOKENS);
    if (flx_check_failures) return flx_check_report("test_engines");

    /* The cases: the RTN recipes, and w4a4-rtn with a 16-bit LM head (the
     * two-pass split with an asymmetric input offset). quarot-w4a4kv4 adds
     * R3, a dense R4 (ffn_dim 172 has no Walsh-Hadamard transform) and an
     * asymmetric INT4 dynamic KV cache with one scale per head. The last
     * case is w4a4-rtn with a symmetric INT8 dynamic KV cache in groups of
     * 4 channels, two scales per head row. */
    const struct {
        const char *recipe, *label;
        int lm_head_bits; /* 0: the recipe's */
        int kv_bits;      /* 0: the recipe's KV cache; else dynamic with kv_group */
        int kv_group;
    } cases[] = {{"w8a8", "w8a8", 0, 0, 0},
                 {"w4a8", "w4a8", 0, 0, 0},
                 {"w4a4-rtn", "w4a4-rtn", 0, 0, 0},
                 {"w4a4-rtn", "w4a4-rtn with a 16-bit LM head", 16, 0, 0},
                 {"quarot-w4a4kv4", "quarot-w4a4kv4", 0, 0, 0},
                 {"w4a4-rtn", "w4a4-rtn with INT8 dynamic KV, group 4", 0, 8, 4}};
    for (size_t r = 0; r < sizeof cases / sizeof cases[0]; r++) {
        const flx_recipe *found = flx_recipe_find(cases[r].recipe, &err);
        CHECK(found != NULL);
        if (!found) continue;
        flx_recipe recipe = *found;
        if (cases[r].lm_head_bits) recipe.lm_head_weight_bits = cases[r].lm_head_bits;
        if (cases[r].kv_bits)
            recipe.kv = (flx_kv_quant){.dynamic = true, .bits = cases[r].kv_bits, .group_size = cases[r].kv_group,
                                       .clip = 1.0f};
        flx_quantize_options opt = {.calib_tokens = calib, .n_calib_tokens = n_calib, .bos = 1, .max_calib_tokens = 2048};
        flx_quantized q;
        if (flx_quantize_model(&q, &model, &recipe, &opt, &err) != 0) {
            fprintf(stderr, "%s: %s\n", cases[r].label, err.msg);
            flx_check_failures++;
            continue;
        }
        const flx_qmodel *qmp = &q.qm;
        if (cases[r].kv_bits) {
            CHECK(qmp->kv.dynamic);
            CHECK_INT_EQ(qmp->kv.group_size, cases[r].kv_group);
        }
        int V = qmp->config.vocab_size;

        /* Decode-only under three configurations, then prefill + decode. */
        run_result base, other, mixed, all_prefill;
        CHECK_INT_EQ(run(qmp, "u280-ref", ids, 0, &base), 0);
        CHECK_INT_EQ(run(qmp, "tiny", ids, 0, &other), 0);
        check_identical(&base, &other, V, "decode u280-ref vs tiny");
        free_result(&other);
        CHECK_INT_EQ(run(qmp, "small", ids, 0, &other), 0);
        check_identical(&base, &other, V, "decode u280-ref vs small");
        free_result(&other);
        CHECK_INT_EQ(run(qmp, "small", ids, N_PREFILL, &mixed), 0);
        check_identical(&base, &mixed, V, "prefill+decode vs decode-only");
        free_result(&mixed);
        CHECK_INT_EQ(run(qmp, "u280-ref", ids, N_TOKENS, &all_prefill), 0);
        check_identical(&base, &all_prefill, V, "prefill-only vs decode-only");
        free_result(&all_prefill);

        /* The independently written fake-quant model gives the same bits. */
        CHECK_INT_EQ(fakequant_mismatches(qmp, ids, &base, cases[r].label), 0);
        free_result(&base);
        flx_quantized_free(&q);
    }
    free(ids);
    free(calib);
    free(text);
    flx_tokenizer_free(tok);
    flx_model_free(&model);
    return flx_check_report("test_engines");
}
