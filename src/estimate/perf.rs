//! From a placement to the speed model's inputs: which active bytes each device reads per token.

use super::calibration::Fit;
use super::fit::{Engine, FitRequest, ModelView, Placement};
use super::kv;
use super::speed::{self, DeviceLoad, SpeedEstimate, SpeedInputs};
use super::weights;
use crate::catalog::Device;

/// Host memory bandwidth assumed for CPU-resident layers when no host device is given: dual-channel
/// DDR5-5600 (89.6 GB/s), the common desktop of 2024-2026.
pub const DEFAULT_HOST_BANDWIDTH_GB_S: f64 = 89.6;

/// Speed of `placement` on `devices` for `req`, with efficiencies from `fit`.
pub fn speed(
    model: &ModelView<'_>,
    placement: &Placement,
    devices: &[Device],
    req: &FitRequest,
    prompt_tokens: u64,
    fit: &Fit,
    host_bandwidth_gb_s: f64,
) -> Option<SpeedEstimate> {
    if devices.is_empty() {
        return None;
    }
    let shape = model.shape;
    let n_layer = shape.n_layer;
    let bytes_of = |t: &crate::arch::TensorSpec| weights::tensor_bytes(req.format, t);
    // Active bytes per tensor, assigned to layers (None = outside the repeating layers).
    let active = |t: &crate::arch::TensorSpec| -> u64 {
        let one = crate::arch::Inventory {
            tensors: vec![t.clone()],
        };
        let has_output = model
            .inventory
            .tensors
            .iter()
            .any(|x| x.name == "output.weight");
        if t.name == "token_embd.weight" && !has_output {
            return bytes_of(t); // tied: the output head reads it whole
        }
        speed::active_weight_bytes(&one, shape, bytes_of)
    };
    let has_output = model
        .inventory
        .tensors
        .iter()
        .any(|x| x.name == "output.weight");
    let kv_type = match (req.engine, req.kv_type) {
        (Engine::LlamaCpp, kv::KvType::Fp8) => kv::KvType::Q8_0,
        (_, k) => k,
    };
    let kv_per_token = kv::bytes_per_token(shape, kv_type).unwrap_or(0);
    let tp = placement.tensor_parallel.max(1);
    let mut loads = Vec::new();
    let mut host_bytes = 0u64;
    match req.engine {
        Engine::Vllm => {
            let total: u64 = model.inventory.tensors.iter().map(active).sum();
            let ranks = (tp * placement.pipeline_parallel.max(1)) as u64;
            for d in devices {
                loads.push(DeviceLoad {
                    device: d.clone(),
                    weight_bytes: total / ranks,
                    layer_share: 1.0 / ranks as f64,
                });
            }
        }
        Engine::LlamaCpp => {
            for (i, u) in placement.devices.iter().enumerate() {
                let range = u.layer_range;
                let w: u64 = model
                    .inventory
                    .tensors
                    .iter()
                    .filter(|t| match (t.layer(), range) {
                        (Some(l), Some((a, b))) => {
                            (a as usize..=b as usize).contains(&l)
                                && !(req.cpu_moe && t.name.contains("_exps."))
                        }
                        (None, _) => {
                            // The output head (and a tied embedding, which it reads whole).
                            u.holds_output && (t.name != "token_embd.weight" || !has_output)
                        }
                        _ => false,
                    })
                    .map(active)
                    .sum();
                loads.push(DeviceLoad {
                    device: devices[i].clone(),
                    weight_bytes: w,
                    layer_share: u.layers as f64 / n_layer as f64,
                });
            }
            let on_devices: u32 = placement.devices.iter().map(|u| u.layers).sum();
            host_bytes = model
                .inventory
                .tensors
                .iter()
                .filter(|t| match t.layer() {
                    Some(l) => {
                        (l as u32) < n_layer - on_devices
                            || (req.cpu_moe && t.name.contains("_exps."))
                    }
                    None => false,
                })
                .map(active)
                .sum();
        }
    }
    let inputs = SpeedInputs {
        shape,
        kv_bytes_per_token: kv_per_token,
        ctx: req.ctx,
        prompt_tokens,
        parallel: req.parallel,
        active_params: speed::active_params(model.inventory, shape),
        tensor_parallel: if req.engine == Engine::Vllm { tp } else { 1 },
        host: (host_bytes > 0).then_some((host_bytes, host_bandwidth_gb_s)),
    };
    let engine = match req.engine {
        Engine::LlamaCpp => "llama.cpp",
        Engine::Vllm => "vllm",
    };
    Some(speed::estimate(&loads, &inputs, |c| {
        fit.efficiency(engine, c)
    }))
}
