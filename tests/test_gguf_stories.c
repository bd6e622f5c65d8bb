/* The real stories260K.gguf (llama.cpp's conversion) against the original
 * llama2.c checkpoint: same shape, every weight equal, and a vocabulary
 * equal to tok512.bin, read here by a separate minimal parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "modelio/model.h"
#include "modelio/vocab.h"

static int count_differences(const float *a, const float *b, size_t n) {
    int diff = 0;
    for (size_t i = 0; i < n; i++) diff += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return diff;
}

static void compare_weights(const flx_model *g, const flx_model *l) {
    const flx_config *c = &l->config;
    const size_t dim = (size_t)c->dim, kv = (size_t)c->n_kv_heads * (size_t)c->head_dim,
                 ffn = (size_t)c->ffn_dim, vocab = (size_t)c->vocab_size;
    CHECK_INT_EQ(count_differences(g->token_embedding, l->token_embedding, vocab * dim), 0);
    CHECK_INT_EQ(count_differences(g->output_norm, l->output_norm, dim), 0);
    /* The GGUF stores output.weight as a copy of the shared embedding. */
    CHECK_INT_EQ(count_differences(g->output, l->output, vocab * dim), 0);
    for (int layer = 0; layer < c->n_layers; layer++) {
        const flx_layer_weights *a = &g->layers[layer], *b = &l->layers[layer];
        CHECK_INT_EQ(count_differences(a->attn_norm, b->attn_norm, dim), 0);
        CHECK_INT_EQ(count_differences(a->wq, b->wq, dim * dim), 0);
        CHECK_INT_EQ(count_differences(a->wk, b->wk, kv * dim), 0);
        CHECK_INT_EQ(count_differences(a->wv, b->wv, kv * dim), 0);
        CHECK_INT_EQ(count_differences(a->wo, b->wo, dim * dim), 0);
        CHECK_INT_EQ(count_differences(a->ffn_norm, b->ffn_norm, dim), 0);
        CHECK_INT_EQ(count_differences(a->w_gate, b->w_gate, ffn * dim), 0);
        CHECK_INT_EQ(count_differences(a->w_up, b->w_up, ffn * dim), 0);
        CHECK_INT_EQ(count_differences(a->w_down, b->w_down, dim * ffn), 0);
    }
}

/* tok512.bin: int32 max token length, then per token a float32 score, an
 * int32 byte length and the bytes, with U+2581 already turned into spaces
 * and BOS/EOS spelled "\n<s>\n" and "\n</s>\n". */
static void compare_vocab(const flx_vocab *v, const char *tok_path) {
    FILE *f = fopen(tok_path, "rb");
    CHECK(f != NULL);
    if (!f) return;
    int32_t max_len;
    CHECK_INT_EQ(fread(&max_len, 4, 1, f), 1);
    int mismatches = 0;
    for (int i = 0; i < v->n_tokens; i++) {
        float score;
        int32_t len;
        char piece[64] = {0};
        if (fread(&score, 4, 1, f) != 1 || fread(&len, 4, 1, f) != 1 || len < 0 || len > 63 ||
            fread(piece, 1, (size_t)len, f) != (size_t)len) {
            mismatches++;
            break;
        }
        /* Rewrite the GGUF spelling the way llama2.c exported it. */
        char expected[64] = {0};
        size_t out = 0;
        for (const char *p = v->tokens[i]; *p && out < 60;) {
            if (!strncmp(p, "\xe2\x96\x81", 3)) {
                expected[out++] = ' ';
                p += 3;
            } else {
                expected[out++] = *p++;
            }
        }
        if (i == 1) strcpy(expected, "\n<s>\n");
        if (i == 2) strcpy(expected, "\n</s>\n");
        if (strcmp(expected, piece) != 0 || score != v->scores[i]) {
            if (mismatches < 5)
                fprintf(stderr, "token %d: gguf \"%s\" score %g, tok512.bin \"%s\" score %g\n", i,
                        v->tokens[i], (double)v->scores[i], piece, (double)score);
            mismatches++;
        }
    }
    fclose(f);
    CHECK_INT_EQ(mismatches, 0);
}

