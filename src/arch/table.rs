//! The architecture table: one row per GGUF architecture (llama.cpp `general.architecture`) with
//! its Hugging Face `model_type` names and every trait the code branches on (sliding-window
//! pattern, fused projections, norms, MoE and MLA). Nothing else compares architecture names.
//!
//! It imports nothing from the crate, so the catalogue can check `gguf_arch` against it although
//! the rest of `arch` sits above `catalog` in the layer map.

/// A GGUF architecture vramplan knows something about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    Llama,
    Qwen2,
    Qwen3,
    Qwen3Moe,
    Gemma2,
    Gemma3,
    Deepseek2,
    Phi3,
    GptOss,
    Llama4,
    Glm4Moe,
    Cohere2,
    Gemma3n,
    Falcon,
}

/// How llama.cpp's `llama_model_*::load_arch_hparams` lays out sliding-window layers
/// (`hparams.set_swa_pattern(n)`): in every group of `n` layers the first `n - 1` slide and
/// the last attends to the whole context; 1 means every layer slides.
pub type SwaPattern = u32;

/// llama.cpp's `LLM_TYPE_70B` rule for this architecture (the recipe gives 70B models' `attn_v`
/// more bits): 80 layers and ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type70b {
    /// ... never (the architecture has no 70B type).
    Never,
    /// ... grouped-query attention (llama: Llama-2-70B and later).
    WithGqa,
    /// ... always (qwen2: Qwen2/2.5-72B).
    Always,
}

/// The facts of one architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchInfo {
    pub arch: Arch,
    /// `general.architecture` (llama.cpp `llm_arch_name`).
    pub gguf: &'static str,
    /// Hugging Face config.json `model_type` values converted to this architecture.
    pub hf_model_types: &'static [&'static str],
    /// Catalogue entries of this architecture expand into an inventory (`arch::source_inventory`).
    pub catalogue: bool,
    /// Sliding-window layer pattern where llama.cpp applies `{arch}.attention.sliding_window`.
    pub swa_pattern: Option<SwaPattern>,
    /// The window llama.cpp sets when a GGUF file has no `attention.sliding_window` key (Llama 4:
    /// chunked attention over 8192-token chunks; 0 in the file turns it off). Chunked layers
    /// cache as sliding ones do (`llama-kv-cache-iswa.cpp` sizes both from `n_swa`).
    pub default_window: Option<u64>,
    /// One `attn_qkv` projection instead of `attn_q`/`attn_k`/`attn_v` (Phi-3).
    pub fused_qkv: bool,
    /// One `ffn_up` of twice the FFN width holding gate and up (Phi-3).
    pub fused_gate_up: bool,
    /// Norms after attention and after the FFN as well as before (`post_attention_norm`,
    /// `post_ffw_norm`: Gemma 2 and 3).
    pub post_norms: bool,
    /// Per-head RMS norms of Q and K (`attn_q_norm`, `attn_k_norm`) by default.
    pub qk_norm: bool,
    /// Q/K/V biases when config.json does not say (`attention_bias`).
    pub qkv_bias: bool,
    /// Input and output embeddings tied when config.json does not say (`tie_word_embeddings`).
    pub tied_embeddings: bool,
    /// Multi-head latent attention (DeepSeek-V2/V3).
    pub mla: bool,
    /// Per-head attention sink logits (`attn_sinks`, gpt-oss).
    pub attn_sinks: bool,
    /// A bias on the attention output projection (`attn_output.bias`, gpt-oss).
    pub attn_out_bias: bool,
    /// Biases on the router and every expert projection (`ffn_gate_inp.bias`,
    /// `ffn_{gate,up,down}_exps.bias`, gpt-oss).
    pub moe_biases: bool,
    /// GGUF name of the norm before the FFN: `ffn_norm`, or `post_attention_norm` where
    /// llama.cpp maps the HF `post_attention_layernorm` so (gpt-oss).
    pub ffn_norm: &'static str,
    /// Every MoE layer has one shared expert as wide as a routed one, which GGUF files do not
    /// state (llama.cpp `llama4.cpp`: `n_ff_shexp = n_ff_exp`).
    pub implicit_shared_expert: bool,
    /// Every MoE layer has a router score-correction bias (`exp_probs_b`) whatever config.json
    /// says (GLM-4.5: llama.cpp `glm4-moe.cpp` loads it as required).
    pub moe_router_bias: bool,
    /// The routed experts' weights are renormalised after top-k (`build_moe_ffn`'s `norm_w`).
    pub moe_norm_weights: bool,
    pub type_70b: Type70b,
}

