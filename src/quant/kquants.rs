//! The K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (256-element super-blocks) and the activation format
//! Q8_K, ported from llama.cpp `ggml/src/ggml-quants.c`: `quantize_row_q2_K_ref` ...
//! `quantize_row_q6_K_ref`, `quantize_row_q8_K_ref`, their `dequantize_row_*` twins, and the
//! helpers `make_qx_quants`, `make_q3_quants`, `make_qkx2_quants`, `get_scale_min_k4`.
//!
//! Without an importance matrix, `quantize_q2_K` ... `quantize_q6_K` (what `llama-quantize` and
//! `ggml_quantize_chunk` call) run exactly these `_ref` functions. Bit-exactness depends on doing
//! every f32 operation in the C order, without fused multiply-adds: `a*b*c` is `(a*b)*c`, and C's
//! `int * float` converts the int first.

use super::util::{check_row, nearest_int, read_f16, write_f16};
use crate::ggml::QK_K;

/// `block_q2_K`: scales[16] (low nibble scale, high nibble min), qs[64], d f16, dmin f16.
pub const BLOCK_Q2_K: usize = 84;
/// `block_q3_K`: hmask[32], qs[64], scales[12] (16 x 6 bits), d f16.
pub const BLOCK_Q3_K: usize = 110;
/// `block_q4_K`: d f16, dmin f16, scales[12] (8 scales + 8 mins, 6 bits), qs[128].
pub const BLOCK_Q4_K: usize = 144;
/// `block_q5_K`: d f16, dmin f16, scales[12], qh[32], qs[128].
pub const BLOCK_Q5_K: usize = 176;
/// `block_q6_K`: ql[128], qh[64], scales i8[16], d f16.
pub const BLOCK_Q6_K: usize = 210;
/// `block_q8_K`: d f32, qs i8[256], bsums i16[16].
pub const BLOCK_Q8_K: usize = 292;

/// `GROUP_MAX_EPS`: sub-blocks whose max |x| is below this are treated as all zero.
pub(super) const GROUP_MAX_EPS: f32 = 1e-15;

