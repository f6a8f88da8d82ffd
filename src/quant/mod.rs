//! Per-type codecs: quantize (llama.cpp reference algorithms) and dequantize, scalar and
//! bit-exact with llama.cpp's `ggml/src/ggml-quants.c` as `ggml_quantize_chunk` runs it without
//! an importance matrix (what `llama-quantize` writes when given none).
//!
//! Each type has a `quantize_row_<type>(src: &[f32], dst: &mut [u8])` and/or
//! `dequantize_row_<type>(src: &[u8], dst: &mut [f32])` working on whole blocks (they panic on
//! inconsistent lengths); [`quantize`] and [`dequantize`] dispatch on a [`GgmlType`] and validate
//! lengths first. Block geometry comes from [`crate::ggml::types`]; golden vectors produced by
//! llama.cpp itself live in `tests/golden/` (see `tools/golden/gen.py`).

// The ports index several arrays with one loop variable, exactly as the C code does, so each
// loop can be checked against upstream line by line; iterator rewrites would obscure that.
#![allow(clippy::needless_range_loop)]

mod float;
mod grids;
mod iq4;
mod iquants;
mod kquants;
mod lanes;
mod legacy;
mod small;
mod util;

pub use float::{
    dequantize_row_bf16, dequantize_row_f16, dequantize_row_f16_scalar, dequantize_row_f32,
    quantize_row_bf16, quantize_row_f16, quantize_row_f32,
};
pub use iq4::{
    dequantize_row_iq4_nl, dequantize_row_iq4_xs, quantize_row_iq4_nl, quantize_row_iq4_nl_scalar,
    quantize_row_iq4_xs, quantize_row_iq4_xs_scalar,
};
pub use iquants::{
    dequantize_row_iq1_m, dequantize_row_iq1_s, dequantize_row_iq2_s, dequantize_row_iq2_xs,
    dequantize_row_iq2_xxs, dequantize_row_iq3_s, dequantize_row_iq3_xxs,
};
pub use kquants::{
    dequantize_row_q2_k, dequantize_row_q3_k, dequantize_row_q4_k, dequantize_row_q5_k,
    dequantize_row_q6_k, dequantize_row_q8_k, quantize_row_q2_k, quantize_row_q3_k,
    quantize_row_q4_k, quantize_row_q4_k_scalar, quantize_row_q5_k, quantize_row_q5_k_scalar,
    quantize_row_q6_k, quantize_row_q6_k_scalar, quantize_row_q8_k,
};
pub use legacy::{
    dequantize_row_q4_0, dequantize_row_q4_1, dequantize_row_q5_0, dequantize_row_q5_1,
    dequantize_row_q8_0, dequantize_row_q8_1, quantize_row_q4_0, quantize_row_q4_1,
    quantize_row_q5_0, quantize_row_q5_1, quantize_row_q8_0, quantize_row_q8_0_scalar,
    quantize_row_q8_1,
};
pub use small::{dequantize_row_mxfp4, dequantize_row_tq1_0, dequantize_row_tq2_0};
pub use util::{bf16_to_fp32, fp16_to_fp32, fp32_to_bf16, fp32_to_fp16};

use crate::ggml::GgmlType;

/// Why a codec call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    #[error("{op} is not implemented for ggml type {ty}")]
    Unsupported { ty: GgmlType, op: Op },
    #[error("{len} {unit} is not a whole number of {ty} blocks ({block} {unit} per block)")]
    PartialBlock {
        ty: GgmlType,
        len: usize,
        block: usize,
        unit: &'static str,
    },
    #[error("{ty} destination has {actual} {unit}, expected {expected}")]
    DstLen {
        ty: GgmlType,
        expected: usize,
        actual: usize,
        unit: &'static str,
    },
}

/// Which direction a [`QuantError::Unsupported`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Quantize,
    Dequantize,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Quantize => "quantization",
            Op::Dequantize => "dequantization",
        })
    }
}

type QuantizeFn = fn(&[f32], &mut [u8]);
type DequantizeFn = fn(&[u8], &mut [f32]);

