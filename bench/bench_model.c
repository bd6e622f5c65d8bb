/* flexllm-bench: prompt-processing and generation throughput of the float
 * reference model, the fake-quant model or the accelerator engine
 * simulation, measured as llama-bench measures them: a prompt of P random
 * tokens processed at once, then N tokens generated one at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/backend.h"
#include "common/omp_policy.h"
#include "modelio/model.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *usage =
    "usage: flexllm-bench --model PATH [--engine reference|fakequant|accel --quantized FILE]\n"
    "                     [--config NAME] [-p PROMPT_TOKENS] [-n GENERATED_TOKENS] [-r REPETITIONS]\n"
    "Prints one line per test: pp<P> (prompt tokens/s) and tg<N> (generated tokens/s),\n"
    "the mean and standard deviation over the repetitions.\n";

int main(int argc, char **argv) {
    flx_prefer_passive_omp_wait(argv);
    const char *model_path = NULL, *quantized = NULL, *config = "u280-ref";
    flx_engine_kind engine = FLX_ENGINE_REFERENCE;
    int p = 512, n = 64, reps = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "flexllm-bench: option %s needs a value\n%s", a, usage);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--quantized")) quantized = v;
        else if (!strcmp(a, "--config")) config = v;
        else if (!strcmp(a, "-p")) p = atoi(v);
        else if (!strcmp(a, "-n")) n = atoi(v);
        else if (!strcmp(a, "-r")) reps = atoi(v);
        else if (!strcmp(a, "--engine")) {
            if (flx_engine_parse(v, &engine) != 0) {
                fprintf(stderr, "flexllm-bench: invalid --engine '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "flexllm-bench: unknown option '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!model_path || p < 1 || n < 1 || reps < 1 || (engine != FLX_ENGINE_REFERENCE && !quantized)) {
        fputs(usage, stderr);
        return 2;
    }

    flx_error err;
    flx_model model;
    if (flx_model_load(&model, model_path, &err) != 0) {
        fprintf(stderr, "flexllm-bench: %s\n", err.msg);
        return 2;
    }
    flx_backend b;
    if (flx_backend_open(&b, engine, &model, quantized, config, p + n, p, &err) != 0) {
        fprintf(stderr, "flexllm-bench: %s\n", err.msg);
        flx_model_free(&model);
        return 2;
    }
    int vocab = b.vocab_size;
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)(p + n));
    float *logits = malloc(sizeof(float) * (size_t)vocab);
    uint64_t seed = 12345;
    for (int i = 0; i < p + n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        tokens[i] = (int32_t)((seed >> 33) % (uint64_t)vocab);
    }

    double pp_sum = 0, pp_sq = 0, tg_sum = 0, tg_sq = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_seconds();
        if (flx_backend_prompt(&b, tokens, p, logits, &err) != 0) break;
        double t1 = now_seconds();
        for (int i = 0; i < n; i++)
            if (flx_backend_step(&b, tokens[p + i], p + i, logits, &err) != 0) break;
        double t2 = now_seconds();
        double pp = p / (t1 - t0), tg = n / (t2 - t1);
        pp_sum += pp;
        pp_sq += pp * pp;
        tg_sum += tg;
        tg_sq += tg * tg;
    }
    double pp_mean = pp_sum / reps, tg_mean = tg_sum / reps;
    double pp_var = pp_sq / reps - pp_mean * pp_mean, tg_var = tg_sq / reps - tg_mean * tg_mean;
    printf("%s %s pp%d %.2f +/- %.2f tokens/s\n", model_path, flx_engine_name(engine), p, pp_mean,
           pp_var > 0 ? __builtin_sqrt(pp_var) : 0.0);
    printf("%s %s tg%d %.2f +/- %.2f tokens/s\n", model_path, flx_engine_name(engine), n, tg_mean,
           tg_var > 0 ? __builtin_sqrt(tg_var) : 0.0);
    free(tokens);
    free(logits);
    flx_backend_close(&b);
    flx_model_free(&model);
    return 0;
}
