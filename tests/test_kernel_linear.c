/* Prefill and decode linear arrays against linear_ref, bit for bit, with
 * weights packed by the tests' own packer. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel_ref.h"
#include "kernels/linear.h"
#include "kernels/stream.h"
#include "test_kernel_pack.h"

/* Written to accumulators first, so an element the kernel skips shows up. */
#define UNWRITTEN ((int32_t)0x7EADBEEF)

typedef struct code_range {
    const char *name;
    int lo, hi;
} code_range;

/* Activation codes of the dynamic quantizer: asymmetric unsigned and
 * symmetric signed, 4 and 8 bits. */
static const code_range ACTIVATIONS[] = {
    {"uint4", 0, 15}, {"uint8", 0, 255}, {"int4", -7, 7}, {"int8", -127, 127}};

static void fill_codes(int16_t *x, long n, int lo, int hi, uint32_t *seed) {
    for (long i = 0; i < n; i++) x[i] = (int16_t)ref_rand_int(seed, lo, hi);
}

/* The whole two's-complement range, -8 and -128 included, although RTN
 * weights stop at -7 and -127. */
static void fill_weights(int8_t *w, long n, int bits, uint32_t *seed) {
    int lo = bits == 4 ? -8 : -128, hi = bits == 4 ? 7 : 127;
    for (long i = 0; i < n; i++) w[i] = (int8_t)ref_rand_int(seed, lo, hi);
}

static int32_t *new_acc(long n) {
    int32_t *acc = ref_alloc(sizeof(int32_t) * (size_t)n);
    for (long i = 0; i < n; i++) acc[i] = UNWRITTEN;
    return acc;
}

/* Runs a prompt of n_prompt tokens through the TP x WP array in blocks of
 * tp tokens (the last one shorter), each weight block with its own stream. */
static void run_prefill(const int16_t *x, int n_prompt, const int8_t *w, int d_out, int d_in, int bits,
                        int tp, int wp, int n_blocks, int32_t *acc) {
    uint8_t *streams[FLX_MAX_BLOCKS];
    size_t bytes;
    for (int b = 0; b < n_blocks; b++)
        streams[b] = pack_prefill_block(w, d_out, d_in, bits, wp, b, n_blocks, &bytes);
    for (int t0 = 0; t0 < n_prompt; t0 += tp) {
        int n = n_prompt - t0 < tp ? n_prompt - t0 : tp;
        for (int b = 0; b < n_blocks; b++)
            flx_linear_prefill(x + (long)t0 * d_in, n, d_in, d_out, streams[b], bits, wp, b, n_blocks,
                               acc + (long)t0 * d_out);
    }
    for (int b = 0; b < n_blocks; b++) free(streams[b]);
}

static void check_prefill_case(const char *input_kind, int n_prompt, int d_out, int d_in, int bits,
                               const code_range *act, int tp, int wp, int n_blocks, uint32_t *seed) {
    long n_x = (long)n_prompt * d_in, n_acc = (long)n_prompt * d_out;
    int16_t *x = ref_alloc(sizeof(int16_t) * (size_t)n_x);
    int8_t *w = ref_alloc((size_t)d_out * (size_t)d_in);
    int64_t *want = ref_alloc(sizeof(int64_t) * (size_t)n_acc);
    int32_t *acc = new_acc(n_acc);
    fill_codes(x, n_x, act->lo, act->hi, seed);
    fill_weights(w, (long)d_out * d_in, bits, seed);

    linear_ref(x, n_prompt, w, d_out, d_in, want);
    run_prefill(x, n_prompt, w, d_out, d_in, bits, tp, wp, n_blocks, acc);
    char label[160];
    snprintf(label, sizeof label, "%s prefill TP=%d WP=%d blocks=%d bits=%d %s tokens=%d d_out=%d d_in=%d acc",
             input_kind, tp, wp, n_blocks, bits, act->name, n_prompt, d_out, d_in);
    compare_i32(label, acc, want, n_acc);
    free(x);
    free(w);
    free(want);
    free(acc);
}

