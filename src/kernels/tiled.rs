//! Prefill of the K-quants and IQ4_XS as matrix-matrix work, on the weights' file layout.
//!
//! After llama.cpp's `ggml-cpu/tiled/` (facts only): per tile of [`TILE_ROWS`] weight rows the
//! blocks are unpacked once into unsigned bytes (the quant plus a bias that makes it
//! non-negative), int32 sub-block scales and f32 `d`/`dmin`, and that tile is then multiplied
//! with every token of the batch. Unlike upstream the tokens stay in the Q8_K rows as quantized:
//! the tile is stored transposed, four consecutive elements of each of the 16 rows side by side
//! (`q[block][quad][row][4]`), so a 512-bit `vpdpbusd` of one tile line against four activation
//! bytes broadcast from the Q8_K row gives 16 rows' partial sums for one token, and nothing on
//! the activation side is repacked per call.
//!
//! Per 256-element block and (row, token) the integer sums are exact: `Σ_s sc_s·Σ u·a` over the
//! sub-blocks, plus the bias and min terms as `Σ pair·bsum-pair` (`corr`: two i16 factors per
//! i32, against two consecutive Q8_K `bsums`). The block's integer sum is then scaled and added
//! in f32 in the operation order of the one-row scalar kernel ([`super::scalar`]), so every
//! result is **bit-identical** to it, on every instruction set. The bias terms use the Q8_K
//! `bsums`, which must be the sums of the quants (as every quantizer writes them).

// The unpack loops index the block's fields and the unpacked arrays with one variable, as the
// format is written down in ggml.
#![allow(clippy::needless_range_loop)]

use super::block::{self, QK_K};
use super::{f16_at, f32_at, scalar, KVALUES_IQ4NL};
use crate::ggml::GgmlType;

/// Weight rows per tile: the i32 lanes of a 512-bit register.
pub(crate) const TILE_ROWS: usize = 16;
/// Four-element groups per 256-element block.
const QUADS: usize = QK_K / 4;
/// Bytes of one block of the transposed tile (`QUADS` lines of 16 rows × 4 bytes).
const TILE_BLOCK: usize = QUADS * TILE_ROWS * 4;
/// Correction pairs per block (eight pairs of the sixteen Q8_K `bsums`).
const PAIRS: usize = 8;
/// Fewest tokens for which the tiled product beats the one-row kernels (below that the unpack is
/// not amortised).
pub(crate) const MIN_TOKENS: usize = 8;

/// One 256-element weight block unpacked.
pub(crate) struct Unpacked {
    /// The quants plus the format's bias, so non-negative.
    u: [u8; QK_K],
    /// Per sub-block scale (the first `256 / sub` used).
    sc: [i32; 16],
    /// Per pair of Q8_K `bsums`: two i16 factors (low half against `bsums[2p]`).
    corr: [i32; PAIRS],
    d: f32,
    dmin: f32,
}

/// How a weight type unpacks into a tile.
pub(crate) struct Format {
    /// Elements per scaled sub-block: 16 or 32.
    pub(crate) sub: usize,
    /// The `corr` sum is a min term scaled by `dmin` (Q2_K, Q4_K, Q5_K); otherwise it is the
    /// bias correction and joins the main sum.
    pub(crate) has_min: bool,
    /// Largest unpacked byte: AVX2's `vpmaddubsw` must not saturate (`2·max_u·128 < 2^15`).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) max_u: u8,
    /// Bytes per weight block.
    block: usize,
    unpack: fn(&[u8], &mut Unpacked),
}

/// The tile format of `ty`, if it has one.
pub(crate) fn format(ty: GgmlType) -> Option<&'static Format> {
    use GgmlType::*;
    Some(match ty {
        Q2_K => &Format {
            sub: 16,
            has_min: true,
            max_u: 3,
            block: block::Q2_K,
            unpack: unpack_q2_k,
        },
        Q3_K => &Format {
            sub: 16,
            has_min: false,
            max_u: 7,
            block: block::Q3_K,
            unpack: unpack_q3_k,
        },
        Q4_K => &Format {
            sub: 32,
            has_min: true,
            max_u: 15,
            block: block::Q4_K,
            unpack: unpack_q4_k,
        },
        Q5_K => &Format {
            sub: 32,
            has_min: true,
            max_u: 31,
            block: block::Q5_K,
            unpack: unpack_q5_k,
        },
        Q6_K => &Format {
            sub: 16,
            has_min: false,
            max_u: 63,
            block: block::Q6_K,
            unpack: unpack_q6_k,
        },
        IQ4_XS => &Format {
            sub: 32,
            has_min: false,
            max_u: 241,
            block: block::IQ4_XS,
            unpack: unpack_iq4_xs,
        },
        _ => return None,
    })
}

