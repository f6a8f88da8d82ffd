//! The architectures of issue 17 item 5, each checked three ways: its inventory's parameter
//! count against the author's and against a count by hand from config.json, llama.cpp's KV
//! cache against a hand calculation from llama.cpp's rules, and a tiny GGUF written by gguf-py
//! (llama.cpp's Python side, which refuses tensor names its table lacks for the architecture)
//! read back by vramplan's shape reader. Needs `pip install gguf`, as tests/gguf_interop.rs.

mod gguf_common;

use vramplan::arch::{self, ModelShape};
use vramplan::catalog::{Catalog, ModelEntry};
use vramplan::estimate::kv::{self, KvType};
use vramplan::gguf::{model_shape, GgufFile};

fn entry(id: &str) -> ModelEntry {
    Catalog::embedded().unwrap().model(id).unwrap().clone()
}

/// gpt-oss by hand from config.json: per layer Q/K/V/O with biases, 64 sinks, two norms,
/// the router with bias, and per expert gate/up/down with biases; two 201088 x 2880 tables.
fn gpt_oss_by_hand(layers: u64, experts: u64) -> (u64, u64) {
    let (h, q, kv, ff, vocab) = (2880u64, 64 * 64, 8 * 64, 2880u64, 201088u64);
    let attn = h * q + 2 * h * kv + q * h + q + 2 * kv + h + 64;
    let norms = 2 * h;
    let router = h * experts + experts;
    let expert = 3 * h * ff + 2 * ff + h;
    let tables = 2 * vocab * h;
    let total = tables + h + layers * (attn + norms + router + experts * expert);
    // Active: 4 experts per token, without the input table (as OpenAI counts).
    let active = tables - vocab * h + h + layers * (attn + norms + router + 4 * expert);
    (total, active)
}

#[test]
fn gpt_oss_parameter_counts() {
    for (id, layers, experts, official_total, official_active) in [
        ("gpt-oss-20b", 24, 32, 20.91e9, 3.61e9),
        ("gpt-oss-120b", 36, 128, 116.83e9, 5.13e9),
    ] {
        let m = entry(id);
        let (total, active) = arch::param_counts(&m);
        assert_eq!((total, active), gpt_oss_by_hand(layers, experts), "{id}");
        // OpenAI's model card gives two decimals.
        assert!(
            (total as f64 - official_total).abs() < 0.006e9,
            "{id}: {total}"
        );
        assert!(
            (active as f64 - official_active).abs() < 0.006e9,
            "{id}: {active}"
        );
    }
}

#[test]
fn gpt_oss_kv_cache_by_hand() {
    let shape = ModelShape::from_entry(&entry("gpt-oss-20b"));
    // llama.cpp: 12 full layers hold pad(8192, 256) cells; the 12 sliding layers (even) hold
    // pad(min(8192, 128 + 512 ubatch), 256) = 768. A cell is 8 KV heads x 64 of f16, K and V.
    let row = 2 * 8 * 64 * 2;
    let want = 12 * 8192 * row + 12 * 768 * row;
    let layers = kv::llama_cpp_layers(&shape, KvType::F16, 8192, 1, 512, false, false).unwrap();
    assert_eq!(layers.iter().map(|l| l.bytes).sum::<u64>(), want);
    assert!(layers[0].sliding && !layers[1].sliding);
    assert_eq!(want, 220_200_960);
}

/// A tiny model of `id`'s architecture as a GGUF by gguf-py, read back.
fn round_trip(m: ModelEntry) {
    round_trip_with_mtp(m, &[]);
}