static void test_prefill_settings(void) {
    /* (TP, WP, n_blocks); the last one is the largest array the limits allow. */
    static const int settings[][3] = {{1, 2, 1}, {8, 24, 1}, {8, 96, 3}, {4, 16, 2}, {3, 64, 4},
                                      {FLX_MAX_TP, FLX_MAX_WP, FLX_MAX_BLOCKS}};
    static const int d_ins[] = {1, 5, 64, 257};
    uint32_t seed = 11;
    int combo = 0;
    for (size_t s = 0; s < sizeof settings / sizeof settings[0]; s++) {
        int tp = settings[s][0], wp = settings[s][1], n_blocks = settings[s][2];
        /* d_out below, above and well above one tile, never a multiple of WP.
         * Prompts of one token, TP - 1 tokens and two blocks plus one. */
        int d_outs[3] = {1, wp + 3, 2 * wp + 1};
        int prompts[3] = {1, tp > 1 ? tp - 1 : 2, 2 * tp + 1};
        for (int bits = 4; bits <= 8; bits += 4)
            for (size_t a = 0; a < sizeof ACTIVATIONS / sizeof ACTIVATIONS[0]; a++)
                for (int o = 0; o < 3; o++)
                    for (int p = 0; p < 3; p++) {
                        int d_in = d_ins[combo++ % 4];
                        check_prefill_case("random", prompts[p], d_outs[o], d_in, bits, &ACTIVATIONS[a],
                                           tp, wp, n_blocks, &seed);
                    }
    }
}

/* Every weight and activation at an extreme, d_in at the largest the
 * kernels take: the sums reach about 2^29 and must not wrap. */
static void test_prefill_extremes(void) {
    const int d_in = FLX_MAX_LINEAR_IN, d_out = 3, n_prompt = 3;
    static const int weights4[] = {7, -7, -8}, weights8[] = {127, -127, -128};
    static const int activations[] = {255, -127};
    int16_t *x = ref_alloc(sizeof(int16_t) * (size_t)n_prompt * d_in);
    int8_t *w = ref_alloc((size_t)d_out * d_in);
    int64_t *want = ref_alloc(sizeof(int64_t) * n_prompt * d_out);

    for (int bits = 4; bits <= 8; bits += 4)
        for (int k = 0; k < 3; k++)
            for (int a = 0; a < 2; a++) {
                int wv = bits == 4 ? weights4[k] : weights8[k];
                for (long i = 0; i < (long)n_prompt * d_in; i++) x[i] = (int16_t)activations[a];
                memset(w, (uint8_t)(int8_t)wv, (size_t)d_out * d_in);
                linear_ref(x, n_prompt, w, d_out, d_in, want);
                CHECK_INT_EQ(want[0], (long long)d_in * activations[a] * wv);

                /* The smallest array, then a blocked one whose last token block is short. */
                int32_t *acc = new_acc((long)n_prompt * d_out);
                run_prefill(x, n_prompt, w, d_out, d_in, bits, 1, 2, 1, acc);
                compare_i32("extreme prefill TP=1 WP=2 acc", acc, want, (long)n_prompt * d_out);
                free(acc);
                acc = new_acc((long)n_prompt * d_out);
                run_prefill(x, n_prompt, w, d_out, d_in, bits, 2, 8, 2, acc);
                compare_i32("extreme prefill TP=2 WP=8 blocks=2 acc", acc, want, (long)n_prompt * d_out);
                free(acc);

                int32_t *dec = new_acc(d_out);
                size_t bytes;
                uint8_t *stream = pack_decode_rows(w, d_in, 0, d_out, bits, 2, &bytes);
                flx_linear_decode(x, d_in, d_out, stream, bits, 2, dec);
                compare_i32("extreme decode WP=2 acc", dec, want, d_out);
                free(stream);
                free(dec);
            }
    free(x);
    free(w);
    free(want);
}

/* Runs one decode vector over bp arrays: array b owns the rows that
 * flx_block_slice gives it, has its own stream and writes its slice of acc. */
static void run_decode(const int16_t *x, const int8_t *w, int d_out, int d_in, int bits, int bp, int wp,
                       int32_t *acc) {
    for (int b = 0; b < bp; b++) {
        int begin, count;
        flx_block_slice(d_out, bp, b, &begin, &count);
        size_t bytes;
        uint8_t *stream = pack_decode_rows(w, d_in, begin, count, bits, wp, &bytes);
        flx_linear_decode(x, d_in, count, stream, bits, wp, acc + begin);
        free(stream);
    }
}

