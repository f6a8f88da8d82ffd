#!/usr/bin/env python3
"""Validate hardware.toml (the vramplan device catalogue).

Usage: python3 tools/check_hardware.py [path/to/hardware.toml] [--table]

Hard checks (exit status 1 on any failure):
  * every required device id is present; ids are unique lower-case kebab-case
  * `[[network]]` entries: kind, link rate (Gb/s), small-message latency (us), a URL for each;
    the speed model's default networks are present
  * at least MIN_DEVICES devices
  * every [[device]] / [[device.cloud]] has its required keys, only schema keys,
    and values of the right type / enum / format (YYYY-MM, https URLs)
  * memory_bytes agrees with the `memory` string within 5 % (read as GiB or GB)
  * apple entries carry memory_options_gb and gpu_memory_share in (0, 1];
    cpu entries carry memory_options_gb; gpu entries carry neither; where
    options are given, memory_bytes == largest option x 2^30 (as the loader
    in src/catalog/device.rs requires)
  * street_price_* fields come together (kind new|used)
  * memory_option_prices_usd (apple/cpu): one positive price per entry of
    memory_options_gb, and it comes with memory_option_prices_source (https URL)
    and memory_option_prices_date (YYYY-MM); those two never stand alone
  * every entry and every cloud price has a source URL
  * aliases do not resolve to two different devices (same folding as the
    Rust lookup: lower-case, non-alphanumerics -> '-', vendor words dropped)

  * arch is a generation that exists for the entry's kind and vendor
    (NVIDIA: volta..blackwell; AMD GPUs: rdna3, cdna2, cdna3; apple-mN; x86-64)

Soft checks (warnings): dense-tensor ordering sanity (fp8 >= fp16, bf16 <=
fp16 x 1.01), GeForce-style bf16 == fp16, pcie fields only on GPUs.
"""
import re
import sys
import tomllib
from pathlib import Path

REQUIRED_IDS = [
    # NVIDIA GeForce
    "rtx-3060-12gb", "rtx-3060-ti", "rtx-3090", "rtx-4060-ti-16gb",
    "rtx-4070-ti-super", "rtx-4080", "rtx-4090", "rtx-5080", "rtx-5090",
    # NVIDIA workstation
    "rtx-a6000", "rtx-6000-ada", "rtx-pro-6000",
    # NVIDIA datacenter
    "l4", "l40s", "a100-40gb", "a100-80gb-pcie", "a100-80gb-sxm",
    "h100-pcie", "h100-sxm", "h200", "b200",
    # AMD
    "rx-7900-xtx", "mi300x",
    # Apple
    "m1", "m1-pro", "m1-max", "m1-ultra", "m2", "m2-pro", "m2-max",
    "m2-ultra", "m3", "m3-pro", "m3-max", "m3-ultra", "m4", "m4-pro",
    "m4-max",
    # CPU hosts
    "ddr4-desktop-2ch", "ddr5-desktop-2ch", "ddr5-server-8ch",
    "ddr5-server-12ch",
]
MIN_DEVICES = 45

NUM = (int, float)
DEVICE_REQUIRED = {
    "id": str, "name": str, "kind": str, "vendor": str, "segment": str,
    "arch": str,
    "released": str, "memory": str, "memory_bytes": int, "memory_type": str,
    "bandwidth_gb_s": NUM, "fp16_tensor_tflops_dense": NUM,
    "tdp_watts": NUM, "source": str,
}
DEVICE_OPTIONAL = {
    "aliases": list, "bf16_tensor_tflops_dense": NUM,
    "fp8_tensor_tflops_dense": NUM, "int8_tensor_tops_dense": NUM,
    "pcie_gen": int, "pcie_lanes": int, "nvlink_gb_s": NUM,
    "launch_price_usd": NUM, "launch_price_source": str,
    "street_price_usd": NUM, "street_price_kind": str,
    "street_price_date": str, "street_price_source": str,
    "memory_options_gb": list, "gpu_memory_share": NUM, "cloud": list,
    "memory_option_prices_usd": list, "memory_option_prices_source": str,
    "memory_option_prices_date": str,
    "memory_option_bandwidth_gb_s": list, "memory_option_gpu_cores": list,
    "memory_option_specs_source": str,
}
CLOUD_REQUIRED = {"provider": str, "usd_per_gpu_hour": NUM, "date": str,
                  "source": str}
