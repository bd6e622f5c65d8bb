# GGUF input and output: parser, dequantization, writer round trip, the real
# stories260K.gguf against its llama2.c original, synthetic models, and
# `flexllm inspect` on malformed GGUF and llama2.c files.
flexllm_unit_test(test_gguf_parse ${CMAKE_CURRENT_SOURCE_DIR}/test_gguf_parse.c)
flexllm_unit_test(test_gguf_dequant ${CMAKE_CURRENT_SOURCE_DIR}/test_gguf_dequant.c)
flexllm_unit_test(test_gguf_writer ${CMAKE_CURRENT_SOURCE_DIR}/test_gguf_writer.c)
flexllm_unit_test(test_gguf_stories ${CMAKE_CURRENT_SOURCE_DIR}/test_gguf_stories.c)
flexllm_unit_test(test_gguf_synth ${CMAKE_CURRENT_SOURCE_DIR}/test_gguf_synth.c)

# make_bad_models writes a valid model and one malformed variant per defect
# into gguf-bad/ in the test folder.
set(gguf_bad ${CMAKE_CURRENT_BINARY_DIR}/gguf-bad)
add_executable(make_bad_models ${CMAKE_CURRENT_SOURCE_DIR}/make_bad_models.c)
add_test(NAME gguf_make_bad_models COMMAND make_bad_models ${gguf_bad})
set_tests_properties(gguf_make_bad_models PROPERTIES FIXTURES_SETUP gguf_bad)

# The same files through the GGUF loader directly, which also covers the
# cases that `flexllm inspect` sends to the llama2.c loader.
flexllm_unit_test(test_gguf_bad_files ${CMAKE_CURRENT_SOURCE_DIR}/test_gguf_bad_files.c)
target_compile_definitions(test_gguf_bad_files PRIVATE GGUF_BAD_DIR="${gguf_bad}")
set_tests_properties(test_gguf_bad_files PROPERTIES FIXTURES_REQUIRED gguf_bad)

# gguf_inspect_test(NAME FILE EXPECTED_EXIT PATTERN): flexllm inspect on one
# generated file.
function(gguf_inspect_test name file expected_exit pattern)
  flexllm_cli_test(${name} ${expected_exit} "${pattern}" inspect ${gguf_bad}/${file})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED gguf_bad)
endfunction()

gguf_inspect_test(cli_inspect_gguf_good good.gguf 0
  "format +gguf.*dim +32.*layers +1.*vocabulary +sentencepiece, 8 tokens.*blk\\.0\\.ffn_down\\.weight +F32 +32 x 256")
gguf_inspect_test(cli_inspect_llama2c_good good.bin 0 "format +llama2\\.c.*dim +16")
gguf_inspect_test(cli_inspect_gguf_empty empty.gguf 2 "gguf-bad/empty\\.gguf: .*0 bytes")
gguf_inspect_test(cli_inspect_gguf_ggml_magic ggml_magic.gguf 2
  "gguf-bad/ggml_magic\\.gguf: old GGML/GGJT file")
gguf_inspect_test(cli_inspect_gguf_version1 version1.gguf 2
  "gguf-bad/version1\\.gguf: GGUF version 1 is not supported")
gguf_inspect_test(cli_inspect_gguf_truncated_header truncated_header.gguf 2
  "gguf-bad/truncated_header\\.gguf: truncated file: header at byte 8")
gguf_inspect_test(cli_inspect_gguf_truncated_string truncated_string.gguf 2
  "gguf-bad/truncated_string\\.gguf: key of metadata entry 14: string length 27 at byte [0-9]+ runs past the end of the file")
gguf_inspect_test(cli_inspect_gguf_absurd_kv_count absurd_kv_count.gguf 2
  "gguf-bad/absurd_kv_count\\.gguf: invalid kv_count 1099511627776")
gguf_inspect_test(cli_inspect_gguf_absurd_tensor_count absurd_tensor_count.gguf 2
  "gguf-bad/absurd_tensor_count\\.gguf: invalid tensor_count 1099511627776")
gguf_inspect_test(cli_inspect_gguf_absurd_string_length absurd_string_length.gguf 2
  "gguf-bad/absurd_string_length\\.gguf: value of key 'general\\.name': string length 4611686018427387904 .*runs past the end")
gguf_inspect_test(cli_inspect_gguf_unknown_value_type unknown_value_type.gguf 2
  "gguf-bad/unknown_value_type\\.gguf: key 'test\\.strange' has unknown value type 13")
