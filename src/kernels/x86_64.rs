//! x86-64 kernels: AVX2 (+FMA, F16C) for every paired type, and the AVX512-VNNI variant of the
//! legacy 32-element types, where `vpdpbusd` replaces `vpmaddubsw` + `vpmaddwd` as in llama.cpp's
//! `mul_sum_us8_pairs_float` (`ggml/src/ggml-cpu/arch/x86/quants.c`), and of Q6_K, where
//! `vpdpwssd` scales and accumulates and `vpternlogd` merges the quants' two parts.
//!
//! The structure of each kernel follows the AVX2 branch of upstream's `ggml_vec_dot_*` for that
//! type; the integer sums per block are exact, the f32 accumulation runs in eight lanes. The Q4_0
//! and Q5_0 kernels compute `Σ(q−8)·y` as `Σq·y − Σ8·y` with unsigned `vpmaddubsw` (same cost as
//! upstream's sign trick, and exact for any activation byte).
//!
//! `vpdpbusd` is emitted with inline assembly (`{evex}` form on ymm registers, i.e. AVX512VNNI +
//! AVX512VL), written before the crate's minimum Rust version reached 1.89 (which stabilised the
//! AVX-512 intrinsics and target features); newer kernels use the intrinsics. The VNNI kernels
//! are the AVX2 kernels with those instructions swapped in (`vpdpwssd` and `vpternlogd` likewise
//! in inline assembly), selected by the `VNNI` const parameter; the integer sums in each lane are
//! the same.
//!
//! Safety contract of every `unsafe fn` kernel here: the CPU has AVX2, FMA and F16C (plus
//! AVX512F/VL/VNNI for `VNNI = true`), and `x`/`y` hold at least `n` elements of whole blocks of
//! the weight type and its partner type. [`super::Isa::is_available`] and the length checks in
//! [`super`] establish both before any call.

use std::arch::x86_64::*;
use std::ptr::read_unaligned;

use super::block::{self, QK, QK_K};
use super::KVALUES_IQ4NL;
use super::{RawDot, RawDot4};
use crate::ggml::GgmlType;

/// The kernel for `ty`: the VNNI variant where one exists when `vnni`, else the AVX2 one.
pub(super) fn kernel(ty: GgmlType, vnni: bool) -> Option<RawDot> {
    use GgmlType::*;
    if vnni {
        return Some(match ty {
            Q4_0 => q4_0_q8_0::<true>,
            Q4_1 => q4_1_q8_1::<true>,
            Q5_0 => q5_0_q8_0::<true>,
            Q5_1 => q5_1_q8_1::<true>,
            Q8_0 => q8_0_q8_0::<true>,
            IQ4_NL => iq4_nl_q8_0::<true>,
            Q6_K => q6_k_q8_k::<true>,
            _ => return None,
        });
    }
    Some(match ty {
        F32 => f32_f32,
        F16 => f16_f16,
        BF16 => bf16_bf16,
        Q4_0 => q4_0_q8_0::<false>,
        Q4_1 => q4_1_q8_1::<false>,
        Q5_0 => q5_0_q8_0::<false>,
        Q5_1 => q5_1_q8_1::<false>,
        Q8_0 => q8_0_q8_0::<false>,
        IQ4_NL => iq4_nl_q8_0::<false>,
        Q2_K => q2_k_q8_k,
        Q3_K => q3_k_q8_k,
        Q4_K => q4_k_q8_k,
        Q5_K => q5_k_q8_k,
        Q6_K => q6_k_q8_k::<false>,
        IQ4_XS => iq4_xs_q8_k,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers. Each is `#[inline]` with the kernels' target features so that it inlines into them.

/// Sum of the eight lanes (`hsum_float_8`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum_f32x8(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Sum of four lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum_f32x4(s: __m128) -> f32 {
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load256(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 32 readable bytes at `p`; the load is unaligned.
    unsafe { _mm256_loadu_si256(p as *const __m256i) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load128(p: *const u8) -> __m128i {
    // SAFETY: the caller guarantees 16 readable bytes at `p`; the load is unaligned.
    unsafe { _mm_loadu_si128(p as *const __m128i) }
}

/// The little-endian f16 at `p`, widened with F16C (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16_at(p: *const u8) -> f32 {
    // SAFETY: the caller guarantees 2 readable bytes at `p`.
    let h = u16::from_le(unsafe { read_unaligned(p as *const u16) });
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h as i32)))
}

/// The product of the little-endian f16 values at `a` and `b`, widened with F16C (`dx·dy` in
/// f32). Both halves go through one `vcvtph2ps`: converting a lone half lets LLVM merge it into
/// a live register with `vpinsrw`, a false dependency on the accumulator that serialises the
/// loop (measured 4× slower on the legacy types).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16_mul(a: *const u8, b: *const u8) -> f32 {
    // SAFETY: the caller guarantees 2 readable bytes at `a` and at `b`.
    let (ha, hb) = unsafe {
        (
            u16::from_le(read_unaligned(a as *const u16)) as u32,
            u16::from_le(read_unaligned(b as *const u16)) as u32,
        )
    };
    let v = _mm_cvtph_ps(_mm_cvtsi32_si128((ha | (hb << 16)) as i32));
    _mm_cvtss_f32(_mm_mul_ss(v, _mm_movehdup_ps(v)))
}

/// The two little-endian f16 values at `p` and `p + 2`, widened with F16C: `(first, second)`.
/// A 32-bit load keeps LLVM from merging the value into a live register (see [`f16_mul`]).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16x2_at(p: *const u8) -> (f32, f32) {
    // SAFETY: the caller guarantees 4 readable bytes at `p`.
    let u = u32::from_le(unsafe { read_unaligned(p as *const u32) });
    let v = _mm_cvtph_ps(_mm_cvtsi32_si128(u as i32));
    (_mm_cvtss_f32(v), _mm_cvtss_f32(_mm_movehdup_ps(v)))
}

