//! Scalar reference dot products, one per weight type, following ggml-cpu's
//! `ggml_vec_dot_*_generic` (`ggml/src/ggml-cpu/quants.c`) and `ggml_vec_dot_{f32,f16,bf16}`
//! (`ggml/src/ggml-cpu/vec.cpp`): the products inside a block are summed as integers, each block's
//! integer sum is scaled in f32 in upstream's operation order, and blocks are summed in f32 in
//! order (the float types sum in f64, as `ggml_float` does).
//!
//! Every function takes `n` (elements), the weight row `x` and the activation row `y` in the
//! partner type ([`super::vec_dot_type`]); both must hold at least `n` elements of whole blocks
//! (checked by the public entry points in [`super`], and by slice indexing here).

// The loops index several arrays with one variable, as the C code does, so each can be compared
// with upstream line by line.
#![allow(clippy::needless_range_loop)]

use super::block::{self, QK, QK_K};
use super::{f16_at, f32_at, KVALUES_IQ4NL};
use crate::ggml::GgmlType;
use crate::quant::bf16_to_fp32;

/// A scalar kernel: `(n, weights, activations) -> dot`.
pub type ScalarDot = fn(usize, &[u8], &[u8]) -> f32;

/// The scalar kernel for weight type `ty`, if vramplan has one.
pub fn kernel(ty: GgmlType) -> Option<ScalarDot> {
    use GgmlType::*;
    Some(match ty {
        F32 => vec_dot_f32,
        F16 => vec_dot_f16,
        BF16 => vec_dot_bf16,
        Q4_0 => vec_dot_q4_0_q8_0,
        Q4_1 => vec_dot_q4_1_q8_1,
        Q5_0 => vec_dot_q5_0_q8_0,
        Q5_1 => vec_dot_q5_1_q8_1,
        Q8_0 => vec_dot_q8_0_q8_0,
        IQ4_NL => vec_dot_iq4_nl_q8_0,
        Q2_K => vec_dot_q2_k_q8_k,
        Q3_K => vec_dot_q3_k_q8_k,
        Q4_K => vec_dot_q4_k_q8_k,
        Q5_K => vec_dot_q5_k_q8_k,
        Q6_K => vec_dot_q6_k_q8_k,
        IQ4_XS => vec_dot_iq4_xs_q8_k,
        _ => return None,
    })
}

#[inline(always)]
fn i8s(b: &[u8]) -> impl Iterator<Item = i32> + '_ {
    b.iter().map(|&v| v as i8 as i32)
}

/// `ggml_vec_dot_f32`: products in f32, summed in f64.
pub fn vec_dot_f32(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sum = 0f64;
    for i in 0..n {
        sum += (f32_at(x, 4 * i) * f32_at(y, 4 * i)) as f64;
    }
    sum as f32
}

/// `ggml_vec_dot_f16`: products of the widened halves in f32, summed in f64.
pub fn vec_dot_f16(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sum = 0f64;
    for i in 0..n {
        sum += (f16_at(x, 2 * i) * f16_at(y, 2 * i)) as f64;
    }
    sum as f32
}

/// `ggml_vec_dot_bf16`: products of the widened bf16 values in f32, summed in f64.
pub fn vec_dot_bf16(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let bf = |b: &[u8], i: usize| bf16_to_fp32(u16::from_le_bytes([b[2 * i], b[2 * i + 1]]));
    let mut sum = 0f64;
    for i in 0..n {
        sum += (bf(x, i) * bf(y, i)) as f64;
    }
    sum as f32
}

