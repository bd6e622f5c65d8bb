/* The recipes with rotations and GPTQ run through flx_quantize_model.
 *
 * A synthetic stories260k-shaped model with ffn_dim 128 (written to
 * TMPDIR) quantized with flexllm-hw: the rotated float model computes the
 * original logits, the RTN variant of the recipe equals RTN of the model
 * rotated by flx_rotate_model (R4 included), the engines and the fake-quant
 * model agree bit for bit, and the artifact records the rotations. On
 * stories260K (ffn_dim 172) flexllm-hw gets a dense orthogonal R4, and
 * gptq-w4a8 has a fake-quant perplexity no worse than w4a8 (standard
 * method, ctx 256, 20 windows of the clean TinyStories excerpt). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "engines/accel.h"
#include "eval/perplexity.h"
#include "modelio/gguf.h"
#include "modelio/synth.h"
#include "quant/artifact.h"
#include "quant/calib_capture.h"
#include "quant/fakequant.h"
#include "quant/gptq.h"
#include "quant/hadamard.h"
#include "quant/quantize_model.h"
#include "quant/rtn.h"
#include "reference/forward.h"
#include "tokenizer/tokenizer.h"

enum { N_TOKENS = 24, PPL_CTX = 256, PPL_WINDOWS = 20 };

static char tmp_dir[512];

static void tmp_path(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", tmp_dir, name); }

/* Logits [n][vocab] of the reference float forward pass. */
static float *float_logits(const flx_model *m, const int32_t *tokens, int n) {
    flx_state s;
    flx_error err;
    float *out = malloc((size_t)n * m->config.vocab_size * sizeof *out);
    if (!out || flx_state_init(&s, m, n, n, &err) != 0) {
        free(out);
        return NULL;
    }
    int rc = flx_forward(m, &s, tokens, n, 0, out, 1, &err);
    flx_state_free(&s);
    if (rc != 0) {
        fprintf(stderr, "float forward: %s\n", err.msg);
        free(out);
        return NULL;
    }
    return out;
}

/* Logits [n][vocab] of the fake-quant model. */
static float *fq_logits(const flx_qmodel *qm, const int32_t *tokens, int n) {
    flx_fakequant_state s;
    flx_error err;
    float *out = malloc((size_t)n * qm->config.vocab_size * sizeof *out);
    if (!out || flx_fakequant_state_init(&s, qm, n, n, &err) != 0) {
        free(out);
        return NULL;
    }
    int rc = flx_fakequant_forward(qm, &s, tokens, n, 0, out, 1, &err);
    flx_fakequant_state_free(&s);
    if (rc != 0) {
        fprintf(stderr, "fake-quant forward: %s\n", err.msg);
        free(out);
        return NULL;
    }
    return out;
}

/* Logits [n][vocab] of the decode engine, one token at a time. */
static float *accel_logits(const flx_qmodel *qm, const char *config, const int32_t *tokens, int n) {
    flx_error err;
    flx_accel_config cfg;
    flx_accel a;
    int V = qm->config.vocab_size;
    if (flx_accel_config_get(config, &cfg, &err) != 0 || flx_accel_init(&a, qm, &cfg, 64, &err) != 0) {
        fprintf(stderr, "%s: %s\n", config, err.msg);
        return NULL;
    }
    float *out = malloc((size_t)n * V * sizeof *out);
    for (int t = 0; out && t < n; t++)
        if (flx_accel_decode(&a, tokens[t], t, out + (size_t)t * V, &err) != 0) {
            fprintf(stderr, "decode: %s\n", err.msg);
            free(out);
            out = NULL;
        }
    flx_accel_free(&a);
    return out;
}