/// The little-endian f16 at `p` widened, loaded and converted in inline assembly: where only one
/// half of [`f16x2_at`] is used LLVM narrows its load to a `vpinsrw` into whatever register is
/// free, often the f32 accumulator, chaining every super-block on the previous one's FMA.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16_at_fresh(p: *const u8) -> f32 {
    let v: __m128;
    // SAFETY: the caller guarantees 2 readable bytes at `p`; `movzx` + `vmovd` write whole
    // registers, so the result depends on the loaded value only.
    unsafe {
        std::arch::asm!(
            "movzx {t:e}, word ptr [{p}]",
            "vmovd {v}, {t:e}",
            "vcvtph2ps {v}, {v}",
            p = in(reg) p,
            t = out(reg) _,
            v = out(xmm_reg) v,
            options(pure, readonly, nostack, preserves_flags),
        );
    }
    _mm_cvtss_f32(v)
}

/// The little-endian f32 at `p`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f32_at(p: *const u8) -> f32 {
    // SAFETY: the caller guarantees 4 readable bytes at `p`.
    f32::from_bits(u32::from_le(unsafe { read_unaligned(p as *const u32) }))
}

/// 16 bytes of packed nibbles to 32 bytes: low nibbles (elements 0..16), then high nibbles
/// (elements 16..32) (`bytes_from_nibbles_32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn nibbles32(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 16 readable bytes at `p`.
    let tmp = unsafe { load128(p) };
    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(tmp), tmp);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0f))
}

/// The 32 bits of the little-endian u32 at `p` as 32 bytes, 0xFF where the bit is set
/// (`bytes_from_bits_32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn bits32(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 4 readable bytes at `p`.
    let x32 = u32::from_le(unsafe { read_unaligned(p as *const u32) });
    let shuf = _mm256_setr_epi64x(
        0,
        0x0101_0101_0101_0101,
        0x0202_0202_0202_0202,
        0x0303_0303_0303_0303,
    );
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x32 as i32), shuf);
    let bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe));
    _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
}

/// `acc + Σ a·b` over groups of four (unsigned `a`, signed `b`) with AVX512-VNNI's `vpdpbusd` on
/// ymm registers.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn vpdpbusd(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    let mut acc = acc;
    // SAFETY: only reached through kernels instantiated with `VNNI = true`, which the dispatcher
    // selects only when AVX512F, AVX512VL and AVX512VNNI are detected. The instruction reads and
    // writes registers only.
    unsafe {
        std::arch::asm!(
            "{{evex}} vpdpbusd {acc}, {a}, {b}",
            acc = inout(ymm_reg) acc,
            a = in(ymm_reg) a,
            b = in(ymm_reg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// `Σ a·b` over groups of four adjacent bytes (unsigned `a`, signed `b`) as eight i32. The AVX2
/// form (`vpmaddubsw` then `vpmaddwd` with ones) is exact while each pair sum fits i16, which
/// every caller guarantees by the value ranges it passes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_u8i8<const VNNI: bool>(a: __m256i, b: __m256i) -> __m256i {
    if VNNI {
        // SAFETY: see `vpdpbusd`.
        unsafe { vpdpbusd(_mm256_setzero_si256(), a, b) }
    } else {
        _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1))
    }
}

/// `acc + Σ a·b` over pairs of i16 with AVX512-VNNI's `vpdpwssd` on ymm registers (wrapping,
/// as `vpaddd` + `vpmaddwd`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn vpdpwssd(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    let mut acc = acc;
    // SAFETY: as `vpdpbusd`.
    unsafe {
        std::arch::asm!(
            "{{evex}} vpdpwssd {acc}, {a}, {b}",
            acc = inout(ymm_reg) acc,
            a = in(ymm_reg) a,
            b = in(ymm_reg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// `Σ (a − c)·b` over groups of four (unsigned `a` and `c`, signed `b`) as eight i32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_diff_u8i8<const VNNI: bool>(a: __m256i, c: __m256i, b: __m256i) -> __m256i {
    if VNNI {
        // SAFETY: see `vpdpbusd`.
        unsafe {
            _mm256_sub_epi32(
                vpdpbusd(_mm256_setzero_si256(), a, b),
                vpdpbusd(_mm256_setzero_si256(), c, b),
            )
        }
    } else {
        let p = _mm256_sub_epi16(_mm256_maddubs_epi16(a, b), _mm256_maddubs_epi16(c, b));
        _mm256_madd_epi16(p, _mm256_set1_epi16(1))
    }
}

/// `Σ x·y` over groups of four for signed `x` and `y` with `|x·y|` pair sums within i16 (the
/// sign trick of `mul_sum_i8_pairs_float`: `|x|·sign(y, x)`; a `y` of −128 with a negative `x`
/// wraps, which the activation quantizers never produce).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_i8i8<const VNNI: bool>(x: __m256i, y: __m256i) -> __m256i {
    let ax = _mm256_sign_epi8(x, x);
    let sy = _mm256_sign_epi8(y, x);
    // SAFETY: same features as this function (and VNNI when `VNNI`, see `vpdpbusd`).
    unsafe { dot_u8i8::<VNNI>(ax, sy) }
}

/// `K4_SHUF[j]` broadcasts the i16 at index `j` of each 128-bit lane to all of it
/// (`get_scale_shuffle_k4`).
static K4_SHUF: [[u8; 32]; 8] = {
    let mut t = [[0u8; 32]; 8];
    let mut j = 0;
    while j < 8 {
        let mut i = 0;
        while i < 32 {
            t[j][i] = (2 * j + i % 2) as u8;
            i += 1;
        }
        j += 1;
    }
    t
};

/// The 16 signed 8-bit sub-block scales of a super-block (Q2_K, Q3_K, Q6_K) widened to i16,
/// even-numbered in the low 128-bit lane and odd-numbered in the high one: [`pair_scales`] then
/// takes one in-lane shuffle per 32 quants, where widening per group took three instructions.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn split_scales(scales: __m128i) -> __m256i {
    let even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, even_odd))
}

