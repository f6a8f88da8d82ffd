//! Diagnostics: writes the reference engine's scored log-probabilities of a text in the format of
//! llama-perplexity's `--kl-divergence-base` file (`_logits_`, n_ctx, n_vocab, n_chunk, the
//! tokens, then one compact row per scored position), so that vramplan and llama.cpp can be set
//! side by side per token: `tools/validate_ref/compare_rows.py A.kld B.kld`, or
//! `llama-perplexity --kl-divergence --kl-divergence-base OUT` for llama.cpp's KLD from vramplan.
//! Usage: cargo run --release --example kld_base -- MODEL.gguf TEXT CTX OUT [THREADS]
//! (`ONE_EVAL=1`: each chunk in one pass instead of two halves; the rows must not change).
use std::io::Write;

use vramplan::engine::{Model, Session, SessionConfig, Tokenizer};
use vramplan::gguf::GgufFile;
use vramplan::measure::kld::{encode_row, row_words};
use vramplan::measure::protocol::Chunking;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        return Err("usage: kld_base MODEL.gguf TEXT CTX OUT [THREADS]".into());
    }
    let file = GgufFile::open(&a[1])?;
    let text = std::fs::read_to_string(&a[2])?;
    let n_ctx: usize = a[3].parse()?;
    let threads: usize = a.get(5).map_or(Ok(2), |t| t.parse())?;
    let tok = Tokenizer::from_gguf(&file)?;
    let tokens = tok.encode(&text, true, false);
    let bos = if tok.add_bos() { tok.bos() } else { None };
    let c = Chunking::new(tokens.len(), n_ctx, None, bos)?;
    let model = Model::load(&file)?;
    let n_vocab = model.hparams.n_vocab;
    let mut s = Session::new(
        &model,
        SessionConfig {
            n_ctx,
            threads,
            ..SessionConfig::default()
        },
    )?;
    let mut out = std::fs::File::create(&a[4])?;
    out.write_all(b"_logits_")?;
    out.write_all(&(n_ctx as u32).to_le_bytes())?;
    out.write_all(&(n_vocab as i32).to_le_bytes())?;
    out.write_all(&(c.n_chunks as i32).to_le_bytes())?;
    for &t in &tokens[..c.n_chunks * n_ctx] {
        out.write_all(&(t as i32).to_le_bytes())?;
    }
    let rw = row_words(n_vocab);
    let first = c.first();
    let mut nll_sum = 0.0;
    for i in 0..c.n_chunks {
        let chunk = c.chunk(&tokens, i);
        s.reset();
        let logits = if std::env::var("ONE_EVAL").is_ok() {
            let l = s.eval(&chunk, true)?;
            l[first * n_vocab..].to_vec()
        } else {
            s.eval(&chunk[..first], false)?;
            s.eval(&chunk[first..], true)?
        };
        let mut row = vec![0u16; rw];
        for j in 0..c.scored_per_chunk() {
            let nll = encode_row(
                &logits[j * n_vocab..(j + 1) * n_vocab],
                &mut row,
                chunk[first + j + 1] as usize,
            );
            nll_sum += nll;
            let b: Vec<u8> = row.iter().flat_map(|w| w.to_le_bytes()).collect();
            out.write_all(&b)?;
        }
    }
    eprintln!(
        "{} tokens, {} chunks, PPL {:.4}",
        tokens.len(),
        c.n_chunks,
        (nll_sum / c.scored() as f64).exp()
    );
    Ok(())
}
