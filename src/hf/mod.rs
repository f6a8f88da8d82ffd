//! Hugging Face model files: the architecture fields of `config.json` ([`HfConfig`]) and
//! safetensors headers ([`SafetensorsHeader`]), both read strictly and with bounded sizes.

mod config;
mod entry;
mod safetensors;

pub use config::{HfConfig, HfError};
pub use safetensors::{SafeDtype, SafeTensorInfo, SafetensorsHeader, MAX_SAFETENSORS_HEADER_BYTES};
