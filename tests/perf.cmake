# Performance model: cycle formulas, agreement with the engine simulation,
# calibration against the measured U280 runs, resources, device files,
# configuration files, design-space exploration and the estimate and dse
# commands. The device files live in the repository's devices/ folder.
set(FLEXLLM_PERF_ENV "${FLEXLLM_TEST_DATA_ENV};FLEXLLM_DEVICES=${CMAKE_SOURCE_DIR}/devices")
foreach(name kernel_cost sim_match calibration resources device config dse)
  flexllm_unit_test(test_perf_${name} test_perf_${name}.c)
  target_compile_definitions(test_perf_${name} PRIVATE FLX_TEST_DEVICES_DIR="${CMAKE_SOURCE_DIR}/devices")
  set_tests_properties(test_perf_${name} PROPERTIES ENVIRONMENT "${FLEXLLM_PERF_ENV}")
endforeach()

# Each entry: NAME|EXIT STATUS|PATTERN|ARGUMENTS separated by commas.
# A configuration too wide for the U280's DSPs.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/perf_overflow.cfg
     "decode.bp = 64\ndecode.wp = 256\ndecode.hp = 64\ndecode.kp = 128\ndecode.vp = 128\nhbm.decode.weights = auto\n")

# A shape whose head_dim (96) has no Walsh-Hadamard transform, for --r3.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/perf_head_dim_96.json
     "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 960, \"intermediate_size\": 2560, \"num_attention_heads\": 10, \"num_key_value_heads\": 5, "
     "\"num_hidden_layers\": 4, \"vocab_size\": 32000, \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0, \"max_position_embeddings\": 2048}\n")

