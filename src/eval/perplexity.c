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

int flx_perplexity(flx_ppl_method method, const int32_t *text_tokens, long n_text_tokens, int bos,
                   int ctx, int vocab_size, flx_window_logits_fn logits_fn, void *logits_ctx,
                   flx_ppl_progress_fn progress, void *progress_ctx, flx_ppl_result *result,
                   flx_error *err) {
    memset(result, 0, sizeof *result);
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
    if (!window || !logits) {
        free(window);
        free(logits);
        return flx_fail(err, "out of memory for a window of %d tokens x %d logits", ctx, vocab_size);
    }

    double sum_nll = 0.0, sum_nll2 = 0.0;
    long count = 0;
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
        if (logits_fn(logits_ctx, window, ctx, logits, err) != 0) {
            free(window);
            free(logits);
            return -1;
        }
        for (int j = first; j < ctx - 1; j++) {
            double nll = token_nll(logits + (size_t)j * vocab_size, vocab_size, window[j + 1]);
            sum_nll += nll;
            sum_nll2 += nll * nll;
            count++;
        }
        if (progress) progress(progress_ctx, (int)w + 1, (int)n_windows, exp(sum_nll / count));
    }
    free(window);
    free(logits);

    result->n_scored = count;
    result->mean_nll = sum_nll / count;
    result->ppl = exp(result->mean_nll);
    double var = count > 1 ? (sum_nll2 / count - result->mean_nll * result->mean_nll) / (count - 1) : 0;
    result->ppl_stderr = var > 0 ? result->ppl * sqrt(var) : 0.0;
    return 0;
}
