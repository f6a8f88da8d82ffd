//! From a command's arguments to a placement request and the machine it is planned on
//! (shared by fit, gpus, cost, quants and validate).

use anyhow::Result;
use vramplan::catalog::{Catalog, Device, DeviceKind};
use vramplan::estimate::calibration::Calibration;
use vramplan::estimate::host::{has_separate_host, split_host};
use vramplan::estimate::{self, Engine, EngineOptions, KvType, PlaceRequest};
use vramplan::plan::request;

use super::args::{parse_devices, parse_ram, parse_tokens};
use super::{bad_input, model_input};
use crate::cli::EstimateArgs;

/// The warning for a context beyond what the model was trained on (catalogue `max_context`,
/// a GGUF's `context_length`, a config's `max_position_embeddings`).
pub fn context_warning(model: &model_input::ModelInput, ctx: u64) -> Option<String> {
    let max = model.shape.max_context;
    (ctx > max).then(|| {
        format!(
            "--ctx {ctx} is above {}'s trained context of {max} tokens: beyond it the model needs RoPE scaling (YaRN) and quality drops",
            model.id
        )
    })
}

/// The request `args` ask for: strings parsed here, the engine's checks in
/// [`vramplan::plan::request`].
pub fn build_request(args: &EstimateArgs) -> Result<PlaceRequest> {
    let engine = args.engine;
    // The default format follows the engine: what each one loads without being told.
    let quant = args.quant.as_deref().unwrap_or(engine.row().default_quant);
    let format = model_input::parse_quant(quant)?;
    let ctx = parse_tokens(&args.ctx, "--ctx")?;
    let kv_type = KvType::parse(&args.kv_type).ok_or_else(|| {
        bad_input(format!(
            "unknown --kv-type `{}` (f16, bf16, q8_0, q4_0, fp8)",
            args.kv_type
        ))
    })?;
    if let Some(bw) = args.host_bandwidth {
        if !(bw.is_finite() && bw > 0.0) {
            return Err(bad_input(format!(
                "--host-bandwidth must be a positive GB/s figure, got {bw}"
            )));
        }
    }
    let ask = request::Ask {
        engine,
        format,
        quant: quant.to_string(),
        imatrix: args.imatrix,
        ctx,
        kv_type,
        parallel: args.parallel,
        options: EngineOptions {
            n_ubatch: args.ubatch,
            flash_attn: !args.no_flash_attn,
            swa_full: args.swa_full,
            gpu_memory_utilization: args.gpu_util,
            ..EngineOptions::default()
        },
    };
    request::build(&ask).map_err(|e| bad_input(e.to_string()))
}

/// [`build_request`] for a resolved model: a GGUF file fixes the format, so a `--quant` of
/// another type, or an engine that does not load GGUF files, contradicts it.
pub fn request_for(model: &model_input::ModelInput, args: &EstimateArgs) -> Result<PlaceRequest> {
    let mut req = build_request(args)?;
    if let Some(f) = model.fixed_format() {
        if !req.engine().row().reads_gguf {
            return Err(bad_input(format!(
                "{} is a GGUF file: plan it with --engine llama.cpp, or give the model's catalogue id or config.json for vLLM",
                model.id
            )));
        }
        if let Some(q) = &args.quant {
            if model_input::parse_quant(q).ok() != Some(f) {
                return Err(bad_input(format!(
                    "--quant {q} contradicts {}, whose weights are {}: drop --quant (a GGUF file is planned as it is)",
                    model.id,
                    f.name()
                )));
            }
        }
        req.format = f;
    }
    Ok(req)
}

/// The devices to plan on and the host they sit in.
pub struct Machine {
    /// What layers are placed on (a CPU-only host is its own device).
    pub devices: Vec<Device>,
    /// The catalogue CPU host listed beside GPUs in --gpu.
    pub host: Option<Device>,
    /// RAM of the host beside the GPUs, when known.
    pub ram_bytes: Option<u64>,
    /// Where `ram_bytes` comes from: "--ram", "this machine", "catalogue host ID".
    pub ram_source: Option<String>,
    pub detected_note: Option<String>,
    /// Planning for this machine (no --gpu).
    pub local: bool,
    /// Planning for this machine: what `validate` / `detect --measure` measured here.
    pub measured: Option<vramplan::hw::host_cache::HostMeasurement>,
}

