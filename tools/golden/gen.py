#!/usr/bin/env python3
"""Generate the golden vectors in tests/golden/ from llama.cpp itself.

The oracle is llama.cpp's ggml-base library (ggml/src/ggml-quants.c + ggml.c), built by
tools/golden/build_oracle.sh and called through ctypes:

* quantized bytes: `ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, NULL)`, exactly what
  llama-quantize runs for a tensor when no importance matrix is given. Q8_K and Q8_1 are not
  weight types and `ggml_quantize_chunk` rejects them, so their bytes come from
  `quantize_row_q8_K_ref` / `quantize_row_q8_1_ref` (what the CPU backend's dot products use).
* dequantized floats: the exported `dequantize_row_<type>` functions (ggml's `to_float`),
  `ggml_fp16_to_fp32_row` and `ggml_bf16_to_fp32_row`. Q8_1 has no upstream dequantizer; its
  floats are `d * q` computed here with numpy (f32 * f32, the same single rounding).
* the gguf Python package (gguf 0.19.0) is an independent cross-check: every vector it can
  compute (its quantizers for F16/BF16/Q4_0/Q4_1/Q5_0/Q5_1/Q8_0, its dequantizers for the rest)
  must agree with the C oracle, NaN compared as NaN; this script fails otherwise.

Reproduce (from the repository root):

    pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36   # vendors llama.cpp 0c1e5709
    tar xzf llama_cpp_python-0.3.36.tar.gz
    tools/golden/build_oracle.sh llama_cpp_python-0.3.36/vendor/llama.cpp /tmp/ggml-oracle
    python3 tools/golden/gen.py /tmp/ggml-oracle/libggml-base.so

(pip download may stop after fetching, while preparing metadata; the .tar.gz it fetched is all
that is needed.) The output is deterministic: inputs come from numpy's legacy RandomState, whose
streams are frozen across numpy versions.

File layout (all little-endian), documented in tests/golden/README.md:

  inputs.bin     b"VPGOLDIN", u32 n_rows, u32 n_per_row, f32[n_rows * n_per_row]
  <TYPE>.bin     b"VPGOLD01", u32 ggml type id, u32 flags (bit 0: the row bytes are quantize
                 vectors of the listed input rows), u32 n_per_row, u32 n_rows, u32 n_extra,
                 u32 row_index[n_rows],
                 u8  row_bytes[n_rows * row_size]       (oracle quantization of those rows)
                 f32 row_deq[n_rows * n_per_row]        (oracle dequantization of row_bytes)
                 u8  extra_bytes[n_extra * type_size]   (seeded random blocks)
                 f32 extra_deq[n_extra * block_size]    (oracle dequantization of extra_bytes)
                 u32 n_stress, u32 stress_index[n_stress],
                 u8  stress_bytes[n_stress * row_size]  (oracle quantization; bytes only)
  manifest.json  row names, which rows each type uses and why others are left out
"""
import ctypes
import hashlib
import json
import os
import struct
import sys

import numpy as np

N_PER_ROW = 256
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden")

# name: (ggml id, block size, type size)
TYPES = {
    "F32": (0, 1, 4), "F16": (1, 1, 2), "BF16": (30, 1, 2),
    "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22), "Q5_1": (7, 32, 24),
    "Q8_0": (8, 32, 34), "Q8_1": (9, 32, 36),
    "Q2_K": (10, 256, 84), "Q3_K": (11, 256, 110), "Q4_K": (12, 256, 144),
    "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210), "Q8_K": (15, 256, 292),
    "IQ4_NL": (20, 32, 18), "IQ4_XS": (23, 256, 136),
    "IQ2_XXS": (16, 256, 66), "IQ2_XS": (17, 256, 74), "IQ2_S": (22, 256, 82),
    "IQ3_XXS": (18, 256, 98), "IQ3_S": (21, 256, 110), "IQ1_S": (19, 256, 50),
    "IQ1_M": (29, 256, 56), "TQ1_0": (34, 256, 54), "TQ2_0": (35, 256, 66),
    "MXFP4": (39, 32, 17),
}
FLOAT_TYPES = {"F32", "F16", "BF16"}
# Types vramplan quantizes (the rest it only dequantizes).
QUANTIZE_TYPES = FLOAT_TYPES | {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K",
                                "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ4_NL", "IQ4_XS"}
