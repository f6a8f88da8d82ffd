//! Search over device sets from the catalogue that run a model: N identical cards (up to
//! `GPUS_PER_NODE` per node, then whole nodes), pairs of different consumer cards, Apple
//! machines and CPU-only hosts, ranked by purchase price or by cloud $/hour.

pub mod cost;
pub mod request;

use serde::Serialize;

use crate::catalog::{Catalog, Device, DeviceEntry, DeviceKind};
use crate::estimate::calibration::Calibration;
use crate::estimate::speed::{Range, GPUS_PER_NODE};
use crate::estimate::{self, ModelView, PlaceRequest};

/// Options of the search.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub budget_usd: Option<f64>,
    pub max_gpus: u32,
    /// Devices already owned: they cost nothing and every candidate adds to them.
    pub have: Vec<Device>,
    /// Rank by cloud $/GPU-hour instead of purchase price.
    pub cloud: bool,
    /// How many ranked candidates to return (each gets its max context computed).
    pub limit: usize,
    /// Efficiencies for speed estimates; with `min_tps`, a filter on expected decode speed.
    pub speed_fit: Option<Calibration>,
    pub min_tps: Option<f64>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            budget_usd: None,
            max_gpus: 64,
            have: Vec::new(),
            cloud: false,
            limit: 15,
            speed_fit: None,
            min_tps: None,
        }
    }
}

/// One device set that runs the model.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// `rtx-3060-12gb x2`, `h100-sxm x16 (2 nodes)`.
    pub label: String,
    pub devices: Vec<String>,
    pub gpu_count: u32,
    /// Purchase price of what must be bought (owned devices count 0), when known.
    pub price_usd: Option<f64>,
    /// What the purchase prices are (street new/used or launch MSRP, with dates), per device.
    pub price_basis: Option<String>,
    /// Cheapest on-demand cloud price for the set, when every device has one.
    pub cloud_usd_per_hour: Option<f64>,
    pub memory_bytes: u64,
    /// Smallest free memory on any device after placement.
    pub headroom_bytes: i64,
    pub max_context: Option<u64>,
    /// Decode tokens/s of one sequence at an empty context (llama-bench tg128).
    pub decode_tok_s: Option<Range>,
    /// Decode tokens/s of one sequence with the KV cache filled to the requested context.
    pub decode_tok_s_at_ctx: Option<Range>,
    pub nodes: u32,
    /// Host RAM the set needs (per node): weights and buffers left on the CPU plus the OS
    /// reserve beside GPUs; everything for a CPU-only host; `None` for Apple unified memory.
    pub host_ram_bytes: Option<u64>,
    /// Warnings about the set: a device whose addition makes decode slower than a smaller
    /// listed set of the same devices.
    pub flags: Vec<String>,
    #[serde(skip)]
    pub set: Vec<Device>,
    #[serde(skip)]
    pub placement: estimate::Placement,
}

fn expand(entry: &DeviceEntry) -> Vec<Device> {
    if entry.memory_options_gb.is_empty() {
        vec![Device::from_entry(entry.clone(), None)]
    } else {
        entry
            .memory_options_gb
            .iter()
            .map(|&gb| Device::from_entry(entry.clone(), Some(gb)))
            .collect()
    }
}

/// A set that fits, priced (what must be bought, the cloud rate) and labelled.
fn candidate(
    opts: &SearchOptions,
    set: Vec<Device>,
    label: String,
    nodes: u32,
    p: &estimate::Placement,
) -> Candidate {
    let bought = &set[opts.have.len()..];
    let price = bought.iter().map(cost::price_of).sum::<Option<f64>>();
    let cloud = cost::cloud_usd_per_hour(&set);
    let headroom = p.devices.iter().map(|d| d.free_bytes).min().unwrap_or(0);
    let mut bases = cost::price_bases(bought);
    bases.dedup();
    if bought.len() < set.len() {
        bases.insert(
            0,
            format!("owned {}: $0", summarize(&set[..set.len() - bought.len()])),
        );
    }
    Candidate {
        label,
        price_basis: (!bases.is_empty()).then(|| bases.join("; ")),
        flags: Vec::new(),
        devices: set.iter().map(|d| d.id.clone()).collect(),
        gpu_count: set.len() as u32,
        price_usd: price,
        cloud_usd_per_hour: cloud,
        memory_bytes: set.iter().map(|d| d.memory_bytes).sum(),
        headroom_bytes: headroom,
        max_context: None,
        decode_tok_s: None,
        decode_tok_s_at_ctx: None,
        nodes,
        host_ram_bytes: match set.first().map(|d| d.entry.kind) {
            Some(DeviceKind::Cpu) => Some(p.total_bytes),
            Some(DeviceKind::Apple) => None,
            _ => Some(p.host.total_bytes),
        },
        set,
        placement: p.clone(),
    }
}