/// The i16 scales of quants `32m..32m+32` of a super-block from [`split_scales`]: scale `2m`
/// for the first 16, `2m+1` for the rest (`get_scale_shuffle_q3k` upstream). One `vpshufb` in
/// inline assembly: from the constant mask LLVM would emit `vpshufhw`/`vpshuflw` + `vpshufd`,
/// two instructions on the two shuffle pipes, the busiest of these kernels.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pair_scales(split: __m256i, m: usize) -> __m256i {
    // SAFETY: `K4_SHUF[m]` is 32 bytes (the index is bounds-checked).
    let mask = unsafe { load256(K4_SHUF[m].as_ptr()) };
    let out: __m256i;
    // SAFETY: AVX2 (this function's features); registers only.
    unsafe {
        std::arch::asm!(
            "vpshufb {out}, {a}, {m}",
            out = lateout(ymm_reg) out,
            a = in(ymm_reg) split,
            m = in(ymm_reg) mask,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

/// `(a & m) | b`: one `vpternlogd` with AVX-512 (VL), the `VNNI` kernels' instruction set.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn and_or<const VNNI: bool>(a: __m256i, m: __m256i, b: __m256i) -> __m256i {
    if VNNI {
        let mut a = a;
        // SAFETY: only reached through kernels instantiated with `VNNI = true` (AVX512F and
        // AVX512VL detected, see `vpdpbusd`); registers only. imm 0xEC: (A & C) | B.
        unsafe {
            std::arch::asm!(
                "vpternlogd {a}, {b}, {m}, 0xEC",
                a = inout(ymm_reg) a,
                b = in(ymm_reg) b,
                m = in(ymm_reg) m,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        a
    } else {
        _mm256_or_si256(_mm256_and_si256(a, m), b)
    }
}

/// `acc + madd(a, b)` (i16 pairs summed into i32): one `vpdpwssd` with VNNI.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn add_madd<const VNNI: bool>(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    if VNNI {
        // SAFETY: see `vpdpbusd`; the same holds for `vpdpwssd`.
        unsafe { vpdpwssd(acc, a, b) }
    } else {
        _mm256_add_epi32(acc, _mm256_madd_epi16(a, b))
    }
}

// ---------------------------------------------------------------------------------------------
// Float types.

/// `ggml_vec_dot_f32` (AVX2 branch): four accumulators of eight lanes.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f32_f32(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let ld = |p: *const u8, i: usize| {
        // SAFETY: `i + 8 <= n` at every call below, and the rows hold `4n` bytes.
        unsafe { _mm256_loadu_ps(p.add(4 * i) as *const f32) }
    };
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            *a = _mm256_fmadd_ps(ld(xp, i + 8 * k), ld(yp, i + 8 * k), *a);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(ld(xp, i), ld(yp, i), acc[0]);
        i += 8;
    }
    let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    // SAFETY: same features as this function.
    let mut sum = unsafe { hsum_f32x8(v) };
    while i < n {
        // SAFETY: `i < n`; 4 bytes per element.
        sum += unsafe { f32_at(xp.add(4 * i)) * f32_at(yp.add(4 * i)) };
        i += 1;
    }
    sum
}

/// `ggml_vec_dot_f16` (F16C branch): widen eight halves at a time, FMA in f32.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16_f16(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let ld = |p: *const u8, i: usize| {
        // SAFETY: `i + 8 <= n` at every call below, and the rows hold `2n` bytes.
        unsafe { _mm256_cvtph_ps(load128(p.add(2 * i))) }
    };
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            *a = _mm256_fmadd_ps(ld(xp, i + 8 * k), ld(yp, i + 8 * k), *a);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(ld(xp, i), ld(yp, i), acc[0]);
        i += 8;
    }
    let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    // SAFETY: same features as this function.
    let mut sum = unsafe { hsum_f32x8(v) };
    while i < n {
        // SAFETY: `i < n`; 2 bytes per element.
        sum += unsafe { f16_at(xp.add(2 * i)) * f16_at(yp.add(2 * i)) };
        i += 1;
    }
    sum
}

/// `ggml_vec_dot_bf16` (AVX2 branch): widen by a 16-bit shift, FMA in f32.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn bf16_bf16(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let ld = |p: *const u8, i: usize| {
        // SAFETY: `i + 8 <= n` at every call below, and the rows hold `2n` bytes.
        let h = unsafe { load128(p.add(2 * i)) };
        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
    };
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            *a = _mm256_fmadd_ps(ld(xp, i + 8 * k), ld(yp, i + 8 * k), *a);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(ld(xp, i), ld(yp, i), acc[0]);
        i += 8;
    }
    let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    // SAFETY: same features as this function.
    let mut sum = unsafe { hsum_f32x8(v) };
    let bf = |b: &[u8], i: usize| {
        f32::from_bits((u16::from_le_bytes([b[2 * i], b[2 * i + 1]]) as u32) << 16)
    };
    while i < n {
        sum += bf(x, i) * bf(y, i);
        i += 1;
    }
    sum
}

// ---------------------------------------------------------------------------------------------
// Legacy 32-element blocks.

/// `ggml_vec_dot_q4_0_q8_0`: `Σ d·dy·Σ(q−8)·y`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0_q8_0<const VNNI: bool>(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let eight = _mm256_set1_epi8(8);
    let mut acc = _mm256_setzero_ps();
    for ib in 0..n / QK {
        // SAFETY: block `ib < n/32` lies inside both rows (kernel contract); the offsets are
        // inside `block_q4_0` (18 bytes) and `block_q8_0` (34 bytes).
        unsafe {
            let xb = xp.add(ib * block::Q4_0);
            let yb = yp.add(ib * block::Q8_0);
            let d = _mm256_set1_ps(f16_mul(xb, yb));
            let qx = nibbles32(xb.add(2));
            let qy = load256(yb.add(2));
            let s = dot_diff_u8i8::<VNNI>(qx, eight, qy);
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum_f32x8(acc) }
}

