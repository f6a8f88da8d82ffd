//! AArch64 NEON kernels for Q8_0, Q4_0, Q4_K and Q6_K, following the NEON branches of
//! `ggml/src/ggml-cpu/arch/arm/quants.c` without the `dotprod` extension (`ggml_vdotq_s32`'s
//! fallback: widening `vmull_s8` products, pairwise-added into i32). Every i8×i8 product fits i16
//! (|−128·−128| = 2^14), so the integer block sums are exact for any bytes. The other types fall
//! back to the scalar kernels.
//!
//! Safety contract of every `unsafe fn` kernel here: the CPU has NEON (always true on AArch64
//! Linux; checked by [`super::Isa::is_available`]) and `x`/`y` hold at least `n` elements of whole
//! blocks of the weight type and its partner type (checked by the callers in [`super`]).

use std::arch::aarch64::*;

use super::block::{self, QK, QK_K};
use super::scalar::k4_scales_mins;
use super::{f16_at, f32_at, RawDot};
use crate::ggml::GgmlType;

/// The NEON kernel for `ty`, if there is one.
pub(super) fn kernel(ty: GgmlType) -> Option<RawDot> {
    use GgmlType::*;
    Some(match ty {
        Q4_0 => q4_0_q8_0,
        Q8_0 => q8_0_q8_0,
        Q4_K => q4_k_q8_k,
        Q6_K => q6_k_q8_k,
        _ => return None,
    })
}

/// `Σ a·b` of 16 signed bytes as four i32 lanes (exact for any bytes).
#[inline]
#[target_feature(enable = "neon")]
unsafe fn dot16(a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    let hi = vmull_high_s8(a, b);
    vaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi))
}

#[inline]
#[target_feature(enable = "neon")]
unsafe fn ld_s8(p: *const u8) -> int8x16_t {
    // SAFETY: the caller guarantees 16 readable bytes at `p`; NEON loads have no alignment need.
    unsafe { vld1q_s8(p as *const i8) }
}

#[inline]
#[target_feature(enable = "neon")]
unsafe fn ld_u8(p: *const u8) -> uint8x16_t {
    // SAFETY: the caller guarantees 16 readable bytes at `p`.
    unsafe { vld1q_u8(p) }
}

/// `ggml_vec_dot_q8_0_q8_0` (NEON branch).
#[target_feature(enable = "neon")]
unsafe fn q8_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let mut acc = vdupq_n_f32(0.0);
    for ib in 0..n / QK {
        let xs = &x[ib * block::Q8_0..];
        let ys = &y[ib * block::Q8_0..];
        let d = f16_at(xs, 0) * f16_at(ys, 0);
        // SAFETY: block `ib` lies inside both rows (kernel contract); qs is at 2..34.
        unsafe {
            let xb = xp.add(ib * block::Q8_0 + 2);
            let yb = yp.add(ib * block::Q8_0 + 2);
            let s = vaddq_s32(
                dot16(ld_s8(xb), ld_s8(yb)),
                dot16(ld_s8(xb.add(16)), ld_s8(yb.add(16))),
            );
            acc = vfmaq_f32(acc, vcvtq_f32_s32(s), vdupq_n_f32(d));
        }
    }
    vaddvq_f32(acc)
}

/// `ggml_vec_dot_q4_0_q8_0` (NEON branch).
#[target_feature(enable = "neon")]
unsafe fn q4_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let m4 = vdupq_n_u8(0x0f);
    let s8 = vdupq_n_s8(8);
    let mut acc = vdupq_n_f32(0.0);
    for ib in 0..n / QK {
        let xs = &x[ib * block::Q4_0..];
        let ys = &y[ib * block::Q8_0..];
        let d = f16_at(xs, 0) * f16_at(ys, 0);
        // SAFETY: block `ib` lies inside both rows; qs of `block_q4_0` is at 2..18, of
        // `block_q8_0` at 2..34.
        unsafe {
            let v = ld_u8(xp.add(ib * block::Q4_0 + 2));
            let yb = yp.add(ib * block::Q8_0 + 2);
            let lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, m4)), s8);
            let hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8::<4>(v)), s8);
            let s = vaddq_s32(dot16(lo, ld_s8(yb)), dot16(hi, ld_s8(yb.add(16))));
            acc = vfmaq_f32(acc, vcvtq_f32_s32(s), vdupq_n_f32(d));
        }
    }
    vaddvq_f32(acc)
}

/// `Σ mins[j]·(bsums[2j] + bsums[2j+1])` of a Q8_K block (bsums at 260).
#[inline]
fn k4_min_sum(mins: &[u8; 8], yb: &[u8]) -> i32 {
    let bsum = |j: usize| {
        let o = 4 + QK_K + 2 * j;
        i16::from_le_bytes([yb[o], yb[o + 1]]) as i32
    };
    (0..8)
        .map(|j| mins[j] as i32 * (bsum(2 * j) + bsum(2 * j + 1)))
        .sum()
}

