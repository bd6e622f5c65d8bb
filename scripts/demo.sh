#!/usr/bin/env bash
# Installs the dependencies, builds FlexLLM and runs it on the real
# stories260K model: greedy generation, then perplexity on TinyStories.
# The data folder is $FLEXLLM_DATA, by default ../shared/data.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${FLEXLLM_DATA:-$root/../shared/data}
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$(nproc)" >/dev/null
flexllm="$root/build/flexllm"
model="$data/models/stories260K/stories260K.bin"
tokenizer="$data/models/stories260K/tok512.bin"

echo "== flexllm generate (greedy, 256 tokens from BOS) =="
"$flexllm" generate --model "$model" --tokenizer "$tokenizer" -n 256 --temperature 0
echo
echo "== flexllm generate (GGUF copy, sampled, prompt) =="
"$flexllm" generate --model "$data/models/stories260K/stories260K.gguf" --prompt "Tom had a red kite" -n 80 --seed 1
echo
echo "== flexllm ppl (llama-perplexity method, first 100 windows of 512 tokens) =="
"$flexllm" ppl --model "$model" --tokenizer "$tokenizer" \
  --text "$data/text/tinystories/tinystories_valid_first1000_clean.txt" \
  --ctx 512 --method llamacpp --max-windows 100
