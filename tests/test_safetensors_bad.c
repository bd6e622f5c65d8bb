/* Malformed Hugging Face checkpoints: each case is written to
 * safetensors-bad/<case>/ below the working directory, loaded with
 * flx_model_load, and must fail with a message naming the file and the
 * problem. The folders stay behind for the `flexllm inspect` tests in
 * safetensors.cmake. A valid tiny checkpoint is checked first, so a failure
 * below comes from the one defect each case adds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "modelio/model.h"
#include "modelio/vocab.h"
#include "tokenizer/pretokenizer.h"
#include "test_safetensors_writer.h"

#define OUT_DIR "safetensors-bad"

/* hidden 8, 1 layer, 2 heads of 4, 1 KV head, FFN 12, vocab 16. */
static const flx_config tiny_config = {
    .dim = 8,
    .n_layers = 1,
    .n_heads = 2,
    .n_kv_heads = 1,
    .head_dim = 4,
    .ffn_dim = 12,
    .vocab_size = 16,
    .context_length = 32,
    .norm_eps = 1e-5f,
    .rope_theta = 10000.0f,
    .rope_dim = 4,
};

static float tiny_values[256];
static flx_layer_weights tiny_layer;

/* A model whose tensors all read the ramp 0, 0.01, 0.02, ... */
static flx_model tiny_model(void) {
    for (int i = 0; i < 256; i++) tiny_values[i] = 0.01f * (float)i;
    const float *v = tiny_values;
    tiny_layer = (flx_layer_weights){v, v, v, v, v, v, v, v, v};
    flx_model m;
    memset(&m, 0, sizeof m);
    m.config = tiny_config;
    m.token_embedding = v;
    m.output_norm = v;
    m.layers = &tiny_layer;
    return m;
}

static int find_tensor(const st_write_tensor *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return i;
    return -1;
}

static void remove_tensor(st_write_tensor *t, int *n, const char *name) {
    int i = find_tensor(t, *n, name);
    if (i < 0) return;
    free(t[i].data);
    memmove(&t[i], &t[i + 1], (size_t)(*n - i - 1) * sizeof *t);
    (*n)--;
}

static void make_case_dir(const char *name) {
    char dir[512];
    snprintf(dir, sizeof dir, OUT_DIR "/%s", name);
    CHECK(st_make_dirs(dir) == 0);
}

static void case_file(char *out, size_t size, const char *name, const char *file) {
    snprintf(out, size, OUT_DIR "/%s/%s", name, file);
}

/* Writes config.json text for the tiny model with one member replaced. */
static void write_config(const char *name, const char *omit, const char *extra) {
    char path[512];
    case_file(path, sizeof path, name, "config.json");
    char text[2048];
    size_t used = (size_t)snprintf(text, sizeof text, "{");
    static const char *const keys[][2] = {
        {"architectures", "[\"LlamaForCausalLM\"]"},
        {"hidden_size", "8"},        {"num_hidden_layers", "1"},
        {"num_attention_heads", "2"}, {"num_key_value_heads", "1"},
        {"intermediate_size", "12"}, {"vocab_size", "16"},
        {"max_position_embeddings", "32"}, {"rms_norm_eps", "1e-5"},
    };
    const char *sep = "";
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (omit && strcmp(omit, keys[i][0]) == 0) continue;
        used += (size_t)snprintf(text + used, sizeof text - used, "%s\"%s\": %s", sep,
                                 keys[i][0], keys[i][1]);
        sep = ", ";
    }
    if (extra) used += (size_t)snprintf(text + used, sizeof text - used, "%s%s", sep, extra);
    snprintf(text + used, sizeof text - used, "}\n");
    CHECK(st_write_text(path, text) == 0);
}

/* Fills t with the tiny model's tensors; the caller frees them. */
static int tiny_tensors(st_write_tensor *t) {
    flx_model m = tiny_model();
    int n = st_tensors_from_model(t, &m, "F32", NULL);
    CHECK_INT_EQ(n, 11);
    return n < 0 ? 0 : n;
}

