//! The model: hyperparameters from the GGUF metadata (as llama.cpp's `llama_model::load_hparams`
//! reads them) and views of the weight tensors in the memory map.
//!
//! Two kinds of tensor are copied out of the map; everything else is read in place:
//! * the small f32 norm weights and biases (converted to f32);
//! * the Q4_0, IQ4_NL and Q4_K weight matrices, when the active instruction set has a packed
//!   kernel for them (AVX2, AVX-512 VNNI): they are repacked into 8-row interleaved blocks
//!   ([`crate::kernels::repack`]), the layout that lets decode stream them at the memory's
//!   bandwidth, as llama.cpp's CPU_REPACK buffer does for the same types. The token embedding
//!   is never repacked (it is read by rows; when tied, the output head stays mapped with it),
//!   nor is a matrix (or an expert of a stacked `*_exps` tensor) whose row count is not a
//!   multiple of eight. After copying, a memory-mapped file's pages of the tensor are given back
//!   (`madvise(MADV_DONTNEED)`), so resident memory holds each weight once, as llama.cpp's
//!   loader unmaps the fragments it copied. `VRAMPLAN_FORCE_SCALAR=1` repacks nothing.

use std::sync::Arc;

use rayon::prelude::*;

use super::matmul::{MatKernel, Weight, WeightBytes};
use super::ops::{Rope, RopeKind};
use super::EngineError;
use crate::ggml::GgmlType;
use crate::gguf::GgufFile;
use crate::kernels::repack::{self, PackedKernel};
use crate::kernels::{vec_dot_type, Isa};
use crate::quant;

/// The bytes a model is loaded from. A memory map gives back its resident pages of a tensor the
/// loader copied ([`ModelBytes::release`]); byte buffers keep theirs.
pub trait ModelBytes: AsRef<[u8]> {
    /// Called with a tensor's bytes (inside this buffer) once the model no longer reads them.
    fn release(_bytes: &[u8]) {}
}

impl ModelBytes for memmap2::Mmap {
    fn release(bytes: &[u8]) {
        // SAFETY: the loader hands in tensor bytes of this read-only file map.
        unsafe { crate::gguf::release_mapped_pages(bytes) }
    }
}

impl ModelBytes for Vec<u8> {}

impl ModelBytes for &[u8] {}

/// Architectures with a forward pass here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `llama` (Llama 1-3, Mistral, SmolLM, Mixtral when it has experts).
    Llama,
    /// `qwen2` (Qwen1.5/2/2.5): QKV biases, NeoX RoPE.
    Qwen2,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
        }
    }
}

/// Hyperparameters of a model.
#[derive(Debug, Clone)]
pub struct HParams {
    pub arch: Arch,
    pub n_vocab: usize,
    pub n_ctx_train: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Per-head width of Q, K and V (`attention.key_length`, default `n_embd / n_head`).
    pub head_dim: usize,
    /// Dense FFN width, or the width of one expert.
    pub n_ff: usize,
    pub n_expert: usize,
    pub n_expert_used: usize,
    pub rms_eps: f32,
    /// `1/sqrt(head_dim)`, or `attention.scale` when the file sets it.
    pub kq_scale: f32,
    pub rope: Rope,
}

/// One weight matrix and how to multiply it.
#[derive(Debug, Clone)]
pub(crate) struct Mat<'a> {
    pub w: Weight<'a>,
    pub k: MatKernel,
}

/// Stacked expert matrices (`blk.N.ffn_*_exps.weight`: `n_expert` matrices of `rows × cols`).
#[derive(Debug, Clone)]
pub(crate) struct Experts<'a> {
    pub all: Weight<'a>,
    pub rows: usize,
    pub k: MatKernel,
}

