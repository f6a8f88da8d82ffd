//! Regression tests for what fuzzing found (fuzz/README.md): each input goes through the same code
//! path as its fuzz target and must end in a clean error, never a panic, an overflow, an
//! unbounded allocation or a hang. Inputs the fuzzers found live in tests/data/fuzz/; the others
//! are built here. The committed seed corpora (fuzz/corpus/) must stay valid files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vramplan::arch::{self, ModelShape};
use vramplan::catalog::{limits, Catalog};
use vramplan::estimate::{self, ModelView, PlaceRequest, WeightFormat};
use vramplan::ggml::{FileType, GgmlType};
use vramplan::gguf::{model_shape, GgufError, GgufFile, GgufWriter, MetaValue};
use vramplan::hf::{HfConfig, SafetensorsHeader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn data(name: &str) -> Vec<u8> {
    let p = root().join("tests/data/fuzz").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "{} is empty", dir.display());
    v
}

/// The gguf_parse target's path for a file that parses: hyperparameters, then the estimator
/// as `vramplan fit FILE.gguf` runs it.
fn gguf_fit(bytes: &[u8]) -> Result<(), GgufError> {
    let f = GgufFile::parse(bytes)?;
    let shape = model_shape(&f)?;
    let inv = f.inventory();
    let view = ModelView {
        inventory: &inv,
        shape: &shape,
    };
    let req = PlaceRequest::new(WeightFormat::Gguf(FileType::F16), 4096);
    estimate::place(&view, &[], &req).expect("placement of a bounded shape");
    Ok(())
}

