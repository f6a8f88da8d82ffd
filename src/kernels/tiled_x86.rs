//! The x86-64 microkernels of [`super::tiled`]: AVX-512 VNNI (`vpdpbusd` on 16 rows in the
//! lanes of a 512-bit register) and AVX2 (`vpmaddubsw` + `vpmaddwd` on 8 rows, twice). Both
//! compute the exact integer sums of the scalar twin and scale them in its f32 order, so the
//! results are bit-identical to it.

use std::arch::x86_64::*;

use super::block::{self, QK_K};
use super::tiled::{Format, Tile, TILE_ROWS};

/// Correction pairs per block.
const PAIRS: usize = 8;
/// Bytes of one block of the transposed tile.
const TILE_BLOCK: usize = QK_K / 4 * TILE_ROWS * 4;
/// Offset of `bsums` in a Q8_K block.
const BSUMS: usize = 4 + QK_K;

/// The four bytes at `p` as an i32 (unaligned).
///
/// # Safety
/// `p..p + 4` must be readable.
#[inline(always)]
unsafe fn rd32(p: *const u8) -> i32 {
    // SAFETY: the caller guarantees four readable bytes.
    unsafe { (p as *const i32).read_unaligned() }
}

/// The AVX-512 VNNI microkernel ([`super::tiled::RawTiled`]).
///
/// # Safety
/// The CPU must have AVX-512 F/BW/VL/VNNI; sizes as [`super::tiled::RawTiled`] states.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn kernel_avx512(
    f: &Format,
    tile: &Tile,
    acts: &[u8],
    ab: usize,
    n_tok: usize,
    out: &mut [f32],
    nr: usize,
) {
    assert!(acts.len() >= n_tok * ab && ab >= tile.nb * block::Q8_K && out.len() >= nr * n_tok);
    assert!(tile.q.len() * 4 >= tile.nb * TILE_BLOCK && tile.d.len() >= tile.nb * TILE_ROWS);
    let mut t = 0;
    while t < n_tok {
        let mut res = [[0f32; TILE_ROWS]; 8];
        // SAFETY: AVX-512 VNNI by this function's contract; tokens `t..t + T` lie in `acts`
        // (asserted above) and the tile holds `nb` blocks.
        let n = unsafe {
            match (n_tok - t >= 8, f.sub, f.has_min) {
                (true, 16, false) => group512::<8, 16, false>(tile, acts, ab, t, &mut res),
                (true, 16, true) => group512::<8, 16, true>(tile, acts, ab, t, &mut res),
                (true, _, false) => group512::<8, 32, false>(tile, acts, ab, t, &mut res),
                (true, _, true) => group512::<8, 32, true>(tile, acts, ab, t, &mut res),
                (false, 16, false) => group512::<1, 16, false>(tile, acts, ab, t, &mut res),
                (false, 16, true) => group512::<1, 16, true>(tile, acts, ab, t, &mut res),
                (false, _, false) => group512::<1, 32, false>(tile, acts, ab, t, &mut res),
                (false, _, true) => group512::<1, 32, true>(tile, acts, ab, t, &mut res),
            }
        };
        for (i, v) in res[..n].iter().enumerate() {
            for r in 0..nr {
                out[r * n_tok + t + i] = v[r];
            }
        }
        t += n;
    }
}

