//! `vramplan gpus MODEL --quant Q --ctx N [--budget USD] [--max-gpus N] [--have ID[xN]] [--cloud]`.

use anyhow::Result;
use serde::Serialize;
use vramplan::estimate::{Engine, ModelView};
use vramplan::plan::{self, Candidate, SearchOptions};
use vramplan::report::{gb, sig, tone, Cell, Column, HouseTable, Tone};

use super::args::parse_devices;
use super::{bad_input, model_input};
use crate::cli::{Global, GpusArgs};

#[derive(Serialize)]
struct GpusReport {
    model: String,
    /// The local store file the model was read from, when found there by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<vramplan::input::LocalOrigin>,
    quant: String,
    ctx: u64,
    engine: Engine,
    ranked_by: &'static str,
    candidates: Vec<Candidate>,
    warnings: Vec<String>,
}

pub fn run(global: &Global, args: GpusArgs) -> Result<()> {
    let catalog = super::load_catalog(global)?;
    let model = model_input::resolve(&catalog, &args.est.model)?;
    let mut req = super::request::request_for(&model, &args.est)?;
    req.network = super::request::network(&catalog, args.network.as_deref())?;
    if let Some(b) = args.budget {
        if !(b.is_finite() && b > 0.0) {
            return Err(bad_input(format!(
                "--budget must be a positive number of US dollars, got {b}"
            )));
        }
    }
    // A context beyond the trained one is planned at the trained one (and said): a buyer's
    // ranking at a context the model cannot use would rank the wrong sets.
    let mut warnings = Vec::new();
    if let Some(w) = super::request::context_warning(&model, req.ctx) {
        warnings.push(format!("{w}; planned at {}", model.shape.max_context));
        req.ctx = model.shape.max_context;
    }
    req.host_ram_bytes = args
        .ram
        .as_deref()
        .map(|r| super::args::parse_ram(r, "--ram"))
        .transpose()?;
    if args.max_gpus == 0 || args.limit == 0 {
        return Err(bad_input("--max-gpus and --limit must be at least 1"));
    }
    let have = match &args.have {
        Some(s) => parse_devices(&catalog, s)?,
        None => Vec::new(),
    };
    if let Some(t) = args.min_tps {
        if !(t.is_finite() && t > 0.0) {
            return Err(bad_input(format!(
                "--min-tps must be a positive tokens/s figure, got {t}"
            )));
        }
    }
    let opts = SearchOptions {
        budget_usd: args.budget,
        max_gpus: args.max_gpus,
        have,
        cloud: args.cloud,
        limit: args.limit,
        speed_fit: Some(vramplan::estimate::calibration::Calibration::embedded(
            &catalog,
        )),
        min_tps: args.min_tps,
    };
    let inv = model.inventory(&req);
    let view = ModelView {
        inventory: &inv,
        shape: &model.shape,
    };
    let candidates = plan::search(&view, &catalog, &req, &opts);
    let report = GpusReport {
        model: model.id.clone(),
        local: model.local.clone(),
        quant: req.format.name(),
        ctx: req.ctx,
        engine: req.engine(),
        ranked_by: if args.cloud {
            "cloud_usd_per_hour"
        } else {
            "price_usd"
        },
        candidates,
        warnings,
    };
    super::emit(global, &report, |report| {
        render(report, &model.name, args.cloud);
        Ok(())
    })
}

