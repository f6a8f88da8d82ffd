#!/usr/bin/env bash
# CPU time per token of vramplan's engine and of llama.cpp (llama-bench) on the same files, one
# thread: a comparison that survives a loaded machine, where wall-clock tok/s does not (on a
# shared 2-core VM other jobs take the cores, and llama.cpp's threads spin at a barrier after
# every operation). Each figure is a difference of two runs' user+sys CPU seconds (decode: 160
# and 32 generated tokens; prefill: a 512- and a 64-token prompt) divided by the token
# difference, so loading, page-in and warm-up cancel. CPU time still counts the cycles a core
# stalls on memory, which other jobs' traffic inflates for both engines alike; with one thread
# neither engine spins. llama-bench runs with --no-warmup for prefill (its warm-up repeats the
# whole prompt), default otherwise. Runs alternate between the engines; medians over REPS.
#
# usage: tools/engine_ref/cpu_per_token.sh [WORKDIR]   (the files bench_speed.sh made)
#   env: LLAMA_BIN (default /work/llamacpp/build/bin)  REPS (default 3)
#        TYPES (default "Q4_0 Q4_K_M Q6_K Q8_0")  TESTS (default "tg pp")
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-/tmp/vramplan-bench}
LLAMA_BIN=${LLAMA_BIN:-/work/llamacpp/build/bin}
REPS=${REPS:-3}
TYPES=${TYPES:-"Q4_0 Q4_K_M Q6_K Q8_0"}
TESTS=${TESTS:-"tg pp"}
cargo bench --bench engine --no-run 2>/dev/null
BENCH=$(cargo bench --bench engine --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="engine" and m.get("executable"): print(m["executable"])')
cpu() { /usr/bin/time -f "%U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{print $1 + $2}'; }

RAW="$DIR/cpu_per_token.tsv"
: > "$RAW"
for rep in $(seq 1 "$REPS"); do
  for t in $TYPES; do
    f="$DIR/llama-1b-$t.gguf"
    for test in $TESTS; do
      if [ "$test" = tg ]; then small=32; big=160; else small=64; big=512; fi
      for eng in vramplan llama.cpp; do
        for n in $small $big; do
          if [ "$eng" = vramplan ]; then
            if [ "$test" = tg ]; then a=(-p 0 -n "$n"); else a=(-p "$n" -n 0); fi
            s=$(cpu "$BENCH" run -t 1 -r 1 "${a[@]}" "$f")
          else
            if [ "$test" = tg ]; then a=(-p 0 -n "$n"); else a=(-p "$n" -n 0 --no-warmup); fi
            s=$(cpu "$LLAMA_BIN/llama-bench" -m "$f" -t 1 -r 1 "${a[@]}")
          fi
          printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$t" "$test" "$eng" "$n" "$s" \
            "$(cut -d ' ' -f 1 /proc/loadavg)" >> "$RAW"
        done
      done
      echo "rep $rep/$REPS $t $test done (load average $(cut -d ' ' -f 1-3 /proc/loadavg))" >&2
    done
  done
done

python3 - "$RAW" <<'PY'
import collections, statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
cpu = {}
loads = []
for rep, t, test, eng, n, s, load in rows:
    cpu[(rep, t, test, eng, int(n))] = float(s)
    loads.append(float(load))
per = collections.defaultdict(list)
for (rep, t, test, eng, n), s in cpu.items():
    small, big = (32, 160) if test == "tg" else (64, 512)
    if n == big and (rep, t, test, eng, small) in cpu:
        per[(t, test, eng)].append(1000 * (s - cpu[(rep, t, test, eng, small)]) / (big - small))
print("| model | test | llama.cpp CPU ms/token (median, min-max) | vramplan CPU ms/token | llama.cpp / vramplan |")
print("|---|---|---|---|---|")
for t in dict.fromkeys(k[0] for k in per):
    for test in ("tg", "pp"):
        l, v = per.get((t, test, "llama.cpp")), per.get((t, test, "vramplan"))
        if not l or not v:
            continue
        f = lambda x: f"{statistics.median(x):.1f} ({min(x):.1f}-{max(x):.1f}, n={len(x)})"
        print(f"| llama-1b-{t} | {test} | {f(l)} | {f(v)} | {statistics.median(l) / statistics.median(v):.2f}x |")
print(f"\nLoad average (1 min) during the runs: median {statistics.median(loads):.1f}, "
      f"{min(loads):.1f}-{max(loads):.1f}")
PY
