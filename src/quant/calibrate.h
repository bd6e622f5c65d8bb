/* Static attention scales from a calibration text: the float model runs on
 * the text's first tokens and the largest |Q| and |K| after RoPE and |V|
 * of every layer and head become the INT8 scales max / 127. */
#ifndef FLEXLLM_QUANT_CALIBRATE_H
#define FLEXLLM_QUANT_CALIBRATE_H

#include <stdint.h>

#include "common/error.h"
#include "quant/qmodel.h"

#define FLX_CALIB_DEFAULT_TOKENS 2048
#define FLX_CALIB_MAX_WINDOW 512
/* Floor of a calibrated scale, so that a head that never fired still gets a
 * usable (positive) scale. */
#define FLX_CALIB_MIN_SCALE 1e-8f

typedef struct flx_calib_result {
    long n_tokens;   /* text tokens run through the model */
    int n_windows;
    int window;      /* positions per window, BOS included */
} flx_calib_result;

/* Runs qm->source's float weights over the first max_tokens of
 * text_tokens (the text encoded without BOS; all of it when shorter), in
 * windows of min(512, context_length) positions that each start at
 * position 0 with bos (none when bos < 0), then sets every layer's
 * q_scale, k_scale and v_scale and prob_scale = 1/255. Needs qm->source. */
int flx_calibrate(flx_qmodel *qm, const int32_t *text_tokens, long n_text_tokens, int bos,
                  long max_tokens, flx_calib_result *result, flx_error *err);

#endif
