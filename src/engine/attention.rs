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
/// is bit-identical to [`dot_tinyblas`] of its row). Prompt batches take [`attend_group`]'s
/// kernels where heads are whole 8-element steps, so this serves [`attend`]'s batch path (the
/// reference those kernels are tested against).
#[inline(always)]
fn dot_tinyblas4(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
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
/// [`hsum8`] of the eight lanes per output element (the eight lane sums of each element kept in
/// memory). `p` holds one probability per visible position; `values` rows of `stride` floats
/// whose head of `out.len()` starts at `off`.
fn kqv_lanes(p: &[f32], values: &[f32], stride: usize, off: usize, out: &mut [f32]) {
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

/// Values of every KV head laid out for [`attend_group`]: per head, per block of eight
/// positions, per element `d` of the head, the eight positions' values (`[g][jb][d][lane]`), so
/// one load gives the eight lanes' operands of a `softmax · V` step. `values` holds `n` rows of
/// `n_head_kv · hd` floats; positions past `n` in the last block are zeros.
pub(crate) fn block_values(
    values: &[f32],
    n_head_kv: usize,
    hd: usize,
    n: usize,
    out: &mut Vec<f32>,
) {
    let stride = n_head_kv * hd;
    let blocks = n.div_ceil(8);
    out.clear();
    out.resize(n_head_kv * blocks * hd * 8, 0.0);
    for (g, head) in out.chunks_exact_mut(blocks * hd * 8).enumerate() {
        for (jb, block) in head.chunks_exact_mut(hd * 8).enumerate() {
            for l in 0..8.min(n - jb * 8) {
                let row = &values[(jb * 8 + l) * stride + g * hd..][..hd];
                for (d, &v) in row.iter().enumerate() {
                    block[d * 8 + l] = v;
                }
            }
        }
    }
}

/// Whether [`attend_group`] computes a prompt batch's attention with heads of `hd` elements
/// (tinyBLAS's path: whole 8-element steps).
pub(crate) fn group_path(hd: usize) -> bool {
    hd.is_multiple_of(8)
}

/// The query heads of one KV group (`q`: `gqa` heads of `hd` floats, roped) of one prompt token
/// against `visible` cached positions, into `out` (`gqa × hd`): the same results, bit for bit,
/// as [`attend`] with [`Path::Batch`] per head, but the heads share every key and value load
/// (a register tile of up to four heads by two keys for `QKᵀ`, four heads by two elements for
/// `softmax · V`). `keys`: rows of `stride` floats whose head starts at `off`; `vt`: this
/// group's [`block_values`]. Needs [`group_path`]`(hd)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend_group(
    q: &[f32],
    hd: usize,
    keys: &[f32],
    stride: usize,
    off: usize,
    vt: &[f32],
    visible: usize,
    scale: f32,
    f16: bool,
    out: &mut [f32],
) {
    attend_group_on(
        avx(),
        q,
        hd,
        keys,
        stride,
        off,
        vt,
        visible,
        scale,
        f16,
        out,
    )
}

/// [`attend_group`] on the AVX kernels or (`avx` false) the portable ones.
#[allow(clippy::too_many_arguments)]
fn attend_group_on(
    avx: bool,
    q: &[f32],
    hd: usize,
    keys: &[f32],
    stride: usize,
    off: usize,
    vt: &[f32],
    visible: usize,
    scale: f32,
    f16: bool,
    out: &mut [f32],
) {
    assert!(group_path(hd) && q.len() == out.len() && q.len().is_multiple_of(hd));
    assert!(visible >= 1 && keys.len() >= (visible - 1) * stride + off + hd);
    let padded = visible.div_ceil(8) * 8;
    assert!(
        vt.len() >= padded * hd,
        "blocked values cover the positions"
    );
    let gqa = q.len() / hd;
    let mut q = q.to_vec();
    if f16 {
        round_f16_slice(&mut q);
    }
    // Scores per head, padded with masked lanes to whole blocks of eight (as in `attend`).
    let mut s = vec![f32::NEG_INFINITY; gqa * padded];
    for h0 in (0..gqa).step_by(4) {
        let nh = (gqa - h0).min(4);
        let qh = &q[h0 * hd..(h0 + nh) * hd];
        let sh = &mut s[h0 * padded..(h0 + nh) * padded];
        qk_rows(avx, qh, hd, &keys[off..], stride, visible, scale, sh);
    }
    for sh in s.chunks_exact_mut(padded) {
        softmax(sh);
        if f16 {
            round_f16_slice(sh);
        }
    }
    for h0 in (0..gqa).step_by(4) {
        let nh = (gqa - h0).min(4);
        kqv_blocked(
            avx,
            &s[h0 * padded..(h0 + nh) * padded],
            padded,
            vt,
            hd,
            &mut out[h0 * hd..(h0 + nh) * hd],
        );
    }
}

/// Whether the 256-bit AVX forms of the group kernels run on this CPU.
#[inline(always)]
fn avx() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `scale ·` [`dot_tinyblas`] of each of the (1 to 4) query heads in `q` (`hd` floats each)
/// with the first `visible` key rows of `keys` (`stride` apart), into `s` (`padded` per head).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn qk_rows(
    avx: bool,
    q: &[f32],
    hd: usize,
    keys: &[f32],
    stride: usize,
    visible: usize,
    scale: f32,
    s: &mut [f32],
) {
    let nh = q.len() / hd;
    assert!((1..=4).contains(&nh) && s.len().is_multiple_of(nh) && s.len() / nh >= visible);
    assert!(hd.is_multiple_of(8) && keys.len() >= (visible - 1) * stride + hd);
    #[cfg(target_arch = "x86_64")]
    if avx {
        // SAFETY: AVX was detected by the caller; the assertions bound every read and write.
        unsafe {
            match nh {
                1 => qk_rows_avx::<1>(q, hd, keys, stride, visible, scale, s),
                2 => qk_rows_avx::<2>(q, hd, keys, stride, visible, scale, s),
                3 => qk_rows_avx::<3>(q, hd, keys, stride, visible, scale, s),
                _ => qk_rows_avx::<4>(q, hd, keys, stride, visible, scale, s),
            }
        }
        return;
    }
    let _ = avx;
    qk_rows_portable(q, hd, keys, stride, visible, scale, s)
}