static void write_model(const char *name, st_write_tensor *t, int n) {
    char path[512];
    case_file(path, sizeof path, name, "model.safetensors");
    CHECK(st_write_file(path, t, n) == 0);
    st_free_tensors(t, n);
}

static void write_raw_model(const char *name, uint64_t length_field, const char *header,
                            size_t n_data) {
    char path[512];
    case_file(path, sizeof path, name, "model.safetensors");
    uint8_t data[64] = {0};
    size_t header_len = strlen(header);
    CHECK(n_data <= sizeof data);
    CHECK(st_write_raw(path, length_field, header, header_len, data, n_data) == 0);
}

/* Loads the case folder, or the file load_as inside it, and checks that it
 * fails with fragment in a message that names file. */
static void expect_failure(const char *name, const char *load_as, const char *file,
                           const char *fragment) {
    char path[512];
    if (load_as[0])
        case_file(path, sizeof path, name, load_as);
    else
        snprintf(path, sizeof path, OUT_DIR "/%s", name);
    flx_model m;
    flx_error err = {{0}};
    int rc = flx_model_load(&m, path, &err);
    if (rc == 0 || !strstr(err.msg, fragment) || !strstr(err.msg, file))
        fprintf(stderr, "case %s: rc %d, message \"%s\", expected \"%s\" naming %s\n", name, rc,
                err.msg, fragment, file);
    CHECK_INT_EQ(rc, -1);
    CHECK(strstr(err.msg, fragment) != NULL);
    CHECK(strstr(err.msg, file) != NULL);
    if (rc == 0) flx_model_free(&m);
}

