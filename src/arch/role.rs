//! What a weight tensor does, read once from its GGUF name (llama.cpp `llm_tensor` names in
//! `src/llama-arch.cpp`), so callers ask `t.role()` instead of matching names.

/// The role of a weight tensor. Names are matched exactly on the part between `blk.N.` and
/// `.weight`/`.bias`; anything else is [`TensorRole::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorRole {
    /// `token_embd` (and Gemma 3n's `per_layer_token_embd`): the input embedding table.
    TokenEmbedding,
    /// `output`: the output head (absent when tied to the embedding table).
    Output,
    /// Any RMS/layer norm weight (`*_norm`), 1-D.
    Norm,
    AttnQ,
    AttnK,
    AttnV,
    /// Fused Q/K/V projection (`attn_qkv`, Phi-3).
    AttnQkv,
    AttnOutput,
    /// MLA low-rank projections (`attn_q_a`, `attn_q_b`, `attn_kv_a_mqa`, `attn_kv_b`).
    AttnLowRank,
    /// Per-head attention sink logits (`attn_sinks`, gpt-oss).
    AttnSinks,
    FfnGate,
    FfnUp,
    FfnDown,
    /// Routed experts, one slice per expert (`ffn_{gate,up,down}_exps`).
    ExpertGate,
    ExpertUp,
    ExpertDown,
    /// Shared experts every token goes through (`ffn_{gate,up,down}_shexp`).
    SharedGate,
    SharedUp,
    SharedDown,
    /// The MoE router (`ffn_gate_inp`) and its score-correction bias (`exp_probs_b`).
    Router,
    /// A bias vector of any projection (`*.bias`).
    Bias,
    Other,
}

impl TensorRole {
    /// The role of the tensor called `name`.
    pub fn of(name: &str) -> TensorRole {
        use TensorRole::*;
        let base = name.strip_prefix("blk.").map_or(name, |rest| {
            rest.split_once('.').map_or(rest, |(_, after)| after)
        });
        let (stem, suffix) = match base.rsplit_once('.') {
            Some((stem, s)) => (stem, s),
            None => (base, ""),
        };
        if stem == "exp_probs_b" {
            return Router;
        }
        let role = Self::of_stem(stem);
        match suffix {
            "weight" => role,
            // An expert's bias is sliced per expert like its weight (gpt-oss); the router's
            // bias belongs to the router.
            "bias" if role.is_routed_expert() || role == Router => role,
            "bias" => Bias,
            _ => Other,
        }
    }

    fn of_stem(stem: &str) -> TensorRole {
        use TensorRole::*;
        match stem {
            "token_embd" | "per_layer_token_embd" => TokenEmbedding,
            "output" => Output,
            "attn_q" => AttnQ,
            "attn_k" => AttnK,
            "attn_v" => AttnV,
            "attn_qkv" => AttnQkv,
            "attn_output" => AttnOutput,
            "attn_q_a" | "attn_q_b" | "attn_kv_a_mqa" | "attn_kv_b" => AttnLowRank,
            "attn_sinks" => AttnSinks,
            "ffn_gate" => FfnGate,
            "ffn_up" => FfnUp,
            "ffn_down" => FfnDown,
            "ffn_gate_exps" => ExpertGate,
            "ffn_up_exps" => ExpertUp,
            "ffn_down_exps" => ExpertDown,
            "ffn_gate_shexp" => SharedGate,
            "ffn_up_shexp" => SharedUp,
            "ffn_down_shexp" => SharedDown,
            "ffn_gate_inp" => Router,
            s if s.ends_with("_norm") => Norm,
            _ => Other,
        }
    }

    /// A routed-expert tensor: only `experts_per_token` of its `experts` slices are read per token.
    pub fn is_routed_expert(self) -> bool {
        matches!(
            self,
            TensorRole::ExpertGate | TensorRole::ExpertUp | TensorRole::ExpertDown
        )
    }

    /// The input embedding table or the output head (the recipe's and llama-quantize's
    /// "output and embeddings" class).
    pub fn is_embedding_or_output(self) -> bool {
        matches!(self, TensorRole::TokenEmbedding | TensorRole::Output)
    }

    /// A norm or the MoE router: small tensors converters keep in F32 and quantizers skip.
    pub fn is_kept_in_f32(self) -> bool {
        matches!(self, TensorRole::Norm | TensorRole::Router)
    }

    /// A projection matrix inside a block (what AWQ/GPTQ/bitsandbytes quantize).
    pub fn is_block_linear(self) -> bool {
        use TensorRole::*;
        matches!(
            self,
            AttnQ
                | AttnK
                | AttnV
                | AttnQkv
                | AttnOutput
                | AttnLowRank
                | FfnGate
                | FfnUp
                | FfnDown
                | ExpertGate
                | ExpertUp
                | ExpertDown
                | SharedGate
                | SharedUp
                | SharedDown
        )
    }
}

/// GGUF names of the tensors looked up by name (llama.cpp `LLM_TENSOR_TOKEN_EMBD`, `_OUTPUT`).
pub const TOKEN_EMBD: &str = "token_embd.weight";
pub const OUTPUT: &str = "output.weight";

#[cfg(test)]
mod tests {
    use super::TensorRole::{self, *};

    #[test]
    fn roles_from_names() {
        let cases = [
            ("token_embd.weight", TokenEmbedding),
            ("per_layer_token_embd.weight", TokenEmbedding),
            ("output.weight", Output),
            ("output_norm.weight", Norm),
            ("blk.3.attn_norm.weight", Norm),
            ("blk.3.attn_q_norm.weight", Norm),
            ("blk.3.post_ffw_norm.weight", Norm),
            ("blk.0.attn_qkv.weight", AttnQkv),
            ("blk.0.attn_v.weight", AttnV),
            ("blk.0.attn_v.bias", Bias),
            ("blk.0.ffn_up_exps.bias", ExpertUp),
            ("blk.0.ffn_gate_inp.bias", Router),
            ("blk.0.attn_kv_b.weight", AttnLowRank),
            ("blk.12.ffn_down_exps.weight", ExpertDown),
            ("blk.12.ffn_up_shexp.weight", SharedUp),
            ("blk.12.ffn_gate_inp.weight", Router),
            ("blk.12.exp_probs_b.bias", Router),
            ("blk.1.attn_sinks.weight", AttnSinks),
            ("blk.1.ffn_down.weight", FfnDown),
            ("rope_freqs.weight", Other),
            ("blk.1.ffn_down", Other),
        ];
        for (name, want) in cases {
            assert_eq!(TensorRole::of(name), want, "{name}");
        }
        assert!(ExpertUp.is_routed_expert() && !SharedUp.is_routed_expert());
    }
}
