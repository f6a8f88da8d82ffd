//! Resolves the MODEL argument of fit/gpus/quants: a catalogue id or name, a GGUF file (whose own
//! inventory is used as is: exact bytes per tensor) or a Hugging Face config.json.

use std::path::Path;

use anyhow::Result;
use vramplan::arch::{inventory_with_imatrix, source_inventory, Inventory, ModelShape};
use vramplan::catalog::{Catalog, ModelEntry};
use vramplan::estimate::{PlaceRequest, WeightFormat};
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
    /// The quantization the name carried (`qwen2.5:32b-instruct-q4_K_M`, `...-Q4_K_M.gguf`).
    pub name_quant: Option<WeightFormat>,
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
pub fn parse_quant(s: &str) -> Result<WeightFormat> {
    use vramplan::catalog::names::{quant_spelling, QuantSpelling};
    match quant_spelling(s) {
        QuantSpelling::One(name) => WeightFormat::parse(name)
            .ok_or_else(|| bad_input(format!("quantization `{s}` ({name}) is not supported"))),
        QuantSpelling::Ambiguous(choices) => Err(bad_input(format!(
            "quantization `{s}` is ambiguous; say which: {}",
            choices.join(", ")
        ))),
        QuantSpelling::Unknown => Err(bad_input(format!(
            "unknown quantization `{s}` (GGUF: Q4_K_M, Q5_K_M, Q6_K, Q8_0, IQ4_XS, F16, BF16, ...; vLLM: awq, gptq, fp8, nf4, int8)"
        ))),
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

pub fn resolve(catalog: &Catalog, model: &str) -> Result<ModelInput> {
    if looks_like_path(model) {
        return from_file(Path::new(model));
    }
    let named = match catalog.model_named(model) {
        Ok(n) => n,
        // A name that looked like a file: say both.
        Err(e) if model.ends_with(".gguf") && model.contains('/') => {
            return Err(bad_input(format!(
                "no file `{model}`, and as a model name: {e}"
            )))
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
            name_quant: None,
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
        name_quant: None,
    })
}