int main(void) {
    char gguf_path[1024], bin_path[1024], tok_path[1024];
    flx_data_path(gguf_path, sizeof gguf_path, "models/stories260K/stories260K.gguf");
    flx_data_path(bin_path, sizeof bin_path, "models/stories260K/stories260K.bin");
    flx_data_path(tok_path, sizeof tok_path, "models/stories260K/tok512.bin");
    flx_model g, l;
    flx_error err;
    int rc = flx_model_load(&g, gguf_path, &err);
    if (rc != 0) fprintf(stderr, "%s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    int rc2 = flx_model_load_llama2c(&l, bin_path, &err);
    if (rc2 != 0) fprintf(stderr, "%s\n", err.msg);
    CHECK_INT_EQ(rc2, 0);
    if (rc != 0 || rc2 != 0) return flx_check_report("test_gguf_stories");

    /* Values from the file's metadata, listed in the data folder's README. */
    const flx_config *c = &g.config;
    CHECK(strcmp(g.format, "gguf") == 0);
    CHECK_INT_EQ(c->dim, 64);
    CHECK_INT_EQ(c->n_layers, 5);
    CHECK_INT_EQ(c->n_heads, 8);
    CHECK_INT_EQ(c->n_kv_heads, 4);
    CHECK_INT_EQ(c->head_dim, 8);
    CHECK_INT_EQ(c->ffn_dim, 172);
    CHECK_INT_EQ(c->vocab_size, 512);
    CHECK_INT_EQ(c->context_length, 2048);
    CHECK_INT_EQ(c->rope_dim, 8);
    CHECK_NEAR(c->norm_eps, 1e-5, 1e-9);
    CHECK_NEAR(c->rope_theta, 10000.0, 0);
    CHECK_INT_EQ(c->rope_scaling.type, FLX_ROPE_SCALING_NONE);
    CHECK(!c->tied_embeddings);
    CHECK(g.rope_freqs == NULL);
    CHECK_INT_EQ(g.n_tensors, 48);
    CHECK_INT_EQ(l.config.dim, c->dim);
    CHECK_INT_EQ(l.config.n_kv_heads, c->n_kv_heads);
    CHECK_INT_EQ(l.config.ffn_dim, c->ffn_dim);

    /* F32 data aligned in the file is used in place, not copied. */
    const uint8_t *file_start = g.files[0].data, *file_end = file_start + g.files[0].size;
    const uint8_t *w_down = (const uint8_t *)g.layers[4].w_down;
    CHECK(w_down > file_start);
    CHECK(w_down < file_end);
    CHECK_INT_EQ(g.n_owned, 0);

    compare_weights(&g, &l);

    CHECK(g.vocab != NULL);
    if (g.vocab) {
        const flx_vocab *v = g.vocab;
        CHECK_INT_EQ(v->kind, FLX_VOCAB_SPM);
        CHECK_INT_EQ(v->n_tokens, 512);
        CHECK_INT_EQ(v->bos_id, 1);
        CHECK_INT_EQ(v->eos_id, 2);
        CHECK_INT_EQ(v->eot_id, -1);
        CHECK_INT_EQ(v->add_space_prefix, 1);
        CHECK(strcmp(v->tokens[0], "<unk>") == 0);
        CHECK(strcmp(v->tokens[1], "<s>") == 0);
        CHECK(strcmp(v->tokens[3], "<0x00>") == 0);
        CHECK(v->types != NULL);
        if (v->types) {
            CHECK_INT_EQ(v->types[3], FLX_TOKEN_BYTE);
            CHECK_INT_EQ(v->types[1], FLX_TOKEN_CONTROL);
        }
        CHECK(v->scores != NULL);
        if (v->scores) compare_vocab(v, tok_path);
    }

    flx_vocab *alone = NULL;
    CHECK_INT_EQ(flx_vocab_load_gguf(&alone, gguf_path, &err), 0);
    CHECK(alone != NULL);
    if (alone && g.vocab) {
        CHECK_INT_EQ(alone->n_tokens, 512);
        CHECK(strcmp(alone->tokens[259], g.vocab->tokens[259]) == 0);
    }
    flx_vocab_free(alone);

    flx_model_free(&g);
    flx_model_free(&l);
    return flx_check_report("test_gguf_stories");
}
