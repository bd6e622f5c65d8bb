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

set(perf_cli_tests
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
