//! KV cache sizing, layer by layer, as llama.cpp and vLLM allocate it.
//!
//! llama.cpp (`src/llama-kv-cache.cpp`, `llama-kv-cache-iswa.cpp`): one K and one V tensor per
//! layer of `kv_size` cells, each cell a row of `n_head_kv * head_dim` elements in the cache type
//! (so q8_0 costs 34 bytes per 32 elements, not 1 byte per element). `kv_size` is the context
//! padded to 256 cells. With `-np N` each sequence gets its own stream of `kv_size / N` cells (padded
//! again) and sliding-window layers `pad(min(stream, n_swa + n_ubatch), 256)` cells per stream; with
//! `--kv-unified` one stream of `kv_size` cells and `pad(min(kv_size, n_swa * N + n_ubatch), 256)`
//! for sliding-window layers (`llama-context.cpp` n_ctx_seq, `llama-kv-cache-iswa.cpp` size_swa).
//! `--swa-full` gives sliding-window layers the full size. MLA (deepseek2) caches only the latent `kv_lora_rank + rope` row per
//! token and reads V as a view of it. vLLM: pages of 16 tokens of `2 * n_kv * head_dim` elements
//! per layer (MLA: one latent row); sliding-window layers hold at most the window per sequence.

use serde::Serialize;

use crate::arch::ModelShape;
use crate::ggml::llama_cpp::{pad, LLAMA_KV_PAD};
use crate::ggml::GgmlType;

/// Element type of the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KvType {
    F16,
    Bf16,
    Q8_0,
    Q4_0,
    /// vLLM's fp8 (e4m3/e5m2): one byte per element.
    Fp8,
}

impl KvType {
    pub fn parse(s: &str) -> Option<KvType> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "f16" | "fp16" | "float16" => KvType::F16,
            "bf16" | "bfloat16" => KvType::Bf16,
            "q8_0" => KvType::Q8_0,
            "q4_0" => KvType::Q4_0,
            "fp8" | "fp8_e4m3" | "fp8_e5m2" | "f8" => KvType::Fp8,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            KvType::F16 => "f16",
            KvType::Bf16 => "bf16",
            KvType::Q8_0 => "q8_0",
            KvType::Q4_0 => "q4_0",
            KvType::Fp8 => "fp8",
        }
    }

    /// Bytes of one cached row of `n` elements. Quantized rows must hold whole blocks; llama.cpp
    /// refuses a quantized cache otherwise, so `None`.
    pub fn row_bytes(self, n: u64) -> Option<u64> {
        match self {
            KvType::F16 => GgmlType::F16.row_bytes(n),
            KvType::Bf16 => GgmlType::BF16.row_bytes(n),
            KvType::Q8_0 => GgmlType::Q8_0.row_bytes(n),
            KvType::Q4_0 => GgmlType::Q4_0.row_bytes(n),
            KvType::Fp8 => Some(n),
        }
    }
}

/// vLLM's default page (block) size in tokens.
pub const VLLM_BLOCK_TOKENS: u64 = 16;

/// Bytes per cached token of layer `il`: (K row, V row).
pub fn row_bytes_per_token(shape: &ModelShape, kv: KvType) -> Option<(u64, u64)> {
    match shape.mla_cache_width {
        Some(w) => Some((kv.row_bytes(w)?, 0)),
        None => Some((
            kv.row_bytes(shape.n_head_kv as u64 * shape.head_dim_k)?,
            kv.row_bytes(shape.n_head_kv as u64 * shape.head_dim_v)?,
        )),
    }
}

/// KV bytes per token summed over all layers when every layer holds the token (full attention).
pub fn bytes_per_token(shape: &ModelShape, kv: KvType) -> Option<u64> {
    let (k, v) = row_bytes_per_token(shape, kv)?;
    Some((k + v) * shape.n_layer as u64)
}

/// Per-layer KV allocation of llama.cpp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KvLayer {
    pub layer: u32,
    pub cells: u64,
    pub bytes: u64,
    pub sliding: bool,
}

