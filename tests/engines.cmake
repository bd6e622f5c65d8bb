# Accelerator engines: bit-exactness across configurations and engines.
flexllm_unit_test(test_engines test_engines.c)
