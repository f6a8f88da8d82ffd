//! Matrix products on weights that stay quantized in the memory map.
//!
//! As in llama.cpp's `ggml_compute_forward_mul_mat`, the activations are quantized once to the
//! weight type's partner type (`vec_dot_type`: Q8_0, Q8_1, Q8_K or the float type itself) and
//! each output element is one [`crate::kernels`] dot product of a weight row with an activation
//! row. Weight types the kernels lack but the codecs can dequantize (the IQ1-IQ3 and ternary
//! types, MXFP4) take a slow twin: the weight row is dequantized and dotted in f32.
//!
//! The activation quantizers follow ggml-cpu's x86 `quantize_row_q8_0`/`quantize_row_q8_1`
//! (`ggml/src/ggml-cpu/arch/x86/quants.c`: `id = 127/amax`, round half to even), which differ from
//! the reference quantizers in `crate::quant` in the last bit of rare elements.

use std::ops::Range;
use std::sync::Arc;

use super::pool::{self, SharedMut};
use super::EngineError;
use crate::ggml::GgmlType;

use crate::kernels::repack::{self, PackedKernel};
use crate::kernels::{self, DotKernel};
use crate::quant;

/// Where a weight matrix's bytes live, and in which layout.
#[derive(Debug, Clone)]
pub enum WeightBytes<'a> {
    /// In the file (the memory map), in the file's layout: rows back to back.
    Mapped(&'a [u8]),
    /// Repacked at load into memory of its own, in the 8-row interleaved layout of
    /// [`kernels::repack`]: bytes `range` of the buffer (an expert's slice of a stacked tensor).
    Packed(Arc<Vec<u8>>, Range<usize>),
}

/// A weight matrix: `rows` rows of `cols` elements of type `ty`, in the file's layout or repacked.
#[derive(Debug, Clone)]
pub struct Weight<'a> {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub bytes: WeightBytes<'a>,
}

impl<'a> Weight<'a> {
    /// A matrix in the file's layout.
    pub fn mapped(ty: GgmlType, rows: usize, cols: usize, data: &'a [u8]) -> Weight<'a> {
        Weight {
            ty,
            rows,
            cols,
            bytes: WeightBytes::Mapped(data),
        }
    }

    /// The matrix's bytes (`rows × row_bytes()` in either layout).
    pub fn data(&self) -> &[u8] {
        match &self.bytes {
            WeightBytes::Mapped(d) => d,
            WeightBytes::Packed(buf, r) => &buf[r.clone()],
        }
    }

    /// Whether the bytes are in the 8-row interleaved layout.
    pub fn is_packed(&self) -> bool {
        matches!(self.bytes, WeightBytes::Packed(..))
    }

    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.cols / self.ty.block_size() * self.ty.type_size()
    }

    /// Rows `r0..r0 + n` as a matrix of their own (an expert of a stacked `*_exps` tensor). A
    /// packed matrix slices on whole groups of eight rows only (the loader repacks experts only
    /// when their row count is a multiple of eight).
    pub fn slice_rows(&self, r0: usize, n: usize) -> Weight<'a> {
        let rb = self.row_bytes();
        let bytes = match &self.bytes {
            WeightBytes::Mapped(d) => WeightBytes::Mapped(&d[r0 * rb..(r0 + n) * rb]),
            WeightBytes::Packed(buf, r) => {
                assert!(
                    r0.is_multiple_of(repack::ROWS) && n.is_multiple_of(repack::ROWS),
                    "packed rows slice on groups"
                );
                WeightBytes::Packed(buf.clone(), r.start + r0 * rb..r.start + (r0 + n) * rb)
            }
        };
        Weight {
            ty: self.ty,
            rows: n,
            cols: self.cols,
            bytes,
        }
    }

    /// Dequantizes row `r` into `out` (`cols` floats).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let rb = self.row_bytes();
        let f = quant::dequantize_fn(self.ty)
            .expect("weights are checked to be dequantizable when the model is loaded");
        if self.is_packed() {
            let g = r / repack::ROWS * repack::ROWS * rb;
            let mut row = vec![0u8; rb];
            let group = &self.data()[g..g + repack::ROWS * rb];
            repack::unrepack_row(self.ty, self.cols, group, r % repack::ROWS, &mut row);
            f(&row, out);
        } else {
            f(&self.data()[r * rb..(r + 1) * rb], out);
        }
    }
}

