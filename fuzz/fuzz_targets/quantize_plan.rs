//! `vramplan quantize` planning on arbitrary bytes: parse, the shared hyperparameter limits, the
//! per-tensor recipe for every file type, and the writer's header for each plan (shapes, sizes,
//! offsets). Nothing may panic (zero-dimensional tensors once did: quantize/plan.rs:185).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vramplan::ggml::FileType;
use vramplan::gguf::{GgufFile, GgufWriter};
use vramplan::quantize::{plan, QuantizeOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(f) = GgufFile::parse(data) else {
        return;
    };
    let opts = QuantizeOptions {
        threads: 1,
        allow_requantize: data.len() % 2 == 0,
    };
    for &ftype in FileType::ALL {
        let Ok(p) = plan(&f, ftype, &opts) else {
            continue;
        };
        let mut w = GgufWriter::new();
        for (k, v) in &p.metadata {
            let _ = w.add_kv(k.clone(), v.clone());
        }
        for t in &p.tensors {
            let n = w.add_tensor_info(t.name.clone(), &t.shape, t.to);
            if let Ok(n) = n {
                assert_eq!(n, t.out_bytes, "{}", t.name);
            }
        }
        let _ = w.file_size();
        let _ = (p.in_tensor_bytes(), p.out_tensor_bytes());
    }
});