/// As [`round_trip`], with `mtp` tensors of one NextN block appended after the trunk as
/// llama.cpp's converter writes it (`block_count` one more, `nextn_predict_layers` 1): the shape
/// reader must leave that block out (llama.cpp neither loads nor caches it by default).
fn round_trip_with_mtp(mut m: ModelEntry, mtp: &[(&str, Vec<u64>)]) {
    m.layers = 2;
    m.hidden_size = 64;
    m.ffn_size = 32;
    m.heads = 4;
    m.kv_heads = 2;
    m.head_dim = Some(16);
    m.vocab_size = 128;
    if let Some(moe) = m.moe.as_mut() {
        moe.experts = 4;
        moe.experts_per_token = 2;
        moe.expert_ffn_size = 32;
        // One dense layer at most, so that one of the two layers is MoE.
        moe.dense_layers = moe.dense_layers.min(1);
    }
    if let Some(sw) = m.sliding_window.as_mut() {
        sw.window = 8;
    }
    let inv = arch::source_inventory(&m, vramplan::ggml::GgmlType::F32);
    let want = ModelShape::from_entry(&m);
    let mut hparams = serde_json::json!({
        "block_count": m.layers,
        "embedding_length": m.hidden_size,
        "feed_forward_length": m.ffn_size,
        "context_length": m.max_context,
        "head_count": m.heads,
        "head_count_kv": m.kv_heads,
        "key_length": want.head_dim_k,
        "value_length": want.head_dim_v,
    });
    if let Some(sw) = m.sliding_window {
        hparams["sliding_window"] = sw.window.into();
    }
    if let Some(moe) = m.moe {
        hparams["expert_count"] = moe.experts.into();
        hparams["expert_used_count"] = moe.experts_per_token.into();
        hparams["expert_feed_forward_length"] = moe.expert_ffn_size.into();
        if moe.shared_experts > 0 {
            hparams["expert_shared_count"] = moe.shared_experts.into();
        }
        if moe.dense_layers > 0 {
            hparams["leading_dense_block_count"] = moe.dense_layers.into();
        }
    }
    let mut tensors: Vec<_> = inv
        .tensors
        .iter()
        .map(|t| serde_json::json!({"name": t.name, "shape": t.shape}))
        .collect();
    if !mtp.is_empty() {
        hparams["block_count"] = (m.layers + 1).into();
        hparams["nextn_predict_layers"] = 1.into();
        let b = m.layers;
        for (name, shape) in mtp {
            tensors.push(serde_json::json!({"name": format!("blk.{b}.{name}"), "shape": shape}));
        }
    }
    let spec = serde_json::json!({"arch": m.gguf_arch, "hparams": hparams, "tensors": tensors});
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let out = gguf_common::run_script("write_arch.py", &spec_path);
    let f = GgufFile::open(out["path"].as_str().unwrap()).unwrap();
    assert_eq!(model_shape(&f).unwrap(), want, "{}", m.id);
    // The NextN block's tensors are in the file (and in its size) but not in the trunk.
    let mut read = f.inventory();
    let mtp_prefix = format!("blk.{}.", m.layers);
    read.tensors.retain(|t| !t.name.starts_with(&mtp_prefix));
    assert_eq!(
        f.inventory().tensors.len() - read.tensors.len(),
        mtp.len(),
        "{}",
        m.id
    );
    let names = |i: &arch::Inventory| {
        let mut v: Vec<_> = i
            .tensors
            .iter()
            .map(|t| (t.name.clone(), t.shape.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&read), names(&inv), "{}", m.id);
    // `fit FILE.gguf` plans what llama.cpp loads: the trunk, without the NextN block.
    let input =
        vramplan::input::from_file(std::path::Path::new(out["path"].as_str().unwrap())).unwrap();
    let vramplan::input::Source::Gguf { inventory, .. } = &input.source else {
        panic!("{}: a GGUF input", m.id)
    };
    assert_eq!(names(inventory), names(&inv), "{}", m.id);
}

#[test]
fn gpt_oss_gguf_round_trip() {
    round_trip(entry("gpt-oss-20b"));
}

/// Llama 4 Scout by hand: per layer Q/K/V/O (40 x 128 queries, 8 x 128 keys and values), two
/// norms, the router, 16 experts and one shared expert of 8192; two 202048 x 5120 tables.
#[test]
fn llama4_scout_parameter_counts() {
    let (h, q, kv, ff, vocab, experts) = (5120u64, 40 * 128, 8 * 128, 8192u64, 202048u64, 16u64);
    let dense = h * q + 2 * h * kv + q * h + 2 * h + h * experts + 3 * h * ff;
    let total = 2 * vocab * h + h + 48 * (dense + experts * 3 * h * ff);
    let active = 2 * vocab * h + h + 48 * (dense + 3 * h * ff);
    let m = entry("llama-4-scout-17b-16e");
    assert_eq!(arch::param_counts(&m), (total, active));
    // Meta's 109B counts the vision encoder too (109,676,279,296 in a full module listing);
    // the text model is 107.8B. Active: "17B".
    assert!((total as f64 / 1e9 - 107.77).abs() < 0.01, "{total}");
    assert!((active as f64 - 17e9).abs() / 17e9 < 0.015, "{active}");
}

#[test]
fn llama4_chunked_kv_cache_by_hand() {
    let shape = ModelShape::from_entry(&entry("llama-4-scout-17b-16e"));
    // llama.cpp: chunked layers (3 of 4) cache pad(min(32768, 8192 + 512), 256) = 8704 cells,
    // every 4th layer (12 of 48) the whole pad(32768, 256). A cell: 8 x 128 f16, K and V.
    let row = 2 * 8 * 128 * 2;
    let want = 12 * 32768 * row + 36 * 8704 * row;
    let layers = kv::llama_cpp_layers(&shape, KvType::F16, 32768, 1, 512, false, false).unwrap();
    assert_eq!(layers.iter().map(|l| l.bytes).sum::<u64>(), want);
    let full: Vec<u32> = layers
        .iter()
        .filter(|l| !l.sliding)
        .map(|l| l.layer)
        .collect();
    assert_eq!(&full[..3], &[3, 7, 11]);
    assert_eq!(want, 2_894_069_760);
}

#[test]
fn llama4_gguf_round_trip() {
    round_trip(entry("llama-4-scout-17b-16e"));
}

/// llama.cpp sets Llama 4's 8192-token chunk when the file has no `attention.sliding_window`.
#[test]
fn llama4_chunk_defaults_without_the_key() {
    use vramplan::gguf::{GgufWriter, MetaValue};
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", "llama4").unwrap();
    for (k, v) in [
        ("llama4.block_count", 4u32),
        ("llama4.embedding_length", 64),
        ("llama4.attention.head_count", 4),
        ("llama4.context_length", 1024),
    ] {
        w.add_kv(k, MetaValue::U32(v)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l4.gguf");
    w.write(&path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(model_shape(&f).unwrap().sliding_window, Some((8192, 4)));
}

/// GLM-4.5 by hand from config.json: per layer Q/K/V/O with Q/K/V biases (96 x 128 queries,
/// 8 x 128 keys and values), qk-norm where stated, two norms; `dense` leading layers with the
/// dense FFN, the rest with the router and its bias, `experts` routed experts and one shared
/// expert of the expert width; two 151552-row tables. Active: 8 experts per token, without
/// both tables (as Zhipu counts). Returns (total, active).
fn glm_by_hand(
    h: u64,
    layers: u64,
    dense: u64,
    ff: u64,
    experts: u64,
    ef: u64,
    qk_norm: bool,
) -> (u64, u64) {
    let (q, kv, vocab) = (96 * 128u64, 8 * 128u64, 151552u64);
    let attn = h * q + 2 * h * kv + q * h + q + 2 * kv + if qk_norm { 2 * 128 } else { 0 };
    let common = attn + 2 * h;
    let dense_layer = common + 3 * h * ff;
    let moe_layer = |used: u64| common + h * experts + experts + used * 3 * h * ef + 3 * h * ef;
    let tables = 2 * vocab * h;
    let total = tables + h + dense * dense_layer + (layers - dense) * moe_layer(experts);
    let active = h + dense * dense_layer + (layers - dense) * moe_layer(8);
    (total, active)
}

#[test]
fn glm45_parameter_counts() {
    // Air: 106.85B total (Zhipu: 106B; the MTP block, not loaded by llama.cpp by default, is
    // left out as Zhipu does), 12.18B active (12B). GLM-4.5: 352.80B (355B), 32.08B (32B).
    for (id, by_hand, total_b, active_b) in [
        (
            "glm-4.5-air",
            glm_by_hand(4096, 46, 1, 10944, 128, 1408, false),
            106.85,
            12.18,
        ),
        (
            "glm-4.5",
            glm_by_hand(5120, 92, 3, 12288, 160, 1536, true),
            352.80,
            32.08,
        ),
    ] {
        let (total, active) = arch::param_counts(&entry(id));
        assert_eq!((total, active), by_hand, "{id}");
        assert!(
            (total as f64 / 1e9 - total_b).abs() < 0.005,
            "{id}: {total}"
        );
        assert!(
            (active as f64 / 1e9 - active_b).abs() < 0.005,
            "{id}: {active}"
        );
    }
    assert_eq!(
        glm_by_hand(4096, 46, 1, 10944, 128, 1408, false).0,
        106_852_251_264
    );
}

#[test]
fn glm45_air_kv_cache_by_hand() {
    let shape = ModelShape::from_entry(&entry("glm-4.5-air"));
    // llama.cpp: a unified cache over the 46 trunk layers (the NextN block is filtered out),
    // no sliding window, pad(8192, 256) cells of 8 KV heads x 128 in f16, K and V.
    let row = 2 * 8 * 128 * 2;
    let want = 46 * 8192 * row;
    let layers = kv::llama_cpp_layers(&shape, KvType::F16, 8192, 1, 512, false, false).unwrap();
    assert_eq!(layers.len(), 46);
    assert_eq!(layers.iter().map(|l| l.bytes).sum::<u64>(), want);
    assert_eq!(want, 1_543_503_872);
}

/// The NextN block as llama.cpp's converter writes it for a tiny GLM (hidden 64, vocab 128):
/// a full MoE layer plus `nextn.{eh_proj,enorm,hnorm,shared_head_norm}`.
fn glm_mtp_block(m: &ModelEntry) -> Vec<(&'static str, Vec<u64>)> {
    let (h, hd) = (64u64, 16u64);
    let moe = m.moe.unwrap();
    let (n, ef) = (4u64, 32u64);
    let mut v = vec![
        ("attn_norm.weight", vec![h]),
        ("attn_q.weight", vec![h, 4 * hd]),
        ("attn_k.weight", vec![h, 2 * hd]),
        ("attn_v.weight", vec![h, 2 * hd]),
        ("attn_q.bias", vec![4 * hd]),
        ("attn_k.bias", vec![2 * hd]),
        ("attn_v.bias", vec![2 * hd]),
        ("attn_output.weight", vec![4 * hd, h]),
        ("post_attention_norm.weight", vec![h]),
        ("ffn_gate_inp.weight", vec![h, n]),
        ("exp_probs_b.bias", vec![n]),
        ("ffn_gate_exps.weight", vec![h, ef, n]),
        ("ffn_up_exps.weight", vec![h, ef, n]),
        ("ffn_down_exps.weight", vec![ef, h, n]),
        ("nextn.eh_proj.weight", vec![2 * h, h]),
        ("nextn.enorm.weight", vec![h]),
        ("nextn.hnorm.weight", vec![h]),
        ("nextn.shared_head_norm.weight", vec![h]),
    ];
    if moe.shared_experts > 0 {
        v.push(("ffn_gate_shexp.weight", vec![h, ef]));
        v.push(("ffn_up_shexp.weight", vec![h, ef]));
        v.push(("ffn_down_shexp.weight", vec![ef, h]));
    }
    v
}

#[test]
fn glm45_gguf_round_trip_drops_the_nextn_block() {
    for id in ["glm-4.5-air", "glm-4.5"] {
        let m = entry(id);
        let mtp = glm_mtp_block(&m);
        round_trip_with_mtp(m, &mtp);
    }
}

/// The Hugging Face importer reads GLM-4.5's config.json keys as the catalogue states them.
#[test]
fn glm45_air_from_config_json() {
    let json = r#"{"architectures": ["Glm4MoeForCausalLM"], "model_type": "glm4_moe",
        "attention_bias": true, "first_k_dense_replace": 1, "head_dim": 128,
        "hidden_size": 4096, "intermediate_size": 10944, "max_position_embeddings": 131072,
        "moe_intermediate_size": 1408, "n_routed_experts": 128, "n_shared_experts": 1,
        "num_attention_heads": 96, "num_experts_per_tok": 8, "num_hidden_layers": 46,
        "num_key_value_heads": 8, "num_nextn_predict_layers": 1, "partial_rotary_factor": 0.5,
        "tie_word_embeddings": false, "use_qk_norm": false, "vocab_size": 151552}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, json).unwrap();
    let cfg = vramplan::hf::HfConfig::from_path(&path).unwrap();
    let got = cfg.to_model_entry("glm-air-hf", "test").unwrap();
    let want = entry("glm-4.5-air");
    assert_eq!(got.gguf_arch, "glm4moe");
    assert_eq!(got.moe, want.moe);
    assert_eq!((got.qkv_bias, got.qk_norm), (true, false));
    // Same inventory, so the same total as the catalogue entry.
    assert_eq!(arch::param_counts(&got).0, arch::param_counts(&want).0);
}
