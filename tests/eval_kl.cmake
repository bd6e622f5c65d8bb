# KL divergence of next-token distributions (eval/kl.c) and flexllm ppl --kl.
flexllm_unit_test(test_kl ${CMAKE_CURRENT_SOURCE_DIR}/test_kl.c)

set(kl_model "@DATA@/models/stories260K/stories260K.bin")
set(kl_tok "@DATA@/models/stories260K/tok512.bin")
set(kl_text "@DATA@/text/tinystories/tinystories_valid_first1000_clean.txt")
flexllm_cli_test(cli_ppl_kl_quantize 0 "wrote"
  quantize --model ${kl_model} --tokenizer ${kl_tok} --recipe rtn-w8a8
           --calib @DATA@/text/wikitext-2/wiki.test.raw --calib-tokens 1024 -o @TMP@/kl-rtn-w8a8.safetensors)
set_tests_properties(cli_ppl_kl_quantize PROPERTIES FIXTURES_SETUP kl_artifact)

# The float and fake-quant models compared position by position.
add_test(NAME test_kl_stories_fakequant COMMAND test_kl ${CMAKE_CURRENT_BINARY_DIR}/kl-rtn-w8a8.safetensors)
set_tests_properties(test_kl_stories_fakequant PROPERTIES ENVIRONMENT "${FLEXLLM_TEST_DATA_ENV}"
                     FIXTURES_REQUIRED kl_artifact)

flexllm_cli_test(cli_ppl_kl_text 0
  "engine   fakequant .*kl-rtn-w8a8\\.safetensors.*windows  2\nscored   126\nppl      [0-9]+\\.[0-9]+ \\+/- [0-9.]+\nfloat    ppl [0-9]+\\.[0-9]+ \\+/- [0-9.]+ on the same positions\nkl       mean [0-9]\\.[0-9]+ \\+/- [0-9]\\.[0-9]+, max [0-9]+\\.[0-9]+ nats \\(float \\|\\| quantized\\)\ntop-1    [01]\\.[0-9]+ agreement \\(126 positions\\)"
  ppl --model ${kl_model} --tokenizer ${kl_tok} --text ${kl_text} --ctx 64 --max-windows 2
      --engine fakequant --quantized @TMP@/kl-rtn-w8a8.safetensors --kl)
# The JSON keys, with kl_mean in (0, 0.05): a sanity bound for 8-bit RTN
# (a few thousandths of a nat on these windows), not a published figure.
flexllm_cli_test(cli_ppl_kl_json 0
  "\"scored\": 126, \"ppl\": [0-9.]+, \"ppl_stderr\": [0-9.]+, \"float_ppl\": [0-9.]+, \"float_ppl_stderr\": [0-9.]+, \"kl_mean\": 0\\.0[0-4][0-9]*[1-9][0-9]*, \"kl_stderr\": [0-9.]+, \"kl_max\": [0-9.]+, \"top1_agreement\": [01]\\.[0-9]+}"
  ppl --model ${kl_model} --tokenizer ${kl_tok} --text ${kl_text} --ctx 64 --max-windows 2
      --engine fakequant --quantized @TMP@/kl-rtn-w8a8.safetensors --kl --json)
flexllm_cli_test(cli_ppl_kl_accel 0 "engine   accel .*kl       mean [0-9.]+ \\+/- [0-9.]+, max [0-9.]+ nats"
  ppl --model ${kl_model} --tokenizer ${kl_tok} --text ${kl_text} --ctx 64 --max-windows 1 --method llamacpp
      --engine accel --quantized @TMP@/kl-rtn-w8a8.safetensors --config tiny --kl)
set_tests_properties(cli_ppl_kl_text cli_ppl_kl_json cli_ppl_kl_accel PROPERTIES FIXTURES_REQUIRED kl_artifact)

flexllm_cli_test(cli_ppl_kl_needs_quantized 2
  "--kl compares a quantized model with the float --model; pass --quantized FILE and --engine fakequant\\|accel"
  ppl --model ${kl_model} --tokenizer ${kl_tok} --text ${kl_text} --ctx 64 --kl)
flexllm_cli_test(cli_ppl_kl_reference_engine 2 "--kl compares a quantized model"
  ppl --model ${kl_model} --tokenizer ${kl_tok} --text ${kl_text} --ctx 64 --engine reference --kl)
add_test(NAME cli_ppl_kl_cleanup
         COMMAND ${CMAKE_COMMAND} -E rm -f ${CMAKE_CURRENT_BINARY_DIR}/kl-rtn-w8a8.safetensors)
set_tests_properties(cli_ppl_kl_cleanup PROPERTIES FIXTURES_CLEANUP kl_artifact)