/// [`qk_rows`] in portable code: one [`dot_tinyblas`] per pair.
fn qk_rows_portable(
    q: &[f32],
    hd: usize,
    keys: &[f32],
    stride: usize,
    visible: usize,
    scale: f32,
    s: &mut [f32],
) {
    let padded = s.len() / (q.len() / hd);
    for (qh, sh) in q.chunks_exact(hd).zip(s.chunks_exact_mut(padded)) {
        for (j, sj) in sh.iter_mut().enumerate().take(visible) {
            *sj = dot_tinyblas(qh, &keys[j * stride..j * stride + hd]) * scale;
        }
    }
}

/// [`qk_rows`] for `H` heads on 256-bit registers, two keys per pass: `2H` lane-sum registers,
/// each key step loaded once for every head (rounded multiply, then add, as [`dot_tinyblas`]).
///
/// # Safety
/// The CPU has AVX; `hd` is a multiple of 8; `q` holds `H · hd` floats, `keys` `visible` rows,
/// `s` `H` runs of at least `visible` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn qk_rows_avx<const H: usize>(
    q: &[f32],
    hd: usize,
    keys: &[f32],
    stride: usize,
    visible: usize,
    scale: f32,
    s: &mut [f32],
) {
    use std::arch::x86_64::*;
    let padded = s.len() / H;
    let (qp, kp) = (q.as_ptr(), keys.as_ptr());
    let mut j = 0;
    while j < visible {
        // The last odd key goes through the pair loop twice over (its result stored once).
        let j1 = (j + 1).min(visible - 1);
        let mut acc = [[_mm256_setzero_ps(); 2]; H];
        for i in (0..hd).step_by(8) {
            // SAFETY: keys j and j1 < visible and head h < H hold `hd` floats; i + 8 <= hd.
            unsafe {
                let k0 = _mm256_loadu_ps(kp.add(j * stride + i));
                let k1 = _mm256_loadu_ps(kp.add(j1 * stride + i));
                for (h, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_loadu_ps(qp.add(h * hd + i));
                    acc[0] = _mm256_add_ps(acc[0], _mm256_mul_ps(x, k0));
                    acc[1] = _mm256_add_ps(acc[1], _mm256_mul_ps(x, k1));
                }
            }
        }
        for (h, a) in acc.iter().enumerate() {
            // SAFETY: AVX is enabled in this function.
            unsafe {
                s[h * padded + j] = hsum8_avx(a[0]) * scale;
                if j1 > j {
                    s[h * padded + j1] = hsum8_avx(a[1]) * scale;
                }
            }
        }
        j += 2;
    }
}

