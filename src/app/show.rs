//! `vramplan show ID`: every field of a model, device or API price plus derived figures.

use anyhow::Result;
use serde::Serialize;
use vramplan::arch::{inventory, param_counts};
use vramplan::catalog::{ApiEntry, Catalog, Device, DeviceEntry, ModelEntry, NotFound, Origin};
use vramplan::ggml::FileType;
use vramplan::report::{kv_table, sig};
use vramplan::units::{format_params, Bytes};

use crate::cli::{Global, ShowArgs};

#[derive(Serialize)]
struct WeightsRow {
    file_type: FileType,
    bytes: u64,
    bits_per_weight: f64,
}

#[derive(Serialize)]
struct ModelReport<'a> {
    kind: &'static str,
    #[serde(flatten)]
    entry: &'a ModelEntry,
    head_dim_effective: u64,
    params_total: u64,
    params_active: u64,
    weights: Vec<WeightsRow>,
    origin: Option<&'a Origin>,
}

#[derive(Serialize)]
struct DeviceReport<'a> {
    kind: &'static str,
    #[serde(flatten)]
    entry: &'a DeviceEntry,
    /// Memory of the chosen configuration (may differ from the entry's largest option).
    memory_bytes: u64,
    /// Bandwidth and GPU cores of the chosen configuration (binned chips differ by option).
    option_bandwidth_gb_s: f64,
    option_gpu_cores: Option<u32>,
    usable_bytes: u64,
    origin: Option<&'a Origin>,
    /// Set when the id named no memory size and the smallest configuration was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    implied_memory: Option<&'a str>,
}

#[derive(Serialize)]
struct ApiReport<'a> {
    kind: &'static str,
    #[serde(flatten)]
    entry: &'a ApiEntry,
    origin: Option<&'a Origin>,
}

const SHOWN_FILE_TYPES: &[FileType] = &[
    FileType::BF16,
    FileType::Q8_0,
    FileType::Q6_K,
    FileType::Q5_K_M,
    FileType::Q4_K_M,
    FileType::Q3_K_M,
    FileType::Q2_K,
];

pub fn run(global: &Global, args: ShowArgs) -> Result<()> {
    let catalog = super::load_catalog(global)?;
    if let Ok(m) = catalog.model(&args.id) {
        return show_model(global, &catalog, m);
    }
    if let Ok(d) = catalog.device(&args.id) {
        return show_device(global, &catalog, &d);
    }
    if let Ok(a) = catalog.api(&args.id) {
        return show_api(global, &catalog, a);
    }
    let mut suggestions = Vec::new();
    for e in [
        catalog.model(&args.id).err(),
        catalog.device(&args.id).err(),
        catalog.api(&args.id).err(),
    ]
    .into_iter()
    .flatten()
    {
        suggestions.extend(e.suggestions);
    }
    suggestions.truncate(4);
    Err(NotFound {
        kind: "model, device or api",
        query: args.id,
        suggestions,
    }
    .into())
}

fn show_model(global: &Global, catalog: &Catalog, m: &ModelEntry) -> Result<()> {
    let (params_total, params_active) = param_counts(m);
    let weights = SHOWN_FILE_TYPES
        .iter()
        .map(|&ft| {
            let inv = inventory(m, ft);
            let bytes = inv.total_bytes().unwrap_or(0);
            WeightsRow {
                file_type: ft,
                bytes,
                bits_per_weight: 8.0 * bytes as f64 / inv.total_elements() as f64,
            }
        })
        .collect();
    let report = ModelReport {
        kind: "model",
        entry: m,
        head_dim_effective: m.head_dim(),
        params_total,
        params_active,
        weights,
        origin: catalog.model_origin(&m.id),
    };
    super::emit(global, &report, |report| {
        let mut rows = vec![
            ("id".into(), m.id.clone()),
            ("name".into(), m.name.clone()),
            (
                "architecture".into(),
                format!("{} ({})", m.gguf_arch, m.family),
            ),
            ("layers".into(), m.layers.to_string()),
            (
                "hidden / FFN".into(),
                format!("{} / {}", m.hidden_size, m.ffn_size),
            ),
            (
                "heads / KV heads / head dim".into(),
                format!("{} / {} / {}", m.heads, m.kv_heads, m.head_dim()),
            ),
            (
                "vocabulary".into(),
                format!(
                    "{}{}",
                    m.vocab_size,
                    if m.tied_embeddings { " (tied)" } else { "" }
                ),
            ),
            ("max context".into(), m.max_context.to_string()),
            (
                "parameters (derived)".into(),
                format!(
                    "{} total, {} active{} ({params_total} / {params_active})",
                    format_params(params_total),
                    format_params(params_active),
                    if m.params_active_excludes_embeddings {
                        " without the vocabulary tables, as the author counts"
                    } else if m.params_active_excludes_input_embedding {
                        " without the input embedding table, as the author counts"
                    } else {
                        ""
                    }
                ),
            ),
            (
                // As published: "37B" is not "37.00B".
                "parameters (official)".into(),
                format!(
                    "{}B{}",
                    m.params_total_official / 1e9,
                    m.params_active_official
                        .map_or(String::new(), |a| format!(" / {}B active", a / 1e9))
                ),
            ),
        ];
        if let Some(sw) = m.sliding_window {
            rows.push((
                "sliding window".into(),
                format!("{} tokens, pattern {}", sw.window, sw.pattern),
            ));
        }
        if let Some(mla) = m.mla {
            rows.push((
                "MLA".into(),
                format!(
                    "kv_lora {} q_lora {} rope {} nope {} v {}",
                    mla.kv_lora_rank,
                    mla.q_lora_rank.map_or("-".into(), |q| q.to_string()),
                    mla.qk_rope_head_dim,
                    mla.qk_nope_head_dim,
                    mla.v_head_dim
                ),
            ));
        }
        if let Some(moe) = m.moe {
            rows.push((
                "MoE".into(),
                format!(
                    "{} experts, {} per token, expert FFN {}, {} shared, {} dense layers",
                    moe.experts,
                    moe.experts_per_token,
                    moe.expert_ffn_size,
                    moe.shared_experts,
                    moe.dense_layers
                ),
            ));
        }
        for w in &report.weights {
            rows.push((
                format!("weights {}", w.file_type),
                format!(
                    "{} ({:.2} bpw)",
                    Bytes(w.bytes).display_both(),
                    w.bits_per_weight
                ),
            ));
        }
        rows.push(("source".into(), m.source.clone()));
        super::out_table(&kv_table(&rows));
        Ok(())
    })
}

