/* Inline assembly in a kernel. */
void asm_fence(void) {
#pragma HLS INLINE
    __asm__ volatile("" ::: "memory"); /* expect: asm */
    asm("nop");                        /* expect: asm */
}
