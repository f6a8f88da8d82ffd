//! Dequantizers for the grid-based i-quants IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S and
//! IQ1_M, ported from llama.cpp `ggml/src/ggml-quants.c` (`dequantize_row_iq2_xxs` ...
//! `dequantize_row_iq1_m`), with the lookup tables of [`super::grids`].
//!
//! Their quantizers need an importance matrix and search tables built at run time
//! (`ggml_quantize_init`), so vramplan reads these types but does not write them.

use super::grids::{
    IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID, KMASK_IQ2XS,
    KSIGNS_IQ2XS,
};
use super::util::{check_row, fp16_to_fp32, read_f16, read_u16, read_u32};
use crate::ggml::QK_K;

/// `block_iq2_xxs`: d f16, qs u16[32].
pub const BLOCK_IQ2_XXS: usize = 66;
/// `block_iq2_xs`: d f16, qs u16[32], scales[8].
pub const BLOCK_IQ2_XS: usize = 74;
/// `block_iq2_s`: d f16, qs[64] (32 grid bytes, then 32 sign bytes), qh[8], scales[8].
pub const BLOCK_IQ2_S: usize = 82;
/// `block_iq3_xxs`: d f16, qs[96] (64 grid bytes, then 8 u32 scale-and-sign words).
pub const BLOCK_IQ3_XXS: usize = 98;
/// `block_iq3_s`: d f16, qs[64], qh[8], signs[32], scales[4].
pub const BLOCK_IQ3_S: usize = 110;
/// `block_iq1_s`: d f16, qs[32], qh u16[8].
pub const BLOCK_IQ1_S: usize = 50;
/// `block_iq1_m`: qs[32], qh[16], scales[8] (the f16 d is spread over the scales' top nibbles).
pub const BLOCK_IQ1_M: usize = 56;

/// `IQ1S_DELTA` and `IQ1M_DELTA`.
const IQ1_DELTA: f32 = 0.125;

/// Byte `j` of a packed grid entry (the C code reads the table through a `uint8_t *`).
#[inline]
fn grid_byte(entry: u64, j: usize) -> u8 {
    (entry >> (8 * j)) as u8
}

/// `y[j] = dl * grid[j] * (sign bit j ? -1 : 1)` for 8 weights, the common IQ2 inner loop.
#[inline]
fn emit8(y: &mut [f32], dl: f32, entry: u64, signs: u8) {
    for j in 0..8 {
        let s = if signs & KMASK_IQ2XS[j] != 0 {
            -1.0
        } else {
            1.0
        };
        y[j] = dl * grid_byte(entry, j) as f32 * s;
    }
}

/// `dequantize_row_iq2_xxs`.
pub fn dequantize_row_iq2_xxs(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_iq2_xxs",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_IQ2_XXS,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_IQ2_XXS)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, 0);
        for ib32 in 0..QK_K / 32 {
            let off = 2 + 8 * ib32;
            let aux0 = &b[off..off + 4];
            let aux1 = read_u32(b, off + 4);
            let db = d * (0.5 + (aux1 >> 28) as f32) * 0.25;
            for l in 0..4 {
                let entry = IQ2XXS_GRID[aux0[l] as usize];
                let signs = KSIGNS_IQ2XS[((aux1 >> (7 * l)) & 127) as usize];
                emit8(&mut y[32 * ib32 + 8 * l..], db, entry, signs);
            }
        }
    }
}

/// `dequantize_row_iq2_xs`.
pub fn dequantize_row_iq2_xs(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_iq2_xs",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_IQ2_XS,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_IQ2_XS)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, 0);
        let scales = &b[66..74];
        for ib32 in 0..QK_K / 32 {
            let db = [
                d * (0.5 + (scales[ib32] & 0x0f) as f32) * 0.25,
                d * (0.5 + (scales[ib32] >> 4) as f32) * 0.25,
            ];
            for l in 0..4 {
                let q = read_u16(b, 2 + 2 * (4 * ib32 + l));
                let entry = IQ2XS_GRID[(q & 511) as usize];
                let signs = KSIGNS_IQ2XS[(q >> 9) as usize];
                emit8(&mut y[32 * ib32 + 8 * l..], db[l / 2], entry, signs);
            }
        }
    }
}

/// `dequantize_row_iq2_s`.
pub fn dequantize_row_iq2_s(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_iq2_s",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_IQ2_S,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_IQ2_S)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, 0);
        let qs = &b[2..34];
        let signs = &b[34..66];
        let qh = &b[66..74];
        let scales = &b[74..82];
        for ib32 in 0..QK_K / 32 {
            let db = [
                d * (0.5 + (scales[ib32] & 0x0f) as f32) * 0.25,
                d * (0.5 + (scales[ib32] >> 4) as f32) * 0.25,
            ];
            for l in 0..4 {
                let idx =
                    qs[4 * ib32 + l] as usize | (((qh[ib32] as usize) << (8 - 2 * l)) & 0x300);
                emit8(
                    &mut y[32 * ib32 + 8 * l..],
                    db[l / 2],
                    IQ2S_GRID[idx],
                    signs[4 * ib32 + l],
                );
            }
        }
    }
}

/// Byte `j` of a 4-weight IQ3 grid entry.
#[inline]
fn grid3_byte(entry: u32, j: usize) -> u8 {
    (entry >> (8 * j)) as u8
}

