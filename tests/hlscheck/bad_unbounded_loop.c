/* Loops without a bound that HLS can see. Every function has a pragma, so
 * only the loops are reported. */
#define UL_MAX 128

void ul_loops(float *x, int n, int flag) {
#pragma HLS INTERFACE m_axi port = x bundle = data
    for (;;) { /* expect: unbounded-loop */
        if (x[0] > 0.0f) break;
    }
    for (int i = 0; i < n; i++) x[i] = 0.0f; /* expect: unbounded-loop */
    for (int i = 0; flag; i++) x[i] = 1.0f;  /* expect: unbounded-loop */
    for (int i = 0; i < n || i < UL_MAX; i++) { /* expect: unbounded-loop */
        x[i] = 2.0f;
    }
    for (int i = 0; i < n; i++) { /* expect: unbounded-loop */
#pragma HLS loop_tripcount min = 1
        x[i] = 3.0f;
    }
    for (int i = 0; i < n; i++) { /* expect: unbounded-loop */
        for (int j = 0; j < n; j++) {
#pragma HLS loop_tripcount max = 16
            x[j] += (float)i;
        }
    }
    int left = n;
    while (left > 0) left--; /* expect: unbounded-loop */
    do {                     /* expect: unbounded-loop */
        left++;
    } while (left < n);
    for (int i = n; i > 0; i--) x[i] = 0.0f;     /* expect: unbounded-loop */
    for (int i = 0; x[i] != 0.0f; i++) x[i] = 1.0f; /* expect: unbounded-loop */
    for (int i = 0; i < n && i < UL_MAX; i++) { /* clamped: fine */
        x[i] *= 2.0f;
    }
}
