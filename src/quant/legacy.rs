//! The legacy 32-element block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the activation format
//! Q8_1, ported from llama.cpp `ggml/src/ggml-quants.c` (`quantize_row_q4_0_ref` ...
//! `quantize_row_q8_1_ref`, `dequantize_row_q4_0` ... `dequantize_row_q8_0`).
//!
//! `quantize_q4_0` and friends call these `_ref` paths when no importance matrix is given, so
//! this is what `llama-quantize` writes. Float operations keep the C order; C's float-to-int
//! casts truncate (see [`c_f32_to_i32`]), Q8 uses `roundf` (half away from zero).

use super::util::{c_f32_to_i32, check_row, fp32_to_fp16, read_f16, read_u32, write_f16};

pub const QK4_0: usize = 32;
pub const QK4_1: usize = 32;
pub const QK5_0: usize = 32;
pub const QK5_1: usize = 32;
pub const QK8_0: usize = 32;
pub const QK8_1: usize = 32;

/// `block_q4_0`: d f16, qs[16].
pub const BLOCK_Q4_0: usize = 18;
/// `block_q4_1`: d f16, m f16, qs[16].
pub const BLOCK_Q4_1: usize = 20;
/// `block_q5_0`: d f16, qh u32 (as 4 bytes), qs[16].
pub const BLOCK_Q5_0: usize = 22;
/// `block_q5_1`: d f16, m f16, qh[4], qs[16].
pub const BLOCK_Q5_1: usize = 24;
/// `block_q8_0`: d f16, qs i8[32].
pub const BLOCK_Q8_0: usize = 34;
/// `block_q8_1`: d f16, s f16 (= d * sum of qs), qs i8[32].
pub const BLOCK_Q8_1: usize = 36;

/// The signed value with the largest magnitude (first one wins; NaN never wins), as the
/// `amax < fabsf(v)` loops of the symmetric quantizers pick it.
#[inline]
fn signed_absmax(x: &[f32]) -> f32 {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// Minimum and maximum as the `v < min` / `v > max` loops of the asymmetric quantizers see them.
#[inline]
fn min_max(x: &[f32]) -> (f32, f32) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// `quantize_row_q4_0_ref`.
pub fn quantize_row_q4_0(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q4_0", src.len(), dst.len(), QK4_0, BLOCK_Q4_0);
    for (x, y) in src
        .chunks_exact(QK4_0)
        .zip(dst.chunks_exact_mut(BLOCK_Q4_0))
    {
        let max = signed_absmax(x);
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        write_f16(y, 0, d);
        for j in 0..QK4_0 / 2 {
            let x0 = x[j] * id;
            let x1 = x[QK4_0 / 2 + j] * id;
            // MIN(15, (int8_t)(x + 8.5f)) stored in a uint8_t.
            let xi0 = (c_f32_to_i32(x0 + 8.5) as i8).min(15) as u8;
            let xi1 = (c_f32_to_i32(x1 + 8.5) as i8).min(15) as u8;
            y[2 + j] = xi0 | (xi1 << 4);
        }
    }
}

/// `dequantize_row_q4_0`.
pub fn dequantize_row_q4_0(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_q4_0",
        dst.len(),
        src.len(),
        QK4_0,
        BLOCK_Q4_0,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_Q4_0)
        .zip(dst.chunks_exact_mut(QK4_0))
    {
        let d = read_f16(b, 0);
        for j in 0..QK4_0 / 2 {
            let q = b[2 + j];
            y[j] = ((q & 0x0f) as i32 - 8) as f32 * d;
            y[j + QK4_0 / 2] = ((q >> 4) as i32 - 8) as f32 * d;
        }
    }
}

/// `quantize_row_q4_1_ref`.
pub fn quantize_row_q4_1(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q4_1", src.len(), dst.len(), QK4_1, BLOCK_Q4_1);
    for (x, y) in src
        .chunks_exact(QK4_1)
        .zip(dst.chunks_exact_mut(BLOCK_Q4_1))
    {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        write_f16(y, 0, d);
        write_f16(y, 2, min);
        for j in 0..QK4_1 / 2 {
            let x0 = (x[j] - min) * id;
            let x1 = (x[QK4_1 / 2 + j] - min) * id;
            let xi0 = (c_f32_to_i32(x0 + 0.5) as i8).min(15) as u8;
            let xi1 = (c_f32_to_i32(x1 + 0.5) as i8).min(15) as u8;
            y[4 + j] = xi0 | (xi1 << 4);
        }
    }
}

