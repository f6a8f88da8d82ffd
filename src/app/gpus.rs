//! `vramplan gpus MODEL --quant Q --ctx N [--budget USD] [--max-gpus N] [--have ID[xN]] [--cloud]`.

use anyhow::Result;
use serde::Serialize;
use vramplan::estimate::{Engine, ModelView};
use vramplan::plan::{self, Candidate, SearchOptions};
use vramplan::report::{gb, sig, Cell, Column, HouseTable};

use super::args::parse_devices;
use super::{bad_input, model_input};
use crate::cli::{Global, GpusArgs};

#[derive(Serialize)]
struct GpusReport {
    model: String,
    quant: String,
    ctx: u64,
    engine: Engine,
    ranked_by: &'static str,
    candidates: Vec<Candidate>,
}

pub fn run(global: &Global, args: GpusArgs) -> Result<()> {
    let catalog = super::load_catalog(global)?;
    let model = model_input::resolve(&catalog, &args.est.model)?;
    let mut req = super::fit::build_request(&args.est)?;
    if let Some(f) = model.fixed_format() {
        req.format = f;
    }
    if let Some(b) = args.budget {
        if !(b.is_finite() && b > 0.0) {
            return Err(bad_input(format!(
                "--budget must be a positive number of US dollars, got {b}"
            )));
        }
    }
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
        speed_fit: Some(vramplan::estimate::calibration::Fit::embedded(&catalog)),
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
        quant: req.format.name(),
        ctx: req.ctx,
        engine: req.engine,
        ranked_by: if args.cloud {
            "cloud_usd_per_hour"
        } else {
            "price_usd"
        },
        candidates,
    };
    if global.json {
        return super::print_json(&report);
    }
    super::out(&format!(
        "{} · {} · {} tokens · device sets that hold every layer, {}",
        model.name,
        report.quant,
        report.ctx,
        if args.cloud {
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
            .optional(1),
        Column::new("memory GB").csv("memory_bytes"),
        Column::new("headroom GB").csv("headroom_bytes").optional(2),
        Column::new("max context").csv("max_context"),
        Column::new("decode tok/s").csv("decode_tok_s.expected"),
        Column::csv_only("decode_tok_s.low"),
        Column::csv_only("decode_tok_s.high"),
    ]);
    for (i, c) in report.candidates.iter().enumerate() {
        let range = |pick: fn(&vramplan::estimate::speed::Range) -> f64| {
            c.decode_tok_s
                .map_or(String::new(), |r| pick(&r).to_string())
        };
        t.add_row(vec![
            Cell::from((i + 1).to_string()),
            Cell::from(&c.label),
            Cell::with_raw(
                c.price_usd.map_or("unknown".into(), |p| format!("{p:.0}")),
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
        ]);
    }
    if report.candidates.is_empty() {
        super::out("no device set in the catalogue runs it within these limits");
    } else {
        super::out_table(&t);
    }
    Ok(())
}
