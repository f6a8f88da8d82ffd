//! ggml facts: one const row per tensor type (id, block size, bytes per block) and llama.cpp's
//! file types and constants. Shared by the estimator, the codecs, GGUF and the engine.

mod ftype;
pub mod llama_cpp;
mod types;

pub use ftype::{FileType, UnknownFileType};
pub use types::{GgmlType, TypeInfo, QK_K};
