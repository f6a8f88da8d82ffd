//! Dot-product kernels: (a) the scalar reference of every weight type against the f64 dot of the
//! dequantized operands; (b) every SIMD instruction set this CPU has against the scalar reference
//! on random and adversarial blocks; the dispatching API (matvec, rayon matvec, errors,
//! `VRAMPLAN_FORCE_SCALAR`).
//!
//! Tolerances, stated once:
//! * (a) scalar vs dequantized: `|dot − ref| ≤ 1e-5·Σ|w_i·a_i|`. The scalar kernel sums integers
//!   per block and scales in f32, the reference multiplies dequantized f32 values and sums in
//!   f64; a layout error (a swapped nibble, a wrong scale) is off by a large fraction of the dot.
//! * (b) SIMD vs scalar: the integer block sums are exact, only the f32 accumulation order across
//!   blocks and lanes differs, so `|simd − scalar| ≤ 1e-5·Σ|w_i·a_i|` in general, and
//!   **bit-identical** results on unit-scale rows (every `d` = 1, mins 0, `Σ|w_i·a_i| < 2^24`),
//!   where every partial sum is an exactly representable integer. The float types (F32, F16,
//!   BF16) sum in f32 lanes against the scalar's f64: tolerance only.
//!
//! A SIMD instruction set this CPU lacks is skipped with a line on stderr.

use proptest::prelude::*;
use vramplan::ggml::GgmlType;
use vramplan::kernels::{self, DotKernel, Isa, KernelError};
use vramplan::quant::{self, fp16_to_fp32, fp32_to_fp16};

use GgmlType::*;

const QUANT_TYPES: [GgmlType; 12] = [
    Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS,
];
const FLOAT_TYPES: [GgmlType; 3] = [F32, F16, BF16];

/// Weight types whose SIMD kernels are exact for an activation byte of −128 too (no sign trick
/// on the activation); Q8_0, IQ4_NL and IQ4_XS need activations in [−127, 127], which is all
/// the quantizers produce (checked in `activation_quantizers_never_emit_minus_128`).
const MINUS_128_SAFE: [GgmlType; 9] = [Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K];

// ---------------------------------------------------------------------------------------------
// Deterministic random numbers.

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
    /// Uniform in [−1, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    /// Roughly normal, with a rare outlier (as real weights and activations have).
    fn normal(&mut self) -> f32 {
        let v = (self.unit() + self.unit() + self.unit() + self.unit()) * 0.87;
        if self.next_u64().is_multiple_of(97) {
            v * 20.0
        } else {
            v
        }
    }
    fn i8_in(&mut self, lo: i32, hi: i32) -> i8 {
        (lo + (self.next_u64() % (hi - lo + 1) as u64) as i32) as i8
    }
}

// ---------------------------------------------------------------------------------------------
// Building rows.

/// Offsets of the f16 scale fields (`d`) and min/offset fields (`m`, `dmin`) in a weight block.
fn scale_fields(ty: GgmlType) -> (&'static [usize], &'static [usize]) {
    match ty {
        Q4_0 | Q5_0 | Q8_0 | IQ4_NL | Q4_K | Q5_K | IQ4_XS => {
            (&[0], if matches!(ty, Q4_K | Q5_K) { &[2] } else { &[] })
        }
        Q4_1 | Q5_1 => (&[0], &[2]),
        Q2_K => (&[80], &[82]),
        Q3_K => (&[108], &[]),
        Q6_K => (&[208], &[]),
        _ => (&[], &[]),
    }
}

fn put_f16(b: &mut [u8], off: usize, v: f32) {
    b[off..off + 2].copy_from_slice(&fp32_to_fp16(v).to_le_bytes());
}

/// How the scale fields of a weight row are set.
#[derive(Clone, Copy, Debug)]
enum Scales {
    /// Random magnitudes around 2^-6 with random signs (mins positive).
    Random,
    /// Every `d` = 1 and every min = 0: the dot is an exact integer.
    Unit,
}

/// Overwrites the scale fields of every block of `w` (a quantized row of `ty`).
fn set_scales(ty: GgmlType, w: &mut [u8], scales: Scales, rng: &mut Rng) {
    let (ds, ms) = scale_fields(ty);
    for b in w.chunks_exact_mut(ty.type_size()) {
        for &o in ds {
            let v = match scales {
                Scales::Random => rng.unit() * 0.03,
                Scales::Unit => 1.0,
            };
            put_f16(b, o, v);
        }
        for &o in ms {
            let v = match scales {
                Scales::Random => rng.unit().abs() * 0.02,
                Scales::Unit => 0.0,
            };
            put_f16(b, o, v);
        }
    }
}

