//! llama.cpp: whole layers per device (the last `-ngl` layers on the accelerators, filled in
//! order, the output head on the last one), the rest and the input embeddings in host RAM,
//! MoE experts of the first `--n-cpu-moe` layers in host RAM, one process per host.

use super::{
    overhead_of, DeviceUse, Engine, EngineOptions, HostUse, LaunchModel, Layout, Load, ModelView,
    PlaceError, PlaceNote, PlaceRequest, Placement,
};
use crate::arch::TensorRole;
use crate::catalog::{Device, DeviceKind};
use crate::estimate::compute::{self, LlamaCppParams};
use crate::estimate::kv::{self, KvLayer, KvType};
use crate::estimate::weights::{self, WeightFormat};

/// llama-server's settings that change memory.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaCppConfig {
    /// `-ub`.
    pub n_ubatch: u64,
    /// `-fa on|off`.
    pub flash_attn: bool,
    /// `-ngl`; `None` offloads as many layers as fit.
    pub n_gpu_layers: Option<u32>,
    /// `--n-cpu-moe N`: the MoE expert tensors of the first N layers stay in host RAM
    /// (N at or above the layer count: every layer's, `--cpu-moe`). `None` with no `-ngl`
    /// given: chosen with the offload (see [`choose_offload`]); `None` with `-ngl`: none.
    pub n_cpu_moe: Option<u32>,
    /// `--swa-full`.
    pub swa_full: bool,
}

impl Default for LlamaCppConfig {
    fn default() -> Self {
        LlamaCppConfig::from_options(&EngineOptions::default())
    }
}

impl LlamaCppConfig {
    pub fn from_options(o: &EngineOptions) -> LlamaCppConfig {
        LlamaCppConfig {
            n_ubatch: o.n_ubatch,
            flash_attn: o.flash_attn,
            n_gpu_layers: o.n_gpu_layers,
            n_cpu_moe: o.n_cpu_moe,
            swa_full: o.swa_full,
        }
    }
}

/// llama.cpp (and the reference engine, which reads the same files) refuses a vLLM format;
/// llama.cpp has no fp8 cache.
pub(super) fn refuse(
    engine: Engine,
    format: WeightFormat,
    quant: &str,
    kv: KvType,
) -> Option<String> {
    if !format.is_gguf() {
        return Some(format!(
            "--quant {quant} is a vLLM (safetensors) format, but {} reads GGUF files: give a GGUF type (Q4_K_M, Q8_0, ...) or --engine vllm",
            engine.row().called
        ));
    }
    (engine == Engine::LlamaCpp && kv == KvType::Fp8).then(|| {
        "--kv-type fp8 is a vLLM cache type; llama.cpp offers f16, bf16, q8_0, q4_0".to_string()
    })
}

/// Weights by place: per layer the dense and the MoE expert tensors (bytes and largest tensor),
/// the output head, the input embeddings (always host memory in llama.cpp; a tied output head
/// is a second copy on the output device). Independent of the context and of where the experts
/// go, so a `gpus` search or a `max_context` bisection computes it once.
pub struct WeightsByPlace {
    layers: Vec<LayerWeights>,
    output_bytes: u64,
    embd_bytes: u64,
    has_output: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct LayerWeights {
    dense: u64,
    largest_dense: u64,
    experts: u64,
    largest_expert: u64,
}

pub(super) fn weights_by_place(model: &ModelView<'_>, format: WeightFormat) -> WeightsByPlace {
    let n_layer = model.shape.n_layer as usize;
    let mut w = WeightsByPlace {
        layers: vec![LayerWeights::default(); n_layer],
        output_bytes: 0,
        embd_bytes: 0,
        has_output: model
            .inventory
            .tensors
            .iter()
            .any(|t| t.role() == TensorRole::Output),
    };
    for t in &model.inventory.tensors {
        let b = weights::tensor_bytes(format, t);
        match t.layer() {
            Some(il) if il < n_layer => {
                let l = &mut w.layers[il];
                if t.role().is_routed_expert() {
                    l.experts += b;
                    l.largest_expert = l.largest_expert.max(b);
                } else {
                    l.dense += b;
                    l.largest_dense = l.largest_dense.max(b);
                }
            }
            Some(_) => w.output_bytes += b,
            None if t.role() == TensorRole::TokenEmbedding => {
                w.embd_bytes += b;
                if !w.has_output {
                    w.output_bytes += b;
                }
            }
            None => w.output_bytes += b,
        }
    }
    w
}

struct LayerCost {
    /// Weight bytes on the device holding the layer.
    weights: u64,
    kv: u64,
    /// Largest single weight tensor of the layer.
    largest: u64,
    /// Largest tensor of the layer kept in host RAM while the layer is on a device (its experts
    /// under `--n-cpu-moe`).
    host_largest: u64,
}

/// What every candidate layout of one request shares.
struct Setup<'a> {
    model: &'a ModelView<'a>,
    devices: &'a [Device],
    req: &'a PlaceRequest,
    cfg: &'a LlamaCppConfig,
    w: &'a WeightsByPlace,
    kv_layers: Vec<KvLayer>,
    params: LlamaCppParams,
    /// The ubatch's input embeddings and other host-side buffers.
    host_buffers: u64,
}

