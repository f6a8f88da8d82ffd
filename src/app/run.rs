//! `vramplan run MODEL.gguf -p PROMPT -n 64` and `vramplan tokenize MODEL.gguf TEXT`: the built-in
//! reference engine (quantized forward passes as llama.cpp's CPU backend computes them).

use anyhow::Result;
use serde::Serialize;
use vramplan::engine::{
    generate_in, KvCacheType, Model, Sampling, Session, SessionConfig, Tokenizer,
};
use vramplan::gguf::GgufFile;
use vramplan::units::Bytes;

use super::args::parse_tokens;
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

pub fn run(global: &Global, args: RunArgs) -> Result<()> {
    check_file(&args.model)?;
    if args.n_predict > 1 << 20 {
        return Err(bad_input(format!("-n {} is absurd", args.n_predict)));
    }
    if !(args.temp.is_finite() && args.temp >= 0.0) {
        return Err(bad_input(format!("--temp must be >= 0, got {}", args.temp)));
    }
    let kv_type = match args.kv_type.to_ascii_lowercase().as_str() {
        "f16" => KvCacheType::F16,
        "q8_0" => KvCacheType::Q8_0,
        other => {
            return Err(bad_input(format!(
                "--kv-type `{other}`: the engine caches in f16 or q8_0"
            )))
        }
    };
    let file = GgufFile::open(&args.model).map_err(|e| bad_input(e.to_string()))?;
    let model = Model::load(&file)?;
    let tok = Tokenizer::from_gguf(&file)?;
    let prompt_ids = tok.encode(&args.prompt, true, true);
    let n_ctx = match &args.ctx {
        Some(c) => parse_tokens(c, "--ctx")? as usize,
        None => prompt_ids.len() + args.n_predict,
    };
    if n_ctx < prompt_ids.len() + args.n_predict {
        return Err(bad_input(format!(
            "--ctx {n_ctx} is smaller than the prompt ({} tokens) plus -n {}",
            prompt_ids.len(),
            args.n_predict
        )));
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
    if global.json {
        return super::print_json(&report);
    }
    let g = &report.generation;
    super::out(&format!("{}{}", args.prompt, g.text));
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
}

#[derive(Serialize)]
struct TokenizeReport {
    tokens: Vec<u32>,
    pieces: Vec<String>,
}

pub fn tokenize(global: &Global, args: TokenizeArgs) -> Result<()> {
    check_file(&args.model)?;
    let file = GgufFile::open(&args.model).map_err(|e| bad_input(e.to_string()))?;
    let tok = Tokenizer::from_gguf(&file)?;
    let tokens = tok.encode(&args.text, !args.no_bos, !args.no_parse_special);
    let pieces: Vec<String> = tokens
        .iter()
        .map(|&t| String::from_utf8_lossy(tok.token_to_piece(t, true)).into_owned())
        .collect();
    let report = TokenizeReport { tokens, pieces };
    if global.json {
        return super::print_json(&report);
    }
    let ids: Vec<String> = report.tokens.iter().map(|t| t.to_string()).collect();
    super::out(&ids.join(" "));
    Ok(())
}
