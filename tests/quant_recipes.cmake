# Recipes with rotations and GPTQ (flx_quantize_model): a synthetic model
# with a power-of-two FFN written to TMPDIR, and stories260K.
flexllm_unit_test(test_quant_recipes ${CMAKE_CURRENT_SOURCE_DIR}/test_quant_recipes.c)

set(qr_model "@DATA@/models/stories260K/stories260K.bin")
set(qr_tok "@DATA@/models/stories260K/tok512.bin")
set(qr_calib "@DATA@/text/wikitext-2/wiki.test.raw")
# quarot-w4a4kv4 on stories260K: R3 over head_dim 8, a dense R4 as
# ffn_dim 172 has no Walsh-Hadamard transform, INT4 dynamic KV; the
# artifact then runs through the engines.
flexllm_cli_test(cli_quantize_quarot 0
  "rotations untie fold-norms r1=hadamard\\(64,seed=1\\) r2=hadamard\\(8,seed=2\\+layer\\) r3=walsh-hadamard\\(8\\) r4=dense-random\\(172,seed=3\\).*KV cache INT4 dynamic per token, group 8, asymmetric, clip 1.*wrote"
  quantize --model ${qr_model} --tokenizer ${qr_tok} --recipe quarot-w4a4kv4 --calib ${qr_calib} --calib-tokens 512
           -o @TMP@/stories260K-quarot.safetensors)
set_tests_properties(cli_quantize_quarot PROPERTIES FIXTURES_SETUP quarot_artifact)
flexllm_cli_test(cli_ppl_quarot_accel 0 "ppl      [0-9]+\\.[0-9]+"
  ppl --model ${qr_model} --tokenizer ${qr_tok} --text @DATA@/text/tinystories/tinystories_valid_first1000_clean.txt
      --ctx 128 --max-windows 2 --engine accel --quantized @TMP@/stories260K-quarot.safetensors)
set_tests_properties(cli_ppl_quarot_accel PROPERTIES FIXTURES_REQUIRED quarot_artifact)
flexllm_cli_test(cli_quantize_kv_group_bad 2 "KV-cache group size 3 does not divide head_dim 8; pick a divisor of 8"
  quantize --model ${qr_model} --tokenizer ${qr_tok} --recipe w4a4-rtn --kv int8 --kv-group 3 --calib ${qr_calib}
           -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_kv_bad 2 "invalid value 'int2' for --kv: expected static, static-layer, int4 or int8"
  quantize --model ${qr_model} --recipe w4a4-rtn --kv int2 --calib ${qr_calib} -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_kv_group_static 2 "--kv-group, --kv-clip and --kv-\\(a\\)symmetric need a dynamic KV cache, but recipe w4a4-rtn"
  quantize --model ${qr_model} --recipe w4a4-rtn --kv-group 4 --calib ${qr_calib} -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_kv_clip_bad 2 "invalid value '1.5' for --kv-clip"
  quantize --model ${qr_model} --recipe quarot-w4a4kv4 --kv-clip 1.5 --calib ${qr_calib} -o @TMP@/x.safetensors)
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
