//! The MODEL argument of fit/gpus/quants/cost, resolved by the library ([`vramplan::input`]);
//! this file only words what it found: local-store warnings and the note that a local file is
//! used.

use std::path::Path;

use anyhow::Result;
use vramplan::catalog::Catalog;
use vramplan::estimate::WeightFormat;
use vramplan::input::InputError;
use vramplan::local::Stores;

pub use vramplan::input::ModelInput;

use super::bad_input;

/// An input error as the command reports it: errors of their own kind keep it (exit codes follow
/// it), the rest are bad input.
fn worded(e: InputError) -> anyhow::Error {
    match e {
        InputError::File(e) => e.into(),
        InputError::Gguf(e) => e.into(),
        InputError::Catalogue(e) => e.into(),
        other => bad_input(other.to_string()),
    }
}

/// A quantization as people spell it; an ambiguous spelling is refused with the choices.
pub fn parse_quant(s: &str) -> Result<WeightFormat> {
    vramplan::input::parse_quant(s).map_err(worded)
}

pub fn resolve(catalog: &Catalog, model: &str) -> Result<ModelInput> {
    let mut warnings = Vec::new();
    let resolved = vramplan::input::resolve(catalog, &Stores::from_env(), model, &mut warnings);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let m = resolved.map_err(worded)?;
    if let Some(l) = &m.local {
        let what = match l.basis {
            "gguf_inventory" => "its tensors as stored",
            _ => "the architecture of its config.json",
        };
        eprintln!(
            "note: `{model}` is in the local {}: {} ({what})",
            l.store.label(),
            l.path
        );
        // Quantized or multimodal snapshots store other tensors than the text model's shape.
        if let (Some(gap), Some(st)) = (l.params_gap(), &l.safetensors) {
            if gap > 0.01 {
                eprintln!(
                    "warning: {}: its safetensors hold {} parameters ({}), config.json's architecture {}: the estimate follows config.json",
                    l.path,
                    vramplan::units::format_params(st.params),
                    st.dtypes.join("+"),
                    vramplan::units::format_params(l.config_params.unwrap_or(0))
                );
            }
        }
    }
    Ok(m)
}

/// Checks that `path` is a readable, non-empty regular file, with a one-line error naming it
/// (and the OS reason, or what it is instead: a FIFO or device is not called "empty").
pub fn check_file(path: &Path) -> Result<()> {
    vramplan::files::check_input(path)?;
    Ok(())
}
