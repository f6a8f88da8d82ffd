//! Model architecture entries of the catalogue (`[[model]]` in models.toml) and their invariants.

use serde::{Deserialize, Serialize};

use crate::arch::table::{self, Arch, ArchInfo};

/// One model architecture: every field needed to derive each weight tensor's shape.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub family: String,
    /// llama.cpp `general.architecture` of the converted model (`llama`, `qwen2`, `deepseek2`, ...).
    pub gguf_arch: String,
    #[serde(default)]
    pub released: Option<String>,
    pub source: String,
    pub layers: u32,
    pub hidden_size: u64,
    /// Dense FFN width (`intermediate_size`).
    pub ffn_size: u64,
    pub heads: u32,
    pub kv_heads: u32,
    /// Per-head dimension where it is not `hidden_size / heads`.
    #[serde(default)]
    pub head_dim: Option<u64>,
    pub vocab_size: u64,
    pub tied_embeddings: bool,
    pub max_context: u64,
    #[serde(default)]
    pub qkv_bias: bool,
    #[serde(default)]
    pub qk_norm: bool,
    pub params_total_official: f64,
    #[serde(default)]
    pub params_active_official: Option<f64>,
    /// The author counts active parameters without the input embedding table (a token reads
    /// one row of it), as DeepSeek does; the default counts every matrix a token uses in full.
    #[serde(default)]
    pub params_active_excludes_input_embedding: bool,
    /// The author counts active parameters without either vocabulary table (input embedding
    /// and output head), as Zhipu's GLM-4.5 "32B active" is 32.08B so (33.63B with both).
    #[serde(default)]
    pub params_active_excludes_embeddings: bool,
    #[serde(default)]
    pub params_source: Option<String>,
    #[serde(default)]
    pub sliding_window: Option<SlidingWindow>,
    #[serde(default)]
    pub mla: Option<Mla>,
    #[serde(default)]
    pub moe: Option<Moe>,
}

/// Sliding-window attention as llama.cpp models it (`hparams.set_swa_pattern`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlidingWindow {
    pub window: u64,
    /// In every group of `pattern` layers the first `pattern - 1` slide and the last is full;
    /// 1 means every layer slides. The architecture table states it ([`ArchInfo::swa_pattern`]):
    /// a catalogue file may leave it out (0 until [`ModelEntry::complete`]) or must agree.
    #[serde(default)]
    pub pattern: u32,
}

/// DeepSeek multi-head latent attention.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mla {
    pub kv_lora_rank: u64,
    #[serde(default)]
    pub q_lora_rank: Option<u64>,
    pub qk_rope_head_dim: u64,
    pub qk_nope_head_dim: u64,
    pub v_head_dim: u64,
}

/// Mixture of experts.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Moe {
    pub experts: u32,
    pub experts_per_token: u32,
    pub expert_ffn_size: u64,
    #[serde(default)]
    pub shared_experts: u32,
    #[serde(default)]
    pub shared_expert_ffn_size: Option<u64>,
    /// Leading layers with a dense FFN of `ffn_size` (`first_k_dense_replace`).
    #[serde(default)]
    pub dense_layers: u32,
    /// Per-layer expert score correction bias (DeepSeek-V3 `e_score_correction_bias`).
    #[serde(default)]
    pub router_bias: bool,
}

impl Moe {
    /// FFN width of the shared-expert block (0 without shared experts).
    pub fn shared_ffn(&self) -> u64 {
        if self.shared_experts == 0 {
            0
        } else {
            self.shared_expert_ffn_size
                .unwrap_or(self.expert_ffn_size * self.shared_experts as u64)
        }
    }
}

