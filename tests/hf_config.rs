//! Hugging Face config.json: real-world shapes (dense, GQA, sliding window, MoE, MLA, multimodal
//! wrappers), tolerance of unknown keys, and strictness about the keys used.

use vramplan::hf::{HfConfig, HfError};

fn parse(json: &str) -> HfConfig {
    HfConfig::from_json_bytes(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(json: &str) -> String {
    let e = HfConfig::from_json_bytes(json.as_bytes()).unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    msg
}

const LLAMA3_8B: &str = r#"{
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": 128009,
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 14336,
  "max_position_embeddings": 8192,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "rope_theta": 500000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.40.0.dev0",
  "use_cache": true,
  "vocab_size": 128256
}"#;

#[test]
fn llama3_dense_gqa() {
    let c = parse(LLAMA3_8B);
    assert_eq!(c.model_type, "llama");
    assert_eq!(c.architecture.as_deref(), Some("LlamaForCausalLM"));
    assert_eq!(
        (c.num_hidden_layers, c.hidden_size, c.intermediate_size),
        (32, 4096, Some(14336))
    );
    assert_eq!(
        (c.num_attention_heads, c.num_key_value_heads, c.head_dim),
        (32, 8, 128)
    );
    assert_eq!(c.vocab_size, 128256);
    assert_eq!(c.tie_word_embeddings, Some(false));
    assert_eq!(c.max_position_embeddings, Some(8192));
    assert_eq!(c.torch_dtype.as_deref(), Some("bfloat16"));
    assert_eq!(c.attention_bias, Some(false));
    assert_eq!(c.sliding_window, None);
    assert!(!c.is_moe() && !c.is_mla());
}

#[test]
fn mixtral_moe_with_null_sliding_window() {
    let c = parse(
        r#"{"architectures":["MixtralForCausalLM"],"model_type":"mixtral","hidden_size":4096,
        "intermediate_size":14336,"num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,
        "num_local_experts":8,"num_experts_per_tok":2,"sliding_window":null,"vocab_size":32000,
        "router_aux_loss_coef":0.02,"torch_dtype":"bfloat16"}"#,
    );
    assert_eq!(c.num_experts, Some(8));
    assert_eq!(c.num_experts_per_tok, Some(2));
    assert_eq!(c.sliding_window, None);
    assert!(c.is_moe());
}

#[test]
fn deepseek_v3_moe_and_mla() {
    let c = parse(
        r#"{"architectures":["DeepseekV3ForCausalLM"],"model_type":"deepseek_v3",
        "hidden_size":7168,"intermediate_size":18432,"moe_intermediate_size":2048,"num_hidden_layers":61,
        "num_attention_heads":128,"num_key_value_heads":128,"n_shared_experts":1,"n_routed_experts":256,
        "num_experts_per_tok":8,"first_k_dense_replace":3,"kv_lora_rank":512,"q_lora_rank":1536,
        "qk_rope_head_dim":64,"qk_nope_head_dim":128,"v_head_dim":128,"vocab_size":129280,
        "max_position_embeddings":163840,"rope_scaling":{"type":"yarn","factor":40},
        "quantization_config":{"quant_method":"fp8","weight_block_size":[128,128]},
        "tie_word_embeddings":false,"torch_dtype":"bfloat16","attention_bias":false}"#,
    );
    assert_eq!(c.num_experts, Some(256));
    assert_eq!(c.moe_intermediate_size, Some(2048));
    assert_eq!(c.n_shared_experts, Some(1));
    assert_eq!(c.first_k_dense_replace, Some(3));
    assert_eq!((c.kv_lora_rank, c.q_lora_rank), (Some(512), Some(1536)));
    assert_eq!(
        (c.qk_rope_head_dim, c.qk_nope_head_dim, c.v_head_dim),
        (Some(64), Some(128), Some(128))
    );
    assert_eq!(c.head_dim, 7168 / 128);
    assert!(c.is_moe() && c.is_mla());
    // DeepSeek-V2-Lite has no query compression: null is None.
    let lite = LLAMA3_8B.replace(
        "\"vocab_size\"",
        "\"kv_lora_rank\": 512, \"q_lora_rank\": null, \"vocab_size\"",
    );
    assert_eq!(parse(&lite).q_lora_rank, None);
}

