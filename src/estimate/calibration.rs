//! Fits the speed model's efficiencies to published measurements (`data/speed/measurements.csv`,
//! each row with its source). A row's efficiency is what the measured tok/s implies:
//! decode `tok/s x bytes per token / bandwidth`, prefill `tok/s x FLOPs per token / peak FLOPS`.
//! Every fifth row is held out of the fit to check it (`validate`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::place::Engine;
use super::speed::{DeviceClass, Efficiency, Range};
use crate::catalog::{Catalog, Device};

pub const EMBEDDED_MEASUREMENTS: &str = include_str!("../../data/speed/measurements.csv");

/// One published measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    pub engine: String,
    pub device: String,
    pub n_devices: u32,
    pub split: String,
    pub model: String,
    /// Transformer layers (for the fixed per-layer decode cost); optional column.
    pub n_layer: Option<u32>,
    pub params_b: f64,
    pub active_params_b: f64,
    pub quant: String,
    pub model_size_gib: Option<f64>,
    pub test: String,
    pub tokens_per_s: f64,
    pub source: String,
}

impl Measurement {
    pub fn is_decode(&self) -> bool {
        self.test.starts_with("tg")
    }
    pub fn is_prefill(&self) -> bool {
        self.test.starts_with("pp")
    }
}

/// Bits per weight of a whole llama.cpp file of this type (embeddings and recipe bumps included;
/// Llama-3.1-8B figures from llama.cpp's quantize README), for rows without a size.
fn file_bpw(quant: &str) -> Option<f64> {
    Some(match quant.to_ascii_uppercase().as_str() {
        "F32" => 32.0,
        "F16" | "BF16" | "FP16" => 16.0,
        "Q8_0" | "FP8" | "INT8" => 8.5,
        "Q6_K" => 6.56,
        "Q5_K_M" => 5.70,
        "Q5_K_S" => 5.57,
        "Q5_0" => 5.5,
        "Q4_K_M" => 4.89,
        "Q4_K_S" => 4.67,
        "Q4_0" => 4.5,
        "IQ4_XS" => 4.46,
        "Q3_K_M" => 4.0,
        "Q2_K" => 3.16,
        "AWQ" | "GPTQ" | "INT4" => 4.25,
        "MXFP4" => 4.25,
        _ => return None,
    })
}

/// Splits a CSV line, honouring double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[derive(Debug, thiserror::Error)]
#[error("measurements.csv line {line}: {message}")]
pub struct CsvError {
    pub line: usize,
    pub message: String,
}

pub fn parse(text: &str) -> Result<Vec<Measurement>, CsvError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let header = match lines.next() {
        Some((_, h)) => split_csv(h),
        None => return Ok(vec![]),
    };
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let need = |name: &str| {
        col(name).ok_or(CsvError {
            line: 1,
            message: format!("missing column {name}"),
        })
    };
    let (ie, idv, inn, isp, im, ip, ia, iq, isz, it, itps, isrc) = (
        need("engine")?,
        need("device")?,
        need("n_devices")?,
        need("split")?,
        need("model")?,
        need("params_b")?,
        need("active_params_b")?,
        need("quant")?,
        need("model_size_gib")?,
        need("test")?,
        need("tokens_per_s")?,
        need("source")?,
    );
    let mut out = Vec::new();
    for (i, line) in lines {
        let f = split_csv(line);
        let get = |j: usize| f.get(j).map(|s| s.trim().to_string()).unwrap_or_default();
        let num = |j: usize, what: &str| -> Result<f64, CsvError> {
            get(j).parse::<f64>().map_err(|_| CsvError {
                line: i + 1,
                message: format!("{what} `{}` is not a number", get(j)),
            })
        };
        let params_b = num(ip, "params_b")?;
        out.push(Measurement {
            engine: get(ie),
            device: get(idv),
            n_devices: get(inn).parse().unwrap_or(1),
            split: get(isp),
            model: get(im),
            n_layer: col("n_layer").and_then(|j| get(j).parse().ok()),
            params_b,
            active_params_b: num(ia, "active_params_b").unwrap_or(params_b),
            quant: get(iq),
            model_size_gib: get(isz).parse().ok(),
            test: get(it),
            tokens_per_s: num(itps, "tokens_per_s")?,
            source: get(isrc),
        });
    }
    Ok(out)
}

