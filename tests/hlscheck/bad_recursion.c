/* Direct and mutual recursion; the call that closes each cycle is reported
 * once per function on the cycle. */
#include <stdint.h>

int32_t rec_fact(int32_t n) {
    return n <= 1 ? 1 : n * rec_fact(n - 1); /* expect: recursion */
}

int32_t rec_pong(int32_t n);

int32_t rec_ping(int32_t n) {
    if (n <= 0) return 0;
    return rec_pong(n - 1) + 1; /* expect: recursion */
}

int32_t rec_pong(int32_t n) {
    return n > 0 ? rec_ping(n - 1) : 0; /* expect: recursion */
}

/* Calls into a cycle without being on it: not reported. */
int32_t rec_entry(int32_t n) {
    return rec_ping(n) + rec_fact(3);
}
