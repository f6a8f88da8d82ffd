#!/usr/bin/env python3
"""Medians and spread of bench_speed.sh rows (JSON lines files given as arguments), as a markdown table
with the machine and date."""
import json, statistics, sys, os, platform, subprocess, datetime
rows = [json.loads(l) for p in sys.argv[1:] for l in open(p)]
bw_rows = [r for r in rows if r["engine"] == "bandwidth"]
rows = [r for r in rows if r["engine"] != "bandwidth"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512bw", "avx512vl", "avx512_vbmi") if f in flags.split()]
print(f"Machine: {cpu}, {os.cpu_count()} logical CPUs, {' '.join(isa)}; {platform.platform()}")
print(f"Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
print(f"Load average at the end: {open('/proc/loadavg').read().split()[:3]}")
print()
# `paired`: the median (min-max) of the per-repetition ratios, each vramplan run against the llama-bench
# run right after it (the rows of one key pair up in order), which cancels the slow drift of the VM's
# bandwidth that moves both engines alike.
print("| model | threads | test | llama.cpp tok/s (median, min-max) | vramplan tok/s (median, min-max) | ratio | paired ratio (median, min-max) |")
print("|---|---|---|---|---|---|---|")
keys = sorted({(r["model"], r["threads"], r["test"]) for r in rows}, key=lambda k: (k[0], k[1], k[2]))
for m, th, test in keys:
    cell = {}
    for eng in ("llama.cpp", "vramplan"):
        v = [r["tok_s"] for r in rows if (r["engine"], r["model"], r["threads"], r["test"]) == (eng, m, th, test)]
        cell[eng] = (statistics.median(v), min(v), max(v), len(v)) if v else None
    fmt = lambda c: f"{c[0]:.1f} ({c[1]:.1f}-{c[2]:.1f}, n={c[3]})" if c else "-"
    ratio = f"{cell['vramplan'][0] / cell['llama.cpp'][0]:.2f}x" if cell["vramplan"] and cell["llama.cpp"] else "-"
    runs = {eng: [r["tok_s"] for r in rows if (r["engine"], r["model"], r["threads"], r["test"]) == (eng, m, th, test)]
            for eng in ("llama.cpp", "vramplan")}
    pr = [v / l for v, l in zip(runs["vramplan"], runs["llama.cpp"]) if l > 0]
    paired = f"{statistics.median(pr):.2f}x ({min(pr):.2f}-{max(pr):.2f})" if pr else "-"
    print(f"| {os.path.basename(m)} | {th} | {test} | {fmt(cell['llama.cpp'])} | {fmt(cell['vramplan'])} | {ratio} | {paired} |")

# Decode against the bandwidth roofline: a decode step reads every weight tensor once except the token
# embedding, of which it reads one row (unless the output head is tied to it, then it is read whole).
# The bandwidth is the median of the samples at the same thread count (one per repetition);
# BW_GBS overrides it for every thread count.
bw = {}
for th in sorted({r["threads"] for r in bw_rows}):
    v = [r["gbs"] for r in bw_rows if r["threads"] == th]
    bw[th] = (statistics.median(v), min(v), max(v), len(v))
if float(os.environ.get("BW_GBS", "0") or 0) > 0:
    g = float(os.environ["BW_GBS"])
    bw = {th: (g, g, g, 1) for th in {r["threads"] for r in rows}}
if bw:
    from gguf import GGUFReader

    def bytes_per_token(path):
        t = {x.name: int(x.n_bytes) for x in GGUFReader(path).tensors}
        tied = "output.weight" not in t
        return sum(n for name, n in t.items() if tied or name != "token_embd.weight")

    print()
    print("Read bandwidth (`cargo bench --bench kernels -- bandwidth-only`, RAYON_NUM_THREADS threads "
          "summing 1 GiB, once per repetition), GB/s: " +
          "; ".join(f"{th} thread{'s' if th > 1 else ''} {m:.1f} ({lo:.1f}-{hi:.1f}, n={n})"
                    for th, (m, lo, hi, n) in sorted(bw.items())))
    print()
    print("Decode (tg128) against the read-bandwidth roofline of the same thread count (median bandwidth):")
    print()
    # `per repetition`: each decode against the bandwidth read in its own repetition (the rows of a
    # key and the bandwidth rows of a thread count pair up in order), median (min-max).
    print("| model | threads | weight bytes per token | roofline tok/s | llama.cpp % of roofline | vramplan % of roofline | llama.cpp % per repetition | vramplan % per repetition |")
    print("|---|---|---|---|---|---|---|---|")
    for m, th, test in keys:
        if test != "tg128" or th not in bw:
            continue
        b = bytes_per_token(m)
        roof = bw[th][0] * 1e9 / b
        pct, rep = {}, {}
        bws = [r["gbs"] for r in bw_rows if r["threads"] == th]
        for eng in ("llama.cpp", "vramplan"):
            v = [r["tok_s"] for r in rows if (r["engine"], r["model"], r["threads"], r["test"]) == (eng, m, th, test)]
            pct[eng] = f"{100 * statistics.median(v) / roof:.0f}%" if v else "-"
            per = [100 * t * b / (g * 1e9) for t, g in zip(v, bws)] if "BW_GBS" not in os.environ else []
            rep[eng] = f"{statistics.median(per):.0f}% ({min(per):.0f}-{max(per):.0f})" if per else "-"
        print(f"| {os.path.basename(m)} | {th} | {b / 1e6:.1f} MB | {roof:.1f} | {pct['llama.cpp']} | {pct['vramplan']} | {rep['llama.cpp']} | {rep['vramplan']} |")
