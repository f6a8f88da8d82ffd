#!/usr/bin/env python3
"""llama.cpp's own KV-cache allocation for probe models, as reference for vramplan's KV sizing.

Writes tiny GGUF models (zero weights) of three attention kinds — GQA (llama), sliding window
(gemma2, alternating layers) and MLA (deepseek2) — loads each with llama-cpp-python (llama.cpp
vendored in llama-cpp-python 0.3.36) at several contexts and cache types, and records what
llama.cpp logs: cells and MiB of every KV cache it allocates. Writes tests/data/kv/reference.json.

Usage: tools/kv_ref/make_ref.py   (needs: pip install gguf llama-cpp-python)
"""
import json
import os
import re
import sys
import tempfile

import numpy as np
import gguf

VOCAB = 256


def tok(w):
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(["a", "b", "ab"] + [f"t{i}" for i in range(3, VOCAB)])
    w.add_token_types([1] * VOCAB)
    w.add_token_merges(["a b"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)


def zeros(w, name, *ggml_shape, f32=False):
    w.add_tensor(name, np.zeros(tuple(reversed(ggml_shape)), dtype=np.float32 if f32 else np.float16))


def llama(path, L=4, d=256, heads=8, kv=2, ff=512):
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(32768); w.add_embedding_length(d); w.add_feed_forward_length(ff)
    w.add_block_count(L); w.add_head_count(heads); w.add_head_count_kv(kv)
    w.add_rope_dimension_count(d // heads); w.add_layer_norm_rms_eps(1e-5); w.add_file_type(1)
    tok(w)
    hd = d // heads
    zeros(w, "token_embd.weight", d, VOCAB)
    for i in range(L):
        zeros(w, f"blk.{i}.attn_norm.weight", d, f32=True)
        zeros(w, f"blk.{i}.attn_q.weight", d, heads * hd)
        zeros(w, f"blk.{i}.attn_k.weight", d, kv * hd)
        zeros(w, f"blk.{i}.attn_v.weight", d, kv * hd)
        zeros(w, f"blk.{i}.attn_output.weight", heads * hd, d)
        zeros(w, f"blk.{i}.ffn_norm.weight", d, f32=True)
        zeros(w, f"blk.{i}.ffn_gate.weight", d, ff)
        zeros(w, f"blk.{i}.ffn_up.weight", d, ff)
        zeros(w, f"blk.{i}.ffn_down.weight", ff, d)
    zeros(w, "output_norm.weight", d, f32=True)
    zeros(w, "output.weight", d, VOCAB)
    finish(w)
    return dict(arch="llama", n_layer=L, n_head=heads, n_head_kv=kv, head_dim_k=hd, head_dim_v=hd, n_embd=d)


def gemma2(path, L=6, d=256, heads=8, kv=4, hd=64, ff=512, window=512):
    w = gguf.GGUFWriter(path, "gemma2")
    w.add_context_length(32768); w.add_embedding_length(d); w.add_feed_forward_length(ff)
    w.add_block_count(L); w.add_head_count(heads); w.add_head_count_kv(kv)
    w.add_key_length(hd); w.add_value_length(hd); w.add_layer_norm_rms_eps(1e-6)
    w.add_sliding_window(window); w.add_attn_logit_softcapping(50.0); w.add_final_logit_softcapping(30.0)
    w.add_file_type(1)
    tok(w)
    zeros(w, "token_embd.weight", d, VOCAB)
    for i in range(L):
        zeros(w, f"blk.{i}.attn_norm.weight", d, f32=True)
        zeros(w, f"blk.{i}.attn_q.weight", d, heads * hd)
        zeros(w, f"blk.{i}.attn_k.weight", d, kv * hd)
        zeros(w, f"blk.{i}.attn_v.weight", d, kv * hd)
        zeros(w, f"blk.{i}.attn_output.weight", heads * hd, d)
        zeros(w, f"blk.{i}.post_attention_norm.weight", d, f32=True)
        zeros(w, f"blk.{i}.ffn_norm.weight", d, f32=True)
        zeros(w, f"blk.{i}.ffn_gate.weight", d, ff)
        zeros(w, f"blk.{i}.ffn_up.weight", d, ff)
        zeros(w, f"blk.{i}.ffn_down.weight", ff, d)
        zeros(w, f"blk.{i}.post_ffw_norm.weight", d, f32=True)
    zeros(w, "output_norm.weight", d, f32=True)
    finish(w)
    return dict(arch="gemma2", n_layer=L, n_head=heads, n_head_kv=kv, head_dim_k=hd, head_dim_v=hd, n_embd=d,
                sliding_window=[window, 2])


def deepseek2(path, L=4, d=256, heads=8, q_lora=128, kv_lora=128, rope=32, nope=64, v=64, ff=512, eff=128, nexp=4):
    w = gguf.GGUFWriter(path, "deepseek2")
    w.add_context_length(32768); w.add_embedding_length(d); w.add_feed_forward_length(ff)
    w.add_block_count(L); w.add_head_count(heads); w.add_head_count_kv(1)
    # Current converters: MLA keys; K/V as the latent (kv_lora + rope) and kv_lora widths.
    w.add_key_length(kv_lora + rope); w.add_value_length(kv_lora)
    w.add_key_length_mla(nope + rope); w.add_value_length_mla(v)
    w.add_rope_dimension_count(rope); w.add_layer_norm_rms_eps(1e-6)
    w.add_q_lora_rank(q_lora); w.add_kv_lora_rank(kv_lora)
    w.add_leading_dense_block_count(1); w.add_expert_feed_forward_length(eff)
    w.add_expert_count(nexp); w.add_expert_shared_count(1); w.add_expert_used_count(2)
    w.add_expert_weights_scale(1.0); w.add_expert_weights_norm(True); w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    w.add_file_type(1)
    tok(w)
    zeros(w, "token_embd.weight", d, VOCAB)
    for i in range(L):
        p = f"blk.{i}."
        zeros(w, p + "attn_norm.weight", d, f32=True)
        zeros(w, p + "attn_q_a.weight", d, q_lora)
        zeros(w, p + "attn_q_a_norm.weight", q_lora, f32=True)
        zeros(w, p + "attn_q_b.weight", q_lora, heads * (nope + rope))
        zeros(w, p + "attn_kv_a_mqa.weight", d, kv_lora + rope)
        zeros(w, p + "attn_kv_a_norm.weight", kv_lora, f32=True)
        zeros(w, p + "attn_k_b.weight", nope, kv_lora, heads)
        zeros(w, p + "attn_v_b.weight", kv_lora, v, heads)
        zeros(w, p + "attn_output.weight", heads * v, d)
        zeros(w, p + "ffn_norm.weight", d, f32=True)
        if i < 1:
            zeros(w, p + "ffn_gate.weight", d, ff); zeros(w, p + "ffn_up.weight", d, ff); zeros(w, p + "ffn_down.weight", ff, d)
        else:
            zeros(w, p + "ffn_gate_inp.weight", d, nexp, f32=True)
            zeros(w, p + "exp_probs_b.bias", nexp, f32=True)
            zeros(w, p + "ffn_gate_exps.weight", d, eff, nexp); zeros(w, p + "ffn_up_exps.weight", d, eff, nexp)
            zeros(w, p + "ffn_down_exps.weight", eff, d, nexp)
            zeros(w, p + "ffn_gate_shexp.weight", d, eff); zeros(w, p + "ffn_up_shexp.weight", d, eff)
            zeros(w, p + "ffn_down_shexp.weight", eff, d)
    zeros(w, "output_norm.weight", d, f32=True)
    zeros(w, "output.weight", d, VOCAB)
    finish(w)
    return dict(arch="deepseek2", n_layer=L, n_head=heads, n_head_kv=heads, head_dim_k=nope + rope, head_dim_v=v,
                n_embd=d, mla_cache_width=kv_lora + rope)


def finish(w):
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()


LINE = re.compile(r"llama_kv_cache: size = +([\d.]+) MiB \( *(\d+) cells, +(\d+) layers, +(\d+)/(\d+) seqs\), K \((\w+)\): +([\d.]+) MiB, V \((\w+)\): +([\d.]+) MiB")


def measure(path, n_ctx, type_kv, flash, swa_full):
    import llama_cpp
    # llama.cpp logs to fd 2; capture it in a file (a pipe would fill up and block the load).
    with tempfile.TemporaryFile() as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            t = {"f16": 1, "q8_0": 8, "q4_0": 2}[type_kv]
            m = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=512, n_ubatch=512, verbose=True, n_threads=1,
                                type_k=t, type_v=t, flash_attn=flash, swa_full=swa_full)
            del m
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        out = log.read()
    caches = []
    for m in LINE.finditer(out.decode(errors="replace")):
        caches.append(dict(mib=float(m[1]), cells=int(m[2]), layers=int(m[3]), k_mib=float(m[7]), v_mib=float(m[9])))
    return caches


def main():
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in [("llama-gqa", llama), ("gemma2-swa", gemma2), ("deepseek2-mla", deepseek2)]:
            path = os.path.join(tmp, name + ".gguf")
            shape = build(path)
            for n_ctx in [1000, 4096, 10000]:
                for type_kv, flash in [("f16", False), ("q8_0", True), ("q4_0", True)]:
                    # llama.cpp's C API defaults to a full-size SWA cache; llama-server does not.
                    for swa_full in ([False, True] if "swa" in name else [False]):
                        caches = measure(path, n_ctx, type_kv, flash, swa_full)
                        print(name, n_ctx, type_kv, swa_full, caches, file=sys.stderr)
                        out.append(dict(model=name, shape=shape, n_ctx=n_ctx, kv_type=type_kv, flash_attn=flash,
                                        swa_full=swa_full, n_ubatch=512, caches=caches))
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "kv", "reference.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
