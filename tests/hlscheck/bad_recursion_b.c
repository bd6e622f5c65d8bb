/* The other half of the cycle in bad_recursion_a.c. */
int cross_a(int n);

int cross_b(int n) {
    return cross_a(n) + 1; /* expect: recursion */
}
