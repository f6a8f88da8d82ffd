//! The element-wise pieces of the forward pass, each following the ggml-cpu operator it stands
//! for (`ggml/src/ggml-cpu/ops.cpp`, `vec.h`): RMSNorm, RoPE, softmax, SwiGLU, MoE routing.

use crate::quant::{fp16_to_fp32, fp32_to_fp16};

/// Runs `$body` compiled with FMA where the CPU has it. `f32::mul_add` is one fused rounding either
/// way, but without the target feature it is a call to a software `fmaf` (measured ~7% of a
/// prefill); the results are the same bits.
macro_rules! with_fma {
    ($name:ident, ($($arg:ident: $ty:ty),*), $body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "fma")]
            unsafe fn $name($($arg: $ty),*) {
                $body
            }
            if std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: FMA was just detected on this CPU.
                return unsafe { $name($($arg),*) };
            }
        }
        $body
    }};
}
pub(crate) use with_fma;

/// `ggml_rms_norm` fused with the multiplication by the norm weight
/// (`ggml_compute_forward_rms_norm_mul_fused`): squares in f32 summed in f64 (`ggml_float`) in
/// order, `scale = 1/sqrtf(mean + eps)` in f32, `y = x·scale·w`.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let mut sum = 0.0f64;
    for &v in x {
        sum += f64::from(v * v);
    }
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = (v * scale) * w;
    }
}

/// How RoPE pairs the dimensions of a head (`llama_model_rope_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeKind {
    /// `LLAMA_ROPE_TYPE_NORM`: adjacent pairs `(2i, 2i+1)` (llama, mistral).
    Normal,
    /// `LLAMA_ROPE_TYPE_NEOX`: halves `(i, i + n_rot/2)` (qwen2, gpt-neox).
    Neox,
}

/// RoPE parameters of a model.
#[derive(Debug, Clone)]
pub struct Rope {
    pub kind: RopeKind,
    /// Rotated dimensions per head (`rope.dimension_count`).
    pub n_rot: usize,
    pub freq_base: f32,
    /// `1/rope.scaling.factor` (linear scaling), 1 when unscaled.
    pub freq_scale: f32,
    /// Per-pair frequency divisors (`rope_freqs.weight`, Llama 3.1+ scaling), if the file has them.
    pub freq_factors: Option<Vec<f32>>,
}

impl Rope {
    /// `ggml_rope_cache_init` for position `pos`: `(cos, sin)` per rotated pair. `theta` is
    /// multiplied by `freq_base^(-2/n_rot)` pair after pair in f32, as ggml does.
    pub fn cache(&self, pos: usize) -> Vec<(f32, f32)> {
        let theta_scale = self.freq_base.powf(-2.0 / self.n_rot as f32);
        let mut theta = pos as f32;
        (0..self.n_rot / 2)
            .map(|i| {
                let ff = self.freq_factors.as_ref().map_or(1.0, |f| f[i]);
                let t = self.freq_scale * (theta / ff);
                theta *= theta_scale;
                (t.cos(), t.sin())
            })
            .collect()
    }

    /// Rotates one head (`head_dim` values) in place with a cache from [`Rope::cache`]. The
    /// products are fused as GCC compiles ggml's `rotate_pairs` for x86-64 with FMA (checked
    /// value for value against llama.cpp): `x0·c − round(x1·s)` and `x0·s + round(x1·c)`, each
    /// with one rounding for the fused product.
    pub fn apply(&self, head: &mut [f32], cache: &[(f32, f32)]) {
        let (stride, half) = match self.kind {
            RopeKind::Normal => (2, 1),
            RopeKind::Neox => (1, self.n_rot / 2),
        };
        with_fma!(
            apply_fma,
            (head: &mut [f32], cache: &[(f32, f32)], stride: usize, half: usize),
            rotate(head, cache, stride, half)
        )
    }
}

