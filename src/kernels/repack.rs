//! Load-time repacking of Q4_0, IQ4_NL and Q4_K weight matrices into 8-row interleaved blocks,
//! and the matrix-vector (decode) and four-token matrix-matrix (prefill) products on them.
//!
//! A one-row kernel on the file layout spends more instructions per weight byte than a core can
//! stream from memory: every block converts its own f16 scale and reloads the activation block.
//! Like llama.cpp's CPU_REPACK buffers (`ggml/src/ggml-cpu/repack.cpp`: `block_q4_0x8`,
//! `block_iq4_nlx8`, `block_q4_Kx8`), the weights of eight consecutive rows are interleaved block
//! by block, so one activation block serves eight rows, eight scales convert in one instruction,
//! and the rows still stream as one sequential run of memory. The layouts here are vramplan's own
//! (4-byte interleave, Q4_K scales re-encoded for SIMD decoding); the group of eight rows has
//! exactly the bytes of those eight rows in the file, so a row range `8g..8h` is the byte range of
//! `g..h` groups, as in the file.
//!
//! **Q4_0×8** and **IQ4_NL×8** (the same block shape: f16 `d` and 16 bytes of nibbles), per block
//! of 32 columns (144 bytes = 8 × 18): `d[8]` (f16 of rows 0..8), then `qs` (128 bytes): the
//! file's `qs` byte `4c + b` of row `r` at `16 + 32c + 4r + b` (`c < 4`, `b < 4`). A 32-byte load
//! is the four bytes `4c..4c+4` of all eight rows: its low nibbles are elements `4c..4c+4`, its
//! high nibbles elements `16+4c..20+4c`. A Q4_0 nibble `q` stands for `q − 8`, an IQ4_NL nibble
//! for `kvalues_iq4nl[q]`.
//!
//! **Q4_K×8**, per super-block of 256 columns (1152 bytes = 8 × 144): `d[8]`, `dmin[8]` (f16),
//! then the 6-bit scales `sc[r][j]` and mins `m[r][j]` of sub-block `j` as 96 bytes: with
//! `k = 8j + r`, byte `32 + k` holds the low four bits of `sc` (low nibble) and of `m` (high
//! nibble); byte `96 + (k mod 32)` holds the top two bits of `sc` and `m` at bit 0 and 2
//! (`k < 32`) or 4 and 6 (`k ≥ 32`). Then `qs` (1024 bytes): the file's `qs` byte `32c + 4s + b`
//! of row `r` at `128 + 256c + 32s + 4r + b` (`c < 4`, `s < 8`): low nibbles are sub-block
//! `2c`, high nibbles sub-block `2c + 1`.
//!
//! Every kernel computes, per row and block, the same integer sum as ggml's scalar
//! `ggml_vec_dot_*_generic` and the same f32 operations in the same order (`sumi·dx·dy` added to
//! a per-row sum for Q4_0, `(dy·dx)·sumi` for IQ4_NL; Q4_K `d·isum − dmin·msum`), so each result
//! is bit-identical to [`super::scalar`]'s one-row kernel on the file layout, on every
//! instruction set.

use super::block::{self, QK, QK_K};
use super::{active_isa, f16_at, row_bytes, vec_dot_type, Isa, KernelError, KVALUES_IQ4NL};
use crate::ggml::GgmlType;

/// Rows per interleaved group.
pub const ROWS: usize = 8;

/// Tokens per call of the prefill form.
pub const GEMM_TOKENS: usize = 4;

/// A packed kernel: `n` columns of one group of eight rows (`w`) against `T` activation rows in
/// the partner type; `aux[t]` holds per-block sums the kernel needs (`o·Σy` of each block of
/// token `t` for a kernel that takes its weights as unsigned `x + o`, see
/// [`PackedKernel::sum_offset`]; empty otherwise). Returns the eight row results per token. Callers
/// guarantee the CPU features of the kernel's instruction set and whole blocks in every slice.
pub(crate) type RawPacked<const T: usize> =
    unsafe fn(usize, &[u8], [&[u8]; T], [&[i32]; T]) -> [[f32; ROWS]; T];

/// Bytes of one group of eight rows per block (or super-block) of `ty`.
fn group_block_bytes(ty: GgmlType) -> usize {
    ROWS * ty.type_size()
}

/// Whether `ty` has a packed layout.
pub fn has_layout(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::Q4_0 | GgmlType::IQ4_NL | GgmlType::Q4_K)
}

