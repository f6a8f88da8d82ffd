//! The KV cache: per layer, one K and one V row of `n_head_kv * head_dim` elements per cell, in
//! f16 (llama.cpp's default) or Q8_0, sized as llama.cpp sizes it (`n_ctx` padded to 256 cells).

use crate::estimate::KvType;
use crate::ggml::llama_cpp::{pad, LLAMA_KV_PAD};
use crate::ggml::GgmlType;
use crate::quant;

use super::EngineError;

/// Every f16 value widened to f32 (`GGML_FP16_TO_FP32`), indexed by its bits: reading the cache
/// is a table lookup (ggml keeps the same table).
fn f16_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| (0..=u16::MAX).map(quant::fp16_to_fp32).collect())
}

/// Little-endian f16 values widened to f32 through the table (exact, any alignment).
fn widen_f16(b: &[u8], out: &mut [f32]) {
    let lut = f16_table();
    for (o, h) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = lut[usize::from(u16::from_le_bytes([h[0], h[1]]))];
    }
}

/// `out.len() / len` rows of `len` little-endian f16 values widened to f32, row `j` read from
/// byte `j · stride` of `b`: F16C eight values per instruction where the CPU has it (one check
/// per call, not per row), else the table. Both are exact, so the bits are the same.
fn widen_f16_rows(b: &[u8], stride: usize, len: usize, out: &mut [f32]) {
    let n = out.len() / len.max(1);
    if n == 0 {
        return;
    }
    assert!(
        b.len() >= (n - 1) * stride + 2 * len,
        "f16 rows inside the buffer"
    );
    #[cfg(target_arch = "x86_64")]
    if len.is_multiple_of(8) && std::arch::is_x86_feature_detected!("f16c") {
        // SAFETY: F16C (and so AVX) was just detected; the assertion bounds every row.
        unsafe { widen_f16_rows_f16c(b, stride, len, out) };
        return;
    }
    for (j, o) in out.chunks_exact_mut(len).enumerate() {
        widen_f16(&b[j * stride..j * stride + 2 * len], o);
    }
}

/// [`widen_f16_rows`] with F16C.
///
/// # Safety
/// The CPU has F16C and AVX; `len` is a multiple of 8; `b` holds every row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn widen_f16_rows_f16c(b: &[u8], stride: usize, len: usize, out: &mut [f32]) {
    use std::arch::x86_64::{_mm256_cvtph_ps, _mm256_storeu_ps, _mm_loadu_si128};
    for (j, o) in out.chunks_exact_mut(len).enumerate() {
        let r = b[j * stride..j * stride + 2 * len].as_ptr();
        for (k, oc) in o.chunks_exact_mut(8).enumerate() {
            // SAFETY: 16 bytes at 16·k lie inside the row (k < len / 8); `oc` holds 8 floats.
            unsafe {
                let h = _mm_loadu_si128(r.add(16 * k).cast());
                _mm256_storeu_ps(oc.as_mut_ptr(), _mm256_cvtph_ps(h));
            }
        }
    }
}

/// Element type of the engine's cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KvCacheType {
    #[default]
    F16,
    Q8_0,
}

impl KvCacheType {
    fn ggml(self) -> GgmlType {
        match self {
            KvCacheType::F16 => GgmlType::F16,
            KvCacheType::Q8_0 => GgmlType::Q8_0,
        }
    }

    /// The estimator's name for the same cache type.
    pub fn estimate_type(self) -> KvType {
        match self {
            KvCacheType::F16 => KvType::F16,
            KvCacheType::Q8_0 => KvType::Q8_0,
        }
    }
}

/// K and V rows of every layer.
#[derive(Debug)]
pub struct KvCache {
    ty: KvCacheType,
    cells: usize,
    row_elems: usize,
    row_bytes: usize,
    k: Vec<Vec<u8>>,
    v: Vec<Vec<u8>>,
}

impl KvCache {
    /// A cache for `n_ctx` tokens (padded to 256 cells) of `n_layer` layers with rows of
    /// `row_elems` elements.
    pub fn new(
        ty: KvCacheType,
        n_layer: usize,
        n_ctx: usize,
        row_elems: usize,
    ) -> Result<KvCache, EngineError> {
        let g = ty.ggml();
        if !row_elems.is_multiple_of(g.block_size()) {
            return Err(EngineError::Metadata(format!(
                "a {g} KV cache needs rows of whole blocks; {row_elems} elements per row"
            )));
        }
        let cells = pad(n_ctx.max(1) as u64, LLAMA_KV_PAD) as usize;
        let row_bytes = row_elems / g.block_size() * g.type_size();
        let layer = cells
            .checked_mul(row_bytes)
            .ok_or_else(|| EngineError::Metadata(format!("a cache of {cells} cells overflows")))?;
        Ok(KvCache {
            ty,
            cells,
            row_elems,
            row_bytes,
            k: (0..n_layer).map(|_| vec![0u8; layer]).collect(),
            v: (0..n_layer).map(|_| vec![0u8; layer]).collect(),
        })
    }

