//! Text generation and per-position logits on top of [`Session`]: tokenize, ingest the prompt in
//! one batched pass, then decode one token at a time with greedy or temperature sampling, timing
//! both phases.

use std::time::Instant;

use super::forward::{MemoryUse, Session, SessionConfig};
use super::kv::KvCacheType;
use super::model::Model;
use super::tokenizer::Tokenizer;
use super::EngineError;

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 (or less): greedy argmax. Otherwise sample from `softmax(logits / temp)`.
    pub temp: f32,
    /// Seed of the sampler's random numbers (ignored when greedy).
    pub seed: u64,
}

impl Sampling {
    /// Greedy decoding.
    pub fn greedy() -> Sampling {
        Sampling { temp: 0.0, seed: 0 }
    }
}

/// The result of [`generate`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Generation {
    /// The prompt's token ids (with BOS when the vocabulary adds it).
    pub prompt_ids: Vec<u32>,
    /// Number of prompt tokens.
    pub prompt_tokens: usize,
    /// Generated token ids (an end-of-generation token ends the list and is not included).
    pub tokens: Vec<u32>,
    /// Text of the generated tokens.
    pub text: String,
    /// Whether generation stopped at an end-of-generation token before `n_predict`.
    pub stopped_at_eog: bool,
    /// Prompt tokens per second of the batched prompt pass.
    pub prefill_tok_s: f64,
    /// Tokens per second of the single-token decode passes (0 when there were none).
    pub decode_tok_s: f64,
    /// Seconds of the prompt pass and of all decode passes.
    pub prefill_s: f64,
    pub decode_s: f64,
    /// Decode passes timed.
    pub decode_tokens: usize,
    /// Worker threads used.
    pub threads: usize,
    /// Resident memory of the session (KV cache, buffers) and the mapped weights.
    pub memory: MemoryUse,
}

