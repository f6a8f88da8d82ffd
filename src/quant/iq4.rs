//! The non-linear 4-bit types IQ4_NL (32-element blocks) and IQ4_XS (256-element super-blocks),
//! ported from llama.cpp `ggml/src/ggml-quants.c`: `quantize_row_iq4_nl_impl` as
//! `quantize_iq4_nl` / `quantize_iq4_xs` call it with no importance matrix (weights `x²`,
//! `ntry = 7`), which is what `ggml_quantize_chunk` and so `llama-quantize` run, and
//! `dequantize_row_iq4_nl` / `dequantize_row_iq4_xs`.
//!
//! `quantize_row_iq4_nl_ref` upstream passes `ntry = -1` (no scale search) and gives different
//! bytes; this module follows the file-writing path, not that one.

use super::grids::KVALUES_IQ4NL;
use super::util::{check_row, nearest_int, read_f16, read_u16, write_f16};
use crate::ggml::QK_K;

pub const QK4_NL: usize = 32;
/// `block_iq4_nl`: d f16, qs[16].
pub const BLOCK_IQ4_NL: usize = 18;
/// `block_iq4_xs`: d f16, scales_h u16, scales_l[4], qs[128].
pub const BLOCK_IQ4_XS: usize = 136;

const GROUP_MAX_EPS: f32 = 1e-15;
/// Scale candidates tried on each side of the initial guess (`ntry` upstream).
pub(super) const NTRY: i32 = 7;