/// How a weight type is multiplied.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MatKernel {
    /// A dot-product kernel on activations quantized to `act`.
    Dot { kernel: DotKernel, act: GgmlType },
    /// Dequantize each weight row and dot in f32 (types without a kernel).
    Dequant,
    /// A kernel of [`kernels::repack`] on weights repacked at load (8-row interleaved: Q4_0,
    /// IQ4_NL, Q4_K); `file` is the type's kernel on the file layout, whose tiled product serves
    /// prompt batches where it is faster (Q4_K: its tiles filled straight from the packed groups,
    /// [`kernels::matmul_packed_tiled`]). Q4_0 and IQ4_NL have no tiled form: their prompts run
    /// the packed four-token kernel, faster than putting rows back for `gemm_q8` (the kernels
    /// bench's packed table, `file GF/s`).
    Packed {
        kernel: PackedKernel,
        act: GgmlType,
        file: DotKernel,
    },
}

impl MatKernel {
    /// The kernel for weights of type `ty` on instruction set `isa` (one this CPU has), or an
    /// error naming the tensor.
    pub(crate) fn for_weight_on(
        name: &str,
        ty: GgmlType,
        isa: kernels::Isa,
    ) -> Result<MatKernel, EngineError> {
        let kernel = DotKernel::with_isa(ty, isa).expect("an instruction set this CPU has");
        if let (Some(act), Ok(kernel)) = (kernels::vec_dot_type(ty), kernel) {
            return Ok(MatKernel::Dot { kernel, act });
        }
        if quant::can_dequantize(ty) && ty.block_size() <= 256 {
            return Ok(MatKernel::Dequant);
        }
        Err(EngineError::UnsupportedType {
            name: name.to_string(),
            ty,
        })
    }

    /// The type the activations must be in (`None`: plain f32).
    pub(crate) fn act_type(&self) -> Option<GgmlType> {
        match self {
            MatKernel::Dot { act, .. } | MatKernel::Packed { act, .. } => Some(*act),
            MatKernel::Dequant => None,
        }
    }
}

/// Activations of `n` tokens, each a row of `cols` floats, quantized for one partner type.
#[derive(Debug, Default)]
pub(crate) struct QuantActs {
    pub ty: Option<GgmlType>,
    pub cols: usize,
    pub n: usize,
    pub row_bytes: usize,
    pub data: Vec<u8>,
}

impl QuantActs {
    /// Quantizes `x` (`n` rows of `cols`) to `ty`, replacing the contents.
    pub(crate) fn quantize(&mut self, ty: GgmlType, x: &[f32], cols: usize) {
        let n = x.len() / cols;
        let rb = cols / ty.block_size() * ty.type_size();
        self.ty = Some(ty);
        self.cols = cols;
        self.n = n;
        self.row_bytes = rb;
        self.data.clear();
        self.data.resize(rb * n, 0);
        let quantize_row: fn(&[f32], &mut [u8]) = match ty {
            GgmlType::Q8_0 => quantize_row_q8_0_x86,
            GgmlType::Q8_1 => quantize_row_q8_1_x86,
            GgmlType::Q8_K => quant::quantize_row_q8_k,
            GgmlType::F16 => quant::quantize_row_f16,
            GgmlType::BF16 => quant::quantize_row_bf16,
            GgmlType::F32 => quant::quantize_row_f32,
            other => unreachable!("{other} is not a partner type of any kernel"),
        };
        if n >= 4 {
            pool::for_chunks_mut(&mut self.data, rb, |_, t, d| {
                quantize_row(&x[t * cols..(t + 1) * cols], d);
            });
        } else {
            for (d, s) in self.data.chunks_mut(rb).zip(x.chunks(cols)) {
                quantize_row(s, d);
            }
        }
    }

    fn row(&self, t: usize) -> &[u8] {
        &self.data[t * self.row_bytes..(t + 1) * self.row_bytes]
    }
}

