# Rotation learning (flexllm learn-rotations) for the learned-rotation recipes.
flexllm_unit_test(test_rotation_learn test_rotation_learn.c)

set(rl_model "@DATA@/models/stories260K/stories260K.bin")
set(rl_tok "@DATA@/models/stories260K/tok512.bin")
set(rl_calib "@DATA@/text/wikitext-2/wiki.test.raw")
flexllm_cli_test(cli_learn_rotations 0
  "start    KL [0-9.]+ nats over 128 positions.*result   KL [0-9.]+ -> [0-9.]+ nats .*, [0-9]+ of 4 steps kept.*wrote"
  learn-rotations --model ${rl_model} --tokenizer ${rl_tok} --calib ${rl_calib} --calib-tokens 126 --window 64
                  --steps 4 -o @TMP@/learned-rotations.safetensors)
set_tests_properties(cli_learn_rotations PROPERTIES FIXTURES_SETUP learned_rotations)
flexllm_cli_test(cli_quantize_spinquant_learned 0
  "r1=learned\\(64,file=.*learned-rotations\\.safetensors\\) r2=learned\\(8,.* r3=walsh-hadamard\\(8\\) r4=dense-random\\(172,seed=3\\).*wrote"
  quantize --model ${rl_model} --tokenizer ${rl_tok} --recipe spinquant-w4a4kv4 --calib ${rl_calib} --calib-tokens 256
           --rotation-file @TMP@/learned-rotations.safetensors -o @TMP@/spinquant.safetensors)
set_tests_properties(cli_quantize_spinquant_learned PROPERTIES FIXTURES_REQUIRED learned_rotations)
flexllm_cli_test(cli_learn_rotations_not_learned 2 "recipe quarot-w4a4kv4 does not use learned R1 and R2"
  learn-rotations --model ${rl_model} --tokenizer ${rl_tok} --recipe quarot-w4a4kv4 --calib ${rl_calib} -o @TMP@/x.safetensors)
flexllm_cli_test(cli_learn_rotations_bad_angle 2 "invalid value '9' for --angle"
  learn-rotations --model ${rl_model} --calib ${rl_calib} --angle 9 -o @TMP@/x.safetensors)
flexllm_cli_test(cli_learn_rotations_missing_calib 2 "missing --calib FILE"
  learn-rotations --model ${rl_model} -o @TMP@/x.safetensors)
flexllm_cli_test(cli_learn_rotations_window_too_long 2 "--window 4096 exceeds the model's context of 512 positions"
  learn-rotations --model ${rl_model} --tokenizer ${rl_tok} --calib ${rl_calib} --window 4096 -o @TMP@/x.safetensors)