/// llama.cpp's per-layer cache for `n_ctx` tokens per sequence and `n_seq` sequences, in one
/// stream (`unified`, `--kv-unified`) or one per sequence (`-np N`, llama-server's layout when the
/// slot count is given). `cells` counts all streams.
pub fn llama_cpp_layers(
    shape: &ModelShape,
    kv: KvType,
    n_ctx: u64,
    n_seq: u64,
    n_ubatch: u64,
    swa_full: bool,
    unified: bool,
) -> Option<Vec<KvLayer>> {
    let (k, v) = row_bytes_per_token(shape, kv)?;
    let n_seq = n_seq.max(1);
    let n_ctx_total = pad(n_ctx.checked_mul(n_seq)?, LLAMA_KV_PAD);
    let (streams, stream_cells) = if unified || n_seq == 1 {
        (1, n_ctx_total)
    } else {
        (n_seq, pad(n_ctx_total / n_seq, LLAMA_KV_PAD))
    };
    let total_cells = streams.checked_mul(stream_cells)?;
    let swa_cells = shape.sliding_window.map(|(w, _)| {
        let per_stream_window = if streams == 1 { w * n_seq } else { w };
        streams * stream_cells.min(pad(per_stream_window + n_ubatch, LLAMA_KV_PAD))
    });
    (0..shape.n_layer)
        .map(|il| {
            let sliding = shape.layer_is_sliding(il) && !swa_full;
            let cells = if sliding {
                swa_cells.unwrap_or(total_cells)
            } else {
                total_cells
            };
            Some(KvLayer {
                layer: il,
                cells,
                bytes: cells.checked_mul(k + v)?,
                sliding,
            })
        })
        .collect()
}

/// vLLM's KV bytes for one sequence of `n_ctx` tokens, divided over `tp` tensor-parallel ranks
/// (KV heads split when they divide, replicated when fewer than ranks).
pub fn vllm_bytes_per_sequence(shape: &ModelShape, kv: KvType, n_ctx: u64, tp: u32) -> Option<u64> {
    let tp = tp.max(1) as u64;
    let per_rank_heads = (shape.n_head_kv as u64).div_ceil(tp).max(1);
    let (k, v) = match shape.mla_cache_width {
        Some(w) => (kv.row_bytes(w)?, 0),
        None => (
            kv.row_bytes(per_rank_heads * shape.head_dim_k)?,
            kv.row_bytes(per_rank_heads * shape.head_dim_v)?,
        ),
    };
    let full_tokens = pad(n_ctx, VLLM_BLOCK_TOKENS);
    let mut total = 0u64;
    for il in 0..shape.n_layer {
        let tokens = match shape.sliding_window {
            Some((w, _)) if shape.layer_is_sliding(il) => {
                full_tokens.min(pad(w, VLLM_BLOCK_TOKENS) + VLLM_BLOCK_TOKENS)
            }
            _ => full_tokens,
        };
        total = total.checked_add(tokens.checked_mul(k + v)?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::MoeShape;

    fn llama31_8b() -> ModelShape {
        ModelShape {
            arch: "llama".into(),
            n_layer: 32,
            n_embd: 4096,
            n_head: 32,
            n_head_kv: 8,
            head_dim_k: 128,
            head_dim_v: 128,
            n_vocab: 128256,
            n_ff: 14336,
            max_context: 131072,
            sliding_window: None,
            mla_cache_width: None,
            moe: None::<MoeShape>,
        }
    }

    #[test]
    fn quantized_cache_rows_count_their_block_scales() {
        assert_eq!(KvType::F16.row_bytes(1024), Some(2048));
        assert_eq!(KvType::Q8_0.row_bytes(1024), Some(32 * 34));
        assert_eq!(KvType::Q4_0.row_bytes(1024), Some(32 * 18));
        assert_eq!(KvType::Q8_0.row_bytes(100), None);
    }

    #[test]
    fn llama_cpp_pads_to_256_cells() {
        let l = llama_cpp_layers(&llama31_8b(), KvType::F16, 1000, 1, 512, false, false).unwrap();
        assert_eq!(l[0].cells, 1024);
        assert_eq!(l.iter().map(|x| x.bytes).sum::<u64>(), 1024 * 131072);
    }
}
