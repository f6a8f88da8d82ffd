//! The packed (8-row interleaved) Q4_0, IQ4_NL and Q4_K kernels of `kernels::repack`: on every
//! instruction set this CPU has, the matrix-vector and four-token matrix-matrix products on the
//! packed layout are **bit-identical** to the scalar one-row kernel on the file layout, row by row
//! (same integer block sums, same f32 operations in the same order; see the module docs). Weights
//! are real quantizations of random rows plus raw random bytes (any scale, any nibble, any 6-bit
//! scale and min); activations come from the quantizers and from raw bytes in [−128, 127].
//!
//! A SIMD instruction set this CPU lacks is skipped with a line on stderr.

use vramplan::ggml::GgmlType;
use vramplan::kernels::repack::{self, PackedKernel};
use vramplan::kernels::{self, scalar, DotKernel, Isa};
use vramplan::quant;

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// `rows × cols` weights of `ty`: quantized random rows, or raw bytes with finite f16 scales.
fn weights(ty: GgmlType, rows: usize, cols: usize, raw: bool, rng: &mut Rng) -> Vec<u8> {
    let n = rows * cols / ty.block_size() * ty.type_size();
    if !raw {
        let x: Vec<f32> = (0..rows * cols).map(|_| rng.unit()).collect();
        let mut w = vec![0u8; n];
        quant::quantize(ty, &x, &mut w).unwrap();
        return w;
    }
    let mut w: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
    let n_f16 = if ty == GgmlType::Q4_K { 2 } else { 1 };
    for b in w.chunks_exact_mut(ty.type_size()) {
        for k in 0..n_f16 {
            let v = quant::fp32_to_fp16(rng.unit() * 0.01);
            b[2 * k..2 * k + 2].copy_from_slice(&v.to_le_bytes());
        }
    }
    w
}

/// `n` activation rows in the partner type: quantized, or raw bytes with finite scales.
fn acts(ty: GgmlType, n: usize, cols: usize, raw: bool, rng: &mut Rng) -> Vec<u8> {
    let at = vramplan::kernels::vec_dot_type(ty).unwrap();
    let rb = cols / at.block_size() * at.type_size();
    let mut out = vec![0u8; n * rb];
    for row in out.chunks_exact_mut(rb) {
        let x: Vec<f32> = (0..cols).map(|_| rng.unit() * 3.0).collect();
        quant::quantize(at, &x, row).unwrap();
        if raw {
            for blk in row.chunks_exact_mut(at.type_size()) {
                let off = if at == GgmlType::Q8_K { 4 } else { 2 };
                for q in &mut blk[off..off + at.block_size()] {
                    *q = rng.next_u64() as u8;
                }
                if at == GgmlType::Q8_K {
                    // bsums must be the sums of their 16 quants, as the quantizer writes them.
                    for k in 0..16 {
                        let s: i32 = blk[4 + 16 * k..4 + 16 * k + 16]
                            .iter()
                            .map(|&v| v as i8 as i32)
                            .sum();
                        blk[260 + 2 * k..262 + 2 * k].copy_from_slice(&(s as i16).to_le_bytes());
                    }
                }
            }
        }
    }
    out
}

fn scalar_dot(ty: GgmlType) -> fn(usize, &[u8], &[u8]) -> f32 {
    match ty {
        GgmlType::Q4_0 => scalar::vec_dot_q4_0_q8_0,
        GgmlType::IQ4_NL => scalar::vec_dot_iq4_nl_q8_0,
        _ => scalar::vec_dot_q4_k_q8_k,
    }
}

fn isas() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|isa| {
            let ok = isa.is_available();
            if !ok && *isa != Isa::Neon {
                eprintln!("skipped: this CPU lacks {isa}");
            }
            ok
        })
        .collect()
}

