#!/usr/bin/env python3
"""Writes the fuzz seed corpora under fuzz/corpus/<target>/ (small valid files).

    python3 fuzz/seeds/make_seeds.py [--smollm2 PATH]

gguf_parse: hand-built GGUF files (the format is simple; the writer below follows
ggml/src/gguf.cpp) with real-looking hyperparameters for llama, qwen3moe, deepseek2 (MLA),
gemma2 (sliding window) and phi3, every metadata value type including nested arrays, GGUF v2 and
a non-default alignment; plus SmolLM2-135M's real metadata and tensor table (names, types) with
the tokenizer arrays cut to 64 entries and every tensor shrunk to one block, so the file stays
small (the real one is 98 MB). tests/fuzz_regressions.rs checks every gguf seed parses.
safetensors_header: small whole files. hf_config: config.json of Llama 3, Mixtral, DeepSeek-V3,
Qwen2, Qwen3-MoE, Gemma 3 (text_config), Phi-3. catalog_toml: models.toml and hardware.toml
split into one entry per file.
"""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

# GGUF value types (gguf.cpp GGUF_TYPE_*).
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
       U64: "<Q", I64: "<q", F64: "<d"}
# ggml types used here: id -> (block size, bytes per block).
GGML = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 8: (32, 34), 12: (256, 144), 30: (1, 2)}
F32_T, F16_T, Q4_0, Q4_1, Q8_0, Q4_K, BF16 = 0, 1, 2, 3, 8, 12, 30


def enc_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def enc_val(ty, v):
    if ty == STRING:
        return enc_str(v)
    if ty == ARRAY:
        et, items = v
        out = struct.pack("<IQ", et, len(items))
        return out + b"".join(enc_val(et, x) for x in items)
    return struct.pack(FMT[ty], v)


def infer(v):
    if isinstance(v, tuple):
        return v
    if isinstance(v, bool):
        return (BOOL, v)
    if isinstance(v, int):
        return (U32, v)
    if isinstance(v, float):
        return (F32, v)
    if isinstance(v, str):
        return (STRING, v)
    if isinstance(v, list):
        if v and isinstance(v[0], str):
            return (ARRAY, (STRING, v))
        if v and isinstance(v[0], float):
            return (ARRAY, (F32, v))
        return (ARRAY, (I32, v))
    raise TypeError(v)


