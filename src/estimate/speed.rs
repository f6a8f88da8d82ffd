//! Tokens per second with honest ranges. Decode (batch 1) is memory-bound: every token reads the
//! active weights (dense tensors, the routed experts in use and shared experts; not the input
//! embedding table, of which one row is read) plus the KV cache at the current context, so
//! `time = bytes / (bandwidth x efficiency)`. Prefill is compute-bound: `2 x active params` FLOPs
//! per token plus attention, over dense FP16 tensor throughput x efficiency, or bandwidth-bound
//! when that is slower. Efficiencies are fitted to published llama.cpp and vLLM measurements
//! (`data/speed/measurements.csv`), per device class, as a low/expected/high range.

use serde::Serialize;

use crate::arch::TensorRole;
use crate::arch::{Inventory, ModelShape};
use crate::catalog::{Device, DeviceKind};

/// A range: low, expected and high (for speeds: the fitted efficiency's 90% prediction interval
/// and median applied).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range {
    pub low: f64,
    pub expected: f64,
    pub high: f64,
}

impl Range {
    pub fn scale(self, k: f64) -> Range {
        Range {
            low: self.low * k,
            expected: self.expected * k,
            high: self.high * k,
        }
    }
    /// The reciprocal range (times <-> rates): low and high swap.
    pub fn recip(self) -> Range {
        Range {
            low: 1.0 / self.high,
            expected: 1.0 / self.expected,
            high: 1.0 / self.low,
        }
    }
}

/// Device classes with their own fitted efficiencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    NvidiaGpu,
    /// NVIDIA HBM (datacenter) GPUs: published llama.cpp decode of small models sits far below
    /// their bandwidth roofline (fixed per-token costs on server hosts dominate), unlike the
    /// GeForce and workstation cards.
    NvidiaDatacenter,
    AmdGpu,
    Apple,
    /// Two Max dies joined by UltraFusion: published decode runs reach a visibly lower share of
    /// the nominal bandwidth than single-die chips.
    AppleUltra,
    Cpu,
}

impl DeviceClass {
    pub fn of(d: &Device) -> DeviceClass {
        match d.entry.kind {
            DeviceKind::Apple if d.entry.id.ends_with("-ultra") => DeviceClass::AppleUltra,
            DeviceKind::Apple => DeviceClass::Apple,
            DeviceKind::Cpu => DeviceClass::Cpu,
            DeviceKind::Gpu if d.entry.vendor == "amd" => DeviceClass::AmdGpu,
            DeviceKind::Gpu
                if d.entry
                    .memory_type
                    .as_deref()
                    .is_some_and(|t| t.starts_with("HBM")) =>
            {
                DeviceClass::NvidiaDatacenter
            }
            DeviceKind::Gpu => DeviceClass::NvidiaGpu,
        }
    }
}

/// Bytes one decoded token reads from the weights of `inv` (per tensor: whole dense tensors, the
/// used share of expert tensors, one row of the input embedding).
pub fn active_weight_bytes(
    inv: &Inventory,
    shape: &ModelShape,
    tensor_bytes: impl Fn(&crate::arch::TensorSpec) -> u64,
) -> u64 {
    let has_output = inv.tensors.iter().any(|t| t.role() == TensorRole::Output);
    inv.tensors
        .iter()
        .map(|t| {
            let b = tensor_bytes(t);
            if t.role() == TensorRole::TokenEmbedding {
                // Tied: the output head reads it whole; else one row per token.
                if has_output {
                    b / t.shape.get(1).copied().unwrap_or(1).max(1)
                } else {
                    b
                }
            } else if t.role().is_routed_expert() {
                match shape.moe {
                    Some(m) => b / m.n_expert as u64 * m.n_expert_used as u64,
                    None => b,
                }
            } else {
                b
            }
        })
        .sum()
}

/// Active parameters per token (for FLOPs), from the inventory.
pub fn active_params(inv: &Inventory, shape: &ModelShape) -> u64 {
    active_weight_bytes(inv, shape, |t| t.n_elements())
}