/// Bytes of `qs` per block of `ty` (the nibbles, after the scales).
fn qs_bytes(ty: GgmlType) -> usize {
    if ty == GgmlType::Q4_K {
        128
    } else {
        16
    }
}

/// Whether a `rows × cols` matrix of `ty` can be repacked: a packed type, whole groups of eight
/// rows and whole blocks per row.
pub fn can_repack(ty: GgmlType, rows: usize, cols: usize) -> bool {
    has_layout(ty)
        && rows > 0
        && rows.is_multiple_of(ROWS)
        && cols > 0
        && cols.is_multiple_of(ty.block_size())
}

/// Checks a matrix of `rows × cols` of `ty` against the byte counts of its two layouts.
fn check_matrix(ty: GgmlType, rows: usize, cols: usize, len: usize) -> Result<(), KernelError> {
    if !has_layout(ty) {
        return Err(KernelError::Unsupported(ty));
    }
    let expected = row_bytes(ty, cols)?.saturating_mul(rows);
    if !rows.is_multiple_of(ROWS) || len != expected {
        return Err(KernelError::Len {
            what: "weight matrix (whole groups of 8 rows)",
            expected,
            actual: len,
        });
    }
    Ok(())
}

/// Where the file's byte `i` of a block's `qs` goes inside the packed group block (Q4_0 and
/// IQ4_NL: the 16 bytes of one row's block; Q4_K: its 128 bytes).
#[inline(always)]
fn qs_offset(ty: GgmlType, r: usize, i: usize) -> usize {
    match ty {
        GgmlType::Q4_0 | GgmlType::IQ4_NL => 16 + 32 * (i / 4) + 4 * r + i % 4,
        _ => 128 + 256 * (i / 32) + 32 * (i % 32 / 4) + 4 * r + i % 4,
    }
}

/// Packs one super-block's scales of eight rows (`sm[r] = (sc, m)`, 6 bits each) into 96 bytes.
fn pack_k4_scales(sm: &[([u8; 8], [u8; 8]); ROWS], out: &mut [u8]) {
    out[..96].fill(0);
    for (r, (sc, m)) in sm.iter().enumerate() {
        for j in 0..8 {
            let k = 8 * j + r;
            out[k] = (sc[j] & 15) | ((m[j] & 15) << 4);
            let hi = (sc[j] >> 4) | ((m[j] >> 4) << 2);
            out[64 + k % 32] |= hi << (4 * (k / 32));
        }
    }
}

/// The inverse of [`pack_k4_scales`] for row `r`.
pub(crate) fn unpack_k4_scales(p: &[u8], r: usize) -> ([u8; 8], [u8; 8]) {
    let (mut sc, mut m) = ([0u8; 8], [0u8; 8]);
    for j in 0..8 {
        let k = 8 * j + r;
        let hi = p[64 + k % 32] >> (4 * (k / 32));
        sc[j] = (p[k] & 15) | ((hi & 3) << 4);
        m[j] = (p[k] >> 4) | (((hi >> 2) & 3) << 4);
    }
    (sc, m)
}

/// The file's 12-byte encoding of Q4_K scales and mins (`quantize_row_q4_K_ref`), the inverse
/// of `get_scale_min_k4`.
fn k4_encode(sc: &[u8; 8], m: &[u8; 8]) -> [u8; 12] {
    let mut q = [0u8; 12];
    for j in 0..8 {
        if j < 4 {
            q[j] = sc[j];
            q[j + 4] = m[j];
        } else {
            q[j + 4] = (sc[j] & 15) | ((m[j] & 15) << 4);
            q[j - 4] |= (sc[j] >> 4) << 6;
            q[j] |= (m[j] >> 4) << 6;
        }
    }
    q
}

