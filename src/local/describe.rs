//! What a local model is, read from its files: architecture, parameter count (counted from the
//! GGUF tensors or the safetensors headers, not estimated), file type and size on disk.

use serde::Serialize;

use super::{check_file, warn, LocalFiles, LocalModel, LocalWarning, Store};
use crate::ggml::FileType;
use crate::gguf::GgufFile;
use crate::hf::{HfConfig, SafetensorsHeader};

/// One row of `list local`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalSummary {
    pub store: Store,
    pub name: String,
    /// The GGUF file (first shard) or config.json.
    pub path: String,
    /// GGUF `general.architecture`, or config.json's `architectures[0]` (else `model_type`).
    pub architecture: String,
    /// Weight elements in the files; `None` for a snapshot without safetensors files.
    pub params: Option<u64>,
    /// llama.cpp file type (`Q4_K_M`), or the safetensors dtypes (`BF16`, `BF16+F32`).
    pub file_type: Option<String>,
    /// Bytes of the model's files (all shards; config.json and weights for a snapshot).
    pub size_bytes: u64,
    pub files: usize,
}

/// Reads a local model's files; a file that cannot be read is a warning naming it.
pub fn describe(m: &LocalModel) -> Result<LocalSummary, LocalWarning> {
    let mut s = LocalSummary {
        store: m.store,
        name: m.name.clone(),
        path: m.path().display().to_string(),
        architecture: String::new(),
        params: None,
        file_type: None,
        size_bytes: 0,
        files: 0,
    };
    match &m.files {
        LocalFiles::Gguf { paths } => {
            let mut params = 0u64;
            for (i, p) in paths.iter().enumerate() {
                s.size_bytes += check_file(p)?;
                let f = GgufFile::open(p).map_err(|e| warn(p, e.to_string()))?;
                params = params.saturating_add(f.inventory().total_elements());
                if i == 0 {
                    s.architecture = f.architecture().unwrap_or("?").to_string();
                    s.file_type = f
                        .get_uint("general.file_type")
                        .ok()
                        .and_then(|id| u32::try_from(id).ok())
                        .and_then(FileType::from_id)
                        .map(|t| t.name().to_string());
                }
            }
            s.params = Some(params);
            s.files = paths.len();
        }
        LocalFiles::Safetensors { config, weights } => {
            s.size_bytes += check_file(config)?;
            let cfg = HfConfig::from_path(config).map_err(|e| warn(config, e.to_string()))?;
            s.architecture = cfg.architecture.clone().unwrap_or(cfg.model_type.clone());
            let st = safetensors_summary(weights)?;
            s.size_bytes += st.bytes_on_disk;
            if !weights.is_empty() {
                s.params = Some(st.params);
                s.file_type = Some(st.dtypes.join("+"));
            }
            s.files = 1 + weights.len();
        }
    }
    Ok(s)
}

/// The weights of a snapshot as its safetensors headers state them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SafetensorsSummary {
    pub files: usize,
    pub tensors: usize,
    pub params: u64,
    /// Bytes of tensor data.
    pub tensor_bytes: u64,
    pub bytes_on_disk: u64,
    /// Element types present, largest share first.
    pub dtypes: Vec<String>,
}

/// Reads every header (each bounded by its file's size and the reader's 100 MB cap).
pub fn safetensors_summary(
    weights: &[std::path::PathBuf],
) -> Result<SafetensorsSummary, LocalWarning> {
    let mut s = SafetensorsSummary {
        files: weights.len(),
        ..Default::default()
    };
    let mut by_type: std::collections::BTreeMap<String, u64> = Default::default();
    for w in weights {
        s.bytes_on_disk += check_file(w)?;
        let h = SafetensorsHeader::read(w).map_err(|e| warn(w, e.to_string()))?;
        for t in &h.tensors {
            s.tensors += 1;
            s.params = s.params.saturating_add(t.n_elements);
            s.tensor_bytes = s.tensor_bytes.saturating_add(t.n_bytes);
            *by_type.entry(format!("{:?}", t.dtype)).or_default() += t.n_bytes;
        }
    }
    let mut types: Vec<(u64, String)> = by_type.into_iter().map(|(k, v)| (v, k)).collect();
    types.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    s.dtypes = types.into_iter().map(|t| t.1).collect();
    Ok(s)
}