/// The hf_config target's path: parse, model entry, parameter counts and inventory.
fn hf_entry(json: &str) -> Result<(), String> {
    let cfg = HfConfig::from_json_bytes(json.as_bytes()).map_err(|e| e.to_string())?;
    let entry = cfg.to_model_entry("fuzz-model", "fuzz")?;
    assert!(entry.problems().is_empty(), "{:?}", entry.problems());
    let _ = arch::param_counts(&entry);
    let inv = arch::inventory(&entry, FileType::Q4_K_M);
    let shape = ModelShape::from_entry(&entry);
    let view = ModelView {
        inventory: &inv,
        shape: &shape,
    };
    let req = PlaceRequest::new(WeightFormat::Gguf(FileType::Q4_K_M), 4096);
    estimate::place(&view, &[], &req).expect("placement of a bounded entry");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Seed corpora

#[test]
fn gguf_seeds_parse_and_estimate() {
    for p in files(&root().join("fuzz/corpus/gguf_parse")) {
        let bytes = std::fs::read(&p).unwrap();
        let f = GgufFile::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if f.get("general.architecture").is_some() {
            gguf_fit(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
}

#[test]
fn safetensors_seeds_parse() {
    for p in files(&root().join("fuzz/corpus/safetensors_header")) {
        let bytes = std::fs::read(&p).unwrap();
        SafetensorsHeader::parse(&bytes, bytes.len() as u64)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}

#[test]
fn hf_config_seeds_give_model_entries() {
    for p in files(&root().join("fuzz/corpus/hf_config")) {
        let text = std::fs::read_to_string(&p).unwrap();
        hf_entry(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}

#[test]
fn catalog_seeds_load() {
    for p in files(&root().join("fuzz/corpus/catalog_toml")) {
        let text = std::fs::read_to_string(&p).unwrap();
        let mut c = Catalog::default();
        c.add_text(&p.display().to_string(), &text)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// gguf_parse findings

/// A GGUF file with llama hyperparameters, `extra` metadata and one small tensor.
fn llama_gguf(extra: &[(&str, MetaValue)], skip: &[&str]) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", "llama").unwrap();
    let base: [(&str, MetaValue); 4] = [
        ("llama.block_count", MetaValue::U32(2)),
        ("llama.embedding_length", MetaValue::U32(64)),
        ("llama.attention.head_count", MetaValue::U32(4)),
        ("llama.feed_forward_length", MetaValue::U32(128)),
    ];
    for (k, v) in base {
        if !skip.contains(&k) && !extra.iter().any(|(e, _)| *e == k) {
            w.add_kv(k, v).unwrap();
        }
    }
    for (k, v) in extra {
        w.add_kv(*k, v.clone()).unwrap();
    }
    w.add_tensor(
        "blk.0.attn_q.weight",
        &[64, 1],
        GgmlType::F32,
        vec![0u8; 256],
    )
    .unwrap();
    w.to_bytes().unwrap()
}

fn out_of_range(r: Result<(), GgufError>, what: &str) {
    match r {
        Err(e @ GgufError::OutOfRange { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(what), "`{msg}` should name `{what}`");
            assert!(!msg.contains('\n'));
        }
        Err(e) => panic!("expected OutOfRange naming {what}, got {e}"),
        Ok(()) => panic!("expected OutOfRange naming {what}, got a fit"),
    }
}

/// Found by gguf_parse (timeout): `llama.block_count` = 3801089 in an otherwise tiny file made
/// `fit` build and split millions of layers (seconds per input, memory growing with the count).
/// `model_shape` now refuses block counts above `limits::MAX_LAYERS`.
#[test]
fn gguf_huge_block_count_is_refused() {
    let bytes = data("gguf_parse-timeout-block-count-3.8m.gguf");
    let start = Instant::now();
    out_of_range(gguf_fit(&bytes), "llama.block_count");
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// The same class, key by key: every hyperparameter the estimator multiplies or loops over is
/// bounded, including values that used to be truncated by `as u32` (2^32 layers read as 0) and
/// products that overflowed (`expert_shared_count` x `expert_feed_forward_length`).
#[test]
fn gguf_hyperparameters_beyond_limits_are_refused() {
    let big = MetaValue::U64(1 << 32);
    let cases: Vec<(Vec<(&str, MetaValue)>, &str)> = vec![
        (
            vec![("llama.block_count", big.clone())],
            "llama.block_count",
        ),
        (
            vec![("llama.block_count", MetaValue::U64(limits::MAX_LAYERS + 1))],
            "llama.block_count",
        ),
        (
            vec![("llama.embedding_length", MetaValue::U64(u64::MAX))],
            "llama.embedding_length",
        ),
        (
            vec![("llama.attention.head_count", big.clone())],
            "llama.attention.head_count",
        ),
        (
            vec![("llama.attention.head_count_kv", big.clone())],
            "llama.attention.head_count_kv",
        ),
        (
            vec![("llama.attention.key_length", MetaValue::U64(u64::MAX))],
            "llama.attention.key_length",
        ),
        (
            vec![("llama.feed_forward_length", MetaValue::U64(u64::MAX))],
            "llama.feed_forward_length",
        ),
        (
            vec![("llama.context_length", MetaValue::U64(u64::MAX))],
            "llama.context_length",
        ),
        (
            vec![("llama.expert_count", MetaValue::U64(u64::MAX))],
            "llama.expert_count",
        ),
        (
            vec![
                ("llama.expert_count", MetaValue::U32(8)),
                ("llama.expert_used_count", MetaValue::U32(9)),
            ],
            "llama.expert_used_count",
        ),
        (
            vec![
                ("llama.expert_count", MetaValue::U32(8)),
                ("llama.expert_feed_forward_length", MetaValue::U32(1 << 19)),
                ("llama.expert_shared_count", MetaValue::U32(4096)),
            ],
            "llama.expert_shared_count",
        ),
        (
            vec![
                ("llama.expert_count", MetaValue::U32(8)),
                ("llama.leading_dense_block_count", MetaValue::U32(3)),
            ],
            "llama.leading_dense_block_count",
        ),
        (
            vec![("llama.attention.kv_lora_rank", MetaValue::U64(u64::MAX))],
            "llama.attention.kv_lora_rank",
        ),
        (
            vec![("llama.rope.dimension_count", MetaValue::U64(u64::MAX))],
            "llama.rope.dimension_count",
        ),
    ];
    for (extra, what) in cases {
        out_of_range(gguf_fit(&llama_gguf(&extra, &[])), what);
    }
    // A sliding window only counts for architectures with a layer pattern.
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", "gemma2").unwrap();
    for (k, v) in [
        ("gemma2.block_count", 2u64),
        ("gemma2.embedding_length", 64),
        ("gemma2.attention.head_count", 4),
        ("gemma2.attention.sliding_window", u64::MAX),
    ] {
        w.add_kv(k, v).unwrap();
    }
    out_of_range(
        gguf_fit(&w.to_bytes().unwrap()),
        "gemma2.attention.sliding_window",
    );
    // An empty `token_embd.weight` (0 x 2^40: no bytes) used to declare a 2^40-token vocabulary.
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", "llama").unwrap();
    for (k, v) in [
        ("llama.block_count", 2u32),
        ("llama.embedding_length", 64),
        ("llama.attention.head_count", 4),
    ] {
        w.add_kv(k, v).unwrap();
    }
    w.add_tensor("token_embd.weight", &[0, 1 << 40], GgmlType::F32, vec![])
        .unwrap();
    out_of_range(gguf_fit(&w.to_bytes().unwrap()), "token_embd.weight");
    // At the limits themselves the estimator runs without overflow.
    let at_limits = llama_gguf(
        &[
            ("llama.block_count", MetaValue::U64(limits::MAX_LAYERS)),
            ("llama.embedding_length", MetaValue::U64(limits::MAX_HIDDEN)),
            (
                "llama.attention.head_count",
                MetaValue::U64(limits::MAX_HEADS),
            ),
            (
                "llama.attention.key_length",
                MetaValue::U64(limits::MAX_HEAD_DIM),
            ),
            (
                "llama.attention.value_length",
                MetaValue::U64(limits::MAX_HEAD_DIM),
            ),
            ("llama.feed_forward_length", MetaValue::U64(limits::MAX_FFN)),
            ("llama.context_length", MetaValue::U64(limits::MAX_CONTEXT)),
            ("llama.expert_count", MetaValue::U64(limits::MAX_EXPERTS)),
            (
                "llama.expert_used_count",
                MetaValue::U64(limits::MAX_EXPERTS),
            ),
            ("llama.expert_shared_count", MetaValue::U64(1)),
        ],
        &[],
    );
    gguf_fit(&at_limits).unwrap();
    // A missing required key is still reported as missing.
    match gguf_fit(&llama_gguf(&[], &["llama.block_count"])) {
        Err(GgufError::MissingKey { key }) => assert_eq!(key, "llama.block_count"),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// hf_config findings

const LLAMA: &str = r#""model_type":"llama","hidden_size":4096,"num_attention_heads":32,
    "num_key_value_heads":8,"intermediate_size":14336,"vocab_size":128256"#;

/// tests/data/fuzz/hf_config-oom-100m-layers.json: `num_hidden_layers: 100000000` in a tiny
/// config ran the hf_config target out of memory (555 MB against libFuzzer's 512 MB limit):
/// `to_model_entry` expanded the inventory before checking anything.
#[test]
fn hf_config_with_100m_layers_is_refused_before_expansion() {
    let json = String::from_utf8(data("hf_config-oom-100m-layers.json")).unwrap();
    let start = Instant::now();
    let err = hf_entry(&json).unwrap_err();
    assert_eq!(err, "layers 100000000 exceeds the limit of 1024");
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// The same class, field by field: a billion layers expanded a billion layers of tensors; 2^32 + 2
/// layers were truncated to 2 and accepted. Every hyperparameter beyond `limits` is refused now,
/// before the inventory is built.
#[test]
fn hf_config_beyond_limits_is_refused() {
    let cases = [
        (r#""num_hidden_layers":1000000000"#, "layers"),
        (r#""num_hidden_layers":4294967298"#, "layers"),
        (
            r#""num_hidden_layers":2,"hidden_size":18446744073709551615,"head_dim":128"#,
            "hidden_size",
        ),
        (
            r#""num_hidden_layers":2,"vocab_size":4294967296"#,
            "vocab_size",
        ),
        (
            r#""num_hidden_layers":2,"intermediate_size":4294967296"#,
            "ffn_size",
        ),
        (
            r#""num_hidden_layers":2,"num_attention_heads":8589934592,"num_key_value_heads":8589934592,"head_dim":8"#,
            "heads",
        ),
        (r#""num_hidden_layers":2,"head_dim":4294967296"#, "head_dim"),
        (
            r#""num_hidden_layers":2,"max_position_embeddings":18446744073709551615"#,
            "max_context",
        ),
    ];
    for (fields, what) in cases {
        // Later keys override earlier ones in serde_json's map.
        let json = format!("{{{LLAMA},{fields}}}");
        let start = Instant::now();
        let err = hf_entry(&json).expect_err(&json);
        assert!(
            err.contains(what) && err.contains("exceeds the limit"),
            "{json}: {err}"
        );
        assert!(start.elapsed() < Duration::from_secs(5), "{json}");
    }
    let moe = r#""model_type":"mixtral","hidden_size":4096,"num_attention_heads":32,
        "num_hidden_layers":2,"vocab_size":32000,"intermediate_size":14336"#;
    let cases = [
        (
            r#""num_local_experts":4294967297,"num_experts_per_tok":2"#,
            "moe.experts",
        ),
        (
            r#""num_local_experts":8,"num_experts_per_tok":2,"moe_intermediate_size":18446744073709551615"#,
            "moe.expert_ffn_size",
        ),
        (
            r#""num_local_experts":8,"num_experts_per_tok":2,"n_shared_experts":4294967296"#,
            "moe.shared_experts",
        ),
        (
            r#""num_local_experts":8,"num_experts_per_tok":2,"n_shared_experts":4096"#,
            "shared-expert FFN width",
        ),
    ];
    for (fields, what) in cases {
        let json = format!("{{{moe},{fields}}}");
        let err = hf_entry(&json).expect_err(&json);
        assert!(err.contains(what), "{json}: {err}");
    }
}

/// At the limits themselves (a MoE with MLA, every width at its maximum) the parameter counts, the
/// inventory in every file type and the placement run without overflow.
#[test]
fn hf_config_at_limits_estimates_without_overflow() {
    let json = format!(
        r#"{{"model_type":"deepseek_v3","num_hidden_layers":{l},"hidden_size":{h},
        "intermediate_size":{f},"moe_intermediate_size":{f},"num_attention_heads":{n},
        "num_key_value_heads":{n},"vocab_size":{v},"max_position_embeddings":{c},
        "n_routed_experts":{e},"num_experts_per_tok":{e},"n_shared_experts":1,
        "first_k_dense_replace":1,"kv_lora_rank":{d},"q_lora_rank":{d},"qk_rope_head_dim":{d},
        "qk_nope_head_dim":{d},"v_head_dim":{d}}}"#,
        l = limits::MAX_LAYERS,
        h = limits::MAX_HIDDEN,
        f = limits::MAX_FFN,
        n = limits::MAX_HEADS,
        v = limits::MAX_VOCAB,
        c = limits::MAX_CONTEXT,
        e = limits::MAX_EXPERTS,
        d = limits::MAX_HEAD_DIM,
    );
    let cfg = HfConfig::from_json_bytes(json.as_bytes()).unwrap();
    let entry = cfg.to_model_entry("at-limits", "fuzz").unwrap();
    let shape = ModelShape::from_entry(&entry);
    for &ftype in FileType::ALL {
        let inv = arch::inventory(&entry, ftype);
        assert!(inv.total_bytes().is_some(), "{ftype:?}");
        let view = ModelView {
            inventory: &inv,
            shape: &shape,
        };
        let req = PlaceRequest::new(WeightFormat::Gguf(ftype), 4096);
        estimate::place(&view, &[], &req).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// safetensors_header findings

/// Every tensor's name was searched for in the whole header before any check (for an error
/// offset that is only needed on failure): quadratic in the header size, minutes for a header of
/// 20k tensors and hours near the 100 MB header limit. Now the search runs only on error.
#[test]
fn safetensors_header_with_many_tensors_parses_in_linear_time() {
    let n = 20_000u64;
    let mut json = String::from("{");
    for i in 0..n {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            r#""model.layers.{i}.mlp.experts.{i}.down_proj.weight":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{}]}}"#,
            i + 1
        ));
    }
    json.push('}');
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes.resize(bytes.len() + n as usize, 0);
    let start = Instant::now();
    let h = SafetensorsHeader::parse(&bytes, bytes.len() as u64).unwrap();
    assert_eq!(h.tensors.len() as u64, n);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// catalog_toml: the same limits guard user catalogue files

const MODEL: &str = r#"[[model]]
id = "user-model"
name = "User model"
family = "user"
gguf_arch = "llama"
source = "https://example.com/config.json"
layers = 32
hidden_size = 4096
ffn_size = 14336
heads = 32
kv_heads = 8
vocab_size = 32768
tied_embeddings = false
max_context = 32768
params_total_official = 7.25e9
"#;

/// A catalogue entry with 4 billion layers (a valid u32) was accepted by `add_text`, and
/// `vramplan fit user-model` then expanded 4 billion layers of tensors. `problems` now refuses
/// every field beyond `limits`, so `add_text` fails with file:line:col.
#[test]
fn catalog_entry_beyond_limits_is_refused() {
    let mut ok = Catalog::default();
    ok.add_text("user.toml", MODEL).unwrap();
    let cases = [
        ("layers = 32", "layers = 4000000000", "layers"),
        ("hidden_size = 4096", "hidden_size = 18446744073709551615", "hidden_size"),
        ("vocab_size = 32768", "vocab_size = 4294967296", "vocab_size"),
        ("max_context = 32768", "max_context = 9223372036854775807", "max_context"),
        (
            "params_total_official = 7.25e9",
            "params_total_official = 7.25e9\nparams_active_official = 1e9\n[model.moe]\nexperts = 4000000000\nexperts_per_token = 2\nexpert_ffn_size = 1024",
            "moe.experts",
        ),
        (
            "params_total_official = 7.25e9",
            "params_total_official = 7.25e9\n[model.sliding_window]\nwindow = 18446744073709551615\npattern = 2",
            "sliding_window.window",
        ),
    ];
    for (from, to, what) in cases {
        let text = MODEL.replace(from, to);
        let mut c = Catalog::default();
        let start = Instant::now();
        let err = c.add_text("user.toml", &text).unwrap_err().to_string();
        assert!(
            err.contains("user.toml:") && err.contains(what) && err.contains("exceeds the limit"),
            "{to}: {err}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
