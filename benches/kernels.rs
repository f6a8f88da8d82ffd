//! Throughput of the dot-product kernels against the machine's measured read bandwidth. First the
//! read bandwidth (rayon's threads summing a 1 GiB buffer); then per type a 16384×4096 weight
//! matrix (larger than the last-level cache for every type) times one activation row quantized
//! to its partner type, on the scalar kernels, the dispatched (best available) kernels on one
//! thread and over rayon's pool (GB/s of weights streamed, GFLOP/s at 2 flops per weight, % of
//! the read bandwidth); and the batched product of prefill (`kernels::matmul_with`, 64
//! activation rows, the first 1024 weight rows, one thread) with and without the four-row
//! kernels, and with the four-row but without the tiled products (K-quants, 16-row tiles). Medians
//! of several runs.
//!
//! Then the packed (load-time repacked, 8-row interleaved) Q4_0, IQ4_NL and Q4_K kernels of
//! `kernels::repack` per instruction set: one thread, rayon's pool (in chunks of 64 rows), and
//! the batched product (four tokens per weight pass).
//!
//! Run: `cargo bench --bench kernels` (all types) or `cargo bench --bench kernels -- q4_k q6_k`.
//! `VRAMPLAN_FORCE_SCALAR=1` makes the "dispatched" columns scalar too.

use std::hint::black_box;
use std::time::Instant;

use vramplan::ggml::GgmlType;
use vramplan::kernels::{self, DotKernel, Isa};
use vramplan::quant;

const ROWS_FULL: usize = 16384;
/// Rows when run without `--bench` (as `cargo test --all-targets` runs benches): a smoke run.
const ROWS_SMOKE: usize = 256;
const COLS: usize = 4096;
const BATCH_TOKENS: usize = 64;
const BATCH_ROWS: usize = 1024;

const TYPES: [GgmlType; 15] = {
    use GgmlType::*;
    [
        F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS,
    ]
};

/// SplitMix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Offsets of the f16 scale fields in a block, set to small finite values so the random quants
/// give finite dots (the kernels' speed does not depend on the values).
fn scale_offsets(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 | IQ4_NL | IQ4_XS => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        _ => &[],
    }
}

/// A random weight matrix of `ty` (random quants, valid scales; random floats for float types).
fn weights(ty: GgmlType, rows: usize, rng: &mut Rng) -> Vec<u8> {
    let bytes = ty.row_bytes(COLS as u64).expect("4096 is whole blocks") as usize * rows;
    if !ty.is_quantized() {
        let x: Vec<f32> = (0..rows * COLS).map(|_| rng.unit()).collect();
        let mut w = vec![0u8; bytes];
        quant::quantize(ty, &x, &mut w).expect("float types quantize");
        return w;
    }
    let mut w: Vec<u8> = (0..bytes).map(|_| rng.next() as u8).collect();
    for b in w.chunks_exact_mut(ty.type_size()) {
        for &o in scale_offsets(ty) {
            let v = quant::fp32_to_fp16(rng.unit() * 0.01);
            b[o..o + 2].copy_from_slice(&v.to_le_bytes());
        }
    }
    w
}

