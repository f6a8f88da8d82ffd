#!/usr/bin/env python3
"""Read a GGUF file with gguf-py's GGUFReader and print a JSON summary on stdout.

Used by vramplan's interop tests (tests/gguf_interop.rs, tests/gguf_real.rs) as the reference view
of a file: metadata keys with their gguf-py types and values, and every tensor's name, shape (ggml
order), type, element count, byte count, absolute data offset and CRC-32 of its bytes.

Nested arrays come back flattened, as gguf-py's ReaderField.contents() returns them. Non-finite
floats are written as the strings "nan", "inf", "-inf" so the output stays strict JSON.

Usage: python3 tools/gguf_interop/check_read.py FILE [--no-crc]
Requires: pip install gguf (tested with gguf 0.19.0)
"""

import json
import math
import sys
import zlib

try:
    import gguf
except ImportError:
    sys.stderr.write("the `gguf` Python package is missing: pip install gguf (gguf-py 0.19.0)\n")
    sys.exit(3)


def clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, list):
        return [clean(x) for x in v]
    return v


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.stderr.write("usage: check_read.py FILE [--no-crc]\n")
        return 2
    want_crc = "--no-crc" not in sys.argv
    reader = gguf.GGUFReader(args[0])
    kvs = []
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        kvs.append({
            "key": key,
            "types": [t.name for t in field.types],
            "value": clean(field.contents()),
        })
    tensors = []
    for t in reader.tensors:
        entry = {
            "name": t.name,
            "shape": [int(d) for d in t.shape],
            "type": t.tensor_type.name,
            "type_id": int(t.tensor_type),
            "n_elements": int(t.n_elements),
            "n_bytes": int(t.n_bytes),
            "offset": int(t.data_offset),
        }
        if want_crc:
            entry["crc32"] = zlib.crc32(t.data.tobytes())
        tensors.append(entry)
    version = int(reader.fields["GGUF.version"].parts[0][0])
    json.dump({
        "version": version,
        "alignment": int(reader.alignment),
        "data_offset": int(reader.data_offset),
        "kv": kvs,
        "tensors": tensors,
    }, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
