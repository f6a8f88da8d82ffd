//! Register-tiled matrix-matrix kernels (prefill) for the legacy 32-element weight types whose
//! partner is Q8_0 or Q8_1 (Q8_0, Q4_0, Q5_0, IQ4_NL; Q4_1, Q5_1), on the file layout.
//!
//! The shape follows llama.cpp's `tinyBLAS_Q0_AVX` (`ggml/src/ggml-cpu/llamafile/sgemm.cpp`): a
//! tile of `RM` weight rows × `RN` tokens keeps one eight-lane f32 accumulator per (row, token)
//! in a register; per 32-element block each weight block is unpacked once for the `RN` tokens
//! and each activation block loaded once for the `RM` rows, the block's integer dot is exact,
//! and `acc = fma(d_w·d_a, cvt(isum), acc)`. That is the one-row kernel's own sequence of f32
//! operations for every (row, token) pair (same lanes, same products, same order, same final
//! horizontal sum), so every output is bit-identical to [`super::DotKernel::dot`] on the same
//! instruction set; `tests/kernels.rs` holds it to that on every instruction set this CPU has.
//!
//! The integer dot per block:
//! - AVX512-VNNI (with AVX512VL, so the tile may use all 32 vector registers): weights as
//!   unsigned bytes `q + o` (`o` = 128 for Q8_0 and IQ4_NL, 8 for Q4_0, 16 for Q5_0, 0 for the
//!   Q8_1 partners) against signed activations with `vpdpbusd`, the accumulator seeded with
//!   `−o·Σy` per group of four (computed once per token and block): one instruction per pair.
//! - AVX2: the one-row kernels' forms: the sign trick `|x|·sign(y, x)` for Q8_0 and IQ4_NL,
//!   `q·y − o·y` in i16 for Q4_0 and Q5_0 (exact for any activation byte), `q·y` for Q4_1/Q5_1.
//!
//! The scales are widened once per call: the activations' `d` (and Q8_1's `s`) into tables laid
//! out block-major, so a tile reads them as broadcasts. Q4_1/Q5_1 add `m·s` per block into a
//! per-row vector of the tile's tokens, lane by lane in the one-row kernel's scalar order.
//!
//! Safety contract of every `unsafe fn` here: the CPU has the features of the function's
//! `target_feature` list, and the slices hold the whole blocks the arguments describe
//! ([`super::matmul_with`] checks the lengths before any call).

use std::arch::x86_64::*;
use std::cell::RefCell;
use std::ptr::read_unaligned;

use super::block::{self, QK};
use super::KVALUES_IQ4NL;
use crate::ggml::GgmlType;

/// A tiled product: `out[r·n_tok + t] = rows[r] · acts[t]` for `n_rows` weight rows and `n_tok`
/// activation rows of `n` elements (whole blocks), back to back.
pub(super) type RawGemm = unsafe fn(usize, &[u8], usize, &[u8], usize, &mut [f32]);

/// Weight rows per tile of the 512-bit-register instruction set (and of AVX2): the engine hands
/// chunks of a multiple of this.
pub(super) const TILE_ROWS: usize = 4;

/// The tiled kernel for `ty` (the VNNI form when `vnni`), where one exists.
pub(super) fn gemm(ty: GgmlType, vnni: bool) -> Option<RawGemm> {
    use GgmlType::*;
    Some(match (ty, vnni) {
        (Q8_0, true) => gemm_vnni::<Q8_0W>,
        (Q8_0, false) => gemm_avx2::<Q8_0W>,
        (Q4_0, true) => gemm_vnni::<Q4_0W>,
        (Q4_0, false) => gemm_avx2::<Q4_0W>,
        (Q5_0, true) => gemm_vnni::<Q5_0W>,
        (Q5_0, false) => gemm_avx2::<Q5_0W>,
        (IQ4_NL, true) => gemm_vnni::<Iq4NlW>,
        (IQ4_NL, false) => gemm_avx2::<Iq4NlW>,
        (Q4_1, true) => gemm_vnni::<Q4_1W>,
        (Q4_1, false) => gemm_avx2::<Q4_1W>,
        (Q5_1, true) => gemm_vnni::<Q5_1W>,
        (Q5_1, false) => gemm_avx2::<Q5_1W>,
        _ => return None,
    })
}

