//! The engine's load path on arbitrary bytes, as `vramplan run` takes it: parse, the shared
//! hyperparameter limits, `Model::load`, the KV-cache size check, then one forward pass of one
//! token (and the tokenizer when the file has one). Nothing may panic, divide by zero or allocate
//! without bound; libFuzzer's `-rss_limit_mb` / `-malloc_limit_mb` catch the last.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vramplan::engine::{KvCacheType, Model, Session, SessionConfig, Tokenizer};
use vramplan::gguf::GgufFile;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = GgufFile::parse(data) else {
        return;
    };
    if let Ok(tok) = Tokenizer::from_gguf(&f) {
        let ids = tok.encode("Hello <|im_start|> world", true, true);
        for &id in ids.iter().take(8) {
            let _ = tok.token_to_piece(id, true);
        }
    }
    let Ok(model) = Model::load(&f) else {
        return;
    };
    let n_ctx = 8;
    // `run` refuses a cache larger than the machine's RAM before allocating; here, 64 MiB.
    match model.hparams.kv_cache_bytes(KvCacheType::F16, n_ctx) {
        Some(b) if b <= 64 << 20 => {}
        _ => return,
    }
    let Ok(mut session) = Session::new(
        &model,
        SessionConfig {
            n_ctx,
            threads: 1,
            ..SessionConfig::default()
        },
    ) else {
        return;
    };
    let token = (data.len() % model.hparams.n_vocab.max(1)) as u32;
    if let Ok(logits) = session.eval(&[token], false) {
        assert_eq!(logits.len(), model.hparams.n_vocab);
    }
});