    pub fn ty(&self) -> KvCacheType {
        self.ty
    }
    /// Cells per layer (the context padded to 256).
    pub fn cells(&self) -> usize {
        self.cells
    }
    /// Bytes of K and V over all layers.
    pub fn bytes(&self) -> u64 {
        (self.k.len() * 2 * self.cells * self.row_bytes) as u64
    }

    fn encode(&self, x: &[f32], out: &mut [u8]) {
        match self.ty {
            KvCacheType::F16 => quant::quantize_row_f16(x, out),
            KvCacheType::Q8_0 => super::matmul::quantize_row_q8_0_x86(x, out),
        }
    }

    /// Stores the K and V rows of the token at `pos` in layer `il`.
    pub fn store(&mut self, il: usize, pos: usize, k: &[f32], v: &[f32]) {
        let (rb, r) = (self.row_bytes, pos * self.row_bytes);
        let mut kb = std::mem::take(&mut self.k[il]);
        let mut vb = std::mem::take(&mut self.v[il]);
        self.encode(k, &mut kb[r..r + rb]);
        self.encode(v, &mut vb[r..r + rb]);
        self.k[il] = kb;
        self.v[il] = vb;
    }

    /// K rows of cells `0..n` of layer `il`, decoded to f32 (`n × row_elems`).
    pub fn keys(&self, il: usize, n: usize, out: &mut Vec<f32>) {
        self.decode(&self.k[il], n, out);
    }
    /// V rows of cells `0..n` of layer `il`, decoded to f32.
    pub fn values(&self, il: usize, n: usize, out: &mut Vec<f32>) {
        self.decode(&self.v[il], n, out);
    }

    /// Elements `off..off + out.len() / n` (one head) of the K rows (`values` false) or V rows
    /// of cells `0..n` of layer `il`, decoded to f32 into `out` (`n × len`, cell-major): what
    /// one-token attention reads, without widening the rest of the cache.
    pub(crate) fn head(&self, il: usize, values: bool, n: usize, off: usize, out: &mut [f32]) {
        let b = if values { &self.v[il] } else { &self.k[il] };
        let len = out.len() / n.max(1);
        debug_assert!(off + len <= self.row_elems);
        match self.ty {
            KvCacheType::F16 => widen_f16_rows(&b[2 * off..], self.row_bytes, len, out),
            KvCacheType::Q8_0 => {
                let mut row = vec![0.0f32; self.row_elems];
                for (j, o) in out.chunks_exact_mut(len).enumerate() {
                    let r = &b[j * self.row_bytes..(j + 1) * self.row_bytes];
                    quant::dequantize_row_q8_0(r, &mut row);
                    o.copy_from_slice(&row[off..off + len]);
                }
            }
        }
    }

    fn decode(&self, b: &[u8], n: usize, out: &mut Vec<f32>) {
        out.clear();
        out.resize(n * self.row_elems, 0.0);
        match self.ty {
            KvCacheType::F16 => widen_f16_rows(b, self.row_bytes, self.row_elems, out),
            KvCacheType::Q8_0 => quant::dequantize_row_q8_0(&b[..n * self.row_bytes], out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_f16_value_widens_to_the_table_value() {
        // Every bit pattern but NaN (F16C quiets signalling NaNs; the cache holds no NaN).
        let words: Vec<u16> = (0..=u16::MAX)
            .filter(|&w| !half::f16::from_bits(w).is_nan())
            .collect();
        let n = words.len() / 8 * 8;
        let bytes: Vec<u8> = words[..n].iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut got = vec![0.0f32; n];
        widen_f16_rows(&bytes, 16, 8, &mut got);
        for (w, g) in words.iter().zip(&got) {
            assert_eq!(g.to_bits(), quant::fp16_to_fp32(*w).to_bits(), "{w:#06x}");
        }
    }

    #[test]
    fn a_head_reads_the_same_values_as_the_decoded_rows() {
        let (hd, heads, n) = (64, 4, 7);
        let row = hd * heads;
        for ty in [KvCacheType::F16, KvCacheType::Q8_0] {
            let mut kv = KvCache::new(ty, 2, 16, row).unwrap();
            for pos in 0..n {
                let k: Vec<f32> = (0..row)
                    .map(|i| ((i * 7 + pos * 13) as f32).sin())
                    .collect();
                let v: Vec<f32> = (0..row).map(|i| ((i * 3 + pos) as f32).cos()).collect();
                kv.store(1, pos, &k, &v);
            }
            let (mut keys, mut values) = (Vec::new(), Vec::new());
            kv.keys(1, n, &mut keys);
            kv.values(1, n, &mut values);
            for h in 0..heads {
                let mut got = vec![0.0f32; n * hd];
                for (is_v, all) in [(false, &keys), (true, &values)] {
                    kv.head(1, is_v, n, h * hd, &mut got);
                    for j in 0..n {
                        let want = &all[j * row + h * hd..j * row + (h + 1) * hd];
                        let got = &got[j * hd..(j + 1) * hd];
                        assert!(
                            want.iter()
                                .zip(got)
                                .all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{ty:?} head {h} cell {j}"
                        );
                    }
                }
            }
        }
    }
}
