/* Recursion across files: bad_recursion_a.c and bad_recursion_b.c are
 * checked together. */
int cross_b(int n);

int cross_a(int n) {
    return n > 0 ? cross_b(n - 1) : 0; /* expect: recursion */
}
