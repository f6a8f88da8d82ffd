//! llama.cpp's per-tensor type recipe for a file type (`src/llama-quant.cpp`:
//! `llama_tensor_get_type_impl`), applied to an inventory. It lives beside the inventory it
//! types; the file types themselves are ggml facts (`ggml::FileType`).

use super::table::{Arch, Type70b};
use super::{Inventory, TensorRole, TensorSpec};
use crate::ggml::{FileType, GgmlType};

/// The hyperparameters the recipe looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeContext {
    /// `general.architecture`.
    pub arch: String,
    pub n_layer: u32,
    pub n_head: u32,
    pub n_head_kv: u32,
    pub n_expert: u32,
    /// llama-quantize was given an importance matrix (`--imatrix`): four rules differ with one
    /// (IQ3_XXS attn_v and ffn_down, IQ4_NL/IQ4_XS and Q4_0/Q5_0 early ffn_down).
    pub has_imatrix: bool,
}

impl RecipeContext {
    fn gqa(&self) -> u32 {
        self.n_head / self.n_head_kv.max(1)
    }
    fn arch(&self) -> Option<Arch> {
        Arch::from_gguf(&self.arch)
    }
    fn is_falcon(&self) -> bool {
        self.arch() == Some(Arch::Falcon)
    }
    /// llama.cpp's `LLM_TYPE_70B` (`llama-model.cpp`): 80-layer llama with GQA, 80-layer qwen2.
    fn is_70b(&self) -> bool {
        let rule = self.arch().map_or(Type70b::Never, |a| a.info().type_70b);
        self.n_layer == 80
            && match rule {
                Type70b::Never => false,
                Type70b::WithGqa => self.n_head != self.n_head_kv,
                Type70b::Always => true,
            }
    }
}

/// `use_more_bits` of llama-quant.cpp: the first and last eighth and every third layer between.
pub fn use_more_bits(i: i64, n: i64) -> bool {
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// `ggml_n_dims`: the number of dimensions once trailing dimensions of size 1 are dropped (at
/// least 1). GGUF writers store this many, and the recipe quantizes only tensors with two or more.
pub fn ggml_n_dims(shape: &[u64]) -> usize {
    shape.iter().rposition(|&d| d != 1).map_or(1, |i| i + 1)
}

/// `tensor_allows_quantization` with llama-quantize's default parameters, for every architecture
/// but `glm5-next` (whose extra exclusions need the architecture).
pub fn allows_quantization(t: &TensorSpec) -> bool {
    let name = t.name.as_str();
    if ggml_n_dims(&t.shape) < 2 {
        return false;
    }
    // `name.rfind("weight") == name.size() - 6`, unsigned arithmetic included: a 5-byte name
    // without "weight" also passes (npos == 5 - 6).
    let ends_with_weight =
        name.ends_with("weight") || (name.len() == 5 && !name.contains("weight"));
    const EXCLUDED: &[&str] = &[
        "_norm.weight",
        "ffn_gate_inp.weight",
        "ffn_gate_tid2eid.weight",
        "altup",
        "laurel",
        "per_layer_model_proj",
        "ssm_conv1d",
        "shortconv.conv.weight",
        "indexer.k_proj.weight",
        "indexer.q_proj.weight",
        "time_mix_first.weight",
        "time_mix_w0.weight",
        "time_mix_w1.weight",
        "time_mix_w2.weight",
        "time_mix_v0.weight",
        "time_mix_v1.weight",
        "time_mix_v2.weight",
        "time_mix_a0.weight",
        "time_mix_a1.weight",
        "time_mix_a2.weight",
        "time_mix_g1.weight",
        "time_mix_g2.weight",
        "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight",
        "attn_rel_b.weight",
        ".position_embd",
        "sam.pos_embd",
        "sam.neck.",
        "sam.net_",
        ".rel_pos",
        ".patch_embd",
        ".patch_merger",
        "a.rvq.codebook",
        "mm.a.code_embd",
    ];
    ends_with_weight
        && name != "position_embd.weight"
        && name != "token_types.weight"
        && !EXCLUDED.iter().any(|p| name.contains(p))
}

/// The layer llama.cpp reads from a tensor name with `sscanf(name, "blk.%d.", &layer)`, or -1:
/// optional white space and sign, then at least one digit; what follows is not checked.
pub fn sscanf_layer(name: &str) -> i64 {
    let Some(rest) = name.strip_prefix("blk.") else {
        return -1;
    };
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, digits) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let n = digits.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return -1;
    }
    // Beyond i32 sscanf's behaviour is undefined; saturate.
    let v = digits[..n]
        .parse::<i64>()
        .unwrap_or(i64::MAX)
        .min(i32::MAX as i64);
    if neg {
        -v
    } else {
        v
    }
}

