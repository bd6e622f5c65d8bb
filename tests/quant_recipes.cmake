# Recipes with rotations and GPTQ (flx_quantize_model): a synthetic model
# with a power-of-two FFN written to TMPDIR, and stories260K.
flexllm_unit_test(test_quant_recipes ${CMAKE_CURRENT_SOURCE_DIR}/test_quant_recipes.c)

set(qr_model "@DATA@/models/stories260K/stories260K.bin")
set(qr_tok "@DATA@/models/stories260K/tok512.bin")
set(qr_calib "@DATA@/text/wikitext-2/wiki.test.raw")
flexllm_cli_test(cli_quantize_hw_needs_pow2_ffn 2
  "ffn_dim = 172; use recipe rtn-w4a4 or a model with a power-of-two FFN"
  quantize --model ${qr_model} --tokenizer ${qr_tok} --recipe flexllm-hw --calib ${qr_calib}
           -o @TMP@/stories260K-hw.safetensors)
flexllm_cli_test(cli_quantize_gptq_w4a8 0
  "rotations none.*hessians .*wiki\\.test\\.raw: 1024 text tokens for GPTQ.*weights  4-bit per-channel gptq\\(act_order,clip=mse\\), LM head 8-bit.*wrote"
  quantize --model ${qr_model} --tokenizer ${qr_tok} --recipe gptq-w4a8 --calib ${qr_calib} --calib-tokens 1024
           -o @TMP@/stories260K-gptq-w4a8.safetensors)
flexllm_cli_test(cli_quantize_bad_seed 2 "invalid value '-3' for --seed"
  quantize --model ${qr_model} --recipe flexllm-hw --calib ${qr_calib} --seed -3 -o @TMP@/x.safetensors)

# flexllm-hw end to end on a synthetic model with ffn_dim 128.
flexllm_cli_test(cli_quantize_hw_synth 0 "wrote"
  synth --arch stories260k --ffn-dim 128 --tokenizer ${qr_tok} -o @TMP@/qr-ffn128.gguf)
flexllm_cli_test(cli_quantize_hw 0
  "recipe   flexllm-hw.*rotations untie fold-norms r1=hadamard\\(64,seed=7\\) r2=hadamard\\(8,seed=8\\+layer\\) r4=walsh-hadamard\\(128\\).*weights  4-bit per-channel gptq\\(act_order,clip=mse\\), LM head 4-bit.*wrote"
  quantize --model @TMP@/qr-ffn128.gguf --recipe flexllm-hw --calib ${qr_calib} --calib-tokens 512 --seed 7
           -o @TMP@/qr-ffn128-hw.safetensors)
flexllm_cli_test(cli_quantize_hw_generate 0 "decode engine: [0-9]+ runs"
  generate --model @TMP@/qr-ffn128.gguf -n 6 --temperature 0 --engine accel
           --quantized @TMP@/qr-ffn128-hw.safetensors --stats)
flexllm_cli_test(cli_quantize_learned_needs_file 2 "give one \\(flexllm quantize --rotation-file PATH\\)"
  quantize --model @TMP@/qr-ffn128.gguf --recipe spinquant-learned-w4a4 --calib ${qr_calib} -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_missing_rotation_file 2 "no-such-rotations\\.safetensors"
  quantize --model @TMP@/qr-ffn128.gguf --recipe spinquant-learned-w4a4 --calib ${qr_calib}
           --rotation-file @TMP@/no-such-rotations.safetensors -o @TMP@/x.safetensors)
set_tests_properties(cli_quantize_hw_synth PROPERTIES FIXTURES_SETUP qr_synth_model)
set_tests_properties(cli_quantize_hw cli_quantize_learned_needs_file cli_quantize_missing_rotation_file
                     PROPERTIES FIXTURES_REQUIRED qr_synth_model)
set_tests_properties(cli_quantize_hw PROPERTIES FIXTURES_SETUP qr_hw_artifact)
set_tests_properties(cli_quantize_hw_generate PROPERTIES FIXTURES_REQUIRED "qr_synth_model;qr_hw_artifact")
