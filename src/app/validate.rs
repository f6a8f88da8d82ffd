//! `vramplan validate [MODEL.gguf]`: quantizes the model to each file type, runs real forward
//! passes with the reference engine on this machine, and measures per level the quality lost
//! against the source (KL divergence, top-1 agreement, perplexity) and the prompt and decode
//! speed; then holds the estimator's decode-speed prediction (bytes per token over this
//! machine's measured memory bandwidth, calibrated efficiency) and the published quality
//! figures against those measurements.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use vramplan::engine::quality::{self, QualityStats};
use vramplan::engine::{argmax, logits_for_with, Model, Session, SessionConfig, Tokenizer};
use vramplan::estimate::calibration::Fit;
use vramplan::estimate::quality::{published, PublishedQuality, SOURCE as PUBLISHED_SOURCE};
use vramplan::estimate::speed::{active_weight_bytes, DeviceClass, Range};
use vramplan::ggml::FileType;
use vramplan::gguf::GgufFile;
use vramplan::quantize::{quantize_file, QuantizeOptions};
use vramplan::report::{sig, table};
use vramplan::units::Bytes;

use super::bad_input;
use super::model_input::check_file;
use crate::cli::{Global, ValidateArgs};

const EMBEDDED_TEXT: &str = include_str!("../../data/validate/eval.txt");
/// Prompt tokens before the timed decode steps.
const DECODE_PROMPT: usize = 16;

#[derive(Serialize)]
struct Level {
    /// `None` for the source file itself.
    file_type: Option<FileType>,
    file_bytes: u64,
    bits_per_weight: f64,
    /// Weight bytes one decoded token reads (dense tensors, used experts, one embedding row).
    bytes_per_token: u64,
    quality: Option<QualityStats>,
    published: Option<PublishedQuality>,
    prefill_tok_s: f64,
    /// Median over the runs.
    decode_tok_s: f64,
    /// The estimator's decode speed for this machine (llama.cpp CPU efficiency x measured
    /// bandwidth / bytes per token).
    predicted_decode_tok_s: Option<Range>,
    /// measured / predicted expected.
    decode_ratio: Option<f64>,
}

#[derive(Serialize)]
struct ValidateReport {
    model: String,
    source_file_type: Option<FileType>,
    /// The source holds quantized tensors: levels are requantized from it and their quality is
    /// relative to it, not to the original 16-bit weights.
    requantized: bool,
    text: String,
    tokens: usize,
    threads: usize,
    cpu: String,
    memory_read_gb_s: Option<f64>,
    decode_efficiency: Range,
    published_source: &'static str,
    levels: Vec<Level>,
}

fn default_model() -> PathBuf {
    let cache = std::env::var_os("VRAMPLAN_CACHE")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("vramplan")))
        .unwrap_or_default();
    cache.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
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