impl Machine {
    /// The host-RAM line of a speed basis names its bandwidth as assumed when nothing gave it
    /// (no --host-bandwidth, no catalogue host, not this machine measured).
    pub fn say_assumed_host_bandwidth(
        &self,
        mut basis: Vec<String>,
        flag: Option<f64>,
    ) -> Vec<String> {
        if flag.is_none() && self.host.is_none() && self.measured.is_none() {
            for line in basis.iter_mut().filter(|l| l.starts_with("host RAM:")) {
                line.push_str(" (bandwidth assumed: dual-channel DDR5-5600; --host-bandwidth or a catalogue CPU host in --gpu gives the host's)");
            }
        }
        basis
    }

    /// For a plan of this machine: the CPU decode efficiency measured here (when `validate`
    /// measured one) in place of the fitted CPU class's, and which figures the plan used.
    pub fn local_fit(
        &self,
        fit: Calibration,
        bandwidth_flag: Option<f64>,
        engine: Engine,
    ) -> (Calibration, Option<estimate::host::LocalHostFigures>) {
        if !self.local {
            return (fit, None);
        }
        let m = self.measured.as_ref();
        // The measured prefill efficiency is vramplan's engine's, which prefills 1.1-2x faster
        // than llama.cpp on the same CPU: only its own plans take it.
        let prefill = m
            .and_then(|m| m.prefill_efficiency)
            .filter(|_| engine == Engine::Reference);
        let fit = match prefill {
            Some(e) => fit.with_measured_cpu_prefill(e),
            None => fit,
        };
        let (fit, eff_basis, eff_detail) = match m.and_then(|m| m.decode_efficiency) {
            Some(e) => (
                fit.with_measured_cpu_decode(e),
                "measured",
                format!(
                    "decode efficiency {e:.2} measured by validate ({}, vramplan's engine)",
                    m.and_then(|m| m.decode_efficiency_model.as_deref())
                        .unwrap_or("model not recorded")
                ),
            ),
            None => (
                fit,
                "fitted",
                "decode efficiency fitted to published llama.cpp CPU rows (`vramplan validate` measures it here)".to_string(),
            ),
        };
        let eff = fit
            .efficiency(Engine::LlamaCpp, estimate::speed::DeviceClass::Cpu)
            .decode
            .expected;
        let bandwidth_gb_s = self.host_bandwidth(bandwidth_flag);
        let (bandwidth_basis, bw_detail) = match (bandwidth_flag, m) {
            (Some(_), _) => (
                "--host-bandwidth",
                "given with --host-bandwidth".to_string(),
            ),
            (None, Some(m)) => (
                "measured",
                format!("measured {} ({} threads)", m.date, m.threads),
            ),
            (None, None) => (
                "assumed",
                "assumed (dual-channel DDR5 desktop; `vramplan detect --measure` measures it)"
                    .to_string(),
            ),
        };
        let figures = estimate::host::LocalHostFigures {
            bandwidth_gb_s,
            bandwidth_basis,
            decode_efficiency: eff,
            decode_efficiency_basis: eff_basis,
            detail: format!(
                "this machine: memory bandwidth {} GB/s {bw_detail}; {eff_detail}{}",
                vramplan::report::sig(bandwidth_gb_s, 3),
                prefill.map_or(String::new(), |e| format!(
                    "; prefill efficiency {e:.2} of the FP32 peak measured by validate (vramplan's engine)"
                ))
            ),
        };
        (fit, Some(figures))
    }

    /// Bandwidth serving CPU-resident layers: --host-bandwidth, else the listed catalogue
    /// host's, else (planning for this machine) its measured bandwidth, else the default
    /// desktop's.
    pub fn host_bandwidth(&self, flag: Option<f64>) -> f64 {
        flag.or(self.host.as_ref().map(|h| h.entry.bandwidth_gb_s))
            .or(self.measured.as_ref().map(|m| m.memory_read_gb_s))
            .unwrap_or(estimate::perf::DEFAULT_HOST_BANDWIDTH_GB_S)
    }
}

