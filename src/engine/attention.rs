//! Causal self-attention of one query head, with the arithmetic llama.cpp's CPU backend uses
//! without flash attention: `QKᵀ` and `softmax · V` are f16 matrix products (Q and the
//! probabilities are rounded to f16, the partner type of the f16 cache) that ggml computes with
//! tinyBLAS (`llamafile/sgemm.cpp`) for a batch of two or more tokens and with
//! `ggml_vec_dot_f16` for a single token; the two sum in different orders, so both are
//! reproduced. A product of two f16 values is exact in f32, so each fused multiply-add is an
//! ordinary `acc + a·b` here.

#[cfg(test)]
use super::ops::round_f16;
use super::ops::{hsum8, round_f16_slice, softmax, with_fma};

/// Which of llama.cpp's two f16 matrix-product paths the attention follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// tinyBLAS (prompt batches of two or more tokens): one 8-lane accumulator per output.
    Batch,
    /// `ggml_vec_dot_f16` (one token): four 8-lane accumulators over 32-element steps.
    Single,
}

/// tinyBLAS `gemm_bloc` for one output: lane `i % 8` accumulates `a[i]·b[i]`, then [`hsum8`].
#[inline(always)]
fn dot_tinyblas(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    hsum8(&acc)
}

/// [`dot_tinyblas`] of `a` with four rows at once (independent dependency chains; each result
/// is bit-identical to [`dot_tinyblas`] of its row): 256-bit AVX where the CPU has it (the
/// portable form compiles to shuffles of 128-bit halves), else [`dot_tinyblas4_portable`].
#[inline(always)]
fn dot_tinyblas4(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: AVX was just detected on this CPU.
        return unsafe { dot_tinyblas4_avx(a, b) };
    }
    dot_tinyblas4_portable(a, b)
}

/// [`dot_tinyblas4`] in portable code.
#[inline(always)]
fn dot_tinyblas4_portable(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    let n = a.len() / 8 * 8;
    let b = b.map(|r| &r[..n]);
    let mut acc = [[0.0f32; 8]; 4];
    for (i, x) in a[..n].chunks_exact(8).enumerate() {
        for (k, acc) in acc.iter_mut().enumerate() {
            let y = &b[k][i * 8..i * 8 + 8];
            for l in 0..8 {
                acc[l] += x[l] * y[l];
            }
        }
    }
    acc.map(|a| hsum8(&a))
}

/// [`dot_tinyblas4`] on 256-bit registers: one register per row holds the eight lane sums,
/// each step a rounded multiply then an add, as in [`dot_tinyblas`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn dot_tinyblas4_avx(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let n = a.len() / 8 * 8;
    let b = b.map(|r| &r[..n]);
    let mut acc = [_mm256_setzero_ps(); 4];
    for i in (0..n).step_by(8) {
        // SAFETY: `a` and every row of `b` hold at least `n` elements, `i + 8 <= n`.
        unsafe {
            let x = _mm256_loadu_ps(a.as_ptr().add(i));
            for (acc, r) in acc.iter_mut().zip(b) {
                let y = _mm256_loadu_ps(r.as_ptr().add(i));
                *acc = _mm256_add_ps(*acc, _mm256_mul_ps(x, y));
            }
        }
    }
    acc.map(|v| {
        let mut l = [0.0f32; 8];
        // SAFETY: `l` holds eight floats.
        unsafe { _mm256_storeu_ps(l.as_mut_ptr(), v) };
        hsum8(&l)
    })
}

/// `GGML_F32x8_REDUCE` of four 8-lane accumulators: `(acc0+acc2) + (acc1+acc3)`, the halves
/// added, then two horizontal adds.
#[inline(always)]
fn reduce4(acc: &[[f32; 8]; 4]) -> f32 {
    let mut x = [0.0f32; 8];
    for l in 0..8 {
        let a = acc[0][l] + acc[2][l];
        let b = acc[1][l] + acc[3][l];
        x[l] = a + b;
    }
    let t = [x[0] + x[4], x[1] + x[5], x[2] + x[6], x[3] + x[7]];
    (t[0] + t[1]) + (t[2] + t[3])
}

