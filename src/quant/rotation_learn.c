#include "quant/rotation_learn.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/kl.h"
#include "quant/fakequant.h"
#include "quant/orthogonal.h"
#include "quant/quantize_model.h"
#include "reference/forward.h"

typedef struct learner {
    const flx_model *model;
    const flx_rotation_learn_options *opt;
    flx_recipe loop_recipe;     /* the recipe with RTN weights and learned R1, R2 */
    int32_t *windows;           /* [n_windows][window] BOS and text tokens */
    int *lengths;               /* [n_windows] tokens of each window */
    int n_windows;
    long positions;
    float *float_logits;        /* [positions][vocab] of the float model */
    float *logits;              /* [window][vocab] scratch */
} learner;

static void learner_free(learner *l) {
    free(l->windows);
    free(l->lengths);
    free(l->float_logits);
    free(l->logits);
}

/* Cuts the objective text into windows and runs the float model on them. */
static int learner_init(learner *l, const flx_model *model, const flx_rotation_learn_options *opt, flx_error *err) {
    memset(l, 0, sizeof *l);
    l->model = model;
    l->opt = opt;
    const flx_config *c = &model->config;
    int w = opt->window, head = opt->bos >= 0 ? 1 : 0;
    if (w < 2 || w > c->context_length)
        return flx_fail(err, "rotation learning window of %d positions is invalid (expected 2 to %d)", w,
                        c->context_length);
    long text = opt->objective_tokens < opt->n_tokens ? opt->objective_tokens : opt->n_tokens;
    int per_window = w - head;
    l->n_windows = (int)((text + per_window - 1) / per_window);
    if (text < 2 || l->n_windows < 1)
        return flx_fail(err, "rotation learning needs at least 2 calibration tokens, got %ld", text);

    /* Windows of BOS and text tokens. */
    l->windows = flx_calloc((size_t)l->n_windows * w, sizeof *l->windows, err);
    l->lengths = flx_calloc((size_t)l->n_windows, sizeof *l->lengths, err);
    if (!l->windows || !l->lengths) return -1;
    for (int i = 0; i < l->n_windows; i++) {
        long from = (long)i * per_window, n = text - from;
        if (n > per_window) n = per_window;
        int32_t *win = l->windows + (size_t)i * w;
        if (head) win[0] = opt->bos;
        memcpy(win + head, opt->tokens + from, (size_t)n * sizeof *win);
        l->lengths[i] = (int)n + head;
        l->positions += l->lengths[i];
    }

    /* The float model's logits at every position, computed once. */
    size_t vocab = (size_t)c->vocab_size;
    l->float_logits = flx_malloc((size_t)l->positions * vocab * sizeof(float), err);
    l->logits = flx_malloc((size_t)w * vocab * sizeof(float), err);
    if (!l->float_logits || !l->logits) return -1;
    flx_state st;
    if (flx_state_init(&st, model, w, w, err) != 0) return -1;
    float *out = l->float_logits;
    int rc = 0;
    for (int i = 0; i < l->n_windows && rc == 0; i++) {
        rc = flx_forward(model, &st, l->windows + (size_t)i * w, l->lengths[i], 0, out, 1, err);
        out += (size_t)l->lengths[i] * vocab;
    }
    flx_state_free(&st);

    /* The recipe in the loop: RTN weights, the learned rotations. */
    l->loop_recipe = *opt->recipe;
    l->loop_recipe.quantizer = FLX_QUANTIZER_RTN;
    l->loop_recipe.act_order = false;
    l->loop_recipe.clip_search = false;
    l->loop_recipe.r1 = FLX_ROTATION_LEARNED;
    l->loop_recipe.r2 = FLX_ROTATION_LEARNED;
    return rc;
}