/// A weight row of `n` elements with every byte random, then valid scale fields.
fn random_bytes_row(ty: GgmlType, n: usize, scales: Scales, rng: &mut Rng) -> Vec<u8> {
    if !ty.is_quantized() {
        return float_row(ty, &(0..n).map(|_| rng.normal()).collect::<Vec<_>>());
    }
    let mut w: Vec<u8> = (0..n / ty.block_size() * ty.type_size())
        .map(|_| rng.byte())
        .collect();
    set_scales(ty, &mut w, scales, rng);
    w
}

/// A weight row made by the real quantizer from roughly normal floats.
fn quantized_row(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    let x: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
    let mut w = vec![0u8; n / ty.block_size() * ty.type_size()];
    quant::quantize(ty, &x, &mut w).unwrap();
    w
}

fn float_row(ty: GgmlType, x: &[f32]) -> Vec<u8> {
    let mut w = vec![0u8; x.len() * ty.type_size()];
    quant::quantize(ty, x, &mut w).unwrap();
    w
}

/// An activation row in `act_ty` (Q8_0, Q8_1 or Q8_K) from explicit quants and per-block scales;
/// Q8_1's `s` and Q8_K's `bsums` are derived from them as the quantizers derive them.
fn q8_row(act_ty: GgmlType, qs: &[i8], d: &[f32]) -> Vec<u8> {
    let bs = act_ty.block_size();
    let mut out = Vec::new();
    for (q, &d) in qs.chunks_exact(bs).zip(d) {
        let sum: i32 = q.iter().map(|&v| v as i32).sum();
        match act_ty {
            Q8_0 => out.extend_from_slice(&fp32_to_fp16(d).to_le_bytes()),
            Q8_1 => {
                let d16 = fp32_to_fp16(d);
                out.extend_from_slice(&d16.to_le_bytes());
                let s = fp16_to_fp32(d16) * sum as f32;
                out.extend_from_slice(&fp32_to_fp16(s).to_le_bytes());
            }
            Q8_K => out.extend_from_slice(&d.to_le_bytes()),
            _ => unreachable!("{act_ty} is not a Q8 activation type"),
        }
        out.extend(q.iter().map(|&v| v as u8));
        if act_ty == Q8_K {
            for g in q.chunks_exact(16) {
                let s: i32 = g.iter().map(|&v| v as i32).sum();
                out.extend_from_slice(&(s as i16).to_le_bytes());
            }
        }
    }
    out
}

/// A random activation row for weight type `ty`: quants in `[lo, hi]`, scales as `scales`.
fn random_act(ty: GgmlType, n: usize, lo: i32, hi: i32, scales: Scales, rng: &mut Rng) -> Vec<u8> {
    let act_ty = kernels::vec_dot_type(ty).unwrap();
    if !act_ty.is_quantized() {
        return float_row(act_ty, &(0..n).map(|_| rng.normal()).collect::<Vec<_>>());
    }
    let qs: Vec<i8> = (0..n).map(|_| rng.i8_in(lo, hi)).collect();
    let d: Vec<f32> = (0..n / act_ty.block_size())
        .map(|_| match scales {
            // Powers of two keep Q8_1's s = d·Σq exact in f16 for |Σq| <= 2048.
            Scales::Random => [0.0078125f32, 0.015625, 0.03125][(rng.next_u64() % 3) as usize],
            Scales::Unit => 1.0,
        })
        .collect();
    q8_row(act_ty, &qs, &d)
}

fn dequant(ty: GgmlType, b: &[u8]) -> Vec<f32> {
    let mut out = vec![0f32; b.len() / ty.type_size() * ty.block_size()];
    quant::dequantize(ty, b, &mut out).unwrap();
    out
}

/// `(Σ w_i·a_i, Σ |w_i·a_i|)` in f64 over the dequantized rows; for Q8_1 activations the min
/// term uses the stored `s` (what the format means by `m·Σa`), not the f32 sum of `d·q`.
fn reference(ty: GgmlType, w: &[u8], a: &[u8]) -> (f64, f64) {
    let act_ty = kernels::vec_dot_type(ty).unwrap();
    let wf = dequant(ty, w);
    let af = dequant(act_ty, a);
    let mut dot = 0f64;
    let mut abs = 0f64;
    for (x, y) in wf.iter().zip(&af) {
        dot += *x as f64 * *y as f64;
        abs += (*x as f64 * *y as f64).abs();
    }
    if act_ty == Q8_1 {
        for (b, (wb, ab)) in w
            .chunks_exact(ty.type_size())
            .zip(a.chunks_exact(Q8_1.type_size()))
            .enumerate()
        {
            let m = fp16_to_fp32(u16::from_le_bytes([wb[2], wb[3]])) as f64;
            let s = fp16_to_fp32(u16::from_le_bytes([ab[2], ab[3]])) as f64;
            let sum_a: f64 = af[32 * b..32 * b + 32].iter().map(|&v| v as f64).sum();
            dot += m * (s - sum_a);
        }
    }
    (dot, abs)
}

