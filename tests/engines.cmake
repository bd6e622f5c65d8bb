# Accelerator engines: bit-exactness across configurations and engines.
flexllm_unit_test(test_engines test_engines.c)
# Greedy text of w8a8 (16-bit LM head) through the decode engine.
flexllm_unit_test(test_stories_w8a8_greedy test_stories_w8a8_greedy.c)

# Any recipe's LM head can be made 16-bit by the quantize command; the
# engines then run it as two 8-bit passes.
set(head16_model "@DATA@/models/stories260K/stories260K.bin")
set(head16_tok "@DATA@/models/stories260K/tok512.bin")
flexllm_cli_test(cli_quantize_lm_head_bits_16 0 "weights  4-bit per-channel RTN, LM head 16-bit.*wrote"
                 quantize --model ${head16_model} --tokenizer ${head16_tok} --recipe w4a8 --lm-head-bits 16
                 --calib @DATA@/text/wikitext-2/wiki.test.raw --calib-tokens 512 -o @TMP@/w4a8-head16.safetensors)
set_tests_properties(cli_quantize_lm_head_bits_16 PROPERTIES FIXTURES_SETUP head16_artifact)
flexllm_cli_test(cli_accel_generate_head16 0 "^Once upon a time"
                 generate --model ${head16_model} --tokenizer ${head16_tok} --prompt "Once upon a time" -n 12
                 --temperature 0 --engine accel --quantized @TMP@/w4a8-head16.safetensors)
set_tests_properties(cli_accel_generate_head16 PROPERTIES FIXTURES_REQUIRED head16_artifact)
flexllm_cli_test(cli_quantize_bad_lm_head_bits 2 "invalid value '12' for --lm-head-bits: expected 4, 8 or 16"
                 quantize --model ${head16_model} --recipe w8a8 --lm-head-bits 12
                 --calib @DATA@/text/wikitext-2/wiki.test.raw -o @TMP@/x.safetensors)
