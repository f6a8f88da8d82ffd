//! `vramplan fit MODEL --quant Q --ctx N [--gpu ID[xN],...]`: per-device memory, verdict, the
//! largest context that fits and the launch command.

use anyhow::Result;
use serde::Serialize;
use vramplan::estimate::calibration::Fit;
use vramplan::estimate::speed::Range;
use vramplan::estimate::{self, Engine, FitRequest, KvType, ModelView, Placement, WeightFormat};
use vramplan::report::table;
use vramplan::units::Bytes;

use super::args::{parse_devices, parse_tokens};
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
    max_context: Option<u64>,
    devices: Vec<estimate::DeviceUse>,
    host: estimate::HostUse,
    n_gpu_layers: u32,
    /// Layers whose MoE experts stay in host RAM (llama.cpp --n-cpu-moe).
    n_cpu_moe: u32,
    tensor_parallel: u32,
    pipeline_parallel: u32,
    max_concurrency: Option<u64>,
    launch_command: Option<String>,
    prompt_tokens: u64,
    decode_tok_s: Option<Range>,
    prefill_tok_s: Option<Range>,
    ttft_s: Option<Range>,
    aggregate_decode_tok_s: Option<Range>,
    speed_basis: Vec<String>,
}

pub fn build_request(args: &EstimateArgs) -> Result<FitRequest> {
    let format = model_input::parse_quant(&args.quant)?;
    let mut req = FitRequest::new(format, parse_tokens(&args.ctx, "--ctx")?);
    req.imatrix = args.imatrix;
    req.engine = match args.engine.as_str() {
        "llama.cpp" | "llama-cpp" | "llamacpp" | "llama" => Engine::LlamaCpp,
        "vllm" => Engine::Vllm,
        "vramplan" | "reference" => Engine::Vramplan,
        other => {
            return Err(bad_input(format!(
                "unknown --engine `{other}` (llama.cpp, vllm or vramplan)"
            )))
        }
    };
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
        return Err(bad_input(
            "for --engine vllm give --quant bf16, awq, gptq, fp8, nf4 or int8",
        ));
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
    if !(args.host_bandwidth.is_finite() && args.host_bandwidth > 0.0) {
        return Err(bad_input(format!(
            "--host-bandwidth must be a positive GB/s figure, got {}",
            args.host_bandwidth
        )));
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

pub fn run(global: &Global, args: FitArgs) -> Result<()> {
    let catalog = super::load_catalog(global)?;
    let model = model_input::resolve(&catalog, &args.est.model)?;
    let mut req = build_request(&args.est)?;
    if let Some(f) = model.fixed_format() {
        req.format = f;
    }
    req.n_gpu_layers = args.ngl;
    req.n_cpu_moe = if args.cpu_moe {
        Some(u32::MAX)
    } else {
        args.n_cpu_moe
    };
    let mut detected_note = None;
    let devices = match &args.gpu {
        Some(s) => parse_devices(&catalog, s)?,
        None => {
            // Without --gpu: this machine's accelerators, when they are in the catalogue.
            let found = vramplan::hw::detect(&catalog).devices(&catalog);
            if !found.is_empty() {
                let what = match found.as_slice() {
                    [host] if host.entry.kind == vramplan::catalog::DeviceKind::Cpu => {
                        format!("no GPU; {}", host.name)
                    }
                    _ => vramplan::plan::summarize(&found),
                };
                detected_note = Some(format!("detected on this machine: {what}"));
            }
            found
        }
    };
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
    let launch_command = launch_command(&model, &req, &p, &devices);
    let prompt_tokens = parse_tokens(&args.est.prompt, "--prompt")?;
    let fit = Fit::embedded(&catalog);
    let speed = estimate::perf::speed(
        &view,
        &p,
        &devices,
        &req,
        prompt_tokens,
        &fit,
        args.est.host_bandwidth,
    );
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
        max_context,
        devices: p.devices.clone(),
        host: p.host.clone(),
        n_gpu_layers: p.n_gpu_layers,
        n_cpu_moe: p.n_cpu_moe,
        tensor_parallel: p.tensor_parallel,
        pipeline_parallel: p.pipeline_parallel,
        max_concurrency: p.max_concurrency,
        launch_command,
        prompt_tokens,
        decode_tok_s: speed.as_ref().map(|s| s.decode_tok_s),
        prefill_tok_s: speed.as_ref().map(|s| s.prefill_tok_s),
        ttft_s: speed.as_ref().map(|s| s.ttft_s),
        aggregate_decode_tok_s: speed
            .as_ref()
            .filter(|s| s.parallel > 1)
            .map(|s| s.aggregate_decode_tok_s),
        speed_basis: speed.as_ref().map(|s| s.basis.clone()).unwrap_or_default(),
    };
    if global.json {
        return super::print_json(&report);
    }
    if let Some(n) = &detected_note {
        super::out(n);
    }
    render(&model.name, &report, &p);
    if args.explain {
        for line in &report.speed_basis {
            super::out(&format!("  {line}"));
        }
    }
    Ok(())
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
    super::out(&format!(
        "{name} · {}{} · {} tokens x {} sequence(s) · KV {} · {}",
        r.quant,
        if r.imatrix { " (imatrix)" } else { "" },
        r.ctx,
        r.parallel,
        r.kv_type.name(),
        match r.engine {
            Engine::LlamaCpp => "llama.cpp",
            Engine::Vllm => "vLLM",
            Engine::Vramplan => "vramplan reference engine",
        }
    ));
    let mut t = table(&[
        "device",
        "layers",
        "weights",
        "KV cache",
        "compute",
        "overhead",
        "used / usable",
        "free",
    ]);
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
            Bytes(d.weights_bytes).display_gb(),
            Bytes(d.kv_cache_bytes).display_gb(),
            Bytes(d.compute_bytes).display_gb(),
            Bytes(d.overhead_bytes).display_gb(),
            format!(
                "{} / {}",
                Bytes(d.used_bytes).display_gb(),
                Bytes(d.usable_bytes).display_gb()
            ),
            if d.free_bytes >= 0 {
                Bytes(d.free_bytes as u64).display_gb()
            } else {
                format!("-{}", Bytes((-d.free_bytes) as u64).display_gb())
            },
        ]);
    }
    if p.host.total_bytes > 0 && !p.devices.is_empty() {
        t.add_row(vec![
            "host RAM".into(),
            p.host.layers.to_string(),
            Bytes(p.host.weights_bytes).display_gb(),
            Bytes(p.host.kv_cache_bytes).display_gb(),
            Bytes(p.host.compute_bytes).display_gb(),
            "-".into(),
            Bytes(p.host.total_bytes).display_gb(),
            "".into(),
        ]);
    }
    t.add_row(vec![
        "total".into(),
        "".into(),
        Bytes(r.weights_bytes).display_gb(),
        Bytes(r.kv_cache_bytes).display_gb(),
        Bytes(r.compute_bytes).display_gb(),
        Bytes(r.overhead_bytes).display_gb(),
        Bytes(r.total_bytes).display_both(),
        "".into(),
    ]);
    super::out(&t.to_string());
    let verdict = if p.devices.is_empty() {
        format!(
            "needs {} in all (no --gpu given)",
            Bytes(r.total_bytes).display_both()
        )
    } else if r.fits {
        "FITS".to_string()
    } else {
        "DOES NOT FIT".to_string()
    };
    super::out(&format!(
        "verdict: {verdict}{}",
        r.note.as_ref().map_or(String::new(), |n| format!(" ({n})"))
    ));
    let layout = if p.n_cpu_moe > 0 {
        format!(
            "with every layer on the devices and the MoE experts of {} layers in host RAM",
            p.n_cpu_moe
        )
    } else {
        "fully on the devices".to_string()
    };
    if let Some(mc) = r.max_context {
        super::out(&format!(
            "largest context {layout}: {mc} tokens per sequence"
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
    if let (Some(d), Some(pf), Some(t)) = (&r.decode_tok_s, &r.prefill_tok_s, &r.ttft_s) {
        super::out(&format!(
            "decode: {} at {} tokens of context",
            rate(d, "tok/s"),
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
        super::out("  (ranges: 5th-95th percentile of efficiencies fitted to published measurements; --explain shows the basis)");
    }
    if let Some(cmd) = &r.launch_command {
        super::out(&format!("launch: {cmd}"));
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
            let mut cmd = format!(
                "llama-server -m {} -c {} -np {}",
                file,
                req.ctx * req.parallel,
                req.parallel
            );
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
            let mut cmd = format!(
                "vllm serve {repo} --tensor-parallel-size {} --max-model-len {} --gpu-memory-utilization {}",
                p.tensor_parallel, req.ctx, req.gpu_memory_utilization
            );
            if p.pipeline_parallel > 1 {
                cmd += &format!(" --pipeline-parallel-size {}", p.pipeline_parallel);
            }
            if req.kv_type == KvType::Fp8 {
                cmd += " --kv-cache-dtype fp8";
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