/* Mean KL(float || quantized) over the objective positions with rotations rf. */
static int objective(learner *l, const flx_rotation_file *rf, double *kl, flx_error *err) {
    const flx_rotation_learn_options *opt = l->opt;
    flx_quantize_options qo = {.calib_tokens = opt->tokens,
                               .n_calib_tokens = opt->n_tokens,
                               .bos = opt->bos,
                               .max_calib_tokens = opt->objective_tokens,
                               .rotations = rf};
    flx_quantized q;
    if (flx_quantize_model(&q, (flx_model *)l->model, &l->loop_recipe, &qo, err) != 0) return -1;
    flx_fakequant_state s;
    int w = opt->window, vocab = l->model->config.vocab_size;
    int rc = flx_fakequant_state_init(&s, &q.qm, w, w, err);
    int have_state = rc == 0;
    flx_kl_acc acc;
    flx_kl_acc_init(&acc);
    const float *ref = l->float_logits;
    for (int i = 0; i < l->n_windows && rc == 0; i++) {
        int n = l->lengths[i];
        rc = flx_fakequant_forward(&q.qm, &s, l->windows + (size_t)i * w, n, 0, l->logits, 1, err);
        for (int t = 0; t < n && rc == 0; t++)
            flx_kl_acc_add_logits(&acc, ref + (size_t)t * vocab, l->logits + (size_t)t * vocab, vocab);
        ref += (size_t)n * vocab;
    }
    if (have_state) flx_fakequant_state_free(&s);
    flx_quantized_free(&q);
    if (rc != 0) return -1;
    flx_kl_stats st;
    flx_kl_acc_stats(&acc, &st);
    *kl = st.mean;
    return 0;
}

/* q [n][n] <- a randomized Hadamard matrix of the seed, or a Haar-random
 * orthogonal one when no Hadamard matrix of order n is available. */
static int start_matrix(double *q, int n, uint64_t seed, flx_error *err) {
    flx_rotation r;
    flx_error ignored;
    if (flx_rotation_init_hadamard(&r, n, seed, &ignored) != 0 && flx_rotation_init_random(&r, n, seed, err) != 0)
        return -1;
    int rc = flx_rotation_to_matrix(&r, q, err);
    flx_rotation_free(&r);
    return rc;
}

/* Columns i and j of q [n][n] <- (c q_i - s q_j, s q_i + c q_j). */
static void givens(double *q, int n, int i, int j, double angle) {
    double c = cos(angle), s = sin(angle);
    for (int r = 0; r < n; r++) {
        double a = q[(size_t)r * n + i], b = q[(size_t)r * n + j];
        q[(size_t)r * n + i] = c * a - s * b;
        q[(size_t)r * n + j] = s * a + c * b;
    }
}

int flx_rotation_learn(flx_rotation_file *out, const flx_model *model, const flx_rotation_learn_options *opt,
                       flx_rotation_learn_result *res, flx_error *err) {
    const flx_config *c = &model->config;
    memset(out, 0, sizeof *out);
    memset(res, 0, sizeof *res);
    if (opt->steps < 0 || !(opt->angle > 0.0 && opt->angle < 3.2))
        return flx_fail(err, "rotation learning: %d steps with angle %g is invalid (expected steps >= 0, angle "
                             "in (0, 3.2) radians)",
                        opt->steps, opt->angle);
    learner l;
    int rc = learner_init(&l, model, opt, err);
    size_t d = (size_t)c->dim, hd = (size_t)c->head_dim;
    double *saved = NULL;
    if (rc == 0) {
        out->dim = c->dim;
        out->head_dim = c->head_dim;
        out->n_layers = c->n_layers;
        out->r1 = flx_malloc(d * d * sizeof *out->r1, err);
        out->r2 = flx_malloc((size_t)c->n_layers * hd * hd * sizeof *out->r2, err);
        saved = flx_malloc(d * d * sizeof *saved, err);
        rc = out->r1 && out->r2 && saved ? 0 : -1;
    }
    if (rc == 0) rc = start_matrix(out->r1, c->dim, opt->seed, err);
    for (int layer = 0; rc == 0 && layer < c->n_layers; layer++)
        rc = start_matrix(out->r2 + (size_t)layer * hd * hd, c->head_dim, opt->seed + 1 + (uint64_t)layer, err);
    double best = 0.0;
    if (rc == 0) rc = objective(&l, out, &best, err);
    res->start_kl = best;
    res->positions = l.positions;
    if (rc == 0 && opt->log) {
        fprintf(opt->log, "start    KL %.6f nats over %ld positions\n", best, l.positions);
        fflush(opt->log);
    }

    uint64_t rng = opt->seed ^ 0x9e3779b97f4a7c15ull;
    for (int step = 0; rc == 0 && step < opt->steps; step++) {
        /* R1 half of the time, else the R2 of a random layer. */
        uint64_t pick = flx_rotation_rng_next(&rng);
        int on_r1 = (pick & 1) == 0 || c->head_dim < 2;
        double *q = on_r1 ? out->r1 : out->r2 + (size_t)((pick >> 1) % (uint64_t)c->n_layers) * hd * hd;
        int n = on_r1 ? c->dim : c->head_dim;
        int i = (int)(flx_rotation_rng_next(&rng) % (uint64_t)n);
        int j = (int)(flx_rotation_rng_next(&rng) % (uint64_t)(n - 1));
        if (j >= i) j++;
        double angle = opt->angle * (1.0 - 0.9 * step / (opt->steps > 1 ? opt->steps - 1 : 1));
        memcpy(saved, q, (size_t)n * n * sizeof *q);
        int kept = 0;
        for (int sign = 0; sign < 2 && !kept && rc == 0; sign++) {
            givens(q, n, i, j, sign ? -angle : angle);
            double kl;
            rc = objective(&l, out, &kl, err);
            if (rc == 0 && kl < best) {
                best = kl;
                kept = 1;
                res->accepted++;
            } else {
                memcpy(q, saved, (size_t)n * n * sizeof *q);
            }
        }
        if (rc == 0 && opt->log && ((step + 1) % 25 == 0 || step + 1 == opt->steps)) {
            fprintf(opt->log, "step %4d KL %.6f nats, %d accepted, angle %.3f\n", step + 1, best, res->accepted,
                    angle);
            fflush(opt->log);
        }
    }
    res->final_kl = best;
    free(saved);
    learner_free(&l);
    if (rc != 0) flx_rotation_file_free(out);
    return rc;
}