/// `ggml_vec_dot_q4_1_q8_1`: `Σ d·dy·Σq·y + m·s`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_1_q8_1<const VNNI: bool>(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0f32;
    for ib in 0..n / QK {
        // SAFETY: block `ib` lies inside both rows; offsets inside `block_q4_1` (20 bytes) and
        // `block_q8_1` (36 bytes).
        unsafe {
            let xb = xp.add(ib * block::Q4_1);
            let yb = yp.add(ib * block::Q8_1);
            summs += f16_mul(xb.add(2), yb.add(2));
            let d = _mm256_set1_ps(f16_mul(xb, yb));
            let qx = nibbles32(xb.add(4));
            let qy = load256(yb.add(4));
            let s = dot_u8i8::<VNNI>(qx, qy);
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum_f32x8(acc) + summs }
}

/// `ggml_vec_dot_q5_0_q8_0`: `Σ d·dy·Σ(q−16)·y` with the fifth bits from `qh`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_0_q8_0<const VNNI: bool>(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let sixteen = _mm256_set1_epi8(16);
    let mut acc = _mm256_setzero_ps();
    for ib in 0..n / QK {
        // SAFETY: block `ib` lies inside both rows; offsets inside `block_q5_0` (22 bytes) and
        // `block_q8_0`.
        unsafe {
            let xb = xp.add(ib * block::Q5_0);
            let yb = yp.add(ib * block::Q8_0);
            let d = _mm256_set1_ps(f16_mul(xb, yb));
            let hi = _mm256_and_si256(bits32(xb.add(2)), sixteen);
            let qx = _mm256_or_si256(nibbles32(xb.add(6)), hi);
            let qy = load256(yb.add(2));
            let s = dot_diff_u8i8::<VNNI>(qx, sixteen, qy);
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum_f32x8(acc) }
}

/// `ggml_vec_dot_q5_1_q8_1`: `Σ d·dy·Σq·y + m·s` with the fifth bits from `qh`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_1_q8_1<const VNNI: bool>(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let sixteen = _mm256_set1_epi8(16);
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0f32;
    for ib in 0..n / QK {
        // SAFETY: block `ib` lies inside both rows; offsets inside `block_q5_1` (24 bytes) and
        // `block_q8_1`.
        unsafe {
            let xb = xp.add(ib * block::Q5_1);
            let yb = yp.add(ib * block::Q8_1);
            summs += f16_mul(xb.add(2), yb.add(2));
            let d = _mm256_set1_ps(f16_mul(xb, yb));
            let hi = _mm256_and_si256(bits32(xb.add(4)), sixteen);
            let qx = _mm256_or_si256(nibbles32(xb.add(8)), hi);
            let qy = load256(yb.add(4));
            let s = dot_u8i8::<VNNI>(qx, qy);
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum_f32x8(acc) + summs }
}

/// `ggml_vec_dot_q8_0_q8_0`: `Σ d·dy·Σx·y` (sign trick; weights may hold −128).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0_q8_0<const VNNI: bool>(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let mut acc = _mm256_setzero_ps();
    for ib in 0..n / QK {
        // SAFETY: block `ib` lies inside both rows; offsets inside `block_q8_0`.
        unsafe {
            let xb = xp.add(ib * block::Q8_0);
            let yb = yp.add(ib * block::Q8_0);
            let d = _mm256_set1_ps(f16_mul(xb, yb));
            let s = dot_i8i8::<VNNI>(load256(xb.add(2)), load256(yb.add(2)));
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum_f32x8(acc) }
}

/// The 32 IQ4 levels of the 16 packed bytes at `p` (low nibbles first), via `vpshufb`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq4_levels(values: __m128i, p: *const u8) -> __m256i {
    let m4 = _mm_set1_epi8(0x0f);
    // SAFETY: the caller guarantees 16 readable bytes at `p`.
    let q4 = unsafe { load128(p) };
    let lo = _mm_shuffle_epi8(values, _mm_and_si128(q4, m4));
    let hi = _mm_shuffle_epi8(values, _mm_and_si128(_mm_srli_epi16::<4>(q4), m4));
    _mm256_set_m128i(hi, lo)
}

/// `ggml_vec_dot_iq4_nl_q8_0`: `Σ d·dy·Σ kvalues[q]·y`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq4_nl_q8_0<const VNNI: bool>(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    // SAFETY: the table is 16 bytes.
    let values = unsafe { load128(KVALUES_IQ4NL.as_ptr() as *const u8) };
    let mut acc = _mm256_setzero_ps();
    for ib in 0..n / QK {
        // SAFETY: block `ib` lies inside both rows; offsets inside `block_iq4_nl` (18 bytes)
        // and `block_q8_0`.
        unsafe {
            let xb = xp.add(ib * block::IQ4_NL);
            let yb = yp.add(ib * block::Q8_0);
            let d = _mm256_set1_ps(f16_mul(yb, xb));
            let q4 = iq4_levels(values, xb.add(2));
            let s = dot_i8i8::<VNNI>(q4, load256(yb.add(2)));
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum_f32x8(acc) }
}

// ---------------------------------------------------------------------------------------------
// K-quants and IQ4_XS against Q8_K (d f32 at 0, qs at 4, bsums i16[16] at 260).

const Q8K_QS: usize = 4;
const Q8K_BSUMS: usize = 4 + QK_K;

