//! `vramplan cost MODEL --quant Q [--gpu ...] [--tokens-per-day N] [--years 3] [--kwh 0.30]`:
//! $ per 1M output tokens owned vs rented vs API, and the break-even volumes, in one table.

use anyhow::Result;
use serde::Serialize;
use vramplan::catalog::{ApiEntry, Device};
use vramplan::estimate::calibration::Calibration;
use vramplan::estimate::speed::Range;
use vramplan::estimate::{self, ModelView, PlaceRequest};
use vramplan::plan::cost::{self, CostOption, IDLE_SHARE_OF_TDP};
use vramplan::plan::{self, SearchOptions};
use vramplan::report::{sig, Cell, Column, HouseTable};

use super::args::parse_count;
use super::{bad_input, model_input};
use crate::cli::{CostArgs, EstimateArgs, Global};

/// The default EUR conversion: the ECB reference rate, monthly average of December 2023, the
/// month of the Mistral launch price list.
const EUR_USD_SOURCE: &str = "ECB euro reference rate, December 2023 monthly average (https://www.ecb.europa.eu/stats/policy_and_exchange_rates/euro_reference_exchange_rates/html/eurofxref-graph-usd.en.html)";

#[derive(Serialize)]
struct CostRow {
    kind: &'static str,
    label: String,
    /// Cost per 1M output tokens at the daily volume (owned, cloud: from the speed range).
    usd_per_million_tokens: Range,
    /// Owned/cloud: decode throughput used.
    tokens_per_s: Option<Range>,
    /// API: the price as listed, and its currency.
    listed: Option<String>,
    /// Owned: daily volume at which owning matches this row's price (API and cloud rows).
    break_even_tokens_per_day: Option<f64>,
    source: Option<String>,
}

#[derive(Serialize)]
struct CostReport {
    model: String,
    /// The local store file the model was read from, when found there by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<vramplan::input::LocalOrigin>,
    quant: String,
    devices: Vec<String>,
    tokens_per_day: f64,
    years: f64,
    kwh_usd: f64,
    idle_share_of_tdp: f64,
    eur_usd: f64,
    eur_usd_source: &'static str,
    owned_price_usd: f64,
    owned_watts: f64,
    /// Sets of the devices needed for the daily volume (1 when one set generates it).
    replicas: u32,
    /// What each purchase price is: street (new/used) or launch MSRP, with its date.
    price_basis: String,
    fixed_usd_per_day: f64,
    rows: Vec<CostRow>,
}

fn positive(x: f64, flag: &str) -> Result<f64> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(bad_input(format!(
            "{flag} must be a positive number, got {x}"
        )))
    }
}

