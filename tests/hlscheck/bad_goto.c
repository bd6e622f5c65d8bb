/* goto in a kernel. */
int gt_find(const int *x, int n) {
#pragma HLS INLINE
    int i = 0;
again:
    if (i < n && i < 16 && x[i] != 0) {
        i++;
        goto again; /* expect: goto */
    }
    return i;
}