# Legacy quantizers convert floats to ints with C casts; for non-finite or overflowing scaled
# values that is undefined behaviour, so rows that trigger it are not golden vectors for them.
LEGACY = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1"}
# IQ quantizers that need an importance matrix; the dequant-only types get their realistic
# blocks from ggml_quantize_chunk with a uniform (all-ones) imatrix.
NEEDS_IMATRIX = {"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"}
N_EXTRA_ELEMS = 4 * 256  # random blocks per type, in elements
N_STRESS = 64  # random rows whose quantized bytes (not floats) are stored for the quantize types


def make_inputs():
    """Named input rows of 256 f32 each, from seeded RandomState streams."""
    rs = np.random.RandomState(20240601)
    rows = []

    def add(name, v):
        v = np.asarray(v, dtype=np.float32)
        assert v.shape == (N_PER_ROW,), name
        rows.append((name, v))

    add("normal", rs.standard_normal(N_PER_ROW))
    add("normal_weights_0.02", rs.standard_normal(N_PER_ROW) * 0.02)
    add("normal_x300", rs.standard_normal(N_PER_ROW) * 300.0)
    add("normal_mean_shift", rs.standard_normal(N_PER_ROW) * 0.5 + 1.5)
    add("uniform_pm1", rs.uniform(-1.0, 1.0, N_PER_ROW))
    add("uniform_positive", rs.uniform(0.5, 5.0, N_PER_ROW))
    add("uniform_negative", rs.uniform(-3.0, -0.1, N_PER_ROW))
    add("student_t_df2", rs.standard_t(2.0, N_PER_ROW) * 0.1)
    add("cauchy_clipped", np.clip(rs.standard_cauchy(N_PER_ROW), -1e4, 1e4))
    # A different scale in every 32-block: exercises per-block and per-sub-block scales.
    add("per_block_scales", rs.standard_normal(N_PER_ROW) * np.repeat(10.0 ** np.arange(-4, 4), 32))
    # Values on exact quantization grids: rounding ties everywhere.
    add("integer_grid", rs.randint(-8, 8, N_PER_ROW) * 0.25)
    add("all_zero", np.zeros(N_PER_ROW))
    v = rs.standard_normal(N_PER_ROW) * 0.01
    v[37] = 50.0
    v[200] = -0.75
    add("single_outlier", v)
    v = np.zeros(N_PER_ROW)
    v[5] = 1.0
    v[100] = -2.0
    add("sparse_one_hot", v)
    add("constant", np.full(N_PER_ROW, 3.0))
    v = rs.standard_normal(N_PER_ROW) * 1000.0
    v[::7] = 65504.0
    v[3::7] = -65504.0
    add("f16_max", v)
    v = rs.standard_normal(N_PER_ROW)
    v[::5] = 1e30
    v[2::5] = -1e30
    add("huge_1e30", v)
    add("denormal", rs.choice([-1.0, 1.0], N_PER_ROW) * rs.uniform(1e-45, 1e-38, N_PER_ROW))
    add("tiny_normal_1e-30", rs.standard_normal(N_PER_ROW) * 1e-30)
    # f16 rounding edges: halfway points, overflow threshold, subnormal ties.
    edges = np.array([65519.0, 65520.0, -65520.0, 2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -25,
                      2.0 ** -14, 1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 1.0 + 2.0 ** -8,
                      1.0 + 3 * 2.0 ** -8, -0.0, 6.1e-5, 1e-8, 3.4e38, -3.4e38], dtype=np.float32)
    add("float_rounding_edges", np.concatenate([edges] * 4 + [rs.standard_normal(N_PER_ROW - 64)]))
    # Stress rows: many random shapes and scales, so that every branch of the scale searches
    # (each candidate scale, each coordinate-descent pass) decides some block. Bytes only.
    for i in range(N_STRESS):
        kind = i % 6
        scale = 10.0 ** rs.uniform(-3, 3)
        if kind == 0:
            v = rs.standard_normal(N_PER_ROW)
        elif kind == 1:
            v = rs.laplace(size=N_PER_ROW)
        elif kind == 2:
            v = rs.uniform(-0.2, 1.0, N_PER_ROW)
        elif kind == 3:
            v = rs.standard_normal(N_PER_ROW) * np.repeat(rs.uniform(0.01, 1.0, 16), 16)
        elif kind == 4:
            v = rs.standard_t(3.0, N_PER_ROW) * (rs.uniform(size=N_PER_ROW) < 0.5)
        else:
            v = rs.standard_normal(N_PER_ROW) ** 3
        add(f"stress_{i}", v * scale)
    # Non-finite values: defined only for the float conversions.
    bits = np.array([0x7FC00000, 0xFFC00000, 0x7FC12345, 0x7F800001, 0xFF812345,
                     0x7F800000, 0xFF800000], dtype=np.uint32)
    v = rs.standard_normal(N_PER_ROW).astype(np.float32)
    v[: len(bits) * 4] = np.tile(bits, 4).view(np.float32)
    add("nan_inf", v)
    return rows


