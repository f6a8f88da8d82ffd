//! llama.cpp's perplexity / KL-divergence protocol: the text's tokens (BOS first, as the
//! tokenizer adds it) split into `n_chunks` consecutive chunks of `n_ctx` tokens (a tail
//! shorter than `n_ctx` is dropped); each chunk evaluated from an empty cache with its first token
//! replaced by BOS; only the second half scored: the logits at positions `n_ctx/2 ..= n_ctx-2`
//! against the tokens that follow them, `n_ctx - 1 - n_ctx/2` positions per chunk.
//!
//! The base model's pass keeps its scored log-probabilities compactly ([`super::kld::encode_row`])
//! in an anonymous temporary file, one chunk at a time, as llama.cpp writes them to its
//! `--kl-divergence-base` file; each level's pass reads them back chunk by chunk. Memory is
//! therefore one chunk's logits and one chunk's compact rows, whatever the length of the text.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use rayon::prelude::*;

use super::kld::{encode_row, row_words, score, KldAccumulator, KldStats};
use super::MeasureError;
use crate::engine::{Model, Session, SessionConfig};

/// How a text is cut for scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunking {
    pub n_ctx: usize,
    pub n_chunks: usize,
    /// Token put first in every chunk (`None`: the vocabulary adds no BOS, chunks are as cut).
    pub bos: Option<u32>,
}

impl Chunking {
    /// Chunks of `n_ctx` over `n_tokens` tokens, at most `max_chunks` of them.
    pub fn new(
        n_tokens: usize,
        n_ctx: usize,
        max_chunks: Option<usize>,
        bos: Option<u32>,
    ) -> Result<Chunking, MeasureError> {
        if !(16..=1 << 16).contains(&n_ctx) {
            return Err(MeasureError::BadContext { n_ctx });
        }
        let available = n_tokens / n_ctx;
        if available == 0 {
            return Err(MeasureError::TooFewTokens {
                tokens: n_tokens,
                n_ctx,
            });
        }
        let n_chunks = max_chunks.map_or(available, |m| m.clamp(1, available));
        Ok(Chunking {
            n_ctx,
            n_chunks,
            bos,
        })
    }

    /// First scored position of a chunk.
    pub fn first(&self) -> usize {
        self.n_ctx / 2
    }

    /// Positions scored per chunk.
    pub fn scored_per_chunk(&self) -> usize {
        self.n_ctx - 1 - self.first()
    }

    /// Positions scored in all.
    pub fn scored(&self) -> usize {
        self.n_chunks * self.scored_per_chunk()
    }

    /// Chunk `i` as evaluated: its tokens with the first replaced by BOS.
    pub fn chunk(&self, tokens: &[u32], i: usize) -> Vec<u32> {
        let mut c = tokens[i * self.n_ctx..(i + 1) * self.n_ctx].to_vec();
        if let Some(b) = self.bos {
            c[0] = b;
        }
        c
    }
}

/// Evaluates one chunk from an empty cache and returns the logits of positions `first..n_ctx`
/// (`(n_ctx - first) × n_vocab`); the first half is evaluated without keeping logits.
fn chunk_logits(
    session: &mut Session<'_, '_>,
    chunk: &[u32],
    first: usize,
) -> Result<Vec<f32>, MeasureError> {
    session.reset();
    session.eval(&chunk[..first], false)?;
    Ok(session.eval(&chunk[first..], true)?)
}

fn session<'m, 'a>(
    model: &'m Model<'a>,
    c: &Chunking,
    threads: usize,
) -> Result<Session<'m, 'a>, MeasureError> {
    Ok(Session::new(
        model,
        SessionConfig {
            n_ctx: c.n_ctx,
            threads,
            ..SessionConfig::default()
        },
    )?)
}

fn check_tokens(tokens: &[u32], c: &Chunking, n_vocab: usize) -> Result<(), MeasureError> {
    let used = &tokens[..c.n_chunks * c.n_ctx];
    if let Some((position, &token)) = used
        .iter()
        .enumerate()
        .find(|(_, &t)| t as usize >= n_vocab)
    {
        return Err(MeasureError::TokenOutOfRange {
            token,
            position,
            n_vocab,
        });
    }
    Ok(())
}

/// The base model's compact log-probabilities of every scored position, chunk by chunk, in an
/// anonymous temporary file (deleted when dropped).
#[derive(Debug)]
pub struct BaseLogProbs {
    file: File,
    n_vocab: usize,
    chunking: Chunking,
    /// Perplexity of the base by the exact logits (the compact rows round it slightly).
    nll_sum: f64,
}

impl BaseLogProbs {
    fn chunk_words(&self) -> usize {
        self.chunking.scored_per_chunk() * row_words(self.n_vocab)
    }

    /// Vocabulary size of the base.
    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    pub fn chunking(&self) -> Chunking {
        self.chunking
    }

    /// Perplexity of the base model over the scored positions, from its exact logits.
    pub fn ppl(&self) -> f64 {
        (self.nll_sum / self.chunking.scored().max(1) as f64).exp()
    }

