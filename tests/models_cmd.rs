//! `vramplan models`: what runs on a device set (issue 17 item 1).

use std::process::{Command, Output};

fn vramplan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vramplan"))
        .args(args)
        .env("XDG_CONFIG_HOME", env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("run vramplan")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = vramplan(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn rows(v: &serde_json::Value) -> &Vec<serde_json::Value> {
    v["models"].as_array().expect("models array")
}

#[test]
fn rtx_4090_at_8k_lists_at_least_40_models_each_with_a_quant() {
    let v = json(&["models", "--gpu", "rtx-4090", "--ctx", "8k", "--json"]);
    let r = rows(&v);
    assert!(r.len() >= 40, "{} models", r.len());
    assert_eq!(v["ctx"], 8192);
    let usable = 24.0 * (1u64 << 30) as f64;
    for row in r {
        assert!(row["quant"].is_string(), "{row}");
        let kld = row["expected_kld"].as_f64().unwrap();
        assert!((0.0..=0.2).contains(&kld), "{row}");
        let on_dev = row["device_bytes"].as_u64().unwrap() as f64;
        assert!(on_dev <= usable, "{row}");
        let d = &row["decode_tok_s"];
        let (lo, ex, hi) = (
            d["low"].as_f64().unwrap(),
            d["expected"].as_f64().unwrap(),
            d["high"].as_f64().unwrap(),
        );
        assert!(lo.is_finite() && lo > 0.0 && lo <= ex && ex <= hi, "{row}");
    }
    // Default order: larger models first.
    let params: Vec<u64> = r
        .iter()
        .map(|x| x["params_total"].as_u64().unwrap())
        .collect();
    assert!(params.windows(2).all(|w| w[0] >= w[1]));
    // A 70B model does not fit 24 GB within the default quality floor; an 8B one does at BF16.
    let not: Vec<&str> = v["not_fitting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(not.contains(&"llama-3.1-70b"));
    let l8 = r.iter().find(|x| x["model"] == "llama-3.1-8b").unwrap();
    assert_eq!(l8["quant"], "BF16");
}

#[test]
fn the_choice_agrees_with_fit() {
    // The quantization chosen for Qwen2.5-32B fits according to `fit`, the next better one not.
    let v = json(&["models", "--gpu", "rtx-4090", "--ctx", "8k", "--json"]);
    let q = rows(&v)
        .iter()
        .find(|x| x["model"] == "qwen2.5-32b")
        .unwrap()["quant"]
        .as_str()
        .unwrap()
        .to_string();
    let f = json(&[
        "fit",
        "qwen2.5-32b",
        "-q",
        &q,
        "--gpu",
        "rtx-4090",
        "--ctx",
        "8k",
        "--ngl",
        "65",
        "--json",
    ]);
    assert_eq!(f["fits"], true, "{q}");
    let f = json(&[
        "fit",
        "qwen2.5-32b",
        "-q",
        "Q6_K",
        "--gpu",
        "rtx-4090",
        "--ctx",
        "8k",
        "--ngl",
        "65",
        "--json",
    ]);
    assert_eq!(f["fits"], false);
}

#[test]
fn floors_family_and_sort() {
    let v = json(&[
        "models",
        "--gpu",
        "rtx-4090",
        "--min-tps",
        "100",
        "--sort",
        "speed",
        "--json",
    ]);
    let r = rows(&v);
    assert!(!r.is_empty());
    let speeds: Vec<f64> = r
        .iter()
        .map(|x| x["decode_tok_s"]["expected"].as_f64().unwrap())
        .collect();
    assert!(speeds.iter().all(|&s| s >= 100.0), "{speeds:?}");
    assert!(speeds.windows(2).all(|w| w[0] >= w[1]));
    // The speed floor picks a smaller quantization where the best one is too slow.
    let l8 = r.iter().find(|x| x["model"] == "llama-3.1-8b").unwrap();
    assert_ne!(l8["quant"], "BF16");

    let v = json(&["models", "--gpu", "rtx-4090", "--family", "gemma", "--json"]);
    assert!(rows(&v).iter().all(|x| x["family"] == "gemma"));
    assert!(rows(&v).len() >= 5);

    let v = json(&["models", "--gpu", "2x3060", "--max-kld", "0.01", "--json"]);
    assert!(rows(&v)
        .iter()
        .all(|x| x["expected_kld"].as_f64().unwrap() <= 0.01));

    for (args, needle) in [
        (
            &["models", "--gpu", "rtx-4090", "--sort", "vibes"][..],
            "--sort",
        ),
        (
            &["models", "--gpu", "rtx-4090", "--max-kld", "-1"][..],
            "--max-kld",
        ),
        (
            &["models", "--gpu", "rtx-4090", "--min-tps", "NaN"][..],
            "--min-tps",
        ),
        (
            &["models", "--gpu", "rtx-4090", "--family", "nope"][..],
            "family",
        ),
        (&["models", "--gpu", "rtx-9999"][..], "rtx-9999"),
    ] {
        let out = vramplan(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn table_names_the_quality_source() {
    let out = vramplan(&["models", "--gpu", "m4-max-128gb", "--ctx", "32k"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("models run fully on"), "{text}");
    assert!(text.contains("published for Llama-3-8B"), "{text}");
    assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
}
