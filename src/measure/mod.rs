//! Measurements on this machine with the reference engine: quality of a quantized model against a
//! base model by llama.cpp's `llama-perplexity --kl-divergence` protocol ([`kld`], [`protocol`]),
//! and throughput runs ([`throughput`]).

pub mod kld;
pub mod protocol;
pub mod synthetic;
pub mod throughput;
pub mod validation;

use crate::engine::EngineError;

/// Why a measurement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(
        "the text gives {tokens} tokens; a context of {n_ctx} needs at least {n_ctx} (one chunk)"
    )]
    TooFewTokens { tokens: usize, n_ctx: usize },
    #[error("context {n_ctx} tokens: must be 16..=65536")]
    BadContext { n_ctx: usize },
    #[error("the base model has {base} vocabulary entries, the level {level}: not comparable")]
    VocabMismatch { base: usize, level: usize },
    #[error("token {token} at position {position} is outside the vocabulary of {n_vocab}")]
    TokenOutOfRange {
        token: u32,
        position: usize,
        n_vocab: usize,
    },
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("stopped by a signal before the run finished; nothing was written")]
    Stopped,
}
