//! The users' own stories, checked against the estimator, and its invariants under proptest.

use proptest::prelude::*;
use vramplan::arch::{inventory, source_inventory, ModelShape};
use vramplan::catalog::{Catalog, Device};
use vramplan::estimate::{
    self, kv, Engine, EngineOptions, KvType, ModelView, PlaceRequest, WeightFormat,
};
use vramplan::ggml::{FileType, GgmlType};

fn catalog() -> Catalog {
    Catalog::embedded().expect("embedded catalogue")
}

fn devices(c: &Catalog, id: &str, n: usize) -> Vec<Device> {
    vec![c.device(id).unwrap(); n]
}

fn fit(
    c: &Catalog,
    model: &str,
    format: WeightFormat,
    ctx: u64,
    devs: &[Device],
) -> (estimate::Placement, Option<u64>) {
    fit_with(c, model, PlaceRequest::new(format, ctx), devs)
}

fn fit_with(
    c: &Catalog,
    model: &str,
    req: PlaceRequest,
    devs: &[Device],
) -> (estimate::Placement, Option<u64>) {
    let m = c.model(model).unwrap();
    let inv = match req.format {
        WeightFormat::Gguf(ft) => inventory(m, ft),
        _ => source_inventory(m, GgmlType::BF16),
    };
    let shape = ModelShape::from_entry(m);
    let view = ModelView {
        inventory: &inv,
        shape: &shape,
    };
    let p = estimate::place(&view, devs, &req).unwrap();
    let mc = estimate::max_context(&view, devs, &req);
    (p, mc)
}

#[test]
fn kv_bytes_per_token_gqa_and_mla() {
    let c = catalog();
    let llama = ModelShape::from_entry(c.model("llama-3.1-8b").unwrap());
    assert_eq!(kv::bytes_per_token(&llama, KvType::F16), Some(131072));
    let ds = ModelShape::from_entry(c.model("deepseek-v3").unwrap());
    assert_eq!(kv::bytes_per_token(&ds, KvType::F16), Some(61 * 576 * 2));
    // q8_0 is 34 bytes per 32 elements, not one byte per element.
    assert_eq!(
        kv::bytes_per_token(&llama, KvType::Q8_0),
        Some(32 * 2 * 1024 / 32 * 34)
    );
}

#[test]
fn sliding_window_layers_hold_only_the_window() {
    let c = catalog();
    let g = ModelShape::from_entry(c.model("gemma-2-9b").unwrap());
    let layers = kv::llama_cpp_layers(&g, KvType::F16, 8192, 1, 512, false, false).unwrap();
    // Gemma 2: layer 0 slides (4096 + 512 ubatch, padded to 256 = 4608 cells), layer 1 is full.
    assert!(layers[0].sliding && !layers[1].sliding);
    assert_eq!(layers[0].cells, 4608);
    assert_eq!(layers[1].cells, 8192);
    let full = kv::llama_cpp_layers(&g, KvType::F16, 8192, 1, 512, true, false).unwrap();
    assert!(full.iter().all(|l| l.cells == 8192));
}

#[test]
fn mistral_small_bf16_weights_are_about_47_2_gb() {
    let c = catalog();
    let (p, _) = fit(
        &c,
        "mistral-small-24b",
        WeightFormat::Gguf(FileType::BF16),
        4096,
        &[],
    );
    let gb = p.weights_bytes as f64 / 1e9;
    assert!((gb - 47.15).abs() < 0.1, "{gb} GB");
}

