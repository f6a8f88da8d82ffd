//! Catalogue TOML on arbitrary UTF-8: `Catalog::add_text` onto an empty catalogue and onto the
//! embedded one (user files override entries), then every accepted model through the parameter
//! counts and the inventory, and every device through `Device::from_entry` -- what `vramplan list`
//! and `vramplan fit ID` do with a catalogue file downloaded from a stranger.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vramplan::arch::{self, Inventory, ModelShape};
use vramplan::catalog::{Catalog, Device};
use vramplan::estimate::calibration::Calibration;
use vramplan::estimate::{self, PlaceRequest, ModelView, WeightFormat};
use vramplan::ggml::FileType;

/// An embedded model to place on the fuzzed devices, as `vramplan fit mistral-7b --gpu ID` does.
struct Env {
    inventory: Inventory,
    shape: ModelShape,
    fit: Calibration,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let c = Catalog::embedded().expect("the embedded catalogue loads");
        let m = c.model("mistral-7b").expect("embedded model id");
        Env {
            inventory: arch::inventory(m, FileType::Q4_K_M),
            shape: ModelShape::from_entry(m),
            fit: Calibration::embedded(&c),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut c = Catalog::default();
    if c.add_text("fuzz.toml", text).is_err() {
        return;
    }
    for m in c.models() {
        assert!(m.problems().is_empty());
        let _ = c.model(&m.id);
        let _ = c.model_origin(&m.id);
        let _ = arch::param_counts(m);
        let inv = arch::inventory(m, FileType::Q4_K_M);
        let shape = ModelShape::from_entry(m);
        let view = ModelView {
            inventory: &inv,
            shape: &shape,
        };
        let _ = estimate::place(
            &view,
            &[],
            &PlaceRequest::new(WeightFormat::Gguf(FileType::Q4_K_M), 4096),
        );
    }
    let env = env();
    let view = ModelView {
        inventory: &env.inventory,
        shape: &env.shape,
    };
    let req = PlaceRequest::new(WeightFormat::Gguf(FileType::Q4_K_M), 4096);
    for d in c.devices().take(4) {
        let _ = (d.price_usd(), d.cheapest_cloud());
        let _ = c.device(&d.id);
        let options = d.memory_options_gb.iter().take(2).map(|&gb| Some(gb));
        for gb in std::iter::once(None).chain(options) {
            let _ = gb.map(|gb| d.option_price_usd(gb));
            let devices = [Device::from_entry(d.clone(), gb)];
            if let Ok(p) = estimate::place(&view, &devices, &req) {
                let _ = estimate::max_context(&view, &devices, &req);
                let _ = estimate::perf::speed(&view, &p, &devices, &req, 512, &env.fit, 50.0);
            }
        }
    }
    for a in c.apis() {
        let _ = c.api(&a.id);
    }
    let _ = c.model("llama 3 8b");
    let _ = c.device("RTX 4090");
});