fn show_device(global: &Global, catalog: &Catalog, d: &Device) -> Result<()> {
    let e = &d.entry;
    let report = DeviceReport {
        kind: "device",
        entry: e,
        memory_bytes: d.memory_bytes,
        option_bandwidth_gb_s: e.bandwidth_for(d.memory_bytes),
        option_gpu_cores: e.gpu_cores_for(d.memory_bytes),
        usable_bytes: d.usable_bytes,
        origin: catalog.device_origin(&e.id),
        implied_memory: d.implied_memory.as_deref(),
    };
    super::emit(global, &report, |_report| {
        if let Some(note) = &d.implied_memory {
            super::out(&format!("note: {note}"));
        }
        let mut rows = vec![
            ("id".into(), d.id.clone()),
            ("name".into(), d.name.clone()),
            (
                "memory".into(),
                if e.memory_options_gb.is_empty() || d.memory_bytes == e.memory_bytes {
                    format!("{} = {}", e.memory, Bytes(d.memory_bytes).display_both())
                } else {
                    // A chosen memory option: its own size, not the largest one's.
                    format!(
                        "{} GB option = {}",
                        d.memory_bytes >> 30,
                        Bytes(d.memory_bytes).display_both()
                    )
                },
            ),
            (
                "usable by the accelerator".into(),
                Bytes(d.usable_bytes).display_both(),
            ),
            (
                "bandwidth".into(),
                format!("{} GB/s", sig(e.bandwidth_for(d.memory_bytes), 4)),
            ),
            (
                "FP16 tensor (dense)".into(),
                format!("{} TFLOPS", sig(e.fp16_tflops_for(d.memory_bytes), 4)),
            ),
            ("power".into(), format!("{:.0} W", e.tdp_watts)),
        ];
        if let Some(cores) = e.gpu_cores_for(d.memory_bytes) {
            rows.push(("GPU cores".into(), cores.to_string()));
        }
        if e.arch.is_some() {
            rows.push((
                "architecture".into(),
                e.arch.map(|a| a.name()).unwrap_or_default().into(),
            ));
        }
        if !e.memory_options_gb.is_empty() {
            let opts: Vec<String> = e
                .memory_options_gb
                .iter()
                .map(|&g| {
                    let b = e.bandwidth_for(g as u64 * (1 << 30));
                    if b == e.bandwidth_gb_s {
                        format!("{g} GB")
                    } else {
                        format!("{g} GB ({} GB/s)", sig(b, 3))
                    }
                })
                .collect();
            rows.push(("memory options".into(), opts.join(", ")));
        }
        if let Some(p) = e.launch_price_usd {
            rows.push(("launch price".into(), format!("US${p:.0}")));
        }
        if let (Some(p), Some(k), Some(date)) = (
            e.street_price_usd,
            &e.street_price_kind,
            &e.street_price_date,
        ) {
            rows.push(("street price".into(), format!("US${p:.0} ({k}, {date})")));
        }
        for c in &e.cloud {
            rows.push((
                format!("cloud {}", c.provider),
                format!("US${}/GPU-hour ({})", c.usd_per_gpu_hour, c.date),
            ));
        }
        rows.push(("source".into(), e.source.clone()));
        super::out_table(&kv_table(&rows));
        Ok(())
    })
}

fn show_api(global: &Global, catalog: &Catalog, a: &ApiEntry) -> Result<()> {
    let report = ApiReport {
        kind: "api",
        entry: a,
        origin: catalog.api_origin(&a.id),
    };
    super::emit(global, &report, |_report| {
        let rows = vec![
            ("id".into(), a.id.clone()),
            ("provider".into(), a.provider.clone()),
            ("name".into(), a.name.clone()),
            (
                "model".into(),
                a.model.clone().unwrap_or_else(|| "-".into()),
            ),
            (
                "input".into(),
                format!("{} {} per 1M tokens", a.currency, a.input_per_million),
            ),
            (
                "output".into(),
                format!("{} {} per 1M tokens", a.currency, a.output_per_million),
            ),
            ("date".into(), a.date.clone()),
            ("source".into(), a.source.clone()),
        ];
        super::out_table(&kv_table(&rows));
        Ok(())
    })
}
