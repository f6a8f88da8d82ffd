//! Models whose Q4_0/IQ4_NL/Q4_K matrices are repacked at load (`Model::load` on a CPU with AVX2 or
//! AVX-512) against the same file loaded in the file layout on the scalar kernels
//! (`Model::load_scalar_reference`): dense and Mixtral-style expert models (experts are row
//! slices of the packed stacked tensors), a tied Q4_0 embedding (which stays in the file),
//! prefill (four-token kernels and their one-token tail) and single-token decode.
//!
//! The packed kernels are bit-identical to the scalar one-row kernels (tests/kernels_repack.rs),
//! so every repacked product, and every activation quantized from it, is the reference's to the
//! bit. What differs is only the matrices left in the file layout, on SIMD kernels whose f32 sums
//! run in another order: the output head (Q6_K, or the tied embedding) and the four-row MoE
//! router. Hence `|Δlogit| < 1e-4` (measured: about 1e-6), where a wrong row, scale or expert
//! slice moves logits by whole units; top-1 and the greedy tokens must agree. A dense model whose
//! output head is of the repacked type too (`llama-iq4_nl`) has no such matrix: its logits must
//! be the reference's to the bit.
//!
//! Needs SmolLM2 (`VRAMPLAN_SMOLLM2_GGUF`) for the tokenizer. Under `VRAMPLAN_FORCE_SCALAR=1`
//! nothing is repacked, which the test checks and says on stderr.

mod smollm2;

use vramplan::engine::testgen::{build, test_specs, TestModelSpec};
use vramplan::engine::{argmax, logits_for, Model, Session, SessionConfig};
use vramplan::ggml::GgmlType;
use vramplan::gguf::GgufFile;
use vramplan::kernels::{active_isa, Isa};

fn specs() -> Vec<TestModelSpec> {
    let all = test_specs();
    let dense = all.iter().find(|s| s.name == "llama-q4_k").unwrap().clone();
    let moe = all
        .iter()
        .find(|s| s.name == "llama-moe-q4_1")
        .unwrap()
        .clone();
    vec![
        dense.clone(),
        TestModelSpec {
            name: "llama-q4_0-tied",
            weight_type: GgmlType::Q4_0,
            embd_type: GgmlType::Q4_0,
            output_type: None,
            seed: 7,
            ..dense
        },
        TestModelSpec {
            name: "llama-moe-q4_k",
            weight_type: GgmlType::Q4_K,
            seed: 8,
            ..moe.clone()
        },
        TestModelSpec {
            name: "llama-moe-q4_0",
            weight_type: GgmlType::Q4_0,
            seed: 9,
            ..moe.clone()
        },
        TestModelSpec {
            name: "llama-iq4_nl",
            weight_type: GgmlType::IQ4_NL,
            output_type: Some(GgmlType::IQ4_NL),
            seed: 10,
            ..dense.clone()
        },
        TestModelSpec {
            name: "llama-moe-iq4_nl",
            weight_type: GgmlType::IQ4_NL,
            seed: 11,
            ..moe
        },
    ]
}

/// Largest |logit difference| allowed (the logits of these random models span about ±10).
const TOL: f32 = 1e-4;

fn decode(model: &Model<'_>, prompt: &[u32], n: usize) -> (Vec<u32>, Vec<Vec<f32>>) {
    let mut s = Session::new(
        model,
        SessionConfig {
            n_ctx: 64,
            threads: 2,
            ..SessionConfig::default()
        },
    )
    .unwrap();
    let mut logits = vec![s.eval(prompt, false).unwrap()];
    let mut toks = vec![argmax(&logits[0])];
    while toks.len() < n {
        logits.push(s.eval(&[*toks.last().unwrap()], false).unwrap());
        toks.push(argmax(logits.last().unwrap()));
    }
    (toks, logits)
}

/// The largest |Δ| between two logit rows.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn repacked_models_match_the_file_layout() {
    let tok = GgufFile::open(smollm2::path()).unwrap();
    let simd = matches!(active_isa(), Isa::Avx2 | Isa::Avx512Vnni);
    if !simd {
        eprintln!(
            "{}: no packed kernel is active, nothing is repacked",
            active_isa()
        );
    }
    for spec in specs() {
        let bytes = build(&spec, &tok).unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        let packed = Model::load(&f).unwrap();
        let plain = Model::load_scalar_reference(&f).unwrap();
        assert_eq!(plain.repacked_bytes, 0);
        assert_eq!(packed.weight_bytes, plain.weight_bytes);
        if simd {
            // Every layer matrix of whole groups of eight rows is repacked (not a router of
            // four experts); the token embedding (and a tied output) is not.
            let want: u64 = f
                .tensors()
                .iter()
                .filter(|t| t.ty() == spec.weight_type && t.name() != "token_embd.weight")
                .filter(|t| t.shape()[1] % 8 == 0)
                .map(|t| t.n_bytes())
                .sum();
            assert!(want > 0);
            assert_eq!(packed.repacked_bytes, want, "{}", spec.name);
            assert_eq!(
                packed.copied_bytes,
                plain.copied_bytes + packed.repacked_bytes
            );
        } else {
            assert_eq!(packed.repacked_bytes, 0);
        }
        let tokens: Vec<u32> = (0..23).map(|i| (i * 7919 + 13) % 4000).collect();
        let a = logits_for(&packed, &tokens).unwrap();
        let b = logits_for(&plain, &tokens).unwrap();
        let (ta, la) = decode(&packed, &tokens[..9], 8);
        let (tb, lb) = decode(&plain, &tokens[..9], 8);
        let prefill = a
            .iter()
            .zip(&b)
            .map(|(x, y)| max_diff(x, y))
            .fold(0.0, f32::max);
        let dec = la
            .iter()
            .zip(&lb)
            .map(|(x, y)| max_diff(x, y))
            .fold(0.0, f32::max);
        let top1 = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| argmax(x) == argmax(y))
            .count();
        eprintln!(
            "{}: {} bytes repacked; max |logit diff| prefill {prefill:.2e}, decode {dec:.2e}; \
             top-1 {top1}/{}; greedy {ta:?} vs {tb:?}",
            spec.name,
            packed.repacked_bytes,
            a.len()
        );
        assert!(prefill < TOL && dec < TOL, "{}", spec.name);
        if spec.n_expert == 0 && spec.output_type == Some(spec.weight_type) {
            let bits =
                |l: &[Vec<f32>]| -> Vec<u32> { l.iter().flatten().map(|x| x.to_bits()).collect() };
            assert!(
                bits(&a) == bits(&b),
                "{}: prefill logits not identical",
                spec.name
            );
            assert!(
                bits(&la) == bits(&lb),
                "{}: decode logits not identical",
                spec.name
            );
        }
        assert!(
            top1 + 1 >= a.len(),
            "{}: top-1 {top1}/{}",
            spec.name,
            a.len()
        );
        assert_eq!(ta, tb, "{} greedy tokens", spec.name);
    }
}
