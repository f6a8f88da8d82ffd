//! A GGUF file's hyperparameters (`{arch}.block_count`, `{arch}.attention.head_count_kv`, ...) as
//! the estimator's [`ModelShape`]. Keys follow llama.cpp's `llama-arch.cpp` names.

use crate::arch::{ModelShape, MoeShape};

use super::{GgufError, GgufFile};

/// An integer key that may be stored as a scalar or, for per-layer values, as an array whose
/// first element is taken (head counts and FFN widths of uniform models).
fn uint<D: AsRef<[u8]>>(f: &GgufFile<D>, key: &str) -> Option<u64> {
    if let Ok(v) = f.get_uint(key) {
        return Some(v);
    }
    f.get_scalar_array::<u32>(key)
        .ok()
        .and_then(|mut it| it.next())
        .map(u64::from)
        .or_else(|| {
            f.get_scalar_array::<i32>(key)
                .ok()
                .and_then(|mut it| it.next())
                .and_then(|v| u64::try_from(v).ok())
        })
}

/// The estimator's view of a GGUF model. Fails only when a key every model has is missing.
pub fn model_shape<D: AsRef<[u8]>>(f: &GgufFile<D>) -> Result<ModelShape, GgufError> {
    let arch = f.architecture()?.to_string();
    let k = |s: &str| format!("{arch}.{s}");
    let need = |s: &str| uint(f, &k(s)).ok_or_else(|| GgufError::MissingKey { key: k(s) });
    let n_layer = need("block_count")? as u32;
    let n_embd = need("embedding_length")?;
    let n_head = need("attention.head_count")? as u32;
    let n_head_kv = uint(f, &k("attention.head_count_kv")).unwrap_or(n_head as u64) as u32;
    let default_hd = if n_head > 0 {
        n_embd / n_head as u64
    } else {
        0
    };
    let head_dim_k = uint(f, &k("attention.key_length")).unwrap_or(default_hd);
    let head_dim_v = uint(f, &k("attention.value_length")).unwrap_or(default_hd);
    let n_vocab = f
        .tensor("token_embd.weight")
        .and_then(|t| t.shape().get(1).copied())
        .or_else(|| {
            f.get_str_array("tokenizer.ggml.tokens")
                .ok()
                .map(|it| it.count() as u64)
        })
        .unwrap_or(0);
    let n_expert = uint(f, &k("expert_count")).unwrap_or(0);
    let moe = (n_expert > 1).then(|| {
        let expert_ff = uint(f, &k("expert_feed_forward_length"))
            .unwrap_or_else(|| uint(f, &k("feed_forward_length")).unwrap_or(0));
        let shared = uint(f, &k("expert_shared_count")).unwrap_or(0);
        let shared_ff =
            uint(f, &k("expert_shared_feed_forward_length")).unwrap_or(expert_ff * shared);
        MoeShape {
            n_expert: n_expert as u32,
            n_expert_used: uint(f, &k("expert_used_count")).unwrap_or(2) as u32,
            expert_ff,
            shared_ff,
            dense_layers: uint(f, &k("leading_dense_block_count")).unwrap_or(0) as u32,
        }
    });
    let kv_lora = uint(f, &k("attention.kv_lora_rank"));
    let rope_dims = uint(f, &k("rope.dimension_count")).unwrap_or(0);
    // llama.cpp applies a sliding window only for architectures that define a layer pattern.
    let swa_pattern = match arch.as_str() {
        "gemma2" | "gpt-oss" | "cohere2" => Some(2),
        "gemma3" | "gemma3n" => Some(6),
        _ => None,
    };
    let sliding_window =
        swa_pattern.and_then(|p| uint(f, &k("attention.sliding_window")).map(|w| (w, p)));
    Ok(ModelShape {
        arch: arch.clone(),
        n_layer,
        n_embd,
        n_head,
        n_head_kv,
        head_dim_k,
        head_dim_v,
        n_vocab,
        n_ff: uint(f, &k("feed_forward_length")).unwrap_or(0),
        max_context: uint(f, &k("context_length")).unwrap_or(4096),
        sliding_window,
        mla_cache_width: kv_lora.map(|r| r + rope_dims),
        moe,
    })
}