/// `ggml_vec_dot_q4_0_q8_0_generic`.
pub fn vec_dot_q4_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for ib in 0..n / QK {
        let xb = &x[ib * block::Q4_0..(ib + 1) * block::Q4_0];
        let yb = &y[ib * block::Q8_0..(ib + 1) * block::Q8_0];
        let (qs, q8) = (&xb[2..18], &yb[2..34]);
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..QK / 2 {
            let v0 = (qs[j] & 0x0f) as i32 - 8;
            let v1 = (qs[j] >> 4) as i32 - 8;
            sumi0 += v0 * q8[j] as i8 as i32;
            sumi1 += v1 * q8[j + QK / 2] as i8 as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += sumi as f32 * f16_at(xb, 0) * f16_at(yb, 0);
    }
    sumf
}

/// `ggml_vec_dot_q4_1_q8_1_generic`: `d·dy·Σq·q8 + m·s`.
pub fn vec_dot_q4_1_q8_1(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for ib in 0..n / QK {
        let xb = &x[ib * block::Q4_1..(ib + 1) * block::Q4_1];
        let yb = &y[ib * block::Q8_1..(ib + 1) * block::Q8_1];
        let (qs, q8) = (&xb[4..20], &yb[4..36]);
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..QK / 2 {
            let v0 = (qs[j] & 0x0f) as i32;
            let v1 = (qs[j] >> 4) as i32;
            sumi0 += v0 * q8[j] as i8 as i32;
            sumi1 += v1 * q8[j + QK / 2] as i8 as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += (f16_at(xb, 0) * f16_at(yb, 0)) * sumi as f32 + f16_at(xb, 2) * f16_at(yb, 2);
    }
    sumf
}

/// `ggml_vec_dot_q5_0_q8_0_generic`.
pub fn vec_dot_q5_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for ib in 0..n / QK {
        let xb = &x[ib * block::Q5_0..(ib + 1) * block::Q5_0];
        let yb = &y[ib * block::Q8_0..(ib + 1) * block::Q8_0];
        let qh = u32::from_le_bytes([xb[2], xb[3], xb[4], xb[5]]);
        let (qs, q8) = (&xb[6..22], &yb[2..34]);
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..QK / 2 {
            let xh_0 = (((qh & (1u32 << j)) >> j) << 4) as u8;
            let xh_1 = ((qh & (1u32 << (j + 16))) >> (j + 12)) as u8;
            let x0 = ((qs[j] & 0x0f) | xh_0) as i32 - 16;
            let x1 = ((qs[j] >> 4) | xh_1) as i32 - 16;
            sumi0 += x0 * q8[j] as i8 as i32;
            sumi1 += x1 * q8[j + QK / 2] as i8 as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += (f16_at(xb, 0) * f16_at(yb, 0)) * sumi as f32;
    }
    sumf
}

/// `ggml_vec_dot_q5_1_q8_1_generic`.
pub fn vec_dot_q5_1_q8_1(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for ib in 0..n / QK {
        let xb = &x[ib * block::Q5_1..(ib + 1) * block::Q5_1];
        let yb = &y[ib * block::Q8_1..(ib + 1) * block::Q8_1];
        let qh = u32::from_le_bytes([xb[4], xb[5], xb[6], xb[7]]);
        let (qs, q8) = (&xb[8..24], &yb[4..36]);
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..QK / 2 {
            let xh_0 = (((qh >> j) << 4) & 0x10) as u8;
            let xh_1 = ((qh >> (j + 12)) & 0x10) as u8;
            let x0 = ((qs[j] & 0x0f) | xh_0) as i32;
            let x1 = ((qs[j] >> 4) | xh_1) as i32;
            sumi0 += x0 * q8[j] as i8 as i32;
            sumi1 += x1 * q8[j + QK / 2] as i8 as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += (f16_at(xb, 0) * f16_at(yb, 0)) * sumi as f32 + f16_at(xb, 2) * f16_at(yb, 2);
    }
    sumf
}

/// `ggml_vec_dot_q8_0_q8_0_generic`.
pub fn vec_dot_q8_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for ib in 0..n / QK {
        let xb = &x[ib * block::Q8_0..(ib + 1) * block::Q8_0];
        let yb = &y[ib * block::Q8_0..(ib + 1) * block::Q8_0];
        let sumi: i32 = i8s(&xb[2..34])
            .zip(i8s(&yb[2..34]))
            .map(|(a, b)| a * b)
            .sum();
        sumf += sumi as f32 * (f16_at(xb, 0) * f16_at(yb, 0));
    }
    sumf
}

/// `ggml_vec_dot_iq4_nl_q8_0_generic`.
pub fn vec_dot_iq4_nl_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for ib in 0..n / QK {
        let xb = &x[ib * block::IQ4_NL..(ib + 1) * block::IQ4_NL];
        let yb = &y[ib * block::Q8_0..(ib + 1) * block::Q8_0];
        let (qs, q8) = (&xb[2..18], &yb[2..34]);
        let d = f16_at(yb, 0) * f16_at(xb, 0);
        let mut sumi1 = 0i32;
        let mut sumi2 = 0i32;
        for j in 0..QK / 2 {
            sumi1 += q8[j] as i8 as i32 * KVALUES_IQ4NL[(qs[j] & 0x0f) as usize] as i32;
            sumi2 += q8[j + QK / 2] as i8 as i32 * KVALUES_IQ4NL[(qs[j] >> 4) as usize] as i32;
        }
        sumf += d * (sumi1 + sumi2) as f32;
    }
    sumf
}

