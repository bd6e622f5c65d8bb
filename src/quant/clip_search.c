#include "quant/clip_search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

flx_clip_options flx_clip_options_default(void) {
    flx_clip_options o = {true, FLX_CLIP_RATIO_MAX, FLX_CLIP_RATIO_MIN, FLX_CLIP_RATIO_STEP};
    return o;
}

int flx_weight_format_check(const flx_weight_format *f, int d_in, const char *name, flx_error *err) {
    if (f->bits != 4 && f->bits != 8)
        return flx_fail(err, "%s: invalid weight width of %d bits (expected 4 or 8)", name, f->bits);
    if (f->group_size != 0 && f->group_size != 32 && f->group_size != 64 && f->group_size != 128)
        return flx_fail(err, "%s: invalid group size %d (expected 0 for per-channel, 32, 64 or 128)", name,
                        f->group_size);
    if (f->group_size > 0 && d_in % f->group_size != 0)
        return flx_fail(err, "%s: group size %d does not divide the input width %d; use per-channel scales",
                        name, f->group_size, d_in);
    return 0;
}

int flx_clip_candidates(const flx_clip_options *o) {
    /* The tolerance keeps 0.5 / 0.01 = 49.99... from losing the last ratio. */
    double span = ((double)o->ratio_max - (double)o->ratio_min) / (double)o->ratio_step;
    return (int)floor(span + 1e-4) + 1;
}

int flx_clip_options_check(const flx_clip_options *o, flx_error *err) {
    if (!(o->ratio_max > 0.0f && o->ratio_max <= 1.0f))
        return flx_fail(err, "clip ratio maximum %g: expected a value in (0, 1]", (double)o->ratio_max);
    if (!(o->ratio_min > 0.0f && o->ratio_min <= o->ratio_max))
        return flx_fail(err, "clip ratio minimum %g: expected a value in (0, %g]", (double)o->ratio_min,
                        (double)o->ratio_max);
    if (!(o->ratio_step > 0.0f) || !isfinite(o->ratio_step))
        return flx_fail(err, "clip ratio step %g: expected a positive value", (double)o->ratio_step);
    double span = ((double)o->ratio_max - (double)o->ratio_min) / (double)o->ratio_step;
    if (span + 1.0 > FLX_CLIP_MAX_CANDIDATES)
        return flx_fail(err, "clip ratios %g to %g in steps of %g give more than %d candidates; use a larger step",
                        (double)o->ratio_max, (double)o->ratio_min, (double)o->ratio_step, FLX_CLIP_MAX_CANDIDATES);
    return 0;
}

/* Grid of ratio r for a segment with minimum lo_w, maximum hi_w and
 * largest magnitude max_abs. */
static flx_grid grid_for_ratio(float r, float lo_w, float hi_w, float max_abs, int bits, bool asymmetric) {
    flx_grid g = {1.0f, 0};
    if (asymmetric) {
        float lo = r * (lo_w < 0.0f ? lo_w : 0.0f);
        float hi = r * (hi_w > 0.0f ? hi_w : 0.0f);
        float s = (hi - lo) / (float)flx_grid_code_max(bits, true);
        if (s > 0.0f && isfinite(s)) {
            float z = roundf(-lo / s);
            float zmax = (float)flx_grid_code_max(bits, true);
            if (z < 0.0f) z = 0.0f;
            if (z > zmax) z = zmax;
            g.scale = s;
            g.zero = (int)z;
        }
    } else {
        float s = r * max_abs / (float)flx_grid_code_max(bits, false);
        /* A zero segment, or one so small that the step underflows,
         * quantizes to code 0 with scale 1, as RTN does for a zero row. */
        if (s > 0.0f) g.scale = s;
    }
    return g;
}

/* Returns the weighted squared error of w on grid g, or a partial sum
 * once that exceeds limit. */