impl Setup<'_> {
    fn n_layer(&self) -> u32 {
        self.model.shape.n_layer
    }

    /// Compute buffer of a backend holding `layers` (and the output head).
    fn compute(&self, layers: &[u32], holds_output: bool) -> u64 {
        compute::llama_cpp_compute_bytes(self.model.shape, layers, holds_output, &self.params)
    }

    /// Layer costs with the experts of the first `n_cpu_moe` layers in host RAM.
    fn layer_costs(&self, n_cpu_moe: u32) -> Vec<LayerCost> {
        (0..self.n_layer() as usize)
            .map(|il| {
                let lw = self.w.layers[il];
                let experts_on_host = (il as u64) < n_cpu_moe as u64;
                LayerCost {
                    weights: lw.dense + if experts_on_host { 0 } else { lw.experts },
                    kv: self.kv_layers[il].bytes,
                    largest: lw.largest_dense.max(lw.largest_expert),
                    host_largest: if experts_on_host {
                        lw.largest_expert
                    } else {
                        0
                    },
                }
            })
            .collect()
    }

    fn all_experts(&self) -> u64 {
        self.w.layers.iter().map(|l| l.experts).sum()
    }

    /// Everything in one pool (no device, or a CPU-only host): weights with one copy of a
    /// tied embedding, the KV cache, the compute buffer of every layer.
    fn pool(&self) -> [u64; 3] {
        let w = self.w;
        let weights = w.layers.iter().map(|l| l.dense).sum::<u64>()
            + self.all_experts()
            + w.output_bytes
            + w.embd_bytes
            - if w.has_output { 0 } else { w.embd_bytes };
        let kv = self.kv_layers.iter().map(|l| l.bytes).sum();
        let all_layers: Vec<u32> = (0..self.n_layer()).collect();
        [
            weights,
            kv,
            self.compute(&all_layers, true) + self.host_buffers,
        ]
    }
}

pub(super) fn place(
    model: &ModelView<'_>,
    devices: &[Device],
    req: &PlaceRequest,
    cfg: &LlamaCppConfig,
    w: &WeightsByPlace,
) -> Result<Placement, PlaceError> {
    let shape = model.shape;
    if matches!(req.kv_type, KvType::Q8_0 | KvType::Q4_0) && !cfg.flash_attn {
        return Err(PlaceError::QuantizedKvNeedsFlashAttention);
    }
    let kv_type = Engine::LlamaCpp.cache_type(req.kv_type);
    let kv_layers = kv::llama_cpp_layers(
        shape,
        kv_type,
        req.ctx,
        req.parallel,
        cfg.n_ubatch,
        cfg.swa_full,
        // The launch command passes -np: one stream per sequence.
        false,
    )
    .ok_or(PlaceError::KvRow(
        kv_type.name(),
        shape.n_head_kv as u64 * shape.head_dim_k,
    ))?;
    let kv_cells = kv_layers.iter().map(|l| l.cells).max().unwrap_or(0);
    let s = Setup {
        model,
        devices,
        req,
        cfg,
        w,
        kv_layers,
        params: LlamaCppParams::server(kv_cells, req.parallel, cfg.n_ubatch, cfg.flash_attn),
        host_buffers: compute::llama_cpp_host_buffers(shape, req.parallel, cfg.n_ubatch),
    };
    let layers_layout = Layout::Layers {
        n_gpu_layers: 0,
        n_cpu_moe: 0,
    };
    let [weights, kv, compute] = s.pool();
    match devices {
        // No devices: the memory needed, as if on one device.
        [] => Ok(
            Placement::new([weights, kv, compute, 0], vec![], layers_layout)
                .verdict(true, Some(PlaceNote::NoDevice)),
        ),
        // CPU-only host: everything in RAM (weights through mmap's page cache).
        [d] if d.entry.kind == DeviceKind::Cpu => {
            let overhead = compute::CPU_HOST_RESERVE;
            let used = weights + kv + compute + overhead;
            let fits = used <= d.memory_bytes;
            let all_layers: Vec<u32> = (0..shape.n_layer).collect();
            let load = Load {
                usable: d.memory_bytes,
                weights,
                kv,
                compute,
                overhead,
                holds_output: true,
            };
            let dev = DeviceUse::new(d, load, &all_layers);
            Ok(
                Placement::new([weights, kv, compute, overhead], vec![dev], layers_layout)
                    .verdict(fits, (!fits).then_some(PlaceNote::NeedsRam { bytes: used })),
            )
        }
        _ => Ok(offloaded(&s)),
    }
}

