/* config.json parsing: a real Llama 3.2 1B config, defaults, RoPE scaling
 * forms, and one rejected config per rule. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "modelio/hf_config.h"

#define NAME "dir/config.json"

/* The config.json of meta-llama/Llama-3.2-1B on Hugging Face. */
static const char *llama32_1b =
    "{\n"
    "  \"architectures\": [\"LlamaForCausalLM\"],\n"
    "  \"attention_bias\": false,\n"
    "  \"attention_dropout\": 0.0,\n"
    "  \"bos_token_id\": 128000,\n"
    "  \"eos_token_id\": 128001,\n"
    "  \"head_dim\": 64,\n"
    "  \"hidden_act\": \"silu\",\n"
    "  \"hidden_size\": 2048,\n"
    "  \"initializer_range\": 0.02,\n"
    "  \"intermediate_size\": 8192,\n"
    "  \"max_position_embeddings\": 131072,\n"
    "  \"mlp_bias\": false,\n"
    "  \"model_type\": \"llama\",\n"
    "  \"num_attention_heads\": 32,\n"
    "  \"num_hidden_layers\": 16,\n"
    "  \"num_key_value_heads\": 8,\n"
    "  \"pretraining_tp\": 1,\n"
    "  \"rms_norm_eps\": 1e-05,\n"
    "  \"rope_scaling\": {\n"
    "    \"factor\": 32.0,\n"
    "    \"high_freq_factor\": 4.0,\n"
    "    \"low_freq_factor\": 1.0,\n"
    "    \"original_max_position_embeddings\": 8192,\n"
    "    \"rope_type\": \"llama3\"\n"
    "  },\n"
    "  \"rope_theta\": 500000.0,\n"
    "  \"tie_word_embeddings\": true,\n"
    "  \"torch_dtype\": \"bfloat16\",\n"
    "  \"transformers_version\": \"4.45.0.dev0\",\n"
    "  \"use_cache\": true,\n"
    "  \"vocab_size\": 128256\n"
    "}\n";

static const char *const base_keys[][2] = {
    {"architectures", "[\"LlamaForCausalLM\"]"},
    {"hidden_size", "64"},
    {"num_hidden_layers", "2"},
    {"num_attention_heads", "8"},
    {"intermediate_size", "172"},
    {"vocab_size", "512"},
    {"max_position_embeddings", "256"},
    {"rms_norm_eps", "1e-6"},
};
#define N_BASE_KEYS (int)(sizeof base_keys / sizeof base_keys[0])

/* Writes a config with the base keys except omit, plus extra members. */
static const char *make_config(const char *omit, const char *extra) {
    static char text[4096];
    size_t used = (size_t)snprintf(text, sizeof text, "{");
    const char *sep = "";
    for (int i = 0; i < N_BASE_KEYS; i++) {
        if (omit && strcmp(omit, base_keys[i][0]) == 0) continue;
        used += (size_t)snprintf(text + used, sizeof text - used, "%s\"%s\": %s", sep,
                                 base_keys[i][0], base_keys[i][1]);
        sep = ", ";
    }
    if (extra) used += (size_t)snprintf(text + used, sizeof text - used, "%s%s", sep, extra);
    snprintf(text + used, sizeof text - used, "}\n");
    return text;
}

static int parse(flx_config *c, const char *json, flx_error *err) {
    return flx_hf_config_parse(c, json, strlen(json), NAME, err);
}

static void expect_error(const char *case_name, const char *json, const char *fragment) {
    flx_config c;
    flx_error err = {{0}};
    int rc = parse(&c, json, &err);
    if (rc == 0 || !strstr(err.msg, fragment) || !strstr(err.msg, NAME))
        fprintf(stderr, "case %s: rc %d, message \"%s\", expected \"%s\"\n", case_name, rc, err.msg,
                fragment);
    CHECK_INT_EQ(rc, -1);
    CHECK(strstr(err.msg, fragment) != NULL);
    CHECK(strstr(err.msg, NAME) != NULL);
}

