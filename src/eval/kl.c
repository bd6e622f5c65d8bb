#include "eval/kl.h"

#include <math.h>
#include <string.h>

/* Index of the maximum (first on ties) and log(sum(exp(x - max))). */
static int row_max_logsumexp(const float *x, int n, double *max, double *lse) {
    int arg = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[arg]) arg = i;
    double m = x[arg], sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)x[i] - m);
    *max = m;
    *lse = log(sum);
    return arg;
}

double flx_kl_divergence(const float *p_logits, const float *q_logits, int vocab_size, int *same_top1) {
    double p_max, p_lse, q_max, q_lse;
    int p_arg = row_max_logsumexp(p_logits, vocab_size, &p_max, &p_lse);
    int q_arg = row_max_logsumexp(q_logits, vocab_size, &q_max, &q_lse);
    if (same_top1) *same_top1 = p_arg == q_arg;
    double kl = 0.0;
    for (int i = 0; i < vocab_size; i++) {
        double log_p = ((double)p_logits[i] - p_max) - p_lse;
        double log_q = ((double)q_logits[i] - q_max) - q_lse;
        kl += exp(log_p) * (log_p - log_q);
    }
    return kl < 0.0 ? 0.0 : kl; /* NaN passes through */
}

void flx_kl_acc_init(flx_kl_acc *acc) { memset(acc, 0, sizeof *acc); }

void flx_kl_acc_add(flx_kl_acc *acc, double kl, int same_top1) {
    acc->n++;
    double delta = kl - acc->mean;
    acc->mean += delta / (double)acc->n;
    acc->m2 += delta * (kl - acc->mean);
    if (acc->n == 1 || kl > acc->max) acc->max = kl;
    if (same_top1) acc->top1_agree++;
}

void flx_kl_acc_add_logits(flx_kl_acc *acc, const float *p_logits, const float *q_logits, int vocab_size) {
    int same_top1;
    double kl = flx_kl_divergence(p_logits, q_logits, vocab_size, &same_top1);
    flx_kl_acc_add(acc, kl, same_top1);
}

void flx_kl_acc_stats(const flx_kl_acc *acc, flx_kl_stats *stats) {
    memset(stats, 0, sizeof *stats);
    stats->n = acc->n;
    if (acc->n == 0) return;
    stats->mean = acc->mean;
    stats->max = acc->max;
    stats->top1_agreement = (double)acc->top1_agree / (double)acc->n;
    if (acc->n > 1) {
        double sample_var = acc->m2 / (double)(acc->n - 1);
        stats->mean_stderr = sqrt(sample_var / (double)acc->n);
    }
}
