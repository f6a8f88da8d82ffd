//! The MODEL argument of fit/gpus/quants/cost resolved to a model for the estimator: a file (a
//! GGUF, whose own inventory is used as is, or a Hugging Face config.json), a model in a local
//! store ([`crate::local`]: Ollama, the Hugging Face cache), or a catalogue name as people type it.

use std::path::Path;

use serde::Serialize;

use crate::arch::{inventory_with_imatrix, source_inventory, Inventory, ModelShape};
use crate::catalog::names::{quant_spelling, QuantSpelling};
use crate::catalog::{Catalog, ModelEntry, NotFound};
use crate::estimate::{PlaceRequest, WeightFormat};
use crate::files::FileError;
use crate::ggml::{FileType, GgmlType};
use crate::gguf::{GgufError, GgufFile};
use crate::hf::HfConfig;
use crate::local::{
    self, LocalFiles, LocalModel, LocalWarning, Lookup, SafetensorsSummary, Stores,
};

/// A model ready for the estimator.
#[derive(Debug, Clone)]
pub struct ModelInput {
    pub name: String,
    pub id: String,
    pub shape: ModelShape,
    pub source: Source,
    /// The GGUF file, when the model came from one (its first shard).
    pub path: Option<String>,
    /// The quantization the name carried (`qwen2.5:32b-instruct-q4_K_M`, `...-Q4_K_M.gguf`).
    pub name_quant: Option<WeightFormat>,
    /// The local store the model was found in, by name.
    pub local: Option<LocalOrigin>,
}

#[derive(Debug, Clone)]
pub enum Source {
    /// An architecture (catalogue entry or config.json) expanded by the file-type recipe.
    Architecture(Box<ModelEntry>),
    /// A real GGUF file (all its shards): its inventory and file type.
    Gguf {
        inventory: Inventory,
        file_type: Option<FileType>,
    },
}

/// Where a model found by name in a local store lives (the `local` key of reports).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalOrigin {
    pub store: local::Store,
    /// The store's root folder.
    pub store_root: String,
    /// The name the store knows it by.
    pub name: String,
    /// The GGUF file (first shard) or config.json read.
    pub path: String,
    /// What the estimate takes from the files: `gguf_inventory` (every tensor as stored) or
    /// `config_shape` (the architecture of config.json, expanded by the recipe).
    pub basis: &'static str,
    /// A snapshot's safetensors headers: tensors, parameters, bytes and dtypes as stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safetensors: Option<SafetensorsSummary>,
    /// With `safetensors`: the parameters config.json's architecture gives, to hold against the
    /// headers' count (a difference means the estimate's shape is not the stored model's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_params: Option<u64>,
}

impl LocalOrigin {
    /// The relative gap between config.json's parameter count and the safetensors headers'.
    pub fn params_gap(&self) -> Option<f64> {
        let stored = self.safetensors.as_ref()?.params as f64;
        let config = self.config_params? as f64;
        (stored > 0.0).then(|| (config - stored).abs() / stored)
    }
}

/// Why a MODEL argument does not resolve.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Catalogue(#[from] NotFound),
    /// A file whose content is not a model vramplan reads (config.json, GGUF metadata).
    #[error("{0}")]
    Model(String),
    /// A name that looked like a file: both readings failed.
    #[error("no file `{name}`, and as a model name: {error}")]
    NoFileNorName { name: String, error: NotFound },
    #[error("quantization `{spelling}` ({name}) is not supported")]
    QuantUnsupported {
        spelling: String,
        name: &'static str,
    },
    #[error("quantization `{spelling}` is ambiguous; say which: {}", .choices.join(", "))]
    QuantAmbiguous {
        spelling: String,
        choices: &'static [&'static str],
    },
    #[error("unknown quantization `{0}` (GGUF: Q4_K_M, Q5_K_M, Q6_K, Q8_0, IQ4_XS, F16, BF16, ...; vLLM: awq, gptq, fp8, nf4, int8)")]
    QuantUnknown(String),
    /// A repo of the Hugging Face cache holding several GGUF files.
    #[error("`{name}` names several local files; say which: {}", .choices.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "))]
    LocalAmbiguous { name: String, choices: Vec<String> },
}