/// Rows per prefill task: a task streams about 16-64 KB of weights and reuses them for every token.
/// Packed weights go in whole groups of eight rows.
fn chunk_rows(w: &Weight<'_>) -> usize {
    let rb = w.row_bytes().max(1);
    let cr = (32 * 1024 / rb).clamp(4, 256);
    if w.is_packed() {
        cr.next_multiple_of(repack::ROWS)
    } else {
        cr
    }
}

/// Output rows per thread in a decode product are a multiple of this: 64 bytes of f32 outputs
/// (no cache line written by two threads when the buffer is aligned) and whole 8-row groups.
pub(crate) const ROW_ALIGN: usize = 16;

/// `out[t][r] = w[r] · x[t]` for the `n` tokens of `x` (`n × w.cols` floats, token-major) into
/// `out` (`n × w.rows`, token-major). `acts` must hold `x` quantized to the kernel's partner type
/// (see [`QuantActs::quantize`]); `scratch` (a buffer per thread) is reused between calls. Runs on the pool that
/// [`Pool::install`] made current (serially without one): one token splits the rows evenly
/// between the threads, a batch hands out chunks of [`chunk_rows`] rows on demand.
pub(crate) fn matmul(
    w: &Weight<'_>,
    k: &MatKernel,
    x: &[f32],
    acts: &QuantActs,
    out: &mut [f32],
    scratch: &mut Vec<Vec<f32>>,
) {
    let n = x.len() / w.cols;
    debug_assert_eq!(out.len(), n * w.rows);
    let rows = w.rows;
    if n == 1 {
        let sums = packed_sums(k, w.cols, acts);
        pool::with_current(|p| match p {
            Some(p) if p.threads() > 1 => {
                let y = SharedMut::new(out);
                let nth = p.threads();
                let nc = nth * pool::decode_chunks();
                p.run(&|tid| {
                    p.chunks(tid, nc, |i| {
                        let r = pool::decode_part(i, nth, rows, ROW_ALIGN);
                        // SAFETY: each chunk is handed out once; the ranges are disjoint.
                        let y = unsafe { y.slice(r.clone()) };
                        matvec_rows(w, k, x, acts, &sums, r, y);
                    });
                });
            }
            _ => matvec_rows(w, k, x, acts, &sums, 0..rows, out),
        });
        return;
    }
    // Row-major by weight row: each task owns `cr` rows for all tokens, computes them into its
    // thread's buffer in `scratch` and writes them into `out`'s token-major rows itself (a
    // serial pass after the region was ~5% of a one-thread prompt).
    let cr = match k {
        // The tiled products want whole tiles of rows, and enough of them per task.
        MatKernel::Dot { kernel, .. } => kernel.chunk_rows(n, chunk_rows(w)),
        MatKernel::Packed { file, .. } if file.tiled_for(n) => file.chunk_rows(n, chunk_rows(w)),
        _ => chunk_rows(w),
    };
    let n_chunks = rows.div_ceil(cr);
    // The per-block activation sums of a packed kernel that reads them (Q4_0, 512-bit IQ4_NL),
    // once for every chunk.
    let sums = match k {
        MatKernel::Packed { kernel, file, .. } if !file.tiled_for(n) => {
            repack::act_sums(kernel, w.cols, &acts.data, n)
        }
        _ => Vec::new(),
    };
    let threads = pool::with_current(|p| p.map_or(1, pool::Pool::threads));
    scratch.resize_with(threads, Vec::new);
    let bufs = SharedMut::new(&mut scratch[..]);
    let outs = SharedMut::new(out);
    let chunk = |tid: usize, i: usize| {
        // SAFETY: a thread's chunks run one after another, and each thread uses only its buffer.
        let buf = unsafe { &mut bufs.slice(tid..tid + 1)[0] };
        let r = i * cr..((i + 1) * cr).min(rows);
        let len = r.len() * n;
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        let y = &mut buf[..len];
        matmul_rows(w, k, x, acts, &sums, r.clone(), y);
        // In bands of 16 rows, 16 tokens at a time through a block in L1: each write fills a
        // cache line and each read is one line (reading 16 rows `4n` bytes apart token by token
        // missed L1: the rows share a handful of sets).
        for b0 in (0..r.len()).step_by(16) {
            let b1 = (b0 + 16).min(r.len());
            // SAFETY (both slices below): each chunk is handed out once and owns rows `r` of
            // every token's row of `out`; no other task writes them.
            let out_at =
                |t: usize| unsafe { outs.slice(t * rows + r.start + b0..t * rows + r.start + b1) };
            let mut t0 = 0;
            if b1 - b0 == 16 {
                while t0 + 16 <= n {
                    let mut blk = [[0f32; 16]; 16];
                    for (j, row) in blk.iter_mut().enumerate() {
                        row.copy_from_slice(&y[(b0 + j) * n + t0..][..16]);
                    }
                    for (tt, t) in (t0..t0 + 16).enumerate() {
                        for (j, o) in out_at(t).iter_mut().enumerate() {
                            *o = blk[j][tt];
                        }
                    }
                    t0 += 16;
                }
            }
            for t in t0..n {
                for (j, o) in out_at(t).iter_mut().enumerate() {
                    *o = y[(b0 + j) * n + t];
                }
            }
        }
    };
    pool::with_current(|p| match p {
        Some(p) if p.threads() > 1 => {
            p.run(&|tid| p.chunks(tid, n_chunks, |i| chunk(tid, i)));
        }
        _ => (0..n_chunks).for_each(|i| chunk(0, i)),
    });
}