/// `best_index_int8`: index of the table value nearest to `x` (ties go up); NaN maps to 15.
#[inline]
pub(super) fn best_index_int8(val: &[i8; 16], x: f32) -> u8 {
    let n = val.len();
    if x <= val[0] as f32 {
        return 0;
    }
    if x >= val[n - 1] as f32 {
        return (n - 1) as u8;
    }
    let (mut ml, mut mu) = (0usize, n - 1);
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if x < val[mav] as f32 {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if x - (val[mu - 1] as f32) < (val[mu] as f32) - x {
        (mu - 1) as u8
    } else {
        mu as u8
    }
}

/// The per-32 part of `quantize_row_iq4_nl_impl`: best scale for one sub-block by weighted least
/// squares over 2*NTRY+1 candidate inverse scales. Returns 0 for an all-zero sub-block (and
/// then leaves `l` as it was, as upstream does).
pub(super) fn iq4_subblock_scale(xb: &[f32], l: &mut [u8]) -> f32 {
    let values = &KVALUES_IQ4NL;
    let v0 = values[0] as f32;
    let mut weight = [0f32; 32];
    for (w, &v) in weight.iter_mut().zip(xb) {
        *w = v * v;
    }
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in xb {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        return 0.0;
    }
    let mut d = -max / v0;
    let mut id = 1.0 / d;
    let mut sumqx = 0.0f32;
    let mut sumq2 = 0.0f32;
    for j in 0..xb.len() {
        let al = id * xb[j];
        let li = best_index_int8(values, al);
        l[j] = li;
        let q = values[li as usize] as f32;
        let w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
    }
    d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
    let mut best = d * sumqx;
    for itry in -NTRY..=NTRY {
        id = (itry + values[0] as i32) as f32 / max;
        sumqx = 0.0;
        sumq2 = 0.0;
        for j in 0..xb.len() {
            let al = id * xb[j];
            let li = best_index_int8(values, al);
            let q = values[li as usize] as f32;
            let w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    d
}

/// Packs 32 4-bit indices: low nibble element j, high nibble element j+16.
#[inline]
fn pack_nibbles(l: &[u8], q4: &mut [u8]) {
    for j in 0..16 {
        q4[j] = l[j] | (l[16 + j] << 4);
    }
}

/// `quantize_iq4_nl` (no imatrix) = `quantize_row_iq4_nl_impl(32, 32, ..., ntry = 7)` per block.
/// Searches eight blocks' scales at once; same bytes as [`quantize_row_iq4_nl_scalar`].
pub fn quantize_row_iq4_nl(src: &[f32], dst: &mut [u8]) {
    super::lanes::quantize_row_iq4_nl(src, dst)
}

/// `quantize_iq4_nl`, one block at a time: the scalar twin of [`quantize_row_iq4_nl`].
pub fn quantize_row_iq4_nl_scalar(src: &[f32], dst: &mut [u8]) {
    check_row(
        "quantize_row_iq4_nl",
        src.len(),
        dst.len(),
        QK4_NL,
        BLOCK_IQ4_NL,
    );
    // Upstream reuses one stack array for L across blocks; an all-zero block overwrites it
    // in write_iq4_nl_block in any case, so its starting contents never reach the output.
    let mut l = [0u8; QK4_NL];
    for (x, y) in src
        .chunks_exact(QK4_NL)
        .zip(dst.chunks_exact_mut(BLOCK_IQ4_NL))
    {
        let scale = iq4_subblock_scale(x, &mut l);
        write_iq4_nl_block(x, y, scale);
    }
}

/// The rest of `quantize_iq4_nl` for one block once its scale is known.
pub(super) fn write_iq4_nl_block(x: &[f32], y: &mut [u8], scale: f32) {
    let mut l = [0u8; QK4_NL];
    write_f16(y, 0, scale);
    let id = if scale != 0.0 { 1.0 / scale } else { 0.0 };
    for j in 0..QK4_NL {
        l[j] = best_index_int8(&KVALUES_IQ4NL, id * x[j]);
    }
    pack_nibbles(&l, &mut y[2..18]);
}

/// `dequantize_row_iq4_nl`.
pub fn dequantize_row_iq4_nl(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_iq4_nl",
        dst.len(),
        src.len(),
        QK4_NL,
        BLOCK_IQ4_NL,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_IQ4_NL)
        .zip(dst.chunks_exact_mut(QK4_NL))
    {
        let d = read_f16(b, 0);
        for j in 0..QK4_NL / 2 {
            let q = b[2 + j];
            y[j] = d * KVALUES_IQ4NL[(q & 0x0f) as usize] as f32;
            y[j + QK4_NL / 2] = d * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
        }
    }
}

/// `quantize_iq4_xs` (no imatrix) = `quantize_row_iq4_nl_impl(QK_K, 32, ..., ntry = 7)`: a scale
/// per 32 weights, then those 8 scales quantized to 6 bits against `d = -max_scale / 32`.
/// Searches the eight sub-blocks' scales at once; same bytes as
/// [`quantize_row_iq4_xs_scalar`].
pub fn quantize_row_iq4_xs(src: &[f32], dst: &mut [u8]) {
    super::lanes::quantize_row_iq4_xs(src, dst)
}

/// `quantize_iq4_xs`, one sub-block at a time: the scalar twin of [`quantize_row_iq4_xs`].
pub fn quantize_row_iq4_xs_scalar(src: &[f32], dst: &mut [u8]) {
    check_row(
        "quantize_row_iq4_xs",
        src.len(),
        dst.len(),
        QK_K,
        BLOCK_IQ4_XS,
    );
    let mut l = [0u8; QK_K];
    let mut scales = [0f32; QK_K / 32];
    for (x, y) in src
        .chunks_exact(QK_K)
        .zip(dst.chunks_exact_mut(BLOCK_IQ4_XS))
    {
        for ib in 0..QK_K / 32 {
            scales[ib] =
                iq4_subblock_scale(&x[32 * ib..32 * ib + 32], &mut l[32 * ib..32 * ib + 32]);
        }
        write_iq4_xs_block(x, y, &scales);
    }
}

/// The rest of `quantize_iq4_xs` once each sub-block has its scale: the 6-bit scales, the
/// quants and their packing into `block_iq4_xs` `y`.
pub(super) fn write_iq4_xs_block(x: &[f32], y: &mut [u8], scales: &[f32; QK_K / 32]) {
    let values = &KVALUES_IQ4NL;
    let mut l = [0u8; QK_K];
    y.fill(0);
    let mut max_scale = 0.0f32;
    let mut amax_scale = 0.0f32;
    for &d in scales {
        if d.abs() > amax_scale {
            amax_scale = d.abs();
            max_scale = d;
        }
    }
    // An all-zero super-block stores d = -0.0 (0x8000), as upstream does.
    let d = -max_scale / 32.0;
    write_f16(y, 0, d);
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut scales_h: u16 = 0;
    for ib in 0..QK_K / 32 {
        let ls = nearest_int(id * scales[ib]).clamp(-32, 31);
        let dl = d * ls as f32;
        let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
        for j in 0..32 {
            l[32 * ib + j] = best_index_int8(values, idl * x[32 * ib + j]);
        }
        let lu = (ls + 32) as u8;
        let (l_l, l_h) = (lu & 0x0f, lu >> 4);
        if ib % 2 == 0 {
            y[4 + ib / 2] = l_l;
        } else {
            y[4 + ib / 2] |= l_l << 4;
        }
        scales_h |= (l_h as u16) << (2 * (ib % 8));
    }
    y[2..4].copy_from_slice(&scales_h.to_le_bytes());
    for i in 0..QK_K / 32 {
        pack_nibbles(&l[32 * i..32 * i + 32], &mut y[8 + 16 * i..8 + 16 * i + 16]);
    }
}

/// `dequantize_row_iq4_xs`.
pub fn dequantize_row_iq4_xs(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_iq4_xs",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_IQ4_XS,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_IQ4_XS)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, 0);
        let scales_h = read_u16(b, 2);
        for ib in 0..QK_K / 32 {
            let lo = (b[4 + ib / 2] >> (4 * (ib % 2))) & 0x0f;
            let hi = ((scales_h >> (2 * ib)) & 3) as u8;
            let ls = (lo | (hi << 4)) as i32;
            let dl = d * (ls - 32) as f32;
            let qs = &b[8 + 16 * ib..8 + 16 * ib + 16];
            let out = &mut y[32 * ib..32 * ib + 32];
            for j in 0..16 {
                out[j] = dl * KVALUES_IQ4NL[(qs[j] & 0x0f) as usize] as f32;
                out[j + 16] = dl * KVALUES_IQ4NL[(qs[j] >> 4) as usize] as f32;
            }
        }
    }
}