/// How the AVX2 form computes a block's integer dot.
#[derive(PartialEq, Eq)]
enum Avx2Dot {
    /// `|x|·sign(y, x)` on signed weights (Q8_0, IQ4_NL; as their one-row kernels).
    Sign,
    /// `q·y − o·y` on unsigned weights with a small offset (Q4_0, Q5_0).
    Diff,
    /// `q·y` (Q4_1, Q5_1: the offset is the block's `m`).
    Plain,
}

/// A weight block type as the tile kernels see it.
trait Legacy {
    /// Bytes per block.
    const BYTES: usize;
    /// The offset `o` with `x = q − o` for the unsigned quants `q` of [`Legacy::unsigned`].
    const OFFSET: i8;
    /// Whether the partner is Q8_1 and the block has a min `m` (f16 at byte 2).
    const MIN: bool;
    /// The AVX2 form of the integer dot.
    const AVX2: Avx2Dot;
    /// The 32 quants as unsigned bytes `q = x + o`, in element order.
    unsafe fn unsigned(p: *const u8) -> __m256i;
    /// The 32 quants as signed bytes `x` (used by [`Avx2Dot::Sign`] only).
    unsafe fn signed(p: *const u8) -> __m256i {
        // SAFETY: forwarded caller contract.
        unsafe { _mm256_sub_epi8(Self::unsigned(p), _mm256_set1_epi8(Self::OFFSET)) }
    }
}

#[inline(always)]
unsafe fn load256(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 32 readable bytes at `p`; the load is unaligned.
    unsafe { _mm256_loadu_si256(p as *const __m256i) }
}

/// 16 bytes of packed nibbles to 32 bytes: low nibbles, then high nibbles.
#[inline(always)]
unsafe fn nibbles32(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 16 readable bytes at `p` and AVX2.
    unsafe {
        let tmp = _mm_loadu_si128(p as *const __m128i);
        let both = _mm256_set_m128i(_mm_srli_epi16::<4>(tmp), tmp);
        _mm256_and_si256(both, _mm256_set1_epi8(0x0f))
    }
}

/// The fifth bits of Q5_0/Q5_1 (the little-endian u32 at `p`) as 16 or 0 per element.
#[inline(always)]
unsafe fn fifth_bits(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 4 readable bytes at `p` and AVX2.
    unsafe {
        let x32 = u32::from_le(read_unaligned(p as *const u32));
        let shuf = _mm256_setr_epi64x(
            0,
            0x0101_0101_0101_0101,
            0x0202_0202_0202_0202,
            0x0303_0303_0303_0303,
        );
        let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x32 as i32), shuf);
        let bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe));
        let set = _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
        _mm256_and_si256(set, _mm256_set1_epi8(16))
    }
}

/// The IQ4_NL levels of the 16 packed bytes at `p` through the 16-byte table `values`.
#[inline(always)]
unsafe fn levels(values: &[u8; 16], p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 16 readable bytes at `p` and AVX2; the table is 16 bytes.
    unsafe {
        let values = _mm_loadu_si128(values.as_ptr() as *const __m128i);
        let m4 = _mm_set1_epi8(0x0f);
        let q4 = _mm_loadu_si128(p as *const __m128i);
        let lo = _mm_shuffle_epi8(values, _mm_and_si128(q4, m4));
        let hi = _mm_shuffle_epi8(values, _mm_and_si128(_mm_srli_epi16::<4>(q4), m4));
        _mm256_set_m128i(hi, lo)
    }
}