/// Decode seconds per token at efficiency 1 (bytes over bandwidth, per parallel rank), or
/// `None` for a row that is not decode or cannot be sized.
pub fn decode_bytes_time(m: &Measurement, device: &Device) -> Option<f64> {
    if !m.is_decode() {
        return None;
    }
    Some(implied_efficiency(m, device)? / m.tokens_per_s)
}

/// The efficiency a measurement implies on `device` with no fixed cost, or `None` when the
/// row cannot be sized.
pub fn implied_efficiency(m: &Measurement, device: &Device) -> Option<f64> {
    let size_bytes = match m.model_size_gib {
        Some(g) => g * 1073741824.0,
        None => m.params_b * 1e9 * file_bpw(&m.quant)? / 8.0,
    };
    let active_share = (m.active_params_b / m.params_b).clamp(0.0, 1.0);
    let n = m.n_devices.max(1) as f64;
    let parallel = if m.split == "tp" || m.split == "row" {
        n
    } else {
        1.0
    };
    if m.is_decode() {
        let bytes = size_bytes * active_share;
        Some(
            m.tokens_per_s * bytes
                / (device.entry.bandwidth_for(device.memory_bytes) * 1e9 * parallel),
        )
    } else if m.is_prefill() {
        let flops = 2.0 * m.active_params_b * 1e9;
        Some(
            m.tokens_per_s * flops / (device.entry.fp16_tflops_for(device.memory_bytes) * 1e12 * n),
        )
    } else {
        None
    }
}

/// A row with its device resolved and its implied efficiency.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub m: Measurement,
    pub class: DeviceClass,
    pub efficiency: f64,
    /// Decode: seconds per token at efficiency 1 (0 for prefill rows).
    pub bytes_time: f64,
    pub held_out: bool,
    #[serde(skip)]
    pub device: Device,
}

impl Row {
    /// Decode fixed cost of this row's run in seconds: the per-token cost once per device that
    /// runs in sequence (a layer split), the per-layer cost for every layer. Rows without a
    /// layer count carry no per-layer cost.
    pub fn fixed_s(&self, token_s: f64, layer_s: f64) -> f64 {
        let sequential = if self.m.split == "tp" || self.m.split == "row" {
            1.0
        } else {
            self.m.n_devices.max(1) as f64
        };
        sequential * token_s + self.m.n_layer.unwrap_or(0) as f64 * layer_s
    }

    /// Decode efficiency implied once the fixed cost is taken off the measured time; `None`
    /// when the fixed cost alone is most of the measured time (not a plausible split).
    pub fn efficiency_with(&self, token_s: f64, layer_s: f64) -> Option<f64> {
        let t = 1.0 / self.m.tokens_per_s;
        let rest = t - self.fixed_s(token_s, layer_s);
        (rest > 0.1 * t).then(|| self.bytes_time / rest)
    }

    /// Predicted decode tok/s at efficiency `eff` plus the fixed cost.
    pub fn predicted_tok_s(&self, eff: f64, token_s: f64, layer_s: f64) -> f64 {
        1.0 / (self.bytes_time / eff + self.fixed_s(token_s, layer_s))
    }
}

pub fn rows(catalog: &Catalog, ms: &[Measurement]) -> Vec<Row> {
    ms.iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let device = catalog.device(&m.device).ok()?;
            // A chip named without memory here is the catalogue entry's own (full-chip)
            // configuration, not the smallest option the planner assumes: the rows name binned
            // chips explicitly (`m3-max-36gb`), see data/speed/README.md.
            let device = match device.implied_memory {
                Some(_) => Device::from_entry(device.entry, None),
                None => device,
            };
            let efficiency = implied_efficiency(m, &device)?;
            (efficiency.is_finite() && efficiency > 0.0).then(|| Row {
                class: DeviceClass::of(&device),
                m: m.clone(),
                efficiency,
                bytes_time: decode_bytes_time(m, &device).unwrap_or(0.0),
                held_out: i % 5 == 4,
                device,
            })
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let x = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo as f64)
}