/// One of the one-token products of [`matvecs`].
pub(crate) struct MatvecJob<'a, 'w> {
    pub w: &'a Weight<'w>,
    pub k: &'a MatKernel,
    /// The activation row quantized to `k`'s partner type (unused by [`MatKernel::Dequant`]).
    pub acts: &'a QuantActs,
    /// `w.rows` floats.
    pub out: &'a mut [f32],
}

/// Several one-token products of the same activation row `x` in one parallel region (Q, K and V;
/// gate and up), saving a fork and join per product. The rows of every product are cut into the
/// same number of parts, [`ROW_ALIGN`]-aligned; whoever computes part `i` computes it for every
/// product and then calls `after` on the parts' outputs (SwiGLU over gate and up). Each output
/// row is the same kernel call as in [`matmul`], so the results are identical.
pub(crate) fn matvecs<const N: usize>(
    jobs: [MatvecJob<'_, '_>; N],
    x: &[f32],
    after: impl Fn([&mut [f32]; N]) + Sync,
) {
    let outs: [SharedMut<f32>; N] = std::array::from_fn(|j| SharedMut::new(&mut *jobs[j].out));
    let sums: [Vec<i32>; N] =
        std::array::from_fn(|j| packed_sums(jobs[j].k, jobs[j].w.cols, jobs[j].acts));
    // One part of every product: rows `range(rows)` of each.
    let part = |range: &dyn Fn(usize) -> Range<usize>| {
        let ys: [&mut [f32]; N] = std::array::from_fn(|j| {
            let job = &jobs[j];
            let r = range(job.w.rows);
            // SAFETY: each part index is handed out once; the parts of a product are disjoint.
            let y = unsafe { outs[j].slice(r.clone()) };
            matvec_rows(job.w, job.k, x, job.acts, &sums[j], r, y);
            y
        });
        after(ys);
    };
    pool::with_current(|p| match p {
        Some(p) if p.threads() > 1 => {
            let nth = p.threads();
            p.run(&|tid| {
                p.chunks(tid, nth * pool::decode_chunks(), |i| {
                    part(&|rows| pool::decode_part(i, nth, rows, ROW_ALIGN))
                })
            });
        }
        _ => part(&|rows| 0..rows),
    });
}

/// [`repack::act_sums`] of one activation row for a packed kernel (empty otherwise): computed
/// once per product, not once per part of it.
fn packed_sums(k: &MatKernel, cols: usize, acts: &QuantActs) -> Vec<i32> {
    match k {
        MatKernel::Packed { kernel, .. } => repack::act_sums(kernel, cols, acts.row(0), 1),
        _ => Vec::new(),
    }
}

