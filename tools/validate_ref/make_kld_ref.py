#!/usr/bin/env python3
"""Reference quality figures for `vramplan validate`, made by llama.cpp's own llama-perplexity.

For SmolLM2-135M-Instruct (the Q4_1 GGUF of tools/fetch_smollm2.sh, the source and the base) and
each listed file type: quantize with llama-quantize --allow-requantize (as validate does), then
run llama-perplexity --kl-divergence (-fa off) against the base's log-probabilities saved by
--kl-divergence-base, on tests/data/validate/alice.txt with --ctx 256 (23 chunks, 2,921 scored
tokens), and parse its summary (mean KLD
± error, median and percentiles, same-top-p, PPL(Q), PPL(base), ln ratio, RMS Δp).
Writes tests/data/validate/smollm2_kld.json; the raw llama-perplexity summaries go beside it in
tests/data/validate/llama-perplexity/ for anyone to read.

Usage: tools/validate_ref/make_kld_ref.py /path/to/llama.cpp/build/bin "$(tools/fetch_smollm2.sh)"
Run by hand (needs a llama.cpp build); CI only reads the committed output.
"""
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile

TYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "IQ4_XS", "Q3_K_M", "Q2_K"]
CTX = 256
# Two chapters of Alice's Adventures in Wonderland, not the two-chunk embedded text: two engines
# that differ only in the order of their float sums (llama.cpp against itself at -ub 1) disagree
# by ~0.15-0.25 nats rms per token, so over 254 scored tokens their PPLs differ by ~1-1.5% from
# that alone; over 2,921 by ~0.3-0.5%.
TEXT = os.path.join("tests", "data", "validate", "alice.txt")
# One thread per llama.cpp process, the levels in parallel: ggml's workers spin at their barriers,
# which on a loaded machine burns the CPU the other worker waits for. The figures do not depend on
# the thread count nor on -b (one chunk per batch instead of eight): checked equal row for row.
THREADS = 1
JOBS = int(os.environ.get("JOBS", "4"))
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
NUM = r"(-?[0-9.]+)"

PATTERNS = {
    "ppl_candidate": rf"Mean PPL\(Q\)\s*:\s*{NUM}\s*±\s*{NUM}",
    "ppl_reference": rf"Mean PPL\(base\)\s*:\s*{NUM}\s*±\s*{NUM}",
    "ln_ppl_ratio": rf"Mean ln\(PPL\(Q\)/PPL\(base\)\)\s*:\s*{NUM}\s*±\s*{NUM}",
    "kld_mean": rf"Mean\s+KLD:\s*{NUM}\s*±\s*{NUM}",
    "kld_p999": rf"99\.9%\s+KLD:\s*{NUM}",
    "kld_p99": rf"99\.0%\s+KLD:\s*{NUM}",
    "kld_p95": rf"95\.0%\s+KLD:\s*{NUM}",
    "kld_p90": rf"90\.0%\s+KLD:\s*{NUM}",
    "kld_median": rf"Median\s+KLD:\s*{NUM}",
    "rms_dp_percent": rf"RMS Δp\s*:\s*{NUM}\s*±\s*{NUM}",
    "same_top_p_percent": rf"Same top p:\s*{NUM}\s*±\s*{NUM}",
}


def parse(log):
    out = {}
    for key, pat in PATTERNS.items():
        m = re.search(pat, log)
        if not m:
            raise SystemExit(f"llama-perplexity output lacks {key}:\n{log[-3000:]}")
        out[key] = float(m.group(1))
        if m.lastindex and m.lastindex > 1:
            out[key + "_error"] = float(m.group(2))
    m = re.search(r"computing over (\d+) chunks, n_ctx=(\d+)", log)
    out["chunks"], out["ctx"] = int(m.group(1)), int(m.group(2))
    return out


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return p.stdout + p.stderr


def main():
    bindir, src = sys.argv[1], sys.argv[2]
    text = os.path.join(REPO, TEXT)
    perplexity = os.path.join(bindir, "llama-perplexity")
    quantize = os.path.join(bindir, "llama-quantize")
    # -fa off: the reference engine reproduces llama.cpp's CPU arithmetic without flash attention
    # (src/engine/attention.rs); flash attention alone moves llama.cpp's own PPL(base) here by 0.6%.
    common = ["-f", text, "-c", str(CTX), "-b", str(CTX), "-t", str(THREADS), "--no-warmup", "-fa", "off"]
    raw_dir = os.path.join(REPO, "tests", "data", "validate", "llama-perplexity")
    os.makedirs(raw_dir, exist_ok=True)
    out = {
        "source": os.path.basename(src),
        "text": TEXT,
        "ctx": CTX,
        "tool": "llama-perplexity --kl-divergence -fa off -t 1 -b 256 (llama.cpp vendored in llama-cpp-python 0.3.36, CPU build, GGML_NATIVE)",
        "levels": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base.kld")
        run([perplexity, "-m", src, "--kl-divergence-base", base] + common)

        def level(ft):
            dst = os.path.join(tmp, f"{ft}.gguf")
            run([quantize, "--allow-requantize", src, dst, ft, str(THREADS)])
            log = run([perplexity, "-m", dst, "--kl-divergence-base", base, "--kl-divergence"] + common)
            os.remove(dst)
            print(ft, "done", file=sys.stderr, flush=True)
            return ft, log

        with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
            logs = dict(pool.map(level, TYPES))
        for ft in TYPES:
            log = logs[ft]
            summary = log[log.find("====== Perplexity statistics"):]
            with open(os.path.join(raw_dir, f"{ft}.txt"), "w") as f:
                f.write(summary)
            out["levels"][ft] = parse(log)
            print(ft, out["levels"][ft], file=sys.stderr)
    with open(os.path.join(REPO, "tests", "data", "validate", "smollm2_kld.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
