//! x86-64 kernels on the packed layouts of [`super::repack`]: AVX2 (`vpmaddubsw` on 256-bit
//! registers, eight rows in the eight i32 lanes) and AVX-512 VNNI (`vpdpbusd` on 512-bit
//! registers: lanes 0..8 and 8..16 are the same eight rows on two different groups of four
//! columns, folded once per block). Both compute the integer sums of the scalar twins exactly
//! and the same f32 operations in the same order, so all three agree bit for bit.
//!
//! IQ4_NL's levels (`vpshufb` through `kvalues_iq4nl`) are signed: AVX2 multiplies `|y|` by
//! `x·sign(y)` (exact for every activation byte, as no level is −128, where ggml's `|x|·y·sign(x)`
//! would mis-sum a −128 activation), the 512-bit form looks up `x + 128` for `vpdpbusd` and
//! subtracts `128·Σy` per block, as Q4_0 subtracts `8·Σy`.
//!
//! Safety contract of every `unsafe fn` kernel here: the CPU has AVX2, FMA and F16C (plus
//! AVX512F/BW/VL/VNNI for the 512-bit ones); `w` holds one packed group of `n` columns, each
//! `y[t]` one activation row of `n` columns in the partner type, and for a kernel that reads
//! them (Q4_0, 512-bit IQ4_NL) each `aux[t]` one i32 per block. [`super::repack`]'s drivers check
//! all of it before any call.

use std::arch::x86_64::*;
use std::ptr::read_unaligned;

use super::block::{self, QK, QK_K};
use super::repack::{RawPacked, GEMM_TOKENS, ROWS};
use super::KVALUES_IQ4NL;
use crate::ggml::GgmlType;

type Pair = (RawPacked<1>, RawPacked<GEMM_TOKENS>);

/// The one-token and four-token kernels for `ty` (512-bit VNNI when `vnni`, else AVX2).
pub(super) fn kernels(ty: GgmlType, vnni: bool) -> Option<Pair> {
    Some(match (ty, vnni) {
        (GgmlType::Q4_0, false) => (q4_0x8_avx2::<1>, q4_0x8_avx2::<GEMM_TOKENS>),
        (GgmlType::Q4_0, true) => (q4_0x8_vnni::<1>, q4_0x8_vnni::<GEMM_TOKENS>),
        (GgmlType::IQ4_NL, false) => (iq4_nlx8_avx2::<1>, iq4_nlx8_avx2::<GEMM_TOKENS>),
        (GgmlType::IQ4_NL, true) => (iq4_nlx8_vnni::<1>, iq4_nlx8_vnni::<GEMM_TOKENS>),
        (GgmlType::Q4_K, false) => (q4_kx8_avx2::<1>, q4_kx8_avx2::<GEMM_TOKENS>),
        (GgmlType::Q4_K, true) => (q4_kx8_vnni::<1>, q4_kx8_vnni::<GEMM_TOKENS>),
        _ => return None,
    })
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load256(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 32 readable bytes at `p`; the load is unaligned.
    unsafe { _mm256_loadu_si256(p as *const __m256i) }
}

/// The eight little-endian f16 at `p` as f32 (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16x8(p: *const u8) -> __m256 {
    // SAFETY: the caller guarantees 16 readable bytes at `p`.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(p as *const __m128i) })
}

/// The four bytes at `p` broadcast to the eight i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn bcast4(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 4 readable bytes at `p`.
    _mm256_set1_epi32(unsafe { read_unaligned(p as *const i32) })
}

/// The little-endian f16 at `p` as f32 (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16_at(p: *const u8) -> f32 {
    // SAFETY: the caller guarantees 2 readable bytes at `p`.
    let h = u16::from_le(unsafe { read_unaligned(p as *const u16) });
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h as i32)))
}

/// Stores the eight lanes of each accumulator.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn store<const T: usize>(acc: [__m256; T]) -> [[f32; ROWS]; T] {
    let mut out = [[0f32; ROWS]; T];
    for (o, a) in out.iter_mut().zip(acc) {
        // SAFETY: `o` is eight f32.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), a) };
    }
    out
}

