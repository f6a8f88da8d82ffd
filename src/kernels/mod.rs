//! Dot products and matrix-vector products on quantized blocks, with runtime SIMD dispatch.
//!
//! A weight row of ggml type `T` is multiplied with an activation row quantized to `T`'s partner
//! type, exactly as llama.cpp pairs them (`type_traits_cpu[T].vec_dot_type` in
//! `ggml/src/ggml-cpu/ggml-cpu.c`): the legacy 32-element types and IQ4_NL use Q8_0 (Q4_1 and
//! Q5_1 use Q8_1, whose stored `s = d·Σq` carries their offset), the K-quants and IQ4_XS use Q8_K,
//! and the float types pair with themselves. See [`vec_dot_type`].
//!
//! Every kernel has a scalar twin in [`scalar`] that follows ggml-cpu's `ggml_vec_dot_*_generic`
//! (`ggml/src/ggml-cpu/quants.c`): integer dot products inside a block, scaled in f32. The SIMD
//! kernels (`x86_64.rs`: AVX2, and AVX2 with AVX512-VNNI's `vpdpbusd`; `aarch64.rs`: NEON) compute
//! the same integer sums exactly; only the order of the f32 sums across blocks differs.
//!
//! The instruction set is chosen once per process ([`active_isa`]); `VRAMPLAN_FORCE_SCALAR=1`
//! forces the scalar kernels (for tests and benchmarks). Nothing needs `target-cpu=native`.
//!
//! Activation quants must lie in `[-127, 127]`, which is all the Q8 quantizers of
//! [`crate::quant`] ever produce (`q = round(x·127/amax)`). A `-128` byte in an activation
//! (impossible from [`quantize_activation`]) gives exact results in the scalar kernels but may be
//! mis-summed by the SIMD kernels that use the `sign`/`abs` trick of ggml (Q8_0, IQ4_NL, IQ4_XS).
//! Weight bytes may hold any value.

use std::sync::OnceLock;

use rayon::prelude::*;

use crate::ggml::GgmlType;
use crate::quant;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod gemm_q8;
pub mod repack;
#[cfg(target_arch = "x86_64")]
mod repack_x86;
pub mod scalar;
mod tiled;
#[cfg(target_arch = "x86_64")]
mod tiled_x86;
#[cfg(target_arch = "x86_64")]
mod x86_64;

/// A kernel: `n` elements of one weight row against the same `n` elements of an activation row in
/// the partner type. Callers guarantee the CPU features of the table it came from and that both
/// slices hold at least `n` elements' worth of whole blocks.
type RawDot = unsafe fn(usize, &[u8], &[u8]) -> f32;

/// A kernel of one weight row against four activation rows (prefill): each result is
/// bit-identical to the [`RawDot`] of the same type and instruction set on that row, with the
/// weight block unpacked once for the four. Same contract as [`RawDot`] for every row.
type RawDot4 = unsafe fn(usize, &[u8], [&[u8]; 4]) -> [f32; 4];

/// An instruction set the kernels can be compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable Rust; always available.
    Scalar,
    /// x86-64 AVX2 + FMA + F16C (Haswell, Zen 1 and later).
    Avx2,
    /// AVX-512 (F, BW, VL, VNNI: Ice Lake, Zen 4 and later): the AVX2 kernels with
    /// AVX512-VNNI's `vpdpbusd` on 256-bit registers, as llama.cpp builds them with
    /// `__AVX512VNNI__ && __AVX512VL__`, and 512-bit kernels where they were written.
    Avx512Vnni,
    /// AArch64 Advanced SIMD (always present on AArch64).
    Neon,
}

