/* The performance model's counters against the engines' simulation on
 * stories260K, under several configurations. The models are every recipe
 * (4-, 8- and 16-bit weights), quarot-w4a4kv4 (R3, a dense R4 as ffn_dim
 * 172 is no power of two, INT4 dynamic KV cache), and w4a4-rtn with an
 * INT8 dynamic KV cache in groups of 4. The modeled calls, cycles and bytes
 * of each kernel and port must equal what the simulated prefill and decode
 * record. Also checks flx_perf_report_run's conversion of those counters
 * to seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "engines/accel.h"
#include "perf/device.h"
#include "perf/perf_model.h"
#include "perf/report_run.h"
#include "quant/calibrate.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"
#include "tokenizer/tokenizer.h"

enum { N_PREFILL = 13, N_DECODE = 9, MAX_SEQ = 32 };

static void compare(const flx_counters *sim, const flx_counters *model, const char *what) {
    for (int k = 0; k < FLX_KERNEL_COUNT; k++) {
        if (sim->calls[k] != model->calls[k] || sim->cycles[k] != model->cycles[k])
            fprintf(stderr, "%s: kernel %s: simulation %llu calls %llu cycles, model %llu calls %llu cycles\n", what,
                    flx_kernel_name((flx_kernel_id)k), (unsigned long long)sim->calls[k],
                    (unsigned long long)sim->cycles[k], (unsigned long long)model->calls[k],
                    (unsigned long long)model->cycles[k]);
        CHECK_INT_EQ(model->calls[k], sim->calls[k]);
        CHECK_INT_EQ(model->cycles[k], sim->cycles[k]);
    }
    for (int p = 0; p < FLX_PORT_COUNT; p++) {
        if (sim->bytes_read[p] != model->bytes_read[p] || sim->bytes_written[p] != model->bytes_written[p])
            fprintf(stderr, "%s: port %s differs\n", what, flx_port_name((flx_port_id)p));
        CHECK_INT_EQ(model->bytes_read[p], sim->bytes_read[p]);
        CHECK_INT_EQ(model->bytes_written[p], sim->bytes_written[p]);
    }
    CHECK_INT_EQ(model->tokens, sim->tokens);
    CHECK_INT_EQ(model->runs, sim->runs);
}

static void run_case(const flx_qmodel *qm, const char *config, const int32_t *tokens) {
    flx_error err;
    flx_accel_config cfg;
    flx_accel a;
    if (flx_accel_config_get(config, &cfg, &err) != 0 || flx_accel_init(&a, qm, &cfg, MAX_SEQ, &err) != 0) {
        fprintf(stderr, "%s: %s\n", config, err.msg);
        CHECK(0);
        return;
    }
    float *logits = malloc(sizeof(float) * (size_t)N_PREFILL * qm->config.vocab_size);
    CHECK_INT_EQ(flx_accel_prefill(&a, tokens, N_PREFILL, 0, logits, &err), 0);
    for (int t = 0; t < N_DECODE; t++)
        CHECK_INT_EQ(flx_accel_decode(&a, tokens[N_PREFILL + t], N_PREFILL + t, logits, &err), 0);

    flx_perf_model m;
    flx_perf_model_from_qmodel(qm, &m);
    flx_counters pre, dec;
    memset(&pre, 0, sizeof pre);
    memset(&dec, 0, sizeof dec);
    flx_perf_count_prefill(&m, &cfg, N_PREFILL, 0, true, &pre);
    for (int t = 0; t < N_DECODE; t++) flx_perf_count_decode_token(&m, &cfg, N_PREFILL + t, &dec);
    char what[96];
    snprintf(what, sizeof what, "%s/%s prefill", qm->recipe, config);
    compare(&a.prefill_counters, &pre, what);
    snprintf(what, sizeof what, "%s/%s decode", qm->recipe, config);
    compare(&a.decode_counters, &dec, what);
    CHECK_INT_EQ(dec.engine_cycles, a.decode_counters.engine_cycles);
    /* The model shares one array between K and Q and one between V and O,
     * so its prefill is never faster than the simulation's separate arrays. */
    CHECK(pre.engine_cycles >= a.prefill_counters.engine_cycles);
    free(logits);
    flx_accel_free(&a);
}

/* flx_perf_report_run: seconds = engine cycles / the device's clock of each
 * engine whenever the bandwidth bound is lower, as it is for this small
 * model. */
