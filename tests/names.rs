//! Names as people type them (issue 17 item 2): every spelling of the README's table resolves,
//! through the library and through the binary.

use std::process::{Command, Output};

use vramplan::catalog::{names, Catalog};

fn catalog() -> Catalog {
    Catalog::embedded().expect("embedded catalogue loads")
}

fn vramplan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vramplan"))
        .args(args)
        .env("XDG_CONFIG_HOME", env!("CARGO_TARGET_TMPDIR"))
        // Names resolve to the catalogue here, whatever models this machine holds.
        .env("OLLAMA_MODELS", "/nonexistent/vramplan-test")
        .env("HF_HUB_CACHE", "/nonexistent/vramplan-test")
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

fn bad(args: &[&str], needles: &[&str]) {
    let out = vramplan(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?} -> {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` not in {err}");
    }
}

/// (spelling, catalogue id, quantization the name carries)
const MODEL_SPELLINGS: &[(&str, &str, Option<&str>)] = &[
    // Ollama tags
    ("llama3.1:70b", "llama-3.1-70b", None),
    ("llama3.1:8b", "llama-3.1-8b", None),
    ("gemma3:27b", "gemma-3-27b", None),
    ("deepseek-r1:671b", "deepseek-r1", None),
    ("deepseek-r1:70b", "deepseek-r1-distill-llama-70b", None),
    ("deepseek-r1:14b", "deepseek-r1-distill-qwen-14b", None),
    ("phi4", "phi-4", None),
    ("phi4:latest", "phi-4", None),
    ("qwen2.5:32b", "qwen2.5-32b", None),
    ("qwen2.5:32b-instruct-q4_K_M", "qwen2.5-32b", Some("Q4_K_M")),
    ("llama3.1:8b-instruct-fp16", "llama-3.1-8b", Some("F16")),
    ("mistral", "mistral-7b", None),
    ("qwen3:30b-a3b", "qwen3-30b-a3b", None),
    ("qwen3:4b", "qwen3-4b", None),
    ("qwen3-coder:30b", "qwen3-coder-30b-a3b", None),
    ("qwen3-coder:480b", "qwen3-coder-480b-a35b", None),
    ("phi4-mini", "phi-4-mini", None),
    ("gemma3:270m", "gemma-3-270m", None),
    ("mistral-small3.1", "mistral-small-3.1-24b", None),
    ("mistral-small3.2:24b", "mistral-small-3.2-24b", None),
    ("devstral", "devstral-small-24b", None),
    ("kimi-k2", "kimi-k2", None),
    ("moonshotai/Kimi-K2-Instruct", "kimi-k2", None),
    ("unsloth/Kimi-K2-Instruct-GGUF", "kimi-k2", None),
    ("deepseek-ai/DeepSeek-V3.1", "deepseek-v3.1", None),
    (
        "Qwen/Qwen3-30B-A3B-Instruct-2507",
        "qwen3-30b-a3b-2507",
        None,
    ),
    (
        "unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF",
        "qwen3-coder-30b-a3b",
        None,
    ),
    (
        "mistralai/Mistral-Small-3.2-24B-Instruct-2506",
        "mistral-small-3.2-24b",
        None,
    ),
    // Hugging Face ids: originals and re-uploads
    (
        "mistralai/Mistral-Small-24B-Instruct-2501",
        "mistral-small-24b",
        None,
    ),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b", None),
    (
        "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF",
        "llama-3.1-8b",
        None,
    ),
    (
        "bartowski/Mistral-Small-24B-Instruct-2501-GGUF",
        "mistral-small-24b",
        None,
    ),
    ("unsloth/gemma-3-27b-it-GGUF", "gemma-3-27b", None),
    (
        "unsloth/Llama-3.2-3B-Instruct-bnb-4bit",
        "llama-3.2-3b",
        Some("nf4"),
    ),
    (
        "TheBloke/Mixtral-8x7B-Instruct-v0.1-GGUF",
        "mixtral-8x7b",
        None,
    ),
    ("TheBloke/Llama-2-13B-chat-AWQ", "llama-2-13b", Some("awq")),
    (
        "TheBloke/Llama-2-70B-Chat-GPTQ",
        "llama-2-70b",
        Some("gptq"),
    ),
    (
        "lmstudio-community/Qwen2.5-14B-Instruct-GGUF",
        "qwen2.5-14b",
        None,
    ),
    ("Qwen/Qwen2.5-7B-Instruct-GGUF", "qwen2.5-7b", None),
    ("Qwen/Qwen2.5-32B-Instruct-AWQ", "qwen2.5-32b", Some("awq")),
    (
        "Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4",
        "qwen2.5-7b",
        Some("gptq"),
    ),
    ("Qwen/Qwen3-8B-FP8", "qwen3-8b", Some("fp8")),
    ("bartowski/Qwen_Qwen3-14B-GGUF", "qwen3-14b", None),
    (
        "hf.co/bartowski/gemma-2-9b-it-GGUF:Q6_K",
        "gemma-2-9b",
        Some("Q6_K"),
    ),
    (
        "https://huggingface.co/deepseek-ai/DeepSeek-R1",
        "deepseek-r1",
        None,
    ),
    // GGUF file names that do not exist here
    (
        "Mistral-Small-24B-Instruct-2501-Q4_K_M.gguf",
        "mistral-small-24b",
        Some("Q4_K_M"),
    ),
    (
        "Meta-Llama-3.1-70B-Instruct-Q5_K_M-00001-of-00002.gguf",
        "llama-3.1-70b",
        Some("Q5_K_M"),
    ),
    (
        "mixtral-8x7b-instruct-v0.1.Q4_K_M.gguf",
        "mixtral-8x7b",
        Some("Q4_K_M"),
    ),
    ("gemma-3-27b-it-IQ4_XS.gguf", "gemma-3-27b", Some("IQ4_XS")),
    ("qwen2.5-7b-instruct-q8_0.gguf", "qwen2.5-7b", Some("Q8_0")),
    (
        "Qwen2.5-32B-Instruct-Q8_0-00001-of-00003.gguf",
        "qwen2.5-32b",
        Some("Q8_0"),
    ),
    (
        "qwen2.5-7b-instruct-fp16-00003-of-00004.gguf",
        "qwen2.5-7b",
        Some("F16"),
    ),
    // More re-upload owners and the vendors' own GGUF repos
    ("unsloth/DeepSeek-R1-GGUF", "deepseek-r1", None),
    ("unsloth/Qwen2.5-7B-Instruct-GGUF", "qwen2.5-7b", None),
    (
        "lmstudio-community/Meta-Llama-3.1-8B-Instruct-GGUF",
        "llama-3.1-8b",
        None,
    ),
    ("bartowski/Llama-3.2-3B-Instruct-GGUF", "llama-3.2-3b", None),
    ("Qwen/Qwen3-8B-GGUF", "qwen3-8b", None),
    ("ggml-org/gemma-3-4b-it-GGUF", "gemma-3-4b", None),
    (
        "google/gemma-3-27b-it-qat-q4_0-gguf",
        "gemma-3-27b",
        Some("Q4_0"),
    ),
    ("TheBloke/Mistral-7B-Instruct-v0.2-GGUF", "mistral-7b", None),
    // Ollama tags with a quantization
    (
        "llama3.1:70b-instruct-q4_K_M",
        "llama-3.1-70b",
        Some("Q4_K_M"),
    ),
    ("phi4:14b-q8_0", "phi-4", Some("Q8_0")),
    ("gemma3:27b-it-qat", "gemma-3-27b", None),
    ("gemma3:12b-it-q4_K_M", "gemma-3-12b", Some("Q4_K_M")),
    // names as before
    ("Mixtral 8x7B", "mixtral-8x7b", None),
    ("deepseek r1", "deepseek-r1", None),
];

#[test]
fn model_spellings_resolve() {
    let c = catalog();
    for &(spelling, id, quant) in MODEL_SPELLINGS {
        let named = c
            .model_named(spelling)
            .unwrap_or_else(|e| panic!("{spelling}: {e}"));
        assert_eq!(named.entry.id, id, "{spelling}");
        assert_eq!(named.quant, quant, "{spelling}");
    }
}

#[test]
fn ambiguous_names_list_the_candidates() {
    let c = catalog();
    for (q, must) in [
        ("gemma3", &["gemma-3-4b", "gemma-3-27b"][..]),
        ("llama3", &["llama-3-8b", "llama-3-70b"][..]),
        ("qwen3", &["qwen3-8b", "qwen3-32b"][..]),
    ] {
        let e = c.model_named(q).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("names more than one model"), "{msg}");
        for m in must {
            assert!(e.suggestions.iter().any(|s| s == m), "{q}: {msg}");
        }
    }
    // A size no entry has is refused, not rounded to the nearest.
    assert!(c.model_named("llama3.1:13b").is_err());
    assert!(c.model_named("gemma3:9b").is_err());
}

/// (spelling, device id)
const DEVICE_SPELLINGS: &[(&str, &str)] = &[
    ("rtx4090", "rtx-4090"),
    ("RTX-4090", "rtx-4090"),
    ("RTX4090", "rtx-4090"),
    ("4090", "rtx-4090"),
    ("NVIDIA GeForce RTX 4090", "rtx-4090"),
    ("3060 12GB", "rtx-3060-12gb"),
    ("rtx3060 12gb", "rtx-3060-12gb"),
    ("H100", "h100-sxm"),
    ("M4 Max 128GB", "m4-max-128gb"),
    ("m4-max-128gb", "m4-max-128gb"),
    ("M3 Max 36GB", "m3-max-36gb"),
    ("rx7900xtx", "rx-7900-xtx"),
];

#[test]
fn device_spellings_resolve() {
    let c = catalog();
    for &(spelling, id) in DEVICE_SPELLINGS {
        let d = c
            .device(spelling)
            .unwrap_or_else(|e| panic!("{spelling}: {e}"));
        assert_eq!(d.id, id, "{spelling}");
    }
    let e = c.device("a100").unwrap_err();
    assert!(e.to_string().contains("names more than one device"), "{e}");
}

/// `--gpu` with counts before or after the name.
#[test]
fn device_counts_resolve() {
    for (gpu, id, n) in [
        ("2x3060", "rtx-3060-12gb", 2),
        ("4xH100", "h100-sxm", 4),
        ("rtx-4090x2", "rtx-4090", 2),
        ("rtx4090", "rtx-4090", 1),
        ("2 x RTX 3090", "rtx-3090", 2),
        ("rx-7900-xtx", "rx-7900-xtx", 1),
        ("3060 12GB", "rtx-3060-12gb", 1),
        ("M4 Max 128GB", "m4-max-128gb", 1),
    ] {
        let v = json(&["fit", "llama-3.1-8b", "--gpu", gpu, "--json"]);
        let devs = v["devices"].as_array().unwrap();
        assert_eq!(devs.len(), n, "{gpu}");
        assert!(devs.iter().all(|d| d["id"] == id), "{gpu}: {devs:?}");
    }
}

/// (spelling, the quant fit reports)
const QUANT_SPELLINGS: &[(&str, &str)] = &[
    ("f16", "F16"),
    ("fp16", "F16"),
    ("bf16", "BF16"),
    ("q4km", "Q4_K_M"),
    ("q4_k_m", "Q4_K_M"),
    ("Q4_K", "Q4_K_M"),
    ("iq4xs", "IQ4_XS"),
    ("q8", "Q8_0"),
    ("Q8_0", "Q8_0"),
    ("q6k", "Q6_K"),
];

#[test]
fn quant_spellings_resolve() {
    for &(q, want) in QUANT_SPELLINGS {
        let v = json(&[
            "fit",
            "llama-3.1-8b",
            "-q",
            q,
            "--gpu",
            "rtx-4090",
            "--json",
        ]);
        assert_eq!(v["quant"], want, "{q}");
    }
    bad(
        &["fit", "llama-3.1-8b", "-q", "4bit"],
        &["ambiguous", "Q4_K_M", "awq"],
    );
    bad(
        &["fit", "llama-3.1-8b", "-q", "q4_k_x"],
        &["unknown quantization", "F16", "BF16"],
    );
}

/// Every canonical spelling is a format the estimator takes, and the GGUF list is llama.cpp's.
#[test]
fn canonical_quant_names_parse() {
    use vramplan::estimate::WeightFormat;
    use vramplan::ggml::FileType;
    let ours: Vec<&str> = names::GGUF_FILE_TYPES.to_vec();
    let theirs: Vec<&str> = FileType::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(ours, theirs);
    for s in [
        "fp16", "q4km", "Q4_K", "q8", "awq", "gptq", "fp8", "nf4", "int8", "mxfp4",
    ] {
        match names::quant_spelling(s) {
            names::QuantSpelling::One(n) => {
                assert!(WeightFormat::parse(n).is_some(), "{s} -> {n}")
            }
            other => panic!("{s}: {other:?}"),
        }
    }
}

/// The name's quantization reaches the estimate, like a GGUF file's own type.
#[test]
fn name_quant_reaches_fit() {
    let v = json(&["fit", "qwen2.5:32b-instruct-q4_K_M", "--json"]);
    assert_eq!(v["model"], "qwen2.5-32b");
    assert_eq!(v["quant"], "Q4_K_M");
    let v = json(&["fit", "llama3.1:8b-instruct-q8_0", "--json"]);
    assert_eq!(v["quant"], "Q8_0");
    let v = json(&[
        "fit",
        "Mistral-Small-24B-Instruct-2501-IQ4_XS.gguf",
        "--json",
    ]);
    assert_eq!(v["model"], "mistral-small-24b");
    assert_eq!(v["quant"], "IQ4_XS");
    bad(&["fit", "gemma3", "--gpu", "rtx-4090"], &["gemma-3-27b"]);
    bad(&["fit", "llama-3.1-8b", "--gpu", "a100"], &["a100-40gb"]);
}