static double grid_error(const float *w, int n, const double *importance, flx_grid g, int lo, int hi,
                         double limit) {
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        double e = (double)w[i] - (double)flx_grid_value(g, flx_grid_code(g, lo, hi, w[i]));
        sum += (importance ? importance[i] : 1.0) * e * e;
        if ((i & 31) == 31 && sum > limit) break;
    }
    return sum;
}

void flx_clip_search(const float *w, int n, const double *importance, int bits, bool asymmetric,
                     const flx_clip_options *opt, flx_grid *g) {
    float lo_w = 0.0f, hi_w = 0.0f, max_abs = 0.0f;
    for (int i = 0; i < n; i++) {
        if (w[i] < lo_w) lo_w = w[i];
        if (w[i] > hi_w) hi_w = w[i];
        float a = fabsf(w[i]);
        if (a > max_abs) max_abs = a;
    }
    if (!opt || !opt->search) {
        *g = grid_for_ratio(1.0f, lo_w, hi_w, max_abs, bits, asymmetric);
        return;
    }
    int lo = flx_grid_code_min(bits, asymmetric), hi = flx_grid_code_max(bits, asymmetric);
    int count = flx_clip_candidates(opt);
    double best = INFINITY;
    for (int k = 0; k < count; k++) {
        float r = (float)((double)opt->ratio_max - k * (double)opt->ratio_step);
        flx_grid cand = grid_for_ratio(r, lo_w, hi_w, max_abs, bits, asymmetric);
        double e = grid_error(w, n, importance, cand, lo, hi, best);
        if (e < best) {
            best = e;
            *g = cand;
        }
    }
}

int flx_qweights_init(flx_qweights *qw, int d_out, int d_in, const flx_weight_format *f, flx_error *err) {
    memset(qw, 0, sizeof *qw);
    size_t n;
    if (d_out <= 0 || d_in <= 0 || flx_mul_overflows((size_t)d_out, (size_t)d_in, &n))
        return flx_fail(err, "invalid weight matrix shape [%d][%d]", d_out, d_in);
    if (flx_weight_format_check(f, d_in, "weights", err) != 0) return -1;
    qw->d_out = d_out;
    qw->d_in = d_in;
    qw->format = *f;
    qw->n_groups = f->group_size > 0 ? d_in / f->group_size : 1;
    size_t n_scales = (size_t)d_out * qw->n_groups;
    int ok;
    if (f->asymmetric)
        ok = (qw->q_unsigned = flx_malloc(n, err)) && (qw->zero = flx_malloc(n_scales, err));
    else
        ok = (qw->q = flx_malloc(n, err)) != NULL;
    if (ok) ok = (qw->scale = flx_malloc(n_scales * sizeof(float), err)) != NULL;
    if (!ok) {
        flx_qweights_free(qw);
        return -1;
    }
    return 0;
}

void flx_qweights_free(flx_qweights *qw) {
    free(qw->q);
    free(qw->q_unsigned);
    free(qw->scale);
    free(qw->zero);
    memset(qw, 0, sizeof *qw);
}

void flx_qweights_dequantize(const flx_qweights *qw, float *w) {
    int group = qw->format.group_size > 0 ? qw->format.group_size : qw->d_in;
    for (int o = 0; o < qw->d_out; o++)
        for (int i = 0; i < qw->d_in; i++) {
            size_t at = (size_t)o * qw->d_in + i;
            int code = qw->q ? qw->q[at] : qw->q_unsigned[at];
            w[at] = flx_grid_value(flx_qweights_grid(qw, o, i / group), code);
        }
}