struct Q8_0W;
impl Legacy for Q8_0W {
    const BYTES: usize = block::Q8_0;
    const OFFSET: i8 = -128;
    const MIN: bool = false;
    const AVX2: Avx2Dot = Avx2Dot::Sign;
    #[inline(always)]
    unsafe fn unsigned(p: *const u8) -> __m256i {
        // SAFETY: a whole block at `p`.
        unsafe { _mm256_xor_si256(load256(p.add(2)), _mm256_set1_epi8(-128)) }
    }
    #[inline(always)]
    unsafe fn signed(p: *const u8) -> __m256i {
        // SAFETY: a whole block at `p`.
        unsafe { load256(p.add(2)) }
    }
}

struct Q4_0W;
impl Legacy for Q4_0W {
    const BYTES: usize = block::Q4_0;
    const OFFSET: i8 = 8;
    const MIN: bool = false;
    const AVX2: Avx2Dot = Avx2Dot::Diff;
    #[inline(always)]
    unsafe fn unsigned(p: *const u8) -> __m256i {
        // SAFETY: a whole block at `p`.
        unsafe { nibbles32(p.add(2)) }
    }
}

struct Q5_0W;
impl Legacy for Q5_0W {
    const BYTES: usize = block::Q5_0;
    const OFFSET: i8 = 16;
    const MIN: bool = false;
    const AVX2: Avx2Dot = Avx2Dot::Diff;
    #[inline(always)]
    unsafe fn unsigned(p: *const u8) -> __m256i {
        // SAFETY: a whole block at `p`.
        unsafe { _mm256_or_si256(nibbles32(p.add(6)), fifth_bits(p.add(2))) }
    }
}

/// `KVALUES_IQ4NL` as signed bytes and shifted by 128 (unsigned).
const IQ4NL_SIGNED: [u8; 16] = {
    let mut t = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = KVALUES_IQ4NL[i] as u8;
        i += 1;
    }
    t
};
const IQ4NL_UNSIGNED: [u8; 16] = {
    let mut t = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = (KVALUES_IQ4NL[i] as i32 + 128) as u8;
        i += 1;
    }
    t
};

struct Iq4NlW;
impl Legacy for Iq4NlW {
    const BYTES: usize = block::IQ4_NL;
    const OFFSET: i8 = -128;
    const MIN: bool = false;
    const AVX2: Avx2Dot = Avx2Dot::Sign;
    #[inline(always)]
    unsafe fn unsigned(p: *const u8) -> __m256i {
        // SAFETY: a whole block at `p`.
        unsafe { levels(&IQ4NL_UNSIGNED, p.add(2)) }
    }
    #[inline(always)]
    unsafe fn signed(p: *const u8) -> __m256i {
        // SAFETY: a whole block at `p`.
        unsafe { levels(&IQ4NL_SIGNED, p.add(2)) }
    }
}

struct Q4_1W;
impl Legacy for Q4_1W {
    const BYTES: usize = block::Q4_1;
    const OFFSET: i8 = 0;
    const MIN: bool = true;
    const AVX2: Avx2Dot = Avx2Dot::Plain;
    #[inline(always)]
    unsafe fn unsigned(p: *const u8) -> __m256i {
        // SAFETY: a whole block at `p`.
        unsafe { nibbles32(p.add(4)) }
    }
}

struct Q5_1W;
impl Legacy for Q5_1W {
    const BYTES: usize = block::Q5_1;
    const OFFSET: i8 = 0;
    const MIN: bool = true;
    const AVX2: Avx2Dot = Avx2Dot::Plain;
    #[inline(always)]
    unsafe fn unsigned(p: *const u8) -> __m256i {
        // SAFETY: a whole block at `p`.
        unsafe { _mm256_or_si256(nibbles32(p.add(8)), fifth_bits(p.add(4))) }
    }
}

/// Bytes of the partner block of `W` and the offset of its quants.
const fn act_block<W: Legacy>() -> (usize, usize) {
    if W::MIN {
        (block::Q8_1, 4)
    } else {
        (block::Q8_0, 2)
    }
}

