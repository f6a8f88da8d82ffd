//! config.json on arbitrary bytes: `HfConfig::from_json_bytes`, and for a config it accepts, the
//! model entry (`to_model_entry`), its parameter counts and inventories and the estimator, as
//! `vramplan fit config.json` runs them. Absurd but well-typed configs (huge layer counts, giant
//! widths) must be refused with an error, never panic, overflow or allocate without bound.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vramplan::arch::{self, ModelShape};
use vramplan::catalog::{Catalog, Device};
use vramplan::estimate::{self, PlaceRequest, ModelView, WeightFormat};
use vramplan::ggml::FileType;
use vramplan::hf::HfConfig;

fn gpu() -> &'static Vec<Device> {
    static GPU: OnceLock<Vec<Device>> = OnceLock::new();
    GPU.get_or_init(|| {
        let c = Catalog::embedded().expect("the embedded catalogue loads");
        vec![c.device("rtx-4090").expect("embedded device id")]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(cfg) = HfConfig::from_json_bytes(data) else {
        return;
    };
    let _ = (cfg.is_moe(), cfg.is_mla(), cfg.gguf_arch());
    let _ = serde_json::to_string(&cfg);
    let Ok(entry) = cfg.to_model_entry("fuzz-model", "fuzz") else {
        return;
    };
    assert!(entry.problems().is_empty(), "{:?}", entry.problems());
    let (total, active) = arch::param_counts(&entry);
    assert!(active <= total);
    let shape = ModelShape::from_entry(&entry);
    for ftype in [FileType::Q4_K_M, FileType::Q8_0] {
        let inv = arch::inventory(&entry, ftype);
        let _ = inv.total_bytes();
        let view = ModelView {
            inventory: &inv,
            shape: &shape,
        };
        let req = PlaceRequest::new(WeightFormat::Gguf(ftype), 4096);
        let _ = estimate::place(&view, &[], &req);
        if estimate::place(&view, gpu(), &req).is_ok() {
            let _ = estimate::max_context(&view, gpu(), &req);
        }
    }
});
