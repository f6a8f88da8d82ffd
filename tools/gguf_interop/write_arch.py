#!/usr/bin/env python3
"""Writes a tiny GGUF of one architecture with gguf-py (the `gguf` package, llama.cpp's own
Python side) from a JSON spec made by tests/architectures.rs: `general.architecture`, the
hyperparameter keys by gguf-py's key names, and the given tensors (F32 zeros). Refuses a tensor
whose name is not one gguf-py's table lists for that architecture (gguf.MODEL_TENSORS), so the
test checks vramplan's inventory names against llama.cpp's. Usage: write_arch.py SPEC.json;
writes SPEC.json.gguf and prints {"path": ...} as JSON."""

import json
import sys

import numpy as np
import gguf


def main() -> int:
    spec_path = sys.argv[1]
    spec = json.load(open(spec_path))
    arch_name = spec["arch"]
    arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch_name)
    allowed = set()
    for kind in gguf.MODEL_TENSORS[arch]:
        pattern = gguf.TENSOR_NAMES[kind]
        for bid in range(spec["hparams"]["block_count"]):
            allowed.add(pattern.format(bid=bid))
    out = spec_path + ".gguf"
    w = gguf.GGUFWriter(out, arch_name)
    hp = spec["hparams"]
    K = gguf.Keys
    w.add_uint32(K.LLM.BLOCK_COUNT.format(arch=arch_name), hp["block_count"])
    w.add_uint32(K.LLM.EMBEDDING_LENGTH.format(arch=arch_name), hp["embedding_length"])
    w.add_uint32(K.LLM.FEED_FORWARD_LENGTH.format(arch=arch_name), hp["feed_forward_length"])
    w.add_uint32(K.LLM.CONTEXT_LENGTH.format(arch=arch_name), hp["context_length"])
    w.add_uint32(K.Attention.HEAD_COUNT.format(arch=arch_name), hp["head_count"])
    w.add_uint32(K.Attention.HEAD_COUNT_KV.format(arch=arch_name), hp["head_count_kv"])
    w.add_uint32(K.Attention.KEY_LENGTH.format(arch=arch_name), hp["key_length"])
    w.add_uint32(K.Attention.VALUE_LENGTH.format(arch=arch_name), hp["value_length"])
    if "sliding_window" in hp:
        w.add_uint32(K.Attention.SLIDING_WINDOW.format(arch=arch_name), hp["sliding_window"])
    if "expert_count" in hp:
        w.add_uint32(K.LLM.EXPERT_COUNT.format(arch=arch_name), hp["expert_count"])
        w.add_uint32(K.LLM.EXPERT_USED_COUNT.format(arch=arch_name), hp["expert_used_count"])
        w.add_uint32(K.LLM.EXPERT_FEED_FORWARD_LENGTH.format(arch=arch_name),
                     hp["expert_feed_forward_length"])
    for key, name in [("expert_shared_count", K.LLM.EXPERT_SHARED_COUNT),
                      ("leading_dense_block_count", K.LLM.LEADING_DENSE_BLOCK_COUNT),
                      ("nextn_predict_layers", K.LLM.NEXTN_PREDICT_LAYERS)]:
        if key in hp:
            w.add_uint32(name.format(arch=arch_name), hp[key])
    for t in spec["tensors"]:
        base = t["name"].rsplit(".", 1)[0]
        if base not in allowed:
            print(f"tensor {t['name']} is not a {arch_name} tensor in gguf-py", file=sys.stderr)
            return 1
        # gguf-py takes numpy shapes outermost first; GGUF stores ggml order (innermost first).
        data = np.zeros(list(reversed(t["shape"])), dtype=np.float32)
        w.add_tensor(t["name"], data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(json.dumps({"path": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
