//! Wall time of `vramplan gpus MODEL` for every catalogue model: runs the release binary
//! end to end (process start, catalogue load, search, rendering) several times per model and
//! reports the median and the worst model. Run: `cargo bench --bench gpus_search`.

use std::process::Command;
use std::time::Instant;

fn main() {
    let bin = env!("CARGO_BIN_EXE_vramplan");
    let list = Command::new(bin)
        .args(["list", "models", "--json"])
        .output()
        .expect("run vramplan");
    let models: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let ids: Vec<String> = models["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect();
    const RUNS: usize = 7;
    let mut medians = Vec::new();
    for id in &ids {
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            let out = Command::new(bin)
                .args(["gpus", id, "--ctx", "32k", "--json"])
                .output()
                .expect("run");
            times.push(t.elapsed().as_secs_f64() * 1e3);
            assert!(
                out.status.success(),
                "{id}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        times.sort_by(f64::total_cmp);
        medians.push((times[RUNS / 2], id.clone()));
    }
    medians.sort_by(|a, b| a.0.total_cmp(&b.0));
    let all: Vec<f64> = medians.iter().map(|m| m.0).collect();
    println!(
        "gpus --ctx 32k, {} models x {RUNS} runs, median wall time per model:",
        ids.len()
    );
    println!("  fastest {:.1} ms ({})", medians[0].0, medians[0].1);
    println!("  median  {:.1} ms", all[all.len() / 2]);
    let worst = medians.last().expect("models");
    println!("  slowest {:.1} ms ({})", worst.0, worst.1);
    if worst.0 >= 100.0 {
        println!("  OVER the 100 ms bar");
    }
}