/// One tile's operands. Pointers address the tile's first weight row, first activation row,
/// first token in the activation scale tables (block `b` at `+ b·ld`), the first row in the
/// weight scale table (row `i`, block `b` at `+ i·nb + b`) and the first output.
struct Tile {
    nb: usize,
    w: *const u8,
    rb: usize,
    a: *const u8,
    ab: usize,
    d: *const f32,
    s: *const f32,
    ld: usize,
    dw: *const f32,
    out: *mut f32,
    ldo: usize,
}

/// Extra floats after each block's entries in the activation scale tables, so an eight-lane
/// load at any token stays inside the table.
const TABLE_PAD: usize = 8;

/// Blocks per pass of a tile: the products `d_w·d_a` of a pass (`KC · RM` vectors of eight) are
/// computed first and stored, then read back as broadcasts by the pass (a load each, rather
/// than a multiply per pair in the arithmetic pipes).
const KC: usize = 32;

thread_local! {
    /// The widened scales of the current call (reused between calls).
    static TABLES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The widened f16 at `p`, read as the low half of the u32 at `p` (the `vmovd` that loads it
/// writes the whole register: a 16-bit load would become `vpinsrw`, which merges into a live
/// register).
#[inline(always)]
unsafe fn f16_lo(p: *const u8) -> f32 {
    // SAFETY: the caller guarantees 4 readable bytes at `p` and F16C.
    unsafe {
        let u = u32::from_le(read_unaligned(p as *const u32));
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(u as i32)))
    }
}

/// `hsum_float_8` of the one-row kernels, in their order.
#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    // SAFETY: AVX is implied by the caller's features.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }
}

