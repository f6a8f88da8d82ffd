#!/usr/bin/env python3
"""How sensitive SmolLM2-135M's outputs are to the last bits of its activations.

A float64 model of the llama forward pass (dequantized weights, RoPE, GQA attention, SwiGLU, the
tied output head) that rounds the input of every matrix product to Q8 blocks of 32 with an f16
scale, as ggml's CPU backend does, and Q, K, V and the attention probabilities to f16. It is run
twice on the first chunks of a text, the second time with the activations perturbed by one part
in 10^6 before each rounding, and prints the mean KL divergence between the two: the spread any
two engines that sum in different orders must expect per token (README, validate).

Usage: tools/validate_ref/sensitivity.py MODEL.gguf TEXT_TOKENS.kld [CHUNKS]
(TEXT_TOKENS.kld: a llama-perplexity --kl-divergence-base file, for its tokens and n_ctx.)
"""
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def weights(path):
    r = GGUFReader(path)
    w = {}
    for t in r.tensors:
        shape = tuple(int(x) for x in reversed(t.shape))
        if t.tensor_type.name == "F32":
            w[t.name] = np.array(t.data, dtype=np.float64).reshape(shape)
        else:
            w[t.name] = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(shape)
    return w


def q8(x, perturb):
    if perturb:
        x = x * (1 + 1e-6 * np.sin(np.arange(x.size).reshape(x.shape)))
    b = x.reshape(-1, 32).astype(np.float32)
    amax = np.abs(b).max(1, keepdims=True)
    inv = np.where(amax > 0, np.float32(127) / np.where(amax > 0, amax, 1), 0).astype(np.float32)
    d = (amax / np.float32(127)).astype(np.float16).astype(np.float64)
    return (d * np.rint(b * inv)).reshape(x.shape)


def f16(x):
    return x.astype(np.float16).astype(np.float64)


def forward(w, toks, perturb, n_layer=30, hd=64, nh=9, nkv=3, eps=1e-5, base=100000.0):
    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def rope(x, pos):  # llama's NORM RoPE: adjacent pairs
        th = pos[:, None] * base ** (-2 * np.arange(hd // 2) / hd)
        c, s = np.cos(th)[:, None, :], np.sin(th)[:, None, :]
        a, b = x[..., 0::2], x[..., 1::2]
        o = np.empty_like(x)
        o[..., 0::2], o[..., 1::2] = a * c - b * s, a * s + b * c
        return o

    emb = w["token_embd.weight"]
    n = len(toks)
    x = emb[toks].copy()
    pos = np.arange(n, dtype=np.float64)
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for il in range(n_layer):
        p = f"blk.{il}."
        h = q8(rms(x, w[p + "attn_norm.weight"]), perturb)
        q = rope((h @ w[p + "attn_q.weight"].T).reshape(n, nh, hd), pos)
        k = rope((h @ w[p + "attn_k.weight"].T).reshape(n, nkv, hd), pos)
        v = (h @ w[p + "attn_v.weight"].T).reshape(n, nkv, hd)
        o = np.empty((n, nh, hd))
        for j in range(nh):
            s = f16(q[:, j]) @ f16(k[:, j // (nh // nkv)]).T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(1, keepdims=True))
            s /= s.sum(1, keepdims=True)
            o[:, j] = f16(s) @ f16(v[:, j // (nh // nkv)])
        x = x + q8(o.reshape(n, -1), perturb) @ w[p + "attn_output.weight"].T
        h = q8(rms(x, w[p + "ffn_norm.weight"]), perturb)
        g, u = h @ w[p + "ffn_gate.weight"].T, h @ w[p + "ffn_up.weight"].T
        x = x + q8(g / (1 + np.exp(-g)) * u, perturb) @ w[p + "ffn_down.weight"].T
    lg = q8(rms(x, w["output_norm.weight"]), perturb) @ emb.T
    m = lg.max(1, keepdims=True)
    return lg - m - np.log(np.exp(lg - m).sum(1, keepdims=True))


def main():
    w = weights(sys.argv[1])
    b = open(sys.argv[2], "rb").read()
    n_ctx, _, n_chunk = (int(v) for v in np.frombuffer(b[8:20], dtype=np.int32))
    toks = np.frombuffer(b[20 : 20 + 4 * n_ctx * n_chunk], dtype=np.int32)
    chunks = min(n_chunk, int(sys.argv[3]) if len(sys.argv) > 3 else 4)
    first = n_ctx // 2
    kl = []
    for c in range(chunks):
        t = toks[c * n_ctx : (c + 1) * n_ctx]
        a = forward(w, t, False)[first : n_ctx - 1]
        p = forward(w, t, True)[first : n_ctx - 1]
        kl += list((np.exp(a) * (a - p)).sum(1))
    print(f"{len(kl)} positions, ctx {n_ctx}: KL(unperturbed || perturbed by 1e-6) mean {np.mean(kl):.6f}, max {np.max(kl):.4f}")


if __name__ == "__main__":
    main()
