#!/usr/bin/env python3
"""Reference data for tests/engine.rs, with llama.cpp (through llama-cpp-python) as the oracle.

Writes into tests/data/engine/ (or OUT_DIR):

  smollm2_tokenize.json  llama_tokenize of tricky strings (whitespace runs, digits, unicode, code,
                         special tokens) with add_special/parse_special on and off, and
                         llama_detokenize of the result
  smollm2_greedy.json    greedy (argmax) continuations of several prompts, 32 tokens each, no stop
                         at end-of-generation tokens
  smollm2_logits.json    for a ~128-token text evaluated in one batch: per position the argmax and
                         the top-20 token ids with their logits
  vocab_<name>.json      tokenization with llama.cpp's own vocab-only test files
                         (models/ggml-vocab-<name>.gguf) when LLAMA_VOCAB_DIR is given
  testgen_<name>.json    llama.cpp's logits (top 8 per position) and greedy tokens on the
                         random-weight GGUF files that `VRAMPLAN_TESTGEN_DIR=DIR cargo test
                         --release --test engine_testgen -- --ignored` writes (optional)

usage:
  pip install llama-cpp-python==0.3.36     # builds llama.cpp; CMAKE_ARGS="-DGGML_NATIVE=ON"
  python3 tools/engine_ref/make_ref.py "$(tools/fetch_smollm2.sh)" [--vocab-dir LLAMA_CPP/models]
      [--testgen-dir DIR [--testgen-only]]

The model runs on 2 threads with llama-cpp-python's defaults otherwise: n_ctx 512, n_batch 512,
f16 KV cache, no flash attention (what the engine reproduces).
"""
import argparse
import ctypes
import json
import os
import sys
from pathlib import Path

import numpy as np
import llama_cpp
from llama_cpp import Llama

ROOT = Path(__file__).resolve().parents[2]

# Strings that exercise the pre-tokenizers, BPE merges, byte fallback and special-token parsing.
STRINGS = [
    "",
    " ",
    "  ",
    "   ",
    "\t",
    "\n",
    "\n\n\n",
    "\r\n",
    " \n \n",
    "Hello world",
    " Hello world",
    "Hello World!",
    "hello   world    spaced",
    "trailing spaces   ",
    "   leading spaces",
    "tabs\tand\t\tmore\ttabs",
    "line one\nline two\n\nline four\r\nwindows",
    "1",
    "12",
    "123",
    "1234",
    "12345678901234567890",
    "3.14159 and 2,718 and -42 and 1e-9",
    "version 1.2.3-beta+build.7",
    "I'm you're he's we've they'll I'd don't",
    "I'M YOU'RE HE'S WE'VE THEY'LL I'D DON'T",
    "rock 'n' roll ''quoted'' 'single'",
    "café naïve résumé Ångström",
    "Grüße aus Köln, Straße",
    "Привет, мир! Как дела?",
    "こんにちは世界。日本語のテキスト",
    "你好，世界！中文文本测试",
    "안녕하세요 세계",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "emoji 🙂🚀 and family 👨‍👩‍👧 and flag 🇫🇷",
    "math ∑∫√∞ ≤ ≥ ≠ → ← ↔",
    "a\u00a0non-breaking\u00a0space and\u3000ideographic",
    "zero\u200bwidth\u200djoiner",
    "combining e\u0301 and o\u0308",
    "superscript x² and ½ fraction and Ⅻ numeral",
    "def add(a, b):\n    return a + b\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "    indented    code\n\tif x:\n\t\tpass",
    "<html><body class=\"main\">Hi &amp; bye</body></html>",
    "https://example.com/path?query=1&other=two#frag",
    "user@example.com, @handle #hashtag $100 50% ^_^ ~tilde~",
    "!!!???...,,,;;;:::---___===+++***",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "text<|endoftext|>more text",
    "<|im_start|><|im_end|>",
    "<|im_start partial <|im_",
    "<s>[INST] hi [/INST]</s>",
    "<repo_name>vramplan<file_sep>src/main.rs",
    "The quick brown fox jumps over the lazy dog.",
    "ÀÁÂÃÄÅàáâãäå",
    "\x00\x01\x7f control bytes",
]

PROMPTS = [
    "The capital of France is",
    "Once upon a time, there was a",
    "def fibonacci(n):\n    ",
    "<|im_start|>user\nWhat is the largest planet in our solar system?<|im_end|>\n<|im_start|>assistant\n",
    "1, 2, 3, 4, 5,",
    "The three primary colors are",
]