static double relative_diff(const float *a, const float *b, size_t count) {
    if (!a || !b) return 1.0;
    double diff = 0, scale = 0;
    for (size_t i = 0; i < count; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

static long count_differing(const float *a, const float *b, size_t count) {
    if (!a || !b) return -1;
    long n = 0;
    for (size_t i = 0; i < count; i++) n += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return n;
}

static int same_linear(const flx_qlinear *a, const flx_qlinear *b) {
    return a->d_out == b->d_out && a->d_in == b->d_in && a->bits == b->bits &&
           memcmp(a->q, b->q, (size_t)a->d_out * a->d_in) == 0 &&
           memcmp(a->scale, b->scale, (size_t)a->d_out * sizeof(float)) == 0 &&
           memcmp(a->rowsum, b->rowsum, (size_t)a->d_out * sizeof(float)) == 0;
}

/* Replaces the first occurrence of from by to (same length) in the file. */
static int patch_file(const char *path, const char *from, const char *to) {
    size_t len;
    flx_error err;
    char *data = flx_read_text_file(path, &len, &err);
    if (!data) return -1;
    char *at = NULL;
    for (size_t i = 0; i + strlen(from) <= len && !at; i++)
        if (memcmp(data + i, from, strlen(from)) == 0) at = data + i;
    int rc = -1;
    if (at && strlen(from) == strlen(to)) {
        memcpy(at, to, strlen(to));
        FILE *f = fopen(path, "wb");
        rc = f && fwrite(data, 1, len, f) == len ? 0 : -1;
        if (f) fclose(f);
    }
    free(data);
    return rc;
}

static int write_synthetic(const char *path) {
    flx_synth_options o = {0};
    if (flx_synth_preset("stories260k", &o.config) != 0) return -1;
    o.config.ffn_dim = 128;
    o.config.vocab_size = 512;
    o.type = FLX_GGML_F32;
    o.seed = 11;
    o.name = "stories260k-ffn128";
    flx_error err;
    if (flx_synth_write(&o, path, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Artifact round trip: rotations, quantizer and R4 flag come back, and so
 * do the logits. Then the two rotation keys made to disagree, and the key
 * values of artifacts written before online_rotations existed. */
static void check_artifact(const flx_quantized *q, const int32_t *tokens, const float *want) {
    char path[700];
    flx_error err;
    tmp_path(path, sizeof path, "quant-recipes-hw.safetensors");
    flx_artifact_provenance prov = {.calib_tokens = q->calib.n_tokens}, back_prov;
    snprintf(prov.rotations, sizeof prov.rotations, "%s", q->rotations_text);
    snprintf(prov.weight_quantizer, sizeof prov.weight_quantizer, "%s", q->quantizer_text);
    CHECK_INT_EQ(flx_artifact_save(&q->qm, &prov, path, &err), 0);
    flx_qmodel back;
    CHECK_INT_EQ(flx_artifact_load(&back, &back_prov, path, &err), 0);
    if (flx_check_failures) return;
    CHECK(strcmp(back_prov.rotations, q->rotations_text) == 0);
    CHECK(strcmp(back_prov.weight_quantizer, "gptq(act_order,clip=mse)") == 0);
    CHECK(back.online_hadamard_ffn);
    CHECK(strcmp(back.recipe, "flexllm-hw") == 0);
    float *got = fq_logits(&back, tokens, N_TOKENS);
    CHECK_INT_EQ(count_differing(got, want, (size_t)N_TOKENS * back.config.vocab_size), 0);
    free(got);
    flx_qmodel_free(&back);

    /* An older artifact: no online_rotations key, rotations = online-hadamard-ffn. */
    snprintf(prov.rotations, sizeof prov.rotations, "online-hadamard-ffn");
    CHECK_INT_EQ(flx_artifact_save(&q->qm, &prov, path, &err), 0);
    CHECK_INT_EQ(patch_file(path, "\"online_rotations\"", "\"online_rotationx\""), 0);
    CHECK_INT_EQ(flx_artifact_load(&back, &back_prov, path, &err), 0);
    CHECK(back.online_hadamard_ffn);
    CHECK(strcmp(back_prov.rotations, "online-hadamard-ffn") == 0);
    flx_qmodel_free(&back);
    /* The same older key set with a value it never had. */
    snprintf(prov.rotations, sizeof prov.rotations, "r4=walsh-hadamard(128)");
    CHECK_INT_EQ(flx_artifact_save(&q->qm, &prov, path, &err), 0);
    CHECK_INT_EQ(patch_file(path, "\"online_rotations\"", "\"online_rotationx\""), 0);
    CHECK_INT_EQ(flx_artifact_load(&back, NULL, path, &err), -1);
    CHECK(strstr(err.msg, "metadata rotations = 'r4=walsh-hadamard(128)' is not supported") != NULL);

    /* R4 online, but a rotation record without R4. */
    snprintf(prov.rotations, sizeof prov.rotations, "untie fold-norms");
    CHECK_INT_EQ(flx_artifact_save(&q->qm, &prov, path, &err), 0);
    CHECK_INT_EQ(flx_artifact_load(&back, NULL, path, &err), -1);
    CHECK(strstr(err.msg, "online_rotations = 'r4-walsh-hadamard-ffn' contradicts rotations = 'untie fold-norms'") !=
          NULL);
    /* An unknown online rotation. */
    CHECK_INT_EQ(flx_artifact_save(&q->qm, NULL, path, &err), 0);
    CHECK_INT_EQ(patch_file(path, "r4-walsh-hadamard-ffn", "r3-walsh-hadamard-qk_"), 0);
    CHECK_INT_EQ(flx_artifact_load(&back, NULL, path, &err), -1);
    CHECK(strstr(err.msg, "metadata online_rotations = 'r3-walsh-hadamard-qk_' is not supported") != NULL);
    unlink(path);
}

/* GPTQ of w_down under R4 against the test's own construction: the
 * Hessian captured on the R1/R2-rotated model turned by the dense matrix
 * H / sqrt(n) on both sides, and w_down from flx_rotate_model with R4.
 * Rounding in the two Hessians differs, so a few codes may differ. */
static void check_r4_gptq(const flx_model *m, const flx_quantized *q, const int32_t *calib, int n_calib) {
    flx_error err;
    const flx_config *c = &m->config;
    int n = c->ffn_dim;
    flx_rotate_options ro = {.r1 = FLX_ROTATION_HADAMARD, .r2 = FLX_ROTATION_HADAMARD, .r1_seed = 1, .r2_seed = 2,
                             .r4 = true};
    flx_model full;
    flx_calib_hessians h;
    flx_capture_options co = {1024, 0, c->n_layers, false};
    CHECK_INT_EQ(flx_rotate_model(&full, m, &ro, NULL, &err), 0);
    CHECK_INT_EQ(flx_calib_capture(&h, &q->rotated, calib, n_calib, 1, &co, &err), 0);
    if (flx_check_failures) return;
    double *r = malloc((size_t)n * n * sizeof *r), *s = malloc((size_t)n * n * sizeof *s);
    double *t = malloc((size_t)n * n * sizeof *t);
    CHECK_INT_EQ(flx_hadamard_matrix(n, r, &err), 0);
    long differ = 0, total = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const flx_hessian *src = &h.layers[l].ffn_act;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) s[i * n + j] = i >= j ? src->sum[i * n + j] : src->sum[j * n + i];
        for (int i = 0; i < n; i++) /* t = R S */
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int k = 0; k < n; k++) acc += r[i * n + k] * s[k * n + j];
                t[i * n + j] = acc;
            }
        flx_hessian turned;
        CHECK_INT_EQ(flx_hessian_init(&turned, n, &err), 0);
        turned.n = src->n;
        for (int i = 0; i < n; i++) /* R S R^T */
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int k = 0; k < n; k++) acc += t[i * n + k] * r[j * n + k];
                turned.sum[i * n + j] = acc;
            }
        flx_gptq_options go = flx_gptq_options_default();
        go.clip.search = true;
        go.clip_weighted = true;
        go.act_order = true;
        flx_qmodel owner = {0};
        flx_qlinear wd;
        CHECK_INT_EQ(flx_gptq_quantize_linear(&wd, &owner, full.layers[l].w_down, c->dim, n, &turned, &go, "d", &err),
                     0);
        const flx_qlinear *got = &q->qm.layers[l].w_down;
        for (size_t i = 0; i < (size_t)c->dim * n; i++) differ += wd.q[i] != got->q[i];
        total += (long)c->dim * n;
        flx_qmodel_free(&owner);
        flx_hessian_free(&turned);
    }
    printf("GPTQ w_down under R4: %ld of %ld codes differ from the dense-Hessian construction\n", differ, total);
    CHECK(differ * 100 <= total);
    free(r);
    free(s);
    free(t);
    flx_calib_hessians_free(&h);
    flx_model_free(&full);
}

