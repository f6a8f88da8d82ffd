//! What `llama-quantize` would write, decided before a byte is written: each tensor's target
//! type (the recipe), the output tensor order, the output metadata, and every check that can
//! refuse the job. Follows `src/llama-quant.cpp` (`llama_model_quantize_impl`).

use crate::arch::recipe::{self, RecipeContext};
use crate::arch::TensorRole;
use crate::arch::{Inventory, TensorSpec};
use crate::ggml::FileType;
use crate::ggml::GgmlType;
use crate::gguf::{GgufError, GgufFile, MetaValue};
use crate::quant;

use super::{QuantizeError, QuantizeOptions};

/// `LLM_KV_GENERAL_QUANTIZATION_VERSION`.
pub const KEY_QUANTIZATION_VERSION: &str = "general.quantization_version";
/// `LLM_KV_GENERAL_FILE_TYPE`.
pub const KEY_FILE_TYPE: &str = "general.file_type";
/// `GGML_QNT_VERSION`: the block layout version llama-quantize stamps on its output.
pub const GGML_QNT_VERSION: u32 = 2;
/// The split keys llama-quantize drops (`LLM_KV_SPLIT_NO`, `_COUNT`, `_TENSORS_COUNT`).
pub const SPLIT_KEYS: [&str; 3] = ["split.no", "split.count", "split.tensors.count"];

/// One output tensor: where it comes from and what it becomes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TensorPlan {
    pub name: String,
    /// ggml dimensions as written (`ggml_n_dims`: trailing dimensions of 1 dropped).
    pub shape: Vec<u64>,
    /// Type in the input file.
    pub from: GgmlType,
    /// Type in the output file.
    pub to: GgmlType,
    /// Data bytes in the input.
    pub in_bytes: u64,
    /// Data bytes in the output (padding excluded).
    pub out_bytes: u64,
    /// Index of the tensor in the input file's tensor list.
    #[serde(skip)]
    pub source: usize,
}

impl TensorPlan {
    /// Whether the data is converted (dequantized to f32 if needed, then quantized) rather
    /// than copied byte for byte.
    pub fn converts(&self) -> bool {
        self.from != self.to
    }

    /// Elements in the tensor.
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Elements per row (ne0).
    pub fn row_len(&self) -> u64 {
        self.shape.first().copied().unwrap_or(1)
    }
}

/// Everything `quantize_file` will write, without the tensor data.
#[derive(Debug, Clone)]
pub struct QuantizePlan {
    pub ftype: FileType,
    /// The recipe's inputs, read from the file's metadata.
    pub context: RecipeContext,
    /// Output tensors, in output order (llama-quantize's `weight_name_comparer` order, which
    /// may differ from the input's order).
    pub tensors: Vec<TensorPlan>,
    /// Output metadata, in output order.
    pub metadata: Vec<(String, MetaValue)>,
}

impl QuantizePlan {
    /// The output file's inventory (names, written shapes, types), in output order.
    pub fn inventory(&self) -> Inventory {
        Inventory {
            tensors: self
                .tensors
                .iter()
                .map(|t| TensorSpec::new(t.name.clone(), &t.shape, t.to))
                .collect(),
        }
    }

    /// Sum of the input tensors' data bytes.
    pub fn in_tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.in_bytes).sum()
    }

    /// Sum of the output tensors' data bytes (padding excluded).
    pub fn out_tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.out_bytes).sum()
    }
}

/// An integer hyperparameter stored as a scalar or as a per-layer array (first element, as
/// `n_head(0)`).
fn hparam<D: AsRef<[u8]>>(f: &GgufFile<D>, key: &str) -> Option<u64> {
    if let Ok(v) = f.get_uint(key) {
        return Some(v);
    }
    let first = f.get_array(key).ok()?.iter().next()?;
    first.as_uint()
}

/// The recipe's view of a GGUF file: `{arch}.block_count`, `.attention.head_count`,
/// `.attention.head_count_kv` (defaults to the head count, as llama.cpp's loader does) and
/// `.expert_count` (default 0).
pub fn recipe_context<D: AsRef<[u8]>>(f: &GgufFile<D>) -> Result<RecipeContext, GgufError> {
    let arch = f.architecture()?.to_string();
    let key = |s: &str| format!("{arch}.{s}");
    let need = |s: &str| hparam(f, &key(s)).ok_or_else(|| GgufError::MissingKey { key: key(s) });
    let to_u32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let n_layer = to_u32(need("block_count")?);
    let n_head = hparam(f, &key("attention.head_count")).map_or(0, to_u32);
    let n_head_kv = hparam(f, &key("attention.head_count_kv")).map_or(n_head, to_u32);
    let n_expert = hparam(f, &key("expert_count")).map_or(0, to_u32);
    Ok(RecipeContext {
        arch,
        n_layer,
        n_head,
        n_head_kv,
        n_expert,
        // vramplan's quantizer takes no importance matrix (it refuses the types that need one).
        has_imatrix: false,
    })
}

