//! What each device can run, per engine: a placement on a device that cannot run the weight
//! format is no FITS, whatever the memory says.
//!
//! Sources:
//! - vLLM, quantization kernels per architecture: the "Supported Hardware" table of
//!   <https://docs.vllm.ai/en/v0.11.2/features/quantization/> (Volta = SM 7.0, Turing = 7.5,
//!   Ampere = 8.0/8.6, Ada = 8.9, Hopper = 9.0): AWQ from Turing; GPTQ and bitsandbytes from
//!   Volta; none of AWQ, GPTQ, bitsandbytes on AMD GPUs; FP8 W8A8 on Ada, Hopper and AMD GPUs.
//! - vLLM FP8: "FP8 computation is supported on NVIDIA GPUs with compute capability >= 8.9
//!   (Ada Lovelace, Hopper, Blackwell)"; older GPUs run FP8 checkpoints weight-only (W8A16)
//!   through Marlin, which the table above lists from Ampere
//!   (<https://docs.vllm.ai/en/latest/features/quantization/fp8/>). On AMD, FP8 matrix units
//!   exist from CDNA3 (MI300); CDNA2 and RDNA3 have none.
//! - vLLM on NVIDIA needs compute capability 7.0 or higher
//!   (<https://docs.vllm.ai/en/latest/getting_started/installation/gpu/>), and BF16 needs 8.0:
//!   on Volta/Turing vLLM refuses a bf16 checkpoint ("Bfloat16 is only supported on GPUs with
//!   compute capability of at least 8.0") unless told `--dtype half`.
//! - vLLM on AMD (ROCm): MI200 (gfx90a), MI300 (gfx942) and Radeon RX 7900 (gfx1100)
//!   (<https://docs.vllm.ai/en/latest/getting_started/installation/gpu/>, ROCm tab).
//! - llama.cpp runs every GGUF type on each of its backends (CUDA, HIP, Metal, CPU; types
//!   without a fast kernel are dequantized), so every catalogue device runs every GGUF file
//!   (<https://github.com/ggml-org/llama.cpp/blob/master/docs/build.md>).

use super::place::Engine;
use super::weights::WeightFormat;
use crate::catalog::{Arch, Device, DeviceKind};
use crate::ggml::FileType;

/// Why `device` cannot run `format` with `engine`, or `None` when it can (or when the
/// catalogue does not state its architecture: unknown is not refused).
pub fn cannot_run(engine: Engine, format: WeightFormat, device: &Device) -> Option<String> {
    if engine != Engine::Vllm || device.entry.kind != DeviceKind::Gpu {
        return None;
    }
    let arch = device.entry.arch?;
    let why = |what: &str| Some(format!("{} ({}) {what}", device.id, arch.name()));
    if let Some(cc) = arch.compute_capability() {
        if cc < 7.0 {
            return why("is below vLLM's minimum compute capability 7.0");
        }
        return match format {
            WeightFormat::Bf16 | WeightFormat::Gguf(FileType::BF16) if cc < 8.0 => why(
                "cannot run BF16 in vLLM: BF16 needs compute capability 8.0 (Ampere); --quant f16 plans it as FP16 (vLLM --dtype half)",
            ),
            WeightFormat::AwqInt4 if cc < 7.5 => {
                why("cannot run AWQ in vLLM (its kernels start at Turing)")
            }
            WeightFormat::Fp8 if cc < 8.0 => why(
                "cannot run FP8 in vLLM: FP8 W8A8 needs Ada/Hopper (compute capability 8.9), weight-only FP8 (Marlin) needs Ampere",
            ),
            _ => None,
        };
    }
    match (arch, format) {
        (Arch::Rdna3 | Arch::Cdna2 | Arch::Cdna3, WeightFormat::AwqInt4) => {
            why("cannot run AWQ in vLLM (no AWQ kernels for AMD GPUs)")
        }
        (Arch::Rdna3 | Arch::Cdna2 | Arch::Cdna3, WeightFormat::GptqInt4) => {
            why("cannot run GPTQ in vLLM (no GPTQ kernels for AMD GPUs)")
        }
        (Arch::Rdna3 | Arch::Cdna2 | Arch::Cdna3, WeightFormat::BnbNf4 | WeightFormat::BnbInt8) => {
            why("cannot run bitsandbytes in vLLM (not supported on AMD GPUs)")
        }
        (Arch::Rdna3 | Arch::Cdna2, WeightFormat::Fp8) => {
            why("cannot run FP8 in vLLM (AMD FP8 matrix units start at CDNA3, MI300)")
        }
        _ => None,
    }
}