/// One candidate layout: `-ngl`, `--n-cpu-moe`, the layer costs under it and the split.
struct Attempt {
    ngl: u32,
    n_cpu_moe: u32,
    layers: Vec<LayerCost>,
    split: Split,
}

fn attempt(s: &Setup<'_>, ngl: u32, n_cpu_moe: u32) -> Attempt {
    let layers = s.layer_costs(n_cpu_moe);
    let split = split_layers(s, &layers, ngl);
    Attempt {
        ngl,
        n_cpu_moe,
        layers,
        split,
    }
}

/// The largest `-ngl` that fits with the experts of the first `n_cpu_moe` layers in host RAM
/// (or the last tried, 0, when none does).
fn by_ngl(s: &Setup<'_>, n_cpu_moe: u32) -> Attempt {
    let mut last = None;
    for ngl in (0..=s.n_layer() + 1).rev() {
        let a = attempt(s, ngl, n_cpu_moe);
        let fits = a.split.fits;
        last = Some(a);
        if fits {
            break;
        }
    }
    last.expect("at least one candidate -ngl")
}

/// The offload: the given `-ngl`/`--n-cpu-moe`, or, with none given, as many layers as fit;
/// for an MoE model whose layers do not all fit, also every layer on the devices with the
/// experts of the first N layers in host RAM (`--n-cpu-moe N`), whichever reads fewer bytes
/// from host RAM per token (decode speed is bound by that share).
fn choose_offload(s: &Setup<'_>, cfg: &LlamaCppConfig) -> Attempt {
    let max_ngl = s.n_layer() + 1;
    match (cfg.n_gpu_layers, cfg.n_cpu_moe) {
        (Some(ngl), n_cpu_moe) => attempt(s, ngl.min(max_ngl), n_cpu_moe.unwrap_or(0)),
        (None, Some(n_cpu_moe)) => by_ngl(s, n_cpu_moe),
        (None, None) => {
            let full = attempt(s, max_ngl, 0);
            if full.split.fits {
                return full;
            }
            match s.model.shape.moe {
                Some(moe) if s.all_experts() > 0 => {
                    let share = |b: u64| b / moe.n_expert.max(1) as u64 * moe.n_expert_used as u64;
                    experts_or_layers(s, share)
                }
                _ => by_ngl(s, 0),
            }
        }
    }
}

