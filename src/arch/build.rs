//! Expands a catalogue architecture into its GGUF tensor inventory, tensor by tensor, with the
//! names and shapes llama.cpp's converter (`convert_hf_to_gguf.py`) produces for each
//! `general.architecture`, then assigns types with the file-type recipe.

use super::recipe::{self, RecipeContext};
use crate::catalog::ModelEntry;
use crate::ggml::{FileType, GgmlType};

use super::{Inventory, TensorRole, TensorSpec};

/// Tensors of `model` as a converter writes them in full precision: 1-D tensors (norms, biases)
/// and the MoE router in F32, the rest in `weight_type`.
pub fn source_inventory(model: &ModelEntry, weight_type: GgmlType) -> Inventory {
    let mut b = Builder {
        tensors: Vec::new(),
        weight_type,
    };
    let h = model.hidden_size;
    let hd = model.head_dim();
    let n_head = model.heads as u64;
    let n_kv = model.kv_heads as u64;
    let arch = model.arch_info();

    b.weight("token_embd.weight", &[h, model.vocab_size]);
    for il in 0..model.layers {
        let p = |s: &str| format!("blk.{il}.{s}");
        b.norm(&p("attn_norm.weight"), h);
        if let Some(mla) = model.mla {
            let qk_head = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
            match mla.q_lora_rank {
                Some(q_lora) => {
                    b.weight(&p("attn_q_a.weight"), &[h, q_lora]);
                    b.norm(&p("attn_q_a_norm.weight"), q_lora);
                    b.weight(&p("attn_q_b.weight"), &[q_lora, n_head * qk_head]);
                }
                None => b.weight(&p("attn_q.weight"), &[h, n_head * qk_head]),
            }
            b.weight(
                &p("attn_kv_a_mqa.weight"),
                &[h, mla.kv_lora_rank + mla.qk_rope_head_dim],
            );
            b.norm(&p("attn_kv_a_norm.weight"), mla.kv_lora_rank);
            b.weight(
                &p("attn_kv_b.weight"),
                &[
                    mla.kv_lora_rank,
                    n_head * (mla.qk_nope_head_dim + mla.v_head_dim),
                ],
            );
            b.weight(&p("attn_output.weight"), &[n_head * mla.v_head_dim, h]);
        } else if arch.fused_qkv {
            b.weight(&p("attn_qkv.weight"), &[h, (n_head + 2 * n_kv) * hd]);
            b.weight(&p("attn_output.weight"), &[n_head * hd, h]);
        } else {
            b.weight(&p("attn_q.weight"), &[h, n_head * hd]);
            b.weight(&p("attn_k.weight"), &[h, n_kv * hd]);
            b.weight(&p("attn_v.weight"), &[h, n_kv * hd]);
            if model.qkv_bias {
                b.norm(&p("attn_q.bias"), n_head * hd);
                b.norm(&p("attn_k.bias"), n_kv * hd);
                b.norm(&p("attn_v.bias"), n_kv * hd);
            }
            if model.qk_norm {
                b.norm(&p("attn_q_norm.weight"), hd);
                b.norm(&p("attn_k_norm.weight"), hd);
            }
            b.weight(&p("attn_output.weight"), &[n_head * hd, h]);
            if arch.attn_out_bias {
                b.norm(&p("attn_output.bias"), h);
            }
            if arch.attn_sinks {
                b.norm(&p("attn_sinks.weight"), n_head);
            }
        }
        if arch.post_norms {
            b.norm(&p("post_attention_norm.weight"), h);
        }
        b.norm(&p(&format!("{}.weight", arch.ffn_norm)), h);
        match model.moe {
            Some(moe) if moe.experts > 1 && il >= moe.dense_layers => {
                let n_exp = moe.experts as u64;
                let ef = moe.expert_ffn_size;
                b.f32(&p("ffn_gate_inp.weight"), &[h, n_exp]);
                if moe.router_bias || arch.moe_router_bias {
                    b.norm(&p("exp_probs_b.bias"), n_exp);
                }
                b.weight(&p("ffn_gate_exps.weight"), &[h, ef, n_exp]);
                b.weight(&p("ffn_up_exps.weight"), &[h, ef, n_exp]);
                b.weight(&p("ffn_down_exps.weight"), &[ef, h, n_exp]);
                if arch.moe_biases {
                    b.norm(&p("ffn_gate_inp.bias"), n_exp);
                    b.f32(&p("ffn_gate_exps.bias"), &[ef, n_exp]);
                    b.f32(&p("ffn_up_exps.bias"), &[ef, n_exp]);
                    b.f32(&p("ffn_down_exps.bias"), &[h, n_exp]);
                }
                let sf = moe.shared_ffn();
                if sf > 0 {
                    b.weight(&p("ffn_gate_shexp.weight"), &[h, sf]);
                    b.weight(&p("ffn_up_shexp.weight"), &[h, sf]);
                    b.weight(&p("ffn_down_shexp.weight"), &[sf, h]);
                }
            }
            _ if arch.fused_gate_up => {
                b.weight(&p("ffn_up.weight"), &[h, 2 * model.ffn_size]);
                b.weight(&p("ffn_down.weight"), &[model.ffn_size, h]);
            }
            _ => {
                b.weight(&p("ffn_gate.weight"), &[h, model.ffn_size]);
                b.weight(&p("ffn_up.weight"), &[h, model.ffn_size]);
                b.weight(&p("ffn_down.weight"), &[model.ffn_size, h]);
            }
        }
        if arch.post_norms {
            b.norm(&p("post_ffw_norm.weight"), h);
        }
    }
    b.norm("output_norm.weight", h);
    if !model.tied_embeddings {
        b.weight("output.weight", &[h, model.vocab_size]);
    }
    Inventory { tensors: b.tensors }
}