/// `ggml_vec_dot_q2_K_q8_K` (AVX2 branch).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q2_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let m3 = _mm256_set1_epi8(3);
    let m4 = _mm_set1_epi8(0x0f);
    let mut acc = _mm256_setzero_ps();
    for i in 0..n / QK_K {
        // SAFETY: super-block `i` lies inside both rows; offsets inside `block_q2_K` (scales 0,
        // qs 16, d 80, dmin 82) and `block_q8_K`.
        unsafe {
            let xb = xp.add(i * block::Q2_K);
            let yb = yp.add(i * block::Q8_K);
            let yd = f32_at(yb);
            let (xd, xdmin) = f16x2_at(xb.add(80));
            let d = yd * xd;
            let dmin = -yd * xdmin;
            let mins_and_scales = load128(xb);
            let scales = _mm_and_si128(mins_and_scales, m4);
            let mins = _mm_and_si128(_mm_srli_epi16::<4>(mins_and_scales), m4);
            let split = split_scales(scales);
            let prod = _mm256_madd_epi16(_mm256_cvtepi8_epi16(mins), load256(yb.add(Q8K_BSUMS)));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);
            let mut sumi = _mm256_setzero_si256();
            for j in 0..2 {
                let mut q2 = load256(xb.add(16 + 32 * j));
                for k in 0..4 {
                    let q8 = load256(yb.add(Q8K_QS + 128 * j + 32 * k));
                    let p = _mm256_maddubs_epi16(_mm256_and_si256(q2, m3), q8);
                    let p = _mm256_madd_epi16(pair_scales(split, 4 * j + k), p);
                    sumi = _mm256_add_epi32(sumi, p);
                    q2 = _mm256_srli_epi16::<2>(q2);
                }
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum_f32x8(acc) }
}

/// The 16 six-bit Q3_K scales (12 bytes at `p`) minus 32 as signed bytes (the `utmp` shuffle of
/// upstream's AVX2 branch; same values as [`super::scalar::q3k_scales`]).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q3k_scales(p: *const u8) -> __m128i {
    const KMASK1: u32 = 0x0303_0303;
    const KMASK2: u32 = 0x0f0f_0f0f;
    // SAFETY: the caller guarantees 12 readable bytes at `p`.
    let rd = |o: usize| u32::from_le(unsafe { read_unaligned(p.add(o) as *const u32) });
    let (a0, a1, a2) = (rd(0), rd(4), rd(8));
    let u3 = ((a1 >> 4) & KMASK2) | (((a2 >> 6) & KMASK1) << 4);
    let u2 = ((a0 >> 4) & KMASK2) | (((a2 >> 4) & KMASK1) << 4);
    let u1 = (a1 & KMASK2) | (((a2 >> 2) & KMASK1) << 4);
    let u0 = (a0 & KMASK2) | ((a2 & KMASK1) << 4);
    let v = _mm_set_epi32(u3 as i32, u2 as i32, u1 as i32, u0 as i32);
    _mm_sub_epi8(v, _mm_set1_epi8(32))
}

/// `ggml_vec_dot_q3_K_q8_K` (AVX2 branch): `Σ q3·y = Σ low2·y − Σ 4·!hbit·y`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q3_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let m3 = _mm256_set1_epi8(3);
    let one = _mm256_set1_epi8(1);
    let mut acc = _mm256_setzero_ps();
    for i in 0..n / QK_K {
        // SAFETY: super-block `i` lies inside both rows; offsets inside `block_q3_K` (hmask 0,
        // qs 32, scales 96, d 108) and `block_q8_K`.
        unsafe {
            let xb = xp.add(i * block::Q3_K);
            let yb = yp.add(i * block::Q8_K);
            // d is the last field: read it with the scale bytes before it.
            let d = f32_at(yb) * f16x2_at(xb.add(106)).1;
            let split = split_scales(q3k_scales(xb.add(96)));
            let mut hb = load256(xb);
            let mut sumi = _mm256_setzero_si256();
            for j in 0..2 {
                let mut q3 = load256(xb.add(32 + 32 * j));
                for k in 0..4 {
                    let q8 = load256(yb.add(Q8K_QS + 128 * j + 32 * k));
                    let low = _mm256_and_si256(q3, m3);
                    let high = _mm256_slli_epi16::<2>(_mm256_andnot_si256(hb, one));
                    let p = _mm256_sub_epi16(
                        _mm256_maddubs_epi16(low, q8),
                        _mm256_maddubs_epi16(high, q8),
                    );
                    let p = _mm256_madd_epi16(pair_scales(split, 4 * j + k), p);
                    sumi = _mm256_add_epi32(sumi, p);
                    q3 = _mm256_srli_epi16::<2>(q3);
                    hb = _mm256_srli_epi16::<1>(hb);
                }
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum_f32x8(acc) }
}

/// Q4_K/Q5_K scales and mins (12 bytes at `p`) as 16 i16: scales 0..8, then mins 0..8 (the
/// `utmp` shuffle of upstream's AVX2 branch).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn k4_mins_and_scales(p: *const u8) -> __m256i {
    const KMASK1: u32 = 0x3f3f_3f3f;
    const KMASK2: u32 = 0x0f0f_0f0f;
    const KMASK3: u32 = 0x0303_0303;
    // SAFETY: the caller guarantees 12 readable bytes at `p`.
    let rd = |o: usize| u32::from_le(unsafe { read_unaligned(p.add(o) as *const u32) });
    let (u0, u1, u2) = (rd(0), rd(4), rd(8));
    let u3 = ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4);
    let mins_lo = u1 & KMASK1;
    let sc_hi = (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4);
    let sc_lo = u0 & KMASK1;
    _mm256_cvtepu8_epi16(_mm_set_epi32(
        u3 as i32,
        mins_lo as i32,
        sc_hi as i32,
        sc_lo as i32,
    ))
}

