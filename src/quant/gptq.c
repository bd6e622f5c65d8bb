#include "quant/gptq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

flx_gptq_options flx_gptq_options_default(void) {
    flx_gptq_options o;
    memset(&o, 0, sizeof o);
    o.format.bits = 4;
    o.clip = flx_clip_options_default();
    o.clip.search = false;
    o.damp = FLX_GPTQ_DEFAULT_DAMP;
    o.block_size = FLX_GPTQ_DEFAULT_BLOCK;
    return o;
}

static int check_options(const float *w, int d_out, int d_in, const flx_hessian *h, const flx_gptq_options *opt,
                         const char *name, flx_error *err) {
    size_t n;
    if (d_out <= 0 || d_in <= 0 || flx_mul_overflows((size_t)d_out, (size_t)d_in, &n))
        return flx_fail(err, "%s: invalid matrix shape [%d][%d]", name, d_out, d_in);
    if (!h->sum || h->d != d_in)
        return flx_fail(err, "%s: Hessian of input width %d does not match the %d input columns", name, h->d, d_in);
    if (h->n <= 0)
        return flx_fail(err, "%s: Hessian has no inputs; run the calibration capture first", name);
    if (flx_weight_format_check(&opt->format, d_in, name, err) != 0) return -1;
    if (opt->clip.search && flx_clip_options_check(&opt->clip, err) != 0) {
        flx_error_prefix(err, name);
        return -1;
    }
    if (!(opt->damp >= 0.0) || !isfinite(opt->damp))
        return flx_fail(err, "%s: damping %g: expected a finite fraction >= 0 of the mean Hessian diagonal", name,
                        opt->damp);
    int group = opt->format.group_size;
    if (opt->block_size <= 0 || opt->block_size > FLX_GPTQ_MAX_BLOCK ||
        (group > 0 && opt->block_size % group != 0))
        return flx_fail(err, "%s: block size %d: expected 1 to %d columns and a multiple of the group size %d", name,
                        opt->block_size, FLX_GPTQ_MAX_BLOCK, group);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(w[i]))
            return flx_fail(err, "%s: weight [%zu][%zu] = %g is not finite; the checkpoint is corrupt", name,
                            i / (size_t)d_in, i % (size_t)d_in, (double)w[i]);
    return 0;
}

typedef struct column_key {
    double diag;
    int index;
} column_key;