#[inline(always)]
fn rotate(head: &mut [f32], cache: &[(f32, f32)], stride: usize, half: usize) {
    {
        for (i, &(c, s)) in cache.iter().enumerate() {
            let (i0, i1) = (i * stride, i * stride + half);
            let (x0, x1) = (head[i0], head[i1]);
            head[i0] = x0.mul_add(c, -(x1 * s));
            head[i1] = x0.mul_add(s, x1 * c);
        }
    }
}

/// `ggml_v_expf` (ggml-cpu `vec.h`, AVX2): the vectorized exp ggml uses in softmax and SiLU, lane
/// by lane. Within 1-2 ulp of `expf`; 0 for `-inf`.
/// Always inlined, so that it compiles with FMA inside the callers' `with_fma!` bodies.
#[inline(always)]
pub fn v_expf(x: f32) -> f32 {
    let f = f32::from_bits;
    let r = f(0x4b40_0000);
    let z = x.mul_add(f(0x3fb8_aa3b), r);
    let n = z - r;
    let b = (-n).mul_add(f(0x35bf_be8e), (-n).mul_add(f(0x3f31_7200), x));
    let e = z.to_bits() << 23;
    let k = f(e.wrapping_add(1.0f32.to_bits()));
    let c = n.abs() > 126.0;
    let u = b * b;
    let j = f(0x3c07_2010)
        .mul_add(b, f(0x3d2b_9f17))
        .mul_add(u, f(0x3e2a_af33).mul_add(b, f(0x3eff_fedb)))
        .mul_add(u, f(0x3f7f_fff6) * b);
    if !c {
        return j.mul_add(k, k);
    }
    if n.abs() > 192.0 {
        let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
        let s1 = f(g.wrapping_add(0x7f00_0000));
        return s1 * s1;
    }
    let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
    let s1 = f(g.wrapping_add(0x7f00_0000));
    let s2 = f(e.wrapping_sub(g));
    s2.mul_add(j, s2) * s1
}

/// ggml's horizontal sum of eight lanes (`hsum_float_8`, tinyBLAS `hsum`):
/// `((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7))`.
#[inline(always)]
pub fn hsum8(l: &[f32; 8]) -> f32 {
    let r = [l[4] + l[0], l[5] + l[1], l[6] + l[2], l[7] + l[3]];
    (r[0] + r[2]) + (r[1] + r[3])
}

/// In-place softmax as `ggml_compute_forward_soft_max_f32` computes a row: `exp(x − max)` with
/// [`v_expf`] eight lanes at a time (`expf` for a tail shorter than eight), each block's
/// [`hsum8`] added to an f64 sum, every value scaled by `(float)(1/sum)`. Entries of `-inf`
/// (masked) become 0.
pub fn softmax(x: &mut [f32]) {
    with_fma!(softmax_fma, (x: &mut [f32]), softmax_inline(x))
}

#[inline(always)]
fn softmax_inline(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0f64;
    let blocks = x.len() / 8 * 8;
    for chunk in x[..blocks].chunks_exact_mut(8) {
        let mut l = [0.0f32; 8];
        for (v, o) in chunk.iter_mut().zip(l.iter_mut()) {
            *v = v_expf(*v - max);
            *o = *v;
        }
        sum += f64::from(hsum8(&l));
    }
    for v in x[blocks..].iter_mut() {
        *v = (*v - max).exp();
        sum += f64::from(*v);
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `ggml_silu_f32`: `x/(1 + expf(−x))`.
#[inline]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// SwiGLU in place, `gate[i] = silu(gate[i])·up[i]`, as `ggml_vec_swiglu_f32` computes it:
/// `x/(1 + v_expf(−x))` eight lanes at a time, [`silu`] for the tail.
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    with_fma!(swiglu_fma, (gate: &mut [f32], up: &[f32]), swiglu_inline(gate, up))
}

#[inline(always)]
fn swiglu_inline(gate: &mut [f32], up: &[f32]) {
    let blocks = gate.len() / 8 * 8;
    for (g, &u) in gate[..blocks].iter_mut().zip(up) {
        *g = (*g / (1.0 + v_expf(0.0 - *g))) * u;
    }
    for (g, &u) in gate[blocks..].iter_mut().zip(&up[blocks..]) {
        *g = silu(*g) * u;
    }
}

/// [`round_f16`] of every element: F16C eight at a time where the CPU has it (round to nearest
/// even, as the scalar conversion; NaNs stay NaN, their payload may differ), the rest scalar.
pub fn round_f16_slice(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("f16c") {
        // SAFETY: F16C (and so AVX) was just detected on this CPU.
        unsafe { round_f16_slice_f16c(x) };
        return;
    }
    for v in x {
        *v = round_f16(*v);
    }
}

/// [`round_f16_slice`] with F16C.
///
/// # Safety
/// The CPU has F16C and AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn round_f16_slice_f16c(x: &mut [f32]) {
    use std::arch::x86_64::*;
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        // SAFETY: `c` holds eight floats.
        unsafe {
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(c.as_ptr()));
            _mm256_storeu_ps(c.as_mut_ptr(), _mm256_cvtph_ps(h));
        }
    }
    for v in chunks.into_remainder() {
        *v = round_f16(*v);
    }
}

