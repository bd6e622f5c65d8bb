#include "runtime/backend.h"

#include <stdio.h>
#include <string.h>

#include "quant/artifact.h"

static const char *const engine_names[] = {"reference", "fakequant", "accel"};

int flx_engine_parse(const char *name, flx_engine_kind *kind) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, engine_names[i])) {
            *kind = (flx_engine_kind)i;
            return 0;
        }
    return -1;
}

const char *flx_engine_name(flx_engine_kind kind) { return engine_names[kind]; }

int flx_backend_open(flx_backend *b, flx_engine_kind kind, const flx_model *model,
                     const char *quantized_path, const char *config_name, int max_seq, int max_batch,
                     flx_error *err) {
    memset(b, 0, sizeof *b);
    b->kind = kind;
    if (kind == FLX_ENGINE_REFERENCE) {
        b->model = model;
        b->vocab_size = model->config.vocab_size;
        b->context_length = model->config.context_length;
        return flx_state_init(&b->ref, model, max_seq, max_batch, err);
    }
    flx_artifact_provenance prov;
    if (flx_artifact_load(&b->qm, &prov, quantized_path, err) != 0) return -1;
    snprintf(b->source_model, sizeof b->source_model, "%s", prov.source_model);
    b->vocab_size = b->qm.config.vocab_size;
    b->context_length = b->qm.config.context_length;
    const flx_config *q = &b->qm.config;
    int rc = 0;
    if (max_seq > q->context_length)
        rc = flx_fail(err, "%s: the artifact's context is %d positions, below the %d requested; use a shorter "
                           "context",
                      quantized_path, q->context_length, max_seq);
    const flx_config *m = model ? &model->config : NULL;
    if (rc == 0 && m &&
        (m->dim != q->dim || m->n_layers != q->n_layers || m->n_heads != q->n_heads ||
         m->n_kv_heads != q->n_kv_heads || m->ffn_dim != q->ffn_dim || m->vocab_size != q->vocab_size))
        rc = flx_fail(err,
                      "%s: the artifact's shape (dim %d, layers %d, heads %d/%d, ffn %d, vocab %d) differs from "
                      "the model %s (dim %d, layers %d, heads %d/%d, ffn %d, vocab %d); pass the model it was "
                      "quantized from",
                      quantized_path, q->dim, q->n_layers, q->n_heads, q->n_kv_heads, q->ffn_dim, q->vocab_size,
                      model->path, m->dim, m->n_layers, m->n_heads, m->n_kv_heads, m->ffn_dim, m->vocab_size);
    if (rc != 0) {
        flx_qmodel_free(&b->qm);
        memset(b, 0, sizeof *b);
        return -1;
    }
    if (kind == FLX_ENGINE_FAKEQUANT) {
        rc = flx_fakequant_state_init(&b->fq, &b->qm, max_seq, max_batch, err);
    } else {
        rc = flx_accel_config_get(config_name, &b->config, err);
        if (rc == 0) rc = flx_accel_init(&b->accel, &b->qm, &b->config, max_seq, err);
    }
    if (rc != 0) flx_backend_close(b);
    return rc;
}

void flx_backend_close(flx_backend *b) {
    if (b->kind == FLX_ENGINE_REFERENCE) {
        flx_state_free(&b->ref);
    } else {
        if (b->kind == FLX_ENGINE_FAKEQUANT) flx_fakequant_state_free(&b->fq);
        else flx_accel_free(&b->accel);
        flx_qmodel_free(&b->qm);
    }
    memset(b, 0, sizeof *b);
}

/* Runs tokens in batches of at most max_batch; logits of the last token. */
static int batched(flx_backend *b, const int32_t *tokens, int n, int max_batch, float *logits, flx_error *err) {
    for (int pos = 0; pos < n; pos += max_batch) {
        int count = n - pos < max_batch ? n - pos : max_batch;
        int rc = b->kind == FLX_ENGINE_REFERENCE
                     ? flx_forward(b->model, &b->ref, tokens + pos, count, pos, logits, 0, err)
                     : flx_fakequant_forward(&b->qm, &b->fq, tokens + pos, count, pos, logits, 0, err);
        if (rc != 0) return -1;
    }
    return 0;
}

int flx_backend_prompt(flx_backend *b, const int32_t *tokens, int n, float *logits, flx_error *err) {
    switch (b->kind) {
    case FLX_ENGINE_REFERENCE:
        return batched(b, tokens, n, b->ref.max_batch, logits, err);
    case FLX_ENGINE_FAKEQUANT:
        return batched(b, tokens, n, b->fq.max_batch, logits, err);
    case FLX_ENGINE_ACCEL:
        if (n > 1 && flx_accel_prefill(&b->accel, tokens, n - 1, 0, NULL, err) != 0) return -1;
        return flx_accel_decode(&b->accel, tokens[n - 1], n - 1, logits, err);
    }
    return -1;
}

int flx_backend_step(flx_backend *b, int32_t token, int pos, float *logits, flx_error *err) {
    switch (b->kind) {
    case FLX_ENGINE_REFERENCE:
        return flx_forward(b->model, &b->ref, &token, 1, pos, logits, 0, err);
    case FLX_ENGINE_FAKEQUANT:
        return flx_fakequant_forward(&b->qm, &b->fq, &token, 1, pos, logits, 0, err);
    case FLX_ENGINE_ACCEL:
        return flx_accel_decode(&b->accel, token, pos, logits, err);
    }
    return -1;
}

int flx_backend_window(flx_backend *b, const int32_t *tokens, int n, float *logits, flx_error *err) {
    switch (b->kind) {
    case FLX_ENGINE_REFERENCE:
        return flx_forward(b->model, &b->ref, tokens, n, 0, logits, 1, err);
    case FLX_ENGINE_FAKEQUANT:
        return flx_fakequant_forward(&b->qm, &b->fq, tokens, n, 0, logits, 1, err);
    case FLX_ENGINE_ACCEL:
        return flx_accel_prefill(&b->accel, tokens, n, 0, logits, err);
    }
    return -1;
}

void flx_backend_print_stats(const flx_backend *b, FILE *out) {
    if (b->kind != FLX_ENGINE_ACCEL) return;
    fprintf(out, "accelerator configuration %s: prefill TP %d, WP %d (Q/K/V/O), %d (FFN, %d blocks), KP %d, VP %d; "
                 "decode BP %d, HP %d, WP %d, KP %d, VP %d\n",
            b->config.name, b->config.prefill.tp, b->config.prefill.wp_qkvo, b->config.prefill.wp_ffn,
            b->config.prefill.ffn_blocks, b->config.prefill.kp, b->config.prefill.vp, b->config.decode.bp,
            b->config.decode.hp, b->config.decode.wp, b->config.decode.kp, b->config.decode.vp);
    if (b->accel.prefill_counters.runs) flx_counters_print(&b->accel.prefill_counters, "prefill", out);
    if (b->accel.decode_counters.runs) flx_counters_print(&b->accel.decode_counters, "decode", out);
}