/// FLOPs per prompt token of a `prompt_tokens` prompt: the weights (2 per active parameter) and
/// attention over the prompt so far (half of it on average).
pub fn prefill_flops_per_token(shape: &ModelShape, active_params: u64, prompt_tokens: u64) -> f64 {
    let attn_flops = 4.0
        * shape.n_layer as f64
        * (shape.n_head as f64 * shape.head_dim_k as f64)
        * (prompt_tokens as f64 / 2.0);
    2.0 * active_params as f64 + attn_flops
}

/// Fitted efficiencies for one class: decode bandwidth efficiency and prefill compute efficiency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Efficiency {
    pub decode: Range,
    pub prefill: Range,
    /// Fixed decode cost per token and device (graph launch, synchronisation), seconds: what
    /// keeps small models on fast GPUs far below the bandwidth roofline.
    pub token_s: f64,
    /// Fixed decode cost per layer per token (kernel launches), seconds.
    pub layer_s: f64,
    /// Rows the fit used.
    pub decode_rows: usize,
    pub prefill_rows: usize,
}

/// Decode and prefill speed of one placement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeedEstimate {
    /// Tokens per second for one sequence at an empty context (what llama-bench tg128 and the
    /// llama.cpp scoreboards measure).
    pub decode_tok_s: Range,
    /// Tokens per second for one sequence with the KV cache filled to the requested context.
    pub decode_tok_s_at_ctx: Range,
    /// Prompt tokens per second.
    pub prefill_tok_s: Range,
    /// Seconds to the first token for the prompt length.
    pub ttft_s: Range,
    pub prompt_tokens: u64,
    /// Aggregate decode tokens per second over `parallel` sequences.
    pub aggregate_decode_tok_s: Range,
    pub parallel: u64,
    /// How the estimate was formed, term by term (`report::words::speed_basis` words them).
    pub basis: Vec<BasisTerm>,
    /// The network between nodes, when the plan crosses one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkUse>,
}

/// One term of how a speed estimate was formed: data, worded at the edge
/// (`report::words::speed_basis`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "term", rename_all = "snake_case")]
pub enum BasisTerm {
    /// A device's decode read: bytes per token over its bandwidth, its fitted efficiency and
    /// fixed costs.
    DeviceRead {
        device: String,
        weight_bytes: f64,
        kv_bytes: f64,
        ctx: u64,
        bandwidth_gb_s: f64,
        efficiency: Range,
        fixed_s: f64,
        token_s: f64,
        layers: f64,
        layer_s: f64,
    },
    /// Network hops between nodes (pipeline stages when tensor parallel, else llama.cpp RPC).
    Hops {
        network: NetworkUse,
        tensor_parallel: u32,
        pipeline_parallel: u32,
    },
    /// Tensor-parallel all-reduce cost per token.
    AllReduce {
        tensor_parallel: u32,
        seconds: f64,
        n_layer: u32,
        link_gb_s: f64,
        latency_s: f64,
    },
    /// CPU-resident weights read from host RAM.
    HostRam {
        bytes: f64,
        bandwidth_gb_s: f64,
        efficiency: f64,
    },
    /// Decode at an empty context (llama-bench tg128).
    EmptyContext { tokens: u64, decode_tok_s: f64 },
    /// Prefill: FLOPs per token over FP16 tensor throughput.
    Prefill {
        flops_per_token: f64,
        active_params: u64,
    },
}

/// Bytes and compute placed on one device for the speed model.
#[derive(Debug, Clone)]
pub struct DeviceLoad {
    pub device: Device,
    /// Active weight bytes read per token on this device.
    pub weight_bytes: u64,
    /// Share of the model's layers on this device (for KV reads and FLOPs).
    pub layer_share: f64,
}