CLOUD_OPTIONAL: dict = {}

KINDS = {"gpu", "apple", "cpu"}
# Architecture generation (src/catalog/device.rs `Arch`), per kind and vendor.
ARCHS = {
    ("gpu", "nvidia"): {"pascal", "volta", "turing", "ampere", "ada", "hopper", "blackwell"},
    ("gpu", "amd"): {"rdna3", "cdna2", "cdna3"},
    ("apple", "apple"): {"apple-m1", "apple-m2", "apple-m3", "apple-m4"},
    ("cpu", "amd"): {"x86-64"},
    ("cpu", "intel"): {"x86-64"},
}
VENDORS = {"nvidia", "amd", "apple", "intel"}
SEGMENTS = {"consumer", "workstation", "datacenter", "laptop", "desktop",
            "server"}
STREET_KINDS = {"new", "used"}
STREET_KEYS = ["street_price_usd", "street_price_kind", "street_price_date",
               "street_price_source"]

KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
YYYY_MM = re.compile(r"^(19|20)\d\d-(0[1-9]|1[0-2])$")
URL = re.compile(r"^https://\S+$")
MEM_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(GB|TB)\b", re.IGNORECASE)
GIB = 1 << 30


def normalize(s: str) -> str:
    """Same folding as vramplan's catalog::normalize."""
    out = ""
    for c in s.strip():
        c = c.lower()
        if (c.isascii() and c.isalnum()) or c == ".":
            out += c
        elif out and not out.endswith("-"):
            out += "-"
    return out.rstrip("-")