/// Two i16 factors in one i32 (`lo` against the even `bsum`).
fn pair(lo: i32, hi: i32) -> i32 {
    debug_assert!(i16::try_from(lo).is_ok() && i16::try_from(hi).is_ok());
    (lo as i16 as u16 as u32 | ((hi as i16 as u16 as u32) << 16)) as i32
}

/// Q6_K: `u = q6` (0..63, i.e. quant + 32), bias `−32·sc_s·bsum_s`.
fn unpack_q6_k(x: &[u8], o: &mut Unpacked) {
    let (ql, qh, sc) = (&x[0..128], &x[128..192], &x[192..208]);
    // Element 128c + 32k + l: nibble k/2 of ql[64c + 32(k%2) + l], bits 2k of qh[32c + l].
    for c in 0..2 {
        let (ql, qh) = (&ql[64 * c..64 * c + 64], &qh[32 * c..32 * c + 32]);
        let u = &mut o.u[128 * c..128 * c + 128];
        for l in 0..32 {
            u[l] = (ql[l] & 0x0f) | ((qh[l] & 3) << 4);
            u[32 + l] = (ql[32 + l] & 0x0f) | (((qh[l] >> 2) & 3) << 4);
            u[64 + l] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            u[96 + l] = (ql[32 + l] >> 4) | (((qh[l] >> 6) & 3) << 4);
        }
    }
    for s in 0..16 {
        o.sc[s] = sc[s] as i8 as i32;
    }
    for p in 0..PAIRS {
        o.corr[p] = pair(-32 * o.sc[2 * p], -32 * o.sc[2 * p + 1]);
    }
    o.d = f16_at(x, 208);
    o.dmin = 0.0;
}

/// Q4_K: `u` = the nibble, min term `m_j·(bsum_2j + bsum_2j+1)`.
fn unpack_q4_k(x: &[u8], o: &mut Unpacked) {
    let (sc, m) = scalar::k4_scales_mins(&x[4..16]);
    let qs = &x[16..144];
    for c in 0..4 {
        for l in 0..32 {
            o.u[64 * c + l] = qs[32 * c + l] & 0x0f;
            o.u[64 * c + 32 + l] = qs[32 * c + l] >> 4;
        }
    }
    k4_scales(&sc, &m, o);
    o.d = f16_at(x, 0);
    o.dmin = f16_at(x, 2);
}

