//! Throughput runs with the reference engine: prompt processing and decode speed.

use std::time::Instant;

use super::MeasureError;
use crate::engine::{argmax, Model, Session, SessionConfig};

/// Tokens/s of one batched pass over `tokens` from an empty cache (llama-bench's `pp`), the
/// best of `runs` (the least disturbed by other load).
pub fn prefill_tok_s(
    model: &Model<'_>,
    tokens: &[u32],
    runs: usize,
    threads: usize,
) -> Result<f64, MeasureError> {
    let mut s = Session::new(
        model,
        SessionConfig {
            n_ctx: tokens.len().max(1),
            threads,
            ..SessionConfig::default()
        },
    )?;
    let mut best = f64::INFINITY;
    for _ in 0..runs.max(1) {
        s.reset();
        let t = Instant::now();
        s.eval(tokens, false)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(tokens.len() as f64 / best)
}

/// Median tokens/s of `runs` timed runs of `steps` greedy single-token passes after `prompt`
/// (llama-bench's `tg` after a short prompt).
pub fn decode_tok_s(
    model: &Model<'_>,
    prompt: &[u32],
    steps: usize,
    runs: usize,
    threads: usize,
) -> Result<f64, MeasureError> {
    let mut s = Session::new(
        model,
        SessionConfig {
            n_ctx: prompt.len() + steps + 1,
            threads,
            ..SessionConfig::default()
        },
    )?;
    let mut rates = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        s.reset();
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