/* Decreasing diagonal, then increasing index, so the order is unique. */
static int compare_columns(const void *pa, const void *pb) {
    const column_key *a = pa, *b = pb;
    if (a->diag != b->diag) return a->diag > b->diag ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static int *activation_order(const double *diag, int d, flx_error *err) {
    column_key *keys = flx_malloc((size_t)d * sizeof *keys, err);
    int *perm = keys ? flx_malloc((size_t)d * sizeof *perm, err) : NULL;
    if (!perm) {
        free(keys);
        return NULL;
    }
    for (int i = 0; i < d; i++) keys[i] = (column_key){diag[i], i};
    qsort(keys, (size_t)d, sizeof *keys, compare_columns);
    for (int i = 0; i < d; i++) perm[i] = keys[i].index;
    free(keys);
    return perm;
}

/* Shared state of one quantization. */
typedef struct gptq_job {
    int d_out, d_in, block;
    const flx_gptq_options *opt;
    const int *perm;         /* [d_in] original column of each processing position, or NULL */
    const double *diag;      /* [d_in] Hessian diagonal, original order */
    const double *importance;/* diag when the clip search is weighted, else NULL */
    const double *u;         /* [d_in][d_in] upper factor, processing order */
    double *w;               /* [d_out][d_in] weights being updated, processing order */
    double *e;               /* [d_out][block] scaled errors of the current block */
    flx_qweights *out;
    int code_lo, code_hi;
} gptq_job;

static int original_column(const gptq_job *job, int j) { return job->perm ? job->perm[j] : j; }

/* Sets every grid of row o from the original row (dead columns zeroed):
 * per-channel grids, and per-group grids when act_order scatters a
 * group's columns over the processing order. */
static void set_grids_from_row(const gptq_job *job, const float *w_row, float *row, int o) {
    int d_in = job->d_in, n_groups = job->out->n_groups;
    int group = d_in / n_groups;
    for (int i = 0; i < d_in; i++) row[i] = job->diag[i] > 0.0 ? w_row[i] : 0.0f;
    for (int k = 0; k < n_groups; k++) {
        flx_grid g;
        flx_clip_search(row + (size_t)k * group, group, job->importance ? job->importance + (size_t)k * group : NULL,
                        job->opt->format.bits, job->opt->format.asymmetric, &job->opt->clip, &g);
        job->out->scale[(size_t)o * n_groups + k] = g.scale;
        if (job->out->zero) job->out->zero[(size_t)o * n_groups + k] = (uint8_t)g.zero;
    }
}

/* Rows quantized together, so that each row of U loaded for a column
 * serves all of them from L1. */
#define ROW_GROUP 4

/* Quantizes columns i1..i2-1 of rows o0..o0+n_rows-1 in order, spreading
 * each error over the later columns of the block. */
static void quantize_block_rows(const gptq_job *job, int o0, int n_rows, int i1, int i2, int dynamic_groups) {
    int d_in = job->d_in, n_groups = job->out->n_groups, group = d_in / n_groups;
    float seg[128]; /* one group: at most 128 columns */
    double err_j[ROW_GROUP];
    for (int j = i1; j < i2; j++) {
        int col = original_column(job, j);
        const double *u_row = job->u + (size_t)j * d_in;
        for (int r = 0; r < n_rows; r++) {
            int o = o0 + r;
            double *w = job->w + (size_t)o * d_in;
            if (dynamic_groups && j % group == 0) {
                /* Without act_order, processing order is the original order. */
                flx_grid g;
                for (int i = 0; i < group; i++) seg[i] = (float)w[j + i];
                flx_clip_search(seg, group, job->importance ? job->importance + j : NULL, job->opt->format.bits,
                                job->opt->format.asymmetric, &job->opt->clip, &g);
                job->out->scale[(size_t)o * n_groups + j / group] = g.scale;
                if (job->out->zero) job->out->zero[(size_t)o * n_groups + j / group] = (uint8_t)g.zero;
            }
            flx_grid g = flx_qweights_grid(job->out, o, col / group);
            int code = flx_grid_code(g, job->code_lo, job->code_hi, (float)w[j]);
            size_t at = (size_t)o * d_in + col;
            if (job->out->q)
                job->out->q[at] = (int8_t)code;
            else
                job->out->q_unsigned[at] = (uint8_t)code;
            err_j[r] = (w[j] - (double)flx_grid_value(g, code)) / u_row[j];
            job->e[(size_t)o * job->block + (j - i1)] = err_j[r];
        }
        for (int r = 0; r < n_rows; r++) {
            double *w = job->w + (size_t)(o0 + r) * d_in;
            for (int k = j + 1; k < i2; k++) w[k] -= err_j[r] * u_row[k];
        }
    }
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int run_gptq(gptq_job *job, const float *w_orig, float *row_buf, flx_error *err) {
    int d_out = job->d_out, d_in = job->d_in, block = job->block;
    int grouped = job->opt->format.group_size > 0;
    int dynamic_groups = grouped && !job->perm;

    if (!dynamic_groups) {
#pragma omp parallel for schedule(static) if ((double)d_out * d_in > 1e5)
        for (int o = 0; o < d_out; o++)
            set_grids_from_row(job, w_orig + (size_t)o * d_in, row_buf + (size_t)thread_id() * d_in, o);
    }

    for (int i1 = 0; i1 < d_in; i1 += block) {
        int i2 = i1 + block < d_in ? i1 + block : d_in;
        int n_row_groups = (d_out + ROW_GROUP - 1) / ROW_GROUP;
#pragma omp parallel for schedule(static) if ((double)d_out * (i2 - i1) * (i2 - i1) > 1e5)
        for (int t = 0; t < n_row_groups; t++) {
            int o0 = t * ROW_GROUP;
            quantize_block_rows(job, o0, d_out - o0 < ROW_GROUP ? d_out - o0 : ROW_GROUP, i1, i2, dynamic_groups);
        }
        if (i2 == d_in) break;
        /* The block's deferred updates: W[:, i2:] -= E U[i1:i2, i2:]. */
        if (flx_dgemm(0, 0, d_out, d_in - i2, i2 - i1, -1.0, job->e, block, job->u + (size_t)i1 * d_in + i2, d_in,
                      job->w + i2, d_in, err) != 0)
            return -1;
    }
    return 0;
}

int flx_gptq_quantize(const float *w, int d_out, int d_in, const flx_hessian *h, const flx_gptq_options *opt,
                      flx_qweights *out, const char *name, flx_error *err) {
    memset(out, 0, sizeof *out);
    if (check_options(w, d_out, d_in, h, opt, name, err) != 0) return -1;

    int n_threads = max_threads();
    int block = opt->block_size < d_in ? opt->block_size : d_in;
    double *diag = flx_malloc((size_t)d_in * sizeof(double), err);
    int *perm = NULL;
    double *u = NULL, *wd = NULL, *e = NULL;
    float *row_buf = NULL;
    int rc = -1;
    if (!diag || flx_hessian_diag(h, diag, err) != 0) goto done;
    if (opt->act_order && !(perm = activation_order(diag, d_in, err))) goto done;
    if (!(u = flx_malloc((size_t)d_in * d_in * sizeof(double), err)) ||
        !(wd = flx_malloc((size_t)d_out * d_in * sizeof(double), err)) ||
        !(e = flx_malloc((size_t)d_out * block * sizeof(double), err)) ||
        !(row_buf = flx_malloc((size_t)n_threads * d_in * sizeof(float), err)))
        goto done;
    if (flx_hessian_inverse_factor(h, perm, opt->damp, u, err) != 0 ||
        flx_qweights_init(out, d_out, d_in, &opt->format, err) != 0) {
        flx_error_prefix(err, name);
        goto done;
    }

    /* Working copy in processing order, with dead columns set to zero. */
    for (int o = 0; o < d_out; o++)
        for (int j = 0; j < d_in; j++) {
            int col = perm ? perm[j] : j;
            wd[(size_t)o * d_in + j] = diag[col] > 0.0 ? (double)w[(size_t)o * d_in + col] : 0.0;
        }

    gptq_job job = {
        .d_out = d_out,
        .d_in = d_in,
        .block = block,
        .opt = opt,
        .perm = perm,
        .diag = diag,
        .importance = opt->clip_weighted ? diag : NULL,
        .u = u,
        .w = wd,
        .e = e,
        .out = out,
        .code_lo = flx_grid_code_min(opt->format.bits, opt->format.asymmetric),
        .code_hi = flx_grid_code_max(opt->format.bits, opt->format.asymmetric),
    };
    rc = run_gptq(&job, w, row_buf, err);
    if (rc != 0) flx_error_prefix(err, name);
done:
    if (rc != 0) flx_qweights_free(out);
    free(row_buf);
    free(e);
    free(wd);
    free(u);
    free(perm);
    free(diag);
    return rc;
}

int flx_gptq_quantize_linear(flx_qlinear *out, flx_qmodel *owner, const float *w, int d_out, int d_in,
                             const flx_hessian *h, const flx_gptq_options *opt, const char *name,
                             flx_error *err) {
    if (opt->format.asymmetric)
        return flx_fail(err, "%s: the quantized model takes symmetric weights; quantize with symmetric codes", name);
    flx_qweights qw;
    if (flx_gptq_quantize(w, d_out, d_in, h, opt, &qw, name, err) != 0) return -1;
    int rc = flx_qweights_to_qlinear(&qw, out, owner, name, err);
    flx_qweights_free(&qw);
    return rc;
}
