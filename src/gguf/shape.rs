//! A GGUF file's hyperparameters (`{arch}.block_count`, `{arch}.attention.head_count_kv`, ...) as
//! the estimator's [`ModelShape`]. Keys follow llama.cpp's `llama-arch.cpp` names.

use crate::arch::role::TOKEN_EMBD;
use crate::arch::{Arch, ModelShape, MoeShape};
use crate::catalog::limits::{
    MAX_CONTEXT, MAX_EXPERTS, MAX_FFN, MAX_HEADS, MAX_HEAD_DIM, MAX_HIDDEN, MAX_LAYERS, MAX_VOCAB,
};

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

/// `value` of `what`, refused above `max`.
fn bounded(what: impl FnOnce() -> String, value: u64, max: u64) -> Result<u64, GgufError> {
    if value > max {
        return Err(GgufError::OutOfRange {
            what: what(),
            value,
            max,
        });
    }
    Ok(value)
}

/// The hyperparameters every command checks when it loads a GGUF model (`fit`, `run`,
/// `validate`, `quantize`, `inspect`): key (after `{arch}.`), the largest value accepted and
/// whether zero is refused. One table, so the same file gets the same verdict (and exit code)
/// from every command.
pub const CHECKED_KEYS: &[(&str, u64, bool)] = &[
    ("block_count", MAX_LAYERS, true),
    ("embedding_length", MAX_HIDDEN, true),
    ("attention.head_count", MAX_HEADS, true),
    ("attention.head_count_kv", MAX_HEADS, true),
    ("attention.key_length", MAX_HEAD_DIM, false),
    ("attention.value_length", MAX_HEAD_DIM, false),
    ("attention.kv_lora_rank", MAX_HEAD_DIM, false),
    ("rope.dimension_count", MAX_HEAD_DIM, false),
    ("feed_forward_length", MAX_FFN, false),
    ("expert_feed_forward_length", MAX_FFN, false),
    ("expert_shared_feed_forward_length", MAX_FFN, false),
    ("expert_count", MAX_EXPERTS, false),
    ("expert_used_count", MAX_EXPERTS, false),
    ("expert_shared_count", MAX_EXPERTS, false),
    ("leading_dense_block_count", MAX_LAYERS, false),
    ("context_length", MAX_CONTEXT, true),
    ("attention.sliding_window", MAX_CONTEXT, false),
    ("vocab_size", MAX_VOCAB, false),
];

/// Checks [`CHECKED_KEYS`] (every element of per-layer arrays; an array may hold zeros, e.g.
/// for layers without attention, but not only zeros where zero is refused), the vocabulary
/// (`token_embd.weight` rows, `tokenizer.ggml.tokens`) and that `expert_used_count` is at most
/// `expert_count`. A file without `general.architecture` has no hyperparameters to check.
/// The error names the key and the value.
pub fn check_hparams<D: AsRef<[u8]>>(f: &GgufFile<D>) -> Result<(), GgufError> {
    let Ok(arch) = f.architecture() else {
        return Ok(());
    };
    for &(suffix, max, nonzero) in CHECKED_KEYS {
        let key = format!("{arch}.{suffix}");
        let values: Vec<u64> = if let Ok(v) = f.get_uint(&key) {
            vec![v]
        } else if let Ok(it) = f.get_scalar_array::<u32>(&key) {
            it.map(u64::from).collect()
        } else if let Ok(it) = f.get_scalar_array::<i32>(&key) {
            // A negative count is as wrong as an absurd one.
            it.map(|v| u64::try_from(v).unwrap_or(u64::MAX)).collect()
        } else {
            continue;
        };
        if let Some(&v) = values.iter().find(|&&v| v > max) {
            return Err(GgufError::OutOfRange {
                what: format!("metadata key `{key}`"),
                value: v,
                max,
            });
        }
        if nonzero && values.iter().all(|&v| v == 0) {
            return Err(GgufError::Zero {
                what: format!("metadata key `{key}`"),
            });
        }
    }
    let used = uint(f, &format!("{arch}.expert_used_count")).unwrap_or(0);
    let experts = uint(f, &format!("{arch}.expert_count")).unwrap_or(0);
    // A dense model (no experts) with a zero-width FFN is degenerate; MoE files may store 0
    // there and give the width in `expert_feed_forward_length`.
    let ff_key = format!("{arch}.feed_forward_length");
    if experts == 0 && f.get_uint(&ff_key).is_ok_and(|v| v == 0) {
        return Err(GgufError::Zero {
            what: format!("metadata key `{ff_key}`"),
        });
    }
    if experts > 0 && used > experts {
        return Err(GgufError::OutOfRange {
            what: format!("metadata key `{arch}.expert_used_count`"),
            value: used,
            max: experts,
        });
    }
    if let Some(rows) = f.tensor(TOKEN_EMBD).and_then(|t| t.shape().get(1).copied()) {
        bounded(
            || "tensor `token_embd.weight` dimension 1 (vocabulary)".into(),
            rows,
            MAX_VOCAB,
        )?;
    }
    if let Ok(it) = f.get_str_array("tokenizer.ggml.tokens") {
        bounded(
            || "metadata key `tokenizer.ggml.tokens` length (vocabulary)".into(),
            it.len() as u64,
            MAX_VOCAB,
        )?;
    }
    Ok(())
}