static void check_report(const flx_qmodel *qm, const int32_t *tokens) {
    flx_error err;
    flx_accel_config cfg;
    flx_accel a;
    flx_device dev;
    if (flx_device_load(&dev, FLX_TEST_DEVICES_DIR "/u280.json", &err) != 0 ||
        flx_accel_config_get("u280-ref", &cfg, &err) != 0 || flx_accel_init(&a, qm, &cfg, MAX_SEQ, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return;
    }
    float *logits = malloc(sizeof(float) * (size_t)qm->config.vocab_size);
    CHECK_INT_EQ(flx_accel_prefill(&a, tokens, N_PREFILL, 0, NULL, &err), 0);
    for (int t = 0; t < N_DECODE; t++)
        CHECK_INT_EQ(flx_accel_decode(&a, tokens[N_PREFILL + t], N_PREFILL + t, logits, &err), 0);
    flx_perf_model m;
    flx_perf_model_from_qmodel(qm, &m);
    FILE *out = tmpfile();
    CHECK(out != NULL);
    if (!out) return;
    CHECK_INT_EQ(flx_perf_report_run(out, &dev, &cfg, &m, &a.prefill_counters, &a.decode_counters, &err), 0);
    char text[4096] = "";
    rewind(out);
    size_t n = fread(text, 1, sizeof text - 1, out);
    text[n] = '\0';
    fclose(out);
    char expected[128];
    snprintf(expected, sizeof expected, "modeled %.6g s", (double)a.prefill_counters.engine_cycles / (dev.prefill_clock_mhz * 1e6));
    if (!strstr(text, expected)) fprintf(stderr, "report lacks '%s':\n%s", expected, text);
    CHECK(strstr(text, expected) != NULL);
    snprintf(expected, sizeof expected, "modeled %.6g s", (double)a.decode_counters.engine_cycles / (dev.decode_clock_mhz * 1e6));
    if (!strstr(text, expected)) fprintf(stderr, "report lacks '%s':\n%s", expected, text);
    CHECK(strstr(text, expected) != NULL);
    CHECK(strstr(text, "decode energy") != NULL);

    flx_device gpu;
    CHECK_INT_EQ(flx_device_load(&gpu, FLX_TEST_DEVICES_DIR "/a100-40gb.json", &err), 0);
    CHECK_INT_EQ(flx_perf_report_run(stderr, &gpu, &cfg, &m, &a.prefill_counters, &a.decode_counters, &err), -1);
    CHECK(strstr(err.msg, "GPU") != NULL);
    free(logits);
    flx_accel_free(&a);
}

/* The KV-cache bytes of the modeled decode steps against the byte layout
 * worked out by hand. Per layer and step, the K and V rows of n_kv_heads
 * are written, and every query head reads the K and V rows of all its
 * keys. A row contains head_dim codes of `bits` bits and one float per
 * group, two (scale and offset) when the cache is asymmetric. */
static void check_kv_bytes(const flx_qmodel *qm, int bits, int groups, int asymmetric) {
    flx_error err;
    flx_accel_config cfg;
    CHECK_INT_EQ(flx_accel_config_get("tiny", &cfg, &err), 0);
    flx_perf_model m;
    flx_perf_model_from_qmodel(qm, &m);
    CHECK(flx_perf_model_validate(&m, &err) == 0);
    const flx_config *c = &qm->config;
    uint64_t row = (uint64_t)c->head_dim * bits / 8 + (asymmetric ? 8 : 4) * (uint64_t)groups, keys = 0;
    flx_counters dec;
    memset(&dec, 0, sizeof dec);
    for (int t = 0; t < N_DECODE; t++) {
        flx_perf_count_decode_token(&m, &cfg, N_PREFILL + t, &dec);
        keys += N_PREFILL + t + 1;
    }
    CHECK_INT_EQ(dec.bytes_written[FLX_PORT_KV_CACHE], (uint64_t)c->n_layers * N_DECODE * 2 * c->n_kv_heads * row);
    CHECK_INT_EQ(dec.bytes_read[FLX_PORT_KV_CACHE], (uint64_t)c->n_layers * 2 * c->n_heads * keys * row);
    CHECK_INT_EQ(dec.calls[FLX_KERNEL_KV_QUANT], (uint64_t)c->n_layers * N_DECODE * 2);
    CHECK_INT_EQ(dec.calls[FLX_KERNEL_STATIC_QUANT], (uint64_t)c->n_layers * N_DECODE * c->n_heads);
}

/* Models quantized with flx_quantize_model from a calibration text: the
 * online rotations and dynamic KV caches. */
static void run_quantized_cases(flx_model *model, const int32_t *tokens) {
    char path[512];
    flx_error err;
    flx_tokenizer *tok = NULL;
    size_t len;
    CHECK_INT_EQ(flx_tokenizer_load(&tok, flx_data_path(path, sizeof path, "models/stories260K/tok512.bin"), &err), 0);
    char *text = flx_read_text_file(flx_data_path(path, sizeof path, "text/wikitext-2/wiki.test.raw"), &len, &err);
    int32_t *calib = NULL;
    int n_calib = 0;
    if (!tok || !text || flx_tokenizer_encode(tok, text, len, 0, &calib, &n_calib, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        free(text);
        if (tok) flx_tokenizer_free(tok);
        return;
    }
    const struct {
        const char *recipe;
        int kv_bits, kv_group; /* 0: the recipe's KV cache */
        int expect_bits, expect_groups, expect_asymmetric;
    } cases[] = {{"quarot-w4a4kv4", 0, 0, 4, 1, 1}, {"w4a4-rtn", 8, 4, 8, 2, 0}};
    const char *configs[] = {"tiny", "small", "u280-ref"};

    for (size_t r = 0; r < sizeof cases / sizeof cases[0]; r++) {
        const flx_recipe *found = flx_recipe_find(cases[r].recipe, &err);
        CHECK(found != NULL);
        if (!found) continue;
        flx_recipe recipe = *found;
        if (cases[r].kv_bits)
            recipe.kv = (flx_kv_quant){.dynamic = true, .bits = cases[r].kv_bits, .group_size = cases[r].kv_group,
                                       .clip = 1.0f};
        flx_quantize_options opt = {.calib_tokens = calib, .n_calib_tokens = n_calib, .bos = 1, .max_calib_tokens = 512};
        flx_quantized q;
        if (flx_quantize_model(&q, model, &recipe, &opt, &err) != 0) {
            fprintf(stderr, "%s: %s\n", cases[r].recipe, err.msg);
            CHECK(0);
            continue;
        }
        /* The features under test are present. */
        bool rotated = r == 0;
        CHECK(q.qm.kv.dynamic);
        CHECK(q.qm.online_hadamard_qk == rotated);
        CHECK(q.qm.online_hadamard_ffn == rotated);
        CHECK((q.qm.r4_matrix != NULL) == rotated);
        flx_perf_model m;
        flx_perf_model_from_qmodel(&q.qm, &m);
        CHECK(m.r3 == rotated);
        CHECK(m.r4_dense == rotated);
        CHECK(!m.online_hadamard);
        CHECK(m.kv_dynamic);

        for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) run_case(&q.qm, configs[c], tokens);
        check_kv_bytes(&q.qm, cases[r].expect_bits, cases[r].expect_groups, cases[r].expect_asymmetric);
        flx_quantized_free(&q);
    }
    free(calib);
    free(text);
    flx_tokenizer_free(tok);
}

int main(void) {
    flx_error err;
    char path[512];
    flx_model model;
    CHECK_INT_EQ(flx_model_load(&model, flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin"), &err), 0);
    if (flx_check_failures) {
        fprintf(stderr, "%s\n", err.msg);
        return flx_check_report("test_perf_sim_match");
    }
    int32_t tokens[N_PREFILL + N_DECODE];
    for (int i = 0; i < N_PREFILL + N_DECODE; i++) tokens[i] = (int32_t)((i * 37 + 11) % model.config.vocab_size);
    const char *recipes[] = {"w4a4-rtn", "w4a8", "w8a8"};
    const char *configs[] = {"tiny", "small", "u280-ref"};
    for (size_t r = 0; r < sizeof recipes / sizeof recipes[0]; r++) {
        flx_qmodel qm;
        const flx_recipe *recipe = flx_recipe_find(recipes[r], &err);
        CHECK(recipe != NULL);
        if (!recipe || flx_recipe_apply(&qm, &model, recipe, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            CHECK(0);
            continue;
        }
        flx_calib_result cr;
        CHECK_INT_EQ(flx_calibrate(&qm, tokens, N_PREFILL + N_DECODE, 1, 64, &cr, &err), 0);
        for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) run_case(&qm, configs[c], tokens);
        if (r == 0) check_report(&qm, tokens);
        flx_qmodel_free(&qm);
    }
    run_quantized_cases(&model, tokens);
    flx_model_free(&model);
    return flx_check_report("test_perf_sim_match");
}