/// Indices of `inv`'s tensors in the order llama-quantize visits and writes them
/// (`llama_model_loader::weight_name_comparer`): by `blk.N.` layer, tensors outside the blocks
/// first (-1), then by name, byte-wise.
pub fn weight_order(inv: &Inventory) -> Vec<usize> {
    let mut order: Vec<usize> = (0..inv.tensors.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&inv.tensors[a].name, &inv.tensors[b].name);
        sscanf_layer(a)
            .cmp(&sscanf_layer(b))
            .then_with(|| a.as_bytes().cmp(b.as_bytes()))
    });
    order
}

/// The type llama-quantize (no overrides; with an importance matrix when `ctx.has_imatrix`)
/// gives each tensor of `inv` for `ftype`, applied in place. Tensors it does not quantize keep their type.
pub fn apply(ftype: FileType, ctx: &RecipeContext, inv: &mut Inventory) {
    // `has_tied_embeddings` of llama-quant.cpp: tied until an `output.weight` is seen.
    let has_output = inv.tensors.iter().any(|t| t.role() == TensorRole::Output);
    let n_attention_wv = inv
        .tensors
        .iter()
        .filter(|t| is_attention_wv(&t.name))
        .count() as i64;
    // Counters follow the visiting order: by layer, non-blk tensors first (weight_name_comparer).
    let mut c = Counters {
        i_attention_wv: 0,
        n_attention_wv,
        i_ffn_down: 0,
        i_ffn_gate: 0,
        i_ffn_up: 0,
    };
    for idx in weight_order(inv) {
        let t = &inv.tensors[idx];
        if !allows_quantization(t) {
            continue;
        }
        let default = ftype.default_type();
        let mut ty = default;
        if default.is_quantized() {
            ty = tensor_type(ftype, ctx, t, has_output, &c);
            // llama_tensor_get_type_impl counts the tensors of each category it visits (the
            // output/embedding and MXFP4_MOE branches never see these categories).
            match category(&t.name) {
                Category::AttnV => c.i_attention_wv += 1,
                Category::FfnDown => c.i_ffn_down += 1,
                Category::FfnGate => c.i_ffn_gate += 1,
                Category::FfnUp => c.i_ffn_up += 1,
                Category::Other => {}
            }
            ty = fallback_for_shape(ty, t.shape[0]);
        }
        inv.tensors[idx].ty = ty;
    }
}

/// The categories of `tensor_get_category` whose tensors the recipe counts, in its precedence:
/// `ffn_up` before `ffn_gate` before `ffn_down`.
enum Category {
    AttnV,
    FfnUp,
    FfnGate,
    FfnDown,
    Other,
}

fn category(name: &str) -> Category {
    if is_output(name) || is_token_embd(name) {
        Category::Other
    } else if is_attention_wv(name) {
        Category::AttnV
    } else if name.contains("attn_k.weight")
        || name.contains("attn_q.weight")
        || name.contains("attn_output.weight")
    {
        Category::Other
    } else if name.contains("ffn_up") {
        Category::FfnUp
    } else if name.contains("ffn_gate") {
        Category::FfnGate
    } else if name.contains("ffn_down") {
        Category::FfnDown
    } else {
        Category::Other
    }
}

/// `tensor_name_match_token_embd`.
fn is_token_embd(name: &str) -> bool {
    TensorRole::of(name) == TensorRole::TokenEmbedding
}

/// `tensor_name_match_output_weight`.
fn is_output(name: &str) -> bool {
    TensorRole::of(name) == TensorRole::Output
}

fn is_attention_wv(name: &str) -> bool {
    name.contains("attn_v.weight")
        || name.contains("attn_qkv.weight")
        || name.contains("attn_kv_b.weight")
}

struct Counters {
    i_attention_wv: i64,
    n_attention_wv: i64,
    i_ffn_down: i64,
    i_ffn_gate: i64,
    i_ffn_up: i64,
}

