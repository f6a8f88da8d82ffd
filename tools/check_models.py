#!/usr/bin/env python3
"""Validate models.toml (the vramplan model / API-price catalogue).

Usage: python3 tools/check_models.py [path/to/models.toml] [--table]

Hard checks (exit status 1 on any failure):
  * every required model id is present, ids are unique and kebab-case
  * every [[model]] / [[api]] entry has its required keys and only schema keys
  * kv_heads divides heads; MoE models carry params_active_official
  * every entry has a source URL (and every model a params_source URL)
  * basic types / formats (YYYY-MM, YYYY-MM-DD, currency, gguf_arch, ...)
  * head_dim is only given when it differs from hidden_size / heads
  * [[api]].model, when given, names a model in the file

Soft check (warning only): a parameter count computed from the architecture
should be within 3 % (total) / 10 % (active) of the official count.
"""
import re
import sys
import tomllib
from pathlib import Path

REQUIRED_IDS = [
    "mistral-small-24b", "mixtral-8x7b", "mixtral-8x22b", "mistral-7b",
    "ministral-3b", "ministral-8b", "llama-2-7b", "llama-2-13b", "llama-2-70b",
    "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-3.2-1b",
    "llama-3.2-3b", "llama-3.3-70b", "qwen2.5-0.5b", "qwen2.5-7b",
    "qwen2.5-14b", "qwen2.5-32b", "qwen2.5-72b", "gemma-2-9b", "gemma-2-27b",
    "deepseek-v3", "deepseek-r1", "smollm2-135m", "smollm2-360m",
    "smollm2-1.7b",
]
MIN_MODELS = len(REQUIRED_IDS) + 12

MODEL_REQUIRED = {
    "id": str, "name": str, "family": str, "gguf_arch": str, "released": str,
    "source": str, "layers": int, "hidden_size": int, "ffn_size": int,
    "heads": int, "kv_heads": int, "vocab_size": int, "tied_embeddings": bool,
    "max_context": int, "params_total_official": float, "params_source": str,
}
MODEL_OPTIONAL = {
    "aliases": list, "head_dim": int, "qkv_bias": bool, "qk_norm": bool,
    "params_active_official": float, "params_active_excludes_input_embedding": bool,
    "params_active_excludes_embeddings": bool,
    "sliding_window": dict, "mla": dict,
    "moe": dict,
}
SW_REQUIRED = {"window": int}
SW_OPTIONAL = {"pattern": int}  # stated once, in src/arch/table.rs
MLA_REQUIRED = {"kv_lora_rank": int, "qk_rope_head_dim": int,
                "qk_nope_head_dim": int, "v_head_dim": int}
MLA_OPTIONAL = {"q_lora_rank": int}
MOE_REQUIRED = {"experts": int, "experts_per_token": int,
                "expert_ffn_size": int, "shared_experts": int,
                "dense_layers": int}
MOE_OPTIONAL = {"shared_expert_ffn_size": int, "router_bias": bool}
API_REQUIRED = {"id": str, "provider": str, "name": str, "currency": str,
                "input_per_million": float, "output_per_million": float,
                "date": str, "source": str}
API_OPTIONAL = {"model": str}



def arch_table() -> dict[str, dict]:
    """The rows of src/arch/table.rs (the one statement of architecture traits), read as text:
    gguf name -> {"catalogue", "swa_pattern", "post_norms"}."""
    src = (Path(__file__).resolve().parent.parent / "src/arch/table.rs").read_text()
    rows = {}
    for body in re.findall(r"ArchInfo \{\s*arch: Arch::\w+,(.*?)\n    \}", src, re.S):
        name = re.search(r'gguf: "([^"]+)"', body).group(1)
        swa = re.search(r"swa_pattern: Some\((\d+)\)", body)
        rows[name] = {
            "catalogue": "catalogue: false" not in body,
            "swa_pattern": int(swa.group(1)) if swa else None,
            "post_norms": "post_norms: true" in body,
        }
    return rows


ARCHS = arch_table()
GGUF_ARCHS = {name for name, row in ARCHS.items() if row["catalogue"]}
CURRENCIES = {"USD", "EUR"}
KEBAB = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")
YM = re.compile(r"^(19|20)\d\d-(0[1-9]|1[0-2])$")
YMD = re.compile(r"^(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
URL = re.compile(r"^https?://\S+$")

errors: list[str] = []
warnings: list[str] = []


def err(where: str, msg: str) -> None:
    errors.append(f"{where}: {msg}")


def type_ok(value, want) -> bool:
    if want is float:  # TOML ints are acceptable where a float is expected
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if want is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, want)