/// [`hsum8`] of one register: the same four additions in the same order, in registers.
///
/// # Safety
/// The CPU has AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn hsum8_avx(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    // r[i] = l[4 + i] + l[i]
    let r = _mm_add_ps(_mm256_extractf128_ps::<1>(v), _mm256_castps256_ps128(v));
    // [r0 + r2, r1 + r3]
    let s = _mm_add_ps(r, _mm_movehl_ps(r, r));
    // (r0 + r2) + (r1 + r3)
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// `softmax · V` of the `p.len() / padded` (≤ 4) heads whose probabilities `p` holds (`padded`
/// per head, zeros past the visible positions) over blocked values `vt`, into `out`
/// (`heads × hd`): lane `j % 8` accumulates position `j`, then [`hsum8`], as [`kqv_lanes`].
/// The padding lanes add `0 · v`, which leaves a sum unchanged: a sum that starts at +0 is never
/// -0 under round-to-nearest.
fn kqv_blocked(avx: bool, p: &[f32], padded: usize, vt: &[f32], hd: usize, out: &mut [f32]) {
    let nh = p.len() / padded;
    debug_assert!(nh <= 4 && out.len() == nh * hd && vt.len() >= padded * hd);
    #[cfg(target_arch = "x86_64")]
    if avx {
        // SAFETY: AVX was detected by the caller; `vt` covers `padded / 8` blocks of `hd × 8`.
        unsafe {
            match nh {
                1 => kqv_blocked_avx::<1>(p, padded, vt, hd, out),
                2 => kqv_blocked_avx::<2>(p, padded, vt, hd, out),
                3 => kqv_blocked_avx::<3>(p, padded, vt, hd, out),
                _ => kqv_blocked_avx::<4>(p, padded, vt, hd, out),
            }
        }
        return;
    }
    let _ = avx;
    kqv_blocked_portable(p, padded, vt, hd, out)
}

/// [`kqv_blocked`] in portable code.
fn kqv_blocked_portable(p: &[f32], padded: usize, vt: &[f32], hd: usize, out: &mut [f32]) {
    for (ph, oh) in p.chunks_exact(padded).zip(out.chunks_exact_mut(hd)) {
        for (d, o) in oh.iter_mut().enumerate() {
            let mut acc = [0.0f32; 8];
            for jb in 0..padded / 8 {
                let v = &vt[(jb * hd + d) * 8..][..8];
                for l in 0..8 {
                    acc[l] += ph[jb * 8 + l] * v[l];
                }
            }
            *o = hsum8(&acc);
        }
    }
}