/// The parts of a `block_q8_K`: `d`, `qs[256]`, `bsums[16]`.
#[inline(always)]
fn q8k(yb: &[u8]) -> (f32, &[u8], [i32; 16]) {
    let mut bsums = [0i32; 16];
    for (j, s) in bsums.iter_mut().enumerate() {
        let off = 4 + QK_K + 2 * j;
        *s = i16::from_le_bytes([yb[off], yb[off + 1]]) as i32;
    }
    (f32_at(yb, 0), &yb[4..4 + QK_K], bsums)
}

/// `ggml_vec_dot_q2_K_q8_K_generic`: `dall·Σ sc·Σq·q8 − dmin·Σ m·bsum`.
pub fn vec_dot_q2_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for i in 0..n / QK_K {
        let xb = &x[i * block::Q2_K..(i + 1) * block::Q2_K];
        let (yd, q8, bsums) = q8k(&y[i * block::Q8_K..(i + 1) * block::Q8_K]);
        let sc = &xb[0..16];
        let q2 = &xb[16..80];
        let mut summs = 0i32;
        for j in 0..16 {
            summs += bsums[j] * (sc[j] >> 4) as i32;
        }
        let dall = yd * f16_at(xb, 80);
        let dmin = yd * f16_at(xb, 82);
        let mut isum = 0i32;
        let mut is = 0;
        for k in 0..QK_K / 128 {
            let q2 = &q2[32 * k..32 * k + 32];
            for j in 0..4 {
                let shift = 2 * j;
                let q8 = &q8[128 * k + 32 * j..128 * k + 32 * j + 32];
                for half in 0..2 {
                    let d = (sc[is] & 0x0f) as i32;
                    is += 1;
                    let mut isuml = 0i32;
                    for l in 16 * half..16 * half + 16 {
                        isuml += q8[l] as i8 as i32 * ((q2[l] >> shift) & 3) as i32;
                    }
                    isum += d * isuml;
                }
            }
        }
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}

/// The 16 six-bit Q3_K scales minus 32 (`aux` of `ggml_vec_dot_q3_K_q8_K_generic`).
#[inline(always)]
pub(crate) fn q3k_scales(s: &[u8]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (b, o) in out.iter_mut().enumerate() {
        let lo = if b < 8 { s[b] & 0x0f } else { s[b - 8] >> 4 };
        let hi = (s[8 + b % 4] >> (2 * (b / 4))) & 3;
        *o = (lo | (hi << 4)) as i8 - 32;
    }
    out
}