/// `acc + (s·dx)·dy` per lane: the f32 steps of `ggml_vec_dot_q4_0_q8_0_generic`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0_step(acc: __m256, s: __m256i, dx: __m256, dy: f32) -> __m256 {
    let v = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(s), dx), _mm256_set1_ps(dy));
    _mm256_add_ps(acc, v)
}

/// Q4_0×8 against `T` Q8_0 rows, AVX2.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0x8_avx2<const T: usize>(
    n: usize,
    w: &[u8],
    y: [&[u8]; T],
    aux: [&[i32]; T],
) -> [[f32; ROWS]; T] {
    let (wp, yp) = (w.as_ptr(), y.map(<[u8]>::as_ptr));
    let m4 = _mm256_set1_epi8(0x0f);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); T];
    for ib in 0..n / QK {
        // SAFETY: block `ib < n/32` lies inside the group (144 bytes per block) and every
        // activation row (34 bytes per block); `aux[t]` has `n/32` entries (contract).
        unsafe {
            let wb = wp.add(ib * 8 * block::Q4_0);
            let dx = f16x8(wb);
            // q[g]: four elements of group g (columns 4g..4g+4) of each row.
            let mut q = [_mm256_setzero_si256(); 8];
            for c in 0..4 {
                let v = load256(wb.add(16 + 32 * c));
                q[c] = _mm256_and_si256(v, m4);
                q[c + 4] = _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4);
            }
            for t in 0..T {
                let yb = yp[t].add(ib * block::Q8_0);
                // Eight pair sums of at most 2·15·128 each stay within i16.
                let mut p = _mm256_setzero_si256();
                for (g, &qg) in q.iter().enumerate() {
                    p = _mm256_add_epi16(p, _mm256_maddubs_epi16(qg, bcast4(yb.add(2 + 4 * g))));
                }
                let s = _mm256_madd_epi16(p, ones);
                let s = _mm256_sub_epi32(s, _mm256_set1_epi32(*aux[t].get_unchecked(ib)));
                acc[t] = q4_0_step(acc[t], s, dx, f16_at(yb));
            }
        }
    }
    // SAFETY: same features as this function.
    unsafe { store(acc) }
}

/// Dword indices of the activation block for the four 512-bit weight vectors of a packed Q4_0
/// block (lanes 0..8, 8..16): groups (0, 1), (4, 5), (2, 3), (6, 7).
static Q4_0_PERM: [[i32; 16]; 4] = {
    let pairs = [(0, 1), (4, 5), (2, 3), (6, 7)];
    let mut t = [[0i32; 16]; 4];
    let mut v = 0;
    while v < 4 {
        let mut l = 0;
        while l < 16 {
            t[v][l] = if l < 8 { pairs[v].0 } else { pairs[v].1 };
            l += 1;
        }
        v += 1;
    }
    t
};

/// Lanes 0..8 plus lanes 8..16 of a 512-bit i32 vector (the same eight rows).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn fold(s: __m512i) -> __m256i {
    _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64::<1>(s))
}

/// The 32 bytes at `p` in the low half of a 512-bit vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn load256_z(p: *const u8) -> __m512i {
    // SAFETY: the caller guarantees 32 readable bytes at `p`.
    _mm512_zextsi256_si512(unsafe { load256(p) })
}

