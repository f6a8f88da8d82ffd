#!/usr/bin/env bash
# Build llama.cpp's ggml-base (the library that holds ggml_quantize_chunk, the reference quantizers
# and the dequantizers) as a shared library for gen.py to call through ctypes.
#
# Usage: tools/golden/build_oracle.sh LLAMA_CPP_DIR OUT_DIR
#   LLAMA_CPP_DIR: a llama.cpp checkout, e.g. the copy vendored in the llama-cpp-python sdist:
#     pip download --no-deps --no-binary :all: llama-cpp-python   # (llama_cpp_python-0.3.36.tar.gz)
#     tar xzf llama_cpp_python-*.tar.gz; LLAMA_CPP_DIR=llama_cpp_python-*/vendor/llama.cpp
#
# Flags: ggml's CMake compiles ggml-base without -march flags (only the ggml-cpu backend variants get
# them), so the canonical build has no FMA contraction; -ffp-contract=off makes that explicit, since
# bit-exactness of the quantizers depends on the exact f32 operation order.
set -euo pipefail
SRC="$(cd "$1" && pwd)/ggml"
OUT="$2"
mkdir -p "$OUT/obj"
cat > "$OUT/ggml-version.h" <<'H'
#pragma once
#define GGML_VERSION "vramplan-oracle"
#define GGML_COMMIT "unknown"
H
CFLAGS=(-O2 -fPIC -ffp-contract=off -DNDEBUG -D_GNU_SOURCE -I"$SRC/include" -I"$SRC/src" -I"$OUT")
for f in ggml.c ggml-alloc.c ggml-quants.c; do
  gcc -std=gnu11 "${CFLAGS[@]}" -c "$SRC/src/$f" -o "$OUT/obj/$f.o"
done
for f in ggml.cpp ggml-backend.cpp ggml-backend-meta.cpp ggml-opt.cpp ggml-threading.cpp gguf.cpp; do
  g++ -std=gnu++17 "${CFLAGS[@]}" -c "$SRC/src/$f" -o "$OUT/obj/$f.o"
done
g++ -shared -Wl,--no-undefined -o "$OUT/libggml-base.so" "$OUT"/obj/*.o -lm -lpthread
echo "built $OUT/libggml-base.so"
