#!/usr/bin/env bash
# Peak RSS of `vramplan validate` over a short and a long text (the embedded one repeated): memory
# should not grow with the text. Usage: tools/validate_ref/rss.sh [MODEL.gguf] [COPIES_SHORT] [COPIES_LONG]
set -euo pipefail
cd "$(dirname "$0")/../.."
model="${1:-${VRAMPLAN_SMOLLM2_GGUF:-$(tools/fetch_smollm2.sh)}}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for copies in "${2:-9}" "${3:-17}"; do
  python3 -c "import sys; t=open('data/validate/eval.txt').read(); sys.stdout.write((t+'\n\n')*$copies)" >"$tmp/text.txt"
  VRAMPLAN_CACHE="$tmp/cache" /usr/bin/time -v target/release/vramplan validate "$model" --text "$tmp/text.txt" \
    --types Q8_0 --ctx 256 --runs 1 --decode 4 --threads 2 --no-bandwidth --json >"$tmp/out.json" 2>"$tmp/time.txt"
  tokens=$(python3 -c "import json; print(json.load(open('$tmp/out.json'))['tokens'])")
  echo "$tokens tokens: $(grep 'Maximum resident' "$tmp/time.txt")"
done
