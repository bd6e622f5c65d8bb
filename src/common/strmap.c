#include "common/strmap.h"

#include <stdlib.h>
#include <string.h>

uint64_t flx_hash_bytes(const void *data, size_t len) {
    /* FNV-1a, 64 bit */
    const uint8_t *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

int flx_strmap_init(flx_strmap *map, size_t expected_count, flx_error *err) {
    size_t cap = 16;
    while (cap < expected_count * 2 + 1) cap <<= 1;
    map->slots = flx_calloc(cap, sizeof *map->slots, err);
    if (!map->slots) return -1;
    map->capacity = cap;
    map->count = 0;
    return 0;
}

void flx_strmap_free(flx_strmap *map) {
    free(map->slots);
    memset(map, 0, sizeof *map);
}

int flx_strmap_put(flx_strmap *map, const char *key, uint32_t len, int32_t value) {
    if (map->count + 1 >= map->capacity) return -1;
    size_t mask = map->capacity - 1;
    size_t i = (size_t)flx_hash_bytes(key, len) & mask;
    while (map->slots[i].key) {
        flx_strmap_slot *s = &map->slots[i];
        if (s->len == len && memcmp(s->key, key, len) == 0) return 0;
        i = (i + 1) & mask;
    }
    map->slots[i].key = key;
    map->slots[i].len = len;
    map->slots[i].value = value;
    map->count++;
    return 0;
}

int32_t flx_strmap_get(const flx_strmap *map, const char *key, uint32_t len) {
    if (!map->capacity) return -1;
    size_t mask = map->capacity - 1;
    size_t i = (size_t)flx_hash_bytes(key, len) & mask;
    while (map->slots[i].key) {
        const flx_strmap_slot *s = &map->slots[i];
        if (s->len == len && memcmp(s->key, key, len) == 0) return s->value;
        i = (i + 1) & mask;
    }
    return -1;
}
