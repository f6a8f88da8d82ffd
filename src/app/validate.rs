//! `vramplan validate [MODEL.gguf]`: quantizes the model to each file type and measures, with the
//! reference engine on this machine, each level's quality against a base model by the protocol of
//! `llama-perplexity --kl-divergence` (chunks of `--ctx` tokens from an empty cache, BOS first,
//! second half scored; KLD with its error and percentiles, same-top-p, PPL ratio, RMS Δp) and its
//! prompt and decode speed; then holds the estimator's decode prediction (bytes per token over
//! this machine's memory bandwidth, calibrated efficiency) and the published quality figures
//! against those measurements. Memory is flat in the length of the text (vramplan::measure).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;
use vramplan::report::escape_line;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vramplan::engine::{Model, Tokenizer};
use vramplan::estimate::calibration::Calibration;
use vramplan::estimate::quality::{published, SOURCE as PUBLISHED_SOURCE};
use vramplan::estimate::speed::{
    active_params, active_weight_bytes, prefill_flops_per_token, DeviceClass, Range,
};
use vramplan::ggml::FileType;
use vramplan::gguf::GgufFile;
use vramplan::hw::host_cache;
use vramplan::measure::kld::KldStats;
use vramplan::measure::protocol::{base_pass, level_pass, BaseLogProbs, Chunking};
use vramplan::measure::throughput::{decode_tok_s, prefill_tok_s};
use vramplan::measure::validation::{Level, PublishedPoint, ValidateReport};
use vramplan::measure::MeasureError;
use vramplan::quantize::{quantize_file, QuantizeOptions};
use vramplan::report::validate as render;
use vramplan::report::{sig, table};
use vramplan::units::Bytes;

use super::bad_input;
use super::model_input::check_file;
use crate::cli::{Global, ValidateArgs};

const EMBEDDED_TEXT: &str = include_str!("../../data/validate/eval.txt");
/// Prompt tokens before the timed decode steps.
const DECODE_PROMPT: usize = 16;
/// Prompt length of the prefill timing (llama-bench's pp; shorter when the context is).
const PREFILL_TOKENS: usize = 128;

fn default_model() -> PathBuf {
    host_cache::cache_dir()
        .unwrap_or_default()
        .join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn parse_types(s: &str) -> Result<Vec<FileType>> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let ft: FileType = name.parse()?;
        if ft.requires_imatrix() {
            return Err(bad_input(format!(
                "--types: {ft} needs an importance matrix, which vramplan quantize does not take"
            )));
        }
        if ft == FileType::MXFP4_MOE {
            return Err(bad_input("--types: MXFP4_MOE applies to MoE models only"));
        }
        if !out.contains(&ft) {
            out.push(ft);
        }
    }
    if out.is_empty() {
        return Err(bad_input("--types names no file type"));
    }
    Ok(out)
}

/// What a file is, for the speed half of a level.
struct Measured {
    prefill_tok_s: f64,
    prefill_gflop_per_token: f64,
    decode_tok_s: f64,
    file_bytes: u64,
    bits_per_weight: f64,
    bytes_per_token: u64,
}

fn measure_speed(
    file: &GgufFile,
    model: &Model<'_>,
    path: &Path,
    tokens: &[u32],
    args: &ValidateArgs,
) -> Result<Measured> {
    let inv = file.inventory();
    let shape = vramplan::gguf::model_shape(file)?;
    let tensor_bytes = inv.total_bytes().unwrap_or(0);
    let bytes_per_token = active_weight_bytes(&inv, &shape, |t| t.bytes().unwrap_or(0));
    let pp = &tokens[..PREFILL_TOKENS.min(tokens.len())];
    let prefill = prefill_tok_s(model, pp, 1, args.threads)?;
    let prompt = &tokens[..DECODE_PROMPT.min(tokens.len())];
    let decode = decode_tok_s(model, prompt, args.decode, args.runs, args.threads)?;
    Ok(Measured {
        prefill_tok_s: prefill,
        prefill_gflop_per_token: prefill_flops_per_token(
            &shape,
            active_params(&inv, &shape),
            pp.len() as u64,
        ) / 1e9,
        decode_tok_s: decode,
        file_bytes: std::fs::metadata(path)?.len(),
        bits_per_weight: tensor_bytes as f64 * 8.0 / inv.total_elements().max(1) as f64,
        bytes_per_token,
    })
}

