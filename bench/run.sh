#!/usr/bin/env bash
# Measures FlexLLM beside llama.cpp in one run and prints the tables of
# docs/benchmarks.md. Needs a llama.cpp build you made yourself:
#   LLAMA_CPP_BIN=/path/to/llama.cpp/build/bin bench/run.sh
# Writes models to $BENCH_DIR (default /tmp/flexllm-bench, about 9 GB).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${FLEXLLM_DATA:-$root/../shared/data}
bin=${LLAMA_CPP_BIN:?set LLAMA_CPP_BIN to the folder holding llama-bench and llama-quantize}
work=${BENCH_DIR:-/tmp/flexllm-bench}
build=${FLEXLLM_BUILD:-$root/build}
threads=${THREADS:-$(nproc)}
mkdir -p "$work"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$threads" --target flexllm-cli flexllm-bench >/dev/null
flexllm="$build/flexllm"
fbench="$build/bench/flexllm-bench"

# llama-bench: prints "pp<P>" and "tg<N>" rows; keep the tokens/s column.
llama_rate() { # model test-name(pp512|tg32) args...
  local model=$1 test=$2; shift 2
  "$bin/llama-bench" -m "$model" -t "$threads" -r 3 "$@" -o csv 2>/dev/null |
    awk -F, -v t="$test" 'NR==1{for(i=1;i<=NF;i++){gsub(/"/,"",$i);col[$i]=i}; next}
      {gsub(/"/,""); n=$col["n_prompt"]; g=$col["n_gen"];
       name=(g>0)?"tg" g:"pp" n; if(name==t) printf "%.2f", $col["avg_ts"]}'
}
flex_rate() { # test-name args...
  local test=$1; shift
  OMP_NUM_THREADS=$threads "$fbench" "$@" | awk -v t="$test" '$3==t{print $4}'
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $threads threads"
echo "llama.cpp: build $("$bin/llama-bench" -m "$data/models/stories260K/stories260K.gguf" -p 0 -n 1 -r 1 -o csv 2>/dev/null | awk -F, 'NR==1{for(i=1;i<=NF;i++){gsub(/"/,"",$i);c[$i]=i}} NR==2{gsub(/"/,""); print $c["build_commit"] " (" $c["build_number"] ")"}')"
echo

# stories260K: the float reference against llama.cpp F32 and F16.
s_gguf="$data/models/stories260K/stories260K.gguf"
"$bin/llama-quantize" "$s_gguf" "$work/stories260K-f16.gguf" F16 >/dev/null 2>&1
echo "| model | runtime | pp128 tokens/s | tg64 tokens/s |"
echo "|---|---|---:|---:|"
echo "| stories260K | FlexLLM reference (F32) | $(flex_rate pp128 --model "$s_gguf" -p 128 -n 64) | $(flex_rate tg64 --model "$s_gguf" -p 128 -n 64) |"
echo "| stories260K | llama.cpp F32 | $(llama_rate "$s_gguf" pp128 -p 128 -n 0) | $(llama_rate "$s_gguf" tg64 -p 0 -n 64) |"
echo "| stories260K | llama.cpp F16 | $(llama_rate "$work/stories260K-f16.gguf" pp128 -p 128 -n 0) | $(llama_rate "$work/stories260K-f16.gguf" tg64 -p 0 -n 64) |"

# Llama-3.2-1B shape, 16 layers, pseudo-random weights.
m32="$work/synth-1b-f32.gguf"
[ -f "$m32" ] || "$flexllm" synth --arch llama-3.2-1b --tokenizer "$data/tokenizers/llama3/tokenizer.model" -o "$m32" >/dev/null
[ -f "$work/synth-1b-f16.gguf" ] || "$bin/llama-quantize" "$m32" "$work/synth-1b-f16.gguf" F16 >/dev/null 2>&1
[ -f "$work/synth-1b-q4_0.gguf" ] || "$bin/llama-quantize" "$m32" "$work/synth-1b-q4_0.gguf" Q4_0 >/dev/null 2>&1
echo
echo "| model | runtime | pp128 tokens/s | tg16 tokens/s |"
echo "|---|---|---:|---:|"
echo "| synth llama-3.2-1b | FlexLLM reference (F32) | $(flex_rate pp128 --model "$m32" -p 128 -n 16 -r 1) | $(flex_rate tg16 --model "$m32" -p 128 -n 16 -r 1) |"
echo "| synth llama-3.2-1b | llama.cpp F32 | $(llama_rate "$m32" pp128 -p 128 -n 0) | $(llama_rate "$m32" tg16 -p 0 -n 16) |"
echo "| synth llama-3.2-1b | llama.cpp F16 | $(llama_rate "$work/synth-1b-f16.gguf" pp128 -p 128 -n 0) | $(llama_rate "$work/synth-1b-f16.gguf" tg16 -p 0 -n 16) |"

# The decode engine simulation (W4A4, u280-ref) against llama.cpp Q4_0.
q="$work/synth-1b-w4a4.safetensors"
[ -f "$q" ] || "$flexllm" quantize --model "$m32" --recipe w4a4-rtn --calib "$data/text/wikitext-2/wiki.test.raw" \
  --calib-tokens 256 -o "$q" >/dev/null
echo
echo "| model | runtime | tg16 tokens/s |"
echo "|---|---|---:|"
echo "| synth llama-3.2-1b | FlexLLM decode engine simulation, w4a4-rtn, u280-ref | $(flex_rate tg16 --model "$m32" --engine accel --quantized "$q" -p 16 -n 16 -r 2) |"
echo "| synth llama-3.2-1b | llama.cpp Q4_0 | $(llama_rate "$work/synth-1b-q4_0.gguf" tg16 -p 0 -n 16) |"
