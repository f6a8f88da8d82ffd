//! The hyperparameters the estimator needs besides the inventory, from a catalogue entry or a
//! GGUF file's metadata (`{arch}.block_count`, `{arch}.attention.head_count_kv`, ...).

use crate::catalog::ModelEntry;

use super::table::{Arch, ArchInfo};

/// Attention geometry and the per-token activation widths of a model.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ModelShape {
    pub arch: String,
    pub n_layer: u32,
    pub n_embd: u64,
    pub n_head: u32,
    pub n_head_kv: u32,
    /// Per-head widths of K and V as cached (`key_length`, `value_length`).
    pub head_dim_k: u64,
    pub head_dim_v: u64,
    pub n_vocab: u64,
    /// Dense FFN width.
    pub n_ff: u64,
    pub max_context: u64,
    /// Sliding window size and llama.cpp's pattern (`set_swa_pattern`).
    pub sliding_window: Option<(u64, u32)>,
    /// MLA: the cached latent width per token and layer (kv_lora_rank + rope dims).
    pub mla_cache_width: Option<u64>,
    pub moe: Option<MoeShape>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct MoeShape {
    pub n_expert: u32,
    pub n_expert_used: u32,
    pub expert_ff: u64,
    pub shared_ff: u64,
    pub dense_layers: u32,
}

impl ModelShape {
    pub fn from_entry(m: &ModelEntry) -> ModelShape {
        let hd = m.head_dim();
        ModelShape {
            arch: m.gguf_arch.clone(),
            n_layer: m.layers,
            n_embd: m.hidden_size,
            n_head: m.heads,
            n_head_kv: m.kv_heads,
            head_dim_k: m
                .mla
                .map_or(hd, |x| x.qk_nope_head_dim + x.qk_rope_head_dim),
            head_dim_v: m.mla.map_or(hd, |x| x.v_head_dim),
            n_vocab: m.vocab_size,
            n_ff: m.ffn_size,
            max_context: m.max_context,
            sliding_window: m.sliding_window.map(|s| (s.window, s.pattern)),
            mla_cache_width: m.mla.map(|x| x.kv_lora_rank + x.qk_rope_head_dim),
            moe: m.moe.filter(|x| x.experts > 1).map(|x| MoeShape {
                n_expert: x.experts,
                n_expert_used: x.experts_per_token,
                expert_ff: x.expert_ffn_size,
                shared_ff: x.shared_ffn(),
                dense_layers: x.dense_layers,
            }),
        }
    }

    /// Whether layer `il` uses the sliding window (llama.cpp `hparams.is_swa`).
    pub fn layer_is_sliding(&self, il: u32) -> bool {
        self.sliding_window
            .is_some_and(|(_, p)| super::table::layer_is_sliding(p, il))
    }

    /// The architecture's row, when the table has one (a GGUF file may name any).
    pub fn arch_info(&self) -> Option<&'static ArchInfo> {
        Arch::from_gguf(&self.arch).map(Arch::info)
    }

    /// FFN width one token goes through in layer `il` (routed experts in use plus shared).
    pub fn active_ff(&self, il: u32) -> u64 {
        match self.moe {
            Some(m) if il >= m.dense_layers => m.n_expert_used as u64 * m.expert_ff + m.shared_ff,
            _ => self.n_ff,
        }
    }
}