/// `T` tokens from `t0` against the 16 rows of the tile; returns `T`.
///
/// # Safety
/// AVX-512 VNNI; tokens `t0..t0 + T` and the tile's `nb` blocks in bounds (checked by the
/// caller).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn group512<const T: usize, const SUB: usize, const MIN: bool>(
    tile: &Tile,
    acts: &[u8],
    ab: usize,
    t0: usize,
    res: &mut [[f32; TILE_ROWS]; 8],
) -> usize {
    let a0 = acts[t0 * ab..].as_ptr();
    let mut acc = [_mm512_setzero_ps(); T];
    for b in 0..tile.nb {
        // SAFETY (whole block): every pointer below stays inside block `b` of the tile's
        // vectors or inside token rows `t0..t0 + T` of `acts`, all checked by the caller.
        unsafe {
            let y = a0.add(b * block::Q8_K);
            let q = tile.q.as_ptr().add(b * TILE_BLOCK / 4);
            let sc = tile.sc.as_ptr().add(b * 16 * TILE_ROWS);
            let mut isum = [_mm512_setzero_si512(); T];
            for s in 0..QK_K / SUB {
                let mut raw = [_mm512_setzero_si512(); T];
                for g in s * SUB / 4..(s + 1) * SUB / 4 {
                    let w = _mm512_loadu_si512(q.add(g * TILE_ROWS) as *const _);
                    for (i, raw) in raw.iter_mut().enumerate() {
                        let a = _mm512_set1_epi32(rd32(y.add(i * ab + 4 + 4 * g)));
                        *raw = _mm512_dpbusd_epi32(*raw, w, a);
                    }
                }
                let scv = _mm512_loadu_si512(sc.add(s * TILE_ROWS) as *const _);
                for i in 0..T {
                    isum[i] = _mm512_add_epi32(isum[i], _mm512_mullo_epi32(raw[i], scv));
                }
            }
            let corr = tile.corr.as_ptr().add(b * PAIRS * TILE_ROWS);
            let mut msum = [_mm512_setzero_si512(); T];
            for p in 0..PAIRS {
                let c = _mm512_loadu_si512(corr.add(p * TILE_ROWS) as *const _);
                for i in 0..T {
                    let bp = _mm512_set1_epi32(rd32(y.add(i * ab + BSUMS + 4 * p)));
                    if MIN {
                        msum[i] = _mm512_dpwssd_epi32(msum[i], c, bp);
                    } else {
                        isum[i] = _mm512_dpwssd_epi32(isum[i], c, bp);
                    }
                }
            }
            // f32 in the scalar kernel's order: acc + ((dw·yd)·isum − (dmin·yd)·msum).
            let dw = _mm512_loadu_ps(tile.d.as_ptr().add(b * TILE_ROWS));
            let dm = _mm512_loadu_ps(tile.dmin.as_ptr().add(b * TILE_ROWS));
            for i in 0..T {
                let yd = _mm512_set1_ps((y.add(i * ab) as *const f32).read_unaligned());
                let mut v = _mm512_mul_ps(_mm512_mul_ps(dw, yd), _mm512_cvtepi32_ps(isum[i]));
                if MIN {
                    let m = _mm512_mul_ps(_mm512_mul_ps(dm, yd), _mm512_cvtepi32_ps(msum[i]));
                    v = _mm512_sub_ps(v, m);
                }
                acc[i] = _mm512_add_ps(acc[i], v);
            }
        }
    }
    for i in 0..T {
        // SAFETY: `res[i]` holds 16 f32.
        unsafe { _mm512_storeu_ps(res[i].as_mut_ptr(), acc[i]) };
    }
    T
}

/// The AVX2 microkernel ([`super::tiled::RawTiled`]); formats whose bytes exceed 63 would
/// saturate `vpmaddubsw` and are not served (see [`Format::max_u`]).
///
/// # Safety
/// The CPU must have AVX2 and FMA; sizes as [`super::tiled::RawTiled`] states.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn kernel_avx2(
    f: &Format,
    tile: &Tile,
    acts: &[u8],
    ab: usize,
    n_tok: usize,
    out: &mut [f32],
    nr: usize,
) {
    assert!(f.max_u <= 63, "vpmaddubsw would saturate");
    assert!(acts.len() >= n_tok * ab && ab >= tile.nb * block::Q8_K && out.len() >= nr * n_tok);
    assert!(tile.q.len() * 4 >= tile.nb * TILE_BLOCK && tile.d.len() >= tile.nb * TILE_ROWS);
    let mut t = 0;
    while t < n_tok {
        let mut res = [[0f32; TILE_ROWS]; 4];
        for half in 0..2 {
            // SAFETY: AVX2 by this function's contract; tokens in bounds (asserted above).
            unsafe {
                match (n_tok - t >= 4, f.sub, f.has_min) {
                    (true, 16, false) => {
                        group256::<4, 16, false>(tile, acts, ab, t, half, &mut res)
                    }
                    (true, 16, true) => group256::<4, 16, true>(tile, acts, ab, t, half, &mut res),
                    (true, _, false) => group256::<4, 32, false>(tile, acts, ab, t, half, &mut res),
                    (true, _, true) => group256::<4, 32, true>(tile, acts, ab, t, half, &mut res),
                    (false, 16, false) => {
                        group256::<1, 16, false>(tile, acts, ab, t, half, &mut res)
                    }
                    (false, 16, true) => group256::<1, 16, true>(tile, acts, ab, t, half, &mut res),
                    (false, _, false) => {
                        group256::<1, 32, false>(tile, acts, ab, t, half, &mut res)
                    }
                    (false, _, true) => group256::<1, 32, true>(tile, acts, ab, t, half, &mut res),
                }
            }
        }
        let n = if n_tok - t >= 4 { 4 } else { 1 };
        for (i, v) in res[..n].iter().enumerate() {
            for r in 0..nr {
                out[r * n_tok + t + i] = v[r];
            }
        }
        t += n;
    }
}