/// Q4_0×8 against `T` Q8_0 rows, AVX-512 VNNI on 512-bit registers.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q4_0x8_vnni<const T: usize>(
    n: usize,
    w: &[u8],
    y: [&[u8]; T],
    aux: [&[i32]; T],
) -> [[f32; ROWS]; T] {
    let (wp, yp) = (w.as_ptr(), y.map(<[u8]>::as_ptr));
    let m4 = _mm512_set1_epi8(0x0f);
    // SAFETY: each index vector is 64 bytes.
    let perm = unsafe {
        [
            _mm512_loadu_si512(Q4_0_PERM[0].as_ptr().cast()),
            _mm512_loadu_si512(Q4_0_PERM[1].as_ptr().cast()),
            _mm512_loadu_si512(Q4_0_PERM[2].as_ptr().cast()),
            _mm512_loadu_si512(Q4_0_PERM[3].as_ptr().cast()),
        ]
    };
    let mut acc = [_mm256_setzero_ps(); T];
    for ib in 0..n / QK {
        // SAFETY: as in `q4_0x8_avx2`.
        unsafe {
            let wb = wp.add(ib * 8 * block::Q4_0);
            let dx = f16x8(wb);
            let a = _mm512_loadu_si512(wb.add(16).cast());
            let b = _mm512_loadu_si512(wb.add(80).cast());
            let q = [
                _mm512_and_si512(a, m4),
                _mm512_and_si512(_mm512_srli_epi16::<4>(a), m4),
                _mm512_and_si512(b, m4),
                _mm512_and_si512(_mm512_srli_epi16::<4>(b), m4),
            ];
            for t in 0..T {
                let yb = yp[t].add(ib * block::Q8_0);
                let yv = load256_z(yb.add(2));
                let mut s = _mm512_setzero_si512();
                for v in 0..4 {
                    s = _mm512_dpbusd_epi32(s, q[v], _mm512_permutexvar_epi32(perm[v], yv));
                }
                let s = _mm256_sub_epi32(fold(s), _mm256_set1_epi32(*aux[t].get_unchecked(ib)));
                acc[t] = q4_0_step(acc[t], s, dx, f16_at(yb));
            }
        }
    }
    // SAFETY: same features as this function.
    unsafe { store(acc) }
}

/// `acc + (dy·dx)·s` per lane: the f32 steps of `ggml_vec_dot_iq4_nl_q8_0_generic`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq4_nl_step(acc: __m256, s: __m256i, dx: __m256, dy: f32) -> __m256 {
    let d = _mm256_mul_ps(_mm256_set1_ps(dy), dx);
    _mm256_add_ps(acc, _mm256_mul_ps(d, _mm256_cvtepi32_ps(s)))
}

/// IQ4_NL×8 against `T` Q8_0 rows, AVX2.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq4_nlx8_avx2<const T: usize>(
    n: usize,
    w: &[u8],
    y: [&[u8]; T],
    _aux: [&[i32]; T],
) -> [[f32; ROWS]; T] {
    let (wp, yp) = (w.as_ptr(), y.map(<[u8]>::as_ptr));
    let m4 = _mm256_set1_epi8(0x0f);
    let ones = _mm256_set1_epi16(1);
    // SAFETY: the table is 16 bytes.
    let values = _mm256_broadcastsi128_si256(unsafe {
        _mm_loadu_si128(KVALUES_IQ4NL.as_ptr() as *const __m128i)
    });
    let mut acc = [_mm256_setzero_ps(); T];
    for ib in 0..n / QK {
        // SAFETY: block `ib < n/32` lies inside the group (144 bytes per block) and every
        // activation row (34 bytes per block).
        unsafe {
            let wb = wp.add(ib * 8 * block::IQ4_NL);
            let dx = f16x8(wb);
            // x[g]: the levels of four elements of group g (columns 4g..4g+4) of each row.
            let mut x = [_mm256_setzero_si256(); 8];
            for c in 0..4 {
                let v = load256(wb.add(16 + 32 * c));
                x[c] = _mm256_shuffle_epi8(values, _mm256_and_si256(v, m4));
                let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4);
                x[c + 4] = _mm256_shuffle_epi8(values, hi);
            }
            for t in 0..T {
                let yb = yp[t].add(ib * block::Q8_0);
                let mut s = _mm256_setzero_si256();
                for (g, &xg) in x.iter().enumerate() {
                    let yg = bcast4(yb.add(2 + 4 * g));
                    // A pair sum is at most 2·128·127 in magnitude: within i16, but two are not,
                    // so each widens to i32 on its own.
                    let p = _mm256_maddubs_epi16(_mm256_abs_epi8(yg), _mm256_sign_epi8(xg, yg));
                    s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
                }
                acc[t] = iq4_nl_step(acc[t], s, dx, f16_at(yb));
            }
        }
    }
    // SAFETY: same features as this function.
    unsafe { store(acc) }
}

/// `kvalues_iq4nl` shifted by 128: the levels as unsigned bytes `x + 128`.
static KVALUES_IQ4NL_U: [u8; 16] = {
    let mut t = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = (KVALUES_IQ4NL[i] as i16 + 128) as u8;
        i += 1;
    }
    t
};

