# Quantization: RTN weights, recipes, calibration, the artifact file, the
# fake-quant float model and the quantize command.
flexllm_unit_test(test_rtn ${CMAKE_CURRENT_SOURCE_DIR}/test_rtn.c)
flexllm_unit_test(test_fakequant ${CMAKE_CURRENT_SOURCE_DIR}/test_fakequant.c)
flexllm_unit_test(test_quant_artifact ${CMAKE_CURRENT_SOURCE_DIR}/test_quant_artifact.c)

set(quant_model "@DATA@/models/stories260K/stories260K.bin")
set(quant_tok "@DATA@/models/stories260K/tok512.bin")
set(quant_calib "@DATA@/text/wikitext-2/wiki.test.raw")
foreach(recipe w8a8 w4a8 w4a4-rtn)
  flexllm_cli_test(cli_quantize_${recipe} 0
    "recipe   ${recipe}.*calib    .*wiki\\.test\\.raw: 2048 of its [0-9]+ tokens, 5 window.*layer 4: +q_scale.*wrote    .*stories260K-${recipe}\\.safetensors \\([0-9.]+ MiB"
    quantize --model ${quant_model} --tokenizer ${quant_tok} --recipe ${recipe}
             --calib ${quant_calib} -o @TMP@/stories260K-${recipe}.safetensors)
endforeach()
flexllm_cli_test(cli_quantize_help 0 "usage: flexllm quantize.*w4a4-rtn +4-bit weights" quantize --help)
flexllm_cli_test(cli_quantize_bogus_recipe 2
  "unknown recipe 'bogus' \\(valid recipes: w8a8, w4a8, w4a4-rtn, flexllm-hw"
  quantize --model ${quant_model} --tokenizer ${quant_tok} --recipe bogus --calib ${quant_calib}
           -o @TMP@/bogus.safetensors)
flexllm_cli_test(cli_quantize_missing_calib 2 "missing --calib FILE"
  quantize --model ${quant_model} --tokenizer ${quant_tok} --recipe w8a8 -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_unreadable_model 2 "no-such\\.bin: model file not found"
  quantize --model @TMP@/no-such.bin --tokenizer ${quant_tok} --recipe w8a8 --calib ${quant_calib}
           -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_missing_calib_file 2 "no-such\\.txt: cannot open"
  quantize --model ${quant_model} --tokenizer ${quant_tok} --recipe w8a8 --calib @TMP@/no-such.txt
           -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_bad_calib_tokens 2 "invalid value '0' for --calib-tokens"
  quantize --model ${quant_model} --recipe w8a8 --calib ${quant_calib} --calib-tokens 0 -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_missing_output 2 "missing -o OUT"
  quantize --model ${quant_model} --recipe w8a8 --calib ${quant_calib})
# About 45 s in a release build on 2 cores: four models over 50 windows.
flexllm_unit_test(test_fakequant_ppl ${CMAKE_CURRENT_SOURCE_DIR}/test_fakequant_ppl.c slow)
flexllm_cli_test(cli_quantize_calib_tokens 0 "wiki\\.test\\.raw: 100 of its [0-9]+ tokens, 1 window"
  quantize --model ${quant_model} --tokenizer ${quant_tok} --recipe w8a8 --calib ${quant_calib}
           --calib-tokens 100 -o @TMP@/stories260K-calib100.safetensors)
flexllm_cli_test(cli_quantize_unwritable_output 1 "no-such-dir/x\\.safetensors\\.tmp: cannot create the file"
  quantize --model ${quant_model} --tokenizer ${quant_tok} --recipe w8a8 --calib ${quant_calib}
           -o @TMP@/no-such-dir/x.safetensors)
# A calibration text shorter than --calib-tokens still quantizes, with a warning.
flexllm_cli_test(cli_quantize_short_calib 0 "warning: .*README\\.md has [0-9]+ tokens, fewer than the 100000 of --calib-tokens"
  quantize --model ${quant_model} --tokenizer ${quant_tok} --recipe w8a8 --calib @DATA@/README.md --calib-tokens 100000
           -o @TMP@/short-calib.safetensors)
# Activation quantizer overrides.
flexllm_cli_test(cli_quantize_act_override 0 "inputs   8-bit symmetric per token \\(clip 0\\.95\\), LM head 4-bit asymmetric"
  quantize --model ${quant_model} --tokenizer ${quant_tok} --recipe w4a4-rtn --act-bits 8 --act-symmetric
           --act-clip 0.95 --calib ${quant_calib} --calib-tokens 256 -o @TMP@/act-override.safetensors)
flexllm_cli_test(cli_quantize_bad_act_bits 2 "invalid value '6' for --act-bits: expected 4 or 8"
  quantize --model ${quant_model} --recipe w8a8 --act-bits 6 --calib ${quant_calib} -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_bad_act_clip 2 "invalid value '0' for --act-clip"
  quantize --model ${quant_model} --recipe w8a8 --act-clip 0 --calib ${quant_calib} -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_calib_not_utf8 2 "tok512\\.bin: not UTF-8 text \\(invalid byte at offset [0-9]+\\)"
  quantize --model ${quant_model} --tokenizer ${quant_tok} --recipe w8a8 --calib ${quant_tok} -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_seed_without_rotation 2 "recipe w8a8 has no seeded rotation for this model"
  quantize --model ${quant_model} --tokenizer ${quant_tok} --recipe w8a8 --seed 5 --calib ${quant_calib}
           -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_act_sym_asym 2 "--act-symmetric and --act-asymmetric exclude each other"
  quantize --model ${quant_model} --recipe w8a8 --act-symmetric --act-asymmetric --calib ${quant_calib}
           -o @TMP@/x.safetensors)
flexllm_cli_test(cli_learn_rotations_calib_not_utf8 2 "tok512\\.bin: not UTF-8 text"
  learn-rotations --model ${quant_model} --tokenizer ${quant_tok} --calib ${quant_tok} -o @TMP@/x.safetensors)
# Per-group weights run in the fake-quant model.
flexllm_unit_test(test_weight_groups test_weight_groups.c)
flexllm_cli_test(cli_quantize_bad_weight_group 2 "invalid value '48' for --weight-group: expected 0, 32, 64 or 128"
  quantize --model ${quant_model} --recipe w4a8 --weight-group 48 --calib ${quant_calib} -o @TMP@/x.safetensors)
flexllm_cli_test(cli_quantize_weight_group_not_divisor 2 "group size 32 does not divide the input width 172"
  quantize --model ${quant_model} --tokenizer ${quant_tok} --recipe w4a8 --weight-group 32 --calib ${quant_calib}
           -o @TMP@/x.safetensors)