# KV-cache bytes of llama-3.2-1b (16 layers, 32 query and 8 KV heads, head_dim
# 64) for workload 2048:2, by hand: the two decode steps see 2048 and 2049
# keys, so reads = 16 layers * 2 (K, V) * 32 heads * 4097 keys * row and
# writes = 2 steps * 16 * 2 * 8 KV heads * row, with row = 64 bytes for the
# static INT8 cache, 64 * 4 / 8 + 4 = 36 for INT4 with one scale per row,
# 64 + 4 * 4 = 80 for INT8 in groups of 16.
set(perf_cli_tests
  "perf_cli_estimate_kv_static|0|KV cache: +static INT8, 64 bytes per cached head row. decode reads 268500992 bytes and writes 32768 bytes|estimate,--target,u280,--workload,2048:2"
  "perf_cli_estimate_kv_int4|0|KV cache: +dynamic INT4 in groups of 64, 36 bytes per cached head row. decode reads 151031808 bytes and writes 18432 bytes|estimate,--target,u280,--workload,2048:2,--kv,int4"
  "perf_cli_estimate_kv_int8_group_r3|0|\"kv_cache\": \"dynamic INT8 in groups of 16\", \"kv_row_bytes\": 80, \"decode_kv_bytes_read\": 335626240, \"decode_kv_bytes_written\": 40960, \"r3\": true|estimate,--target,u280,--workload,2048:2,--kv,int8,--kv-group,16,--r3,--json"
  "perf_cli_estimate_bad_kv|2|invalid value 'int2' for --kv: expected static, static-layer, int4 or int8|estimate,--target,u280,--workload,8:8,--kv,int2"
  "perf_cli_estimate_bad_kv_group|2|invalid value '48' for --kv-group: it must divide head_dim 64 of llama-3.2-1b|estimate,--target,u280,--workload,8:8,--kv,int4,--kv-group,48"
  "perf_cli_estimate_zero_kv_group|2|invalid value '0' for --kv-group: expected an integer from 1 to 64|estimate,--target,u280,--workload,8:8,--kv,int4,--kv-group,0"
  "perf_cli_estimate_static_kv_group|2|--kv-group 16 needs --kv int4 or int8|estimate,--target,u280,--workload,8:8,--kv-group,16"
  "perf_cli_estimate_kv_missing_value|2|option --kv needs a value|estimate,--target,u280,--workload,8:8,--kv"
  "perf_cli_estimate_r3_bad_head_dim|2|R3 needs a power-of-two head_dim, not 96|estimate,--target,u280,--workload,8:8,--r3,--model-shape,${CMAKE_CURRENT_BINARY_DIR}/perf_head_dim_96.json"
  "perf_cli_estimate|0|decode ceiling: +[0-9.]+ tokens/s memory-bound|estimate,--target,u280,--config,u280-ref,--workload,1024:1024"
  "perf_cli_estimate_json|0|\"decode_tokens_per_s\": [0-9.]+.*\"fits\": true|estimate,--target,u280,--workload,1024:256,--json"
  "perf_cli_estimate_v80|0|prefill latency: .*SLR2|estimate,--target,v80,--config,v80-proj,--workload,1024:1024"
  "perf_cli_estimate_gpu|0|published baseline \\(1024:1024\\)|estimate,--target,a100-40gb,--workload,1024:1024"
  "perf_cli_estimate_no_target|2|--target DEVICE is required|estimate,--workload,1024:1024"
  "perf_cli_estimate_bad_workload|2|invalid value '1024x5' for --workload|estimate,--target,u280,--workload,1024x5"
  "perf_cli_estimate_zero_workload|2|invalid value '0:5' for --workload|estimate,--target,u280,--workload,0:5"
  "perf_cli_estimate_long_workload|2|exceed the KV cache limit|estimate,--target,u280,--workload,4000:1000"
  "perf_cli_estimate_bad_device|2|device 'nosuch' not found|estimate,--target,nosuch,--workload,8:8"
  "perf_cli_estimate_bad_option|2|unknown option '--speed'|estimate,--speed,--target,u280"
  "perf_cli_estimate_bad_config|2|'nosuch.cfg' is neither a configuration name|estimate,--target,u280,--config,nosuch.cfg,--workload,8:8"
  "perf_cli_estimate_bad_shape|2|unknown model shape 'gpt-9'|estimate,--target,u280,--workload,8:8,--model-shape,gpt-9"
  "perf_cli_estimate_overflow|2|rejected: decode bitstream does not fit u280: .*dsp needs [0-9]+ but [0-9]+ are usable .*over by [0-9]+|estimate,--target,u280,--config,${CMAKE_CURRENT_BINARY_DIR}/perf_overflow.cfg,--workload,1024:1024"
  "perf_cli_estimate_missing_value|2|option --workload needs a value|estimate,--target,u280,--workload"
  "perf_cli_dse|0|best versus u280-ref: decode [2-9][.][0-9]+x.*wrote the best configuration.*wrote the Pareto front|dse,--target,u280,--workload,1024:1024,--objective,decode,-o,@TMP@/perf_best.cfg,--svg,@TMP@/perf_front.svg"
  "perf_cli_dse_bad_objective|2|invalid value 'speed' for --objective: expected latency, decode or energy|dse,--target,u280,--workload,1024:1024,--objective,speed"
  "perf_cli_dse_no_objective|2|--objective O is required|dse,--target,u280,--workload,1024:1024"
  "perf_cli_dse_gpu|2|a100-80gb is a GPU baseline|dse,--target,a100-80gb,--workload,1024:1024,--objective,latency"
  "perf_cli_estimate_dse_best|0|decode: .*tokens/s|estimate,--target,u280,--config,@TMP@/perf_best.cfg,--workload,1024:1024"
)
foreach(entry ${perf_cli_tests})
  string(REPLACE "|" ";" fields "${entry}")
  list(GET fields 0 name)
  list(GET fields 1 status)
  list(GET fields 2 pattern)
  list(GET fields 3 args)
  string(REPLACE "," ";" args "${args}")
  flexllm_cli_test(${name} ${status} "${pattern}" ${args})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${FLEXLLM_PERF_ENV}")
endforeach()
set_tests_properties(perf_cli_estimate_dse_best PROPERTIES DEPENDS perf_cli_dse)
# An asymmetric INT4 cache adds a 4-byte offset per group: 32 + 4 + 4 = 40
# bytes per head row, so decode reads 16 x 2 x 32 x 4097 x 40 = 167813120.
flexllm_cli_test(cli_estimate_kv_int4_asym 0 "KV cache: +dynamic INT4 in groups of 64, asymmetric, 40 bytes per cached head row; decode reads 167813120 bytes"
                 estimate --target u280 --workload 2048:2 --kv int4 --kv-asymmetric)
flexllm_cli_test(cli_estimate_kv_asym_static 2 "--kv-asymmetric applies to --kv int4 or int8"
                 estimate --target u280 --workload 2048:2 --kv-asymmetric)
flexllm_cli_test(cli_estimate_gpu_ignores_kv 0 "warning: --kv, --kv-group, --kv-asymmetric and --r3 apply to FPGA devices"
                 estimate --target a100-40gb --workload 8:8 --kv int4)