struct Builder {
    tensors: Vec<TensorSpec>,
    weight_type: GgmlType,
}

impl Builder {
    fn weight(&mut self, name: &str, shape: &[u64]) {
        self.tensors
            .push(TensorSpec::new(name, shape, self.weight_type));
    }
    fn norm(&mut self, name: &str, n: u64) {
        self.tensors
            .push(TensorSpec::new(name, &[n], GgmlType::F32));
    }
    fn f32(&mut self, name: &str, shape: &[u64]) {
        self.tensors
            .push(TensorSpec::new(name, shape, GgmlType::F32));
    }
}

/// The recipe context llama.cpp derives from a model's hyperparameters (`has_imatrix`: whether
/// llama-quantize is given an importance matrix).
pub fn recipe_context(model: &ModelEntry, has_imatrix: bool) -> RecipeContext {
    RecipeContext {
        arch: model.gguf_arch.clone(),
        n_layer: model.layers,
        n_head: model.heads,
        n_head_kv: model.kv_heads,
        n_expert: model.moe.map_or(0, |m| m.experts),
        has_imatrix,
    }
}

/// The inventory of `model` quantized as `ftype` by llama-quantize from a BF16 conversion, with
/// an importance matrix only where the file type cannot be made without one.
pub fn inventory(model: &ModelEntry, ftype: FileType) -> Inventory {
    inventory_with_imatrix(model, ftype, ftype.requires_imatrix())
}

/// As [`inventory`], saying whether an importance matrix was used (most published GGUF
/// quantizations are made with one; it changes a few tensor types of Q4_0, Q5_0, IQ4_NL,
/// IQ4_XS and IQ3_XXS). File types that require one get one whatever `has_imatrix` says.
pub fn inventory_with_imatrix(model: &ModelEntry, ftype: FileType, has_imatrix: bool) -> Inventory {
    let mut inv = source_inventory(model, GgmlType::BF16);
    let ctx = recipe_context(model, has_imatrix || ftype.requires_imatrix());
    recipe::apply(ftype, &ctx, &mut inv);
    inv
}

/// Total and active parameter counts, from the inventory tensor by tensor. Active counts the
/// routed experts in use per token (`experts_per_token` of `experts`), shared experts and all
/// dense tensors including the embeddings, the convention of Mistral (Mixtral 12.9B) and Qwen
/// (Qwen3-30B-A3B 3.3B); without the input embedding table where the entry says its author
/// counts that way (DeepSeek: V2-Lite "2.4B" is 2.45B so, 2.66B with the table), or without
/// both vocabulary tables where it says so (GLM-4.5).
pub fn param_counts(model: &ModelEntry) -> (u64, u64) {
    let inv = source_inventory(model, GgmlType::F16);
    let total = inv.total_elements();
    let inactive: u64 = match model.moe {
        Some(moe) if moe.experts > 1 => inv
            .tensors
            .iter()
            .filter(|t| t.role().is_routed_expert())
            .map(|t| {
                t.n_elements() / moe.experts as u64 * (moe.experts - moe.experts_per_token) as u64
            })
            .sum(),
        _ => 0,
    };
    // A tied table is also the output head, read in full for every token.
    let embedding_lookup: u64 = if model.params_active_excludes_embeddings {
        inv.tensors
            .iter()
            .filter(|t| matches!(t.role(), TensorRole::TokenEmbedding | TensorRole::Output))
            .map(|t| t.n_elements())
            .sum()
    } else if model.params_active_excludes_input_embedding {
        inv.tensors
            .iter()
            .filter(|t| t.role() == TensorRole::TokenEmbedding && !model.tied_embeddings)
            .map(|t| t.n_elements())
            .sum()
    } else {
        0
    };
    (total, total - inactive - embedding_lookup)
}
