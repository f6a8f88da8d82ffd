//! `vramplan validate` on the real SmolLM2-135M: its quality figures by llama-perplexity's
//! --kl-divergence protocol against llama.cpp's own (tools/validate_ref/make_kld_ref.py ->
//! tests/data/validate/smollm2_kld.json), --base, the reports of --out rendered by a real
//! headless browser, and one-line errors.

mod smollm2;

use std::path::Path;
use std::process::{Command, Output};

fn validate(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vramplan"))
        .arg("validate")
        .arg(smollm2::path_string())
        .args(args)
        // The user's cache is not the test's to write.
        .env("VRAMPLAN_CACHE", cache)
        .output()
        .unwrap()
}

fn ok_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn base_file_is_the_reference_and_the_source_is_scored_against_it() {
    let cache = tempfile::tempdir().unwrap();
    // The source as its own --base: the source row is scored, and diverges only by the
    // rounding of the compact log-probabilities; a level diverges clearly more.
    let out = validate(
        &[
            "--base",
            &smollm2::path_string(),
            "--types",
            "Q4_0",
            "--ctx",
            "64",
            "--chunks",
            "2",
            "--runs",
            "1",
            "--decode",
            "2",
            "--threads",
            "2",
            "--no-bandwidth",
            "--json",
        ],
        cache.path(),
    );
    let r = ok_json(&out);
    assert_eq!(r["chunks"], 2);
    assert_eq!(
        r["scored_tokens"],
        2 * 31,
        "second half of 64, less the last"
    );
    let source = &r["levels"][0]["quality"];
    let q4 = &r["levels"][1]["quality"];
    assert_eq!(source["positions"], 62);
    let (ks, kq) = (
        source["kld_mean"].as_f64().unwrap(),
        q4["kld_mean"].as_f64().unwrap(),
    );
    assert!(ks.abs() < 1e-3, "source vs itself: {ks}");
    assert!(kq > 0.05, "Q4_0 of a Q4_1 model: {kq}");
    assert!(q4["kld_mean_error"].as_f64().unwrap() > 0.0);
    assert!(q4["kld_p99"].as_f64().unwrap() >= q4["kld_median"].as_f64().unwrap());
    // PPL(base) is the same for both rows: the same base, the same tokens.
    assert!(
        (source["ppl_reference"].as_f64().unwrap() - q4["ppl_reference"].as_f64().unwrap()).abs()
            < 1e-9
    );
}

fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_string)
}

