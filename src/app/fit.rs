//! `vramplan fit MODEL --quant Q --ctx N [--gpu ID[xN],...]`: per-device memory, verdict, the
//! largest context that fits and the launch command.

use anyhow::Result;
use serde::Serialize;
use vramplan::estimate::calibration::Fit;
use vramplan::estimate::speed::Range;
use vramplan::estimate::{self, Engine, FitRequest, KvType, ModelView, Placement, WeightFormat};
use vramplan::report::{gb, table, tone, Tone};
use vramplan::units::Bytes;

use vramplan::catalog::{Catalog, Device, DeviceKind};
use vramplan::estimate::host::{has_separate_host, split_host};

use super::args::{parse_devices, parse_ram, parse_tokens};
use super::{bad_input, model_input};
use crate::cli::{EstimateArgs, FitArgs, Global};

#[derive(Serialize)]
struct FitReport {
    model: String,
    quant: String,
    /// Tensor types as llama-quantize gives them with an importance matrix.
    imatrix: bool,
    engine: Engine,
    ctx: u64,
    parallel: u64,
    kv_type: KvType,
    weights_bytes: u64,
    kv_cache_bytes: u64,
    compute_bytes: u64,
    overhead_bytes: u64,
    total_bytes: u64,
    fits: bool,
    note: Option<String>,
    /// Why a device of the set cannot run the format with this engine.
    cannot_run: Option<String>,
    max_context: Option<u64>,
    /// The context the model was trained for (the cap of `max_context`).
    model_max_context: Option<u64>,
    devices: Vec<estimate::DeviceUse>,
    host: estimate::HostUse,
    /// Where the host's RAM figure comes from: "--ram", "this machine", "catalogue host ID".
    host_ram_source: Option<String>,
    n_gpu_layers: u32,
    /// Layers whose MoE experts stay in host RAM (llama.cpp --n-cpu-moe).
    n_cpu_moe: u32,
    tensor_parallel: u32,
    pipeline_parallel: u32,
    max_concurrency: Option<u64>,
    launch_command: Option<String>,
    prompt_tokens: u64,
    /// One sequence at an empty context (llama-bench tg128).
    decode_tok_s: Option<Range>,
    /// One sequence with the KV cache filled to `ctx`.
    decode_tok_s_at_ctx: Option<Range>,
    prefill_tok_s: Option<Range>,
    ttft_s: Option<Range>,
    aggregate_decode_tok_s: Option<Range>,
    speed_basis: Vec<String>,
    /// Planning for this machine with figures measured here: which bandwidth and CPU decode
    /// efficiency the plan used, measured or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    local_host: Option<estimate::host::LocalHostFigures>,
    /// The network between nodes a multi-node plan's speed counts, and why that one.
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<estimate::speed::NetworkUse>,
    /// Inputs the plan honours but that the model or the hardware does not stand behind (a
    /// context beyond the trained one, ...).
    warnings: Vec<String>,
}

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

