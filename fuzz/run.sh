#!/usr/bin/env sh
# Run one fuzz target for a while (default 600 s), single job, with the allocation limits.
#   fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags...]
# Stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags (ASan, sanitizer coverage).
# New inputs go to corpus-work/TARGET (ignored); corpus/TARGET holds the committed seeds and
# corpus-min/TARGET the committed minimized corpus of earlier runs.
set -eu
cd "$(dirname "$0")"
target="$1"
secs="${2:-600}"
shift; [ $# -gt 0 ] && shift
case "$target" in
    gguf_parse) dict=gguf.dict ;;
    safetensors_header) dict=safetensors.dict ;;
    hf_config) dict=json.dict ;;
    catalog_toml) dict=toml.dict ;;
    engine_load|quantize_plan) dict=gguf.dict ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac
mkdir -p "corpus-work/$target" "corpus-min/$target"
asan="quarantine_size_mb=16"
# engine_load builds a rayon pool per input; a dropped pool does not join its threads, which
# LeakSanitizer reports at exit as a leak (it is not one of vramplan's).
[ "$target" = engine_load ] && asan="$asan:detect_leaks=0"
ASAN_OPTIONS="${ASAN_OPTIONS:-$asan}" RUSTC_BOOTSTRAP=1 \
    cargo fuzz run -O -a "$target" "corpus-work/$target" "corpus/$target" "corpus-min/$target" -- \
    -dict="dicts/$dict" -max_total_time="$secs" -rss_limit_mb=512 -malloc_limit_mb=256 \
    -max_len=65536 -timeout=10 -print_final_stats=1 "$@"
