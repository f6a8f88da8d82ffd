//! Tiny random-weight GGUF models for testing the forward pass on architectures without a small
//! real model at hand (qwen2 with QKV biases, Mixtral-style experts): llama-shaped files of chosen
//! dimensions and weight types, with the tokenizer metadata copied from a real file. The weights
//! come from a seeded generator, so the same spec always gives the same bytes; llama.cpp's logits
//! on these files are the reference (`tools/engine_ref/make_ref.py --testgen-dir`).

use super::model::Arch;
use super::EngineError;
use crate::ggml::GgmlType;
use crate::gguf::{GgufFile, GgufWriter, MetaValue};
use crate::quant;

/// Shape, types and seed of a generated model.
#[derive(Debug, Clone)]
pub struct TestModelSpec {
    /// File stem (`qwen2-q5_k`).
    pub name: &'static str,
    pub arch: Arch,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Dense FFN width, or the width of one expert.
    pub n_ff: usize,
    /// 0 for a dense FFN.
    pub n_expert: usize,
    pub n_expert_used: usize,
    /// Type of the attention, FFN, expert and router matrices.
    pub weight_type: GgmlType,
    /// Type of `token_embd.weight`.
    pub embd_type: GgmlType,
    /// Type of a separate `output.weight`; `None` ties the output to the embedding.
    pub output_type: Option<GgmlType>,
    /// Whether Q, K and V have biases (qwen2).
    pub qkv_bias: bool,
    pub rope_freq_base: f32,
    pub seed: u64,
}

/// The models the tests compare with llama.cpp. The first two use weight types whose products
/// llama.cpp computes with the same per-row dot products as the kernels (so the logits agree to
/// the last bit); the third exercises the K-quants, where the kernels and llama.cpp's AVX2 code
/// (and its repacked Q4_K batches) sum in different orders.
pub fn test_specs() -> Vec<TestModelSpec> {
    let base = TestModelSpec {
        name: "",
        arch: Arch::Llama,
        n_embd: 256,
        n_layer: 2,
        n_head: 4,
        n_head_kv: 2,
        n_ff: 512,
        n_expert: 0,
        n_expert_used: 0,
        weight_type: GgmlType::Q4_1,
        embd_type: GgmlType::Q8_0,
        output_type: None,
        qkv_bias: false,
        rope_freq_base: 10_000.0,
        seed: 0,
    };
    vec![
        TestModelSpec {
            name: "qwen2-q5_1",
            arch: Arch::Qwen2,
            weight_type: GgmlType::Q5_1,
            output_type: Some(GgmlType::Q6_K),
            qkv_bias: true,
            rope_freq_base: 1_000_000.0,
            seed: 1,
            ..base.clone()
        },
        TestModelSpec {
            name: "llama-moe-q4_1",
            n_head: 8,
            n_ff: 256,
            n_expert: 4,
            n_expert_used: 2,
            embd_type: GgmlType::Q4_1,
            seed: 2,
            ..base.clone()
        },
        TestModelSpec {
            name: "llama-q4_k",
            weight_type: GgmlType::Q4_K,
            output_type: Some(GgmlType::Q6_K),
            seed: 3,
            ..base
        },
    ]
}

/// Whether llama.cpp computes every product of this spec's model with the arithmetic the engine
/// reproduces (see [`test_specs`]).
pub fn bit_exact(spec: &TestModelSpec) -> bool {
    matches!(spec.weight_type, GgmlType::Q4_1 | GgmlType::Q5_1)
}

/// SplitMix64, uniform in `[-1, 1)`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// `n` values uniform in `[center - scale, center + scale)`.
    fn vec(&mut self, n: usize, center: f32, scale: f32) -> Vec<f32> {
        (0..n).map(|_| center + scale * self.next()).collect()
    }
}

fn encode(ty: GgmlType, x: &[f32]) -> Result<Vec<u8>, EngineError> {
    let mut out = vec![0u8; x.len() / ty.block_size() * ty.type_size()];
    quant::quantize(ty, x, &mut out).map_err(|e| EngineError::Metadata(e.to_string()))?;
    Ok(out)
}