/// `ggml_vec_dot_f16` (AVX2): 32-element steps into four 8-lane accumulators, reduced, then the
/// leftover elements added in f64.
#[inline(always)]
fn dot_vec(a: &[f32], b: &[f32]) -> f32 {
    let np = a.len() / 32 * 32;
    let mut acc = [[0.0f32; 8]; 4];
    for (x, y) in a[..np].chunks_exact(32).zip(b[..np].chunks_exact(32)) {
        for j in 0..4 {
            for l in 0..8 {
                acc[j][l] += x[8 * j + l] * y[8 * j + l];
            }
        }
    }
    let mut sum = f64::from(reduce4(&acc));
    for (x, y) in a[np..].iter().zip(&b[np..]) {
        sum += f64::from(x * y);
    }
    sum as f32
}

/// `softmax · V` as tinyBLAS sums it: lane `j % 8` accumulates position `j` (`p[j]·v_j`), then
/// [`hsum8`] of the eight lanes per output element. `p` holds one probability per visible
/// position; `values` rows of `stride` floats whose head of `out.len()` starts at `off`. AVX
/// where the CPU has it and the head is whole 8-float steps, else the portable form.
#[inline(always)]
fn kqv_lanes(p: &[f32], values: &[f32], stride: usize, off: usize, out: &mut [f32]) {
    let hd = out.len();
    if p.is_empty() {
        out.fill(0.0);
        return;
    }
    assert!(
        values.len() >= (p.len() - 1) * stride + off + hd,
        "values cover the positions"
    );
    #[cfg(target_arch = "x86_64")]
    if hd.is_multiple_of(8) && std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: AVX was just detected; the assertion above bounds every row read.
        return unsafe { kqv_lanes_avx(p, values, stride, off, out) };
    }
    kqv_lanes_portable(p, values, stride, off, out)
}

/// [`kqv_lanes`] in portable code: the eight lane sums of each element kept in memory.
fn kqv_lanes_portable(p: &[f32], values: &[f32], stride: usize, off: usize, out: &mut [f32]) {
    let hd = out.len();
    // Lane-major, so the inner loop runs along d.
    let mut acc = vec![0.0f32; 8 * hd];
    for (j, &p) in p.iter().enumerate() {
        let v = &values[j * stride + off..j * stride + off + hd];
        let a = &mut acc[(j % 8) * hd..(j % 8 + 1) * hd];
        for (a, &x) in a.iter_mut().zip(v) {
            *a += p * x;
        }
    }
    for (d, o) in out.iter_mut().enumerate() {
        let lanes: [f32; 8] = std::array::from_fn(|l| acc[l * hd + d]);
        *o = hsum8(&lanes);
    }
}

/// [`kqv_lanes`] on 256-bit registers: eight positions at a time, each 8-float step of the
/// head loads its eight lane sums once, adds the eight positions' products and stores them (the
/// same additions in the same order as the portable form, an eighth of its loads and stores of
/// the sums; the rows are read along, as stored).
///
/// # Safety
/// The CPU has AVX; `out.len()` is a multiple of 8; `values` holds `(p.len() - 1) · stride +
/// off + out.len()` floats or more.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn kqv_lanes_avx(p: &[f32], values: &[f32], stride: usize, off: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let hd = out.len();
    let visible = p.len();
    let vp = values.as_ptr();
    // Lane-major sums, as in the portable form: lane l's head at l·hd.
    let mut acc = vec![0.0f32; 8 * hd];
    let ap = acc.as_mut_ptr();
    for jb in (0..visible).step_by(8) {
        let lanes = (visible - jb).min(8);
        let pb: [__m256; 8] = std::array::from_fn(|l| _mm256_set1_ps(p[(jb + l).min(visible - 1)]));
        for dc in (0..hd).step_by(8) {
            // SAFETY: lane l's step dc lies in `acc` (l < 8, dc + 8 <= hd); row jb + l's step
            // ends at (jb + l)·stride + off + dc + 8, within the length the caller guarantees.
            unsafe {
                if lanes == 8 {
                    for (l, &pl) in pb.iter().enumerate() {
                        let a = ap.add(l * hd + dc);
                        let v = _mm256_loadu_ps(vp.add((jb + l) * stride + off + dc));
                        _mm256_storeu_ps(
                            a,
                            _mm256_add_ps(_mm256_loadu_ps(a), _mm256_mul_ps(pl, v)),
                        );
                    }
                } else {
                    for (l, &pl) in pb.iter().enumerate().take(lanes) {
                        let a = ap.add(l * hd + dc);
                        let v = _mm256_loadu_ps(vp.add((jb + l) * stride + off + dc));
                        _mm256_storeu_ps(
                            a,
                            _mm256_add_ps(_mm256_loadu_ps(a), _mm256_mul_ps(pl, v)),
                        );
                    }
                }
            }
        }
    }
    for (d, o) in out.iter_mut().enumerate() {
        *o = hsum8(&std::array::from_fn(|l| acc[l * hd + d]));
    }
}

