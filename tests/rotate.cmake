# Rotations of the quantization suite: Hadamard matrices and transforms,
# random orthogonal matrices, and the offline model transforms (untie, fold,
# R1, R2, R4, learned rotation files).
flexllm_unit_test(test_hadamard ${CMAKE_CURRENT_SOURCE_DIR}/test_hadamard.c)
# Every supported order from 2049 to 8192: about 2.6e10 matrix entries.
flexllm_unit_test(test_hadamard_all ${CMAKE_CURRENT_SOURCE_DIR}/test_hadamard.c slow)
target_compile_definitions(test_hadamard_all PRIVATE HADAMARD_ALL_ORDERS=1)
# stories260K, a synthetic model and a 2-layer Llama-3.2-1B shape (F16,
# vocabulary 2048, written to TMPDIR).
flexllm_unit_test(test_rotate ${CMAKE_CURRENT_SOURCE_DIR}/test_rotate.c)