/// IQ4_NL×8 against `T` Q8_0 rows, AVX-512 VNNI on 512-bit registers.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn iq4_nlx8_vnni<const T: usize>(
    n: usize,
    w: &[u8],
    y: [&[u8]; T],
    aux: [&[i32]; T],
) -> [[f32; ROWS]; T] {
    let (wp, yp) = (w.as_ptr(), y.map(<[u8]>::as_ptr));
    let m4 = _mm512_set1_epi8(0x0f);
    // SAFETY: the table is 16 bytes; each index vector 64.
    let (values, perm) = unsafe {
        (
            _mm512_broadcast_i32x4(_mm_loadu_si128(KVALUES_IQ4NL_U.as_ptr().cast())),
            [
                _mm512_loadu_si512(Q4_0_PERM[0].as_ptr().cast()),
                _mm512_loadu_si512(Q4_0_PERM[1].as_ptr().cast()),
                _mm512_loadu_si512(Q4_0_PERM[2].as_ptr().cast()),
                _mm512_loadu_si512(Q4_0_PERM[3].as_ptr().cast()),
            ],
        )
    };
    let mut acc = [_mm256_setzero_ps(); T];
    for ib in 0..n / QK {
        // SAFETY: as in `iq4_nlx8_avx2`; `aux[t]` has `n/32` entries (contract).
        unsafe {
            let wb = wp.add(ib * 8 * block::IQ4_NL);
            let dx = f16x8(wb);
            let a = _mm512_loadu_si512(wb.add(16).cast());
            let b = _mm512_loadu_si512(wb.add(80).cast());
            let q = [
                _mm512_shuffle_epi8(values, _mm512_and_si512(a, m4)),
                _mm512_shuffle_epi8(values, _mm512_and_si512(_mm512_srli_epi16::<4>(a), m4)),
                _mm512_shuffle_epi8(values, _mm512_and_si512(b, m4)),
                _mm512_shuffle_epi8(values, _mm512_and_si512(_mm512_srli_epi16::<4>(b), m4)),
            ];
            for t in 0..T {
                let yb = yp[t].add(ib * block::Q8_0);
                let yv = load256_z(yb.add(2));
                let mut s = _mm512_setzero_si512();
                for v in 0..4 {
                    s = _mm512_dpbusd_epi32(s, q[v], _mm512_permutexvar_epi32(perm[v], yv));
                }
                let s = _mm256_sub_epi32(fold(s), _mm256_set1_epi32(*aux[t].get_unchecked(ib)));
                acc[t] = iq4_nl_step(acc[t], s, dx, f16_at(yb));
            }
        }
    }
    // SAFETY: same features as this function.
    unsafe { store(acc) }
}

/// Scales and mins of one packed Q4_K super-block (96 bytes at `p`): `(sc, m)`, byte `8j + r`
/// for sub-block `j` of row `r`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn k4_scales(p: *const u8) -> ([u8; 64], [u8; 64]) {
    let m4 = _mm256_set1_epi8(0x0f);
    let m30 = _mm256_set1_epi8(0x30);
    // SAFETY: the caller guarantees 96 readable bytes at `p`.
    let (a0, a1, b) = unsafe { (load256(p), load256(p.add(32)), load256(p.add(64))) };
    let sc0 = _mm256_or_si256(
        _mm256_and_si256(a0, m4),
        _mm256_and_si256(_mm256_slli_epi16::<4>(b), m30),
    );
    let m0 = _mm256_or_si256(
        _mm256_and_si256(_mm256_srli_epi16::<4>(a0), m4),
        _mm256_and_si256(_mm256_slli_epi16::<2>(b), m30),
    );
    let sc1 = _mm256_or_si256(_mm256_and_si256(a1, m4), _mm256_and_si256(b, m30));
    let m1 = _mm256_or_si256(
        _mm256_and_si256(_mm256_srli_epi16::<4>(a1), m4),
        _mm256_and_si256(_mm256_srli_epi16::<2>(b), m30),
    );
    let (mut sc, mut m) = ([0u8; 64], [0u8; 64]);
    // SAFETY: each array is 64 bytes, written in two halves of 32.
    unsafe {
        _mm256_storeu_si256(sc.as_mut_ptr().cast(), sc0);
        _mm256_storeu_si256(sc.as_mut_ptr().add(32).cast(), sc1);
        _mm256_storeu_si256(m.as_mut_ptr().cast(), m0);
        _mm256_storeu_si256(m.as_mut_ptr().add(32).cast(), m1);
    }
    (sc, m)
}

