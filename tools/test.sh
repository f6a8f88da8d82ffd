#!/usr/bin/env bash
# The project's test command (README "Tests"): installs the Python oracle the interop tests use,
# fetches the real SmolLM2-135M GGUF model, then runs every test. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check "gguf==0.19.0" "numpy<3"
if [[ -x tools/fetch_smollm2.sh ]]; then
  VRAMPLAN_SMOLLM2_GGUF="$(tools/fetch_smollm2.sh)"
  export VRAMPLAN_SMOLLM2_GGUF
fi
cargo test --release --all-targets "$@"
