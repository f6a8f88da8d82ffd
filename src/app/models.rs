//! `vramplan models [--gpu SET] [--ctx N] [--min-tps X] [--max-kld Y] [--family F] [--sort S]`:
//! what runs on this device set. For every catalogue model, the highest-quality quantization
//! (down the `quants` ladder) that fits fully on the devices at that context, meets the speed
//! floor and the quality floor, with its decode tok/s range, expected KLD and weight bytes.

use anyhow::Result;
use rayon::prelude::*;
use serde::Serialize;
use vramplan::arch::{inventory, ModelShape};
use vramplan::catalog::{Device, DeviceKind, ModelEntry};
use vramplan::estimate::calibration::Calibration;
use vramplan::estimate::quality;
use vramplan::estimate::speed::Range;
use vramplan::estimate::{self, ModelView, PlaceRequest, WeightFormat};
use vramplan::ggml::FileType;
use vramplan::report::{gb, sig, Cell, Column, HouseTable};
use vramplan::units::format_params;

use super::args::{parse_devices, parse_tokens};
use super::bad_input;
use crate::cli::{Global, ModelsArgs};

/// Prompt length behind the speed figures (as `fit`'s default).
const PROMPT_TOKENS: u64 = 1024;

#[derive(Serialize, Clone)]
struct Row {
    model: String,
    name: String,
    family: String,
    params_total: u64,
    params_active: u64,
    quant: FileType,
    /// Mean KL divergence of this file type against BF16, as published for Llama-3-8B.
    expected_kld: f64,
    weights_bytes: u64,
    /// Everything the estimate places: weights, KV cache, compute buffers, overhead.
    total_bytes: u64,
    /// Of which on the devices (the most loaded one decides the fit).
    device_bytes: u64,
    decode_tok_s: Option<Range>,
    /// A model of a local store (Ollama, Hugging Face cache): its own file, at its own type.
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<vramplan::input::LocalOrigin>,
}

#[derive(Serialize)]
struct ModelsReport {
    devices: Vec<String>,
    ctx: u64,
    min_tps: Option<f64>,
    max_kld: f64,
    sort: String,
    quality_source: &'static str,
    models: Vec<Row>,
    /// Catalogue models with no quantization that fits these devices within the floors.
    not_fitting: Vec<String>,
}

/// Mean KLD of a ladder rung (BF16 is the reference itself).
fn kld(ft: FileType) -> Option<f64> {
    match ft {
        FileType::BF16 | FileType::F16 | FileType::F32 => Some(0.0),
        _ => quality::published(ft).map(|q| q.kld),
    }
}