/// Rows `r` of `w` times the one activation row of `x`/`acts`, into `y` (`r.len()` floats);
/// `sums`: [`packed_sums`] of `acts`.
pub(crate) fn matvec_rows(
    w: &Weight<'_>,
    k: &MatKernel,
    x: &[f32],
    acts: &QuantActs,
    sums: &[i32],
    r: Range<usize>,
    y: &mut [f32],
) {
    let rb = w.row_bytes();
    let wc = &w.data()[r.start * rb..r.end * rb];
    match k {
        MatKernel::Dot { kernel, act } => {
            debug_assert_eq!(acts.ty, Some(*act));
            debug_assert_eq!(acts.n, 1);
            kernels::matvec_with(kernel, wc, w.cols, acts.row(0), y)
                .expect("operands sized by the model loader");
        }
        MatKernel::Packed { kernel, act, .. } => {
            debug_assert_eq!(acts.ty, Some(*act));
            repack::matmul_packed_with(kernel, wc, w.cols, acts.row(0), 1, sums, y)
                .expect("operands sized by the model loader");
        }
        MatKernel::Dequant => dequant_rows(w, wc, x, 1, y),
    }
}

/// Rows `r` of `w` times the `n` activation rows of `x`/`acts`, into `y` (`r.len() × n`,
/// row-major by weight row). `sums`: [`repack::act_sums`] of `acts` for a packed kernel.
fn matmul_rows(
    w: &Weight<'_>,
    k: &MatKernel,
    x: &[f32],
    acts: &QuantActs,
    sums: &[i32],
    r: Range<usize>,
    y: &mut [f32],
) {
    let n = x.len() / w.cols;
    let rb = w.row_bytes();
    let wc = &w.data()[r.start * rb..r.end * rb];
    match k {
        MatKernel::Dot { kernel, act } => {
            debug_assert_eq!(acts.ty, Some(*act));
            debug_assert_eq!(acts.n, n);
            debug_assert_eq!(y.len(), r.len() * n);
            kernels::matmul_with(kernel, wc, w.cols, &acts.data, n, y)
                .expect("operands sized by the model loader");
        }
        // Only Q4_K has a tiled form among the packed types (the loader keeps it on VNNI only).
        MatKernel::Packed { file, act, .. } if file.tiled_for(n) => {
            debug_assert_eq!(acts.ty, Some(*act));
            kernels::matmul_packed_tiled(file, wc, w.cols, &acts.data, n, y)
                .expect("operands sized by the model loader");
        }
        MatKernel::Packed { kernel, act, .. } => {
            debug_assert_eq!(acts.ty, Some(*act));
            repack::matmul_packed_with(kernel, wc, w.cols, &acts.data, n, sums, y)
                .expect("operands sized by the model loader");
        }
        MatKernel::Dequant => dequant_rows(w, wc, x, n, y),
    }
}

/// The slow twin for types without a kernel: each weight row of `wc` dequantized and dotted in
/// f32 with the `n` rows of `x`.
fn dequant_rows(w: &Weight<'_>, wc: &[u8], x: &[f32], n: usize, y: &mut [f32]) {
    let (cols, rb) = (w.cols, w.row_bytes());
    let f = quant::dequantize_fn(w.ty).expect("checked by MatKernel::for_weight");
    let mut row = vec![0.0f32; cols];
    for (r, wr) in wc.chunks_exact(rb).enumerate() {
        f(wr, &mut row);
        for t in 0..n {
            y[r * n + t] = dot_f32(&row, &x[t * cols..(t + 1) * cols]);
        }
    }
}

/// f32 dot product with eight independent partial sums (vectorizes without `unsafe`).
pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// Round half to even of `|x| <= 127.5` (`_mm256_round_ps(_MM_ROUND_NEAREST)`): adding and
/// subtracting 1.5·2^23 leaves the integer the FPU rounded to (`f32::round_ties_even` calls
/// `rintf` on baseline x86-64).
#[inline(always)]
fn round_even(x: f32) -> i8 {
    const MAGIC: f32 = 12_582_912.0;
    ((x + MAGIC) - MAGIC) as i8
}