/// Rounds to the nearest f16 and back (what storing in an f16 tensor does).
#[inline]
pub fn round_f16(x: f32) -> f32 {
    fp16_to_fp32(fp32_to_fp16(x))
}

/// Mixtral-style routing (`build_moe_ffn` with softmax gating and `norm_w`): softmax over all
/// expert logits, the `k` most probable experts (ties to the lower index), their probabilities
/// divided by their sum (summed in f64 as `ggml_sum_rows` does, clamped below at 2^-14).
pub fn route_top_k(logits: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut p = logits.to_vec();
    softmax(&mut p);
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    idx.truncate(k);
    let mut sum = 0.0f64;
    for &i in &idx {
        sum += f64::from(p[i]);
    }
    let sum = (sum as f32).max(6.103_515_6e-5);
    idx.into_iter().map(|i| (i, p[i] / sum)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_normalizes_to_unit_rms() {
        let x = [1.0f32, -2.0, 3.0, -4.0];
        let w = [1.0f32, 1.0, 2.0, 0.5];
        let mut y = [0.0f32; 4];
        rms_norm(&x, &w, 0.0, &mut y);
        let rms = (30.0f32 / 4.0).sqrt();
        for i in 0..4 {
            assert!((y[i] - x[i] / rms * w[i]).abs() < 1e-6);
        }
        // eps keeps a zero vector finite.
        rms_norm(&[0.0; 4], &w, 1e-5, &mut y);
        assert_eq!(y, [0.0; 4]);
    }

    #[test]
    fn rope_rotates_pairs_by_position_times_frequency() {
        let mut r = Rope {
            kind: RopeKind::Normal,
            n_rot: 4,
            freq_base: 10000.0,
            freq_scale: 1.0,
            freq_factors: None,
        };
        let cache = r.cache(3);
        // pair 0 turns by 3 rad, pair 1 by 3/100 rad.
        assert!((cache[0].0 - 3f32.cos()).abs() < 1e-6);
        assert!((cache[1].1 - 0.03f32.sin()).abs() < 1e-6);
        let mut h = [1.0f32, 0.0, 0.0, 1.0];
        r.apply(&mut h, &cache);
        assert!((h[0] - 3f32.cos()).abs() < 1e-6 && (h[1] - 3f32.sin()).abs() < 1e-6);
        assert!((h[2] + 0.03f32.sin()).abs() < 1e-6 && (h[3] - 0.03f32.cos()).abs() < 1e-6);
        // NeoX pairs dimension i with i + n_rot/2; position 0 is the identity.
        r.kind = RopeKind::Neox;
        let mut h = [1.0f32, 2.0, 3.0, 4.0];
        r.apply(&mut h, &r.cache(0));
        assert_eq!(h, [1.0, 2.0, 3.0, 4.0]);
        let mut h = [1.0f32, 0.0, 0.0, 0.0];
        r.apply(&mut h, &r.cache(1));
        assert!((h[0] - 1f32.cos()).abs() < 1e-6 && (h[2] - 1f32.sin()).abs() < 1e-6);
        // Frequency factors divide the angle (llama3 scaling).
        r.freq_factors = Some(vec![2.0, 1.0]);
        assert!((r.cache(4)[0].1 - 2f32.sin()).abs() < 1e-6);
        // Norms are preserved.
        let mut h = [0.3f32, -1.2, 0.7, 2.0];
        let n0: f32 = h.iter().map(|v| v * v).sum();
        r.apply(&mut h, &r.cache(17));
        let n1: f32 = h.iter().map(|v| v * v).sum();
        assert!((n0 - n1).abs() < 1e-5);
    }

    #[test]
    fn softmax_sums_to_one_and_ignores_masked() {
        let mut x = [1.0f32, 2.0, f32::NEG_INFINITY, 3.0];
        softmax(&mut x);
        assert_eq!(x[2], 0.0);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[3] > x[1] && x[1] > x[0]);
        let e = [1f32.exp(), 2f32.exp(), 3f32.exp()];
        assert!((x[0] - e[0] / (e[0] + e[1] + e[2])).abs() < 1e-6);
        // Large logits do not overflow.
        let mut y = [1000.0f32, 1000.0];
        softmax(&mut y);
        assert_eq!(y, [0.5, 0.5]);
    }

    #[test]
    fn routing_picks_top_k_and_renormalizes() {
        let r = route_top_k(&[0.1, 2.0, -1.0, 1.5, 2.0], 2);
        assert_eq!(r.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 4]);
        assert!((r[0].1 - 0.5).abs() < 1e-6 && (r[1].1 - 0.5).abs() < 1e-6);
        let r = route_top_k(&[0.0, 1.0, 3.0], 2);
        assert_eq!(r[0].0, 2);
        assert_eq!(r[1].0, 1);
        let (a, b) = (3f32.exp(), 1f32.exp());
        assert!((r[0].1 - a / (a + b)).abs() < 1e-6);
        assert!((r[0].1 + r[1].1 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn v_expf_is_close_to_expf() {
        for &x in &[
            -100.0f32, -20.5, -3.0, -1.0, -0.1, 0.0, 0.3, 1.0, 5.5, 40.0, 88.0,
        ] {
            let (a, b) = (v_expf(x), x.exp());
            assert!(((a - b) / b).abs() < 1e-6, "{x}: {a} vs {b}");
        }
        assert_eq!(v_expf(f32::NEG_INFINITY), 0.0);
        assert_eq!(v_expf(-150.0), 0.0f32.max(v_expf(-150.0)));
        assert!(v_expf(-150.0) < 1e-40);
        assert_eq!(hsum8(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]), 36.0);
    }

    #[test]
    fn f16_rounding_of_a_slice_matches_the_scalar_rounding() {
        let mut seed = 11u64;
        let mut x: Vec<f32> = (0..100_003)
            .map(|i| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let bits = (seed >> 32) as u32;
                // Every magnitude (subnormal, overflow, halfway cases) and some plain values.
                if i % 3 == 0 {
                    (i as f32 - 50_000.0) * 0.37
                } else {
                    f32::from_bits(bits)
                }
            })
            .filter(|v| !v.is_nan())
            .collect();
        x.extend([
            65_504.0,
            65_520.0,
            65_519.99,
            5.96e-8,
            2.98e-8,
            2.9802326e-8,
            -0.0,
        ]);
        let want: Vec<u32> = x.iter().map(|&v| round_f16(v).to_bits()).collect();
        round_f16_slice(&mut x);
        let got: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn swiglu_and_f16_rounding() {
        let mut g = [0.0f32, 1.0, -1.0];
        swiglu(&mut g, &[1.0, 2.0, 3.0]);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 2.0 / (1.0 + (-1f32).exp())).abs() < 1e-6);
        assert_eq!(round_f16(1.0 + 1.0 / 4096.0), 1.0);
        assert_eq!(round_f16(0.5), 0.5);
    }
}
