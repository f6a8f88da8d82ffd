//! The K-quant sub-block searches eight sub-blocks at a time, for speed, with the same bytes.
//!
//! `make_qkx2_quants` (Q4_K, Q5_K) and `make_qx_quants` (Q6_K) spend nearly all of
//! `vramplan quantize`'s time. Each sums over a sub-block in element order, so the sums of one
//! sub-block cannot be split across SIMD lanes without changing the f32 results; the sub-blocks
//! of a super-block, though, are independent. Here lane `k` of every `[f32; 8]` runs sub-block
//! `k`'s search with exactly the scalar code's operations, in its order: the compiler turns the
//! per-lane loops into vector instructions, and the scalar code's branches become per-lane
//! selects (a sub-block that the scalar code leaves early is computed along and its results
//! discarded). Nothing is fused (Rust never contracts `a * b + c`), so every lane is
//! bit-identical to the scalar twin in [`super::kquants`], which the tests below hold it to on
//! every instruction set the CPU has.
//!
//! The bodies are compiled twice: for the baseline target and, on x86-64 with AVX2 (chosen at
//! run time), with 256-bit vectors.

use super::grids::KVALUES_IQ4NL;
use super::iq4::{
    iq4_subblock_scale, write_iq4_nl_block, write_iq4_xs_block, BLOCK_IQ4_NL, BLOCK_IQ4_XS, NTRY,
    QK4_NL,
};
use super::kquants::{
    get_scale_min_k4, pack_k4_scales, write_q4_k_quants, write_q5_k_quants, write_q6_k_block, Qkx2,
    BLOCK_Q4_K, BLOCK_Q5_K, BLOCK_Q6_K, GROUP_MAX_EPS, Q4_K_PARAMS, Q5_K_PARAMS,
};
use super::legacy::{c_max_abs, BLOCK_Q8_0, QK8_0};
use super::util::{c_f32_to_i32, check_row, nearest_int, read_f16, write_f16};
use crate::ggml::QK_K;

/// Sub-blocks searched at once.
const W: usize = 8;
/// One f32 per lane.
type V = [f32; W];

/// Whether the AVX2 compilation of the bodies may run (always false off x86-64, where only the
/// tests ask).
#[inline]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn use_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Declares `$name(src, dst)`, which runs `$body` compiled for AVX2 where the CPU has it and
/// for the baseline target otherwise, and `$name_baseline`, the latter alone (for the tests).
macro_rules! dispatch {
    ($name:ident, $baseline:ident, $avx2:ident, $body:ident) => {
        pub(super) fn $name(src: &[f32], dst: &mut [u8]) {
            #[cfg(target_arch = "x86_64")]
            if use_avx2() {
                // SAFETY: the CPU has AVX2 (checked just above), the only feature enabled.
                unsafe { $avx2(src, dst) };
                return;
            }
            $body(src, dst)
        }

        #[cfg(test)]
        pub(super) fn $baseline(src: &[f32], dst: &mut [u8]) {
            $body(src, dst)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        pub(super) unsafe fn $avx2(src: &[f32], dst: &mut [u8]) {
            $body(src, dst)
        }
    };
}

dispatch!(
    quantize_row_q4_k,
    quantize_row_q4_k_baseline,
    quantize_row_q4_k_avx2,
    q4_k_body
);
dispatch!(
    quantize_row_q5_k,
    quantize_row_q5_k_baseline,
    quantize_row_q5_k_avx2,
    q5_k_body
);
dispatch!(
    quantize_row_q6_k,
    quantize_row_q6_k_baseline,
    quantize_row_q6_k_avx2,
    q6_k_body
);
dispatch!(
    quantize_row_q8_0,
    quantize_row_q8_0_baseline,
    quantize_row_q8_0_avx2,
    q8_0_body
);
dispatch!(
    quantize_row_iq4_nl,
    quantize_row_iq4_nl_baseline,
    quantize_row_iq4_nl_avx2,
    iq4_nl_body
);
dispatch!(
    quantize_row_iq4_xs,
    quantize_row_iq4_xs_baseline,
    quantize_row_iq4_xs_avx2,
    iq4_xs_body
);

#[inline(always)]
fn q4_k_body(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q4_k", src.len(), dst.len(), QK_K, BLOCK_Q4_K);
    let mut l_all = [0u8; QK_K];
    for (x, y) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(BLOCK_Q4_K)) {
        k4_block(x, y, &Q4_K_PARAMS, &mut l_all);
        write_q4_k_quants(&l_all, y);
    }
}

#[inline(always)]
fn q5_k_body(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q5_k", src.len(), dst.len(), QK_K, BLOCK_Q5_K);
    let mut l_all = [0u8; QK_K];
    for (x, y) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(BLOCK_Q5_K)) {
        k4_block(x, y, &Q5_K_PARAMS, &mut l_all);
        write_q5_k_quants(&l_all, y);
    }
}

