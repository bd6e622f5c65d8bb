/* Weight quantization grids and the MSE clip search that sets their range.
 *
 * A grid quantizes one row, or one group of consecutive input columns of a
 * row, with a step `scale` and, when asymmetric, a zero point:
 *   symmetric:  code = clamp(round(w / scale), -qmax, qmax), value = scale * code,
 *               qmax = 2^(bits-1) - 1, as the engines' per-channel weights;
 *   asymmetric: code = clamp(round(w / scale) + zero, 0, 2^bits - 1),
 *               value = scale * (code - zero).
 * round is roundf (halves away from zero) on w / scale in float, so a
 * symmetric per-channel grid of ratio 1 reproduces flx_rtn_quantize_rows.
 *
 * The clip search tries the ratios r = ratio_max - k * ratio_step,
 * k = 0, 1, ..., down to ratio_min (computed in double from the float
 * options and rounded to float). Each r shrinks the absmax range: symmetric
 * scale = r * max|w| / qmax; asymmetric lo = r * min(min w, 0),
 * hi = r * max(max w, 0), scale = (hi - lo) / (2^bits - 1),
 * zero = round(-lo / scale). The search keeps the grid with the smallest
 * sum_i importance[i] * (w[i] - value[i])^2 (importance 1 when not given),
 * the largest ratio on a tie. */
#ifndef FLEXLLM_QUANT_CLIP_SEARCH_H
#define FLEXLLM_QUANT_CLIP_SEARCH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "quant/qmodel.h"

#define FLX_CLIP_RATIO_MAX 1.0f
#define FLX_CLIP_RATIO_MIN 0.5f
#define FLX_CLIP_RATIO_STEP 0.01f
/* Largest number of ratios one search may try. */
#define FLX_CLIP_MAX_CANDIDATES 1000

/* Storage format of quantized weights. The engines run only per-channel
 * symmetric weights today (flx_qlinear). The other formats serve accuracy
 * studies through flx_qweights_dequantize. */
typedef struct flx_weight_format {
    int bits;         /* 4 or 8 */
    int group_size;   /* input columns per scale: 0 for one scale per output channel, else 32, 64 or 128 */
    bool asymmetric;  /* unsigned codes with a zero point per channel or group */
} flx_weight_format;

typedef struct flx_clip_options {
    bool search;       /* false: absmax range (ratio 1) without searching */
    float ratio_max;   /* first ratio tried, in (0, 1] */
    float ratio_min;   /* last ratio tried, in (0, ratio_max] */
    float ratio_step;  /* distance between ratios, > 0 */
} flx_clip_options;

/* Options of a search over 1.0, 0.99, ..., 0.5. */
flx_clip_options flx_clip_options_default(void);

typedef struct flx_grid {
    float scale;  /* step between codes, > 0 */
    int zero;     /* code of 0.0: 0 when symmetric */
} flx_grid;

/* Smallest and largest code of a format. */
static inline int flx_grid_code_min(int bits, bool asymmetric) {
    return asymmetric ? 0 : -((1 << (bits - 1)) - 1);
}
static inline int flx_grid_code_max(int bits, bool asymmetric) {
    return asymmetric ? (1 << bits) - 1 : (1 << (bits - 1)) - 1;
}

/* Code of w on grid g, clamped to lo and hi from flx_grid_code_min and
 * flx_grid_code_max. */
static inline int flx_grid_code(flx_grid g, int lo, int hi, float w) {
    float v = roundf(w / g.scale) + (float)g.zero;
    if (v < (float)lo) v = (float)lo;
    if (v > (float)hi) v = (float)hi;
    return (int)v;
}

static inline float flx_grid_value(flx_grid g, int code) { return g.scale * (float)(code - g.zero); }

/* Checks bits, group size and that the group size divides d_in. name
 * labels the matrix in the message. */
int flx_weight_format_check(const flx_weight_format *f, int d_in, const char *name, flx_error *err);

/* Checks the ratio range and that it has at most FLX_CLIP_MAX_CANDIDATES
 * ratios. */
int flx_clip_options_check(const flx_clip_options *o, flx_error *err);

/* Number of ratios a search tries. */
int flx_clip_candidates(const flx_clip_options *o);

/* Sets g for the n finite values w, by the clip search when opt is not
 * NULL and opt->search is set, else with ratio 1. importance [n] contains
 * non-negative weights of the squared errors, or is NULL. A segment of
 * zeros gets scale 1 and zero point 0. The options must pass
 * flx_clip_options_check. */
void flx_clip_search(const float *w, int n, const double *importance, int bits, bool asymmetric,
                     const flx_clip_options *opt, flx_grid *g);

/* Weights quantized in any flx_weight_format. */
typedef struct flx_qweights {
    int d_out, d_in;
    flx_weight_format format;
    int n_groups;          /* scales per row: 1 per channel, else d_in / group_size */
    int8_t *q;             /* [d_out][d_in] codes when symmetric, else NULL */
    uint8_t *q_unsigned;   /* [d_out][d_in] codes when asymmetric, else NULL */
    float *scale;          /* [d_out][n_groups] */
    uint8_t *zero;         /* [d_out][n_groups] zero points when asymmetric, else NULL */
} flx_qweights;

/* Allocates the buffers of a [d_out][d_in] matrix in format f. */
int flx_qweights_init(flx_qweights *qw, int d_out, int d_in, const flx_weight_format *f, flx_error *err);
void flx_qweights_free(flx_qweights *qw);

/* Grid of row o, group k. */
static inline flx_grid flx_qweights_grid(const flx_qweights *qw, int o, int k) {
    size_t at = (size_t)o * qw->n_groups + k;
    flx_grid g = {qw->scale[at], qw->zero ? qw->zero[at] : 0};
    return g;
}

/* Writes the float weights w [d_out][d_in] the codes stand for. */
void flx_qweights_dequantize(const flx_qweights *qw, float *w);

/* Round-to-nearest quantization of w [d_out][d_in] into qw (allocated
 * here) with the grid of every row or group chosen by flx_clip_search.
 * importance [d_in] weights the squared error of each input column (e.g.
 * the Hessian diagonal), or is NULL. Fails on a non-finite weight, naming
 * row, column and value, or on invalid options. name labels the matrix. */
int flx_rtn_clip_quantize(const float *w, int d_out, int d_in, const flx_weight_format *f,
                          const flx_clip_options *clip, const double *importance, flx_qweights *qw,
                          const char *name, flx_error *err);

/* Fills out, its buffers owned by owner, from symmetric 4- or 8-bit
 * weights, per channel or per group: codes, scales, and rowsum[o], the
 * per-group products scale * (code sum) added in double in group order and
 * rounded to float. Fails for asymmetric weights. */
int flx_qweights_to_qlinear(const flx_qweights *qw, flx_qlinear *out, flx_qmodel *owner, const char *name,
                            flx_error *err);

#endif
