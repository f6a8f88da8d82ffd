#!/usr/bin/env python3
"""House checks of issue 12 over src/ (stdlib only; exit 1 when a check fails):

  (a) no function over 150 lines, unless its doc comment says it is a port of an upstream
      function and names it ("Port of `llama_tensor_get_type`");
  (b) no `use crate::X` / `crate::X::` path that points up the layer map (src/lib.rs);
  (c) no GGUF architecture name compared as a string outside the architecture table module.

Usage: tools/check_house.py [--root DIR] [--arch-table PATH ...] [--only a|b|c] [--max-lines N]
"""

import argparse
import os
import re
import sys

# Lowest first; a module may import only from its own tree or from a group listed before its
# own. Keep in step with the map in src/lib.rs and ARCHITECTURE.md.
LAYERS = [
    ["units", "files"],
    ["ggml"],
    # The architecture table imports nothing from the crate: the catalogue checks `gguf_arch`
    # against it, below the rest of `arch` (which builds inventories from catalogue entries).
    ["arch::table"],
    ["catalog"],
    ["arch"],
    ["gguf", "hf"],
    ["quant"],
    ["kernels"],
    ["quantize", "local"],
    ["estimate"],
    ["input"],
    ["engine"],
    ["hw"],
    ["measure", "plan"],
    ["report"],
]
RANK = {m: i for i, group in enumerate(LAYERS) for m in group}

# The module that owns architecture names (house-arch's table); comparisons there are the table.
DEFAULT_ARCH_TABLES = ["src/arch/table.rs"]

# Files whose string matches share spellings with architectures but are other namespaces:
# the tokenizer matches `tokenizer.ggml.pre` / `tokenizer.ggml.model` values ("qwen2",
# "command-r", "exaone", "llama" are pre-tokenizer and vocabulary names there).
NOT_ARCH_NAMES = {"src/engine/tokenizer.rs"}

# GGUF `general.architecture` values beyond those models.toml names (llama.cpp's
# LLM_ARCH_NAMES that the code has met or may meet).
EXTRA_ARCHS = [
    "llama", "llama4", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "gemma", "gemma2", "gemma3",
    "gemma3n", "deepseek2", "phi3", "phimoe", "falcon", "gpt-oss", "cohere2", "command-r",
    "olmo2", "granite", "glm4", "starcoder2", "mistral3", "exaone",
]


def strip_code(text):
    """The text with comments, string and char literals blanked (newlines kept), so braces and
    words count only where they are code. Returns (code, strings) where strings lists
    (line, literal) of every plain string literal."""
    out = []
    strings = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "\n":
            line += 1
            out.append(c)
            i += 1
        elif c == "/" and nxt == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            chunk = text[i:j]
            line += chunk.count("\n")
            out.append(re.sub(r"[^\n]", " ", chunk))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not re.match(r"\w", text[i - 1:i] or " "):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            chunk = text[i:end]
            line += chunk.count("\n")
            out.append(re.sub(r"[^\n]", " ", chunk))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            chunk = text[i:j + 1]
            strings.append((line, chunk[1:-1]))
            line += chunk.count("\n")
            out.append('"' + re.sub(r"[^\n]", " ", chunk[1:-1]) + '"')
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            m = re.match(r"'(\\(u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'", text[i:i + 12])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out), strings


def rust_files(root):
    for d, _, files in os.walk(os.path.join(root, "src")):
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(d, f)


FN_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?"
                   r"(?:extern\s+\"[^\"]*\"\s+)?fn\s+([A-Za-z_]\w*)")
# "a port of llama.cpp's `llama_tensor_get_type_impl`": the upstream function, in backticks,
# at most one word ("llama.cpp's") after "port of".
PORT_RE = re.compile(r"[Pp]ort of (?:[\w.']+ )?`([A-Za-z_][\w:]*)`")


def long_functions(path, max_lines):
    """(name, first line, length, upstream or None) of each function over max_lines."""
    raw = open(path, encoding="utf-8").read()
    code, _ = strip_code(raw)
    raw_lines = raw.split("\n")
    lines = code.split("\n")
    found = []
    for idx, l in enumerate(lines):
        m = FN_RE.match(l)
        if not m:
            continue
        # The body: from the first `{` after the signature to its matching `}` (a `;` first
        # means a declaration without body).
        depth, start, end = 0, None, None
        for j in range(idx, len(lines)):
            for ch in lines[j]:
                if start is None and ch == ";" and depth == 0:
                    end = -1
                    break
                if ch == "{":
                    depth += 1
                    start = j if start is None else start
                elif ch == "}":
                    depth -= 1
                    if start is not None and depth == 0:
                        end = j
                        break
            if end is not None:
                break
        if end is None or end < 0:
            continue
        length = end - idx + 1
        if length <= max_lines:
            continue
        # Its doc comment: the `///` lines (and attributes) right above.
        doc = []
        k = idx - 1
        while k >= 0 and (raw_lines[k].strip().startswith("///") or raw_lines[k].strip().startswith("#[")):
            doc.append(raw_lines[k])
            k -= 1
        port = PORT_RE.search(" ".join(doc))
        found.append((m.group(1), idx + 1, length, port.group(1) if port else None))
    return found