impl<'a> Experts<'a> {
    pub fn expert(&self, e: usize) -> Mat<'a> {
        Mat {
            w: self.all.slice_rows(e * self.rows, self.rows),
            k: self.k,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Ffn<'a> {
    Dense {
        gate: Mat<'a>,
        up: Mat<'a>,
        down: Mat<'a>,
    },
    Moe {
        router: Mat<'a>,
        gate: Experts<'a>,
        up: Experts<'a>,
        down: Experts<'a>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Layer<'a> {
    pub attn_norm: Vec<f32>,
    pub wq: Mat<'a>,
    pub wk: Mat<'a>,
    pub wv: Mat<'a>,
    pub wo: Mat<'a>,
    pub bq: Option<Vec<f32>>,
    pub bk: Option<Vec<f32>>,
    pub bv: Option<Vec<f32>>,
    pub bo: Option<Vec<f32>>,
    pub ffn_norm: Vec<f32>,
    pub ffn: Ffn<'a>,
}

/// A loaded model: hyperparameters and weight views borrowed from the GGUF file.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    pub hparams: HParams,
    pub(crate) tok_embd: Weight<'a>,
    pub(crate) layers: Vec<Layer<'a>>,
    pub(crate) output_norm: Vec<f32>,
    pub(crate) output: Mat<'a>,
    /// Whether the output head is the token embedding (tied embeddings).
    pub tied_embeddings: bool,
    /// Bytes of tensor data in the file the model uses (mapped, or copied when repacked).
    pub weight_bytes: u64,
    /// Bytes copied out of the file: f32 norm weights and biases, and repacked matrices.
    pub copied_bytes: u64,
    /// Bytes of the matrices repacked at load (part of `weight_bytes` and of `copied_bytes`).
    pub repacked_bytes: u64,
}

/// Reads a metadata integer stored as a scalar or as a per-layer array whose entries all agree.
fn uint_key<D: AsRef<[u8]>>(f: &GgufFile<D>, key: &str) -> Result<Option<u64>, EngineError> {
    if f.get(key).is_none() {
        return Ok(None);
    }
    if let Ok(v) = f.get_uint(key) {
        return Ok(Some(v));
    }
    let vals: Vec<i64> = if let Ok(it) = f.get_scalar_array::<u32>(key) {
        it.map(i64::from).collect()
    } else if let Ok(it) = f.get_scalar_array::<i32>(key) {
        it.map(i64::from).collect()
    } else {
        return Err(EngineError::Metadata(format!(
            "`{key}` is neither an integer nor an integer array"
        )));
    };
    match vals.first() {
        Some(&v) if v >= 0 && vals.iter().all(|&x| x == v) => Ok(Some(v as u64)),
        _ => Err(EngineError::Metadata(format!(
            "`{key}` varies per layer ({vals:?}); the engine needs uniform layers"
        ))),
    }
}

fn float_key<D: AsRef<[u8]>>(f: &GgufFile<D>, key: &str) -> Result<Option<f32>, EngineError> {
    match f.get(key) {
        None => Ok(None),
        Some(_) => Ok(Some(f.get_float(key)? as f32)),
    }
}

impl HParams {
    /// Reads the hyperparameters of a llama-family or qwen2 file.
    pub fn from_gguf<D: AsRef<[u8]>>(f: &GgufFile<D>) -> Result<HParams, EngineError> {
        let arch_name = f.architecture()?;
        // The reference engine runs two rows of the architecture table.
        let arch = match crate::arch::Arch::from_gguf(arch_name) {
            Some(crate::arch::Arch::Llama) => Arch::Llama,
            Some(crate::arch::Arch::Qwen2) => Arch::Qwen2,
            _ => {
                return Err(EngineError::UnsupportedArchitecture {
                    arch: arch_name.to_string(),
                })
            }
        };
        // The limits every command applies (layers, widths, heads, experts, context, vocabulary),
        // so that every size below is far from overflow and allocations stay bounded.
        crate::gguf::check_hparams(f)?;
        let k = |s: &str| format!("{arch_name}.{s}");
        let need = |s: &str| -> Result<usize, EngineError> {
            uint_key(f, &k(s))?
                .map(|v| v as usize)
                .ok_or_else(|| EngineError::Metadata(format!("`{}` is missing", k(s))))
        };
        let n_embd = need("embedding_length")?;
        let n_layer = need("block_count")?;
        let n_head = need("attention.head_count")?;
        if n_head == 0 || n_embd == 0 || n_layer == 0 {
            return Err(EngineError::Metadata(format!(
                "n_embd {n_embd}, n_layer {n_layer}, n_head {n_head} must be positive"
            )));
        }
        let n_head_kv = uint_key(f, &k("attention.head_count_kv"))?.map_or(n_head, |v| v as usize);
        if n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(EngineError::Metadata(format!(
                "{n_head} query heads cannot share {n_head_kv} KV heads"
            )));
        }
        let head_dim =
            uint_key(f, &k("attention.key_length"))?.map_or(n_embd / n_head, |v| v as usize);
        let head_dim_v =
            uint_key(f, &k("attention.value_length"))?.map_or(n_embd / n_head, |v| v as usize);
        if head_dim_v != head_dim || head_dim == 0 || head_dim % 2 != 0 {
            return Err(EngineError::Metadata(format!(
                "head widths K {head_dim} / V {head_dim_v} must be equal and even"
            )));
        }
        let n_rot = uint_key(f, &k("rope.dimension_count"))?.map_or(head_dim, |v| v as usize);
        if n_rot == 0
            || n_rot > head_dim
            || n_rot % 2 != 0
            || (arch == Arch::Llama && n_rot != head_dim)
        {
            return Err(EngineError::Metadata(format!(
                "invalid n_rot {n_rot} for head width {head_dim}"
            )));
        }
        let n_expert = uint_key(f, &k("expert_count"))?.unwrap_or(0) as usize;
        let n_expert_used = uint_key(f, &k("expert_used_count"))?.unwrap_or(0) as usize;
        if n_expert > 0 && (n_expert_used == 0 || n_expert_used > n_expert) {
            return Err(EngineError::Metadata(format!(
                "{n_expert_used} experts used of {n_expert}"
            )));
        }
        let n_ff = if n_expert > 0 {
            uint_key(f, &k("expert_feed_forward_length"))?
                .or(uint_key(f, &k("feed_forward_length"))?)
                .unwrap_or(0) as usize
        } else {
            need("feed_forward_length")?
        };
        if n_ff == 0 {
            return Err(EngineError::Metadata(format!(
                "`{}` is 0: the engine needs a feed-forward width",
                k(if n_expert > 0 {
                    "expert_feed_forward_length"
                } else {
                    "feed_forward_length"
                })
            )));
        }
        let rms_eps = float_key(f, &k("attention.layer_norm_rms_epsilon"))?.ok_or_else(|| {
            EngineError::Metadata(format!(
                "`{}` is missing",
                k("attention.layer_norm_rms_epsilon")
            ))
        })?;
        let (freq_base, freq_scale, freq_factors) = rope_params(f, arch_name, n_rot)?;
        let kq_scale = match float_key(f, &k("attention.scale"))? {
            Some(s) if s != 0.0 => s,
            _ => 1.0 / (head_dim as f32).sqrt(),
        };
        let n_vocab = f
            .tensor("token_embd.weight")
            .and_then(|t| t.shape().get(1).copied())
            .ok_or_else(|| EngineError::MissingTensor {
                name: "token_embd.weight".into(),
            })? as usize;
        if n_vocab == 0 {
            return Err(EngineError::Metadata(
                "tensor `token_embd.weight` has no rows (an empty vocabulary)".into(),
            ));
        }
        let n_ctx_train = uint_key(f, &k("context_length"))?.unwrap_or(4096) as usize;
        Ok(HParams {
            arch,
            n_vocab,
            n_ctx_train,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            n_ff,
            n_expert,
            n_expert_used,
            rms_eps,
            kq_scale,
            rope: Rope {
                kind: match arch {
                    Arch::Llama => RopeKind::Normal,
                    Arch::Qwen2 => RopeKind::Neox,
                },
                n_rot,
                freq_base,
                freq_scale,
                freq_factors,
            },
        })
    }
}

/// RoPE's frequency base, linear scale and per-dimension factors (`rope_freqs.weight`, `n_rot/2`
/// floats) of a model of architecture `arch_name`; other scaling types are refused.
fn rope_params<D: AsRef<[u8]>>(
    f: &GgufFile<D>,
    arch_name: &str,
    n_rot: usize,
) -> Result<(f32, f32, Option<Vec<f32>>), EngineError> {
    let k = |s: &str| format!("{arch_name}.{s}");
    let freq_base = float_key(f, &k("rope.freq_base"))?.unwrap_or(10000.0);
    let scaling = match f.get(&k("rope.scaling.type")) {
        None => "linear".to_string(),
        Some(_) => f.get_str(&k("rope.scaling.type"))?.to_string(),
    };
    let factor = match float_key(f, &k("rope.scaling.factor"))? {
        Some(v) => v,
        None => float_key(f, &k("rope.scale_linear"))?.unwrap_or(0.0),
    };
    let freq_scale = match scaling.as_str() {
        "none" | "linear" => {
            if factor == 0.0 {
                1.0
            } else {
                1.0 / factor
            }
        }
        other => {
            return Err(EngineError::Metadata(format!(
                "RoPE scaling `{other}` is not supported (none, linear and rope_freqs are)"
            )))
        }
    };
    let freq_factors = match f.tensor("rope_freqs.weight") {
        None => None,
        Some(t) => {
            if t.ty() != GgmlType::F32 || t.n_elements() as usize != n_rot / 2 {
                return Err(EngineError::TensorShape {
                    name: t.name().to_string(),
                    expected: vec![(n_rot / 2) as u64],
                    found: t.shape().to_vec(),
                });
            }
            Some(f32s(f.tensor_data(t)))
        }
    };
    Ok((freq_base, freq_scale, freq_factors))
}

impl HParams {
    /// Bytes of the K and V cache a session of `n_ctx` tokens allocates (padded to 256 cells as
    /// [`super::KvCache`] does), so a caller can refuse a context before allocating it. `None`
    /// when the product overflows.
    pub fn kv_cache_bytes(&self, kv_type: super::KvCacheType, n_ctx: usize) -> Option<u64> {
        let g = match kv_type {
            super::KvCacheType::F16 => GgmlType::F16,
            super::KvCacheType::Q8_0 => GgmlType::Q8_0,
        };
        let cells = (n_ctx.max(1) as u64).checked_next_multiple_of(256)?;
        let row_elems = (self.n_head_kv as u64).checked_mul(self.head_dim as u64)?;
        let row_bytes = row_elems.div_ceil(g.block_size() as u64) * g.type_size() as u64;
        cells
            .checked_mul(row_bytes)?
            .checked_mul(2)?
            .checked_mul(self.n_layer as u64)
    }
}

/// Little-endian f32 values of a byte slice.
fn f32s(b: &[u8]) -> Vec<f32> {
    let mut out = vec![0.0; b.len() / 4];
    quant::dequantize_row_f32(&b[..out.len() * 4], &mut out);
    out
}

/// Collects tensor views and checks their shapes.
struct Loader<'a, D: ModelBytes> {
    f: &'a GgufFile<D>,
    weight_bytes: u64,
    copied_bytes: u64,
    repacked_bytes: u64,
    /// Whether matrices with a packed kernel are repacked.
    repack: bool,
    /// The instruction set of the dot kernels.
    isa: Isa,
}

