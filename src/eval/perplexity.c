#include "eval/perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* -log softmax(logits)[target], in double precision. */
static double token_nll(const float *logits, int vocab_size, int target) {
    float max = logits[0];
    for (int i = 1; i < vocab_size; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0.0;
    for (int i = 0; i < vocab_size; i++) sum += exp((double)logits[i] - max);
    return log(sum) - ((double)logits[target] - max);
}

/* Running sums of the negative log-likelihoods of one model. */
typedef struct nll_sums {
    double sum, sum2;
    long count;
} nll_sums;

static void add_nll(nll_sums *s, double nll) {
    s->sum += nll;
    s->sum2 += nll * nll;
    s->count++;
}

static void finish_result(const nll_sums *s, flx_ppl_result *result) {
    long count = s->count;
    result->n_scored = count;
    result->mean_nll = s->sum / count;
    result->ppl = exp(result->mean_nll);
    double var = count > 1 ? (s->sum2 / count - result->mean_nll * result->mean_nll) / (count - 1) : 0;
    result->ppl_stderr = var > 0 ? result->ppl * sqrt(var) : 0.0;
}

/* flx_perplexity, and flx_perplexity_compare when ref_fn is not NULL. */
static int evaluate(flx_ppl_method method, const int32_t *text_tokens, long n_text_tokens, int bos, int ctx,
                    int vocab_size, flx_window_logits_fn logits_fn, void *logits_ctx, flx_window_logits_fn ref_fn,
                    void *ref_ctx, flx_ppl_progress_fn progress, void *progress_ctx, flx_ppl_result *result,
                    flx_ppl_result *ref_result, flx_kl_stats *kl, flx_error *err) {
    memset(result, 0, sizeof *result);
    if (ref_fn) {
        memset(ref_result, 0, sizeof *ref_result);
        memset(kl, 0, sizeof *kl);
    }
    if (ctx < 4) return flx_fail(err, "invalid context %d: expected at least 4 tokens", ctx);
    if (bos < 0) return flx_fail(err, "the vocabulary has no BOS token, which both methods need");

    /* Token stream, window stride and scored range of each method. */
    long n_stream = method == FLX_PPL_LLAMACPP ? n_text_tokens + 1 : n_text_tokens;
    long stride = method == FLX_PPL_LLAMACPP ? ctx : ctx - 1;
    int first = method == FLX_PPL_LLAMACPP ? ctx / 2 : 0;
    long n_windows = n_stream / stride;
    if (n_windows < 1)
        return flx_fail(err,
                        "the text has %ld tokens, fewer than one window of %d; use a smaller "
                        "--ctx or a longer text",
                        n_text_tokens, ctx);
    result->n_tokens = n_stream;
    result->n_windows = (int)n_windows;

    int32_t *window = malloc((size_t)ctx * sizeof *window);
    float *logits = malloc((size_t)ctx * vocab_size * sizeof *logits);
    /* NOTE: a reference doubles the logits memory, to 2 x ctx x vocab floats
     * (2 GiB at ctx 2048 with a 128256-token vocabulary). */
    float *ref_logits = ref_fn ? malloc((size_t)ctx * vocab_size * sizeof *ref_logits) : NULL;
    if (!window || !logits || (ref_fn && !ref_logits)) {
        free(window);
        free(logits);
        free(ref_logits);
        return flx_fail(err, "out of memory for a window of %d tokens x %d logits", ctx, vocab_size);
    }

    nll_sums sums = {0}, ref_sums = {0};
    flx_kl_acc kl_acc;
    flx_kl_acc_init(&kl_acc);
    int rc = 0;
    for (long w = 0; w < n_windows; w++) {
        /* Fill the window: BOS, then the next tokens of the text. In the
         * llamacpp method the stream itself starts with BOS and each window's
         * first token is overwritten by BOS. */
        window[0] = bos;
        if (method == FLX_PPL_LLAMACPP) {
            for (int i = 1; i < ctx; i++) {
                long s = w * stride + i; /* index in the BOS-prefixed stream */
                window[i] = text_tokens[s - 1];
            }
        } else {
            memcpy(window + 1, text_tokens + w * stride, (size_t)(ctx - 1) * sizeof *window);
        }
        if (logits_fn(logits_ctx, window, ctx, logits, err) != 0 ||
            (ref_fn && ref_fn(ref_ctx, window, ctx, ref_logits, err) != 0)) {
            rc = -1;
            break;
        }
        for (int j = first; j < ctx - 1; j++) {
            const float *row = logits + (size_t)j * vocab_size;
            add_nll(&sums, token_nll(row, vocab_size, window[j + 1]));
            if (ref_fn) {
                const float *ref_row = ref_logits + (size_t)j * vocab_size;
                add_nll(&ref_sums, token_nll(ref_row, vocab_size, window[j + 1]));
                flx_kl_acc_add_logits(&kl_acc, ref_row, row, vocab_size);
            }
        }
        if (progress) progress(progress_ctx, (int)w + 1, (int)n_windows, exp(sums.sum / sums.count));
    }
    free(window);
    free(logits);
    free(ref_logits);
    if (rc != 0) return -1;

    finish_result(&sums, result);
    if (ref_fn) {
        ref_result->n_tokens = result->n_tokens;
        ref_result->n_windows = result->n_windows;
        finish_result(&ref_sums, ref_result);
        flx_kl_acc_stats(&kl_acc, kl);
    }
    return 0;
}

int flx_perplexity(flx_ppl_method method, const int32_t *text_tokens, long n_text_tokens, int bos,
                   int ctx, int vocab_size, flx_window_logits_fn logits_fn, void *logits_ctx,
                   flx_ppl_progress_fn progress, void *progress_ctx, flx_ppl_result *result,
                   flx_error *err) {
    return evaluate(method, text_tokens, n_text_tokens, bos, ctx, vocab_size, logits_fn, logits_ctx, NULL, NULL,
                    progress, progress_ctx, result, NULL, NULL, err);
}

int flx_perplexity_compare(flx_ppl_method method, const int32_t *text_tokens, long n_text_tokens, int bos,
                           int ctx, int vocab_size, flx_window_logits_fn logits_fn, void *logits_ctx,
                           flx_window_logits_fn ref_fn, void *ref_ctx, flx_ppl_progress_fn progress,
                           void *progress_ctx, flx_ppl_result *result, flx_ppl_result *ref_result,
                           flx_kl_stats *kl, flx_error *err) {
    if (!ref_fn) return flx_fail(err, "no reference model to compare with: pass its logits function");
    return evaluate(method, text_tokens, n_text_tokens, bos, ctx, vocab_size, logits_fn, logits_ctx, ref_fn, ref_ctx,
                    progress, progress_ctx, result, ref_result, kl, err);
}