static void test_llama32(void) {
    flx_config c;
    flx_error err = {{0}};
    int rc = parse(&c, llama32_1b, &err);
    if (rc != 0) fprintf(stderr, "Llama 3.2 config rejected: %s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    CHECK_INT_EQ(c.dim, 2048);
    CHECK_INT_EQ(c.n_layers, 16);
    CHECK_INT_EQ(c.n_heads, 32);
    CHECK_INT_EQ(c.n_kv_heads, 8);
    CHECK_INT_EQ(c.head_dim, 64);
    CHECK_INT_EQ(c.rope_dim, 64);
    CHECK_INT_EQ(c.ffn_dim, 8192);
    CHECK_INT_EQ(c.vocab_size, 128256);
    CHECK_INT_EQ(c.context_length, 131072);
    CHECK(c.norm_eps == 1e-5f);
    CHECK(c.rope_theta == 500000.0f);
    CHECK_INT_EQ(c.tied_embeddings, 1);
    CHECK_INT_EQ(c.rope_scaling.type, FLX_ROPE_SCALING_LLAMA3);
    CHECK(c.rope_scaling.factor == 32.0f);
    CHECK(c.rope_scaling.low_freq_factor == 1.0f);
    CHECK(c.rope_scaling.high_freq_factor == 4.0f);
    CHECK_INT_EQ(c.rope_scaling.original_context_length, 8192);
}

static void test_defaults(void) {
    flx_config c;
    flx_error err = {{0}};
    /* Only model_type identifies the architecture here. */
    int rc = parse(&c, make_config("architectures", "\"model_type\": \"llama\""), &err);
    if (rc != 0) fprintf(stderr, "minimal config rejected: %s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    CHECK_INT_EQ(c.n_kv_heads, 8);
    CHECK_INT_EQ(c.head_dim, 8);
    CHECK_INT_EQ(c.rope_dim, 8);
    CHECK(c.rope_theta == 10000.0f);
    CHECK(c.norm_eps == 1e-6f);
    CHECK_INT_EQ(c.tied_embeddings, 0);
    CHECK_INT_EQ(c.rope_scaling.type, FLX_ROPE_SCALING_NONE);

    /* null counts as absent. */
    rc = parse(&c,
               make_config(NULL, "\"num_key_value_heads\": null, \"head_dim\": null, "
                                 "\"rope_scaling\": null, \"rope_theta\": 250000"),
               &err);
    CHECK_INT_EQ(rc, 0);
    CHECK_INT_EQ(c.n_kv_heads, 8);
    CHECK_INT_EQ(c.head_dim, 8);
    CHECK(c.rope_theta == 250000.0f);

    /* An explicit head_dim that differs from hidden_size / heads. */
    rc = parse(&c, make_config(NULL, "\"head_dim\": 16, \"num_key_value_heads\": 2"), &err);
    CHECK_INT_EQ(rc, 0);
    CHECK_INT_EQ(c.head_dim, 16);
    CHECK_INT_EQ(c.rope_dim, 16);
    CHECK_INT_EQ(c.n_kv_heads, 2);
}

static void test_rope_scaling(void) {
    flx_config c;
    flx_error err = {{0}};
    int rc = parse(&c, make_config(NULL, "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 4}"),
                   &err);
    CHECK_INT_EQ(rc, 0);
    CHECK_INT_EQ(c.rope_scaling.type, FLX_ROPE_SCALING_LINEAR);
    CHECK(c.rope_scaling.factor == 4.0f);

    rc = parse(&c, make_config(NULL, "\"rope_scaling\": {\"rope_type\": \"default\"}"), &err);
    CHECK_INT_EQ(rc, 0);
    CHECK_INT_EQ(c.rope_scaling.type, FLX_ROPE_SCALING_NONE);

    /* The newer rope_parameters object, carrying rope_theta as well. */
    rc = parse(&c,
               make_config(NULL, "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": "
                                 "500000.0, \"factor\": 8.0, \"low_freq_factor\": 1.0, "
                                 "\"high_freq_factor\": 4.0, "
                                 "\"original_max_position_embeddings\": 8192}"),
               &err);
    if (rc != 0) fprintf(stderr, "rope_parameters rejected: %s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    CHECK(c.rope_theta == 500000.0f);
    CHECK_INT_EQ(c.rope_scaling.type, FLX_ROPE_SCALING_LLAMA3);
    CHECK(c.rope_scaling.factor == 8.0f);

    expect_error("yarn", make_config(NULL, "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}"),
                 "unsupported RoPE scaling type \"yarn\"");
    expect_error("llama3 incomplete",
                 make_config(NULL, "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, "
                                   "\"high_freq_factor\": 4, "
                                   "\"original_max_position_embeddings\": 8192}"),
                 "missing required key \"low_freq_factor\"");
    expect_error("scaling without type", make_config(NULL, "\"rope_scaling\": {\"factor\": 4}"),
                 "\"rope_scaling\" has no \"rope_type\" or \"type\" key");
    expect_error("scaling not an object", make_config(NULL, "\"rope_scaling\": 4"),
                 "\"rope_scaling\" is not a JSON object or null");
    expect_error("llama3 factor below 1",
                 make_config(NULL, "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 0.5, "
                                   "\"low_freq_factor\": 1, \"high_freq_factor\": 4, "
                                   "\"original_max_position_embeddings\": 8192}"),
                 "invalid llama3 RoPE scaling");
}

static void test_missing_keys(void) {
    for (int i = 1; i < N_BASE_KEYS; i++) {
        char fragment[96];
        snprintf(fragment, sizeof fragment, "missing required key \"%s\"", base_keys[i][0]);
        expect_error(base_keys[i][0], make_config(base_keys[i][0], NULL), fragment);
    }
    expect_error("hidden_size null", make_config("hidden_size", "\"hidden_size\": null"),
                 "missing required key \"hidden_size\"");
}

static void test_invalid_values(void) {
    expect_error("GPT-2", make_config("architectures",
                                      "\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\""),
                 "unsupported architecture GPT2LMHeadModel");
    expect_error("mistral type", make_config("architectures", "\"model_type\": \"mistral\""),
                 "unsupported model_type \"mistral\"");
    expect_error("no architecture", make_config("architectures", NULL),
                 "no \"architectures\" or \"model_type\" key");

    expect_error("heads do not divide",
                 make_config("hidden_size", "\"hidden_size\": 60"),
                 "num_attention_heads = 8 does not divide hidden_size = 60");
    expect_error("kv heads exceed heads", make_config(NULL, "\"num_key_value_heads\": 16"),
                 "num_key_value_heads = 16 exceeds num_attention_heads = 8");
    expect_error("kv heads do not divide heads", make_config(NULL, "\"num_key_value_heads\": 3"),
                 "n_heads = 8 is not a multiple of n_kv_heads = 3");

    expect_error("string size", make_config("hidden_size", "\"hidden_size\": \"64\""),
                 "\"hidden_size\" is \"64\"; expected a positive integer");
    expect_error("zero layers", make_config("num_hidden_layers", "\"num_hidden_layers\": 0"),
                 "\"num_hidden_layers\" is 0; expected a positive integer");
    expect_error("fractional vocab", make_config("vocab_size", "\"vocab_size\": 511.5"),
                 "\"vocab_size\" is 511.5; expected a positive integer");
    expect_error("huge ffn", make_config("intermediate_size", "\"intermediate_size\": 1e30"),
                 "expected a positive integer");
    expect_error("string eps", make_config("rms_norm_eps", "\"rms_norm_eps\": \"1e-6\""),
                 "\"rms_norm_eps\" is \"1e-6\"; expected a number");
    expect_error("zero eps", make_config("rms_norm_eps", "\"rms_norm_eps\": 0"),
                 "invalid RMSNorm epsilon");

    expect_error("string tie", make_config(NULL, "\"tie_word_embeddings\": \"yes\""),
                 "\"tie_word_embeddings\" is \"yes\"; expected true or false");
    expect_error("attention bias", make_config(NULL, "\"attention_bias\": true"),
                 "\"attention_bias\" is true, but projection biases are not supported");
    expect_error("gelu", make_config(NULL, "\"hidden_act\": \"gelu\""),
                 "unsupported hidden_act \"gelu\"");
    expect_error("partial rotary", make_config(NULL, "\"partial_rotary_factor\": 0.5"),
                 "partial_rotary_factor 0.5 is not supported");

    expect_error("invalid JSON", "{\"hidden_size\": 64,", "invalid JSON");
    expect_error("trailing text", "{} {}", "unexpected text after the object");
    expect_error("array root", "[1]", "the JSON is not an object");
}

int main(void) {
    test_llama32();
    test_defaults();
    test_rope_scaling();
    test_missing_keys();
    test_invalid_values();
    return flx_check_report("test_safetensors_hf_config");
}