static void test_decode_arrays(void) {
    static const int bps[] = {1, 3, 16}, wps[] = {2, 8, 64};
    /* 5 rows leave most of 16 arrays empty, and no BP or WP divides 37 or 203. */
    static const int d_outs[] = {5, 37, 203};
    const int d_in = 96;
    uint32_t seed = 23;
    int combo = 0;
    for (int bits = 4; bits <= 8; bits += 4)
        for (size_t o = 0; o < sizeof d_outs / sizeof d_outs[0]; o++) {
            int d_out = d_outs[o];
            const code_range *act = &ACTIVATIONS[combo++ % 4];
            int16_t *x = ref_alloc(sizeof(int16_t) * d_in);
            int8_t *w = ref_alloc((size_t)d_out * d_in);
            int64_t *want = ref_alloc(sizeof(int64_t) * (size_t)d_out);
            int64_t *first = ref_alloc(sizeof(int64_t) * (size_t)d_out);
            fill_codes(x, d_in, act->lo, act->hi, &seed);
            fill_weights(w, (long)d_out * d_in, bits, &seed);
            linear_ref(x, 1, w, d_out, d_in, want);

            for (int bi = 0; bi < 3; bi++)
                for (int wi = 0; wi < 3; wi++) {
                    int32_t *acc = new_acc(d_out);
                    run_decode(x, w, d_out, d_in, bits, bps[bi], wps[wi], acc);
                    char label[128];
                    snprintf(label, sizeof label, "decode BP=%d WP=%d bits=%d %s d_out=%d acc", bps[bi],
                             wps[wi], bits, act->name, d_out);
                    compare_i32(label, acc, want, d_out);
                    /* Same output for every BP and WP as for the first setting. */
                    if (bi == 0 && wi == 0)
                        for (int r = 0; r < d_out; r++) first[r] = acc[r];
                    else
                        compare_i32(label, acc, first, d_out);
                    free(acc);
                }
            free(x);
            free(w);
            free(want);
            free(first);
        }
}

/* One row in a 64-lane tile: the other 63 lanes are zero padding. */
static void test_decode_single_row_tile(void) {
    const int d_in = 33, d_out = 1;
    int16_t *x = ref_alloc(sizeof(int16_t) * d_in);
    int8_t *w = ref_alloc((size_t)d_in);
    for (int i = 0; i < d_in; i++) {
        x[i] = (int16_t)(i % 2 ? -i : i);
        w[i] = (int8_t)(i % 15 - 7);
    }
    int64_t want;
    linear_ref(x, 1, w, d_out, d_in, &want);
    for (int bits = 4; bits <= 8; bits += 4) {
        int32_t acc = UNWRITTEN;
        size_t bytes;
        uint8_t *stream = pack_decode_rows(w, d_in, 0, d_out, bits, 64, &bytes);
        CHECK_INT_EQ(bytes, (long long)d_in * (bits == 4 ? 32 : 64));
        flx_linear_decode(x, d_in, d_out, stream, bits, 64, &acc);
        compare_i32("one row in a 64-lane tile acc", &acc, &want, 1);
        free(stream);
    }
    free(x);
    free(w);
}

static void test_block_slice(void) {
    static const int ns[] = {0, 1, 5, 37, 100, 4096}, bps[] = {1, 2, 3, 16, 64};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t j = 0; j < sizeof bps / sizeof bps[0]; j++) {
            int n = ns[i], bp = bps[j], next = 0;
            for (int b = 0; b < bp; b++) {
                int begin, count, ref_begin, ref_count;
                flx_block_slice(n, bp, b, &begin, &count);
                block_slice_ref(n, bp, b, &ref_begin, &ref_count);
                CHECK_INT_EQ(begin, ref_begin);
                CHECK_INT_EQ(count, ref_count);
                /* Slices tile 0..n-1 in lane order with no gap or overlap. */
                CHECK_INT_EQ(begin, next);
                next = begin + count;
            }
            CHECK_INT_EQ(next, n);
        }
}

int main(void) {
    test_prefill_settings();
    test_prefill_extremes();
    test_decode_arrays();
    test_decode_single_row_tile();
    test_block_slice();
    return flx_check_report("test_kernel_linear");
}
