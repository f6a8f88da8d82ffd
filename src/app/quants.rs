//! `vramplan quants MODEL [--gpu ...] [--ctx N]`: the quantization ladder.

use anyhow::Result;
use serde::Serialize;
use vramplan::estimate::quality::{self, PublishedQuality};
use vramplan::estimate::{self, ModelView, WeightFormat};
use vramplan::ggml::FileType;
use vramplan::report::{gb, Cell, Column, HouseTable};

use super::args::parse_devices;
use super::model_input;
use crate::cli::{EstimateArgs, Global, QuantsArgs};

#[derive(Serialize)]
struct Rung {
    file_type: FileType,
    weights_bytes: u64,
    bits_per_weight: f64,
    total_bytes: u64,
    fits: Option<bool>,
    max_context: Option<u64>,
    quality: Option<PublishedQuality>,
    /// Mean KLD measured on this machine by `vramplan validate` (vs its source), when it was.
    measured_kld: Option<MeasuredKld>,
}

#[derive(Serialize, Clone, Copy)]
struct MeasuredKld {
    kld_mean: f64,
    kld_mean_error: f64,
}

#[derive(Serialize)]
struct QuantsReport {
    model: String,
    /// The local store file the model was read from, when found there by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<vramplan::input::LocalOrigin>,
    ctx: u64,
    devices: Vec<String>,
    quality_source: &'static str,
    /// Where the measured column comes from (a `validate` run on this machine), when present.
    measured_source: Option<String>,
    ladder: Vec<Rung>,
}

pub fn run(global: &Global, args: QuantsArgs) -> Result<()> {
    let catalog = super::load_catalog(global)?;
    let model = model_input::resolve(&catalog, &args.model)?;
    let est = EstimateArgs {
        model: args.model.clone(),
        quant: None,
        imatrix: args.imatrix,
        ctx: args.ctx.clone(),
        kv_type: args.kv_type.clone(),
        engine: vramplan::estimate::Engine::LlamaCpp,
        parallel: args.parallel,
        no_flash_attn: false,
        ubatch: 512,
        swa_full: false,
        gpu_util: 0.9,
        prompt: "1024".into(),
        host_bandwidth: None,
    };
    let base = super::request::build_request(&est)?;
    let devices = match &args.gpu {
        Some(s) => parse_devices(&catalog, s)?,
        None => Vec::new(),
    };
    let measured = vramplan::hw::host_cache::load_quality(&model.id);
    let measured_kld = |ft: FileType| {
        let m = measured.as_ref()?;
        m.levels
            .iter()
            .find(|(t, _, _)| *t == ft.name())
            .map(|&(_, kld_mean, kld_mean_error)| MeasuredKld {
                kld_mean,
                kld_mean_error,
            })
    };
    let mut ladder = Vec::new();
    for &ft in quality::LADDER {
        let mut req = base.clone();
        req.format = WeightFormat::Gguf(ft);
        let inv = model.inventory(&req);
        let view = ModelView {
            inventory: &inv,
            shape: &model.shape,
        };
        let weights = inv.total_bytes().unwrap_or(0);
        let (fits, max_context, total) = if devices.is_empty() {
            let p =
                estimate::place(&view, &[], &req).map_err(|e| super::bad_input(e.to_string()))?;
            (None, None, p.total_bytes)
        } else {
            let mut full = req.clone();
            full.all_layers_on_devices(model.shape.n_layer);
            let p = estimate::place(&view, &devices, &full)
                .map_err(|e| super::bad_input(e.to_string()))?;
            (
                Some(p.fits),
                estimate::max_context(&view, &devices, &req),
                p.total_bytes,
            )
        };
        ladder.push(Rung {
            file_type: ft,
            weights_bytes: weights,
            bits_per_weight: 8.0 * weights as f64 / inv.total_elements() as f64,
            total_bytes: total,
            fits,
            max_context,
            quality: quality::published(ft),
            measured_kld: measured_kld(ft),
        });
    }
    let report = QuantsReport {
        model: model.id.clone(),
        local: model.local.clone(),
        ctx: base.ctx,
        devices: devices.iter().map(|d| d.id.clone()).collect(),
        quality_source: quality::SOURCE,
        measured_source: measured.as_ref().map(|m| {
            format!(
                "vramplan validate on this machine, {}: {} vs its {} source, {} tokens scored (ctx {})",
                m.date,
                m.name,
                m.source_file_type.as_deref().unwrap_or("?"),
                m.scored_tokens,
                m.ctx
            )
        }),
        ladder,
    };
    super::emit(global, &report, |report| {
        super::out(&format!(
            "{} · {} tokens{}",
            model.name,
            report.ctx,
            if devices.is_empty() {
                String::new()
            } else {
                format!(" · on {}", vramplan::plan::summarize(&devices))
            }
        ));
        let mut t = HouseTable::new(vec![
            Column::new("type").csv("file_type"),
            Column::new("weights GB (GiB)").csv("weights_bytes"),
            Column::new("bpw").csv("bits_per_weight"),
            Column::new("total GB at ctx")
                .csv("total_bytes")
                .optional(2),
            Column::new("fits").csv("fits"),
            Column::new("max context").csv("max_context"),
            Column::new("KLD").csv("quality.kld"),
            Column::new("ΔPPL").csv("quality.delta_ppl").optional(1),
            Column::new("KLD measured here").csv("measured_kld.kld_mean"),
        ]);
        for r in &report.ladder {
            t.add_row(rung_cells(r));
        }
        super::out_table(&t);
        super::out(&format!(
            "quality: published for Llama-3-8B, not this model (* with an importance matrix); source: {}",
            quality::SOURCE
        ));
        if let Some(src) = &report.measured_source {
            super::out(&format!("KLD measured here: {src}"));
        }
        Ok(())
    })
}

/// One rung's cells: as shown, and raw for CSV.
fn rung_cells(r: &Rung) -> Vec<Cell> {
    let q = r.quality;
    let opt = |v: Option<String>| v.unwrap_or_default();
    vec![
        Cell::from(r.file_type.to_string()),
        Cell::with_raw(
            format!(
                "{} ({:.2})",
                gb(r.weights_bytes as f64),
                r.weights_bytes as f64 / (1u64 << 30) as f64
            ),
            r.weights_bytes,
        ),
        Cell::with_raw(format!("{:.2}", r.bits_per_weight), r.bits_per_weight),
        Cell::with_raw(gb(r.total_bytes as f64), r.total_bytes),
        Cell::with_raw(
            r.fits
                .map_or("-".into(), |f| if f { "yes".into() } else { "no".into() }),
            opt(r.fits.map(|f| f.to_string())),
        ),
        Cell::with_raw(
            r.max_context.map_or("-".into(), |m| m.to_string()),
            opt(r.max_context.map(|m| m.to_string())),
        ),
        Cell::with_raw(
            q.map_or("-".into(), |q| {
                format!("{:.4}{}", q.kld, if q.imatrix { "*" } else { "" })
            }),
            opt(q.map(|q| q.kld.to_string())),
        ),
        Cell::with_raw(
            q.and_then(|q| q.delta_ppl)
                .map_or("-".into(), |d| format!("+{d:.4}")),
            opt(q.and_then(|q| q.delta_ppl).map(|d| d.to_string())),
        ),
        Cell::with_raw(
            r.measured_kld.map_or("-".into(), |m| {
                format!("{:.4} ± {:.4}", m.kld_mean, m.kld_mean_error)
            }),
            opt(r.measured_kld.map(|m| m.kld_mean.to_string())),
        ),
    ]
}