def check_table(where: str, table: dict, required: dict, optional: dict) -> None:
    for key, want in required.items():
        if key not in table:
            err(where, f"missing required key '{key}'")
        elif not type_ok(table[key], want):
            err(where, f"'{key}' should be {want.__name__}, got {table[key]!r}")
    for key, value in table.items():
        if key in required:
            continue
        if key not in optional:
            err(where, f"unknown key '{key}' (not in schema)")
        elif not type_ok(value, optional[key]):
            err(where, f"'{key}' should be {optional[key].__name__}, got {value!r}")


def head_dim_of(m: dict) -> int:
    return m.get("head_dim", m["hidden_size"] // m["heads"])


def estimate_params(m: dict) -> tuple[float, float]:
    """Rough (total, active) parameter count from the architecture."""
    h, L, V = m["hidden_size"], m["layers"], m["vocab_size"]
    heads, kv = m["heads"], m["kv_heads"]
    embed = V * h * (1 if m["tied_embeddings"] else 2)
    mla = m.get("mla")
    if mla:
        qk = mla["qk_nope_head_dim"] + mla["qk_rope_head_dim"]
        q_lora = mla.get("q_lora_rank")
        q = (h * q_lora + q_lora + q_lora * heads * qk) if q_lora else h * heads * qk
        kv_a = h * (mla["kv_lora_rank"] + mla["qk_rope_head_dim"]) + mla["kv_lora_rank"]
        kv_b = mla["kv_lora_rank"] * heads * (mla["qk_nope_head_dim"] + mla["v_head_dim"])
        attn = q + kv_a + kv_b + heads * mla["v_head_dim"] * h
    else:
        hd = head_dim_of(m)
        attn = h * heads * hd + 2 * h * kv * hd + heads * hd * h
        if m.get("qkv_bias"):
            attn += heads * hd + 2 * kv * hd
        if m.get("qk_norm"):
            attn += 2 * hd
    norms = 4 * h if ARCHS[m["gguf_arch"]]["post_norms"] else 2 * h
    dense_ffn = 3 * h * m["ffn_size"]
    moe = m.get("moe")
    if not moe:
        total = embed + L * (attn + dense_ffn + norms) + h
        return total, total
    expert = 3 * h * moe["expert_ffn_size"]
    shared_w = moe.get("shared_expert_ffn_size",
                       moe["expert_ffn_size"] * moe["shared_experts"])
    shared = 3 * h * shared_w
    router = h * moe["experts"] + (moe["experts"] if moe.get("router_bias") else 0)
    nd = moe["dense_layers"]
    nm = L - nd
    base = embed + L * (attn + norms) + nd * dense_ffn + h
    total = base + nm * (moe["experts"] * expert + shared + router)
    active = base + nm * (moe["experts_per_token"] * expert + shared + router)
    if m.get("params_active_excludes_embeddings"):
        active -= embed
    elif m.get("params_active_excludes_input_embedding") and not m["tied_embeddings"]:
        active -= V * h
    return total, active


def check_model(i: int, m: dict) -> None:
    where = f"model[{i}] {m.get('id', '?')}"
    check_table(where, m, MODEL_REQUIRED, MODEL_OPTIONAL)
    if any(e.startswith(where + ":") for e in errors):
        return
    if not KEBAB.match(m["id"]):
        err(where, "id is not lower-case kebab-case")
    if m["gguf_arch"] not in GGUF_ARCHS:
        err(where, f"gguf_arch '{m['gguf_arch']}' not in {sorted(GGUF_ARCHS)}")
    if not YM.match(m["released"]):
        err(where, "released must be YYYY-MM")
    for key in ("source", "params_source"):
        if not URL.match(m[key]):
            err(where, f"{key} is not a URL")
    for key in ("layers", "hidden_size", "ffn_size", "heads", "kv_heads",
                "vocab_size", "max_context"):
        if m[key] <= 0:
            err(where, f"{key} must be positive")
    if m["kv_heads"] > 0 and m["heads"] % m["kv_heads"] != 0:
        err(where, f"kv_heads {m['kv_heads']} does not divide heads {m['heads']}")
    if "head_dim" in m and m["head_dim"] * m["heads"] == m["hidden_size"]:
        err(where, "head_dim equals hidden_size/heads; omit it")
    if "head_dim" not in m and m["hidden_size"] % m["heads"] != 0:
        err(where, "hidden_size not divisible by heads and no head_dim given")
    if m["params_total_official"] < 1e6:
        err(where, "params_total_official looks too small (give a count, e.g. 8.03e9)")
    if not all(isinstance(a, str) and a for a in m.get("aliases", [])):
        err(where, "aliases must be non-empty strings")
    sw = m.get("sliding_window")
    if sw is not None:
        check_table(where + ".sliding_window", sw, SW_REQUIRED, SW_OPTIONAL)
        want = ARCHS.get(m["gguf_arch"], {}).get("swa_pattern")
        if want is None:
            err(where, f"gguf_arch '{m['gguf_arch']}' has no sliding-window layers")
        elif "pattern" in sw and sw["pattern"] != want:
            err(where, f"sliding_window.pattern {sw['pattern']} differs from the table's {want}")
    if m.get("mla") is not None:
        check_table(where + ".mla", m["mla"], MLA_REQUIRED, MLA_OPTIONAL)
    moe = m.get("moe")
    if moe is not None:
        check_table(where + ".moe", moe, MOE_REQUIRED, MOE_OPTIONAL)
        if "params_active_official" not in m:
            err(where, "MoE model needs params_active_official")
        if type_ok(moe.get("experts_per_token"), int) and type_ok(moe.get("experts"), int) \
                and not 0 < moe["experts_per_token"] <= moe["experts"]:
            err(where, "moe.experts_per_token must be in 1..experts")
        if type_ok(moe.get("dense_layers"), int) and not 0 <= moe["dense_layers"] < m["layers"]:
            err(where, "moe.dense_layers out of range")
    pa = m.get("params_active_official")
    if pa is not None and pa > m["params_total_official"]:
        err(where, "params_active_official exceeds params_total_official")


def check_api(i: int, a: dict, model_ids: set) -> None:
    where = f"api[{i}] {a.get('id', '?')}"
    check_table(where, a, API_REQUIRED, API_OPTIONAL)
    if any(e.startswith(where + ":") for e in errors):
        return
    if not KEBAB.match(a["id"]):
        err(where, "id is not lower-case kebab-case")
    if a["currency"] not in CURRENCIES:
        err(where, f"currency must be one of {sorted(CURRENCIES)}")
    if not YMD.match(a["date"]):
        err(where, "date must be YYYY-MM-DD")
    if not URL.match(a["source"]):
        err(where, "source is not a URL")
    if a["input_per_million"] < 0 or a["output_per_million"] < 0:
        err(where, "prices must be >= 0")
    if "model" in a and a["model"] not in model_ids:
        err(where, f"model '{a['model']}' is not a catalogue id")


def main() -> int:
    args = [x for x in sys.argv[1:] if not x.startswith("--")]
    show_table = "--table" in sys.argv
    path = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "models.toml"
    with open(path, "rb") as f:
        data = tomllib.load(f)

    for key in data:
        if key not in ("model", "api"):
            err("top level", f"unknown table '{key}'")
    models = data.get("model", [])
    apis = data.get("api", [])

    for i, m in enumerate(models):
        check_model(i, m)
    ids = [m.get("id") for m in models]
    seen = set()
    for mid in ids:
        if mid in seen:
            err("models", f"duplicate id '{mid}'")
        seen.add(mid)
    for rid in REQUIRED_IDS:
        if rid not in seen:
            err("models", f"required id '{rid}' missing")
    if len(models) < MIN_MODELS:
        err("models", f"only {len(models)} models, want at least {MIN_MODELS}")

    api_seen = set()
    for i, a in enumerate(apis):
        check_api(i, a, seen)
        if a.get("id") in api_seen:
            err("api", f"duplicate id '{a.get('id')}'")
        api_seen.add(a.get("id"))

    # soft check: architecture-derived parameter count vs official count
    rows = []
    for m in models:
        try:
            tot, act = estimate_params(m)
        except (KeyError, TypeError, ZeroDivisionError):
            continue
        off = m["params_total_official"]
        d_tot = tot / off - 1
        line = f"{m['id']:32s} computed {tot/1e9:9.3f}B official {off/1e9:9.3f}B ({d_tot:+.1%})"
        if abs(d_tot) > 0.03:
            warnings.append(f"{m['id']}: computed total {tot/1e9:.3f}B vs official {off/1e9:.3f}B ({d_tot:+.1%})")
        if "moe" in m and "params_active_official" in m:
            offa = m["params_active_official"]
            d_act = act / offa - 1
            line += f" | active {act/1e9:.2f}B vs {offa/1e9:.2f}B ({d_act:+.1%})"
            if abs(d_act) > 0.10:
                warnings.append(f"{m['id']}: computed active {act/1e9:.2f}B vs official {offa/1e9:.2f}B ({d_act:+.1%})")
        rows.append(line)
    if show_table:
        print("\n".join(rows))

    for w in warnings:
        print(f"warning: {w}")
    for e in errors:
        print(f"error: {e}")
    print(f"{path}: {len(models)} models, {len(apis)} api prices, "
          f"{len(errors)} errors, {len(warnings)} warnings")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
