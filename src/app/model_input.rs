//! Resolves the MODEL argument of fit/gpus/quants: a catalogue id or name, a GGUF file (whose own
//! inventory is used as is: exact bytes per tensor) or a Hugging Face config.json.

use std::path::Path;

use anyhow::Result;
use vramplan::arch::{inventory_with_imatrix, source_inventory, Inventory, ModelShape};
use vramplan::catalog::{Catalog, ModelEntry};
use vramplan::estimate::{FitRequest, WeightFormat};
use vramplan::ggml::{FileType, GgmlType};
use vramplan::gguf::GgufFile;
use vramplan::hf::HfConfig;

use super::bad_input;

/// A model ready for the estimator.
pub struct ModelInput {
    pub name: String,
    pub id: String,
    pub shape: ModelShape,
    pub source: Source,
    /// The GGUF file, when the model came from one.
    pub path: Option<String>,
}

pub enum Source {
    /// An architecture (catalogue entry or config.json) expanded by the file-type recipe.
    Architecture(Box<ModelEntry>),
    /// A real GGUF file: its inventory and file type.
    Gguf {
        inventory: Inventory,
        file_type: Option<FileType>,
    },
}

impl ModelInput {
    /// The inventory in the request's format (a GGUF file's own inventory whatever it asked).
    pub fn inventory(&self, req: &FitRequest) -> Inventory {
        match &self.source {
            Source::Architecture(entry) => match req.format {
                WeightFormat::Gguf(ft) => inventory_with_imatrix(entry, ft, req.imatrix),
                _ => source_inventory(entry, GgmlType::BF16),
            },
            Source::Gguf { inventory, .. } => inventory.clone(),
        }
    }

    /// The weight format a GGUF file fixes (`None` for architectures: the user picks).
    pub fn fixed_format(&self) -> Option<WeightFormat> {
        match &self.source {
            Source::Gguf { file_type, .. } => {
                Some(WeightFormat::Gguf(file_type.unwrap_or(FileType::F16)))
            }
            Source::Architecture(_) => None,
        }
    }

    pub fn entry(&self) -> Option<&ModelEntry> {
        match &self.source {
            Source::Architecture(e) => Some(e),
            Source::Gguf { .. } => None,
        }
    }

    /// `org/repo` of the Hugging Face source, for launch commands.
    pub fn hf_repo(&self) -> Option<String> {
        let src = &self.entry()?.source;
        let rest = src.strip_prefix("https://huggingface.co/")?;
        let mut parts = rest.split('/');
        Some(format!("{}/{}", parts.next()?, parts.next()?))
    }
}

fn looks_like_path(s: &str) -> bool {
    s.ends_with(".gguf") || s.ends_with(".json") || s.contains('/') || Path::new(s).exists()
}

pub fn resolve(catalog: &Catalog, model: &str) -> Result<ModelInput> {
    if looks_like_path(model) {
        return from_file(Path::new(model));
    }
    let entry = catalog.model(model)?.clone();
    Ok(ModelInput {
        name: entry.name.clone(),
        id: entry.id.clone(),
        shape: ModelShape::from_entry(&entry),
        source: Source::Architecture(Box::new(entry)),
        path: None,
    })
}

/// Checks that `path` is a readable, non-empty regular file, with a one-line error naming it
/// (and the OS reason, or what it is instead: a FIFO or device is not called "empty").
pub fn check_file(path: &Path) -> Result<()> {
    vramplan::files::check_input(path)?;
    Ok(())
}

pub fn from_file(path: &Path) -> Result<ModelInput> {
    check_file(path)?;
    let shown = path.display().to_string();
    let stem = path
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().to_string());
    if path.extension().is_some_and(|e| e == "json") {
        let cfg = HfConfig::from_path(path).map_err(|e| bad_input(e.to_string()))?;
        let id = vramplan::catalog::normalize(&stem);
        let entry = cfg
            .to_model_entry(&id, &shown)
            .map_err(|e| bad_input(format!("{shown}: {e}")))?;
        return Ok(ModelInput {
            name: shown.clone(),
            id,
            shape: ModelShape::from_entry(&entry),
            source: Source::Architecture(Box::new(entry)),
            path: None,
        });
    }
    let file = GgufFile::open(path)?;
    let shape =
        vramplan::gguf::model_shape(&file).map_err(|e| bad_input(format!("{shown}: {e}")))?;
    let file_type = file
        .get_uint("general.file_type")
        .ok()
        .and_then(|id| u32::try_from(id).ok())
        .and_then(FileType::from_id);
    let name = file
        .get_str("general.name")
        .map(str::to_string)
        .unwrap_or_else(|_| stem.clone());
    let inv = file.inventory();
    Ok(ModelInput {
        name,
        id: stem,
        shape,
        source: Source::Gguf {
            inventory: inv,
            file_type,
        },
        path: Some(shown),
    })
}
