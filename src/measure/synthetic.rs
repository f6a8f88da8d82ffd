//! A generated ~1B-parameter llama-shaped model with random weights (`engine::testgen`), for the
//! speed half of `validate` on any machine without a download: prompt and decode tok/s depend on
//! the shapes and weight types, not on what the weights say. Its tokenizer is a made-up
//! SentencePiece vocabulary of 32000 pieces (the byte tokens and fillers), enough to load it.

use std::path::{Path, PathBuf};

use crate::engine::testgen::{self, TestModelSpec};
use crate::engine::{Arch, EngineError};
use crate::ggml::{FileType, GgmlType};
use crate::gguf::{GgufFile, GgufWriter, MetaValue};

/// Vocabulary of the generated model (Llama-2's size).
pub const N_VOCAB: usize = 32_000;

/// The shape: Llama-3.2-1B-like (2048 wide, 16 layers, GQA 32/8, FFN 8192), 1.03B parameters
/// with the Llama-2 vocabulary and a tied output.
pub fn spec(weight_type: GgmlType) -> TestModelSpec {
    TestModelSpec {
        name: "synthetic-1b",
        arch: Arch::Llama,
        n_embd: 2048,
        n_layer: 16,
        n_head: 32,
        n_head_kv: 8,
        n_ff: 8192,
        n_expert: 0,
        n_expert_used: 0,
        weight_type,
        embd_type: weight_type,
        output_type: None,
        qkv_bias: false,
        rope_freq_base: 500_000.0,
        seed: 1,
    }
}

/// The ggml type the generated model's matrices get for a file type (its main type).
pub fn weight_type(ft: FileType) -> GgmlType {
    ft.default_type()
}

fn tokenizer_file() -> Result<Vec<u8>, EngineError> {
    let mut w = GgufWriter::new();
    let pieces = (0..N_VOCAB).map(|i| match i {
        0 => "<unk>".to_string(),
        1 => "<s>".to_string(),
        2 => "</s>".to_string(),
        3..=258 => format!("<0x{:02X}>", i - 3),
        _ => format!("▁t{i}"),
    });
    let types = (0..N_VOCAB).map(|i| match i {
        0 => 2i32,
        1 | 2 => 3,
        3..=258 => 6,
        _ => 1,
    });
    let kvs: [(&str, MetaValue); 5] = [
        ("general.architecture", "llama".into()),
        ("tokenizer.ggml.model", "llama".into()),
        ("tokenizer.ggml.tokens", MetaValue::strings(pieces)),
        (
            "tokenizer.ggml.scores",
            MetaValue::scalars((0..N_VOCAB).map(|i| -(i as f32))),
        ),
        ("tokenizer.ggml.token_type", MetaValue::scalars(types)),
    ];
    for (k, v) in kvs {
        w.add_kv(k.to_string(), v)?;
    }
    Ok(w.to_bytes()?)
}

/// Writes the generated model with `weight_type` matrices into `dir`; returns its path.
pub fn write_model(dir: &Path, ft: FileType) -> Result<PathBuf, EngineError> {
    let tok = tokenizer_file()?;
    let tok = GgufFile::parse(&tok)?;
    let path = dir.join(format!("synthetic-1b-{}.gguf", ft.name()));
    testgen::write(&spec(weight_type(ft)), &tok, &path)?;
    Ok(path)
}

/// Deterministic token ids for timing (not text: the weights are random anyway).
pub fn tokens(n: usize) -> Vec<u32> {
    (0..n as u32)
        .map(|i| 259 + (i.wrapping_mul(2_654_435_761) % (N_VOCAB as u32 - 259)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_tokenizer_loads() {
        let bytes = tokenizer_file().unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        let t = crate::engine::Tokenizer::from_gguf(&f).unwrap();
        assert_eq!(t.n_vocab(), N_VOCAB);
        assert!(tokens(100).iter().all(|&t| (t as usize) < N_VOCAB));
    }

    #[test]
    fn the_shape_is_about_one_billion_parameters() {
        let s = spec(GgmlType::Q4_0);
        let per_layer = s.n_embd * (2 * s.n_embd + 2 * 512) + 3 * s.n_embd * s.n_ff;
        let n = s.n_layer * per_layer + N_VOCAB * s.n_embd;
        assert!((1.0e9..1.1e9).contains(&(n as f64)), "{n}");
    }
}
