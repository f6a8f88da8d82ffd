#!/usr/bin/env python3
"""llama-bench's `-o jsonl` lines (stdin) as bench_speed.sh's rows: usage: llama_bench_rows.py MODEL"""
import json
import sys

for line in sys.stdin:
    r = json.loads(line)
    test = ("pp%d" % r["n_prompt"]) if r["n_prompt"] else ("tg%d" % r["n_gen"])
    print(json.dumps({"engine": "llama.cpp", "model": sys.argv[1], "threads": r["n_threads"],
                      "test": test, "rep": 0, "tok_s": r["avg_ts"]}))
