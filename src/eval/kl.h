/* KL divergence between the next-token distributions of two models, for
 * comparing a quantized model with its float original. */
#ifndef FLEXLLM_EVAL_KL_H
#define FLEXLLM_EVAL_KL_H

/* Computes KL(P || Q) = sum_i P_i (log P_i - log Q_i) in nats, where
 * P = softmax(p_logits) and Q = softmax(q_logits), [vocab_size] each, from
 * the log-softmax of both rows in double. Rounding can make the sum a few
 * ulps negative, so a negative sum returns 0 (NaN stays NaN). Sets
 * *same_top1, unless NULL, to 1 when both rows have their maximum at the
 * same index (the first index on ties). */
double flx_kl_divergence(const float *p_logits, const float *q_logits, int vocab_size, int *same_top1);

/* Running statistics of per-position KL values (Welford's algorithm). */
typedef struct flx_kl_acc {
    long n;
    double mean;
    double m2;         /* sum of squared deviations from the mean */
    double max;
    long top1_agree;   /* positions whose two argmaxes agree */
} flx_kl_acc;

typedef struct flx_kl_stats {
    long n;
    double mean;        /* nats */
    double mean_stderr; /* standard error of the mean: sample std / sqrt(n); 0 for n < 2 */
    double max;
    double top1_agreement; /* fraction in [0, 1] */
} flx_kl_stats;

void flx_kl_acc_init(flx_kl_acc *acc);
void flx_kl_acc_add(flx_kl_acc *acc, double kl, int same_top1);
/* Adds the KL value of one position: P from p_logits, Q from q_logits. */
void flx_kl_acc_add_logits(flx_kl_acc *acc, const float *p_logits, const float *q_logits, int vocab_size);
void flx_kl_acc_stats(const flx_kl_acc *acc, flx_kl_stats *stats);

#endif