/// Stamps out the tile kernel and the driver of one instruction set: `$feat` its target
/// features, `$vnni` whether the integer dot is `vpdpbusd`, `$rm × $rn` the main tile
/// (`$rn ≤ 8`).
macro_rules! gemm_isa {
    ($gemm:ident, $tile:ident, $feat:literal, $vnni:literal, $rm:literal, $rn:literal) => {
        /// One tile of `RM` rows × `RN ≤ 8` tokens over all blocks.
        #[target_feature(enable = $feat)]
        unsafe fn $tile<W: Legacy, const RM: usize, const RN: usize>(p: &Tile) {
            let off = _mm256_set1_epi8(W::OFFSET);
            let ones = _mm256_set1_epi16(1);
            let (abk, qs) = act_block::<W>();
            let mut acc = [[_mm256_setzero_ps(); RN]; RM];
            let mut summ = [_mm256_setzero_ps(); RM];
            let mut prod = [[_mm256_setzero_ps(); RM]; KC];
            for k0 in (0..p.nb).step_by(KC) {
                let kn = KC.min(p.nb - k0);
                // Products of the pass, then the pass.
                for kb in 0..kn {
                    let b = k0 + kb;
                    // SAFETY: block `b < nb` of the tile's rows and tokens lies inside the
                    // scale tables: the activation tables hold `nb · ld` floats (`ld ≥ n_tok +
                    // TABLE_PAD`, so eight lanes from any token), the weight table `nb` per row.
                    unsafe {
                        let da = _mm256_loadu_ps(p.d.add(b * p.ld));
                        for i in 0..RM {
                            let dw = _mm256_set1_ps(*p.dw.add(i * p.nb + b));
                            prod[kb][i] = _mm256_mul_ps(dw, da);
                        }
                    }
                }
                for kb in 0..kn {
                    let b = k0 + kb;
                    let mut q = [_mm256_setzero_si256(); RM];
                    let mut ax = [_mm256_setzero_si256(); RM];
                    let pr = prod[kb].as_ptr() as *const f32;
                    // SAFETY: block `b < nb` of rows `0..RM` and tokens `0..RN` of the tile lies
                    // inside the weight and activation slices (caller contract), the tables as
                    // above; `pr` indexes `prod[kb]` (`8·RM` floats, `i < RM`, `j < RN ≤ 8`).
                    unsafe {
                        for i in 0..RM {
                            let wb = p.w.add(i * p.rb + b * W::BYTES);
                            if $vnni || W::AVX2 != Avx2Dot::Sign {
                                q[i] = W::unsigned(wb);
                            } else {
                                q[i] = W::signed(wb);
                                ax[i] = _mm256_sign_epi8(q[i], q[i]);
                            }
                            if W::MIN {
                                let m = _mm256_set1_ps(f16_lo(wb.add(2)));
                                let s = _mm256_loadu_ps(p.s.add(b * p.ld));
                                summ[i] = _mm256_add_ps(summ[i], _mm256_mul_ps(m, s));
                            }
                        }
                        for j in 0..RN {
                            let y = load256(p.a.add(j * p.ab + b * abk + qs));
                            // Per token: the correction the offset weights need.
                            let c = if $vnni && W::OFFSET != 0 {
                                let z = _mm256_setzero_si256();
                                _mm256_sub_epi32(z, _mm256_dpbusd_epi32(z, off, y))
                            } else if !$vnni && W::AVX2 == Avx2Dot::Diff {
                                _mm256_maddubs_epi16(off, y)
                            } else {
                                _mm256_setzero_si256()
                            };
                            for i in 0..RM {
                                let s = if $vnni {
                                    _mm256_dpbusd_epi32(c, q[i], y)
                                } else {
                                    match W::AVX2 {
                                        Avx2Dot::Sign => {
                                            let sy = _mm256_sign_epi8(y, q[i]);
                                            let p16 = _mm256_maddubs_epi16(ax[i], sy);
                                            _mm256_madd_epi16(p16, ones)
                                        }
                                        Avx2Dot::Diff => {
                                            let p16 = _mm256_maddubs_epi16(q[i], y);
                                            _mm256_madd_epi16(_mm256_sub_epi16(p16, c), ones)
                                        }
                                        Avx2Dot::Plain => {
                                            let p16 = _mm256_maddubs_epi16(q[i], y);
                                            _mm256_madd_epi16(p16, ones)
                                        }
                                    }
                                };
                                let d = _mm256_broadcast_ss(&*pr.add(8 * i + j));
                                acc[i][j] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc[i][j]);
                            }
                        }
                    }
                }
            }
            for i in 0..RM {
                let mut m = [0f32; 8];
                // SAFETY: `m` holds eight floats.
                unsafe { _mm256_storeu_ps(m.as_mut_ptr(), summ[i]) };
                for j in 0..RN {
                    // SAFETY: output (i, j) of the tile lies inside `out` (caller contract).
                    unsafe {
                        let v = hsum(acc[i][j]);
                        *p.out.add(i * p.ldo + j) = if W::MIN { v + m[j] } else { v };
                    }
                }
            }
        }

        /// The driver: scale tables, then tiles (tokens outer, so a tile's activations stay
        /// in L1 while the chunk's weight rows stream past them from L2).
        #[target_feature(enable = $feat)]
        unsafe fn $gemm<W: Legacy>(
            n: usize,
            rows: &[u8],
            n_rows: usize,
            acts: &[u8],
            n_tok: usize,
            out: &mut [f32],
        ) {
            let nb = n / QK;
            let (abk, _) = act_block::<W>();
            let (rb, ab) = (nb * W::BYTES, nb * abk);
            debug_assert!(rows.len() >= rb * n_rows && acts.len() >= ab * n_tok);
            debug_assert!(out.len() >= n_rows * n_tok);
            let ld = n_tok + TABLE_PAD;
            TABLES.with(|cell| {
                let mut tab = cell.borrow_mut();
                // Every entry a tile uses is written below; the padding lanes feed only
                // products and sums of tokens past the tile, which are never stored.
                let need = 2 * nb * ld + n_rows * nb;
                if tab.len() < need {
                    tab.resize(need, 0.0);
                }
                let (dt, rest) = tab.split_at_mut(nb * ld);
                let (st, wt) = rest.split_at_mut(nb * ld);
                let t8 = n_tok / 8 * 8;
                for t in (0..t8).step_by(8) {
                    for b in 0..nb {
                        // SAFETY: tokens `t..t + 8` exist and each block holds 4 bytes past `d`
                        // (lengths checked by the caller); the tables hold `nb · ld` floats.
                        unsafe {
                            let p = acts.as_ptr().add(t * ab + b * abk);
                            let h = |k: usize, o: usize| {
                                read_unaligned(p.add(k * ab + o) as *const u16) as i16
                            };
                            let v = |o| {
                                _mm256_cvtph_ps(_mm_setr_epi16(
                                    h(0, o),
                                    h(1, o),
                                    h(2, o),
                                    h(3, o),
                                    h(4, o),
                                    h(5, o),
                                    h(6, o),
                                    h(7, o),
                                ))
                            };
                            _mm256_storeu_ps(dt.as_mut_ptr().add(b * ld + t), v(0));
                            if W::MIN {
                                _mm256_storeu_ps(st.as_mut_ptr().add(b * ld + t), v(2));
                            }
                        }
                    }
                }
                for t in t8..n_tok {
                    for b in 0..nb {
                        let ap = &acts[t * ab + b * abk..];
                        // SAFETY: `ap` starts a whole partner block (lengths checked by the
                        // caller), which holds 4 bytes past `d` and past `s`.
                        unsafe {
                            dt[b * ld + t] = f16_lo(ap.as_ptr());
                            if W::MIN {
                                st[b * ld + t] = f16_lo(ap.as_ptr().add(2));
                            }
                        }
                    }
                }
                for (r, wr) in wt[..n_rows * nb].chunks_exact_mut(nb).enumerate() {
                    for (b, v) in wr.iter_mut().enumerate() {
                        // SAFETY: a whole weight block (of at least 18 bytes) starts there.
                        *v = unsafe { f16_lo(rows.as_ptr().add(r * rb + b * W::BYTES)) };
                    }
                }
                let (wp, ap, dp, sp) = (rows.as_ptr(), acts.as_ptr(), dt.as_ptr(), st.as_ptr());
                let (wtp, op) = (wt.as_ptr(), out.as_mut_ptr());
                // In-bounds for every `r0 < n_rows`, `t0 < n_tok` the loops below pass.
                let tile = |r0: usize, t0: usize| Tile {
                    nb,
                    w: wp.wrapping_add(r0 * rb),
                    rb,
                    a: ap.wrapping_add(t0 * ab),
                    ab,
                    d: dp.wrapping_add(t0),
                    s: sp.wrapping_add(t0),
                    ld,
                    dw: wtp.wrapping_add(r0 * nb),
                    out: op.wrapping_add(r0 * n_tok + t0),
                    ldo: n_tok,
                };
                let (full_r, full_t) = (n_rows / $rm * $rm, n_tok / $rn * $rn);
                // SAFETY: every tile lies inside the operands (bounds of the loops), and this
                // function's features are the tile kernel's.
                unsafe {
                    for t0 in (0..full_t).step_by($rn) {
                        for r0 in (0..full_r).step_by($rm) {
                            $tile::<W, $rm, $rn>(&tile(r0, t0));
                        }
                        for r0 in full_r..n_rows {
                            $tile::<W, 1, $rn>(&tile(r0, t0));
                        }
                    }
                    for t0 in full_t..n_tok {
                        for r0 in (0..full_r).step_by($rm) {
                            $tile::<W, $rm, 1>(&tile(r0, t0));
                        }
                        for r0 in full_r..n_rows {
                            $tile::<W, 1, 1>(&tile(r0, t0));
                        }
                    }
                }
            });
        }
    };
}

gemm_isa!(gemm_avx2, tile_avx2, "avx2,fma,f16c", false, 4, 2);
gemm_isa!(
    gemm_vnni,
    tile_vnni,
    "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni",
    true,
    4,
    6
);