/// Drops the sets over the host RAM or the budget (and, ranking by cloud price, those without
/// one), then sorts: cheapest first.
fn filter_and_rank(found: &mut Vec<Candidate>, req: &PlaceRequest, opts: &SearchOptions) {
    if let Some(ram) = req.host_ram_bytes {
        // GPU sets were placed against it; a CPU-only host must hold everything.
        found.retain(|c| c.host_ram_bytes.is_none_or(|need| need <= ram));
    }
    if let Some(budget) = opts.budget_usd {
        found.retain(|c| c.price_usd.is_some_and(|p| p <= budget));
    }
    if opts.cloud {
        found.retain(|c| c.cloud_usd_per_hour.is_some());
        found.sort_by(|a, b| {
            a.cloud_usd_per_hour
                .partial_cmp(&b.cloud_usd_per_hour)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    } else {
        // Known prices first, cheapest first; unknown prices after, by total memory.
        found.sort_by(|a, b| match (a.price_usd, b.price_usd) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.memory_bytes.cmp(&b.memory_bytes),
        });
    }
}

/// Finds device sets that hold the whole model at the requested context, cheapest first.
pub fn search(
    model: &ModelView<'_>,
    catalog: &Catalog,
    req: &PlaceRequest,
    opts: &SearchOptions,
) -> Vec<Candidate> {
    let mut req = req.clone();
    // Candidates must hold every layer on the accelerators.
    req.all_layers_on_devices(model.shape.n_layer);
    let engine = req.engine().row();
    let prepared = estimate::Prepared::new(model, &req);
    let fits = |set: &[Device]| prepared.place(set, &req).ok().filter(|p| p.fits);
    let mut found: Vec<Candidate> = Vec::new();
    let mut push = |set: Vec<Device>, label: String, nodes: u32, p: &estimate::Placement| {
        found.push(candidate(opts, set, label, nodes, p))
    };

    let have_label = |extra: &str| {
        if opts.have.is_empty() {
            extra.to_string()
        } else {
            format!("owned {} + {extra}", summarize(&opts.have))
        }
    };
    if !opts.have.is_empty() {
        if let Some(p) = fits(&opts.have) {
            push(
                opts.have.clone(),
                format!("owned {}", summarize(&opts.have)),
                1,
                &p,
            );
        }
    }
    let max_n = opts.max_gpus.max(1);
    for entry in catalog.devices() {
        match entry.kind {
            DeviceKind::Gpu => {
                let d = Device::from_entry(entry.clone(), None);
                if !engine.mixes_cards
                    && !opts.have.is_empty()
                    && opts.have.iter().any(|h| h.id != d.id)
                {
                    continue;
                }
                // The smallest count that fits is the cheapest; larger counts only add cost.
                let per_node = GPUS_PER_NODE as u32;
                let mut counts: Vec<u32> = (1..=per_node.min(max_n)).collect();
                if entry.segment == "datacenter" {
                    // Whole nodes: 2, 3, 4, 6 and 8 of them.
                    let nodes = [2, 3, 4, 6, 8].into_iter().map(|k| k * per_node);
                    counts.extend(nodes.filter(|&n| n <= max_n));
                }
                for n in counts {
                    let mut set = opts.have.clone();
                    set.extend(std::iter::repeat_n(d.clone(), n as usize));
                    if let Some(p) = fits(&set) {
                        let nodes = n.div_ceil(per_node);
                        let label = if nodes > 1 {
                            have_label(&format!("{} x{n} ({nodes} nodes of {per_node})", d.id))
                        } else {
                            have_label(&format!("{} x{n}", d.id))
                        };
                        push(set, label, nodes, &p);
                        break;
                    }
                }
            }
            DeviceKind::Apple | DeviceKind::Cpu => {
                if engine.gpu_only || !opts.have.is_empty() {
                    continue;
                }
                for d in expand(entry) {
                    if let Some(p) = fits(std::slice::from_ref(&d)) {
                        push(vec![d.clone()], d.id.clone(), 1, &p);
                        break;
                    }
                }
            }
        }
    }
    // Pairs of different consumer cards (llama.cpp splits layers across mixed cards).
    if engine.mixes_cards && opts.have.is_empty() && max_n >= 2 {
        let consumer: Vec<Device> = catalog
            .devices()
            .filter(|e| {
                e.kind == DeviceKind::Gpu
                    && matches!(e.segment.as_str(), "consumer" | "workstation")
            })
            .map(|e| Device::from_entry(e.clone(), None))
            .collect();
        for (i, a) in consumer.iter().enumerate() {
            // One llama.cpp build drives one vendor's cards (CUDA or ROCm), so pairs share a vendor.
            for b in consumer[i + 1..]
                .iter()
                .filter(|b| b.entry.vendor == a.entry.vendor)
            {
                let set = vec![a.clone(), b.clone()];
                if let Some(p) = fits(&set) {
                    push(set, format!("{} + {}", a.id, b.id), 1, &p);
                }
            }
        }
    }

    // Speed for the candidates shown (or all of them when --min-tps filters on it).
    let active = estimate::perf::ActiveBytes::new(model, req.format);
    let decode_of = |c: &Candidate| {
        opts.speed_fit.as_ref().and_then(|f| {
            estimate::perf::speed_with(
                model,
                &active,
                &c.placement,
                &c.set,
                &req,
                512,
                f,
                estimate::perf::DEFAULT_HOST_BANDWIDTH_GB_S,
            )
            .map(|s| (s.decode_tok_s, s.decode_tok_s_at_ctx))
        })
    };
    if let Some(min) = opts.min_tps {
        for c in &mut found {
            (c.decode_tok_s, c.decode_tok_s_at_ctx) = decode_of(c).unzip();
        }
        // At the requested context: the speed the set keeps over a whole conversation.
        found.retain(|c| c.decode_tok_s_at_ctx.is_some_and(|r| r.expected >= min));
    }
    filter_and_rank(&mut found, &req, opts);
    found.truncate(opts.limit);
    let mut ctx_req = req.clone();
    if let Some(c) = ctx_req.llama_cpp_mut() {
        c.n_gpu_layers = None;
    }
    for c in &mut found {
        c.max_context = prepared.max_context(&c.set, &ctx_req);
        if opts.min_tps.is_none() {
            (c.decode_tok_s, c.decode_tok_s_at_ctx) = decode_of(c).unzip();
        }
    }
    flag_slower_supersets(&mut found);
    found
}

/// Flags a set that decodes slower than a listed smaller set made of some of its devices: the
/// added device only costs (layer split: the slower card's layers take longer than they save).
fn flag_slower_supersets(found: &mut [Candidate]) {
    let ids = |c: &Candidate| {
        let mut v = c.devices.clone();
        v.sort();
        v
    };
    let sub_of = |small: &[String], big: &[String]| {
        let mut big = big.to_vec();
        small.len() < big.len()
            && small.iter().all(|d| match big.iter().position(|x| x == d) {
                Some(i) => {
                    big.swap_remove(i);
                    true
                }
                None => false,
            })
    };
    let snapshot: Vec<(Vec<String>, String, Option<f64>)> = found
        .iter()
        .map(|c| (ids(c), c.label.clone(), c.decode_tok_s.map(|r| r.expected)))
        .collect();
    for c in found.iter_mut() {
        let (mine, speed) = (ids(c), c.decode_tok_s.map(|r| r.expected));
        let Some(speed) = speed else { continue };
        for (other, label, s) in &snapshot {
            if let Some(s) = s {
                if sub_of(other, &mine) && *s > speed {
                    c.flags.push(format!(
                        "decodes slower than {label} alone ({speed:.0} vs {s:.0} tok/s expected): the added device only costs"
                    ));
                }
            }
        }
    }
}

/// `rtx-3090 x2, rtx-3060-12gb`.
pub fn summarize(devices: &[Device]) -> String {
    let mut parts: Vec<(String, usize)> = Vec::new();
    for d in devices {
        match parts.last_mut() {
            Some((id, n)) if *id == d.id => *n += 1,
            _ => parts.push((d.id.clone(), 1)),
        }
    }
    parts
        .into_iter()
        .map(|(id, n)| if n > 1 { format!("{id} x{n}") } else { id })
        .collect::<Vec<_>>()
        .join(", ")
}
