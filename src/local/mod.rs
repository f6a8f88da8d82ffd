//! Models already on this machine: Ollama's model store and the Hugging Face hub cache, found by
//! the names those tools use (`llama3.1:8b`, `org/repo`) and listed. Stores are other programs'
//! folders, so every read is bounded and every problem (a symbolic link to a device, a huge or
//! garbled manifest, a missing blob, an unreadable folder) is a [`LocalWarning`] naming the file,
//! never an error that stops the command and never a read without a cap.

mod describe;
mod hf_cache;
mod ollama;

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use describe::{describe, safetensors_summary, LocalSummary, SafetensorsSummary};

/// Where a local model lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Store {
    /// `$OLLAMA_MODELS`, else `~/.ollama/models`.
    Ollama,
    /// `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
    HuggingFace,
}

impl Store {
    pub fn label(self) -> &'static str {
        match self {
            Store::Ollama => "Ollama store",
            Store::HuggingFace => "Hugging Face cache",
        }
    }
}

/// The files of one local model.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LocalFiles {
    /// A GGUF file, or the shards of a split one in order (`-00001-of-00003.gguf`, ...).
    Gguf { paths: Vec<PathBuf> },
    /// A Hugging Face snapshot: its config.json and safetensors files.
    Safetensors {
        config: PathBuf,
        weights: Vec<PathBuf>,
    },
}

/// A model in a local store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalModel {
    pub store: Store,
    /// The store's root folder.
    pub root: PathBuf,
    /// The name the store knows it by: `llama3.1:8b`, `org/repo`, `org/repo/file.gguf`.
    pub name: String,
    pub files: LocalFiles,
}

impl LocalModel {
    /// The file that stands for the model: the GGUF (its first shard) or config.json.
    pub fn path(&self) -> &Path {
        match &self.files {
            LocalFiles::Gguf { paths } => paths.first().map_or(self.root.as_path(), |p| p),
            LocalFiles::Safetensors { config, .. } => config,
        }
    }
}

/// A problem with a store's file, which was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalWarning {
    pub path: PathBuf,
    pub problem: String,
}

impl std::fmt::Display for LocalWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

fn warn(path: &Path, problem: impl Into<String>) -> LocalWarning {
    LocalWarning {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// What a lookup by name found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Found(LocalModel),
    /// The name is a repo holding several GGUF files: the names that pick one.
    Ambiguous(Vec<String>),
    NotFound,
}

/// The local stores to read; a missing folder is an empty store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stores {
    pub ollama: Option<PathBuf>,
    pub hf_hub: Option<PathBuf>,
}

/// Reads the same variables as the tools that own the stores.
fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl Stores {
    /// The stores Ollama and the Hugging Face libraries use on this machine.
    pub fn from_env() -> Stores {
        let home = dirs::home_dir();
        let ollama =
            env_path("OLLAMA_MODELS").or_else(|| home.as_ref().map(|h| h.join(".ollama/models")));
        let hf_hub = env_path("HF_HUB_CACHE")
            .or_else(|| env_path("HF_HOME").map(|h| h.join("hub")))
            .or_else(|| home.as_ref().map(|h| h.join(".cache/huggingface/hub")));
        Stores { ollama, hf_hub }
    }

    /// The model a name means in a store: Ollama first (its tags are what people type), then
    /// the Hugging Face cache. Names that cannot be a store's name are not looked up.
    pub fn find(&self, name: &str, warnings: &mut Vec<LocalWarning>) -> Lookup {
        if let Some(root) = self.ollama.as_deref().filter(|r| r.is_dir()) {
            if let Some(m) = ollama::find(root, name, warnings) {
                return Lookup::Found(m);
            }
        }
        if let Some(root) = self.hf_hub.as_deref().filter(|r| r.is_dir()) {
            return hf_cache::find(root, name, warnings);
        }
        Lookup::NotFound
    }

    /// Every model in the stores, Ollama's first, each in name order.
    pub fn list(&self, warnings: &mut Vec<LocalWarning>) -> Vec<LocalModel> {
        let mut out = Vec::new();
        if let Some(root) = self.ollama.as_deref().filter(|r| r.is_dir()) {
            out.extend(ollama::list(root, warnings));
        }
        if let Some(root) = self.hf_hub.as_deref().filter(|r| r.is_dir()) {
            out.extend(hf_cache::list(root, warnings));
        }
        out
    }
}

/// Most entries read from one folder of a store: real stores hold a few hundred.
pub const MAX_DIR_ENTRIES: usize = 4096;
/// Largest manifest or ref file read (real ones are under 2 KB).
pub const MAX_SMALL_FILE_BYTES: u64 = 1 << 20;

/// A folder's entries in name order, at most [`MAX_DIR_ENTRIES`]; an unreadable folder or one
/// with more entries is a warning.
fn read_dir(dir: &Path, warnings: &mut Vec<LocalWarning>) -> Vec<fs::DirEntry> {
    let iter = match fs::read_dir(dir) {
        Ok(it) => it,
        Err(e) => {
            warnings.push(warn(dir, format!("cannot read the folder: {e}")));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for entry in iter {
        match entry {
            Ok(e) if out.len() < MAX_DIR_ENTRIES => out.push(e),
            Ok(_) => {
                warnings.push(warn(
                    dir,
                    format!("more than {MAX_DIR_ENTRIES} entries; the rest skipped"),
                ));
                break;
            }
            Err(e) => warnings.push(warn(dir, format!("cannot read an entry: {e}"))),
        }
    }
    out.sort_by_key(fs::DirEntry::file_name);
    out
}

/// A real folder (not a link to one: a walk never follows links into folders, so a loop or a
/// link to `/` cannot make it endless).
fn is_real_dir(entry: &fs::DirEntry) -> bool {
    entry.file_type().is_ok_and(|t| t.is_dir())
}

/// Checks a store file (links followed) is a non-empty regular file: a link to a device or a
/// FIFO would block or never end.
fn check_file(path: &Path) -> Result<u64, LocalWarning> {
    crate::files::check_input(path)
        .map(|m| m.len())
        .map_err(|e| warn(path, e.to_string()))
}

/// A small text file of a store (manifest, ref), read up to [`MAX_SMALL_FILE_BYTES`].
fn read_small(path: &Path, what: &str) -> Result<String, LocalWarning> {
    check_file(path)?;
    crate::files::read_text(path, MAX_SMALL_FILE_BYTES, what).map_err(|e| warn(path, e.to_string()))
}

/// A path component a store may hold: ASCII letters, digits, `.`, `_`, `-`, not `.`/`..`.
fn safe_component(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `-00001-of-00003` at the end of a file stem: (shard, count).
fn shard_of(stem: &str) -> Option<(u32, u32)> {
    let (rest, count) = stem.rsplit_once("-of-")?;
    let (_, no) = rest.rsplit_once('-')?;
    if no.len() != 5 || count.len() != 5 {
        return None;
    }
    let no: u32 = no.parse().ok()?;
    let count: u32 = count.parse().ok()?;
    (no >= 1 && no <= count).then_some((no, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_shards() {
        assert!(safe_component("llama3.1"));
        assert!(safe_component("8b-instruct-q4_K_M"));
        assert!(!safe_component(".."));
        assert!(!safe_component("a/b"));
        assert!(!safe_component("Mixtral 8x7B"));
        assert_eq!(shard_of("model-Q4_K_M-00002-of-00003"), Some((2, 3)));
        assert_eq!(shard_of("model-Q4_K_M-00004-of-00003"), None);
        assert_eq!(shard_of("model-Q4_K_M"), None);
    }
}