fn measure_error(e: MeasureError) -> anyhow::Error {
    match e {
        MeasureError::TooFewTokens { .. }
        | MeasureError::BadContext { .. }
        | MeasureError::VocabMismatch { .. }
        | MeasureError::TokenOutOfRange { .. } => bad_input(e.to_string()),
        e => e.into(),
    }
}

fn read_text(args: &ValidateArgs) -> Result<(String, String)> {
    Ok(match &args.text {
        Some(p) => (
            // Bounded: a device or FIFO that never ends (/dev/zero) is refused, not read forever.
            vramplan::files::read_text(p, vramplan::files::MAX_TEXT_BYTES, "--text")?,
            p.display().to_string(),
        ),
        None => (
            EMBEDDED_TEXT.to_string(),
            "embedded public-domain text (data/validate/eval.txt)".to_string(),
        ),
    })
}

fn check_args(args: &ValidateArgs) -> Result<()> {
    if !(16..=1 << 16).contains(&args.ctx) {
        return Err(bad_input(format!(
            "--ctx must be 16..65536, got {}",
            args.ctx
        )));
    }
    if args.chunks == Some(0) {
        return Err(bad_input("--chunks must be at least 1"));
    }
    if args.tokens.is_some_and(|t| t < 16) {
        return Err(bad_input("--tokens must be at least 16"));
    }
    if args.decode == 0 || args.decode > 4096 || args.runs == 0 || args.runs > 100 {
        return Err(bad_input("--decode must be 1..4096 and --runs 1..100"));
    }
    super::args::check_threads(args.threads)?;
    Ok(())
}

/// The progress bar: on stderr, only for a person (no --json, stderr a terminal).
fn progress_bar(global: &Global, total: u64) -> ProgressBar {
    if global.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} chunks · ETA {eta} · {msg}",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// This machine's memory bandwidth: the cached measurement for this CPU, else measured now and
/// cached. `None` with --no-bandwidth.
fn bandwidth(args: &ValidateArgs, cpu: &str, bar: &ProgressBar) -> Option<(f64, String)> {
    if args.no_bandwidth {
        return None;
    }
    if let Some(m) = host_cache::load(cpu) {
        return Some((
            m.memory_read_gb_s,
            format!("cached measurement of {} ({} thread(s))", m.date, m.threads),
        ));
    }
    bar.set_message("measuring memory bandwidth");
    let (m, _) = host_cache::measure_and_store(cpu, args.threads, 3);
    Some((
        m.memory_read_gb_s,
        format!("measured now ({} thread(s)), cached", m.threads),
    ))
}