/// `quantize_k4_block` of [`super::kquants`]: the eight 32-element sub-blocks in eight lanes.
#[inline(always)]
fn k4_block(x: &[f32], y: &mut [u8], params: &Qkx2, l_all: &mut [u8; QK_K]) {
    // xt[i][k] = element i of sub-block k.
    let mut xt = [[0f32; W]; 32];
    for k in 0..W {
        for i in 0..32 {
            xt[i][k] = x[32 * k + i];
        }
    }
    // The weights `sqrt(mean x²) + |x|`, summed in element order per lane.
    let mut sum_x2 = [0f32; W];
    for row in &xt {
        for k in 0..W {
            sum_x2[k] += row[k] * row[k];
        }
    }
    let mut av_x = [0f32; W];
    for k in 0..W {
        av_x[k] = (sum_x2[k] / 32.0).sqrt();
    }
    let mut wt = [[0f32; W]; 32];
    for i in 0..32 {
        for k in 0..W {
            wt[i][k] = av_x[k] + xt[i][k].abs();
        }
    }
    let mut l_out = [[0f32; W]; 32];
    let (scales, mins) = make_qkx2_quants_x8(&xt, &wt, &mut l_out, params);
    for i in 0..32 {
        for k in 0..W {
            l_all[32 * k + i] = l_out[i][k] as u8;
        }
    }
    let (d, dmin) = pack_k4_scales(&scales, &mins, &mut y[4..16]);
    write_f16(y, 0, d);
    write_f16(y, 2, dmin);
    let dd = read_f16(y, 0);
    let ddmin = read_f16(y, 2);
    for j in 0..QK_K / 32 {
        let (sc, m) = get_scale_min_k4(j, &y[4..16]);
        let d = dd * sc as f32;
        if d == 0.0 {
            continue;
        }
        let dm = ddmin * m as f32;
        for ii in 0..32 {
            let l = nearest_int((x[32 * j + ii] + dm) / d);
            l_all[32 * j + ii] = l.clamp(0, params.nmax) as u8;
        }
    }
}

/// `make_qkx2_quants` on eight `N`-element sub-blocks, `x[i][k]` being element `i` of
/// sub-block `k`. Writes the quants (as exact small floats) to `l_out`; returns per lane
/// `(scale, -min)`.
#[inline(always)]
fn make_qkx2_quants_x8<const N: usize>(
    x: &[V; N],
    weights: &[V; N],
    l_out: &mut [V; N],
    p: &Qkx2,
) -> (V, V) {
    let nmaxf = p.nmax as f32;
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = [0f32; W];
    for k in 0..W {
        sum_x[k] = sum_w[k] * x[0][k];
    }
    for i in 1..N {
        for k in 0..W {
            let v = x[i][k];
            min[k] = if v < min[k] { v } else { min[k] };
            max[k] = if v > max[k] { v } else { max[k] };
            let w = weights[i][k];
            sum_w[k] += w;
            sum_x[k] += w * v;
        }
    }
    // Lanes whose sub-block is flat return (0, -min) right here in the scalar code.
    let mut flat = [false; W];
    let mut flat_min = [0f32; W];
    let mut iscale = [0f32; W];
    let mut scale = [0f32; W];
    for k in 0..W {
        if min[k] > 0.0 {
            min[k] = 0.0;
        }
        flat[k] = max[k] == min[k];
        flat_min[k] = min[k];
        iscale[k] = nmaxf / (max[k] - min[k]);
        scale[k] = 1.0 / iscale[k];
    }
    let mut best_error = [0f32; W];
    for i in 0..N {
        for k in 0..W {
            let l = nearest_int(iscale[k] * (x[i][k] - min[k])).clamp(0, p.nmax) as f32;
            l_out[i][k] = l;
            let diff = scale[k] * l + min[k] - x[i][k];
            let diff = if p.use_mad { diff.abs() } else { diff * diff };
            best_error[k] += weights[i][k] * diff;
        }
    }
    if p.nstep >= 1 {
        let mut laux = [[0f32; W]; N];
        for is in 0..=p.nstep {
            let num = p.rmin + p.rdelta * is as f32 + nmaxf;
            let mut sum_l = [0f32; W];
            let mut sum_l2 = [0f32; W];
            let mut sum_xl = [0f32; W];
            for k in 0..W {
                iscale[k] = num / (max[k] - min[k]);
            }
            for i in 0..N {
                for k in 0..W {
                    let l = nearest_int(iscale[k] * (x[i][k] - min[k])).clamp(0, p.nmax) as f32;
                    laux[i][k] = l;
                    let wl = weights[i][k] * l;
                    sum_l[k] += wl;
                    sum_l2[k] += wl * l;
                    sum_xl[k] += wl * x[i][k];
                }
            }
            let mut this_scale = [0f32; W];
            let mut this_min = [0f32; W];
            let mut positive = [false; W];
            for k in 0..W {
                let d = sum_w[k] * sum_l2[k] - sum_l[k] * sum_l[k];
                positive[k] = d > 0.0;
                let s = (sum_w[k] * sum_xl[k] - sum_x[k] * sum_l[k]) / d;
                let m = (sum_l2[k] * sum_x[k] - sum_l[k] * sum_xl[k]) / d;
                let clamp = m > 0.0;
                this_min[k] = if clamp { 0.0 } else { m };
                this_scale[k] = if clamp { sum_xl[k] / sum_l2[k] } else { s };
            }
            let mut cur_error = [0f32; W];
            for i in 0..N {
                for k in 0..W {
                    let diff = this_scale[k] * laux[i][k] + this_min[k] - x[i][k];
                    let diff = if p.use_mad { diff.abs() } else { diff * diff };
                    cur_error[k] += weights[i][k] * diff;
                }
            }
            let mut take = [false; W];
            for k in 0..W {
                take[k] = positive[k] && cur_error[k] < best_error[k];
                if take[k] {
                    best_error[k] = cur_error[k];
                    scale[k] = this_scale[k];
                    min[k] = this_min[k];
                }
            }
            for i in 0..N {
                for k in 0..W {
                    l_out[i][k] = if take[k] { laux[i][k] } else { l_out[i][k] };
                }
            }
        }
    }
    let mut neg_min = [0f32; W];
    for k in 0..W {
        if flat[k] {
            scale[k] = 0.0;
            min[k] = flat_min[k];
            for row in l_out.iter_mut() {
                row[k] = 0.0;
            }
        }
        neg_min[k] = -min[k];
    }
    (scale, neg_min)
}

