//! KL divergence of a quantized model from a base model, computed the way llama.cpp's
//! `llama-perplexity --kl-divergence` computes it (tools/perplexity/perplexity.cpp), so the
//! figures can be set beside its output and the tables published from it:
//!
//! - the base model's log-probabilities of each scored position are kept compactly, one `u16`
//!   per vocabulary entry over the 16 nats below the most likely token, plus a scale and an
//!   offset (llama.cpp's `log_softmax(.., uint16_t * log_prob, ..)`); entries further below
//!   are dropped from the divergence, as there;
//! - per position: KL(base ‖ candidate), whether both put the same token on top, the negative
//!   log-likelihoods of the actual next token under both, and Δp, the change in its probability;
//! - summary: means with their standard errors as llama.cpp computes them, the median and
//!   percentiles (linear interpolation between ranks), ln(PPL(Q)/PPL(base)) with the error that
//!   accounts for the two being correlated, and the RMS of Δp.

use serde::Serialize;

/// Log-probabilities more than this many nats below the top one are stored as "none".
pub const LOG_PROB_RANGE: f32 = 16.0;

/// `u16` words per compact row: two `f32` (scale, offset) and the vocabulary padded to even,
/// llama.cpp's `nv = 2*((n_vocab + 1)/2) + 4`.
pub fn row_words(n_vocab: usize) -> usize {
    2 * n_vocab.div_ceil(2) + 4
}