/// The low/expected/high band: 5th percentile, median, 95th percentile.
pub fn band(values: &[f64]) -> Option<Range> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Some(Range {
        low: percentile(&v, 0.05),
        expected: percentile(&v, 0.5),
        high: percentile(&v, 0.95),
    })
}

/// The range a new row falls in with 90% probability: the median, and the k-th smallest and
/// k-th largest of the n values with k = floor(0.05 (n + 1)) (at least 1), a distribution-free
/// prediction interval covering (n + 1 - 2k) / (n + 1) >= 90% of new draws for n >= 19. The 5th
/// and 95th percentiles of the rows (`band`) would cover about 87% at the sizes here.
pub fn prediction_band(values: &[f64]) -> Option<Range> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mid = band(&v)?.expected;
    let k = (((n + 1) as f64 * 0.05).floor() as usize).max(1);
    Some(Range {
        low: v[k - 1],
        expected: mid,
        high: v[n - k],
    })
}

/// Fitted efficiencies per (engine, class); classes with too few rows borrow the engine-wide fit.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub by_class: BTreeMap<String, Efficiency>,
    pub fallback: Efficiency,
}

const MIN_ROWS: usize = 4;

/// Assumed efficiency where no data exist: a wide band around typical llama.cpp figures.
pub const PRIOR: Efficiency = Efficiency {
    decode: Range {
        low: 0.3,
        expected: 0.6,
        high: 0.85,
    },
    prefill: Range {
        low: 0.1,
        expected: 0.35,
        high: 0.7,
    },
    token_s: 0.0,
    layer_s: 0.0,
    decode_rows: 0,
    prefill_rows: 0,
};

/// The fixed-cost search space: per token 0..8 ms, per layer 0..300 us. Wide enough for what
/// the training rows imply (Apple's 7B rows at F16, Q8_0 and Q4_0 on one chip put 4-7 ms per
/// token outside the bandwidth term; Llama-2-70B on an M2 Ultra about 2.5 times that, with 2.5
/// times the layers).
const MAX_TOKEN_S: f64 = 8e-3;
const MAX_LAYER_S: f64 = 300e-6;
/// Coarse steps, then fine steps around the best coarse point.
const COARSE: (f64, f64) = (500e-6, 20e-6);
const FINE: (f64, f64) = (50e-6, 2e-6);

/// How well a candidate pair of fixed costs explains the rows: the mean absolute log deviation
/// of the implied efficiencies from their median, or `None` when refused (a row left no
/// plausible bandwidth time, or the efficiencies' 95th percentile exceeds 1).
fn fixed_cost_score(train: &[&Row], tok: f64, lay: f64) -> Option<f64> {
    let effs: Vec<f64> = train
        .iter()
        .map(|r| r.efficiency_with(tok, lay))
        .collect::<Option<_>>()?;
    let b = band(&effs)?;
    if b.high > 1.0 {
        return None;
    }
    Some(
        effs.iter()
            .map(|e| (e / b.expected).ln().abs())
            .sum::<f64>()
            / effs.len() as f64,
    )
}

/// The best-scoring pair on the grid `tok in lo.0..=hi.0, lay in lo.1..=hi.1` with `step`;
/// ties keep the smaller costs (searched first).
fn grid_best(
    train: &[&Row],
    lo: (f64, f64),
    hi: (f64, f64),
    step: (f64, f64),
) -> Option<(f64, f64)> {
    let n_tok = ((hi.0 - lo.0) / step.0).round() as usize;
    let n_lay = ((hi.1 - lo.1) / step.1).round() as usize;
    let mut best = None;
    let mut best_score = f64::INFINITY;
    for i in 0..=n_tok {
        for j in 0..=n_lay {
            let (tok, lay) = (lo.0 + i as f64 * step.0, lo.1 + j as f64 * step.1);
            if let Some(score) = fixed_cost_score(train, tok, lay) {
                if score < best_score - 1e-9 {
                    best_score = score;
                    best = Some((tok, lay));
                }
            }
        }
    }
    best
}