/// The GGUF bytes of a model built to `spec`, with the `tokenizer.*` metadata of `tokenizer`.
pub fn build<D: AsRef<[u8]>>(
    spec: &TestModelSpec,
    tokenizer: &GgufFile<D>,
) -> Result<Vec<u8>, EngineError> {
    let s = spec;
    let arch = s.arch.name();
    let n_vocab = tokenizer.get_str_array("tokenizer.ggml.tokens")?.len() as u64;
    let hd = s.n_embd / s.n_head;
    let mut w = GgufWriter::new();
    let k = |key: &str| format!("{arch}.{key}");
    let kv = |w: &mut GgufWriter<'_>, key: String, v: MetaValue| {
        w.add_kv(key, v).map_err(EngineError::from)
    };
    kv(&mut w, "general.architecture".into(), arch.into())?;
    kv(&mut w, "general.name".into(), s.name.into())?;
    kv(&mut w, "general.quantization_version".into(), 2u32.into())?;
    kv(&mut w, k("context_length"), 2048u32.into())?;
    kv(&mut w, k("embedding_length"), (s.n_embd as u32).into())?;
    kv(&mut w, k("block_count"), (s.n_layer as u32).into())?;
    kv(&mut w, k("feed_forward_length"), (s.n_ff as u32).into())?;
    kv(&mut w, k("attention.head_count"), (s.n_head as u32).into())?;
    kv(
        &mut w,
        k("attention.head_count_kv"),
        (s.n_head_kv as u32).into(),
    )?;
    kv(&mut w, k("rope.dimension_count"), (hd as u32).into())?;
    kv(&mut w, k("rope.freq_base"), s.rope_freq_base.into())?;
    kv(
        &mut w,
        k("attention.layer_norm_rms_epsilon"),
        1e-6f32.into(),
    )?;
    if s.n_expert > 0 {
        kv(&mut w, k("expert_count"), (s.n_expert as u32).into())?;
        kv(
            &mut w,
            k("expert_used_count"),
            (s.n_expert_used as u32).into(),
        )?;
    }
    for (key, value) in tokenizer.metadata() {
        if key.starts_with("tokenizer.") {
            kv(&mut w, key.to_string(), value.to_owned_value())?;
        }
    }

    let mut rng = Rng(s.seed);
    let (e, ff) = (s.n_embd as u64, s.n_ff as u64);
    let q_dim = (s.n_head * hd) as u64;
    let kv_dim = (s.n_head_kv * hd) as u64;
    let mut tensors: Vec<(String, Vec<u64>, GgmlType, Vec<u8>)> = Vec::new();
    let mut mat = |rng: &mut Rng, name: String, cols: u64, rows: u64, n: u64, ty: GgmlType| {
        // Uniform with variance 1/cols keeps activations at unit scale.
        let scale = (3.0 / cols as f32).sqrt();
        let x = rng.vec((cols * rows * n) as usize, 0.0, scale);
        let shape = if n > 1 {
            vec![cols, rows, n]
        } else {
            vec![cols, rows]
        };
        encode(ty, &x).map(|b| tensors.push((name, shape, ty, b)))
    };
    mat(
        &mut rng,
        "token_embd.weight".into(),
        e,
        n_vocab,
        1,
        s.embd_type,
    )?;
    if let Some(ty) = s.output_type {
        mat(&mut rng, "output.weight".into(), e, n_vocab, 1, ty)?;
    }
    let mut vectors: Vec<(String, Vec<f32>)> =
        vec![("output_norm.weight".into(), rng.vec(s.n_embd, 1.0, 0.2))];
    for i in 0..s.n_layer {
        let n = |t: &str| format!("blk.{i}.{t}");
        let wt = s.weight_type;
        mat(&mut rng, n("attn_q.weight"), e, q_dim, 1, wt)?;
        mat(&mut rng, n("attn_k.weight"), e, kv_dim, 1, wt)?;
        mat(&mut rng, n("attn_v.weight"), e, kv_dim, 1, wt)?;
        mat(&mut rng, n("attn_output.weight"), q_dim, e, 1, wt)?;
        if s.n_expert > 0 {
            let ne = s.n_expert as u64;
            mat(&mut rng, n("ffn_gate_inp.weight"), e, ne, 1, wt)?;
            mat(&mut rng, n("ffn_gate_exps.weight"), e, ff, ne, wt)?;
            mat(&mut rng, n("ffn_up_exps.weight"), e, ff, ne, wt)?;
            mat(&mut rng, n("ffn_down_exps.weight"), ff, e, ne, wt)?;
        } else {
            mat(&mut rng, n("ffn_gate.weight"), e, ff, 1, wt)?;
            mat(&mut rng, n("ffn_up.weight"), e, ff, 1, wt)?;
            mat(&mut rng, n("ffn_down.weight"), ff, e, 1, wt)?;
        }
        vectors.push((n("attn_norm.weight"), rng.vec(s.n_embd, 1.0, 0.2)));
        vectors.push((n("ffn_norm.weight"), rng.vec(s.n_embd, 1.0, 0.2)));
        if s.qkv_bias {
            vectors.push((n("attn_q.bias"), rng.vec(q_dim as usize, 0.0, 0.1)));
            vectors.push((n("attn_k.bias"), rng.vec(kv_dim as usize, 0.0, 0.1)));
            vectors.push((n("attn_v.bias"), rng.vec(kv_dim as usize, 0.0, 0.1)));
        }
    }
    for (name, v) in vectors {
        let bytes = encode(GgmlType::F32, &v)?;
        tensors.push((name, vec![v.len() as u64], GgmlType::F32, bytes));
    }
    for (name, shape, ty, bytes) in tensors {
        w.add_tensor(name, &shape, ty, bytes)?;
    }
    Ok(w.to_bytes()?)
}

/// Writes the model built to `spec` to `path`.
pub fn write<D: AsRef<[u8]>>(
    spec: &TestModelSpec,
    tokenizer: &GgufFile<D>,
    path: impl AsRef<std::path::Path>,
) -> Result<(), EngineError> {
    let bytes = build(spec, tokenizer)?;
    let path = path.as_ref();
    std::fs::write(path, bytes).map_err(|e| {
        EngineError::Gguf(crate::gguf::GgufError::Io {
            action: "cannot write",
            path: path.to_path_buf(),
            source: e,
        })
    })
}