pub fn run(global: &Global, args: CostArgs) -> Result<()> {
    let catalog = super::load_catalog(global)?;
    let model = model_input::resolve(&catalog, &args.est.model)?;
    let mut req = super::request::request_for(&model, &args.est)?;
    req.network = super::request::network(&catalog, args.network.as_deref())?;
    let years = positive(args.years, "--years")?;
    let kwh = positive(args.kwh, "--kwh")?;
    let eur_usd = positive(args.eur_usd, "--eur-usd")?;
    if let Some(u) = args.utilization {
        if !(u > 0.0 && u <= 1.0) {
            return Err(bad_input(format!(
                "--utilization must be in (0, 1], got {u}"
            )));
        }
    }
    let fit = Calibration::embedded(&catalog);
    let inv = model.inventory(&req);
    let view = ModelView {
        inventory: &inv,
        shape: &model.shape,
    };
    let (devices, host_bandwidth) = devices(
        &catalog,
        &view,
        &mut req,
        &fit,
        args.gpu.as_deref(),
        &args.est,
    )?;
    let placement = estimate::place(&view, &devices, &req).map_err(|e| bad_input(e.to_string()))?;
    if !placement.fits {
        return Err(bad_input(format!(
            "{} does not fit {}: {}",
            model.id,
            plan::summarize(&devices),
            vramplan::report::words::place_notes(&placement.notes).unwrap_or_default()
        )));
    }
    let speed = estimate::perf::speed(
        &view,
        &placement,
        &devices,
        &req,
        512,
        &fit,
        host_bandwidth.unwrap_or(estimate::perf::DEFAULT_HOST_BANDWIDTH_GB_S),
    )
    .ok_or_else(|| bad_input("no speed estimate without devices"))?;
    let tps = if req.parallel > 1 {
        speed.aggregate_decode_tok_s
    } else {
        // Priced at the full context: the conservative end of a conversation.
        speed.decode_tok_s_at_ctx
    };
    let tokens_per_day = match args.utilization {
        Some(u) => tps.expected * 86400.0 * u,
        None => parse_count(&args.tokens_per_day, "--tokens-per-day")?,
    };
    let compared = cost::compare(&cost::Compare {
        devices: &devices,
        tokens_per_s: tps,
        tokens_per_day,
        years,
        kwh_usd: kwh,
        eur_usd,
        apis: apis(&catalog, &model.id, args.api.as_deref())?,
    })
    .ok_or_else(|| {
        bad_input(format!(
            "no purchase price in the catalogue for {}",
            plan::summarize(&devices)
        ))
    })?;
    let report = CostReport {
        model: model.id.clone(),
        local: model.local.clone(),
        quant: req.format.name(),
        devices: devices.iter().map(|d| d.id.clone()).collect(),
        tokens_per_day,
        years,
        kwh_usd: kwh,
        idle_share_of_tdp: IDLE_SHARE_OF_TDP,
        eur_usd,
        eur_usd_source: EUR_USD_SOURCE,
        owned_price_usd: compared.owned_price_usd,
        owned_watts: compared.owned_watts,
        replicas: compared.replicas,
        price_basis: compared.price_bases.join("; "),
        fixed_usd_per_day: compared.owned.fixed_usd_per_day,
        rows: rows(&compared, &devices),
    };
    super::emit(global, &report, |report| {
        render(
            report,
            &model.name,
            compared.one_set.capacity_tokens_per_day,
        );
        Ok(())
    })
}

/// The devices to price (--gpu, else the cheapest set that runs the model) and the host
/// bandwidth serving CPU-resident layers.
fn devices(
    catalog: &vramplan::catalog::Catalog,
    view: &ModelView<'_>,
    req: &mut PlaceRequest,
    fit: &Calibration,
    gpu: Option<&str>,
    est: &EstimateArgs,
) -> Result<(Vec<Device>, Option<f64>)> {
    match gpu {
        Some(s) => {
            // A catalogue CPU host listed beside GPUs is the host, not a device to place on.
            let m = super::request::machine(catalog, Some(s), None)?;
            if m.host.is_some() {
                req.host_ram_bytes = m.ram_bytes;
            }
            let bw = m.host_bandwidth(est.host_bandwidth);
            Ok((m.devices, Some(bw)))
        }
        None => {
            let opts = SearchOptions {
                limit: 1,
                speed_fit: Some(fit.clone()),
                ..SearchOptions::default()
            };
            let best = plan::search(view, catalog, req, &opts);
            let set =
                best.into_iter().next().map(|c| c.set).ok_or_else(|| {
                    bad_input("no device set in the catalogue runs it; give --gpu")
                })?;
            Ok((set, est.host_bandwidth))
        }
    }
}

/// The model's own API listings, then those named by --api.
fn apis<'c>(
    catalog: &'c vramplan::catalog::Catalog,
    model: &str,
    named: Option<&str>,
) -> Result<Vec<&'c ApiEntry>> {
    let mut apis: Vec<&ApiEntry> = catalog
        .apis()
        .filter(|a| a.model.as_deref() == Some(model))
        .collect();
    if let Some(list) = named {
        for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let a = catalog.api(id)?;
            if !apis.iter().any(|x| x.id == a.id) {
                apis.push(a);
            }
        }
    }
    Ok(apis)
}