#[inline(always)]
fn q6_k_body(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q6_k", src.len(), dst.len(), QK_K, BLOCK_Q6_K);
    let mut l_all = [0i8; QK_K];
    let mut scales = [0f32; QK_K / 16];
    for (x, y) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(BLOCK_Q6_K)) {
        // Sixteen 16-element sub-blocks: two groups of eight lanes.
        for g in 0..2 {
            let mut xt = [[0f32; W]; 16];
            for k in 0..W {
                for i in 0..16 {
                    xt[i][k] = x[128 * g + 16 * k + i];
                }
            }
            let mut l_out = [[0f32; W]; 16];
            let s = make_qx_quants_x8(&xt, &mut l_out, 32);
            scales[8 * g..8 * g + 8].copy_from_slice(&s);
            for k in 0..W {
                for i in 0..16 {
                    l_all[128 * g + 16 * k + i] = l_out[i][k] as i8;
                }
            }
        }
        write_q6_k_block(x, y, &scales, &mut l_all);
    }
}

/// `make_qx_quants(n, nmax, x, L, rmse_type = 1, NULL)` on eight `N`-element sub-blocks in
/// lanes; quants to `l_out` (as exact small floats), scales returned.
#[inline(always)]
fn make_qx_quants_x8<const N: usize>(x: &[V; N], l_out: &mut [V; N], nmax: i32) -> V {
    let mut max = [0f32; W];
    let mut amax = [0f32; W];
    for i in 0..N {
        for k in 0..W {
            let v = x[i][k];
            let ax = v.abs();
            let bigger = ax > amax[k];
            amax[k] = if bigger { ax } else { amax[k] };
            max[k] = if bigger { v } else { max[k] };
        }
    }
    let nmaxf = nmax as f32;
    let mut iscale = [0f32; W];
    for k in 0..W {
        iscale[k] = -nmaxf / max[k];
    }
    let mut laux = [[0f32; W]; N];
    let (mut sumlx, mut suml2) = qx_sums(x, &iscale, &mut laux, nmax);
    *l_out = laux;
    let mut scale = [0f32; W];
    let mut best = [0f32; W];
    for k in 0..W {
        scale[k] = if suml2[k] != 0.0 {
            sumlx[k] / suml2[k]
        } else {
            0.0
        };
        best[k] = scale[k] * sumlx[k];
    }
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        let num = nmaxf + 0.1 * is as f32;
        for k in 0..W {
            iscale[k] = -num / max[k];
        }
        (sumlx, suml2) = qx_sums(x, &iscale, &mut laux, nmax);
        let mut take = [false; W];
        for k in 0..W {
            take[k] = suml2[k] > 0.0 && sumlx[k] * sumlx[k] > best[k] * suml2[k];
            if take[k] {
                scale[k] = sumlx[k] / suml2[k];
                best[k] = scale[k] * sumlx[k];
            }
        }
        for i in 0..N {
            for k in 0..W {
                l_out[i][k] = if take[k] { laux[i][k] } else { l_out[i][k] };
            }
        }
    }
    for k in 0..W {
        let zero = amax[k] < GROUP_MAX_EPS;
        if zero {
            scale[k] = 0.0;
        }
        for row in l_out.iter_mut() {
            // The scalar code stores L + nmax, or 0 for a sub-block it treats as all zero.
            row[k] = if zero { 0.0 } else { row[k] + nmaxf };
        }
    }
    scale
}

