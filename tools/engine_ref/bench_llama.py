#!/usr/bin/env python3
"""llama.cpp's throughput on the same work as tests/engine_bench.rs: prefill of the first 128
tokens of tests/data/engine/bench_text.txt in one batch, then 64 greedy single-token decode
steps; median of 3 runs.

usage: python3 tools/engine_ref/bench_llama.py MODEL.gguf [THREADS]
"""
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import llama_cpp
from llama_cpp import llama_cpp as L

model_path = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
text = (Path(__file__).resolve().parents[2] / "tests/data/engine/bench_text.txt").read_text()

L.llama_backend_init()
model = L.llama_model_load_from_file(model_path.encode(), L.llama_model_default_params())
vocab = L.llama_model_get_vocab(model)
n_vocab = L.llama_vocab_n_tokens(vocab)
buf = (L.llama_token * 4096)()
n = L.llama_tokenize(vocab, text.encode(), len(text.encode()), buf, 4096, True, True)
ids = list(buf[:n])[:128]


def decode(ctx, tokens, pos0):
    batch = L.llama_batch_init(len(tokens), 0, 1)
    for i, t in enumerate(tokens):
        batch.token[i] = t
        batch.pos[i] = pos0 + i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = 1 if i == len(tokens) - 1 else 0
    batch.n_tokens = len(tokens)
    assert L.llama_decode(ctx, batch) == 0
    L.llama_batch_free(batch)
    logits = L.llama_get_logits_ith(ctx, -1)
    return int(np.ctypeslib.as_array(logits, shape=(n_vocab,)).argmax())


pp, tg = [], []
for _ in range(3):
    cp = L.llama_context_default_params()
    cp.n_ctx = 512
    cp.n_batch = 512
    cp.n_ubatch = 512
    cp.n_threads = threads
    cp.n_threads_batch = threads
    cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED
    ctx = L.llama_init_from_model(model, cp)
    t = time.perf_counter()
    nxt = decode(ctx, ids, 0)
    pp.append(len(ids) / (time.perf_counter() - t))
    steps = 64
    t = time.perf_counter()
    for i in range(steps):
        nxt = decode(ctx, [nxt], len(ids) + i)
    tg.append(steps / (time.perf_counter() - t))
    L.llama_free(ctx)
print(f"llama.cpp {llama_cpp.__version__}, {threads} threads: prefill {len(ids)} tokens "
      f"{statistics.median(pp):.1f} tok/s (runs {[round(x) for x in pp]}), decode {steps} tokens "
      f"{statistics.median(tg):.1f} tok/s (runs {[round(x) for x in tg]})")