/// A small deterministic generator (SplitMix64) for sampling.
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The index of the largest logit (the first one on ties, as llama.cpp's greedy sampler).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

fn sample(logits: &[f32], s: Sampling, rng: &mut SplitMix) -> u32 {
    if s.temp <= 0.0 {
        return argmax(logits);
    }
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let w: Vec<f64> = logits
        .iter()
        .map(|&v| f64::from((v - max) / s.temp).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let mut r = rng.next_f64() * total;
    for (i, &x) in w.iter().enumerate() {
        r -= x;
        if r <= 0.0 {
            return i as u32;
        }
    }
    argmax(logits)
}

/// Tokenizes `prompt` (adding BOS where the vocabulary asks for it, parsing special tokens such
/// as `<|im_start|>`), evaluates it in one batched pass and generates up to `n_predict` tokens,
/// stopping early at an end-of-generation token. `threads` 0 uses every core.
pub fn generate(
    model: &Model<'_>,
    tok: &Tokenizer,
    prompt: &str,
    n_predict: usize,
    sampling: Sampling,
    threads: usize,
) -> Result<Generation, EngineError> {
    generate_stream(model, tok, prompt, n_predict, sampling, threads, |_, _| {})
}

/// [`generate`], calling `on_token(id, piece)` as each token is chosen (`piece` is the token's
/// bytes, which may end inside a UTF-8 sequence), e.g. to print text as it is generated.
pub fn generate_stream(
    model: &Model<'_>,
    tok: &Tokenizer,
    prompt: &str,
    n_predict: usize,
    sampling: Sampling,
    threads: usize,
    on_token: impl FnMut(u32, &[u8]),
) -> Result<Generation, EngineError> {
    let prompt_ids = tok.encode(prompt, true, true);
    let n_ctx = (prompt_ids.len() + n_predict).max(1);
    let mut session = Session::new(
        model,
        SessionConfig {
            n_ctx,
            threads,
            kv_type: KvCacheType::F16,
            ..SessionConfig::default()
        },
    )?;
    generate_in_stream(&mut session, tok, prompt_ids, n_predict, sampling, on_token)
}

/// [`generate`] in an existing (possibly non-empty) session, from already tokenized input.
pub fn generate_in(
    session: &mut Session<'_, '_>,
    tok: &Tokenizer,
    prompt_ids: Vec<u32>,
    n_predict: usize,
    sampling: Sampling,
) -> Result<Generation, EngineError> {
    generate_in_stream(session, tok, prompt_ids, n_predict, sampling, |_, _| {})
}

/// [`generate_stream`] in an existing (possibly non-empty) session, from already tokenized input.
pub fn generate_in_stream(
    session: &mut Session<'_, '_>,
    tok: &Tokenizer,
    prompt_ids: Vec<u32>,
    n_predict: usize,
    sampling: Sampling,
    mut on_token: impl FnMut(u32, &[u8]),
) -> Result<Generation, EngineError> {
    let mut rng = SplitMix(sampling.seed);
    let mut tokens = Vec::new();
    let mut stopped = false;
    let t0 = Instant::now();
    let mut logits = if prompt_ids.is_empty() {
        Vec::new()
    } else {
        session.eval(&prompt_ids, false)?
    };
    let prefill_s = t0.elapsed().as_secs_f64();
    let mut decode_s = 0.0;
    let mut decode_tokens = 0;
    while tokens.len() < n_predict && !logits.is_empty() {
        let next = sample(&logits, sampling, &mut rng);
        if tok.is_eog(next) {
            stopped = true;
            break;
        }
        tokens.push(next);
        on_token(next, tok.token_to_piece(next, false));
        if tokens.len() == n_predict {
            break;
        }
        let t = Instant::now();
        logits = session.eval(&[next], false)?;
        decode_s += t.elapsed().as_secs_f64();
        decode_tokens += 1;
    }
    let rate = |n: usize, s: f64| if n > 0 && s > 0.0 { n as f64 / s } else { 0.0 };
    Ok(Generation {
        prompt_tokens: prompt_ids.len(),
        prefill_tok_s: rate(prompt_ids.len(), prefill_s),
        text: tok.decode(&tokens),
        prompt_ids,
        tokens,
        stopped_at_eog: stopped,
        decode_tok_s: rate(decode_tokens, decode_s),
        prefill_s,
        decode_s,
        decode_tokens,
        threads: session.threads(),
        memory: session.memory(),
    })
}

/// Logits at every position of `tokens` (one batched pass per 512 tokens), for quality
/// measurements: `result[i]` scores the token after `tokens[..=i]`.
pub fn logits_for(model: &Model<'_>, tokens: &[u32]) -> Result<Vec<Vec<f32>>, EngineError> {
    logits_for_with(model, tokens, 0)
}

/// [`logits_for`] on `threads` worker threads (0: every core).
pub fn logits_for_with(
    model: &Model<'_>,
    tokens: &[u32],
    threads: usize,
) -> Result<Vec<Vec<f32>>, EngineError> {
    let mut s = Session::new(
        model,
        SessionConfig {
            n_ctx: tokens.len().max(1),
            threads,
            ..SessionConfig::default()
        },
    )?;
    let flat = s.eval(tokens, true)?;
    Ok(flat
        .chunks(model.hparams.n_vocab)
        .map(<[f32]>::to_vec)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NEG_INFINITY, -1.0]), 1);
    }

    #[test]
    fn sampling_is_seeded_and_low_temperature_is_greedy() {
        let l = [0.0f32, 1.0, 0.5, 0.9];
        let s = Sampling {
            temp: 1.0,
            seed: 42,
        };
        let a: Vec<u32> = {
            let mut r = SplitMix(42);
            (0..20).map(|_| sample(&l, s, &mut r)).collect()
        };
        let b: Vec<u32> = {
            let mut r = SplitMix(42);
            (0..20).map(|_| sample(&l, s, &mut r)).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().any(|&x| x != 1));
        let mut r = SplitMix(1);
        let cold = Sampling {
            temp: 1e-3,
            seed: 1,
        };
        assert!((0..20).all(|_| sample(&l, cold, &mut r) == 1));
    }
}
