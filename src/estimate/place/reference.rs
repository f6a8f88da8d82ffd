//! vramplan's reference engine: one process on the CPU, weights read through the memory map
//! (resident once touched), f32 norms copied out, a KV cache of the context padded to 256 cells,
//! its scratch buffers (`compute::reference_buffer_bytes`) and the process itself.

use super::{
    DeviceUse, EngineOptions, LaunchModel, Layout, Load, ModelView, PlaceError, PlaceNote,
    PlaceRequest, Placement,
};
use crate::catalog::{Device, DeviceKind};
use crate::estimate::compute;
use crate::estimate::kv::{self, KvType};
use crate::estimate::weights;

/// `vramplan run`'s settings that change memory.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceConfig {
    /// Tokens per forward pass of the prompt.
    pub n_ubatch: u64,
}

impl ReferenceConfig {
    pub fn from_options(o: &EngineOptions) -> ReferenceConfig {
        ReferenceConfig {
            n_ubatch: o.n_ubatch,
        }
    }
}

pub(super) fn place(
    model: &ModelView<'_>,
    devices: &[Device],
    req: &PlaceRequest,
    cfg: &ReferenceConfig,
) -> Result<Placement, PlaceError> {
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
        cfg.n_ubatch,
        true,
        false,
    )
    .ok_or(PlaceError::KvRow(
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
    let ubatch = cfg.n_ubatch.min(req.ctx);
    let compute =
        compute::reference_buffer_bytes(shape, ubatch, kv_cells) * req.parallel.max(1) + copied_f32;
    let overhead = compute::REFERENCE_PROCESS_OVERHEAD;
    let used = weights + kv_bytes + compute + overhead;
    let (fits, devs) = match devices {
        [] => (true, vec![]),
        [d] if d.entry.kind == DeviceKind::Cpu => {
            let load = Load {
                usable: d.memory_bytes,
                weights,
                kv: kv_bytes,
                compute,
                overhead,
                holds_output: true,
            };
            (
                used <= d.memory_bytes,
                vec![DeviceUse::new(d, load, &all_layers)],
            )
        }
        _ => {
            return Err(PlaceError::NotAGpu(
                "the reference engine runs on the CPU: give no --gpu or one CPU host".into(),
            ))
        }
    };
    let layout = Layout::Layers {
        n_gpu_layers: 0,
        n_cpu_moe: 0,
    };
    let note = devices.is_empty().then_some(PlaceNote::ReferenceResident);
    Ok(Placement::new([weights, kv_bytes, compute, overhead], devs, layout).verdict(fits, note))
}

/// `vramplan run FILE -c CTX -p PROMPT`.
pub(super) fn launch_command(model: &LaunchModel<'_>, req: &PlaceRequest) -> String {
    format!(
        "vramplan run {} -c {} -p PROMPT",
        model
            .path
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}.gguf", model.id)),
        req.ctx
    )
}