static void test_synthetic_hw(const int32_t *calib, int n_calib) {
    char path[700];
    flx_error err;
    tmp_path(path, sizeof path, "quant-recipes-ffn128.gguf");
    CHECK_INT_EQ(write_synthetic(path), 0);
    flx_model m;
    CHECK_INT_EQ(flx_model_load(&m, path, &err), 0);
    unlink(path);
    if (flx_check_failures) return;
    CHECK(m.config.tied_embeddings);
    int32_t tokens[N_TOKENS];
    tokens[0] = 1;
    for (int i = 1; i < N_TOKENS; i++) tokens[i] = calib[i - 1];
    size_t count = (size_t)N_TOKENS * m.config.vocab_size;
    float *want = float_logits(&m, tokens, N_TOKENS);

    const flx_recipe *hw = flx_recipe_find("flexllm-hw", &err);
    CHECK(hw != NULL);
    if (!hw) return;
    flx_quantize_options opt = {.calib_tokens = calib, .n_calib_tokens = n_calib, .bos = 1, .max_calib_tokens = 1024};
    flx_quantized q;
    CHECK_INT_EQ(flx_quantize_model(&q, &m, hw, &opt, &err), 0);
    if (flx_check_failures) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    printf("flexllm-hw rotations: %s; quantizer %s; Hessians from %ld tokens\n", q.rotations_text,
           q.quantizer_text, q.hessian_tokens);
    CHECK(strcmp(q.rotations_text,
                 "untie fold-norms r1=hadamard(64,seed=1) r2=hadamard(8,seed=2+layer) r4=walsh-hadamard(128)") == 0);
    CHECK(strcmp(q.quantizer_text, "gptq(act_order,clip=mse)") == 0);
    CHECK(q.has_rotated && q.qm.source == &q.rotated);
    CHECK(q.qm.online_hadamard_ffn);
    CHECK_INT_EQ(q.hessian_tokens, 1024);
    CHECK_INT_EQ(q.qm.layers[0].w_down.bits, 4);
    CHECK_INT_EQ(q.qm.lm_head.bits, 4);
    CHECK_INT_EQ(q.qm.act.bits, 4);
    CHECK(q.qm.act.asymmetric && q.qm.lm_head_act.asymmetric);
    CHECK(q.qm.layers[0].attn_norm[0] == 1.0f); /* folded */

    /* Rotation invariance of the float source (R1 and R2; R4 is online). */
    float *rot = float_logits(&q.rotated, tokens, N_TOKENS);
    double diff = relative_diff(rot, want, count);
    printf("rotated float model: relative logit difference %.3g\n", diff);
    CHECK(diff <= 1e-4);
    free(rot);

    /* Engines against the fake-quant model, bit for bit. */
    float *fq = fq_logits(&q.qm, tokens, N_TOKENS);
    const char *configs[] = {"u280-ref", "tiny"};
    for (int c = 0; c < 2; c++) {
        float *acc = accel_logits(&q.qm, configs[c], tokens, N_TOKENS);
        long bad = count_differing(acc, fq, count);
        printf("flexllm-hw, %s: %ld logits differ from the fake-quant model\n", configs[c], bad);
        CHECK_INT_EQ(bad, 0);
        free(acc);
    }
    /* The 4-bit model stays near the float one (relative error printed). */
    printf("flexllm-hw fake-quant vs float: relative logit difference %.3g\n", relative_diff(fq, want, count));
    CHECK(relative_diff(fq, want, count) < 0.5);
    check_r4_gptq(&m, &q, calib, n_calib);
    check_artifact(&q, tokens, fq);
    free(fq);
    flx_quantized_free(&q);

    /* The RTN variant equals RTN of the model that flx_rotate_model
     * rotates with R4 fused: the pipeline's own R4 fusion, the untied head
     * and the seeds. --seed 5 gives R1 seed 5 and R2 seed 6. */
    flx_recipe rtn_hw = *hw;
    rtn_hw.quantizer = FLX_QUANTIZER_RTN;
    rtn_hw.act_order = false;
    rtn_hw.clip_search = false;
    opt.override_seed = true;
    opt.seed = 5;
    CHECK_INT_EQ(flx_quantize_model(&q, &m, &rtn_hw, &opt, &err), 0);
    CHECK_INT_EQ(q.hessian_tokens, 0);
    flx_rotate_options ro = {.r1 = FLX_ROTATION_HADAMARD, .r2 = FLX_ROTATION_HADAMARD, .r1_seed = 5, .r2_seed = 6,
                             .r4 = true};
    flx_model full;
    flx_rotation_record rec;
    CHECK_INT_EQ(flx_rotate_model(&full, &m, &ro, &rec, &err), 0);
    char text[1024];
    flx_rotation_record_format(&rec, text, sizeof text);
    CHECK(strcmp(text, q.rotations_text) == 0);
    if (!flx_check_failures) {
        flx_qmodel owner = {0};
        const flx_config *c = &m.config;
        for (int l = 0; l < c->n_layers; l++) {
            flx_qlinear wd, wq;
            CHECK_INT_EQ(flx_rtn_quantize_linear(&wd, &owner, full.layers[l].w_down, c->dim, c->ffn_dim, 4, "d", &err),
                         0);
            CHECK_INT_EQ(flx_rtn_quantize_linear(&wq, &owner, full.layers[l].wq, c->dim, c->dim, 4, "q", &err), 0);
            CHECK(same_linear(&wd, &q.qm.layers[l].w_down));
            CHECK(same_linear(&wq, &q.qm.layers[l].wq));
        }
        flx_qlinear head;
        CHECK_INT_EQ(flx_rtn_quantize_linear(&head, &owner, full.output, c->vocab_size, c->dim, 4, "o", &err), 0);
        CHECK(same_linear(&head, &q.qm.lm_head));
        flx_qmodel_free(&owner);
    }
    flx_model_free(&full);
    flx_quantized_free(&q);

    /* Learned rotations need a file, and only they take one. */
    const flx_recipe *learned = flx_recipe_find("spinquant-learned-w4a4", &err);
    CHECK(learned != NULL);
    opt.override_seed = false;
    if (learned) {
        CHECK_INT_EQ(flx_quantize_model(&q, &m, learned, &opt, &err), -1);
        CHECK(strstr(err.msg, "learned R1 and R2 from a rotation file") != NULL);
    }
    opt.rotation_file = "r.safetensors";
    CHECK_INT_EQ(flx_quantize_model(&q, &m, hw, &opt, &err), -1);
    CHECK(strstr(err.msg, "rotation file r.safetensors given, but recipe flexllm-hw uses no learned rotation") != NULL);

    /* flx_recipe_apply alone cannot run GPTQ or rotations. */
    flx_qmodel qm;
    CHECK_INT_EQ(flx_recipe_apply(&qm, &m, hw, &err), -1);
    CHECK(strstr(err.msg, "recipe flexllm-hw needs GPTQ Hessians or rotations") != NULL);
    free(want);
    flx_model_free(&m);
}