def strip_vendor(s: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in ("nvidia-", "geforce-", "amd-", "radeon-", "apple-",
                  "instinct-"):
            if s.startswith(p):
                s = s[len(p):]
                changed = True
    return s


def type_ok(value, expected) -> bool:
    if expected is NUM or expected == NUM:
        return isinstance(value, NUM) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def check_keys(entry: dict, required: dict, optional: dict, where: str,
               errors: list) -> None:
    for key, typ in required.items():
        if key not in entry:
            errors.append(f"{where}: missing required key `{key}`")
        elif not type_ok(entry[key], typ):
            errors.append(f"{where}: `{key}` has wrong type "
                          f"({type(entry[key]).__name__})")
    for key, value in entry.items():
        if key in required:
            continue
        if key not in optional:
            errors.append(f"{where}: unknown key `{key}` (the loader rejects it)")
        elif not type_ok(value, optional[key]):
            errors.append(f"{where}: `{key}` has wrong type "
                          f"({type(value).__name__})")


def memory_string_bytes(memory: str):
    m = MEM_RE.search(memory)
    if not m:
        return None
    n = float(m.group(1))
    scale = GIB if m.group(2).upper() == "GB" else GIB * 1024
    dec = 1e9 if m.group(2).upper() == "GB" else 1e12
    return n * scale, n * dec


def check_device(d: dict, errors: list, warnings: list) -> None:
    did = d.get("id", "?")
    where = f"device `{did}`"
    check_keys(d, DEVICE_REQUIRED, DEVICE_OPTIONAL, where, errors)

    if isinstance(d.get("id"), str) and not KEBAB.match(d["id"]):
        errors.append(f"{where}: id is not lower-case kebab-case")
    kind = d.get("kind")
    if kind not in KINDS:
        errors.append(f"{where}: kind `{kind}` not in {sorted(KINDS)}")
    if d.get("vendor") not in VENDORS:
        errors.append(f"{where}: vendor `{d.get('vendor')}` not in {sorted(VENDORS)}")
    if d.get("segment") not in SEGMENTS:
        errors.append(f"{where}: segment `{d.get('segment')}` not in {sorted(SEGMENTS)}")
    archs = ARCHS.get((kind, d.get("vendor")), set())
    if d.get("arch") not in archs:
        errors.append(f"{where}: arch `{d.get('arch')}` not in {sorted(archs)} for a {d.get('vendor')} {kind}")
    if isinstance(d.get("released"), str) and not YYYY_MM.match(d["released"]):
        errors.append(f"{where}: released `{d['released']}` is not YYYY-MM")

    # URLs
    for key in ("source", "launch_price_source", "street_price_source",
                "memory_option_prices_source"):
        if key in d and isinstance(d[key], str) and not URL.match(d[key]):
            errors.append(f"{where}: `{key}` is not an https URL: {d[key]!r}")
    if isinstance(d.get("source"), str) and not d["source"].strip():
        errors.append(f"{where}: empty source")

    # positive numbers
    for key in ("memory_bytes", "bandwidth_gb_s", "fp16_tensor_tflops_dense",
                "tdp_watts"):
        v = d.get(key)
        if isinstance(v, NUM) and not v > 0:
            errors.append(f"{where}: `{key}` must be positive, got {v}")
    for key in ("bf16_tensor_tflops_dense", "fp8_tensor_tflops_dense",
                "int8_tensor_tops_dense", "nvlink_gb_s", "launch_price_usd",
                "street_price_usd"):
        v = d.get(key)
        if isinstance(v, NUM) and not v >= 0:
            errors.append(f"{where}: `{key}` must be non-negative, got {v}")

    # memory string vs bytes
    mem, mb = d.get("memory"), d.get("memory_bytes")
    if isinstance(mem, str) and isinstance(mb, int):
        parsed = memory_string_bytes(mem)
        if parsed is None:
            errors.append(f"{where}: cannot find a capacity (N GB / N TB) in memory {mem!r}")
        else:
            as_bin, as_dec = parsed
            if not (abs(mb - as_bin) <= 0.05 * as_bin
                    or abs(mb - as_dec) <= 0.05 * as_dec):
                errors.append(f"{where}: memory_bytes {mb} disagrees with memory "
                              f"{mem!r} by more than 5 %")

    # kind-specific memory options / share
    opts = d.get("memory_options_gb")
    share = d.get("gpu_memory_share")
    if opts is not None:
        if (not opts or not all(isinstance(x, int) and not isinstance(x, bool)
                                and x > 0 for x in opts)):
            errors.append(f"{where}: memory_options_gb must be a non-empty list of positive integers")
        elif opts != sorted(set(opts)):
            errors.append(f"{where}: memory_options_gb must be ascending without duplicates")
        elif isinstance(mb, int) and mb != max(opts) * GIB:
            errors.append(f"{where}: memory_bytes {mb} != largest option "
                          f"{max(opts)} GB x 2^30 = {max(opts) * GIB}")
    if kind == "apple":
        if opts is None:
            errors.append(f"{where}: apple entry needs memory_options_gb")
        if share is None:
            errors.append(f"{where}: apple entry needs gpu_memory_share")
        elif isinstance(share, NUM) and not (0 < share <= 1):
            errors.append(f"{where}: gpu_memory_share must be in (0, 1], got {share}")
    elif kind == "cpu":
        if opts is None:
            errors.append(f"{where}: cpu entry needs memory_options_gb")
        if share is not None:
            errors.append(f"{where}: gpu_memory_share is for apple entries only")
    elif kind == "gpu":
        if opts is not None or share is not None:
            errors.append(f"{where}: memory_options_gb / gpu_memory_share are for apple and cpu kinds only")
    if kind != "gpu":
        for key in ("pcie_gen", "pcie_lanes", "nvlink_gb_s"):
            if key in d:
                warnings.append(f"{where}: `{key}` given on a non-GPU entry")

    # street price fields together
    present = [k in d for k in STREET_KEYS]
    if any(present) and not all(present):
        missing = [k for k, p in zip(STREET_KEYS, present) if not p]
        errors.append(f"{where}: street price fields must come together; missing {missing}")
    if "street_price_kind" in d and d["street_price_kind"] not in STREET_KINDS:
        errors.append(f"{where}: street_price_kind must be one of {sorted(STREET_KINDS)}")
    if isinstance(d.get("street_price_date"), str) and not YYYY_MM.match(d["street_price_date"]):
        errors.append(f"{where}: street_price_date is not YYYY-MM")
    # per-memory-option prices (apple / cpu)
    oprices = d.get("memory_option_prices_usd")
    if oprices is not None:
        if opts is None:
            errors.append(f"{where}: memory_option_prices_usd without memory_options_gb")
        elif isinstance(opts, list) and len(oprices) != len(opts):
            errors.append(f"{where}: memory_option_prices_usd has {len(oprices)} "
                          f"entries but memory_options_gb has {len(opts)}")
        if not all(type_ok(x, NUM) and x > 0 for x in oprices):
            errors.append(f"{where}: memory_option_prices_usd must be positive numbers")
        for key in ("memory_option_prices_source", "memory_option_prices_date"):
            if key not in d:
                errors.append(f"{where}: memory_option_prices_usd needs `{key}`")
    else:
        for key in ("memory_option_prices_source", "memory_option_prices_date"):
            if key in d:
                errors.append(f"{where}: `{key}` without memory_option_prices_usd")
    if isinstance(d.get("memory_option_prices_date"), str) and not YYYY_MM.match(d["memory_option_prices_date"]):
        errors.append(f"{where}: memory_option_prices_date is not YYYY-MM")
    # per-memory-option specs of binned chips (apple): bandwidth and GPU cores
    for key in ("memory_option_bandwidth_gb_s", "memory_option_gpu_cores"):
        vals = d.get(key)
        if vals is None:
            continue
        if not isinstance(opts, list) or len(vals) != len(opts):
            errors.append(f"{where}: {key} needs one entry per memory option")
        if not all(type_ok(x, NUM) and x > 0 for x in vals):
            errors.append(f"{where}: {key} must be positive numbers")
        if not str(d.get("memory_option_specs_source", "")).startswith("https://"):
            errors.append(f"{where}: {key} needs memory_option_specs_source (https URL)")
        if key == "memory_option_bandwidth_gb_s" and isinstance(vals, list) and vals \
                and max(vals) != d.get("bandwidth_gb_s"):
            errors.append(f"{where}: bandwidth_gb_s must be the fastest option's")
    if "launch_price_source" in d and "launch_price_usd" not in d:
        errors.append(f"{where}: launch_price_source without launch_price_usd")

    # aliases
    aliases = d.get("aliases", [])
    if isinstance(aliases, list):
        if not all(isinstance(a, str) and a.strip() for a in aliases):
            errors.append(f"{where}: aliases must be non-empty strings")

    # pcie
    if "pcie_gen" in d and isinstance(d["pcie_gen"], int) and not 1 <= d["pcie_gen"] <= 7:
        errors.append(f"{where}: implausible pcie_gen {d['pcie_gen']}")
    if "pcie_lanes" in d and d["pcie_lanes"] not in (1, 2, 4, 8, 16):
        errors.append(f"{where}: implausible pcie_lanes {d['pcie_lanes']}")

    # cloud prices
    cloud = d.get("cloud", [])
    if isinstance(cloud, list):
        for i, c in enumerate(cloud):
            cw = f"{where} cloud[{i}]"
            if not isinstance(c, dict):
                errors.append(f"{cw}: not a table")
                continue
            check_keys(c, CLOUD_REQUIRED, CLOUD_OPTIONAL, cw, errors)
            if isinstance(c.get("usd_per_gpu_hour"), NUM) and not c["usd_per_gpu_hour"] > 0:
                errors.append(f"{cw}: usd_per_gpu_hour must be positive")
            if isinstance(c.get("date"), str) and not YYYY_MM.match(c["date"]):
                errors.append(f"{cw}: date is not YYYY-MM")
            if isinstance(c.get("source"), str) and not URL.match(c["source"]):
                errors.append(f"{cw}: source is not an https URL")

    # soft sanity on tensor figures
    fp16 = d.get("fp16_tensor_tflops_dense")
    bf16 = d.get("bf16_tensor_tflops_dense")
    fp8 = d.get("fp8_tensor_tflops_dense")
    if isinstance(fp16, NUM) and isinstance(fp8, NUM) and fp8 < fp16:
        warnings.append(f"{where}: fp8 ({fp8}) below fp16 ({fp16})")
    if isinstance(fp16, NUM) and isinstance(bf16, NUM) and bf16 > fp16 * 1.01:
        warnings.append(f"{where}: bf16 ({bf16}) above fp16 ({fp16})")


NETWORK_KINDS = {"infiniband", "ethernet-rdma", "ethernet"}
NETWORK_REQUIRED = {"id": str, "name": str, "kind": str, "bandwidth_gbit_s": NUM,
                    "latency_us": NUM, "latency_source": str, "source": str}
NETWORK_OPTIONAL = {"aliases": list}
# The speed model's built-in defaults (src/estimate/speed.rs) must be catalogue entries.
NETWORK_DEFAULTS = ("infiniband-ndr", "ethernet-10g")


def check_network(n: dict, errors: list) -> None:
    """A `[[network]]` entry: link rate and small-message latency, each with a source."""
    where = f"network `{n.get('id', '?')}`"
    check_keys(n, NETWORK_REQUIRED, NETWORK_OPTIONAL, where, errors)
    if not KEBAB.match(str(n.get("id", ""))):
        errors.append(f"{where}: id must be lower-case kebab-case")
    if n.get("kind") not in NETWORK_KINDS:
        errors.append(f"{where}: kind must be one of {sorted(NETWORK_KINDS)}")
    bw = n.get("bandwidth_gbit_s")
    if type_ok(bw, NUM) and not 1.0 <= bw <= 3200.0:
        errors.append(f"{where}: bandwidth_gbit_s {bw} outside 1..3200 Gb/s")
    lat = n.get("latency_us")
    if type_ok(lat, NUM) and not 0.1 <= lat <= 1000.0:
        errors.append(f"{where}: latency_us {lat} outside 0.1..1000 us")
    for key in ("source", "latency_source"):
        if not URL.match(str(n.get(key, ""))):
            errors.append(f"{where}: `{key}` must be a URL")
    if not all(isinstance(a, str) for a in n.get("aliases", []) or []):
        errors.append(f"{where}: aliases must be strings")


def main(argv: list) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    table = "--table" in argv
    path = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "hardware.toml"
    with open(path, "rb") as f:
        data = tomllib.load(f)

    errors: list = []
    warnings: list = []
    unknown_top = set(data) - {"device", "model", "api", "network"}
    if unknown_top:
        errors.append(f"unknown top-level keys: {sorted(unknown_top)}")
    devices = data.get("device", [])
    if not isinstance(devices, list):
        errors.append("`device` must be an array of tables ([[device]])")
        devices = []

    seen: dict = {}
    for d in devices:
        check_device(d, errors, warnings)
        did = d.get("id")
        if did in seen:
            errors.append(f"duplicate device id `{did}`")
        seen[did] = d

    networks = data.get("network", [])
    net_ids: set = set()
    for n in networks:
        check_network(n, errors)
        if n.get("id") in net_ids or n.get("id") in seen:
            errors.append(f"duplicate id `{n.get('id')}` (networks and devices share lookups)")
        net_ids.add(n.get("id"))
    for nid in NETWORK_DEFAULTS:
        if nid not in net_ids:
            errors.append(f"default network `{nid}` is missing")

    for rid in REQUIRED_IDS:
        if rid not in seen:
            errors.append(f"required device id `{rid}` is missing")
    if len(devices) < MIN_DEVICES:
        errors.append(f"only {len(devices)} devices; at least {MIN_DEVICES} required")

    # lookup names (id, name, aliases) must not resolve to two devices
    owner: dict = {}
    for d in devices:
        did = d.get("id", "?")
        names = [did, d.get("name", "")] + list(d.get("aliases", []) or [])
        for n in names:
            if not isinstance(n, str):
                continue
            key = strip_vendor(normalize(n))
            if not key:
                continue
            prev = owner.get(key)
            if prev is not None and prev != did:
                errors.append(f"name/alias {n!r} of `{did}` also resolves to `{prev}`")
            owner.setdefault(key, did)

    if table:
        print(f"{'id':20} {'kind':5} {'memory':>9} {'GB/s':>8} {'fp16 TF':>9} "
              f"{'W':>5} {'cloud':>5}")
        for d in devices:
            print(f"{d.get('id', '?'):20} {d.get('kind', '?'):5} "
                  f"{d.get('memory_bytes', 0) / GIB:8.0f}G "
                  f"{d.get('bandwidth_gb_s', 0):8.1f} "
                  f"{d.get('fp16_tensor_tflops_dense', 0):9.2f} "
                  f"{d.get('tdp_watts', 0):5.0f} {len(d.get('cloud', [])):5d}")

    for w in warnings:
        print(f"warning: {w}")
    for e in errors:
        print(f"error: {e}")
    n_cloud = sum(len(d.get("cloud", [])) for d in devices)
    if errors:
        print(f"FAILED: {len(errors)} error(s) in {path}")
        return 1
    print(f"OK: {len(devices)} devices, {len(networks)} networks, {n_cloud} cloud prices, "
          f"{len(warnings)} warning(s) in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
