#!/usr/bin/env python3
"""Seeds for the engine_load and quantize_plan fuzz targets: tiny llama models (a 32-token vocabulary,
width 32, one layer; dense and 2-expert MoE, F32 and Q8_0) written with llama.cpp's gguf package, so
libFuzzer starts from files Model::load accepts. Usage: python3 make_engine_seeds.py OUT_DIR"""
import sys
import numpy as np
import gguf

def write(path, n_expert=0, qtype=None):
    e, ff, v, nh, nkv = 32, 32, 32, 2, 1
    hd = e // nh
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("seed")
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(e)
    w.add_feed_forward_length(ff)
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_layer_norm_rms_eps(1e-5)
    if n_expert:
        w.add_expert_count(n_expert)
        w.add_expert_used_count(1)
    rng = np.random.default_rng(0)
    def t(name, shape):
        a = rng.uniform(-0.5, 0.5, size=shape[::-1]).astype(np.float32)
        if qtype is not None and len(shape) >= 2:
            q = gguf.quants.quantize(a, qtype)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
        else:
            w.add_tensor(name, a)
    t("token_embd.weight", [e, v])
    t("output_norm.weight", [e])
    t("blk.0.attn_norm.weight", [e])
    t("blk.0.ffn_norm.weight", [e])
    t("blk.0.attn_q.weight", [e, nh * hd])
    t("blk.0.attn_k.weight", [e, nkv * hd])
    t("blk.0.attn_v.weight", [e, nkv * hd])
    t("blk.0.attn_output.weight", [nh * hd, e])
    if n_expert:
        t("blk.0.ffn_gate_inp.weight", [e, n_expert])
        t("blk.0.ffn_gate_exps.weight", [e, ff, n_expert])
        t("blk.0.ffn_up_exps.weight", [e, ff, n_expert])
        t("blk.0.ffn_down_exps.weight", [ff, e, n_expert])
    else:
        t("blk.0.ffn_gate.weight", [e, ff])
        t("blk.0.ffn_up.weight", [e, ff])
        t("blk.0.ffn_down.weight", [ff, e])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

out = sys.argv[1]
write(f"{out}/llama-f32.gguf")
write(f"{out}/llama-q8_0.gguf", qtype=gguf.GGMLQuantizationType.Q8_0)
write(f"{out}/moe2-f32.gguf", n_expert=2)
