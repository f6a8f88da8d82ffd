//! llama.cpp's per-tensor recipe, reproduced: for probe models whose shapes trigger its rules
//! (GQA >= 4, tied output, 8 experts, 80 layers = LLM_TYPE_70B), every tensor's type after
//! `llama-quantize` to every file type, without an importance matrix and with one (`--imatrix`,
//! which IQ1/IQ2/IQ3_XXS/IQ3_XS/Q2_K_S require), is committed in tests/data/recipe (made by
//! tools/recipe_ref/make_ref.py); `recipe::apply` must give the same.

use std::path::Path;

use vramplan::arch::recipe::{self, RecipeContext};
use vramplan::arch::{Inventory, TensorSpec};
use vramplan::ggml::{FileType, GgmlType};

#[derive(serde::Deserialize)]
struct Probe {
    model: String,
    n_layer: u32,
    n_head: u32,
    n_head_kv: u32,
    n_expert: u32,
    tensors: Vec<ProbeTensor>,
    file_types: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    file_types_imatrix:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

#[derive(serde::Deserialize)]
struct ProbeTensor {
    name: String,
    shape: Vec<u64>,
    source_type: String,
}

fn check(file: &str) -> usize {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/recipe")
        .join(file);
    let probe: Probe = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // Every file type llama.cpp knows (but MXFP4_MOE, for MoE files only, and F32) is in the
    // reference, with an imatrix; without one, all but those that require it.
    for ft in FileType::ALL {
        if matches!(ft, FileType::MXFP4_MOE | FileType::F32) {
            continue;
        }
        assert!(
            probe.file_types_imatrix.contains_key(ft.name()),
            "{}: no imatrix reference for {ft}",
            probe.model
        );
        assert_eq!(
            probe.file_types.contains_key(ft.name()),
            !ft.requires_imatrix(),
            "{}: {ft} without imatrix",
            probe.model
        );
    }
    let mut checked = 0;
    let mut mismatches = Vec::new();
    let runs = probe
        .file_types
        .iter()
        .map(|r| (r, false))
        .chain(probe.file_types_imatrix.iter().map(|r| (r, true)));
    for ((ft_name, expected), has_imatrix) in runs {
        let ctx = RecipeContext {
            arch: "llama".into(),
            n_layer: probe.n_layer,
            n_head: probe.n_head,
            n_head_kv: probe.n_head_kv,
            n_expert: probe.n_expert,
            has_imatrix,
        };
        let ft: FileType = ft_name.parse().unwrap();
        let mut inv = Inventory {
            tensors: probe
                .tensors
                .iter()
                .map(|t| {
                    TensorSpec::new(
                        &t.name,
                        &t.shape,
                        t.source_type.parse::<GgmlType>().unwrap(),
                    )
                })
                .collect(),
        };
        recipe::apply(ft, &ctx, &mut inv);
        for t in &inv.tensors {
            let want = &expected[&t.name];
            if t.ty.name() != want {
                mismatches.push(format!(
                    "{} {ft_name} (imatrix: {has_imatrix}) {}: vramplan {} llama.cpp {want}",
                    probe.model, t.name, t.ty
                ));
            }
            checked += 1;
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first: {:#?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(12)]
    );
    checked
}

#[test]
fn dense_gqa4() {
    assert!(check("dense-gqa4.json") > 2000);
}

#[test]
fn dense_mha_tied() {
    assert!(check("dense-mha-tied.json") > 1000);
}

#[test]
fn moe_8_experts() {
    assert!(check("moe-8x.json") > 1000);
}

#[test]
fn llama_80_layers_is_the_70b_type() {
    assert!(check("llama-80-layers.json") > 10000);
}

/// The real SmolLM2-135M quantized by llama-quantize to 19 file types without an importance
/// matrix and to all 32 with one (computed by llama-imatrix; IQ1_S..IQ3_XS and Q2_K_S need it):
/// the catalogue entry expanded by the recipe gives every tensor's type and exactly the file's
/// tensor bytes.
#[test]
fn smollm2_catalogue_estimate_equals_real_files_for_every_file_type() {
    #[derive(serde::Deserialize)]
    struct Real {
        file_types: std::collections::BTreeMap<String, RealType>,
        file_types_imatrix: std::collections::BTreeMap<String, RealType>,
    }
    #[derive(serde::Deserialize)]
    struct RealType {
        tensor_bytes: u64,
        types: std::collections::BTreeMap<String, String>,
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/recipe/smollm2-135m.json");
    let real: Real = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let catalog = vramplan::catalog::Catalog::embedded().unwrap();
    let model = catalog.model("smollm2-135m").unwrap();
    assert!(real.file_types.len() >= 19);
    for ft in FileType::ALL {
        if *ft != FileType::MXFP4_MOE {
            assert!(real.file_types_imatrix.contains_key(ft.name()), "{ft}");
        }
    }
    let runs = real
        .file_types
        .iter()
        .map(|r| (r, false))
        .chain(real.file_types_imatrix.iter().map(|r| (r, true)));
    for ((ft_name, r), imatrix) in runs {
        let ft: FileType = ft_name.parse().unwrap();
        assert!(imatrix || !ft.requires_imatrix(), "{ft_name}");
        let inv = vramplan::arch::inventory_with_imatrix(model, ft, imatrix);
        for t in &inv.tensors {
            let want = r.types.get(&t.name).unwrap_or_else(|| {
                panic!(
                    "{ft_name} (imatrix {imatrix}): {} not in the real file",
                    t.name
                )
            });
            // llama-quantize leaves F32 source tensors as they are; our F32 file type keeps them too.
            assert_eq!(
                t.ty.name(),
                want,
                "{ft_name} (imatrix {imatrix}) {}",
                t.name
            );
        }
        assert_eq!(inv.tensors.len(), r.types.len(), "{ft_name}");
        assert_eq!(
            inv.total_bytes(),
            Some(r.tensor_bytes),
            "{ft_name} (imatrix {imatrix})"
        );
    }
}
