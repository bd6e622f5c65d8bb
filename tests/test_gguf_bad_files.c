/* Every file make_bad_models writes, through flx_model_load_gguf: the valid
 * one loads and each malformed one fails with a message that names the
 * file and the defect. */
#include <string.h>

#include "check.h"
#include "modelio/model.h"
#include "modelio/vocab.h"

static const struct {
    const char *file;
    const char *message;
} cases[] = {
    {"empty.gguf", "empty.gguf: empty file (0 bytes)"},
    {"ggml_magic.gguf", "ggml_magic.gguf: not a GGUF file: magic bytes 47 47 4d 4c"},
    {"wrong_magic.gguf", "wrong_magic.gguf: not a GGUF file: magic bytes 47 47 55 58"},
    {"version1.gguf", "GGUF version 1 is not supported"},
    {"truncated_header.gguf", "truncated file: header"},
    {"truncated_string.gguf", "string length 27"},
    {"absurd_kv_count.gguf", "invalid kv_count 1099511627776"},
    {"absurd_tensor_count.gguf", "invalid tensor_count 1099511627776"},
    {"absurd_string_length.gguf", "string length 4611686018427387904"},
    {"unknown_value_type.gguf", "unknown value type 13"},
    {"offset_past_end.gguf", "runs past the end of the file"},
    {"data_past_end.gguf", "tensor 'output.weight' data"},
    {"attn_q_shape.gguf", "tensor blk.0.attn_q.weight has shape [16, 32]"},
    {"q4_k_tensor.gguf", "has type Q4_K (ggml type 12)"},
    {"unknown_tensor_type.gguf", "unknown ggml type id 99"},
    {"missing_block_count.gguf", "missing required key llama.block_count"},
    {"missing_tensor.gguf", "missing tensor blk.0.ffn_up.weight"},
    {"five_dims.gguf", "n_dims = 5"},
    {"zero_dim.gguf", "zero-sized dimension"},
    {"misaligned_offset.gguf", "not a multiple of the alignment 32"},
    {"bad_utf8_token.gguf", "vocabulary token 3 is not valid UTF-8"},
    {"duplicate_key.gguf", "duplicate metadata key 'llama.context_length'"},
    {"bad_alignment.gguf", "general.alignment = 3 is invalid"},
    {"wrong_arch.gguf", "architecture \"gpt2\" is not supported"},
    {"vocab_mismatch.gguf", "the vocabulary has 7 tokens but token_embd.weight has 8 rows"},
};

int main(void) {
    char path[4096];
    flx_model m;
    flx_error err = {{0}};
    snprintf(path, sizeof path, "%s/good.gguf", GGUF_BAD_DIR);
    int rc = flx_model_load_gguf(&m, path, &err);
    if (rc != 0) fprintf(stderr, "%s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    if (rc == 0) {
        CHECK_INT_EQ(m.config.dim, 32);
        CHECK_INT_EQ(m.config.ffn_dim, 256);
        CHECK_INT_EQ(m.config.head_dim, 16);
        CHECK_INT_EQ(m.config.vocab_size, 8);
        CHECK(m.vocab != NULL);
        if (m.vocab) CHECK_INT_EQ(m.vocab->n_tokens, 8);
        flx_model_free(&m);
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", GGUF_BAD_DIR, cases[i].file);
        err.msg[0] = '\0';
        rc = flx_model_load_gguf(&m, path, &err);
        CHECK_INT_EQ(rc, -1);
        if (rc == 0) flx_model_free(&m);
        if (!strstr(err.msg, path) || !strstr(err.msg, cases[i].message)) {
            fprintf(stderr, "%s: expected \"%s\", got \"%s\"\n", cases[i].file, cases[i].message, err.msg);
            flx_check_failures++;
        }
    }
    return flx_check_report("test_gguf_bad_files");
}