gguf_inspect_test(cli_inspect_gguf_offset_past_end offset_past_end.gguf 2
  "gguf-bad/offset_past_end\\.gguf: tensor 'blk\\.0\\.attn_output\\.weight' data \\(offset 1099511627776, 4096 bytes\\) runs past the end of the file")
gguf_inspect_test(cli_inspect_gguf_data_past_end data_past_end.gguf 2
  "gguf-bad/data_past_end\\.gguf: tensor 'output\\.weight' data \\(offset [0-9]+, 1024 bytes\\) runs past the end of the file")
gguf_inspect_test(cli_inspect_gguf_attn_q_shape attn_q_shape.gguf 2
  "gguf-bad/attn_q_shape\\.gguf: tensor blk\\.0\\.attn_q\\.weight has shape \\[16, 32\\] but the model config needs \\[n_heads\\*head_dim, dim\\] = \\[32, 32\\]")
gguf_inspect_test(cli_inspect_gguf_q4_k q4_k_tensor.gguf 2
  "gguf-bad/q4_k_tensor\\.gguf: tensor blk\\.0\\.ffn_down\\.weight has type Q4_K \\(ggml type 12\\), which is not supported")
gguf_inspect_test(cli_inspect_gguf_unknown_tensor_type unknown_tensor_type.gguf 2
  "gguf-bad/unknown_tensor_type\\.gguf: tensor 'blk\\.0\\.ffn_down\\.weight' has unknown ggml type id 99")
gguf_inspect_test(cli_inspect_gguf_missing_block_count missing_block_count.gguf 2
  "gguf-bad/missing_block_count\\.gguf: missing required key llama\\.block_count")
gguf_inspect_test(cli_inspect_gguf_missing_tensor missing_tensor.gguf 2
  "gguf-bad/missing_tensor\\.gguf: missing tensor blk\\.0\\.ffn_up\\.weight")
gguf_inspect_test(cli_inspect_gguf_five_dims five_dims.gguf 2
  "gguf-bad/five_dims\\.gguf: tensor 'blk\\.0\\.attn_norm\\.weight' has n_dims = 5 \\(expected 1 to 4\\)")
gguf_inspect_test(cli_inspect_gguf_zero_dim zero_dim.gguf 2
  "gguf-bad/zero_dim\\.gguf: tensor 'blk\\.0\\.attn_k\\.weight' has a zero-sized dimension \\(ne\\[1\\] = 0\\)")
gguf_inspect_test(cli_inspect_gguf_misaligned_offset misaligned_offset.gguf 2
  "gguf-bad/misaligned_offset\\.gguf: tensor 'blk\\.0\\.attn_output\\.weight' has offset [0-9]+, not a multiple of the alignment 32")
gguf_inspect_test(cli_inspect_gguf_bad_utf8_token bad_utf8_token.gguf 2
  "gguf-bad/bad_utf8_token\\.gguf: vocabulary token 3 is not valid UTF-8")
gguf_inspect_test(cli_inspect_gguf_duplicate_key duplicate_key.gguf 2
  "gguf-bad/duplicate_key\\.gguf: duplicate metadata key 'llama\\.context_length'")
gguf_inspect_test(cli_inspect_gguf_bad_alignment bad_alignment.gguf 2
  "gguf-bad/bad_alignment\\.gguf: general\\.alignment = 3 is invalid \\(expected a power of two\\)")
gguf_inspect_test(cli_inspect_gguf_wrong_arch wrong_arch.gguf 2
  "gguf-bad/wrong_arch\\.gguf: architecture \"gpt2\" is not supported")
gguf_inspect_test(cli_inspect_gguf_vocab_mismatch vocab_mismatch.gguf 2
  "gguf-bad/vocab_mismatch\\.gguf: the vocabulary has 7 tokens but token_embd\\.weight has 8 rows")
gguf_inspect_test(cli_inspect_llama2c_truncated truncated.bin 2
  "gguf-bad/truncated\\.bin: truncated llama2\\.c checkpoint")
gguf_inspect_test(cli_inspect_llama2c_heads_not_dividing heads_not_dividing.bin 2
  "gguf-bad/heads_not_dividing\\.bin: inconsistent llama2\\.c header: dim 10 is not a multiple of n_heads 4")
gguf_inspect_test(cli_inspect_llama2c_negative_dim negative_dim.bin 2
  "gguf-bad/negative_dim\\.bin: invalid model shape: dim = -16")
gguf_inspect_test(cli_inspect_llama2c_wrong_size wrong_size.bin 2
  "gguf-bad/wrong_size\\.bin: llama2\\.c checkpoint size mismatch")