def excluded(ty, name):
    """Why row `name` is not a quantize vector for type `ty` (None if it is)."""
    if ty in FLOAT_TYPES:
        return None
    if name == "nan_inf":
        return "non-finite input: C float-to-int casts and scale search are undefined"
    if ty in LEGACY and name in ("denormal",):
        return "1/d overflows to inf, so (int8_t)(x*id) is undefined behaviour in C"
    return None


class Oracle:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        f32p = ctypes.POINTER(ctypes.c_float)
        self.lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        self.lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, f32p, ctypes.c_void_p, ctypes.c_int64,
                                                 ctypes.c_int64, ctypes.c_int64, f32p]

    def quantize(self, ty, x, imatrix=None):
        tid, bs, ts = TYPES[ty]
        x = np.ascontiguousarray(x, dtype=np.float32)
        nrows, n_per_row = x.shape
        out = np.zeros(nrows * n_per_row // bs * ts, dtype=np.uint8)
        xp = x.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        if ty in ("Q8_K", "Q8_1"):
            fn = getattr(self.lib, "quantize_row_q8_K_ref" if ty == "Q8_K" else "quantize_row_q8_1_ref")
            fn.restype = None
            fn.argtypes = [ctypes.POINTER(ctypes.c_float), ctypes.c_void_p, ctypes.c_int64]
            fn(xp, out.ctypes.data, x.size)
            return out
        im = None
        if imatrix is not None:
            imatrix = np.ascontiguousarray(imatrix, dtype=np.float32)
            im = imatrix.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        n = self.lib.ggml_quantize_chunk(tid, xp, out.ctypes.data, 0, nrows, n_per_row, im)
        assert n == out.size, (ty, n, out.size)
        return out

    def dequantize(self, ty, b):
        tid, bs, ts = TYPES[ty]
        b = np.ascontiguousarray(b, dtype=np.uint8)
        n = b.size // ts * bs
        out = np.zeros(n, dtype=np.float32)
        if ty == "F32":
            return b.view(np.float32).copy()
        if ty == "Q8_1":
            blk = b.reshape(-1, ts)
            d = blk[:, 0:2].copy().view(np.float16).astype(np.float32)
            q = blk[:, 4:].copy().view(np.int8).astype(np.float32)
            return (q * d).reshape(-1).astype(np.float32)
        name = {"F16": "ggml_fp16_to_fp32_row", "BF16": "ggml_bf16_to_fp32_row"}.get(ty)
        if name is None:
            name = "dequantize_row_" + ty.lower().replace("_k", "_K")
        fn = getattr(self.lib, name)
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64]
        fn(b.ctypes.data, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n)
        return out


def same_floats(a, b):
    a = np.asarray(a, dtype=np.float32).view(np.uint32)
    b = np.asarray(b, dtype=np.float32).view(np.uint32)
    nan_a = (a & 0x7FFFFFFF) > 0x7F800000
    nan_b = (b & 0x7FFFFFFF) > 0x7F800000
    return bool(np.all((a == b) | (nan_a & nan_b)))