impl ModelInput {
    /// The inventory in the request's format (a GGUF file's own inventory whatever it asked).
    pub fn inventory(&self, req: &PlaceRequest) -> Inventory {
        match &self.source {
            Source::Architecture(entry) => match req.format {
                WeightFormat::Gguf(ft) => inventory_with_imatrix(entry, ft, req.imatrix),
                _ => source_inventory(entry, GgmlType::BF16),
            },
            Source::Gguf { inventory, .. } => inventory.clone(),
        }
    }

    /// The weight format a GGUF file fixes, or the one the model's name carried
    /// (`llama3.1:8b-instruct-q8_0`); `None` for a bare architecture: the user picks.
    pub fn fixed_format(&self) -> Option<WeightFormat> {
        match &self.source {
            Source::Gguf { file_type, .. } => {
                Some(WeightFormat::Gguf(file_type.unwrap_or(FileType::F16)))
            }
            Source::Architecture(_) => self.name_quant,
        }
    }

    pub fn entry(&self) -> Option<&ModelEntry> {
        match &self.source {
            Source::Architecture(e) => Some(e),
            Source::Gguf { .. } => None,
        }
    }

    /// (total, active) parameters: a GGUF's counted from its tensors (the routed experts' share
    /// not used per token left out of the active count), an architecture's as the catalogue's.
    pub fn param_counts(&self) -> (u64, u64) {
        match &self.source {
            Source::Architecture(e) => crate::arch::param_counts(e),
            Source::Gguf { inventory, .. } => {
                let total = inventory.total_elements();
                let inactive = match self.shape.moe {
                    Some(m) if m.n_expert > 1 && m.n_expert_used <= m.n_expert => inventory
                        .tensors
                        .iter()
                        .filter(|t| t.role().is_routed_expert())
                        .map(|t| {
                            t.n_elements() / u64::from(m.n_expert)
                                * u64::from(m.n_expert - m.n_expert_used)
                        })
                        .sum(),
                    _ => 0,
                };
                (total, total.saturating_sub(inactive))
            }
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

/// A quantization as people spell it (`fp16`, `q4km`, `Q4_K`, `iq4xs`, `q8`, `awq`); an
/// ambiguous spelling (`4bit`) is refused with the choices.
pub fn parse_quant(s: &str) -> Result<WeightFormat, InputError> {
    match quant_spelling(s) {
        QuantSpelling::One(name) => {
            WeightFormat::parse(name).ok_or_else(|| InputError::QuantUnsupported {
                spelling: s.to_string(),
                name,
            })
        }
        QuantSpelling::Ambiguous(choices) => Err(InputError::QuantAmbiguous {
            spelling: s.to_string(),
            choices,
        }),
        QuantSpelling::Unknown => Err(InputError::QuantUnknown(s.to_string())),
    }
}

/// A path when it names an existing file, or looks like one and is not a name people type for a
/// model: a Hugging Face repo id (`org/repo`) or a GGUF file name that does not exist is a name.
fn looks_like_path(s: &str) -> bool {
    let p = Path::new(s);
    if p.exists() {
        return true;
    }
    s.ends_with(".json")
        || s.starts_with('/')
        || s.starts_with("./")
        || s.starts_with("../")
        || s.starts_with('~')
}

/// Resolves MODEL: a path is read as a file; a catalogue id is the catalogue's; any other name
/// is looked up in the local stores first (their file is exact) and then in the catalogue.
/// Problems met in the stores on the way (a broken manifest, a missing blob) go to `warnings`,
/// whatever the outcome.
pub fn resolve(
    catalog: &Catalog,
    stores: &Stores,
    model: &str,
    warnings: &mut Vec<LocalWarning>,
) -> Result<ModelInput, InputError> {
    if looks_like_path(model) {
        return from_file(Path::new(model));
    }
    let is_id = catalog.models().any(|m| m.id == model);
    if !is_id {
        match stores.find(model, warnings) {
            Lookup::Found(found) => return from_local(&found),
            Lookup::Ambiguous(choices) => {
                return Err(InputError::LocalAmbiguous {
                    name: model.to_string(),
                    choices,
                })
            }
            Lookup::NotFound => {}
        }
    }
    from_catalog(catalog, model)
}

/// A catalogue name as people type it, with the quantization it carries.
pub fn from_catalog(catalog: &Catalog, model: &str) -> Result<ModelInput, InputError> {
    let named = match catalog.model_named(model) {
        Ok(n) => n,
        Err(error) if model.ends_with(".gguf") && model.contains('/') => {
            return Err(InputError::NoFileNorName {
                name: model.to_string(),
                error,
            })
        }
        Err(e) => return Err(e.into()),
    };
    let name_quant = match named.quant {
        Some(q) => Some(parse_quant(q)?),
        None => None,
    };
    let entry = named.entry.clone();
    Ok(ModelInput {
        name: entry.name.clone(),
        id: entry.id.clone(),
        shape: ModelShape::from_entry(&entry),
        source: Source::Architecture(Box::new(entry)),
        path: None,
        name_quant,
        local: None,
    })
}

/// A GGUF file (one shard or all of them, in order) or a config.json.
pub fn from_file(path: &Path) -> Result<ModelInput, InputError> {
    crate::files::check_input(path)?;
    let stem = path
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().to_string());
    if path.extension().is_some_and(|e| e == "json") {
        return from_config(
            path,
            &crate::catalog::normalize(&stem),
            &path.display().to_string(),
        );
    }
    from_gguf(&[path], stem)
}

fn from_config(path: &Path, id: &str, name: &str) -> Result<ModelInput, InputError> {
    let shown = path.display().to_string();
    let cfg = HfConfig::from_path(path).map_err(|e| InputError::Model(e.to_string()))?;
    let entry = cfg
        .to_model_entry(id, &shown)
        .map_err(|e| InputError::Model(format!("{shown}: {e}")))?;
    Ok(ModelInput {
        name: name.to_string(),
        id: id.to_string(),
        shape: ModelShape::from_entry(&entry),
        source: Source::Architecture(Box::new(entry)),
        path: None,
        name_quant: None,
        local: None,
    })
}

/// GGUF shards in order: the shape and file type of the first, the tensors of all.
fn from_gguf(paths: &[&Path], stem: String) -> Result<ModelInput, InputError> {
    let first = paths
        .first()
        .ok_or_else(|| InputError::Model("no GGUF file".into()))?;
    let shown = first.display().to_string();
    let file = GgufFile::open(first)?;
    let shape =
        crate::gguf::model_shape(&file).map_err(|e| InputError::Model(format!("{shown}: {e}")))?;
    let file_type = file
        .get_uint("general.file_type")
        .ok()
        .and_then(|id| u32::try_from(id).ok())
        .and_then(FileType::from_id);
    let name = file
        .get_str("general.name")
        .map(str::to_string)
        .unwrap_or_else(|_| stem.clone());
    let mut inventory = file.inventory();
    for p in &paths[1..] {
        crate::files::check_input(p)?;
        inventory
            .tensors
            .extend(GgufFile::open(p)?.inventory().tensors);
    }
    // Blocks past the trunk (GLM-4.5's NextN/MTP block, `nextn_predict_layers`) are in the file
    // but llama.cpp neither loads nor caches them by default (src/models/glm4-moe.cpp
    // load_arch_tensors skips them unless MTP is asked for): plan the trunk.
    let n_layer = shape.n_layer as usize;
    inventory
        .tensors
        .retain(|t| t.layer().is_none_or(|l| l < n_layer));
    Ok(ModelInput {
        name,
        id: stem,
        shape,
        source: Source::Gguf {
            inventory,
            file_type,
        },
        path: Some(shown),
        name_quant: None,
        local: None,
    })
}

/// A model of a local store, named as the store names it.
pub fn from_local(found: &LocalModel) -> Result<ModelInput, InputError> {
    // `llama3.1:8b` -> `llama3.1-8b`; `org/repo` -> `repo`; `org/repo/FILE.gguf` -> `file`.
    let last = found.name.rsplit('/').next().unwrap_or(&found.name);
    let last = last.strip_suffix(".gguf").unwrap_or(last);
    let id = crate::catalog::normalize(last);
    let (mut model, basis, safetensors) = match &found.files {
        LocalFiles::Gguf { paths } => {
            let paths: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
            (from_gguf(&paths, id)?, "gguf_inventory", None)
        }
        LocalFiles::Safetensors { config, weights } => {
            let st = local::safetensors_summary(weights)
                .map_err(|w| InputError::Model(w.to_string()))?;
            let st = (!weights.is_empty()).then_some(st);
            (from_config(config, &id, &found.name)?, "config_shape", st)
        }
    };
    model.name = found.name.clone();
    let config_params = safetensors.as_ref().map(|_| model.param_counts().0);
    model.local = Some(LocalOrigin {
        store: found.store,
        store_root: found.root.display().to_string(),
        name: found.name.clone(),
        path: found.path().display().to_string(),
        basis,
        safetensors,
        config_params,
    });
    Ok(model)
}
