//! A Hugging Face config.json as a catalogue-style model entry, so its inventory, parameter
//! counts and memory come from the same code as the catalogue's.

use crate::arch::Arch;
use crate::catalog::{Mla, ModelEntry, Moe, SlidingWindow};

use super::HfConfig;

impl HfConfig {
    /// llama.cpp's `general.architecture` for this `model_type`, when vramplan models it.
    pub fn gguf_arch(&self) -> Option<&'static str> {
        self.arch().map(Arch::gguf_name)
    }

    /// The table's architecture for this `model_type`, when catalogue entries of it expand.
    pub fn arch(&self) -> Option<Arch> {
        Arch::from_hf_model_type(&self.model_type).filter(|a| a.info().catalogue)
    }

    /// The config as a model entry with id `id`; an unsupported `model_type` is an error naming it.
    pub fn to_model_entry(&self, id: &str, source: &str) -> Result<ModelEntry, String> {
        let arch = self.arch().map(Arch::info).ok_or_else(|| {
            format!(
                "model_type `{}` is not an architecture vramplan models ({})",
                self.model_type,
                Arch::catalogue_hf_model_types()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let tied = self.tie_word_embeddings.unwrap_or(arch.tied_embeddings);
        let sliding_window = match (arch.swa_pattern, self.sliding_window) {
            (Some(pattern), Some(window)) => Some(SlidingWindow { window, pattern }),
            _ => None,
        };
        let mla = match (
            self.kv_lora_rank,
            self.qk_rope_head_dim,
            self.qk_nope_head_dim,
            self.v_head_dim,
        ) {
            (
                Some(kv_lora_rank),
                Some(qk_rope_head_dim),
                Some(qk_nope_head_dim),
                Some(v_head_dim),
            ) => Some(Mla {
                kv_lora_rank,
                q_lora_rank: self.q_lora_rank,
                qk_rope_head_dim,
                qk_nope_head_dim,
                v_head_dim,
            }),
            _ => None,
        };
        let moe = match (self.num_experts, self.num_experts_per_tok) {
            (Some(n), Some(k)) if n > 1 => Some(Moe {
                experts: to_u32(n),
                experts_per_token: to_u32(k),
                expert_ffn_size: self
                    .moe_intermediate_size
                    .or(self.intermediate_size)
                    .unwrap_or(0),
                shared_experts: to_u32(
                    self.n_shared_experts
                        .unwrap_or(u64::from(arch.implicit_shared_expert)),
                ),
                shared_expert_ffn_size: None,
                dense_layers: to_u32(self.first_k_dense_replace.unwrap_or(0)),
                router_bias: self.model_type == "deepseek_v3" || arch.moe_router_bias,
            }),
            _ => None,
        };
        let h = self.num_attention_heads;
        let head_dim = (h > 0 && self.head_dim != self.hidden_size / h).then_some(self.head_dim);
        let mut entry = ModelEntry {
            id: id.to_string(),
            name: self
                .architecture
                .clone()
                .unwrap_or_else(|| self.model_type.clone()),
            aliases: vec![],
            family: self.model_type.clone(),
            gguf_arch: arch.gguf.to_string(),
            released: None,
            source: source.to_string(),
            layers: to_u32(self.num_hidden_layers),
            hidden_size: self.hidden_size,
            ffn_size: self.intermediate_size.unwrap_or(0).max(1),
            heads: to_u32(self.num_attention_heads),
            kv_heads: to_u32(self.num_key_value_heads),
            head_dim,
            vocab_size: self.vocab_size,
            tied_embeddings: tied,
            max_context: self.max_position_embeddings.unwrap_or(4096),
            qkv_bias: self.attention_bias.unwrap_or(arch.qkv_bias),
            qk_norm: self.use_qk_norm.unwrap_or(arch.qk_norm),
            // Placeholders until the counts below; they satisfy `problems`.
            params_total_official: 1.0,
            params_active_official: moe.map(|_| 1.0),
            params_active_excludes_input_embedding: false,
            params_active_excludes_embeddings: false,
            params_source: None,
            sliding_window,
            mla,
            moe,
        };
        // Invariants and limits first: an absurd config (a billion layers, giant widths) is refused
        // before its inventory is expanded.
        if let Some(p) = entry.problems().into_iter().find(|p| !p.contains("kebab")) {
            return Err(p);
        }
        let (total, active) = crate::arch::param_counts(&entry);
        entry.params_total_official = total as f64;
        entry.params_active_official = entry.moe.map(|_| active as f64);
        if let Some(p) = entry.problems().into_iter().find(|p| !p.contains("kebab")) {
            return Err(p);
        }
        Ok(entry)
    }
}

/// A count as `u32`, saturating: a value past `u32::MAX` stays out of bounds for
/// [`ModelEntry::problems`] instead of wrapping to a small, plausible one.
fn to_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
