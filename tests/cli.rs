//! The binary as users meet it: JSON contracts, exit codes, one-line errors for bad input.

use std::process::{Command, Output};

fn vramplan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vramplan"))
        .args(args)
        .output()
        .expect("run vramplan")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = vramplan(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// Bad input: exit code 2 and exactly one line on stderr that names the problem.
fn bad(args: &[&str], needle: &str) {
    let out = vramplan(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?} -> {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: one line expected, got {err}"
    );
    assert!(err.contains(needle), "{args:?}: `{needle}` not in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn list_json_has_the_catalogue() {
    let models = json(&["list", "models", "--json"]);
    let models = models["models"].as_array().unwrap();
    assert!(models.len() >= 35);
    let mixtral = models.iter().find(|m| m["id"] == "mixtral-8x7b").unwrap();
    assert!(mixtral["params_total"].as_u64().unwrap() > 46_000_000_000);
    let hw = json(&["list", "hardware", "--json"]);
    assert!(hw["hardware"].as_array().unwrap().len() >= 45);
    let apis = json(&["list", "apis", "--json"]);
    assert!(apis["apis"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"].as_str().unwrap().contains("mistral-small")));
}

#[test]
fn show_json_carries_counts_and_device_facts() {
    let m = json(&["show", "Mixtral 8x7B", "--json"]);
    assert_eq!(m["params_total"].as_u64(), Some(46_702_792_704));
    assert!(m["params_active"].as_u64().unwrap() > 12_800_000_000);
    let d = json(&["show", "rtx-3060-ti", "--json"]);
    assert_eq!(
        d["memory_bytes"].as_u64(),
        Some(8 << 30),
        "the RTX 3060 Ti has 8 GB"
    );
    assert_eq!(d["bandwidth_gb_s"].as_f64(), Some(448.0));
}

#[test]
fn fit_json_contract() {
    let r = json(&[
        "fit",
        "mistral-small-24b",
        "--quant",
        "Q4_K_M",
        "--ctx",
        "32k",
        "--gpu",
        "rtx-4090",
        "--json",
    ]);
    for key in [
        "weights_bytes",
        "kv_cache_bytes",
        "compute_bytes",
        "overhead_bytes",
        "total_bytes",
        "fits",
        "max_context",
        "devices",
    ] {
        assert!(r.get(key).is_some(), "missing {key}");
    }
    assert_eq!(r["fits"], true);
    let dev = &r["devices"][0];
    for key in ["id", "memory_bytes", "used_bytes", "layers"] {
        assert!(dev.get(key).is_some(), "device misses {key}");
    }
    let sum = [
        "weights_bytes",
        "kv_cache_bytes",
        "compute_bytes",
        "overhead_bytes",
    ]
    .iter()
    .map(|k| r[*k].as_u64().unwrap())
    .sum::<u64>();
    assert_eq!(sum, r["total_bytes"].as_u64().unwrap());
    assert!(r["launch_command"]
        .as_str()
        .unwrap()
        .starts_with("llama-server"));
}

#[test]
fn gpus_and_quants_answer() {
    let g = json(&[
        "gpus",
        "mixtral-8x7b",
        "--quant",
        "Q3_K_M",
        "--ctx",
        "8k",
        "--json",
    ]);
    let c = g["candidates"].as_array().unwrap();
    assert!(!c.is_empty());
    let prices: Vec<f64> = c.iter().filter_map(|x| x["price_usd"].as_f64()).collect();
    assert!(
        prices.windows(2).all(|w| w[0] <= w[1]),
        "ranked by price: {prices:?}"
    );
    let q = json(&["quants", "llama-3.1-8b", "--gpu", "rtx-3060-ti", "--json"]);
    let ladder = q["ladder"].as_array().unwrap();
    let bf16 = ladder.iter().find(|r| r["file_type"] == "BF16").unwrap();
    assert_eq!(bf16["fits"], false, "16 GB of bf16 weights cannot fit 8 GB");
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    bad(&["show", "mixtral-8x8b"], "did you mean `mixtral-8x7b`");
    bad(&["fit", "no-such-model"], "unknown model");
    bad(&["fit", "llama-3.1-8b", "--ctx", "0"], "--ctx");
    bad(&["fit", "llama-3.1-8b", "--ctx", "-5"], "--ctx");
    bad(&["fit", "llama-3.1-8b", "--ctx", "1000000000000"], "--ctx");
    bad(
        &["fit", "llama-3.1-8b", "--quant", "Q4_K_X"],
        "unknown quantization",
    );
    bad(
        &["fit", "llama-3.1-8b", "--gpu", "rtx-4090x0"],
        "count must be at least 1",
    );
    bad(&["fit", "llama-3.1-8b", "--gpu", "x2"], "missing device id");
    bad(
        &["fit", "llama-3.1-8b", "--gpu", "rtx-9999"],
        "unknown device",
    );
    bad(
        &["fit", "llama-3.1-8b", "--gpu", "rtx-4090,"],
        "empty entry",
    );
    bad(&["fit", "llama-3.1-8b", "--kv-type", "q3"], "--kv-type");
    bad(&["fit", "llama-3.1-8b", "--engine", "tgi"], "--engine");
    bad(
        &[
            "fit",
            "llama-3.1-8b",
            "--engine",
            "vllm",
            "--gpu",
            "rtx-4090x3",
            "--quant",
            "bf16",
        ],
        "tensor-parallel",
    );
    bad(&["gpus", "llama-3.1-8b", "--budget", "-1"], "--budget");
    bad(
        &["list", "models", "--catalog", "/nonexistent-dir"],
        "nonexistent-dir",
    );
}

#[test]
fn a_bad_user_catalogue_names_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("vramplan-cat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mine.toml"),
        "[[device]]\nid = \"x\"\nbandwidth = 3\n",
    )
    .unwrap();
    let path = dir.join("mine.toml").display().to_string();
    bad(
        &["list", "hardware", "--catalog", dir.to_str().unwrap()],
        &format!("{path}:3:1"),
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unreadable_model_files_exit_2() {
    let dir = std::env::temp_dir().join(format!("vramplan-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    let truncated = dir.join("truncated.gguf");
    std::fs::write(&truncated, b"GGUF\x03\x00\x00\x00\x05\x00").unwrap();
    let not_gguf = dir.join("notes.gguf");
    std::fs::write(&not_gguf, b"hello world, not a model").unwrap();
    let bad_json = dir.join("config.json");
    std::fs::write(&bad_json, b"{\"model_type\": \"llama\"").unwrap();
    let d = dir.to_str().unwrap();
    bad(&["inspect", d], "is a directory");
    bad(&["inspect", empty.to_str().unwrap()], "is empty");
    bad(&["inspect", truncated.to_str().unwrap()], "byte");
    bad(&["inspect", not_gguf.to_str().unwrap()], "notes.gguf");
    bad(&["inspect", "/no/such/file.gguf"], "/no/such/file.gguf");
    bad(&["fit", truncated.to_str().unwrap()], "byte");
    bad(&["inspect", bad_json.to_str().unwrap()], "config.json");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn inspect_a_config_json() {
    let dir = std::env::temp_dir().join(format!("vramplan-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Mixtral-8x7B's config.json architecture fields.
    let cfg = r#"{"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 4096,
        "intermediate_size": 14336, "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 32,
        "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32000, "max_position_embeddings": 32768,
        "tie_word_embeddings": false, "torch_dtype": "bfloat16"}"#;
    let path = dir.join("config.json");
    std::fs::write(&path, cfg).unwrap();
    let r = json(&["inspect", path.to_str().unwrap(), "--json"]);
    assert_eq!(r["params_total"].as_u64(), Some(46_702_792_704));
    assert_eq!(r["gguf_arch"], "llama");
    assert_eq!(r["kv_bytes_per_token_f16"].as_u64(), Some(131072));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cost_break_even_is_reproducible_from_the_table() {
    let base = [
        "cost",
        "mixtral-8x7b",
        "--quant",
        "Q3_K_M",
        "--gpu",
        "rtx-3060-12gbx2",
        "--api",
        "gpt-3.5-turbo-1106",
        "--json",
    ];
    let r = json(&base);
    let rows = r["rows"].as_array().unwrap();
    let owned = rows.iter().find(|x| x["kind"] == "owned").unwrap();
    assert!(
        owned["usd_per_million_tokens"]["expected"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let gpt = rows
        .iter()
        .find(|x| x["label"].as_str().unwrap().contains("gpt-3.5-turbo-1106"))
        .unwrap();
    assert_eq!(
        gpt["usd_per_million_tokens"]["expected"].as_f64(),
        Some(2.0)
    );
    let n = gpt["break_even_tokens_per_day"]
        .as_f64()
        .expect("owning two 3060s breaks even with a $2/1M API");
    // At the break-even volume, owning costs what the API charges.
    let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    args.extend(["--tokens-per-day".to_string(), format!("{n:.0}")]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let again = json(&args);
    let owned = again["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "owned")
        .unwrap();
    let at_break_even = owned["usd_per_million_tokens"]["expected"]
        .as_f64()
        .unwrap();
    assert!((at_break_even - 2.0).abs() < 1e-3, "{at_break_even}");
    // EUR prices are converted at the stated rate.
    let eur = rows
        .iter()
        .find(|x| x["listed"].as_str().is_some_and(|l| l.starts_with("EUR")))
        .unwrap();
    assert!(
        (eur["usd_per_million_tokens"]["expected"].as_f64().unwrap()
            - 1.8 * r["eur_usd"].as_f64().unwrap())
        .abs()
            < 1e-9
    );
    bad(
        &[
            "cost",
            "mixtral-8x7b",
            "--gpu",
            "rtx-3060-12gbx2",
            "--years",
            "0",
        ],
        "--years",
    );
    bad(
        &[
            "cost",
            "mixtral-8x7b",
            "--gpu",
            "rtx-3060-12gbx2",
            "--tokens-per-day",
            "-3",
        ],
        "--tokens-per-day",
    );
}

#[test]
fn detect_never_fails() {
    let d = json(&["detect", "--json"]);
    assert!(d["ram_bytes"].as_u64().unwrap() > 0);
    assert!(d["logical_cores"].as_u64().unwrap() >= 1);
    assert!(d["gpus"].is_array());
}

/// File names need not be UTF-8: such a file is read, and a missing one is named in the error.
#[cfg(unix)]
#[test]
fn non_utf8_paths() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = std::env::temp_dir().join(format!("vramplan-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join(OsStr::from_bytes(b"bad\xff.gguf"));
    let out = Command::new(env!("CARGO_BIN_EXE_vramplan"))
        .arg("inspect")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad") && err.contains("cannot open") && err.contains("No such file"),
        "{err}"
    );
    // A real config.json under a non-UTF-8 name is read.
    let cfg = dir.join(OsStr::from_bytes(b"conf\xfeig.json"));
    std::fs::write(
        &cfg,
        r#"{"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9,
            "num_key_value_heads": 3, "num_hidden_layers": 30, "vocab_size": 49152, "tie_word_embeddings": true}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vramplan"))
        .arg("inspect")
        .arg(&cfg)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["params_total"].as_u64(), Some(134_515_008));
    std::fs::remove_dir_all(&dir).unwrap();
}
