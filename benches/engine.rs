//! End-to-end throughput of the reference engine, measured the way `llama-bench` measures
//! llama.cpp: `pp512` is one 512-token prompt in one micro-batch on an empty cache, `tg128` is 128
//! single-token decode steps from an empty cache; random tokens, one warm-up run first.
//!
//! `tools/engine_ref/bench_speed.sh` drives it (with llama-bench on the same files, interleaved):
//!
//! ```text
//! cargo bench --bench engine -- gen OUT.gguf [TOKENIZER.gguf]     # the ~1B llama-shaped F16 model
//! cargo bench --bench engine -- run [-t 1,2] [-r 3] [-p 512] [-n 128] MODEL.gguf...
//! ```
//!
//! `run` prints one JSON line per model, thread count and repetition (`tok_s` in tokens per
//! second), so a script can interleave it with llama-bench and take medians.

use std::time::Instant;

use vramplan::engine::testgen::{write, TestModelSpec};
use vramplan::engine::{Arch, Model, Session, SessionConfig};
use vramplan::ggml::GgmlType;
use vramplan::gguf::GgufFile;

/// The ~1B llama-shaped model of issue 15: hidden 2048 (so K-quants stay K-quants), FFN 5632,
/// 16 layers, 32 heads, 8 KV heads, the tokenizer's vocabulary; F16 so that llama-quantize makes
/// every quantized file from it.
fn llama_1b() -> TestModelSpec {
    TestModelSpec {
        name: "llama-1b-bench",
        arch: Arch::Llama,
        n_embd: 2048,
        n_layer: 16,
        n_head: 32,
        n_head_kv: 8,
        n_ff: 5632,
        n_expert: 0,
        n_expert_used: 0,
        weight_type: GgmlType::F16,
        embd_type: GgmlType::F16,
        output_type: Some(GgmlType::F16),
        qkv_bias: false,
        rope_freq_base: 10_000.0,
        seed: 15,
    }
}

/// SplitMix64 for the benchmark's tokens.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("bench engine: {msg}");
    std::process::exit(2)
}

fn gen(args: &[String]) {
    let out = args.first().unwrap_or_else(|| fail("gen needs OUT.gguf"));
    let tok_path = args
        .get(1)
        .cloned()
        .or_else(|| std::env::var("VRAMPLAN_SMOLLM2_GGUF").ok())
        .unwrap_or_else(|| fail("gen needs a tokenizer GGUF (argument or VRAMPLAN_SMOLLM2_GGUF)"));
    let tok = GgufFile::open(&tok_path).unwrap_or_else(|e| fail(e));
    write(&llama_1b(), &tok, out).unwrap_or_else(|e| fail(e));
    eprintln!("wrote {out}");
}

/// Seconds of `f` on a fresh session of `n_ctx` cells.
fn timed(model: &Model<'_>, threads: usize, n_ctx: usize, f: impl Fn(&mut Session<'_, '_>)) -> f64 {
    let mut s = Session::new(
        model,
        SessionConfig {
            n_ctx,
            n_ubatch: 512,
            threads,
            ..SessionConfig::default()
        },
    )
    .unwrap_or_else(|e| fail(e));
    let t = Instant::now();
    f(&mut s);
    t.elapsed().as_secs_f64()
}

fn run(args: &[String]) {
    let (mut threads, mut reps, mut n_p, mut n_g) = (vec![2usize], 1usize, 512usize, 128usize);
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| fail(format!("{a} needs a value")))
                .clone()
        };
        let num = |s: &str| {
            s.parse::<usize>()
                .unwrap_or_else(|_| fail(format!("bad {a}: {s}")))
        };
        match a.as_str() {
            "-t" => threads = val().split(',').map(num).collect(),
            "-r" => reps = num(&val()),
            "-p" => n_p = num(&val()),
            "-n" => n_g = num(&val()),
            _ => files.push(a.clone()),
        }
    }
    for path in &files {
        let f = GgufFile::open(path).unwrap_or_else(|e| fail(e));
        let model = Model::load(&f).unwrap_or_else(|e| fail(e));
        let n_vocab = model.hparams.n_vocab as u64;
        let mut rng = Rng(1);
        let prompt: Vec<u32> = (0..n_p).map(|_| (rng.next() % n_vocab) as u32).collect();
        let gen_toks: Vec<u32> = (0..n_g).map(|_| (rng.next() % n_vocab) as u32).collect();
        for &th in &threads {
            // Warm-up: pages the weights in and starts the pool (not timed), as llama-bench does.
            timed(&model, th, 64, |s| {
                s.eval(&prompt[..16.min(n_p)], false)
                    .unwrap_or_else(|e| fail(e));
                s.eval(&gen_toks[..1.min(n_g)], false)
                    .unwrap_or_else(|e| fail(e));
            });
            for rep in 0..reps {
                for (test, n) in [("pp", n_p), ("tg", n_g)] {
                    if n == 0 {
                        continue;
                    }
                    let secs = if test == "pp" {
                        timed(&model, th, n_p, |s| {
                            s.eval(&prompt, false).unwrap_or_else(|e| fail(e));
                        })
                    } else {
                        timed(&model, th, n_g, |s| {
                            for &t in &gen_toks {
                                s.eval(&[t], false).unwrap_or_else(|e| fail(e));
                            }
                        })
                    };
                    println!(
                        "{{\"engine\":\"vramplan\",\"model\":{:?},\"threads\":{th},\"test\":\"{test}{n}\",\"rep\":{rep},\"tok_s\":{:.3}}}",
                        path,
                        n as f64 / secs
                    );
                }
            }
        }
    }
}

fn main() {
    // `cargo bench` appends `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("gen") => gen(&args[1..]),
        Some("run") => run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo bench --bench engine -- gen OUT.gguf [TOKENIZER.gguf]\n       \
                 cargo bench --bench engine -- run [-t 1,2] [-r REPS] [-p 512] [-n 128] MODEL.gguf..."
            );
        }
    }
}