/// One query head against `visible` cached positions. `keys`/`values` hold rows of `stride`
/// floats (decoded from the cache) whose head starts at `off`; `q` is the roped query head.
/// When `f16` is set (f16 cache) Q and the probabilities are rounded to f16 first.
/// Compiled with FMA (and so AVX) where the CPU has it, for its eight-lane sums; Rust never fuses
/// a multiply and an add on its own, so the results are the same bits.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend(
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    stride: usize,
    off: usize,
    visible: usize,
    scale: f32,
    path: Path,
    f16: bool,
    out: &mut [f32],
) {
    with_fma!(
        attend_fma,
        (
            q: &[f32],
            keys: &[f32],
            values: &[f32],
            stride: usize,
            off: usize,
            visible: usize,
            scale: f32,
            path: Path,
            f16: bool,
            out: &mut [f32]
        ),
        attend_inline(q, keys, values, stride, off, visible, scale, path, f16, out)
    )
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn attend_inline(
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    stride: usize,
    off: usize,
    visible: usize,
    scale: f32,
    path: Path,
    f16: bool,
    out: &mut [f32],
) {
    let hd = q.len();
    let mut q = q.to_vec();
    if f16 {
        round_f16_slice(&mut q);
    }
    // tinyBLAS needs whole 8-element steps and rows in fours; ggml falls back to vec_dot.
    let kq_tiny = path == Path::Batch && hd.is_multiple_of(8);
    let kqv_tiny = path == Path::Batch && hd.is_multiple_of(4);
    // Scores padded with masked lanes to whole blocks of eight, as llama.cpp's padded KV.
    let padded = visible.div_ceil(8) * 8;
    let mut s = vec![f32::NEG_INFINITY; padded];
    let key = |j: usize| &keys[j * stride + off..j * stride + off + hd];
    let mut first = 0;
    if kq_tiny {
        // Four keys per pass: the same sums as one at a time, four chains in flight.
        while first + 4 <= visible {
            let d = dot_tinyblas4(
                &q,
                [key(first), key(first + 1), key(first + 2), key(first + 3)],
            );
            for (sj, d) in s[first..first + 4].iter_mut().zip(d) {
                *sj = d * scale;
            }
            first += 4;
        }
    }
    for (j, sj) in s.iter_mut().enumerate().take(visible).skip(first) {
        let k = &keys[j * stride + off..j * stride + off + hd];
        let d = if kq_tiny {
            dot_tinyblas(&q, k)
        } else {
            dot_vec(&q, k)
        };
        *sj = d * scale;
    }
    softmax(&mut s);
    if f16 {
        round_f16_slice(&mut s);
    }
    if kqv_tiny {
        kqv_lanes(&s[..visible], values, stride, off, out);
    } else {
        // Position j goes to accumulator (j / 8) % 4, lane j % 8; llama.cpp's KV length is a
        // multiple of 32, so there are no leftovers (the padding contributes exact zeros).
        let mut acc = vec![0.0f32; 32 * hd];
        for (j, &p) in s.iter().enumerate().take(visible) {
            let v = &values[j * stride + off..j * stride + off + hd];
            let slot = ((j / 8) % 4) * 8 + j % 8;
            let a = &mut acc[slot * hd..(slot + 1) * hd];
            for (a, &x) in a.iter_mut().zip(v) {
                *a += p * x;
            }
        }
        for (d, o) in out.iter_mut().enumerate() {
            let acc4: [[f32; 8]; 4] =
                std::array::from_fn(|k| std::array::from_fn(|l| acc[(k * 8 + l) * hd + d]));
            *o = reduce4(&acc4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_paths_compute_attention() {
        let hd = 16;
        let q: Vec<f32> = (0..hd).map(|i| (i as f32 * 0.37).sin()).collect();
        let keys: Vec<f32> = (0..3 * hd)
            .map(|i| round_f16((i as f32 * 0.11).cos()))
            .collect();
        let values: Vec<f32> = (0..3 * hd).map(|i| round_f16(i as f32 * 0.01)).collect();
        let mut a = vec![0.0; hd];
        let mut b = vec![0.0; hd];
        attend(
            &q,
            &keys,
            &values,
            hd,
            0,
            3,
            0.25,
            Path::Batch,
            true,
            &mut a,
        );
        attend(
            &q,
            &keys,
            &values,
            hd,
            0,
            3,
            0.25,
            Path::Single,
            true,
            &mut b,
        );
        // Reference in f64.
        let qr: Vec<f64> = q.iter().map(|&v| f64::from(round_f16(v))).collect();
        let s: Vec<f64> = (0..3)
            .map(|j| {
                (0..hd)
                    .map(|d| qr[d] * f64::from(keys[j * hd + d]))
                    .sum::<f64>()
                    * 0.25
            })
            .collect();
        let m = s.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
        let z: f64 = e.iter().sum();
        for d in 0..hd {
            let want: f64 = (0..3)
                .map(|j| e[j] / z * f64::from(values[j * hd + d]))
                .sum();
            assert!(
                (f64::from(a[d]) - want).abs() < 1e-3,
                "{d}: {} vs {want}",
                a[d]
            );
            assert!((a[d] - b[d]).abs() < 1e-4);
        }
        // One visible position: the output is that value row.
        attend(
            &q,
            &keys,
            &values,
            hd,
            0,
            1,
            0.25,
            Path::Single,
            true,
            &mut a,
        );
        assert_eq!(a[..], values[..hd]);
    }

    #[test]
    fn four_key_dot_is_bit_identical_to_one_key_dots() {
        let mut seed = 3u32;
        let mut r = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            round_f16((seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0)
        };
        for hd in [8, 64, 72, 128] {
            let a: Vec<f32> = (0..hd).map(|_| r()).collect();
            let rows: Vec<Vec<f32>> = (0..4).map(|_| (0..hd).map(|_| r()).collect()).collect();
            let b = [&rows[0][..], &rows[1], &rows[2], &rows[3]];
            // The dispatched form (AVX where the CPU has it) and the portable one.
            for got in [dot_tinyblas4(&a, b), dot_tinyblas4_portable(&a, b)] {
                for k in 0..4 {
                    assert_eq!(
                        got[k].to_bits(),
                        dot_tinyblas(&a, &rows[k]).to_bits(),
                        "{hd} {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn kqv_lanes_is_bit_identical_to_its_portable_form() {
        let mut seed = 5u32;
        let mut r = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            round_f16((seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0)
        };
        for (hd, stride, off) in [(64, 192, 64), (8, 8, 0), (128, 256, 128), (12, 24, 12)] {
            for visible in [1, 7, 8, 9, 31, 64, 77] {
                let p: Vec<f32> = (0..visible).map(|_| r().abs()).collect();
                let values: Vec<f32> = (0..visible * stride).map(|_| r()).collect();
                let (mut got, mut want) = (vec![0.0; hd], vec![0.0; hd]);
                kqv_lanes(&p, &values, stride, off, &mut got);
                kqv_lanes_portable(&p, &values, stride, off, &mut want);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "hd {hd} visible {visible}");
            }
        }
    }

    #[test]
    fn dot_orders_match_plain_sums_on_exact_inputs() {
        let a: Vec<f32> = (0..40).map(|i| i as f32).collect();
        let b = vec![1.0f32; 40];
        assert_eq!(dot_vec(&a, &b), 780.0);
        assert_eq!(dot_tinyblas(&a, &b), 780.0);
    }
}