def cross_check(ty, rows_x, row_bytes, row_deq, extra_bytes, extra_deq, quantize_rows, log):
    """Compare with the gguf package wherever it implements the type."""
    import gguf
    from gguf import quants as gq
    qt = getattr(gguf.GGMLQuantizationType, ty, None)
    if qt is None or ty == "Q8_1":  # gguf-py's Q8_1 block size (40 bytes) is stale
        log.append(f"{ty}: no gguf-py codec to cross-check")
        return
    checks = []
    try:
        checks.append(("dequantize rows", same_floats(gq.dequantize(row_bytes, qt).reshape(-1), row_deq)))
        checks.append(("dequantize random blocks",
                       same_floats(gq.dequantize(extra_bytes, qt).reshape(-1), extra_deq)))
    except NotImplementedError:
        pass
    if quantize_rows:
        try:
            with np.errstate(over="ignore"):
                q = gq.quantize(rows_x, qt).reshape(-1).view(np.uint8)
            same = q == row_bytes
            if ty == "F16":
                # numpy keeps NaN payloads (even signalling ones); ggml writes the canonical
                # quiet NaN 0x7E00. Both are NaN: compare NaN-ness there, log how many differ.
                a, b = q.view(np.uint16), row_bytes.view(np.uint16)
                both_nan = ((a & 0x7FFF) > 0x7C00) & ((b & 0x7FFF) > 0x7C00)
                log.append(f"F16: {int(np.sum(both_nan & (a != b)))} NaN payloads differ "
                           "(numpy keeps them, ggml canonicalises to 0x7E00)")
                same = (a == b) | both_nan
            checks.append(("quantize rows", bool(np.all(same))))
        except NotImplementedError:
            pass
    for what, ok in checks:
        if not ok:
            sys.exit(f"gguf-py disagrees with the llama.cpp oracle: {ty} {what}")
    log.append(f"{ty}: gguf-py agrees on " + (", ".join(w for w, _ in checks) or "nothing (no codec)"))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    # Edge rows make both numpy and the oracle compute with inf/NaN on purpose.
    np.seterr(all="ignore")
    oracle = Oracle(sys.argv[1])
    rows = make_inputs()
    names = [n for n, _ in rows]
    x_all = np.stack([v for _, v in rows]).astype(np.float32)
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "inputs.bin"), "wb") as f:
        f.write(b"VPGOLDIN" + struct.pack("<II", len(rows), N_PER_ROW) + x_all.tobytes())

    manifest = {"generator": "tools/golden/gen.py", "n_per_row": N_PER_ROW, "rows": names, "types": {}}
    log = []
    for ty, (tid, bs, ts) in TYPES.items():
        quantize_vectors = ty in QUANTIZE_TYPES
        stress = []
        if quantize_vectors:
            idx = [i for i, n in enumerate(names)
                   if excluded(ty, n) is None and not n.startswith("stress_")]
            # The float conversions have no search to exercise; their edge rows suffice.
            if ty not in FLOAT_TYPES:
                stress = [i for i, n in enumerate(names) if n.startswith("stress_")]
            left_out = {n: excluded(ty, n) for n in names if excluded(ty, n) is not None}
            row_bytes = oracle.quantize(ty, x_all[idx])
        else:
            # Realistic blocks for the dequant-only types, from the oracle's own quantizer.
            idx = [names.index(n) for n in ("normal", "student_t_df2", "per_block_scales", "single_outlier")]
            left_out = {}
            imatrix = np.ones(N_PER_ROW, dtype=np.float32) if ty in NEEDS_IMATRIX else None
            row_bytes = oracle.quantize(ty, x_all[idx], imatrix)
        row_deq = oracle.dequantize(ty, row_bytes)
        # Random bytes decode to something for every layout; seeded per type.
        seed = int.from_bytes(hashlib.sha256(ty.encode()).digest()[:4], "little")
        n_extra = N_EXTRA_ELEMS // bs
        extra_bytes = np.random.RandomState(seed).randint(0, 256, n_extra * ts).astype(np.uint8)
        if ty == "Q8_K":
            # d is an f32 there; keep it finite and sane so the values mean something.
            blk = extra_bytes.reshape(n_extra, ts)
            blk[:, 0:4] = np.frombuffer(np.float32(0.0123).tobytes(), dtype=np.uint8)
        extra_deq = oracle.dequantize(ty, extra_bytes)
        cross_check(ty, x_all[idx], row_bytes, row_deq, extra_bytes, extra_deq, quantize_vectors, log)
        stress_bytes = oracle.quantize(ty, x_all[stress]) if stress else np.zeros(0, dtype=np.uint8)
        if stress:
            cross_check(ty, x_all[stress], stress_bytes, oracle.dequantize(ty, stress_bytes),
                        extra_bytes, extra_deq, True, log)

        header = b"VPGOLD01" + struct.pack("<IIIII", tid, 1 if quantize_vectors else 0, N_PER_ROW,
                                           len(idx), n_extra)
        with open(os.path.join(OUT_DIR, f"{ty}.bin"), "wb") as f:
            f.write(header + np.asarray(idx, dtype="<u4").tobytes() + row_bytes.tobytes()
                    + row_deq.astype("<f4").tobytes() + extra_bytes.tobytes()
                    + extra_deq.astype("<f4").tobytes()
                    + struct.pack("<I", len(stress)) + np.asarray(stress, dtype="<u4").tobytes()
                    + stress_bytes.tobytes())
        manifest["types"][ty] = {
            "id": tid,
            "quantize_vectors": quantize_vectors,
            "rows": [names[i] for i in idx],
            "rows_left_out": left_out,
            "random_blocks": n_extra,
            "stress_rows": len(stress),
            "imatrix": "all ones" if (not quantize_vectors and ty in NEEDS_IMATRIX) else None,
        }
    with open(os.path.join(OUT_DIR, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("\n".join(log))


if __name__ == "__main__":
    main()
