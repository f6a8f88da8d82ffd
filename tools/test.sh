#!/usr/bin/env bash
# The project's test command (README "Tests"): installs the Python oracle the interop tests use,
# fetches the real SmolLM2-135M GGUF model, then runs every test. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check "gguf==0.19.0" "numpy<3"
# A real headless browser renders validate's HTML report in tests/validate.rs (Debian's chromium).
# Installed here when missing; if it cannot be (no root, no apt, no network) the test says so and
# fails, unless VRAMPLAN_SKIP_BROWSER=1 is set to skip that one check knowingly.
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
  if command -v apt-get >/dev/null 2>&1; then
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium; } \
      || echo "tools/test.sh: could not install chromium (tests/validate.rs will say so)" >&2
  fi
fi
if [[ -x tools/fetch_smollm2.sh ]]; then
  VRAMPLAN_SMOLLM2_GGUF="$(tools/fetch_smollm2.sh)"
  export VRAMPLAN_SMOLLM2_GGUF
fi
cargo test --release --all-targets "$@"
