/* HBM channel lists of the configuration files: parsing, formatting, a
 * write-then-read round trip of every field, and errors naming the line. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "engines/accel_config.h"

int main(void) {
    uint64_t mask = 0;
    CHECK_INT_EQ(flx_hbm_parse_channels("5-12,16-23", &mask), 0);
    CHECK(mask == (0xFF0ull << 1 | 0xFF0000ull));
    CHECK_INT_EQ(flx_hbm_parse_channels("0", &mask), 0);
    CHECK(mask == 1);
    CHECK_INT_EQ(flx_hbm_parse_channels("63", &mask), 0);
    CHECK(mask == 1ull << 63);
    CHECK_INT_EQ(flx_hbm_parse_channels("auto", &mask), 0);
    CHECK(mask == 0);
    const char *bad[] = {"", "64", "3-1", "1,", ",1", "1-", "a", "1 2", "-1", "1--2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK_INT_EQ(flx_hbm_parse_channels(bad[i], &mask), -1);

    char text[256];
    flx_hbm_format_channels(0xFF0ull << 1 | 0xFF0000ull | 1ull << 30, text, sizeof text);
    CHECK(!strcmp(text, "5-12,16-23,30"));
    flx_hbm_format_channels(0, text, sizeof text);
    CHECK(!strcmp(text, "auto"));

    /* u280-ref carries the reference's decode map: weights and caches on 5-12 and 16-23. */
    flx_error err;
    flx_accel_config ref, back;
    CHECK_INT_EQ(flx_accel_config_get("u280-ref", &ref, &err), 0);
    flx_hbm_format_channels(ref.hbm.decode_weights, text, sizeof text);
    CHECK(!strcmp(text, "5-12,16-23"));
    flx_hbm_format_channels(ref.hbm.prefill_ffn, text, sizeof text);
    CHECK(!strcmp(text, "1-3,5-7,9-11"));

    char path[128];
    snprintf(path, sizeof path, "perf-config-%d.cfg", (int)getpid());
    flx_accel_config c = ref;
    c.decode = (flx_decode_config){32, 16, 96, 64, 32};
    c.hbm.decode_weights = 0xFFFFFFFFull;
    c.hbm.decode_kv = 0xFFFF0000ull;
    c.hbm.prefill_aux = 0;
    CHECK_INT_EQ(flx_accel_config_save(&c, path, &err), 0);
    CHECK_INT_EQ(flx_accel_config_get(path, &back, &err), 0);
    CHECK(!memcmp(&back.prefill, &c.prefill, sizeof c.prefill));
    CHECK(!memcmp(&back.decode, &c.decode, sizeof c.decode));
    CHECK(!memcmp(&back.hbm, &c.hbm, sizeof c.hbm));

    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fprintf(f, "decode.bp = 8\nhbm.decode.weights = 1-40-3\n");
        fclose(f);
        CHECK_INT_EQ(flx_accel_config_get(path, &back, &err), -1);
        fprintf(stderr, "expected error: %s\n", err.msg);
        CHECK(strstr(err.msg, ":2: invalid channel list '1-40-3' for hbm.decode.weights") != NULL);
    }
    remove(path);
    CHECK_INT_EQ(flx_accel_config_save(&c, "/nonexistent-folder/x.cfg", &err), -1);
    CHECK(strstr(err.msg, "/nonexistent-folder/x.cfg") != NULL);
    return flx_check_report("test_perf_config");
}