/// ggml-cpu's AVX2 `quantize_row_q8_0`: `d = amax/127`, `q = round_half_even(x·(127/amax))`.
pub(crate) fn quantize_row_q8_0_x86(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(32).zip(y.chunks_exact_mut(34)) {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        yb[..2].copy_from_slice(&quant::fp32_to_fp16(d).to_le_bytes());
        for (q, v) in yb[2..].iter_mut().zip(xb) {
            *q = round_even(v * id) as u8;
        }
    }
}

/// ggml-cpu's AVX2 `quantize_row_q8_1`: as Q8_0, plus `s = d · Σq` stored as f16.
pub(crate) fn quantize_row_q8_1_x86(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(32).zip(y.chunks_exact_mut(36)) {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut sum = 0i32;
        for (q, v) in yb[4..].iter_mut().zip(xb) {
            let qi = round_even(v * id);
            sum += i32::from(qi);
            *q = qi as u8;
        }
        yb[..2].copy_from_slice(&quant::fp32_to_fp16(d).to_le_bytes());
        yb[2..4].copy_from_slice(&quant::fp32_to_fp16(d * sum as f32).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    #[test]
    fn round_even_ties_to_even() {
        for (x, want) in [
            (0.5f32, 0i8),
            (1.5, 2),
            (2.5, 2),
            (-0.5, 0),
            (-1.5, -2),
            (126.5, 126),
            (-127.0, -127),
            (3.49, 3),
            (-3.51, -4),
        ] {
            assert_eq!(round_even(x), want, "{x}");
            assert_eq!(x.round_ties_even() as i8, want, "{x}");
        }
    }

    #[test]
    fn x86_q8_quantizers_agree_with_the_reference_within_one_step() {
        let mut s = 7u64;
        let x: Vec<f32> = (0..256).map(|_| lcg(&mut s)).collect();
        let mut a = vec![0u8; 8 * 34];
        let mut b = vec![0u8; 8 * 34];
        quantize_row_q8_0_x86(&x, &mut a);
        quant::quantize_row_q8_0(&x, &mut b);
        for (p, q) in a.chunks(34).zip(b.chunks(34)) {
            assert_eq!(p[..2], q[..2]);
            for (u, v) in p[2..].iter().zip(&q[2..]) {
                assert!((i32::from(*u as i8) - i32::from(*v as i8)).abs() <= 1);
            }
        }
    }

    #[test]
    fn matmul_matches_dequantized_reference() {
        // 37 tokens: two blocks of 16 and a tail through the output's band writes (70 rows: four
        // bands of 16 and a short one).
        for n in [3, 37] {
            matmul_matches_dequantized_reference_for(n);
        }
    }

    fn matmul_matches_dequantized_reference_for(n: usize) {
        let (rows, cols) = (70, 64);
        let mut s = 1u64;
        let wf: Vec<f32> = (0..rows * cols).map(|_| lcg(&mut s)).collect();
        let x: Vec<f32> = (0..n * cols).map(|_| lcg(&mut s)).collect();
        for ty in [
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q8_0,
            GgmlType::F16,
        ] {
            let mut wq = vec![0u8; rows * cols / ty.block_size() * ty.type_size()];
            quant::quantize(ty, &wf, &mut wq).unwrap();
            let w = Weight::mapped(ty, rows, cols, &wq);
            let k = MatKernel::for_weight_on("w", ty, kernels::active_isa()).unwrap();
            let mut acts = QuantActs::default();
            acts.quantize(k.act_type().unwrap(), &x, cols);
            let mut out = vec![0.0; n * rows];
            matmul(&w, &k, &x, &acts, &mut out, &mut Vec::new());
            let mut row = vec![0.0; cols];
            for r in 0..rows {
                w.dequantize_row(r, &mut row);
                for t in 0..n {
                    let want = dot_f32(&row, &x[t * cols..(t + 1) * cols]);
                    let got = out[t * rows + r];
                    assert!((got - want).abs() < 0.05, "{ty} r{r} t{t}: {got} vs {want}");
                }
            }
        }
    }
}
