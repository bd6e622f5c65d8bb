/* flexllm learn-rotations: R1 and R2 for a learned-rotation recipe, found
 * by a search on calibration text (quant/rotation_learn.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/loaded_model.h"
#include "common/mapped_file.h"
#include "quant/recipe.h"
#include "quant/rotation_learn.h"

static const char *usage =
    "usage: flexllm learn-rotations --model PATH --calib FILE -o OUT\n"
    "                               [--recipe NAME] [--tokenizer PATH] [--steps N]\n"
    "                               [--calib-tokens N] [--window N] [--angle A] [--seed S]\n"
    "\n"
    "Learns the R1 and R2 rotations of a learned-rotation recipe and writes them\n"
    "in SpinQuant's rotation-file layout, for flexllm quantize --rotation-file.\n"
    "SpinQuant trains them by gradient descent through the quantized model; this\n"
    "command searches instead: from randomized Hadamard matrices, each step turns\n"
    "two columns of R1 or of one layer's R2 by a small angle and keeps the change\n"
    "when the mean KL divergence between the float and the quantized model (RTN\n"
    "weights, the recipe's other quantizers) on the calibration text decreases.\n"
    "Each step quantizes and runs the model up to twice, so it suits small models.\n"
    "\n"
    "  --model PATH        float checkpoint\n"
    "  --tokenizer PATH    tokenizer file; default: the model's own vocabulary\n"
    "  --recipe NAME       recipe whose quantizers are in the loop (default\n"
    "                      spinquant-w4a4kv4); it must use learned R1 and R2\n"
    "  --calib FILE        UTF-8 calibration text (required); keep it apart from\n"
    "                      the evaluation text\n"
    "  --calib-tokens N    text tokens of the objective (default 512)\n"
    "  --window N          positions per window, BOS included (default 128)\n"
    "  --steps N           candidate rotations (default 200)\n"
    "  --angle A           first rotation angle in radians, shrinking to A/10\n"
    "                      (default 0.3)\n"
    "  --seed S            seed of the starting matrices and of the search (default 1)\n"
    "  -o OUT              output rotation file (.safetensors)\n";

typedef struct learn_cli {
    const char *model, *tokenizer, *recipe, *calib, *out;
    long long calib_tokens, window, steps, seed;
    double angle;
} learn_cli;

static int parse(int argc, char **argv, learn_cli *o) {
    const char *cmd = "learn-rotations";
    *o = (learn_cli){.recipe = "spinquant-w4a4kv4", .calib_tokens = 512, .window = 128, .steps = 200, .seed = 1,
                     .angle = 0.3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return -2;
        }
        const char *v = flx_option_value(cmd, argc, argv, &i);
        if (!v) return -1;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--tokenizer")) o->tokenizer = v;
        else if (!strcmp(a, "--recipe")) o->recipe = v;
        else if (!strcmp(a, "--calib")) o->calib = v;
        else if (!strcmp(a, "-o")) o->out = v;
        else if (!strcmp(a, "--calib-tokens")) {
            if (flx_parse_int(cmd, a, v, 2, 1 << 24, &o->calib_tokens)) return -1;
        } else if (!strcmp(a, "--window")) {
            if (flx_parse_int(cmd, a, v, 2, 1 << 20, &o->window)) return -1;
        } else if (!strcmp(a, "--steps")) {
            if (flx_parse_int(cmd, a, v, 0, 1000000, &o->steps)) return -1;
        } else if (!strcmp(a, "--seed")) {
            if (flx_parse_int(cmd, a, v, 0, (1LL << 62), &o->seed)) return -1;
        } else if (!strcmp(a, "--angle")) {
            if (flx_parse_float(cmd, a, v, 1e-6, 3.0, &o->angle)) return -1;
        } else {
            fprintf(stderr, "flexllm learn-rotations: unknown option '%s' (see flexllm learn-rotations --help)\n", a);
            return -1;
        }
    }
    const char *missing = NULL;
    if (!o->out) missing = "-o OUT";
    if (!o->calib) missing = "--calib FILE";
    if (!o->model) missing = "--model PATH";
    if (missing) {
        fprintf(stderr, "flexllm learn-rotations: missing %s (see flexllm learn-rotations --help)\n", missing);
        return -1;
    }
    return 0;
}

int flx_cmd_learn_rotations(int argc, char **argv) {
    learn_cli o;
    int prc = parse(argc, argv, &o);
    if (prc == -2) return FLX_EXIT_OK;
    if (prc != 0) return FLX_EXIT_BAD_INPUT;
    flx_error err;
    const flx_recipe *recipe = flx_recipe_find(o.recipe, &err);
    if (!recipe) {
        fprintf(stderr, "flexllm learn-rotations: %s\n", err.msg);
        return FLX_EXIT_BAD_INPUT;
    }
    if (recipe->r1 != FLX_ROTATION_LEARNED || recipe->r2 != FLX_ROTATION_LEARNED) {
        fprintf(stderr,
                "flexllm learn-rotations: recipe %s does not use learned R1 and R2; use spinquant-w4a4kv4 or "
                "spinquant-learned-w4a4\n",
                recipe->name);
        return FLX_EXIT_BAD_INPUT;
    }

    /* The calibration text, the model and its tokenizer. */
    size_t text_len = 0;
    char *text = flx_cli_read_utf8_text("learn-rotations", o.calib, &text_len);
    if (!text) return FLX_EXIT_BAD_INPUT;
    flx_loaded_model lm;
    int rc = flx_load_model_and_tokenizer("learn-rotations", o.model, o.tokenizer, 1, &lm);
    if (rc != 0) {
        free(text);
        return rc;
    }
    int32_t *tokens = NULL;
    int n_tokens = 0;
    flx_rotation_file rf = {0};
    rc = FLX_EXIT_BAD_INPUT;
    if (flx_tokenizer_encode(lm.tokenizer, text, text_len, 0, &tokens, &n_tokens, &err) != 0) {
        fprintf(stderr, "flexllm learn-rotations: %s: %s\n", o.calib, err.msg);
        goto done;
    }
    if (o.window > lm.model.config.context_length) {
        fprintf(stderr, "flexllm learn-rotations: --window %lld exceeds the model's context of %d positions; "
                        "use a smaller --window\n",
                o.window, lm.model.config.context_length);
        goto done;
    }

    /* The search, then the file. */
    printf("model    %s\nrecipe   %s (RTN weights in the loop)\ncalib    %s: %lld of its %d tokens\n", o.model,
           recipe->name, o.calib, o.calib_tokens < n_tokens ? o.calib_tokens : (long long)n_tokens, n_tokens);
    fflush(stdout);
    flx_rotation_learn_options lo = {.recipe = recipe,
                                     .tokens = tokens,
                                     .n_tokens = n_tokens,
                                     .bos = flx_tokenizer_bos(lm.tokenizer),
                                     .objective_tokens = o.calib_tokens,
                                     .window = (int)o.window,
                                     .steps = (int)o.steps,
                                     .angle = o.angle,
                                     .seed = (uint64_t)o.seed,
                                     .log = stdout};
    flx_rotation_learn_result res;
    if (flx_rotation_learn(&rf, &lm.model, &lo, &res, &err) != 0) {
        fprintf(stderr, "flexllm learn-rotations: %s\n", err.msg);
        goto done;
    }
    if (flx_rotation_file_save(&rf, o.out, &err) != 0) {
        fprintf(stderr, "flexllm learn-rotations: %s\n", err.msg);
        rc = FLX_EXIT_FAILURE;
        goto done;
    }
    printf("result   KL %.6f -> %.6f nats (%.1f%% lower), %d of %lld steps kept\nwrote    %s\n", res.start_kl,
           res.final_kl, res.start_kl > 0 ? 100.0 * (1.0 - res.final_kl / res.start_kl) : 0.0, res.accepted,
           o.steps, o.out);
    rc = FLX_EXIT_OK;
done:
    flx_rotation_file_free(&rf);
    free(tokens);
    free(text);
    flx_loaded_model_free(&lm);
    return rc;
}
