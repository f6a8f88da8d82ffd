//! `vramplan run MODEL.gguf -p PROMPT -n 64` and `vramplan tokenize MODEL.gguf TEXT`: the built-in
//! reference engine (quantized forward passes as llama.cpp's CPU backend computes them).

use anyhow::Result;
use serde::Serialize;
use vramplan::engine::{
    generate_in, KvCacheType, Model, Sampling, Session, SessionConfig, Tokenizer,
};
use vramplan::gguf::GgufFile;
use vramplan::report::escape_text;
use vramplan::units::Bytes;

use super::args::{check_threads, parse_tokens};
use super::bad_input;
use super::model_input::check_file;
use crate::cli::{Global, RunArgs, TokenizeArgs};

/// Peak resident set size of this process (Linux `VmHWM`), when the OS tells it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[derive(Serialize)]
struct RunReport {
    model: String,
    #[serde(flatten)]
    generation: vramplan::engine::Generation,
    n_ctx: usize,
    kv_type: &'static str,
    peak_rss_bytes: Option<u64>,
}

/// The prompt of `run`: `-p TEXT`, or `--prompt-file FILE` / `-` (bounded read).
fn prompt_text(args: &RunArgs) -> Result<String> {
    match (&args.prompt, &args.prompt_file) {
        (Some(p), _) => Ok(p.clone()),
        (None, Some(path)) => Ok(vramplan::files::read_text(
            path,
            vramplan::files::MAX_PROMPT_BYTES,
            "--prompt-file",
        )?),
        (None, None) => Err(bad_input(
            "no prompt: give -p TEXT or --prompt-file FILE (`-` for standard input)",
        )),
    }
}

/// RAM this machine has available now (sysinfo), when it can tell.
fn available_ram() -> Option<u64> {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    Some(sys.available_memory()).filter(|&b| b > 0)
}

pub fn run(global: &Global, args: RunArgs) -> Result<()> {
    check_file(&args.model)?;
    if args.n_predict > 1 << 20 {
        return Err(bad_input(format!("-n {} is absurd", args.n_predict)));
    }
    if !(args.temp.is_finite() && args.temp >= 0.0) {
        return Err(bad_input(format!("--temp must be >= 0, got {}", args.temp)));
    }
    check_threads(args.threads)?;
    let kv_type = match args.kv_type.to_ascii_lowercase().as_str() {
        "f16" => KvCacheType::F16,
        "q8_0" => KvCacheType::Q8_0,
        other => {
            return Err(bad_input(format!(
                "--kv-type `{other}`: the engine caches in f16 or q8_0"
            )))
        }
    };
    let ctx_arg = match &args.ctx {
        Some(c) => Some(parse_tokens(c, "--ctx")? as usize),
        None => None,
    };
    let prompt = prompt_text(&args)?;
    let file = GgufFile::open(&args.model)?;
    let model = Model::load(&file)?;
    let tok = Tokenizer::from_gguf(&file)?;
    let prompt_ids = tok.encode(&prompt, true, true);
    let n_train = model.hparams.n_ctx_train;
    let wanted = prompt_ids.len().saturating_add(args.n_predict);
    let n_ctx = match ctx_arg {
        Some(n) if n > n_train => {
            return Err(bad_input(format!(
                "--ctx {n} is beyond the model's context of {n_train} tokens"
            )))
        }
        Some(n) if n < wanted => {
            return Err(bad_input(format!(
                "--ctx {n} is smaller than the prompt ({} tokens) plus -n {}",
                prompt_ids.len(),
                args.n_predict
            )))
        }
        Some(n) => n,
        None if wanted > n_train => {
            return Err(bad_input(format!(
                "the prompt ({} tokens) plus -n {} exceeds the model's context of {n_train} tokens",
                prompt_ids.len(),
                args.n_predict
            )))
        }
        None => wanted,
    };
    // Refuse a cache this machine cannot hold before allocating it.
    let kv_bytes = model
        .hparams
        .kv_cache_bytes(kv_type, n_ctx)
        .ok_or_else(|| bad_input(format!("a KV cache of {n_ctx} tokens overflows")))?;
    if let Some(ram) = available_ram() {
        let needed = kv_bytes.saturating_add(model.copied_bytes);
        if needed > ram {
            return Err(bad_input(format!(
                "a context of {n_ctx} tokens needs a {} KV cache, more than the {} of RAM available",
                Bytes(kv_bytes).display_gb(),
                Bytes(ram).display_gb()
            )));
        }
    }
    let mut session = Session::new(
        &model,
        SessionConfig {
            n_ctx: n_ctx.max(1),
            threads: args.threads,
            kv_type,
            ..SessionConfig::default()
        },
    )?;
    let generation = generate_in(
        &mut session,
        &tok,
        prompt_ids,
        args.n_predict,
        Sampling {
            temp: args.temp,
            seed: args.seed,
        },
    )?;
    let report = RunReport {
        model: args.model.display().to_string(),
        generation,
        n_ctx,
        kv_type: match kv_type {
            KvCacheType::F16 => "f16",
            KvCacheType::Q8_0 => "q8_0",
        },
        peak_rss_bytes: peak_rss_bytes(),
    };
    super::emit(global, &report, |report| {
        let g = &report.generation;
        // Model output and prompt may hold control characters: shown, not executed.
        super::out(&escape_text(&format!("{prompt}{}", g.text)));
        eprintln!(
            "prefill: {} tokens at {:.1} tok/s; decode: {} tokens at {:.1} tok/s; {} threads; KV {} ({} cells); peak RSS {}",
            g.prompt_tokens,
            g.prefill_tok_s,
            g.decode_tokens,
            g.decode_tok_s,
            g.threads,
            Bytes(g.memory.kv_bytes).display_gb(),
            g.memory.kv_cells,
            report.peak_rss_bytes.map_or("unknown".into(), |b| Bytes(b).display_gb())
        );
        Ok(())
    })
}

#[derive(Serialize)]
struct TokenizeReport {
    tokens: Vec<u32>,
    pieces: Vec<String>,
}

pub fn tokenize(global: &Global, args: TokenizeArgs) -> Result<()> {
    check_file(&args.model)?;
    let file = GgufFile::open(&args.model)?;
    vramplan::gguf::check_hparams(&file)?;
    let tok = Tokenizer::from_gguf(&file)?;
    let tokens = tok.encode(&args.text, !args.no_bos, !args.no_parse_special);
    let pieces: Vec<String> = tokens
        .iter()
        .map(|&t| String::from_utf8_lossy(tok.token_to_piece(t, true)).into_owned())
        .collect();
    let report = TokenizeReport { tokens, pieces };
    super::emit(global, &report, |report| {
        if args.ids {
            // llama-tokenize --ids prints a Python-style list.
            let ids: Vec<String> = report.tokens.iter().map(|t| t.to_string()).collect();
            super::out(&format!("[{}]", ids.join(", ")));
        } else {
            // llama-tokenize's default: one `id -> 'piece'` line per token; pieces are model data,
            // so control characters are shown, not executed.
            let lines: Vec<String> = report
                .tokens
                .iter()
                .zip(&report.pieces)
                .map(|(id, piece)| format!("{id:>6} -> '{}'", vramplan::report::escape_line(piece)))
                .collect();
            super::write_stdout(&lines.join("\n"));
        }
        Ok(())
    })
}