/// Q5_K: Q4_K with the fifth bit from `qh`.
fn unpack_q5_k(x: &[u8], o: &mut Unpacked) {
    let (sc, m) = scalar::k4_scales_mins(&x[4..16]);
    let (qh, qs) = (&x[16..48], &x[48..176]);
    for c in 0..4 {
        for l in 0..32 {
            let q = qs[32 * c + l];
            o.u[64 * c + l] = (q & 0x0f) | (((qh[l] >> (2 * c)) & 1) << 4);
            o.u[64 * c + 32 + l] = (q >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
        }
    }
    k4_scales(&sc, &m, o);
    o.d = f16_at(x, 0);
    o.dmin = f16_at(x, 2);
}

/// The scales and min pairs of Q4_K and Q5_K (eight sub-blocks of 32).
fn k4_scales(sc: &[u8; 8], m: &[u8; 8], o: &mut Unpacked) {
    for j in 0..8 {
        o.sc[j] = sc[j] as i32;
        o.corr[j] = pair(m[j] as i32, m[j] as i32);
    }
}

/// Q3_K: `u = q3 + 4` (0..7), bias `−4·sc_s·bsum_s`.
fn unpack_q3_k(x: &[u8], o: &mut Unpacked) {
    let (hmask, q3) = (&x[0..32], &x[32..96]);
    for h in 0..2 {
        for k in 0..4 {
            for l in 0..32 {
                let low = (q3[32 * h + l] >> (2 * k)) & 3;
                let high = (hmask[l] >> (4 * h + k)) & 1;
                o.u[128 * h + 32 * k + l] = low | (high << 2);
            }
        }
    }
    let scales = scalar::q3k_scales(&x[96..108]);
    for s in 0..16 {
        o.sc[s] = scales[s] as i32;
    }
    for p in 0..PAIRS {
        o.corr[p] = pair(-4 * o.sc[2 * p], -4 * o.sc[2 * p + 1]);
    }
    o.d = f16_at(x, 108);
    o.dmin = 0.0;
}

/// Q2_K: `u` = the two bits, min term `(sc_s >> 4)·bsum_s`.
fn unpack_q2_k(x: &[u8], o: &mut Unpacked) {
    let (sc, q2) = (&x[0..16], &x[16..80]);
    for k in 0..2 {
        for j in 0..4 {
            for l in 0..32 {
                o.u[128 * k + 32 * j + l] = (q2[32 * k + l] >> (2 * j)) & 3;
            }
        }
    }
    for s in 0..16 {
        o.sc[s] = (sc[s] & 0x0f) as i32;
    }
    for p in 0..PAIRS {
        o.corr[p] = pair((sc[2 * p] >> 4) as i32, (sc[2 * p + 1] >> 4) as i32);
    }
    o.d = f16_at(x, 80);
    o.dmin = f16_at(x, 82);
}

/// IQ4_XS: `u = kvalue + 128` (1..241), bias `−128·sc_s·(bsum_2s + bsum_2s+1)`.
fn unpack_iq4_xs(x: &[u8], o: &mut Unpacked) {
    for ib in 0..QK_K / 32 {
        let qs = &x[8 + 16 * ib..8 + 16 * ib + 16];
        for j in 0..16 {
            let lo = KVALUES_IQ4NL[(qs[j] & 0x0f) as usize] as i32 + 128;
            let hi = KVALUES_IQ4NL[(qs[j] >> 4) as usize] as i32 + 128;
            o.u[32 * ib + j] = lo as u8;
            o.u[32 * ib + 16 + j] = hi as u8;
        }
        let s = scalar::iq4xs_scale(x, ib);
        o.sc[ib] = s;
        o.corr[ib] = pair(-128 * s, -128 * s);
    }
    o.d = f16_at(x, 0);
    o.dmin = 0.0;
}

/// Up to [`TILE_ROWS`] weight rows unpacked and transposed (rows past the matrix are zero).
#[derive(Default)]
pub(crate) struct Tile {
    /// Blocks per row.
    pub(crate) nb: usize,
    /// `[block][quad][row]`: four unsigned quants each (little-endian, element order).
    pub(crate) q: Vec<u32>,
    /// `[block][sub-block][row]` scales.
    pub(crate) sc: Vec<i32>,
    /// `[block][pair][row]` correction factor pairs.
    pub(crate) corr: Vec<i32>,
    /// `[block][row]` f32 `d` and `dmin`.
    pub(crate) d: Vec<f32>,
    pub(crate) dmin: Vec<f32>,
}

impl Tile {
    /// Sizes the tile for `nb` blocks of `nr` rows: scales, corrections and `d` zeroed, and
    /// the quants zeroed unless a full tile will overwrite every word.
    fn reset(&mut self, nr: usize, nb: usize) {
        self.nb = nb;
        for (v, len) in [(&mut self.sc, 16), (&mut self.corr, PAIRS)] {
            v.clear();
            v.resize(nb * len * TILE_ROWS, 0);
        }
        if nr < TILE_ROWS || self.q.len() != nb * TILE_BLOCK / 4 {
            // Rows past the matrix must be zero.
            self.q.clear();
            self.q.resize(nb * TILE_BLOCK / 4, 0);
        }
        for v in [&mut self.d, &mut self.dmin] {
            v.clear();
            v.resize(nb * TILE_ROWS, 0.0);
        }
    }

    /// Unpacks `nr` (8 or 16) rows of Q4_K from `groups`, the `nr / 8` groups of
    /// [`super::repack`]'s Q4_K×8 layout (`nb` super-blocks per row): the same tile as
    /// [`Tile::fill`] on the file layout, without putting the rows back first. The packed
    /// layout keeps four consecutive quant bytes of each of the eight rows side by side, so a
    /// tile line (one quad of 16 rows) is two 32-byte runs, masked for the low nibbles or shifted
    /// for the high ones.
    fn fill_packed_q4_k(&mut self, groups: &[u8], nr: usize, nb: usize) {
        const GB: usize = super::repack::ROWS * block::Q4_K;
        debug_assert!(nr.is_multiple_of(8) && nr <= TILE_ROWS && groups.len() >= nr / 8 * nb * GB);
        self.reset(nr, nb);
        for b in 0..nb {
            let q = &mut self.q[b * TILE_BLOCK / 4..(b + 1) * TILE_BLOCK / 4];
            for half in 0..nr / 8 {
                prefetch_block(groups, (half * nb + b + 2) * GB, GB);
                let p = &groups[(half * nb + b) * GB..][..GB];
                let r0 = 8 * half;
                for c in 0..4 {
                    for s in 0..8 {
                        let run: &[u8; 32] = p[128 + 256 * c + 32 * s..][..32].try_into().unwrap();
                        let (lo, hi) = (16 * c + s, 16 * c + 8 + s);
                        // Fixed-size runs, so the loops become single vector operations.
                        let w: [u32; 8] = std::array::from_fn(|r| {
                            u32::from_le_bytes(run[4 * r..4 * r + 4].try_into().unwrap())
                        });
                        let lo: &mut [u32; 8] =
                            (&mut q[lo * TILE_ROWS + r0..][..8]).try_into().unwrap();
                        for (o, w) in lo.iter_mut().zip(w) {
                            *o = w & 0x0f0f_0f0f;
                        }
                        let hi: &mut [u32; 8] =
                            (&mut q[hi * TILE_ROWS + r0..][..8]).try_into().unwrap();
                        for (o, w) in hi.iter_mut().zip(w) {
                            *o = (w >> 4) & 0x0f0f_0f0f;
                        }
                    }
                }
                for r in 0..8 {
                    let (sc, m) = super::repack::unpack_k4_scales(&p[32..128], r);
                    for j in 0..8 {
                        self.sc[(b * 16 + j) * TILE_ROWS + r0 + r] = sc[j] as i32;
                        self.corr[(b * PAIRS + j) * TILE_ROWS + r0 + r] =
                            pair(m[j] as i32, m[j] as i32);
                    }
                    self.d[b * TILE_ROWS + r0 + r] = f16_at(p, 2 * r);
                    self.dmin[b * TILE_ROWS + r0 + r] = f16_at(p, 16 + 2 * r);
                }
            }
        }
    }

    /// Unpacks rows `0..nr` of `rows` (`rb` bytes each, `nb` blocks of format `f`).
    fn fill(&mut self, f: &Format, rows: &[u8], rb: usize, nr: usize, nb: usize) {
        debug_assert!(nr <= TILE_ROWS && rows.len() >= nr * rb && rb == nb * f.block);
        self.reset(nr, nb);
        let mut o = Unpacked {
            u: [0; QK_K],
            sc: [0; 16],
            corr: [0; PAIRS],
            d: 0.0,
            dmin: 0.0,
        };
        // Block-major, so the scattered words of one block (4 KB) stay in L1.
        for b in 0..nb {
            for r in 0..nr {
                prefetch_block(rows, r * rb + (b + 2) * f.block, f.block);
                (f.unpack)(&rows[r * rb + b * f.block..][..f.block], &mut o);
                let q = &mut self.q[b * TILE_BLOCK / 4..(b + 1) * TILE_BLOCK / 4];
                for (g, u4) in o.u.chunks_exact(4).enumerate() {
                    q[g * TILE_ROWS + r] = u32::from_le_bytes([u4[0], u4[1], u4[2], u4[3]]);
                }
                for s in 0..QK_K / f.sub {
                    self.sc[(b * 16 + s) * TILE_ROWS + r] = o.sc[s];
                }
                for p in 0..PAIRS {
                    self.corr[(b * PAIRS + p) * TILE_ROWS + r] = o.corr[p];
                }
                self.d[b * TILE_ROWS + r] = o.d;
                self.dmin[b * TILE_ROWS + r] = o.dmin;
            }
        }
    }
}

/// Asks for `rows[off..off + len]` in L1 ahead of its unpacking (16 rows' blocks are read
/// interleaved, more streams than the hardware prefetcher follows); nothing past the slice.
#[inline(always)]
fn prefetch_block(rows: &[u8], off: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for line in (off..(off + len).min(rows.len())).step_by(64) {
        // SAFETY: `line` indexes inside `rows`; a prefetch reads nothing architecturally.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch(rows.as_ptr().add(line) as *const i8, _MM_HINT_T0);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (rows, off, len);
}

/// A microkernel: the tile against tokens `0..n_tok` of `acts` (Q8_K rows of `ab` bytes),
/// writing row `r < nr` token `t` to `out[r * n_tok + t]`. Callers guarantee the CPU features of
/// the kernel, `acts.len() == n_tok * ab` with `ab == tile.nb * 292` and `out.len() >= nr *
/// n_tok`.
pub(crate) type RawTiled = unsafe fn(&Format, &Tile, &[u8], usize, usize, &mut [f32], usize);

/// A tiled product resolved for one weight type and instruction set.
#[derive(Clone, Copy)]
pub(crate) struct Tiled {
    pub(crate) fmt: &'static Format,
    pub(crate) f: RawTiled,
}

thread_local! {
    static TILE: std::cell::RefCell<Tile> = std::cell::RefCell::new(Tile::default());
}

/// `out[r * n_tok + t] = rows[r] · acts[t]` for every weight row of `rows` (`rb` bytes each,
/// `n_cols` elements) and the `n_tok` Q8_K rows of `acts`, a tile of rows at a time.
///
/// # Safety
/// `k.f` must be runnable on this CPU; `rows.len()` a multiple of `rb == n_cols / 256 ·
/// block`, `acts.len() == n_tok · n_cols / 256 · 292` and `out.len() == rows.len() / rb · n_tok`.
pub(crate) unsafe fn gemm(
    k: &Tiled,
    rows: &[u8],
    rb: usize,
    n_cols: usize,
    acts: &[u8],
    n_tok: usize,
    out: &mut [f32],
) {
    let nb = n_cols / QK_K;
    let ab = nb * block::Q8_K;
    let n_rows = rows.len() / rb;
    assert!(
        rb == nb * k.fmt.block && acts.len() == n_tok * ab && out.len() == n_rows * n_tok,
        "tiled gemm: operand sizes"
    );
    // SAFETY: the caller guarantees the kernel's CPU features; the sizes were asserted above.
    unsafe {
        run_tiles(k, n_rows, acts, ab, n_tok, out, |tile, r0, nr| {
            tile.fill(k.fmt, &rows[r0 * rb..], rb, nr, nb)
        })
    }
}

/// The tiles of `n_rows` weight rows, each filled by `fill(tile, r0, nr)` (rows `r0..r0 + nr`
/// for `nb` blocks) and run against the `n_tok` Q8_K rows of `acts` (`ab` bytes each).
///
/// # Safety
/// `k.f` must be runnable on this CPU; `acts.len() == n_tok · ab` and `out.len() == n_rows ·
/// n_tok`; `fill` fills the tile for the blocks of `ab`.
unsafe fn run_tiles(
    k: &Tiled,
    n_rows: usize,
    acts: &[u8],
    ab: usize,
    n_tok: usize,
    out: &mut [f32],
    fill: impl Fn(&mut Tile, usize, usize),
) {
    TILE.with(|tile| {
        let mut tile = tile.borrow_mut();
        for r0 in (0..n_rows).step_by(TILE_ROWS) {
            let nr = TILE_ROWS.min(n_rows - r0);
            fill(&mut tile, r0, nr);
            // SAFETY: the caller guarantees the kernel's CPU features and the sizes; the tile
            // was just filled.
            unsafe { (k.f)(k.fmt, &tile, acts, ab, n_tok, &mut out[r0 * n_tok..], nr) };
        }
    });
}

/// [`gemm`] on a Q4_K matrix in [`super::repack`]'s packed layout (`groups`: whole groups of
/// eight rows), each tile filled straight from two groups ([`Tile::fill_packed_q4_k`]):
/// bit-identical to [`gemm`] on the same rows in the file layout.
///
/// # Safety
/// As [`gemm`], with `k` a Q4_K product and `groups.len()` a multiple of eight rows' bytes.
pub(crate) unsafe fn gemm_packed_q4_k(
    k: &Tiled,
    groups: &[u8],
    n_cols: usize,
    acts: &[u8],
    n_tok: usize,
    out: &mut [f32],
) {
    let nb = n_cols / QK_K;
    let ab = nb * block::Q8_K;
    let rb = nb * block::Q4_K;
    let n_rows = groups.len() / rb;
    assert!(
        k.fmt.block == block::Q4_K
            && n_rows.is_multiple_of(8)
            && groups.len() == n_rows * rb
            && acts.len() == n_tok * ab
            && out.len() == n_rows * n_tok,
        "tiled gemm on packed Q4_K: operand sizes"
    );
    // SAFETY: as in `gemm`.
    unsafe {
        run_tiles(k, n_rows, acts, ab, n_tok, out, |tile, r0, nr| {
            tile.fill_packed_q4_k(&groups[r0 * rb..], nr, nb)
        })
    }
}

/// The scalar twin of the SIMD microkernels on the same tile: the same exact integer sums, the
/// same f32 order (that of the one-row scalar kernel).
///
/// # Safety
/// None beyond the sizes of [`RawTiled`] (checked by slice indexing); `unsafe` only to share the
/// pointer type.
pub(crate) unsafe fn kernel_scalar(
    f: &Format,
    tile: &Tile,
    acts: &[u8],
    ab: usize,
    n_tok: usize,
    out: &mut [f32],
    nr: usize,
) {
    for t in 0..n_tok {
        let a = &acts[t * ab..(t + 1) * ab];
        let mut acc = [0f32; TILE_ROWS];
        for b in 0..tile.nb {
            let y = &a[b * block::Q8_K..(b + 1) * block::Q8_K];
            let q = &tile.q[b * TILE_BLOCK / 4..(b + 1) * TILE_BLOCK / 4];
            let (isum, msum) = block_sums_scalar(f, tile, b, q, y);
            let yd = f32_at(y, 0);
            for r in 0..TILE_ROWS {
                let d = tile.d[b * TILE_ROWS + r] * yd;
                let mut v = d * isum[r] as f32;
                if f.has_min {
                    v -= (tile.dmin[b * TILE_ROWS + r] * yd) * msum[r] as f32;
                }
                acc[r] += v;
            }
        }
        for r in 0..nr {
            out[r * n_tok + t] = acc[r];
        }
    }
}

/// The exact integer sums of block `b` of the tile against one Q8_K block: `(main, min)`.
fn block_sums_scalar(
    f: &Format,
    tile: &Tile,
    b: usize,
    q: &[u32],
    y: &[u8],
) -> ([i32; TILE_ROWS], [i32; TILE_ROWS]) {
    let q8 = &y[4..4 + QK_K];
    let mut isum = [0i32; TILE_ROWS];
    let mut msum = [0i32; TILE_ROWS];
    for s in 0..QK_K / f.sub {
        let mut raw = [0i32; TILE_ROWS];
        for g in s * f.sub / 4..(s + 1) * f.sub / 4 {
            for (r, raw) in raw.iter_mut().enumerate() {
                let u = q[g * TILE_ROWS + r].to_le_bytes();
                for i in 0..4 {
                    *raw += u[i] as i32 * q8[4 * g + i] as i8 as i32;
                }
            }
        }
        for r in 0..TILE_ROWS {
            isum[r] += raw[r] * tile.sc[(b * 16 + s) * TILE_ROWS + r];
        }
    }
    for p in 0..PAIRS {
        let off = 4 + QK_K + 4 * p;
        let b0 = i16::from_le_bytes([y[off], y[off + 1]]) as i32;
        let b1 = i16::from_le_bytes([y[off + 2], y[off + 3]]) as i32;
        for r in 0..TILE_ROWS {
            let c = tile.corr[(b * PAIRS + p) * TILE_ROWS + r];
            let v = (c as i16 as i32) * b0 + ((c >> 16) as i16 as i32) * b1;
            if f.has_min {
                msum[r] += v;
            } else {
                isum[r] += v;
            }
        }
    }
    (isum, msum)
}
