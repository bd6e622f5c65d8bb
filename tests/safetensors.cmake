# Hugging Face safetensors checkpoints: parser, config.json, RoPE layout,
# round trips of stories260K, and rejection of malformed checkpoints.
flexllm_unit_test(test_safetensors_parse ${CMAKE_CURRENT_SOURCE_DIR}/test_safetensors_parse.c)
flexllm_unit_test(test_safetensors_hf_config ${CMAKE_CURRENT_SOURCE_DIR}/test_safetensors_hf_config.c)
flexllm_unit_test(test_safetensors_rope ${CMAKE_CURRENT_SOURCE_DIR}/test_safetensors_rope.c)
flexllm_unit_test(test_safetensors_stories ${CMAKE_CURRENT_SOURCE_DIR}/test_safetensors_stories.c)
set_tests_properties(test_safetensors_stories PROPERTIES FIXTURES_SETUP safetensors_stories)

# test_safetensors_bad writes one malformed checkpoint per case under
# safetensors-bad/ in the test folder; the CLI tests below inspect them.
flexllm_unit_test(test_safetensors_bad ${CMAKE_CURRENT_SOURCE_DIR}/test_safetensors_bad.c)
set_tests_properties(test_safetensors_bad PROPERTIES FIXTURES_SETUP safetensors_bad)

# The logits check needs the reference forward pass.
if(EXISTS ${CMAKE_SOURCE_DIR}/src/reference/forward.c)
  flexllm_unit_test(test_safetensors_logits ${CMAKE_CURRENT_SOURCE_DIR}/test_safetensors_logits.c)
endif()

# flexllm_safetensors_cli_test(NAME FIXTURE EXPECTED_EXIT PATTERN ARGS...)
function(flexllm_safetensors_cli_test name fixture expected_exit pattern)
  flexllm_cli_test(${name} ${expected_exit} "${pattern}" ${ARGN})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED ${fixture})
endfunction()

set(bad "@TMP@/safetensors-bad")
flexllm_safetensors_cli_test(cli_inspect_safetensors_f32 safetensors_stories 0
  "format +safetensors.*model\\.layers\\.4\\.mlp\\.down_proj\\.weight +F32"
  inspect @TMP@/safetensors-stories/f32)
flexllm_safetensors_cli_test(cli_inspect_safetensors_sharded safetensors_stories 0
  "format +safetensors.*tied embeddings +no.*lm_head\\.weight +BF16"
  inspect @TMP@/safetensors-stories/untied-sharded-bf16/model.safetensors.index.json)
flexllm_safetensors_cli_test(cli_inspect_safetensors_header_past_end safetensors_bad 2
  "header-past-end/model\\.safetensors: safetensors header length 4096 runs past the end"
  inspect ${bad}/header-past-end)
flexllm_safetensors_cli_test(cli_inspect_safetensors_header_absurd safetensors_bad 2
  "header-absurd/model\\.safetensors: safetensors header length [0-9]+ exceeds the limit"
  inspect ${bad}/header-absurd/model.safetensors)
flexllm_safetensors_cli_test(cli_inspect_safetensors_invalid_json safetensors_bad 2
  "invalid-json/model\\.safetensors: invalid JSON in the safetensors header"
  inspect ${bad}/invalid-json)
flexllm_safetensors_cli_test(cli_inspect_safetensors_offsets_past_end safetensors_bad 2
  "offsets-past-end/model\\.safetensors: tensor model\\.norm\\.weight: data_offsets .0, 4096. run past the end"
  inspect ${bad}/offsets-past-end)
flexllm_safetensors_cli_test(cli_inspect_safetensors_overlap safetensors_bad 2
  "overlap/model\\.safetensors: tensor .* overlap tensor model\\.norm\\.weight"
  inspect ${bad}/overlap)