int flx_rtn_clip_quantize(const float *w, int d_out, int d_in, const flx_weight_format *f,
                          const flx_clip_options *clip, const double *importance, flx_qweights *qw,
                          const char *name, flx_error *err) {
    memset(qw, 0, sizeof *qw);
    if (flx_weight_format_check(f, d_in, name, err) != 0) return -1;
    if (clip && clip->search && flx_clip_options_check(clip, err) != 0) {
        flx_error_prefix(err, name);
        return -1;
    }
    if (importance)
        for (int i = 0; i < d_in; i++)
            if (!(importance[i] >= 0.0) || !isfinite(importance[i]))
                return flx_fail(err, "%s: importance of input column %d is %g; expected a finite value >= 0",
                                name, i, importance[i]);
    if (d_out > 0 && d_in > 0)
        for (size_t i = 0; i < (size_t)d_out * d_in; i++)
            if (!isfinite(w[i]))
                return flx_fail(err, "%s: weight [%zu][%zu] = %g is not finite; the checkpoint is corrupt", name,
                                i / (size_t)d_in, i % (size_t)d_in, (double)w[i]);
    if (flx_qweights_init(qw, d_out, d_in, f, err) != 0) {
        flx_error_prefix(err, name);
        return -1;
    }
    int group = f->group_size > 0 ? f->group_size : d_in;
    int lo = flx_grid_code_min(f->bits, f->asymmetric), hi = flx_grid_code_max(f->bits, f->asymmetric);
#pragma omp parallel for schedule(static) if ((double)d_out * d_in > 1e5)
    for (int o = 0; o < d_out; o++) {
        for (int k = 0; k < qw->n_groups; k++) {
            const float *seg = w + (size_t)o * d_in + (size_t)k * group;
            flx_grid g;
            flx_clip_search(seg, group, importance ? importance + (size_t)k * group : NULL, f->bits,
                            f->asymmetric, clip, &g);
            qw->scale[(size_t)o * qw->n_groups + k] = g.scale;
            if (qw->zero) qw->zero[(size_t)o * qw->n_groups + k] = (uint8_t)g.zero;
            size_t base = (size_t)o * d_in + (size_t)k * group;
            for (int i = 0; i < group; i++) {
                int code = flx_grid_code(g, lo, hi, seg[i]);
                if (qw->q)
                    qw->q[base + i] = (int8_t)code;
                else
                    qw->q_unsigned[base + i] = (uint8_t)code;
            }
        }
    }
    return 0;
}

int flx_qweights_to_qlinear(const flx_qweights *qw, flx_qlinear *out, flx_qmodel *owner, const char *name,
                            flx_error *err) {
    if (qw->format.asymmetric)
        return flx_fail(err,
                        "%s: the quantized model takes symmetric weights, not asymmetric ones with zero points; "
                        "quantize with symmetric codes",
                        name);
    size_t n = (size_t)qw->d_out * qw->d_in;
    int groups = qw->n_groups, group = qw->format.group_size > 0 ? qw->format.group_size : qw->d_in;
    memset(out, 0, sizeof *out);
    out->d_in = qw->d_in;
    out->d_out = qw->d_out;
    out->bits = qw->format.bits;
    out->group_size = qw->format.group_size;
    out->q = flx_qmodel_alloc(owner, n, err);
    out->scale = out->q ? flx_qmodel_alloc(owner, (size_t)qw->d_out * groups * sizeof(float), err) : NULL;
    out->rowsum = out->scale ? flx_qmodel_alloc(owner, (size_t)qw->d_out * sizeof(float), err) : NULL;
    if (!out->rowsum) return -1;
    memcpy(out->q, qw->q, n);
    memcpy(out->scale, qw->scale, (size_t)qw->d_out * groups * sizeof(float));
    for (int o = 0; o < qw->d_out; o++) {
        /* Each group's scale times its code sum is exact in double while
         * |code sum| < 2^29 (any d_in below 4 million), and the groups add
         * in order; one group gives the exact product rounded once. */
        double sum = 0.0;
        for (int g = 0; g < groups; g++) {
            long long code_sum = 0;
            for (int i = g * group; i < (g + 1) * group; i++) code_sum += qw->q[(size_t)o * qw->d_in + i];
            sum += (double)qw->scale[(size_t)o * groups + g] * (double)code_sum;
        }
        out->rowsum[o] = (float)sum;
    }
    return 0;
}