/// `tensor_requires_imatrix`: very low-bit targets that llama-quantize refuses to produce
/// without an importance matrix.
fn requires_imatrix(name: &str, ty: GgmlType, ftype: FileType) -> bool {
    if TensorRole::of(name).is_embedding_or_output() {
        return false;
    }
    match ty {
        GgmlType::IQ3_XXS
        | GgmlType::IQ2_XXS
        | GgmlType::IQ2_XS
        | GgmlType::IQ2_S
        | GgmlType::IQ1_M
        | GgmlType::IQ1_S => true,
        GgmlType::Q2_K => ftype == FileType::Q2_K_S,
        _ => false,
    }
}

/// The output metadata: every input entry in input order, minus `general.quantization_version`,
/// `general.file_type` and the split keys, then those two appended (`gguf_set_kv` followed by
/// `gguf_set_val_u32`, which removes and re-appends).
pub fn output_metadata<D: AsRef<[u8]>>(
    f: &GgufFile<D>,
    ftype: FileType,
) -> Vec<(String, MetaValue)> {
    let mut kvs: Vec<(String, MetaValue)> = f
        .metadata()
        .filter(|(k, _)| {
            *k != KEY_QUANTIZATION_VERSION && *k != KEY_FILE_TYPE && !SPLIT_KEYS.contains(k)
        })
        .map(|(k, v)| (k.to_string(), v.to_owned_value()))
        .collect();
    kvs.push((
        KEY_QUANTIZATION_VERSION.to_string(),
        MetaValue::U32(GGML_QNT_VERSION),
    ));
    kvs.push((KEY_FILE_TYPE.to_string(), MetaValue::U32(ftype.id())));
    kvs
}

/// Decide everything `quantize_file` writes for `f` and `ftype`, and refuse what llama-quantize
/// refuses (or vramplan cannot do) before any output exists.
pub fn plan<D: AsRef<[u8]>>(
    f: &GgufFile<D>,
    ftype: FileType,
    opts: &QuantizeOptions,
) -> Result<QuantizePlan, QuantizeError> {
    // The same hyperparameter limits as every other command that loads a model.
    crate::gguf::check_hparams(f)?;
    let context = recipe_context(f)?;
    let infos = f.tensors();
    let mut inv = Inventory {
        tensors: infos
            .iter()
            .map(|t| {
                // A tensor stored with 0 dimensions is a scalar, [1] in ggml (and in the output).
                let shape = if t.shape().is_empty() {
                    &[1][..]
                } else {
                    t.shape()
                };
                TensorSpec::new(t.name(), &shape[..recipe::ggml_n_dims(shape)], t.ty())
            })
            .collect(),
    };
    let order = recipe::weight_order(&inv);
    let sources = inv.clone();
    recipe::apply(ftype, &context, &mut inv);

    let mut tensors = Vec::with_capacity(order.len());
    for i in order {
        let src = &sources.tensors[i];
        let to = inv.tensors[i].ty;
        let from = src.ty;
        let name = &src.name;
        let in_bytes = infos[i].n_bytes();
        let out_bytes = TensorSpec::new(name.clone(), &src.shape, to)
            .bytes()
            .ok_or_else(|| QuantizeError::Shape {
                tensor: name.clone(),
                ne0: src.shape[0],
                ty: to,
            })?;
        // Checked for every quantizable tensor, even one that keeps its type.
        if recipe::allows_quantization(src) && requires_imatrix(name, to, ftype) {
            return Err(QuantizeError::RequiresImatrix {
                tensor: name.clone(),
                ty: to,
                ftype,
            });
        }
        if from != to {
            if from.is_quantized() && !opts.allow_requantize {
                return Err(QuantizeError::RequantizeDisabled {
                    tensor: name.clone(),
                    ty: from,
                });
            }
            if !quant::can_dequantize(from) {
                return Err(QuantizeError::UnsupportedSource {
                    tensor: name.clone(),
                    ty: from,
                });
            }
            if !quant::can_quantize(to) {
                return Err(QuantizeError::UnsupportedTarget {
                    tensor: name.clone(),
                    ty: to,
                    ftype,
                });
            }
        }
        tensors.push(TensorPlan {
            name: name.clone(),
            shape: src.shape.clone(),
            from,
            to,
            in_bytes,
            out_bytes,
            source: i,
        });
    }
    Ok(QuantizePlan {
        ftype,
        context,
        tensors,
        metadata: output_metadata(f, ftype),
    })
}