flexllm_safetensors_cli_test(cli_inspect_safetensors_size_mismatch safetensors_bad 2
  "size-mismatch/model\\.safetensors: tensor model\\.embed_tokens\\.weight: .* hold 512 bytes, but F32 shape .5, 8. needs 160 bytes"
  inspect ${bad}/size-mismatch)
flexllm_safetensors_cli_test(cli_inspect_safetensors_unknown_dtype safetensors_bad 2
  "unknown-dtype/model\\.safetensors: tensor model\\.norm\\.weight: unknown dtype .Q9_X."
  inspect ${bad}/unknown-dtype)
flexllm_safetensors_cli_test(cli_inspect_safetensors_unsupported_dtype safetensors_bad 2
  "unsupported-dtype/model\\.safetensors: tensor model\\.layers\\.0\\.self_attn\\.k_proj\\.weight has dtype F8_E4M3"
  inspect ${bad}/unsupported-dtype)
flexllm_safetensors_cli_test(cli_inspect_safetensors_truncated safetensors_bad 2
  "truncated/model\\.safetensors: tensor .* run past the end of the data section"
  inspect ${bad}/truncated)
flexllm_safetensors_cli_test(cli_inspect_safetensors_no_hidden_size safetensors_bad 2
  "config-no-hidden-size/config\\.json: missing required key .hidden_size."
  inspect ${bad}/config-no-hidden-size)
flexllm_safetensors_cli_test(cli_inspect_safetensors_mistral safetensors_bad 2
  "config-mistral/config\\.json: unsupported architecture MistralForCausalLM"
  inspect ${bad}/config-mistral)
flexllm_safetensors_cli_test(cli_inspect_safetensors_heads_not_dividing safetensors_bad 2
  "config-heads-not-dividing/config\\.json: num_attention_heads = 3 does not divide hidden_size = 8"
  inspect ${bad}/config-heads-not-dividing)
flexllm_safetensors_cli_test(cli_inspect_safetensors_no_config safetensors_bad 2
  "no-config/config\\.json: config\\.json not found"
  inspect ${bad}/no-config/model.safetensors)
flexllm_safetensors_cli_test(cli_inspect_safetensors_tensor_missing safetensors_bad 2
  "tensor-missing/model\\.safetensors: tensor model\\.layers\\.0\\.mlp\\.up_proj\\.weight .shape .12, 8.. not found"
  inspect ${bad}/tensor-missing)
flexllm_safetensors_cli_test(cli_inspect_safetensors_wrong_shape safetensors_bad 2
  "wrong-shape/model\\.safetensors: tensor model\\.layers\\.0\\.self_attn\\.k_proj\\.weight has shape .8, 4., but .*config\\.json implies .4, 8."
  inspect ${bad}/wrong-shape)
flexllm_safetensors_cli_test(cli_inspect_safetensors_extra_layer safetensors_bad 2
  "extra-layer/model\\.safetensors: tensor model\\.layers\\.1\\.mlp\\.up_proj\\.weight is beyond the 1 layers"
  inspect ${bad}/extra-layer)
flexllm_safetensors_cli_test(cli_inspect_safetensors_unexpected_tensor safetensors_bad 2
  "unexpected-tensor/model\\.safetensors: unexpected tensor model\\.layers\\.0\\.self_attn\\.q_proj\\.bias"
  inspect ${bad}/unexpected-tensor)
flexllm_safetensors_cli_test(cli_inspect_safetensors_missing_shard safetensors_bad 2
  "index-missing-shard/model\\.safetensors\\.index\\.json: shard .*model-00002-of-00002\\.safetensors listed in the weight_map was not found"
  inspect ${bad}/index-missing-shard)
flexllm_safetensors_cli_test(cli_inspect_safetensors_wrong_shard safetensors_bad 2
  "index-wrong-shard/model\\.safetensors\\.index\\.json: weight_map puts tensor model\\.norm\\.weight in"
  inspect ${bad}/index-wrong-shard/model.safetensors.index.json)
