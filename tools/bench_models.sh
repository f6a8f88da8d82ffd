#!/usr/bin/env bash
# Times `vramplan models --gpu rtx-4090 --ctx 8k` (the whole catalogue, best quantization each):
# median wall and CPU seconds over N runs (default 15). Usage: tools/bench_models.sh [N] [extra args]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-15}
shift || true
cargo build --release --quiet
bin=target/release/vramplan
rows=$("$bin" models --gpu rtx-4090 --ctx 8k --json "$@" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["models"]))')
for _ in $(seq "$n"); do
  /usr/bin/time -f "%e %U %S" "$bin" models --gpu rtx-4090 --ctx 8k "$@" 2>&1 >/dev/null | tail -1
done | python3 -c '
import statistics, sys
w, c = [], []
for line in sys.stdin:
    e, u, s = map(float, line.split())
    w.append(e); c.append(u + s)
print(f"models listed: '"$rows"'; runs: {len(w)}; median wall {statistics.median(w)*1000:.0f} ms, median CPU {statistics.median(c)*1000:.0f} ms")
'
echo "machine: $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg)"
