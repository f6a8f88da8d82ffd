//! The forward pass on architectures without a small real model at hand, against llama.cpp:
//! random-weight GGUF files from `vramplan::engine::testgen` (qwen2 with QKV biases, Q5_1 weights
//! and a Q6_K output; Mixtral-style experts with Q4_1 weights and a tied embedding; a dense llama
//! with Q4_K weights), tokenizer copied from SmolLM2. The files are rebuilt here from their
//! seeds; llama.cpp's logits on the same files are in `tests/data/engine/testgen_*.json`
//! (`tools/engine_ref/make_ref.py --testgen-dir DIR --testgen-only`, after
//! `VRAMPLAN_TESTGEN_DIR=DIR cargo test --release --test engine_testgen -- --ignored`).
//!
//! Needs SmolLM2 (`VRAMPLAN_SMOLLM2_GGUF`, else `tools/fetch_smollm2.sh`'s default location) for
//! the tokenizer; FAILS when it is absent.

mod smollm2;

use std::path::Path;

use serde_json::Value;
use vramplan::engine::testgen::{bit_exact, build, test_specs, write};
use vramplan::engine::{argmax, logits_for, KvCacheType, Model, Session, SessionConfig};
use vramplan::gguf::GgufFile;

fn smollm2() -> GgufFile {
    GgufFile::open(smollm2::path()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
#[ignore]
fn write_testgen_models() {
    let dir = std::env::var("VRAMPLAN_TESTGEN_DIR").expect("set VRAMPLAN_TESTGEN_DIR");
    let tok = smollm2();
    for spec in test_specs() {
        let path = Path::new(&dir).join(format!("{}.gguf", spec.name));
        write(&spec, &tok, &path).unwrap();
        eprintln!("wrote {}", path.display());
    }
}

#[test]
fn testgen_models_match_llama_cpp() {
    let tok = smollm2();
    for spec in test_specs() {
        let bytes = build(&spec, &tok).unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        let model = Model::load(&f).unwrap();
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/data/engine/testgen_{}.json", spec.name));
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let tokens = ids(&r["ids"]);
        let logits = logits_for(&model, &tokens).unwrap();
        let (mut agree, mut max_diff) = (0, 0f32);
        for (i, row) in logits.iter().enumerate() {
            agree += usize::from(argmax(row) == r["argmax"][i].as_u64().unwrap() as u32);
            for (j, id) in ids(&r["top_ids"][i]).into_iter().enumerate() {
                let want = r["top_logits"][i][j].as_f64().unwrap() as f32;
                max_diff = max_diff.max((row[id as usize] - want).abs());
            }
        }
        // Greedy decoding: a batched prompt, then single tokens.
        let prompt = &tokens[..16];
        let want = ids(&r["greedy"]);
        let mut s = Session::new(
            &model,
            SessionConfig {
                n_ctx: 64,
                threads: 2,
                ..SessionConfig::default()
            },
        )
        .unwrap();
        let mut next = argmax(&s.eval(prompt, false).unwrap());
        let mut got = vec![next];
        while got.len() < want.len() {
            next = argmax(&s.eval(&[next], false).unwrap());
            got.push(next);
        }
        let same = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
        eprintln!(
            "{}: top-1 {agree}/{} positions, max |logit diff| {max_diff:.5}, greedy {same}/{} tokens",
            spec.name,
            tokens.len(),
            want.len()
        );
        if bit_exact(&spec) && cfg!(target_arch = "x86_64") {
            // The same arithmetic as llama.cpp's x86 build.
            assert_eq!(agree, tokens.len(), "{}: top-1", spec.name);
            assert!(
                max_diff < 1e-3,
                "{}: max |logit diff| {max_diff}",
                spec.name
            );
            assert_eq!(
                same,
                want.len(),
                "{}: greedy {got:?} vs {want:?}",
                spec.name
            );
        } else {
            // Another summation order: random weights give near-ties that last bits may swap.
            assert!(
                agree * 10 >= 9 * tokens.len(),
                "{}: top-1 {agree}/{}",
                spec.name,
                tokens.len()
            );
            assert!(
                max_diff < 0.25,
                "{}: max |logit diff| {max_diff}",
                spec.name
            );
            assert!(same >= 8, "{}: greedy {got:?} vs {want:?}", spec.name);
        }
    }
}

/// Decoding splits every product, SwiGLU and the attention between the threads; the logits must
/// not depend on how many there are (the same kernel call per output row, the same SwiGLU lanes,
/// the same attention arithmetic per head), on either cache type.
#[test]
fn decode_logits_do_not_depend_on_the_thread_count() {
    let tok = smollm2();
    for spec in test_specs() {
        let bytes = build(&spec, &tok).unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        let model = Model::load(&f).unwrap();
        for kv_type in [KvCacheType::F16, KvCacheType::Q8_0] {
            let run = |threads: usize| -> Vec<u32> {
                let cfg = SessionConfig {
                    n_ctx: 64,
                    threads,
                    kv_type,
                    ..SessionConfig::default()
                };
                let mut s = Session::new(&model, cfg).unwrap();
                let mut bits = Vec::new();
                let mut logits = s.eval(&[1, 300, 2000, 45], false).unwrap();
                for _ in 0..12 {
                    let next = argmax(&logits);
                    logits = s.eval(&[next], false).unwrap();
                    bits.extend(logits.iter().map(|v| v.to_bits()));
                }
                bits
            };
            let one = run(1);
            for threads in [2, 3] {
                assert!(
                    run(threads) == one,
                    "{} {kv_type:?}: {threads} threads",
                    spec.name
                );
            }
        }
    }
}