/// The estimator's view of a GGUF model. Fails when a key every model has is missing, or when a
/// value is beyond [`crate::catalog::limits`]: a hostile file must not drive the estimator into
/// overflow or unbounded work (a billion layers).
pub fn model_shape<D: AsRef<[u8]>>(f: &GgufFile<D>) -> Result<ModelShape, GgufError> {
    let arch = f.architecture()?.to_string();
    check_hparams(f)?;
    let k = |s: &str| format!("{arch}.{s}");
    let what = |s: &str| format!("metadata key `{}`", k(s));
    let opt = |s: &str, max: u64| -> Result<Option<u64>, GgufError> {
        uint(f, &k(s))
            .map(|v| bounded(|| what(s), v, max))
            .transpose()
    };
    let need = |s: &str, max: u64| opt(s, max)?.ok_or_else(|| GgufError::MissingKey { key: k(s) });
    let n_layer_all = need("block_count", MAX_LAYERS)?;
    // NextN/MTP blocks the converter appends (GLM-4.5) get no KV cache in a plain context:
    // llama.cpp `llama_model::create_memory` filters `il < n_layer()` (= block_count -
    // nextn_predict_layers) unless the model is nothing but such blocks.
    let nextn = opt("nextn_predict_layers", n_layer_all)?.unwrap_or(0);
    let n_layer = if nextn < n_layer_all {
        n_layer_all - nextn
    } else {
        n_layer_all
    };
    let n_embd = need("embedding_length", MAX_HIDDEN)?;
    let n_head = need("attention.head_count", MAX_HEADS)?;
    let n_head_kv = opt("attention.head_count_kv", MAX_HEADS)?.unwrap_or(n_head);
    let default_hd = n_embd.checked_div(n_head).unwrap_or(0);
    let head_dim_k = opt("attention.key_length", MAX_HEAD_DIM)?.unwrap_or(default_hd);
    let head_dim_v = opt("attention.value_length", MAX_HEAD_DIM)?.unwrap_or(default_hd);
    let embd_rows = f.tensor(TOKEN_EMBD).and_then(|t| t.shape().get(1).copied());
    let n_vocab = match embd_rows {
        Some(n) => bounded(
            || "tensor `token_embd.weight` dimension 1 (vocabulary)".into(),
            n,
            MAX_VOCAB,
        )?,
        None => match f.get_str_array("tokenizer.ggml.tokens") {
            Ok(it) => bounded(
                || "metadata key `tokenizer.ggml.tokens` length (vocabulary)".into(),
                it.len() as u64,
                MAX_VOCAB,
            )?,
            Err(_) => 0,
        },
    };
    let n_ff = opt("feed_forward_length", MAX_FFN)?.unwrap_or(0);
    let n_expert = opt("expert_count", MAX_EXPERTS)?.unwrap_or(0);
    let moe = if n_expert > 1 {
        let expert_ff = opt("expert_feed_forward_length", MAX_FFN)?.unwrap_or(n_ff);
        let shared = opt("expert_shared_count", MAX_EXPERTS)?.unwrap_or(0);
        // Both factors are bounded, so the product cannot overflow.
        let implicit_shared =
            Arch::from_gguf(&arch).is_some_and(|a| a.info().implicit_shared_expert);
        let shared_ff = match opt("expert_shared_feed_forward_length", MAX_FFN)? {
            Some(w) => w,
            None if implicit_shared => expert_ff,
            None => bounded(|| what("expert_shared_count"), expert_ff * shared, MAX_FFN)?,
        };
        Some(MoeShape {
            n_expert: n_expert as u32,
            n_expert_used: opt("expert_used_count", n_expert)?.unwrap_or(2) as u32,
            expert_ff,
            shared_ff,
            dense_layers: opt("leading_dense_block_count", n_layer)?.unwrap_or(0) as u32,
        })
    } else {
        None
    };
    let kv_lora = opt("attention.kv_lora_rank", MAX_HEAD_DIM)?;
    let rope_dims = opt("rope.dimension_count", MAX_HEAD_DIM)?.unwrap_or(0);
    // llama.cpp applies a sliding window only for architectures that define a layer pattern.
    let info = Arch::from_gguf(&arch).map(Arch::info);
    let sliding_window = match info.and_then(|a| a.swa_pattern) {
        Some(p) => opt("attention.sliding_window", MAX_CONTEXT)?
            .or(info.and_then(|a| a.default_window))
            .filter(|&w| w > 0)
            .map(|w| (w, p)),
        None => None,
    };
    Ok(ModelShape {
        arch: arch.clone(),
        // The bounds above keep these within u32.
        n_layer: n_layer as u32,
        n_embd,
        n_head: n_head as u32,
        n_head_kv: n_head_kv as u32,
        head_dim_k,
        head_dim_v,
        n_vocab,
        n_ff,
        max_context: opt("context_length", MAX_CONTEXT)?.unwrap_or(4096),
        sliding_window,
        mla_cache_width: kv_lora.map(|r| r + rope_dims),
        moe,
    })
}