/// [`kqv_blocked`] on 256-bit registers: for two elements of the head at a time, the lane sums
/// of up to four heads stay in registers over all positions; each value load serves every head.
///
/// # Safety
/// The CPU has AVX; `hd` is even; `vt` holds `padded · hd` floats; `p` holds whole heads.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn kqv_blocked_avx<const H: usize>(
    p: &[f32],
    padded: usize,
    vt: &[f32],
    hd: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    assert!(p.len() == H * padded && out.len() == H * hd);
    assert!(hd.is_multiple_of(2) && padded.is_multiple_of(8) && vt.len() >= padded * hd);
    let pp = p.as_ptr();
    let vp = vt.as_ptr();
    for d in (0..hd).step_by(2) {
        let mut acc = [[_mm256_setzero_ps(); 2]; H];
        for jb in 0..padded / 8 {
            // SAFETY: block jb's elements d, d + 1 lie in `vt` (jb < padded / 8, d + 1 < hd);
            // head h's probabilities jb·8..jb·8 + 8 lie in its `padded` floats.
            unsafe {
                let v0 = _mm256_loadu_ps(vp.add((jb * hd + d) * 8));
                let v1 = _mm256_loadu_ps(vp.add((jb * hd + d + 1) * 8));
                for (h, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_loadu_ps(pp.add(h * padded + jb * 8));
                    acc[0] = _mm256_add_ps(acc[0], _mm256_mul_ps(x, v0));
                    acc[1] = _mm256_add_ps(acc[1], _mm256_mul_ps(x, v1));
                }
            }
        }
        for (h, a) in acc.iter().enumerate() {
            for (e, &v) in a.iter().enumerate() {
                // SAFETY: AVX is enabled in this function.
                out[h * hd + d + e] = unsafe { hsum8_avx(v) };
            }
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
            let got = dot_tinyblas4(&a, b);
            for k in 0..4 {
                assert_eq!(
                    got[k].to_bits(),
                    dot_tinyblas(&a, &rows[k]).to_bits(),
                    "{hd} {k}"
                );
            }
        }
    }

    #[test]
    fn group_attention_is_bit_identical_to_one_head_at_a_time() {
        let mut seed = 9u32;
        let mut r = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            round_f16((seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0)
        };
        // (head size, KV heads, query heads per KV head): llama-like, SmolLM2-like, MHA, odd.
        for (hd, n_kv_heads, gqa) in [(64, 2, 4), (64, 3, 3), (8, 1, 1), (16, 2, 5), (24, 1, 2)] {
            let stride = n_kv_heads * hd;
            for n in [1, 2, 7, 8, 9, 33] {
                let keys: Vec<f32> = (0..n * stride).map(|_| r()).collect();
                let values: Vec<f32> = (0..n * stride).map(|_| r()).collect();
                let mut vt = Vec::new();
                block_values(&values, n_kv_heads, hd, n, &mut vt);
                let group = vt.len() / n_kv_heads;
                for g in 0..n_kv_heads {
                    let q: Vec<f32> = (0..gqa * hd).map(|_| r() * 3.0).collect();
                    for visible in [1, n.div_ceil(2), n] {
                        for f16 in [true, false] {
                            let mut want = vec![0.0; gqa * hd];
                            for (qh, o) in q.chunks(hd).zip(want.chunks_mut(hd)) {
                                let (k, v) = (&keys, &values);
                                attend(qh, k, v, stride, g * hd, visible, 0.3, Path::Batch, f16, o);
                            }
                            let vg = &vt[g * group..(g + 1) * group];
                            for avx in [false, avx()] {
                                let mut got = vec![0.0; gqa * hd];
                                attend_group_on(
                                    avx,
                                    &q,
                                    hd,
                                    &keys,
                                    stride,
                                    g * hd,
                                    vg,
                                    visible,
                                    0.3,
                                    f16,
                                    &mut got,
                                );
                                let bits =
                                    |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                                assert_eq!(
                                    bits(&got),
                                    bits(&want),
                                    "hd {hd} gqa {gqa} n {n} visible {visible} f16 {f16} avx {avx}"
                                );
                            }
                        }
                    }
                }
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
