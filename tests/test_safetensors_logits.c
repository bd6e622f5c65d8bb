/* The forward pass on stories260K written as a Hugging Face checkpoint (Q/K
 * in rotate-half layout) must give the logits of the llama2.c file, which
 * proves the loader's Q/K reordering end to end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "modelio/model.h"
#include "reference/forward.h"
#include "test_safetensors_writer.h"

#define OUT_DIR "safetensors-logits"

static int write_checkpoint(const flx_model *ref) {
    if (st_make_dirs(OUT_DIR) != 0 || st_write_config(OUT_DIR, &ref->config, 1) != 0) return -1;
    st_write_tensor tensors[64];
    int n = st_tensors_from_model(tensors, ref, "F32", NULL);
    if (n < 0) return -1;
    int rc = st_write_file(OUT_DIR "/model.safetensors", tensors, n);
    st_free_tensors(tensors, n);
    return rc;
}

/* Runs tokens one call at a time and returns [n][vocab] logits. */
static float *run_logits(const flx_model *m, const int32_t *tokens, int n) {
    flx_state state;
    flx_error err = {{0}};
    int vocab = m->config.vocab_size;
    float *logits = calloc((size_t)n * (size_t)vocab, sizeof *logits);
    if (!logits || flx_state_init(&state, m, 64, 1, &err) != 0) {
        fprintf(stderr, "state init failed: %s\n", err.msg);
        free(logits);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (flx_forward(m, &state, &tokens[i], 1, i, logits + (size_t)i * vocab, 0, &err) != 0) {
            fprintf(stderr, "forward failed at position %d: %s\n", i, err.msg);
            free(logits);
            logits = NULL;
            break;
        }
    }
    flx_state_free(&state);
    return logits;
}

int main(void) {
    char path[1024];
    flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin");
    flx_model ref, hf;
    flx_error err = {{0}};
    if (flx_model_load_llama2c(&ref, path, &err) != 0) {
        fprintf(stderr, "cannot load the reference model: %s\n", err.msg);
        return 1;
    }
    CHECK(write_checkpoint(&ref) == 0);
    int rc = flx_model_load(&hf, OUT_DIR, &err);
    if (rc != 0) fprintf(stderr, "cannot load the written checkpoint: %s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    if (rc != 0) {
        flx_model_free(&ref);
        return flx_check_report("test_safetensors_logits");
    }

    /* BOS, then tokens from the stories vocabulary. */
    const int32_t tokens[] = {1, 403, 407, 261, 378, 260, 500, 13};
    const int n = (int)(sizeof tokens / sizeof tokens[0]);
    float *expected = run_logits(&ref, tokens, n);
    float *actual = run_logits(&hf, tokens, n);
    CHECK(expected != NULL);
    CHECK(actual != NULL);
    if (expected && actual) {
        int vocab = ref.config.vocab_size;
        int mismatches = 0;
        for (int i = 0; i < n * vocab; i++) {
            float e = expected[i], a = actual[i];
            float scale = e < 0 ? -e : e;
            if (scale < 1.0f) scale = 1.0f;
            if (!((a - e <= 1e-5f * scale) && (e - a <= 1e-5f * scale))) {
                if (mismatches == 0)
                    fprintf(stderr, "position %d token %d: logit %.9g, expected %.9g\n", i / vocab,
                            i % vocab, (double)a, (double)e);
                mismatches++;
            }
        }
        CHECK_INT_EQ(mismatches, 0);
        /* Positions must differ, or the comparison would prove little. */
        CHECK(memcmp(expected, expected + vocab, (size_t)vocab * sizeof *expected) != 0);
    }
    free(expected);
    free(actual);
    flx_model_free(&hf);
    flx_model_free(&ref);
    return flx_check_report("test_safetensors_logits");
}
