//! Reference inference on GGUF models, matching llama.cpp: a tokenizer read from the file's
//! metadata ([`Tokenizer`]), a model whose weights stay quantized in the memory map ([`Model`]),
//! and a forward pass that reads top to bottom ([`Session`], `forward.rs`) with matrix products
//! on the quantized blocks through [`crate::kernels`].
//!
//! ```no_run
//! use vramplan::engine::{generate, Model, Sampling, Tokenizer};
//! use vramplan::gguf::GgufFile;
//!
//! let file = GgufFile::open("SmolLM2-135M-Instruct.Q4_1.gguf")?;
//! let tok = Tokenizer::from_gguf(&file)?;
//! let model = Model::load(&file)?;
//! let g = generate(&model, &tok, "The capital of France is", 16, Sampling::greedy(), 0)?;
//! println!("{} ({:.1} tok/s)", g.text, g.decode_tok_s);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod attention;
mod error;
mod forward;
mod generate;
mod kv;
mod matmul;
mod model;
mod ops;
mod pool;
pub mod testgen;
mod tokenizer;
mod unicode;
mod unicode_data;

pub use error::EngineError;
pub use forward::{MemoryUse, Session, SessionConfig};
pub use generate::{
    argmax, generate, generate_in, generate_in_stream, generate_stream, logits_for,
    logits_for_with, Generation, Sampling,
};
pub use kv::{KvCache, KvCacheType};
pub use model::{Arch, HParams, Model};
pub use ops::{rms_norm, route_top_k, softmax, Rope, RopeKind};
pub use tokenizer::{Tokenizer, VocabKind};
pub use unicode::PreTokenizer;
