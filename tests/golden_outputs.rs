//! The JSON reports of a fixed set of commands (fit, gpus, quants, cost, show, inspect, models across
//! models, engines and devices), held byte for byte against files committed in
//! `tests/data/golden_outputs/`. Refactors must leave every one unchanged; a deliberate change of
//! behaviour regenerates them in its own commit with
//! `VRAMPLAN_BLESS_GOLDEN=1 cargo test --release --test golden_outputs`, and the diff shows what moved.
//!
//! Each command runs with its own empty config and cache directories and an explicit `--ram` where the
//! host matters, so nothing of the machine running the test (its RAM, a measured bandwidth, a user
//! catalogue) reaches the output.

mod smollm2;

use std::path::{Path, PathBuf};
use std::process::Command;

/// (file stem, arguments). `SMOLLM2` stands for the real SmolLM2-135M GGUF's path.
const CASES: &[(&str, &[&str])] = &[
    (
        "fit-mistral-small-q4km-4090",
        &[
            "fit",
            "mistral-small-24b",
            "--quant",
            "Q4_K_M",
            "--ctx",
            "32k",
            "--gpu",
            "rtx-4090",
            "--ram",
            "64",
        ],
    ),
    (
        "fit-mistral-small-q4km-m4max",
        &[
            "fit",
            "mistral-small-24b",
            "--quant",
            "Q4_K_M",
            "--ctx",
            "16k",
            "--gpu",
            "m4-max",
        ],
    ),
    (
        "fit-mistral-small-128k-over-trained",
        &[
            "fit",
            "mistral-small-24b",
            "--ctx",
            "128k",
            "--gpu",
            "rtx-4090",
            "--ram",
            "32",
        ],
    ),
    (
        "fit-mixtral-q3km-3060x2",
        &[
            "fit",
            "mixtral-8x7b",
            "--quant",
            "Q3_K_M",
            "--ctx",
            "8k",
            "--gpu",
            "rtx-3060-12gbx2",
            "--ram",
            "32",
        ],
    ),
    (
        "fit-mixtral-q5km-3060x2",
        &[
            "fit",
            "mixtral-8x7b",
            "--quant",
            "Q5_K_M",
            "--ctx",
            "8k",
            "--gpu",
            "rtx-3060-12gbx2",
            "--ram",
            "64",
        ],
    ),
    (
        "fit-deepseek-r1-vllm-fp8-h100x16",
        &[
            "fit",
            "deepseek-r1",
            "--engine",
            "vllm",
            "--quant",
            "fp8",
            "--ctx",
            "32k",
            "--gpu",
            "h100-sxmx16",
            "--ram",
            "1024",
        ],
    ),
    (
        "fit-deepseek-r1-4090-ram64",
        &["fit", "deepseek-r1", "--gpu", "rtx-4090", "--ram", "64"],
    ),
    (
        "fit-deepseek-r1-q4km-h200x8",
        &[
            "fit",
            "deepseek-r1",
            "--quant",
            "Q4_K_M",
            "--ctx",
            "16k",
            "--gpu",
            "h200x8",
            "--ram",
            "512",
        ],
    ),
    (
        "fit-llama31-8b-q8-128k-4090",
        &[
            "fit",
            "llama-3.1-8b",
            "--quant",
            "Q8_0",
            "--ctx",
            "128k",
            "--gpu",
            "rtx-4090",
            "--ram",
            "64",
        ],
    ),
    (
        "fit-qwen3-30b-a3b-4060ti",
        &[
            "fit",
            "qwen3-30b-a3b",
            "--quant",
            "Q4_K_M",
            "--ctx",
            "32k",
            "--gpu",
            "rtx-4060-ti-16gb",
            "--ram",
            "64",
        ],
    ),
    (
        "fit-gemma3-27b-kvq8-3090",
        &[
            "fit",
            "gemma-3-27b",
            "--quant",
            "Q4_K_M",
            "--ctx",
            "32k",
            "--kv-type",
            "q8_0",
            "--gpu",
            "rtx-3090",
            "--ram",
            "32",
        ],
    ),
    (
        "fit-llama31-70b-vllm-awq-a100x2",
        &[
            "fit",
            "llama-3.1-70b",
            "--engine",
            "vllm",
            "--quant",
            "awq",
            "--ctx",
            "8k",
            "--gpu",
            "a100-80gb-sxmx2",
            "--parallel",
            "4",
            "--ram",
            "256",
        ],
    ),
    (
        "fit-llama31-405b-q4km-h100x8",
        &[
            "fit",
            "llama-3.1-405b",
            "--quant",
            "Q4_K_M",
            "--ctx",
            "8k",
            "--gpu",
            "h100-sxmx8",
            "--ram",
            "512",
        ],
    ),
    (
        "fit-deepseek-v2-lite-cpu-host",
        &[
            "fit",
            "deepseek-v2-lite",
            "--quant",
            "Q4_K_M",
            "--gpu",
            "ddr5-desktop-2ch",
        ],
    ),
    (
        "fit-phi4-mi250x",
        &[
            "fit", "phi-4", "--quant", "Q6_K", "--gpu", "mi250x", "--ram", "256",
        ],
    ),
    (
        "fit-smollm2-gguf-4090",
        &["fit", "SMOLLM2", "--gpu", "rtx-4090", "--ram", "16"],
    ),
    (
        "gpus-mistral-small-q4km-32k",
        &[
            "gpus",
            "mistral-small-24b",
            "--quant",
            "Q4_K_M",
            "--ctx",
            "32k",
        ],
    ),
    (
        "gpus-mixtral-q3km-8k",
        &["gpus", "mixtral-8x7b", "--quant", "Q3_K_M", "--ctx", "8k"],
    ),
    (
        "gpus-deepseek-r1-vllm-fp8",
        &[
            "gpus",
            "deepseek-r1",
            "--engine",
            "vllm",
            "--quant",
            "fp8",
            "--ctx",
            "32k",
        ],
    ),
    (
        "gpus-llama31-8b-ram32",
        &["gpus", "llama-3.1-8b", "--ctx", "8k", "--ram", "32"],
    ),
    (
        "gpus-qwen3-235b-q4km",
        &[
            "gpus",
            "qwen3-235b-a22b",
            "--quant",
            "Q4_K_M",
            "--ctx",
            "32k",
        ],
    ),
    (
        "quants-mistral-small-4090",
        &[
            "quants",
            "mistral-small-24b",
            "--gpu",
            "rtx-4090",
            "--ctx",
            "32k",
        ],
    ),
    (
        "quants-qwen3-30b-a3b-3060x2",
        &["quants", "qwen3-30b-a3b", "--gpu", "rtx-3060-12gbx2"],
    ),
    (
        "quants-llama31-70b-h100x2",
        &["quants", "llama-3.1-70b", "--gpu", "h100-sxmx2"],
    ),
    (
        "cost-llama31-8b-4090",
        &["cost", "llama-3.1-8b", "--gpu", "rtx-4090"],
    ),
    (
        "cost-mixtral-3060x2-100m",
        &[
            "cost",
            "mixtral-8x7b",
            "--quant",
            "Q3_K_M",
            "--gpu",
            "rtx-3060-12gbx2",
            "--tokens-per-day",
            "100M",
        ],
    ),
    (
        "cost-llama31-70b-default-set",
        &["cost", "llama-3.1-70b", "--ctx", "16k"],
    ),
    ("show-mixtral", &["show", "mixtral-8x7b"]),
    ("show-deepseek-r1", &["show", "deepseek-r1"]),
    ("show-rtx-4090", &["show", "rtx-4090"]),
    ("show-m4-max-64gb", &["show", "m4-max-64gb"]),
    ("show-h200", &["show", "h200"]),
    ("inspect-smollm2-gguf", &["inspect", "SMOLLM2"]),
    (
        "models-4090-8k",
        &["models", "--gpu", "rtx-4090", "--ctx", "8k"],
    ),
];

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden_outputs")
}