/// Instruction sets other than scalar that this CPU has; reports the ones it lacks once.
fn simd_isas() -> Vec<Isa> {
    static REPORT: std::sync::Once = std::sync::Once::new();
    REPORT.call_once(|| {
        for isa in Isa::ALL {
            if isa != Isa::Scalar && !isa.is_available() {
                eprintln!("kernels: skipping {isa}: this CPU (or architecture) lacks it");
            }
        }
    });
    Isa::ALL
        .into_iter()
        .filter(|&isa| isa != Isa::Scalar && isa.is_available())
        .collect()
}

fn scalar_dot(ty: GgmlType, n: usize, w: &[u8], a: &[u8]) -> f32 {
    kernels::vec_dot_with(Isa::Scalar, ty, n, w, a).unwrap()
}

/// Check (a): scalar against the dequantized reference.
fn check_scalar_vs_reference(ty: GgmlType, n: usize, w: &[u8], a: &[u8], what: &str) {
    let got = scalar_dot(ty, n, w, a) as f64;
    let (want, abs) = reference(ty, w, a);
    assert!(
        (got - want).abs() <= 1e-5 * abs + 1e-30,
        "{ty} {what}: scalar {got} vs dequantized {want} (Σ|w·a| = {abs})"
    );
}

/// Check (b): every available SIMD instruction set against scalar; bit-identical if `exact`.
fn check_simd_vs_scalar(ty: GgmlType, n: usize, w: &[u8], a: &[u8], exact: bool, what: &str) {
    let want = scalar_dot(ty, n, w, a);
    let (_, abs) = reference(ty, w, a);
    for isa in simd_isas() {
        let got = kernels::vec_dot_with(isa, ty, n, w, a).unwrap();
        if exact {
            assert!(
                got == want,
                "{ty} {what} on {isa}: {got} vs scalar {want} (must be equal)"
            );
        } else {
            assert!(
                (got as f64 - want as f64).abs() <= 1e-5 * abs + 1e-30,
                "{ty} {what} on {isa}: {got} vs scalar {want} (Σ|w·a| = {abs})"
            );
        }
    }
}

fn check_both(ty: GgmlType, n: usize, w: &[u8], a: &[u8], exact: bool, what: &str) {
    check_scalar_vs_reference(ty, n, w, a, what);
    check_simd_vs_scalar(ty, n, w, a, exact, what);
}

// ---------------------------------------------------------------------------------------------
// (a) + (b) on random rows.

#[test]
fn quantized_rows_from_the_real_quantizers() {
    let mut rng = Rng(1);
    for ty in QUANT_TYPES.into_iter().chain(FLOAT_TYPES) {
        for n in [256, 1024, 4096] {
            let w = quantized_row(ty, n, &mut rng);
            let x: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let mut a = Vec::new();
            let act_ty = kernels::quantize_activation(ty, &x, &mut a).unwrap();
            assert_eq!(Some(act_ty), kernels::vec_dot_type(ty));
            check_both(ty, n, &w, &a, false, &format!("quantized n={n}"));
            // The dot of the quantized rows approximates the float dot.
            let wf = dequant(ty, &w);
            let exact: f64 = wf.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
            let norm: f64 = wf
                .iter()
                .zip(&x)
                .map(|(a, b)| (*a as f64 * *b as f64).abs())
                .sum();
            let got = kernels::vec_dot(ty, n, &w, &a) as f64;
            assert!(
                (got - exact).abs() <= 0.05 * norm,
                "{ty}: {got} vs float dot {exact}"
            );
        }
    }
}

#[test]
fn random_bytes_random_scales() {
    let mut rng = Rng(2);
    for ty in QUANT_TYPES.into_iter().chain(FLOAT_TYPES) {
        for n in [256, 512, 2048] {
            for _ in 0..20 {
                let w = random_bytes_row(ty, n, Scales::Random, &mut rng);
                let a = random_act(ty, n, -127, 127, Scales::Random, &mut rng);
                check_both(ty, n, &w, &a, false, &format!("random n={n}"));
            }
        }
    }
}