def module_of(root, path):
    """The top-level library module a file belongs to, or None for the binary (app, main, cli)
    and the crate root."""
    rel = os.path.relpath(path, os.path.join(root, "src")).replace(os.sep, "/")
    top = rel.split("/")[0]
    if top in ("app", "main.rs", "cli.rs", "lib.rs"):
        return None
    parts = [p[:-3] if p.endswith(".rs") else p for p in rel.split("/")]
    # The deepest layer-map entry the file falls under (`arch::table` before `arch`).
    for depth in range(len(parts), 0, -1):
        name = "::".join(parts[:depth])
        if name in RANK:
            return name
    return parts[0]


def crate_paths(code):
    """(line, module) of every `crate::X` path, `use crate::{X, Y}` groups expanded."""
    out = []
    for m in re.finditer(r"\bcrate::(\{[^}]*\}|[A-Za-z_]\w*(?:::[A-Za-z_]\w*)*)", code):
        line = code.count("\n", 0, m.start()) + 1
        target = m.group(1)
        if target.startswith("{"):
            for part in re.split(r",", target[1:-1]):
                name = re.match(r"\s*([A-Za-z_]\w*)", part)
                if name and name.group(1) != "self":
                    out.append((line, name.group(1)))
        else:
            out.append((line, layer_of_path(target)))
    return out


def layer_of_path(path):
    """The layer-map entry a `crate::` path lands in: its deepest listed prefix."""
    parts = path.split("::")
    for depth in range(len(parts), 0, -1):
        name = "::".join(parts[:depth])
        if name in RANK:
            return name
    return parts[0]


def upward_imports(root, path):
    me = module_of(root, path)
    if me is None or me not in RANK:
        return []
    code, _ = strip_code(open(path, encoding="utf-8").read())
    bad = []
    for line, target in crate_paths(code):
        if target == me or target not in RANK or target.startswith(me + "::"):
            continue
        if RANK[target] >= RANK[me]:
            bad.append((line, target))
    return bad


def arch_names(root):
    names = set(EXTRA_ARCHS)
    try:
        toml = open(os.path.join(root, "models.toml"), encoding="utf-8").read()
        names.update(re.findall(r'^\s*gguf_arch\s*=\s*"([^"]+)"', toml, re.M))
    except OSError:
        pass
    return names


def arch_comparisons(path, names):
    """(line, name) of each architecture name used as a string literal in a comparison: `==`,
    `!=`, a match arm or pattern, `matches!`, `starts_with`/`ends_with`/`contains`."""
    raw = open(path, encoding="utf-8").read()
    raw_lines = raw.split("\n")
    _, strings = strip_code(raw)
    hits = []
    for line, lit in strings:
        if lit not in names:
            continue
        text = raw_lines[line - 1]
        q = re.escape('"' + lit + '"')
        if re.search(r"(==|!=)\s*" + q + r"|" + q + r"\s*(==|!=|=>|\|)|\|\s*" + q
                     + r"|(starts_with|ends_with|contains)\(\s*" + q + r"|matches!\(", text):
            hits.append((line, lit))
    return hits


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--arch-table", action="append", help="module allowed to compare architecture names (repeatable)")
    ap.add_argument("--only", choices=["a", "b", "c"], action="append")
    ap.add_argument("--max-lines", type=int, default=150)
    a = ap.parse_args()
    root = os.path.normpath(a.root)
    checks = set(a.only or ["a", "b", "c"])
    tables = {os.path.normpath(os.path.join(root, t)) for t in (a.arch_table or DEFAULT_ARCH_TABLES)}
    files = list(rust_files(root))
    failed = False

    if "a" in checks:
        long_fns, ports = [], []
        for f in files:
            for name, line, length, port in long_functions(f, a.max_lines):
                rel = os.path.relpath(f, root)
                (ports if port else long_fns).append((rel, line, name, length, port))
        for rel, line, name, length, port in ports:
            print(f"(a) ok: {rel}:{line} fn {name} is {length} lines, a port of {port}")
        for rel, line, name, length, _ in long_fns:
            print(f"(a) FAIL: {rel}:{line} fn {name} is {length} lines (over {a.max_lines}, not a named port)")
        print(f"(a) functions over {a.max_lines} lines: {len(long_fns)} (+{len(ports)} named ports)")
        failed |= bool(long_fns)

    if "b" in checks:
        n = 0
        for f in files:
            me = module_of(root, f)
            for line, target in upward_imports(root, f):
                n += 1
                print(f"(b) FAIL: {os.path.relpath(f, root)}:{line} `{me}` uses crate::{target}, "
                      f"which is not below it in the layer map")
        print(f"(b) imports pointing up the layer map: {n}")
        failed |= n > 0

    if "c" in checks:
        names = arch_names(root)
        n = 0
        for f in files:
            if os.path.normpath(f) in tables or os.path.relpath(f, root) in NOT_ARCH_NAMES:
                continue
            for line, lit in arch_comparisons(f, names):
                n += 1
                print(f"(c) FAIL: {os.path.relpath(f, root)}:{line} compares the architecture name \"{lit}\" "
                      f"outside the architecture table ({', '.join(sorted(os.path.relpath(t, root) for t in tables))})")
        print(f"(c) architecture names compared outside the table: {n}")
        failed |= n > 0

    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