/// `Σ mins[j]·(bsums[2j] + bsums[2j+1])` as four i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn k4_min_prod(mins_and_scales: __m256i, bsums: *const u8) -> __m128i {
    // SAFETY: the caller guarantees 32 readable bytes at `bsums`.
    let q8sums = unsafe { load256(bsums) };
    let q8s = _mm_hadd_epi16(
        _mm256_castsi256_si128(q8sums),
        _mm256_extracti128_si256::<1>(q8sums),
    );
    _mm_madd_epi16(_mm256_extracti128_si256::<1>(mins_and_scales), q8s)
}

/// The i16 scale of sub-block `j` broadcast to 16 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn k4_scale(scales: __m256i, j: usize) -> __m256i {
    // SAFETY: `K4_SHUF[j]` is 32 bytes (the index is bounds-checked).
    _mm256_shuffle_epi8(scales, unsafe { load256(K4_SHUF[j].as_ptr()) })
}

/// `ggml_vec_dot_q4_K_q8_K` (AVX2 branch).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let m4 = _mm256_set1_epi8(0x0f);
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = _mm_setzero_ps();
    for i in 0..n / QK_K {
        // SAFETY: super-block `i` lies inside both rows; offsets inside `block_q4_K` (d 0,
        // dmin 2, scales 4, qs 16) and `block_q8_K`.
        unsafe {
            let xb = xp.add(i * block::Q4_K);
            let yb = yp.add(i * block::Q8_K);
            let yd = f32_at(yb);
            let (xd, xdmin) = f16x2_at(xb);
            let d = yd * xd;
            let dmin = yd * xdmin;
            let ms = k4_mins_and_scales(xb.add(4));
            let prod = k4_min_prod(ms, yb.add(Q8K_BSUMS));
            acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
            let sc128 = _mm256_castsi256_si128(ms);
            let scales = _mm256_set_m128i(sc128, sc128);
            let mut sumi = _mm256_setzero_si256();
            for c in 0..QK_K / 64 {
                let q4 = load256(xb.add(16 + 32 * c));
                let q4l = _mm256_and_si256(q4, m4);
                let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
                let q8l = load256(yb.add(Q8K_QS + 64 * c));
                let q8h = load256(yb.add(Q8K_QS + 64 * c + 32));
                let pl = _mm256_madd_epi16(k4_scale(scales, 2 * c), _mm256_maddubs_epi16(q4l, q8l));
                let ph =
                    _mm256_madd_epi16(k4_scale(scales, 2 * c + 1), _mm256_maddubs_epi16(q4h, q8h));
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum_f32x8(acc) - hsum_f32x4(acc_m) }
}

/// `ggml_vec_dot_q5_K_q8_K` (AVX2 branch).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let m4 = _mm256_set1_epi8(0x0f);
    let one = _mm256_set1_epi8(1);
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = _mm_setzero_ps();
    for i in 0..n / QK_K {
        // SAFETY: super-block `i` lies inside both rows; offsets inside `block_q5_K` (d 0,
        // dmin 2, scales 4, qh 16, qs 48) and `block_q8_K`.
        unsafe {
            let xb = xp.add(i * block::Q5_K);
            let yb = yp.add(i * block::Q8_K);
            let yd = f32_at(yb);
            let (xd, xdmin) = f16x2_at(xb);
            let d = yd * xd;
            let dmin = yd * xdmin;
            let ms = k4_mins_and_scales(xb.add(4));
            let prod = k4_min_prod(ms, yb.add(Q8K_BSUMS));
            acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
            let sc128 = _mm256_castsi256_si128(ms);
            let scales = _mm256_set_m128i(sc128, sc128);
            let mut hb = load256(xb.add(16));
            let mut sumi = _mm256_setzero_si256();
            for c in 0..QK_K / 64 {
                let q5 = load256(xb.add(48 + 32 * c));
                let h0 = _mm256_slli_epi16::<4>(_mm256_and_si256(hb, one));
                let h1 = _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<1>(hb), one));
                hb = _mm256_srli_epi16::<2>(hb);
                let q5l = _mm256_or_si256(_mm256_and_si256(q5, m4), h0);
                let q5h = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q5), m4), h1);
                let q8l = load256(yb.add(Q8K_QS + 64 * c));
                let q8h = load256(yb.add(Q8K_QS + 64 * c + 32));
                let pl = _mm256_madd_epi16(k4_scale(scales, 2 * c), _mm256_maddubs_epi16(q5l, q8l));
                let ph =
                    _mm256_madd_epi16(k4_scale(scales, 2 * c + 1), _mm256_maddubs_epi16(q5h, q8h));
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum_f32x8(acc) - hsum_f32x4(acc_m) }
}

/// The 6-bit quants of 128-value chunk `c` of a `block_q6_K` at `xb`, as four 32-byte vectors
/// (values 0..63): low nibbles from `ql`, high two bits from `qh`, each pair shifted into bits
/// 4-5 and masked once (`m30` = 0x30). Shared by the one- and four-row dot products so both read
/// the block the same way.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_k_unpack128<const VNNI: bool>(
    xb: *const u8,
    c: usize,
    m4: __m256i,
    m30: __m256i,
) -> [__m256i; 4] {
    // SAFETY: the caller passes a whole block_q6_K and c < QK_K / 128; same features as this
    // function for the helpers.
    unsafe {
        let ql0 = load256(xb.add(64 * c));
        let ql1 = load256(xb.add(64 * c + 32));
        let qh = load256(xb.add(128 + 32 * c));
        // 16-bit shifts: bits 4-5 of each byte come from bits 0-1 / 2-3 / 4-5 / 6-7 of that byte.
        let h0 = _mm256_and_si256(_mm256_slli_epi16::<4>(qh), m30);
        let h1 = _mm256_and_si256(_mm256_slli_epi16::<2>(qh), m30);
        let h2 = _mm256_and_si256(qh, m30);
        let h3 = _mm256_and_si256(_mm256_srli_epi16::<2>(qh), m30);
        [
            and_or::<VNNI>(ql0, m4, h0),
            and_or::<VNNI>(ql1, m4, h1),
            and_or::<VNNI>(_mm256_srli_epi16::<4>(ql0), m4, h2),
            and_or::<VNNI>(_mm256_srli_epi16::<4>(ql1), m4, h3),
        ]
    }
}

