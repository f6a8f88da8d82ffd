//! `vramplan catalog add config.json` (issue 17 item 3): a local config.json becomes a user
//! catalogue entry that every command takes by id.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SMOL: &str = r#"{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":576,
"intermediate_size":1536,"num_hidden_layers":30,"num_attention_heads":9,"num_key_value_heads":3,
"vocab_size":49152,"max_position_embeddings":8192,"tie_word_embeddings":true,"rms_norm_eps":1e-5}"#;

fn tempdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("catalog_add_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vramplan"))
        .args(args)
        .env("XDG_CONFIG_HOME", home.join("cfg"))
        .output()
        .unwrap()
}

#[test]
fn a_config_becomes_an_id_for_every_command() {
    let home = tempdir("ok");
    let snap = home.join("models--someorg--Tiny-Llama-Test/snapshots/0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    let cfg = snap.join("config.json");
    std::fs::write(&cfg, SMOL).unwrap();
    let c = cfg.to_str().unwrap();

    let out = run(&home, &["catalog", "add", c, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The hub folder names it, not the snapshot hash.
    assert_eq!(v["id"], "tiny-llama-test");
    assert_eq!(v["params_total"], 134_515_008u64);
    let file = home.join("cfg/vramplan/tiny-llama-test.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("[[model]]") && text.contains("source = "),
        "{text}"
    );

    let out = run(
        &home,
        &["fit", "tiny-llama-test", "--gpu", "rtx-4090", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"], "tiny-llama-test");
    let out = run(&home, &["show", "tiny-llama-test", "--json"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("config.json"));

    // Again: refused without --force, the file unchanged; --force replaces it.
    let out = run(&home, &["catalog", "add", c]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let out = run(&home, &["catalog", "add", c, "--force"]);
    assert!(out.status.success());

    // A name that is an embedded id is refused.
    let out = run(&home, &["catalog", "add", c, "--name", "llama-3.1-8b"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_bad_config_writes_nothing() {
    let home = tempdir("bad");
    for (name, text) in [
        ("notjson.json", "not json"),
        (
            "zero.json",
            &SMOL.replace("\"num_attention_heads\":9", "\"num_attention_heads\":0"),
        ),
        ("arch.json", &SMOL.replace("\"llama\"", "\"mamba\"")),
    ] {
        let p = home.join(name);
        std::fs::write(&p, text).unwrap();
        let out = run(
            &home,
            &["catalog", "add", p.to_str().unwrap(), "--name", "x1"],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    assert!(!home.join("cfg/vramplan/x1.toml").exists());
    let out = run(
        &home,
        &[
            "catalog",
            "add",
            home.join("missing.json").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
}
