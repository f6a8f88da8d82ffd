//! Dequantizers for the ternary types TQ1_0 and TQ2_0 and the microscaling type MXFP4, ported
//! from llama.cpp `ggml/src/ggml-quants.c` (`dequantize_row_tq1_0`, `dequantize_row_tq2_0`,
//! `dequantize_row_mxfp4`).

use super::grids::KVALUES_MXFP4;
use super::util::{check_row, e8m0_to_fp32_half, read_f16};
use crate::ggml::QK_K;

/// `block_tq1_0`: qs[48] (5 trits per byte), qh[4] (4 trits per byte), d f16.
pub const BLOCK_TQ1_0: usize = 54;
/// `block_tq2_0`: qs[64] (2 bits per weight), d f16.
pub const BLOCK_TQ2_0: usize = 66;
pub const QK_MXFP4: usize = 32;
/// `block_mxfp4`: e (E8M0 exponent), qs[16].
pub const BLOCK_MXFP4: usize = 17;

/// Trit `n` of a TQ1_0 byte: the byte holds `ceil(v * 256 / 243)`, so multiplying by 3^n (mod
/// 256) brings trit n to the top, and `(q * 3) >> 8` reads it.
#[inline]
fn trit(byte: u8, n: usize) -> f32 {
    const POW3: [u8; 6] = [1, 3, 9, 27, 81, 243];
    let q = byte.wrapping_mul(POW3[n]);
    let xi = ((q as u16 * 3) >> 8) as i16;
    (xi - 1) as f32
}

/// `dequantize_row_tq1_0`: qs[0..32] then qs[32..48] give 5 weights per byte (trit-major), then
/// qh[0..4] gives 4 per byte.
pub fn dequantize_row_tq1_0(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_tq1_0",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_TQ1_0,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_TQ1_0)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, 52);
        let mut out = 0;
        for (start, width) in [(0usize, 32usize), (32, 16)] {
            for n in 0..5 {
                for m in 0..width {
                    y[out] = trit(b[start + m], n) * d;
                    out += 1;
                }
            }
        }
        for n in 0..4 {
            for j in 0..4 {
                y[out] = trit(b[48 + j], n) * d;
                out += 1;
            }
        }
    }
}

/// `dequantize_row_tq2_0`: weight `128m + 32n + l` is bits `2n..2n+2` of `qs[32m + l]`, minus 1.
pub fn dequantize_row_tq2_0(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_tq2_0",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_TQ2_0,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_TQ2_0)
        .zip(dst.chunks_exact_mut(QK_K))
    {
        let d = read_f16(b, 64);
        let mut out = 0;
        for j in (0..64).step_by(32) {
            for l in 0..4 {
                for m in 0..32 {
                    let q = ((b[j + m] >> (2 * l)) & 3) as i32;
                    y[out] = (q - 1) as f32 * d;
                    out += 1;
                }
            }
        }
    }
}

/// `dequantize_row_mxfp4`: `kvalues_mxfp4[q] * 2^(e - 128)` (E2M1 values are stored doubled,
/// hence the halved exponent); low nibble element j, high nibble element j+16.
pub fn dequantize_row_mxfp4(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_mxfp4",
        dst.len(),
        src.len(),
        QK_MXFP4,
        BLOCK_MXFP4,
    );
    for (b, y) in src
        .chunks_exact(BLOCK_MXFP4)
        .zip(dst.chunks_exact_mut(QK_MXFP4))
    {
        let d = e8m0_to_fp32_half(b[0]);
        for j in 0..QK_MXFP4 / 2 {
            let q = b[1 + j];
            y[j] = KVALUES_MXFP4[(q & 0x0f) as usize] as f32 * d;
            y[j + QK_MXFP4 / 2] = KVALUES_MXFP4[(q >> 4) as usize] as f32 * d;
        }
    }
}