/// Median seconds of `runs` calls of `f`.
fn median_secs(runs: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm up caches and rayon's pool
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

/// Read bandwidth in GB/s: rayon's threads sum disjoint parts of a 1 GiB buffer (8 MiB, in cache,
/// for the smoke run), median of 5.
fn read_bandwidth(full: bool) -> f64 {
    use rayon::prelude::*;
    let len = if full { 1usize << 27 } else { 1 << 20 };
    let buf: Vec<u64> = (0..len).map(|i| i as u64).collect();
    let t = median_secs(5, || {
        let s: u64 = buf
            .par_chunks(1 << 16)
            .map(|c| c.iter().fold(0u64, |a, &v| a.wrapping_add(v)))
            .reduce(|| 0, u64::wrapping_add);
        black_box(s);
    });
    (buf.len() * 8) as f64 / 1e9 / t
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.to_ascii_uppercase())
        .collect();
    let active = kernels::active_isa();
    let threads = rayon::current_num_threads();
    // `cargo bench` passes `--bench`; anything else (`cargo test --all-targets`) gets a smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let rows = if full { ROWS_FULL } else { ROWS_SMOKE };
    let batch_rows = BATCH_ROWS.min(rows);
    let bw = read_bandwidth(full);
    let mib = if full { 1024 } else { 8 };
    println!("read bandwidth: {bw:.1} GB/s ({threads} threads summing {mib} MiB)");
    println!(
        "matvec {rows}x{COLS}, one activation row; median of runs; dispatched = {active}; \
         parallel = rayon, {threads} threads; batched = {BATCH_TOKENS} activation rows x \
         {batch_rows} weight rows, one thread"
    );
    println!(
        "{:<7} {:>8} | {:>9} {:>7} | {:>10} {:>9} {:>7} {:>8} {:>7} | {:>9} {:>7} {:>6} | {:>9} {:>9} {:>9}",
        "type",
        "MB",
        "scalar ms",
        "GB/s",
        "isa",
        "simd ms",
        "GB/s",
        "GFLOP/s",
        "speedup",
        "par ms",
        "GB/s",
        "%bw",
        "batch GF/s",
        "x4 GF/s",
        "1-row GF/s"
    );
    let mut rng = Rng(42);
    for ty in TYPES {
        if !filters.is_empty() && !filters.iter().any(|f| f == ty.name()) {
            continue;
        }
        let w = weights(ty, rows, &mut rng);
        let x: Vec<f32> = (0..COLS).map(|_| rng.unit()).collect();
        let mut act = Vec::new();
        kernels::quantize_activation(ty, &x, &mut act).expect("paired type");
        let mut out = vec![0f32; rows];
        let scalar = DotKernel::with_isa(ty, Isa::Scalar)
            .expect("scalar always available")
            .expect("paired type");
        let simd = DotKernel::new(ty).expect("paired type");
        let t_scalar = median_secs(3, || {
            kernels::matvec_with(&scalar, &w, COLS, &act, &mut out).expect("shapes");
            black_box(&out);
        });
        let t_simd = median_secs(7, || {
            kernels::matvec_with(&simd, &w, COLS, &act, &mut out).expect("shapes");
            black_box(&out);
        });
        let t_par = median_secs(7, || {
            kernels::matvec_par_with(&simd, &w, COLS, &act, &mut out).expect("shapes");
            black_box(&out);
        });
        // Prefill: BATCH_TOKENS activation rows against the first `batch_rows` weight rows.
        let acts: Vec<u8> = (0..BATCH_TOKENS)
            .flat_map(|_| act.iter().copied())
            .collect();
        let wb = &w[..w.len() / rows * batch_rows];
        let mut outb = vec![0f32; batch_rows * BATCH_TOKENS];
        let batched = |k: &DotKernel, out: &mut [f32]| {
            median_secs(5, || {
                kernels::matmul_with(k, wb, COLS, &acts, BATCH_TOKENS, out).expect("shapes");
                black_box(&out);
            })
        };
        let t_batch = batched(&simd, &mut outb);
        let t_batch4 = batched(&simd.without_tiled(), &mut outb);
        let t_batch1 = batched(&simd.without_x4(), &mut outb);
        let gb = w.len() as f64 / 1e9;
        let gflop = 2.0 * (rows * COLS) as f64 / 1e9;
        let gflop_b = 2.0 * (batch_rows * COLS * BATCH_TOKENS) as f64 / 1e9;
        println!(
            "{:<7} {:>8.2} | {:>9.2} {:>7.2} | {:>10} {:>9.2} {:>7.2} {:>8.2} {:>6.1}x | {:>9.2} {:>7.2} {:>5.0}% | {:>9.1} {:>9.1} {:>9.1}",
            ty.name(),
            w.len() as f64 / 1e6,
            t_scalar * 1e3,
            gb / t_scalar,
            simd.isa().name(),
            t_simd * 1e3,
            gb / t_simd,
            gflop / t_simd,
            t_scalar / t_simd,
            t_par * 1e3,
            gb / t_par,
            100.0 * gb / t_par / bw,
            gflop_b / t_batch,
            gflop_b / t_batch4,
            gflop_b / t_batch1,
        );
    }
    packed_table(&filters, rows, batch_rows, bw, &mut rng);
}

