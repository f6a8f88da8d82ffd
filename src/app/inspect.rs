//! `vramplan inspect FILE`: a GGUF file (metadata summary, tensors and bytes by type, exact
//! parameter count, bits per weight, the estimator's view) or a Hugging Face config.json (with the
//! safetensors headers of its weight files when given, for dtypes and bytes).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;
use vramplan::arch::{param_counts, source_inventory, ModelShape};
use vramplan::estimate::kv::{self, KvType};
use vramplan::ggml::{FileType, GgmlType};
use vramplan::gguf::{GgufFile, Value};
use vramplan::hf::{HfConfig, SafetensorsHeader};
use vramplan::report::{escape_line, kv_table, table};
use vramplan::units::{format_params, Bytes};

use super::bad_input;
use super::model_input::check_file;
use crate::cli::{Global, InspectArgs};

#[derive(Serialize)]
struct TypeRow {
    ty: String,
    tensors: usize,
    elements: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct GgufReport {
    kind: &'static str,
    path: String,
    file_bytes: u64,
    version: u32,
    alignment: u32,
    architecture: String,
    name: Option<String>,
    file_type: Option<String>,
    metadata_keys: usize,
    metadata: BTreeMap<String, serde_json::Value>,
    tensor_count: usize,
    tensor_bytes: u64,
    params: u64,
    bits_per_weight: f64,
    by_type: Vec<TypeRow>,
    shape: Option<ModelShape>,
    kv_bytes_per_token_f16: Option<u64>,
}

#[derive(Serialize)]
struct ConfigReport {
    kind: &'static str,
    path: String,
    config: HfConfig,
    gguf_arch: Option<&'static str>,
    params_total: Option<u64>,
    params_active: Option<u64>,
    bf16_bytes: Option<u64>,
    kv_bytes_per_token_f16: Option<u64>,
    safetensors: Vec<SafetensorsSummary>,
}

#[derive(Serialize)]
struct SafetensorsSummary {
    path: String,
    tensors: usize,
    bytes: u64,
    by_dtype: BTreeMap<String, u64>,
}

pub fn run(global: &Global, args: InspectArgs) -> Result<()> {
    let path = args.file.as_path();
    check_file(path)?;
    if path.extension().is_some_and(|e| e == "json") {
        return inspect_config(global, path, &args.safetensors);
    }
    if !args.safetensors.is_empty() {
        return Err(bad_input(
            "--safetensors goes with a config.json, not a GGUF file",
        ));
    }
    inspect_gguf(global, path)
}

/// Names, architectures and paths come from the file: control characters shown, not executed.
fn escaped(rows: Vec<(String, String)>) -> Vec<(String, String)> {
    rows.into_iter()
        .map(|(k, v)| (escape_line(&k).into_owned(), escape_line(&v).into_owned()))
        .collect()
}

/// Scalars and strings as they are; arrays summarized (tokenizer vocabularies run to 150k entries).
fn summarize_value(v: &Value<'_>) -> serde_json::Value {
    match v {
        Value::Array(a) => {
            serde_json::Value::String(format!("[{} x {:?}]", a.len(), a.elem_type()))
        }
        Value::String(s) if s.len() > 200 => serde_json::Value::String(format!(
            "{}... ({} bytes)",
            s.chars().take(200).collect::<String>(),
            s.len()
        )),
        other => serde_json::to_value(other).unwrap_or(serde_json::Value::Null),
    }
}

fn inspect_gguf(global: &Global, path: &Path) -> Result<()> {
    let file = GgufFile::open(path)?;
    // The limits every command applies: a hostile file is refused here as in fit or run.
    vramplan::gguf::check_hparams(&file)?;
    let shown = path.display().to_string();
    let mut by_type: BTreeMap<GgmlType, TypeRow> = BTreeMap::new();
    for t in file.tensors() {
        let row = by_type.entry(t.ty()).or_insert(TypeRow {
            ty: t.ty().name().into(),
            tensors: 0,
            elements: 0,
            bytes: 0,
        });
        row.tensors += 1;
        row.elements += t.n_elements();
        row.bytes += t.n_bytes();
    }
    let tensor_bytes: u64 = by_type.values().map(|r| r.bytes).sum();
    let params: u64 = by_type.values().map(|r| r.elements).sum();
    let shape = vramplan::gguf::model_shape(&file).ok();
    let report = GgufReport {
        kind: "gguf",
        path: shown.clone(),
        file_bytes: file.len(),
        version: file.version(),
        alignment: file.alignment(),
        architecture: file
            .architecture()
            .map(str::to_string)
            .map_err(|e| bad_input(format!("{shown}: {e}")))?,
        name: file.get_str("general.name").ok().map(str::to_string),
        file_type: file.get_uint("general.file_type").ok().map(|id| {
            u32::try_from(id)
                .ok()
                .and_then(FileType::from_id)
                .map_or(format!("unknown ({id})"), |f| f.name().to_string())
        }),
        metadata_keys: file.kv_count(),
        metadata: file
            .metadata()
            .map(|(k, v)| (k.to_string(), summarize_value(&v)))
            .collect(),
        tensor_count: file.tensors().len(),
        tensor_bytes,
        params,
        bits_per_weight: if params > 0 {
            8.0 * tensor_bytes as f64 / params as f64
        } else {
            0.0
        },
        by_type: by_type.into_values().collect(),
        kv_bytes_per_token_f16: shape
            .as_ref()
            .and_then(|s| kv::bytes_per_token(s, KvType::F16)),
        shape,
    };
    super::emit(global, &report, |report| {
        let mut rows = vec![
            (
                "file".into(),
                format!(
                    "{} ({})",
                    report.path,
                    Bytes(report.file_bytes).display_both()
                ),
            ),
            (
                "GGUF".into(),
                format!(
                    "version {}, alignment {}, {} metadata keys",
                    report.version, report.alignment, report.metadata_keys
                ),
            ),
            ("architecture".into(), report.architecture.clone()),
            (
                "name".into(),
                report.name.clone().unwrap_or_else(|| "-".into()),
            ),
            (
                "file type".into(),
                report.file_type.clone().unwrap_or_else(|| "-".into()),
            ),
            (
                "parameters".into(),
                format!("{} ({})", format_params(report.params), report.params),
            ),
            (
                "tensors".into(),
                format!(
                    "{} holding {} ({} bytes)",
                    report.tensor_count,
                    Bytes(report.tensor_bytes).display_both(),
                    report.tensor_bytes
                ),
            ),
            (
                "bits per weight".into(),
                format!("{:.3}", report.bits_per_weight),
            ),
        ];
        if let Some(s) = &report.shape {
            rows.push((
                "shape".into(),
                format!(
                    "{} layers, embd {}, heads {}/{} (KV), head dim {}/{}, vocab {}, context {}",
                    s.n_layer,
                    s.n_embd,
                    s.n_head,
                    s.n_head_kv,
                    s.head_dim_k,
                    s.head_dim_v,
                    s.n_vocab,
                    s.max_context
                ),
            ));
        }
        if let Some(k) = report.kv_bytes_per_token_f16 {
            rows.push(("KV cache (f16)".into(), format!("{k} bytes per token")));
        }
        super::out_table(&kv_table(&escaped(rows)));
        let mut t = table(&["type", "tensors", "parameters", "bytes", "share"]);
        for r in &report.by_type {
            t.add_row(vec![
                r.ty.clone(),
                r.tensors.to_string(),
                format_params(r.elements),
                Bytes(r.bytes).display_gb(),
                format!(
                    "{:.1}%",
                    100.0 * r.bytes as f64 / report.tensor_bytes.max(1) as f64
                ),
            ]);
        }
        super::out_table(&t);
        Ok(())
    })
}

fn inspect_config(global: &Global, path: &Path, safetensors: &[std::path::PathBuf]) -> Result<()> {
    let shown = path.display().to_string();
    let config = HfConfig::from_path(path).map_err(|e| bad_input(e.to_string()))?;
    let entry = config.to_model_entry("config", &shown).ok();
    let (params_total, params_active) = entry.as_ref().map(param_counts).unzip();
    let mut summaries = Vec::new();
    for st in safetensors {
        check_file(st)?;
        let h = SafetensorsHeader::read(st).map_err(|e| bad_input(e.to_string()))?;
        let mut by_dtype = BTreeMap::new();
        for t in &h.tensors {
            *by_dtype.entry(format!("{:?}", t.dtype)).or_insert(0u64) += t.n_bytes;
        }
        summaries.push(SafetensorsSummary {
            path: st.display().to_string(),
            tensors: h.tensors.len(),
            bytes: h.total_bytes(),
            by_dtype,
        });
    }
    let report = ConfigReport {
        kind: "config",
        path: shown.clone(),
        gguf_arch: config.gguf_arch(),
        params_total,
        params_active,
        bf16_bytes: entry
            .as_ref()
            .and_then(|e| source_inventory(e, GgmlType::BF16).total_bytes()),
        kv_bytes_per_token_f16: entry
            .as_ref()
            .and_then(|e| kv::bytes_per_token(&ModelShape::from_entry(e), KvType::F16)),
        config,
        safetensors: summaries,
    };
    super::emit(global, &report, |report| {
        let c = &report.config;
        let mut rows = vec![
            ("file".into(), shown),
            (
                "model_type".into(),
                format!(
                    "{} ({})",
                    c.model_type,
                    c.architecture.clone().unwrap_or_default()
                ),
            ),
            (
                "llama.cpp architecture".into(),
                report.gguf_arch.unwrap_or("not modelled").to_string(),
            ),
            (
                "layers / hidden / heads / KV heads".into(),
                format!(
                    "{} / {} / {} / {}",
                    c.num_hidden_layers,
                    c.hidden_size,
                    c.num_attention_heads,
                    c.num_key_value_heads
                ),
            ),
        ];
        if let (Some(t), Some(a)) = (report.params_total, report.params_active) {
            rows.push((
                "parameters (derived)".into(),
                format!("{} total, {} active", format_params(t), format_params(a)),
            ));
        }
        if let Some(b) = report.bf16_bytes {
            rows.push(("weights in bf16".into(), Bytes(b).display_both()));
        }
        if let Some(k) = report.kv_bytes_per_token_f16 {
            rows.push(("KV cache (f16)".into(), format!("{k} bytes per token")));
        }
        for s in &report.safetensors {
            let dtypes: Vec<String> = s
                .by_dtype
                .iter()
                .map(|(d, b)| format!("{d} {}", Bytes(*b).display_gb()))
                .collect();
            rows.push((
                s.path.clone(),
                format!(
                    "{} tensors, {} ({})",
                    s.tensors,
                    Bytes(s.bytes).display_both(),
                    dtypes.join(", ")
                ),
            ));
        }
        super::out_table(&kv_table(&escaped(rows)));
        Ok(())
    })
}