#[test]
fn unit_scales_are_bit_identical() {
    let mut rng = Rng(3);
    for ty in QUANT_TYPES {
        for n in [256, 512, 1024] {
            for _ in 0..20 {
                let w = random_bytes_row(ty, n, Scales::Unit, &mut rng);
                // The widest activation range whose dot stays below 2^24 (exact in f32).
                let a = [127, 31, 7, 1]
                    .into_iter()
                    .map(|r| random_act(ty, n, -r, r, Scales::Unit, &mut rng))
                    .find(|a| reference(ty, &w, a).1 < (1 << 24) as f64)
                    .expect("a ±1 activation row keeps every dot below 2^24");
                check_both(ty, n, &w, &a, true, &format!("unit n={n}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Adversarial blocks.

/// Activation quants for the adversarial cases.
fn adversarial_acts(n: usize) -> Vec<(&'static str, Vec<i8>)> {
    vec![
        ("zeros", vec![0; n]),
        ("all +127", vec![127; n]),
        ("all -127", vec![-127; n]),
        (
            "alternating ±127",
            (0..n)
                .map(|i| if i % 2 == 0 { 127 } else { -127 })
                .collect(),
        ),
        (
            "single +127 outlier",
            (0..n).map(|i| if i == n / 3 { 127 } else { 0 }).collect(),
        ),
        (
            "single -127 outlier",
            (0..n).map(|i| if i == n - 1 { -127 } else { 0 }).collect(),
        ),
    ]
}

/// Weight byte patterns for the adversarial cases (scale fields are set afterwards).
fn adversarial_weights(ty: GgmlType, n: usize) -> Vec<(&'static str, Vec<u8>)> {
    let len = n / ty.block_size() * ty.type_size();
    let mut single = vec![0u8; len];
    single[len / 2] = 0xff;
    vec![
        ("bytes 0x00", vec![0x00; len]),
        ("bytes 0xFF", vec![0xff; len]),
        ("bytes 0x80", vec![0x80; len]),
        ("bytes 0x7F", vec![0x7f; len]),
        (
            "bytes 0x0F/0xF0",
            (0..len)
                .map(|i| if i % 2 == 0 { 0x0f } else { 0xf0 })
                .collect(),
        ),
        ("single 0xFF byte", single),
    ]
}

#[test]
fn adversarial_blocks() {
    let mut rng = Rng(4);
    let n = 512;
    for ty in QUANT_TYPES {
        let act_ty = kernels::vec_dot_type(ty).unwrap();
        for (wname, wbytes) in adversarial_weights(ty, n) {
            for scales in [Scales::Unit, Scales::Random] {
                let mut w = wbytes.clone();
                set_scales(ty, &mut w, scales, &mut rng);
                for (aname, qs) in adversarial_acts(n) {
                    let d = vec![
                        match scales {
                            Scales::Unit => 1.0,
                            Scales::Random => 0.0078125,
                        };
                        n / act_ty.block_size()
                    ];
                    let a = q8_row(act_ty, &qs, &d);
                    let (_, abs) = reference(ty, &w, &a);
                    let exact = matches!(scales, Scales::Unit) && abs < (1 << 24) as f64;
                    let what = format!("{wname} × {aname} ({scales:?} scales)");
                    check_both(ty, n, &w, &a, exact, &what);
                }
            }
        }
        // All-zero weight and activation rows, scale fields included, give exactly 0.
        let w = vec![0u8; n / ty.block_size() * ty.type_size()];
        let a = vec![0u8; n / act_ty.block_size() * act_ty.type_size()];
        for isa in std::iter::once(Isa::Scalar).chain(simd_isas()) {
            assert_eq!(
                kernels::vec_dot_with(isa, ty, n, &w, &a),
                Some(0.0),
                "{ty} zeros {isa}"
            );
        }
    }
}

#[test]
fn activation_bytes_of_minus_128() {
    // Not produced by any quantizer, but exact in the kernels without the sign trick.
    let mut rng = Rng(5);
    let n = 512;
    for ty in MINUS_128_SAFE {
        let act_ty = kernels::vec_dot_type(ty).unwrap();
        for scales in [Scales::Unit, Scales::Random] {
            let w = random_bytes_row(ty, n, scales, &mut rng);
            let mut wmax = vec![0xffu8; w.len()];
            set_scales(ty, &mut wmax, scales, &mut rng);
            let d = vec![1.0; n / act_ty.block_size()];
            for qs in [
                vec![-128i8; n],
                (0..n)
                    .map(|i| if i % 2 == 0 { -128 } else { 127 })
                    .collect(),
            ] {
                let a = q8_row(act_ty, &qs, &d);
                for w in [&w, &wmax] {
                    let (_, abs) = reference(ty, w, &a);
                    let exact = matches!(scales, Scales::Unit) && abs < (1 << 24) as f64;
                    check_both(ty, n, w, &a, exact, "-128 activations");
                }
            }
        }
    }
}

#[test]
fn float_types_adversarial() {
    let n = 1000; // not a multiple of the vector width: exercises the tails
    for ty in FLOAT_TYPES {
        let cases: Vec<(&str, Vec<f32>, Vec<f32>)> = vec![
            ("zeros", vec![0.0; n], vec![0.0; n]),
            ("large", vec![60000.0; n], vec![-60000.0; n]),
            (
                "alternating",
                (0..n)
                    .map(|i| if i % 2 == 0 { 1.5 } else { -1.5 })
                    .collect(),
                vec![2.0; n],
            ),
            (
                "single outlier",
                (0..n).map(|i| if i == 997 { 1e4 } else { 1e-3 }).collect(),
                vec![1.0; n],
            ),
            ("tiny", vec![1e-7; n], vec![3e-5; n]),
        ];
        for (what, x, y) in cases {
            for len in [n, 7, 8, 33] {
                let (w, a) = (float_row(ty, &x[..len]), float_row(ty, &y[..len]));
                check_both(ty, len, &w, &a, false, &format!("{what} n={len}"));
            }
        }
    }
}

#[test]
fn activation_quantizers_never_emit_minus_128() {
    let mut rng = Rng(6);
    let n = 1024;
    let mut rows: Vec<Vec<f32>> = (0..50)
        .map(|_| (0..n).map(|_| rng.normal()).collect())
        .collect();
    rows.push(
        (0..n)
            .map(|i| if i % 7 == 0 { -1e30 } else { 1e30 })
            .collect(),
    );
    rows.push(
        (0..n)
            .map(|i| if i == 5 { -3.0 } else { 3.0 * rng.unit() })
            .collect(),
    );
    rows.push((0..n).map(|i| -(i as f32) * 1e-38).collect());
    rows.push(vec![-1.0; n]);
    for x in &rows {
        for ty in [Q4_0, Q4_1, Q4_K] {
            let mut buf = Vec::new();
            let act_ty = kernels::quantize_activation(ty, x, &mut buf).unwrap();
            let (off, len) = match act_ty {
                Q8_0 => (2, 32),
                Q8_1 => (4, 32),
                Q8_K => (4, 256),
                _ => unreachable!(),
            };
            for b in buf.chunks_exact(act_ty.type_size()) {
                assert!(!b[off..off + len].contains(&0x80), "{act_ty} emitted -128");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests on the key types.

fn prop_case(ty: GgmlType, wbytes: &[u8], qs: &[i8], dexp: &[i8], unit: bool) {
    let n = qs.len();
    let act_ty = kernels::vec_dot_type(ty).unwrap();
    let mut rng = Rng(wbytes.iter().map(|&b| b as u64).sum());
    let mut w = wbytes.to_vec();
    set_scales(
        ty,
        &mut w,
        if unit { Scales::Unit } else { Scales::Random },
        &mut rng,
    );
    let d: Vec<f32> = (0..n / act_ty.block_size())
        .map(|i| {
            if unit {
                1.0
            } else {
                (dexp[i % dexp.len()] as f32).exp2()
            }
        })
        .collect();
    let a = q8_row(act_ty, qs, &d);
    let (_, abs) = reference(ty, &w, &a);
    check_both(ty, n, &w, &a, unit && abs < (1 << 24) as f64, "proptest");
}

fn prop_strategy(ty: GgmlType) -> impl Strategy<Value = (Vec<u8>, Vec<i8>, Vec<i8>, bool)> {
    let blocks_per_row = if ty.block_size() == 32 {
        1..=16usize
    } else {
        1..=2usize
    };
    blocks_per_row.prop_flat_map(move |nb| {
        let n = nb * ty.block_size();
        (
            prop::collection::vec(any::<u8>(), nb * ty.type_size()),
            prop::collection::vec(-127i8..=127, n),
            prop::collection::vec(-12i8..=-4, 1..4),
            any::<bool>(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn prop_q4_0((w, qs, dexp, unit) in prop_strategy(Q4_0)) { prop_case(Q4_0, &w, &qs, &dexp, unit); }

    #[test]
    fn prop_q8_0((w, qs, dexp, unit) in prop_strategy(Q8_0)) { prop_case(Q8_0, &w, &qs, &dexp, unit); }

    #[test]
    fn prop_q4_1((w, qs, dexp, unit) in prop_strategy(Q4_1)) { prop_case(Q4_1, &w, &qs, &dexp, unit); }

    #[test]
    fn prop_q4_k((w, qs, dexp, unit) in prop_strategy(Q4_K)) { prop_case(Q4_K, &w, &qs, &dexp, unit); }

    #[test]
    fn prop_q6_k((w, qs, dexp, unit) in prop_strategy(Q6_K)) { prop_case(Q6_K, &w, &qs, &dexp, unit); }

    #[test]
    fn prop_q3_k((w, qs, dexp, unit) in prop_strategy(Q3_K)) { prop_case(Q3_K, &w, &qs, &dexp, unit); }
}

// ---------------------------------------------------------------------------------------------
// Dispatch API.

#[test]
fn pairing_matches_llama_cpp() {
    let pairs = [
        (F32, F32),
        (F16, F16),
        (BF16, BF16),
        (Q4_0, Q8_0),
        (Q4_1, Q8_1),
        (Q5_0, Q8_0),
        (Q5_1, Q8_1),
        (Q8_0, Q8_0),
        (IQ4_NL, Q8_0),
        (Q2_K, Q8_K),
        (Q3_K, Q8_K),
        (Q4_K, Q8_K),
        (Q5_K, Q8_K),
        (Q6_K, Q8_K),
        (IQ4_XS, Q8_K),
    ];
    for (w, a) in pairs {
        assert_eq!(kernels::vec_dot_type(w), Some(a), "{w}");
    }
    for ty in [IQ2_XXS, IQ1_S, TQ1_0, MXFP4, Q8_K, Q8_1, I8] {
        assert_eq!(kernels::vec_dot_type(ty), None, "{ty}");
        assert!(matches!(
            DotKernel::new(ty),
            Err(KernelError::Unsupported(_))
        ));
    }
}

#[test]
fn every_type_is_served_by_the_active_isa() {
    let active = kernels::active_isa();
    assert!(active.is_available());
    eprintln!("kernels: active instruction set {active}");
    for ty in QUANT_TYPES.into_iter().chain(FLOAT_TYPES) {
        let k = DotKernel::new(ty).unwrap();
        assert_eq!(Some(k.isa()), active.serving(ty));
        // x86-64 has a SIMD kernel for every type; NEON for the four most used ones.
        let simd_expected = match active {
            Isa::Scalar => false,
            Isa::Neon => matches!(ty, Q8_0 | Q4_0 | Q4_K | Q6_K),
            Isa::Avx2 | Isa::Avx512Vnni => true,
        };
        assert_eq!(
            k.isa() != Isa::Scalar,
            simd_expected,
            "{ty} on {active}: {:?}",
            k.isa()
        );
    }
}

#[test]
fn matvec_equals_per_row_dots_and_parallel_is_bit_identical() {
    let mut rng = Rng(7);
    let (n_rows, n_cols) = (200, 512);
    for ty in QUANT_TYPES.into_iter().chain(FLOAT_TYPES) {
        let rows = quantized_row(ty, n_rows * n_cols, &mut rng);
        let x: Vec<f32> = (0..n_cols).map(|_| rng.normal()).collect();
        let mut a = Vec::new();
        kernels::quantize_activation(ty, &x, &mut a).unwrap();
        let mut out = vec![0f32; n_rows];
        let mut out_par = vec![0f32; n_rows];
        kernels::matvec(ty, &rows, n_cols, &a, &mut out).unwrap();
        kernels::matvec_par(ty, &rows, n_cols, &a, &mut out_par).unwrap();
        let row = rows.len() / n_rows;
        for (r, w) in rows.chunks_exact(row).enumerate() {
            assert_eq!(
                out[r].to_bits(),
                kernels::vec_dot(ty, n_cols, w, &a).to_bits(),
                "{ty}"
            );
        }
        assert_eq!(
            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            out_par.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{ty}"
        );
    }
}

#[test]
fn bad_shapes_are_errors() {
    let a = vec![0u8; 34 * 8];
    let w = vec![0u8; 18 * 8];
    let mut out = vec![0f32; 2];
    assert!(matches!(
        kernels::matvec(Q4_0, &w, 100, &a, &mut out),
        Err(KernelError::PartialBlock {
            n: 100,
            block: 32,
            ..
        })
    ));
    assert!(matches!(
        kernels::matvec(Q4_0, &w, 128, &a, &mut out),
        Err(KernelError::Len {
            what: "activation row",
            expected: 136,
            ..
        })
    ));
    assert!(matches!(
        kernels::matvec(Q4_0, &w[..18 * 7], 128, &a[..136], &mut out),
        Err(KernelError::Len {
            what: "weight matrix",
            expected: 144,
            ..
        })
    ));
    assert!(kernels::matvec(Q4_0, &w, 128, &a[..136], &mut out).is_ok());
    assert!(kernels::matvec_par(Q4_0, &w, 128, &a[..136], &mut out).is_ok());
    let mut buf = Vec::new();
    assert!(matches!(
        kernels::quantize_activation(Q4_K, &[0.0; 100], &mut buf),
        Err(KernelError::PartialBlock { block: 256, .. })
    ));
    assert_eq!(
        kernels::quantize_activation(Q4_K, &[0.5; 512], &mut buf),
        Ok(Q8_K)
    );
    assert_eq!(buf.len(), 2 * 292);
    let caught = std::panic::catch_unwind(|| kernels::vec_dot(Q4_0, 64, &w[..18], &a[..68]));
    assert!(caught.is_err(), "vec_dot must refuse a short weight row");
}

#[test]
fn force_scalar_env_selects_the_scalar_kernels() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "force_scalar_probe",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("VRAMPLAN_FORCE_SCALAR", "1")
        .output();
    let out = match out {
        Ok(out) => out,
        // E.g. a cross-compiled test binary under qemu-user without binfmt_misc.
        Err(e) => {
            eprintln!(
                "kernels: skipping VRAMPLAN_FORCE_SCALAR check: cannot re-run the test binary: {e}"
            );
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    if text.is_empty() && !out.status.success() {
        // The binary did not start at all (seen under qemu-user without binfmt_misc).
        eprintln!(
            "kernels: skipping VRAMPLAN_FORCE_SCALAR check: the test binary did not run again"
        );
        return;
    }
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("probe: active isa = scalar"), "{text}");
}

#[test]
#[ignore = "run by force_scalar_env_selects_the_scalar_kernels in a child process"]
fn force_scalar_probe() {
    println!("probe: active isa = {}", kernels::active_isa());
    assert_eq!(DotKernel::new(Q4_K).unwrap().isa(), Isa::Scalar);
}

// ---------------------------------------------------------------------------------------------
// Batched products (prefill): the four-activation-row kernels against their one-row twins.

/// `matmul_with` on every instruction set this CPU has (scalar included) against the one-row
/// kernel of the same instruction set, pair by pair: bit-identical (the four-row kernels perform
/// each row's operations in the one-row order), and against scalar within tolerance. Token
/// counts cover blocks of four, leftovers and more than one token block.
fn check_matmul(
    ty: GgmlType,
    rows: &[u8],
    n_rows: usize,
    n_cols: usize,
    acts: &[u8],
    n_tok: usize,
    what: &str,
) {
    let rb = rows.len() / n_rows;
    let ab = acts.len() / n_tok;
    let scalar = DotKernel::with_isa(ty, Isa::Scalar).unwrap().unwrap();
    for isa in std::iter::once(Isa::Scalar).chain(simd_isas()) {
        let k = DotKernel::with_isa(ty, isa).unwrap().unwrap();
        for kk in [k, k.without_tiled(), k.without_x4()] {
            let mut out = vec![f32::NAN; n_rows * n_tok];
            kernels::matmul_with(&kk, rows, n_cols, acts, n_tok, &mut out).unwrap();
            for r in 0..n_rows {
                let w = &rows[r * rb..(r + 1) * rb];
                for t in 0..n_tok {
                    let a = &acts[t * ab..(t + 1) * ab];
                    // The tiled product keeps the scalar kernel's f32 order.
                    let want = if kk.tiled_for(n_tok) {
                        scalar.dot(n_cols, w, a)
                    } else {
                        k.dot(n_cols, w, a)
                    };
                    let got = out[r * n_tok + t];
                    assert!(
                        got.to_bits() == want.to_bits(),
                        "{ty} {what} on {isa} (x4: {}, tiled: {}): row {r} token {t}: {got} vs \
                         one-row {want}",
                        kk.has_x4(),
                        kk.tiled_for(n_tok)
                    );
                    let s = scalar.dot(n_cols, w, a);
                    let (_, abs) = reference(ty, w, a);
                    assert!(
                        (got as f64 - s as f64).abs() <= 1e-5 * abs + 1e-30,
                        "{ty} {what} on {isa}: row {r} token {t}: {got} vs scalar {s}"
                    );
                }
            }
        }
    }
}

#[test]
fn batched_matmul_equals_one_row_kernels_on_random_rows() {
    let mut rng = Rng(15);
    let n_cols = 512;
    let n_rows = 3;
    for ty in QUANT_TYPES.into_iter().chain(FLOAT_TYPES) {
        for n_tok in [1, 4, 7, 8, 70] {
            let rows: Vec<u8> = (0..n_rows)
                .flat_map(|_| random_bytes_row(ty, n_cols, Scales::Random, &mut rng))
                .collect();
            let lo = if MINUS_128_SAFE.contains(&ty) {
                -128
            } else {
                -127
            };
            let acts: Vec<u8> = (0..n_tok)
                .flat_map(|_| random_act(ty, n_cols, lo, 127, Scales::Random, &mut rng))
                .collect();
            check_matmul(ty, &rows, n_rows, n_cols, &acts, n_tok, "random");
        }
    }
}

#[test]
fn batched_matmul_equals_one_row_kernels_on_adversarial_blocks() {
    let mut rng = Rng(16);
    let n = 512;
    for ty in QUANT_TYPES {
        let act_ty = kernels::vec_dot_type(ty).unwrap();
        let nb = n / act_ty.block_size();
        let acts: Vec<u8> = adversarial_acts(n)
            .into_iter()
            .flat_map(|(_, qs)| q8_row(act_ty, &qs, &vec![0.0078125; nb]))
            .collect();
        let n_tok = adversarial_acts(n).len();
        for (what, mut w) in adversarial_weights(ty, n) {
            set_scales(ty, &mut w, Scales::Random, &mut rng);
            check_matmul(ty, &w, 1, n, &acts, n_tok, what);
        }
    }
}

/// The tiled product of the K-quants and IQ4_XS: several tiles of 16 rows with a partial last
/// one, token counts with and without leftovers of the 8-token groups, real quantized weights
/// and activations and random bytes.
#[test]
fn tiled_matmul_is_bit_identical_to_the_scalar_kernel() {
    let mut rng = Rng(17);
    for ty in [Q6_K, Q4_K, Q5_K, Q3_K, Q2_K, IQ4_XS] {
        for (n_cols, n_rows, n_tok) in [(256, 37, 8), (512, 16, 19), (768, 33, 11)] {
            let rows: Vec<u8> = (0..n_rows)
                .flat_map(|r| {
                    if r % 2 == 0 {
                        quantized_row(ty, n_cols, &mut rng)
                    } else {
                        random_bytes_row(ty, n_cols, Scales::Random, &mut rng)
                    }
                })
                .collect();
            let acts: Vec<u8> = (0..n_tok)
                .flat_map(|_| {
                    let x: Vec<f32> = (0..n_cols).map(|_| rng.normal()).collect();
                    let mut a = Vec::new();
                    kernels::quantize_activation(ty, &x, &mut a).unwrap();
                    a
                })
                .collect();
            for isa in std::iter::once(Isa::Scalar).chain(simd_isas()) {
                let k = DotKernel::with_isa(ty, isa).unwrap().unwrap();
                let served = k.tiled_for(n_tok);
                if !served {
                    eprintln!("kernels: {ty} on {isa} has no tiled product; checked as batched");
                }
            }
            check_matmul(ty, &rows, n_rows, n_cols, &acts, n_tok, "tiled");
        }
    }
}

/// The register-tiled kernels (`gemm_q8`): enough rows and tokens for whole tiles, with
/// leftover rows and tokens on every side of them.
#[test]
fn tiled_matmul_equals_one_row_kernels_on_whole_and_partial_tiles() {
    let mut rng = Rng(17);
    let n_cols = 256;
    for ty in [Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_1, Q5_1] {
        for (n_rows, n_tok) in [(4, 4), (8, 5), (9, 12), (13, 17), (6, 2)] {
            let rows: Vec<u8> = (0..n_rows)
                .flat_map(|_| random_bytes_row(ty, n_cols, Scales::Random, &mut rng))
                .collect();
            let lo = if MINUS_128_SAFE.contains(&ty) {
                -128
            } else {
                -127
            };
            let acts: Vec<u8> = (0..n_tok)
                .flat_map(|_| random_act(ty, n_cols, lo, 127, Scales::Random, &mut rng))
                .collect();
            check_matmul(ty, &rows, n_rows, n_cols, &acts, n_tok, "tiles");
        }
    }
}

#[test]
fn the_k_quants_have_tiled_products_where_the_cpu_allows() {
    for isa in std::iter::once(Isa::Scalar).chain(simd_isas()) {
        if isa == Isa::Neon {
            continue;
        }
        for ty in [Q6_K, Q4_K, Q5_K, Q3_K, Q2_K] {
            let k = DotKernel::with_isa(ty, isa).unwrap().unwrap();
            assert!(k.tiled_for(8) && !k.tiled_for(7), "{ty} on {isa}");
            assert_eq!(k.chunk_rows(8, 1) % 16, 0, "{ty} on {isa}");
            assert_eq!(k.chunk_rows(7, 1), 1, "{ty} on {isa}");
        }
    }
}

#[test]
fn the_legacy_types_have_tiled_kernels_on_x86() {
    for isa in simd_isas() {
        for ty in [Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_1, Q5_1] {
            let k = DotKernel::with_isa(ty, isa).unwrap().unwrap();
            assert_eq!(k.has_gemm(), isa != Isa::Neon, "{ty} on {isa}");
            assert!(!k.without_x4().has_gemm());
        }
    }
}

#[test]
fn the_prefill_types_have_four_row_kernels_where_the_cpu_allows() {
    for isa in simd_isas() {
        if isa == Isa::Neon {
            continue;
        }
        for ty in [Q4_0, Q8_0, Q4_K, Q6_K] {
            let k = DotKernel::with_isa(ty, isa).unwrap().unwrap();
            assert!(k.has_x4(), "{ty} on {isa}");
        }
    }
}

#[test]
fn batched_matmul_bad_shapes_are_errors() {
    let w = vec![0u8; 18 * 8];
    let a = vec![0u8; 34 * 8];
    let k = DotKernel::new(Q4_0).unwrap();
    let mut out = vec![0f32; 4];
    assert!(kernels::matmul_with(&k, &w, 128, &a[..34 * 4], 2, &mut out).is_err());
    assert!(kernels::matmul_with(&k, &w, 128, &a, 3, &mut out).is_err());
    assert!(kernels::matmul_with(&k, &w, 128, &a, 2, &mut out).is_ok());
}
