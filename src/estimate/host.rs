//! The host beside the accelerators as a resource: what a placement leaves in its RAM (weights
//! and KV cache of CPU-resident layers, CPU compute buffers, the OS reserve) against what it
//! has. A GPU placement fits only when the host holds its share too.

use super::compute::CPU_HOST_RESERVE;
use super::place::{PlaceError, PlaceNote, PlaceRequest, Placement};
use crate::catalog::{Device, DeviceKind};

/// Splits a device list into the accelerators and the host: a catalogue CPU host listed beside
/// GPUs *is* the host (its RAM and bandwidth), not one more device to place layers on. A CPU
/// host alone stays the device (CPU-only inference). Two hosts in one list are an error.
pub fn split_host(devices: &[Device]) -> Result<(Vec<Device>, Option<Device>), PlaceError> {
    let hosts: Vec<&Device> = devices
        .iter()
        .filter(|d| d.entry.kind == DeviceKind::Cpu)
        .collect();
    if hosts.len() == devices.len() && hosts.len() <= 1 {
        return Ok((devices.to_vec(), None));
    }
    match hosts.as_slice() {
        [] => Ok((devices.to_vec(), None)),
        [h] => {
            if devices.iter().any(|d| d.entry.kind == DeviceKind::Apple) {
                return Err(PlaceError::HostBesideApple(h.id.clone()));
            }
            let gpus = devices
                .iter()
                .filter(|d| d.entry.kind != DeviceKind::Cpu)
                .cloned()
                .collect();
            Ok((gpus, Some((*h).clone())))
        }
        many => Err(PlaceError::TwoHosts(
            many.iter()
                .map(|d| d.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

/// Whether the devices leave the host as a separate resource: discrete GPUs beside a CPU host.
/// (No device: memory needed; a CPU-only host is itself the device; Apple memory is unified
/// and its placement checks the CPU side already.)
pub fn has_separate_host(devices: &[Device]) -> bool {
    !devices.is_empty() && devices.iter().all(|d| d.entry.kind == DeviceKind::Gpu)
}

/// Completes `p` with the OS reserve and, when the request knows the host's RAM, the host's
/// verdict: a placement whose host share does not fit does not fit, and its note names the
/// shortfall.
pub fn account(mut p: Placement, devices: &[Device], req: &PlaceRequest) -> Placement {
    if !has_separate_host(devices) {
        return p;
    }
    // The reserve counts in the plan's totals like any device's overhead (as it does for a
    // CPU-only host), so the totals stay the sum of the rows.
    p.overhead_bytes += CPU_HOST_RESERVE;
    p.total_bytes += CPU_HOST_RESERVE;
    let h = &mut p.host;
    h.overhead_bytes = CPU_HOST_RESERVE;
    h.total_bytes = h.weights_bytes + h.kv_cache_bytes + h.compute_bytes + h.overhead_bytes;
    if let Some(ram) = req.host_ram_bytes {
        let free = ram as i64 - h.total_bytes as i64;
        h.ram_bytes = Some(ram);
        h.free_bytes = Some(free);
        if free < 0 {
            let short = PlaceNote::HostRamShort {
                short_bytes: free.unsigned_abs(),
                needs_bytes: h.total_bytes,
                ram_bytes: ram,
            };
            // The devices' own shortfall (when any) first.
            if p.fits {
                p.notes.insert(0, short);
            } else {
                p.notes.push(short);
            }
            p.fits = false;
        }
    }
    p
}

/// Which figures a plan for this machine used for its host (JSON `local_host`): its memory
/// bandwidth and the CPU decode efficiency, each measured here or assumed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LocalHostFigures {
    pub bandwidth_gb_s: f64,
    /// "measured" (`validate` / `detect --measure`, cached) or "assumed".
    pub bandwidth_basis: &'static str,
    /// The CPU decode efficiency's expected value the plan used.
    pub decode_efficiency: f64,
    /// "measured" (the last `validate` here) or "fitted" (published llama.cpp CPU rows).
    pub decode_efficiency_basis: &'static str,
    /// For people: where each figure comes from.
    pub detail: String,
}
