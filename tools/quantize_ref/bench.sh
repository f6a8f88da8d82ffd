#!/usr/bin/env bash
# `vramplan quantize` against llama-quantize on the same F16 (or BF16/F32) GGUF file: per type and
# thread count, both tools run alternately (which one goes first alternates too), REPS times each;
# prints the median wall and CPU (user + system) time with min-max, the peak RSS, and whether the
# two outputs are byte-identical (`cmp`, first run of each type).
#
# Usage: tools/quantize_ref/bench.sh SRC.gguf [WORK_DIR]
#   TYPES="Q4_K_M Q6_K Q8_0 IQ4_XS"  file types (default: the four of issue 15)
#   THREADS="2"                      thread counts (the last argument of llama-quantize, --threads)
#   REPS=3                           runs per tool, type and thread count
#   LLAMA_QUANTIZE=...               default /work/llamacpp/build/bin/llama-quantize, else PATH
#   VRAMPLAN=...                     default target/release/vramplan (built if missing)
# WORK_DIR (default /tmp/vramplan-quantize-bench) receives the outputs, deleted after each type.
# Needs GNU time (/usr/bin/time). CPU time is the robust figure on a shared machine; the load
# average is printed before and after each type.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC="${1:?usage: tools/quantize_ref/bench.sh SRC.gguf [WORK_DIR]}"
WORK="${2:-/tmp/vramplan-quantize-bench}"
TYPES="${TYPES:-Q4_K_M Q6_K Q8_0 IQ4_XS}"
THREADS="${THREADS:-2}"
REPS="${REPS:-3}"
LQ="${LLAMA_QUANTIZE:-/work/llamacpp/build/bin/llama-quantize}"
[ -x "$LQ" ] || LQ="$(command -v llama-quantize)" || { echo "llama-quantize not found (set LLAMA_QUANTIZE)" >&2; exit 2; }
VQ="${VRAMPLAN:-$PWD/target/release/vramplan}"
[ -x "$VQ" ] || cargo build --release --quiet
mkdir -p "$WORK"
RAW="$WORK/raw.tsv"
: >"$RAW"

load() { cut -d' ' -f1-3 /proc/loadavg; }

# run TOOL TYPE THREADS OUT: one timed run, appends "tool type threads wall user sys rss" to RAW.
run() {
  local tool=$1 type=$2 nt=$3 out=$4 t="$WORK/time.txt"
  rm -f "$out"
  if [ "$tool" = llama-quantize ]; then
    /usr/bin/time -f "%e %U %S %M" -o "$t" "$LQ" "$SRC" "$out" "$type" "$nt" >"$WORK/$tool.log" 2>&1
  else
    /usr/bin/time -f "%e %U %S %M" -o "$t" "$VQ" quantize --threads "$nt" --force -t "$type" \
      "$SRC" "$out" >"$WORK/$tool.log" 2>&1
  fi
  echo "$tool $type $nt $(tail -n1 "$t")" >>"$RAW"
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# source $SRC ($(stat -c %s "$SRC") bytes); llama-quantize $LQ; vramplan $VQ"
for type in $TYPES; do
  for nt in $THREADS; do
    echo "# $type, $nt threads: load before $(load)"
    for rep in $(seq 1 "$REPS"); do
      if [ $((rep % 2)) -eq 1 ]; then order="llama-quantize vramplan"; else order="vramplan llama-quantize"; fi
      for tool in $order; do run "$tool" "$type" "$nt" "$WORK/$tool.gguf"; done
      if [ "$rep" -eq 1 ]; then
        if cmp -s "$WORK/llama-quantize.gguf" "$WORK/vramplan.gguf"; then same=yes; else same=NO; fi
        echo "$type $nt identical $same" >>"$WORK/identical.txt.$$"
      fi
    done
    rm -f "$WORK/llama-quantize.gguf" "$WORK/vramplan.gguf"
    echo "# $type, $nt threads: load after $(load)"
  done
done

python3 - "$RAW" "$WORK/identical.txt.$$" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
same = {tuple(l.split()[:2]): l.split()[3] for l in open(sys.argv[2])}
def fmt(v):
    return f"{statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})"
print("| type | threads | tool | wall s, median (min-max) | CPU s (user+sys) | peak RSS MB | runs | byte-identical |")
print("|---|---|---|---|---|---|---|---|")
keys = []
for r in rows:
    if (r[1], r[2]) not in keys:
        keys.append((r[1], r[2]))
for ty, nt in keys:
    med = {}
    for tool in ("llama-quantize", "vramplan"):
        rs = [r for r in rows if r[0] == tool and r[1] == ty and r[2] == nt]
        wall = [float(r[3]) for r in rs]
        cpu = [float(r[4]) + float(r[5]) for r in rs]
        rss = max(int(r[6]) for r in rs) / 1024
        med[tool] = (statistics.median(wall), statistics.median(cpu))
        print(f"| {ty} | {nt} | {tool} | {fmt(wall)} | {fmt(cpu)} | {rss:.0f} | {len(rs)} | {same.get((ty, nt), '?')} |")
    lw, lc = med["llama-quantize"]
    vw, vc = med["vramplan"]
    print(f"| {ty} | {nt} | speed-up | {lw / vw:.2f}x | {lc / vc:.2f}x | | | |")
EOF
rm -f "$WORK/identical.txt.$$"