/// One candidate of `make_qx_quants`: the quants `L` (unshifted, in `[-nmax, nmax)`) for
/// `iscale`, and `(Σ x²·x·L, Σ x²·L²)` in element order.
#[inline(always)]
fn qx_sums<const N: usize>(x: &[V; N], iscale: &V, laux: &mut [V; N], nmax: i32) -> (V, V) {
    let mut sumlx = [0f32; W];
    let mut suml2 = [0f32; W];
    for i in 0..N {
        for k in 0..W {
            let v = x[i][k];
            let l = nearest_int(iscale[k] * v).clamp(-nmax, nmax - 1) as f32;
            laux[i][k] = l;
            let w = v * v;
            sumlx[k] += w * v * l;
            suml2[k] += w * l * l;
        }
    }
    (sumlx, suml2)
}

#[inline(always)]
fn iq4_xs_body(src: &[f32], dst: &mut [u8]) {
    check_row(
        "quantize_row_iq4_xs",
        src.len(),
        dst.len(),
        QK_K,
        BLOCK_IQ4_XS,
    );
    for (x, y) in src
        .chunks_exact(QK_K)
        .zip(dst.chunks_exact_mut(BLOCK_IQ4_XS))
    {
        let mut xt = [[0f32; W]; 32];
        for k in 0..W {
            for i in 0..32 {
                xt[i][k] = x[32 * k + i];
            }
        }
        let scales = iq4_scales_x8(&xt);
        write_iq4_xs_block(x, y, &scales);
    }
}

#[inline(always)]
fn iq4_nl_body(src: &[f32], dst: &mut [u8]) {
    check_row(
        "quantize_row_iq4_nl",
        src.len(),
        dst.len(),
        QK4_NL,
        BLOCK_IQ4_NL,
    );
    let mut groups = src
        .chunks_exact(QK4_NL * W)
        .zip(dst.chunks_exact_mut(BLOCK_IQ4_NL * W));
    for (x, y) in &mut groups {
        let mut xt = [[0f32; W]; 32];
        for k in 0..W {
            for i in 0..32 {
                xt[i][k] = x[32 * k + i];
            }
        }
        let scales = iq4_scales_x8(&xt);
        for k in 0..W {
            write_iq4_nl_block(
                &x[QK4_NL * k..QK4_NL * (k + 1)],
                &mut y[BLOCK_IQ4_NL * k..BLOCK_IQ4_NL * (k + 1)],
                scales[k],
            );
        }
    }
    // Fewer than eight blocks left: one at a time.
    let done = src.len() / (QK4_NL * W) * W;
    let mut l = [0u8; QK4_NL];
    for (x, y) in src[done * QK4_NL..]
        .chunks_exact(QK4_NL)
        .zip(dst[done * BLOCK_IQ4_NL..].chunks_exact_mut(BLOCK_IQ4_NL))
    {
        let scale = iq4_subblock_scale(x, &mut l);
        write_iq4_nl_block(x, y, scale);
    }
}

/// `iq4_subblock_scale` of [`super::iq4`] (the scale search of `quantize_row_iq4_nl_impl`,
/// weights `x²`) on eight 32-element sub-blocks in lanes. Only the scales are returned: the
/// callers compute the final quants from them.
#[inline(always)]
fn iq4_scales_x8(x: &[V; 32]) -> V {
    let v0 = KVALUES_IQ4NL[0];
    let mut max = [0f32; W];
    let mut amax = [0f32; W];
    for row in x {
        for k in 0..W {
            let ax = row[k].abs();
            let bigger = ax > amax[k];
            amax[k] = if bigger { ax } else { amax[k] };
            max[k] = if bigger { row[k] } else { max[k] };
        }
    }
    let mut id = [0f32; W];
    for k in 0..W {
        let d = -max[k] / v0 as f32;
        id[k] = 1.0 / d;
    }
    let (sumqx, sumq2) = iq4_sums(x, &id);
    let mut d = [0f32; W];
    let mut best = [0f32; W];
    for k in 0..W {
        d[k] = if sumq2[k] > 0.0 {
            sumqx[k] / sumq2[k]
        } else {
            0.0
        };
        best[k] = d[k] * sumqx[k];
    }
    for itry in -NTRY..=NTRY {
        let num = (itry + v0 as i32) as f32;
        for k in 0..W {
            id[k] = num / max[k];
        }
        let (sumqx, sumq2) = iq4_sums(x, &id);
        for k in 0..W {
            if sumq2[k] > 0.0 && sumqx[k] * sumqx[k] > best[k] * sumq2[k] {
                d[k] = sumqx[k] / sumq2[k];
                best[k] = d[k] * sumqx[k];
            }
        }
    }
    for k in 0..W {
        if amax[k] < GROUP_MAX_EPS {
            d[k] = 0.0;
        }
    }
    d
}

/// One candidate of the IQ4 scale search: `(Σ x²·q·x, Σ x²·q²)` in element order, `q` being
/// the table value `best_index_int8` picks for `id * x`.
#[inline(always)]
fn iq4_sums(x: &[V; 32], id: &V) -> (V, V) {
    let mut sumqx = [0f32; W];
    let mut sumq2 = [0f32; W];
    for row in x {
        for k in 0..W {
            let v = row[k];
            let q = iq4_nearest_value(id[k] * v);
            let w = v * v;
            sumqx[k] += w * q * v;
            sumq2[k] += w * q * q;
        }
    }
    (sumqx, sumq2)
}

