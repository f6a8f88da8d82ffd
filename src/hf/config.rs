//! `config.json` -> the architecture fields vramplan uses. Unknown keys are ignored; the keys used
//! must have the right JSON type and sane values. Multimodal configs that nest the language model
//! under `text_config` are read from there.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Errors reading Hugging Face files (config.json and safetensors headers).
#[derive(Debug, thiserror::Error)]
pub enum HfError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not JSON, or a used key has the wrong JSON type.
    #[error("invalid config.json{}: {message}", at(.path))]
    Json {
        path: Option<PathBuf>,
        message: String,
    },
    /// A required key is absent.
    #[error("config.json{} has no `{key}`", at(.path))]
    MissingKey {
        path: Option<PathBuf>,
        key: &'static str,
    },
    /// A key is present but its value makes no sense.
    #[error("config.json{}: `{key}` {message}", at(.path))]
    BadValue {
        path: Option<PathBuf>,
        key: &'static str,
        message: String,
    },
    /// A malformed or hostile safetensors file.
    #[error("safetensors parse error{} at byte {offset}: {message}", at(.path))]
    Safetensors {
        path: Option<PathBuf>,
        offset: u64,
        message: String,
    },
}

fn at(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!(" in {}", p.display()))
        .unwrap_or_default()
}

impl HfError {
    pub(crate) fn with_path(mut self, p: &Path) -> Self {
        match &mut self {
            HfError::Json { path, .. }
            | HfError::MissingKey { path, .. }
            | HfError::BadValue { path, .. }
            | HfError::Safetensors { path, .. } => *path = Some(p.to_path_buf()),
            HfError::Io { .. } => {}
        }
        self
    }
}

/// Architecture fields of a Hugging Face `config.json`. Field names mirror the upstream keys.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HfConfig {
    pub model_type: String,
    /// `architectures[0]`, e.g. `LlamaForCausalLM`.
    pub architecture: Option<String>,
    pub num_hidden_layers: u64,
    pub hidden_size: u64,
    pub intermediate_size: Option<u64>,
    pub num_attention_heads: u64,
    /// Defaults to `num_attention_heads` when absent (no GQA).
    pub num_key_value_heads: u64,
    /// Explicit `head_dim`, else `hidden_size / num_attention_heads`.
    pub head_dim: u64,
    pub vocab_size: u64,
    /// As stated; `None` means the model class default applies.
    pub tie_word_embeddings: Option<bool>,
    pub max_position_embeddings: Option<u64>,
    /// `None` when absent, null, or disabled by `use_sliding_window: false`.
    pub sliding_window: Option<u64>,
    /// Routed experts: `num_local_experts` (Mixtral), `n_routed_experts` (DeepSeek) or
    /// `num_experts` (Qwen MoE).
    pub num_experts: Option<u64>,
    pub num_experts_per_tok: Option<u64>,
    pub moe_intermediate_size: Option<u64>,
    pub n_shared_experts: Option<u64>,
    pub first_k_dense_replace: Option<u64>,
    pub kv_lora_rank: Option<u64>,
    pub q_lora_rank: Option<u64>,
    pub qk_rope_head_dim: Option<u64>,
    pub qk_nope_head_dim: Option<u64>,
    pub v_head_dim: Option<u64>,
    /// `torch_dtype`, or the newer `dtype`.
    pub torch_dtype: Option<String>,
    pub attention_bias: Option<bool>,
    /// Per-head Q/K norms where the config says (GLM-4.5 `use_qk_norm`).
    pub use_qk_norm: Option<bool>,
}