/// Eight IQ3 weights from two 4-entry grid rows and one sign byte.
#[inline]
fn emit3x8(y: &mut [f32], db: f32, g1: u32, g2: u32, signs: u8) {
    for j in 0..4 {
        let s1 = if signs & KMASK_IQ2XS[j] != 0 {
            -1.0
        } else {
            1.0
        };
        let s2 = if signs & KMASK_IQ2XS[j + 4] != 0 {
            -1.0
        } else {
            1.0
        };
        y[j] = db * grid3_byte(g1, j) as f32 * s1;
        y[j + 4] = db * grid3_byte(g2, j) as f32 * s2;
    }
}

/// `dequantize_row_iq3_xxs`.
pub fn dequantize_row_iq3_xxs(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_iq3_xxs",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_IQ3_XXS,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_IQ3_XXS)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, 0);
        let qs = &b[2..66];
        for ib32 in 0..QK_K / 32 {
            let aux32 = read_u32(b, 66 + 4 * ib32);
            let db = d * (0.5 + (aux32 >> 28) as f32) * 0.5;
            let q = &qs[8 * ib32..8 * ib32 + 8];
            for l in 0..4 {
                let signs = KSIGNS_IQ2XS[((aux32 >> (7 * l)) & 127) as usize];
                let g1 = IQ3XXS_GRID[q[2 * l] as usize];
                let g2 = IQ3XXS_GRID[q[2 * l + 1] as usize];
                emit3x8(&mut y[32 * ib32 + 8 * l..], db, g1, g2, signs);
            }
        }
    }
}

/// `dequantize_row_iq3_s`.
pub fn dequantize_row_iq3_s(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_iq3_s",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_IQ3_S,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_IQ3_S)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, 0);
        let qs = &b[2..66];
        let qh = &b[66..74];
        let signs = &b[74..106];
        let scales = &b[106..110];
        // Each 32-weight group ib32 uses qs[8*ib32..], signs[4*ib32..], qh[ib32]; the scale
        // nibble is the low one for even ib32 and the high one for odd.
        for ib32 in 0..QK_K / 32 {
            let sc = scales[ib32 / 2];
            let nib = if ib32 % 2 == 0 { sc & 0x0f } else { sc >> 4 };
            let db = d * (1 + 2 * nib as i32) as f32;
            let q = &qs[8 * ib32..8 * ib32 + 8];
            let h = qh[ib32] as usize;
            for l in 0..4 {
                let i1 = q[2 * l] as usize | ((h << (8 - 2 * l)) & 256);
                let i2 = q[2 * l + 1] as usize | ((h << (7 - 2 * l)) & 256);
                emit3x8(
                    &mut y[32 * ib32 + 8 * l..],
                    db,
                    IQ3S_GRID[i1],
                    IQ3S_GRID[i2],
                    signs[4 * ib32 + l],
                );
            }
        }
    }
}

/// Eight IQ1 weights: `dl * (grid[j] + delta)` with grid values in {-1, 0, 1}.
#[inline]
fn emit1x8(y: &mut [f32], dl: f32, entry: u64, delta: f32) {
    for j in 0..8 {
        y[j] = dl * ((grid_byte(entry, j) as i8) as f32 + delta);
    }
}

/// `dequantize_row_iq1_s`.
pub fn dequantize_row_iq1_s(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_iq1_s",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_IQ1_S,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_IQ1_S)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, 0);
        let qs = &b[2..34];
        for ib in 0..QK_K / 32 {
            let qh = read_u16(b, 34 + 2 * ib);
            let dl = d * (2 * ((qh >> 12) & 7) as i32 + 1) as f32;
            let delta = if qh & 0x8000 != 0 {
                -IQ1_DELTA
            } else {
                IQ1_DELTA
            };
            for l in 0..4 {
                let idx = qs[4 * ib + l] as usize | ((((qh >> (3 * l)) & 7) as usize) << 8);
                emit1x8(&mut y[32 * ib + 8 * l..], dl, IQ1S_GRID[idx], delta);
            }
        }
    }
}

/// `dequantize_row_iq1_m`.
pub fn dequantize_row_iq1_m(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_iq1_m",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_IQ1_M,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_IQ1_M)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let qs = &b[0..32];
        let qh = &b[32..48];
        let sc = [
            read_u16(b, 48),
            read_u16(b, 50),
            read_u16(b, 52),
            read_u16(b, 54),
        ];
        // The f16 super-block scale is the top nibble of each of the four u16 scale words.
        let d_bits =
            (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
        let d = fp16_to_fp32(d_bits);
        for ib in 0..QK_K / 32 {
            let s = sc[ib / 2];
            let dl1 = d * (2 * ((s >> (6 * (ib % 2))) & 7) as i32 + 1) as f32;
            let dl2 = d * (2 * ((s >> (6 * (ib % 2) + 3)) & 7) as i32 + 1) as f32;
            let q = &qs[4 * ib..4 * ib + 4];
            let (h0, h1) = (qh[2 * ib] as usize, qh[2 * ib + 1] as usize);
            let idx = [
                q[0] as usize | ((h0 << 8) & 0x700),
                q[1] as usize | ((h0 << 4) & 0x700),
                q[2] as usize | ((h1 << 8) & 0x700),
                q[3] as usize | ((h1 << 4) & 0x700),
            ];
            let sign = |h: usize, bit: usize| {
                if h & bit != 0 {
                    -IQ1_DELTA
                } else {
                    IQ1_DELTA
                }
            };
            let delta = [
                sign(h0, 0x08),
                sign(h0, 0x80),
                sign(h1, 0x08),
                sign(h1, 0x80),
            ];
            for l in 0..4 {
                let dl = if l < 2 { dl1 } else { dl2 };
                emit1x8(&mut y[32 * ib + 8 * l..], dl, IQ1S_GRID[idx[l]], delta[l]);
            }
        }
    }
}