    fn read_chunk(&mut self, i: usize, buf: &mut Vec<u16>) -> Result<(), MeasureError> {
        let words = self.chunk_words();
        let io = |source| MeasureError::Io {
            what: "reading the base log-probabilities back",
            source,
        };
        self.file
            .seek(SeekFrom::Start((i * words * 2) as u64))
            .map_err(io)?;
        let mut bytes = vec![0u8; words * 2];
        self.file.read_exact(&mut bytes).map_err(io)?;
        buf.clear();
        buf.extend(
            bytes
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]])),
        );
        Ok(())
    }
}

/// The base pass: evaluates every chunk with `model` and keeps its compact log-probabilities.
/// `tick` is called after each chunk and may stop the run by returning false.
pub fn base_pass(
    model: &Model<'_>,
    tokens: &[u32],
    chunking: Chunking,
    threads: usize,
    tick: &mut dyn FnMut() -> bool,
) -> Result<BaseLogProbs, MeasureError> {
    let n_vocab = model.hparams.n_vocab;
    check_tokens(tokens, &chunking, n_vocab)?;
    let file = tempfile::tempfile().map_err(|source| MeasureError::Io {
        what: "temporary file for the base log-probabilities",
        source,
    })?;
    let mut out = BaseLogProbs {
        file,
        n_vocab,
        chunking,
        nll_sum: 0.0,
    };
    let mut s = session(model, &chunking, threads)?;
    let (first, scored, rw) = (
        chunking.first(),
        chunking.scored_per_chunk(),
        row_words(n_vocab),
    );
    let mut rows = vec![0u16; scored * rw];
    let mut bytes = Vec::with_capacity(rows.len() * 2);
    for i in 0..chunking.n_chunks {
        let chunk = chunking.chunk(tokens, i);
        let logits = chunk_logits(&mut s, &chunk, first)?;
        let nll: f64 = rows
            .par_chunks_mut(rw)
            .zip(logits.par_chunks(n_vocab))
            .enumerate()
            .map(|(j, (row, l))| encode_row(l, row, chunk[first + j + 1] as usize))
            .sum();
        out.nll_sum += nll;
        bytes.clear();
        bytes.extend(rows.iter().flat_map(|w| w.to_le_bytes()));
        out.file
            .write_all(&bytes)
            .map_err(|source| MeasureError::Io {
                what: "writing the base log-probabilities",
                source,
            })?;
        if !tick() {
            return Err(MeasureError::Stopped);
        }
    }
    Ok(out)
}

/// A level's pass: evaluates every chunk with `model` and scores it against `base`.
pub fn level_pass(
    model: &Model<'_>,
    tokens: &[u32],
    base: &mut BaseLogProbs,
    threads: usize,
    tick: &mut dyn FnMut() -> bool,
) -> Result<KldStats, MeasureError> {
    let n_vocab = model.hparams.n_vocab;
    if n_vocab != base.n_vocab {
        return Err(MeasureError::VocabMismatch {
            base: base.n_vocab,
            level: n_vocab,
        });
    }
    let chunking = base.chunking;
    let mut s = session(model, &chunking, threads)?;
    let (first, scored, rw) = (
        chunking.first(),
        chunking.scored_per_chunk(),
        row_words(n_vocab),
    );
    let mut acc = KldAccumulator::new();
    let mut rows = Vec::new();
    for i in 0..chunking.n_chunks {
        let chunk = chunking.chunk(tokens, i);
        let logits = chunk_logits(&mut s, &chunk, first)?;
        base.read_chunk(i, &mut rows)?;
        let scored_positions: Vec<_> = (0..scored)
            .into_par_iter()
            .map(|j| {
                score(
                    &logits[j * n_vocab..(j + 1) * n_vocab],
                    &rows[j * rw..(j + 1) * rw],
                    chunk[first + j + 1] as usize,
                )
            })
            .collect();
        for p in scored_positions {
            acc.push(p);
        }
        if !tick() {
            return Err(MeasureError::Stopped);
        }
    }
    Ok(acc
        .finish(chunking.n_chunks)
        .expect("a chunking has at least one chunk of at least 7 scored positions"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_llama_cpp() {
        let tokens: Vec<u32> = (0..1000).collect();
        let c = Chunking::new(tokens.len(), 256, None, Some(7)).unwrap();
        assert_eq!(c.n_chunks, 3, "the 232-token tail is dropped");
        assert_eq!(
            (c.first(), c.scored_per_chunk(), c.scored()),
            (128, 127, 381)
        );
        let ch = c.chunk(&tokens, 1);
        assert_eq!((ch[0], ch[1], ch.len()), (7, 257, 256));
        assert_eq!(Chunking::new(1000, 256, Some(2), None).unwrap().n_chunks, 2);
        assert_eq!(Chunking::new(1000, 256, Some(9), None).unwrap().n_chunks, 3);
        assert!(matches!(
            Chunking::new(100, 256, None, None),
            Err(MeasureError::TooFewTokens { .. })
        ));
        assert!(Chunking::new(100, 8, None, None).is_err());
    }
}