/// Interconnect for tensor parallelism: all-reduce bandwidth (GB/s) and latency per all-reduce.
fn link(devices: &[Device]) -> (f64, f64) {
    let nvlink = devices
        .iter()
        .filter_map(|d| d.entry.nvlink_gb_s)
        .fold(f64::INFINITY, f64::min);
    if nvlink.is_finite() && nvlink > 0.0 {
        // NVLink figures are bidirectional totals.
        (nvlink / 2.0, 8e-6)
    } else {
        let gen = devices
            .iter()
            .filter_map(|d| d.entry.pcie_gen)
            .min()
            .unwrap_or(4);
        let lanes = devices
            .iter()
            .filter_map(|d| d.entry.pcie_lanes)
            .min()
            .unwrap_or(16);
        // ~2 GB/s per lane at gen 4, doubling per generation.
        let per_lane = 0.5 * 2f64.powi(gen as i32 - 2);
        (per_lane * lanes as f64, 25e-6)
    }
}

/// Inputs to the speed model beyond the placement.
#[derive(Debug, Clone)]
pub struct SpeedInputs<'a> {
    pub shape: &'a ModelShape,
    /// KV bytes per token summed over layers, in the cache type.
    pub kv_bytes_per_token: u64,
    /// Context at which decode is measured (tokens already in the cache).
    pub ctx: u64,
    pub prompt_tokens: u64,
    pub parallel: u64,
    pub active_params: u64,
    pub tensor_parallel: u32,
    /// Pipeline stages (vLLM across nodes): they run one after the other for one token.
    pub pipeline_parallel: u32,
    /// llama.cpp layer split over several hosts (`rpc-server` + `--rpc`): network hops per
    /// token between them.
    pub rpc_hops: u32,
    /// Host memory serving CPU-resident weights: (bytes per token, bandwidth GB/s).
    pub host: Option<(u64, f64)>,
    /// The network between nodes from `--network`; `None`: the default for the devices
    /// ([`Network::default_for`]).
    pub network: Option<&'a Network>,
}

/// Combines per-device loads into speed ranges. `eff(class)` gives the fitted efficiencies.
pub fn estimate(
    loads: &[DeviceLoad],
    inp: &SpeedInputs<'_>,
    eff: impl Fn(DeviceClass) -> Efficiency,
) -> SpeedEstimate {
    let mut basis = Vec::new();
    let network = network_use(loads, inp);
    let (decode, lines) = decode_at(loads, inp, &eff, inp.ctx, network.as_ref(), true);
    basis.extend(lines);
    // What llama-bench's tg128 measures: 128 tokens generated from an empty cache (64 tokens of
    // context on average). Its basis lines would repeat the ones above: not formed.
    let (decode_empty, _) = decode_at(
        loads,
        inp,
        &eff,
        EMPTY_CONTEXT_TOKENS.min(inp.ctx),
        network.as_ref(),
        false,
    );
    basis.push(BasisTerm::EmptyContext {
        tokens: EMPTY_CONTEXT_TOKENS,
        decode_tok_s: decode_empty.expected,
    });
    let kv_read = inp.kv_bytes_per_token as f64 * inp.ctx as f64;

    let flops_per_token = prefill_flops_per_token(inp.shape, inp.active_params, inp.prompt_tokens);
    let (mut p_low, mut p_exp, mut p_high) = (0.0, 0.0, 0.0);
    for l in loads {
        let e = eff(DeviceClass::of(&l.device)).prefill;
        let peak = l.device.entry.fp16_tflops_for(l.device.memory_bytes) * 1e12;
        let f = flops_per_token * l.layer_share;
        let t = f / peak;
        if inp.tensor_parallel > 1 {
            p_low = f64::max(p_low, t / e.high);
            p_exp = f64::max(p_exp, t / e.expected);
            p_high = f64::max(p_high, t / e.low);
        } else {
            p_low += t / e.high;
            p_exp += t / e.expected;
            p_high += t / e.low;
        }
    }
    if let Some((bytes, _)) = inp.host {
        if bytes > 0 {
            // llama.cpp copies CPU-resident weights to the GPU for big batches: PCIe-bound.
            let t = bytes as f64 / 25e9 / 512.0;
            p_low += t;
            p_exp += t;
            p_high += t;
        }
    }
    // One prompt passes the pipeline stages in sequence too.
    let pp = inp.pipeline_parallel.max(1) as f64;
    let prefill = Range {
        low: 1.0 / (pp * p_high),
        expected: 1.0 / (pp * p_exp),
        high: 1.0 / (pp * p_low),
    };
    basis.push(BasisTerm::Prefill {
        flops_per_token,
        active_params: inp.active_params,
    });
    let ttft = prefill.recip().scale(inp.prompt_tokens as f64);
    // Concurrency: weights are read once per step for all sequences, KV per sequence; capped by
    // compute (2 x active params FLOPs per token).
    let b = inp.parallel.max(1) as f64;
    let weights_time = loads.iter().map(|l| l.weight_bytes as f64).sum::<f64>();
    let kv_time = kv_read;
    let step_scale = (weights_time + b * kv_time) / (weights_time + kv_time);
    let compute_cap = prefill.scale(1.0);
    let agg = Range {
        low: (decode.low * b / step_scale).min(compute_cap.low),
        expected: (decode.expected * b / step_scale).min(compute_cap.expected),
        high: (decode.high * b / step_scale).min(compute_cap.high),
    };
    SpeedEstimate {
        decode_tok_s: decode_empty,
        decode_tok_s_at_ctx: decode,
        prefill_tok_s: prefill,
        ttft_s: ttft,
        prompt_tokens: inp.prompt_tokens,
        aggregate_decode_tok_s: agg,
        parallel: inp.parallel,
        basis,
        network,
    }
}

