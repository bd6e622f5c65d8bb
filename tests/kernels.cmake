# HLS kernels of src/kernels/ against the scalar references in kernel_ref.c.
foreach(kernel_test linear quantize attention elementwise sampler)
  flexllm_unit_test(test_kernel_${kernel_test} test_kernel_${kernel_test}.c)
  target_sources(test_kernel_${kernel_test} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/kernel_ref.c)
endforeach()
target_sources(test_kernel_linear PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/test_kernel_pack.c)
flexllm_unit_test(test_kernel_kv_dynamic test_kernel_kv_dynamic.c)
