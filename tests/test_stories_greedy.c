/* stories260K greedy generation from BOS reproduces llama2.c's output, from
 * the llama2.c checkpoint and (when the GGUF loader is built) the GGUF copy,
 * and prefill-then-decode gives the same logits as token-by-token decode. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "modelio/model.h"
#include "reference/forward.h"
#include "reference/sampler.h"
#include "tokenizer/tokenizer.h"

/* Generates 256 tokens greedily from BOS and returns the decoded text. */
static char *greedy_story(const flx_model *m, const flx_tokenizer *tok) {
    flx_error err;
    flx_state s;
    int n_steps = 256;
    if (flx_state_init(&s, m, n_steps + 1, 1, &err) != 0) return NULL;
    float *logits = malloc(sizeof(float) * m->config.vocab_size);
    int32_t ids[257];
    ids[0] = flx_tokenizer_bos(tok);
    int n = 1;
    for (int pos = 0; pos < n_steps; pos++) {
        if (flx_forward(m, &s, &ids[pos], 1, pos, logits, 0, &err) != 0) break;
        ids[n++] = flx_argmax(logits, m->config.vocab_size);
    }
    char *text = NULL;
    flx_tokenizer_decode(tok, ids, n, &text, NULL, &err);
    free(logits);
    flx_state_free(&s);
    return text;
}

static void check_prefill_matches_decode(const flx_model *m) {
    flx_error err;
    enum { N = 37 };
    int32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (i * 97 + 5) % m->config.vocab_size;
    int V = m->config.vocab_size;
    flx_state a, b;
    flx_state_init(&a, m, N, N, &err);
    flx_state_init(&b, m, N, 1, &err);
    float *batch = malloc(sizeof(float) * N * V), *one = malloc(sizeof(float) * V);
    CHECK_INT_EQ(flx_forward(m, &a, ids, N, 0, batch, 1, &err), 0);
    double worst = 0;
    for (int t = 0; t < N; t++) {
        CHECK_INT_EQ(flx_forward(m, &b, &ids[t], 1, t, one, 0, &err), 0);
        for (int v = 0; v < V; v++) {
            double d = fabs(batch[t * V + v] - one[v]) / (fabs(one[v]) > 1 ? fabs(one[v]) : 1);
            if (d > worst) worst = d;
        }
    }
    CHECK(worst < 1e-4);
    if (worst >= 1e-4) fprintf(stderr, "prefill vs decode: worst relative difference %g\n", worst);
    free(batch);
    free(one);
    flx_state_free(&a);
    flx_state_free(&b);
}

int main(void) {
    char path[1024], tok_path[1024], ref_path[1024];
    flx_error err;
    size_t ref_len;
    char *expected = flx_read_text_file(
        flx_data_path(ref_path, sizeof ref_path, "reference/stories260K-greedy.txt"), &ref_len, &err);
    CHECK(expected != NULL);
    if (!expected) return flx_check_report("test_stories_greedy");
    /* The reference file ends with the newline llama2.c prints at the end. */
    if (ref_len && expected[ref_len - 1] == '\n') expected[--ref_len] = '\0';

    flx_tokenizer *tok = NULL;
    CHECK_INT_EQ(flx_tokenizer_load(&tok, flx_data_path(tok_path, sizeof tok_path,
                                                        "models/stories260K/tok512.bin"), &err), 0);
    const char *models[] = {"models/stories260K/stories260K.bin", "models/stories260K/stories260K.gguf"};
    for (int i = 0; i < 2; i++) {
        flx_model m;
        if (flx_model_load(&m, flx_data_path(path, sizeof path, models[i]), &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            flx_check_failures++;
            continue;
        }
        char *text = greedy_story(&m, tok);
        CHECK(text != NULL && strcmp(text, expected) == 0);
        if (text && strcmp(text, expected) != 0) fprintf(stderr, "%s generated:\n%s\n", models[i], text);
        if (i == 0) check_prefill_matches_decode(&m);
        free(text);
        flx_model_free(&m);
    }
    flx_tokenizer_free(tok);
    free(expected);
    return flx_check_report("test_stories_greedy");
}