/// `ggml_vec_dot_q3_K_q8_K_generic`: `d·Σ (sc−32)·Σ q3·q8` with `q3 = low2 − 4·!hbit`. Upstream
/// sums the scaled integers in eight float lanes per block; the integer sum is exact, so this
/// scales the block total once.
pub fn vec_dot_q3_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for i in 0..n / QK_K {
        let xb = &x[i * block::Q3_K..(i + 1) * block::Q3_K];
        let (yd, q8, _) = q8k(&y[i * block::Q8_K..(i + 1) * block::Q8_K]);
        let hmask = &xb[0..32];
        let q3 = &xb[32..96];
        let scales = q3k_scales(&xb[96..108]);
        let d = f16_at(xb, 108) * yd;
        let mut isum = 0i32;
        for e in 0..QK_K {
            let (h, k, l) = (e / 128, (e / 32) % 4, e % 32);
            let low = ((q3[32 * h + l] >> (2 * k)) & 3) as i32;
            let sub = if hmask[l] & (1 << (4 * h + k)) != 0 {
                0
            } else {
                4
            };
            isum += scales[e / 16] as i32 * (low - sub) * q8[e] as i8 as i32;
        }
        sumf += d * isum as f32;
    }
    sumf
}

/// `get_scale_min_k4` for all eight sub-blocks: `(scales, mins)`, 6 bits each.
#[inline(always)]
pub(crate) fn k4_scales_mins(q: &[u8]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut m = [0u8; 8];
    for j in 0..8 {
        if j < 4 {
            sc[j] = q[j] & 63;
            m[j] = q[j + 4] & 63;
        } else {
            sc[j] = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
            m[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }
    (sc, m)
}

/// `Σ mins[j]·(bsums[2j] + bsums[2j+1])`, the min correction of Q4_K and Q5_K.
#[inline(always)]
fn k4_min_sum(mins: &[u8; 8], bsums: &[i32; 16]) -> i32 {
    (0..8)
        .map(|j| mins[j] as i32 * (bsums[2 * j] + bsums[2 * j + 1]))
        .sum()
}

/// `ggml_vec_dot_q4_K_q8_K_generic`: `d·Σ sc·Σq·q8 − dmin·Σ m·bsum`.
pub fn vec_dot_q4_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for i in 0..n / QK_K {
        let xb = &x[i * block::Q4_K..(i + 1) * block::Q4_K];
        let (yd, q8, bsums) = q8k(&y[i * block::Q8_K..(i + 1) * block::Q8_K]);
        let (sc, mins) = k4_scales_mins(&xb[4..16]);
        let qs = &xb[16..144];
        let mut isum = 0i32;
        for c in 0..QK_K / 64 {
            let q = &qs[32 * c..32 * c + 32];
            let (mut lo, mut hi) = (0i32, 0i32);
            for l in 0..32 {
                lo += (q[l] & 0x0f) as i32 * q8[64 * c + l] as i8 as i32;
                hi += (q[l] >> 4) as i32 * q8[64 * c + 32 + l] as i8 as i32;
            }
            isum += sc[2 * c] as i32 * lo + sc[2 * c + 1] as i32 * hi;
        }
        let d = yd * f16_at(xb, 0);
        let dmin = yd * f16_at(xb, 2);
        sumf += d * isum as f32 - dmin * k4_min_sum(&mins, &bsums) as f32;
    }
    sumf
}

/// `ggml_vec_dot_q5_K_q8_K_generic`: Q4_K plus a fifth bit per weight from `qh`.
pub fn vec_dot_q5_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for i in 0..n / QK_K {
        let xb = &x[i * block::Q5_K..(i + 1) * block::Q5_K];
        let (yd, q8, bsums) = q8k(&y[i * block::Q8_K..(i + 1) * block::Q8_K]);
        let (sc, mins) = k4_scales_mins(&xb[4..16]);
        let qh = &xb[16..48];
        let qs = &xb[48..176];
        let mut isum = 0i32;
        for c in 0..QK_K / 64 {
            let q = &qs[32 * c..32 * c + 32];
            let (mut lo, mut hi) = (0i32, 0i32);
            for l in 0..32 {
                let h0 = ((qh[l] >> (2 * c)) & 1) as i32 * 16;
                let h1 = ((qh[l] >> (2 * c + 1)) & 1) as i32 * 16;
                lo += ((q[l] & 0x0f) as i32 + h0) * q8[64 * c + l] as i8 as i32;
                hi += ((q[l] >> 4) as i32 + h1) * q8[64 * c + 32 + l] as i8 as i32;
            }
            isum += sc[2 * c] as i32 * lo + sc[2 * c + 1] as i32 * hi;
        }
        let d = yd * f16_at(xb, 0);
        let dmin = yd * f16_at(xb, 2);
        sumf += d * isum as f32 - dmin * k4_min_sum(&mins, &bsums) as f32;
    }
    sumf
}

