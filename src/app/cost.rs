//! `vramplan cost MODEL --quant Q [--gpu ...] [--tokens-per-day N] [--years 3] [--kwh 0.30]`:
//! $ per 1M output tokens owned vs rented vs API, and the break-even volumes, in one table.

use anyhow::Result;
use serde::Serialize;
use vramplan::estimate::calibration::Fit;
use vramplan::estimate::speed::Range;
use vramplan::estimate::{self, ModelView};
use vramplan::plan::cost::{self, OwnedInputs, IDLE_SHARE_OF_TDP};
use vramplan::plan::{self, SearchOptions};
use vramplan::report::{sig, Cell, Column, HouseTable};

use super::args::parse_count;
use super::{bad_input, model_input};
use crate::cli::{CostArgs, Global};

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
    let mut req = super::fit::request_for(&model, &args.est)?;
    req.network = super::fit::network(&catalog, args.network.as_deref())?;
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
    let fit = Fit::embedded(&catalog);
    let inv = model.inventory(&req);
    let view = ModelView {
        inventory: &inv,
        shape: &model.shape,
    };
    let mut host_bandwidth = args.est.host_bandwidth;
    let devices = match &args.gpu {
        Some(s) => {
            // A catalogue CPU host listed beside GPUs is the host, not a device to place on.
            let m = super::fit::machine(&catalog, Some(s), None)?;
            if m.host.is_some() {
                req.host_ram_bytes = m.ram_bytes;
            }
            host_bandwidth = Some(m.host_bandwidth(host_bandwidth));
            m.devices
        }
        None => {
            let opts = SearchOptions {
                limit: 1,
                speed_fit: Some(fit.clone()),
                ..SearchOptions::default()
            };
            let best = plan::search(&view, &catalog, &req, &opts);
            best.into_iter()
                .next()
                .map(|c| c.set)
                .ok_or_else(|| bad_input("no device set in the catalogue runs it; give --gpu"))?
        }
    };
    let placement = estimate::place(&view, &devices, &req).map_err(|e| bad_input(e.to_string()))?;
    if !placement.fits {
        return Err(bad_input(format!(
            "{} does not fit {}: {}",
            model.id,
            plan::summarize(&devices),
            placement.note.clone().unwrap_or_default()
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
    let price: Option<f64> = devices
        .iter()
        .map(|d| {
            if d.entry.memory_options_gb.is_empty() {
                d.entry.price_usd()
            } else {
                d.entry.option_price_usd((d.memory_bytes >> 30) as u32)
            }
        })
        .sum();
    let price = price.ok_or_else(|| {
        bad_input(format!(
            "no purchase price in the catalogue for {}",
            plan::summarize(&devices)
        ))
    })?;
    let watts: f64 = devices.iter().map(|d| d.entry.tdp_watts).sum();
    let owned_at = |t: f64| {
        cost::owned(&OwnedInputs {
            price_usd: price,
            watts,
            tokens_per_s: t,
            years,
            kwh_usd: kwh,
        })
    };
    let tokens_per_day = match args.utilization {
        Some(u) => tps.expected * 86400.0 * u,
        None => parse_count(&args.tokens_per_day, "--tokens-per-day")?,
    };
    let expected = owned_at(tps.expected);
    // A volume beyond what one set generates buys replicas (each bound of the speed range
    // with the replicas it needs): never a cost at a silently capped volume.
    let for_volume = |t: f64| {
        cost::owned_for_volume(
            &OwnedInputs {
                price_usd: price,
                watts,
                tokens_per_s: t,
                years,
                kwh_usd: kwh,
            },
            tokens_per_day,
        )
    };
    let replicas = for_volume(tps.expected).1;
    // Faster hardware costs less per token: the high speed gives the low cost.
    let owned_cost = Range {
        low: for_volume(tps.high).0.usd_per_million(tokens_per_day),
        expected: for_volume(tps.expected).0.usd_per_million(tokens_per_day),
        high: for_volume(tps.low).0.usd_per_million(tokens_per_day),
    };
    let basis = devices
        .iter()
        .filter_map(|d| {
            d.entry.price_basis(
                (!d.entry.memory_options_gb.is_empty()).then_some((d.memory_bytes >> 30) as u32),
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join("; ");
    let mut rows = vec![CostRow {
        kind: "owned",
        label: if replicas > 1 {
            format!(
                "{replicas} x {} (US${price:.0} and {watts:.0} W each; one set generates {} tokens/day)",
                plan::summarize(&devices),
                sig(expected.capacity_tokens_per_day, 3)
            )
        } else {
            format!(
                "{} (US${price:.0}, {watts:.0} W)",
                plan::summarize(&devices)
            )
        },
        usd_per_million_tokens: owned_cost,
        tokens_per_s: Some(tps),
        listed: None,
        break_even_tokens_per_day: None,
        source: Some(format!("price basis: {basis}")),
    }];
    let cloud: Option<f64> = devices
        .iter()
        .map(|d| d.entry.cheapest_cloud().map(|c| c.usd_per_gpu_hour))
        .sum();
    if let Some(per_hour) = cloud {
        let c = Range {
            low: cost::cloud_usd_per_million(per_hour, tps.high),
            expected: cost::cloud_usd_per_million(per_hour, tps.expected),
            high: cost::cloud_usd_per_million(per_hour, tps.low),
        };
        let providers: Vec<String> = devices
            .iter()
            .filter_map(|d| d.entry.cheapest_cloud())
            .map(|c| format!("{} {}", c.provider, c.date))
            .collect();
        rows.push(CostRow {
            kind: "cloud",
            label: format!("rent {} at US${per_hour:.2}/h", plan::summarize(&devices)),
            usd_per_million_tokens: c,
            tokens_per_s: Some(tps),
            listed: None,
            break_even_tokens_per_day: expected.break_even_tokens_per_day(c.expected),
            source: Some(providers.join(", ")),
        });
    }
    let mut apis: Vec<&vramplan::catalog::ApiEntry> = catalog
        .apis()
        .filter(|a| a.model.as_deref() == Some(model.id.as_str()))
        .collect();
    if let Some(list) = &args.api {
        for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let a = catalog.api(id)?;
            if !apis.iter().any(|x| x.id == a.id) {
                apis.push(a);
            }
        }
    }
    for a in apis {
        let usd = if a.currency == "EUR" {
            a.output_per_million * eur_usd
        } else {
            a.output_per_million
        };
        rows.push(CostRow {
            kind: "api",
            label: format!("{} {} ({})", a.provider, a.name, a.date),
            usd_per_million_tokens: Range {
                low: usd,
                expected: usd,
                high: usd,
            },
            tokens_per_s: None,
            listed: Some(format!(
                "{} {} out / {} in per 1M",
                a.currency, a.output_per_million, a.input_per_million
            )),
            break_even_tokens_per_day: expected.break_even_tokens_per_day(usd),
            source: Some(a.source.clone()),
        });
    }
    let report = CostReport {
        model: model.id.clone(),
        quant: req.format.name(),
        devices: devices.iter().map(|d| d.id.clone()).collect(),
        tokens_per_day,
        years,
        kwh_usd: kwh,
        idle_share_of_tdp: IDLE_SHARE_OF_TDP,
        eur_usd,
        eur_usd_source: EUR_USD_SOURCE,
        owned_price_usd: price,
        owned_watts: watts,
        replicas,
        price_basis: basis.clone(),
        fixed_usd_per_day: expected.fixed_usd_per_day,
        rows,
    };
    super::emit(global, &report, |report| {
        super::out(&format!(
            "{} · {} · {} output tokens/day · purchase over {years} years · US${kwh}/kWh (idle at {:.0}% of board power)",
            model.name,
            report.quant,
            sig(tokens_per_day, 3),
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
            let u = r.usd_per_million_tokens;
            let tps = |pick: fn(&Range) -> f64| {
                r.tokens_per_s
                    .map_or(String::new(), |t| pick(&t).to_string())
            };
            t.add_row(vec![
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
            ]);
        }
        super::out_table(&t);
        if replicas > 1 {
            super::out(&format!(
                "{} tokens/day is beyond one set's {} (at the expected speed): owning is priced with {replicas} sets",
                sig(tokens_per_day, 3),
                sig(expected.capacity_tokens_per_day, 3)
            ));
        }
        super::out(&format!("purchase prices: {basis}"));
        super::out(&format!(
            "EUR prices converted at {eur_usd} US$/EUR: {EUR_USD_SOURCE}"
        ));
        Ok(())
    })
}
