# Engines on a 2-layer model of the Llama-3.2-1B shape (writes a 0.8 GB
# file into the build folder while it runs).
flexllm_unit_test(test_engines_synth test_engines_synth.c)
set_tests_properties(test_engines_synth PROPERTIES ENVIRONMENT "TMPDIR=${CMAKE_CURRENT_BINARY_DIR}" TIMEOUT 1500)
