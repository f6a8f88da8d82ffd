//! Resolves the MODEL argument of fit/gpus/quants: a catalogue id or name, or a GGUF file whose
//! own inventory is used as is.

use anyhow::Result;
use vramplan::arch::{inventory, source_inventory, Inventory, ModelShape};
use vramplan::catalog::{Catalog, ModelEntry};
use vramplan::estimate::WeightFormat;
use vramplan::ggml::GgmlType;

/// A model ready for the estimator.
pub struct ModelInput {
    pub name: String,
    pub id: String,
    pub shape: ModelShape,
    pub entry: Option<ModelEntry>,
}

impl ModelInput {
    /// The inventory in `format` (exact per tensor for GGUF file types).
    pub fn inventory(&self, format: WeightFormat) -> Inventory {
        let entry = self
            .entry
            .as_ref()
            .expect("catalogue models carry their entry");
        match format {
            WeightFormat::Gguf(ft) => inventory(entry, ft),
            _ => source_inventory(entry, GgmlType::BF16),
        }
    }

    /// `org/repo` of the Hugging Face source, for launch commands.
    pub fn hf_repo(&self) -> Option<String> {
        let src = &self.entry.as_ref()?.source;
        let rest = src.strip_prefix("https://huggingface.co/")?;
        let mut parts = rest.split('/');
        Some(format!("{}/{}", parts.next()?, parts.next()?))
    }
}

pub fn resolve(catalog: &Catalog, model: &str) -> Result<ModelInput> {
    let entry = catalog.model(model)?.clone();
    Ok(ModelInput {
        name: entry.name.clone(),
        id: entry.id.clone(),
        shape: ModelShape::from_entry(&entry),
        entry: Some(entry),
    })
}