/// `ggml_vec_dot_q6_K_q8_K_generic`: `d·Σ sc·Σ (q6−32)·q8`.
pub fn vec_dot_q6_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for i in 0..n / QK_K {
        let xb = &x[i * block::Q6_K..(i + 1) * block::Q6_K];
        let (yd, q8, _) = q8k(&y[i * block::Q8_K..(i + 1) * block::Q8_K]);
        let mut isum = 0i32;
        for c in 0..QK_K / 128 {
            let ql = &xb[64 * c..64 * c + 64];
            let qh = &xb[128 + 32 * c..128 + 32 * c + 32];
            let sc = &xb[192 + 8 * c..192 + 8 * c + 8];
            let q8 = &q8[128 * c..128 * c + 128];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                isum += sc[is] as i8 as i32 * q1 * q8[l] as i8 as i32
                    + sc[is + 2] as i8 as i32 * q2 * q8[l + 32] as i8 as i32
                    + sc[is + 4] as i8 as i32 * q3 * q8[l + 64] as i8 as i32
                    + sc[is + 6] as i8 as i32 * q4 * q8[l + 96] as i8 as i32;
            }
        }
        sumf += f16_at(xb, 208) * yd * isum as f32;
    }
    sumf
}

/// The IQ4_XS sub-block scale of `ib`, minus 32.
#[inline(always)]
pub(crate) fn iq4xs_scale(xb: &[u8], ib: usize) -> i32 {
    let scales_h = u16::from_le_bytes([xb[2], xb[3]]);
    let lo = (xb[4 + ib / 2] >> (4 * (ib % 2))) & 0x0f;
    let hi = ((scales_h >> (2 * ib)) & 3) as u8;
    (lo | (hi << 4)) as i32 - 32
}

/// `ggml_vec_dot_iq4_xs_q8_K_generic`: `d·dy·Σ (ls−32)·Σ kvalues[q]·q8`.
pub fn vec_dot_iq4_xs_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let mut sumf = 0f32;
    for i in 0..n / QK_K {
        let xb = &x[i * block::IQ4_XS..(i + 1) * block::IQ4_XS];
        let (yd, q8, _) = q8k(&y[i * block::Q8_K..(i + 1) * block::Q8_K]);
        let mut isum = 0i32;
        for ib in 0..QK_K / 32 {
            let qs = &xb[8 + 16 * ib..8 + 16 * ib + 16];
            let q8 = &q8[32 * ib..32 * ib + 32];
            let mut sumi = 0i32;
            for j in 0..16 {
                sumi += KVALUES_IQ4NL[(qs[j] & 0x0f) as usize] as i32 * q8[j] as i8 as i32
                    + KVALUES_IQ4NL[(qs[j] >> 4) as usize] as i32 * q8[j + 16] as i8 as i32;
            }
            isum += iq4xs_scale(xb, ib) * sumi;
        }
        sumf += f16_at(xb, 0) * yd * isum as f32;
    }
    sumf
}