/// The quantizer for `ty`, if vramplan has one.
pub fn quantize_fn(ty: GgmlType) -> Option<QuantizeFn> {
    use GgmlType::*;
    Some(match ty {
        F32 => quantize_row_f32,
        F16 => quantize_row_f16,
        BF16 => quantize_row_bf16,
        Q4_0 => quantize_row_q4_0,
        Q4_1 => quantize_row_q4_1,
        Q5_0 => quantize_row_q5_0,
        Q5_1 => quantize_row_q5_1,
        Q8_0 => quantize_row_q8_0,
        Q8_1 => quantize_row_q8_1,
        Q2_K => quantize_row_q2_k,
        Q3_K => quantize_row_q3_k,
        Q4_K => quantize_row_q4_k,
        Q5_K => quantize_row_q5_k,
        Q6_K => quantize_row_q6_k,
        Q8_K => quantize_row_q8_k,
        IQ4_NL => quantize_row_iq4_nl,
        IQ4_XS => quantize_row_iq4_xs,
        _ => return None,
    })
}

/// The dequantizer for `ty`, if vramplan has one.
pub fn dequantize_fn(ty: GgmlType) -> Option<DequantizeFn> {
    use GgmlType::*;
    Some(match ty {
        F32 => dequantize_row_f32,
        F16 => dequantize_row_f16,
        BF16 => dequantize_row_bf16,
        Q4_0 => dequantize_row_q4_0,
        Q4_1 => dequantize_row_q4_1,
        Q5_0 => dequantize_row_q5_0,
        Q5_1 => dequantize_row_q5_1,
        Q8_0 => dequantize_row_q8_0,
        Q8_1 => dequantize_row_q8_1,
        Q2_K => dequantize_row_q2_k,
        Q3_K => dequantize_row_q3_k,
        Q4_K => dequantize_row_q4_k,
        Q5_K => dequantize_row_q5_k,
        Q6_K => dequantize_row_q6_k,
        Q8_K => dequantize_row_q8_k,
        IQ2_XXS => dequantize_row_iq2_xxs,
        IQ2_XS => dequantize_row_iq2_xs,
        IQ2_S => dequantize_row_iq2_s,
        IQ3_XXS => dequantize_row_iq3_xxs,
        IQ3_S => dequantize_row_iq3_s,
        IQ1_S => dequantize_row_iq1_s,
        IQ1_M => dequantize_row_iq1_m,
        IQ4_NL => dequantize_row_iq4_nl,
        IQ4_XS => dequantize_row_iq4_xs,
        TQ1_0 => dequantize_row_tq1_0,
        TQ2_0 => dequantize_row_tq2_0,
        MXFP4 => dequantize_row_mxfp4,
        _ => return None,
    })
}

/// Whether [`quantize`] supports `ty`.
pub fn can_quantize(ty: GgmlType) -> bool {
    quantize_fn(ty).is_some()
}

/// Whether [`dequantize`] supports `ty`.
pub fn can_dequantize(ty: GgmlType) -> bool {
    dequantize_fn(ty).is_some()
}

/// Quantizes `src` (any number of whole blocks, e.g. one or more rows) into `dst`, which must be
/// exactly `src.len() / block_size * type_size` bytes.
pub fn quantize(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), QuantError> {
    let f = quantize_fn(ty).ok_or(QuantError::Unsupported {
        ty,
        op: Op::Quantize,
    })?;
    let info = ty.info();
    if !src.len().is_multiple_of(info.block_size) {
        return Err(QuantError::PartialBlock {
            ty,
            len: src.len(),
            block: info.block_size,
            unit: "elements",
        });
    }
    let expected = src.len() / info.block_size * info.type_size;
    if dst.len() != expected {
        return Err(QuantError::DstLen {
            ty,
            expected,
            actual: dst.len(),
            unit: "bytes",
        });
    }
    f(src, dst);
    Ok(())
}

