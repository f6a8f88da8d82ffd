//! GGUF files: the strict, bounded, mmap-backed reader ([`GgufFile`]) and the atomic writer
//! ([`GgufWriter`]). A parsed file yields its metadata, its tensor bytes (borrowed from the map)
//! and its [`crate::arch::Inventory`].

mod error;
mod reader;
mod shape;
mod value;
mod writer;

pub use error::{GgufError, ParseError};
pub use reader::{
    release_mapped_pages, GgufFile, TensorInfo, GGML_MAX_DIMS, GGML_MAX_NAME,
    GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, KEY_ALIGNMENT, KEY_ARCHITECTURE,
};
pub use shape::{check_hparams, model_shape, CHECKED_KEYS};
pub use value::{
    ArrayIter, ArrayRef, MetaValue, Scalar, ScalarIter, StrIter, Value, ValueType, MAX_ARRAY_DEPTH,
};
pub use writer::{GgufWriter, TensorSink, GGUF_WRITE_VERSION};