#[derive(Deserialize)]
struct Raw {
    model_type: Option<String>,
    architectures: Option<Vec<String>>,
    num_hidden_layers: Option<u64>,
    hidden_size: Option<u64>,
    intermediate_size: Option<u64>,
    num_attention_heads: Option<u64>,
    num_key_value_heads: Option<u64>,
    head_dim: Option<u64>,
    vocab_size: Option<u64>,
    tie_word_embeddings: Option<bool>,
    max_position_embeddings: Option<u64>,
    sliding_window: Option<u64>,
    use_sliding_window: Option<bool>,
    /// Llama 4's chunked attention: its chunked layers keep this many tokens (llama.cpp's
    /// `n_swa` for llama4; the table's pattern says which layers).
    attention_chunk_size: Option<u64>,
    /// Llama 4 Maverick: every n-th layer is MoE, the others dense. Only 1 (every layer) is
    /// modelled; other values are refused rather than miscounted.
    interleave_moe_layer_step: Option<u64>,
    num_local_experts: Option<u64>,
    n_routed_experts: Option<u64>,
    num_experts: Option<u64>,
    num_experts_per_tok: Option<u64>,
    moe_intermediate_size: Option<u64>,
    n_shared_experts: Option<u64>,
    first_k_dense_replace: Option<u64>,
    kv_lora_rank: Option<u64>,
    q_lora_rank: Option<u64>,
    qk_rope_head_dim: Option<u64>,
    qk_nope_head_dim: Option<u64>,
    v_head_dim: Option<u64>,
    torch_dtype: Option<String>,
    dtype: Option<String>,
    attention_bias: Option<bool>,
    use_qk_norm: Option<bool>,
}

/// Largest config.json read from disk; real ones are a few KB.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

