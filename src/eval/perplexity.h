/* Perplexity of a token stream under any model that returns logits for a
 * window of tokens. */
#ifndef FLEXLLM_EVAL_PERPLEXITY_H
#define FLEXLLM_EVAL_PERPLEXITY_H

#include <stdint.h>

#include "common/error.h"
#include "eval/kl.h"

typedef enum flx_ppl_method {
    /* Non-overlapping windows of ctx tokens: BOS then ctx-1 text tokens,
     * every text token scored (the GPTQ / QuaRot / SpinQuant protocol). */
    FLX_PPL_STANDARD,
    /* llama-perplexity: the BOS-prefixed token stream cut into windows of
     * ctx tokens, the first token of each replaced by BOS, only positions
     * ctx/2..ctx-2 scored (each predicting the next token). */
    FLX_PPL_LLAMACPP,
} flx_ppl_method;

/* Evaluates tokens [n] from position 0 of a fresh context and writes the
 * logits of every position, [n][vocab]. */
typedef int (*flx_window_logits_fn)(void *ctx, const int32_t *tokens, int n, float *logits,
                                    flx_error *err);

/* Progress callback: windows done so far, total windows, running ppl. */
typedef void (*flx_ppl_progress_fn)(void *ctx, int done, int total, double ppl);

typedef struct flx_ppl_result {
    double ppl;
    double ppl_stderr;  /* standard error of the estimate, as llama-perplexity prints it */
    double mean_nll;    /* natural log */
    long n_tokens;      /* tokens of the text (with BOS for llamacpp) */
    int n_windows;
    long n_scored;      /* predictions averaged */
} flx_ppl_result;

/* text_tokens: the text encoded without BOS. */
int flx_perplexity(flx_ppl_method method, const int32_t *text_tokens, long n_text_tokens, int bos,
                   int ctx, int vocab_size, flx_window_logits_fn logits_fn, void *logits_ctx,
                   flx_ppl_progress_fn progress, void *progress_ctx, flx_ppl_result *result,
                   flx_error *err);

/* As flx_perplexity, and also runs ref_fn (the float model) on the same
 * windows: ref_result gets its perplexity and kl the statistics of
 * KL(P_ref || P_model) over the same scored positions. */
int flx_perplexity_compare(flx_ppl_method method, const int32_t *text_tokens, long n_text_tokens, int bos,
                           int ctx, int vocab_size, flx_window_logits_fn logits_fn, void *logits_ctx,
                           flx_window_logits_fn ref_fn, void *ref_ctx, flx_ppl_progress_fn progress,
                           void *progress_ctx, flx_ppl_result *result, flx_ppl_result *ref_result,
                           flx_kl_stats *kl, flx_error *err);

#endif