pub fn run(global: &Global, args: ModelsArgs) -> Result<()> {
    let catalog = super::load_catalog(global)?;
    let ctx = parse_tokens(&args.ctx, "--ctx")?;
    if let Some(t) = args.min_tps {
        if !(t.is_finite() && t >= 0.0) {
            return Err(bad_input(format!(
                "--min-tps must be a non-negative tok/s figure, got {t}"
            )));
        }
    }
    if !(args.max_kld.is_finite() && args.max_kld >= 0.0) {
        return Err(bad_input(format!(
            "--max-kld must be a non-negative KLD, got {}",
            args.max_kld
        )));
    }
    let sort = args.sort.to_ascii_lowercase();
    if !["quality", "speed", "size", "kld", "name"].contains(&sort.as_str()) {
        return Err(bad_input(format!(
            "unknown --sort `{}` (quality, speed, size, kld, name)",
            args.sort
        )));
    }
    let mut detected = None;
    let devices = match &args.gpu {
        Some(s) => parse_devices(&catalog, s)?,
        None => {
            let found = vramplan::hw::detect(&catalog).devices(&catalog);
            if found.is_empty() {
                return Err(bad_input(
                    "no --gpu given and this machine's devices are not in the catalogue; name them with --gpu",
                ));
            }
            detected = Some(match found.as_slice() {
                [host] if host.entry.kind == DeviceKind::Cpu => format!("no GPU; {}", host.name),
                _ => vramplan::plan::summarize(&found),
            });
            found
        }
    };
    let families: Vec<String> = args
        .family
        .iter()
        .flat_map(|f| f.split(','))
        .map(|f| f.trim().to_ascii_lowercase())
        .filter(|f| !f.is_empty())
        .collect();
    let models: Vec<&ModelEntry> = catalog
        .models()
        .filter(|m| families.is_empty() || families.contains(&m.family.to_ascii_lowercase()))
        .collect();
    if models.is_empty() {
        let mut known: Vec<String> = catalog.models().map(|m| m.family.clone()).collect();
        known.sort();
        known.dedup();
        return Err(bad_input(format!(
            "no catalogue model of family {} (families: {})",
            families.join(", "),
            known.join(", ")
        )));
    }
    let fit = Calibration::embedded(&catalog);
    let floors = Floors {
        ctx,
        min_tps: args.min_tps,
        max_kld: args.max_kld,
    };
    let found: Vec<(String, Option<Row>)> = models
        .par_iter()
        .map(|m| (m.id.clone(), best_quant(m, &devices, &floors, &fit)))
        .collect();
    let mut rows = Vec::new();
    let mut not_fitting = Vec::new();
    for (id, row) in found {
        match row {
            Some(r) => rows.push(r),
            None => not_fitting.push(id),
        }
    }
    if families.is_empty() {
        for (name, row) in local_rows(&devices, &floors, &fit) {
            match row {
                Some(r) => rows.push(r),
                None => not_fitting.push(name),
            }
        }
    }
    sort_rows(&mut rows, &sort);
    let report = ModelsReport {
        devices: devices.iter().map(|d| d.id.clone()).collect(),
        ctx,
        min_tps: args.min_tps,
        max_kld: args.max_kld,
        sort,
        quality_source: quality::SOURCE,
        models: rows,
        not_fitting,
    };
    super::emit(global, &report, |report| {
        render(report, &devices, detected.as_deref());
        Ok(())
    })
}

struct Floors {
    ctx: u64,
    min_tps: Option<f64>,
    max_kld: f64,
}

/// The first rung of the ladder (best quality first) that fits every layer and the output
/// head on the devices, within the KLD ceiling and at or above the speed floor.
fn best_quant(
    m: &ModelEntry,
    devices: &[Device],
    floors: &Floors,
    fit: &Calibration,
) -> Option<Row> {
    let shape = ModelShape::from_entry(m);
    let usable: u64 = devices.iter().map(|d| d.usable_bytes).sum();
    let (params_total, params_active) = vramplan::arch::param_counts(m);
    let rungs: Vec<(FileType, f64)> = quality::LADDER
        .iter()
        .filter_map(|&ft| kld(ft).map(|k| (ft, k)))
        .filter(|&(_, k)| k <= floors.max_kld)
        .collect();
    // The smallest admissible rung's weights alone overflow the devices: nothing fits, without
    // expanding every rung (a recipe expansion is the costly step).
    let smallest = rungs
        .iter()
        .map(|&(ft, _)| ft)
        .min_by_key(|&ft| nominal_bits(ft))?;
    let nominal = |ft: FileType| params_total as f64 * nominal_bits(ft) as f64 / 8000.0;
    if nominal(smallest) > usable as f64 * 1.15
        || (nominal(smallest) > usable as f64 * 0.5
            && inventory(m, smallest).total_bytes().unwrap_or(u64::MAX) > usable)
    {
        return None;
    }
    for (ft, kld) in rungs {
        // A rung whose nominal size is well above the devices' memory cannot fit.
        if nominal(ft) > usable as f64 * 1.15 {
            continue;
        }
        let inv = inventory(m, ft);
        let weights = inv.total_bytes().unwrap_or(u64::MAX);
        // The weights alone overflow the devices: skip the placement search.
        if weights > usable {
            continue;
        }
        let view = ModelView {
            inventory: &inv,
            shape: &shape,
        };
        let Some((total_bytes, device_bytes, decode)) = place_rung(&view, ft, devices, floors, fit)
        else {
            continue;
        };
        return Some(Row {
            model: m.id.clone(),
            name: m.name.clone(),
            family: m.family.clone(),
            params_total,
            params_active,
            quant: ft,
            expected_kld: kld,
            weights_bytes: weights,
            total_bytes,
            device_bytes,
            decode_tok_s: decode,
            local: None,
        });
    }
    None
}