def gguf(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, value)]; tensors: [(name, shape ggml order, ggml type)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, v in kvs:
        ty, val = infer(v)
        out += enc_str(k) + struct.pack("<I", ty) + enc_val(ty, val)
    offset, sizes = 0, []
    for name, shape, ty in tensors:
        block, bpb = GGML[ty]
        n = 1
        for d in shape:
            n *= d
        assert shape[0] % block == 0, (name, shape)
        size = n // block * bpb
        out += enc_str(name) + struct.pack("<I", len(shape))
        out += b"".join(struct.pack("<Q", d) for d in shape)
        out += struct.pack("<IQ", ty, offset)
        sizes.append((offset, size))
        offset += (size + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    data = bytearray(offset)
    for i, (o, size) in enumerate(sizes):
        for j in range(size):
            data[o + j] = (i * 31 + j * 7) & 0x7F
    return out + bytes(data)


def llama_like(arch, n_layer=2, h=32, heads=4, kv=2, ff=64, vocab=16, ty=Q8_0, extra=(), moe=None,
               tied=False):
    hd = h // heads
    kvs = [("general.architecture", arch), ("general.name", f"tiny {arch}"),
           ("general.file_type", (U32, 7 if ty == Q8_0 else 2)),
           (f"{arch}.block_count", n_layer), (f"{arch}.context_length", 2048),
           (f"{arch}.embedding_length", h), (f"{arch}.feed_forward_length", ff),
           (f"{arch}.attention.head_count", heads), (f"{arch}.attention.head_count_kv", kv),
           (f"{arch}.rope.freq_base", 10000.0),
           (f"{arch}.attention.layer_norm_rms_epsilon", 1e-5),
           ("tokenizer.ggml.model", "gpt2"),
           ("tokenizer.ggml.tokens", [f"t{i}" for i in range(vocab)]),
           ("tokenizer.ggml.token_type", [1] * vocab)]
    kvs += list(extra)
    t = [("token_embd.weight", [h, vocab], ty)]
    for il in range(n_layer):
        p = f"blk.{il}."
        t += [(p + "attn_norm.weight", [h], F32_T),
              (p + "attn_q.weight", [h, heads * hd], ty),
              (p + "attn_k.weight", [h, kv * hd], ty),
              (p + "attn_v.weight", [h, kv * hd], ty),
              (p + "attn_output.weight", [heads * hd, h], ty),
              (p + "ffn_norm.weight", [h], F32_T)]
        if moe:
            n_exp, eff = moe
            t += [(p + "ffn_gate_inp.weight", [h, n_exp], F32_T),
                  (p + "ffn_gate_exps.weight", [h, eff, n_exp], ty),
                  (p + "ffn_up_exps.weight", [h, eff, n_exp], ty),
                  (p + "ffn_down_exps.weight", [eff, h, n_exp], ty)]
        else:
            t += [(p + "ffn_gate.weight", [h, ff], ty), (p + "ffn_up.weight", [h, ff], ty),
                  (p + "ffn_down.weight", [ff, h], ty)]
    t.append(("output_norm.weight", [h], F32_T))
    if not tied:
        t.append(("output.weight", [h, vocab], ty))
    return kvs, t


def every_type():
    kvs = [("general.architecture", "llama"),
           ("u8", (U8, 7)), ("i8", (I8, -7)), ("u16", (U16, 65535)), ("i16", (I16, -300)),
           ("u32", (U32, 4000000000)), ("i32", (I32, -5)), ("f32", (F32, 1.5)),
           ("bool", (BOOL, True)), ("str", (STRING, "h\u00e9llo")), ("u64", (U64, 1 << 40)),
           ("i64", (I64, -(1 << 40))), ("f64", (F64, 2.25)),
           ("arr.u8", (ARRAY, (U8, [1, 2, 3]))), ("arr.f64", (ARRAY, (F64, [0.5]))),
           ("arr.bool", (ARRAY, (BOOL, [True, False]))), ("arr.empty", (ARRAY, (STRING, []))),
           ("arr.nested", (ARRAY, (ARRAY, [(U32, [1, 2]), (STRING, ["a", "b"]), (ARRAY, [(I8, [-1])])]))),
           ("llama.block_count", (U64, 1)), ("llama.embedding_length", (U16, 32)),
           ("llama.attention.head_count", (ARRAY, (U32, [4]))),
           ("llama.attention.head_count_kv", (ARRAY, (I32, [2])))]
    return kvs, [("token_embd.weight", [32, 4], F16_T), ("blk.0.attn_q.weight", [32, 32], BF16),
                 ("blk.0.ffn_up.weight", [256, 1], Q4_K)]


def smollm2(path):
    from gguf import GGUFReader, GGUFValueType  # noqa: E402
    r = GGUFReader(path)
    kvs = []
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        vt = f.types[0]
        if vt == GGUFValueType.ARRAY:
            et = f.types[1]
            idx = f.data[:64]
            if et == GGUFValueType.STRING:
                items = [bytes(f.parts[i]).decode("utf-8", "replace") for i in idx]
            else:
                items = [f.parts[i].tolist()[0] for i in idx]
            kvs.append((f.name, (ARRAY, (int(et), items))))
        elif vt == GGUFValueType.STRING:
            kvs.append((f.name, (STRING, bytes(f.parts[f.data[0]]).decode())))
        else:
            kvs.append((f.name, (int(vt), f.parts[f.data[0]].tolist()[0])))
    tensors = []
    for t in r.tensors:
        ty = int(t.tensor_type)
        block = GGML[ty][0]
        shape = [block] + [1] * (len(t.shape) - 1)
        tensors.append((t.name, shape, ty))
    return gguf(kvs, tensors)


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, meta=None):
    header, off, body = {}, 0, b""
    for name, dtype, shape, size in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + size]}
        body += bytes((i * 13) & 0xFF for i in range(size))
        off += size
    if meta is not None:
        header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + body


HF = {
    "llama3-8b": {"architectures": ["LlamaForCausalLM"], "attention_bias": False, "hidden_act": "silu",
                  "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 8192,
                  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
                  "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_scaling": None,
                  "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
                  "vocab_size": 128256},
    "mixtral-8x7b": {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
                     "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 32768,
                     "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
                     "num_local_experts": 8, "num_experts_per_tok": 2, "sliding_window": None,
                     "vocab_size": 32000, "torch_dtype": "bfloat16", "tie_word_embeddings": False},
    "deepseek-v3": {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
                    "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
                    "num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 128,
                    "n_shared_experts": 1, "n_routed_experts": 256, "num_experts_per_tok": 8,
                    "first_k_dense_replace": 3, "kv_lora_rank": 512, "q_lora_rank": 1536,
                    "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128,
                    "vocab_size": 129280, "max_position_embeddings": 163840,
                    "tie_word_embeddings": False, "torch_dtype": "bfloat16"},
    "qwen2-0.5b": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
                   "intermediate_size": 4864, "num_attention_heads": 14, "num_key_value_heads": 2,
                   "num_hidden_layers": 24, "vocab_size": 151936, "max_position_embeddings": 32768,
                   "sliding_window": 32768, "use_sliding_window": False, "tie_word_embeddings": True,
                   "torch_dtype": "bfloat16"},
    "qwen3-30b-a3b": {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
                      "hidden_size": 2048, "intermediate_size": 6144, "moe_intermediate_size": 768,
                      "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
                      "num_hidden_layers": 48, "num_experts": 128, "num_experts_per_tok": 8,
                      "vocab_size": 151936, "max_position_embeddings": 40960,
                      "tie_word_embeddings": False, "dtype": "bfloat16"},
    "gemma3-4b": {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                  "text_config": {"model_type": "gemma3_text", "hidden_size": 2560,
                                  "intermediate_size": 10240, "num_attention_heads": 8,
                                  "num_key_value_heads": 4, "head_dim": 256, "num_hidden_layers": 34,
                                  "sliding_window": 1024, "vocab_size": 262208,
                                  "max_position_embeddings": 131072},
                  "vision_config": {"hidden_size": 1152}, "torch_dtype": "bfloat16"},
    "phi3-mini": {"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 3072,
                  "intermediate_size": 8192, "num_attention_heads": 32, "num_key_value_heads": 32,
                  "num_hidden_layers": 32, "vocab_size": 32064, "max_position_embeddings": 4096,
                  "sliding_window": 2047, "tie_word_embeddings": False, "torch_dtype": "bfloat16"},
    "gemma2-2b": {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "hidden_size": 2304,
                  "intermediate_size": 9216, "num_attention_heads": 8, "num_key_value_heads": 4,
                  "head_dim": 256, "num_hidden_layers": 26, "sliding_window": 4096,
                  "vocab_size": 256000, "max_position_embeddings": 8192},
}