/// `32·Σ sc·bsum` of one Q6_K super-block per i32 lane (lane `l`: the bsums `2l`, `2l+1` with
/// their scales): the `−32` bias of every quant, taken off once per super-block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_k_bias(scales: __m128i, yb: *const u8) -> __m256i {
    // SAFETY: the caller passes a whole block_q8_K (16 i16 bsums at Q8K_BSUMS).
    let bsums = unsafe { load256(yb.add(Q8K_BSUMS)) };
    _mm256_slli_epi32::<5>(_mm256_madd_epi16(bsums, _mm256_cvtepi8_epi16(scales)))
}

/// `ggml_vec_dot_q6_K_q8_K` (AVX2 branch): `Σ (q6−32)·y = Σ q6·y − 32·Σ sc·bsum`, the bias
/// from the Q8_K block sums once per super-block (as ggml-cpu since it dropped the per-group
/// `maddubs(32, y)`), so the i32 lanes hold the same sums as llama.cpp's. With `VNNI` the
/// scaling and accumulation of each group is one `vpdpwssd` (same sums).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_k_q8_k<const VNNI: bool>(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let m4 = _mm256_set1_epi8(0x0f);
    let m30 = _mm256_set1_epi8(0x30);
    let mut acc = _mm256_setzero_ps();
    for i in 0..n / QK_K {
        // SAFETY: super-block `i` lies inside both rows; offsets inside `block_q6_K` (ql 0,
        // qh 128, scales 192, d 208) and `block_q8_K`.
        unsafe {
            let xb = xp.add(i * block::Q6_K);
            let yb = yp.add(i * block::Q8_K);
            let d = f16_at_fresh(xb.add(208)) * f32_at(yb);
            let scales = load128(xb.add(192));
            let split = split_scales(scales);
            // Four chains of integer sums (exact, so the same total): one `vpdpwssd` chain
            // would wait on its latency eight times per super-block.
            let mut sumi = [_mm256_setzero_si256(); 4];
            for c in 0..QK_K / 128 {
                let q = q6_k_unpack128::<VNNI>(xb, c, m4, m30);
                for (k, &qk) in q.iter().enumerate() {
                    let q8 = load256(yb.add(Q8K_QS + 128 * c + 32 * k));
                    let p = _mm256_maddubs_epi16(qk, q8);
                    sumi[k] = add_madd::<VNNI>(sumi[k], pair_scales(split, 4 * c + k), p);
                }
            }
            let sumi = _mm256_add_epi32(
                _mm256_add_epi32(sumi[0], sumi[1]),
                _mm256_add_epi32(sumi[2], sumi[3]),
            );
            let sumi = _mm256_sub_epi32(sumi, q6_k_bias(scales, yb));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum_f32x8(acc) }
}

/// `ggml_vec_dot_iq4_xs_q8_K` (AVX2 branch).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq4_xs_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    // SAFETY: the table is 16 bytes.
    let values = unsafe { load128(KVALUES_IQ4NL.as_ptr() as *const u8) };
    let mut acc = _mm256_setzero_ps();
    for i in 0..n / QK_K {
        let xs = &x[i * block::IQ4_XS..(i + 1) * block::IQ4_XS];
        // SAFETY: super-block `i` lies inside both rows; offsets inside `block_iq4_xs` (d 0,
        // scales_h 2, scales_l 4, qs 8) and `block_q8_K`.
        unsafe {
            let xb = xp.add(i * block::IQ4_XS);
            let yb = yp.add(i * block::Q8_K);
            let d = f16x2_at(xb).0 * f32_at(yb);
            let mut sumi = _mm256_setzero_si256();
            for ib in 0..QK_K / 32 {
                let q4 = iq4_levels(values, xb.add(8 + 16 * ib));
                let q8 = load256(yb.add(Q8K_QS + 32 * ib));
                let p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(q4, q4), _mm256_sign_epi8(q8, q4));
                let ls = super::scalar::iq4xs_scale(xs, ib) as i16;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p16, _mm256_set1_epi16(ls)));
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum_f32x8(acc) }
}

// ---------------------------------------------------------------------------------------------
// Four activation rows at once (prefill): one weight row against four activation rows, the
// weight block loaded and unpacked once and reused for each of them. Per activation row every
// kernel performs exactly the operations of its one-row twin above, in the same order, so each of
// the four results is bit-identical to that kernel's (tests/kernels.rs holds them to it).

/// The four-row kernel for `ty`, where one exists (the VNNI variant when `vnni`).
pub(super) fn kernel4(ty: GgmlType, vnni: bool) -> Option<RawDot4> {
    use GgmlType::*;
    Some(match (ty, vnni) {
        (Q4_0, true) => q4_0_q8_0_x4::<true>,
        (Q4_0, false) => q4_0_q8_0_x4::<false>,
        (Q8_0, true) => q8_0_q8_0_x4::<true>,
        (Q8_0, false) => q8_0_q8_0_x4::<false>,
        (Q4_K, _) => q4_k_q8_k_x4,
        (Q6_K, true) => q6_k_q8_k_x4::<true>,
        (Q6_K, false) => q6_k_q8_k_x4::<false>,
        _ => return None,
    })
}

/// Four `hsum_f32x8`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum4(acc: [__m256; 4]) -> [f32; 4] {
    // SAFETY: same features as this function.
    unsafe {
        [
            hsum_f32x8(acc[0]),
            hsum_f32x8(acc[1]),
            hsum_f32x8(acc[2]),
            hsum_f32x8(acc[3]),
        ]
    }
}