/// The network from `--network` (a catalogue `[[network]]` id or name); `None`: the speed
/// model's default for the devices.
pub fn network(catalog: &Catalog, flag: Option<&str>) -> Result<Option<estimate::speed::Network>> {
    flag.map(|q| {
        catalog
            .network(q)
            .map(estimate::speed::Network::from_entry)
            .map_err(|e| {
                let ids: Vec<&str> = catalog.networks().map(|n| n.id.as_str()).collect();
                bad_input(format!("--network: {e} (networks: {})", ids.join(", ")))
            })
    })
    .transpose()
}

/// Devices from --gpu (or this machine's without it) and the host's RAM: a catalogue CPU host
/// listed beside GPUs is the host; else --ram; else this machine's RAM.
pub fn machine(catalog: &Catalog, gpu: Option<&str>, ram: Option<&str>) -> Result<Machine> {
    let ram_flag = ram.map(|r| parse_ram(r, "--ram")).transpose()?;
    let this_machine = || {
        let d = vramplan::hw::detect(catalog);
        (d.ram_bytes > 0).then_some(d.ram_bytes)
    };
    match gpu {
        Some(s) => {
            let all = parse_devices(catalog, s)?;
            let (devices, host) = split_host(&all).map_err(|e| bad_input(e.to_string()))?;
            if let (Some(r), Some(d)) = (
                &ram,
                devices.iter().find(|d| d.entry.kind != DeviceKind::Gpu),
            ) {
                return Err(bad_input(format!(
                    "--ram {r} is for a host beside GPUs; `{}` carries its own memory (pick its memory option instead)",
                    d.id
                )));
            }
            let (ram_bytes, ram_source) = match (&host, ram_flag) {
                (Some(h), Some(_)) => {
                    return Err(bad_input(format!(
                        "--ram and the CPU host `{}` in --gpu both give the host's RAM: keep one",
                        h.id
                    )))
                }
                (Some(h), None) => (
                    Some(h.memory_bytes),
                    Some(format!("catalogue host {}", h.id)),
                ),
                (None, Some(r)) => (Some(r), Some("--ram".to_string())),
                (None, None) if has_separate_host(&devices) => {
                    let r = this_machine();
                    (r, r.map(|_| "this machine".to_string()))
                }
                (None, None) => (None, None),
            };
            Ok(Machine {
                devices,
                host,
                ram_bytes,
                ram_source,
                detected_note: None,
                local: false,
                measured: None,
            })
        }
        None => {
            // Without --gpu: this machine's accelerators, when they are in the catalogue.
            let detected = vramplan::hw::detect(catalog);
            let mut found = detected.devices(catalog);
            let mut detected_note = None;
            if !found.is_empty() {
                if let ([cpu], Some(r)) = (found.as_mut_slice(), ram_flag) {
                    if cpu.entry.kind == DeviceKind::Cpu {
                        // --ram plans this machine with another amount of RAM.
                        cpu.memory_bytes = r;
                        cpu.usable_bytes = r;
                        cpu.entry.memory_bytes = r;
                    }
                }
                let what = match found.as_slice() {
                    [host] if host.entry.kind == DeviceKind::Cpu => {
                        format!("no GPU; {}", host.name)
                    }
                    _ => vramplan::plan::summarize(&found),
                };
                detected_note = Some(format!("detected on this machine: {what}"));
            }
            let (ram_bytes, ram_source) = match ram_flag {
                Some(r) => (Some(r), Some("--ram".to_string())),
                None if detected.ram_bytes > 0 => {
                    (Some(detected.ram_bytes), Some("this machine".to_string()))
                }
                None => (None, None),
            };
            Ok(Machine {
                devices: found,
                host: None,
                ram_bytes,
                ram_source,
                detected_note,
                local: true,
                measured: detected.measured.clone(),
            })
        }
    }
}
