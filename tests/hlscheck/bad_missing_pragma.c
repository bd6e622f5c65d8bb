/* A function with loops but no #pragma HLS line. */
#define MP_MAX 32

void mp_add(float *x, const float *y, int n) { /* expect: missing-pragma */
    for (int i = 0; i < n && i < MP_MAX; i++) x[i] += y[i];
}

/* Scalar references and loop-free functions need no pragma. */
void mp_add_ref(float *x, const float *y, int n) {
    for (int i = 0; i < n && i < MP_MAX; i++) x[i] += y[i];
}

float mp_first(const float *x) {
    return x[0];
}
