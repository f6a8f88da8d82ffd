//! Weight bytes: a GGUF inventory is exact by construction; the formats vLLM and transformers
//! users load (GPTQ/AWQ int4, FP8, bitsandbytes NF4/int8) are sized from the same tensor list
//! with their real per-group overheads.

use serde::Serialize;

use crate::arch::Inventory;
use crate::ggml::FileType;

/// How the weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    /// A llama.cpp file type (per-tensor recipe).
    Gguf(FileType),
    /// Safetensors in bf16/fp16 as published.
    Bf16,
    /// GPTQ int4, group size 128: packed int4 weights, fp16 scale and packed int4 zero per group
    /// (AutoGPTQ / GPTQModel layout, `g_idx` int32 per input row when act-order is stored).
    GptqInt4,
    /// AWQ int4, group size 128: packed int4 weights, fp16 scale and packed int4 zero per group.
    AwqInt4,
    /// FP8 e4m3 weights with one f32 scale per output channel (llm-compressor / vLLM `fp8`).
    Fp8,
    /// bitsandbytes NF4 with double quantization: 4 bits, an 8-bit absmax per 64 weights and an
    /// f32 absmax per 256 of those blocks.
    BnbNf4,
    /// bitsandbytes LLM.int8(): int8 weights with an f32 scale per output row.
    BnbInt8,
}

impl WeightFormat {
    pub fn parse(s: &str) -> Option<WeightFormat> {
        let norm = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Some(match norm.as_str() {
            "gptq" | "gptq-int4" | "gptq-4bit" | "int4-gptq" => WeightFormat::GptqInt4,
            "awq" | "awq-int4" | "awq-4bit" => WeightFormat::AwqInt4,
            "fp8" | "fp8-e4m3" => WeightFormat::Fp8,
            "nf4" | "bnb-nf4" | "bnb-4bit" => WeightFormat::BnbNf4,
            "int8" | "bnb-int8" | "bnb-8bit" | "llm-int8" => WeightFormat::BnbInt8,
            "hf-bf16" | "safetensors-bf16" => WeightFormat::Bf16,
            _ => return s.parse::<FileType>().ok().map(WeightFormat::Gguf),
        })
    }

    pub fn name(self) -> String {
        match self {
            WeightFormat::Gguf(f) => f.name().to_string(),
            WeightFormat::Bf16 => "bf16 (safetensors)".into(),
            WeightFormat::GptqInt4 => "GPTQ int4 g128".into(),
            WeightFormat::AwqInt4 => "AWQ int4 g128".into(),
            WeightFormat::Fp8 => "FP8 e4m3".into(),
            WeightFormat::BnbNf4 => "bnb NF4".into(),
            WeightFormat::BnbInt8 => "bnb int8".into(),
        }
    }

    pub fn is_gguf(self) -> bool {
        matches!(self, WeightFormat::Gguf(_))
    }
}

/// Bytes of one 2-D linear weight `[n_in, n_out]` (ggml order) stored in a non-GGUF format.
/// Embeddings, the output head, norms and the MoE router stay in bf16/f32 as those tools leave them.
pub fn linear_bytes(format: WeightFormat, n_in: u64, n_out: u64) -> u64 {
    let n = n_in * n_out;
    match format {
        WeightFormat::GptqInt4 | WeightFormat::AwqInt4 => {
            let groups = n_in.div_ceil(128) * n_out;
            // int4 weights + fp16 scale + int4 zero per group
            n / 2
                + groups * 2
                + groups.div_ceil(2)
                + if format == WeightFormat::GptqInt4 {
                    n_in * 4
                } else {
                    0
                }
        }
        WeightFormat::Fp8 => n + n_out * 4,
        WeightFormat::BnbNf4 => {
            let blocks = n.div_ceil(64);
            n / 2 + blocks + blocks.div_ceil(256) * 4
        }
        WeightFormat::BnbInt8 => n + n_out * 4,
        WeightFormat::Bf16 | WeightFormat::Gguf(_) => n * 2,
    }
}

/// Per-tensor bytes of `inv` in `format`. For GGUF the inventory already carries the types.
pub fn tensor_bytes(format: WeightFormat, t: &crate::arch::TensorSpec) -> u64 {
    match format {
        WeightFormat::Gguf(_) => t.bytes().unwrap_or(0),
        _ => {
            let quantizable =
                t.shape.len() >= 2 && t.layer().is_some() && t.role().is_block_linear();
            if quantizable {
                let experts = t.shape.get(2).copied().unwrap_or(1);
                linear_bytes(format, t.shape[0], t.shape[1]) * experts
            } else if t.shape.len() >= 2 {
                t.n_elements() * 2
            } else {
                t.n_elements() * 4
            }
        }
    }
}

pub fn total_bytes(format: WeightFormat, inv: &Inventory) -> u64 {
    inv.tensors.iter().map(|t| tensor_bytes(format, t)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int4_group_overheads() {
        // 4096x4096: 8 MiB of nibbles, 32x4096 groups of fp16 scale + half-byte zero.
        let awq = linear_bytes(WeightFormat::AwqInt4, 4096, 4096);
        assert_eq!(awq, 4096 * 4096 / 2 + 32 * 4096 * 2 + 32 * 4096 / 2);
        let bpw = awq as f64 * 8.0 / (4096.0 * 4096.0);
        assert!((bpw - 4.156).abs() < 0.001, "{bpw}");
        let nf4 = linear_bytes(WeightFormat::BnbNf4, 4096, 4096) as f64 * 8.0 / (4096.0 * 4096.0);
        assert!((nf4 - 4.127).abs() < 0.001, "{nf4}");
    }

    #[test]
    fn parses_names() {
        assert_eq!(
            WeightFormat::parse("Q4_K_M"),
            Some(WeightFormat::Gguf(FileType::Q4_K_M))
        );
        assert_eq!(WeightFormat::parse("awq"), Some(WeightFormat::AwqInt4));
        assert_eq!(WeightFormat::parse("fp8"), Some(WeightFormat::Fp8));
        assert_eq!(WeightFormat::parse("q4_k_x"), None);
    }
}
