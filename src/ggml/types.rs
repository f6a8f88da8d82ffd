//! The ggml type table. Ids and block geometry follow `ggml/src/ggml-common.h` and gguf-py's
//! `GGML_QUANT_SIZES` (gguf 0.19.0), except Q8_1, where gguf-py's 40 bytes is stale and the C
//! struct (`block_q8_1`: two f16 + 32 i8) is 36 bytes.

use std::fmt;
use std::str::FromStr;

/// Elements per super-block of the K-quants and most IQ types.
pub const QK_K: usize = 256;

/// Facts about one ggml tensor type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeInfo {
    pub ty: GgmlType,
    /// Upper-case name as llama.cpp prints it (`Q4_K`, `IQ4_XS`, `BF16`).
    pub name: &'static str,
    /// Numeric id in GGUF files (`ggml_type`).
    pub id: u32,
    /// Elements per block.
    pub block_size: usize,
    /// Bytes per block.
    pub type_size: usize,
    /// Whether llama.cpp can store model weights in it (false for the activation-only Q8_1/Q8_K).
    pub weight_type: bool,
}

macro_rules! ggml_types {
    ($($variant:ident = ($name:literal, $id:literal, $block:expr, $size:literal, $weight:literal)),* $(,)?) => {
        /// A ggml tensor type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(non_camel_case_types)]
        pub enum GgmlType { $($variant),* }

        impl GgmlType {
            /// Every type, in id order.
            pub const ALL: &'static [GgmlType] = &[$(GgmlType::$variant),*];

            /// The row of facts for this type.
            pub const fn info(self) -> TypeInfo {
                match self {
                    $(GgmlType::$variant => TypeInfo {
                        ty: GgmlType::$variant,
                        name: $name,
                        id: $id,
                        block_size: $block,
                        type_size: $size,
                        weight_type: $weight,
                    }),*
                }
            }

            /// The type with this GGUF id, if ggml knows it.
            pub const fn from_id(id: u32) -> Option<GgmlType> {
                match id {
                    $($id => Some(GgmlType::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

ggml_types! {
    F32 = ("F32", 0, 1, 4, true),
    F16 = ("F16", 1, 1, 2, true),
    Q4_0 = ("Q4_0", 2, 32, 18, true),
    Q4_1 = ("Q4_1", 3, 32, 20, true),
    Q5_0 = ("Q5_0", 6, 32, 22, true),
    Q5_1 = ("Q5_1", 7, 32, 24, true),
    Q8_0 = ("Q8_0", 8, 32, 34, true),
    Q8_1 = ("Q8_1", 9, 32, 36, false),
    Q2_K = ("Q2_K", 10, QK_K, 84, true),
    Q3_K = ("Q3_K", 11, QK_K, 110, true),
    Q4_K = ("Q4_K", 12, QK_K, 144, true),
    Q5_K = ("Q5_K", 13, QK_K, 176, true),
    Q6_K = ("Q6_K", 14, QK_K, 210, true),
    Q8_K = ("Q8_K", 15, QK_K, 292, false),
    IQ2_XXS = ("IQ2_XXS", 16, QK_K, 66, true),
    IQ2_XS = ("IQ2_XS", 17, QK_K, 74, true),
    IQ3_XXS = ("IQ3_XXS", 18, QK_K, 98, true),
    IQ1_S = ("IQ1_S", 19, QK_K, 50, true),
    IQ4_NL = ("IQ4_NL", 20, 32, 18, true),
    IQ3_S = ("IQ3_S", 21, QK_K, 110, true),
    IQ2_S = ("IQ2_S", 22, QK_K, 82, true),
    IQ4_XS = ("IQ4_XS", 23, QK_K, 136, true),
    I8 = ("I8", 24, 1, 1, true),
    I16 = ("I16", 25, 1, 2, true),
    I32 = ("I32", 26, 1, 4, true),
    I64 = ("I64", 27, 1, 8, true),
    F64 = ("F64", 28, 1, 8, true),
    IQ1_M = ("IQ1_M", 29, QK_K, 56, true),
    BF16 = ("BF16", 30, 1, 2, true),
    TQ1_0 = ("TQ1_0", 34, QK_K, 54, true),
    TQ2_0 = ("TQ2_0", 35, QK_K, 66, true),
    MXFP4 = ("MXFP4", 39, 32, 17, true),
    NVFP4 = ("NVFP4", 40, 64, 36, true),
    Q1_0 = ("Q1_0", 41, 128, 18, true),
}

impl GgmlType {
    pub const fn name(self) -> &'static str {
        self.info().name
    }
    pub const fn id(self) -> u32 {
        self.info().id
    }
    pub const fn block_size(self) -> usize {
        self.info().block_size
    }
    pub const fn type_size(self) -> usize {
        self.info().type_size
    }
    /// Bits per weight: 8 * bytes per block / elements per block.
    pub fn bits_per_weight(self) -> f64 {
        8.0 * self.type_size() as f64 / self.block_size() as f64
    }
    /// Whether the type is block-quantized (not a plain float or integer type).
    pub const fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// Bytes of one row of `n` elements, or `None` when `n` is not a multiple of the block size
    /// (ggml cannot store such a row) or the product overflows.
    pub fn row_bytes(self, n: u64) -> Option<u64> {
        let block = self.block_size() as u64;
        if !n.is_multiple_of(block) {
            return None;
        }
        (n / block).checked_mul(self.type_size() as u64)
    }

    /// Bytes of a tensor with `n_elements` elements whose rows have `ne0` elements.
    pub fn tensor_bytes(self, ne0: u64, n_elements: u64) -> Option<u64> {
        if ne0 == 0 {
            return Some(0);
        }
        let rows = n_elements / ne0;
        self.row_bytes(ne0)?.checked_mul(rows)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for a type name that ggml does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ggml type `{0}`")]
pub struct UnknownType(pub String);

impl FromStr for GgmlType {
    type Err = UnknownType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        GgmlType::ALL
            .iter()
            .copied()
            .find(|t| t.name() == upper)
            .ok_or_else(|| UnknownType(s.to_string()))
    }
}

impl serde::Serialize for GgmlType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &t in GgmlType::ALL {
            assert!(seen.insert(t.id()), "duplicate id {}", t.id());
            assert_eq!(GgmlType::from_id(t.id()), Some(t));
            assert_eq!(t.name().parse::<GgmlType>().unwrap(), t);
        }
        assert_eq!(GgmlType::from_id(4), None);
        assert_eq!(GgmlType::from_id(31), None);
    }

    #[test]
    fn bits_per_weight_of_common_types() {
        assert_eq!(GgmlType::Q4_0.bits_per_weight(), 4.5);
        assert_eq!(GgmlType::Q4_K.bits_per_weight(), 4.5);
        assert_eq!(GgmlType::Q6_K.bits_per_weight(), 6.5625);
        assert_eq!(GgmlType::Q8_0.bits_per_weight(), 8.5);
        assert_eq!(GgmlType::IQ4_XS.bits_per_weight(), 4.25);
        assert_eq!(GgmlType::Q3_K.bits_per_weight(), 3.4375);
    }

    #[test]
    fn row_bytes_rejects_partial_blocks() {
        assert_eq!(GgmlType::Q4_K.row_bytes(576), None);
        assert_eq!(GgmlType::Q4_K.row_bytes(4096), Some(16 * 144));
        assert_eq!(GgmlType::Q8_0.row_bytes(576), Some(18 * 34));
        assert_eq!(GgmlType::F16.row_bytes(3), Some(6));
    }
}