impl<'a, D: ModelBytes> Loader<'a, D> {
    fn info(&self, name: &str, shape: &[u64]) -> Result<&'a crate::gguf::TensorInfo, EngineError> {
        let t = self
            .f
            .tensor(name)
            .ok_or_else(|| EngineError::MissingTensor {
                name: name.to_string(),
            })?;
        let found = t.shape();
        // Trailing dimensions of 1 carry no information (ggml_n_dims drops them when writing:
        // the router of a 1-expert MoE is stored as [n_embd]), so compare without them.
        let trim = |s: &[u64]| -> Vec<u64> {
            let mut v = s.to_vec();
            while v.len() > 1 && v.last() == Some(&1) {
                v.pop();
            }
            v
        };
        if trim(found) != trim(shape) {
            return Err(EngineError::TensorShape {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: found.to_vec(),
            });
        }
        Ok(t)
    }

    fn weight(&mut self, name: &str, cols: usize, rows: usize) -> Result<Weight<'a>, EngineError> {
        let t = self.info(name, &[cols as u64, rows as u64])?;
        self.weight_bytes += t.n_bytes();
        Ok(Weight::mapped(t.ty(), rows, cols, self.f.tensor_data(t)))
    }

    /// `w` and its kernel: repacked into memory of its own when the active instruction set has a
    /// packed kernel for its type and each matrix in it (`rows` rows: all of `w`, or one expert)
    /// is whole groups of eight rows; else as it is in the file.
    fn packed(&mut self, name: &str, w: Weight<'a>, rows: usize) -> Result<Mat<'a>, EngineError> {
        let kernel = PackedKernel::for_engine(w.ty).filter(|_| self.repack);
        let (WeightBytes::Mapped(src), Some(kernel)) = (&w.bytes, kernel) else {
            return Ok(Mat {
                k: MatKernel::for_weight_on(name, w.ty, self.isa)?,
                w,
            });
        };
        if !repack::can_repack(w.ty, rows, w.cols) || !w.rows.is_multiple_of(rows) {
            return Ok(Mat {
                k: MatKernel::for_weight_on(name, w.ty, self.isa)?,
                w,
            });
        }
        let src: &'a [u8] = src;
        let (ty, cols) = (w.ty, w.cols);
        let chunk = 64 * w.row_bytes();
        let mut dst = vec![0u8; src.len()];
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| {
                repack::repack(ty, s.len() / (chunk / 64), cols, s, d)
                    .expect("whole groups of eight rows, checked above");
            });
        D::release(src);
        let len = dst.len();
        self.copied_bytes += len as u64;
        self.repacked_bytes += len as u64;
        let act = vec_dot_type(ty).expect("packed types have a partner type");
        let MatKernel::Dot { kernel: file, .. } = MatKernel::for_weight_on(name, ty, self.isa)?
        else {
            unreachable!("packed types have dot kernels")
        };
        // Prompts on packed Q4_K take the tiled product only with its 512-bit VNNI form: on AVX2
        // the packed four-token kernel is faster (kernels bench, 64 tokens x 1024 rows, one
        // thread: 176-187 against 159-160 GFLOP/s; VNNI tiled 267-275).
        let file = if self.isa == Isa::Avx512Vnni {
            file
        } else {
            file.without_tiled()
        };
        Ok(Mat {
            k: MatKernel::Packed { kernel, act, file },
            w: Weight {
                bytes: WeightBytes::Packed(Arc::new(dst), 0..len),
                ..w
            },
        })
    }

    fn mat(&mut self, name: &str, cols: usize, rows: usize) -> Result<Mat<'a>, EngineError> {
        let w = self.weight(name, cols, rows)?;
        self.packed(name, w, rows)
    }

    fn experts(
        &mut self,
        name: &str,
        cols: usize,
        rows: usize,
        n: usize,
    ) -> Result<Experts<'a>, EngineError> {
        let t = self.info(name, &[cols as u64, rows as u64, n as u64])?;
        self.weight_bytes += t.n_bytes();
        let all = Weight::mapped(t.ty(), rows * n, cols, self.f.tensor_data(t));
        let Mat { w: all, k } = self.packed(name, all, rows)?;
        Ok(Experts { all, rows, k })
    }

    /// A small vector copied to f32 (norm weights, biases).
    fn vector(&mut self, name: &str, n: usize) -> Result<Vec<f32>, EngineError> {
        let t = self.info(name, &[n as u64])?;
        self.weight_bytes += t.n_bytes();
        self.copied_bytes += 4 * n as u64;
        let mut out = vec![0.0; n];
        let f = quant::dequantize_fn(t.ty())
            .filter(|_| !t.ty().is_quantized() || n.is_multiple_of(t.ty().block_size()));
        match f {
            Some(f) => f(self.f.tensor_data(t), &mut out),
            None => {
                return Err(EngineError::UnsupportedType {
                    name: name.to_string(),
                    ty: t.ty(),
                })
            }
        }
        Ok(out)
    }

    fn opt_vector(&mut self, name: &str, n: usize) -> Result<Option<Vec<f32>>, EngineError> {
        if self.f.tensor(name).is_none() {
            return Ok(None);
        }
        self.vector(name, n).map(Some)
    }
}