pub fn build_request(args: &EstimateArgs) -> Result<FitRequest> {
    let engine = match args.engine.as_str() {
        "llama.cpp" | "llama-cpp" | "llamacpp" | "llama" => Engine::LlamaCpp,
        "vllm" => Engine::Vllm,
        "vramplan" | "reference" => Engine::Vramplan,
        other => {
            return Err(bad_input(format!(
                "unknown --engine `{other}` (llama.cpp, vllm or vramplan)"
            )))
        }
    };
    // The default format follows the engine: what each one loads without being told.
    let quant = args.quant.as_deref().unwrap_or(match engine {
        Engine::Vllm => "bf16",
        Engine::LlamaCpp | Engine::Vramplan => "Q4_K_M",
    });
    let format = model_input::parse_quant(quant)?;
    if engine != Engine::Vllm && !format.is_gguf() {
        return Err(bad_input(format!(
            "--quant {quant} is a vLLM (safetensors) format, but {} reads GGUF files: give a GGUF type (Q4_K_M, Q8_0, ...) or --engine vllm",
            if engine == Engine::LlamaCpp { "llama.cpp" } else { "the vramplan engine" }
        )));
    }
    let mut req = FitRequest::new(format, parse_tokens(&args.ctx, "--ctx")?);
    req.imatrix = args.imatrix;
    req.engine = engine;
    req.kv_type = KvType::parse(&args.kv_type).ok_or_else(|| {
        bad_input(format!(
            "unknown --kv-type `{}` (f16, bf16, q8_0, q4_0, fp8)",
            args.kv_type
        ))
    })?;
    if req.engine == Engine::LlamaCpp && req.kv_type == KvType::Fp8 {
        return Err(bad_input(
            "--kv-type fp8 is a vLLM cache type; llama.cpp offers f16, bf16, q8_0, q4_0",
        ));
    }
    if req.engine == Engine::Vllm && matches!(req.kv_type, KvType::Q8_0 | KvType::Q4_0) {
        return Err(bad_input("vLLM caches in f16/bf16 or fp8, not q8_0/q4_0"));
    }
    if req.engine == Engine::Vllm
        && format.is_gguf()
        && !matches!(
            format,
            WeightFormat::Gguf(vramplan::ggml::FileType::BF16 | vramplan::ggml::FileType::F16)
        )
    {
        return Err(bad_input(format!(
            "--quant {quant} is a GGUF (llama.cpp) type; for --engine vllm give --quant bf16, awq, gptq, fp8, nf4 or int8"
        )));
    }
    if args.parallel == 0 || args.parallel > 4096 {
        return Err(bad_input(format!(
            "--parallel must be 1..4096, got {}",
            args.parallel
        )));
    }
    req.parallel = args.parallel;
    if !(16..=65536).contains(&args.ubatch) {
        return Err(bad_input(format!(
            "--ubatch must be 16..65536, got {}",
            args.ubatch
        )));
    }
    req.n_ubatch = args.ubatch;
    req.flash_attn = !args.no_flash_attn;
    req.swa_full = args.swa_full;
    if let Some(bw) = args.host_bandwidth {
        if !(bw.is_finite() && bw > 0.0) {
            return Err(bad_input(format!(
                "--host-bandwidth must be a positive GB/s figure, got {bw}"
            )));
        }
    }
    if !(args.gpu_util > 0.05 && args.gpu_util <= 1.0) {
        return Err(bad_input(format!(
            "--gpu-util must be in (0.05, 1], got {}",
            args.gpu_util
        )));
    }
    req.gpu_memory_utilization = args.gpu_util;
    Ok(req)
}

