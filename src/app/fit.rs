//! `vramplan fit MODEL --quant Q --ctx N [--gpu ID[xN],...]`: per-device memory, verdict, the
//! largest context that fits and the launch command.

use anyhow::Result;
use serde::Serialize;
use vramplan::estimate::calibration::Calibration;
use vramplan::estimate::speed::Range;
use vramplan::estimate::{
    self, Engine, EngineConfig, KvType, LaunchModel, ModelView, Placement, WeightFormat,
};
use vramplan::report::{gb, table, tone, Tone};
use vramplan::units::Bytes;

use super::args::parse_tokens;
use super::{bad_input, model_input};
use crate::cli::{FitArgs, Global};

#[derive(Serialize)]
struct FitReport {
    model: String,
    /// The local store file the model was read from, when found there by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<vramplan::input::LocalOrigin>,
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

pub fn run(global: &Global, args: FitArgs) -> Result<()> {
    let catalog = super::load_catalog(global)?;
    let model = model_input::resolve(&catalog, &args.est.model)?;
    let mut req = super::request::request_for(&model, &args.est)?;
    req.network = super::request::network(&catalog, args.network.as_deref())?;
    if let Some(c) = req.llama_cpp_mut() {
        c.n_gpu_layers = args.ngl;
        c.n_cpu_moe = if args.cpu_moe {
            Some(u32::MAX)
        } else {
            args.n_cpu_moe
        };
    }
    let machine = super::request::machine(&catalog, args.gpu.as_deref(), args.ram.as_deref())?;
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
    } else if p.n_cpu_moe() > 0
        && matches!(&req.engine, EngineConfig::LlamaCpp(c)
            if c.n_gpu_layers.is_none() && c.n_cpu_moe.is_none())
    {
        // The automatic choice kept every layer on the devices and some experts in host RAM:
        // the largest context of that layout.
        let mut same = req.clone();
        if let Some(c) = same.llama_cpp_mut() {
            c.n_cpu_moe = Some(p.n_cpu_moe());
        }
        estimate::max_context(&view, &devices, &same)
    } else {
        estimate::max_context(&view, &devices, &req)
    };
    // No command for a set that cannot run the format.
    let launch_command = p.cannot_run.is_none().then(|| {
        let launch = LaunchModel {
            id: &model.id,
            path: model.path.as_deref(),
            hf_repo: model.hf_repo(),
            n_layer: model.shape.n_layer,
        };
        req.engine().launch_command(&launch, &req, &p)
    });
    let prompt_tokens = parse_tokens(&args.est.prompt, "--prompt")?;
    let (fit, local_host) = machine.local_fit(
        Calibration::embedded(&catalog),
        args.est.host_bandwidth,
        req.engine(),
    );
    let speed = estimate::perf::speed(
        &view,
        &p,
        &devices,
        &req,
        prompt_tokens,
        &fit,
        machine.host_bandwidth(args.est.host_bandwidth),
    );
    let warnings: Vec<String> = super::request::context_warning(&model, req.ctx)
        .into_iter()
        .collect();
    let report = FitReport {
        model: model.id.clone(),
        local: model.local.clone(),
        quant: req.format.name(),
        imatrix: req.format.is_gguf()
            && (req.imatrix
                || matches!(req.format, WeightFormat::Gguf(ft) if ft.requires_imatrix())),
        engine: req.engine(),
        ctx: req.ctx,
        parallel: req.parallel,
        kv_type: req.kv_type,
        weights_bytes: p.weights_bytes,
        kv_cache_bytes: p.kv_cache_bytes,
        compute_bytes: p.compute_bytes,
        overhead_bytes: p.overhead_bytes,
        total_bytes: p.total_bytes,
        fits: p.fits,
        note: vramplan::report::words::place_notes(&p.notes),
        cannot_run: p.cannot_run.clone(),
        max_context,
        model_max_context: Some(model.shape.max_context),
        devices: p.devices.clone(),
        host: p.host.clone(),
        host_ram_source: machine.ram_source.clone(),
        n_gpu_layers: p.n_gpu_layers(),
        n_cpu_moe: p.n_cpu_moe(),
        tensor_parallel: p.tensor_parallel(),
        pipeline_parallel: p.pipeline_parallel(),
        max_concurrency: p.max_concurrency(),
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
            .map(|s| {
                machine.say_assumed_host_bandwidth(
                    vramplan::report::words::speed_basis(&s.basis),
                    args.est.host_bandwidth,
                )
            })
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
        r.engine.row().display
    ));
    memory_table(r, p);
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
    let layout = if p.n_cpu_moe() > 0 {
        format!(
            "with every layer on the devices and the MoE experts of {} layers in host RAM",
            p.n_cpu_moe()
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
    speed_lines(r);
    if let Some(cmd) = &r.launch_command {
        super::out_command("launch: ", cmd);
    }
}

/// Per-device memory, the host's share and the totals.
fn memory_table(r: &FitReport, p: &Placement) {
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
}

/// Decode, prefill and time to first token.
fn speed_lines(r: &FitReport) {
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
}