#[test]
fn qwen_sliding_window_switch_and_num_experts() {
    let base = r#"{"model_type":"qwen2","hidden_size":896,"num_attention_heads":14,"num_key_value_heads":2,
        "num_hidden_layers":24,"vocab_size":151936,"sliding_window":32768,"use_sliding_window":USE}"#;
    assert_eq!(parse(&base.replace("USE", "false")).sliding_window, None);
    assert_eq!(
        parse(&base.replace("USE", "true")).sliding_window,
        Some(32768)
    );
    let c = parse(
        r#"{"model_type":"qwen3_moe","hidden_size":2048,"num_attention_heads":32,"num_key_value_heads":4,
        "head_dim":128,"num_hidden_layers":48,"vocab_size":151936,"num_experts":128,"num_experts_per_tok":8,
        "moe_intermediate_size":768,"dtype":"bfloat16"}"#,
    );
    assert_eq!(c.num_experts, Some(128));
    assert_eq!(
        c.head_dim, 128,
        "explicit head_dim wins over hidden/heads = 64"
    );
    assert_eq!(
        c.torch_dtype.as_deref(),
        Some("bfloat16"),
        "newer `dtype` key"
    );
}

#[test]
fn multimodal_text_config_and_defaults() {
    let c = parse(
        r#"{"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3",
        "torch_dtype":"bfloat16","vision_config":{"hidden_size":1152,"num_hidden_layers":27},
        "text_config":{"model_type":"gemma3_text","hidden_size":2560,"intermediate_size":10240,
          "num_attention_heads":8,"num_key_value_heads":4,"head_dim":256,"num_hidden_layers":34,
          "sliding_window":1024,"vocab_size":262208}}"#,
    );
    assert_eq!(c.model_type, "gemma3_text");
    assert_eq!(
        c.architecture.as_deref(),
        Some("Gemma3ForConditionalGeneration")
    );
    assert_eq!(
        (c.num_hidden_layers, c.hidden_size, c.head_dim),
        (34, 2560, 256)
    );
    assert_eq!(c.sliding_window, Some(1024));
    assert_eq!(c.torch_dtype.as_deref(), Some("bfloat16"));
    // Absent num_key_value_heads means plain multi-head attention.
    let c = parse(
        r#"{"model_type":"gpt2ish","hidden_size":768,"num_attention_heads":12,"num_hidden_layers":12,"vocab_size":50257}"#,
    );
    assert_eq!(
        (c.num_key_value_heads, c.head_dim, c.intermediate_size),
        (12, 64, None)
    );
}