/// The table value at `best_index_int8(KVALUES_IQ4NL, x)`, without branches. The binary search
/// there ends with `val[mu - 1] <= x < val[mu]` and picks `val[mu - 1]` when
/// `x - val[mu - 1] < val[mu] - x`: `lower` and `upper` below are those two values (both the
/// end value when `x` is outside the table, where the comparison then picks it, and both the
/// last value for NaN, which upstream maps to index 15).
#[inline(always)]
fn iq4_nearest_value(x: f32) -> f32 {
    let mut lower = KVALUES_IQ4NL[0] as f32;
    let mut upper = KVALUES_IQ4NL[15] as f32;
    for &t in &KVALUES_IQ4NL {
        let t = t as f32;
        lower = if x < t { lower } else { t };
    }
    for &t in KVALUES_IQ4NL.iter().rev() {
        let t = t as f32;
        upper = if x < t { t } else { upper };
    }
    if x - lower < upper - x {
        lower
    } else {
        upper
    }
}

/// `quantize_row_q8_0_ref`. The block maximum `MAX(amax, fabsf(v))` in element order equals
/// eight running maxima combined in any order unless a NaN is present (C's `MAX` lets a NaN
/// through, then forgets it at the next larger value): those blocks take the sequential loop.
/// `round` compiles to an inline exact sequence where SSE4.1 is on (the AVX2 compilation).
#[inline(always)]
fn q8_0_body(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q8_0", src.len(), dst.len(), QK8_0, BLOCK_Q8_0);
    for (x, y) in src
        .chunks_exact(QK8_0)
        .zip(dst.chunks_exact_mut(BLOCK_Q8_0))
    {
        let mut m = [0f32; W];
        let mut nan = false;
        for c in 0..QK8_0 / W {
            for k in 0..W {
                let a = x[W * c + k].abs();
                nan |= a.is_nan();
                m[k] = if m[k] > a { m[k] } else { a };
            }
        }
        let amax = if nan {
            c_max_abs(x)
        } else {
            let m4 = [
                m[0].max(m[4]),
                m[1].max(m[5]),
                m[2].max(m[6]),
                m[3].max(m[7]),
            ];
            m4[0].max(m4[2]).max(m4[1].max(m4[3]))
        };
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        write_f16(y, 0, d);
        for j in 0..QK8_0 {
            // roundf = half away from zero, which is what f32::round does.
            y[2 + j] = c_f32_to_i32((x[j] * id).round()) as i8 as u8;
        }
    }
}

/// F16 bytes to f32: `vcvtph2ps` eight at a time where the CPU has F16C (exact, NaNs made
/// quiet with their payload kept, as the scalar conversion does), else the scalar loop.
pub(super) fn dequantize_row_f16(src: &[u8], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if use_f16c() {
        check_row("dequantize_row_f16", dst.len(), src.len(), 1, 2);
        // SAFETY: F16C and AVX were detected; the lengths match (checked above).
        unsafe { f16_to_f32_f16c(src, dst) };
        return;
    }
    super::float::dequantize_row_f16_scalar(src, dst)
}

#[cfg(target_arch = "x86_64")]
fn use_f16c() -> bool {
    std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("avx")
}

/// # Safety
/// The CPU must have F16C and AVX; `src.len() == 2 * dst.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn f16_to_f32_f16c(src: &[u8], dst: &mut [f32]) {
    use std::arch::x86_64::{__m128i, _mm256_cvtph_ps, _mm256_storeu_ps, _mm_loadu_si128};
    let n = dst.len() / 8 * 8;
    for i in (0..n).step_by(8) {
        // SAFETY: 16 bytes at src[2i..] and 8 floats at dst[i..] are in bounds (i + 8 <= n
        // <= dst.len() and src.len() == 2 * dst.len()); unaligned loads and stores.
        unsafe {
            let h = _mm_loadu_si128(src.as_ptr().add(2 * i) as *const __m128i);
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
        }
    }
    super::float::dequantize_row_f16_scalar(&src[2 * n..], &mut dst[n..]);
}

#[cfg(test)]
mod tests {
    use super::super::kquants;
    use super::*;

    type Row = fn(&[f32], &mut [u8]);