/// The network a plan's hops cross and one hop's cost, or `None` for a plan on one node.
fn network_use(loads: &[DeviceLoad], inp: &SpeedInputs<'_>) -> Option<NetworkUse> {
    let (hops, rpc) = if inp.tensor_parallel > 1 {
        (inp.pipeline_parallel.max(1) - 1, false)
    } else {
        (inp.rpc_hops, true)
    };
    if hops == 0 {
        return None;
    }
    let (network, source, why) = match inp.network {
        Some(n) => (n.clone(), "--network", "chosen with --network".to_string()),
        None => {
            let devices: Vec<Device> = loads.iter().map(|l| l.device.clone()).collect();
            let (n, why) = Network::default_for(&devices);
            (n, "default", why.to_string())
        }
    };
    let latency = network.latency_us * 1e-6;
    let n_embd = inp.shape.n_embd as f64;
    let hop_s = if rpc {
        // One request/response per remote host; the hidden state travels in f32.
        RPC_OVERHEAD_S + 2.0 * latency + n_embd * 4.0 / (network.bandwidth_gb_s * 1e9)
    } else {
        // One NCCL send/recv of the hidden state (bf16) between stages.
        NCCL_P2P_OVERHEAD_S + latency + n_embd * 2.0 / (network.bandwidth_gb_s * 1e9)
    };
    Some(NetworkUse {
        network,
        source,
        why,
        hops,
        hop_s,
    })
}

/// The network between nodes a plan crosses (a catalogue `[[network]]` entry, as the speed
/// model uses it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// Per link, GB/s (10^9 B/s).
    pub bandwidth_gb_s: f64,
    /// One-way small-message latency of the transport, microseconds.
    pub latency_us: f64,
}

impl Network {
    pub fn from_entry(e: &crate::catalog::NetworkEntry) -> Network {
        Network {
            id: e.id.clone(),
            name: e.name.clone(),
            bandwidth_gb_s: e.bandwidth_gb_s(),
            latency_us: e.latency_us,
        }
    }

    /// Default between servers of datacenter GPUs: hardware.toml's `infiniband-ndr`
    /// (a test holds the two equal).
    pub fn datacenter_default() -> Network {
        Network {
            id: "infiniband-ndr".into(),
            name: "InfiniBand NDR (400 Gb/s)".into(),
            bandwidth_gb_s: 50.0,
            latency_us: 5.0,
        }
    }

    /// Default between other hosts (GeForce and workstation cards, Apple, CPU hosts: llama.cpp
    /// rpc-server between desktops): hardware.toml's `ethernet-10g` (tested equal).
    pub fn host_default() -> Network {
        Network {
            id: "ethernet-10g".into(),
            name: "10 GbE (TCP)".into(),
            bandwidth_gb_s: 1.25,
            latency_us: 30.0,
        }
    }

