# Llama 3 byte-level BPE: Meta's tiktoken rank file against reference ids,
# GGUF-style merge lists, tokenizer.json, chat template, malformed files.
if(PCRE2_FOUND)
  flexllm_unit_test(test_llama3_tokenizer ${CMAKE_CURRENT_SOURCE_DIR}/test_llama3_tokenizer.c)
  if(CJSON_FOUND)
    flexllm_unit_test(test_hf_tokenizer_json ${CMAKE_CURRENT_SOURCE_DIR}/test_hf_tokenizer_json.c)
  endif()
endif()