/// The packed kernels (`kernels::repack`) of Q4_0, IQ4_NL and Q4_K on every instruction set this
/// CPU has: the same matrices and activations as the table above. `file GF/s` is the engine's
/// other way to run a prompt on packed weights, the file layout's batched product on the same
/// instruction set: for Q4_K its tiled product with the tiles filled straight from the packed
/// groups (what the engine runs), for the others on each chunk of 64 rows put back into the file
/// layout.
fn packed_table(filters: &[String], rows: usize, batch_rows: usize, bw: f64, rng: &mut Rng) {
    use rayon::prelude::*;
    use vramplan::kernels::repack::{self, PackedKernel};
    println!("packed 8-row interleave (kernels::repack), {rows}x{COLS}");
    println!(
        "{:<7} {:>10} | {:>9} {:>7} | {:>9} {:>7} {:>6} | {:>9} {:>9}",
        "type", "isa", "1-thr ms", "GB/s", "par ms", "GB/s", "%bw", "batch GF/s", "file GF/s"
    );
    for ty in [GgmlType::Q4_0, GgmlType::IQ4_NL, GgmlType::Q4_K] {
        if !filters.is_empty() && !filters.iter().any(|f| f == ty.name()) {
            continue;
        }
        let w = weights(ty, rows, rng);
        let mut packed = vec![0u8; w.len()];
        repack::repack(ty, rows, COLS, &w, &mut packed).expect("whole groups");
        let x: Vec<f32> = (0..COLS).map(|_| rng.unit()).collect();
        let mut act = Vec::new();
        kernels::quantize_activation(ty, &x, &mut act).expect("paired type");
        let acts: Vec<u8> = (0..BATCH_TOKENS)
            .flat_map(|_| act.iter().copied())
            .collect();
        let mut out = vec![0f32; rows];
        let mut outb = vec![0f32; batch_rows * BATCH_TOKENS];
        let rb = w.len() / rows;
        let gb = w.len() as f64 / 1e9;
        for isa in [Isa::Avx2, Isa::Avx512Vnni, Isa::Neon] {
            let Some(k) = PackedKernel::with_isa(ty, isa) else {
                continue;
            };
            let t1 = median_secs(7, || {
                repack::matvec_packed(&k, &packed, COLS, &act, &mut out).expect("shapes");
                black_box(&out);
            });
            let tp = median_secs(7, || {
                out.par_chunks_mut(64)
                    .zip(packed.par_chunks(64 * rb))
                    .for_each(|(o, wc)| {
                        repack::matvec_packed(&k, wc, COLS, &act, o).expect("shapes");
                    });
                black_box(&out);
            });
            let tb = median_secs(5, || {
                let wb = &packed[..batch_rows * rb];
                repack::matmul_packed(&k, wb, COLS, &acts, BATCH_TOKENS, &mut outb)
                    .expect("shapes");
                black_box(&outb);
            });
            let file = DotKernel::with_isa(ty, isa)
                .expect("an instruction set this CPU has")
                .expect("paired type");
            let chunk = 64.min(batch_rows);
            let mut rows_buf = vec![0u8; chunk * rb];
            let tf = median_secs(5, || {
                for (wc, o) in packed[..batch_rows * rb]
                    .chunks(chunk * rb)
                    .zip(outb.chunks_mut(chunk * BATCH_TOKENS))
                {
                    if ty == GgmlType::Q4_K && file.tiled_for(BATCH_TOKENS) {
                        kernels::matmul_packed_tiled(&file, wc, COLS, &acts, BATCH_TOKENS, o)
                            .expect("shapes");
                        continue;
                    }
                    repack::unrepack(ty, chunk, COLS, wc, &mut rows_buf).expect("whole groups");
                    kernels::matmul_with(&file, &rows_buf, COLS, &acts, BATCH_TOKENS, o)
                        .expect("shapes");
                }
                black_box(&outb);
            });
            let gflop_b = 2.0 * (batch_rows * COLS * BATCH_TOKENS) as f64 / 1e9;
            println!(
                "{:<7} {:>10} | {:>9.2} {:>7.2} | {:>9.2} {:>7.2} {:>5.0}% | {:>9.1} {:>9.1}",
                ty.name(),
                isa.name(),
                t1 * 1e3,
                gb / t1,
                tp * 1e3,
                gb / tp,
                100.0 * gb / tp / bw,
                gflop_b / tb,
                gflop_b / tf
            );
        }
    }
}
