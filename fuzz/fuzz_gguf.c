/* Fuzzes the GGUF parser from memory (walking every accepted array and
 * touching every accepted tensor's bytes), the vocabulary reader on the
 * parsed result, and the whole model loader on the bytes as a file. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "modelio/gguf.h"
#include "modelio/model.h"
#include "modelio/vocab.h"

/* Walks an array and its nested arrays, and aborts if the walk disagrees
 * with the sizes the parser recorded. */
static void walk_array(const flx_gguf_value *array) {
    uint64_t pos = 0, count = 0;
    flx_gguf_value elem;
    while (flx_gguf_array_next(array, &pos, &elem) == 0) {
        if (elem.type == FLX_GGUF_ARRAY) walk_array(&elem);
        count++;
    }
    if (count != array->as.array.count || pos != array->as.array.n_bytes) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    flx_error err;
    flx_gguf g;
    if (flx_gguf_parse(&g, data, size, "fuzz.gguf", &err) == 0) {
        for (uint64_t i = 0; i < g.n_kvs; i++)
            if (g.kvs[i].value.type == FLX_GGUF_ARRAY) walk_array(&g.kvs[i].value);
        volatile uint8_t sink = 0;
        for (uint64_t i = 0; i < g.n_tensors; i++) {
            const flx_gguf_tensor *t = &g.tensors[i];
            if (t->data < data || t->n_bytes > (uint64_t)(data + size - t->data)) abort();
            if (t->n_bytes) sink ^= t->data[0] ^ t->data[t->n_bytes - 1];
        }
        (void)sink;
        flx_vocab *vocab = NULL;
        if (flx_gguf_read_vocab(&g, &vocab, "fuzz.gguf", &err) > 0) flx_vocab_free(vocab);
        flx_gguf_free(&g);
    }

    const char *path = fuzz_write_temp(data, size, ".gguf");
    flx_model model;
    if (flx_model_load_gguf(&model, path, &err) == 0) flx_model_free(&model);
    return 0;
}