def split_toml(path):
    """One file per [[table]] entry, with nested [[x.y]] tables kept with their parent."""
    entries, cur = [], None
    for line in open(path, encoding="utf-8"):
        if line.startswith("[[") and "." not in line.split("]]")[0]:
            if cur:
                entries.append(cur)
            cur = line
        elif cur is not None:
            cur += line
    if cur:
        entries.append(cur)
    return entries


def main():
    smol = None
    if "--smollm2" in sys.argv:
        smol = sys.argv[sys.argv.index("--smollm2") + 1]
    # gguf_parse
    write("gguf_parse", "empty-v3.gguf", gguf([], []))
    write("gguf_parse", "llama-q8_0.gguf", gguf(*llama_like("llama")))
    write("gguf_parse", "llama-q4_0-v2-align64.gguf",
          gguf(*llama_like("llama", n_layer=1, ty=Q4_0,
                           extra=[("general.alignment", (U32, 64))], tied=True),
               version=2, alignment=64))
    write("gguf_parse", "qwen3moe.gguf",
          gguf(*llama_like("qwen3moe", n_layer=1, moe=(4, 32),
                           extra=[("qwen3moe.expert_count", 4), ("qwen3moe.expert_used_count", 2),
                                  ("qwen3moe.expert_feed_forward_length", 32),
                                  ("qwen3moe.attention.key_length", 8),
                                  ("qwen3moe.attention.value_length", 8)])))
    write("gguf_parse", "deepseek2-mla.gguf",
          gguf([("general.architecture", "deepseek2"), ("deepseek2.block_count", 2),
                ("deepseek2.embedding_length", 64), ("deepseek2.attention.head_count", 4),
                ("deepseek2.attention.head_count_kv", 4), ("deepseek2.attention.key_length", 24),
                ("deepseek2.attention.value_length", 16), ("deepseek2.attention.kv_lora_rank", 32),
                ("deepseek2.rope.dimension_count", 8), ("deepseek2.expert_count", 8),
                ("deepseek2.expert_used_count", 2), ("deepseek2.expert_shared_count", 1),
                ("deepseek2.expert_feed_forward_length", 32),
                ("deepseek2.leading_dense_block_count", 1), ("deepseek2.feed_forward_length", 128),
                ("tokenizer.ggml.tokens", ["a", "b", "c"])],
               [("token_embd.weight", [64, 3], F16_T),
                ("blk.0.attn_kv_a_mqa.weight", [64, 40], F16_T),
                ("blk.1.ffn_gate_exps.weight", [64, 32, 8], Q8_0)]))
    write("gguf_parse", "gemma2-swa.gguf",
          gguf(*llama_like("gemma2", n_layer=2, ty=F16_T, tied=True,
                           extra=[("gemma2.attention.sliding_window", 16),
                                  ("gemma2.attention.key_length", 8),
                                  ("gemma2.attention.value_length", 8)])))
    write("gguf_parse", "every-value-type.gguf", gguf(*every_type()))
    if smol:
        write("gguf_parse", "smollm2-135m-shrunk.gguf", smollm2(smol))
    # safetensors_header
    write("safetensors_header", "two-tensors.safetensors",
          safetensors([("model.embed_tokens.weight", "BF16", [4, 8], 64),
                       ("model.norm.weight", "F32", [8], 32)], {"format": "pt"}))
    write("safetensors_header", "many-dtypes.safetensors",
          safetensors([("a", "F8_E4M3", [2, 3], 6), ("b", "I64", [1], 8), ("c", "F4", [2, 2], 2),
                       ("d", "BOOL", [], 1), ("e", "U16", [0, 5], 0), ("f", "F6_E2M3", [4], 3)]))
    write("safetensors_header", "empty.safetensors", safetensors([], {}))
    # hf_config
    for name, cfg in HF.items():
        write("hf_config", name + ".json", json.dumps(cfg, indent=2))
    # catalog_toml
    for fname, prefix in (("models.toml", "m"), ("hardware.toml", "h")):
        for i, e in enumerate(split_toml(os.path.join(ROOT, fname))):
            write("catalog_toml", f"{prefix}{i:03}.toml", e)


if __name__ == "__main__":
    main()
