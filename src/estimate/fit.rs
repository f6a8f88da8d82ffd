//! Placement of a model on devices and the verdict: per-device accounting for llama.cpp's layer
//! split (mixed cards, partial CPU offload, MoE experts in host RAM), vLLM tensor/pipeline
//! parallelism, Apple unified memory and CPU-only hosts. Memory is never pooled across cards:
//! every device must hold what is placed on it.

use serde::Serialize;

use super::compute::{self, GPU_CONTEXT_OVERHEAD};
use super::kv::{self, KvType};
use super::weights::{self, WeightFormat};
use crate::arch::{Inventory, ModelShape};
use crate::catalog::{Device, DeviceKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    LlamaCpp,
    Vllm,
    /// vramplan's own reference engine (`vramplan run`), on the CPU.
    Vramplan,
}

/// What to fit.
#[derive(Debug, Clone)]
pub struct FitRequest {
    pub format: WeightFormat,
    /// GGUF weights quantized with an importance matrix (changes a few tensor types; always
    /// so for the file types that require one).
    pub imatrix: bool,
    /// Tokens per sequence.
    pub ctx: u64,
    /// Sequences served at once (llama-server `-np`, vLLM concurrent requests).
    pub parallel: u64,
    pub kv_type: KvType,
    pub engine: Engine,
    pub n_ubatch: u64,
    pub flash_attn: bool,
    /// llama.cpp `-ngl`; `None` offloads as many layers as fit.
    pub n_gpu_layers: Option<u32>,
    /// llama.cpp `--n-cpu-moe N`: the MoE expert tensors of the first N layers stay in host RAM
    /// (N at or above the layer count: every layer's, `--cpu-moe`). `None` with no `-ngl`
    /// given: chosen with the offload (see [`place`]); `None` with `-ngl`: none.
    pub n_cpu_moe: Option<u32>,
    pub swa_full: bool,
    pub gpu_memory_utilization: f64,
    pub max_num_batched_tokens: u64,
    /// RAM of the host beside the accelerators; `None`: unknown (the placement states what
    /// the host needs and the verdict covers the devices only).
    pub host_ram_bytes: Option<u64>,
    /// The network between nodes (`--network`); `None`: the default for the devices.
    pub network: Option<super::speed::Network>,
}

impl FitRequest {
    pub fn new(format: WeightFormat, ctx: u64) -> FitRequest {
        FitRequest {
            format,
            imatrix: false,
            ctx,
            parallel: 1,
            kv_type: KvType::F16,
            engine: Engine::LlamaCpp,
            n_ubatch: 512,
            flash_attn: true,
            n_gpu_layers: None,
            n_cpu_moe: None,
            swa_full: false,
            gpu_memory_utilization: 0.9,
            max_num_batched_tokens: 8192,
            host_ram_bytes: None,
            network: None,
        }
    }
}

/// Memory use of one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceUse {
    pub id: String,
    pub name: String,
    pub memory_bytes: u64,
    /// What the accelerator may use (Apple: the GPU share; vLLM: gpu_memory_utilization).
    pub usable_bytes: u64,
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    pub compute_bytes: u64,
    pub overhead_bytes: u64,
    pub used_bytes: u64,
    pub free_bytes: i64,
    /// Number of repeating layers placed here.
    pub layers: u32,
    /// First and last layer index, when any.
    pub layer_range: Option<(u32, u32)>,
    pub holds_output: bool,
}

/// Host RAM needed beside the accelerators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostUse {
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    pub compute_bytes: u64,
    /// What the OS and other processes keep ([`compute::CPU_HOST_RESERVE`]); zero where the
    /// host is not a separate resource (no device, a CPU-only host, Apple unified memory).
    pub overhead_bytes: u64,
    /// Everything above: the host RAM this placement needs.
    pub total_bytes: u64,
    /// Layers left on the CPU.
    pub layers: u32,
    /// The host's RAM, when known (`--ram`, a catalogue host, this machine).
    pub ram_bytes: Option<u64>,
    /// `ram_bytes - total_bytes`, when the RAM is known.
    pub free_bytes: Option<i64>,
}

impl HostUse {
    /// Nothing in host RAM.
    pub const NONE: HostUse = HostUse {
        weights_bytes: 0,
        kv_cache_bytes: 0,
        compute_bytes: 0,
        overhead_bytes: 0,
        total_bytes: 0,
        layers: 0,
        ram_bytes: None,
        free_bytes: None,
    };
}