const BASE: ArchInfo = ArchInfo {
    arch: Arch::Llama,
    gguf: "",
    hf_model_types: &[],
    catalogue: true,
    swa_pattern: None,
    default_window: None,
    fused_qkv: false,
    fused_gate_up: false,
    post_norms: false,
    qk_norm: false,
    qkv_bias: false,
    tied_embeddings: false,
    mla: false,
    attn_sinks: false,
    attn_out_bias: false,
    moe_biases: false,
    ffn_norm: "ffn_norm",
    implicit_shared_expert: false,
    moe_router_bias: false,
    moe_norm_weights: true,
    type_70b: Type70b::Never,
};

/// Every row. Sources: llama.cpp `src/llama-arch.cpp` (names), `src/models/*.cpp`
/// (`load_swa_pattern`, tensors), `convert_hf_to_gguf.py` (`model_type` -> architecture).
pub const ARCHS: &[ArchInfo] = &[
    ArchInfo {
        arch: Arch::Llama,
        gguf: "llama",
        hf_model_types: &["llama", "mistral", "mixtral", "mistral3", "ministral"],
        type_70b: Type70b::WithGqa,
        ..BASE
    },
    ArchInfo {
        arch: Arch::Qwen2,
        gguf: "qwen2",
        hf_model_types: &["qwen2"],
        qkv_bias: true,
        type_70b: Type70b::Always,
        ..BASE
    },
    ArchInfo {
        arch: Arch::Qwen3,
        gguf: "qwen3",
        hf_model_types: &["qwen3"],
        qk_norm: true,
        ..BASE
    },
    ArchInfo {
        arch: Arch::Qwen3Moe,
        gguf: "qwen3moe",
        hf_model_types: &["qwen3_moe"],
        qk_norm: true,
        ..BASE
    },
    ArchInfo {
        arch: Arch::Gemma2,
        gguf: "gemma2",
        hf_model_types: &["gemma2"],
        swa_pattern: Some(2),
        post_norms: true,
        tied_embeddings: true,
        ..BASE
    },
    ArchInfo {
        arch: Arch::Gemma3,
        gguf: "gemma3",
        hf_model_types: &["gemma3", "gemma3_text"],
        swa_pattern: Some(6),
        post_norms: true,
        qk_norm: true,
        tied_embeddings: true,
        ..BASE
    },
    ArchInfo {
        arch: Arch::Deepseek2,
        gguf: "deepseek2",
        hf_model_types: &["deepseek_v2", "deepseek_v3"],
        mla: true,
        moe_norm_weights: false,
        ..BASE
    },
    ArchInfo {
        arch: Arch::Phi3,
        gguf: "phi3",
        hf_model_types: &["phi3"],
        fused_qkv: true,
        fused_gate_up: true,
        ..BASE
    },
    // llama.cpp src/models/openai-moe.cpp: sliding window on even layers, sinks, biases
    // everywhere, the pre-FFN norm stored as `post_attention_norm`.
    ArchInfo {
        arch: Arch::GptOss,
        gguf: "gpt-oss",
        hf_model_types: &["gpt_oss"],
        swa_pattern: Some(2),
        qkv_bias: true,
        attn_sinks: true,
        attn_out_bias: true,
        moe_biases: true,
        ffn_norm: "post_attention_norm",
        ..BASE
    },
    // llama.cpp src/models/llama4.cpp: chunked attention (8192) on 3 of 4 layers, the 4th full
    // and without RoPE (NoPE: no memory of its own); routed experts plus one shared expert.
    // Interleaved MoE layers (Maverick's `interleave_moe_layer_step` 2) are not modelled yet.
    ArchInfo {
        arch: Arch::Llama4,
        gguf: "llama4",
        hf_model_types: &["llama4", "llama4_text"],
        swa_pattern: Some(4),
        default_window: Some(8192),
        implicit_shared_expert: true,
        ..BASE
    },
    // llama.cpp src/models/glm4-moe.cpp (`llama_model_glm4_moe::load_arch_tensors`): Q/K/V
    // biases, the pre-FFN norm stored as `post_attention_norm` (`attn_post_norm`), leading dense
    // layers, a shared expert and the router's `exp_probs_b`; qk-norm only where config.json says
    // `use_qk_norm` (GLM-4.5, not Air). Partial RoPE changes no size. The NextN/MTP block the
    // converter appends (`block_count` = layers + `nextn_predict_layers`) is neither loaded
    // (`TENSOR_SKIP` unless `load_mtp`) nor cached (`create_memory` filters `il < n_layer()`) by
    // default, so entries hold the trunk only and the shape reader drops it.
    ArchInfo {
        arch: Arch::Glm4Moe,
        gguf: "glm4moe",
        hf_model_types: &["glm4_moe"],
        qkv_bias: true,
        ffn_norm: "post_attention_norm",
        moe_router_bias: true,
        ..BASE
    },
    // Known to the GGUF shape reader and the recipe only: no catalogue entries yet.
    ArchInfo {
        arch: Arch::Cohere2,
        gguf: "cohere2",
        hf_model_types: &["cohere2"],
        catalogue: false,
        swa_pattern: Some(4),
        ..BASE
    },
    ArchInfo {
        arch: Arch::Gemma3n,
        gguf: "gemma3n",
        hf_model_types: &["gemma3n"],
        catalogue: false,
        swa_pattern: Some(5),
        ..BASE
    },
    ArchInfo {
        arch: Arch::Falcon,
        gguf: "falcon",
        hf_model_types: &["falcon"],
        catalogue: false,
        ..BASE
    },
];

