//! Catalogue loading (issue 14 items 6 and 7): user files that are bad are skipped with a warning
//! naming them, shadowing aliases and repeated ids are warnings, zero and overflowing specs are
//! refused with file, entry and field named, and no random catalogue puts NaN or inf in a figure.

use std::collections::HashSet;
use std::process::Command;

use proptest::prelude::*;
use vramplan::arch::{inventory, ModelShape};
use vramplan::catalog::{Catalog, CatalogError};
use vramplan::estimate::calibration::Calibration;
use vramplan::estimate::{self, ModelView, PlaceRequest, WeightFormat};
use vramplan::ggml::FileType;

fn device_toml(id: &str, extra: &str, bandwidth: f64, memory_bytes: u64) -> String {
    format!(
        r#"[[device]]
id = "{id}"
name = "Card {id}"
kind = "gpu"
vendor = "test"
segment = "consumer"
memory = "some GB"
memory_bytes = {memory_bytes}
bandwidth_gb_s = {bandwidth:?}
fp16_tensor_tflops_dense = 100.0
tdp_watts = 300.0
source = "test"
{extra}
"#
    )
}

fn model_toml(id: &str, layers: u32, hidden: u64, heads: u32, kv: u32, ffn: u64) -> String {
    format!(
        r#"[[model]]
id = "{id}"
name = "Model {id}"
family = "test"
gguf_arch = "llama"
source = "test"
layers = {layers}
hidden_size = {hidden}
ffn_size = {ffn}
heads = {heads}
kv_heads = {kv}
vocab_size = 32000
tied_embeddings = false
max_context = 32768
params_total_official = 1e9
"#
    )
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("catalog_load_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_bad_user_file_is_skipped_with_a_warning_naming_it() {
    let dir = tempdir("bad");
    std::fs::write(dir.join("a-bad.toml"), "[[model]]\nid = \"x\"\n").unwrap();
    std::fs::write(
        dir.join("b-zero.toml"),
        model_toml("zero-layers", 0, 512, 8, 8, 1024),
    )
    .unwrap();
    std::fs::write(
        dir.join("c-good.toml"),
        device_toml("my-card", "", 1000.0, 1 << 34),
    )
    .unwrap();
    let mut c = Catalog::embedded().unwrap();
    c.add_dir_lenient(&dir, &HashSet::new());
    assert!(c.device("my-card").is_ok());
    assert!(c.model("llama-3.1-8b").is_ok());
    let w = c.warnings().join("\n");
    assert!(
        w.contains("a-bad.toml") && w.contains("missing field"),
        "{w}"
    );
    assert!(
        w.contains("b-zero.toml") && w.contains("layers must be > 0"),
        "{w}"
    );
    assert_eq!(c.warnings().len(), 2, "{w}");
}

#[test]
fn shadowing_aliases_and_repeated_ids_are_warnings() {
    let dir = tempdir("shadow");
    let shadow = device_toml("my-card", "aliases = [\"RTX 4090\"]", 1000.0, 1 << 34);
    std::fs::write(dir.join("a.toml"), &shadow).unwrap();
    std::fs::write(dir.join("b.toml"), &shadow).unwrap();
    let embedded = Catalog::embedded().unwrap();
    let ids: HashSet<String> = embedded
        .models()
        .map(|m| m.id.clone())
        .chain(embedded.devices().map(|d| d.id.clone()))
        .collect();
    let mut c = embedded;
    c.add_dir_lenient(&dir, &ids);
    let w = c.warnings().join("\n");
    assert!(w.contains("`my-card` is defined in both"), "{w}");
    assert!(w.contains("b.toml wins"), "{w}");
    assert!(
        w.contains("`RTX 4090`, which is the id of another entry"),
        "{w}"
    );
    // The embedded id still answers its own id.
    assert_eq!(c.device("rtx-4090").unwrap().id, "rtx-4090");
}

#[test]
fn the_binary_serves_commands_despite_a_bad_user_file() {
    let home = tempdir("xdg");
    std::fs::create_dir_all(home.join("vramplan")).unwrap();
    std::fs::write(home.join("vramplan/broken.toml"), "this is = = not toml").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vramplan"))
        .args(["fit", "llama-3.1-8b", "--gpu", "rtx-4090", "--json"])
        .env("XDG_CONFIG_HOME", &home)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning:") && err.contains("broken.toml"),
        "{err}"
    );
    // --catalog DIR, asked for by name, stays strict.
    let out = Command::new(env!("CARGO_BIN_EXE_vramplan"))
        .args(["list", "models", "--catalog"])
        .arg(home.join("vramplan"))
        .env("XDG_CONFIG_HOME", tempdir("xdg-empty"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn refused(text: &str, needles: &[&str]) {
    let mut c = Catalog::default();
    let e = c.add_text("user.toml", text).unwrap_err();
    assert!(matches!(e, CatalogError::Invalid { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.starts_with("user.toml:"), "{msg}");
    for n in needles {
        assert!(msg.contains(n), "`{n}` not in {msg}");
    }
}

#[test]
fn zero_and_overflowing_specs_are_refused_with_the_field_named() {
    refused(
        &device_toml("fast", "", 1e300, 1 << 34),
        &["fast", "bandwidth_gb_s", "exceeds"],
    );
    refused(
        &device_toml("zero", "", 0.0, 1 << 34),
        &["zero", "bandwidth_gb_s"],
    );
    refused(
        &device_toml("big", "", 1000.0, 1 << 62),
        &["big", "memory_bytes"],
    );
    refused(
        &device_toml("nomem", "", 1000.0, 0),
        &["nomem", "memory_bytes"],
    );
    refused(
        &device_toml("hot", "", 1000.0, 1 << 34).replace("tdp_watts = 300.0", "tdp_watts = 1e200"),
        &["hot", "tdp_watts"],
    );
    refused(
        &model_toml("nolayers", 0, 512, 8, 8, 1024),
        &["nolayers", "layers"],
    );
    refused(
        &model_toml("noheads", 4, 512, 0, 0, 1024),
        &["noheads", "heads"],
    );
    refused(
        &model_toml("wide", 4, 1 << 40, 8, 8, 1024),
        &["wide", "hidden_size"],
    );
    refused(
        &model_toml("deep", 1 << 30, 512, 8, 8, 1024),
        &["deep", "layers"],
    );
    refused(
        &model_toml("noffn", 4, 512, 8, 8, 0),
        &["noffn", "ffn_size"],
    );
}

#[test]
fn ten_thousand_user_entries_load() {
    // Linear loading is measured by tools/bench_catalog.sh; this checks the result.
    let mut text = String::new();
    for i in 0..10_000 {
        text += &model_toml(&format!("user-model-{i}"), 4, 512, 8, 8, 1024);
    }
    let mut c = Catalog::default();
    c.add_text("big.toml", &text).unwrap();
    assert_eq!(c.models().count(), 10_000);
    assert_eq!(
        c.model_origin("user-model-9999").unwrap().line,
        9999 * 15 + 1
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any catalogue the loader accepts gives finite figures: memory, fit and speed ranges.
    #[test]
    fn random_catalogues_give_finite_figures(
        layers in 1u32..=96,
        heads_log in 0u32..=6,
        kv_div_log in 0u32..=6,
        head_dim_log in 4u32..=8,
        ffn_mult in 1u64..=8,
        bandwidth in prop_oneof![1e-6f64..1.0, 1.0f64..1e6],
        mem_gib in 1u64..=1024,
        ctx in 1u64..=65536,
        ft_ix in 0usize..4,
    ) {
        let heads = 1u32 << heads_log;
        let kv = (heads >> kv_div_log).max(1);
        let hidden = u64::from(heads) << head_dim_log;
        let text = model_toml("rand-model", layers, hidden, heads, kv, hidden * ffn_mult)
            + &device_toml("rand-card", "", bandwidth, mem_gib << 30);
        let mut c = Catalog::default();
        c.add_text("random.toml", &text).unwrap();
        let m = c.model("rand-model").unwrap();
        let devices = vec![c.device("rand-card").unwrap()];
        let ft = [FileType::Q4_K_M, FileType::Q8_0, FileType::BF16, FileType::IQ2_XXS][ft_ix];
        let inv = inventory(m, ft);
        let shape = ModelShape::from_entry(m);
        let view = ModelView { inventory: &inv, shape: &shape };
        let req = PlaceRequest::new(WeightFormat::Gguf(ft), ctx);
        let p = estimate::place(&view, &devices, &req).unwrap();
        prop_assert!(p.total_bytes > 0);
        let catalog = Catalog::embedded().unwrap();
        let fit = Calibration::embedded(&catalog);
        if let Some(s) = estimate::perf::speed(&view, &p, &devices, &req, 512, &fit, 89.6) {
            for r in [s.decode_tok_s, s.prefill_tok_s, s.ttft_s] {
                prop_assert!(r.low.is_finite() && r.expected.is_finite() && r.high.is_finite(), "{r:?}");
                prop_assert!(r.low >= 0.0 && r.low <= r.expected && r.expected <= r.high, "{r:?}");
            }
        }
    }
}