/// The result of placing a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    pub fits: bool,
    /// Why it does not fit, or what it costs to fit (offload).
    pub note: Option<String>,
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    pub compute_bytes: u64,
    pub overhead_bytes: u64,
    pub total_bytes: u64,
    pub devices: Vec<DeviceUse>,
    pub host: HostUse,
    /// llama.cpp: layers on accelerators (`-ngl`), counting the output head as one.
    pub n_gpu_layers: u32,
    /// llama.cpp: layers whose MoE expert tensors stay in host RAM (`--n-cpu-moe`), counted
    /// from the first layer.
    pub n_cpu_moe: u32,
    /// vLLM tensor- and pipeline-parallel sizes.
    pub tensor_parallel: u32,
    pub pipeline_parallel: u32,
    /// vLLM: sequences of `ctx` tokens the KV pool holds.
    pub max_concurrency: Option<u64>,
    /// Why a device of the set cannot run the weight format with this engine (then `fits` is
    /// false whatever the memory says).
    pub cannot_run: Option<String>,
}

/// The model as the estimator sees it.
pub struct ModelView<'a> {
    pub inventory: &'a Inventory,
    pub shape: &'a ModelShape,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FitError {
    #[error("vLLM tensor parallelism needs identical GPUs, got {0}")]
    MixedDevicesForVllm(String),
    #[error("vLLM runs on GPUs; `{0}` is not one")]
    NotAGpu(String),
    #[error("{0} attention heads cannot be split over {1} tensor-parallel GPUs")]
    HeadsNotDivisible(u32, u32),
    #[error("KV cache type {0} needs row lengths that are a multiple of 32 (got {1})")]
    KvRow(&'static str, u64),
    #[error("llama.cpp cannot use a quantized KV cache type (q8_0/q4_0) without flash attention")]
    QuantizedKvNeedsFlashAttention,
    #[error("context of {0} tokens is too large to size")]
    Overflow(u64),
    #[error("`{0}` is a CPU host: it cannot sit beside an Apple chip, whose memory is the host's")]
    HostBesideApple(String),
    #[error("one host per plan: `{0}` are all CPU hosts")]
    TwoHosts(String),
}

/// Most tokens (context x sequences) the estimator sizes: far beyond any model's context, and
/// small enough that every size product below stays far from u64 overflow (2^32 tokens x 1024
/// heads x 65536 ubatch x 4 bytes < 2^60).
pub const MAX_TOKENS: u64 = 1 << 32;

/// Places the model on `devices` (empty: report what it needs, everything in one pool).
pub fn place(
    model: &ModelView<'_>,
    devices: &[Device],
    req: &FitRequest,
) -> Result<Placement, FitError> {
    if req
        .ctx
        .checked_mul(req.parallel.max(1))
        .is_none_or(|c| c > MAX_TOKENS)
    {
        return Err(FitError::Overflow(req.ctx));
    }
    let p = match req.engine {
        Engine::LlamaCpp => place_llama_cpp(model, devices, req, &weights_by_place(model, req)),
        Engine::Vllm => place_vllm(model, devices, req),
        Engine::Vramplan => place_reference(model, devices, req),
    }?;
    Ok(finish(p, devices, req))
}

