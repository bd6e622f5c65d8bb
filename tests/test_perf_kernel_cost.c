/* Cycle formulas of src/perf/kernel_cost.c and the modeled counters of the
 * Llama-3.2-1B decode and prefill engines under u280-ref, against values
 * worked out by hand from the loop bounds (II = 1, estimated depths 12, 10,
 * 8 and 16 cycles) and the weight word layout (two 4-bit weights a byte). */
#include <string.h>

#include "check.h"
#include "perf/kernel_cost.h"
#include "perf/perf_model.h"

static void check_formulas(void) {
    /* Decode array: 128 rows on 64 lanes = 2 tiles of 2048 + 12 cycles. */
    CHECK_INT_EQ(flx_cost_linear_decode(2048, 128, 64), 2 * 2060);
    CHECK_INT_EQ(flx_cost_linear_decode(2048, 0, 64), 0);
    CHECK_INT_EQ(flx_cost_linear_decode(8192, 65, 64), 2 * 8204);
    /* Prefill array: 2048 outputs on 24 lanes = 86 tiles. */
    CHECK_INT_EQ(flx_cost_linear_prefill(2048, 2048, 24), 86 * 2060);
    CHECK_INT_EQ(flx_cost_linear_prefill(8192, 2048, 96), 22 * 8204);
    /* Dynamic quantizer: range and quantize passes of 2048/16 cycles, depth 16. */
    CHECK_INT_EQ(flx_cost_quant_dynamic(2048, 16), 2 * 128 + 16);
    CHECK_INT_EQ(flx_cost_quant_dynamic(2049, 16), 2 * 129 + 16);
    CHECK_INT_EQ(flx_cost_elementwise(8192, 16), 512 + 8);
    CHECK_INT_EQ(flx_cost_rmsnorm(2048, 1), 2 * 2048 + 16);
    /* QK: ceil(1025 / 32) = 33 tiles of 64 + 10 cycles; AV: 2 passes of 1025 + 10. */
    CHECK_INT_EQ(flx_cost_qk(1025, 64, 32), 33 * 74);
    CHECK_INT_EQ(flx_cost_av(1025, 64, 32), 2 * 1035);
    CHECK_INT_EQ(flx_cost_softmax(100), 300 + 16);
    /* 8192-point Walsh-Hadamard on 16 lanes: 13 stages of 256, a scaling pass of 512, depth 8. */
    CHECK_INT_EQ(flx_cost_fwht(8192, 16), 13 * 256 + 512 + 8);
    CHECK_INT_EQ(flx_cost_sampler(128256, 5), 128256 + 15 + 16);
}

static void check_llama_decode(const flx_perf_model *m, const flx_accel_config *cfg) {
    flx_counters c;
    memset(&c, 0, sizeof c);
    flx_perf_count_decode_token(m, cfg, 1023, &c);
    /* 16 arrays of 64 lanes; per layer K 2060, V 2060, Q 4120, O 4120, gate
     * and up 8 tiles of 2060, down 2 tiles of 8204; LM head 8016 rows per
     * array = 126 tiles of 2060. */
    CHECK_INT_EQ(c.cycles[FLX_KERNEL_LINEAR], 16 * (2060 + 2060 + 4120 + 4120 + 16480 + 16480 + 16408) + 126 * 2060);
    CHECK_INT_EQ(c.calls[FLX_KERNEL_LINEAR], 16 * 7 + 1);
    /* Weight words of 32 bytes: K and V one tile each per array, Q and O
     * two, gate and up eight, down two tiles of 8192 words; LM head 126. */
    long long layer = 16LL * 32 * (2048 * (1 + 1 + 2 + 2 + 8 + 8) + 8192 * 2);
    CHECK_INT_EQ(c.bytes_read[FLX_PORT_WEIGHTS], 16 * layer + 16LL * 126 * 2048 * 32);
    /* Attention at 1024 keys: 4 rounds of HP = 8 lanes, 32 tiles of 74 cycles. */
    CHECK_INT_EQ(c.cycles[FLX_KERNEL_QK], 16 * 4 * 32 * 74);
    CHECK_INT_EQ(c.cycles[FLX_KERNEL_AV], 16 * 4 * 2 * 1034);
    CHECK_INT_EQ(c.bytes_read[FLX_PORT_KV_CACHE], 16LL * 2 * 32 * 1024 * 64);
    CHECK_INT_EQ(c.tokens, 1);
    long long sum = 0;
    for (int k = 0; k < FLX_KERNEL_COUNT; k++) sum += (long long)c.cycles[k];
    CHECK_INT_EQ(c.engine_cycles, sum);
}

static void check_llama_prefill(const flx_perf_model *m, const flx_accel_config *cfg) {
    flx_prefill_layer layer;
    flx_perf_prefill_layer(m, cfg, 1024, 0, &layer);
    CHECK_INT_EQ(layer.n_blocks, 128);
    /* The K-then-Q array: 22 + 86 tiles of 2060 cycles per block of 8 tokens. */
    CHECK_INT_EQ(layer.module[FLX_PM_KQ], 128LL * (22 + 86) * 2060);
    CHECK_INT_EQ(layer.module[FLX_PM_VO], 128LL * (22 + 86) * 2060);
    CHECK_INT_EQ(layer.module[FLX_PM_DOWN], 128LL * 22 * 8204);
    CHECK_INT_EQ(layer.slowest, FLX_PM_KQ);
    /* Fill: one block's pass through every other module. */
    unsigned long long fill = 0;
    for (int i = 0; i < FLX_PM_COUNT; i++)
        if (i != FLX_PM_KQ) fill += layer.module[i] / 128;
    CHECK_INT_EQ(layer.cycles, layer.module[FLX_PM_KQ] + fill);

    flx_counters c;
    memset(&c, 0, sizeof c);
    flx_perf_count_prefill(m, cfg, 1024, 0, false, &c);
    CHECK_INT_EQ(c.engine_cycles, 16 * layer.cycles);
    /* Four 24-lane matrices (words of 12 bytes) and three FFN matrices in 3
     * blocks of 32 lanes (16 bytes), re-streamed by each of 128 blocks. */
    long long qkvo = 12LL * (22 * 2048 + 22 * 2048 + 86 * 2048 + 86 * 2048);
    long long ffn = 3LL * 16 * (86 * 2048 + 86 * 2048 + 22 * 8192);
    CHECK_INT_EQ(c.bytes_read[FLX_PORT_WEIGHTS], 16 * 128 * (qkvo + ffn));
    CHECK_INT_EQ(c.tokens, 1024);
}

int main(void) {
    flx_error err;
    flx_perf_model m;
    flx_accel_config cfg;
    check_formulas();
    CHECK_INT_EQ(flx_perf_model_get("llama-3.2-1b", &m, &err), 0);
    CHECK_INT_EQ(flx_accel_config_get("u280-ref", &cfg, &err), 0);
    CHECK(m.online_hadamard);
    check_llama_decode(&m, &cfg);
    check_llama_prefill(&m, &cfg);
    return flx_check_report("test_perf_kernel_cost");
}
