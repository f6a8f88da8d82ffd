//! The tensor inventory: the list of weight tensors of a model with GGUF names, shapes and types.
//! A catalogue architecture plus a file type expands into one; a real GGUF file is one.

use crate::ggml::GgmlType;

use super::TensorRole;

/// One weight tensor. `shape` is in ggml order: `shape[0]` (ne0) is the row length.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TensorSpec {
    /// GGUF name, e.g. `blk.7.attn_v.weight`.
    pub name: String,
    /// ggml dimensions, innermost first (`[ne0, ne1, ne2]`).
    pub shape: Vec<u64>,
    pub ty: GgmlType,
}

impl TensorSpec {
    pub fn new(name: impl Into<String>, shape: &[u64], ty: GgmlType) -> Self {
        TensorSpec {
            name: name.into(),
            shape: shape.to_vec(),
            ty,
        }
    }

    /// Number of elements (saturating: a hostile shape never wraps).
    pub fn n_elements(&self) -> u64 {
        self.shape
            .iter()
            .fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// Bytes the tensor occupies in its type, or `None` when the row length is not a multiple of
    /// the type's block size.
    pub fn bytes(&self) -> Option<u64> {
        let ne0 = *self.shape.first().unwrap_or(&1);
        self.ty.tensor_bytes(ne0, self.n_elements())
    }

    /// What the tensor does, from its name.
    pub fn role(&self) -> TensorRole {
        TensorRole::of(&self.name)
    }

    /// Layer index parsed from a `blk.N.` prefix.
    pub fn layer(&self) -> Option<usize> {
        layer_of(&self.name)
    }
}

/// Layer index of a GGUF tensor name (`blk.12.ffn_up.weight` -> 12).
pub fn layer_of(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("blk.")?;
    let end = rest.find('.')?;
    rest[..end].parse().ok()
}

/// A model's weight tensors.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Inventory {
    pub tensors: Vec<TensorSpec>,
}

impl Inventory {
    pub fn total_elements(&self) -> u64 {
        self.tensors.iter().map(TensorSpec::n_elements).sum()
    }

    /// Total bytes; tensors whose shape does not fit their type count as `None` overall.
    pub fn total_bytes(&self) -> Option<u64> {
        self.tensors
            .iter()
            .try_fold(0u64, |acc, t| acc.checked_add(t.bytes()?))
    }

    /// Bytes of the tensors in layer `layer`.
    pub fn layer_bytes(&self, layer: usize) -> u64 {
        self.tensors
            .iter()
            .filter(|t| t.layer() == Some(layer))
            .filter_map(TensorSpec::bytes)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn layer_parsing() {
        assert_eq!(layer_of("blk.12.ffn_up.weight"), Some(12));
        assert_eq!(layer_of("token_embd.weight"), None);
        assert_eq!(layer_of("blk.x.ffn_up.weight"), None);
    }
    #[test]
    fn bytes_of_tensor() {
        let t = TensorSpec::new("blk.0.attn_q.weight", &[4096, 4096], GgmlType::Q4_K);
        assert_eq!(t.bytes(), Some(4096 * 16 * 144));
        let odd = TensorSpec::new("x", &[576, 10], GgmlType::Q4_K);
        assert_eq!(odd.bytes(), None);
    }
}
