#!/usr/bin/env python3
"""Write a GGUF file with gguf-py's GGUFWriter covering every metadata value type and several
tensor types, and print on stdout a JSON description of what was written, built from the inputs
(not by reading the file back): metadata in write order with type names and values, and tensors
with name, shape (ggml order), type id, byte count and CRC-32 of their bytes.

vramplan's reader must read exactly these values (tests/gguf_interop.rs).

Usage: python3 tools/gguf_interop/write_sample.py OUT.gguf
Requires: pip install gguf (tested with gguf 0.19.0), numpy (a gguf dependency)
"""

import json
import struct
import sys
import zlib

try:
    import numpy as np
    import gguf
    from gguf import GGUFValueType as VT, GGMLQuantizationType as QT
except ImportError:
    sys.stderr.write("the `gguf` Python package is missing: pip install gguf (gguf-py 0.19.0)\n")
    sys.exit(3)


def f32(x: float) -> float:
    """The float32 value nearest to x, as a Python float."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


ALIGNMENT = 64

# (key, value type, array element type or None, value as written, value as JSON)
SCALARS = [
    ("sample.u8", VT.UINT8, 255),
    ("sample.i8", VT.INT8, -128),
    ("sample.u16", VT.UINT16, 65535),
    ("sample.i16", VT.INT16, -32768),
    ("sample.u32", VT.UINT32, 4294967295),
    ("sample.i32", VT.INT32, -2147483648),
    ("sample.u64", VT.UINT64, 18446744073709551615),
    ("sample.i64", VT.INT64, -9223372036854775808),
    ("sample.f32", VT.FLOAT32, 0.1),
    ("sample.f64", VT.FLOAT64, 2.718281828459045),
    ("sample.bool", VT.BOOL, True),
    ("sample.string", VT.STRING, "gguf-py says h\u00e9llo \u4e16\u754c"),
]

ARRAYS = [
    ("sample.arr.u8", VT.UINT8, [0, 1, 255]),
    ("sample.arr.i8", VT.INT8, [-1, 0, 1]),
    ("sample.arr.u16", VT.UINT16, [1, 65535]),
    ("sample.arr.i16", VT.INT16, [-2, 2]),
    ("sample.arr.u32", VT.UINT32, [7, 8, 9]),
    ("sample.arr.i32", VT.INT32, [-7, 8, -9]),
    ("sample.arr.u64", VT.UINT64, [2**64 - 1, 0]),
    ("sample.arr.i64", VT.INT64, [-(2**63), 2**63 - 1]),
    ("sample.arr.f32", VT.FLOAT32, [0.5, -1.25, 0.1]),
    ("sample.arr.f64", VT.FLOAT64, [1e-300, -0.5]),
    ("sample.arr.bool", VT.BOOL, [True, False, False, True]),
    ("sample.arr.string", VT.STRING, ["<s>", "</s>", "\u0120the", ""]),
]

NESTED = ("sample.arr.nested", [[1, 2], [3, 4, 5]])  # ARRAY of ARRAY of INT32


def tensor_specs():
    """(name, numpy array or raw bytes, ggml type, ggml shape)."""
    rng = np.random.default_rng(1234)
    out = []
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    out.append(("sample.f32", a, QT.F32, [4, 3]))
    b = (np.arange(40, dtype=np.float16) - 20).reshape(2, 20)
    out.append(("sample.f16", b, QT.F16, [20, 2]))
    c = np.arange(-8, 8, dtype=np.int32)
    out.append(("sample.i32", c, QT.I32, [16]))
    d = np.arange(10, dtype=np.int8).reshape(5, 2)
    out.append(("sample.i8", d, QT.I8, [2, 5]))
    # Quantized types as raw bytes: (rows, bytes per row) -> ggml shape [elements per row, rows].
    for name, qt, ne0, rows in [("sample.q8_0", QT.Q8_0, 64, 3), ("sample.q4_k", QT.Q4_K, 256, 2),
                                ("sample.q6_k", QT.Q6_K, 256, 1), ("sample.q4_0", QT.Q4_0, 32, 5),
                                ("sample.iq4_xs", QT.IQ4_XS, 512, 1)]:
            block, size = gguf.GGML_QUANT_SIZES[qt]
            raw = rng.integers(0, 256, size=(rows, ne0 // block * size), dtype=np.uint8)
            out.append((name, raw, qt, [ne0, rows]))
    bf = rng.integers(0, 65536, size=(2, 6), dtype=np.uint16).view(np.uint8)
    out.append(("sample.bf16", bf, QT.BF16, [6, 2]))
    return out


def main() -> int:
    if len(sys.argv) != 2:
        sys.stderr.write("usage: write_sample.py OUT.gguf\n")
        return 2
    w = gguf.GGUFWriter(sys.argv[1], arch="llama")
    w.add_custom_alignment(ALIGNMENT)
    kvs = [
        {"key": "general.architecture", "types": ["STRING"], "value": "llama"},
        {"key": "general.alignment", "types": ["UINT32"], "value": ALIGNMENT},
    ]
    for key, vt, val in SCALARS:
        w.add_key_value(key, val, vt)
        kvs.append({"key": key, "types": [vt.name], "value": f32(val) if vt == VT.FLOAT32 else val})
    for key, vt, vals in ARRAYS:
        w.add_key_value(key, vals, VT.ARRAY, sub_type=vt)
        shown = [f32(v) for v in vals] if vt == VT.FLOAT32 else vals
        kvs.append({"key": key, "types": ["ARRAY", vt.name], "value": shown})
    w.add_array(NESTED[0], NESTED[1])
    kvs.append({"key": NESTED[0], "types": ["ARRAY", "ARRAY", "INT32"], "value": NESTED[1]})

    tensors = []
    for name, arr, qt, shape in tensor_specs():
        if qt in (QT.F32, QT.F16, QT.I32, QT.I8):
            w.add_tensor(name, arr)
        else:
            w.add_tensor(name, arr, raw_dtype=qt)
        data = arr.tobytes()
        tensors.append({"name": name, "shape": shape, "type_id": int(qt), "type": qt.name,
                        "n_bytes": len(data), "crc32": zlib.crc32(data)})
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    json.dump({"alignment": ALIGNMENT, "kv": kvs, "tensors": tensors}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