/// The fixed costs (per token, per layer) that make the training rows' implied decode
/// efficiencies agree best (`fixed_cost_score`): a coarse grid over the whole space, then a fine
/// one around its best point. A best fit on the space's upper edge is not identified by the
/// rows (e.g. one layer count for nearly all rows of a class, so the costs trade off against
/// the efficiency without bound): the class then keeps no fixed cost.
fn fit_fixed_costs(train: &[&Row]) -> (f64, f64) {
    let Some(c) = grid_best(train, (0.0, 0.0), (MAX_TOKEN_S, MAX_LAYER_S), COARSE) else {
        return (0.0, 0.0);
    };
    let lo = ((c.0 - COARSE.0).max(0.0), (c.1 - COARSE.1).max(0.0));
    let hi = (
        (c.0 + COARSE.0).min(MAX_TOKEN_S),
        (c.1 + COARSE.1).min(MAX_LAYER_S),
    );
    let best = grid_best(train, lo, hi, FINE).unwrap_or(c);
    if best.0 >= MAX_TOKEN_S - 1e-12 || best.1 >= MAX_LAYER_S - 1e-12 {
        return (0.0, 0.0);
    }
    best
}

fn key(engine: Engine, class: DeviceClass) -> String {
    format!("{}/{class:?}", engine.row().calibration_key)
}

pub fn calibrate(rows: &[Row]) -> Calibration {
    let train: Vec<&Row> = rows.iter().filter(|r| !r.held_out).collect();
    // `fixed`: fit per-token and per-layer costs on these rows (device classes), or none (the
    // engine-wide fallback, whose rows mix classes with different fixed costs).
    let eff_of = |sel: &dyn Fn(&Row) -> bool, fixed: bool| -> Efficiency {
        let decode_rows: Vec<&Row> = train
            .iter()
            .copied()
            .filter(|r| sel(r) && r.m.is_decode())
            .collect();
        let (token_s, layer_s) = if fixed && decode_rows.len() >= MIN_ROWS {
            fit_fixed_costs(&decode_rows)
        } else {
            (0.0, 0.0)
        };
        let d: Vec<f64> = decode_rows
            .iter()
            .filter_map(|r| r.efficiency_with(token_s, layer_s))
            .collect();
        let p: Vec<f64> = train
            .iter()
            .filter(|r| sel(r) && r.m.is_prefill())
            .map(|r| r.efficiency)
            .collect();
        Efficiency {
            decode: if d.len() >= MIN_ROWS {
                prediction_band(&d).unwrap_or(PRIOR.decode)
            } else {
                PRIOR.decode
            },
            prefill: if p.len() >= MIN_ROWS {
                prediction_band(&p).unwrap_or(PRIOR.prefill)
            } else {
                PRIOR.prefill
            },
            token_s,
            layer_s,
            decode_rows: d.len(),
            prefill_rows: p.len(),
        }
    };
    let fallback = eff_of(
        &|r: &Row| r.m.engine == Engine::LlamaCpp.row().calibration_key,
        false,
    );
    let mut by_class = BTreeMap::new();
    for engine in Engine::all() {
        if by_class.contains_key(&key(engine, DeviceClass::Cpu)) {
            continue; // an engine sharing another's calibration key
        }
        for class in [
            DeviceClass::NvidiaGpu,
            DeviceClass::NvidiaDatacenter,
            DeviceClass::AmdGpu,
            DeviceClass::Apple,
            DeviceClass::AppleUltra,
            DeviceClass::Cpu,
        ] {
            let cal = engine.row().calibration_key;
            let mut e = eff_of(&|r: &Row| r.m.engine == cal && r.class == class, true);
            if e.decode_rows < MIN_ROWS {
                e.decode = fallback.decode;
                e.token_s = 0.0;
                e.layer_s = 0.0;
            }
            if e.prefill_rows < MIN_ROWS {
                e.prefill = fallback.prefill;
            }
            by_class.insert(key(engine, class), e);
        }
    }
    Calibration { by_class, fallback }
}