/// One rung placed fully on the devices: (total bytes, bytes on the devices, decode tok/s), or
/// `None` when it does not fit or misses the speed floor.
fn place_rung(
    view: &ModelView<'_>,
    ft: FileType,
    devices: &[Device],
    floors: &Floors,
    fit: &Calibration,
) -> Option<(u64, u64, Option<Range>)> {
    let mut req = PlaceRequest::new(WeightFormat::Gguf(ft), floors.ctx);
    req.all_layers_on_devices(view.shape.n_layer);
    let p = estimate::place(view, devices, &req).ok()?;
    if !p.fits {
        return None;
    }
    let speed = estimate::perf::speed(
        view,
        &p,
        devices,
        &req,
        PROMPT_TOKENS,
        fit,
        estimate::perf::DEFAULT_HOST_BANDWIDTH_GB_S,
    );
    // The floor holds with the cache filled to --ctx, as `gpus --min-tps` applies it.
    if let Some(min) = floors.min_tps {
        if speed
            .as_ref()
            .is_none_or(|s| s.decode_tok_s_at_ctx.expected < min)
        {
            return None;
        }
    }
    let device_bytes = p.devices.iter().map(|d| d.used_bytes).sum();
    Some((p.total_bytes, device_bytes, speed.map(|s| s.decode_tok_s)))
}

/// The GGUF models of the local stores at their own file type: (name, row when it fits). Store
/// problems are warnings on stderr.
fn local_rows(
    devices: &[Device],
    floors: &Floors,
    fit: &Calibration,
) -> Vec<(String, Option<Row>)> {
    let mut warnings = Vec::new();
    let found = vramplan::local::Stores::from_env().list(&mut warnings);
    let mut out = Vec::new();
    for lm in found
        .iter()
        .filter(|m| matches!(m.files, vramplan::local::LocalFiles::Gguf { .. }))
    {
        let input = match vramplan::input::from_local(lm) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("warning: {}: {e}", lm.path().display());
                continue;
            }
        };
        let Some(WeightFormat::Gguf(ft)) = input.fixed_format() else {
            continue;
        };
        let Some(kld) = kld(ft) else {
            eprintln!(
                "note: {}: no published KLD for {}; not ranked",
                lm.name,
                ft.name()
            );
            continue;
        };
        let kld = Some(kld).filter(|&k| k <= floors.max_kld);
        let req = PlaceRequest::new(WeightFormat::Gguf(ft), floors.ctx);
        let inv = input.inventory(&req);
        let view = ModelView {
            inventory: &inv,
            shape: &input.shape,
        };
        let placed = kld.and_then(|k| Some((k, place_rung(&view, ft, devices, floors, fit)?)));
        let (params_total, params_active) = input.param_counts();
        let row = placed.map(|(kld, (total_bytes, device_bytes, decode))| Row {
            model: lm.name.clone(),
            name: input.name.clone(),
            family: input.shape.arch.clone(),
            params_total,
            params_active,
            quant: ft,
            expected_kld: kld,
            weights_bytes: inv.total_bytes().unwrap_or(0),
            total_bytes,
            device_bytes,
            decode_tok_s: decode,
            local: input.local.clone(),
        });
        out.push((lm.name.clone(), row));
    }
    for w in warnings {
        eprintln!("warning: {w}");
    }
    out
}

/// Bits per weight of a file type's default tensor type, in thousandths (a lower bound on the
/// file's size with the recipe's larger tensors left out): orders rungs and skips hopeless ones.
fn nominal_bits(ft: FileType) -> u64 {
    (ft.default_type().bits_per_weight() * 1000.0) as u64
}