#[test]
fn packed_products_are_bit_identical_to_the_scalar_one_row_kernel() {
    let mut rng = Rng(11);
    for ty in [GgmlType::Q4_0, GgmlType::IQ4_NL, GgmlType::Q4_K] {
        for (rows, cols, n_tok) in [(8, 256, 1), (24, 512, 7), (16, 1024, 4), (8, 256, 9)] {
            for raw in [false, true] {
                let w = weights(ty, rows, cols, raw, &mut rng);
                let a = acts(ty, n_tok, cols, raw, &mut rng);
                let (rb, arb) = (w.len() / rows, a.len() / n_tok);
                let mut packed = vec![0u8; w.len()];
                repack::repack(ty, rows, cols, &w, &mut packed).unwrap();
                let dot = scalar_dot(ty);
                let want: Vec<f32> = (0..rows * n_tok)
                    .map(|i| {
                        let (r, t) = (i / n_tok, i % n_tok);
                        dot(cols, &w[r * rb..(r + 1) * rb], &a[t * arb..(t + 1) * arb])
                    })
                    .collect();
                for isa in isas() {
                    let Some(k) = PackedKernel::with_isa(ty, isa) else {
                        assert_eq!(isa, Isa::Neon, "{ty}: {isa} has a packed kernel");
                        continue;
                    };
                    let mut got = vec![f32::NAN; rows * n_tok];
                    repack::matmul_packed(&k, &packed, cols, &a, n_tok, &mut got).unwrap();
                    for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(
                            g.to_bits(),
                            e.to_bits(),
                            "{ty} {isa} raw {raw} {rows}x{cols} r{} t{}: {g} vs {e}",
                            i / n_tok,
                            i % n_tok
                        );
                    }
                    for t in 0..n_tok {
                        let mut v = vec![f32::NAN; rows];
                        repack::matvec_packed(
                            &k,
                            &packed,
                            cols,
                            &a[t * arb..(t + 1) * arb],
                            &mut v,
                        )
                        .unwrap();
                        for (r, g) in v.iter().enumerate() {
                            assert_eq!(
                                g.to_bits(),
                                want[r * n_tok + t].to_bits(),
                                "{ty} {isa} matvec r{r} t{t}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn tiled_product_on_packed_q4_k_is_bit_identical_to_the_scalar_one_row_kernel() {
    let mut rng = Rng(13);
    let ty = GgmlType::Q4_K;
    // 8 and 24 rows end on a half tile; 9 and 33 tokens pass the tiled product's minimum.
    for (rows, cols, n_tok) in [(8, 256, 9), (24, 512, 8), (32, 256, 33), (48, 768, 12)] {
        for raw in [false, true] {
            let w = weights(ty, rows, cols, raw, &mut rng);
            let a = acts(ty, n_tok, cols, raw, &mut rng);
            let (rb, arb) = (w.len() / rows, a.len() / n_tok);
            let mut packed = vec![0u8; w.len()];
            repack::repack(ty, rows, cols, &w, &mut packed).unwrap();
            for isa in isas() {
                let Some(Ok(k)) = DotKernel::with_isa(ty, isa) else {
                    continue;
                };
                if !k.tiled_for(n_tok) {
                    assert_eq!(isa, Isa::Neon, "{isa} has a tiled Q4_K product");
                    continue;
                }
                let mut got = vec![f32::NAN; rows * n_tok];
                kernels::matmul_packed_tiled(&k, &packed, cols, &a, n_tok, &mut got).unwrap();
                for (i, g) in got.iter().enumerate() {
                    let (r, t) = (i / n_tok, i % n_tok);
                    let e = scalar::vec_dot_q4_k_q8_k(
                        cols,
                        &w[r * rb..(r + 1) * rb],
                        &a[t * arb..(t + 1) * arb],
                    );
                    assert_eq!(
                        g.to_bits(),
                        e.to_bits(),
                        "{isa} raw {raw} {rows}x{cols} r{r} t{t}"
                    );
                }
                // Not a whole number of groups, too few tokens: refused, not computed.
                let mut out = vec![0.0; (rows - 1) * n_tok];
                let short = &packed[..packed.len() - rb];
                assert!(
                    kernels::matmul_packed_tiled(&k, short, cols, &a, n_tok, &mut out).is_err()
                );
                let mut out = vec![0.0; rows];
                assert!(
                    kernels::matmul_packed_tiled(&k, &packed, cols, &a[..arb], 1, &mut out)
                        .is_err()
                );
            }
        }
    }
}

#[test]
fn packed_products_refuse_bad_shapes() {
    let k = PackedKernel::with_isa(GgmlType::Q4_0, Isa::Scalar).unwrap();
    let w = vec![0u8; 12 * 2 * 18];
    let a = vec![0u8; 2 * 34];
    let mut out = vec![0.0; 12];
    assert!(
        repack::matvec_packed(&k, &w, 64, &a, &mut out).is_err(),
        "12 rows"
    );
    let w = vec![0u8; 8 * 2 * 18];
    let mut out = vec![0.0; 8];
    assert!(
        repack::matvec_packed(&k, &w, 64, &a[..34], &mut out).is_err(),
        "short activation"
    );
    assert!(repack::matvec_packed(&k, &w, 64, &a, &mut out).is_ok());
}

#[test]
fn unrepack_row_gives_the_file_row() {
    let mut rng = Rng(5);
    for ty in [GgmlType::Q4_0, GgmlType::IQ4_NL, GgmlType::Q4_K] {
        let (rows, cols) = (16, 512);
        let w = weights(ty, rows, cols, true, &mut rng);
        let rb = w.len() / rows;
        let mut packed = vec![0u8; w.len()];
        repack::repack(ty, rows, cols, &w, &mut packed).unwrap();
        let mut row = vec![0u8; rb];
        for r in 0..rows {
            let g = &packed[r / 8 * 8 * rb..(r / 8 + 1) * 8 * rb];
            repack::unrepack_row(ty, cols, g, r % 8, &mut row);
            assert_eq!(row, w[r * rb..(r + 1) * rb], "{ty} row {r}");
        }
    }
}

#[test]
fn extreme_quants_are_exact() {
    // The largest products: every nibble 0 or 15 (IQ4_NL levels −127 and 113; Q4_0 −8 and 7)
    // against activations of −128 or 127, where a pair sum nears the i16 limit of `vpmaddubsw`
    // and ggml's `sign` trick would mis-sum −128.
    let (rows, cols) = (8, 256);
    let mut rng = Rng(17);
    for ty in [GgmlType::Q4_0, GgmlType::IQ4_NL] {
        for (wq, aq) in [
            (0x00u8, 0x80u8),
            (0xff, 0x80),
            (0x0f, 0x7f),
            (0xf0, 0x81),
            (0x00, 0x7f),
        ] {
            let mut w = weights(ty, rows, cols, true, &mut rng);
            for b in w.chunks_exact_mut(18) {
                b[2..].fill(wq);
            }
            let mut a = acts(ty, 1, cols, false, &mut rng);
            for b in a.chunks_exact_mut(34) {
                b[2..].fill(aq);
            }
            let rb = w.len() / rows;
            let mut packed = vec![0u8; w.len()];
            repack::repack(ty, rows, cols, &w, &mut packed).unwrap();
            for isa in isas() {
                let Some(k) = PackedKernel::with_isa(ty, isa) else {
                    continue;
                };
                let mut got = vec![f32::NAN; rows];
                repack::matvec_packed(&k, &packed, cols, &a, &mut got).unwrap();
                for (r, g) in got.iter().enumerate() {
                    let e = scalar_dot(ty)(cols, &w[r * rb..(r + 1) * rb], &a);
                    assert_eq!(g.to_bits(), e.to_bits(), "{ty} {isa} {wq:#x}/{aq:#x} r{r}");
                }
            }
        }
    }
}