/// `make_qx_quants` with `rmse_type == 1` and no quant weights (weights `x²`), the only variant
/// the reference quantizers use (Q6_K). Symmetric: `x ≈ scale * (L - nmax)`, `L` in
/// `[0, 2*nmax)`. Tries 19 candidate inverse scales and keeps the one that maximises
/// `(Σwxl)² / Σwl²`, the weighted least-squares fit.
pub(super) fn make_qx_quants(n: usize, nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in &x[..n] {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out[..n].fill(0);
        return 0.0;
    }
    let nmaxf = nmax as f32;
    let mut iscale = -nmaxf / max;
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
        l_out[i] = (l + nmax) as i8;
        let w = x[i] * x[i];
        let lf = l as f32;
        sumlx += w * x[i] * lf;
        suml2 += w * lf * lf;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmaxf + 0.1 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for i in 0..n {
            let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
            let w = x[i] * x[i];
            let lf = l as f32;
            sumlx += w * x[i] * lf;
            suml2 += w * lf * lf;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for i in 0..n {
                let l = nearest_int(iscale * x[i]);
                l_out[i] = (nmax + l.clamp(-nmax, nmax - 1)) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// `make_q3_quants(n, nmax, x, L, do_rmse = true)`: symmetric rounding followed by up to five
/// passes of coordinate descent on the weighted (`x²`) least-squares error.
fn make_q3_quants(n: usize, nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in &x[..n] {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out[..n].fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
        l_out[i] = l as i8;
        let w = x[i] * x[i];
        let lf = l as f32;
        sumlx += w * x[i] * lf;
        suml2 += w * lf * lf;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for i in 0..n {
            let w = x[i] * x[i];
            let li = l_out[i] as f32;
            let mut slx = sumlx - w * x[i] * li;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * li * li;
                let new_l = nearest_int(x[i] * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != l_out[i] as i32 {
                    let nl = new_l as f32;
                    slx += w * x[i] * nl;
                    sl2 += w * nl * nl;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l_out[i] = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for l in &mut l_out[..n] {
        *l += nmax as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// Parameters of `make_qkx2_quants` that vary between callers.
pub(super) struct Qkx2 {
    pub(super) nmax: i32,
    pub(super) rmin: f32,
    pub(super) rdelta: f32,
    pub(super) nstep: i32,
    pub(super) use_mad: bool,
}

/// `quantize_row_q4_K_ref`'s `make_qkx2_quants(32, 15, ..., -1.f, 0.1f, 20, false)`.
pub(super) const Q4_K_PARAMS: Qkx2 = Qkx2 {
    nmax: 15,
    rmin: -1.0,
    rdelta: 0.1,
    nstep: 20,
    use_mad: false,
};

/// `quantize_row_q5_K_ref`'s `make_qkx2_quants(32, 31, ..., -0.5f, 0.1f, 15, false)`.
pub(super) const Q5_K_PARAMS: Qkx2 = Qkx2 {
    nmax: 31,
    rmin: -0.5,
    rdelta: 0.1,
    nstep: 15,
    use_mad: false,
};

/// `make_qkx2_quants`: asymmetric ("type-1") fit `x ≈ scale * L + min` with `L` in `[0, nmax]`
/// and `min <= 0`, searching `nstep + 1` inverse scales and solving weighted least squares for
/// each. Returns `(scale, -min)`.
pub(super) fn make_qkx2_quants(
    x: &[f32],
    weights: &[f32],
    l_out: &mut [u8],
    laux: &mut [u8],
    p: &Qkx2,
) -> (f32, f32) {
    let n = x.len();
    let nmaxf = p.nmax as f32;
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l_out[..n].fill(0);
        return (0.0, -min);
    }
    let mut iscale = nmaxf / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min));
        l_out[i] = l.clamp(0, p.nmax) as u8;
        let mut diff = scale * l_out[i] as f32 + min - x[i];
        diff = if p.use_mad { diff.abs() } else { diff * diff };
        best_error += weights[i] * diff;
    }
    if p.nstep < 1 {
        return (scale, -min);
    }
    for is in 0..=p.nstep {
        iscale = (p.rmin + p.rdelta * is as f32 + nmaxf) / (max - min);
        let mut sum_l = 0.0f32;
        let mut sum_l2 = 0.0f32;
        let mut sum_xl = 0.0f32;
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, p.nmax);
            laux[i] = l as u8;
            let w = weights[i];
            let lf = l as f32;
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let d = sum_w * sum_l2 - sum_l * sum_l;
        if d > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let mut diff = this_scale * laux[i] as f32 + this_min - x[i];
                diff = if p.use_mad { diff.abs() } else { diff * diff };
                cur_error += weights[i] * diff;
            }
            if cur_error < best_error {
                l_out[..n].copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` from the 12-byte packing shared
/// by Q4_K and Q5_K.
#[inline]
pub(super) fn get_scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// `quantize_row_q2_K_ref`.
pub fn quantize_row_q2_k(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q2_k", src.len(), dst.len(), QK_K, BLOCK_Q2_K);
    const Q4SCALE: f32 = 15.0;
    let params = Qkx2 {
        nmax: 3,
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: true,
    };
    let mut l_all = [0u8; QK_K];
    let mut laux = [0u8; 16];
    let mut weights = [0f32; 16];
    let mut mins = [0f32; QK_K / 16];
    let mut scales = [0f32; QK_K / 16];
    for (x, y) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(BLOCK_Q2_K)) {
        let mut max_scale = 0.0f32;
        let mut max_min = 0.0f32;
        for j in 0..QK_K / 16 {
            let xs = &x[16 * j..16 * j + 16];
            for (w, v) in weights.iter_mut().zip(xs) {
                *w = v.abs();
            }
            let (s, m) = make_qkx2_quants(
                xs,
                &weights,
                &mut l_all[16 * j..16 * j + 16],
                &mut laux,
                &params,
            );
            scales[j] = s;
            mins[j] = m;
            if s > max_scale {
                max_scale = s;
            }
            if m > max_min {
                max_min = m;
            }
        }
        // Byte offsets inside block_q2_K.
        let (sc_off, qs_off, d_off, dmin_off) = (0, 16, 80, 82);
        if max_scale > 0.0 {
            let iscale = Q4SCALE / max_scale;
            for j in 0..QK_K / 16 {
                y[sc_off + j] = nearest_int(iscale * scales[j]) as u8;
            }
            write_f16(y, d_off, max_scale / Q4SCALE);
        } else {
            y[sc_off..sc_off + QK_K / 16].fill(0);
            write_f16(y, d_off, 0.0);
        }
        if max_min > 0.0 {
            let iscale = Q4SCALE / max_min;
            for j in 0..QK_K / 16 {
                let l = nearest_int(iscale * mins[j]);
                y[sc_off + j] |= l.wrapping_shl(4) as u8;
            }
            write_f16(y, dmin_off, max_min / Q4SCALE);
        } else {
            write_f16(y, dmin_off, 0.0);
        }
        let dd = read_f16(y, d_off);
        let dmin = read_f16(y, dmin_off);
        for j in 0..QK_K / 16 {
            let sc = y[sc_off + j];
            let d = dd * (sc & 0x0f) as f32;
            if d == 0.0 {
                continue;
            }
            let dm = dmin * (sc >> 4) as f32;
            for ii in 0..16 {
                let l = nearest_int((x[16 * j + ii] + dm) / d);
                l_all[16 * j + ii] = l.clamp(0, 3) as u8;
            }
        }
        for j in (0..QK_K).step_by(128) {
            for l in 0..32 {
                y[qs_off + j / 4 + l] = l_all[j + l]
                    | (l_all[j + l + 32] << 2)
                    | (l_all[j + l + 64] << 4)
                    | (l_all[j + l + 96] << 6);
            }
        }
    }
}

/// `dequantize_row_q2_K`.
pub fn dequantize_row_q2_k(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_q2_k",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_Q2_K,
    );
    for (b, y) in src.chunks_exact(BLOCK_Q2_K).zip(dst.chunks_exact_mut(QK_K)) {
        let scales = &b[0..16];
        let qs = &b[16..80];
        let d = read_f16(b, 80);
        let min = read_f16(b, 82);
        let mut out = 0;
        let mut is = 0;
        for n in 0..QK_K / 128 {
            let q = &qs[32 * n..32 * n + 32];
            for shift in (0..8).step_by(2) {
                for half in 0..2 {
                    let sc = scales[is];
                    is += 1;
                    let dl = d * (sc & 0x0f) as f32;
                    let ml = min * (sc >> 4) as f32;
                    for l in 0..16 {
                        let qv = (q[16 * half + l] >> shift) & 3;
                        y[out] = dl * qv as f32 - ml;
                        out += 1;
                    }
                }
            }
        }
    }
}

/// `quantize_row_q3_K_ref`.
pub fn quantize_row_q3_k(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q3_k", src.len(), dst.len(), QK_K, BLOCK_Q3_K);
    let mut l_all = [0i8; QK_K];
    let mut scales = [0f32; QK_K / 16];
    // Byte offsets inside block_q3_K.
    let (hm_off, qs_off, sc_off, d_off) = (0, 32, 96, 108);
    for (x, y) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(BLOCK_Q3_K)) {
        let mut max_scale = 0.0f32;
        let mut amax = 0.0f32;
        for j in 0..QK_K / 16 {
            scales[j] = make_q3_quants(16, 4, &x[16 * j..16 * j + 16], &mut l_all[16 * j..]);
            let scale = scales[j].abs();
            if scale > amax {
                amax = scale;
                max_scale = scales[j];
            }
        }
        y[sc_off..sc_off + 12].fill(0);
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for j in 0..QK_K / 16 {
                // int8_t l = nearest_int(...): truncated to 8 bits before the clamp.
                let l8 = nearest_int(iscale * scales[j]) as i8;
                let l = (l8.clamp(-32, 31) + 32) as u8;
                if j < 8 {
                    y[sc_off + j] = l & 0x0f;
                } else {
                    y[sc_off + j - 8] |= (l & 0x0f) << 4;
                }
                y[sc_off + 8 + j % 4] |= (l >> 4) << (2 * (j / 4));
            }
            write_f16(y, d_off, 1.0 / iscale);
        } else {
            write_f16(y, d_off, 0.0);
        }
        let dd = read_f16(y, d_off);
        for j in 0..QK_K / 16 {
            let lo = if j < 8 {
                y[sc_off + j] & 0x0f
            } else {
                y[sc_off + j - 8] >> 4
            };
            let hi = (y[sc_off + 8 + j % 4] >> (2 * (j / 4))) & 3;
            let sc = (lo | (hi << 4)) as i32 - 32;
            let d = dd * sc as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let l = nearest_int(x[16 * j + ii] / d).clamp(-4, 3);
                l_all[16 * j + ii] = (l + 4) as i8;
            }
        }
        // The high bit of the first 32 quants goes to bit 0 of hmask[0..32], the next 32 to bit 1...
        y[hm_off..hm_off + QK_K / 8].fill(0);
        let mut m = 0;
        let mut hm: u8 = 1;
        for l in l_all.iter_mut() {
            if *l > 3 {
                y[hm_off + m] |= hm;
                *l -= 4;
            }
            m += 1;
            if m == QK_K / 8 {
                m = 0;
                hm <<= 1;
            }
        }
        for j in (0..QK_K).step_by(128) {
            for l in 0..32 {
                y[qs_off + j / 4 + l] = (l_all[j + l]
                    | (l_all[j + l + 32] << 2)
                    | (l_all[j + l + 64] << 4)
                    | (l_all[j + l + 96] << 6)) as u8;
            }
        }
    }
}

/// The 6-bit Q3_K scale of sub-block `b`, minus 32 (the `aux` shuffle of `dequantize_row_q3_K`).
#[inline]
fn q3k_scale(scales: &[u8], b: usize) -> i32 {
    let lo = if b < 8 {
        scales[b] & 0x0f
    } else {
        scales[b - 8] >> 4
    };
    let hi = (scales[8 + b % 4] >> (2 * (b / 4))) & 3;
    (lo | (hi << 4)) as i32 - 32
}

/// `dequantize_row_q3_K`.
pub fn dequantize_row_q3_k(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_q3_k",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_Q3_K,
    );
    for (b, y) in src.chunks_exact(BLOCK_Q3_K).zip(dst.chunks_exact_mut(QK_K)) {
        let hmask = &b[0..32];
        let qs = &b[32..96];
        let scales = &b[96..108];
        let d_all = read_f16(b, 108);
        let mut out = 0;
        let mut is = 0;
        let mut m: u8 = 1;
        for n in 0..QK_K / 128 {
            let q = &qs[32 * n..32 * n + 32];
            for shift in (0..8).step_by(2) {
                for half in 0..2 {
                    let dl = d_all * q3k_scale(scales, is) as f32;
                    is += 1;
                    for l in 0..16 {
                        let k = 16 * half + l;
                        let low = ((q[k] >> shift) & 3) as i32;
                        let sub = if hmask[k] & m != 0 { 0 } else { 4 };
                        y[out] = dl * (low - sub) as f32;
                        out += 1;
                    }
                }
                m <<= 1;
            }
        }
    }
}

/// Packs Q4_K/Q5_K sub-block scales and mins (6 bits each) into the 12-byte layout read by
/// [`get_scale_min_k4`], as `quantize_row_q4_K_ref` does; returns `(d, dmin)` to store.
pub(super) fn pack_k4_scales(scales: &[f32; 8], mins: &[f32; 8], out: &mut [u8]) -> (f32, f32) {
    let mut max_scale = 0.0f32;
    let mut max_min = 0.0f32;
    for j in 0..8 {
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    for j in 0..8 {
        // uint8_t ls = nearest_int(...): truncated to 8 bits, then MIN(63, ls).
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            out[j] = ls;
            out[j + 4] = lm;
        } else {
            out[j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
            out[j - 4] |= (ls >> 4) << 6;
            out[j] |= (lm >> 4) << 6;
        }
    }
    (max_scale / 63.0, max_min / 63.0)
}

/// The per-sub-block weights of the Q4_K/Q5_K reference quantizers: `sqrt(mean x²) + |x|`.
fn k4_weights(xs: &[f32], weights: &mut [f32; 32]) {
    let mut sum_x2 = 0.0f32;
    for &v in xs {
        sum_x2 += v * v;
    }
    let av_x = (sum_x2 / 32.0).sqrt();
    for (w, &v) in weights.iter_mut().zip(xs) {
        *w = av_x + v.abs();
    }
}

/// Shared body of `quantize_row_q4_K_ref` and `quantize_row_q5_K_ref`: returns the quants
/// `L` (in `[0, nmax]`) after writing d, dmin and the 12 scale bytes at offsets 0, 2 and 4.
fn quantize_k4_block(x: &[f32], y: &mut [u8], params: &Qkx2, l_all: &mut [u8; QK_K]) {
    let mut laux = [0u8; 32];
    let mut weights = [0f32; 32];
    let mut mins = [0f32; 8];
    let mut scales = [0f32; 8];
    for j in 0..QK_K / 32 {
        let xs = &x[32 * j..32 * j + 32];
        k4_weights(xs, &mut weights);
        let (s, m) = make_qkx2_quants(
            xs,
            &weights,
            &mut l_all[32 * j..32 * j + 32],
            &mut laux,
            params,
        );
        scales[j] = s;
        mins[j] = m;
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

/// `quantize_row_q4_K_ref` (eight sub-blocks at a time, same bytes as
/// [`quantize_row_q4_k_scalar`]).
pub fn quantize_row_q4_k(src: &[f32], dst: &mut [u8]) {
    super::lanes::quantize_row_q4_k(src, dst)
}

/// `quantize_row_q4_K_ref`, one sub-block at a time as the C code runs: the scalar twin of
/// [`quantize_row_q4_k`].
pub fn quantize_row_q4_k_scalar(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q4_k", src.len(), dst.len(), QK_K, BLOCK_Q4_K);
    let mut l_all = [0u8; QK_K];
    for (x, y) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(BLOCK_Q4_K)) {
        quantize_k4_block(x, y, &Q4_K_PARAMS, &mut l_all);
        write_q4_k_quants(&l_all, y);
    }
}

/// Packs Q4_K quants `L` (in `[0, 15]`) into `block_q4_K`'s qs.
pub(super) fn write_q4_k_quants(l_all: &[u8; QK_K], y: &mut [u8]) {
    let q = &mut y[16..144];
    for (c, j) in (0..QK_K).step_by(64).enumerate() {
        for l in 0..32 {
            q[32 * c + l] = l_all[j + l] | (l_all[j + l + 32] << 4);
        }
    }
}

/// `dequantize_row_q4_K`.
pub fn dequantize_row_q4_k(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_q4_k",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_Q4_K,
    );
    for (b, y) in src.chunks_exact(BLOCK_Q4_K).zip(dst.chunks_exact_mut(QK_K)) {
        let d = read_f16(b, 0);
        let min = read_f16(b, 2);
        let scales = &b[4..16];
        let qs = &b[16..144];
        for c in 0..QK_K / 64 {
            let (sc1, m1) = get_scale_min_k4(2 * c, scales);
            let (sc2, m2) = get_scale_min_k4(2 * c + 1, scales);
            let d1 = d * sc1 as f32;
            let m1 = min * m1 as f32;
            let d2 = d * sc2 as f32;
            let m2 = min * m2 as f32;
            let q = &qs[32 * c..32 * c + 32];
            let out = &mut y[64 * c..64 * c + 64];
            for l in 0..32 {
                out[l] = d1 * (q[l] & 0x0f) as f32 - m1;
            }
            for l in 0..32 {
                out[32 + l] = d2 * (q[l] >> 4) as f32 - m2;
            }
        }
    }
}

/// `quantize_row_q5_K_ref` (eight sub-blocks at a time, same bytes as
/// [`quantize_row_q5_k_scalar`]).
pub fn quantize_row_q5_k(src: &[f32], dst: &mut [u8]) {
    super::lanes::quantize_row_q5_k(src, dst)
}

/// `quantize_row_q5_K_ref`, one sub-block at a time: the scalar twin of [`quantize_row_q5_k`].
pub fn quantize_row_q5_k_scalar(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q5_k", src.len(), dst.len(), QK_K, BLOCK_Q5_K);
    let mut l_all = [0u8; QK_K];
    for (x, y) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(BLOCK_Q5_K)) {
        quantize_k4_block(x, y, &Q5_K_PARAMS, &mut l_all);
        write_q5_k_quants(&l_all, y);
    }
}

/// Packs Q5_K quants `L` (in `[0, 31]`) into `block_q5_K`'s qh and qs.
pub(super) fn write_q5_k_quants(l_all: &[u8; QK_K], y: &mut [u8]) {
    let (qh, ql) = y[16..176].split_at_mut(32);
    qh.fill(0);
    let mut m1: u8 = 1;
    let mut m2: u8 = 2;
    for (c, n) in (0..QK_K).step_by(64).enumerate() {
        for j in 0..32 {
            let mut l1 = l_all[n + j];
            if l1 > 15 {
                l1 -= 16;
                qh[j] |= m1;
            }
            let mut l2 = l_all[n + j + 32];
            if l2 > 15 {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[32 * c + j] = l1 | (l2 << 4);
        }
        m1 <<= 2;
        m2 <<= 2;
    }
}

/// `dequantize_row_q5_K`.
pub fn dequantize_row_q5_k(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_q5_k",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_Q5_K,
    );
    for (b, y) in src.chunks_exact(BLOCK_Q5_K).zip(dst.chunks_exact_mut(QK_K)) {
        let d = read_f16(b, 0);
        let min = read_f16(b, 2);
        let scales = &b[4..16];
        let qh = &b[16..48];
        let qs = &b[48..176];
        let mut u1: u8 = 1;
        let mut u2: u8 = 2;
        for c in 0..QK_K / 64 {
            let (sc1, m1) = get_scale_min_k4(2 * c, scales);
            let (sc2, m2) = get_scale_min_k4(2 * c + 1, scales);
            let d1 = d * sc1 as f32;
            let m1 = min * m1 as f32;
            let d2 = d * sc2 as f32;
            let m2 = min * m2 as f32;
            let ql = &qs[32 * c..32 * c + 32];
            let out = &mut y[64 * c..64 * c + 64];
            for l in 0..32 {
                let h = if qh[l] & u1 != 0 { 16 } else { 0 };
                out[l] = d1 * ((ql[l] & 0x0f) as i32 + h) as f32 - m1;
            }
            for l in 0..32 {
                let h = if qh[l] & u2 != 0 { 16 } else { 0 };
                out[32 + l] = d2 * ((ql[l] >> 4) as i32 + h) as f32 - m2;
            }
            u1 <<= 2;
            u2 <<= 2;
        }
    }
}

/// `quantize_row_q6_K_ref` (eight sub-blocks at a time, same bytes as
/// [`quantize_row_q6_k_scalar`]).
pub fn quantize_row_q6_k(src: &[f32], dst: &mut [u8]) {
    super::lanes::quantize_row_q6_k(src, dst)
}

/// `quantize_row_q6_K_ref`, one sub-block at a time: the scalar twin of [`quantize_row_q6_k`].
pub fn quantize_row_q6_k_scalar(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q6_k", src.len(), dst.len(), QK_K, BLOCK_Q6_K);
    let mut l_all = [0i8; QK_K];
    let mut scales = [0f32; QK_K / 16];
    for (x, y) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(BLOCK_Q6_K)) {
        for ib in 0..QK_K / 16 {
            scales[ib] = make_qx_quants(16, 32, &x[16 * ib..16 * ib + 16], &mut l_all[16 * ib..]);
        }
        write_q6_k_block(x, y, &scales, &mut l_all);
    }
}

/// The rest of `quantize_row_q6_K_ref` once each sub-block has its `make_qx_quants` scale and
/// quants: the 8-bit scales, the final quants and their packing into `block_q6_K` `y`.
pub(super) fn write_q6_k_block(
    x: &[f32],
    y: &mut [u8],
    scales: &[f32; QK_K / 16],
    l_all: &mut [i8; QK_K],
) {
    // Byte offsets inside block_q6_K.
    let (ql_off, qh_off, sc_off, d_off) = (0, 128, 192, 208);
    let mut max_scale = 0.0f32;
    let mut max_abs_scale = 0.0f32;
    for &scale in scales {
        let abs_scale = scale.abs();
        if abs_scale > max_abs_scale {
            max_abs_scale = abs_scale;
            max_scale = scale;
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        y.fill(0);
        write_f16(y, d_off, 0.0);
        return;
    }
    let iscale = -128.0 / max_scale;
    write_f16(y, d_off, 1.0 / iscale);
    for ib in 0..QK_K / 16 {
        // MIN(127, nearest_int(...)) stored in an int8_t.
        y[sc_off + ib] = nearest_int(iscale * scales[ib]).min(127) as i8 as u8;
    }
    let dd = read_f16(y, d_off);
    for j in 0..QK_K / 16 {
        let d = dd * (y[sc_off + j] as i8) as f32;
        if d == 0.0 {
            continue;
        }
        for ii in 0..16 {
            let l = nearest_int(x[16 * j + ii] / d).clamp(-32, 31);
            l_all[16 * j + ii] = (l + 32) as i8;
        }
    }
    for (c, j) in (0..QK_K).step_by(128).enumerate() {
        for l in 0..32 {
            let q1 = (l_all[j + l] & 0x0f) as u8;
            let q2 = (l_all[j + l + 32] & 0x0f) as u8;
            let q3 = (l_all[j + l + 64] & 0x0f) as u8;
            let q4 = (l_all[j + l + 96] & 0x0f) as u8;
            y[ql_off + 64 * c + l] = q1 | (q3 << 4);
            y[ql_off + 64 * c + l + 32] = q2 | (q4 << 4);
            y[qh_off + 32 * c + l] = ((l_all[j + l] >> 4)
                | ((l_all[j + l + 32] >> 4) << 2)
                | ((l_all[j + l + 64] >> 4) << 4)
                | ((l_all[j + l + 96] >> 4) << 6)) as u8;
        }
    }
}

/// `dequantize_row_q6_K`.
pub fn dequantize_row_q6_k(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_q6_k",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_Q6_K,
    );
    for (b, y) in src.chunks_exact(BLOCK_Q6_K).zip(dst.chunks_exact_mut(QK_K)) {
        let d = read_f16(b, 208);
        for c in 0..QK_K / 128 {
            let ql = &b[64 * c..64 * c + 64];
            let qh = &b[128 + 32 * c..128 + 32 * c + 32];
            let sc = &b[192 + 8 * c..192 + 8 * c + 8];
            let out = &mut y[128 * c..128 * c + 128];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                out[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                out[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                out[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                out[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
            }
        }
    }
}

/// `quantize_row_q8_K_ref`: `d = max / -127` of the signed absmax, `q = MIN(127, nearest_int(x/d))`,
/// plus the 16 group sums the dot kernels use.
pub fn quantize_row_q8_k(src: &[f32], dst: &mut [u8]) {
    check_row("quantize_row_q8_k", src.len(), dst.len(), QK_K, BLOCK_Q8_K);
    for (x, y) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(BLOCK_Q8_K)) {
        let mut max = 0.0f32;
        let mut amax = 0.0f32;
        for &v in x {
            let ax = v.abs();
            if ax > amax {
                amax = ax;
                max = v;
            }
        }
        if amax == 0.0 {
            // Upstream leaves bsums untouched here; zeroing them keeps the block deterministic
            // and is what a zero-initialised destination (the oracle's) holds.
            y.fill(0);
            continue;
        }
        let iscale = -127.0 / max;
        for j in 0..QK_K {
            let v = nearest_int(iscale * x[j]);
            y[4 + j] = v.min(127) as i8 as u8;
        }
        for j in 0..QK_K / 16 {
            let mut sum: i32 = 0;
            for ii in 0..16 {
                sum += (y[4 + 16 * j + ii] as i8) as i32;
            }
            let off = 4 + QK_K + 2 * j;
            y[off..off + 2].copy_from_slice(&(sum as i16).to_le_bytes());
        }
        y[0..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
    }
}

/// `dequantize_row_q8_K`.
pub fn dequantize_row_q8_k(src: &[u8], dst: &mut [f32]) {
    check_row(
        "dequantize_row_q8_k",
        dst.len(),
        src.len(),
        QK_K,
        BLOCK_Q8_K,
    );
    for (b, y) in src.chunks_exact(BLOCK_Q8_K).zip(dst.chunks_exact_mut(QK_K)) {
        let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        for j in 0..QK_K {
            y[j] = d * (b[4 + j] as i8) as f32;
        }
    }
}