/// [`q4_0_q8_0`] against four activation rows.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0_q8_0_x4<const VNNI: bool>(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    let xp = x.as_ptr();
    let yp = y.map(<[u8]>::as_ptr);
    let eight = _mm256_set1_epi8(8);
    let mut acc = [_mm256_setzero_ps(); 4];
    for ib in 0..n / QK {
        // SAFETY: block `ib < n/32` lies inside the weight row and the four activation rows
        // (kernel contract); offsets as in `q4_0_q8_0`.
        unsafe {
            let xb = xp.add(ib * block::Q4_0);
            let qx = nibbles32(xb.add(2));
            for j in 0..4 {
                let yb = yp[j].add(ib * block::Q8_0);
                let d = _mm256_set1_ps(f16_mul(xb, yb));
                let s = dot_diff_u8i8::<VNNI>(qx, eight, load256(yb.add(2)));
                acc[j] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc[j]);
            }
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum4(acc) }
}

/// [`q8_0_q8_0`] against four activation rows.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0_q8_0_x4<const VNNI: bool>(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    let xp = x.as_ptr();
    let yp = y.map(<[u8]>::as_ptr);
    let mut acc = [_mm256_setzero_ps(); 4];
    for ib in 0..n / QK {
        // SAFETY: block `ib` lies inside every row; offsets inside `block_q8_0`.
        unsafe {
            let xb = xp.add(ib * block::Q8_0);
            let qx = load256(xb.add(2));
            let ax = _mm256_sign_epi8(qx, qx);
            for j in 0..4 {
                let yb = yp[j].add(ib * block::Q8_0);
                let d = _mm256_set1_ps(f16_mul(xb, yb));
                // `dot_i8i8` with |x| hoisted out of the loop over activation rows.
                let sy = _mm256_sign_epi8(load256(yb.add(2)), qx);
                let s = dot_u8i8::<VNNI>(ax, sy);
                acc[j] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc[j]);
            }
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum4(acc) }
}

/// [`q4_k_q8_k`] against four activation rows.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_k_q8_k_x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    let xp = x.as_ptr();
    let yp = y.map(<[u8]>::as_ptr);
    let m4 = _mm256_set1_epi8(0x0f);
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut acc_m = [_mm_setzero_ps(); 4];
    for i in 0..n / QK_K {
        // SAFETY: super-block `i` lies inside every row; offsets as in `q4_k_q8_k`.
        unsafe {
            let xb = xp.add(i * block::Q4_K);
            let (xd, xdmin) = f16x2_at(xb);
            let ms = k4_mins_and_scales(xb.add(4));
            let sc128 = _mm256_castsi256_si128(ms);
            let scales = _mm256_set_m128i(sc128, sc128);
            let mut sumi = [_mm256_setzero_si256(); 4];
            for j in 0..4 {
                let yb = yp[j].add(i * block::Q8_K);
                let yd = f32_at(yb);
                let prod = k4_min_prod(ms, yb.add(Q8K_BSUMS));
                acc_m[j] = _mm_fmadd_ps(_mm_set1_ps(yd * xdmin), _mm_cvtepi32_ps(prod), acc_m[j]);
            }
            for c in 0..QK_K / 64 {
                let q4 = load256(xb.add(16 + 32 * c));
                let q4l = _mm256_and_si256(q4, m4);
                let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
                let (sl, sh) = (k4_scale(scales, 2 * c), k4_scale(scales, 2 * c + 1));
                for j in 0..4 {
                    let yb = yp[j].add(i * block::Q8_K);
                    let q8l = load256(yb.add(Q8K_QS + 64 * c));
                    let q8h = load256(yb.add(Q8K_QS + 64 * c + 32));
                    let pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(q4l, q8l));
                    let ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(q4h, q8h));
                    sumi[j] = _mm256_add_epi32(sumi[j], _mm256_add_epi32(pl, ph));
                }
            }
            for j in 0..4 {
                let d = f32_at(yp[j].add(i * block::Q8_K)) * xd;
                acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi[j]), acc[j]);
            }
        }
    }
    // SAFETY: same features as this function.
    unsafe {
        let s = hsum4(acc);
        std::array::from_fn(|j| s[j] - hsum_f32x4(acc_m[j]))
    }
}

/// [`q6_k_q8_k`] against four activation rows.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_k_q8_k_x4<const VNNI: bool>(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    let xp = x.as_ptr();
    let yp = y.map(<[u8]>::as_ptr);
    let m4 = _mm256_set1_epi8(0x0f);
    let m30 = _mm256_set1_epi8(0x30);
    let mut acc = [_mm256_setzero_ps(); 4];
    for i in 0..n / QK_K {
        // SAFETY: super-block `i` lies inside every row; offsets as in `q6_k_q8_k`.
        unsafe {
            let xb = xp.add(i * block::Q6_K);
            let xd = f16_at_fresh(xb.add(208));
            let scales = load128(xb.add(192));
            let split = split_scales(scales);
            let mut sumi = [_mm256_setzero_si256(); 4];
            for c in 0..QK_K / 128 {
                let q = q6_k_unpack128::<VNNI>(xb, c, m4, m30);
                for (k, &qk) in q.iter().enumerate() {
                    let sc = pair_scales(split, 4 * c + k);
                    for j in 0..4 {
                        let q8 = load256(yp[j].add(i * block::Q8_K + Q8K_QS + 128 * c + 32 * k));
                        let p = _mm256_maddubs_epi16(qk, q8);
                        sumi[j] = add_madd::<VNNI>(sumi[j], sc, p);
                    }
                }
            }
            for j in 0..4 {
                let yb = yp[j].add(i * block::Q8_K);
                let d = xd * f32_at(yb);
                let sumi = _mm256_sub_epi32(sumi[j], q6_k_bias(scales, yb));
                acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc[j]);
            }
        }
    }
    // SAFETY: same features as this function.
    unsafe { hsum4(acc) }
}