/// `tensor_type_fallback`: a row length that is not a multiple of the block size.
pub fn fallback_for_shape(ty: GgmlType, ne0: u64) -> GgmlType {
    use GgmlType::*;
    if ne0.is_multiple_of(ty.block_size() as u64) {
        return ty;
    }
    let fb = match ty {
        IQ1_S | IQ1_M | IQ2_XXS | IQ2_XS | IQ2_S | IQ3_XXS | IQ3_S | IQ4_XS => IQ4_NL,
        Q2_K | Q3_K | TQ1_0 | TQ2_0 => Q4_0,
        Q4_K => Q5_0,
        Q5_K => Q5_1,
        Q6_K => Q8_0,
        other => other,
    };
    if ne0.is_multiple_of(fb.block_size() as u64) {
        fb
    } else {
        F16
    }
}

/// A port of llama.cpp's `llama_tensor_get_type_impl` (`src/llama-quant.cpp`) for one tensor,
/// before the shape fallback: one function, branch for branch in upstream's order, so the two
/// can be read side by side (issue 12 lets ports of upstream functions exceed 150 lines). Like
/// upstream it recognises tensors by substrings of their names (`tensor_get_category`); an
/// exotic name (`ffn_up_chexps`) must count as upstream counts it, so [`TensorRole`] is used
/// only for the exact names.
fn tensor_type(
    ftype: FileType,
    ctx: &RecipeContext,
    t: &TensorSpec,
    has_output: bool,
    c: &Counters,
) -> GgmlType {
    use FileType as F;
    use GgmlType as G;
    let name = t.name.as_str();
    let default = ftype.default_type();
    let mut ty = default;
    let n_expert = ctx.n_expert;
    let gqa = ctx.gqa();
    let falcon = ctx.is_falcon();
    let n_layer = ctx.n_layer as i64;
    let iq_low = matches!(
        ftype,
        F::IQ2_XXS | F::IQ2_XS | F::IQ1_S | F::IQ2_S | F::IQ2_M | F::IQ1_M
    );
    // For MoE the layer comes from the name; for dense models the counter equals it.
    let layer_of = |counter: i64| -> i64 {
        if n_expert > 1 {
            t.layer().map_or(counter, |l| l as i64)
        } else {
            counter
        }
    };

    if is_output(name) || (!has_output && is_token_embd(name)) {
        let nx = t.shape[0];
        return if ftype == F::MXFP4_MOE || falcon || !nx.is_multiple_of(ty.block_size() as u64) {
            G::Q8_0
        } else if iq_low || ftype == F::IQ3_XXS {
            G::Q5_K
        } else if ty != G::Q8_0 {
            G::Q6_K
        } else {
            ty
        };
    }
    if ftype == F::MXFP4_MOE {
        return if t.shape.len() >= 3 && t.shape[2] > 1 {
            G::MXFP4
        } else {
            G::Q8_0
        };
    }
    if is_token_embd(name) {
        return match ftype {
            F::IQ2_XXS | F::IQ2_XS | F::IQ1_S | F::IQ1_M => G::Q2_K,
            F::IQ2_S | F::IQ2_M | F::IQ3_XXS => G::IQ3_S,
            F::TQ1_0 | F::TQ2_0 => G::Q4_K,
            _ => ty,
        };
    }
    if iq_low {
        if is_attention_wv(name) {
            ty = if gqa >= 4 || n_expert >= 4 {
                G::Q4_K
            } else if matches!(ftype, F::IQ2_S | F::IQ2_M) {
                G::IQ3_S
            } else {
                G::Q2_K
            };
        } else if name.contains("attn_k.weight") && n_expert == 8 {
            ty = G::Q4_K;
        } else if name.contains("ffn_down") {
            if c.i_ffn_down < n_layer / 8 {
                ty = if matches!(ftype, F::IQ2_S | F::IQ2_M) {
                    G::IQ3_S
                } else {
                    G::Q2_K
                };
            }
        } else if name.contains("attn_output.weight") {
            if n_expert == 8 {
                ty = G::Q5_K;
            } else if matches!(ftype, F::IQ1_S | F::IQ1_M) {
                ty = G::IQ2_XXS;
            } else if matches!(ftype, F::IQ2_S | F::IQ2_M) {
                ty = G::IQ3_S;
            }
        }
        return ty;
    }
    if is_attention_wv(name) {
        let i = c.i_attention_wv;
        let n = c.n_attention_wv;
        match ftype {
            F::Q2_K => ty = if gqa >= 4 { G::Q4_K } else { G::Q3_K },
            F::Q2_K_S if gqa >= 4 => ty = G::Q4_K,
            F::IQ3_XXS => {
                ty = if gqa >= 4 {
                    G::Q4_K
                } else if !ctx.has_imatrix {
                    G::IQ3_S
                } else {
                    G::IQ3_XXS
                }
            }
            F::IQ3_XS | F::IQ3_S if gqa >= 4 => ty = G::Q4_K,
            F::IQ3_M => ty = G::Q4_K,
            F::Q3_K_M => ty = if i < 2 { G::Q5_K } else { G::Q4_K },
            F::Q3_K_L => ty = G::Q5_K,
            F::IQ4_NL | F::IQ4_XS if gqa >= 4 => ty = G::Q5_K,
            F::Q4_K_M | F::Q5_K_M if use_more_bits(i, n) => ty = G::Q6_K,
            F::Q4_K_S if i < 4 => ty = G::Q5_K,
            _ => {}
        }
        if ctx.is_70b() && matches!(ty, G::Q3_K | G::Q4_K) {
            ty = G::Q5_K;
        }
        if n_expert == 8 {
            ty = G::Q8_0;
        }
        return ty;
    }
    if name.contains("attn_k.weight") {
        if n_expert == 8 {
            ty = G::Q8_0;
        } else if ftype == F::IQ3_XS {
            ty = G::IQ3_XXS;
        } else if ftype == F::IQ3_XXS {
            ty = G::IQ2_S;
        }
        return ty;
    }
    if name.contains("attn_q.weight") {
        if ftype == F::IQ3_XS {
            ty = G::IQ3_XXS;
        } else if ftype == F::IQ3_XXS {
            ty = G::IQ2_S;
        }
        return ty;
    }
    if name.contains("ffn_down") {
        let i = layer_of(c.i_ffn_down);
        let n = n_layer;
        let umb = use_more_bits(i, n);
        match ftype {
            F::Q2_K => ty = G::Q3_K,
            F::Q2_K_S if i < n / 8 => ty = G::Q4_K,
            F::IQ3_XXS if !ctx.has_imatrix => ty = if i < n / 8 { G::Q4_K } else { G::Q3_K },
            F::Q3_K_M => {
                ty = if i < n / 16 {
                    G::Q5_K
                } else if !falcon || umb {
                    G::Q4_K
                } else {
                    G::Q3_K
                }
            }
            F::IQ3_M if i < n / 8 || (n_expert == 8 && umb) => ty = G::Q4_K,
            F::Q3_K_L => ty = if falcon { G::Q4_K } else { G::Q5_K },
            F::Q4_K_M => {
                ty = if falcon {
                    if i < n / 16 {
                        G::Q6_K
                    } else if umb {
                        G::Q5_K
                    } else {
                        G::Q4_K
                    }
                } else if umb {
                    G::Q6_K
                } else {
                    G::Q4_K
                }
            }
            F::IQ4_NL | F::IQ4_XS if i < n / 8 && !ctx.has_imatrix => ty = G::Q5_K,
            F::Q5_K_M if umb => ty = G::Q6_K,
            F::Q4_K_S if !falcon && i < n / 8 => ty = G::Q5_K,
            // Guards the first ffn_down layers, only with an imatrix (llama-quant.cpp's comment:
            // files made without one stay as they always were).
            F::Q4_0 if ctx.has_imatrix && i < n / 8 => ty = G::Q4_1,
            F::Q5_0 if ctx.has_imatrix && i < n / 8 => ty = G::Q5_1,
            _ => {}
        }
        return ty;
    }
    if name.contains("attn_output.weight") {
        if !falcon {
            // With 8 experts only the listed types are bumped; the dense bumps below are the
            // `else` branch in llama-quant.cpp, skipped for such MoE models.
            if n_expert == 8 {
                if matches!(
                    ftype,
                    F::Q2_K
                        | F::IQ3_XS
                        | F::IQ3_XXS
                        | F::Q3_K_S
                        | F::Q3_K_M
                        | F::IQ4_NL
                        | F::Q4_K_S
                        | F::Q4_K_M
                        | F::IQ3_S
                        | F::IQ3_M
                        | F::IQ4_XS
                ) {
                    ty = G::Q5_K;
                }
            } else {
                match ftype {
                    F::Q2_K => ty = G::Q3_K,
                    F::IQ3_XXS => ty = G::IQ3_S,
                    F::Q3_K_M => ty = G::Q4_K,
                    F::Q3_K_L => ty = G::Q5_K,
                    F::IQ3_M => ty = G::Q4_K,
                    _ => {}
                }
            }
        } else if ftype == F::Q3_K_L {
            ty = G::Q4_K;
        }
        return ty;
    }
    if name.contains("attn_qkv.weight") {
        match ftype {
            F::Q3_K_M | F::Q3_K_L | F::IQ3_M => ty = G::Q4_K,
            F::Q4_K_M => ty = G::Q5_K,
            F::Q5_K_M => ty = G::Q6_K,
            _ => {}
        }
        return ty;
    }
    let gate_or_up = match category(name) {
        Category::FfnGate => Some(c.i_ffn_gate),
        Category::FfnUp => Some(c.i_ffn_up),
        _ => None,
    };
    if let Some(counter) = gate_or_up {
        let i = layer_of(counter);
        if ftype == F::IQ3_XS && i >= n_layer / 8 && i < 7 * n_layer / 8 {
            ty = G::IQ3_XXS;
        }
    }
    ty
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_type_ids_round_trip() {
        for &f in FileType::ALL {
            assert_eq!(FileType::from_id(f.id()), Some(f));
            assert_eq!(f.name().parse::<FileType>().unwrap(), f);
        }
        assert_eq!("q4_k_m".parse::<FileType>().unwrap(), FileType::Q4_K_M);
        assert!("Q4_K_X".parse::<FileType>().is_err());
    }

    #[test]
    fn use_more_bits_matches_llama_cpp_pattern() {
        // 32 layers: first 4, last 4, and every third from layer 6.
        let picked: Vec<i64> = (0..32).filter(|&i| use_more_bits(i, 32)).collect();
        assert_eq!(
            picked,
            vec![0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
        );
    }

    #[test]
    fn n_dims_layers_and_order_follow_llama_cpp() {
        assert_eq!(ggml_n_dims(&[576, 1]), 1);
        assert_eq!(ggml_n_dims(&[576, 1, 8]), 3);
        assert_eq!(ggml_n_dims(&[1]), 1);
        assert_eq!(ggml_n_dims(&[]), 1);
        assert_eq!(sscanf_layer("blk.12.ffn_up.weight"), 12);
        assert_eq!(sscanf_layer("blk.7x"), 7);
        assert_eq!(sscanf_layer("blk.-3.a"), -3);
        assert_eq!(sscanf_layer("blk.x.a"), -1);
        assert_eq!(sscanf_layer("output.weight"), -1);
        let inv = Inventory {
            tensors: [
                "blk.10.a",
                "blk.2.b",
                "output.weight",
                "blk.2.a",
                "token_embd.weight",
            ]
            .iter()
            .map(|n| TensorSpec::new(*n, &[32, 32], GgmlType::F32))
            .collect(),
        };
        let names: Vec<&str> = weight_order(&inv)
            .into_iter()
            .map(|i| inv.tensors[i].name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "output.weight",
                "token_embd.weight",
                "blk.2.a",
                "blk.2.b",
                "blk.10.a"
            ]
        );
    }

    #[test]
    fn quantizable_tensors() {
        let t = |name: &str, shape: &[u64]| {
            allows_quantization(&TensorSpec::new(name, shape, GgmlType::F32))
        };
        assert!(t("blk.0.attn_q.weight", &[64, 64]));
        assert!(!t("blk.0.attn_q.weight", &[64, 1]));
        assert!(!t("blk.0.attn_norm.weight", &[64, 64]));
        assert!(!t("blk.0.ffn_gate_inp.weight", &[64, 8]));
        assert!(!t("blk.0.ssm_conv1d.weight", &[4, 64]));
        assert!(!t("position_embd.weight", &[64, 64]));
        assert!(!t("blk.0.attn_q.bias", &[64, 64]));
        assert!(t("per_layer_token_embd.weight", &[64, 64]));
    }

    #[test]
    fn shape_fallbacks() {
        assert_eq!(fallback_for_shape(GgmlType::Q4_K, 576), GgmlType::Q5_0);
        assert_eq!(fallback_for_shape(GgmlType::Q6_K, 576), GgmlType::Q8_0);
        assert_eq!(fallback_for_shape(GgmlType::Q5_K, 576), GgmlType::Q5_1);
        assert_eq!(fallback_for_shape(GgmlType::Q4_K, 4096), GgmlType::Q4_K);
        assert_eq!(fallback_for_shape(GgmlType::Q4_0, 100), GgmlType::F16);
    }
}
