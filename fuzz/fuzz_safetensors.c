/* Fuzzes the safetensors parser from memory, config.json parsing from the
 * same bytes, and the whole Hugging Face loader with the bytes as
 * model.safetensors beside a fixed valid config.json. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelio/hf_config.h"
#include "modelio/model.h"
#include "modelio/safetensors.h"

/* hidden 8, 1 layer, 2 heads, 1 KV head, FFN 12, vocab 16. */
static const char tiny_config[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8, \"num_hidden_layers\": 1, "
    "\"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"intermediate_size\": 12, "
    "\"vocab_size\": 16, \"max_position_embeddings\": 32, \"rms_norm_eps\": 1e-5}\n";

static char model_dir[256];

static int write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = size == 0 || fwrite(data, 1, size, f) == size;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Creates a scratch folder holding the fixed config.json, once per process. */
static const char *scratch_dir(void) {
    if (model_dir[0]) return model_dir;
    const char *tmp = getenv("TMPDIR");
    snprintf(model_dir, sizeof model_dir, "%s/flexllm-fuzz-st-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(model_dir)) abort();
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    if (write_file(path, (const uint8_t *)tiny_config, strlen(tiny_config)) != 0) abort();
    return model_dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    flx_error err;
    flx_st_file st;
    if (flx_st_parse(&st, data, size, "fuzz.safetensors", &err) == 0) {
        /* Every accepted range must lie inside the buffer: read its ends. */
        volatile uint8_t sink = 0;
        for (int i = 0; i < st.n_tensors; i++) {
            const flx_st_tensor *t = &st.tensors[i];
            if (t->end > t->begin) sink ^= st.data[t->begin] ^ st.data[t->end - 1];
            if (flx_st_find(&st, t->name) == NULL) abort();
        }
        (void)sink;
        flx_st_free(&st);
    }

    flx_config config;
    flx_hf_config_parse(&config, (const char *)data, size, "fuzz/config.json", &err);

    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", scratch_dir());
    if (write_file(path, data, size) != 0) abort();
    flx_model model;
    if (flx_model_load(&model, path, &err) == 0) flx_model_free(&model);
    return 0;
}
