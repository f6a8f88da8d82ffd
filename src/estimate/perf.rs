//! From a placement to the speed model's inputs: which active bytes each device reads per token.

use super::calibration::Calibration;
use super::kv;
use super::place::{Layout, ModelView, PlaceRequest, Placement};
use super::speed::{self, DeviceLoad, SpeedEstimate, SpeedInputs};
use super::weights;
use crate::arch::TensorRole;
use crate::catalog::Device;

/// Host memory bandwidth assumed for CPU-resident layers when no host device is given: dual-channel
/// DDR5-5600 (89.6 GB/s), the common desktop of 2024-2026.
pub const DEFAULT_HOST_BANDWIDTH_GB_S: f64 = 89.6;

/// Active weight bytes a token reads, per layer, for one model and weight format: one pass over
/// the inventory, shared by every placement of that model (a `gpus` search prices hundreds).
#[derive(Debug, Clone)]
pub struct ActiveBytes {
    /// Dense tensors whole, the used share of expert tensors, per layer.
    layer_active: Vec<u64>,
    /// Of which expert tensors (what `--n-cpu-moe` leaves on the host).
    layer_experts: Vec<u64>,
    /// The output head (with a tied embedding, which it reads whole; an untied input embedding
    /// reads one row) and other tensors outside the layers.
    head: u64,
    /// Active parameters per token (for FLOPs).
    active_params: u64,
}

impl ActiveBytes {
    pub fn new(model: &ModelView<'_>, format: weights::WeightFormat) -> ActiveBytes {
        let shape = model.shape;
        let n_layer = shape.n_layer as usize;
        let has_output = model
            .inventory
            .tensors
            .iter()
            .any(|x| x.role() == TensorRole::Output);
        let mut layer_active = vec![0u64; n_layer];
        let mut layer_experts = vec![0u64; n_layer];
        let mut head = 0u64;
        for t in &model.inventory.tensors {
            let b = weights::tensor_bytes(format, t);
            let is_exps = t.role().is_routed_expert();
            let a = match shape.moe {
                Some(m) if is_exps => b / m.n_expert as u64 * m.n_expert_used as u64,
                _ => b,
            };
            match t.layer() {
                Some(l) if l < n_layer => {
                    layer_active[l] += a;
                    if is_exps {
                        layer_experts[l] += a;
                    }
                }
                _ if t.role() == TensorRole::TokenEmbedding => {
                    head += if has_output {
                        b / t.shape.get(1).copied().unwrap_or(1).max(1)
                    } else {
                        b
                    };
                }
                _ => head += a,
            }
        }
        ActiveBytes {
            layer_active,
            layer_experts,
            head,
            active_params: speed::active_params(model.inventory, shape),
        }
    }
}

/// Speed of `placement` on `devices` for `req`, with efficiencies from `fit`.
pub fn speed(
    model: &ModelView<'_>,
    placement: &Placement,
    devices: &[Device],
    req: &PlaceRequest,
    prompt_tokens: u64,
    fit: &Calibration,
    host_bandwidth_gb_s: f64,
) -> Option<SpeedEstimate> {
    let active = ActiveBytes::new(model, req.format);
    speed_with(
        model,
        &active,
        placement,
        devices,
        req,
        prompt_tokens,
        fit,
        host_bandwidth_gb_s,
    )
}

/// [`speed`] with the model's [`ActiveBytes`] computed once (for `req.format`).
#[allow(clippy::too_many_arguments)]
pub fn speed_with(
    model: &ModelView<'_>,
    active: &ActiveBytes,
    placement: &Placement,
    devices: &[Device],
    req: &PlaceRequest,
    prompt_tokens: u64,
    fit: &Calibration,
    host_bandwidth_gb_s: f64,
) -> Option<SpeedEstimate> {
    if devices.is_empty() {
        return None;
    }
    let shape = model.shape;
    let n_layer = shape.n_layer;
    let (layer_active, layer_experts, head) =
        (&active.layer_active, &active.layer_experts, active.head);
    let engine = req.engine();
    let kv_type = engine.cache_type(req.kv_type);
    let kv_per_token = kv::bytes_per_token(shape, kv_type).unwrap_or(0);
    let tp = placement.tensor_parallel().max(1);
    let mut loads = Vec::new();
    let mut host_bytes = 0u64;
    match placement.layout {
        Layout::Sharded { .. } => {
            let total: u64 = layer_active.iter().sum::<u64>() + head;
            let ranks = (tp * placement.pipeline_parallel().max(1)) as u64;
            for d in devices {
                loads.push(DeviceLoad {
                    device: d.clone(),
                    weight_bytes: total / ranks,
                    layer_share: 1.0 / ranks as f64,
                });
            }
        }
        Layout::Layers { n_cpu_moe, .. } => {
            for (i, u) in placement.devices.iter().enumerate() {
                let mut w: u64 = match u.layer_range {
                    Some((a, b)) => (a..=b)
                        .map(|l| {
                            let l = l as usize;
                            layer_active[l]
                                - if l < n_cpu_moe as usize {
                                    layer_experts[l]
                                } else {
                                    0
                                }
                        })
                        .sum(),
                    None => 0,
                };
                if u.holds_output {
                    w += head;
                }
                loads.push(DeviceLoad {
                    device: devices[i].clone(),
                    weight_bytes: w,
                    layer_share: u.layers as f64 / n_layer as f64,
                });
            }
            let on_devices: u32 = placement.devices.iter().map(|u| u.layers).sum();
            let first_gpu_layer = (n_layer - on_devices.min(n_layer)) as usize;
            let experts_on_host = (n_cpu_moe as usize).min(n_layer as usize);
            host_bytes = layer_active[..first_gpu_layer].iter().sum::<u64>()
                + layer_experts[first_gpu_layer.min(experts_on_host)..experts_on_host]
                    .iter()
                    .sum::<u64>()
                + if placement.devices.iter().any(|u| u.holds_output) {
                    0
                } else {
                    head
                }
                // The CPU-resident layers' KV cache is read from host RAM too.
                + kv_per_token.saturating_mul(req.ctx) / n_layer.max(1) as u64
                    * first_gpu_layer as u64;
        }
    }
    let inputs = SpeedInputs {
        shape,
        kv_bytes_per_token: kv_per_token,
        ctx: req.ctx,
        prompt_tokens,
        parallel: req.parallel,
        active_params: active.active_params,
        tensor_parallel: tp,
        pipeline_parallel: placement.pipeline_parallel().max(1),
        // A layer split spans hosts over RPC (llama.cpp; the reference engine has one device).
        rpc_hops: match placement.layout {
            Layout::Layers { .. } => placement.hosts.saturating_sub(1),
            Layout::Sharded { .. } => 0,
        },
        host: (host_bytes > 0).then_some((host_bytes, host_bandwidth_gb_s)),
        network: req.network.as_ref(),
    };
    Some(speed::estimate(&loads, &inputs, |c| {
        fit.efficiency(engine, c)
    }))
}