/// Runs one case in an isolated environment; returns its stdout with the SmolLM2 path replaced.
fn run_case(args: &[&str], home: &Path, smol: &str) -> String {
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "SMOLLM2" { smol } else { a })
        .chain(["--json"])
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_vramplan"))
        .args(&args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("VRAMPLAN_CACHE", home.join("cache/vramplan"))
        // No local model store of the machine's (they are under the empty HOME otherwise).
        .env_remove("OLLAMA_MODELS")
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HOME")
        .env_remove("COLUMNS")
        .output()
        .expect("run vramplan");
    assert!(
        out.status.success(),
        "vramplan {}: exit {:?}: {}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 JSON");
    let escaped = serde_json::to_string(smol).expect("path as JSON");
    text.replace(&escaped[1..escaped.len() - 1], "<SMOLLM2>")
}

#[test]
fn json_reports_match_the_committed_goldens() {
    let smol = smollm2::path_string();
    let home = std::env::temp_dir().join(format!("vramplan-golden-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("temporary home");
    let bless = std::env::var_os("VRAMPLAN_BLESS_GOLDEN").is_some();
    let dir = golden_dir();
    let mut differ = Vec::new();
    for (stem, args) in CASES {
        let got = run_case(args, &home, &smol);
        let path = dir.join(format!("{stem}.json"));
        if bless {
            std::fs::create_dir_all(&dir).expect("golden directory");
            std::fs::write(&path, &got).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (make it with VRAMPLAN_BLESS_GOLDEN=1)",
                path.display()
            )
        });
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
            differ.push(format!("{stem} (first difference at line {})", line + 1));
        }
    }
    let _ = std::fs::remove_dir_all(&home);
    // A golden left behind by a removed case would hold nothing: the directory and CASES are equal.
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/data/golden_outputs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut stems: Vec<String> = CASES.iter().map(|(s, _)| format!("{s}.json")).collect();
    stems.sort();
    assert_eq!(files, stems, "files in tests/data/golden_outputs vs CASES");
    assert!(
        differ.is_empty(),
        "{} of {} JSON reports differ from tests/data/golden_outputs: {}",
        differ.len(),
        CASES.len(),
        differ.join(", ")
    );
}