/// Median tokens/s of `runs` timed runs of `steps` greedy single-token passes after a short prompt.
fn decode_speed(
    model: &Model<'_>,
    prompt: &[u32],
    steps: usize,
    runs: usize,
    threads: usize,
) -> Result<f64> {
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let mut s = Session::new(
            model,
            SessionConfig {
                n_ctx: prompt.len() + steps + 1,
                threads,
                ..SessionConfig::default()
            },
        )?;
        let mut logits = s.eval(prompt, false)?;
        let t = Instant::now();
        for _ in 0..steps {
            let next = argmax(&logits);
            logits = s.eval(&[next], false)?;
        }
        rates.push(steps as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

struct Measured {
    logits: Vec<Vec<f32>>,
    prefill_tok_s: f64,
    decode_tok_s: f64,
    file_bytes: u64,
    bits_per_weight: f64,
    bytes_per_token: u64,
}

fn measure(path: &Path, tokens: &[u32], args: &ValidateArgs) -> Result<Measured> {
    let file = GgufFile::open(path).with_context(|| format!("open {}", path.display()))?;
    let model = Model::load(&file)?;
    let inv = file.inventory();
    let shape = vramplan::gguf::model_shape(&file)?;
    let tensor_bytes = inv.total_bytes().unwrap_or(0);
    let bytes_per_token = active_weight_bytes(&inv, &shape, |t| t.bytes().unwrap_or(0));
    let t = Instant::now();
    let logits = logits_for_with(&model, tokens, args.threads)?;
    let prefill_tok_s = tokens.len() as f64 / t.elapsed().as_secs_f64();
    let prompt = &tokens[..DECODE_PROMPT.min(tokens.len())];
    let decode_tok_s = decode_speed(&model, prompt, args.decode, args.runs, args.threads)?;
    Ok(Measured {
        logits,
        prefill_tok_s,
        decode_tok_s,
        file_bytes: std::fs::metadata(path)?.len(),
        bits_per_weight: tensor_bytes as f64 * 8.0 / inv.total_elements().max(1) as f64,
        bytes_per_token,
    })
}

pub fn run(global: &Global, args: ValidateArgs) -> Result<()> {
    let path = args.model.clone().unwrap_or_else(default_model);
    if args.model.is_none() && !path.is_file() {
        return Err(bad_input(format!(
            "no MODEL given and the default SmolLM2-135M is not at {} (fetch it with tools/fetch_smollm2.sh, or give a .gguf)",
            path.display()
        )));
    }
    check_file(&path)?;
    let types = parse_types(&args.types)?;
    if !(16..=1 << 16).contains(&args.tokens) {
        return Err(bad_input(format!(
            "--tokens must be 16..65536, got {}",
            args.tokens
        )));
    }
    if args.decode == 0 || args.decode > 4096 || args.runs == 0 || args.runs > 100 {
        return Err(bad_input("--decode must be 1..4096 and --runs 1..100"));
    }
    super::args::check_threads(args.threads)?;
    let (text, text_name) = match &args.text {
        // Bounded: a device or FIFO that never ends (/dev/zero) is refused, not read forever.
        Some(p) => (
            vramplan::files::read_text(p, vramplan::files::MAX_TEXT_BYTES, "--text")?,
            p.display().to_string(),
        ),
        None => (
            EMBEDDED_TEXT.to_string(),
            "embedded public-domain text (data/validate/eval.txt)".to_string(),
        ),
    };
    let catalog = super::load_catalog(global)?;

    let file = GgufFile::open(&path)?;
    // Refuse a bad model before the first progress line: the same limits as every command.
    Model::load(&file)?;
    let tok = Tokenizer::from_gguf(&file)?;
    let mut tokens = tok.encode(&text, true, false);
    tokens.truncate(args.tokens);
    if tokens.len() < DECODE_PROMPT + 1 {
        return Err(bad_input(format!(
            "the text gives only {} tokens; at least {} are needed",
            tokens.len(),
            DECODE_PROMPT + 1
        )));
    }
    let name = file
        .get_str("general.name")
        .map(str::to_string)
        .unwrap_or_else(|_| path.display().to_string());
    let source_type = file
        .get_uint("general.file_type")
        .ok()
        .and_then(|id| u32::try_from(id).ok())
        .and_then(FileType::from_id);
    let requantized = file.tensors().iter().any(|t| t.ty().is_quantized());
    drop(file);

    let detected = vramplan::hw::detect(&catalog);
    let bandwidth =
        (!args.no_bandwidth).then(|| vramplan::hw::bandwidth::measure_read_gb_s(args.threads, 3));
    let efficiency = Fit::embedded(&catalog)
        .efficiency("llama.cpp", DeviceClass::Cpu)
        .decode;
    let predict = |bytes_per_token: u64| -> Option<Range> {
        let bw = bandwidth? * 1e9;
        (bytes_per_token > 0).then(|| efficiency.scale(bw / bytes_per_token as f64))
    };

    let progress = |msg: &str| {
        if !global.json {
            eprintln!("{msg}");
        }
    };
    progress(&format!(
        "source: {} ({} tokens of text)",
        path.display(),
        tokens.len()
    ));
    let source = measure(&path, &tokens, &args)?;
    let level = |ft: Option<FileType>, m: &Measured, q: Option<QualityStats>| {
        let predicted = predict(m.bytes_per_token);
        Level {
            file_type: ft,
            file_bytes: m.file_bytes,
            bits_per_weight: m.bits_per_weight,
            bytes_per_token: m.bytes_per_token,
            quality: q,
            published: ft.and_then(published),
            prefill_tok_s: m.prefill_tok_s,
            decode_tok_s: m.decode_tok_s,
            predicted_decode_tok_s: predicted,
            decode_ratio: predicted.map(|p| m.decode_tok_s / p.expected),
        }
    };
    let mut levels = vec![level(None, &source, None)];
    // Locked while this run lives; a run killed outright leaves it for the next one to remove.
    let dir = vramplan::files::TempDir::new_in(&std::env::temp_dir(), "vramplan-validate-")?;
    let interrupted = super::signals::interrupted();
    for ft in types {
        progress(&format!("{ft}: quantizing and measuring"));
        let out = dir.path().join(format!("{ft}.gguf"));
        let opts = QuantizeOptions {
            threads: args.threads,
            allow_requantize: requantized,
        };
        // SIGINT/SIGTERM/SIGHUP stop the quantization; the directory goes when `dir` drops.
        quantize_file(&path, &out, ft, &opts, &|_, _| {
            if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        })?;
        let m = measure(&out, &tokens, &args)?;
        let q = quality::compare(&source.logits, &m.logits, &tokens);
        levels.push(level(Some(ft), &m, q));
        std::fs::remove_file(&out)?;
    }

    let report = ValidateReport {
        model: name,
        source_file_type: source_type,
        requantized,
        text: text_name,
        tokens: tokens.len(),
        threads: if args.threads == 0 {
            rayon::current_num_threads()
        } else {
            args.threads
        },
        cpu: detected.cpu_brand.clone(),
        memory_read_gb_s: bandwidth,
        decode_efficiency: efficiency,
        published_source: PUBLISHED_SOURCE,
        levels,
    };
    if global.json {
        return super::print_json(&report);
    }
    render(&report);
    Ok(())
}

fn render(r: &ValidateReport) {
    super::out(&format!(
        "{} · source {}{} · {} tokens of {} · {} thread(s) on {}{}",
        r.model,
        r.source_file_type
            .map_or("?".into(), |t| t.name().to_string()),
        if r.requantized {
            " (levels requantized from it; quality relative to it)"
        } else {
            ""
        },
        r.tokens,
        r.text,
        r.threads,
        r.cpu,
        r.memory_read_gb_s.map_or(String::new(), |b| format!(
            " · memory read {} GB/s (measured)",
            sig(b, 3)
        )),
    ));
    let header = [
        "type",
        "file",
        "bpw",
        "KLD (p99)",
        "top-1 agree",
        "PPL (Δ)",
        "published KLD",
        "prefill tok/s",
        "decode tok/s",
        "predicted decode",
    ];
    let rows: Vec<Vec<String>> = r
        .levels
        .iter()
        .map(|l| {
            vec![
                l.file_type
                    .map_or("source".into(), |t| t.name().to_string()),
                Bytes(l.file_bytes).to_string(),
                format!("{:.2}", l.bits_per_weight),
                l.quality.map_or("-".into(), |q| {
                    format!("{} ({})", sig(q.kld_mean, 2), sig(q.kld_p99, 2))
                }),
                l.quality
                    .map_or("-".into(), |q| format!("{:.1}%", q.top1_agreement * 100.0)),
                match l.quality {
                    Some(q) => format!(
                        "{:.2} ({:+.1}%)",
                        q.ppl_candidate,
                        q.delta_ppl_rel() * 100.0
                    ),
                    None => "-".into(),
                },
                l.published.map_or("-".into(), |p| sig(p.kld, 2)),
                format!("{:.0}", l.prefill_tok_s),
                format!("{:.1}", l.decode_tok_s),
                l.predicted_decode_tok_s.map_or("-".into(), |p| {
                    format!(
                        "{}-{} (x{})",
                        sig(p.low, 2),
                        sig(p.high, 2),
                        l.decode_ratio.map_or("-".into(), |x| sig(x, 2))
                    )
                }),
            ]
        })
        .collect();
    let mut t = table(&header);
    for row in rows {
        t.add_row(row);
    }
    super::out_table(&t);
    if let Some(q) = r.levels.get(1).and_then(|l| l.quality) {
        super::out(&format!(
            "source perplexity on the text: {:.2}",
            q.ppl_reference
        ));
    }
    super::out(&format!(
        "KLD: mean KL divergence of each level's next-token distribution from the source's, in nats (99th percentile in brackets).\n\
         published KLD: Llama-3-8B vs FP16 on wikitext-2 ({}); a different model and text, for scale.\n\
         predicted decode: the estimator's range for this machine, decode efficiency {}-{} of the measured bandwidth over the bytes a token reads; (xN) = measured / expected.",
        r.published_source,
        sig(r.decode_efficiency.low, 2),
        sig(r.decode_efficiency.high, 2),
    ));
}