#[test]
fn strict_about_the_keys_used() {
    assert!(err("not json").starts_with("invalid config.json: "));
    assert!(err("[1,2]").contains("not a JSON object"));
    assert_eq!(
        err(&LLAMA3_8B.replace("\"num_hidden_layers\": 32,", "")),
        "config.json has no `num_hidden_layers`"
    );
    assert_eq!(
        err(&LLAMA3_8B.replace("\"model_type\": \"llama\",", "")),
        "config.json has no `model_type`"
    );
    let m = err(&LLAMA3_8B.replace("\"hidden_size\": 4096", "\"hidden_size\": \"4096\""));
    assert!(
        m.contains("invalid type: string \"4096\", expected u64"),
        "{m}"
    );
    let m = err(&LLAMA3_8B.replace("\"hidden_size\": 4096", "\"hidden_size\": 4096.5"));
    assert!(m.contains("expected u64"), "{m}");
    let m = err(&LLAMA3_8B.replace("\"num_hidden_layers\": 32", "\"num_hidden_layers\": -1"));
    assert!(m.contains("expected u64"), "{m}");
    assert_eq!(
        err(&LLAMA3_8B.replace("\"num_attention_heads\": 32", "\"num_attention_heads\": 0")),
        "config.json: `num_attention_heads` must be positive, found 0"
    );
    assert_eq!(
        err(&LLAMA3_8B.replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5")),
        "config.json: `num_key_value_heads` 5 does not divide num_attention_heads 32"
    );
    let m = err(&LLAMA3_8B
        .replace("\"num_attention_heads\": 32", "\"num_attention_heads\": 24")
        .replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 6")
        .replace("4096", "4000"));
    assert!(
        m.contains("`hidden_size` 4000 is not a multiple of num_attention_heads 24"),
        "{m}"
    );
    let m = err(&LLAMA3_8B.replace(
        "\"vocab_size\"",
        "\"num_local_experts\": 8, \"n_routed_experts\": 16, \"vocab_size\"",
    ));
    assert_eq!(
        m,
        "config.json: `n_routed_experts` is 16 but num_local_experts is 8"
    );
    let m = err(&LLAMA3_8B.replace(
        "\"vocab_size\"",
        "\"num_local_experts\": 8, \"num_experts_per_tok\": 9, \"vocab_size\"",
    ));
    assert!(m.contains("9 exceeds the 8 experts"), "{m}");
    assert!(err(&LLAMA3_8B.replace("false", "\"no\"")).contains("expected a boolean"));
}

#[test]
fn from_path_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("config.json");
    std::fs::write(&p, LLAMA3_8B).unwrap();
    assert_eq!(HfConfig::from_path(&p).unwrap().num_hidden_layers, 32);
    std::fs::write(
        &p,
        LLAMA3_8B.replace("\"vocab_size\": 128256", "\"vocab_size\": 0"),
    )
    .unwrap();
    let m = HfConfig::from_path(&p).unwrap_err().to_string();
    assert_eq!(
        m,
        format!(
            "config.json in {}: `vocab_size` must be positive, found 0",
            p.display()
        )
    );
    let e = HfConfig::from_path(dir.path().join("missing.json")).unwrap_err();
    assert!(matches!(e, HfError::Io { .. }));
    // Absurdly large files are refused before reading (sparse file, no disk used).
    let big = dir.path().join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    assert!(HfConfig::from_path(&big)
        .unwrap_err()
        .to_string()
        .contains("limit"));
}

/// Llama 4's config (text_config of Scout, abridged): its chunked attention window is
/// `attention_chunk_size`, which the entry carries with the table's pattern (3 of 4 layers
/// chunked); Maverick's MoE on every other layer is refused, not miscounted.
#[test]
fn llama4_chunked_attention_and_interleaved_moe() {
    const SCOUT: &str = r#"{"architectures":["Llama4ForConditionalGeneration"],"model_type":"llama4",
      "text_config":{"model_type":"llama4_text","hidden_size":5120,"intermediate_size":8192,
        "intermediate_size_mlp":16384,"num_attention_heads":40,"num_key_value_heads":8,
        "head_dim":128,"num_hidden_layers":48,"vocab_size":202048,"num_local_experts":16,
        "num_experts_per_tok":1,"attention_chunk_size":8192,"interleave_moe_layer_step":1,
        "max_position_embeddings":10485760}}"#;
    let c = parse(SCOUT);
    assert_eq!(c.sliding_window, Some(8192));
    let entry = c.to_model_entry("scout", "test").expect("an entry");
    let sw = entry.sliding_window.expect("chunked layers");
    assert_eq!((sw.window, sw.pattern), (8192, 4));
    let maverick = SCOUT
        .replace(
            "\"interleave_moe_layer_step\":1",
            "\"interleave_moe_layer_step\":2",
        )
        .replace("\"num_local_experts\":16", "\"num_local_experts\":128");
    let msg = err(&maverick);
    assert!(
        msg.contains("interleave_moe_layer_step") && msg.contains("not modelled"),
        "{msg}"
    );
}