/// What every run shares: this machine, the progress bar over `steps`, and the estimator's
/// decode prediction, which each measured level is held against.
struct Setup {
    detected: vramplan::hw::Detected,
    bar: ProgressBar,
    bw: Option<(f64, String)>,
    efficiency: Range,
    interrupted: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Setup {
    fn new(
        global: &Global,
        args: &ValidateArgs,
        catalog: &vramplan::catalog::Catalog,
        steps: u64,
    ) -> Setup {
        let detected = vramplan::hw::detect(catalog);
        let bar = progress_bar(global, steps);
        let bw = bandwidth(args, &detected.cpu_brand, &bar);
        let efficiency = Calibration::embedded(catalog)
            .efficiency(vramplan::estimate::Engine::LlamaCpp, DeviceClass::Cpu)
            .decode;
        Setup {
            detected,
            bar,
            bw,
            efficiency,
            interrupted: super::signals::interrupted(),
        }
    }

    /// Advances the bar; false once SIGINT/SIGTERM/SIGHUP asked the run to stop.
    fn tick(&self) -> bool {
        self.bar.inc(1);
        !self.stopping()
    }

    fn stopping(&self) -> bool {
        self.interrupted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Err(stopped) once a signal asked the run to stop: exit 130, nothing written.
    fn check_stop(&self) -> Result<()> {
        if self.stopping() {
            return Err(MeasureError::Stopped.into());
        }
        Ok(())
    }

    fn level(
        &self,
        ft: Option<FileType>,
        m: &Measured,
        quality: Option<KldStats>,
        quantize_s: f64,
        quality_s: f64,
    ) -> Level {
        let predicted = self.bw.as_ref().and_then(|(gb_s, _)| {
            (m.bytes_per_token > 0)
                .then(|| self.efficiency.scale(gb_s * 1e9 / m.bytes_per_token as f64))
        });
        Level {
            file_type: ft,
            file_bytes: m.file_bytes,
            bits_per_weight: m.bits_per_weight,
            bytes_per_token: m.bytes_per_token,
            quality,
            published: ft.and_then(published),
            prefill_tok_s: m.prefill_tok_s,
            prefill_gflop_per_token: m.prefill_gflop_per_token,
            decode_tok_s: m.decode_tok_s,
            predicted_decode_tok_s: predicted,
            decode_ratio: predicted.map(|p| m.decode_tok_s / p.expected),
            quantize_s,
            quality_s,
        }
    }

    /// The report's fields that describe this machine and the run rather than the model.
    fn report(&self, args: &ValidateArgs, head: ReportHead, levels: Vec<Level>) -> ValidateReport {
        ValidateReport {
            model: head.model,
            source_file_type: head.source_file_type,
            requantized: head.requantized,
            base: head.base,
            text: head.text,
            tokens: head.tokens,
            ctx: head.chunking.map_or(0, |c| c.n_ctx),
            chunks: head.chunking.map_or(0, |c| c.n_chunks),
            scored_tokens: head.chunking.map_or(0, |c| c.scored()),
            threads: vramplan::hw::threads(args.threads),
            cpu: self.detected.cpu_brand.clone(),
            memory_read_gb_s: self.bw.as_ref().map(|b| b.0),
            memory_read_basis: self.bw.as_ref().map(|b| b.1.clone()),
            compute_tflops: self
                .detected
                .cpu_peak
                .as_ref()
                .map(|p| p.tflops_for_threads(vramplan::hw::threads(args.threads))),
            decode_efficiency: self.efficiency,
            published_source: PUBLISHED_SOURCE,
            published_curve: head.published_curve,
            synthetic: head.chunking.is_none(),
            levels,
            total_s: head.started.elapsed().as_secs_f64(),
        }
    }

    /// The common tail: what was learned goes to the cache, the reports to --out, the report
    /// to stdout; a run asked to stop writes nothing.
    fn finish(
        self,
        global: &Global,
        args: &ValidateArgs,
        report: ValidateReport,
        catalog_id: Option<String>,
    ) -> Result<()> {
        self.bar.finish_and_clear();
        self.check_stop()?;
        remember(&report, &self.detected.cpu_brand, catalog_id);
        if let Some(dir) = &args.out {
            write_reports(dir, &report, &|| self.stopping())?;
        }
        super::emit(global, &report, |report| {
            render(report);
            Ok(())
        })
    }
}

/// The model-specific fields of a report.
struct ReportHead {
    model: String,
    source_file_type: Option<FileType>,
    requantized: bool,
    base: String,
    text: String,
    tokens: usize,
    /// `None`: a speed-only (synthetic) run.
    chunking: Option<Chunking>,
    published_curve: Vec<PublishedPoint>,
    started: Instant,
}

/// The source file, or the default SmolLM2 when none was given; checked, with --base.
fn source_path(args: &ValidateArgs) -> Result<PathBuf> {
    let path = args.model.clone().unwrap_or_else(default_model);
    if args.model.is_none() && !path.is_file() {
        return Err(bad_input(format!(
            "no MODEL given and the default SmolLM2-135M is not at {} (fetch it with tools/fetch_smollm2.sh, or give a .gguf)",
            path.display()
        )));
    }
    check_file(&path)?;
    if let Some(b) = &args.base {
        check_file(b)?;
    }
    Ok(path)
}

pub fn run(global: &Global, args: ValidateArgs) -> Result<()> {
    if args.synthetic {
        return run_synthetic(global, args);
    }
    let started = Instant::now();
    let path = source_path(&args)?;
    let types = parse_types(&args.types)?;
    check_args(&args)?;
    let (text, text_name) = read_text(&args)?;
    let catalog = super::load_catalog(global)?;

    // Loaded once, before the first progress line, so a bad model is refused first.
    let file = GgufFile::open(&path)?;
    let model = Model::load(&file)?;
    let base_file = args.base.as_ref().map(GgufFile::open).transpose()?;
    let base_model = base_file.as_ref().map(Model::load).transpose()?;
    // The base's tokenizer cuts the text, as llama-perplexity's base run does.
    let tok = Tokenizer::from_gguf(base_file.as_ref().unwrap_or(&file))?;
    let mut tokens = tok.encode(&text, true, false);
    if let Some(t) = args.tokens {
        tokens.truncate(t);
    }
    let bos = if tok.add_bos() { tok.bos() } else { None };
    let chunking =
        Chunking::new(tokens.len(), args.ctx, args.chunks, bos).map_err(measure_error)?;
    let head = ReportHead {
        model: file
            .get_str("general.name")
            .map(str::to_string)
            .unwrap_or_else(|_| path.display().to_string()),
        source_file_type: file
            .get_uint("general.file_type")
            .ok()
            .and_then(|id| u32::try_from(id).ok())
            .and_then(FileType::from_id),
        requantized: file.tensors().iter().any(|t| t.ty().is_quantized()),
        base: args
            .base
            .as_ref()
            .map_or("source".into(), |b| b.display().to_string()),
        text: text_name,
        tokens: tokens.len(),
        chunking: Some(chunking),
        published_curve: published_curve(&catalog),
        started,
    };
    let catalog_id = catalog_id(&catalog, &file, &path);

    // The base pass, each level's pass, and the source's own when --base is another file.
    let passes = 1 + types.len() as u64 + u64::from(args.base.is_some());
    let setup = Setup::new(global, &args, &catalog, passes * chunking.n_chunks as u64);

    // Base pass: compact log-probs of every scored position, on disk.
    let base_path = args.base.as_ref().unwrap_or(&path);
    setup.bar.set_message(format!(
        "base {}",
        base_path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut base = base_pass(
        base_model.as_ref().unwrap_or(&model),
        &tokens,
        chunking,
        args.threads,
        &mut || setup.tick(),
    )
    .map_err(measure_error)?;
    drop(base_model);
    drop(base_file);

    let t = Instant::now();
    let q = if args.base.is_some() {
        setup.bar.set_message("source vs base");
        Some(
            level_pass(&model, &tokens, &mut base, args.threads, &mut || {
                setup.tick()
            })
            .map_err(measure_error)?,
        )
    } else {
        None
    };
    let quality_s = t.elapsed().as_secs_f64();
    setup.bar.set_message("source: speed");
    let m = measure_speed(&file, &model, &path, &tokens, &args)?;
    let mut levels = vec![setup.level(None, &m, q, 0.0, quality_s)];
    drop(model);
    drop(file);

    let requantized = head.requantized;
    for ft in types {
        setup.check_stop()?;
        levels.push(measure_level(
            &setup,
            &args,
            &path,
            ft,
            requantized,
            &tokens,
            &mut base,
        )?);
    }
    let report = setup.report(&args, head, levels);
    setup.finish(global, &args, report, catalog_id)
}

/// One level: quantized from the source into a locked temporary directory (removed on the way
/// out, whatever happens), scored against the base, timed.
fn measure_level(
    setup: &Setup,
    args: &ValidateArgs,
    path: &Path,
    ft: FileType,
    requantized: bool,
    tokens: &[u32],
    base: &mut BaseLogProbs,
) -> Result<Level> {
    let dir = vramplan::files::TempDir::new_in(&std::env::temp_dir(), "vramplan-validate-")?;
    setup.bar.set_message(format!("{ft}: quantizing"));
    let out = dir.path().join(format!("{ft}.gguf"));
    let opts = QuantizeOptions {
        threads: args.threads,
        allow_requantize: requantized,
    };
    let t = Instant::now();
    // SIGINT/SIGTERM/SIGHUP stop the quantization.
    quantize_file(path, &out, ft, &opts, &|_, _| {
        if setup.stopping() {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })?;
    let quantize_s = t.elapsed().as_secs_f64();
    setup.bar.set_message(format!("{ft}: quality"));
    let f = GgufFile::open(&out).with_context(|| format!("open {}", out.display()))?;
    let model = Model::load(&f)?;
    let t = Instant::now();
    let q = level_pass(&model, tokens, base, args.threads, &mut || setup.tick())
        .map_err(measure_error)?;
    let quality_s = t.elapsed().as_secs_f64();
    setup.bar.set_message(format!("{ft}: speed"));
    let m = measure_speed(&f, &model, &out, tokens, args)?;
    Ok(setup.level(Some(ft), &m, Some(q), quantize_s, quality_s))
}

/// `--synthetic`: per level, a generated ~1B model of that type, timed; no quality.
fn run_synthetic(global: &Global, mut args: ValidateArgs) -> Result<()> {
    use vramplan::measure::synthetic;
    let started = Instant::now();
    if args.types == "Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0,IQ4_XS,Q3_K_M,Q2_K" {
        args.types = "Q8_0,Q4_K_M,Q4_0".into();
    }
    let types = parse_types(&args.types)?;
    check_args(&args)?;
    let catalog = super::load_catalog(global)?;
    // Per level: generate, prefill, decode.
    let setup = Setup::new(global, &args, &catalog, 3 * types.len() as u64);
    let tokens = synthetic::tokens(PREFILL_TOKENS);
    let dir = vramplan::files::TempDir::new_in(&std::env::temp_dir(), "vramplan-validate-")?;
    let mut levels = Vec::new();
    for ft in types {
        setup.check_stop()?;
        setup
            .bar
            .set_message(format!("{ft}: generating a random 1B model"));
        let t = Instant::now();
        let path = synthetic::write_model(dir.path(), ft)?;
        let generate_s = t.elapsed().as_secs_f64();
        setup.bar.inc(1);
        setup.bar.set_message(format!("{ft}: timing"));
        let f = GgufFile::open(&path).with_context(|| format!("open {}", path.display()))?;
        let model = Model::load(&f)?;
        let m = measure_speed(&f, &model, &path, &tokens, &args)?;
        setup.bar.inc(2);
        levels.push(setup.level(Some(ft), &m, None, generate_s, 0.0));
        drop(model);
        drop(f);
        std::fs::remove_file(&path)?;
    }
    let head = ReportHead {
        model: "synthetic-1b (random weights, llama-shaped: 2048 x 16 layers, GQA 32/8, FFN 8192, vocab 32000)".into(),
        source_file_type: None,
        requantized: false,
        base: "none (speed only)".into(),
        text: "none (fixed token ids)".into(),
        tokens: tokens.len(),
        chunking: None,
        published_curve: Vec::new(),
        started,
    };
    let report = setup.report(&args, head, levels);
    setup.finish(global, &args, report, None)
}

/// The median over the levels of `f` (levels where it gives nothing left out).
fn median_over_levels(r: &ValidateReport, f: impl Fn(&Level) -> Option<f64>) -> Option<f64> {
    let mut v: Vec<f64> = r.levels.iter().filter_map(f).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Keeps what this run learned about the machine (decode and prefill efficiency) and the model
/// (KLD per level) in the user's cache, for `fit` and `quants`. Best effort: a read-only cache
/// is no error.
fn remember(r: &ValidateReport, cpu: &str, catalog_id: Option<String>) {
    if let Some(gb_s) = r.memory_read_gb_s {
        // Measured decode tok/s x bytes per token / bandwidth.
        let decode = median_over_levels(r, |l| {
            (l.bytes_per_token > 0)
                .then(|| l.decode_tok_s * l.bytes_per_token as f64 / (gb_s * 1e9))
        });
        // Measured prefill tok/s x FLOPs per token / the peak of the cores the run used: the
        // share of that peak vramplan's engine turned into prompt tokens.
        let peak = r.compute_tflops.filter(|t| t.is_finite() && *t > 0.0);
        let prefill = peak.and_then(|peak| {
            median_over_levels(r, |l| {
                (l.prefill_gflop_per_token > 0.0 && l.prefill_tok_s > 0.0)
                    .then(|| l.prefill_tok_s * l.prefill_gflop_per_token / (peak * 1e3))
            })
        });
        if let (Some(mut m), Some(e)) = (host_cache::load(cpu), decode) {
            m.decode_efficiency = Some(e);
            m.decode_efficiency_model = Some(r.model.clone());
            m.prefill_efficiency = prefill;
            let _ = host_cache::store(&m);
        }
    }
    if r.synthetic || r.base != "source" {
        return;
    }
    let levels: Vec<_> = r
        .levels
        .iter()
        .filter_map(|l| {
            let q = l.quality?;
            Some((
                l.file_type?.name().to_string(),
                q.kld_mean,
                q.kld_mean_error,
            ))
        })
        .collect();
    if !levels.is_empty() {
        let _ = host_cache::store_quality(&host_cache::ModelQuality {
            model: catalog_id.unwrap_or_else(|| r.model.clone()),
            name: r.model.clone(),
            source_file_type: r.source_file_type.map(|t| t.name().to_string()),
            ctx: r.ctx,
            scored_tokens: r.scored_tokens,
            date: host_cache::today(),
            levels,
        });
    }
}

/// The published KLD levels at Llama-3-8B's own bits per weight (from its catalogue inventory).
fn published_curve(catalog: &vramplan::catalog::Catalog) -> Vec<PublishedPoint> {
    let Ok(model) = super::model_input::resolve(catalog, "llama-3-8b") else {
        return Vec::new();
    };
    let est = crate::cli::EstimateArgs {
        model: "llama-3-8b".into(),
        quant: Some("Q4_K_M".into()),
        imatrix: false,
        ctx: "512".into(),
        kv_type: "f16".into(),
        engine: vramplan::estimate::Engine::LlamaCpp,
        parallel: 1,
        no_flash_attn: false,
        ubatch: 512,
        swa_full: false,
        gpu_util: 0.9,
        prompt: "512".into(),
        host_bandwidth: None,
    };
    let Ok(base) = super::request::build_request(&est) else {
        return Vec::new();
    };
    vramplan::estimate::quality::LADDER
        .iter()
        .filter_map(|&ft| {
            let p = published(ft)?;
            let mut req = base.clone();
            req.format = vramplan::estimate::WeightFormat::Gguf(ft);
            let inv = model.inventory(&req);
            let bpw = 8.0 * inv.total_bytes()? as f64 / inv.total_elements().max(1) as f64;
            Some(PublishedPoint {
                file_type: ft,
                bits_per_weight: bpw,
                kld: p.kld,
            })
        })
        .collect()
}

/// The catalogue model a file is, by its `general.basename`, `general.name` or file name (up
/// to the first dot: `SmolLM2-135M-Instruct.Q4_1.gguf`), so `quants ID` finds its measurements.
fn catalog_id(
    catalog: &vramplan::catalog::Catalog,
    file: &GgufFile,
    path: &Path,
) -> Option<String> {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .map(str::to_string);
    [
        file.get_str("general.basename").ok().map(str::to_string),
        file.get_str("general.name").ok().map(str::to_string),
        stem,
    ]
    .into_iter()
    .flatten()
    .find_map(|q| catalog.model(&q).ok().map(|m| m.id.clone()))
}

/// Every report staged beside its place first and renamed into place last, so --out holds all of
/// them or none of this run's (a signal while staging leaves nothing).
fn write_reports(dir: &Path, r: &ValidateReport, stopping: &dyn Fn() -> bool) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| bad_input(format!("--out `{}`: {e}", dir.display())))?;
    let files = [
        ("validate.json", serde_json::to_string_pretty(r)?),
        ("validate.md", render::markdown(r)),
        ("validate.csv", render::csv(r)),
        ("kld.svg", render::kld_plot(r)),
        ("decode.svg", render::speed_plot(r)),
        ("validate.html", render::html(r)),
    ];
    let mut staged = Vec::new();
    for (name, text) in &files {
        let dest = dir.join(name);
        staged.push((vramplan::files::stage(&dest, text.as_bytes())?, dest));
    }
    if stopping() {
        return Err(MeasureError::Stopped.into());
    }
    for (tmp, dest) in staged {
        vramplan::files::persist(tmp, &dest)?;
    }
    Ok(())
}

fn pm(v: f64, e: f64, digits: usize) -> String {
    format!("{} ± {}", sig(v, digits), sig(e, 1))
}

fn render_synthetic(r: &ValidateReport) {
    super::out(&format!(
        "{} · {} thread(s) on {}{}",
        escape_line(&r.model),
        r.threads,
        r.cpu,
        match (r.memory_read_gb_s, &r.memory_read_basis) {
            (Some(b), Some(basis)) => format!(" · memory read {} GB/s ({basis})", sig(b, 3)),
            _ => String::new(),
        },
    ));
    let mut t = table(&[
        "type",
        "file",
        "bpw",
        "bytes/token",
        "prefill tok/s",
        "decode tok/s",
        "predicted decode",
    ]);
    t.drop_first(&["bytes/token", "file"]);
    for l in &r.levels {
        t.add_row(vec![
            l.file_type.map_or("?".into(), |t| t.name().to_string()),
            Bytes(l.file_bytes).to_string(),
            format!("{:.2}", l.bits_per_weight),
            Bytes(l.bytes_per_token).to_string(),
            format!("{:.1}", l.prefill_tok_s),
            format!("{:.2}", l.decode_tok_s),
            predicted_cell(l),
        ]);
    }
    super::out_table(&t);
    super::out(&format!(
        "Random weights: speed only. prefill: {PREFILL_TOKENS} tokens in one pass; decode: median of the runs after a {DECODE_PROMPT}-token prompt.\n\
         predicted decode: decode efficiency {}-{} of the memory bandwidth over the bytes a token reads; (xN) = measured / expected. {:.0} s in all.",
        sig(r.decode_efficiency.low, 2),
        sig(r.decode_efficiency.high, 2),
        r.total_s
    ));
}

fn predicted_cell(l: &Level) -> String {
    l.predicted_decode_tok_s.map_or("-".into(), |p| {
        format!(
            "{}-{} (x{})",
            sig(p.low, 2),
            sig(p.high, 2),
            l.decode_ratio.map_or("-".into(), |x| sig(x, 2))
        )
    })
}

fn render(r: &ValidateReport) {
    if r.synthetic {
        return render_synthetic(r);
    }
    super::out(&format!(
        "{} · source {}{} · base {} · {} chunk(s) of {} tokens, {} scored, of {} · {} thread(s) on {}{}",
        escape_line(&r.model),
        r.source_file_type
            .map_or("?".into(), |t| t.name().to_string()),
        if r.requantized {
            " (levels requantized from it)"
        } else {
            ""
        },
        escape_line(&r.base),
        r.chunks,
        r.ctx,
        r.scored_tokens,
        escape_line(&r.text),
        r.threads,
        r.cpu,
        match (r.memory_read_gb_s, &r.memory_read_basis) {
            (Some(b), Some(basis)) => format!(" · memory read {} GB/s ({basis})", sig(b, 3)),
            _ => String::new(),
        },
    ));
    let header = [
        "type",
        "file",
        "bpw",
        "mean KLD",
        "KLD p99",
        "same top",
        "PPL",
        "ln PPL ratio",
        "RMS Δp",
        "published KLD",
        "prefill tok/s",
        "decode tok/s",
        "predicted decode",
    ];
    let mut t = table(&header);
    t.drop_first(&[
        "RMS Δp",
        "ln PPL ratio",
        "KLD p99",
        "file",
        "prefill tok/s",
        "same top",
        "PPL",
        "predicted decode",
    ]);
    for l in &r.levels {
        let q = l.quality;
        t.add_row(vec![
            l.file_type
                .map_or("source".into(), |t| t.name().to_string()),
            Bytes(l.file_bytes).to_string(),
            format!("{:.2}", l.bits_per_weight),
            q.map_or("-".into(), |q| pm(q.kld_mean, q.kld_mean_error, 3)),
            q.map_or("-".into(), |q| sig(q.kld_p99, 2)),
            q.map_or("-".into(), |q| {
                format!(
                    "{:.1} ± {:.1}%",
                    q.top1_agreement * 100.0,
                    q.top1_agreement_error * 100.0
                )
            }),
            q.map_or("-".into(), |q| format!("{:.3}", q.ppl_candidate)),
            q.map_or("-".into(), |q| {
                format!("{:.4} ± {:.4}", q.ln_ppl_ratio, q.ln_ppl_ratio_error)
            }),
            q.map_or("-".into(), |q| format!("{:.2}%", q.rms_dp * 100.0)),
            l.published.map_or("-".into(), |p| sig(p.kld, 2)),
            format!("{:.0}", l.prefill_tok_s),
            format!("{:.1}", l.decode_tok_s),
            predicted_cell(l),
        ]);
    }
    super::out_table(&t);
    if let Some(q) = r.levels.iter().find_map(|l| l.quality) {
        super::out(&format!(
            "PPL(base) on the scored tokens: {:.3} ± {:.3}",
            q.ppl_reference, q.ppl_reference_error
        ));
    }
    super::out(&format!(
        "Protocol of llama-perplexity --kl-divergence: each chunk from an empty cache with BOS first, its second half scored; ± is one standard error.\n\
         mean KLD: KL divergence of each level's next-token distribution from the base's, nats. same top: both put the same token first.\n\
         published KLD: Llama-3-8B vs FP16 on wikitext-2 ({}); a different model and text, for scale.\n\
         predicted decode: the estimator's range for this machine, decode efficiency {}-{} of the memory bandwidth over the bytes a token reads; (xN) = measured / expected.\n\
         {:.0} s in all.",
        r.published_source,
        sig(r.decode_efficiency.low, 2),
        sig(r.decode_efficiency.high, 2),
        r.total_s,
    ));
}