/// `ggml_vec_dot_q4_K_q8_K` (NEON branch).
#[target_feature(enable = "neon")]
unsafe fn q4_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let m4 = vdupq_n_u8(0x0f);
    let mut sumf = 0f32;
    for i in 0..n / QK_K {
        let xs = &x[i * block::Q4_K..(i + 1) * block::Q4_K];
        let ys = &y[i * block::Q8_K..(i + 1) * block::Q8_K];
        let yd = f32_at(ys, 0);
        let (sc, mins) = k4_scales_mins(&xs[4..16]);
        let summs = k4_min_sum(&mins, ys);
        let mut isum = 0i32;
        for c in 0..QK_K / 64 {
            // SAFETY: super-block `i` lies inside both rows; qs of `block_q4_K` is at 16..144,
            // of `block_q8_K` at 4..260.
            unsafe {
                let q4 = xp.add(i * block::Q4_K + 16 + 32 * c);
                let q8 = yp.add(i * block::Q8_K + 4 + 64 * c);
                let (v0, v1) = (ld_u8(q4), ld_u8(q4.add(16)));
                let lo = vaddq_s32(
                    dot16(vreinterpretq_s8_u8(vandq_u8(v0, m4)), ld_s8(q8)),
                    dot16(vreinterpretq_s8_u8(vandq_u8(v1, m4)), ld_s8(q8.add(16))),
                );
                let hi = vaddq_s32(
                    dot16(vreinterpretq_s8_u8(vshrq_n_u8::<4>(v0)), ld_s8(q8.add(32))),
                    dot16(vreinterpretq_s8_u8(vshrq_n_u8::<4>(v1)), ld_s8(q8.add(48))),
                );
                isum += sc[2 * c] as i32 * vaddvq_s32(lo) + sc[2 * c + 1] as i32 * vaddvq_s32(hi);
            }
        }
        let d = yd * f16_at(xs, 0);
        let dmin = yd * f16_at(xs, 2);
        sumf += d * isum as f32 - dmin * summs as f32;
    }
    sumf
}

/// `ggml_vec_dot_q6_K_q8_K` (NEON branch).
#[target_feature(enable = "neon")]
unsafe fn q6_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let m4 = vdupq_n_u8(0x0f);
    let m3 = vdupq_n_u8(3);
    let s32 = vdupq_n_s8(32);
    let mut sumf = 0f32;
    for i in 0..n / QK_K {
        let xs = &x[i * block::Q6_K..(i + 1) * block::Q6_K];
        let ys = &y[i * block::Q8_K..(i + 1) * block::Q8_K];
        let sc = &xs[192..208];
        let mut isum = 0i32;
        for c in 0..QK_K / 128 {
            // SAFETY: super-block `i` lies inside both rows; `block_q6_K` has ql at 0..128,
            // qh at 128..192, and `block_q8_K` qs at 4..260.
            unsafe {
                let ql = xp.add(i * block::Q6_K + 64 * c);
                let qh = xp.add(i * block::Q6_K + 128 + 32 * c);
                let q8 = yp.add(i * block::Q8_K + 4 + 128 * c);
                let l = [
                    ld_u8(ql),
                    ld_u8(ql.add(16)),
                    ld_u8(ql.add(32)),
                    ld_u8(ql.add(48)),
                ];
                let h = [ld_u8(qh), ld_u8(qh.add(16))];
                let hi2 = |v: uint8x16_t| vshlq_n_u8::<4>(vandq_u8(v, m3));
                for half in 0..2 {
                    let hh = h[half];
                    let q = [
                        vorrq_u8(vandq_u8(l[half], m4), hi2(hh)),
                        vorrq_u8(vandq_u8(l[2 + half], m4), hi2(vshrq_n_u8::<2>(hh))),
                        vorrq_u8(vshrq_n_u8::<4>(l[half]), hi2(vshrq_n_u8::<4>(hh))),
                        vorrq_u8(vshrq_n_u8::<4>(l[2 + half]), hi2(vshrq_n_u8::<6>(hh))),
                    ];
                    for (k, &qk) in q.iter().enumerate() {
                        let v = vsubq_s8(vreinterpretq_s8_u8(qk), s32);
                        let s = vaddvq_s32(dot16(v, ld_s8(q8.add(32 * k + 16 * half))));
                        isum += sc[8 * c + 2 * k + half] as i8 as i32 * s;
                    }
                }
            }
        }
        sumf += f16_at(xs, 208) * f32_at(ys, 0) * isum as f32;
    }
    sumf
}
