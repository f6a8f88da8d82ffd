#!/usr/bin/env python3
"""Per-token comparison of two llama-perplexity `--kl-divergence-base` files (same text, same ctx):
llama.cpp's (`llama-perplexity -m M --kl-divergence-base A.kld -f TEXT -c CTX`) and vramplan's
(`cargo run --release --example kld_base -- M TEXT CTX B.kld`), or two runs of either.
Prints whether the tokens agree, both PPLs over the scored positions (from the compact rows, as
llama-perplexity's PPL(base)), the per-token difference of the next token's negative
log-likelihood (mean, RMS: the RMS over sqrt(positions) is the standard error of the PPL gap in
ln units), KL(A||B) and how often both put the same token first.

Usage: tools/validate_ref/compare_rows.py A.kld B.kld
"""
import sys

import numpy as np


def load(path):
    b = open(path, "rb").read()
    if b[:8] != b"_logits_":
        raise SystemExit(f"{path}: not a --kl-divergence-base file")
    n_ctx, n_vocab, n_chunk = (int(x) for x in np.frombuffer(b[8:20], dtype=np.int32))
    off = 20 + 4 * n_ctx * n_chunk
    tokens = np.frombuffer(b[20:off], dtype=np.int32)
    nv = 2 * ((n_vocab + 1) // 2) + 4
    rows = np.frombuffer(b[off:], dtype=np.uint16).reshape(-1, nv)
    head = rows[:, :4].copy().view(np.float32)  # scale, min log-prob
    logp = head[:, 0:1] * rows[:, 4 : 4 + n_vocab].astype(np.float32) + head[:, 1:2]
    return n_ctx, n_chunk, tokens, logp


def main():
    a, b = load(sys.argv[1]), load(sys.argv[2])
    n_ctx, n_chunk, tokens, la = a
    if (n_ctx, n_chunk) != b[:2] or not np.array_equal(tokens, b[2]):
        raise SystemExit("different texts, contexts or tokens")
    lb = b[3]
    first = n_ctx // 2
    nexts = np.concatenate([tokens[c * n_ctx + first + 1 : (c + 1) * n_ctx] for c in range(n_chunk)])
    i = np.arange(len(nexts))
    nll_a, nll_b = -la[i, nexts], -lb[i, nexts]
    d = nll_a - nll_b
    kl = (np.exp(la) * (la - lb)).sum(1)
    print(f"{len(nexts)} scored positions, {n_chunk} chunks of {n_ctx}")
    print(f"PPL A {np.exp(nll_a.mean()):.4f}  B {np.exp(nll_b.mean()):.4f}  ({np.exp(-d.mean()) - 1:+.2%})")
    print(f"nll A-B per token: mean {d.mean():+.5f}  rms {np.sqrt((d ** 2).mean()):.4f}  "
          f"(standard error of the PPL gap {np.sqrt((d ** 2).mean() / len(d)):.2%})")
    print(f"KL(A||B) mean {kl.mean():.6f}  max {kl.max():.4f}")
    print(f"same top token {100 * (la.argmax(1) == lb.argmax(1)).mean():.2f}%")


if __name__ == "__main__":
    main()