#[test]
fn mistral_small_q4_k_m_fits_a_4090_and_a_32gb_mac_at_32k() {
    let c = catalog();
    let q4 = WeightFormat::Gguf(FileType::Q4_K_M);
    let (p, mc) = fit(
        &c,
        "mistral-small-24b",
        q4,
        32768,
        &devices(&c, "rtx-4090", 1),
    );
    assert!(p.fits && p.host.layers == 0, "{p:?}");
    assert_eq!(mc, Some(32768), "the 4090 holds the full 32k context");
    let mac = devices(&c, "m1-max-32gb", 1);
    let (p, mc) = fit(&c, "mistral-small-24b", q4, 32768, &mac);
    assert!(p.fits, "{p:?}");
    assert!(mc.unwrap() >= 32768);
    // 32 GB of unified memory lets the GPU wire about 2/3: 21.3 GiB.
    assert_eq!(
        mac[0].usable_bytes,
        (32.0 * 1073741824.0 * 2.0 / 3.0) as u64
    );
}

#[test]
fn mixtral_on_two_rtx_3060_12gb() {
    let c = catalog();
    let two = devices(&c, "rtx-3060-12gb", 2);
    let (q3, q3_ctx) = fit(
        &c,
        "mixtral-8x7b",
        WeightFormat::Gguf(FileType::Q3_K_M),
        8192,
        &two,
    );
    assert!(
        q3.fits && q3.host.layers == 0,
        "Q3_K_M fits both cards fully: {q3:?}"
    );
    let q3_ctx = q3_ctx.unwrap();
    assert!(
        (8192..32768).contains(&q3_ctx),
        "Q3_K_M max context {q3_ctx}"
    );
    // Neither card is asked to hold more than it has: per-card placement, never a summed pool.
    assert!(q3.devices.iter().all(|d| d.free_bytes >= 0));
    let (q5, q5_ctx) = fit(
        &c,
        "mixtral-8x7b",
        WeightFormat::Gguf(FileType::Q5_K_M),
        8192,
        &two,
    );
    // Q5_K_M (33 GB) cannot sit in 24 GB of VRAM: every layer stays on the cards with the
    // experts of the first layers in host RAM (llama.cpp --n-cpu-moe), which reads fewer bytes
    // from host RAM per token than leaving whole layers behind.
    assert!(q5.fits, "Q5_K_M runs with offload: {q5:?}");
    assert_eq!(q5.host.layers, 0, "every layer on the cards");
    assert_eq!(q5.n_gpu_layers(), 33);
    assert!(
        (8..32).contains(&q5.n_cpu_moe()),
        "experts of {} layers in host RAM",
        q5.n_cpu_moe()
    );
    assert!(q5.host.weights_bytes > 8_000_000_000);
    assert_eq!(q5_ctx, None);
}

/// `--n-cpu-moe N` keeps exactly the first N layers' experts in host RAM; chosen automatically,
/// N is the fewest that lets every layer onto the devices.
#[test]
fn n_cpu_moe_explicit_and_automatic() {
    let c = catalog();
    let one = devices(&c, "rtx-3060-12gb", 1);
    let format = WeightFormat::Gguf(FileType::Q4_K_M);
    let model = "qwen3-30b-a3b";
    let m = c.model(model).unwrap();
    let inv = inventory(m, FileType::Q4_K_M);
    let expert_bytes = |layers: std::ops::Range<usize>| -> u64 {
        inv.tensors
            .iter()
            .filter(|t| t.name.contains("_exps.") && t.layer().is_some_and(|l| layers.contains(&l)))
            .map(|t| estimate::weights::tensor_bytes(format, t))
            .sum()
    };
    let token_embd: u64 = inv
        .tensors
        .iter()
        .filter(|t| t.name == "token_embd.weight")
        .map(|t| estimate::weights::tensor_bytes(format, t))
        .sum();
    let mut req = PlaceRequest::new(format, 16384);
    req.llama_cpp_mut().unwrap().n_cpu_moe = Some(30);
    req.llama_cpp_mut().unwrap().n_gpu_layers = Some(m.layers + 1);
    let (p, _) = fit_with(&c, model, req.clone(), &one);
    assert_eq!(p.n_cpu_moe(), 30);
    assert_eq!(p.host.layers, 0);
    assert_eq!(p.host.weights_bytes, token_embd + expert_bytes(0..30));

    let (auto, _) = fit(&c, model, format, 16384, &one);
    assert!(auto.fits && auto.host.layers == 0, "{auto:?}");
    let n = auto.n_cpu_moe();
    assert!(n > 0 && n < m.layers);
    assert_eq!(
        auto.host.weights_bytes,
        token_embd + expert_bytes(0..n as usize)
    );
    for (k, should_fit) in [(n - 1, false), (n, true)] {
        req.llama_cpp_mut().unwrap().n_cpu_moe = Some(k);
        let (p, _) = fit_with(&c, model, req.clone(), &one);
        assert_eq!(p.fits, should_fit, "--n-cpu-moe {k}");
    }
    // A model that fits whole keeps its experts on the device.
    let big = devices(&c, "rtx-5090", 1);
    let (whole, _) = fit(&c, model, format, 16384, &big);
    assert!(whole.fits && whole.n_cpu_moe() == 0 && whole.host.layers == 0);
}