impl Calibration {
    pub fn efficiency(&self, engine: Engine, class: DeviceClass) -> Efficiency {
        self.by_class
            .get(&key(engine, class))
            .copied()
            .unwrap_or(self.fallback)
    }

    /// This fit with the CPU class's decode efficiency measured on this machine (`validate`'s
    /// median over its levels): `expected` is the measurement, `low`/`high` keep the fitted
    /// range's proportions around it (capped at 1), and no fixed cost is added (the measured
    /// efficiency already includes it). Figures outside (0, 1] are ignored.
    pub fn with_measured_cpu_decode(self, efficiency: f64) -> Calibration {
        if !(efficiency.is_finite() && efficiency > 0.0 && efficiency <= 1.0) {
            return self;
        }
        self.map_cpu(|e| {
            let r = e.decode;
            e.decode = Range {
                low: efficiency * r.low / r.expected,
                expected: efficiency,
                high: (efficiency * r.high / r.expected).min(1.0),
            };
            e.token_s = 0.0;
            e.layer_s = 0.0;
        })
    }

    /// `f` applied to the CPU class's efficiencies of every engine.
    fn map_cpu(mut self, f: impl Fn(&mut Efficiency)) -> Calibration {
        let cpu = format!("/{:?}", DeviceClass::Cpu);
        for (k, e) in self.by_class.iter_mut() {
            if k.ends_with(&cpu) {
                f(e);
            }
        }
        self
    }

    /// This fit with the CPU class's prefill efficiency measured on this machine (`validate`'s
    /// median over its levels, vramplan's engine, against the host's FP32 peak): `expected` is
    /// the measurement, `low`/`high` keep the fitted range's proportions around it. Not capped
    /// at 1: the engine's int8 dot products outrun the FP32 peak the efficiency is stated
    /// against. Figures outside (0, 8] are ignored.
    pub fn with_measured_cpu_prefill(self, efficiency: f64) -> Calibration {
        if !(efficiency.is_finite() && efficiency > 0.0 && efficiency <= 8.0) {
            return self;
        }
        self.map_cpu(|e| {
            let r = e.prefill;
            e.prefill = Range {
                low: efficiency * r.low / r.expected,
                expected: efficiency,
                high: efficiency * r.high / r.expected,
            };
        })
    }

    /// The fit from the embedded data set.
    pub fn embedded(catalog: &Catalog) -> Calibration {
        let ms =
            parse(EMBEDDED_MEASUREMENTS).expect("the embedded measurements.csv parses (tested)");
        calibrate(&rows(catalog, &ms))
    }
}

/// How the fit does on the held-out rows.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub held_out_rows: usize,
    /// Share of held-out rows whose expected tok/s is within ±25% of the measurement.
    pub within_25_percent: f64,
    /// Share of held-out rows whose measurement lies inside low..high.
    pub inside_range: f64,
}