/// Repacks a `rows × cols` matrix of `ty` from the file layout (`src`) into the packed layout
/// (`dst`, the same size). Exact: [`unrepack`] gives `src` back byte for byte.
pub fn repack(
    ty: GgmlType,
    rows: usize,
    cols: usize,
    src: &[u8],
    dst: &mut [u8],
) -> Result<(), KernelError> {
    check_matrix(ty, rows, cols, src.len())?;
    check_matrix(ty, rows, cols, dst.len())?;
    let (bs, nb) = (ty.type_size(), cols / ty.block_size());
    let rb = nb * bs;
    let gb = group_block_bytes(ty);
    for (g, out) in dst.chunks_exact_mut(ROWS * rb).enumerate() {
        let row = |r: usize, b: usize| &src[(g * ROWS + r) * rb + b * bs..][..bs];
        for (b, o) in out.chunks_exact_mut(gb).enumerate() {
            let nq = qs_bytes(ty);
            for r in 0..ROWS {
                let x = row(r, b);
                o[2 * r..2 * r + 2].copy_from_slice(&x[..2]);
                if ty == GgmlType::Q4_K {
                    o[16 + 2 * r..18 + 2 * r].copy_from_slice(&x[2..4]);
                }
                // Four bytes at a time: `qs_offset` keeps each aligned run of four together.
                for i in (0..nq).step_by(4) {
                    let at = qs_offset(ty, r, i);
                    o[at..at + 4].copy_from_slice(&x[bs - nq + i..bs - nq + i + 4]);
                }
            }
            if ty == GgmlType::Q4_K {
                let sm = std::array::from_fn(|r| super::scalar::k4_scales_mins(&row(r, b)[4..16]));
                pack_k4_scales(&sm, &mut o[32..128]);
            }
        }
    }
    Ok(())
}

/// Row `r` of one packed group (`group`: `ROWS` rows of `cols` columns) in the file layout,
/// into `out` (one row's bytes).
pub fn unrepack_row(ty: GgmlType, cols: usize, group: &[u8], r: usize, out: &mut [u8]) {
    let (bs, gb) = (ty.type_size(), group_block_bytes(ty));
    let nq = qs_bytes(ty);
    for (o, p) in out.chunks_exact_mut(bs).zip(group.chunks_exact(gb)) {
        o[..2].copy_from_slice(&p[2 * r..2 * r + 2]);
        if ty == GgmlType::Q4_K {
            o[2..4].copy_from_slice(&p[16 + 2 * r..18 + 2 * r]);
            let (sc, m) = unpack_k4_scales(&p[32..128], r);
            o[4..16].copy_from_slice(&k4_encode(&sc, &m));
        }
        for i in (0..nq).step_by(4) {
            let at = qs_offset(ty, r, i);
            o[bs - nq + i..bs - nq + i + 4].copy_from_slice(&p[at..at + 4]);
        }
    }
    debug_assert_eq!(out.len(), cols / ty.block_size() * bs);
}

