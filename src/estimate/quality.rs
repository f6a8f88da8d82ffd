//! Published quality loss per llama.cpp file type, until `validate` measures it on the user's
//! model. Two sources, both for Llama-3-8B on wikitext-2 against FP16:
//! - KLD: llama.cpp `tools/perplexity/README.md` scoreboard (revision f364eb6f, RTX 4090): mean
//!   KL divergence of the token distribution; rows without an importance matrix where the table
//!   has them, otherwise the imatrix (wikitext 10M tokens) row, flagged.
//! - ΔPPL: llama.cpp `tools/quantize/quantize.cpp` `QUANT_OPTIONS` ("+0.1754 ppl @ Llama-3-8B").

use serde::Serialize;

use crate::ggml::FileType;

pub const SOURCE: &str = "llama.cpp tools/perplexity/README.md (Llama-3-8B KLD scoreboard) and tools/quantize/quantize.cpp QUANT_OPTIONS (ΔPPL @ Llama-3-8B)";

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PublishedQuality {
    pub file_type: FileType,
    /// Mean KL divergence vs FP16.
    pub kld: f64,
    /// Perplexity increase vs FP16 (6.2316), where quantize.cpp states it.
    pub delta_ppl: Option<f64>,
    /// The KLD row used an importance matrix (the file type requires or usually gets one).
    pub imatrix: bool,
}

const fn q(
    file_type: FileType,
    kld: f64,
    delta_ppl: Option<f64>,
    imatrix: bool,
) -> PublishedQuality {
    PublishedQuality {
        file_type,
        kld,
        delta_ppl,
        imatrix,
    }
}

pub const PUBLISHED: &[PublishedQuality] = &[
    q(FileType::Q8_0, 0.001355, Some(0.0026), false),
    q(FileType::Q6_K, 0.005452, Some(0.0217), false),
    q(FileType::Q5_K_M, 0.010762, Some(0.0569), false),
    q(FileType::Q5_K_S, 0.016595, Some(0.1049), false),
    q(FileType::Q5_1, 0.018045, Some(0.1062), false),
    q(FileType::Q5_0, 0.022239, Some(0.1316), false),
    q(FileType::Q4_K_M, 0.031273, Some(0.1754), false),
    q(FileType::Q4_K_S, 0.043136, Some(0.2689), false),
    q(FileType::IQ4_NL, 0.035742, None, true),
    q(FileType::IQ4_XS, 0.036334, None, true),
    q(FileType::Q4_1, 0.071683, Some(0.4511), false),
    q(FileType::Q4_0, 0.071940, Some(0.4685), false),
    q(FileType::Q3_K_L, 0.087176, Some(0.5562), false),
    q(FileType::Q3_K_M, 0.101913, Some(0.6569), false),
    q(FileType::IQ3_M, 0.102534, None, true),
    q(FileType::IQ3_S, 0.111278, None, true),
    q(FileType::IQ3_XS, 0.138693, None, true),
    q(FileType::IQ3_XXS, 0.183625, None, true),
    q(FileType::Q3_K_S, 0.228217, Some(1.6321), false),
    q(FileType::IQ2_M, 0.325989, None, true),
    q(FileType::Q2_K_S, 0.403360, Some(3.1836), true),
    q(FileType::Q2_K, 0.445132, Some(3.5199), false),
    q(FileType::IQ2_S, 0.439197, None, true),
    q(FileType::IQ2_XS, 0.546290, None, true),
    q(FileType::IQ2_XXS, 0.812022, None, true),
    q(FileType::IQ1_M, 1.393084, None, true),
    q(FileType::IQ1_S, 2.211278, None, true),
];

pub fn published(ft: FileType) -> Option<PublishedQuality> {
    PUBLISHED.iter().copied().find(|p| p.file_type == ft)
}

/// The ladder `quants` shows, largest first.
pub const LADDER: &[FileType] = &[
    FileType::BF16,
    FileType::Q8_0,
    FileType::Q6_K,
    FileType::Q5_K_M,
    FileType::Q5_K_S,
    FileType::Q5_1,
    FileType::Q5_0,
    FileType::Q4_K_M,
    FileType::Q4_K_S,
    FileType::Q4_1,
    FileType::IQ4_NL,
    FileType::Q4_0,
    FileType::IQ4_XS,
    FileType::Q3_K_L,
    FileType::Q3_K_M,
    FileType::IQ3_M,
    FileType::IQ3_S,
    FileType::Q3_K_S,
    FileType::IQ3_XS,
    FileType::IQ3_XXS,
    FileType::Q2_K,
    FileType::Q2_K_S,
    FileType::IQ2_M,
    FileType::IQ2_S,
    FileType::IQ2_XS,
    FileType::IQ2_XXS,
    FileType::IQ1_M,
    FileType::IQ1_S,
];
