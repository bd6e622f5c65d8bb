# flexllm generate/ppl with --engine accel and fakequant, end to end.
set(stories_bin "@DATA@/models/stories260K/stories260K.bin")
set(stories_tok "@DATA@/models/stories260K/tok512.bin")
set(wiki "@DATA@/text/wikitext-2/wiki.test.raw")

flexllm_cli_test(cli_accel_quantize_w4a4 0 "wrote"
                 quantize --model ${stories_bin} --tokenizer ${stories_tok} --recipe w4a4-rtn
                 --calib ${wiki} --calib-tokens 1024 -o @TMP@/accel-w4a4.safetensors)
set_tests_properties(cli_accel_quantize_w4a4 PROPERTIES FIXTURES_SETUP accel_artifact)

flexllm_cli_test(cli_accel_generate_stats 0 "decode engine: [0-9]+ runs.*linear.*weights"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} --prompt "Once upon a time"
                 -n 12 --temperature 0 --engine accel --quantized @TMP@/accel-w4a4.safetensors --stats)
flexllm_cli_test(cli_accel_generate_sampled 0 "^Once upon a time"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} --prompt "Once upon a time"
                 -n 12 --seed 3 --top-k 5 --engine accel --quantized @TMP@/accel-w4a4.safetensors --config tiny)
flexllm_cli_test(cli_accel_ppl 0 "engine   accel.*windows  2.*prefill engine"
                 ppl --model ${stories_bin} --tokenizer ${stories_tok} --text ${wiki} --ctx 64 --max-windows 2
                 --engine accel --quantized @TMP@/accel-w4a4.safetensors --stats)
flexllm_cli_test(cli_fakequant_ppl 0 "engine   fakequant.*windows  2"
                 ppl --model ${stories_bin} --tokenizer ${stories_tok} --text ${wiki} --ctx 64 --max-windows 2
                 --engine fakequant --quantized @TMP@/accel-w4a4.safetensors)
flexllm_cli_test(cli_accel_bad_config 2 "'bogus' is neither a configuration name"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} -n 2
                 --engine accel --quantized @TMP@/accel-w4a4.safetensors --config bogus)
set_tests_properties(cli_accel_generate_stats cli_accel_generate_sampled cli_accel_ppl cli_fakequant_ppl
                     cli_accel_bad_config PROPERTIES FIXTURES_REQUIRED accel_artifact)

flexllm_cli_test(cli_accel_needs_quantized 2 "--engine accel needs --quantized FILE"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} --engine accel)
flexllm_cli_test(cli_accel_bad_engine 2 "invalid value 'gpu' for --engine"
                 generate --model ${stories_bin} --engine gpu)
flexllm_cli_test(cli_accel_missing_artifact 2 "no-such.safetensors"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} --engine accel
                 --quantized @TMP@/no-such.safetensors)

# A configuration file with an odd lane count is rejected by name.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/odd-lanes.cfg "# decode lanes must be even\ndecode.wp = 7\n")
flexllm_cli_test(cli_accel_odd_lanes 2 "weight lanes must be even"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} -n 2 --engine accel
                 --quantized @TMP@/accel-w4a4.safetensors --config ${CMAKE_CURRENT_BINARY_DIR}/odd-lanes.cfg)
set_tests_properties(cli_accel_odd_lanes PROPERTIES FIXTURES_REQUIRED accel_artifact)

# A model whose head dimension exceeds the kernels' compile-time maximum.
flexllm_cli_test(cli_accel_big_head_synth 0 "wrote"
                 synth --arch stories260k --dim 512 --heads 2 --kv-heads 2 --head-dim 256 --layers 1
                 --tokenizer ${stories_tok} -o @TMP@/big-head.gguf)
flexllm_cli_test(cli_accel_big_head_quantize 0 "wrote"
                 quantize --model @TMP@/big-head.gguf --recipe w8a8 --calib ${wiki} --calib-tokens 64
                 -o @TMP@/big-head.safetensors)
flexllm_cli_test(cli_accel_big_head_rejected 2 "head_dim = 256 exceeds the kernel library's compile-time maximum 128"
                 generate --model @TMP@/big-head.gguf -n 2 --engine accel --quantized @TMP@/big-head.safetensors)
