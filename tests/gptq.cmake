# GPTQ weight quantization: Hessians, the MSE clip search and the
# calibration capture (the stories260K part reads the data folder).
flexllm_unit_test(test_gptq ${CMAKE_CURRENT_SOURCE_DIR}/test_gptq.c)
flexllm_unit_test(test_clip_search ${CMAKE_CURRENT_SOURCE_DIR}/test_clip_search.c)