/// `T` tokens from `t0` against rows `8·half..8·half + 8` of the tile, into `res[..T]`.
///
/// # Safety
/// AVX2; tokens `t0..t0 + T` and the tile's `nb` blocks in bounds (checked by the caller).
#[target_feature(enable = "avx2,fma")]
unsafe fn group256<const T: usize, const SUB: usize, const MIN: bool>(
    tile: &Tile,
    acts: &[u8],
    ab: usize,
    t0: usize,
    half: usize,
    res: &mut [[f32; TILE_ROWS]; 4],
) {
    let a0 = acts[t0 * ab..].as_ptr();
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); T];
    for b in 0..tile.nb {
        // SAFETY (whole block): as in `group512`, every pointer stays inside block `b` of the
        // tile (offset by the half's 8 rows) or inside token rows `t0..t0 + T`.
        unsafe {
            let y = a0.add(b * block::Q8_K);
            let q = tile.q.as_ptr().add(b * TILE_BLOCK / 4 + 8 * half);
            let sc = tile.sc.as_ptr().add(b * 16 * TILE_ROWS + 8 * half);
            let mut isum = [_mm256_setzero_si256(); T];
            for s in 0..QK_K / SUB {
                let mut raw = [_mm256_setzero_si256(); T];
                for g in s * SUB / 4..(s + 1) * SUB / 4 {
                    let w = _mm256_loadu_si256(q.add(g * TILE_ROWS) as *const _);
                    for (i, raw) in raw.iter_mut().enumerate() {
                        let a = _mm256_set1_epi32(rd32(y.add(i * ab + 4 + 4 * g)));
                        let p = _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), ones);
                        *raw = _mm256_add_epi32(*raw, p);
                    }
                }
                let scv = _mm256_loadu_si256(sc.add(s * TILE_ROWS) as *const _);
                for i in 0..T {
                    isum[i] = _mm256_add_epi32(isum[i], _mm256_mullo_epi32(raw[i], scv));
                }
            }
            let corr = tile.corr.as_ptr().add(b * PAIRS * TILE_ROWS + 8 * half);
            let mut msum = [_mm256_setzero_si256(); T];
            for p in 0..PAIRS {
                let c = _mm256_loadu_si256(corr.add(p * TILE_ROWS) as *const _);
                for i in 0..T {
                    let bp = _mm256_set1_epi32(rd32(y.add(i * ab + BSUMS + 4 * p)));
                    let v = _mm256_madd_epi16(c, bp);
                    if MIN {
                        msum[i] = _mm256_add_epi32(msum[i], v);
                    } else {
                        isum[i] = _mm256_add_epi32(isum[i], v);
                    }
                }
            }
            let dw = _mm256_loadu_ps(tile.d.as_ptr().add(b * TILE_ROWS + 8 * half));
            let dm = _mm256_loadu_ps(tile.dmin.as_ptr().add(b * TILE_ROWS + 8 * half));
            for i in 0..T {
                let yd = _mm256_set1_ps((y.add(i * ab) as *const f32).read_unaligned());
                let mut v = _mm256_mul_ps(_mm256_mul_ps(dw, yd), _mm256_cvtepi32_ps(isum[i]));
                if MIN {
                    let m = _mm256_mul_ps(_mm256_mul_ps(dm, yd), _mm256_cvtepi32_ps(msum[i]));
                    v = _mm256_sub_ps(v, m);
                }
                acc[i] = _mm256_add_ps(acc[i], v);
            }
        }
    }
    for i in 0..T {
        // SAFETY: `res[i][8·half..]` holds 8 f32.
        unsafe { _mm256_storeu_ps(res[i].as_mut_ptr().add(8 * half), acc[i]) };
    }
}