/// The inverse of [`repack`].
pub fn unrepack(
    ty: GgmlType,
    rows: usize,
    cols: usize,
    src: &[u8],
    dst: &mut [u8],
) -> Result<(), KernelError> {
    check_matrix(ty, rows, cols, src.len())?;
    check_matrix(ty, rows, cols, dst.len())?;
    let rb = row_bytes(ty, cols)?;
    for (group, out) in src
        .chunks_exact(ROWS * rb)
        .zip(dst.chunks_exact_mut(ROWS * rb))
    {
        for (r, o) in out.chunks_exact_mut(rb).enumerate() {
            unrepack_row(ty, cols, group, r, o);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scalar twins: the SIMD kernels' reference on the packed layout.

/// Q4_0×8 against `T` Q8_0 rows, in the order of `ggml_vec_dot_q4_0_q8_0_generic`.
fn q4_0x8_scalar<const T: usize>(
    n: usize,
    w: &[u8],
    y: [&[u8]; T],
    _aux: [&[i32]; T],
) -> [[f32; ROWS]; T] {
    let mut out = [[0f32; ROWS]; T];
    for (ib, p) in w.chunks_exact(144).take(n / QK).enumerate() {
        for (t, o) in out.iter_mut().enumerate() {
            let yb = &y[t][ib * block::Q8_0..(ib + 1) * block::Q8_0];
            for (r, o) in o.iter_mut().enumerate() {
                let mut sumi = 0i32;
                for i in 0..16 {
                    let q = p[qs_offset(GgmlType::Q4_0, r, i)];
                    sumi += ((q & 15) as i32 - 8) * yb[2 + i] as i8 as i32;
                    sumi += ((q >> 4) as i32 - 8) * yb[18 + i] as i8 as i32;
                }
                *o += sumi as f32 * f16_at(p, 2 * r) * f16_at(yb, 0);
            }
        }
    }
    out
}

/// IQ4_NL×8 against `T` Q8_0 rows, in the order of `ggml_vec_dot_iq4_nl_q8_0_generic`.
fn iq4_nlx8_scalar<const T: usize>(
    n: usize,
    w: &[u8],
    y: [&[u8]; T],
    _aux: [&[i32]; T],
) -> [[f32; ROWS]; T] {
    let level = |q: u8| KVALUES_IQ4NL[q as usize] as i32;
    let mut out = [[0f32; ROWS]; T];
    for (ib, p) in w.chunks_exact(144).take(n / QK).enumerate() {
        for (t, o) in out.iter_mut().enumerate() {
            let yb = &y[t][ib * block::Q8_0..(ib + 1) * block::Q8_0];
            for (r, o) in o.iter_mut().enumerate() {
                let mut sumi = 0i32;
                for i in 0..16 {
                    let q = p[qs_offset(GgmlType::IQ4_NL, r, i)];
                    sumi += level(q & 15) * yb[2 + i] as i8 as i32;
                    sumi += level(q >> 4) * yb[18 + i] as i8 as i32;
                }
                *o += f16_at(yb, 0) * f16_at(p, 2 * r) * sumi as f32;
            }
        }
    }
    out
}

/// Q4_K×8 against `T` Q8_K rows, in the order of `ggml_vec_dot_q4_K_q8_K_generic`.
fn q4_kx8_scalar<const T: usize>(
    n: usize,
    w: &[u8],
    y: [&[u8]; T],
    _aux: [&[i32]; T],
) -> [[f32; ROWS]; T] {
    let mut out = [[0f32; ROWS]; T];
    for (i, p) in w.chunks_exact(1152).take(n / QK_K).enumerate() {
        for (t, o) in out.iter_mut().enumerate() {
            let yb = &y[t][i * block::Q8_K..(i + 1) * block::Q8_K];
            let yd = super::f32_at(yb, 0);
            let bsum = |k: usize| i16::from_le_bytes([yb[260 + 2 * k], yb[261 + 2 * k]]) as i32;
            for (r, o) in o.iter_mut().enumerate() {
                let (sc, m) = unpack_k4_scales(&p[32..128], r);
                let mut isum = 0i32;
                for j in 0..8 {
                    let mut s = 0i32;
                    for l in 0..32 {
                        let q = p[qs_offset(GgmlType::Q4_K, r, 32 * (j / 2) + l)];
                        let q = if j % 2 == 0 { q & 15 } else { q >> 4 };
                        s += q as i32 * yb[4 + 32 * j + l] as i8 as i32;
                    }
                    isum += sc[j] as i32 * s;
                }
                let msum: i32 = (0..8)
                    .map(|j| m[j] as i32 * (bsum(2 * j) + bsum(2 * j + 1)))
                    .sum();
                let d = yd * f16_at(p, 2 * r);
                let dmin = yd * f16_at(p, 16 + 2 * r);
                *o += d * isum as f32 - dmin * msum as f32;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Dispatch and drivers.

/// A packed kernel resolved for one weight type and one instruction set.
#[derive(Clone, Copy)]
pub struct PackedKernel {
    ty: GgmlType,
    isa: Isa,
    /// The offset `o` of the kernel's unsigned weights `x + o` (0: it needs no activation sums).
    sum_offset: i32,
    f1: RawPacked<1>,
    f4: RawPacked<GEMM_TOKENS>,
}

impl std::fmt::Debug for PackedKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedKernel")
            .field("ty", &self.ty)
            .field("isa", &self.isa)
            .finish()
    }
}

impl PackedKernel {
    /// The packed kernel of `isa` for `ty`, or `None` when this CPU lacks `isa` or `isa` has no
    /// packed kernel for `ty` (NEON has none yet; the scalar twins exist for every packed type).
    pub fn with_isa(ty: GgmlType, isa: Isa) -> Option<PackedKernel> {
        if !isa.is_available() || !has_layout(ty) {
            return None;
        }
        let (f1, f4): (RawPacked<1>, RawPacked<GEMM_TOKENS>) = match (isa, ty) {
            (Isa::Scalar, GgmlType::Q4_0) => (q4_0x8_scalar::<1>, q4_0x8_scalar::<GEMM_TOKENS>),
            (Isa::Scalar, GgmlType::IQ4_NL) => {
                (iq4_nlx8_scalar::<1>, iq4_nlx8_scalar::<GEMM_TOKENS>)
            }
            (Isa::Scalar, _) => (q4_kx8_scalar::<1>, q4_kx8_scalar::<GEMM_TOKENS>),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2 | Isa::Avx512Vnni, _) => {
                super::repack_x86::kernels(ty, isa == Isa::Avx512Vnni)?
            }
            #[allow(unreachable_patterns)]
            _ => return None,
        };
        // Q4_0's nibbles are `x + 8` on every instruction set; IQ4_NL's 512-bit kernel looks up
        // `x + 128` for `vpdpbusd` (unsigned × signed), where AVX2 multiplies `|y|` by `x·sign(y)`
        // and needs no sums.
        let sum_offset = match (ty, isa) {
            (GgmlType::Q4_0, _) => 8,
            (GgmlType::IQ4_NL, Isa::Avx512Vnni) => 128,
            _ => 0,
        };
        Some(PackedKernel {
            ty,
            isa,
            sum_offset,
            f1,
            f4,
        })
    }

    /// The packed kernel the engine uses for `ty`: the active instruction set's SIMD kernel, or
    /// `None` (weights then stay in the file layout). The scalar twins are references for
    /// tests, not a reason to copy weights: under `VRAMPLAN_FORCE_SCALAR` nothing is repacked.
    pub fn for_engine(ty: GgmlType) -> Option<PackedKernel> {
        match active_isa() {
            Isa::Scalar => None,
            isa => PackedKernel::with_isa(ty, isa),
        }
    }

    /// The weight type.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }

    /// The instruction set the kernel was written for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The offset `o` of the unsigned weights `x + o` the kernel multiplies, whose `o·Σy` per
    /// activation block [`act_sums`] computes; 0 when the kernel reads no sums.
    pub fn sum_offset(&self) -> i32 {
        self.sum_offset
    }
}

/// Checks the operands of a packed product; returns the bytes of one activation row.
fn check_packed(
    k: &PackedKernel,
    w: &[u8],
    n_cols: usize,
    acts: usize,
    n_tok: usize,
    out: usize,
) -> Result<usize, KernelError> {
    let act_ty = vec_dot_type(k.ty).ok_or(KernelError::Unsupported(k.ty))?;
    let arb = row_bytes(act_ty, n_cols)?;
    let expected = arb.saturating_mul(n_tok);
    if acts != expected {
        return Err(KernelError::Len {
            what: "activation rows",
            expected,
            actual: acts,
        });
    }
    let rows = out.checked_div(n_tok).unwrap_or(0);
    if rows * n_tok != out {
        return Err(KernelError::Len {
            what: "output",
            expected: rows * n_tok,
            actual: out,
        });
    }
    check_matrix(k.ty, rows, n_cols, w.len())?;
    Ok(arb)
}

/// The per-token, per-block sums a packed kernel reads besides the activations: `o·Σy` of each
/// Q8_0 block for a kernel on unsigned weights `x + o` ([`PackedKernel::sum_offset`]: Q4_0's
/// `−8`, IQ4_NL's `−128` in the 512-bit kernel), applied once per block for eight rows; none for
/// the others (Q4_K's Q8_K blocks carry their sums). For the `n_tok` activation rows of `acts`;
/// computed once per product and shared by every slice of rows ([`matmul_packed_with`]).
pub fn act_sums(k: &PackedKernel, n_cols: usize, acts: &[u8], n_tok: usize) -> Vec<i32> {
    if k.sum_offset == 0 || n_tok == 0 {
        return Vec::new();
    }
    let nb = n_cols / QK;
    let mut out = vec![0i32; nb * n_tok];
    for (o, yb) in out.iter_mut().zip(acts.chunks_exact(block::Q8_0)) {
        *o = k.sum_offset * yb[2..].iter().map(|&v| v as i8 as i32).sum::<i32>();
    }
    out
}

/// `out[r] = w[r] · act` for the `out.len()` rows (a multiple of eight) of the packed matrix
/// `w`, on the calling thread. Bit-identical to [`super::scalar`]'s one-row kernel per row.
pub fn matvec_packed(
    k: &PackedKernel,
    w: &[u8],
    n_cols: usize,
    act: &[u8],
    out: &mut [f32],
) -> Result<(), KernelError> {
    let sums = act_sums(k, n_cols, act, 1);
    matmul_packed_with(k, w, n_cols, act, 1, &sums, out)
}

/// `out[r * n_tok + t] = w[r] · acts[t]` for the rows of the packed matrix `w` and the `n_tok`
/// activation rows of `acts` (back to back), on the calling thread; weight-row-major output as
/// [`super::matmul_with`]. Tokens go four at a time through the prefill form, which unpacks a
/// group's block once for the four; every result is bit-identical to [`matvec_packed`].
pub fn matmul_packed(
    k: &PackedKernel,
    w: &[u8],
    n_cols: usize,
    acts: &[u8],
    n_tok: usize,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let sums = act_sums(k, n_cols, acts, n_tok);
    matmul_packed_with(k, w, n_cols, acts, n_tok, &sums, out)
}

/// [`matmul_packed`] with the activation sums already computed ([`act_sums`] of the same
/// activations; a wrong length is refused, wrong values give wrong products).
pub fn matmul_packed_with(
    k: &PackedKernel,
    w: &[u8],
    n_cols: usize,
    acts: &[u8],
    n_tok: usize,
    sums: &[i32],
    out: &mut [f32],
) -> Result<(), KernelError> {
    let arb = check_packed(k, w, n_cols, acts.len(), n_tok, out.len())?;
    let nb = n_cols / QK;
    let want = if k.sum_offset != 0 { nb * n_tok } else { 0 };
    if sums.len() != want {
        return Err(KernelError::Len {
            what: "activation sums",
            expected: want,
            actual: sums.len(),
        });
    }
    if out.is_empty() || n_cols == 0 {
        out.fill(0.0);
        return Ok(());
    }
    let n_groups = out.len() / n_tok / ROWS;
    let gbytes = w.len() / n_groups;
    let act = |t: usize| &acts[t * arb..(t + 1) * arb];
    let sums = |t: usize| {
        if want == 0 {
            &[][..]
        } else {
            &sums[t * nb..(t + 1) * nb]
        }
    };
    for (g, o) in w
        .chunks_exact(gbytes)
        .zip(out.chunks_exact_mut(ROWS * n_tok))
    {
        let mut t = 0;
        while t + GEMM_TOKENS <= n_tok {
            let ys = std::array::from_fn(|j| act(t + j));
            let ss = std::array::from_fn(|j| sums(t + j));
            // SAFETY: `k` was built for an instruction set this CPU has; `check_packed` verified
            // that `g` is one group of eight rows of `n_cols` columns and each activation row
            // holds `n_cols`; each `ss[j]` has one sum per Q8_0 block (or is empty and unused).
            let v = unsafe { (k.f4)(n_cols, g, ys, ss) };
            for (j, vj) in v.iter().enumerate() {
                for (r, &x) in vj.iter().enumerate() {
                    o[r * n_tok + t + j] = x;
                }
            }
            t += GEMM_TOKENS;
        }
        for t in t..n_tok {
            // SAFETY: as above, for one activation row.
            let [v] = unsafe { (k.f1)(n_cols, g, [act(t)], [sums(t)]) };
            for (r, &x) in v.iter().enumerate() {
                o[r * n_tok + t] = x;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize, seed: &mut u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (*seed >> 33) as u8
            })
            .collect()
    }

    #[test]
    fn repack_is_exact_for_any_bytes() {
        let mut s = 3u64;
        for ty in [GgmlType::Q4_0, GgmlType::IQ4_NL, GgmlType::Q4_K] {
            let (rows, cols) = (16, 2 * QK_K);
            let src = bytes(rows * cols / ty.block_size() * ty.type_size(), &mut s);
            let mut packed = vec![0u8; src.len()];
            repack(ty, rows, cols, &src, &mut packed).unwrap();
            assert_ne!(packed, src, "{ty}: the layout differs from the file's");
            let mut back = vec![0u8; src.len()];
            unrepack(ty, rows, cols, &packed, &mut back).unwrap();
            assert_eq!(back, src, "{ty}");
        }
    }

    #[test]
    fn shapes_that_do_not_repack_are_refused() {
        assert!(!can_repack(GgmlType::Q4_0, 12, 64));
        assert!(!can_repack(GgmlType::Q4_K, 8, 128));
        assert!(!can_repack(GgmlType::Q6_K, 8, 256));
        assert!(can_repack(GgmlType::Q4_K, 8, 256));
        let mut d = vec![0u8; 12 * 18 * 2];
        assert!(repack(GgmlType::Q4_0, 12, 64, &d.clone(), &mut d).is_err());
    }
}