#[test]
fn out_dir_reports_render_in_a_headless_browser() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = validate(
        &[
            "--types",
            "Q8_0,Q4_0",
            "--ctx",
            "64",
            "--chunks",
            "1",
            "--runs",
            "1",
            "--decode",
            "2",
            "--threads",
            "2",
            "--no-bandwidth",
            "--json",
            "--out",
            dir.path().to_str().unwrap(),
        ],
        cache.path(),
    );
    let r = ok_json(&out);
    for f in [
        "validate.json",
        "validate.md",
        "validate.csv",
        "kld.svg",
        "decode.svg",
        "validate.html",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("validate.json")).unwrap()).unwrap();
    assert_eq!(saved["levels"], r["levels"]);
    let csv = std::fs::read_to_string(dir.path().join("validate.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3, "header, source, two levels");
    let md = std::fs::read_to_string(dir.path().join("validate.md")).unwrap();
    assert!(md.contains("| Q4_0 |") && md.contains("| Q8_0 |"), "{md}");

    // A real browser: tools/test.sh installs Debian's chromium. Skipping is explicit, never silent.
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("VRAMPLAN_SKIP_BROWSER").is_some(),
            "no chromium: install it (apt-get install -y chromium; tools/test.sh does) or set VRAMPLAN_SKIP_BROWSER=1 to skip this check knowingly"
        );
        eprintln!("VRAMPLAN_SKIP_BROWSER set: browser rendering not checked");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let page = format!("file://{}", dir.path().join("validate.html").display());
    let shot = dir.path().join("shot.png");
    let base_flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
    ];
    let user_dir = format!("--user-data-dir={}", profile.path().display());
    let dom = Command::new(&browser)
        .args(base_flags)
        .arg(&user_dir)
        .arg("--dump-dom")
        .arg(&page)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The parsed page holds both plots, a labelled point per measured level and the table.
    assert!(dom.contains("id=\"kld-plot\""), "{dom}");
    assert!(dom.contains("id=\"speed-plot\""), "{dom}");
    assert_eq!(dom.matches("class=\"level\"").count(), 2, "{dom}");
    assert_eq!(dom.matches("class=\"measured\"").count(), 1 + 3);
    assert!(dom.contains("<table id=\"levels\">"));
    let shot_arg = format!("--screenshot={}", shot.display());
    let status = Command::new(&browser)
        .args(base_flags)
        .arg(&user_dir)
        .arg(&shot_arg)
        .arg("--window-size=1000,1400")
        .arg(&page)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // A blank white page of that size compresses to a few kB; plots and text make tens.
    assert!(png.len() > 30_000, "screenshot of {} bytes", png.len());
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let cache = tempfile::tempdir().unwrap();
    for args in [
        vec!["--types", "IQ2_XXS"],
        vec!["--types", "Q9_9"],
        vec!["--tokens", "3"],
        vec!["--ctx", "8"],
        vec!["--chunks", "0"],
        vec!["--ctx", "4096"],
        vec!["--base", "/nonexistent/base.gguf"],
        vec!["--text", "/nonexistent/text.txt"],
    ] {
        let out = validate(&args, cache.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn synthetic_gives_the_speed_half_without_a_model() {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vramplan"))
        .args(["validate", "--synthetic", "--types", "Q4_0", "--json"])
        .args([
            "--runs",
            "1",
            "--decode",
            "2",
            "--threads",
            "2",
            "--no-bandwidth",
        ])
        .env("VRAMPLAN_CACHE", cache.path())
        .output()
        .unwrap();
    let r = ok_json(&out);
    assert_eq!(r["synthetic"], true);
    let levels = r["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 1);
    let l = &levels[0];
    assert_eq!(l["file_type"], "Q4_0");
    assert!(l["quality"].is_null());
    // 1.03B weights at 4.5 bits; the output head is tied, so a token reads them all: the layers'
    // 0.5474 GB, the embedding's 0.0369 GB and 0.27 MB of f32 norms.
    let bpw = l["bits_per_weight"].as_f64().unwrap();
    assert!((bpw - 4.5).abs() < 0.01, "{bpw}");
    let per_token = l["bytes_per_token"].as_f64().unwrap();
    assert!((0.584e9..0.585e9).contains(&per_token), "{per_token}");
    assert!(l["prefill_tok_s"].as_f64().unwrap() > 0.0);
    assert!(l["decode_tok_s"].as_f64().unwrap() > 0.0);
}

#[derive(serde::Deserialize)]
struct Reference {
    ctx: usize,
    /// The text, relative to the repository.
    text: String,
    levels: std::collections::BTreeMap<String, RefLevel>,
}

#[derive(serde::Deserialize, Debug)]
struct RefLevel {
    chunks: usize,
    kld_mean: f64,
    ppl_candidate: f64,
    ppl_reference: f64,
    same_top_p_percent: f64,
}

/// The issue's bar on SmolLM2-135M, a fixed text and --ctx 256, against llama-perplexity -fa off:
/// each level's mean KLD within ±10%, PPL(Q) and PPL(base) within 1%, the levels ranked the same.
///
/// The text is two chapters of Alice in Wonderland (23 chunks, 2,921 scored tokens), not the
/// embedded two-chunk one: the engine and llama.cpp sum in different orders (as llama.cpp does
/// against itself between its batched and one-token paths, `-ub 1`), and on this model a last-bit
/// difference flips some Q8 activation roundings, which then decorrelate layer after layer: the
/// per-token log-likelihoods of two such runs differ by 0.15-0.25 nats RMS (llama.cpp against
/// itself at -ub 1 as much as vramplan against llama.cpp; tools/validate_ref/compare_rows.py).
/// Over 254 tokens that alone is a standard error of ~1-1.5% on each PPL, the size of the bar;
/// over 2,921 it is ~0.3-0.45%.
#[test]
fn quality_per_level_matches_llama_perplexity() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/validate/smollm2_kld.json");
    let reference: Reference = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let types: Vec<&str> = reference.levels.keys().map(String::as_str).collect();
    let cache = tempfile::tempdir().unwrap();
    let ctx = reference.ctx.to_string();
    let text = Path::new(env!("CARGO_MANIFEST_DIR")).join(&reference.text);
    let out = validate(
        &[
            "--text",
            text.to_str().unwrap(),
            "--types",
            &types.join(","),
            "--ctx",
            &ctx,
            "--runs",
            "1",
            "--decode",
            "2",
            "--threads",
            "2",
            "--no-bandwidth",
            "--json",
        ],
        cache.path(),
    );
    let r = ok_json(&out);
    assert_eq!(r["requantized"], true);
    let levels = r["levels"].as_array().unwrap();
    assert_eq!(levels.len(), types.len() + 1, "the source plus each level");
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for level in &levels[1..] {
        let ft = level["file_type"].as_str().unwrap();
        let want = &reference.levels[ft];
        let q = &level["quality"];
        let got = |k: &str| q[k].as_f64().unwrap();
        assert_eq!(q["chunks"], want.chunks, "{ft}");
        assert_eq!(
            q["positions"],
            want.chunks * (reference.ctx - 1 - reference.ctx / 2)
        );
        let kld = got("kld_mean");
        assert!(
            (kld / want.kld_mean - 1.0).abs() <= 0.10,
            "{ft} mean KLD {kld} vs llama-perplexity {want:?}"
        );
        for (k, w, tol) in [
            ("ppl_candidate", want.ppl_candidate, 0.01),
            ("ppl_reference", want.ppl_reference, 0.01),
        ] {
            assert!(
                (got(k) / w - 1.0).abs() <= tol,
                "{ft} {k} {} vs llama-perplexity {w}",
                got(k)
            );
        }
        // Same top p over 2,921 positions: near-ties flip either way (measured within 1.1
        // points; llama.cpp's own standard error on it is 0.4-0.9).
        assert!(
            (100.0 * got("top1_agreement") - want.same_top_p_percent).abs() < 2.0,
            "{ft} same top p {} vs {want:?}",
            got("top1_agreement")
        );
        ours.push((kld, ft));
        theirs.push((want.kld_mean, ft));
    }
    ours.sort_by(|a, b| a.0.total_cmp(&b.0));
    theirs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let rank = |v: &[(f64, &str)]| v.iter().map(|x| x.1.to_string()).collect::<Vec<_>>();
    assert_eq!(
        rank(&ours),
        rank(&theirs),
        "ranking of the levels by mean KLD"
    );
}

/// What validate leaves in the cache reaches `quants` (KLD measured here) and `fit` for this host
/// (its measured bandwidth, said so). The cache is written here by hand, as validate writes it.
#[test]
fn cached_measurements_reach_quants_and_fit() {
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vramplan"))
            .args(args)
            .env("VRAMPLAN_CACHE", cache.path())
            .output()
            .unwrap();
        ok_json(&out)
    };
    std::fs::create_dir_all(cache.path().join("validated")).unwrap();
    std::fs::write(
        cache.path().join("validated/smollm2-135m.json"),
        r#"{"model":"smollm2-135m","name":"SmolLM2 135M","source_file_type":"Q4_1","ctx":512,
            "scored_tokens":255,"date":"2026-12-04","levels":[["Q4_K_M",0.315,0.03]]}"#,
    )
    .unwrap();
    let q = run(&["quants", "smollm2-135m", "--json"]);
    let rung = q["ladder"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["file_type"] == "Q4_K_M")
        .unwrap();
    assert_eq!(rung["measured_kld"]["kld_mean"], 0.315);
    assert!(q["measured_source"]
        .as_str()
        .unwrap()
        .contains("2026-12-04"));

    // This machine's CPU, as detect reports it, with a made-up measured bandwidth.
    let d = run(&["detect", "--json"]);
    assert!(d["measured"].is_null(), "an empty cache measures nothing");
    let cpu = d["cpu_brand"].as_str().unwrap();
    std::fs::write(
        cache.path().join("host.json"),
        serde_json::json!({"cpu": cpu, "threads": 2, "memory_read_gb_s": 12.5,
            "measured_unix_s": 1796428799u64, "date": "2026-12-04"})
        .to_string(),
    )
    .unwrap();
    let d = run(&["detect", "--json"]);
    assert_eq!(d["measured"]["memory_read_gb_s"], 12.5);
    if d["gpus"].as_array().unwrap().is_empty() && d["apple_chip"].is_null() {
        let out = Command::new(env!("CARGO_BIN_EXE_vramplan"))
            .args(["fit", "smollm2-135m"])
            .env("VRAMPLAN_CACHE", cache.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("bandwidth measured: 12.5 GB/s, measured 2026-12-04"),
            "{text}"
        );
    } else {
        eprintln!(
            "this machine has an accelerator: fit plans for it, the CPU-host line is not checked"
        );
    }
}