/// `dequantize_row_q4_1`.
pub fn dequantize_row_q4_1(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_q4_1",
        dst.len(),
        src.len(),
        QK4_1,
        BLOCK_Q4_1,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_Q4_1)
        .zip(dst.chunks_exact_mut(QK4_1))
    {
        let d = read_f16(b, 0);
        let m = read_f16(b, 2);
        for j in 0..QK4_1 / 2 {
            let q = b[4 + j];
            y[j] = (q & 0x0f) as f32 * d + m;
            y[j + QK4_1 / 2] = (q >> 4) as f32 * d + m;
        }
    }
}

/// `quantize_row_q5_0_ref`.
pub fn quantize_row_q5_0(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q5_0", src.len(), dst.len(), QK5_0, BLOCK_Q5_0);
    for (x, y) in src
        .chunks_exact(QK5_0)
        .zip(dst.chunks_exact_mut(BLOCK_Q5_0))
    {
        let max = signed_absmax(x);
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        write_f16(y, 0, d);
        let mut qh: u32 = 0;
        for j in 0..QK5_0 / 2 {
            let x0 = x[j] * id;
            let x1 = x[QK5_0 / 2 + j] * id;
            let xi0 = (c_f32_to_i32(x0 + 16.5) as i8).min(31) as u8;
            let xi1 = (c_f32_to_i32(x1 + 16.5) as i8).min(31) as u8;
            y[6 + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
            // The 5th bit of element j goes to qh bit j, of element j+16 to bit j+16.
            qh |= (((xi0 & 0x10) >> 4) as u32) << j;
            qh |= (((xi1 & 0x10) >> 4) as u32) << (j + QK5_0 / 2);
        }
        y[2..6].copy_from_slice(&qh.to_le_bytes());
    }
}

/// `dequantize_row_q5_0`.
pub fn dequantize_row_q5_0(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_q5_0",
        dst.len(),
        src.len(),
        QK5_0,
        BLOCK_Q5_0,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_Q5_0)
        .zip(dst.chunks_exact_mut(QK5_0))
    {
        let d = read_f16(b, 0);
        let qh = read_u32(b, 2);
        for j in 0..QK5_0 / 2 {
            let xh0 = (((qh >> j) << 4) & 0x10) as i32;
            let xh1 = ((qh >> (j + 12)) & 0x10) as i32;
            let q = b[6 + j];
            let x0 = ((q & 0x0f) as i32 | xh0) - 16;
            let x1 = ((q >> 4) as i32 | xh1) - 16;
            y[j] = x0 as f32 * d;
            y[j + QK5_0 / 2] = x1 as f32 * d;
        }
    }
}

/// `quantize_row_q5_1_ref`.
pub fn quantize_row_q5_1(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q5_1", src.len(), dst.len(), QK5_1, BLOCK_Q5_1);
    for (x, y) in src
        .chunks_exact(QK5_1)
        .zip(dst.chunks_exact_mut(BLOCK_Q5_1))
    {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        write_f16(y, 0, d);
        write_f16(y, 2, min);
        let mut qh: u32 = 0;
        for j in 0..QK5_1 / 2 {
            let x0 = (x[j] - min) * id;
            let x1 = (x[QK5_1 / 2 + j] - min) * id;
            // (uint8_t)(x + 0.5f): no clamp upstream.
            let xi0 = c_f32_to_i32(x0 + 0.5) as u8;
            let xi1 = c_f32_to_i32(x1 + 0.5) as u8;
            y[8 + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
            qh |= (((xi0 & 0x10) >> 4) as u32) << j;
            qh |= (((xi1 & 0x10) >> 4) as u32) << (j + QK5_1 / 2);
        }
        y[4..8].copy_from_slice(&qh.to_le_bytes());
    }
}

/// `dequantize_row_q5_1`.
pub fn dequantize_row_q5_1(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_q5_1",
        dst.len(),
        src.len(),
        QK5_1,
        BLOCK_Q5_1,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_Q5_1)
        .zip(dst.chunks_exact_mut(QK5_1))
    {
        let d = read_f16(b, 0);
        let m = read_f16(b, 2);
        let qh = read_u32(b, 4);
        for j in 0..QK5_1 / 2 {
            let xh0 = (((qh >> j) << 4) & 0x10) as i32;
            let xh1 = ((qh >> (j + 12)) & 0x10) as i32;
            let q = b[8 + j];
            let x0 = (q & 0x0f) as i32 | xh0;
            let x1 = (q >> 4) as i32 | xh1;
            y[j] = x0 as f32 * d + m;
            y[j + QK5_1 / 2] = x1 as f32 * d + m;
        }
    }
}

