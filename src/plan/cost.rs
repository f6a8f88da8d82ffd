//! Cost per million output tokens: owned hardware (purchase amortized over the years, power at
//! the kWh price over the hours it generates, idle power the rest of the day), cloud rental
//! ($/hour over tokens per hour) and API prices; and the break-even daily volumes between them.
//!
//! Owned cost per token = F / N + v, where N is tokens per day, the fixed cost per day
//! F = price / (365 x years) + idle watts x 24 h x kWh price, and the variable cost per token
//! v = (load watts - idle watts) x kWh price / tokens per hour. Break-even against a per-token
//! price p (API or cloud): N* = F / (p - v), none when p <= v.

use serde::Serialize;

use crate::catalog::{ApiEntry, Device};
use crate::estimate::speed::Range;

/// Idle draw as a share of board power (GPUs idle at 10-20 W of 200-450 W; Apple and CPU hosts
/// similarly), an assumption stated in the report.
pub const IDLE_SHARE_OF_TDP: f64 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OwnedInputs {
    pub price_usd: f64,
    pub watts: f64,
    /// Decode throughput of the set (tokens/s, aggregate over the parallel sequences).
    pub tokens_per_s: f64,
    pub years: f64,
    pub kwh_usd: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OwnedCost {
    pub fixed_usd_per_day: f64,
    pub variable_usd_per_token: f64,
    pub capacity_tokens_per_day: f64,
}

pub fn owned(i: &OwnedInputs) -> OwnedCost {
    let idle = i.watts * IDLE_SHARE_OF_TDP;
    let fixed = i.price_usd / (365.0 * i.years) + idle * 24.0 / 1000.0 * i.kwh_usd;
    let variable = (i.watts - idle) / 1000.0 * i.kwh_usd / (i.tokens_per_s * 3600.0);
    OwnedCost {
        fixed_usd_per_day: fixed,
        variable_usd_per_token: variable,
        capacity_tokens_per_day: i.tokens_per_s * 86400.0,
    }
}

impl OwnedCost {
    /// $ per 1M tokens at `tokens_per_day` (capped at capacity).
    pub fn usd_per_million(&self, tokens_per_day: f64) -> f64 {
        let n = tokens_per_day.min(self.capacity_tokens_per_day).max(1.0);
        (self.fixed_usd_per_day / n + self.variable_usd_per_token) * 1e6
    }

    /// Daily volume at which owning costs `usd_per_million` per 1M tokens; `None` when the price
    /// never covers the power, or when the volume exceeds what the hardware can generate.
    pub fn break_even_tokens_per_day(&self, usd_per_million: f64) -> Option<f64> {
        let p = usd_per_million / 1e6;
        if p <= self.variable_usd_per_token {
            return None;
        }
        let n = self.fixed_usd_per_day / (p - self.variable_usd_per_token);
        (n <= self.capacity_tokens_per_day).then_some(n)
    }
}

/// Replicas of the set needed to generate `tokens_per_day` at `tokens_per_s` each (at least 1).
pub fn replicas_for(tokens_per_day: f64, tokens_per_s: f64) -> u32 {
    let capacity = tokens_per_s * 86400.0;
    if capacity.is_nan() || capacity <= 0.0 {
        return 1;
    }
    (tokens_per_day / capacity).ceil().clamp(1.0, 1e6) as u32
}

/// Owned cost of as many replicas of the set as the daily volume needs (each generating
/// `tokens_per_s`), so a volume above one set's capacity is priced, never capped.
pub fn owned_for_volume(i: &OwnedInputs, tokens_per_day: f64) -> (OwnedCost, u32) {
    let r = replicas_for(tokens_per_day, i.tokens_per_s);
    let k = r as f64;
    let c = owned(&OwnedInputs {
        price_usd: i.price_usd * k,
        watts: i.watts * k,
        tokens_per_s: i.tokens_per_s * k,
        ..*i
    });
    (c, r)
}

/// $ per 1M tokens renting `usd_per_hour` of hardware that generates `tokens_per_s`.
pub fn cloud_usd_per_million(usd_per_hour: f64, tokens_per_s: f64) -> f64 {
    usd_per_hour / (tokens_per_s * 3600.0) * 1e6
}

/// Purchase price of a device as configured: its memory option's price when it has options.
pub fn price_of(d: &Device) -> Option<f64> {
    if d.entry.memory_options_gb.is_empty() {
        d.entry.price_usd()
    } else {
        d.entry.option_price_usd((d.memory_bytes >> 30) as u32)
    }
}

/// What each device's purchase price is (street new/used or launch MSRP, with its date), in
/// device order, for the devices that have one.
pub fn price_bases(devices: &[Device]) -> Vec<String> {
    devices
        .iter()
        .filter_map(|d| {
            d.entry.price_basis(
                (!d.entry.memory_options_gb.is_empty()).then_some((d.memory_bytes >> 30) as u32),
            )
        })
        .collect()
}

/// Cheapest on-demand cloud price of the set, when every device has one.
pub fn cloud_usd_per_hour(devices: &[Device]) -> Option<f64> {
    devices
        .iter()
        .map(|d| d.entry.cheapest_cloud().map(|c| c.usd_per_gpu_hour))
        .sum()
}

/// One option of the comparison.
#[derive(Debug, Clone)]
pub enum CostOption<'a> {
    /// Buying the set (as many replicas as the volume needs).
    Owned,
    /// Renting the set at the cheapest listed on-demand price: per hour, and each device's
    /// provider and date.
    Cloud {
        usd_per_hour: f64,
        providers: Vec<(String, String)>,
    },
    Api(&'a ApiEntry),
}

/// An option's cost per 1M output tokens at the daily volume.
#[derive(Debug, Clone)]
pub struct CostLine<'a> {
    pub option: CostOption<'a>,
    /// Owned, cloud: from the speed range (the high speed gives the low cost).
    pub usd_per_million_tokens: Range,
    /// Owned, cloud: the decode throughput used.
    pub tokens_per_s: Option<Range>,
    /// Cloud, API: the daily volume at which owning matches this option's price.
    pub break_even_tokens_per_day: Option<f64>,
}