impl HfConfig {
    /// Read and parse a `config.json` file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<HfConfig, HfError> {
        let path = path.as_ref();
        let io = |source| HfError::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_CONFIG_BYTES {
            return Err(HfError::Json {
                path: Some(path.to_path_buf()),
                message: format!("{len} bytes is larger than the {MAX_CONFIG_BYTES}-byte limit"),
            });
        }
        let text = std::fs::read(path).map_err(io)?;
        HfConfig::from_json_bytes(&text).map_err(|e| e.with_path(path))
    }

    /// Parse `config.json` text.
    pub fn from_json_bytes(text: &[u8]) -> Result<HfConfig, HfError> {
        let json_err = |e: serde_json::Error| HfError::Json {
            path: None,
            message: e.to_string(),
        };
        let value: serde_json::Value = serde_json::from_slice(text).map_err(json_err)?;
        let top = value.as_object().ok_or_else(|| HfError::Json {
            path: None,
            message: "the top level is not a JSON object".into(),
        })?;
        // Multimodal wrappers (Gemma 3, Llama 4, Mistral 3, ...) keep the LM under `text_config`.
        let lm = match top.get("text_config") {
            Some(inner @ serde_json::Value::Object(_))
                if !top.contains_key("num_hidden_layers") =>
            {
                inner
            }
            _ => &value,
        };
        let raw = Raw::deserialize(lm).map_err(json_err)?;
        let outer = Raw::deserialize(&value).map_err(json_err)?;
        Self::from_raw(raw, outer)
    }

    fn from_raw(raw: Raw, outer: Raw) -> Result<HfConfig, HfError> {
        let missing = |key| HfError::MissingKey { path: None, key };
        let bad = |key, message: String| HfError::BadValue {
            path: None,
            key,
            message,
        };
        let positive = |key: &'static str, v: Option<u64>| -> Result<Option<u64>, HfError> {
            match v {
                Some(0) => Err(bad(key, "must be positive, found 0".into())),
                other => Ok(other),
            }
        };
        let required =
            |key: &'static str, v: Option<u64>| positive(key, v)?.ok_or_else(|| missing(key));

        let model_type = raw
            .model_type
            .or(outer.model_type)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("model_type"))?;
        let num_hidden_layers = required("num_hidden_layers", raw.num_hidden_layers)?;
        let hidden_size = required("hidden_size", raw.hidden_size)?;
        let num_attention_heads = required("num_attention_heads", raw.num_attention_heads)?;
        let vocab_size = required("vocab_size", raw.vocab_size)?;
        let num_key_value_heads = positive("num_key_value_heads", raw.num_key_value_heads)?
            .unwrap_or(num_attention_heads);
        if num_attention_heads % num_key_value_heads != 0 {
            return Err(bad(
                "num_key_value_heads",
                format!("{num_key_value_heads} does not divide num_attention_heads {num_attention_heads}"),
            ));
        }
        let head_dim = match positive("head_dim", raw.head_dim)? {
            Some(d) => d,
            None if hidden_size % num_attention_heads == 0 => hidden_size / num_attention_heads,
            None => {
                return Err(bad(
                    "hidden_size",
                    format!("{hidden_size} is not a multiple of num_attention_heads {num_attention_heads} and no head_dim is given"),
                ))
            }
        };
        let experts = [
            ("num_local_experts", raw.num_local_experts),
            ("n_routed_experts", raw.n_routed_experts),
            ("num_experts", raw.num_experts),
        ];
        let mut num_experts = None;
        for (key, v) in experts {
            if let Some(n) = v {
                match num_experts {
                    Some((k0, n0)) if n0 != n => {
                        return Err(bad(key, format!("is {n} but {k0} is {n0}")));
                    }
                    _ => num_experts = Some((key, n)),
                }
            }
        }
        let num_experts = num_experts.map(|(_, n)| n);
        let num_experts_per_tok = positive("num_experts_per_tok", raw.num_experts_per_tok)?;
        if let (Some(n), Some(k)) = (num_experts, num_experts_per_tok) {
            if n > 0 && k > n {
                return Err(bad(
                    "num_experts_per_tok",
                    format!("{k} exceeds the {n} experts"),
                ));
            }
        }
        let sliding_window = match raw.use_sliding_window {
            Some(false) => None,
            _ => positive("sliding_window", raw.sliding_window)?
                .or(positive("attention_chunk_size", raw.attention_chunk_size)?),
        };
        match positive("interleave_moe_layer_step", raw.interleave_moe_layer_step)? {
            None | Some(1) => {}
            Some(step) => {
                return Err(bad(
                    "interleave_moe_layer_step",
                    format!("{step}: MoE on every {step}th layer only (Llama 4 Maverick) is not modelled yet; vramplan would miscount its weights"),
                ))
            }
        }
        Ok(HfConfig {
            model_type,
            architecture: raw
                .architectures
                .or(outer.architectures)
                .and_then(|a| a.into_iter().next()),
            num_hidden_layers,
            hidden_size,
            intermediate_size: raw.intermediate_size,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            vocab_size,
            tie_word_embeddings: raw.tie_word_embeddings.or(outer.tie_word_embeddings),
            max_position_embeddings: positive(
                "max_position_embeddings",
                raw.max_position_embeddings,
            )?,
            sliding_window,
            num_experts,
            num_experts_per_tok,
            moe_intermediate_size: positive("moe_intermediate_size", raw.moe_intermediate_size)?,
            n_shared_experts: raw.n_shared_experts,
            first_k_dense_replace: raw.first_k_dense_replace,
            kv_lora_rank: positive("kv_lora_rank", raw.kv_lora_rank)?,
            q_lora_rank: positive("q_lora_rank", raw.q_lora_rank)?,
            qk_rope_head_dim: positive("qk_rope_head_dim", raw.qk_rope_head_dim)?,
            qk_nope_head_dim: positive("qk_nope_head_dim", raw.qk_nope_head_dim)?,
            v_head_dim: positive("v_head_dim", raw.v_head_dim)?,
            torch_dtype: raw
                .torch_dtype
                .or(raw.dtype)
                .or(outer.torch_dtype)
                .or(outer.dtype),
            attention_bias: raw.attention_bias,
            use_qk_norm: raw.use_qk_norm,
        })
    }

    /// Whether the config describes a mixture of experts.
    pub fn is_moe(&self) -> bool {
        self.num_experts.is_some_and(|n| n > 1)
    }

    /// Whether the config uses multi-head latent attention (DeepSeek V2/V3 style).
    pub fn is_mla(&self) -> bool {
        self.kv_lora_rank.is_some()
    }
}