LOGITS_TEXT = (
    "The history of computing is a story of abstraction layered on abstraction. Early machines "
    "were programmed by rewiring panels; then came stored programs, assemblers, and compilers "
    "that let people write in terms closer to their problems. Operating systems hid the details "
    "of hardware, networks connected machines across continents, and the web turned documents "
    "into applications. Today, language models running on graphics processors generate text, "
    "translate between languages and write code, while researchers argue about how much memory "
    "they need and how fast they can run on a laptop."
)


def detokenize(llm, ids):
    """llama_detokenize(remove_special=False, unparse_special=False)."""
    vocab = llm._model.vocab
    arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    size = 4096
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, size, False, False)
    if n < 0:
        size = -n
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, size, False, False)
    return buf.raw[:n].decode("utf-8", errors="replace")


def tokenize_cases(llm):
    cases = []
    for s in STRINGS:
        for add_special, parse_special in [(True, True), (False, False), (True, False)]:
            ids = llm.tokenize(s.encode(), add_bos=add_special, special=parse_special)
            cases.append(
                {
                    "text": s,
                    "add_special": add_special,
                    "parse_special": parse_special,
                    "ids": ids,
                    "decoded": detokenize(llm, ids),
                }
            )
    return cases


def dump(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)


def source():
    return {"llama_cpp_python": llama_cpp.__version__, "threads": 2, "flash_attn": False, "kv": "f16"}


def greedy(llm, ids, n):
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(n):
        t = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(t)
        if len(out) < n:
            llm.eval([t])
    return out


def logits_record(llm, ids, top=20):
    llm.reset()
    llm.eval(ids)
    scores = np.array(llm.scores[: len(ids)], dtype=np.float32)
    top_ids, top_logits, argmax = [], [], []
    for row in scores:
        order = np.argsort(-row, kind="stable")[:top]
        top_ids.append([int(i) for i in order])
        top_logits.append([round(float(row[i]), 4) for i in order])
        argmax.append(int(order[0]))
    return {"argmax": argmax, "top_ids": top_ids, "top_logits": top_logits}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--vocab-dir", help="llama.cpp's models/ directory (ggml-vocab-*.gguf)")
    ap.add_argument("--testgen-dir", help="directory of engine_testgen GGUF files")
    ap.add_argument("--testgen-only", action="store_true", help="only the testgen files")
    ap.add_argument("--out", default=str(ROOT / "tests" / "data" / "engine"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.testgen_only:
        smollm2(args, out)
    if args.testgen_dir:
        testgen(args, out)


def smollm2(args, out):

    llm = Llama(args.model, n_ctx=512, n_batch=512, n_threads=2, n_threads_batch=2,
                logits_all=True, verbose=False)
    dump(out / "smollm2_tokenize.json", {"source": source(), "cases": tokenize_cases(llm)})

    cases = []
    for p in PROMPTS:
        ids = llm.tokenize(p.encode(), add_bos=True, special=True)
        cases.append({"prompt": p, "prompt_ids": ids, "tokens": greedy(llm, ids, 32)})
    dump(out / "smollm2_greedy.json", {"source": source(), "n_predict": 32, "cases": cases})

    ids = llm.tokenize(LOGITS_TEXT.encode(), add_bos=True, special=True)
    rec = {"source": source(), "text": LOGITS_TEXT, "ids": ids, "top": 20}
    rec.update(logits_record(llm, ids))
    dump(out / "smollm2_logits.json", rec)
    del llm

    if args.vocab_dir:
        for name in ["llama-spm", "llama-bpe", "qwen2"]:
            path = Path(args.vocab_dir) / f"ggml-vocab-{name}.gguf"
            v = Llama(str(path), vocab_only=True, verbose=False)
            dump(out / f"vocab_{name}.json", {"source": source(), "vocab": path.name,
                                             "cases": tokenize_cases(v)})
            del v



def testgen(args, out):
    if args.testgen_dir:
        for path in sorted(Path(args.testgen_dir).glob("*.gguf")):
            m = Llama(str(path), n_ctx=256, n_batch=256, n_threads=2, n_threads_batch=2,
                      logits_all=True, verbose=False)
            ids = m.tokenize(LOGITS_TEXT.encode(), add_bos=True, special=True)[:64]
            rec = {"source": source(), "file": path.name, "ids": ids, "top": 8}
            rec.update(logits_record(m, ids, top=8))
            rec["greedy"] = greedy(m, ids[:16], 16)
            dump(out / f"testgen_{path.stem}.json", rec)
            del m


if __name__ == "__main__":
    main()
