#include "engines/counters.h"

static const char *const kernel_names[FLX_KERNEL_COUNT] = {
    "embedding", "rmsnorm", "quant_dynamic", "linear", "dequant", "rope", "quant_static_i8",
    "kv_write", "attn_qk", "softmax", "quant_prob_u8", "attn_av", "silu_gate", "fwht",
    "rotate_dense", "quant_kv_dynamic", "residual", "sampler",
};

static const char *const port_names[FLX_PORT_COUNT] = {
    "weights", "scales", "kv_cache", "io", "embeddings", "params",
};

const char *flx_kernel_name(flx_kernel_id k) { return kernel_names[k]; }
const char *flx_port_name(flx_port_id p) { return port_names[p]; }

void flx_counters_add_kernel(flx_counters *c, flx_kernel_id k, uint64_t calls, uint64_t cycles) {
    c->calls[k] += calls;
    c->cycles[k] += cycles;
}

void flx_counters_add_bytes(flx_counters *c, flx_port_id p, uint64_t read, uint64_t written) {
    c->bytes_read[p] += read;
    c->bytes_written[p] += written;
}

void flx_counters_print(const flx_counters *c, const char *engine_name, FILE *out) {
    fprintf(out, "%s engine: %llu runs, %llu tokens, %llu modeled cycles\n", engine_name,
            (unsigned long long)c->runs, (unsigned long long)c->tokens,
            (unsigned long long)c->engine_cycles);
    fprintf(out, "  %-16s %12s %16s\n", "kernel", "calls", "cycles");
    for (int k = 0; k < FLX_KERNEL_COUNT; k++)
        if (c->calls[k])
            fprintf(out, "  %-16s %12llu %16llu\n", kernel_names[k], (unsigned long long)c->calls[k],
                    (unsigned long long)c->cycles[k]);
    fprintf(out, "  %-16s %16s %16s\n", "port", "bytes read", "bytes written");
    for (int p = 0; p < FLX_PORT_COUNT; p++)
        if (c->bytes_read[p] || c->bytes_written[p])
            fprintf(out, "  %-16s %16llu %16llu\n", port_names[p], (unsigned long long)c->bytes_read[p],
                    (unsigned long long)c->bytes_written[p]);
}