/// An MoE model that does not fit whole: the fewest layers whose experts leave for host RAM,
/// or fewer layers on the devices, whichever reads less from host RAM per token (`share`: the
/// active part of a layer's expert bytes).
fn experts_or_layers(s: &Setup<'_>, share: impl Fn(u64) -> u64) -> Attempt {
    let (n_layer, max_ngl) = (s.n_layer(), s.n_layer() + 1);
    let by_layers = by_ngl(s, 0);
    // The fewest layers whose experts must leave (the split is monotone in N).
    let fits_with = |n: u32| attempt(s, max_ngl, n).split.fits;
    let by_experts = fits_with(n_layer).then(|| {
        let (mut lo, mut hi) = (0u32, n_layer);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if fits_with(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        attempt(s, max_ngl, hi)
    });
    let parallel = s.req.parallel.max(1);
    let host_read_by_layers = |ngl: u32| {
        let start = n_layer.saturating_sub(ngl.min(n_layer)) as usize;
        s.w.layers[..start]
            .iter()
            .zip(&s.kv_layers)
            .map(|(l, kv)| l.dense + share(l.experts) + kv.bytes / parallel)
            .sum::<u64>()
            + if ngl <= n_layer { s.w.output_bytes } else { 0 }
    };
    match by_experts {
        Some(e)
            if !by_layers.split.fits
                || s.w.layers[..e.n_cpu_moe as usize]
                    .iter()
                    .map(|l| share(l.experts))
                    .sum::<u64>()
                    <= host_read_by_layers(by_layers.ngl) =>
        {
            e
        }
        _ => by_layers,
    }
}

/// What the chosen layout leaves in host RAM (before the OS reserve), and the expert bytes
/// among it.
fn host_use(s: &Setup<'_>, a: &Attempt) -> (HostUse, u64) {
    let n_layer = s.n_layer();
    let host_experts: u64 = s.w.layers[..(a.n_cpu_moe as usize).min(n_layer as usize)]
        .iter()
        .map(|l| l.experts)
        .sum();
    let gpu_layer_start = n_layer.saturating_sub(a.ngl.min(n_layer));
    let cpu_layers: Vec<u32> = (0..gpu_layer_start).collect();
    let output_on_host = a.ngl <= n_layer;
    let weights = s.w.embd_bytes
        + host_experts
        + cpu_layers
            .iter()
            .map(|&il| a.layers[il as usize].weights)
            .sum::<u64>()
        + if output_on_host { s.w.output_bytes } else { 0 };
    let kv: u64 = cpu_layers.iter().map(|&il| a.layers[il as usize].kv).sum();
    let compute = s.host_buffers
        + if cpu_layers.is_empty() && !output_on_host {
            0
        } else {
            s.compute(&cpu_layers, output_on_host)
        };
    let host = HostUse {
        weights_bytes: weights,
        kv_cache_bytes: kv,
        compute_bytes: compute,
        total_bytes: weights + kv + compute,
        layers: cpu_layers.len() as u32,
        ..HostUse::NONE
    };
    (host, host_experts)
}

/// The note of a placement that fits with weights left in host RAM.
fn offload_note(s: &Setup<'_>, a: &Attempt, host: &HostUse, host_experts: u64) -> PlaceNote {
    PlaceNote::Offloaded {
        weights_bytes: host.weights_bytes - s.w.embd_bytes,
        layers: host.layers,
        expert_layers: if host_experts > 0 {
            a.n_cpu_moe.min(s.n_layer())
        } else {
            0
        },
    }
}

/// Accelerators: the chosen offload, its host share and the totals.
fn offloaded(s: &Setup<'_>) -> Placement {
    let a = choose_offload(s, s.cfg);
    let (host, host_experts) = host_use(s, &a);
    let mut note = a.split.note.clone();
    if a.split.fits && (host.layers > 0 || host_experts > 0) {
        note = Some(offload_note(s, &a, &host, host_experts));
    }
    let devs = a.split.devices;
    let sum = |f: fn(&DeviceUse) -> u64| devs.iter().map(f).sum::<u64>();
    let totals = [
        sum(|d| d.weights_bytes) + host.weights_bytes,
        sum(|d| d.kv_cache_bytes) + host.kv_cache_bytes,
        sum(|d| d.compute_bytes) + host.compute_bytes,
        sum(|d| d.overhead_bytes),
    ];
    // Apple: the CPU-side buffers live in the same unified memory as the GPU share.
    let mut fits = a.split.fits;
    if let Some(apple) = s.devices.iter().find(|d| d.entry.kind == DeviceKind::Apple) {
        let gpu_used = sum(|d| d.used_bytes);
        if gpu_used + host.total_bytes > apple.memory_bytes.saturating_sub(compute::GIB * 4) {
            fits = false;
            note = Some(PlaceNote::UnifiedMemoryExceeded);
        }
    }
    let layout = Layout::Layers {
        n_gpu_layers: a.ngl,
        n_cpu_moe: if host_experts > 0 {
            a.n_cpu_moe.min(s.n_layer())
        } else {
            0
        },
    };
    let mut p = Placement::new(totals, devs, layout).verdict(fits, note);
    p.host = host;
    p
}

struct Split {
    fits: bool,
    note: Option<PlaceNote>,
    devices: Vec<DeviceUse>,
}

/// Fills devices with the last `ngl` layers; the output head (counted as the `n_layer + 1`-th
/// offloadable layer) goes to the last device.
fn split_layers(s: &Setup<'_>, layers: &[LayerCost], ngl: u32) -> Split {
    let n_layer = s.n_layer();
    let gpu_start = n_layer.saturating_sub(ngl.min(n_layer));
    let output_on_gpu = ngl > n_layer;
    let last = s.devices.len() - 1;
    // llama.cpp runs big-batch matmuls of CPU-resident layers on the first GPU, copying one
    // weight tensor at a time into its compute buffer (ggml-backend `op_offload`).
    let staging = (0..n_layer as usize)
        .map(|il| {
            if il < gpu_start as usize {
                layers[il].largest
            } else {
                layers[il].host_largest
            }
        })
        .max()
        .unwrap_or(0);
    let fixed = |i: usize, mine: &[u32]| -> u64 {
        let holds_output = i == last && output_on_gpu;
        s.compute(mine, holds_output)
            + if i == 0 { staging } else { 0 }
            + overhead_of(&s.devices[i])
            + if holds_output { s.w.output_bytes } else { 0 }
    };
    let assigned = assign_layers(s, layers, gpu_start, &fixed);
    device_sums(s, layers, &assigned, output_on_gpu, staging)
}

/// Which layers go to which device. First a split proportional to each device's spare
/// capacity (what llama.cpp's default --tensor-split does with free memory), which balances
/// headroom; if a device overflows, devices filled in order instead. `fixed(i, layers)`: what
/// device `i` holds beside the layers' weights and KV.
fn assign_layers(
    s: &Setup<'_>,
    layers: &[LayerCost],
    gpu_start: u32,
    fixed: &dyn Fn(usize, &[u32]) -> u64,
) -> Vec<Vec<u32>> {
    let devices = s.devices;
    let last = devices.len() - 1;
    let gpu_layers: Vec<u32> = (gpu_start..s.n_layer()).collect();
    let layer_bytes = |l: u32| layers[l as usize].weights + layers[l as usize].kv;
    let mut assigned: Vec<Vec<u32>> = vec![Vec::new(); devices.len()];
    let total: u64 = gpu_layers.iter().map(|&l| layer_bytes(l)).sum();
    let spare: Vec<f64> = (0..devices.len())
        .map(|i| {
            devices[i]
                .usable_bytes
                .saturating_sub(fixed(i, &gpu_layers)) as f64
        })
        .collect();
    let spare_sum: f64 = spare.iter().sum();
    if spare_sum > 0.0 && !gpu_layers.is_empty() {
        let mut acc = 0u64;
        let mut cum = 0.0;
        let bounds: Vec<f64> = spare
            .iter()
            .map(|s| {
                cum += s / spare_sum;
                cum
            })
            .collect();
        for &il in &gpu_layers {
            let mid = (acc as f64 + layer_bytes(il) as f64 / 2.0) / total.max(1) as f64;
            let i = bounds.iter().position(|&b| mid < b).unwrap_or(last);
            assigned[i].push(il);
            acc += layer_bytes(il);
        }
    }
    let overflows = |assigned: &Vec<Vec<u32>>| {
        (0..devices.len()).any(|i| {
            let used: u64 = assigned[i].iter().map(|&l| layer_bytes(l)).sum();
            used + fixed(i, &assigned[i]) > devices[i].usable_bytes
        })
    };
    if gpu_layers.is_empty() || spare_sum <= 0.0 || overflows(&assigned) {
        assigned = vec![Vec::new(); devices.len()];
        let (mut dev, mut used) = (0usize, 0u64);
        for il in gpu_layers {
            let need = layer_bytes(il);
            loop {
                let budget = devices[dev].usable_bytes;
                // The last device takes the rest; the compute buffer (a graph replay) is only
                // worth asking for when the weights and KV alone leave room.
                if dev == last
                    || (used + need <= budget && {
                        let mut with: Vec<u32> = assigned[dev].clone();
                        with.push(il);
                        used + need + fixed(dev, &with) <= budget
                    })
                {
                    assigned[dev].push(il);
                    used += need;
                    break;
                }
                dev += 1;
                used = 0;
            }
        }
    }
    assigned
}

/// Each device's weights, KV cache, compute buffer and overhead for its layers; the verdict
/// names the device shortest of memory.
fn device_sums(
    s: &Setup<'_>,
    layers: &[LayerCost],
    assigned: &[Vec<u32>],
    output_on_gpu: bool,
    staging: u64,
) -> Split {
    let last = s.devices.len() - 1;
    let out: Vec<DeviceUse> = s
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mine = &assigned[i];
            let holds_output = i == last && output_on_gpu;
            let load = Load {
                usable: d.usable_bytes,
                weights: mine
                    .iter()
                    .map(|&l| layers[l as usize].weights)
                    .sum::<u64>()
                    + if holds_output { s.w.output_bytes } else { 0 },
                kv: mine.iter().map(|&l| layers[l as usize].kv).sum(),
                compute: s.compute(mine, holds_output) + if i == 0 { staging } else { 0 },
                overhead: overhead_of(d),
                holds_output,
            };
            DeviceUse::new(d, load, mine)
        })
        .collect();
    let ok = out.iter().all(|u| u.free_bytes >= 0);
    let note = (!ok).then(|| {
        let worst = out
            .iter()
            .min_by_key(|u| u.free_bytes)
            .expect("devices is not empty");
        PlaceNote::DeviceShort {
            id: worst.id.clone(),
            bytes: worst.free_bytes.unsigned_abs(),
        }
    });
    Split {
        fits: ok,
        note,
        devices: out,
    }
}