impl Isa {
    /// Every instruction set, whether or not this CPU has it.
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni, Isa::Neon];

    /// Lower-case name for reports and benchmark tables.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512Vnni => "avx512vnni",
            Isa::Neon => "neon",
        }
    }

    /// Whether this CPU can run the kernels of this instruction set (independent of
    /// `VRAMPLAN_FORCE_SCALAR`).
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => {
                Isa::Avx2.is_available()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The kernel for weight type `ty` in this instruction set, if it has its own; `None` means
    /// the next instruction set down (see [`Isa::fallback`]) serves `ty`.
    fn own_kernel(self, ty: GgmlType) -> Option<RawDot> {
        match self {
            Isa::Scalar => scalar::kernel(ty).map(|f| f as RawDot),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => x86_64::kernel(ty, false),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => x86_64::kernel(ty, true),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => aarch64::kernel(ty),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The four-row kernel of this instruction set for `ty`, if it has one (the scalar twin of a
    /// four-row kernel is four calls of the one-row kernel).
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    fn own_kernel4(self, ty: GgmlType) -> Option<RawDot4> {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => x86_64::kernel4(ty, false),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => x86_64::kernel4(ty, true),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The tiled matrix-matrix product ([`tiled`]) of this instruction set for `ty`, if any.
    fn own_tiled(self, ty: GgmlType) -> Option<tiled::Tiled> {
        let fmt = tiled::format(ty)?;
        let f: tiled::RawTiled = match self {
            Isa::Scalar => tiled::kernel_scalar,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 if fmt.max_u <= 63 => tiled_x86::kernel_avx2,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => tiled_x86::kernel_avx512,
            _ => return None,
        };
        Some(tiled::Tiled { fmt, f })
    }

    /// The register-tiled matrix-matrix kernel of this instruction set for `ty`, if it has one
    /// (`gemm_q8`: the legacy types and IQ4_NL; bit-identical to the one-row kernel per pair).
    #[cfg(target_arch = "x86_64")]
    fn own_gemm(self, ty: GgmlType) -> Option<gemm_q8::RawGemm> {
        match self {
            Isa::Avx2 => gemm_q8::gemm(ty, false),
            Isa::Avx512Vnni => gemm_q8::gemm(ty, true),
            _ => None,
        }
    }

    /// The instruction set whose kernels serve the types this one has no kernel for.
    const fn fallback(self) -> Option<Isa> {
        match self {
            Isa::Scalar => None,
            Isa::Avx2 | Isa::Neon => Some(Isa::Scalar),
            Isa::Avx512Vnni => Some(Isa::Avx2),
        }
    }

    /// The kernel that serves `ty` under this instruction set and which instruction set it was
    /// written for (this one or one it falls back to).
    fn kernel(self, ty: GgmlType) -> Option<(Isa, RawDot)> {
        let mut isa = Some(self);
        while let Some(i) = isa {
            if let Some(f) = i.own_kernel(ty) {
                return Some((i, f));
            }
            isa = i.fallback();
        }
        None
    }

    /// The instruction set whose own kernel serves `ty` when this one is selected (e.g. `Avx2`
    /// for Q5_K under `Avx512Vnni`), or `None` if `ty` has no dot product at all.
    pub fn serving(self, ty: GgmlType) -> Option<Isa> {
        self.kernel(ty).map(|(isa, _)| isa)
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The best instruction set of this CPU, detected once; [`Isa::Scalar`] when the environment
/// variable `VRAMPLAN_FORCE_SCALAR` is set to anything but empty or `0`.
pub fn active_isa() -> Isa {
    static ACTIVE: OnceLock<Isa> = OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let forced =
            std::env::var_os("VRAMPLAN_FORCE_SCALAR").is_some_and(|v| !v.is_empty() && v != "0");
        if forced {
            return Isa::Scalar;
        }
        [Isa::Avx512Vnni, Isa::Avx2, Isa::Neon]
            .into_iter()
            .find(|isa| isa.is_available())
            .unwrap_or(Isa::Scalar)
    })
}

/// The activation type llama.cpp quantizes the other operand to when multiplying weights of type
/// `ty` (`vec_dot_type`), or `None` when vramplan has no dot product for `ty`.
pub fn vec_dot_type(ty: GgmlType) -> Option<GgmlType> {
    use GgmlType::*;
    Some(match ty {
        F32 => F32,
        F16 => F16,
        BF16 => BF16,
        Q4_0 | Q5_0 | Q8_0 | IQ4_NL => Q8_0,
        Q4_1 | Q5_1 => Q8_1,
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | IQ4_XS => Q8_K,
        _ => return None,
    })
}

/// Why a kernel call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    #[error("no dot product for ggml type {0}")]
    Unsupported(GgmlType),
    #[error("{n} elements is not a whole number of {ty} blocks ({block} elements per block)")]
    PartialBlock {
        ty: GgmlType,
        n: usize,
        block: usize,
    },
    #[error("{what} has {actual} bytes, expected {expected}")]
    Len {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
}

/// Bytes of one row of `n` elements of `ty`, checking that `n` is whole blocks.
fn row_bytes(ty: GgmlType, n: usize) -> Result<usize, KernelError> {
    let block = ty.block_size();
    if !n.is_multiple_of(block) {
        return Err(KernelError::PartialBlock { ty, n, block });
    }
    Ok(n / block * ty.type_size())
}

/// Checks `n`, the weight row and the activation row against each other; returns the partner
/// type.
fn check_dot(ty: GgmlType, n: usize, w: usize, a: usize) -> Result<GgmlType, KernelError> {
    let act_ty = vec_dot_type(ty).ok_or(KernelError::Unsupported(ty))?;
    let expected = row_bytes(ty, n)?;
    if w != expected {
        return Err(KernelError::Len {
            what: "weight row",
            expected,
            actual: w,
        });
    }
    let expected = row_bytes(act_ty, n)?;
    if a != expected {
        return Err(KernelError::Len {
            what: "activation row",
            expected,
            actual: a,
        });
    }
    Ok(act_ty)
}

/// A dot-product kernel resolved for one weight type and one instruction set: look it up once
/// per matrix, call it per row.
#[derive(Clone, Copy)]
pub struct DotKernel {
    ty: GgmlType,
    isa: Isa,
    f: RawDot,
    /// The four-row form of `f` (same instruction set), where one exists.
    f4: Option<RawDot4>,
    /// The tiled matrix-matrix form (instruction set `isa` as selected, not the one `f` falls
    /// back to), where one exists: bit-identical to the scalar one-row kernel.
    tiled: Option<tiled::Tiled>,
    /// The register-tiled form of `f` (same instruction set), where one exists.
    #[cfg(target_arch = "x86_64")]
    gemm: Option<gemm_q8::RawGemm>,
}

impl std::fmt::Debug for DotKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DotKernel")
            .field("ty", &self.ty)
            .field("isa", &self.isa)
            .finish()
    }
}

impl DotKernel {
    /// The kernel of the active instruction set for weights of type `ty`.
    pub fn new(ty: GgmlType) -> Result<DotKernel, KernelError> {
        DotKernel::with_isa(ty, active_isa())
            .expect("the active instruction set is available on this CPU by construction")
    }

    /// The kernel of instruction set `isa` (or of the one it falls back to for `ty`), or `None`
    /// when this CPU cannot run `isa`.
    pub fn with_isa(ty: GgmlType, isa: Isa) -> Option<Result<DotKernel, KernelError>> {
        if !isa.is_available() {
            return None;
        }
        Some(match isa.kernel(ty) {
            Some((served, f)) => Ok(DotKernel {
                ty,
                isa: served,
                f,
                f4: served.own_kernel4(ty),
                tiled: isa.own_tiled(ty),
                #[cfg(target_arch = "x86_64")]
                gemm: served.own_gemm(ty),
            }),
            None => Err(KernelError::Unsupported(ty)),
        })
    }

    /// The weight type.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }

    /// The instruction set the kernel was written for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Whether the kernel has a four-activation-row form that [`matmul_with`] uses.
    pub fn has_x4(&self) -> bool {
        self.f4.is_some()
    }

    /// This kernel without its four-row and tiled forms: [`matmul_with`] then makes one-row
    /// calls only (the twin that tests and benchmarks hold the batched forms to).
    pub fn without_x4(&self) -> DotKernel {
        DotKernel {
            f4: None,
            tiled: None,
            #[cfg(target_arch = "x86_64")]
            gemm: None,
            ..*self
        }
    }

    /// This kernel without its tiled form ([`matmul_with`] then uses the four-row form).
    pub fn without_tiled(&self) -> DotKernel {
        DotKernel {
            tiled: None,
            ..*self
        }
    }

    /// Whether [`matmul_with`] computes `n_tok` tokens through the tiled product (weights
    /// unpacked per tile of 16 rows and reused for every token); its results are then
    /// bit-identical to the scalar one-row kernel rather than to [`DotKernel::dot`].
    pub fn tiled_for(&self, n_tok: usize) -> bool {
        self.tiled.is_some() && n_tok >= tiled::MIN_TOKENS
    }

    /// Whether the kernel has a register-tiled form (several weight rows × several tokens per
    /// tile) that [`matmul_with`] uses.
    pub fn has_gemm(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        return self.gemm.is_some();
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// The weight rows per parallel task [`matmul_with`] is best called with for `n_tok` tokens,
    /// given the caller's choice `rows`: for a tiled product, a multiple of its tile's rows and
    /// enough rows that the ubatch's activations, which every chunk streams once, are reused
    /// over many rows.
    pub fn chunk_rows(&self, n_tok: usize, rows: usize) -> usize {
        if self.tiled_for(n_tok) {
            return 4 * tiled::TILE_ROWS;
        }
        #[cfg(target_arch = "x86_64")]
        if self.gemm.is_some() {
            return rows
                .max(GEMM_MIN_CHUNK_ROWS)
                .next_multiple_of(gemm_q8::TILE_ROWS);
        }
        rows
    }

    /// Dot product of `n` elements; panics when the slices are not exactly one row of `n`
    /// elements in the weight type and its partner type.
    pub fn dot(&self, n: usize, w: &[u8], act: &[u8]) -> f32 {
        if let Err(e) = check_dot(self.ty, n, w.len(), act.len()) {
            panic!("vec_dot {}: {e}", self.ty);
        }
        // SAFETY: `self.f` comes from the table of `self.isa`, which `with_isa` checked this CPU
        // supports; `check_dot` verified both rows hold exactly `n` elements of whole blocks.
        unsafe { (self.f)(n, w, act) }
    }
}

/// Dot product of one weight row of type `ty` (`n` elements) with an activation row already
/// quantized to [`vec_dot_type`]`(ty)` (see [`quantize_activation`]), on the active instruction
/// set. Panics on an unsupported type or slices that are not exactly one row of `n` elements.
pub fn vec_dot(ty: GgmlType, n: usize, weights_row: &[u8], act: &[u8]) -> f32 {
    match DotKernel::new(ty) {
        Ok(k) => k.dot(n, weights_row, act),
        Err(e) => panic!("vec_dot: {e}"),
    }
}

/// [`vec_dot`] on a chosen instruction set (or the one it falls back to for `ty`); `None` when
/// this CPU cannot run `isa`. For tests and benchmarks.
pub fn vec_dot_with(
    isa: Isa,
    ty: GgmlType,
    n: usize,
    weights_row: &[u8],
    act: &[u8],
) -> Option<f32> {
    let k = DotKernel::with_isa(ty, isa)?;
    match k {
        Ok(k) => Some(k.dot(n, weights_row, act)),
        Err(e) => panic!("vec_dot_with: {e}"),
    }
}

/// Quantizes the activation row `x` to the partner type of weight type `ty`, replacing the
/// contents of `buf`; returns the partner type. `x.len()` must be whole blocks of it (a multiple
/// of 256 for the K-quants and IQ4_XS, of 32 for the legacy types and IQ4_NL).
pub fn quantize_activation(
    ty: GgmlType,
    x: &[f32],
    buf: &mut Vec<u8>,
) -> Result<GgmlType, KernelError> {
    let act_ty = vec_dot_type(ty).ok_or(KernelError::Unsupported(ty))?;
    let bytes = row_bytes(act_ty, x.len())?;
    buf.clear();
    buf.resize(bytes, 0);
    quant::quantize(act_ty, x, buf).expect("lengths checked above; partner types all quantize");
    Ok(act_ty)
}

/// Checks a matrix-vector product's operands; returns the bytes of one weight row.
fn check_matvec(
    k: &DotKernel,
    rows: &[u8],
    n_cols: usize,
    act: &[u8],
    out: &[f32],
) -> Result<usize, KernelError> {
    let act_ty = vec_dot_type(k.ty).ok_or(KernelError::Unsupported(k.ty))?;
    let row = row_bytes(k.ty, n_cols)?;
    let act_bytes = row_bytes(act_ty, n_cols)?;
    if act.len() != act_bytes {
        return Err(KernelError::Len {
            what: "activation row",
            expected: act_bytes,
            actual: act.len(),
        });
    }
    let expected = row.checked_mul(out.len()).ok_or(KernelError::Len {
        what: "weight matrix",
        expected: usize::MAX,
        actual: rows.len(),
    })?;
    if rows.len() != expected {
        return Err(KernelError::Len {
            what: "weight matrix",
            expected,
            actual: rows.len(),
        });
    }
    Ok(row)
}

/// `out[r] = rows[r] · act` for every weight row `r` of `n_cols` elements (`out.len()` rows,
/// stored back to back as in a GGUF tensor), on the calling thread.
pub fn matvec(
    ty: GgmlType,
    rows: &[u8],
    n_cols: usize,
    act: &[u8],
    out: &mut [f32],
) -> Result<(), KernelError> {
    matvec_with(&DotKernel::new(ty)?, rows, n_cols, act, out)
}

/// [`matvec`] with an already resolved kernel.
pub fn matvec_with(
    k: &DotKernel,
    rows: &[u8],
    n_cols: usize,
    act: &[u8],
    out: &mut [f32],
) -> Result<(), KernelError> {
    let row = check_matvec(k, rows, n_cols, act, out)?;
    if row == 0 {
        out.fill(0.0);
        return Ok(());
    }
    for (o, w) in out.iter_mut().zip(rows.chunks_exact(row)) {
        // SAFETY: `k` was built for an instruction set this CPU has; `check_matvec` verified
        // each row and the activation hold exactly `n_cols` elements of whole blocks.
        *o = unsafe { (k.f)(n_cols, w, act) };
    }
    Ok(())
}

/// Rows per rayon task in [`matvec_par`]: enough work to amortise the task (a 4096-column Q4_K
/// row is 2.3 KB, so a chunk streams ~150 KB of weights) and enough tasks to balance the cores.
pub const PAR_CHUNK_ROWS: usize = 64;

/// [`matvec`] over rayon's thread pool, in chunks of [`PAR_CHUNK_ROWS`] rows. Results are
/// bit-identical to [`matvec`] (each row is computed by the same kernel, independently).
pub fn matvec_par(
    ty: GgmlType,
    rows: &[u8],
    n_cols: usize,
    act: &[u8],
    out: &mut [f32],
) -> Result<(), KernelError> {
    matvec_par_with(&DotKernel::new(ty)?, rows, n_cols, act, out)
}

/// [`matvec_par`] with an already resolved kernel.
pub fn matvec_par_with(
    k: &DotKernel,
    rows: &[u8],
    n_cols: usize,
    act: &[u8],
    out: &mut [f32],
) -> Result<(), KernelError> {
    let row = check_matvec(k, rows, n_cols, act, out)?;
    if row == 0 {
        out.fill(0.0);
        return Ok(());
    }
    let k = *k;
    out.par_chunks_mut(PAR_CHUNK_ROWS)
        .zip(rows.par_chunks(PAR_CHUNK_ROWS * row))
        .for_each(|(o, w)| {
            for (o, w) in o.iter_mut().zip(w.chunks_exact(row)) {
                // SAFETY: as in `matvec_with`: the kernel's instruction set is available and
                // every row and the activation were checked to hold `n_cols` elements.
                *o = unsafe { (k.f)(n_cols, w, act) };
            }
        });
    Ok(())
}

/// `out[r * n_tok + t] = rows[r] · acts[t]` for the `out.len() / n_tok` weight rows of `rows`
/// (`n_cols` elements each, back to back) and the `n_tok` activation rows of `acts` (already in
/// the partner type, back to back), on the calling thread. Output is weight-row-major.
///
/// Prefill's matrix-matrix product: activation rows go four at a time (about 9 KB of Q8_0 for
/// 2048 columns, so they stay in L1) past every weight row of the slice (callers pass slices of
/// tens of KB, which stay in L2), through the kernel's four-row form where it has one, so a
/// weight block is loaded and unpacked once per four tokens. Every output is bit-identical to
/// [`DotKernel::dot`] of its row pair, except where [`DotKernel::tiled_for`] `n_tok`: the K-quants
/// then go through the tiled product ([`tiled`]), bit-identical to the scalar one-row kernel.
pub fn matmul_with(
    k: &DotKernel,
    rows: &[u8],
    n_cols: usize,
    acts: &[u8],
    n_tok: usize,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let act_ty = vec_dot_type(k.ty).ok_or(KernelError::Unsupported(k.ty))?;
    let arb = row_bytes(act_ty, n_cols)?;
    let expected = arb.saturating_mul(n_tok);
    if acts.len() != expected {
        return Err(KernelError::Len {
            what: "activation rows",
            expected,
            actual: acts.len(),
        });
    }
    if n_tok == 0 {
        return Ok(());
    }
    let n_rows = out.len() / n_tok;
    if out.len() != n_rows * n_tok {
        return Err(KernelError::Len {
            what: "output",
            expected: n_rows * n_tok,
            actual: out.len(),
        });
    }
    let row = check_matvec(k, rows, n_cols, &acts[..arb], &out[..n_rows])?;
    if row == 0 {
        out.fill(0.0);
        return Ok(());
    }
    if let Some(tk) = k.tiled.as_ref().filter(|_| k.tiled_for(n_tok)) {
        // SAFETY: the tiled kernel belongs to the instruction set `k` was built for, which
        // `with_isa` checked this CPU has; the sizes of rows, activations and output were
        // checked above.
        unsafe { tiled::gemm(tk, rows, row, n_cols, acts, n_tok, out) };
        return Ok(());
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(g) = k.gemm {
        // SAFETY: `g` belongs to `k.isa`, available by construction of `k`; the lengths of the
        // weight rows, the activation rows and the output were checked above.
        unsafe { g(n_cols, rows, n_rows, acts, n_tok, out) };
        return Ok(());
    }
    let act = |t: usize| &acts[t * arb..(t + 1) * arb];
    let mut t = 0;
    if let Some(f4) = k.f4 {
        while t + 4 <= n_tok {
            let group = [act(t), act(t + 1), act(t + 2), act(t + 3)];
            for (w, o) in rows.chunks_exact(row).zip(out.chunks_exact_mut(n_tok)) {
                // SAFETY: `f4` belongs to `k.isa`, available by construction of `k`; the weight
                // row and each activation row hold exactly `n_cols` elements.
                let v = unsafe { f4(n_cols, w, group) };
                o[t..t + 4].copy_from_slice(&v);
            }
            t += 4;
        }
    }
    for t in t..n_tok {
        let a = act(t);
        for (w, o) in rows.chunks_exact(row).zip(out.chunks_exact_mut(n_tok)) {
            // SAFETY: as above, for the one-row kernel.
            o[t] = unsafe { (k.f)(n_cols, w, a) };
        }
    }
    Ok(())
}

/// [`matmul_with`]'s tiled product on a Q4_K matrix repacked by [`repack::repack`] (`packed`:
/// whole groups of eight rows), the tile filled straight from the packed groups: bit-identical
/// to [`matmul_with`] on the same rows in the file layout. `k` is the Q4_K kernel on the file
/// layout and must be [`DotKernel::tiled_for`] `n_tok`.
pub fn matmul_packed_tiled(
    k: &DotKernel,
    packed: &[u8],
    n_cols: usize,
    acts: &[u8],
    n_tok: usize,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let tk = match k.tiled.as_ref() {
        Some(tk) if k.ty == GgmlType::Q4_K && k.tiled_for(n_tok) => tk,
        _ => return Err(KernelError::Unsupported(k.ty)),
    };
    let rb = row_bytes(k.ty, n_cols)?;
    let arb = row_bytes(GgmlType::Q8_K, n_cols)?;
    let n_rows = packed.len() / rb.max(1);
    if rb == 0 || packed.len() != n_rows * rb || !n_rows.is_multiple_of(repack::ROWS) {
        return Err(KernelError::Len {
            what: "packed weight rows (whole groups of 8)",
            expected: n_rows.next_multiple_of(repack::ROWS) * rb,
            actual: packed.len(),
        });
    }
    for (what, expected, actual) in [
        ("activation rows", arb * n_tok, acts.len()),
        ("output", n_rows * n_tok, out.len()),
    ] {
        if expected != actual {
            return Err(KernelError::Len {
                what,
                expected,
                actual,
            });
        }
    }
    // SAFETY: the tiled kernel belongs to the instruction set `k` was built for, which
    // `with_isa` checked this CPU has; every size was checked above.
    unsafe { tiled::gemm_packed_q4_k(tk, packed, n_cols, acts, n_tok, out) };
    Ok(())
}

/// The fewest weight rows per call of a tiled kernel that [`DotKernel::chunk_rows`] asks for.
#[cfg(target_arch = "x86_64")]
const GEMM_MIN_CHUNK_ROWS: usize = 64;

/// Reads the little-endian f16 at `b[off..off + 2]` as f32 (ggml's `GGML_FP16_TO_FP32`).
#[inline(always)]
fn f16_at(b: &[u8], off: usize) -> f32 {
    quant::fp16_to_fp32(u16::from_le_bytes([b[off], b[off + 1]]))
}

/// Reads the little-endian f32 at `b[off..off + 4]`.
#[inline(always)]
fn f32_at(b: &[u8], off: usize) -> f32 {
    f32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// `kvalues_iq4nl` (`ggml/src/ggml-common.h`): the 16 levels of IQ4_NL and IQ4_XS.
pub(crate) const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// Block sizes in bytes (`sizeof(block_*)` in `ggml/src/ggml-common.h`).
pub(crate) mod block {
    pub const Q4_0: usize = 18;
    pub const Q4_1: usize = 20;
    pub const Q5_0: usize = 22;
    pub const Q5_1: usize = 24;
    pub const Q8_0: usize = 34;
    pub const Q8_1: usize = 36;
    pub const IQ4_NL: usize = 18;
    pub const Q2_K: usize = 84;
    pub const Q3_K: usize = 110;
    pub const Q4_K: usize = 144;
    pub const Q5_K: usize = 176;
    pub const Q6_K: usize = 210;
    pub const IQ4_XS: usize = 136;
    pub const Q8_K: usize = 292;
    /// Elements per legacy block (`QK4_0` ... `QK8_1`, `QK4_NL`).
    pub const QK: usize = 32;
    /// Elements per K-quant super-block.
    pub const QK_K: usize = crate::ggml::QK_K;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_match_the_type_table() {
        use GgmlType::*;
        for (ty, size) in [
            (Q4_0, block::Q4_0),
            (Q4_1, block::Q4_1),
            (Q5_0, block::Q5_0),
            (Q5_1, block::Q5_1),
            (Q8_0, block::Q8_0),
            (Q8_1, block::Q8_1),
            (IQ4_NL, block::IQ4_NL),
            (Q2_K, block::Q2_K),
            (Q3_K, block::Q3_K),
            (Q4_K, block::Q4_K),
            (Q5_K, block::Q5_K),
            (Q6_K, block::Q6_K),
            (IQ4_XS, block::IQ4_XS),
            (Q8_K, block::Q8_K),
        ] {
            assert_eq!(ty.type_size(), size, "{ty}");
        }
    }

    #[test]
    fn every_paired_type_has_a_scalar_kernel_and_a_quantizable_partner() {
        for &ty in GgmlType::ALL {
            if let Some(p) = vec_dot_type(ty) {
                assert!(scalar::kernel(ty).is_some(), "{ty}");
                assert!(quant::can_quantize(p), "{ty} -> {p}");
            } else {
                assert!(scalar::kernel(ty).is_none(), "{ty}");
            }
        }
    }
}
