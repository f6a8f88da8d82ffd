//! llama.cpp file types (`llama_ftype`, `include/llama.h`): the default tensor type of each and
//! whether llama-quantize needs an importance matrix for it. The per-tensor recipe is
//! `arch::recipe`, beside the inventory it types.

use std::fmt;
use std::str::FromStr;

use super::GgmlType;

macro_rules! file_types {
    ($($variant:ident = ($name:literal, $id:literal, $default:ident)),* $(,)?) => {
        /// A llama.cpp file type ("ftype"): the default tensor type plus a per-tensor recipe.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(non_camel_case_types)]
        pub enum FileType { $($variant),* }

        impl FileType {
            pub const ALL: &'static [FileType] = &[$(FileType::$variant),*];

            /// Name as `llama-quantize` spells it.
            pub const fn name(self) -> &'static str {
                match self { $(FileType::$variant => $name),* }
            }
            /// `general.file_type` id (`enum llama_ftype`).
            pub const fn id(self) -> u32 {
                match self { $(FileType::$variant => $id),* }
            }
            /// `llama_ftype_get_default_type`.
            pub const fn default_type(self) -> GgmlType {
                match self { $(FileType::$variant => GgmlType::$default),* }
            }
            pub const fn from_id(id: u32) -> Option<FileType> {
                match id { $($id => Some(FileType::$variant),)* _ => None }
            }
        }
    };
}

file_types! {
    F32 = ("F32", 0, F32),
    F16 = ("F16", 1, F16),
    Q4_0 = ("Q4_0", 2, Q4_0),
    Q4_1 = ("Q4_1", 3, Q4_1),
    Q8_0 = ("Q8_0", 7, Q8_0),
    Q5_0 = ("Q5_0", 8, Q5_0),
    Q5_1 = ("Q5_1", 9, Q5_1),
    Q2_K = ("Q2_K", 10, Q2_K),
    Q3_K_S = ("Q3_K_S", 11, Q3_K),
    Q3_K_M = ("Q3_K_M", 12, Q3_K),
    Q3_K_L = ("Q3_K_L", 13, Q3_K),
    Q4_K_S = ("Q4_K_S", 14, Q4_K),
    Q4_K_M = ("Q4_K_M", 15, Q4_K),
    Q5_K_S = ("Q5_K_S", 16, Q5_K),
    Q5_K_M = ("Q5_K_M", 17, Q5_K),
    Q6_K = ("Q6_K", 18, Q6_K),
    IQ2_XXS = ("IQ2_XXS", 19, IQ2_XXS),
    IQ2_XS = ("IQ2_XS", 20, IQ2_XS),
    Q2_K_S = ("Q2_K_S", 21, Q2_K),
    IQ3_XS = ("IQ3_XS", 22, IQ3_S),
    IQ3_XXS = ("IQ3_XXS", 23, IQ3_XXS),
    IQ1_S = ("IQ1_S", 24, IQ1_S),
    IQ4_NL = ("IQ4_NL", 25, IQ4_NL),
    IQ3_S = ("IQ3_S", 26, IQ3_S),
    IQ3_M = ("IQ3_M", 27, IQ3_S),
    IQ2_S = ("IQ2_S", 28, IQ2_XS),
    IQ2_M = ("IQ2_M", 29, IQ2_S),
    IQ4_XS = ("IQ4_XS", 30, IQ4_XS),
    IQ1_M = ("IQ1_M", 31, IQ1_M),
    BF16 = ("BF16", 32, BF16),
    TQ1_0 = ("TQ1_0", 36, TQ1_0),
    TQ2_0 = ("TQ2_0", 37, TQ2_0),
    MXFP4_MOE = ("MXFP4_MOE", 38, MXFP4),
}

impl FileType {
    /// File types llama-quantize refuses to make without an importance matrix: their recipe
    /// gives some tensors a type that `tensor_requires_imatrix` names (IQ1/IQ2 types, IQ3_XXS,
    /// and Q2_K inside a Q2_K_S file). Every real file of these types was made with one.
    pub const fn requires_imatrix(self) -> bool {
        matches!(
            self,
            FileType::IQ1_S
                | FileType::IQ1_M
                | FileType::IQ2_XXS
                | FileType::IQ2_XS
                | FileType::IQ2_S
                | FileType::IQ2_M
                | FileType::IQ3_XXS
                | FileType::IQ3_XS
                | FileType::Q2_K_S
        )
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for a file-type name llama.cpp does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown quantization `{0}` (expected one of Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, Q6_K, Q8_0, IQ4_XS, F16, BF16, ...)")]
pub struct UnknownFileType(pub String);

impl FromStr for FileType {
    type Err = UnknownFileType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase().replace('-', "_");
        FileType::ALL
            .iter()
            .copied()
            .find(|t| t.name() == upper)
            .ok_or_else(|| UnknownFileType(s.to_string()))
    }
}

impl serde::Serialize for FileType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}