/// Decode: predicted tok/s is `1 / (bytes_time / efficiency + fixed cost)` with the expected,
/// low and high efficiencies; prefill: `measured x expected_eff / implied_eff`.
pub fn validate(rows: &[Row], fit: &Calibration, decode_only: bool) -> Validation {
    let held: Vec<&Row> = rows
        .iter()
        .filter(|r| r.held_out && (r.m.is_decode() || !decode_only))
        .collect();
    let mut within = 0;
    let mut inside = 0;
    for r in &held {
        let e = match Engine::from_name(&r.m.engine) {
            Some(engine) => fit.efficiency(engine, r.class),
            None => fit.fallback,
        };
        let (predicted_over_measured, is_inside) = if r.m.is_decode() {
            let tps = |eff: f64| r.predicted_tok_s(eff, e.token_s, e.layer_s);
            let m = r.m.tokens_per_s;
            (
                tps(e.decode.expected) / m,
                m >= tps(e.decode.low) && m <= tps(e.decode.high),
            )
        } else {
            let band = e.prefill;
            (
                band.expected / r.efficiency,
                r.efficiency >= band.low && r.efficiency <= band.high,
            )
        };
        if (predicted_over_measured - 1.0).abs() <= 0.25 {
            within += 1;
        }
        if is_inside {
            inside += 1;
        }
    }
    let n = held.len().max(1) as f64;
    Validation {
        held_out_rows: held.len(),
        within_25_percent: within as f64 / n,
        inside_range: inside as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes() {
        assert_eq!(split_csv("a,\"b,c\",d"), vec!["a", "b,c", "d"]);
        assert_eq!(split_csv("\"x \"\"y\"\"\",1"), vec!["x \"y\"", "1"]);
    }

    #[test]
    fn percentiles_interpolate() {
        let r = band(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(r.expected, 3.0);
        assert!((r.low - 1.2).abs() < 1e-12 && (r.high - 4.8).abs() < 1e-12);
    }

    #[test]
    fn measured_cpu_efficiency_replaces_the_fitted_one() {
        let cat = Catalog::embedded().unwrap();
        let fit = Calibration::embedded(&cat);
        let before = fit.efficiency(Engine::LlamaCpp, DeviceClass::Cpu).decode;
        let m = fit.clone().with_measured_cpu_decode(0.4);
        let after = m.efficiency(Engine::LlamaCpp, DeviceClass::Cpu).decode;
        assert_eq!(after.expected, 0.4);
        assert!((after.low / after.expected - before.low / before.expected).abs() < 1e-12);
        assert!(after.high <= 1.0);
        // Other classes keep their fit; nonsense is ignored.
        assert_eq!(
            m.efficiency(Engine::LlamaCpp, DeviceClass::NvidiaGpu),
            fit.efficiency(Engine::LlamaCpp, DeviceClass::NvidiaGpu)
        );
        let same = fit.clone().with_measured_cpu_decode(f64::NAN);
        assert_eq!(
            same.efficiency(Engine::LlamaCpp, DeviceClass::Cpu).decode,
            before
        );
    }

    #[test]
    fn measured_cpu_prefill_efficiency_replaces_the_fitted_one_uncapped() {
        let cat = Catalog::embedded().unwrap();
        let fit = Calibration::embedded(&cat);
        let before = fit.efficiency(Engine::LlamaCpp, DeviceClass::Cpu);
        let m = fit.clone().with_measured_cpu_prefill(1.4);
        let after = m.efficiency(Engine::LlamaCpp, DeviceClass::Cpu);
        assert_eq!(after.prefill.expected, 1.4);
        let ratio = |r: Range| (r.low / r.expected, r.high / r.expected);
        let (a, b) = (ratio(after.prefill), ratio(before.prefill));
        assert!((a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12);
        assert!(after.prefill.high > 1.4);
        // Decode and other classes keep their fit; nonsense is ignored.
        assert_eq!(after.decode, before.decode);
        assert_eq!(
            m.efficiency(Engine::LlamaCpp, DeviceClass::NvidiaGpu),
            fit.efficiency(Engine::LlamaCpp, DeviceClass::NvidiaGpu)
        );
        for bad in [f64::NAN, 0.0, -1.0, 9.0] {
            let same = fit.clone().with_measured_cpu_prefill(bad);
            assert_eq!(same.efficiency(Engine::LlamaCpp, DeviceClass::Cpu), before);
        }
    }

    #[test]
    fn prediction_band_takes_order_statistics() {
        let v: Vec<f64> = (1..=39).map(f64::from).collect();
        // n = 39: k = floor(0.05 x 40) = 2, so the 2nd smallest and 2nd largest.
        let r = prediction_band(&v).unwrap();
        assert_eq!((r.low, r.expected, r.high), (2.0, 20.0, 38.0));
        let r = prediction_band(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((r.low, r.expected, r.high), (1.0, 2.0, 3.0));
        assert!(prediction_band(&[]).is_none());
    }
}