#[test]
fn deepseek_r1_nodes_of_h100_and_h200() {
    let c = catalog();
    let mut req = PlaceRequest::new(WeightFormat::Fp8, 32768);
    req.engine = Engine::Vllm.config(&EngineOptions::default());
    let (one_h100_node, _) = fit_with(&c, "deepseek-r1", req.clone(), &devices(&c, "h100-sxm", 8));
    assert!(
        !one_h100_node.fits,
        "671 GB of FP8 weights exceed 8 x 80 GB"
    );
    let (two_h100_nodes, _) =
        fit_with(&c, "deepseek-r1", req.clone(), &devices(&c, "h100-sxm", 16));
    assert!(
        two_h100_nodes.fits && two_h100_nodes.pipeline_parallel() == 2,
        "{two_h100_nodes:?}"
    );
    let (h200_node, _) = fit_with(&c, "deepseek-r1", req, &devices(&c, "h200", 8));
    assert!(h200_node.fits, "one node of 8 H200 holds R1 at FP8");
    let (q4, _) = fit(
        &c,
        "deepseek-r1",
        WeightFormat::Gguf(FileType::Q4_K_M),
        32768,
        &devices(&c, "h100-sxm", 8),
    );
    assert!(
        q4.fits && q4.host.layers == 0,
        "Q4_K_M (~400 GB) fits one node of 8 H100"
    );
}

#[test]
fn vllm_rejects_mixed_cards_and_indivisible_heads() {
    let c = catalog();
    let m = c.model("llama-3.1-8b").unwrap();
    let inv = source_inventory(m, GgmlType::BF16);
    let shape = ModelShape::from_entry(m);
    let view = ModelView {
        inventory: &inv,
        shape: &shape,
    };
    let mut req = PlaceRequest::new(WeightFormat::Bf16, 8192);
    req.engine = Engine::Vllm.config(&EngineOptions::default());
    let mixed = vec![c.device("rtx-4090").unwrap(), c.device("rtx-3090").unwrap()];
    assert!(estimate::place(&view, &mixed, &req).is_err());
    let three = devices(&c, "rtx-4090", 3);
    assert!(
        estimate::place(&view, &three, &req).is_err(),
        "32 heads do not split over 3 GPUs"
    );
}

