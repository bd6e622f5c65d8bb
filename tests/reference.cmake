# Float reference model, SentencePiece tokenizer, sampler and perplexity.
flexllm_unit_test(test_ops test_ops.c)
flexllm_unit_test(test_sampler test_sampler.c)
flexllm_unit_test(test_perplexity_windows test_perplexity_windows.c)
flexllm_unit_test(test_spm_tokenizer test_spm_tokenizer.c)
flexllm_unit_test(test_stories_greedy test_stories_greedy.c)
# Full-file perplexity takes about a minute in a release build.
flexllm_unit_test(test_stories_ppl test_stories_ppl.c slow)

set(stories_bin "@DATA@/models/stories260K/stories260K.bin")
set(stories_tok "@DATA@/models/stories260K/tok512.bin")
flexllm_cli_test(cli_generate_greedy 0 "Once upon a time, there was a little girl named Lily"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} -n 20 --temperature 0)
flexllm_cli_test(cli_generate_prompt 0 "^One day"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} --prompt "One day" -n 10 --seed 7)
flexllm_cli_test(cli_generate_help 0 "usage: flexllm generate" generate --help)
flexllm_cli_test(cli_generate_no_model 2 "missing --model" generate -n 5)
flexllm_cli_test(cli_generate_bad_n 2 "invalid value 'ten' for -n" generate --model ${stories_bin} -n ten)
flexllm_cli_test(cli_generate_bad_top_p 2 "invalid value '1.5' for --top-p" generate --model ${stories_bin} --top-p 1.5)
flexllm_cli_test(cli_generate_unknown_option 2 "unknown option '--frobnicate'" generate --frobnicate)
flexllm_cli_test(cli_generate_needs_tokenizer 2 "has no vocabulary.*--tokenizer" generate --model ${stories_bin})
flexllm_cli_test(cli_generate_missing_model 2 "no-such.bin: model file not found" generate --model @TMP@/no-such.bin)
flexllm_cli_test(cli_generate_prompt_too_long 2 "prompt has [0-9]+ tokens but the context holds 4"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} --prompt "a long prompt that does not fit" --context 4)
flexllm_cli_test(cli_ppl_bad_method 2 "invalid value 'fast' for --method"
                 ppl --model ${stories_bin} --text x --ctx 64 --method fast)
flexllm_cli_test(cli_ppl_missing_ctx 2 "missing --ctx" ppl --model ${stories_bin} --text x)
flexllm_cli_test(cli_ppl_missing_text 2 "no-such.txt: cannot open"
                 ppl --model ${stories_bin} --tokenizer ${stories_tok} --text @TMP@/no-such.txt --ctx 64)
flexllm_cli_test(cli_ppl_ctx_too_long 2 "--ctx 4096 exceeds the model's context length 512"
                 ppl --model ${stories_bin} --tokenizer ${stories_tok} --text @DATA@/text/tinystories/tinystories_valid_first1000_clean.txt --ctx 4096)
flexllm_cli_test(cli_ppl_two_windows 0 "windows  2.*ppl      [0-9.]+"
                 ppl --model ${stories_bin} --tokenizer ${stories_tok} --text @DATA@/text/tinystories/tinystories_valid_first1000_clean.txt --ctx 128 --max-windows 2)
flexllm_cli_test(cli_ppl_json 0 "\"method\": \"llamacpp\".*\"windows\": 3"
                 ppl --model ${stories_bin} --tokenizer ${stories_tok} --text @DATA@/text/tinystories/tinystories_valid_first1000_clean.txt --ctx 64 --max-windows 3 --method llamacpp --json)
flexllm_cli_test_stdin(cli_tokenize_decode_bad_id 2 "invalid token id '99999'" "1 403 99999"
                       tokenize --tokenizer ${stories_tok} --decode)
flexllm_cli_test_stdin(cli_tokenize_decode 0 "^Once upon a time$" "1 403 407 261 378"
                       tokenize --tokenizer ${stories_tok} --decode)
flexllm_cli_test_stdin(cli_tokenize_encode 0 "^1\n403\n407\n261\n378\n$" "Once upon a time"
                       tokenize --tokenizer ${stories_tok} --bos)
flexllm_cli_test(cli_tokenize_needs_one_source 2 "exactly one of --tokenizer PATH and --model PATH" tokenize)
flexllm_cli_test(cli_generate_model_is_tokenizer 2 "not a recognized model file"
                 generate --model ${stories_tok} --tokenizer ${stories_tok})
flexllm_cli_test(cli_generate_sentencepiece_model 2 "SentencePiece .model .protobuf. files are not supported"
                 generate --model ${stories_bin} --tokenizer @DATA@/models/stories260K/tok512.model)
flexllm_cli_test(cli_generate_stats_needs_accel 2 "--stats and --config describe the accelerator engines"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} --stats)
flexllm_cli_test(cli_generate_context_too_long 2 "--context 4096 exceeds the model's context length 512"
                 generate --model ${stories_bin} --tokenizer ${stories_tok} --context 4096)
flexllm_cli_test(cli_ppl_binary_text 2 "not UTF-8 text .invalid byte at offset"
                 ppl --model ${stories_bin} --tokenizer ${stories_tok} --text ${stories_bin} --ctx 64)

# The top-level command line: version, unknown commands.
flexllm_cli_test(cli_version 0 "^flexllm [0-9]+\\.[0-9]+\\.[0-9]+" --version)
flexllm_cli_test(cli_unknown_command 2 "unknown command 'frobnicate'" frobnicate)
# Architecture names ignore case.
flexllm_cli_test(cli_synth_arch_case 0 "wrote .*arch-case.gguf: Stories260K shape, 1 layer, dim 64"
                 synth --arch Stories260K --layers 1 -o @TMP@/arch-case.gguf)