/// [`build_request`] for a resolved model: a GGUF file fixes the format, so a `--quant` of
/// another type, or an engine that does not load GGUF files, contradicts it.
pub fn request_for(model: &model_input::ModelInput, args: &EstimateArgs) -> Result<FitRequest> {
    let mut req = build_request(args)?;
    if let Some(f) = model.fixed_format() {
        if req.engine == Engine::Vllm {
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
        fit: Fit,
        bandwidth_flag: Option<f64>,
    ) -> (Fit, Option<estimate::host::LocalHostFigures>) {
        if !self.local {
            return (fit, None);
        }
        let m = self.measured.as_ref();
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
            .efficiency("llama.cpp", estimate::speed::DeviceClass::Cpu)
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
                "this machine: memory bandwidth {} GB/s {bw_detail}; {eff_detail}",
                vramplan::report::sig(bandwidth_gb_s, 3)
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

pub fn run(global: &Global, args: FitArgs) -> Result<()> {
    let catalog = super::load_catalog(global)?;
    let model = model_input::resolve(&catalog, &args.est.model)?;
    let mut req = request_for(&model, &args.est)?;
    req.network = network(&catalog, args.network.as_deref())?;
    req.n_gpu_layers = args.ngl;
    req.n_cpu_moe = if args.cpu_moe {
        Some(u32::MAX)
    } else {
        args.n_cpu_moe
    };
    let machine = machine(&catalog, args.gpu.as_deref(), args.ram.as_deref())?;
    req.host_ram_bytes = machine.ram_bytes;
    let devices = machine.devices.clone();
    let detected_note = machine.detected_note.clone();
    let inv = model.inventory(&req);
    let view = ModelView {
        inventory: &inv,
        shape: &model.shape,
    };
    let p = estimate::place(&view, &devices, &req).map_err(|e| bad_input(e.to_string()))?;
    let max_context = if devices.is_empty() {
        None
    } else if req.n_gpu_layers.is_none() && req.n_cpu_moe.is_none() && p.n_cpu_moe > 0 {
        // The automatic choice kept every layer on the devices and some experts in host RAM:
        // the largest context of that layout.
        let mut same = req.clone();
        same.n_cpu_moe = Some(p.n_cpu_moe);
        estimate::max_context(&view, &devices, &same)
    } else {
        estimate::max_context(&view, &devices, &req)
    };
    // No command for a set that cannot run the format.
    let launch_command = p
        .cannot_run
        .is_none()
        .then(|| launch_command(&model, &req, &p, &devices))
        .flatten();
    let prompt_tokens = parse_tokens(&args.est.prompt, "--prompt")?;
    let (fit, local_host) = machine.local_fit(Fit::embedded(&catalog), args.est.host_bandwidth);
    let speed = estimate::perf::speed(
        &view,
        &p,
        &devices,
        &req,
        prompt_tokens,
        &fit,
        machine.host_bandwidth(args.est.host_bandwidth),
    );
    let warnings: Vec<String> = context_warning(&model, req.ctx).into_iter().collect();
    let report = FitReport {
        model: model.id.clone(),
        quant: req.format.name(),
        imatrix: req.format.is_gguf()
            && (req.imatrix
                || matches!(req.format, WeightFormat::Gguf(ft) if ft.requires_imatrix())),
        engine: req.engine,
        ctx: req.ctx,
        parallel: req.parallel,
        kv_type: req.kv_type,
        weights_bytes: p.weights_bytes,
        kv_cache_bytes: p.kv_cache_bytes,
        compute_bytes: p.compute_bytes,
        overhead_bytes: p.overhead_bytes,
        total_bytes: p.total_bytes,
        fits: p.fits,
        note: p.note.clone(),
        cannot_run: p.cannot_run.clone(),
        max_context,
        model_max_context: Some(model.shape.max_context),
        devices: p.devices.clone(),
        host: p.host.clone(),
        host_ram_source: machine.ram_source.clone(),
        n_gpu_layers: p.n_gpu_layers,
        n_cpu_moe: p.n_cpu_moe,
        tensor_parallel: p.tensor_parallel,
        pipeline_parallel: p.pipeline_parallel,
        max_concurrency: p.max_concurrency,
        launch_command,
        prompt_tokens,
        decode_tok_s: speed.as_ref().map(|s| s.decode_tok_s),
        decode_tok_s_at_ctx: speed.as_ref().map(|s| s.decode_tok_s_at_ctx),
        prefill_tok_s: speed.as_ref().map(|s| s.prefill_tok_s),
        ttft_s: speed.as_ref().map(|s| s.ttft_s),
        aggregate_decode_tok_s: speed
            .as_ref()
            .filter(|s| s.parallel > 1)
            .map(|s| s.aggregate_decode_tok_s),
        speed_basis: speed
            .as_ref()
            .map(|s| machine.say_assumed_host_bandwidth(s.basis.clone(), args.est.host_bandwidth))
            .unwrap_or_default(),
        network: speed.as_ref().and_then(|s| s.network.clone()),
        local_host,
        warnings,
    };
    super::emit(global, &report, |report| {
        if let Some(n) = &detected_note {
            super::out(n);
        }
        render(&model.name, report, &p);
        if let Some(l) = &report.local_host {
            super::out(&l.detail);
        }
        if let Some(n) = &report.network {
            super::out(&format!(
                "network between nodes: {} ({}), {} hop(s) of {:.0} us per token",
                n.network.name,
                n.why,
                n.hops,
                n.hop_s * 1e6
            ));
        }
        if args.explain {
            for line in &report.speed_basis {
                super::out(&format!("  {line}"));
            }
        }
        Ok(())
    })
}

/// "38-52 tok/s (expected 45)": two significant digits, the range first.
pub fn rate(r: &Range, unit: &str) -> String {
    use vramplan::report::sig;
    format!(
        "{}-{} {unit} (expected {})",
        sig(r.low, 2),
        sig(r.high, 2),
        sig(r.expected, 2)
    )
}

fn render(name: &str, r: &FitReport, p: &Placement) {
    // A GGUF's general.name is untrusted: control characters are shown, not executed.
    let name = vramplan::report::escape_line(name);
    super::out(&format!(
        "{name} · {}{} · {} tokens{} x {} sequence(s) · KV {} · {}",
        r.quant,
        if r.imatrix { " (imatrix)" } else { "" },
        r.ctx,
        match r.model_max_context {
            Some(m) if r.ctx > m => format!(" (above the trained {m}!)"),
            _ => String::new(),
        },
        r.parallel,
        r.kv_type.name(),
        match r.engine {
            Engine::LlamaCpp => "llama.cpp",
            Engine::Vllm => "vLLM",
            Engine::Vramplan => "vramplan reference engine",
        }
    ));
    // Figures in GB (10^9) in the headers, so cells stay short enough for 80 columns.
    let g = |b: u64| gb(b as f64);
    let mut t = table(&[
        "device",
        "layers",
        "weights GB",
        "KV GB",
        "compute GB",
        "overhead GB",
        "used / usable GB",
        "free GB",
    ]);
    t.drop_first(&["overhead GB", "compute GB"]);
    for d in &p.devices {
        let layers = match d.layer_range {
            Some((a, b)) => format!(
                "{} ({a}-{b}){}",
                d.layers,
                if d.holds_output { " +out" } else { "" }
            ),
            None => {
                if d.holds_output {
                    "out".into()
                } else {
                    "0".into()
                }
            }
        };
        t.add_row(vec![
            d.id.clone(),
            layers,
            g(d.weights_bytes),
            g(d.kv_cache_bytes),
            g(d.compute_bytes),
            g(d.overhead_bytes),
            format!("{} / {}", g(d.used_bytes), g(d.usable_bytes)),
            if d.free_bytes >= 0 {
                g(d.free_bytes as u64)
            } else {
                format!("-{}", g((-d.free_bytes) as u64))
            },
        ]);
    }
    if p.host.total_bytes > 0 && !p.devices.is_empty() {
        t.add_row(vec![
            "host RAM".into(),
            p.host.layers.to_string(),
            g(p.host.weights_bytes),
            g(p.host.kv_cache_bytes),
            g(p.host.compute_bytes),
            g(p.host.overhead_bytes),
            match p.host.ram_bytes {
                Some(ram) => format!("{} / {}", g(p.host.total_bytes), g(ram)),
                None => format!("{} / ?", g(p.host.total_bytes)),
            },
            match p.host.free_bytes {
                Some(f) if f >= 0 => g(f as u64),
                Some(f) => format!("-{}", g((-f) as u64)),
                None => "-".into(),
            },
        ]);
    }
    t.add_row(vec![
        "total".into(),
        "".into(),
        g(r.weights_bytes),
        g(r.kv_cache_bytes),
        g(r.compute_bytes),
        g(r.overhead_bytes),
        format!(
            "{} ({:.2} GiB)",
            g(r.total_bytes),
            r.total_bytes as f64 / (1u64 << 30) as f64
        ),
        "".into(),
    ]);
    super::out_table(&t);
    let verdict = if p.devices.is_empty() {
        format!(
            "needs {} in all (no --gpu given)",
            Bytes(r.total_bytes).display_both()
        )
    } else if p.cannot_run.is_some() {
        tone("CANNOT RUN", Tone::Bad)
    } else if r.fits {
        tone("FITS", Tone::Good)
    } else {
        tone("DOES NOT FIT", Tone::Bad)
    };
    super::out(&format!(
        "verdict: {verdict}{}",
        r.note.as_ref().map_or(String::new(), |n| format!(" ({n})"))
    ));
    if p.host.total_bytes > 0 && !p.devices.is_empty() {
        super::out(&match (&r.host_ram_source, p.host.ram_bytes) {
            (Some(src), Some(ram)) => format!(
                "host RAM: {} needed of {} ({src}{})",
                Bytes(p.host.total_bytes).display_gb(),
                Bytes(ram).display_gb(),
                if src == "--ram" {
                    ""
                } else {
                    "; --ram SIZE plans another host"
                }
            ),
            _ => format!(
                "host RAM: {} needed (the host's RAM is unknown: --ram SIZE checks it)",
                Bytes(p.host.total_bytes).display_gb()
            ),
        });
    }
    let layout = if p.n_cpu_moe > 0 {
        format!(
            "with every layer on the devices and the MoE experts of {} layers in host RAM",
            p.n_cpu_moe
        )
    } else {
        "fully on the devices".to_string()
    };
    for w in &r.warnings {
        super::out(&format!("{} {w}", tone("warning:", Tone::Warn)));
    }
    if let Some(mc) = r.max_context {
        super::out(&format!(
            "largest context {layout}: {mc} tokens per sequence{}",
            if Some(mc) == r.model_max_context {
                " (the model's trained maximum)"
            } else {
                ""
            }
        ));
    } else if !p.devices.is_empty() {
        super::out(&format!(
            "largest context {layout}: none (the weights alone do not fit)"
        ));
    }
    if let Some(c) = r.max_concurrency {
        super::out(&format!(
            "vLLM KV pool holds {c} sequences of {} tokens",
            r.ctx
        ));
    }
    if let (Some(d), Some(dc), Some(pf), Some(t)) = (
        &r.decode_tok_s,
        &r.decode_tok_s_at_ctx,
        &r.prefill_tok_s,
        &r.ttft_s,
    ) {
        super::out(&format!(
            "decode: {} at an empty context (llama-bench tg128); {} with {} tokens of context",
            rate(d, "tok/s"),
            rate(dc, "tok/s"),
            r.ctx
        ));
        super::out(&format!(
            "prefill: {}; time to first token for {} prompt tokens: {}",
            rate(pf, "tok/s"),
            r.prompt_tokens,
            rate(t, "s")
        ));
        if let Some(a) = &r.aggregate_decode_tok_s {
            super::out(&format!(
                "aggregate decode over {} sequences: {}",
                r.parallel,
                rate(a, "tok/s")
            ));
        }
        super::out("  (ranges: 90% prediction interval of efficiencies fitted to published measurements; --explain shows the basis)");
    }
    if let Some(cmd) = &r.launch_command {
        super::out_command("launch: ", cmd);
    }
}

/// "node2", "node2..node4".
fn hosts(first: usize, last: usize) -> String {
    if first == last {
        format!("node{first}")
    } else {
        format!("node{first}..node{last}")
    }
}

fn launch_command(
    model: &model_input::ModelInput,
    req: &FitRequest,
    p: &Placement,
    devices: &[vramplan::catalog::Device],
) -> Option<String> {
    match req.engine {
        Engine::Vramplan => Some(format!(
            "vramplan run {} -c {} -p PROMPT",
            model
                .path
                .clone()
                .unwrap_or_else(|| format!("{}.gguf", model.id)),
            req.ctx
        )),
        Engine::LlamaCpp => {
            let file = model
                .path
                .clone()
                .unwrap_or_else(|| format!("{}-{}.gguf", model.id, req.format.name()));
            // More GPUs than one host holds: the first hosts run `rpc-server` (which serves all
            // of its GPUs) and llama-server, on the last host, puts RPC devices first in its
            // device list (llama.cpp src/llama.cpp: "add RPC servers at the front"), so the
            // tensor split below maps onto them in order.
            let per_node = estimate::speed::GPUS_PER_NODE;
            let nodes = p.devices.len().div_ceil(per_node).max(1);
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
            if !devices.is_empty() {
                cmd += &format!(" -ngl {}", p.n_gpu_layers);
            }
            let gpus: Vec<_> = p
                .devices
                .iter()
                .filter(|d| d.layers > 0 || d.holds_output)
                .collect();
            if p.devices.len() > 1 {
                let split: Vec<String> = p
                    .devices
                    .iter()
                    .map(|d| (d.layers + u32::from(d.holds_output)).to_string())
                    .collect();
                cmd += &format!(" --tensor-split {}", split.join(","));
            }
            let _ = gpus;
            if req.kv_type != KvType::F16 {
                cmd += &format!(" -ctk {0} -ctv {0}", req.kv_type.name());
            }
            cmd += if req.flash_attn {
                " -fa on"
            } else {
                " -fa off"
            };
            if p.n_cpu_moe >= model.shape.n_layer {
                cmd += " --cpu-moe";
            } else if p.n_cpu_moe > 0 {
                cmd += &format!(" --n-cpu-moe {}", p.n_cpu_moe);
            }
            if req.swa_full {
                cmd += " --swa-full";
            }
            if req.n_ubatch != 512 {
                cmd += &format!(" -ub {}", req.n_ubatch);
            }
            Some(cmd)
        }
        Engine::Vllm => {
            let repo = model.hf_repo().unwrap_or_else(|| model.id.clone());
            let mut cmd = String::new();
            if p.pipeline_parallel > 1 {
                // vLLM spans nodes through a Ray cluster (docs: "Distributed inference and
                // serving", multi-node).
                cmd += &format!(
                    "on node1: ray start --head --port 6379; on {}: ray start --address node1:6379; then on node1: ",
                    hosts(2, p.pipeline_parallel as usize)
                );
            }
            cmd += &format!(
                "vllm serve {repo} --tensor-parallel-size {} --max-model-len {} --gpu-memory-utilization {}",
                p.tensor_parallel, req.ctx, req.gpu_memory_utilization
            );
            if p.pipeline_parallel > 1 {
                cmd += &format!(
                    " --pipeline-parallel-size {} --distributed-executor-backend ray",
                    p.pipeline_parallel
                );
            }
            if req.kv_type == KvType::Fp8 {
                cmd += " --kv-cache-dtype fp8";
            }
            if req.format == WeightFormat::Gguf(vramplan::ggml::FileType::F16) {
                cmd += " --dtype half";
            }
            match req.format {
                WeightFormat::AwqInt4 => cmd += " --quantization awq",
                WeightFormat::GptqInt4 => cmd += " --quantization gptq",
                WeightFormat::Fp8 => cmd += " --quantization fp8",
                WeightFormat::BnbNf4 | WeightFormat::BnbInt8 => {
                    cmd += " --quantization bitsandbytes"
                }
                _ => {}
            }
            if req.parallel > 1 {
                cmd += &format!(" --max-num-seqs {}", req.parallel);
            }
            Some(cmd)
        }
    }
}
