/* Hessians of every linear layer's input from a float forward pass over
 * calibration text, for GPTQ. One Hessian serves each input site: the
 * attention RMSNorm output (wq, wk, wv), the attention output (wo), the
 * FFN RMSNorm output (w_gate, w_up), the SwiGLU output (w_down) and the
 * final RMSNorm output (LM head).
 *
 * The text runs in windows of min(512, context_length) positions that each
 * start at position 0 with BOS, as flx_calibrate does, and every position
 * of a window (BOS included) adds its inputs. The forward pass follows the
 * float reference's arithmetic. */
#ifndef FLEXLLM_QUANT_CALIB_CAPTURE_H
#define FLEXLLM_QUANT_CALIB_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "modelio/model.h"
#include "quant/hessian.h"

typedef struct flx_layer_hessians {
    flx_hessian attn_in;   /* input of wq, wk, wv: d = dim */
    flx_hessian attn_out;  /* input of wo: d = n_heads * head_dim */
    flx_hessian ffn_in;    /* input of w_gate, w_up: d = dim */
    flx_hessian ffn_act;   /* input of w_down: d = ffn_dim */
} flx_layer_hessians;

/* Which sites to capture. A Hessian of width d takes 8 d^2 bytes, so all
 * layers of a model with dim 2048 and ffn_dim 8192 take 16 layers x 608 MiB.
 * Capture a range of layers at a time when memory is short. */
typedef struct flx_capture_options {
    long max_tokens;   /* text tokens to run at most, > 0 */
    int first_layer;   /* first layer captured */
    int n_layers;      /* layers captured from first_layer, >= 0 */
    bool lm_head;      /* capture the LM head input */
} flx_capture_options;

typedef struct flx_calib_hessians {
    int first_layer, n_layers;
    flx_layer_hessians *layers;  /* [n_layers]: layers[i] is layer first_layer + i */
    bool has_lm_head;
    flx_hessian lm_head;         /* input of the LM head: d = dim */
    long n_tokens;               /* text tokens run */
    long n_positions;            /* positions captured, BOS included */
    int n_windows;
    int window;                  /* positions per window, BOS included */
} flx_calib_hessians;

/* Every layer and the LM head, FLX_CALIB_DEFAULT_TOKENS text tokens. */
flx_capture_options flx_capture_options_default(const flx_config *c);

/* Runs the float model over the first opt->max_tokens of text_tokens (the
 * text encoded without BOS, or all of it when shorter), with bos (none when
 * bos < 0) at the start of every window, and fills out. Fails on an empty
 * text, a token outside the vocabulary, a layer range outside the model,
 * or activations that are not finite. */
int flx_calib_capture(flx_calib_hessians *out, const flx_model *model, const int32_t *text_tokens,
                      long n_text_tokens, int bos, const flx_capture_options *opt, flx_error *err);

void flx_calib_hessians_free(flx_calib_hessians *h);

#endif