/// "node2", "node2..node4".
pub(super) fn hosts(first: usize, last: usize) -> String {
    if first == last {
        format!("node{first}")
    } else {
        format!("node{first}..node{last}")
    }
}

/// `llama-server ...`, with `rpc-server` on the other hosts when the devices span several.
pub(super) fn launch_command(
    model: &LaunchModel<'_>,
    req: &PlaceRequest,
    cfg: &LlamaCppConfig,
    p: &Placement,
) -> String {
    let file = model
        .path
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}-{}.gguf", model.id, req.format.name()));
    // More devices than one host holds (over GPUS_PER_NODE GPUs, or several Macs or CPU
    // hosts): the first hosts run `rpc-server` (which serves all of its
    // GPUs) and llama-server, on the last host, puts RPC devices first in its device list
    // (llama.cpp src/llama.cpp: "add RPC servers at the front"), so the tensor split below
    // maps onto them in order.
    let nodes = p.hosts.max(1) as usize;
    let mut cmd = String::new();
    if nodes > 1 {
        cmd += &format!(
            "on {}: rpc-server -H 0.0.0.0 -p 50052; then on node{nodes}: ",
            hosts(1, nodes - 1)
        );
    }
    cmd += &format!(
        "llama-server -m {} -c {} -np {}",
        file,
        req.ctx * req.parallel,
        req.parallel
    );
    if nodes > 1 {
        let rpc: Vec<String> = (1..nodes).map(|i| format!("node{i}:50052")).collect();
        cmd += &format!(" --rpc {}", rpc.join(","));
    }
    if !p.devices.is_empty() {
        cmd += &format!(" -ngl {}", p.n_gpu_layers());
    }
    if p.devices.len() > 1 {
        let split: Vec<String> = p
            .devices
            .iter()
            .map(|d| (d.layers + u32::from(d.holds_output)).to_string())
            .collect();
        cmd += &format!(" --tensor-split {}", split.join(","));
    }
    if req.kv_type != KvType::F16 {
        cmd += &format!(" -ctk {0} -ctv {0}", req.kv_type.name());
    }
    cmd += if cfg.flash_attn {
        " -fa on"
    } else {
        " -fa off"
    };
    let n_cpu_moe = p.n_cpu_moe();
    if n_cpu_moe >= model.n_layer {
        cmd += " --cpu-moe";
    } else if n_cpu_moe > 0 {
        cmd += &format!(" --n-cpu-moe {n_cpu_moe}");
    }
    if cfg.swa_full {
        cmd += " --swa-full";
    }
    if cfg.n_ubatch != 512 {
        cmd += &format!(" -ub {}", cfg.n_ubatch);
    }
    cmd
}
