//! Errors of the reference engine: each variant names the file's key, tensor or token at fault.

use crate::ggml::GgmlType;
use crate::gguf::GgufError;

/// Every failure of [`crate::engine`].
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Reading the GGUF metadata failed (missing key, wrong value type).
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// `general.architecture` names an architecture the engine has no forward pass for.
    #[error("unsupported architecture `{arch}` (the engine runs llama, mistral, qwen2 and their MoE variants)")]
    UnsupportedArchitecture { arch: String },
    /// `tokenizer.ggml.model` or `tokenizer.ggml.pre` names a tokenizer the engine lacks.
    #[error("unsupported tokenizer: {what}")]
    UnsupportedTokenizer { what: String },
    /// A metadata value is present but unusable (out of range, inconsistent with the tensors).
    #[error("invalid model metadata: {0}")]
    Metadata(String),
    /// A tensor the architecture needs is absent.
    #[error("tensor `{name}` is missing")]
    MissingTensor { name: String },
    /// A tensor has another shape than the hyperparameters imply.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        name: String,
        expected: Vec<u64>,
        found: Vec<u64>,
    },
    /// A tensor's ggml type has no dot product or dequantizer in vramplan.
    #[error("tensor `{name}` has type {ty}, which the engine cannot multiply")]
    UnsupportedType { name: String, ty: GgmlType },
    /// A token id outside the vocabulary.
    #[error("token id {token} is outside the vocabulary ({n_vocab} tokens)")]
    TokenOutOfRange { token: u32, n_vocab: usize },
    /// The prompt and the tokens to generate do not fit the context.
    #[error("{needed} tokens do not fit the context of {n_ctx} tokens")]
    ContextFull { needed: usize, n_ctx: usize },
    /// The rayon thread pool could not be built.
    #[error("cannot start {threads} worker threads: {reason}")]
    Threads { threads: usize, reason: String },
}