fn q_ladder() -> Vec<FileType> {
    use FileType::*;
    vec![
        Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, Q8_0, BF16,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// More context never needs less memory; neither does a higher-precision file type, for
    /// models whose rows are whole K-quant blocks. (Where they are not, llama.cpp's fallbacks
    /// break the order for real: Qwen2.5-0.5B's Q2_K turns its Q4_K attn_v into Q5_0 while Q3_K_S
    /// turns Q3_K into Q4_0, so its Q2_K file is the larger.)
    #[test]
    fn monotonic_in_context_and_precision(model_ix in 0usize..56, ctx in 256u64..200_000, extra in 1u64..50_000, q in 0usize..10) {
        let c = catalog();
        let models: Vec<_> = c.models().collect();
        let m = models[model_ix % models.len()];
        let shape = ModelShape::from_entry(m);
        let ladder = q_ladder();
        let lo = inventory(m, ladder[q]);
        let hi = inventory(m, ladder[q + 1]);
        let aligned = lo.tensors.iter().all(|t| t.shape[0] % 256 == 0);
        prop_assert!(!aligned || lo.total_bytes().unwrap() <= hi.total_bytes().unwrap());
        let view = ModelView { inventory: &lo, shape: &shape };
        let a = estimate::place(&view, &[], &PlaceRequest::new(WeightFormat::Gguf(ladder[q]), ctx)).unwrap();
        let b = estimate::place(&view, &[], &PlaceRequest::new(WeightFormat::Gguf(ladder[q]), ctx + extra)).unwrap();
        prop_assert!(a.total_bytes <= b.total_bytes);
        prop_assert_eq!(a.total_bytes, a.weights_bytes + a.kv_cache_bytes + a.compute_bytes + a.overhead_bytes);
    }

    /// Adding a device never turns a fitting plan into a failing one; placements never exceed
    /// any device; totals are the sum of their parts.
    #[test]
    fn adding_a_device_never_breaks_a_fit(model_ix in 0usize..56, dev_ix in 0usize..61, n in 1usize..4, ctx in 512u64..65_536) {
        let c = catalog();
        let models: Vec<_> = c.models().collect();
        let m = models[model_ix % models.len()];
        let gpus: Vec<_> = c.devices().filter(|d| d.kind == vramplan::catalog::DeviceKind::Gpu).collect();
        let d = c.device(&gpus[dev_ix % gpus.len()].id).unwrap();
        let shape = ModelShape::from_entry(m);
        let inv = inventory(m, FileType::Q4_K_M);
        let view = ModelView { inventory: &inv, shape: &shape };
        let mut req = PlaceRequest::new(WeightFormat::Gguf(FileType::Q4_K_M), ctx);
        req.llama_cpp_mut().unwrap().n_gpu_layers = Some(shape.n_layer + 1);
        let before = estimate::place(&view, &vec![d.clone(); n], &req).unwrap();
        let after = estimate::place(&view, &vec![d.clone(); n + 1], &req).unwrap();
        prop_assert!(!before.fits || after.fits, "{} fits on {n} x {} but not on {}", m.id, d.id, n + 1);
        for p in [&before, &after] {
            if p.fits {
                prop_assert!(p.devices.iter().all(|u| u.used_bytes <= u.usable_bytes));
            }
            let sum: u64 = p.devices.iter().map(|u| u.used_bytes).sum::<u64>() + p.host.total_bytes;
            prop_assert_eq!(sum, p.total_bytes);
        }
    }
}

/// Without -ngl, the largest context is the largest at which every layer and the output head
/// sit on the devices (`-ngl n_layer + 1`), the criterion `gpus` uses: one more context step
/// fails that placement.
#[test]
fn max_context_means_everything_on_the_devices() {
    let c = catalog();
    let one = devices(&c, "rtx-3060-12gb", 1);
    let format = WeightFormat::Gguf(FileType::Q4_K_M);
    let (_, mc) = fit(&c, "llama-3.1-8b", format, 8192, &one);
    let mc = mc.expect("an 8B Q4_K_M fits a 12 GB card");
    let m = c.model("llama-3.1-8b").unwrap();
    for (ctx, should_fit) in [(mc, true), (mc + 256, false)] {
        let mut req = PlaceRequest::new(format, ctx);
        req.llama_cpp_mut().unwrap().n_gpu_layers = Some(m.layers + 1);
        let (p, _) = fit_with(&c, "llama-3.1-8b", req, &one);
        assert_eq!(p.fits, should_fit, "ctx {ctx}");
        assert_eq!(p.host.layers, 0);
    }
}