/* Appends one tensor entry to the header. */
static size_t header_entry(char *buf, size_t size, size_t used, const char *name, int n, uint64_t *offset) {
    uint64_t bytes = (uint64_t)n * n * sizeof(float);
    int w = snprintf(buf + used, used < size ? size - used : 0,
                     "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%llu,%llu]}",
                     used > 1 ? "," : "", name, n, n, (unsigned long long)*offset,
                     (unsigned long long)(*offset + bytes));
    *offset += bytes;
    return used + (size_t)(w > 0 ? w : 0);
}

static int write_matrix(FILE *f, const double *q, int n) {
    for (size_t i = 0; i < (size_t)n * n; i++) {
        float v = (float)q[i];
        if (fwrite(&v, sizeof v, 1, f) != 1) return -1;
    }
    return 0;
}

int flx_rotation_file_save(const flx_rotation_file *rf, const char *path, flx_error *err) {
    /* The JSON header, padded so that the data starts 8-byte aligned. */
    size_t size = 256 + (size_t)rf->n_layers * 160;
    char *header = flx_malloc(size, err);
    if (!header) return -1;
    uint64_t offset = 0;
    size_t used = 1;
    header[0] = '{';
    if (rf->r1) used = header_entry(header, size, used, "R1", rf->dim, &offset);
    for (int l = 0; rf->r2 && l < rf->n_layers; l++) {
        char name[64];
        snprintf(name, sizeof name, "model.layers.%d.self_attn.R2", l);
        used = header_entry(header, size, used, name, rf->head_dim, &offset);
    }
    while (used + 1 < size && (8 + used + 1) % 8 != 0) header[used++] = ' ';
    if (used + 2 > size) {
        free(header);
        return flx_fail(err, "%s: rotation file header does not fit %zu bytes", path, size);
    }
    header[used++] = '}';

    /* Length, header and matrices into a temporary file, renamed at the end. */
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(header);
        return flx_fail(err, "%s: cannot create the file: %s; check that its folder exists and is writable", tmp,
                        strerror(errno));
    }
    uint64_t header_len = used;
    uint8_t len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (uint8_t)(header_len >> (8 * i));
    int bad = fwrite(len_bytes, 1, 8, f) != 8 || fwrite(header, 1, used, f) != used;
    if (!bad && rf->r1) bad = write_matrix(f, rf->r1, rf->dim) != 0;
    for (int l = 0; !bad && rf->r2 && l < rf->n_layers; l++)
        bad = write_matrix(f, rf->r2 + (size_t)l * rf->head_dim * rf->head_dim, rf->head_dim) != 0;
    bad |= fclose(f) != 0;
    free(header);
    if (bad) {
        remove(tmp);
        return flx_fail(err, "%s: write failed: %s; check the free disk space", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return flx_fail(err, "%s: cannot rename %s to it: %s", path, tmp, strerror(errno));
    }
    return 0;
}
