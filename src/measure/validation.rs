//! The result of `validate`: per quantization level, quality against the base by llama.cpp's
//! protocol and speed on this machine against the estimator's prediction. Data only; the app
//! layer fills it, `report` renders it.

use serde::Serialize;

use super::kld::KldStats;
use crate::estimate::quality::PublishedQuality;
use crate::estimate::speed::Range;
use crate::ggml::FileType;

/// One level (or the source itself).
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    /// `None` for the source file itself.
    pub file_type: Option<FileType>,
    pub file_bytes: u64,
    pub bits_per_weight: f64,
    /// Weight bytes one decoded token reads (dense tensors, used experts, one embedding row).
    pub bytes_per_token: u64,
    /// Against the base; `None` for the base itself and in a speed-only run.
    pub quality: Option<KldStats>,
    pub published: Option<PublishedQuality>,
    /// Prompt processing, tokens/s (best of the runs).
    pub prefill_tok_s: f64,
    /// FLOPs per token of that prompt (2 per active parameter + attention), GFLOP.
    pub prefill_gflop_per_token: f64,
    /// Median over the runs.
    pub decode_tok_s: f64,
    /// The estimator's decode speed for this machine (llama.cpp CPU efficiency x memory
    /// bandwidth / bytes per token).
    pub predicted_decode_tok_s: Option<Range>,
    /// measured / predicted expected.
    pub decode_ratio: Option<f64>,
    /// Seconds spent quantizing this level.
    pub quantize_s: f64,
    /// Seconds spent evaluating and scoring its chunks.
    pub quality_s: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct ValidateReport {
    pub model: String,
    pub source_file_type: Option<FileType>,
    /// The source holds quantized tensors: levels are requantized from it.
    pub requantized: bool,
    /// What the levels are compared against: "source" or the `--base` file.
    pub base: String,
    pub text: String,
    /// Tokens of the text (after any `--tokens` limit).
    pub tokens: usize,
    /// Context per chunk, chunks evaluated, positions scored per level.
    pub ctx: usize,
    pub chunks: usize,
    pub scored_tokens: usize,
    pub threads: usize,
    pub cpu: String,
    /// Memory read bandwidth used for the prediction, GB/s, and where it came from.
    pub memory_read_gb_s: Option<f64>,
    pub memory_read_basis: Option<String>,
    /// FP32 peak of the cores the run used (`hw::CpuPeak` for `threads`), TFLOPS; `None` when
    /// the clock is unknown.
    pub compute_tflops: Option<f64>,
    pub decode_efficiency: Range,
    pub published_source: &'static str,
    /// The published Llama-3-8B KLD per level with that model's bits per weight (for the plot).
    pub published_curve: Vec<PublishedPoint>,
    /// The generated random-weight model of `--synthetic`: speed only.
    pub synthetic: bool,
    pub levels: Vec<Level>,
    pub total_s: f64,
}

/// One published level: Llama-3-8B's bits per weight at that file type and its mean KLD.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedPoint {
    pub file_type: FileType,
    pub bits_per_weight: f64,
    pub kld: f64,
}