impl Arch {
    /// This architecture's row.
    pub fn info(self) -> &'static ArchInfo {
        ARCHS
            .iter()
            .find(|r| r.arch == self)
            .expect("every Arch variant has a row in ARCHS")
    }

    /// The architecture of a `general.architecture` value.
    pub fn from_gguf(name: &str) -> Option<Arch> {
        ARCHS.iter().find(|r| r.gguf == name).map(|r| r.arch)
    }

    /// The architecture llama.cpp converts a config.json `model_type` to.
    pub fn from_hf_model_type(model_type: &str) -> Option<Arch> {
        ARCHS
            .iter()
            .find(|r| r.hf_model_types.contains(&model_type))
            .map(|r| r.arch)
    }

    pub fn gguf_name(self) -> &'static str {
        self.info().gguf
    }

    /// `general.architecture` values catalogue entries may name.
    pub fn catalogue_names() -> impl Iterator<Item = &'static str> {
        ARCHS.iter().filter(|r| r.catalogue).map(|r| r.gguf)
    }

    /// Hugging Face `model_type` values whose config.json can become a catalogue entry.
    pub fn catalogue_hf_model_types() -> impl Iterator<Item = &'static str> {
        ARCHS
            .iter()
            .filter(|r| r.catalogue)
            .flat_map(|r| r.hf_model_types.iter().copied())
    }
}

/// Whether layer `il` slides under `pattern` (llama.cpp `llama_hparams::is_swa` after
/// `set_swa_pattern(pattern)`).
pub fn layer_is_sliding(pattern: SwaPattern, il: u32) -> bool {
    pattern <= 1 || il % pattern < pattern - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_unique_and_found_by_name() {
        for (i, r) in ARCHS.iter().enumerate() {
            assert_eq!(Arch::from_gguf(r.gguf), Some(r.arch));
            assert_eq!(r.arch.info().gguf, r.gguf);
            for (j, s) in ARCHS.iter().enumerate() {
                if i != j {
                    assert_ne!(r.arch, s.arch);
                    assert_ne!(r.gguf, s.gguf);
                    for t in r.hf_model_types {
                        assert!(!s.hf_model_types.contains(t), "{t} in two rows");
                    }
                }
            }
        }
        assert_eq!(Arch::from_hf_model_type("gemma3_text"), Some(Arch::Gemma3));
        assert_eq!(Arch::from_hf_model_type("mixtral"), Some(Arch::Llama));
        assert_eq!(Arch::from_gguf("mamba"), None);
    }

    #[test]
    fn sliding_layers_follow_llama_cpp() {
        // gemma3 (6): layers 0-4 slide, 5 is global; gemma2 (2): even layers slide.
        let g3: Vec<bool> = (0..7).map(|il| layer_is_sliding(6, il)).collect();
        assert_eq!(g3, [true, true, true, true, true, false, true]);
        assert!(layer_is_sliding(2, 0) && !layer_is_sliding(2, 1));
        assert!(layer_is_sliding(1, 3));
        // `load_swa_pattern(ml, N)` in llama.cpp's src/models/{cohere2,gemma3n}.cpp.
        assert_eq!(Arch::Cohere2.info().swa_pattern, Some(4));
        assert_eq!(Arch::Gemma3n.info().swa_pattern, Some(5));
    }
}