/// The eight bytes at `p` as eight i32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn u8x8(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 8 readable bytes at `p`.
    _mm256_cvtepu8_epi32(unsafe { _mm_loadl_epi64(p as *const __m128i) })
}

/// `Σ_j m[j]·(bsums[2j] + bsums[2j+1])` per row for the Q8_K block at `yb`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn k4_msum(m: &[u8; 64], yb: *const u8) -> __m256i {
    let mut s = _mm256_setzero_si256();
    for j in 0..8 {
        // SAFETY: the bsums (16 i16) lie at 260 in `block_q8_K`; `m` holds 64 bytes.
        unsafe {
            let b = yb.add(4 + QK_K + 4 * j);
            let bs = read_unaligned(b as *const i16) as i32
                + read_unaligned(b.add(2) as *const i16) as i32;
            let mj = u8x8(m.as_ptr().add(8 * j));
            s = _mm256_add_epi32(s, _mm256_mullo_epi32(mj, _mm256_set1_epi32(bs)));
        }
    }
    s
}

/// `acc + ((yd·dx)·isum − (yd·dmin)·msum)` per lane: the f32 steps of
/// `ggml_vec_dot_q4_K_q8_K_generic`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_k_step(
    acc: __m256,
    isum: __m256i,
    msum: __m256i,
    dx: __m256,
    dm: __m256,
    yd: f32,
) -> __m256 {
    let yd = _mm256_set1_ps(yd);
    let a = _mm256_mul_ps(_mm256_mul_ps(yd, dx), _mm256_cvtepi32_ps(isum));
    let b = _mm256_mul_ps(_mm256_mul_ps(yd, dm), _mm256_cvtepi32_ps(msum));
    _mm256_add_ps(acc, _mm256_sub_ps(a, b))
}

/// Q4_K×8 against `T` Q8_K rows, AVX2.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_kx8_avx2<const T: usize>(
    n: usize,
    w: &[u8],
    y: [&[u8]; T],
    _aux: [&[i32]; T],
) -> [[f32; ROWS]; T] {
    let (wp, yp) = (w.as_ptr(), y.map(<[u8]>::as_ptr));
    let m4 = _mm256_set1_epi8(0x0f);
    let mut acc = [_mm256_setzero_ps(); T];
    for i in 0..n / QK_K {
        // SAFETY: super-block `i < n/256` lies inside the group (1152 bytes per super-block)
        // and every activation row (292 bytes per super-block).
        unsafe {
            let wb = wp.add(i * 8 * block::Q4_K);
            let (dx, dm) = (f16x8(wb), f16x8(wb.add(16)));
            let (sc, m) = k4_scales(wb.add(32));
            let mut isum = [_mm256_setzero_si256(); T];
            for c in 0..4 {
                let mut lo = [_mm256_setzero_si256(); T];
                let mut hi = [_mm256_setzero_si256(); T];
                for s in 0..8 {
                    let v = load256(wb.add(128 + 256 * c + 32 * s));
                    let ql = _mm256_and_si256(v, m4);
                    let qh = _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4);
                    for t in 0..T {
                        let yq = yp[t].add(i * block::Q8_K + 4 + 64 * c + 4 * s);
                        lo[t] = _mm256_add_epi16(lo[t], _mm256_maddubs_epi16(ql, bcast4(yq)));
                        hi[t] =
                            _mm256_add_epi16(hi[t], _mm256_maddubs_epi16(qh, bcast4(yq.add(32))));
                    }
                }
                // The i16 pairs of each row times that row's sub-block scale, as i32.
                let (sl, sh) = (
                    u8x8(sc.as_ptr().add(16 * c)),
                    u8x8(sc.as_ptr().add(16 * c + 8)),
                );
                let sl = _mm256_or_si256(sl, _mm256_slli_epi32::<16>(sl));
                let sh = _mm256_or_si256(sh, _mm256_slli_epi32::<16>(sh));
                for t in 0..T {
                    let v = _mm256_add_epi32(
                        _mm256_madd_epi16(lo[t], sl),
                        _mm256_madd_epi16(hi[t], sh),
                    );
                    isum[t] = _mm256_add_epi32(isum[t], v);
                }
            }
            for t in 0..T {
                let yb = yp[t].add(i * block::Q8_K);
                let yd = f32::from_bits(read_unaligned(yb as *const u32));
                acc[t] = q4_k_step(acc[t], isum[t], k4_msum(&m, yb), dx, dm, yd);
            }
        }
    }
    // SAFETY: same features as this function.
    unsafe { store(acc) }
}