    /// Deterministic rows that reach every branch: ordinary data at several scales, all-zero,
    /// constant (positive and negative) and single-spike sub-blocks, tiny and huge values,
    /// all-positive and all-negative sub-blocks, and non-finite values.
    fn rows() -> Vec<Vec<f32>> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut out = Vec::new();
        for &amp in &[1.0f32, 0.02, 3e-3, 1e4, 1e-16, 1e-30, 6e4] {
            out.push((0..QK_K * 8).map(|_| amp * next()).collect::<Vec<_>>());
            // Heavy tails: products of two uniforms, cubed.
            out.push(
                (0..QK_K * 8)
                    .map(|_| amp * (next() * next() * 8.0).powi(3))
                    .collect(),
            );
        }
        let mut special = vec![0f32; QK_K * 4];
        for (i, v) in special.iter_mut().enumerate() {
            let sub = i / 16;
            *v = match sub % 12 {
                0 => 0.0,
                1 => 0.75,
                2 => -0.75,
                3 if i % 16 == 5 => 2.0,
                3 => 0.0,
                4 => next().abs() + 0.1,
                5 => -next().abs() - 0.1,
                6 => next() * 1e-15,
                7 if i % 16 == 3 => f32::INFINITY,
                8 if i % 16 == 9 => f32::NAN,
                9 if i % 16 == 0 => f32::NEG_INFINITY,
                10 => (i % 3) as f32 - 1.0,
                _ => next(),
            };
        }
        out.push(special);
        // The same patterns per 32-element sub-block (Q4_K, Q5_K).
        let mut special32 = vec![0f32; QK_K * 4];
        for (i, v) in special32.iter_mut().enumerate() {
            let sub = i / 32;
            *v = match sub % 9 {
                0 => 0.0,
                1 => 0.5,
                2 => -0.5,
                3 if i % 32 == 7 => -3.0,
                3 => 0.0,
                4 => next().abs() + 1.0,
                5 => -next().abs() - 1.0,
                6 if i % 32 == 1 => f32::NAN,
                7 if i % 32 == 30 => f32::INFINITY,
                _ => next(),
            };
        }
        out.push(special32);
        out
    }

    fn check(name: &str, block: usize, scalar: Row, fast: &[(&str, Row)]) {
        for (r, x) in rows().iter().enumerate() {
            let mut want = vec![0u8; x.len() / QK_K * block];
            scalar(x, &mut want);
            for (isa, f) in fast {
                let mut got = vec![0xa5u8; want.len()];
                f(x, &mut got);
                assert!(
                    got == want,
                    "{name} {isa}: row {r} differs from the scalar code"
                );
            }
        }
    }

    fn fast_paths(baseline: Row, avx2: Option<Row>, dispatched: Row) -> Vec<(&'static str, Row)> {
        let mut v: Vec<(&'static str, Row)> =
            vec![("baseline", baseline), ("dispatch", dispatched)];
        match avx2 {
            Some(f) if use_avx2() => v.push(("avx2", f)),
            _ => eprintln!(
                "lanes: no AVX2 on this CPU or target; only the baseline compilation is tested"
            ),
        }
        v
    }

    /// The AVX2 compilations as plain function pointers; only used after `use_avx2()`.
    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        pub fn q4(x: &[f32], y: &mut [u8]) {
            // SAFETY: fast_paths hands this out only when AVX2 was detected.
            unsafe { super::super::quantize_row_q4_k_avx2(x, y) }
        }
        pub fn q5(x: &[f32], y: &mut [u8]) {
            // SAFETY: as above.
            unsafe { super::super::quantize_row_q5_k_avx2(x, y) }
        }
        pub fn q6(x: &[f32], y: &mut [u8]) {
            // SAFETY: as above.
            unsafe { super::super::quantize_row_q6_k_avx2(x, y) }
        }
        pub fn q8_0(x: &[f32], y: &mut [u8]) {
            // SAFETY: as above.
            unsafe { super::super::quantize_row_q8_0_avx2(x, y) }
        }
        pub fn iq4_nl(x: &[f32], y: &mut [u8]) {
            // SAFETY: as above.
            unsafe { super::super::quantize_row_iq4_nl_avx2(x, y) }
        }
        pub fn iq4_xs(x: &[f32], y: &mut [u8]) {
            // SAFETY: as above.
            unsafe { super::super::quantize_row_iq4_xs_avx2(x, y) }
        }
    }
    #[cfg(target_arch = "x86_64")]
    const AVX2: [Option<Row>; 6] = [
        Some(avx2::q4),
        Some(avx2::q5),
        Some(avx2::q6),
        Some(avx2::iq4_xs),
        Some(avx2::iq4_nl),
        Some(avx2::q8_0),
    ];
    #[cfg(not(target_arch = "x86_64"))]
    const AVX2: [Option<Row>; 6] = [None; 6];

    #[test]
    fn q8_0_matches_the_scalar_code() {
        // Exact rounding ties (amax 127 makes id 1), signed zeros, NaN in several positions.
        let mut ties: Vec<f32> = (0..QK8_0 * 4)
            .map(|i| match i % 32 {
                0 => 127.0,
                1 => -0.0,
                j => (j as f32 - 16.5) * if i / 32 % 2 == 0 { 1.0 } else { 3.0 },
            })
            .collect();
        ties[32 * 2 + 5] = f32::NAN;
        ties[32 * 3 + 31] = f32::NAN;
        ties[32 * 3 + 30] = f32::INFINITY;
        let mut gen = SubBlocks(0xdead_beef);
        let mut mixed = vec![0f32; 32 * 512];
        for b in mixed.chunks_exact_mut(32) {
            gen.fill(b);
        }
        let fast = fast_paths(quantize_row_q8_0_baseline, AVX2[5], quantize_row_q8_0);
        for x in rows().iter().chain([&ties, &mixed]) {
            let mut want = vec![0u8; x.len() / QK8_0 * BLOCK_Q8_0];
            super::super::legacy::quantize_row_q8_0_scalar(x, &mut want);
            for (isa, f) in &fast {
                let mut got = vec![0xa5u8; want.len()];
                f(x, &mut got);
                assert!(got == want, "Q8_0 {isa}: a row of {} differs", x.len());
            }
        }
    }

    #[test]
    fn f16_conversion_matches_the_scalar_code_on_every_value() {
        // All 65536 halves, plus a tail that is not a multiple of eight.
        let src: Vec<u8> = (0..=u16::MAX)
            .chain(0..5)
            .flat_map(|h| h.to_le_bytes())
            .collect();
        let mut want = vec![0f32; src.len() / 2];
        super::super::float::dequantize_row_f16_scalar(&src, &mut want);
        let mut got = vec![1f32; want.len()];
        dequantize_row_f16(&src, &mut got);
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "half {i:#06x}");
        }
        #[cfg(target_arch = "x86_64")]
        if !use_f16c() {
            eprintln!("lanes: this CPU lacks F16C; only the scalar conversion was run");
        }
    }

    #[test]
    fn iq4_nl_lanes_match_the_scalar_code() {
        // Rows of 8 (the rows() above), 9 and 3 blocks: whole groups and the one-by-one tail.
        let mut gen = SubBlocks(0x9e37_79b9);
        let mut tail_rows: Vec<Vec<f32>> = Vec::new();
        for blocks in [9usize, 3, 15, 1] {
            let mut x = vec![0f32; blocks * QK4_NL];
            for b in x.chunks_exact_mut(QK4_NL) {
                gen.fill(b);
            }
            tail_rows.push(x);
        }
        let fast = fast_paths(quantize_row_iq4_nl_baseline, AVX2[4], quantize_row_iq4_nl);
        for x in rows().iter().chain(&tail_rows) {
            let mut want = vec![0u8; x.len() / QK4_NL * BLOCK_IQ4_NL];
            super::super::iq4::quantize_row_iq4_nl_scalar(x, &mut want);
            for (isa, f) in &fast {
                let mut got = vec![0xa5u8; want.len()];
                f(x, &mut got);
                assert!(got == want, "IQ4_NL {isa}: a row of {} differs", x.len());
            }
        }
    }

    #[test]
    fn iq4_xs_lanes_match_the_scalar_code() {
        check(
            "IQ4_XS",
            BLOCK_IQ4_XS,
            super::super::iq4::quantize_row_iq4_xs_scalar,
            &fast_paths(quantize_row_iq4_xs_baseline, AVX2[3], quantize_row_iq4_xs),
        );
    }

    #[test]
    fn q4_k_lanes_match_the_scalar_code() {
        check(
            "Q4_K",
            BLOCK_Q4_K,
            kquants::quantize_row_q4_k_scalar,
            &fast_paths(quantize_row_q4_k_baseline, AVX2[0], quantize_row_q4_k),
        );
    }

    #[test]
    fn q5_k_lanes_match_the_scalar_code() {
        check(
            "Q5_K",
            BLOCK_Q5_K,
            kquants::quantize_row_q5_k_scalar,
            &fast_paths(quantize_row_q5_k_baseline, AVX2[1], quantize_row_q5_k),
        );
    }

    #[test]
    fn q6_k_lanes_match_the_scalar_code() {
        check(
            "Q6_K",
            BLOCK_Q6_K,
            kquants::quantize_row_q6_k_scalar,
            &fast_paths(quantize_row_q6_k_baseline, AVX2[2], quantize_row_q6_k),
        );
    }

    /// A generator of sub-blocks of every kind the searches branch on: ordinary data over 40
    /// orders of magnitude, heavy tails, values on a coarse grid (exact rounding ties), flat,
    /// all-zero, single-spike, one-signed and (rarely) non-finite sub-blocks.
    struct SubBlocks(u64);

    impl SubBlocks {
        fn unit(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 40) as f32 / (1u64 << 24) as f32
        }

        fn fill(&mut self, out: &mut [f32]) {
            let kind = (self.unit() * 14.0) as u32;
            let amp = 10f32.powf(self.unit() * 40.0 - 30.0);
            let spike = (self.unit() * out.len() as f32) as usize;
            let c = self.unit() - 0.5;
            for (i, v) in out.iter_mut().enumerate() {
                let u = self.unit() - 0.5;
                *v = match kind {
                    0..=3 => amp * u,
                    4 => amp * (u * (self.unit() - 0.5) * 8.0).powi(3),
                    5 => (u * 16.0).round() * 0.5,
                    6 => ((u * 64.0).round() - 0.5) * amp,
                    7 => c,
                    8 => 0.0,
                    9 if i == spike => c,
                    9 => 0.0,
                    10 => amp * u.abs(),
                    11 => -amp * u.abs(),
                    12 if i == spike && self.unit() < 0.3 => {
                        [f32::NAN, f32::INFINITY, -f32::INFINITY][i % 3]
                    }
                    _ => amp * 1e-12 * u,
                };
            }
        }

        /// Eight sub-blocks, as rows (`flat[k]`) and in lanes (`[i][k]`).
        fn group<const N: usize>(&mut self) -> ([[f32; N]; W], [V; N]) {
            let mut rows = [[0f32; N]; W];
            let mut lanes = [[0f32; W]; N];
            for k in 0..W {
                self.fill(&mut rows[k]);
                for i in 0..N {
                    lanes[i][k] = rows[k][i];
                }
            }
            (rows, lanes)
        }
    }

    const GROUPS: usize = 20_000;

    /// Bit-exact comparison (NaN payloads included) of two f32s.
    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits()
    }

    #[test]
    fn make_qkx2_quants_lanes_are_bit_identical() {
        let mut gen = SubBlocks(0x2545_f491_4f6c_dd1d);
        for params in [&Q4_K_PARAMS, &Q5_K_PARAMS] {
            for g in 0..GROUPS {
                let (rows, xt) = gen.group::<32>();
                let mut wt = [[0f32; W]; 32];
                let mut weights = [[0f32; 32]; W];
                for k in 0..W {
                    let sum_x2: f32 = rows[k].iter().fold(0.0, |s, v| s + v * v);
                    let av_x = (sum_x2 / 32.0).sqrt();
                    for i in 0..32 {
                        weights[k][i] = av_x + rows[k][i].abs();
                        wt[i][k] = weights[k][i];
                    }
                }
                let mut l_lanes = [[0f32; W]; 32];
                let (scale, neg_min) = make_qkx2_quants_x8(&xt, &wt, &mut l_lanes, params);
                for k in 0..W {
                    let mut l = [0u8; 32];
                    let mut laux = [0u8; 32];
                    let (s, m) =
                        kquants::make_qkx2_quants(&rows[k], &weights[k], &mut l, &mut laux, params);
                    assert!(
                        same(s, scale[k]) && same(m, neg_min[k]),
                        "group {g} lane {k}: ({s}, {m}) != ({}, {})",
                        scale[k],
                        neg_min[k]
                    );
                    for i in 0..32 {
                        assert_eq!(l[i], l_lanes[i][k] as u8, "group {g} lane {k} element {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn make_qx_quants_lanes_are_bit_identical() {
        let mut gen = SubBlocks(0x5851_f42d_4c95_7f2d);
        for g in 0..GROUPS {
            let (rows, xt) = gen.group::<16>();
            let mut l_lanes = [[0f32; W]; 16];
            let scale = make_qx_quants_x8(&xt, &mut l_lanes, 32);
            for k in 0..W {
                let mut l = [0i8; 16];
                let s = kquants::make_qx_quants(16, 32, &rows[k], &mut l);
                assert!(same(s, scale[k]), "group {g} lane {k}: {s} != {}", scale[k]);
                for i in 0..16 {
                    assert_eq!(l[i], l_lanes[i][k] as i8, "group {g} lane {k} element {i}");
                }
            }
        }
    }

    #[test]
    fn iq4_scale_search_lanes_are_bit_identical() {
        let mut gen = SubBlocks(0x1405_7b7e_f767_814f);
        for g in 0..GROUPS {
            let (rows, xt) = gen.group::<32>();
            let d = iq4_scales_x8(&xt);
            for k in 0..W {
                let mut l = [0u8; 32];
                let s = super::super::iq4::iq4_subblock_scale(&rows[k], &mut l);
                assert!(same(s, d[k]), "group {g} lane {k}: {s} != {}", d[k]);
            }
        }
    }

    #[test]
    fn iq4_nearest_value_is_best_index_int8() {
        let table = KVALUES_IQ4NL;
        let mut xs = vec![
            f32::NAN,
            f32::INFINITY,
            -f32::INFINITY,
            0.0,
            -0.0,
            1e30,
            -1e30,
        ];
        for w in table.windows(2) {
            let (a, b) = (w[0] as f32, w[1] as f32);
            for v in [a, b, (a + b) / 2.0] {
                xs.extend([
                    v,
                    f32::from_bits(v.to_bits() + 1),
                    f32::from_bits(v.to_bits() - 1),
                ]);
                xs.extend([-v, v + 0.25, v - 0.25]);
            }
        }
        let mut gen = SubBlocks(7);
        xs.extend((0..100_000).map(|_| (gen.unit() - 0.5) * 300.0));
        for x in xs {
            let want = table[super::super::iq4::best_index_int8(&table, x) as usize] as f32;
            assert!(same(iq4_nearest_value(x), want), "x = {x}");
        }
    }
}