typedef struct fq_ctx {
    const flx_qmodel *qm;
    flx_fakequant_state *s;
} fq_ctx;

static int fq_window(void *ctx, const int32_t *tokens, int n, float *logits, flx_error *err) {
    fq_ctx *f = ctx;
    return flx_fakequant_forward(f->qm, f->s, tokens, n, 0, logits, 1, err);
}

static double recipe_ppl(flx_model *m, const char *name, const int32_t *calib, int n_calib, const int32_t *text,
                         long n_text, int bos) {
    flx_error err;
    const flx_recipe *r = flx_recipe_find(name, &err);
    flx_quantize_options opt = {.calib_tokens = calib, .n_calib_tokens = n_calib, .bos = bos, .max_calib_tokens = 2048};
    flx_quantized q;
    if (!r || flx_quantize_model(&q, m, r, &opt, &err) != 0) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return -1;
    }
    flx_fakequant_state s;
    flx_ppl_result res = {0};
    int rc = flx_fakequant_state_init(&s, &q.qm, PPL_CTX, PPL_CTX, &err);
    fq_ctx fc = {&q.qm, &s};
    if (rc == 0) {
        rc = flx_perplexity(FLX_PPL_STANDARD, text, n_text, bos, PPL_CTX, m->config.vocab_size, fq_window, &fc, NULL,
                            NULL, &res, &err);
        flx_fakequant_state_free(&s);
    }
    flx_quantized_free(&q);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return -1;
    }
    CHECK_INT_EQ(res.n_windows, PPL_WINDOWS);
    printf("%-9s fake-quant ppl %.4f (%d windows of %d)\n", name, res.ppl, res.n_windows, PPL_CTX);
    return res.ppl;
}