/// Q4_K×8 against `T` Q8_K rows, AVX-512 VNNI on 512-bit registers.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn q4_kx8_vnni<const T: usize>(
    n: usize,
    w: &[u8],
    y: [&[u8]; T],
    _aux: [&[i32]; T],
) -> [[f32; ROWS]; T] {
    let (wp, yp) = (w.as_ptr(), y.map(<[u8]>::as_ptr));
    let m4 = _mm512_set1_epi8(0x0f);
    let mut perm = [_mm512_setzero_si512(); 4];
    for (h, p) in perm.iter_mut().enumerate() {
        // Lanes 0..8 (mask bits 0..8) take dword 2h, lanes 8..16 dword 2h + 1.
        *p = _mm512_mask_blend_epi32(
            0xff00,
            _mm512_set1_epi32(2 * h as i32),
            _mm512_set1_epi32(2 * h as i32 + 1),
        );
    }
    let mut acc = [_mm256_setzero_ps(); T];
    for i in 0..n / QK_K {
        // SAFETY: as in `q4_kx8_avx2`.
        unsafe {
            let wb = wp.add(i * 8 * block::Q4_K);
            let (dx, dm) = (f16x8(wb), f16x8(wb.add(16)));
            let (sc, m) = k4_scales(wb.add(32));
            let mut isum = [_mm256_setzero_si256(); T];
            for c in 0..4 {
                let mut lo = [_mm512_setzero_si512(); T];
                let mut hi = [_mm512_setzero_si512(); T];
                let mut yl = [_mm512_setzero_si512(); T];
                let mut yh = [_mm512_setzero_si512(); T];
                for t in 0..T {
                    let yq = yp[t].add(i * block::Q8_K + 4 + 64 * c);
                    yl[t] = load256_z(yq);
                    yh[t] = load256_z(yq.add(32));
                }
                for (h, &ph) in perm.iter().enumerate() {
                    let v = _mm512_loadu_si512(wb.add(128 + 256 * c + 64 * h).cast());
                    let ql = _mm512_and_si512(v, m4);
                    let qh = _mm512_and_si512(_mm512_srli_epi16::<4>(v), m4);
                    for t in 0..T {
                        lo[t] = _mm512_dpbusd_epi32(lo[t], ql, _mm512_permutexvar_epi32(ph, yl[t]));
                        hi[t] = _mm512_dpbusd_epi32(hi[t], qh, _mm512_permutexvar_epi32(ph, yh[t]));
                    }
                }
                let (sl, sh) = (
                    u8x8(sc.as_ptr().add(16 * c)),
                    u8x8(sc.as_ptr().add(16 * c + 8)),
                );
                for t in 0..T {
                    let v = _mm256_add_epi32(
                        _mm256_mullo_epi32(fold(lo[t]), sl),
                        _mm256_mullo_epi32(fold(hi[t]), sh),
                    );
                    isum[t] = _mm256_add_epi32(isum[t], v);
                }
            }
            for t in 0..T {
                let yb = yp[t].add(i * block::Q8_K);
                let yd = f32::from_bits(read_unaligned(yb as *const u32));
                acc[t] = q4_k_step(acc[t], isum[t], k4_msum(&m, yb), dx, dm, yd);
            }
        }
    }
    // SAFETY: same features as this function.
    unsafe { store(acc) }
}