/// Dequantizes whole blocks of `ty` from `src` into `dst`, which must hold exactly
/// `src.len() / type_size * block_size` floats.
pub fn dequantize(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), QuantError> {
    let f = dequantize_fn(ty).ok_or(QuantError::Unsupported {
        ty,
        op: Op::Dequantize,
    })?;
    let info = ty.info();
    if !src.len().is_multiple_of(info.type_size) {
        return Err(QuantError::PartialBlock {
            ty,
            len: src.len(),
            block: info.type_size,
            unit: "bytes",
        });
    }
    let expected = src.len() / info.type_size * info.block_size;
    if dst.len() != expected {
        return Err(QuantError::DstLen {
            ty,
            expected,
            actual: dst.len(),
            unit: "elements",
        });
    }
    f(src, dst);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_constants_match_the_type_table() {
        let pairs: &[(GgmlType, usize, usize)] = &[
            (GgmlType::Q4_0, legacy::QK4_0, legacy::BLOCK_Q4_0),
            (GgmlType::Q4_1, legacy::QK4_1, legacy::BLOCK_Q4_1),
            (GgmlType::Q5_0, legacy::QK5_0, legacy::BLOCK_Q5_0),
            (GgmlType::Q5_1, legacy::QK5_1, legacy::BLOCK_Q5_1),
            (GgmlType::Q8_0, legacy::QK8_0, legacy::BLOCK_Q8_0),
            (GgmlType::Q8_1, legacy::QK8_1, legacy::BLOCK_Q8_1),
            (GgmlType::Q2_K, 256, kquants::BLOCK_Q2_K),
            (GgmlType::Q3_K, 256, kquants::BLOCK_Q3_K),
            (GgmlType::Q4_K, 256, kquants::BLOCK_Q4_K),
            (GgmlType::Q5_K, 256, kquants::BLOCK_Q5_K),
            (GgmlType::Q6_K, 256, kquants::BLOCK_Q6_K),
            (GgmlType::Q8_K, 256, kquants::BLOCK_Q8_K),
            (GgmlType::IQ4_NL, iq4::QK4_NL, iq4::BLOCK_IQ4_NL),
            (GgmlType::IQ4_XS, 256, iq4::BLOCK_IQ4_XS),
            (GgmlType::IQ2_XXS, 256, iquants::BLOCK_IQ2_XXS),
            (GgmlType::IQ2_XS, 256, iquants::BLOCK_IQ2_XS),
            (GgmlType::IQ2_S, 256, iquants::BLOCK_IQ2_S),
            (GgmlType::IQ3_XXS, 256, iquants::BLOCK_IQ3_XXS),
            (GgmlType::IQ3_S, 256, iquants::BLOCK_IQ3_S),
            (GgmlType::IQ1_S, 256, iquants::BLOCK_IQ1_S),
            (GgmlType::IQ1_M, 256, iquants::BLOCK_IQ1_M),
            (GgmlType::TQ1_0, 256, small::BLOCK_TQ1_0),
            (GgmlType::TQ2_0, 256, small::BLOCK_TQ2_0),
            (GgmlType::MXFP4, small::QK_MXFP4, small::BLOCK_MXFP4),
        ];
        for &(ty, block, size) in pairs {
            assert_eq!(ty.block_size(), block, "{ty} block size");
            assert_eq!(ty.type_size(), size, "{ty} bytes per block");
        }
    }

    #[test]
    fn dispatch_validates_lengths() {
        let src = [0.0f32; 48];
        let mut dst = [0u8; 18];
        assert!(matches!(
            quantize(GgmlType::Q4_0, &src, &mut dst),
            Err(QuantError::PartialBlock {
                len: 48,
                block: 32,
                ..
            })
        ));
        assert!(matches!(
            quantize(GgmlType::Q4_0, &src[..32], &mut dst[..17]),
            Err(QuantError::DstLen {
                expected: 18,
                actual: 17,
                ..
            })
        ));
        assert!(matches!(
            quantize(GgmlType::IQ2_XXS, &src[..32], &mut dst),
            Err(QuantError::Unsupported {
                op: Op::Quantize,
                ..
            })
        ));
        assert!(matches!(
            dequantize(GgmlType::NVFP4, &dst, &mut [0.0; 64]),
            Err(QuantError::Unsupported {
                op: Op::Dequantize,
                ..
            })
        ));
        let mut out = [0f32; 32];
        assert!(matches!(
            dequantize(GgmlType::Q4_0, &dst[..17], &mut out),
            Err(QuantError::PartialBlock {
                len: 17,
                block: 18,
                ..
            })
        ));
        assert!(quantize(GgmlType::Q4_0, &src[..32], &mut dst).is_ok());
        assert!(dequantize(GgmlType::Q4_0, &dst, &mut out).is_ok());
    }
}