flexllm_cli_test(cli_inspect_gguf_stories 0
  "format +gguf.*dim +64.*layers +5.*kv heads +4.*vocabulary +sentencepiece, 512 tokens, bos 1, eos 2.*blk\\.4\\.ffn_norm\\.weight +F32 +64"
  inspect @DATA@/models/stories260K/stories260K.gguf)
flexllm_cli_test(cli_inspect_missing_file 2 "no-such-model\\.gguf: model file not found"
  inspect @TMP@/no-such-model.gguf)
flexllm_cli_test(cli_inspect_help 0 "usage: flexllm inspect PATH" inspect --help)

# synth: a 2-layer Llama 3.2 1B in F16 (about 770 MB), inspected and then
# deleted by the cleanup fixture.
flexllm_cli_test(cli_synth_1b_2l_f16 0
  "wrote .*synth-1b-2l\\.gguf: llama-3\\.2-1b shape, 2 layers, dim 2048, 384313344 parameters, F16 matrices"
  synth --arch llama-3.2-1b --layers 2 --type f16 -o @TMP@/synth-1b-2l.gguf)
flexllm_cli_test(cli_synth_1b_2l_inspect 0
  "dim +2048.*layers +2.*heads +32.*kv heads +8.*head dim +64.*ffn dim +8192.*vocab +128256.*context length +131072.*rope theta +500000.*rope freqs +from tensor rope_freqs.*tied embeddings +yes.*token_embd\\.weight +F16 +128256 x 2048 .*rope_freqs\\.weight +F32 +32 .*blk\\.1\\.attn_k\\.weight +F16 +512 x 2048 .*blk\\.1\\.ffn_down\\.weight +F16 +2048 x 8192 .*output_norm\\.weight +F32 +2048 "
  inspect @TMP@/synth-1b-2l.gguf)
add_test(NAME cli_synth_1b_2l_cleanup
         COMMAND ${CMAKE_COMMAND} -E rm -f ${CMAKE_CURRENT_BINARY_DIR}/synth-1b-2l.gguf)
set_tests_properties(cli_synth_1b_2l_f16 PROPERTIES FIXTURES_SETUP synth_1b)
set_tests_properties(cli_synth_1b_2l_inspect PROPERTIES FIXTURES_REQUIRED synth_1b)
set_tests_properties(cli_synth_1b_2l_cleanup PROPERTIES FIXTURES_CLEANUP synth_1b)

# A stories260K-shaped file with the llama2.c tokenizer embedded.
flexllm_cli_test(cli_synth_stories_tokenizer 0 "wrote .*synth-stories\\.gguf: stories260k shape, 5 layers"
  synth --arch stories260k --tokenizer @DATA@/models/stories260K/tok512.bin -o @TMP@/synth-stories.gguf)
flexllm_cli_test(cli_synth_stories_inspect 0
  "vocabulary +sentencepiece, 512 tokens, bos 1, eos 2.*blk\\.4\\.ffn_down\\.weight +F32 +64 x 172"
  inspect @TMP@/synth-stories.gguf)
add_test(NAME cli_synth_stories_cleanup
         COMMAND ${CMAKE_COMMAND} -E rm -f ${CMAKE_CURRENT_BINARY_DIR}/synth-stories.gguf)
set_tests_properties(cli_synth_stories_tokenizer PROPERTIES FIXTURES_SETUP synth_stories)
set_tests_properties(cli_synth_stories_inspect PROPERTIES FIXTURES_REQUIRED synth_stories)
set_tests_properties(cli_synth_stories_cleanup PROPERTIES FIXTURES_CLEANUP synth_stories)

flexllm_cli_test(cli_synth_help 0 "usage: flexllm synth --arch NAME" synth --help)
flexllm_cli_test(cli_synth_bad_type 2 "invalid value 'q5_0' for --type" synth --arch llama-3.2-1b --type q5_0 -o @TMP@/unused.gguf)
flexllm_cli_test(cli_synth_unknown_arch 2 "unknown --arch 'gpt-9'" synth --arch gpt-9 -o @TMP@/unused.gguf)
flexllm_cli_test(cli_synth_no_output 2 "-o OUT\\.gguf is required" synth --arch llama-3.2-1b)
flexllm_cli_test(cli_synth_q8_odd_rows 2
  "unused\\.gguf: Q8_0 weights need rows that are multiples of 32 values, but ffn_dim = 172"
  synth --arch stories260k --type q8_0 -o @TMP@/unused.gguf)
