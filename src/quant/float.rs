//! The plain float types F32, F16 and BF16, as `ggml_quantize_chunk` writes them
//! (`ggml/src/ggml.c`: `memcpy`, `ggml_fp32_to_fp16_row`, `ggml_fp32_to_bf16_row_ref`) and as
//! ggml's `to_float` reads them back.

use super::util::{bf16_to_fp32, check_row, fp16_to_fp32, fp32_to_bf16, fp32_to_fp16};

/// F32 rows are stored as little-endian bytes, bit for bit (NaN payloads included).
pub fn quantize_row_f32(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_f32", src.len(), dst.len(), 1, 4);
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(4)) {
        y.copy_from_slice(&x.to_bits().to_le_bytes());
    }
}

pub fn dequantize_row_f32(src: &[u8], dst: &mut [f32]) {
    check_row("dequantize_row_f32", dst.len(), src.len(), 1, 4);
    for (b, y) in src.chunks_exact(4).zip(dst.iter_mut()) {
        *y = f32::from_bits(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    }
}

/// `ggml_fp32_to_fp16_row`: round to nearest even; NaN becomes `0x7E00` with its sign.
pub fn quantize_row_f16(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_f16", src.len(), dst.len(), 1, 2);
    for (&x, y) in src.iter().zip(dst.chunks_exact_mut(2)) {
        y.copy_from_slice(&fp32_to_fp16(x).to_le_bytes());
    }
}

/// F16 to f32 (eight at a time with F16C where the CPU has it; same bits as
/// [`dequantize_row_f16_scalar`]).
pub fn dequantize_row_f16(src: &[u8], dst: &mut [f32]) {
    super::lanes::dequantize_row_f16(src, dst)
}

/// F16 to f32 one value at a time: the scalar twin of [`dequantize_row_f16`].
pub fn dequantize_row_f16_scalar(src: &[u8], dst: &mut [f32]) {
    check_row("dequantize_row_f16", dst.len(), src.len(), 1, 2);
    for (b, y) in src.chunks_exact(2).zip(dst.iter_mut()) {
        *y = fp16_to_fp32(u16::from_le_bytes([b[0], b[1]]));
    }
}

/// `ggml_fp32_to_bf16_row_ref`: round to nearest even; NaN made quiet.
pub fn quantize_row_bf16(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_bf16", src.len(), dst.len(), 1, 2);
    for (&x, y) in src.iter().zip(dst.chunks_exact_mut(2)) {
        y.copy_from_slice(&fp32_to_bf16(x).to_le_bytes());
    }
}

pub fn dequantize_row_bf16(src: &[u8], dst: &mut [f32]) {
    check_row("dequantize_row_bf16", dst.len(), src.len(), 1, 2);
    for (b, y) in src.chunks_exact(2).zip(dst.iter_mut()) {
        *y = bf16_to_fp32(u16::from_le_bytes([b[0], b[1]]));
    }
}
