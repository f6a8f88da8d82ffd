//! Errors of the GGUF reader and writer: one-line messages naming the byte offset, the key or the
//! tensor at fault.

use std::fmt;
use std::path::PathBuf;

/// A malformed or hostile GGUF byte stream: where it went wrong and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// File the bytes came from, when known.
    pub path: Option<PathBuf>,
    /// Byte offset of the offending field.
    pub offset: u64,
    /// What was expected, and what was found.
    pub message: String,
    /// Where in the file's structure (`metadata key #3 \`general.name\``, `tensor #5 ...`).
    pub context: Option<String>,
}

impl ParseError {
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> Self {
        ParseError {
            path: None,
            offset: offset as u64,
            message: message.into(),
            context: None,
        }
    }

    /// Attach structural context unless a more specific one is already set.
    pub(crate) fn ctx(mut self, context: impl FnOnce() -> String) -> Self {
        if self.context.is_none() {
            self.context = Some(context());
        }
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GGUF parse error")?;
        if let Some(path) = &self.path {
            write!(f, " in {}", path.display())?;
        }
        write!(f, " at byte {}: {}", self.offset, self.message)?;
        if let Some(context) = &self.context {
            write!(f, " ({context})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// Every failure of [`crate::gguf`].
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The bytes are not a well-formed GGUF file.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Opening, mapping, writing or renaming a file failed.
    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A metadata key the caller asked for is absent.
    #[error("GGUF metadata key `{key}` is missing")]
    MissingKey { key: String },
    /// A metadata key holds a different type than the caller asked for.
    #[error("GGUF metadata key `{key}` holds {found}, expected {expected}")]
    WrongType {
        key: String,
        expected: String,
        found: String,
    },
    /// A hyperparameter is beyond [`crate::catalog::limits`] (a corrupt or hostile file).
    #[error("GGUF {what} is {value}, more than the {max} vramplan accepts")]
    OutOfRange { what: String, value: u64, max: u64 },
    /// A hyperparameter that must be positive is zero (no layers, no heads, no context).
    #[error("GGUF {what} is 0; a model needs at least 1")]
    Zero { what: String },
    /// The writer was given something it cannot write (duplicate key, bad shape, short data).
    #[error("cannot write GGUF: {0}")]
    InvalidWrite(String),
}

impl GgufError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        GgufError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