/// What to compare: a device set generating `tokens_per_s`, the daily volume, the economics.
pub struct Compare<'a> {
    pub devices: &'a [Device],
    pub tokens_per_s: Range,
    pub tokens_per_day: f64,
    pub years: f64,
    pub kwh_usd: f64,
    /// US$ per EUR, for APIs priced in euros.
    pub eur_usd: f64,
    pub apis: Vec<&'a ApiEntry>,
}

/// Owning the set against renting it and against APIs.
#[derive(Debug, Clone)]
pub struct Comparison<'a> {
    pub owned_price_usd: f64,
    pub owned_watts: f64,
    /// Sets of the devices needed for the daily volume (1 when one set generates it).
    pub replicas: u32,
    /// One set at the expected speed.
    pub one_set: OwnedCost,
    /// The `replicas` sets the volume needs, at the expected speed.
    pub owned: OwnedCost,
    /// What each purchase price is, sorted, once each.
    pub price_bases: Vec<String>,
    /// Owned first, then cloud (when listed), then the APIs.
    pub lines: Vec<CostLine<'a>>,
}

/// Compares owning, renting and APIs; `None` when a device of the set has no purchase price.
pub fn compare<'a>(c: &Compare<'a>) -> Option<Comparison<'a>> {
    let devices = c.devices;
    let price: f64 = devices.iter().map(price_of).sum::<Option<f64>>()?;
    let watts: f64 = devices.iter().map(|d| d.entry.tdp_watts).sum();
    let tps = c.tokens_per_s;
    let inputs = |t: f64| OwnedInputs {
        price_usd: price,
        watts,
        tokens_per_s: t,
        years: c.years,
        kwh_usd: c.kwh_usd,
    };
    let one_set = owned(&inputs(tps.expected));
    // A volume beyond what one set generates buys replicas (each bound of the speed range
    // with the replicas it needs): never a cost at a silently capped volume.
    let for_volume = |t: f64| owned_for_volume(&inputs(t), c.tokens_per_day);
    // What is owned at the expected speed: the break-even volumes and the fixed cost per day
    // are those of all the replicas, as the owned row's price is.
    let (expected, replicas) = for_volume(tps.expected);
    let mut lines = vec![CostLine {
        option: CostOption::Owned,
        usd_per_million_tokens: Range {
            low: for_volume(tps.high).0.usd_per_million(c.tokens_per_day),
            expected: for_volume(tps.expected).0.usd_per_million(c.tokens_per_day),
            high: for_volume(tps.low).0.usd_per_million(c.tokens_per_day),
        },
        tokens_per_s: Some(tps),
        break_even_tokens_per_day: None,
    }];
    if let Some(per_hour) = cloud_usd_per_hour(devices) {
        let u = Range {
            low: cloud_usd_per_million(per_hour, tps.high),
            expected: cloud_usd_per_million(per_hour, tps.expected),
            high: cloud_usd_per_million(per_hour, tps.low),
        };
        lines.push(CostLine {
            option: CostOption::Cloud {
                usd_per_hour: per_hour,
                providers: devices
                    .iter()
                    .filter_map(|d| d.entry.cheapest_cloud())
                    .map(|c| (c.provider.clone(), c.date.clone()))
                    .collect(),
            },
            usd_per_million_tokens: u,
            tokens_per_s: Some(tps),
            break_even_tokens_per_day: expected.break_even_tokens_per_day(u.expected),
        });
    }
    for a in &c.apis {
        let usd = if a.currency == "EUR" {
            a.output_per_million * c.eur_usd
        } else {
            a.output_per_million
        };
        lines.push(CostLine {
            option: CostOption::Api(a),
            usd_per_million_tokens: Range {
                low: usd,
                expected: usd,
                high: usd,
            },
            tokens_per_s: None,
            break_even_tokens_per_day: expected.break_even_tokens_per_day(usd),
        });
    }
    let price_bases = price_bases(devices)
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Some(Comparison {
        owned_price_usd: price,
        owned_watts: watts,
        replicas,
        one_set,
        owned: expected,
        price_bases,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: a $600 pair of cards drawing 340 W, 20 tok/s, 3 years, $0.30/kWh.
    #[test]
    fn owned_cost_by_hand() {
        let c = owned(&OwnedInputs {
            price_usd: 600.0,
            watts: 340.0,
            tokens_per_s: 20.0,
            years: 3.0,
            kwh_usd: 0.30,
        });
        // 600 / 1095 = 0.547945 $/day; idle 34 W x 24 h = 0.816 kWh = 0.2448 $/day.
        assert!((c.fixed_usd_per_day - (600.0 / 1095.0 + 0.2448)).abs() < 1e-9);
        // 306 W x 0.30 $/kWh = 0.0918 $/h over 72,000 tokens/h.
        assert!((c.variable_usd_per_token - 0.0918 / 72000.0).abs() < 1e-15);
        assert_eq!(c.capacity_tokens_per_day, 1_728_000.0);
        // At 1M tokens/day: (0.792745 / 1e6 + 1.275e-6) x 1e6 = 2.067745 $ per 1M.
        assert!((c.usd_per_million(1e6) - 2.067745).abs() < 1e-5);
        // Break-even with a $2/1M API: 0.792745 / (2e-6 - 1.275e-6) = 1,093,442 tokens/day.
        let n = c.break_even_tokens_per_day(2.0).unwrap();
        assert!((n - 1_093_441.9).abs() < 1.0, "{n}");
        assert!(
            (c.usd_per_million(n) - 2.0).abs() < 1e-9,
            "the break-even volume reproduces the price"
        );
        // A price below the power cost never breaks even.
        assert_eq!(c.break_even_tokens_per_day(1.0), None);
    }

    /// 10x one set's capacity: ten sets' fixed cost, spread over ten times the tokens (the
    /// same per-token cost at full load, never the one-set cost of a capped volume).
    #[test]
    fn volume_beyond_capacity_buys_replicas() {
        let i = OwnedInputs {
            price_usd: 600.0,
            watts: 340.0,
            tokens_per_s: 20.0,
            years: 3.0,
            kwh_usd: 0.30,
        };
        let one = owned(&i);
        assert_eq!(replicas_for(one.capacity_tokens_per_day, 20.0), 1);
        assert_eq!(replicas_for(one.capacity_tokens_per_day + 1.0, 20.0), 2);
        let (c, r) = owned_for_volume(&i, 10.0 * one.capacity_tokens_per_day);
        assert_eq!(r, 10);
        assert!((c.fixed_usd_per_day - 10.0 * one.fixed_usd_per_day).abs() < 1e-9);
        let full = one.usd_per_million(one.capacity_tokens_per_day);
        let ten = c.usd_per_million(10.0 * one.capacity_tokens_per_day);
        assert!((full - ten).abs() < 1e-9);
        // 10M and 100M tokens/day differ once 100M is beyond one set.
        let (c10, _) = owned_for_volume(&i, 1e6);
        let (c100, r100) = owned_for_volume(&i, 1e8);
        assert!(r100 > 1);
        assert!(c10.usd_per_million(1e6) != c100.usd_per_million(1e8));
    }

    /// A volume that needs replicas: the fixed cost per day and the break-even volumes are
    /// those of every replica, as the owned price is.
    #[test]
    fn replicas_carry_the_fixed_cost_and_the_break_even() {
        let catalog = crate::catalog::Catalog::embedded().unwrap();
        let d = catalog.device("rtx-3090").unwrap();
        let devices = vec![d];
        let tps = Range {
            low: 20.0,
            expected: 20.0,
            high: 20.0,
        };
        let one = compare(&Compare {
            devices: &devices,
            tokens_per_s: tps,
            tokens_per_day: 1e6,
            years: 3.0,
            kwh_usd: 0.3,
            eur_usd: 1.1,
            apis: vec![],
        })
        .unwrap();
        assert_eq!(one.replicas, 1);
        assert_eq!(one.owned, one.one_set);
        let api = catalog.apis().find(|a| a.currency == "USD").unwrap();
        let ten = compare(&Compare {
            devices: &devices,
            tokens_per_s: tps,
            tokens_per_day: 10.0 * one.one_set.capacity_tokens_per_day,
            years: 3.0,
            kwh_usd: 0.3,
            eur_usd: 1.1,
            apis: vec![api],
        })
        .unwrap();
        assert_eq!(ten.replicas, 10);
        let fixed = 10.0 * ten.one_set.fixed_usd_per_day;
        assert!((ten.owned.fixed_usd_per_day - fixed).abs() < 1e-9);
        let line = ten
            .lines
            .iter()
            .find(|l| matches!(l.option, CostOption::Api(_)))
            .unwrap();
        let usd = api.output_per_million;
        assert_eq!(
            line.break_even_tokens_per_day,
            ten.owned.break_even_tokens_per_day(usd)
        );
        // Ten sets' fixed cost needs ten times the volume to break even at the same price.
        let n10 = ten.owned.break_even_tokens_per_day(3.0).unwrap();
        let n1 = ten.one_set.break_even_tokens_per_day(3.0).unwrap();
        assert!((n10 - 10.0 * n1).abs() < 1e-6 * n10, "{n10} vs {n1}");
    }

    #[test]
    fn cloud_by_hand() {
        // $0.69/h at 30 tok/s = 108,000 tokens/h: $6.39 per 1M.
        assert!((cloud_usd_per_million(0.69, 30.0) - 6.388889).abs() < 1e-5);
    }
}
