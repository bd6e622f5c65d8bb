/* Open-addressing hash map from byte strings to int32 values. Keys are not
 * copied: they must outlive the map. */
#ifndef FLEXLLM_COMMON_STRMAP_H
#define FLEXLLM_COMMON_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct flx_strmap_slot {
    const char *key; /* NULL when empty */
    uint32_t len;
    int32_t value;
} flx_strmap_slot;

typedef struct flx_strmap {
    flx_strmap_slot *slots; /* [capacity], capacity a power of two */
    size_t capacity;
    size_t count;
} flx_strmap;

/* Sizes the table for expected_count keys at a load factor of at most 1/2. */
int flx_strmap_init(flx_strmap *map, size_t expected_count, flx_error *err);
void flx_strmap_free(flx_strmap *map);

/* Inserts key -> value; an existing key keeps its first value. Returns 0,
 * or -1 when the table is full (init sized it too small). */
int flx_strmap_put(flx_strmap *map, const char *key, uint32_t len, int32_t value);

/* Returns the value for key, or -1 when absent. */
int32_t flx_strmap_get(const flx_strmap *map, const char *key, uint32_t len);

uint64_t flx_hash_bytes(const void *data, size_t len);

#endif