fn render(report: &GpusReport, model_name: &str, cloud: bool) {
    super::out(&format!(
        "{} · {} · {} tokens · device sets that hold every layer, {}",
        model_name,
        report.quant,
        report.ctx,
        if cloud {
            "cheapest per hour first"
        } else {
            "cheapest first"
        }
    ));
    let mut t = HouseTable::new(vec![
        Column::new("#").csv("rank"),
        Column::new("devices").csv("label"),
        Column::new("price $").csv("price_usd"),
        Column::new("cloud $/h")
            .csv("cloud_usd_per_hour")
            .optional(2),
        Column::new("memory GB").csv("memory_bytes"),
        Column::new("headroom GB").csv("headroom_bytes").optional(3),
        Column::new("max context").csv("max_context"),
        Column::new("decode tok/s").csv("decode_tok_s.expected"),
        Column::csv_only("decode_tok_s.low"),
        Column::csv_only("decode_tok_s.high"),
        Column::new("at ctx")
            .csv("decode_tok_s_at_ctx.expected")
            .optional(1),
        Column::new("host RAM GB").csv("host_ram_bytes").optional(4),
    ]);
    for (i, c) in report.candidates.iter().enumerate() {
        t.add_row(candidate_cells(i, c));
    }
    for w in &report.warnings {
        super::out(&format!("{} {w}", tone("warning:", Tone::Warn)));
    }
    let flagged: Vec<String> = report
        .candidates
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.flags.iter().map(move |f| format!("#{}: {f}", i + 1)))
        .collect();
    if report.candidates.is_empty() {
        super::out("no device set in the catalogue runs it within these limits");
    } else {
        super::out_table(&t);
        for f in &flagged {
            super::out(f);
        }
        super::out("prices: street (new/used) or launch MSRP as the catalogue states them; --json gives each price's basis and date");
    }
}

/// One candidate's cells: as shown, and raw for CSV.
fn candidate_cells(i: usize, c: &Candidate) -> Vec<Cell> {
    let range = |pick: fn(&vramplan::estimate::speed::Range) -> f64| {
        c.decode_tok_s
            .map_or(String::new(), |r| pick(&r).to_string())
    };
    vec![
        Cell::from((i + 1).to_string()),
        Cell::from(&c.label),
        Cell::with_raw(
            c.price_usd.map_or("unknown".into(), |p| {
                format!(
                    "{p:.0}{}",
                    price_tag(c.price_basis.as_deref().unwrap_or(""))
                )
            }),
            c.price_usd.map_or(String::new(), |p| p.to_string()),
        ),
        Cell::with_raw(
            c.cloud_usd_per_hour
                .map_or("-".into(), |p| format!("{p:.2}")),
            c.cloud_usd_per_hour
                .map_or(String::new(), |p| p.to_string()),
        ),
        Cell::with_raw(gb(c.memory_bytes as f64), c.memory_bytes),
        Cell::with_raw(gb(c.headroom_bytes.max(0) as f64), c.headroom_bytes),
        Cell::with_raw(
            c.max_context.map_or("-".into(), |m| m.to_string()),
            c.max_context.map_or(String::new(), |m| m.to_string()),
        ),
        Cell::with_raw(
            c.decode_tok_s.map_or("-".into(), |r| {
                format!(
                    "{}-{} (~{})",
                    sig(r.low, 2),
                    sig(r.high, 2),
                    sig(r.expected, 2)
                )
            }),
            range(|r| r.expected),
        ),
        Cell::from(range(|r| r.low)),
        Cell::from(range(|r| r.high)),
        Cell::with_raw(
            c.decode_tok_s_at_ctx
                .map_or("-".into(), |r| format!("~{}", sig(r.expected, 2))),
            c.decode_tok_s_at_ctx
                .map_or(String::new(), |r| r.expected.to_string()),
        ),
        Cell::with_raw(
            c.host_ram_bytes.map_or("unified".into(), |b| gb(b as f64)),
            c.host_ram_bytes.map_or(String::new(), |b| b.to_string()),
        ),
    ]
}

/// The price basis, short: "used", "street", "MSRP"; --json gives it whole.
fn price_tag(basis: &str) -> &'static str {
    if basis.contains("used street") {
        " used"
    } else if basis.contains("new street") {
        " street"
    } else if basis.contains("MSRP") {
        " MSRP"
    } else if basis.contains("Apple launch") {
        " launch"
    } else if basis.contains("estimate") {
        " est."
    } else {
        ""
    }
}