/// Upper bounds on hyperparameters from files vramplan did not write (user catalogues,
/// config.json, GGUF metadata). Each is far above any published model, and together they keep
/// every size derived from them (parameter counts, bytes, KV cache, compute buffers) far from
/// `u64` overflow and the per-layer work small. Values beyond them are refused, not estimated.
pub mod limits {
    /// Repeating layers (published models: at most ~130).
    pub const MAX_LAYERS: u64 = 1024;
    /// Embedding width (published: at most ~25k).
    pub const MAX_HIDDEN: u64 = 1 << 17;
    /// Dense, expert and shared-expert FFN widths (published: at most ~75k).
    pub const MAX_FFN: u64 = 1 << 19;
    /// Attention heads and KV heads (published: at most 128).
    pub const MAX_HEADS: u64 = 1024;
    /// Per-head dimensions and MLA ranks (published: at most 1536).
    pub const MAX_HEAD_DIM: u64 = 1 << 14;
    /// Vocabulary size (published: at most ~260k).
    pub const MAX_VOCAB: u64 = 1 << 24;
    /// Routed or shared experts (published: at most 384).
    pub const MAX_EXPERTS: u64 = 4096;
    /// Context length and sliding window, in tokens (published: at most ~10M).
    pub const MAX_CONTEXT: u64 = 1 << 32;
}

impl ModelEntry {
    /// The architecture's row in the table (`None` for a name it lacks; [`Self::problems`]
    /// refuses such entries).
    pub fn arch(&self) -> Option<Arch> {
        Arch::from_gguf(&self.gguf_arch)
    }

