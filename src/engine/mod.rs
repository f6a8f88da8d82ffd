//! Reference inference on GGUF models, matching llama.cpp. This part: the tokenizer read from the
//! file's metadata ([`Tokenizer`]), ported from llama.cpp's `llama-vocab.cpp` and `unicode.cpp`.

mod error;
mod tokenizer;
mod unicode;
mod unicode_data;

pub use error::EngineError;
pub use tokenizer::{Tokenizer, VocabKind};
pub use unicode::PreTokenizer;
