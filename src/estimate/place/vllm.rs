//! vLLM: every weight matrix sharded over the GPUs of a node (tensor parallel), nodes
//! in a pipeline; the KV pool is what `--gpu-memory-utilization` leaves after weights,
//! activations and CUDA graphs.

use super::llama_cpp::hosts;
use super::{
    DeviceUse, EngineOptions, LaunchModel, Layout, Load, ModelView, PlaceError, PlaceNote,
    PlaceRequest, Placement,
};
use crate::catalog::{Device, DeviceKind};
use crate::estimate::compute;
use crate::estimate::kv::{self, KvType};
use crate::estimate::speed::GPUS_PER_NODE;
use crate::estimate::weights::{self, WeightFormat};
use crate::ggml::FileType;

/// `vllm serve`'s settings that change memory.
#[derive(Debug, Clone, PartialEq)]
pub struct VllmConfig {
    /// `--gpu-memory-utilization`.
    pub gpu_memory_utilization: f64,
    /// `--max-num-batched-tokens` (its default of 8192 sizes the activations).
    pub max_num_batched_tokens: u64,
}

impl VllmConfig {
    pub fn from_options(o: &EngineOptions) -> VllmConfig {
        VllmConfig {
            gpu_memory_utilization: o.gpu_memory_utilization,
            max_num_batched_tokens: 8192,
        }
    }
}

/// vLLM caches in f16/bf16 or fp8 and loads GGUF only as unquantized weights.
pub(super) fn refuse(format: WeightFormat, quant: &str, kv: KvType) -> Option<String> {
    if matches!(kv, KvType::Q8_0 | KvType::Q4_0) {
        return Some("vLLM caches in f16/bf16 or fp8, not q8_0/q4_0".into());
    }
    (format.is_gguf()
        && !matches!(
            format,
            WeightFormat::Gguf(FileType::BF16 | FileType::F16)
        ))
    .then(|| {
        format!(
            "--quant {quant} is a GGUF (llama.cpp) type; for --engine vllm give --quant bf16, awq, gptq, fp8, nf4 or int8"
        )
    })
}

pub(super) fn place(
    model: &ModelView<'_>,
    devices: &[Device],
    req: &PlaceRequest,
    cfg: &VllmConfig,
) -> Result<Placement, PlaceError> {
    let shape = model.shape;
    let kv_row = || PlaceError::KvRow(req.kv_type.name(), shape.head_dim_k);
    let Some(first) = devices.first() else {
        // Memory needed on one GPU at 100% utilization.
        let w = weights::total_bytes(req.format, model.inventory);
        let kv = kv::vllm_bytes_per_sequence(shape, req.kv_type, req.ctx, 1).ok_or_else(kv_row)?
            * req.parallel.max(1);
        let act = compute::vllm_activation_bytes(shape, cfg.max_num_batched_tokens, 1);
        let ovh = compute::VLLM_CUDA_GRAPHS + compute::VLLM_NON_TORCH;
        let layout = Layout::Sharded {
            tensor_parallel: 1,
            pipeline_parallel: 1,
            max_concurrency: None,
        };
        return Ok(Placement::new([w, kv, act, ovh], vec![], layout)
            .verdict(true, Some(PlaceNote::NoDevice)));
    };
    if let Some(d) = devices.iter().find(|d| d.entry.kind != DeviceKind::Gpu) {
        return Err(PlaceError::NotAGpu(d.id.clone()));
    }
    if devices.iter().any(|d| d.id != first.id) {
        let ids: Vec<&str> = devices.iter().map(|d| d.id.as_str()).collect();
        return Err(PlaceError::MixedDevicesForVllm(ids.join(", ")));
    }
    let n = devices.len() as u32;
    // Tensor parallel within a node, pipeline parallel across nodes.
    let tp = n.min(GPUS_PER_NODE as u32);
    let pp = n.div_ceil(tp);
    if !shape.n_head.is_multiple_of(tp) {
        return Err(PlaceError::HeadsNotDivisible(shape.n_head, tp));
    }
    let ranks = (tp * pp) as u64;
    let weights_total = weights::total_bytes(req.format, model.inventory);
    let w = weights_total.div_ceil(ranks);
    let kv_seq_total =
        kv::vllm_bytes_per_sequence(shape, req.kv_type, req.ctx, tp).ok_or_else(kv_row)?;
    let kv_seq = kv_seq_total.div_ceil(pp as u64);
    let act = compute::vllm_activation_bytes(shape, cfg.max_num_batched_tokens, tp);
    let ovh = compute::VLLM_CUDA_GRAPHS + compute::VLLM_NON_TORCH;
    let budget = (first.memory_bytes as f64 * cfg.gpu_memory_utilization) as u64;
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
            let load = Load {
                usable: budget,
                weights: w,
                kv: needed,
                compute: act,
                overhead: ovh,
                holds_output: stage == pp - 1,
            };
            DeviceUse::new(d, load, &ls)
        })
        .collect();
    let note = if fits {
        None
    } else if pool <= 0 {
        Some(PlaceNote::NoKvPool {
            bytes: pool.unsigned_abs(),
        })
    } else {
        Some(PlaceNote::KvPoolShort {
            holds: max_concurrency.unwrap_or(0),
            sequences: req.parallel,
        })
    };
    let layout = Layout::Sharded {
        tensor_parallel: tp,
        pipeline_parallel: pp,
        max_concurrency,
    };
    let totals = [weights_total, needed * ranks, act * ranks, ovh * ranks];
    Ok(Placement::new(totals, devs, layout).verdict(fits, note))
}

/// `vllm serve ...`, behind a Ray cluster when the pipeline spans nodes.
pub(super) fn launch_command(
    model: &LaunchModel<'_>,
    req: &PlaceRequest,
    cfg: &VllmConfig,
    p: &Placement,
) -> String {
    let repo = model
        .hf_repo
        .clone()
        .unwrap_or_else(|| model.id.to_string());
    let (tp, pp) = (p.tensor_parallel(), p.pipeline_parallel());
    let mut cmd = String::new();
    if pp > 1 {
        // vLLM spans nodes through a Ray cluster (docs: "Distributed inference and serving",
        // multi-node).
        cmd += &format!(
            "on node1: ray start --head --port 6379; on {}: ray start --address node1:6379; then on node1: ",
            hosts(2, pp as usize)
        );
    }
    cmd += &format!(
        "vllm serve {repo} --tensor-parallel-size {tp} --max-model-len {} --gpu-memory-utilization {}",
        req.ctx, cfg.gpu_memory_utilization
    );
    if pp > 1 {
        cmd += &format!(" --pipeline-parallel-size {pp} --distributed-executor-backend ray");
    }
    if req.kv_type == KvType::Fp8 {
        cmd += " --kv-cache-dtype fp8";
    }
    if req.format == WeightFormat::Gguf(FileType::F16) {
        cmd += " --dtype half";
    }
    match req.format {
        WeightFormat::AwqInt4 => cmd += " --quantization awq",
        WeightFormat::GptqInt4 => cmd += " --quantization gptq",
        WeightFormat::Fp8 => cmd += " --quantization fp8",
        WeightFormat::BnbNf4 | WeightFormat::BnbInt8 => cmd += " --quantization bitsandbytes",
        _ => {}
    }
    if req.parallel > 1 {
        cmd += &format!(" --max-num-seqs {}", req.parallel);
    }
    cmd
}