/// llama.cpp's `nearest_int`: rounds to nearest, ties to even, for |x| < 2^22.
fn nearest_int(x: f32) -> i32 {
    let v = x + 12_582_912.0;
    (v.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

fn put_f32(w: &mut [u16], x: f32) {
    let b = x.to_le_bytes();
    w[0] = u16::from_le_bytes([b[0], b[1]]);
    w[1] = u16::from_le_bytes([b[2], b[3]]);
}

fn get_f32(w: &[u16]) -> f32 {
    let (a, b) = (w[0].to_le_bytes(), w[1].to_le_bytes());
    f32::from_le_bytes([a[0], a[1], b[0], b[1]])
}

/// Encodes the log-softmax of `logits` into `row` (`row_words(logits.len())` words) and returns
/// the negative log-likelihood of `next` under it (computed from the exact logits).
pub fn encode_row(logits: &[f32], row: &mut [u16], next: usize) -> f64 {
    let n = logits.len();
    debug_assert!(row.len() >= row_words(n) && next < n);
    let mut max = logits[0];
    let mut min = logits[0];
    for &l in &logits[1..] {
        max = max.max(l);
        min = min.min(l);
    }
    let min = min.max(max - LOG_PROB_RANGE);
    let sum_exp: f64 = logits.iter().map(|&l| f64::from((l - max).exp())).sum();
    let log_sum_exp = sum_exp.ln() as f32;
    let min_log_prob = min - max - log_sum_exp;
    let scale = (max - min) / 65535.0;
    put_f32(&mut row[0..2], scale);
    put_f32(&mut row[2..4], min_log_prob);
    let body = &mut row[4..4 + n];
    if scale != 0.0 {
        let inv = 1.0 / scale;
        for (w, &l) in body.iter_mut().zip(logits) {
            *w = if l > min {
                nearest_int(inv * (l - min)) as u16
            } else {
                0
            };
        }
    } else {
        body.fill(0);
    }
    f64::from(max) + sum_exp.ln() - f64::from(logits[next])
}

/// Running sums over scored positions (llama.cpp's `kl_divergence_result`), plus each
/// position's divergence and Δp for the median and percentiles (4 bytes each per position).
#[derive(Debug, Default, Clone)]
pub struct KldAccumulator {
    sum_nll: f64,
    sum_nll2: f64,
    sum_nll_base: f64,
    sum_nll_base2: f64,
    sum_nll_nll_base: f64,
    sum_kld: f64,
    sum_kld2: f64,
    sum_p_diff: f64,
    sum_p_diff2: f64,
    sum_p_diff4: f64,
    max_p_diff: f32,
    n_same_top: usize,
    count: usize,
    klds: Vec<f32>,
}

/// What one scored position contributes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// Negative log-likelihood of the next token under the candidate and under the base.
    pub nll: f32,
    pub nll_base: f32,
    /// KL(base ‖ candidate), nats.
    pub kld: f64,
    /// Probability of the next token, candidate minus base.
    pub p_diff: f32,
    pub same_top: bool,
}

/// Scores one position: `logits` are the candidate's, `base` the base model's compact row for
/// the same position ([`encode_row`]), `next` the text's next token. Pure, so positions can be
/// scored in parallel and added in order.
pub fn score(logits: &[f32], base: &[u16], next: usize) -> Position {
    let n = logits.len();
    let mut max = logits[0];
    let mut imax = 0;
    for (i, &l) in logits.iter().enumerate().skip(1) {
        if l > max {
            max = l;
            imax = i;
        }
    }
    let sum_exp: f64 = logits.iter().map(|&l| f64::from((l - max).exp())).sum();
    let log_sum_exp = sum_exp.ln() as f32;
    let scale = get_f32(&base[0..2]);
    let min_log_prob = get_f32(&base[2..4]);
    let body = &base[4..4 + n];
    // f32 where llama.cpp uses f32, so the figures follow it closely.
    let nll = max + log_sum_exp - logits[next];
    let nll_base = -(scale * f32::from(body[next]) + min_log_prob);
    let log_z = max + log_sum_exp;
    let mut kld = 0.0f64;
    let mut imax_base = 0;
    let mut top_base = 0.0f32;
    for (i, (&q, &l)) in body.iter().zip(logits).enumerate() {
        let lp_base = scale * f32::from(q) + min_log_prob;
        if i == 0 || lp_base > top_base {
            top_base = lp_base;
            imax_base = i;
        }
        if lp_base > -LOG_PROB_RANGE {
            kld += f64::from(lp_base.exp() * (lp_base - l + log_z));
        }
    }
    Position {
        nll,
        nll_base,
        kld,
        p_diff: (-nll).exp() - (-nll_base).exp(),
        same_top: imax == imax_base,
    }
}

impl KldAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one scored position.
    pub fn push(&mut self, p: Position) {
        let (nll, nll_base) = (p.nll, p.nll_base);
        self.sum_nll += f64::from(nll);
        self.sum_nll2 += f64::from(nll * nll);
        self.sum_nll_base += f64::from(nll_base);
        self.sum_nll_base2 += f64::from(nll_base * nll_base);
        self.sum_nll_nll_base += f64::from(nll * nll_base);
        self.sum_kld += p.kld;
        self.sum_kld2 += p.kld * p.kld;
        self.count += 1;
        self.n_same_top += usize::from(p.same_top);
        self.sum_p_diff += f64::from(p.p_diff);
        let d2 = f64::from(p.p_diff) * f64::from(p.p_diff);
        self.sum_p_diff2 += d2;
        self.sum_p_diff4 += d2 * d2;
        self.max_p_diff = self.max_p_diff.max(p.p_diff.abs());
        self.klds.push(p.kld as f32);
    }

    /// Positions scored so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The summary; `None` before any position.
    pub fn finish(&self, chunks: usize) -> Option<KldStats> {
        let n = self.count;
        if n == 0 {
            return None;
        }
        let (lp, lp_err) = mean_and_error(self.sum_nll, self.sum_nll2, n);
        let (lb, lb_err) = mean_and_error(self.sum_nll_base, self.sum_nll_base2, n);
        let cov = covariance(self.sum_nll, self.sum_nll_base, self.sum_nll_nll_base, n);
        let ratio_err = (lp_err * lp_err + lb_err * lb_err - 2.0 * cov)
            .max(0.0)
            .sqrt();
        let (kld, kld_err) = mean_and_error(self.sum_kld, self.sum_kld2, n);
        let (mse, mse_err) = mean_and_error(self.sum_p_diff2, self.sum_p_diff4, n);
        let rms = mse.sqrt();
        let top = self.n_same_top as f64 / n as f64;
        let top_err = if n > 1 {
            (top * (1.0 - top) / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let mut k = self.klds.clone();
        k.sort_by(f32::total_cmp);
        let pct = |f: f64| f64::from(percentile(&k, f));
        let ppl = lp.exp();
        let ppl_base = lb.exp();
        Some(KldStats {
            chunks,
            positions: n,
            kld_mean: kld,
            kld_mean_error: kld_err,
            kld_median: median(&k),
            kld_p90: pct(0.90),
            kld_p95: pct(0.95),
            kld_p99: pct(0.99),
            kld_p999: pct(0.999),
            kld_max: f64::from(*k.last().unwrap_or(&0.0)),
            top1_agreement: top,
            top1_agreement_error: top_err,
            ppl_candidate: ppl,
            ppl_candidate_error: ppl * lp_err,
            ppl_reference: ppl_base,
            ppl_reference_error: ppl_base * lb_err,
            ln_ppl_ratio: lp - lb,
            ln_ppl_ratio_error: ratio_err,
            rms_dp: rms,
            rms_dp_error: if rms > 0.0 { 0.5 / rms * mse_err } else { 0.0 },
            mean_dp: self.sum_p_diff / n as f64,
            max_dp: f64::from(self.max_p_diff),
        })
    }
}

/// llama.cpp's `mean_and_uncertainty`: the mean and its standard error (0 for 10 values or fewer).
fn mean_and_error(sum: f64, sum2: f64, n: usize) -> (f64, f64) {
    let f = sum / n as f64;
    let var = sum2 / n as f64 - f * f;
    let err = if var > 0.0 && n > 10 {
        (var / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    (f, err)
}

/// Covariance of the two means (llama.cpp's `covariance`; 0 under 10 values).
fn covariance(a: f64, b: f64, ab: f64, n: usize) -> f64 {
    if n < 10 {
        return 0.0;
    }
    let n = n as f64;
    (ab / n - (a / n) * (b / n)) / (n - 1.0)
}

fn median(sorted: &[f32]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    if n.is_multiple_of(2) {
        0.5 * (f64::from(sorted[n / 2]) + f64::from(sorted[n / 2 - 1]))
    } else {
        f64::from(sorted[n / 2])
    }
}

/// Linear interpolation between ranks, as llama.cpp's `percentile`.
fn percentile(sorted: &[f32], fraction: f64) -> f32 {
    let Some((&first, &last)) = sorted.first().zip(sorted.last()) else {
        return 0.0;
    };
    if fraction <= 0.0 {
        return first;
    }
    if fraction >= 1.0 {
        return last;
    }
    let p = (fraction as f32) * (sorted.len() - 1) as f32;
    let ip = p as usize;
    let frac = p - ip as f32;
    (1.0 - frac) * sorted[ip] + frac * sorted[(ip + 1).min(sorted.len() - 1)]
}

/// One level's quality against the base, over the scored positions of every chunk.
/// The key names of the first pass (`positions`, `kld_mean`, `kld_p99`, `top1_agreement`,
/// `ppl_reference`, `ppl_candidate`) are kept; their protocol is now llama.cpp's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KldStats {
    /// Chunks evaluated.
    pub chunks: usize,
    /// Positions scored (the second half of each chunk, less its last token).
    pub positions: usize,
    /// Mean KL(base ‖ level) of the next-token distributions, nats, and its standard error.
    pub kld_mean: f64,
    pub kld_mean_error: f64,
    pub kld_median: f64,
    pub kld_p90: f64,
    pub kld_p95: f64,
    pub kld_p99: f64,
    pub kld_p999: f64,
    pub kld_max: f64,
    /// Share of positions where both put the same token on top ("same top p"), 0..1.
    pub top1_agreement: f64,
    pub top1_agreement_error: f64,
    /// PPL(Q) and PPL(base) on the text's next tokens, with standard errors.
    pub ppl_candidate: f64,
    pub ppl_candidate_error: f64,
    pub ppl_reference: f64,
    pub ppl_reference_error: f64,
    /// ln(PPL(Q)/PPL(base)) and its error (correlation of the two accounted for).
    pub ln_ppl_ratio: f64,
    pub ln_ppl_ratio_error: f64,
    /// RMS of Δp, the change in the probability of the actual next token (0..1), and its error.
    pub rms_dp: f64,
    pub rms_dp_error: f64,
    pub mean_dp: f64,
    pub max_dp: f64,
}

impl KldStats {
    /// Relative perplexity increase (0.01 = +1%).
    pub fn delta_ppl_rel(&self) -> f64 {
        self.ppl_candidate / self.ppl_reference - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(logits: &[f32]) -> Vec<u16> {
        let mut r = vec![0u16; row_words(logits.len())];
        encode_row(logits, &mut r, 0);
        r
    }

    #[test]
    fn nearest_int_rounds_like_llama_cpp() {
        assert_eq!(nearest_int(0.4), 0);
        assert_eq!(nearest_int(0.6), 1);
        assert_eq!(nearest_int(2.5), 2, "ties to even");
        assert_eq!(nearest_int(3.5), 4);
        assert_eq!(nearest_int(65535.0), 65535);
    }

    #[test]
    fn compact_rows_decode_to_the_log_softmax() {
        let logits: Vec<f32> = (0..101)
            .map(|i| ((i * 37) % 23) as f32 * 0.7 - 3.0)
            .collect();
        let mut r = vec![0u16; row_words(logits.len())];
        let nll = encode_row(&logits, &mut r, 5);
        let max = logits.iter().copied().fold(f32::MIN, f32::max) as f64;
        let lse = max
            + logits
                .iter()
                .map(|&l| (l as f64 - max).exp())
                .sum::<f64>()
                .ln();
        assert!((nll - (lse - logits[5] as f64)).abs() < 1e-5, "f32 exp");
        let (scale, off) = (get_f32(&r[0..2]), get_f32(&r[2..4]));
        for (i, &l) in logits.iter().enumerate() {
            let decoded = scale * r[4 + i] as f32 + off;
            // One quantization step (16 nats / 65535) at most.
            assert!((decoded as f64 - (l as f64 - lse)).abs() < 3e-4, "{i}");
        }
    }

    #[test]
    fn identical_models_do_not_diverge() {
        let mut acc = KldAccumulator::new();
        for p in 0..20 {
            let logits: Vec<f32> = (0..50).map(|i| ((i * p + 3) % 11) as f32 * 0.5).collect();
            let pos = score(&logits, &row(&logits), p % 50);
            acc.push(pos);
            assert!(pos.kld.abs() < 1e-3, "{pos:?}");
            assert!(pos.same_top);
        }
        let s = acc.finish(1).unwrap();
        assert_eq!(s.positions, 20);
        assert_eq!(s.top1_agreement, 1.0);
        assert!(
            s.kld_mean.abs() < 1e-3 && s.ln_ppl_ratio.abs() < 1e-3,
            "{s:?}"
        );
    }

    #[test]
    fn figures_match_a_hand_computation() {
        // Base p = (0.5, 0.5), candidate q = (0.25, 0.75); next token 0.
        let base = row(&[0.0, 0.0]);
        let mut acc = KldAccumulator::new();
        let pos = score(&[0.0, 3f32.ln()], &base, 0);
        acc.push(pos);
        let kld = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
        assert!((pos.kld - kld).abs() < 1e-6, "{}", pos.kld);
        assert!((pos.p_diff - (0.25 - 0.5)).abs() < 1e-6);
        assert!(
            !pos.same_top,
            "base tie: the first token; the candidate prefers token 1"
        );
        let s = acc.finish(1).unwrap();
        assert!((s.ppl_reference - 2.0).abs() < 1e-5);
        assert!((s.ppl_candidate - 4.0).abs() < 1e-5);
        assert!((s.ln_ppl_ratio - 2f64.ln()).abs() < 1e-5);
        assert!((s.rms_dp - 0.25).abs() < 1e-6);
        assert_eq!(s.kld_median, s.kld_mean as f32 as f64);
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let v: Vec<f32> = (0..11).map(|i| i as f32).collect();
        assert_eq!(percentile(&v, 0.9), 9.0);
        assert!((percentile(&v, 0.95) - 9.5).abs() < 1e-5);
        assert_eq!(median(&v), 5.0);
        assert_eq!(median(&v[..10]), 4.5);
    }

    #[test]
    fn standard_errors_follow_llama_cpp() {
        // Values 0..=99: mean 49.5, population variance 833.25, error sqrt(833.25/99).
        let (s, s2) = (0..100).fold((0.0, 0.0), |(a, b), i| (a + i as f64, b + (i * i) as f64));
        let (m, e) = mean_and_error(s, s2, 100);
        assert_eq!(m, 49.5);
        assert!((e - (833.25f64 / 99.0).sqrt()).abs() < 1e-9);
        assert_eq!(mean_and_error(s, s2, 10).1, 0.0, "no error from 10 values");
    }
}