/// The first device of `devices` that cannot run the request, with the reason.
pub fn first_refusal(engine: Engine, format: WeightFormat, devices: &[Device]) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for d in devices {
        if seen.contains(&d.id.as_str()) {
            continue;
        }
        seen.push(&d.id);
        if let Some(r) = cannot_run(engine, format, d) {
            return Some(r);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn dev(id: &str) -> Device {
        Catalog::embedded().unwrap().device(id).unwrap()
    }

    #[test]
    fn vllm_formats_by_generation() {
        let v = Engine::Vllm;
        for id in ["v100-32gb", "t4"] {
            assert!(cannot_run(v, WeightFormat::Fp8, &dev(id)).is_some(), "{id}");
            assert!(
                cannot_run(v, WeightFormat::Gguf(FileType::BF16), &dev(id)).is_some(),
                "{id}"
            );
            assert!(cannot_run(v, WeightFormat::GptqInt4, &dev(id)).is_none());
        }
        assert!(cannot_run(v, WeightFormat::AwqInt4, &dev("v100-32gb")).is_some());
        assert!(cannot_run(v, WeightFormat::AwqInt4, &dev("t4")).is_none());
        // Weight-only FP8 through Marlin on Ampere; W8A8 on Ada and Hopper.
        for id in ["a100-80gb-sxm", "rtx-3090", "l40s", "h100-sxm", "b200"] {
            assert!(cannot_run(v, WeightFormat::Fp8, &dev(id)).is_none(), "{id}");
        }
        assert!(cannot_run(v, WeightFormat::Fp8, &dev("mi300x")).is_none());
        assert!(cannot_run(v, WeightFormat::Fp8, &dev("mi250x")).is_some());
        assert!(cannot_run(v, WeightFormat::AwqInt4, &dev("mi300x")).is_some());
    }

    #[test]
    fn pascal_is_below_vllms_minimum() {
        // No catalogue entry is Pascal; a user's P40 entry is (the branch is reachable).
        let mut p40 = dev("v100-32gb");
        p40.entry.arch = Some(Arch::Pascal);
        let why = cannot_run(Engine::Vllm, WeightFormat::GptqInt4, &p40).unwrap();
        assert!(why.contains("minimum compute capability 7.0"), "{why}");
        assert!(cannot_run(Engine::LlamaCpp, WeightFormat::Gguf(FileType::Q4_0), &p40).is_none());
        // A catalogue file can name the generation.
        #[derive(serde::Deserialize)]
        struct A {
            arch: Arch,
        }
        let a: A = toml::from_str("arch = \"pascal\"").unwrap();
        assert_eq!(a.arch, Arch::Pascal);
    }

    #[test]
    fn llama_cpp_runs_every_gguf_everywhere() {
        let c = Catalog::embedded().unwrap();
        for e in c.devices() {
            let d = Device::from_entry(e.clone(), None);
            for ft in [FileType::Q4_K_M, FileType::BF16, FileType::IQ2_XXS] {
                assert!(cannot_run(Engine::LlamaCpp, WeightFormat::Gguf(ft), &d).is_none());
            }
        }
    }

    #[test]
    fn every_catalogue_device_states_its_architecture() {
        let c = Catalog::embedded().unwrap();
        for e in c.devices() {
            let a = e.arch.unwrap_or_else(|| panic!("{} has no arch", e.id));
            assert_eq!(
                a.compute_capability().is_some(),
                e.kind == DeviceKind::Gpu && e.vendor == "nvidia",
                "{}",
                e.id
            );
        }
    }
}