/// `amax = MAX(amax, fabsf(v))` with C's `MAX(a, b) = a > b ? a : b`: a NaN input poisons it.
#[inline]
pub(super) fn c_max_abs(x: &[f32]) -> f32 {
    let mut amax = 0.0f32;
    for &v in x {
        let a = v.abs();
        amax = if amax > a { amax } else { a };
    }
    amax
}

/// `quantize_row_q8_0_ref` (the maximum and rounding vectorized; same bytes as
/// [`quantize_row_q8_0_scalar`]).
pub fn quantize_row_q8_0(src: &[f32], dst: &mut [u8]) {
    super::lanes::quantize_row_q8_0(src, dst)
}

/// `quantize_row_q8_0_ref` as written: the scalar twin of [`quantize_row_q8_0`].
pub fn quantize_row_q8_0_scalar(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q8_0", src.len(), dst.len(), QK8_0, BLOCK_Q8_0);
    for (x, y) in src
        .chunks_exact(QK8_0)
        .zip(dst.chunks_exact_mut(BLOCK_Q8_0))
    {
        let amax = c_max_abs(x);
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        write_f16(y, 0, d);
        for j in 0..QK8_0 {
            // roundf = half away from zero, which is what f32::round does.
            y[2 + j] = c_f32_to_i32((x[j] * id).round()) as i8 as u8;
        }
    }
}

/// `dequantize_row_q8_0`.
pub fn dequantize_row_q8_0(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_q8_0",
        dst.len(),
        src.len(),
        QK8_0,
        BLOCK_Q8_0,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_Q8_0)
        .zip(dst.chunks_exact_mut(QK8_0))
    {
        let d = read_f16(b, 0);
        for j in 0..QK8_0 {
            y[j] = (b[2 + j] as i8) as f32 * d;
        }
    }
}

/// `quantize_row_q8_1_ref`: Q8_0's rounding plus `s = fp16(d * sum(qs))` for the dot kernels.
pub fn quantize_row_q8_1(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q8_1", src.len(), dst.len(), QK8_1, BLOCK_Q8_1);
    for (x, y) in src
        .chunks_exact(QK8_1)
        .zip(dst.chunks_exact_mut(BLOCK_Q8_1))
    {
        let amax = c_max_abs(x);
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        write_f16(y, 0, d);
        let mut sum: i32 = 0;
        for j in 0..QK8_1 / 2 {
            let q0 = c_f32_to_i32((x[j] * id).round()) as i8;
            let q1 = c_f32_to_i32((x[QK8_1 / 2 + j] * id).round()) as i8;
            y[4 + j] = q0 as u8;
            y[4 + QK8_1 / 2 + j] = q1 as u8;
            sum += q0 as i32 + q1 as i32;
        }
        y[2..4].copy_from_slice(&fp32_to_fp16(sum as f32 * d).to_le_bytes());
    }
}

/// `dequantize_row_q8_1` does not exist upstream (Q8_1 has no `to_float`); this is the obvious
/// `d * q`, with the same operation as Q8_0, for tests and tooling.
pub fn dequantize_row_q8_1(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_q8_1",
        dst.len(),
        src.len(),
        QK8_1,
        BLOCK_Q8_1,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_Q8_1)
        .zip(dst.chunks_exact_mut(QK8_1))
    {
        let d = read_f16(b, 0);
        for j in 0..QK8_1 {
            y[j] = (b[4 + j] as i8) as f32 * d;
        }
    }
}