    /// The default for a set of devices, and why: datacenter GPUs (catalogue segment
    /// `datacenter`) sit in servers on InfiniBand; anything else is a desktop or workstation
    /// on its Ethernet port.
    pub fn default_for(devices: &[Device]) -> (Network, &'static str) {
        if !devices.is_empty() && devices.iter().all(|d| d.entry.segment == "datacenter") {
            (
                Network::datacenter_default(),
                "default between servers of datacenter GPUs",
            )
        } else {
            (
                Network::host_default(),
                "default between desktop and workstation hosts",
            )
        }
    }
}

/// The network a plan's hops cross, with what one hop costs (JSON `network`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkUse {
    #[serde(flatten)]
    pub network: Network,
    /// "--network" (chosen) or "default".
    pub source: &'static str,
    /// Why this network: the default's rule, or the flag.
    pub why: String,
    /// Network hops per token (pipeline stages - 1, or llama.cpp RPC hosts - 1).
    pub hops: u32,
    /// Seconds per hop: the engine's software cost + the network's latency (a round trip for
    /// llama.cpp RPC) + the hidden state over its bandwidth.
    pub hop_s: f64,
}

/// NCCL's own cost of a small send/recv between nodes beyond the network's latency (kernel
/// launch, proxy thread, protocol); an assumption of this order (two-node nccl-tests SendRecv of
/// small messages takes about 30 us in all), named in the basis.
pub const NCCL_P2P_OVERHEAD_S: f64 = 25e-6;

/// llama.cpp RPC's own cost per remote host and token beyond one network round trip
/// (serialising the graph, the remote graph's launch, the TCP stack); an assumption of this
/// order, named in the basis.
pub const RPC_OVERHEAD_S: f64 = 140e-6;

/// GPUs per node (vLLM tensor parallelism stays within one; llama.cpp uses one host per 8).
pub const GPUS_PER_NODE: usize = 8;

/// The hosts a set of devices needs: GPUs `GPUS_PER_NODE` to a server, and each Apple machine
/// or CPU host its own (two Macs are two hosts, joined by llama.cpp RPC).
pub fn host_count(devices: &[Device]) -> u32 {
    let gpus = devices
        .iter()
        .filter(|d| d.entry.kind == DeviceKind::Gpu)
        .count();
    let others = devices.len() - gpus;
    (gpus.div_ceil(GPUS_PER_NODE) + others).max(1) as u32
}

/// Mean context over llama-bench's tg128 run (tokens 0..128 in the cache).
pub const EMPTY_CONTEXT_TOKENS: u64 = 64;

/// The basis term for a plan's network hops (pipeline stages or llama.cpp RPC hosts).
fn hops_basis(n: &NetworkUse, inp: &SpeedInputs<'_>) -> BasisTerm {
    BasisTerm::Hops {
        network: n.clone(),
        tensor_parallel: inp.tensor_parallel,
        pipeline_parallel: inp.pipeline_parallel,
    }
}

