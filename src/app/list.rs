//! `vramplan list models|hardware|apis|local`.

use anyhow::Result;
use serde::Serialize;
use vramplan::arch::param_counts;
use vramplan::catalog::{ApiEntry, DeviceEntry, ModelEntry};
use vramplan::local::{LocalSummary, Stores};
use vramplan::report::{sig, table};
use vramplan::units::{format_params, Bytes};

use crate::cli::{Global, ListArgs, ListWhat};

#[derive(Serialize)]
struct ModelRow<'a> {
    #[serde(flatten)]
    entry: &'a ModelEntry,
    params_total: u64,
    params_active: u64,
}

#[derive(Serialize)]
struct ListReport<'a> {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    models: Option<Vec<ModelRow<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hardware: Option<Vec<&'a DeviceEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    apis: Option<Vec<&'a ApiEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<LocalReport>,
}

/// `list local`: the stores read and what is in them; a file that could not be read is a
/// warning naming it (also on stderr).
#[derive(Serialize)]
struct LocalReport {
    ollama_store: Option<String>,
    hf_cache: Option<String>,
    models: Vec<LocalSummary>,
    warnings: Vec<String>,
}

fn local_report() -> LocalReport {
    let stores = Stores::from_env();
    let mut warnings = Vec::new();
    let found = stores.list(&mut warnings);
    let mut models = Vec::new();
    for m in &found {
        match vramplan::local::describe(m) {
            Ok(s) => models.push(s),
            Err(w) => warnings.push(w),
        }
    }
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let shown = |p: Option<std::path::PathBuf>| p.map(|p| p.display().to_string());
    LocalReport {
        ollama_store: shown(stores.ollama),
        hf_cache: shown(stores.hf_hub),
        models,
        warnings,
    }
}

pub fn run(global: &Global, args: ListArgs) -> Result<()> {
    let catalog = super::load_catalog(global)?;
    let mut report = ListReport {
        kind: "",
        models: None,
        hardware: None,
        apis: None,
        local: None,
    };
    match args.what {
        ListWhat::Models => {
            report.kind = "models";
            report.models = Some(
                catalog
                    .models()
                    .map(|m| {
                        let (params_total, params_active) = param_counts(m);
                        ModelRow {
                            entry: m,
                            params_total,
                            params_active,
                        }
                    })
                    .collect(),
            );
        }
        ListWhat::Hardware => {
            report.kind = "hardware";
            report.hardware = Some(catalog.devices().collect());
        }
        ListWhat::Apis => {
            report.kind = "apis";
            report.apis = Some(catalog.apis().collect());
        }
        ListWhat::Local => {
            report.kind = "local";
            report.local = Some(local_report());
        }
    }
    super::emit(global, &report, |report| {
        if let Some(models) = &report.models {
            let mut t = table(&[
                "id",
                "name",
                "params",
                "active",
                "layers",
                "ctx",
                "attention",
                "arch",
            ]);
            t.drop_first(&["arch", "attention", "layers", "name"]);
            for r in models {
                let m = r.entry;
                let attention = if m.mla.is_some() {
                    "MLA".to_string()
                } else if let Some(sw) = m.sliding_window {
                    format!("SWA {} (1:{})", sw.window, sw.pattern)
                } else {
                    format!("GQA {}:{}", m.heads, m.kv_heads)
                };
                let active = if m.is_moe() {
                    format_params(r.params_active)
                } else {
                    "dense".into()
                };
                t.add_row(vec![
                    m.id.clone(),
                    m.name.clone(),
                    format_params(r.params_total),
                    active,
                    m.layers.to_string(),
                    m.max_context.to_string(),
                    attention,
                    m.gguf_arch.clone(),
                ]);
            }
            super::out_table(&t);
        }
        if let Some(devices) = &report.hardware {
            let mut t = table(&[
                "id",
                "name",
                "kind",
                "memory",
                "GB/s",
                "FP16 TFLOPS (dense)",
                "W",
                "price USD",
            ]);
            t.drop_first(&["W", "FP16 TFLOPS (dense)", "kind", "name"]);
            for d in devices {
                let price = d.price_usd().map_or("-".into(), |p| format!("{p:.0}"));
                t.add_row(vec![
                    d.id.clone(),
                    d.name.clone(),
                    format!("{:?}", d.kind).to_lowercase(),
                    format!("{} ({})", d.memory, Bytes(d.memory_bytes).display_gb()),
                    sig(d.bandwidth_gb_s, 4),
                    sig(d.fp16_tensor_tflops_dense, 3),
                    format!("{:.0}", d.tdp_watts),
                    price,
                ]);
            }
            super::out_table(&t);
        }
        if let Some(apis) = &report.apis {
            let mut t = table(&[
                "id", "provider", "name", "model", "in /1M", "out /1M", "date",
            ]);
            t.drop_first(&["date", "provider", "name"]);
            for a in apis {
                t.add_row(vec![
                    a.id.clone(),
                    a.provider.clone(),
                    a.name.clone(),
                    a.model.clone().unwrap_or_else(|| "-".into()),
                    format!("{} {}", a.currency, a.input_per_million),
                    format!("{} {}", a.currency, a.output_per_million),
                    a.date.clone(),
                ]);
            }
            super::out_table(&t);
        }
        if let Some(local) = &report.local {
            render_local(local);
        }
        Ok(())
    })
}

fn render_local(local: &LocalReport) {
    if local.models.is_empty() {
        let stores: Vec<&str> = [&local.ollama_store, &local.hf_cache]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        super::out(&format!("no local models (read: {})", stores.join(", ")));
        return;
    }
    let mut t = table(&["store", "name", "arch", "params", "type", "size", "path"]);
    t.drop_first(&["path", "arch", "store"]);
    for m in &local.models {
        t.add_row(vec![
            m.store.label().to_string(),
            m.name.clone(),
            m.architecture.clone(),
            m.params.map_or("-".into(), format_params),
            m.file_type.clone().unwrap_or_else(|| "-".into()),
            Bytes(m.size_bytes).display_gb(),
            m.path.clone(),
        ]);
    }
    super::out_table(&t);
}
