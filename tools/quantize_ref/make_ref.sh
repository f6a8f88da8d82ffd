#!/usr/bin/env bash
# Reproduce tests/data/quantize/<TYPE>.json: what llama.cpp's own llama-quantize writes for
# SmolLM2-135M-Instruct (the Q4_1 GGUF of tools/fetch_smollm2.sh), requantized to each type.
#
# Usage: tools/quantize_ref/make_ref.sh [WORK_DIR] [TYPE...]
#   WORK_DIR (default /tmp/vramplan-quantize-ref) receives the llama.cpp sources, the build and
#   the quantized files; nothing of llama.cpp is committed. Types default to the tested set.
#
# Steps:
#   1. llama.cpp sources: the copy vendored in the llama-cpp-python 0.3.36 sdist
#      (pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36), ggml 0.25.3,
#      llama.cpp commit 0c1e570. LLAMA_CPP_DIR=<checkout> uses another copy instead.
#   2. cmake Release build of the llama-quantize target only (CPU backend, no curl/OpenSSL;
#      ~10 min on 2 cores). The quantizers and dequantizers it runs live in ggml-base, which
#      ggml's CMake compiles without -march flags, so the result does not depend on the CPU.
#   3. llama-quantize --allow-requantize IN OUT TYPE for each type (IN is Q4_1, so every
#      tensor is dequantized to f32 and quantized again).
#   4. summarize.py records per type: whole-file SHA-256 and size, each tensor's name, type,
#      shape and data SHA-256 in file order, the metadata key order and the entries that differ
#      from the input. Needs gguf-py: pip install gguf==0.19.0 numpy.
#   5. Wall time of each llama-quantize run (median of 3) goes to WORK_DIR/timings.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO="$PWD"
WORK="${1:-/tmp/vramplan-quantize-ref}"
shift || true
TYPES=("$@")
[ ${#TYPES[@]} -gt 0 ] || TYPES=(Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q6_K Q5_K_M Q4_K_M Q3_K_M Q2_K IQ4_XS F16 BF16)
PY="${VRAMPLAN_PYTHON:-python3}"
mkdir -p "$WORK"

SDIST_VERSION=0.3.36
if [ -z "${LLAMA_CPP_DIR:-}" ]; then
  if [ ! -d "$WORK/llama_cpp_python-$SDIST_VERSION/vendor/llama.cpp" ]; then
    "$PY" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$SDIST_VERSION" -d "$WORK"
    tar xzf "$WORK/llama_cpp_python-$SDIST_VERSION.tar.gz" -C "$WORK"
  fi
  LLAMA_CPP_DIR="$WORK/llama_cpp_python-$SDIST_VERSION/vendor/llama.cpp"
fi
BIN="$WORK/build/bin/llama-quantize"
if [ ! -x "$BIN" ]; then
  command -v cmake >/dev/null || "$PY" -m pip install --quiet cmake ninja
  cmake -G Ninja -S "$LLAMA_CPP_DIR" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >"$WORK/configure.log"
  cmake --build "$WORK/build" --target llama-quantize -j"$(nproc)" >"$WORK/build.log"
fi
GGML_VERSION="$(sed -n 's/^-- ggml version: *//p' "$WORK/configure.log" | head -n1)"
GGML_COMMIT="$(sed -n 's/^-- ggml commit: *//p' "$WORK/configure.log" | head -n1)"
PROVENANCE="llama-cpp-python $SDIST_VERSION vendor/llama.cpp, ggml $GGML_VERSION, commit $GGML_COMMIT"

IN="$(tools/fetch_smollm2.sh)"
: >"$WORK/timings.txt"
for TYPE in "${TYPES[@]}"; do
  OUT="$WORK/SmolLM2-135M-Instruct.$TYPE.gguf"
  times=()
  for run in 1 2 3; do
    t0=$(date +%s.%N)
    "$BIN" --allow-requantize "$IN" "$OUT" "$TYPE" >"$WORK/quantize.$TYPE.log" 2>&1
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc)")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
  echo "$TYPE $median ${times[*]}" | tee -a "$WORK/timings.txt"
  "$PY" tools/quantize_ref/summarize.py "$IN" "$OUT" "$TYPE" \
    "llama-quantize --allow-requantize SmolLM2-135M-Instruct.Q4_1.gguf OUT.gguf $TYPE" \
    "$PROVENANCE" >"$REPO/tests/data/quantize/$TYPE.json"
done