flexllm_cli_test(cli_synth_vocab_mismatch 2
  "the tokenizer has 512 tokens but the model vocabulary size is 100 \\(set --vocab 512\\)"
  synth --arch stories260k --vocab 100 --tokenizer @DATA@/models/stories260K/stories260K.gguf -o @TMP@/unused.gguf)
flexllm_cli_test(cli_synth_bad_heads 2 "heads 32 is not a multiple of kv-heads 5"
  synth --arch llama-3.2-1b --kv-heads 5 -o @TMP@/unused.gguf)

# synth --outlier-channels: the library test, the default file unchanged by
# --outlier-channels 0, and rejected values.
flexllm_unit_test(test_synth_outliers ${CMAKE_CURRENT_SOURCE_DIR}/test_synth_outliers.c)
flexllm_cli_test(cli_synth_outliers_default 0 "wrote .*synth-outliers-default\\.gguf: stories260k shape, 5 layers, dim 64, 260032 parameters, F32 matrices, seed 3[^,0-9]"
  synth --arch stories260k --seed 3 -o @TMP@/synth-outliers-default.gguf)
flexllm_cli_test(cli_synth_outliers_zero 0 "seed 3[^,0-9]"
  synth --arch stories260k --seed 3 --outlier-channels 0 --outlier-scale 7 -o @TMP@/synth-outliers-zero.gguf)
flexllm_cli_test(cli_synth_outliers_four 0 "seed 3, 4 outlier channels x 20"
  synth --arch stories260k --seed 3 --outlier-channels 4 -o @TMP@/synth-outliers-four.gguf)
add_test(NAME cli_synth_outliers_zero_same
         COMMAND ${CMAKE_COMMAND} -E compare_files ${CMAKE_CURRENT_BINARY_DIR}/synth-outliers-default.gguf
                 ${CMAKE_CURRENT_BINARY_DIR}/synth-outliers-zero.gguf)
# Fails when the outliers change nothing, so the comparison above can fail.
add_test(NAME cli_synth_outliers_four_differs
         COMMAND ${CMAKE_COMMAND} -E compare_files ${CMAKE_CURRENT_BINARY_DIR}/synth-outliers-default.gguf
                 ${CMAKE_CURRENT_BINARY_DIR}/synth-outliers-four.gguf)
set_tests_properties(cli_synth_outliers_four_differs PROPERTIES WILL_FAIL TRUE)
add_test(NAME cli_synth_outliers_cleanup
         COMMAND ${CMAKE_COMMAND} -E rm -f ${CMAKE_CURRENT_BINARY_DIR}/synth-outliers-default.gguf
                 ${CMAKE_CURRENT_BINARY_DIR}/synth-outliers-zero.gguf ${CMAKE_CURRENT_BINARY_DIR}/synth-outliers-four.gguf)
set_tests_properties(cli_synth_outliers_default cli_synth_outliers_zero cli_synth_outliers_four
                     PROPERTIES FIXTURES_SETUP synth_outliers)
set_tests_properties(cli_synth_outliers_zero_same cli_synth_outliers_four_differs
                     PROPERTIES FIXTURES_REQUIRED synth_outliers)
set_tests_properties(cli_synth_outliers_cleanup PROPERTIES FIXTURES_CLEANUP synth_outliers)
flexllm_cli_test(cli_synth_outliers_negative 2 "invalid value '-1' for --outlier-channels"
  synth --arch stories260k --outlier-channels -1 -o @TMP@/unused.gguf)
flexllm_cli_test(cli_synth_outliers_above_dim 2 "invalid value '65' for --outlier-channels: expected at most dim = 64"
  synth --arch stories260k --outlier-channels 65 -o @TMP@/unused.gguf)
flexllm_cli_test(cli_synth_outliers_not_number 2 "invalid value 'four' for --outlier-channels"
  synth --arch stories260k --outlier-channels four -o @TMP@/unused.gguf)
flexllm_cli_test(cli_synth_outliers_zero_scale 2 "invalid value '0' for --outlier-scale: expected a number above 0"
  synth --arch stories260k --outlier-channels 2 --outlier-scale 0 -o @TMP@/unused.gguf)
flexllm_cli_test(cli_synth_outliers_negative_scale 2 "invalid value '-3' for --outlier-scale"
  synth --arch stories260k --outlier-channels 2 --outlier-scale -3 -o @TMP@/unused.gguf)
flexllm_cli_test(cli_synth_outliers_bad_scale 2 "invalid value '2x' for --outlier-scale"
  synth --arch stories260k --outlier-channels 2 --outlier-scale 2x -o @TMP@/unused.gguf)