static void test_stories(flx_tokenizer *tok, const int32_t *calib, int n_calib) {
    char path[1024];
    flx_error err;
    flx_model m;
    size_t len;
    CHECK_INT_EQ(flx_model_load(&m, flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin"), &err), 0);
    char *story = flx_read_text_file(
        flx_data_path(path, sizeof path, "text/tinystories/tinystories_valid_first1000_clean.txt"), &len, &err);
    CHECK(story != NULL);
    if (flx_check_failures) return;
    int bos = flx_tokenizer_bos(tok);

    /* ffn_dim 172 has no Walsh-Hadamard transform: R4 is a dense random
     * orthogonal matrix (no Hadamard matrix of order 172 is constructed). */
    const flx_recipe *hw = flx_recipe_find("flexllm-hw", &err);
    flx_quantize_options opt = {.calib_tokens = calib, .n_calib_tokens = n_calib, .bos = bos, .max_calib_tokens = 256};
    flx_quantized q;
    CHECK(hw != NULL);
    if (hw) CHECK_INT_EQ(flx_quantize_model(&q, &m, hw, &opt, &err), 0);
    if (!flx_check_failures) {
        CHECK(strstr(q.rotations_text, "r4=dense-random(172,seed=3)") != NULL);
        CHECK(q.qm.r4_matrix != NULL);
        /* R R^T = I to float rounding. */
        double worst = 0.0;
        for (int i = 0; i < 172; i++)
            for (int j = 0; j < 172; j++) {
                double dot = 0.0;
                for (int k = 0; k < 172; k++)
                    dot += (double)q.qm.r4_matrix[i * 172 + k] * (double)q.qm.r4_matrix[j * 172 + k];
                double e = fabs(dot - (i == j ? 1.0 : 0.0));
                if (e > worst) worst = e;
            }
        CHECK(worst < 1e-5);
        flx_quantized_free(&q);
    }

    int32_t *text;
    int n_text;
    CHECK_INT_EQ(flx_tokenizer_encode(tok, story, strlen(story), 0, &text, &n_text, &err), 0);
    long n_used = (long)PPL_WINDOWS * (PPL_CTX - 1);
    CHECK(n_text >= n_used);
    if (!flx_check_failures) {
        double rtn = recipe_ppl(&m, "w4a8", calib, n_calib, text, n_used, bos);
        double gptq = recipe_ppl(&m, "gptq-w4a8", calib, n_calib, text, n_used, bos);
        CHECK(rtn > 0 && gptq > 0);
        CHECK(gptq <= rtn * 1.02);
        free(text);
    }
    free(story);
    flx_model_free(&m);
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s", t && t[0] ? t : "/tmp");
    char path[1024];
    flx_error err;
    flx_tokenizer *tok = NULL;
    size_t len;
    CHECK_INT_EQ(flx_tokenizer_load(&tok, flx_data_path(path, sizeof path, "models/stories260K/tok512.bin"), &err), 0);
    char *wiki = flx_read_text_file(flx_data_path(path, sizeof path, "text/wikitext-2/wiki.test.raw"), &len, &err);
    CHECK(wiki != NULL);
    if (flx_check_failures) return flx_check_report("test_quant_recipes");
    int32_t *calib;
    int n_calib;
    CHECK_INT_EQ(flx_tokenizer_encode(tok, wiki, len, 0, &calib, &n_calib, &err), 0);
    if (flx_check_failures) return flx_check_report("test_quant_recipes");

    test_synthetic_hw(calib, n_calib);
    test_stories(tok, calib, n_calib);

    free(calib);
    free(wiki);
    flx_tokenizer_free(tok);
    return flx_check_report("test_quant_recipes");
}