/// The comparison's lines, worded.
fn rows(c: &cost::Comparison<'_>, devices: &[Device]) -> Vec<CostRow> {
    let set = plan::summarize(devices);
    let (price, watts, replicas) = (c.owned_price_usd, c.owned_watts, c.replicas);
    c.lines
        .iter()
        .map(|l| {
            let (kind, label, listed, source) = match &l.option {
                CostOption::Owned => (
                    "owned",
                    if replicas > 1 {
                        format!(
                            "{replicas} x {set} (US${price:.0} and {watts:.0} W each; one set generates {} tokens/day)",
                            sig(c.one_set.capacity_tokens_per_day, 3)
                        )
                    } else {
                        format!("{set} (US${price:.0}, {watts:.0} W)")
                    },
                    None,
                    Some(format!("price basis: {}", c.price_bases.join("; "))),
                ),
                CostOption::Cloud {
                    usd_per_hour,
                    providers,
                } => (
                    "cloud",
                    format!("rent {set} at US${usd_per_hour:.2}/h"),
                    None,
                    Some(
                        providers
                            .iter()
                            .map(|(p, d)| format!("{p} {d}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                ),
                CostOption::Api(a) => (
                    "api",
                    format!("{} {} ({})", a.provider, a.name, a.date),
                    Some(format!(
                        "{} {} out / {} in per 1M",
                        a.currency, a.output_per_million, a.input_per_million
                    )),
                    Some(a.source.clone()),
                ),
            };
            CostRow {
                kind,
                label,
                usd_per_million_tokens: l.usd_per_million_tokens,
                tokens_per_s: l.tokens_per_s,
                listed,
                break_even_tokens_per_day: l.break_even_tokens_per_day,
                source,
            }
        })
        .collect()
}

fn render(report: &CostReport, model_name: &str, capacity_tokens_per_day: f64) {
    let (years, kwh, eur_usd) = (report.years, report.kwh_usd, report.eur_usd);
    super::out(&format!(
        "{} · {} · {} output tokens/day · purchase over {years} years · US${kwh}/kWh (idle at {:.0}% of board power)",
        model_name,
        report.quant,
        sig(report.tokens_per_day, 3),
        IDLE_SHARE_OF_TDP * 100.0
    ));
    let mut t = HouseTable::new(vec![
        Column::new("").csv("kind"),
        Column::new("option").csv("label"),
        Column::new("$ per 1M output tokens").csv("usd_per_million_tokens.expected"),
        Column::csv_only("usd_per_million_tokens.low"),
        Column::csv_only("usd_per_million_tokens.high"),
        Column::new("tok/s").csv("tokens_per_s.expected"),
        Column::csv_only("tokens_per_s.low"),
        Column::csv_only("tokens_per_s.high"),
        Column::new("listed").csv("listed").optional(1),
        Column::new("owning breaks even at").csv("break_even_tokens_per_day"),
    ]);
    for r in &report.rows {
        t.add_row(row_cells(r));
    }
    super::out_table(&t);
    if report.replicas > 1 {
        super::out(&format!(
            "{} tokens/day is beyond one set's {} (at the expected speed): owning is priced with {} sets",
            sig(report.tokens_per_day, 3),
            sig(capacity_tokens_per_day, 3),
            report.replicas
        ));
    }
    super::out(&format!("purchase prices: {}", report.price_basis));
    super::out(&format!(
        "EUR prices converted at {eur_usd} US$/EUR: {EUR_USD_SOURCE}"
    ));
}

fn row_cells(r: &CostRow) -> Vec<Cell> {
    let u = r.usd_per_million_tokens;
    let tps = |pick: fn(&Range) -> f64| {
        r.tokens_per_s
            .map_or(String::new(), |t| pick(&t).to_string())
    };
    vec![
        Cell::from(r.kind.to_string()),
        Cell::from(&r.label),
        Cell::with_raw(
            if r.kind == "api" {
                format!("{:.2}", u.expected)
            } else {
                format!("{:.2}-{:.2} (~{:.2})", u.low, u.high, u.expected)
            },
            u.expected,
        ),
        Cell::from(u.low.to_string()),
        Cell::from(u.high.to_string()),
        Cell::with_raw(
            r.tokens_per_s.map_or("-".into(), |t| {
                format!("{}-{}", sig(t.low, 2), sig(t.high, 2))
            }),
            tps(|t| t.expected),
        ),
        Cell::from(tps(|t| t.low)),
        Cell::from(tps(|t| t.high)),
        Cell::with_raw(
            r.listed.clone().unwrap_or_else(|| "-".into()),
            r.listed.clone().unwrap_or_default(),
        ),
        Cell::with_raw(
            match (r.kind, r.break_even_tokens_per_day) {
                ("owned", _) => "".into(),
                (_, Some(n)) => format!("{} tokens/day", sig(n, 3)),
                (_, None) => "never (within capacity)".into(),
            },
            r.break_even_tokens_per_day
                .map_or(String::new(), |n| n.to_string()),
        ),
    ]
}