impl<'a> Model<'a> {
    /// Loads a llama-family or qwen2 model from a parsed GGUF file. The weights stay in the file's
    /// bytes; an unsupported architecture, a missing tensor or a wrong shape is an error naming it.
    pub fn load<D: ModelBytes>(f: &'a GgufFile<D>) -> Result<Model<'a>, EngineError> {
        Model::load_with(f, true)
    }

    /// [`Model::load`] with every matrix left in the file's layout (no repacking) and multiplied
    /// by the scalar kernels: the reference the repacked model is tested against (the packed
    /// kernels are bit-identical to the scalar ones).
    pub fn load_scalar_reference<D: ModelBytes>(
        f: &'a GgufFile<D>,
    ) -> Result<Model<'a>, EngineError> {
        Model::load_with(f, false)
    }

    fn load_with<D: ModelBytes>(
        f: &'a GgufFile<D>,
        repack: bool,
    ) -> Result<Model<'a>, EngineError> {
        let hp = HParams::from_gguf(f)?;
        let isa = if repack {
            crate::kernels::active_isa()
        } else {
            Isa::Scalar
        };
        let mut l = Loader {
            f,
            weight_bytes: 0,
            copied_bytes: 0,
            repacked_bytes: 0,
            repack,
            isa,
        };
        let (e, hd) = (hp.n_embd, hp.head_dim);
        let q_dim = hp.n_head * hd;
        let kv_dim = hp.n_head_kv * hd;
        let tok_embd = l.weight("token_embd.weight", e, hp.n_vocab)?;
        if !quant::can_dequantize(tok_embd.ty) {
            return Err(EngineError::UnsupportedType {
                name: "token_embd.weight".into(),
                ty: tok_embd.ty,
            });
        }
        let output_norm = l.vector("output_norm.weight", e)?;
        let tied = f.tensor("output.weight").is_none();
        let output = if tied {
            Mat {
                k: MatKernel::for_weight_on("token_embd.weight", tok_embd.ty, isa)?,
                w: tok_embd.clone(),
            }
        } else {
            l.mat("output.weight", e, hp.n_vocab)?
        };
        let mut layers = Vec::with_capacity(hp.n_layer);
        for i in 0..hp.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}");
            let ffn = if hp.n_expert > 0 {
                Ffn::Moe {
                    router: l.mat(&n("ffn_gate_inp.weight"), e, hp.n_expert)?,
                    gate: l.experts(&n("ffn_gate_exps.weight"), e, hp.n_ff, hp.n_expert)?,
                    up: l.experts(&n("ffn_up_exps.weight"), e, hp.n_ff, hp.n_expert)?,
                    down: l.experts(&n("ffn_down_exps.weight"), hp.n_ff, e, hp.n_expert)?,
                }
            } else {
                Ffn::Dense {
                    gate: l.mat(&n("ffn_gate.weight"), e, hp.n_ff)?,
                    up: l.mat(&n("ffn_up.weight"), e, hp.n_ff)?,
                    down: l.mat(&n("ffn_down.weight"), hp.n_ff, e)?,
                }
            };
            layers.push(Layer {
                attn_norm: l.vector(&n("attn_norm.weight"), e)?,
                wq: l.mat(&n("attn_q.weight"), e, q_dim)?,
                wk: l.mat(&n("attn_k.weight"), e, kv_dim)?,
                wv: l.mat(&n("attn_v.weight"), e, kv_dim)?,
                wo: l.mat(&n("attn_output.weight"), q_dim, e)?,
                bq: l.opt_vector(&n("attn_q.bias"), q_dim)?,
                bk: l.opt_vector(&n("attn_k.bias"), kv_dim)?,
                bv: l.opt_vector(&n("attn_v.bias"), kv_dim)?,
                bo: l.opt_vector(&n("attn_output.bias"), e)?,
                ffn_norm: l.vector(&n("ffn_norm.weight"), e)?,
                ffn,
            });
        }
        if f.tensor("rope_freqs.weight").is_some() {
            l.weight_bytes += 4 * (hp.rope.n_rot / 2) as u64;
        }
        Ok(Model {
            hparams: hp,
            tok_embd,
            layers,
            output_norm,
            output,
            tied_embeddings: tied,
            weight_bytes: l.weight_bytes,
            copied_bytes: l.copied_bytes,
            repacked_bytes: l.repacked_bytes,
        })
    }

    /// The ggml type of the token embedding (and of the output head when tied).
    pub fn embedding_type(&self) -> GgmlType {
        self.tok_embd.ty
    }

    /// Dequantizes the embedding row of `token` into `out`.
    pub(crate) fn embed(&self, token: u32, out: &mut [f32]) -> Result<(), EngineError> {
        if token as usize >= self.hparams.n_vocab {
            return Err(EngineError::TokenOutOfRange {
                token,
                n_vocab: self.hparams.n_vocab,
            });
        }
        self.tok_embd.dequantize_row(token as usize, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::GgufWriter;

    fn file_with_arch(arch: &str) -> Vec<u8> {
        let mut w = GgufWriter::new();
        w.add_kv("general.architecture", arch).unwrap();
        w.to_bytes().unwrap()
    }

    #[test]
    fn unsupported_architectures_are_named() {
        for arch in ["gpt2", "qwen2moe", "mamba"] {
            let bytes = file_with_arch(arch);
            let f = GgufFile::parse(&bytes).unwrap();
            let e = Model::load(&f).unwrap_err();
            assert!(
                matches!(&e, EngineError::UnsupportedArchitecture { arch: a } if a == arch),
                "{e}"
            );
            assert!(e.to_string().contains(&format!("`{arch}`")), "{e}");
        }
    }

    #[test]
    fn missing_hyperparameters_are_named() {
        let bytes = file_with_arch("llama");
        let f = GgufFile::parse(&bytes).unwrap();
        let e = Model::load(&f).unwrap_err().to_string();
        assert!(e.contains("llama.embedding_length"), "{e}");
    }
}
