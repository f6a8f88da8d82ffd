//! ggml facts: one const row per tensor type (id, block size, bytes per block) and llama.cpp's
//! file types with their per-tensor recipes. Shared by the estimator, the codecs, GGUF and the engine.

pub mod recipe;
mod types;

pub use recipe::{FileType, RecipeContext};
pub use types::{GgmlType, TypeInfo, QK_K};