set_tests_properties(cli_accel_big_head_synth PROPERTIES FIXTURES_SETUP big_head_model)
set_tests_properties(cli_accel_big_head_quantize PROPERTIES FIXTURES_REQUIRED big_head_model FIXTURES_SETUP big_head_artifact)
set_tests_properties(cli_accel_big_head_rejected PROPERTIES FIXTURES_REQUIRED big_head_artifact)

# --target prints the modeled FPGA time of the run from the counters.
flexllm_cli_test(cli_accel_generate_target 0 "modeled FPGA time on u280.*decode: [0-9]+ steps"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} -n 8 --temperature 0
                 --engine accel --quantized @TMP@/accel-w4a4.safetensors --target u280)
flexllm_cli_test(cli_accel_generate_bad_target 2 "no-such-board"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} -n 8
                 --engine accel --quantized @TMP@/accel-w4a4.safetensors --target no-such-board)
flexllm_cli_test(cli_generate_target_needs_accel 2 "--target needs --engine accel"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} --target u280)
set_tests_properties(cli_accel_generate_target cli_accel_generate_bad_target PROPERTIES FIXTURES_REQUIRED accel_artifact)

# An artifact run with a different float model: a shape mismatch is an
# error; a different checkpoint of the same shape gets a warning with --kl.
flexllm_cli_test(cli_ppl_artifact_shape_mismatch 2 "the artifact's shape \\(dim 64, layers 5, heads 8/4, ffn 172, vocab 512\\) differs from the model .*one-layer\\.gguf \\(dim 64, layers 1"
  ppl --model @TMP@/one-layer.gguf --tokenizer ${stories_tok} --text @DATA@/text/tinystories/tinystories_valid_first1000_clean.txt
      --ctx 64 --max-windows 1 --engine fakequant --quantized @TMP@/accel-w4a4.safetensors)
set_tests_properties(cli_ppl_artifact_shape_mismatch PROPERTIES FIXTURES_REQUIRED "accel_artifact;one_layer_model")
flexllm_cli_test(cli_synth_one_layer 0 "wrote" synth --arch stories260k --layers 1 -o @TMP@/one-layer.gguf)
set_tests_properties(cli_synth_one_layer PROPERTIES FIXTURES_SETUP one_layer_model)
flexllm_cli_test(cli_ppl_kl_other_model 0 "warning: .*accel-w4a4\\.safetensors was quantized from .*stories260K\\.bin, not from .*five-layers\\.gguf"
  ppl --model @TMP@/five-layers.gguf --tokenizer ${stories_tok} --text @DATA@/text/tinystories/tinystories_valid_first1000_clean.txt
      --ctx 64 --max-windows 1 --engine fakequant --quantized @TMP@/accel-w4a4.safetensors --kl)
set_tests_properties(cli_ppl_kl_other_model PROPERTIES FIXTURES_REQUIRED "accel_artifact;five_layer_model")
flexllm_cli_test(cli_synth_five_layers 0 "wrote" synth --arch stories260k --seed 9 -o @TMP@/five-layers.gguf)
set_tests_properties(cli_synth_five_layers PROPERTIES FIXTURES_SETUP five_layer_model)
# An artifact whose context is shorter than the requested windows.
flexllm_cli_test(cli_synth_short_context 0 "wrote" synth --arch stories260k --context 128 -o @TMP@/short-context.gguf)
set_tests_properties(cli_synth_short_context PROPERTIES FIXTURES_SETUP short_context_model)
flexllm_cli_test(cli_quantize_short_context 0 "wrote"
  quantize --model @TMP@/short-context.gguf --tokenizer ${stories_tok} --recipe w8a8 --calib ${wiki} --calib-tokens 256
           -o @TMP@/short-context.safetensors)
set_tests_properties(cli_quantize_short_context PROPERTIES FIXTURES_REQUIRED short_context_model FIXTURES_SETUP short_context_artifact)
flexllm_cli_test(cli_ppl_artifact_context 2 "short-context\\.safetensors: the artifact's context is 128 positions, below the 256 requested"
  ppl --model @TMP@/five-layers.gguf --tokenizer ${stories_tok} --text @DATA@/text/tinystories/tinystories_valid_first1000_clean.txt
      --ctx 256 --max-windows 1 --engine fakequant --quantized @TMP@/short-context.safetensors)
set_tests_properties(cli_ppl_artifact_context PROPERTIES FIXTURES_REQUIRED "short_context_artifact;five_layer_model")