/// What every engine's placement goes through: the host's share, then whether the devices
/// run the format at all.
fn finish(p: Placement, devices: &[Device], req: &FitRequest) -> Placement {
    let mut p = super::host::account(p, devices, req);
    if let Some(why) = super::capability::first_refusal(req.engine, req.format, devices) {
        p.fits = false;
        p.note = Some(why.clone());
        p.cannot_run = Some(why);
    }
    p
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

/// Weights by place for llama.cpp: per layer the dense and the MoE expert tensors (bytes and
/// largest tensor), the output head, the input embeddings (always host memory in llama.cpp; a
/// tied output head is a second copy on the output device). Independent of the context and of
/// where the experts go, so a `gpus` search or a `max_context` bisection computes it once.
struct WeightsByPlace {
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

fn weights_by_place(model: &ModelView<'_>, req: &FitRequest) -> WeightsByPlace {
    let n_layer = model.shape.n_layer as usize;
    let mut w = WeightsByPlace {
        layers: vec![LayerWeights::default(); n_layer],
        output_bytes: 0,
        embd_bytes: 0,
        has_output: model
            .inventory
            .tensors
            .iter()
            .any(|t| t.name == "output.weight"),
    };
    for t in &model.inventory.tensors {
        let b = weights::tensor_bytes(req.format, t);
        match t.layer() {
            Some(il) if il < n_layer => {
                let l = &mut w.layers[il];
                if t.name.contains("_exps.") {
                    l.experts += b;
                    l.largest_expert = l.largest_expert.max(b);
                } else {
                    l.dense += b;
                    l.largest_dense = l.largest_dense.max(b);
                }
            }
            Some(_) => w.output_bytes += b,
            None if t.name == "token_embd.weight" => {
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

fn place_llama_cpp(
    model: &ModelView<'_>,
    devices: &[Device],
    req: &FitRequest,
    w: &WeightsByPlace,
) -> Result<Placement, FitError> {
    let shape = model.shape;
    if matches!(req.kv_type, KvType::Q8_0 | KvType::Q4_0) && !req.flash_attn {
        return Err(FitError::QuantizedKvNeedsFlashAttention);
    }
    let kv_type = match req.kv_type {
        KvType::Fp8 => KvType::Q8_0,
        other => other,
    };
    let kv_layers = kv::llama_cpp_layers(
        shape,
        kv_type,
        req.ctx,
        req.parallel,
        req.n_ubatch,
        req.swa_full,
        // The launch command passes -np: one stream per sequence.
        false,
    )
    .ok_or(FitError::KvRow(
        kv_type.name(),
        shape.n_head_kv as u64 * shape.head_dim_k,
    ))?;
    let kv_cells = kv_layers.iter().map(|l| l.cells).max().unwrap_or(0);

    let n_layer = shape.n_layer as usize;
    // Layer costs with the experts of the first `n_cpu_moe` layers in host RAM.
    let layer_costs = |n_cpu_moe: u32| -> Vec<LayerCost> {
        (0..n_layer)
            .map(|il| {
                let lw = w.layers[il];
                let experts_on_host = (il as u64) < n_cpu_moe as u64;
                LayerCost {
                    weights: lw.dense + if experts_on_host { 0 } else { lw.experts },
                    kv: kv_layers[il].bytes,
                    largest: lw.largest_dense.max(lw.largest_expert),
                    host_largest: if experts_on_host {
                        lw.largest_expert
                    } else {
                        0
                    },
                }
            })
            .collect()
    };
    let (output_bytes, embd_bytes, has_output) = (w.output_bytes, w.embd_bytes, w.has_output);
    let all_experts: u64 = w.layers.iter().map(|l| l.experts).sum();
    let host_buffers = compute::llama_cpp_host_buffers(shape, req.parallel, req.n_ubatch);
    let all_layers: Vec<u32> = (0..shape.n_layer).collect();
    // Everything in one pool (no device, or a CPU-only host): one copy of a tied embedding.
    let pool_weights: u64 =
        w.layers.iter().map(|l| l.dense).sum::<u64>() + all_experts + output_bytes + embd_bytes
            - if has_output { 0 } else { embd_bytes };
    let pool_kv: u64 = kv_layers.iter().map(|l| l.bytes).sum();

    // No devices: the memory needed, as if on one device.
    if devices.is_empty() {
        let compute = compute::llama_cpp_compute_bytes(
            shape,
            &all_layers,
            true,
            &compute::LlamaCppParams::server(kv_cells, req.parallel, req.n_ubatch, req.flash_attn),
        ) + host_buffers;
        return Ok(Placement {
            fits: true,
            note: Some("no device given: memory needed".into()),
            weights_bytes: pool_weights,
            kv_cache_bytes: pool_kv,
            compute_bytes: compute,
            overhead_bytes: 0,
            total_bytes: pool_weights + pool_kv + compute,
            devices: vec![],
            host: HostUse::NONE,
            n_gpu_layers: 0,
            n_cpu_moe: 0,
            tensor_parallel: 1,
            pipeline_parallel: 1,
            max_concurrency: None,
            cannot_run: None,
        });
    }

    // CPU-only host: everything in RAM (weights through mmap's page cache).
    if devices.len() == 1 && devices[0].entry.kind == DeviceKind::Cpu {
        let d = &devices[0];
        let compute = compute::llama_cpp_compute_bytes(
            shape,
            &all_layers,
            true,
            &compute::LlamaCppParams::server(kv_cells, req.parallel, req.n_ubatch, req.flash_attn),
        ) + host_buffers;
        let overhead = compute::CPU_HOST_RESERVE;
        let used = pool_weights + pool_kv + compute + overhead;
        let fits = used <= d.memory_bytes;
        return Ok(Placement {
            fits,
            note: (!fits)
                .then(|| format!("needs {} of RAM", crate::units::Bytes(used).display_gb())),
            weights_bytes: pool_weights,
            kv_cache_bytes: pool_kv,
            compute_bytes: compute,
            overhead_bytes: overhead,
            total_bytes: used,
            devices: vec![device_use(
                d,
                d.memory_bytes,
                pool_weights,
                pool_kv,
                compute,
                overhead,
                &all_layers,
                true,
            )],
            host: HostUse::NONE,
            n_gpu_layers: 0,
            n_cpu_moe: 0,
            tensor_parallel: 1,
            pipeline_parallel: 1,
            max_concurrency: None,
            cannot_run: None,
        });
    }

    // Accelerators: the last `ngl` layers go to the devices, filled in order; the output head
    // lives on the last device. With no -ngl given, offload as many layers as fit; for an MoE
    // model whose layers do not all fit, also try keeping every layer on the devices with the
    // experts of the first N layers in host RAM (`--n-cpu-moe N`), and take whichever reads
    // fewer bytes from host RAM per token (decode speed is bound by that share).
    let max_ngl = shape.n_layer + 1;
    let split_at = |ngl: u32, n_cpu_moe: u32| {
        let layers = layer_costs(n_cpu_moe);
        let split = split_layers(model, devices, req, &layers, output_bytes, kv_cells, ngl);
        (ngl, n_cpu_moe, layers, split)
    };
    let by_ngl = |n_cpu_moe: u32| {
        let mut last = None;
        for ngl in (0..=max_ngl).rev() {
            let attempt = split_at(ngl, n_cpu_moe);
            let fits = attempt.3.fits;
            last = Some(attempt);
            if fits {
                break;
            }
        }
        last.expect("at least one candidate -ngl")
    };
    let (ngl, n_cpu_moe, layers, split) = match (req.n_gpu_layers, req.n_cpu_moe) {
        (Some(ngl), n_cpu_moe) => split_at(ngl.min(max_ngl), n_cpu_moe.unwrap_or(0)),
        (None, Some(n_cpu_moe)) => by_ngl(n_cpu_moe),
        (None, None) => {
            let full = split_at(max_ngl, 0);
            match shape.moe {
                Some(moe) if !full.3.fits && all_experts > 0 => {
                    let by_layers = by_ngl(0);
                    // The fewest layers whose experts must leave (the split is monotone in N).
                    let fits_with = |n: u32| split_at(max_ngl, n).3.fits;
                    let by_experts = if fits_with(shape.n_layer) {
                        let (mut lo, mut hi) = (0u32, shape.n_layer);
                        while hi - lo > 1 {
                            let mid = (lo + hi) / 2;
                            if fits_with(mid) {
                                hi = mid;
                            } else {
                                lo = mid;
                            }
                        }
                        Some(split_at(max_ngl, hi))
                    } else {
                        None
                    };
                    let share = |b: u64| b / moe.n_expert.max(1) as u64 * moe.n_expert_used as u64;
                    let host_read_by_layers = |ngl: u32| {
                        let start = shape.n_layer.saturating_sub(ngl.min(shape.n_layer)) as usize;
                        w.layers[..start]
                            .iter()
                            .zip(&kv_layers)
                            .map(|(l, kv)| {
                                l.dense + share(l.experts) + kv.bytes / req.parallel.max(1)
                            })
                            .sum::<u64>()
                            + if ngl <= shape.n_layer {
                                output_bytes
                            } else {
                                0
                            }
                    };
                    match by_experts {
                        Some(e)
                            if !by_layers.3.fits
                                || w.layers[..e.1 as usize]
                                    .iter()
                                    .map(|l| share(l.experts))
                                    .sum::<u64>()
                                    <= host_read_by_layers(by_layers.0) =>
                        {
                            e
                        }
                        _ => by_layers,
                    }
                }
                _ if full.3.fits => full,
                _ => by_ngl(0),
            }
        }
    };
    let host_experts: u64 = w.layers[..(n_cpu_moe as usize).min(n_layer)]
        .iter()
        .map(|l| l.experts)
        .sum();
    let gpu_layer_start = shape.n_layer.saturating_sub(ngl.min(shape.n_layer));
    let cpu_layers: Vec<usize> = (0..gpu_layer_start as usize).collect();
    let host_weights = embd_bytes
        + host_experts
        + cpu_layers.iter().map(|&il| layers[il].weights).sum::<u64>()
        + if ngl <= shape.n_layer {
            output_bytes
        } else {
            0
        };
    let host_kv: u64 = cpu_layers.iter().map(|&il| layers[il].kv).sum();
    let host_compute = host_buffers
        + if cpu_layers.is_empty() && ngl > shape.n_layer {
            0
        } else {
            let cpu: Vec<u32> = cpu_layers.iter().map(|&l| l as u32).collect();
            compute::llama_cpp_compute_bytes(
                shape,
                &cpu,
                ngl <= shape.n_layer,
                &compute::LlamaCppParams::server(
                    kv_cells,
                    req.parallel,
                    req.n_ubatch,
                    req.flash_attn,
                ),
            )
        };
    let host = HostUse {
        weights_bytes: host_weights,
        kv_cache_bytes: host_kv,
        compute_bytes: host_compute,
        total_bytes: host_weights + host_kv + host_compute,
        layers: cpu_layers.len() as u32,
        ..HostUse::NONE
    };
    let mut note = split.note;
    if split.fits && (host.layers > 0 || host_experts > 0) {
        let mut what = Vec::new();
        if host.layers > 0 {
            what.push(format!("{} layers", host.layers));
        }
        if host_experts > 0 {
            what.push(format!(
                "the MoE experts of {} layers",
                n_cpu_moe.min(shape.n_layer)
            ));
        }
        note = Some(format!(
            "{} of weights stay in host RAM ({}): slower decode",
            crate::units::Bytes(host_weights - embd_bytes).display_gb(),
            what.join(" and ")
        ));
    }
    let devs = split.devices;
    let weights_bytes = devs.iter().map(|d| d.weights_bytes).sum::<u64>() + host.weights_bytes;
    let kv_cache_bytes = devs.iter().map(|d| d.kv_cache_bytes).sum::<u64>() + host.kv_cache_bytes;
    let compute_bytes = devs.iter().map(|d| d.compute_bytes).sum::<u64>() + host.compute_bytes;
    let overhead_bytes = devs.iter().map(|d| d.overhead_bytes).sum::<u64>();
    // Apple: the CPU-side buffers live in the same unified memory as the GPU share.
    let mut fits = split.fits;
    if let Some(apple) = devices.iter().find(|d| d.entry.kind == DeviceKind::Apple) {
        let gpu_used: u64 = devs.iter().map(|d| d.used_bytes).sum();
        if gpu_used + host.total_bytes > apple.memory_bytes.saturating_sub(compute::GIB * 4) {
            fits = false;
            note = Some("GPU share and CPU-side buffers together exceed unified memory".into());
        }
    }
    Ok(Placement {
        fits,
        note,
        weights_bytes,
        kv_cache_bytes,
        compute_bytes,
        overhead_bytes,
        total_bytes: weights_bytes + kv_cache_bytes + compute_bytes + overhead_bytes,
        devices: devs,
        host,
        n_gpu_layers: ngl,
        n_cpu_moe: if host_experts > 0 {
            n_cpu_moe.min(shape.n_layer)
        } else {
            0
        },
        tensor_parallel: 1,
        pipeline_parallel: 1,
        max_concurrency: None,
        cannot_run: None,
    })
}

struct Split {
    fits: bool,
    note: Option<String>,
    devices: Vec<DeviceUse>,
}

#[allow(clippy::too_many_arguments)]
fn device_use(
    d: &Device,
    usable: u64,
    weights: u64,
    kv: u64,
    compute: u64,
    overhead: u64,
    layers: &[u32],
    holds_output: bool,
) -> DeviceUse {
    let used = weights + kv + compute + overhead;
    DeviceUse {
        id: d.id.clone(),
        name: d.name.clone(),
        memory_bytes: d.memory_bytes,
        usable_bytes: usable,
        weights_bytes: weights,
        kv_cache_bytes: kv,
        compute_bytes: compute,
        overhead_bytes: overhead,
        used_bytes: used,
        free_bytes: usable as i64 - used as i64,
        layers: layers.len() as u32,
        layer_range: layers.first().zip(layers.last()).map(|(a, b)| (*a, *b)),
        holds_output,
    }
}

fn overhead_of(d: &Device) -> u64 {
    match d.entry.kind {
        DeviceKind::Gpu => GPU_CONTEXT_OVERHEAD,
        DeviceKind::Apple | DeviceKind::Cpu => 0,
    }
}

/// Fills devices in order with the last `ngl` layers; the output head (counted as the
/// `n_layer + 1`-th offloadable layer) goes to the last device.
fn split_layers(
    model: &ModelView<'_>,
    devices: &[Device],
    req: &FitRequest,
    layers: &[LayerCost],
    output_bytes: u64,
    kv_cells: u64,
    ngl: u32,
) -> Split {
    let shape = model.shape;
    let n_layer = shape.n_layer;
    let gpu_start = n_layer.saturating_sub(ngl.min(n_layer));
    let output_on_gpu = ngl > n_layer;
    let mut assigned: Vec<Vec<u32>> = vec![Vec::new(); devices.len()];
    let mut dev = 0usize;
    let mut ok = true;
    let last = devices.len() - 1;
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
    let fixed = |i: usize, mine: &[u32], extra_layer: Option<u32>| -> u64 {
        let mut ls: Vec<u32> = mine.to_vec();
        ls.extend(extra_layer);
        let holds_output = i == last && output_on_gpu;
        let compute = compute::llama_cpp_compute_bytes(
            shape,
            &ls,
            holds_output,
            &compute::LlamaCppParams::server(kv_cells, req.parallel, req.n_ubatch, req.flash_attn),
        ) + if i == 0 { staging } else { 0 };
        compute + overhead_of(&devices[i]) + if holds_output { output_bytes } else { 0 }
    };
    // First try a split proportional to each device's spare capacity (what llama.cpp's default
    // --tensor-split does with free memory), which balances headroom; if a device overflows,
    // fill devices in order instead.
    let gpu_layers: Vec<u32> = (gpu_start..n_layer).collect();
    let layer_bytes = |l: u32| layers[l as usize].weights + layers[l as usize].kv;
    let total: u64 = gpu_layers.iter().map(|&l| layer_bytes(l)).sum();
    let spare: Vec<f64> = (0..devices.len())
        .map(|i| {
            devices[i]
                .usable_bytes
                .saturating_sub(fixed(i, &gpu_layers, None)) as f64
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
            used + fixed(i, &assigned[i], None) > devices[i].usable_bytes
        })
    };
    if gpu_layers.is_empty() || spare_sum <= 0.0 || overflows(&assigned) {
        assigned = vec![Vec::new(); devices.len()];
        let mut used = 0u64;
        for il in gpu_start..n_layer {
            let need = layer_bytes(il);
            loop {
                let budget = devices[dev].usable_bytes;
                // The last device takes the rest; the compute buffer (a graph replay) is only
                // worth asking for when the weights and KV alone leave room.
                if dev == last
                    || (used + need <= budget
                        && used + need + fixed(dev, &assigned[dev], Some(il)) <= budget)
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
    let mut out = Vec::new();
    for (i, d) in devices.iter().enumerate() {
        let mine = &assigned[i];
        let holds_output = i == last && output_on_gpu;
        let weights: u64 = mine
            .iter()
            .map(|&l| layers[l as usize].weights)
            .sum::<u64>()
            + if holds_output { output_bytes } else { 0 };
        let kv: u64 = mine.iter().map(|&l| layers[l as usize].kv).sum();
        let compute = compute::llama_cpp_compute_bytes(
            shape,
            mine,
            holds_output,
            &compute::LlamaCppParams::server(kv_cells, req.parallel, req.n_ubatch, req.flash_attn),
        ) + if i == 0 { staging } else { 0 };
        let u = device_use(
            d,
            d.usable_bytes,
            weights,
            kv,
            compute,
            overhead_of(d),
            mine,
            holds_output,
        );
        if u.free_bytes < 0 {
            ok = false;
        }
        out.push(u);
    }
    let note = (!ok).then(|| {
        let worst = out
            .iter()
            .min_by_key(|u| u.free_bytes)
            .expect("devices is not empty");
        format!(
            "{} is short by {}",
            worst.id,
            crate::units::Bytes((-worst.free_bytes) as u64).display_gb()
        )
    });
    Split {
        fits: ok,
        note,
        devices: out,
    }
}

fn place_vllm(
    model: &ModelView<'_>,
    devices: &[Device],
    req: &FitRequest,
) -> Result<Placement, FitError> {
    let shape = model.shape;
    let first = match devices.first() {
        Some(d) => d,
        None => {
            // Memory needed on one GPU at 100% utilization.
            let w = weights::total_bytes(req.format, model.inventory);
            let kv = kv::vllm_bytes_per_sequence(shape, req.kv_type, req.ctx, 1)
                .ok_or(FitError::KvRow(req.kv_type.name(), shape.head_dim_k))?
                * req.parallel.max(1);
            let act = compute::vllm_activation_bytes(shape, req.max_num_batched_tokens, 1);
            let ovh = compute::VLLM_CUDA_GRAPHS + compute::VLLM_NON_TORCH;
            return Ok(Placement {
                fits: true,
                note: Some("no device given: memory needed".into()),
                weights_bytes: w,
                kv_cache_bytes: kv,
                compute_bytes: act,
                overhead_bytes: ovh,
                total_bytes: w + kv + act + ovh,
                devices: vec![],
                host: HostUse::NONE,
                n_gpu_layers: 0,
                n_cpu_moe: 0,
                tensor_parallel: 1,
                pipeline_parallel: 1,
                max_concurrency: None,
                cannot_run: None,
            });
        }
    };
    if let Some(d) = devices.iter().find(|d| d.entry.kind != DeviceKind::Gpu) {
        return Err(FitError::NotAGpu(d.id.clone()));
    }
    if devices.iter().any(|d| d.id != first.id) {
        let ids: Vec<&str> = devices.iter().map(|d| d.id.as_str()).collect();
        return Err(FitError::MixedDevicesForVllm(ids.join(", ")));
    }
    let n = devices.len() as u32;
    // Tensor parallel within a node of up to 8 GPUs, pipeline parallel across nodes.
    let tp = n.min(8);
    let pp = n.div_ceil(tp);
    if shape.n_head % tp != 0 {
        return Err(FitError::HeadsNotDivisible(shape.n_head, tp));
    }
    let ranks = (tp * pp) as u64;
    let weights_total = weights::total_bytes(req.format, model.inventory);
    let w = weights_total.div_ceil(ranks);
    let kv_seq_total = kv::vllm_bytes_per_sequence(shape, req.kv_type, req.ctx, tp)
        .ok_or(FitError::KvRow(req.kv_type.name(), shape.head_dim_k))?;
    let kv_seq = kv_seq_total.div_ceil(pp as u64);
    let act = compute::vllm_activation_bytes(shape, req.max_num_batched_tokens, tp);
    let ovh = compute::VLLM_CUDA_GRAPHS + compute::VLLM_NON_TORCH;
    let budget = (first.memory_bytes as f64 * req.gpu_memory_utilization) as u64;
    let pool = budget as i64 - (w + act + ovh) as i64;
    let needed = kv_seq * req.parallel.max(1);
    let fits = pool >= needed as i64;
    let max_concurrency = if pool > 0 && kv_seq > 0 {
        Some(pool as u64 / kv_seq)
    } else {
        Some(0)
    };
    let per_layer_share = shape.n_layer.div_ceil(pp);
    let devs: Vec<DeviceUse> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let stage = i as u32 / tp;
            let lo = stage * per_layer_share;
            let hi = ((stage + 1) * per_layer_share).min(shape.n_layer);
            let ls: Vec<u32> = (lo..hi).collect();
            // vLLM pre-allocates the whole KV pool; report the part the request needs.
            device_use(d, budget, w, needed, act, ovh, &ls, stage == pp - 1)
        })
        .collect();
    let note = if fits {
        None
    } else if pool <= 0 {
        Some(format!(
            "weights and activations leave no KV pool (short by {} per GPU)",
            crate::units::Bytes((-pool) as u64).display_gb()
        ))
    } else {
        Some(format!(
            "KV pool holds {} of the {} sequences",
            max_concurrency.unwrap_or(0),
            req.parallel
        ))
    };
    Ok(Placement {
        fits,
        note,
        weights_bytes: weights_total,
        kv_cache_bytes: needed * ranks,
        compute_bytes: act * ranks,
        overhead_bytes: ovh * ranks,
        total_bytes: weights_total + (needed + act + ovh) * ranks,
        devices: devs,
        host: HostUse::NONE,
        n_gpu_layers: 0,
        n_cpu_moe: 0,
        tensor_parallel: tp,
        pipeline_parallel: pp,
        max_concurrency,
        cannot_run: None,
    })
}

/// vramplan's reference engine: one process on the CPU, weights read through the memory map
/// (resident once touched), f32 norms copied out, a KV cache of the context padded to 256 cells,
/// its scratch buffers (`compute::reference_buffer_bytes`) and the process itself.
fn place_reference(
    model: &ModelView<'_>,
    devices: &[Device],
    req: &FitRequest,
) -> Result<Placement, FitError> {
    let shape = model.shape;
    let kv_type = match req.kv_type {
        KvType::F16 | KvType::Bf16 => KvType::F16,
        _ => KvType::Q8_0,
    };
    let kv_layers = kv::llama_cpp_layers(
        shape,
        kv_type,
        req.ctx,
        req.parallel,
        req.n_ubatch,
        true,
        false,
    )
    .ok_or(FitError::KvRow(
        kv_type.name(),
        shape.n_head_kv as u64 * shape.head_dim_k,
    ))?;
    let kv_cells = kv_layers.iter().map(|l| l.cells).max().unwrap_or(0);
    let kv_bytes: u64 = kv_layers.iter().map(|l| l.bytes).sum();
    let weights: u64 = model
        .inventory
        .tensors
        .iter()
        .map(|t| weights::tensor_bytes(req.format, t))
        .sum();
    let copied_f32: u64 = model
        .inventory
        .tensors
        .iter()
        .filter(|t| t.shape.len() == 1)
        .map(|t| t.n_elements() * 4)
        .sum();
    let all_layers: Vec<u32> = (0..shape.n_layer).collect();
    let ubatch = req.n_ubatch.min(req.ctx);
    let compute =
        compute::reference_buffer_bytes(shape, ubatch, kv_cells) * req.parallel.max(1) + copied_f32;
    let overhead = compute::REFERENCE_PROCESS_OVERHEAD;
    let used = weights + kv_bytes + compute + overhead;
    let (fits, devs) = match devices {
        [] => (true, vec![]),
        [d] if d.entry.kind == DeviceKind::Cpu => (
            used <= d.memory_bytes,
            vec![device_use(
                d,
                d.memory_bytes,
                weights,
                kv_bytes,
                compute,
                overhead,
                &all_layers,
                true,
            )],
        ),
        _ => {
            return Err(FitError::NotAGpu(
                "the reference engine runs on the CPU: give no --gpu or one CPU host".into(),
            ))
        }
    };
    Ok(Placement {
        fits,
        note: devices
            .is_empty()
            .then(|| "resident memory of `vramplan run` at this context".into()),
        weights_bytes: weights,
        kv_cache_bytes: kv_bytes,
        compute_bytes: compute,
        overhead_bytes: overhead,
        total_bytes: used,
        devices: devs,
        host: HostUse::NONE,
        n_gpu_layers: 0,
        n_cpu_moe: 0,
        tensor_parallel: 1,
        pipeline_parallel: 1,
        max_concurrency: None,
        cannot_run: None,
    })
}

/// The largest context per sequence (up to the model's maximum) at which the placement fits
/// entirely on the accelerators, or `None` when even 256 tokens do not.
pub fn max_context(model: &ModelView<'_>, devices: &[Device], req: &FitRequest) -> Option<u64> {
    Prepared::new(model, req).max_context(devices, req)
}

/// The context-independent part of a placement (which weight bytes go where), computed once for
/// many placements of one model and format: a `gpus` search, a max-context bisection.
pub struct Prepared<'m, 'a> {
    model: &'m ModelView<'a>,
    format: WeightFormat,
    weights: Option<WeightsByPlace>,
}

impl<'m, 'a> Prepared<'m, 'a> {
    pub fn new(model: &'m ModelView<'a>, req: &FitRequest) -> Self {
        Prepared {
            model,
            format: req.format,
            weights: (req.engine == Engine::LlamaCpp).then(|| weights_by_place(model, req)),
        }
    }

    /// [`place`] for a request of the same model and format.
    pub fn place(&self, devices: &[Device], req: &FitRequest) -> Result<Placement, FitError> {
        match &self.weights {
            Some(w)
                if req.engine == Engine::LlamaCpp
                    && req.format == self.format
                    && req
                        .ctx
                        .checked_mul(req.parallel.max(1))
                        .is_some_and(|c| c <= MAX_TOKENS) =>
            {
                place_llama_cpp(self.model, devices, req, w).map(|p| finish(p, devices, req))
            }
            _ => place(self.model, devices, req),
        }
    }

    /// [`max_context`] for a request of the same model and format.
    pub fn max_context(&self, devices: &[Device], req: &FitRequest) -> Option<u64> {
        max_context_with(self.model, devices, req, |r| self.place(devices, r))
    }
}

fn max_context_with(
    model: &ModelView<'_>,
    devices: &[Device],
    req: &FitRequest,
    place_at: impl Fn(&FitRequest) -> Result<Placement, FitError>,
) -> Option<u64> {
    // Without -ngl, "fits" means every layer and the output head on the accelerators: ask for
    // exactly that placement instead of letting `place` try every smaller -ngl first.
    let mut base = req.clone();
    if !devices.is_empty() && base.n_gpu_layers.is_none() {
        base.n_gpu_layers = Some(model.shape.n_layer + 1);
    }
    let fits_at = |ctx: u64| {
        let mut r = base.clone();
        r.ctx = ctx;
        place_at(&r).is_ok_and(|p| p.fits)
    };
    let cap = model.shape.max_context.max(256);
    if !fits_at(256) {
        return None;
    }
    if fits_at(cap) {
        return Some(cap);
    }
    let (mut lo, mut hi) = (256u64, cap);
    while hi - lo > 256 {
        let mid = (lo + hi) / 2 / 256 * 256;
        let mid = mid.max(lo + 256);
        if fits_at(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}