static void test_valid_tiny(void) {
    make_case_dir("valid");
    write_config("valid", NULL, NULL);
    st_write_tensor t[16];
    int n = tiny_tensors(t);
    write_model("valid", t, n);

    flx_model m;
    flx_error err = {{0}};
    int rc = flx_model_load(&m, OUT_DIR "/valid", &err);
    if (rc != 0) fprintf(stderr, "valid tiny checkpoint rejected: %s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    if (rc != 0) return;
    CHECK_INT_EQ(m.config.head_dim, 4);
    CHECK_INT_EQ(m.config.tied_embeddings, 1);
    /* The writer stored the ramp in interleaved order and turned it into
     * rotate-half order, so the load must give the ramp back. */
    for (int i = 0; i < 4 * 8; i++) CHECK(m.layers[0].wk[i] == tiny_values[i]);
    for (int i = 0; i < 8 * 8; i++) CHECK(m.layers[0].wq[i] == tiny_values[i]);
    flx_model_free(&m);
}

/* Writes a byte-level BPE tokenizer.json with Llama 3's split pattern and
 * the given model type: tokens "h", "i", "hi", then n_letters tokens "A",
 * "B", ..., then a BOS token. */
static void write_tokenizer(const char *name, const char *model_type, int n_letters) {
    char escaped[1024];
    size_t used = 0;
    for (const char *p = flx_llama3_pattern; *p && used + 2 < sizeof escaped; p++) {
        if (*p == '\\' || *p == '"') escaped[used++] = '\\';
        escaped[used++] = *p;
    }
    escaped[used] = '\0';
    char letters[512] = "";
    size_t n_used = 0;
    for (int i = 0; i < n_letters; i++)
        n_used += (size_t)snprintf(letters + n_used, sizeof letters - n_used, ", \"%c\": %d",
                                   'A' + i, 3 + i);
    int bos_id = 3 + n_letters;
    char text[4096], path[512];
    snprintf(text, sizeof text,
             "{\"added_tokens\": [{\"id\": %d, \"content\": \"<|begin_of_text|>\", "
             "\"special\": true}],\n"
             " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
             "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"%s\"}, \"behavior\": "
             "\"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\"}]},\n"
             " \"model\": {\"type\": \"%s\", \"vocab\": {\"h\": 0, \"i\": 1, \"hi\": 2%s}, "
             "\"merges\": [\"h i\"]}}\n",
             bos_id, escaped, model_type, letters);
    case_file(path, sizeof path, name, "tokenizer.json");
    CHECK(st_write_text(path, text) == 0);
}

/* tokenizer.json beside config.json: read when supported, skipped when the
 * tokenizer library rejects it, an error when it has more tokens than the
 * embedding has rows. */
static void test_tokenizer_json(void) {
    const char *names[] = {"with-tokenizer", "tokenizer-unigram", "tokenizer-too-large"};
    for (int i = 0; i < 3; i++) {
        make_case_dir(names[i]);
        write_config(names[i], NULL, NULL);
        st_write_tensor t[16];
        int n = tiny_tensors(t);
        write_model(names[i], t, n);
    }
    write_tokenizer("with-tokenizer", "BPE", 0);
    write_tokenizer("tokenizer-unigram", "Unigram", 0);
    write_tokenizer("tokenizer-too-large", "BPE", 17);

    flx_model m;
    flx_error err = {{0}};
    int rc = flx_model_load(&m, OUT_DIR "/with-tokenizer", &err);
    if (rc != 0) fprintf(stderr, "with-tokenizer: %s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    if (rc == 0) {
        CHECK(m.vocab != NULL);
        if (m.vocab) {
            CHECK_INT_EQ(m.vocab->kind, FLX_VOCAB_BPE);
            CHECK_INT_EQ(m.vocab->n_tokens, 4);
            CHECK_INT_EQ(m.vocab->bos_id, 3);
        }
        flx_model_free(&m);
    }

    rc = flx_model_load(&m, OUT_DIR "/tokenizer-unigram", &err);
    CHECK_INT_EQ(rc, 0);
    if (rc == 0) {
        CHECK(m.vocab == NULL);
        flx_model_free(&m);
    }

    expect_failure("tokenizer-too-large", "", "tokenizer-too-large/tokenizer.json",
                   "21 tokens, but vocab_size in");
}

static void test_safetensors_defects(void) {
    make_case_dir("header-past-end");
    write_config("header-past-end", NULL, NULL);
    write_raw_model("header-past-end", 4096, "{}", 0);
    expect_failure("header-past-end", "", "header-past-end/model.safetensors",
                   "safetensors header length 4096 runs past the end of the file");

    make_case_dir("header-absurd");
    write_config("header-absurd", NULL, NULL);
    write_raw_model("header-absurd", 1ull << 40, "{}", 0);
    expect_failure("header-absurd", "model.safetensors", "header-absurd/model.safetensors",
                   "exceeds the limit of 100000000 bytes");

    make_case_dir("invalid-json");
    write_config("invalid-json", NULL, NULL);
    write_raw_model("invalid-json", 40, "{\"model.norm.weight\": {\"dtype\": \"F32\",  ", 0);
    expect_failure("invalid-json", "", "invalid-json/model.safetensors",
                   "invalid JSON in the safetensors header");

    make_case_dir("offsets-past-end");
    write_config("offsets-past-end", NULL, NULL);
    const char *past =
        "{\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,4096]}}";
    write_raw_model("offsets-past-end", strlen(past), past, 32);
    expect_failure("offsets-past-end", "", "offsets-past-end/model.safetensors",
                   "tensor model.norm.weight: data_offsets [0, 4096) run past the end");

    make_case_dir("overlap");
    write_config("overlap", NULL, NULL);
    const char *overlap =
        "{\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
        "\"model.layers.0.input_layernorm.weight\":{\"dtype\":\"F32\",\"shape\":[8],"
        "\"data_offsets\":[16,48]}}";
    write_raw_model("overlap", strlen(overlap), overlap, 48);
    expect_failure("overlap", "", "overlap/model.safetensors",
                   "overlap tensor model.norm.weight");

    st_write_tensor t[16];
    int n;
    make_case_dir("size-mismatch");
    write_config("size-mismatch", NULL, NULL);
    n = tiny_tensors(t);
    t[find_tensor(t, n, "model.embed_tokens.weight")].shape[0] = 5;
    write_model("size-mismatch", t, n);
    expect_failure("size-mismatch", "", "size-mismatch/model.safetensors",
                   "tensor model.embed_tokens.weight: data_offsets [0, 512) hold 512 bytes, but "
                   "F32 shape [5, 8] needs 160 bytes");

    make_case_dir("unknown-dtype");
    write_config("unknown-dtype", NULL, NULL);
    n = tiny_tensors(t);
    t[find_tensor(t, n, "model.norm.weight")].dtype = "Q9_X";
    write_model("unknown-dtype", t, n);
    expect_failure("unknown-dtype", "", "unknown-dtype/model.safetensors",
                   "tensor model.norm.weight: unknown dtype \"Q9_X\"");

    /* F8_E4M3 is a valid safetensors dtype that the loader does not convert. */
    make_case_dir("unsupported-dtype");
    write_config("unsupported-dtype", NULL, NULL);
    n = tiny_tensors(t);
    int k = find_tensor(t, n, "model.layers.0.self_attn.k_proj.weight");
    t[k].dtype = "F8_E4M3";
    t[k].n_bytes /= 4;
    write_model("unsupported-dtype", t, n);
    expect_failure("unsupported-dtype", "", "unsupported-dtype/model.safetensors",
                   "tensor model.layers.0.self_attn.k_proj.weight has dtype F8_E4M3; only F32, "
                   "F16 and BF16 are supported");

    make_case_dir("truncated");
    write_config("truncated", NULL, NULL);
    n = tiny_tensors(t);
    write_model("truncated", t, n);
    char path[512];
    case_file(path, sizeof path, "truncated", "model.safetensors");
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK(truncate(path, st.st_size - 10) == 0);
    expect_failure("truncated", "", "truncated/model.safetensors", "run past the end of the data section");
}

static void test_config_defects(void) {
    struct {
        const char *name, *omit, *extra, *fragment;
    } cases[] = {
        {"config-no-hidden-size", "hidden_size", NULL, "missing required key \"hidden_size\""},
        {"config-mistral", "architectures", "\"architectures\": [\"MistralForCausalLM\"]",
         "unsupported architecture MistralForCausalLM"},
        {"config-heads-not-dividing", "num_attention_heads", "\"num_attention_heads\": 3",
         "num_attention_heads = 3 does not divide hidden_size = 8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_case_dir(cases[i].name);
        write_config(cases[i].name, cases[i].omit, cases[i].extra);
        st_write_tensor t[16];
        int n = tiny_tensors(t);
        write_model(cases[i].name, t, n);
        char file[512];
        snprintf(file, sizeof file, "%s/config.json", cases[i].name);
        expect_failure(cases[i].name, "", file, cases[i].fragment);
    }

    make_case_dir("no-config");
    st_write_tensor t[16];
    int n = tiny_tensors(t);
    write_model("no-config", t, n);
    expect_failure("no-config", "model.safetensors", "no-config/config.json",
                   "config.json not found");
}

static void test_tensor_defects(void) {
    st_write_tensor t[16];
    int n;
    make_case_dir("tensor-missing");
    write_config("tensor-missing", NULL, NULL);
    n = tiny_tensors(t);
    remove_tensor(t, &n, "model.layers.0.mlp.up_proj.weight");
    write_model("tensor-missing", t, n);
    expect_failure("tensor-missing", "", "tensor-missing/model.safetensors",
                   "tensor model.layers.0.mlp.up_proj.weight (shape [12, 8]) not found");

    make_case_dir("wrong-shape");
    write_config("wrong-shape", NULL, NULL);
    n = tiny_tensors(t);
    int k = find_tensor(t, n, "model.layers.0.self_attn.k_proj.weight");
    t[k].shape[0] = 8;
    t[k].shape[1] = 4;
    write_model("wrong-shape", t, n);
    expect_failure("wrong-shape", "", "wrong-shape/model.safetensors",
                   "tensor model.layers.0.self_attn.k_proj.weight has shape [8, 4], but "
                   "safetensors-bad/wrong-shape/config.json implies [4, 8]");

    make_case_dir("extra-layer");
    write_config("extra-layer", NULL, NULL);
    n = tiny_tensors(t);
    snprintf(t[find_tensor(t, n, "model.layers.0.mlp.up_proj.weight")].name, sizeof t[0].name,
             "model.layers.1.mlp.up_proj.weight");
    write_model("extra-layer", t, n);
    expect_failure("extra-layer", "", "extra-layer/model.safetensors",
                   "tensor model.layers.1.mlp.up_proj.weight is beyond the 1 layers");

    make_case_dir("unexpected-tensor");
    write_config("unexpected-tensor", NULL, NULL);
    n = tiny_tensors(t);
    snprintf(t[find_tensor(t, n, "model.norm.weight")].name, sizeof t[0].name,
             "model.layers.0.self_attn.q_proj.bias");
    write_model("unexpected-tensor", t, n);
    expect_failure("unexpected-tensor", "", "unexpected-tensor/model.safetensors",
                   "unexpected tensor model.layers.0.self_attn.q_proj.bias");
}

static void write_index(const char *name, const char *body) {
    char path[512];
    case_file(path, sizeof path, name, "model.safetensors.index.json");
    CHECK(st_write_text(path, body) == 0);
}

static void test_index_defects(void) {
    /* Shard 1 of 2 contains every tensor, and the index also names a shard
     * that was never written. */
    make_case_dir("index-missing-shard");
    write_config("index-missing-shard", NULL, NULL);
    st_write_tensor t[16];
    int n = tiny_tensors(t);
    char path[512];
    case_file(path, sizeof path, "index-missing-shard", "model-00001-of-00002.safetensors");
    CHECK(st_write_file(path, t, n) == 0);
    st_free_tensors(t, n);
    write_index("index-missing-shard",
                "{\"metadata\": {}, \"weight_map\": {"
                "\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\", "
                "\"model.norm.weight\": \"model-00002-of-00002.safetensors\"}}\n");
    expect_failure("index-missing-shard", "", "index-missing-shard/model.safetensors.index.json",
                   "model-00002-of-00002.safetensors listed in the weight_map was not found");

    /* Both shards exist but the index puts a tensor in the wrong one. */
    make_case_dir("index-wrong-shard");
    write_config("index-wrong-shard", NULL, NULL);
    n = tiny_tensors(t);
    case_file(path, sizeof path, "index-wrong-shard", "model-00001-of-00002.safetensors");
    CHECK(st_write_file(path, t, 5) == 0);
    case_file(path, sizeof path, "index-wrong-shard", "model-00002-of-00002.safetensors");
    CHECK(st_write_file(path, t + 5, n - 5) == 0);
    st_free_tensors(t, n);
    write_index("index-wrong-shard",
                "{\"weight_map\": {"
                "\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\", "
                "\"model.norm.weight\": \"model-00001-of-00002.safetensors\", "
                "\"lm_head.weight\": \"model-00002-of-00002.safetensors\"}}\n");
    expect_failure("index-wrong-shard", "model.safetensors.index.json",
                   "index-wrong-shard/model.safetensors.index.json",
                   "weight_map puts tensor model.norm.weight in");

    make_case_dir("index-escapes");
    write_config("index-escapes", NULL, NULL);
    write_index("index-escapes",
                "{\"weight_map\": {\"model.norm.weight\": \"../valid/model.safetensors\"}}\n");
    expect_failure("index-escapes", "", "index-escapes/model.safetensors.index.json",
                   "not a relative path inside the folder");

    make_case_dir("index-no-weight-map");
    write_config("index-no-weight-map", NULL, NULL);
    write_index("index-no-weight-map", "{\"metadata\": {\"total_size\": 4}}\n");
    expect_failure("index-no-weight-map", "", "index-no-weight-map/model.safetensors.index.json",
                   "no \"weight_map\" object");
}

int main(void) {
    test_valid_tiny();
    test_safetensors_defects();
    test_config_defects();
    test_tensor_defects();
    test_index_defects();
    test_tokenizer_json();
    return flx_check_report("test_safetensors_bad");
}