/// Decode speed of one sequence with `ctx` tokens in the KV cache, and how it was formed.
fn decode_at(
    loads: &[DeviceLoad],
    inp: &SpeedInputs<'_>,
    eff: &impl Fn(DeviceClass) -> Efficiency,
    ctx: u64,
    network: Option<&NetworkUse>,
    explain: bool,
) -> (Range, Vec<BasisTerm>) {
    let mut basis = Vec::new();
    // Basis terms are formed only when asked for (the empty-context pass repeats them).
    let mut note = |term: BasisTerm| {
        if explain {
            basis.push(term);
        }
    };
    let tp = inp.tensor_parallel.max(1) as f64;
    // Decode: seconds per token at efficiency 1, then scaled by each device's range.
    let mut t_low = 0.0; // the fastest (high efficiency)
    let mut t_exp = 0.0;
    let mut t_high = 0.0;
    let kv_read = inp.kv_bytes_per_token as f64 * ctx as f64;
    let mut per_device = Vec::new();
    let n_layer = inp.shape.n_layer as f64;
    for l in loads {
        let full = eff(DeviceClass::of(&l.device));
        let e = full.decode;
        // Fixed costs: per token on every device (its graph and sync) and per layer it holds
        // (tensor-parallel ranks each run every layer).
        let layers = if inp.tensor_parallel > 1 {
            n_layer / inp.pipeline_parallel.max(1) as f64
        } else {
            n_layer * l.layer_share
        };
        let fixed = full.token_s + layers * full.layer_s;
        let bw = l.device.entry.bandwidth_for(l.device.memory_bytes) * 1e9;
        let bytes = l.weight_bytes as f64 + kv_read * l.layer_share;
        let t = bytes / bw;
        per_device.push((t, e, fixed));
        note(BasisTerm::DeviceRead {
            device: l.device.id.clone(),
            weight_bytes: l.weight_bytes as f64,
            kv_bytes: kv_read * l.layer_share,
            ctx,
            bandwidth_gb_s: l.device.entry.bandwidth_for(l.device.memory_bytes),
            efficiency: e,
            fixed_s: fixed,
            token_s: full.token_s,
            layers,
            layer_s: full.layer_s,
        });
    }
    if inp.tensor_parallel > 1 {
        // Ranks read in parallel: the slowest rank sets the pace.
        let worst =
            per_device
                .iter()
                .cloned()
                .fold((0.0f64, None::<Range>, 0.0f64), |acc, (t, e, f)| {
                    if t > acc.0 {
                        (t, Some(e), f)
                    } else {
                        acc
                    }
                });
        // Pipeline stages hold their share of the layers and work one after the other for a
        // single token: each rank's time counts once per stage.
        let pp = inp.pipeline_parallel.max(1) as f64;
        if let (t, Some(e), f) = worst {
            t_low = pp * (t / e.high + f);
            t_exp = pp * (t / e.expected + f);
            t_high = pp * (t / e.low + f);
        }
        if let Some(n) = network {
            let t_hops = n.hops as f64 * n.hop_s;
            t_low += t_hops;
            t_exp += t_hops;
            t_high += t_hops;
            note(hops_basis(n, inp));
        }
        let devices: Vec<Device> = loads.iter().map(|l| l.device.clone()).collect();
        let (link_gb_s, latency) = link(&devices);
        // Two all-reduces per layer of the hidden state in bf16.
        let bytes = 2.0 * inp.shape.n_embd as f64 * 2.0 * (tp - 1.0) / tp;
        let t_ar = inp.shape.n_layer as f64 * 2.0 * (latency + bytes / (link_gb_s * 1e9));
        t_low += t_ar;
        t_exp += t_ar;
        t_high += t_ar;
        note(BasisTerm::AllReduce {
            tensor_parallel: inp.tensor_parallel,
            seconds: t_ar,
            n_layer: inp.shape.n_layer,
            link_gb_s,
            latency_s: latency,
        });
    } else {
        // Layer split: devices work one after the other.
        for (t, e, f) in &per_device {
            t_low += t / e.high + f;
            t_exp += t / e.expected + f;
            t_high += t / e.low + f;
        }
        if let Some(n) = network {
            let t_hops = n.hops as f64 * n.hop_s;
            t_low += t_hops;
            t_exp += t_hops;
            t_high += t_hops;
            note(hops_basis(n, inp));
        }
    }
    if let Some((bytes, bw)) = inp.host {
        if bytes > 0 {
            let e = eff(DeviceClass::Cpu).decode;
            let t = bytes as f64 / (bw * 1e9);
            t_low += t / e.high;
            t_exp += t / e.expected;
            t_high += t / e.low;
            note(BasisTerm::HostRam {
                bytes: bytes as f64,
                bandwidth_gb_s: bw,
                efficiency: e.expected,
            });
        }
    }
    let decode = Range {
        low: 1.0 / t_high,
        expected: 1.0 / t_exp,
        high: 1.0 / t_low,
    };
    (decode, basis)
}
