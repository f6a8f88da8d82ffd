//! Scalar helpers shared by the codecs: ggml's rounding (`nearest_int`), C's float-to-int casts
//! as x86-64 executes them, and the f16/bf16 conversions of `ggml/src/ggml-impl.h`.

use half::f16;

/// ggml's `nearest_int` (`ggml/src/ggml-quants.c`): add 1.5·2^23 so the FPU rounds half to even
/// into the low mantissa bits, then read them back. Upstream asserts `|f| <= 4194303` in debug
/// builds only; release builds (what produces model files) return the same deterministic bits
/// for larger or non-finite inputs as this port does.
#[inline]
pub(crate) fn nearest_int(f: f32) -> i32 {
    let val = f + 12_582_912.0;
    let i = val.to_bits() as i32;
    (i & 0x007f_ffff) - 0x0040_0000
}

/// C's `(int)f` as x86-64 executes it (`cvttss2si`): truncation toward zero, and the "integer
/// indefinite" value `INT_MIN` for NaN and out-of-range inputs (undefined behaviour in C, but what
/// every x86-64 build of llama.cpp does). Rust's saturating `as` differs only there. Narrower C
/// casts (`(int8_t)f`, `(uint8_t)f`) compile to this followed by truncation, so callers apply
/// `as i8` / `as u8` to the result.
#[inline]
pub(crate) fn c_f32_to_i32(f: f32) -> i32 {
    if f.is_nan() || !(-2_147_483_648.0..2_147_483_648.0).contains(&f) {
        i32::MIN
    } else {
        f as i32
    }
}

/// `GGML_FP32_TO_FP16` (`ggml_compute_fp32_to_fp16`): IEEE round-to-nearest-even, which the
/// `half` crate implements, except that every NaN becomes the canonical quiet NaN `0x7E00` with
/// the input's sign (`half` keeps the top payload bits).
#[inline]
pub fn fp32_to_fp16(f: f32) -> u16 {
    if f.is_nan() {
        ((f.to_bits() >> 16) as u16 & 0x8000) | 0x7e00
    } else {
        f16::from_f32(f).to_bits()
    }
}

/// `GGML_FP16_TO_FP32`: exact widening; NaN payloads are kept and made quiet, as ggml's bit trick
/// does on x86-64.
#[inline]
pub fn fp16_to_fp32(h: u16) -> f32 {
    f16::from_bits(h).to_f32()
}

/// `ggml_compute_fp32_to_bf16`: round to nearest even on the top 16 bits; NaN made quiet.
#[inline]
pub fn fp32_to_bf16(f: f32) -> u16 {
    let u = f.to_bits();
    if u & 0x7fff_ffff > 0x7f80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    (u.wrapping_add(0x7fff + ((u >> 16) & 1)) >> 16) as u16
}

/// `ggml_compute_bf16_to_fp32`: the bf16 bits become the top half of an f32.
#[inline]
pub fn bf16_to_fp32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// `GGML_E8M0_TO_FP32_HALF`: 2^(e-128), with the two smallest exponents as f32 subnormals.
#[inline]
pub(crate) fn e8m0_to_fp32_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        ((e as u32) - 1) << 23
    };
    f32::from_bits(bits)
}

/// Little-endian f16 at `b[off..off + 2]`, widened.
#[inline]
pub(crate) fn read_f16(b: &[u8], off: usize) -> f32 {
    fp16_to_fp32(read_u16(b, off))
}

#[inline]
pub(crate) fn read_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

#[inline]
pub(crate) fn read_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

#[inline]
pub(crate) fn write_f16(b: &mut [u8], off: usize, v: f32) {
    b[off..off + 2].copy_from_slice(&fp32_to_fp16(v).to_le_bytes());
}

/// Checks the invariant every per-type row function relies on: whole blocks in, whole blocks
/// out. The public dispatchers in [`crate::quant`] validate lengths and return errors first, so
/// this only fires when a row function is called directly with inconsistent slices.
#[inline]
pub(crate) fn check_row(name: &str, n_elems: usize, n_bytes: usize, block: usize, size: usize) {
    assert!(
        n_elems.is_multiple_of(block) && n_bytes == n_elems / block * size,
        "{name}: {n_elems} elements and {n_bytes} bytes are not whole matching blocks \
         ({block} elements / {size} bytes per block)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        assert_eq!(nearest_int(0.5), 0);
        assert_eq!(nearest_int(1.5), 2);
        assert_eq!(nearest_int(2.5), 2);
        assert_eq!(nearest_int(-0.5), 0);
        assert_eq!(nearest_int(-1.5), -2);
        assert_eq!(nearest_int(-3.7), -4);
        assert_eq!(nearest_int(4_194_303.0), 4_194_303);
    }

    #[test]
    fn c_cast_matches_x86_for_out_of_range() {
        assert_eq!(c_f32_to_i32(16.9), 16);
        assert_eq!(c_f32_to_i32(-3.9), -3);
        assert_eq!(c_f32_to_i32(f32::NAN), i32::MIN);
        assert_eq!(c_f32_to_i32(f32::INFINITY), i32::MIN);
        assert_eq!(c_f32_to_i32(-3e9), i32::MIN);
    }

    #[test]
    fn fp16_nan_is_canonical() {
        assert_eq!(fp32_to_fp16(f32::from_bits(0x7fc1_2345)), 0x7e00);
        assert_eq!(fp32_to_fp16(f32::from_bits(0xff80_0001)), 0xfe00);
        assert_eq!(fp32_to_fp16(65520.0), 0x7c00);
        assert_eq!(fp32_to_fp16(65504.0), 0x7bff);
    }

    #[test]
    fn bf16_rounds_to_nearest_even_and_quiets_nan() {
        assert_eq!(fp32_to_bf16(f32::from_bits(0x3f80_8000)), 0x3f80);
        assert_eq!(fp32_to_bf16(f32::from_bits(0x3f81_8000)), 0x3f82);
        assert_eq!(fp32_to_bf16(f32::from_bits(0x7f80_0001)), 0x7fc0);
    }

    #[test]
    fn e8m0_half() {
        assert_eq!(e8m0_to_fp32_half(128), 1.0);
        assert_eq!(e8m0_to_fp32_half(127), 0.5);
        assert_eq!(e8m0_to_fp32_half(0), 2f32.powi(-128));
    }
}