/// `quality`: the larger model first (at the best quantization that fits it), then the lower
/// KLD; `speed`: faster first; `size`: larger weights first; `kld`: lower first; `name`: by id.
fn sort_rows(rows: &mut [Row], sort: &str) {
    let speed = |r: &Row| r.decode_tok_s.as_ref().map_or(0.0, |d| d.expected);
    rows.sort_by(|a, b| match sort {
        "speed" => speed(b).total_cmp(&speed(a)),
        "size" => b.weights_bytes.cmp(&a.weights_bytes),
        "kld" => a
            .expected_kld
            .total_cmp(&b.expected_kld)
            .then(b.params_total.cmp(&a.params_total)),
        "name" => a.model.cmp(&b.model),
        _ => b
            .params_total
            .cmp(&a.params_total)
            .then(a.expected_kld.total_cmp(&b.expected_kld)),
    });
}

fn render(r: &ModelsReport, devices: &[Device], detected: Option<&str>) {
    if let Some(d) = detected {
        super::out(&format!("detected on this machine: {d}"));
    }
    super::out(&format!(
        "{} models run fully on {} at {} tokens of context{}{} (llama.cpp, KV f16; best quantization that fits, KLD <= {})",
        r.models.len(),
        vramplan::plan::summarize(devices),
        r.ctx,
        r.min_tps
            .map_or(String::new(), |t| format!(", at least {t} tok/s")),
        if r.sort == "quality" {
            String::new()
        } else {
            format!(", by {}", r.sort)
        },
        r.max_kld
    ));
    let mut t = HouseTable::new(vec![
        Column::new("model").csv("model"),
        Column::new("params").csv("params_total").optional(2),
        Column::csv_only("params_active"),
        Column::new("quant").csv("quant"),
        Column::new("KLD").csv("expected_kld"),
        Column::new("weights GB").csv("weights_bytes"),
        Column::new("on devices GB").csv("device_bytes").optional(1),
        Column::new("decode tok/s").csv("decode_tok_s.expected"),
        Column::csv_only("decode_tok_s.low"),
        Column::csv_only("decode_tok_s.high"),
    ]);
    for row in &r.models {
        let params = if row.params_active < row.params_total {
            format!(
                "{} ({} active)",
                format_params(row.params_total),
                format_params(row.params_active)
            )
        } else {
            format_params(row.params_total)
        };
        let range = |pick: fn(&Range) -> f64| {
            row.decode_tok_s
                .as_ref()
                .map_or(String::new(), |d| pick(d).to_string())
        };
        t.add_row(vec![
            Cell::from(&row.model),
            Cell::with_raw(params, row.params_total),
            Cell::from(row.params_active.to_string()),
            Cell::from(row.quant.to_string()),
            Cell::with_raw(format!("{:.4}", row.expected_kld), row.expected_kld),
            Cell::with_raw(gb(row.weights_bytes as f64), row.weights_bytes),
            Cell::with_raw(gb(row.device_bytes as f64), row.device_bytes),
            Cell::with_raw(
                row.decode_tok_s.as_ref().map_or("-".into(), |d| {
                    format!(
                        "{}-{} (~{})",
                        sig(d.low, 2),
                        sig(d.high, 2),
                        sig(d.expected, 2)
                    )
                }),
                range(|d| d.expected),
            ),
            Cell::from(range(|d| d.low)),
            Cell::from(range(|d| d.high)),
        ]);
    }
    super::out_table(&t);
    if !r.not_fitting.is_empty() {
        super::out(&format!(
            "{} more do not fit within these floors (raise --max-kld, lower --ctx or --min-tps): {}",
            r.not_fitting.len(),
            r.not_fitting.join(", ")
        ));
    }
    super::out(&format!(
        "KLD: mean KL divergence vs BF16 published for Llama-3-8B, not measured on each model; source: {}",
        r.quality_source
    ));
}