    /// The row whose layout the inventory builder follows: a name the table lacks gets a plain
    /// llama layout (only entries built in code can have one; catalogue files are refused).
    pub fn arch_info(&self) -> &'static ArchInfo {
        self.arch().unwrap_or(Arch::Llama).info()
    }

    /// Fills what the architecture table states once: the sliding-window pattern where the
    /// file leaves it out.
    pub fn complete(&mut self) {
        let pattern = self.arch().and_then(|a| a.info().swa_pattern);
        if let (Some(sw), Some(p)) = (self.sliding_window.as_mut(), pattern) {
            if sw.pattern == 0 {
                sw.pattern = p;
            }
        }
    }

    /// Per-head dimension of queries and keys (and values outside MLA).
    pub fn head_dim(&self) -> u64 {
        self.head_dim
            .unwrap_or(self.hidden_size / self.heads.max(1) as u64)
    }

    pub fn is_moe(&self) -> bool {
        self.moe.is_some_and(|m| m.experts > 1)
    }

    /// Whether layer `il` uses sliding-window attention (llama.cpp's `is_swa(il)`).
    pub fn layer_is_sliding(&self, il: u32) -> bool {
        self.sliding_window
            .is_some_and(|sw| table::layer_is_sliding(sw.pattern, il))
    }

    /// Every broken invariant, as human-readable messages (empty when valid).
    pub fn problems(&self) -> Vec<String> {
        let mut p = self.out_of_bounds();
        if !super::is_kebab_id(&self.id) {
            p.push(format!("id `{}` is not lower-case kebab-case", self.id));
        }
        if self.layers == 0 {
            p.push("layers must be > 0".into());
        }
        if self.hidden_size == 0 || self.ffn_size == 0 || self.vocab_size == 0 {
            p.push("hidden_size, ffn_size and vocab_size must be > 0".into());
        }
        if self.heads == 0 || self.kv_heads == 0 {
            p.push("heads and kv_heads must be > 0".into());
        } else if !self.heads.is_multiple_of(self.kv_heads) {
            p.push(format!(
                "kv_heads {} does not divide heads {}",
                self.kv_heads, self.heads
            ));
        }
        if self.head_dim.is_none()
            && self.heads > 0
            && !self.hidden_size.is_multiple_of(self.heads as u64)
        {
            p.push("hidden_size is not a multiple of heads and no head_dim is given".into());
        }
        if self.head_dim == Some(0) {
            p.push("head_dim must be > 0".into());
        }
        if self.max_context == 0 {
            p.push("max_context must be > 0".into());
        }
        let arch = self.arch().map(Arch::info).filter(|a| a.catalogue);
        if arch.is_none() {
            p.push(format!(
                "gguf_arch `{}` is not one of {}",
                self.gguf_arch,
                Arch::catalogue_names().collect::<Vec<_>>().join(", ")
            ));
        }
        if !(self.params_total_official.is_finite() && self.params_total_official > 0.0) {
            p.push("params_total_official must be a positive number".into());
        }
        if self.source.trim().is_empty() {
            p.push("source must name where the figures come from".into());
        }
        if let Some(sw) = self.sliding_window {
            if sw.window == 0 || sw.pattern == 0 {
                p.push("sliding_window.window and .pattern must be > 0".into());
            }
            match arch.map(|a| a.swa_pattern) {
                Some(None) => p.push(format!(
                    "gguf_arch `{}` has no sliding-window layers in llama.cpp",
                    self.gguf_arch
                )),
                Some(Some(want)) if sw.pattern != want => p.push(format!(
                    "sliding_window.pattern {} differs from gguf_arch `{}`'s {want}",
                    sw.pattern, self.gguf_arch
                )),
                _ => {}
            }
        }
        if let Some(mla) = self.mla {
            if mla.kv_lora_rank == 0 || mla.qk_rope_head_dim == 0 || mla.v_head_dim == 0 {
                p.push("mla ranks and head dims must be > 0".into());
            }
            if !arch.is_some_and(|a| a.mla) {
                p.push(format!(
                    "mla is not modelled for gguf_arch `{}`",
                    self.gguf_arch
                ));
            }
        }
        if let Some(moe) = self.moe {
            if moe.experts == 0 || moe.experts_per_token == 0 || moe.expert_ffn_size == 0 {
                p.push("moe.experts, experts_per_token and expert_ffn_size must be > 0".into());
            } else if moe.experts_per_token > moe.experts {
                p.push("moe.experts_per_token exceeds moe.experts".into());
            }
            if moe.dense_layers >= self.layers {
                p.push("moe.dense_layers must be fewer than layers".into());
            }
            match self.params_active_official {
                Some(a) if a > 0.0 && a <= self.params_total_official => {}
                Some(_) => {
                    p.push("params_active_official must be in (0, params_total_official]".into())
                }
                None => p.push("a MoE model needs params_active_official".into()),
            }
        }
        p
    }

    /// Hyperparameters beyond [`limits`]: a hostile or corrupt entry must be refused before
    /// anything expands it into tensors or multiplies its sizes.
    fn out_of_bounds(&self) -> Vec<String> {
        use limits::*;
        let mut checks = vec![
            ("layers", u64::from(self.layers), MAX_LAYERS),
            ("hidden_size", self.hidden_size, MAX_HIDDEN),
            ("ffn_size", self.ffn_size, MAX_FFN),
            ("heads", u64::from(self.heads), MAX_HEADS),
            ("kv_heads", u64::from(self.kv_heads), MAX_HEADS),
            ("head_dim", self.head_dim.unwrap_or(0), MAX_HEAD_DIM),
            ("vocab_size", self.vocab_size, MAX_VOCAB),
            ("max_context", self.max_context, MAX_CONTEXT),
        ];
        if let Some(sw) = self.sliding_window {
            checks.push(("sliding_window.window", sw.window, MAX_CONTEXT));
            checks.push(("sliding_window.pattern", u64::from(sw.pattern), MAX_LAYERS));
        }
        if let Some(mla) = self.mla {
            checks.push(("mla.kv_lora_rank", mla.kv_lora_rank, MAX_HEAD_DIM));
            checks.push((
                "mla.q_lora_rank",
                mla.q_lora_rank.unwrap_or(0),
                MAX_HEAD_DIM,
            ));
            checks.push(("mla.qk_rope_head_dim", mla.qk_rope_head_dim, MAX_HEAD_DIM));
            checks.push(("mla.qk_nope_head_dim", mla.qk_nope_head_dim, MAX_HEAD_DIM));
            checks.push(("mla.v_head_dim", mla.v_head_dim, MAX_HEAD_DIM));
        }
        if let Some(moe) = self.moe {
            checks.push(("moe.experts", u64::from(moe.experts), MAX_EXPERTS));
            checks.push(("moe.expert_ffn_size", moe.expert_ffn_size, MAX_FFN));
            checks.push((
                "moe.shared_experts",
                u64::from(moe.shared_experts),
                MAX_EXPERTS,
            ));
            let shared_ffn = moe.shared_expert_ffn_size.unwrap_or_else(|| {
                moe.expert_ffn_size
                    .saturating_mul(u64::from(moe.shared_experts))
            });
            checks.push(("the shared-expert FFN width", shared_ffn, MAX_FFN));
        }
        checks
            .into_iter()
            .filter(|&(_, value, max)| value > max)
            .map(|(name, value, max)| format!("{name} {value} exceeds the limit of {max}"))
            .collect()
    }
}
