/* Fuzzes the quantized-model artifact loader; a model it accepts must run
 * one fake-quant token without reading outside its buffers. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "quant/artifact.h"
#include "quant/fakequant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    flx_error err;
    flx_qmodel qm;
    const char *path = fuzz_write_temp(data, size, ".safetensors");
    if (flx_artifact_load(&qm, NULL, path, &err) != 0) return 0;
    const flx_config *c = &qm.config;
    /* Keep accepted models small enough to run. */
    if ((long long)c->dim * c->ffn_dim * c->n_layers <= (1 << 20) && c->vocab_size <= (1 << 16)) {
        flx_fakequant_state s;
        float *logits = malloc((size_t)c->vocab_size * sizeof *logits);
        int32_t token = 0;
        if (logits && flx_fakequant_state_init(&s, &qm, 2, 1, &err) == 0) {
            flx_fakequant_forward(&qm, &s, &token, 1, 0, logits, 0, &err);
            flx_fakequant_state_free(&s);
        }
        free(logits);
    }
    flx_qmodel_free(&qm);
    return 0;
}
