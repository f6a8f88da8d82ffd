#!/usr/bin/env python3
"""Summarize a llama-quantize output against its input for tests/data/quantize/<TYPE>.json.

Usage: summarize.py INPUT.gguf OUTPUT.gguf FTYPE COMMAND PROVENANCE > TYPE.json

Records the whole file's SHA-256 and size, every output tensor in file order (name, ggml type,
shape as stored, SHA-256 of its data bytes), the output's metadata key order, and the metadata
entries that differ from the input (added or changed: type and value; removed: name). Needs
gguf-py (pip install gguf==0.19.0) and numpy.
"""
import hashlib
import json
import os
import sys

from gguf import GGUFReader, GGUFValueType


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def field_value(field):
    """(type name, JSON value) of a metadata field; arrays become {len, sha256 of raw parts}."""
    t = field.types[0]
    if t == GGUFValueType.ARRAY:
        raw = b"".join(bytes(field.parts[i]) for i in range(len(field.parts)))
        return "ARRAY", {"len": len(field.data), "sha256": hashlib.sha256(raw).hexdigest()}
    part = field.parts[field.data[0]]
    if t == GGUFValueType.STRING:
        return "STRING", bytes(part).decode("utf-8")
    v = part.tolist()[0]
    return t.name, v


def main():
    inp, out, ftype, command, provenance = sys.argv[1:6]
    r_in = GGUFReader(inp)
    r_out = GGUFReader(out)

    def kvs(r):
        # GGUFReader adds the header pseudo-fields GGUF.version, GGUF.tensor_count, GGUF.kv_count.
        return {k: field_value(f) for k, f in r.fields.items() if not k.startswith("GGUF.")}

    kin, kout = kvs(r_in), kvs(r_out)
    changed = {
        k: {"type": t, "value": v}
        for k, (t, v) in kout.items()
        if k not in kin or kin[k] != (t, v)
    }
    removed = sorted(k for k in kin if k not in kout)
    tensors = []
    for t in r_out.tensors:
        data = bytes(t.data.tobytes())
        assert len(data) == t.n_bytes, (t.name, len(data), t.n_bytes)
        tensors.append({
            "name": t.name,
            "type": t.tensor_type.name,
            "shape": [int(d) for d in t.shape],
            "sha256": hashlib.sha256(data).hexdigest(),
        })
    doc = {
        "ftype": ftype,
        "command": command,
        "llama_cpp": provenance,
        "input_sha256": sha256_file(inp),
        "file_sha256": sha256_file(out),
        "file_size": os.path.getsize(out),
        "metadata_keys": [k for k in r_out.fields if not k.startswith("GGUF.")],
        "metadata_changed": changed,
        "metadata_removed": removed,
        "tensors": tensors,
    }
    # One tensor per line keeps the file small and its diffs readable.
    head = {k: v for k, v in doc.items() if k != "tensors"}
    text = json.dumps(head, indent=1)[:-2]
    text += ',\n "tensors": [\n'
    text += ",\n".join("  " + json.dumps(t) for t in tensors)
    text += "\n ]\n}\n"
    json.loads(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
