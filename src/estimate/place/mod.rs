//! Placement of a model on devices and the verdict, one module per engine: llama.cpp's layer
//! split (mixed cards, partial CPU offload, MoE experts in host RAM), vLLM's tensor/pipeline
//! parallelism, the reference engine on the CPU. Memory is never pooled across cards: every
//! device must hold what is placed on it.
//!
//! An engine is one row of [`Engine`] (its names, the formats it reads, its calibration key,
//! how a search may combine devices), one configuration type and one module here holding its
//! placer and its launch command.

pub mod llama_cpp;
pub mod reference;
pub mod vllm;

use serde::Serialize;

use super::compute::GPU_CONTEXT_OVERHEAD;
use super::kv::KvType;
use super::weights::WeightFormat;
use crate::arch::{Inventory, ModelShape};
use crate::catalog::{Device, DeviceKind};

pub use llama_cpp::LlamaCppConfig;
pub use reference::ReferenceConfig;
pub use vllm::VllmConfig;

/// An inference engine the estimator places models for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    LlamaCpp,
    Vllm,
    /// vramplan's own reference engine (`vramplan run`), on the CPU.
    #[serde(rename = "vramplan")]
    Reference,
}

/// The facts of one engine.
#[derive(Debug)]
pub struct EngineRow {
    pub engine: Engine,
    /// The name `--engine` takes first and error messages use.
    pub name: &'static str,
    /// Other spellings `--engine` accepts.
    pub aliases: &'static [&'static str],
    /// How reports title it.
    pub display: &'static str,
    /// What error messages call it when it refuses an input.
    pub called: &'static str,
    /// Loads GGUF files (else safetensors checkpoints, and GGUF only as BF16/F16 weights).
    pub reads_gguf: bool,
    /// The weight format it loads without being told.
    pub default_quant: &'static str,
    /// The `engine` column of data/speed/measurements.csv whose efficiencies it uses.
    pub calibration_key: &'static str,
    /// Splits layers across cards of different models (a search may pair them).
    pub mixes_cards: bool,
    /// Runs on discrete GPUs only (a search skips Apple chips and CPU hosts).
    pub gpu_only: bool,
}

const ENGINES: [EngineRow; 3] = [
    EngineRow {
        engine: Engine::LlamaCpp,
        name: "llama.cpp",
        aliases: &["llama-cpp", "llamacpp", "llama"],
        display: "llama.cpp",
        called: "llama.cpp",
        reads_gguf: true,
        default_quant: "Q4_K_M",
        calibration_key: "llama.cpp",
        mixes_cards: true,
        gpu_only: false,
    },
    EngineRow {
        engine: Engine::Vllm,
        name: "vllm",
        aliases: &[],
        display: "vLLM",
        called: "vLLM",
        reads_gguf: false,
        default_quant: "bf16",
        calibration_key: "vllm",
        mixes_cards: false,
        gpu_only: true,
    },
    EngineRow {
        engine: Engine::Reference,
        name: "vramplan",
        aliases: &["reference"],
        display: "vramplan reference engine",
        called: "the vramplan engine",
        reads_gguf: true,
        default_quant: "Q4_K_M",
        // Its kernels follow llama.cpp's CPU path.
        calibration_key: "llama.cpp",
        mixes_cards: false,
        gpu_only: false,
    },
];

impl Engine {
    /// Every engine, in table order.
    pub fn all() -> impl Iterator<Item = Engine> {
        ENGINES.iter().map(|r| r.engine)
    }

    pub fn row(self) -> &'static EngineRow {
        ENGINES
            .iter()
            .find(|r| r.engine == self)
            .expect("every engine has a row in ENGINES")
    }

    /// An engine by its name or an alias.
    pub fn from_name(s: &str) -> Option<Engine> {
        ENGINES
            .iter()
            .find(|r| r.name == s || r.aliases.contains(&s))
            .map(|r| r.engine)
    }

    /// "llama.cpp, vllm or vramplan".
    pub fn names() -> String {
        let names: Vec<&str> = ENGINES.iter().map(|r| r.name).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }

    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The configuration an engine takes, from flags that each engine reads or ignores.
    pub fn config(self, o: &EngineOptions) -> EngineConfig {
        match self {
            Engine::LlamaCpp => EngineConfig::LlamaCpp(LlamaCppConfig::from_options(o)),
            Engine::Vllm => EngineConfig::Vllm(VllmConfig::from_options(o)),
            Engine::Reference => EngineConfig::Reference(ReferenceConfig::from_options(o)),
        }
    }

    /// The KV cache type it actually allocates for a requested one (llama.cpp has no fp8 cache
    /// and stores q8_0).
    pub fn cache_type(self, kv: KvType) -> KvType {
        match (self, kv) {
            (Engine::LlamaCpp, KvType::Fp8) => KvType::Q8_0,
            (_, k) => k,
        }
    }

    /// Why the engine cannot take `format` with `kv` (the message names the flag to change).
    pub fn refuse(self, format: WeightFormat, quant: &str, kv: KvType) -> Option<String> {
        match self {
            Engine::LlamaCpp | Engine::Reference => llama_cpp::refuse(self, format, quant, kv),
            Engine::Vllm => vllm::refuse(format, quant, kv),
        }
    }

    /// The command that serves `p` with this engine.
    pub fn launch_command(
        self,
        model: &LaunchModel<'_>,
        req: &PlaceRequest,
        p: &Placement,
    ) -> String {
        match &req.engine {
            EngineConfig::LlamaCpp(c) => llama_cpp::launch_command(model, req, c, p),
            EngineConfig::Vllm(c) => vllm::launch_command(model, req, c, p),
            EngineConfig::Reference(_) => reference::launch_command(model, req),
        }
    }
}

/// The flags every engine's configuration is built from (each reads the ones it has).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub n_ubatch: u64,
    pub flash_attn: bool,
    pub swa_full: bool,
    pub gpu_memory_utilization: f64,
    pub n_gpu_layers: Option<u32>,
    pub n_cpu_moe: Option<u32>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            n_ubatch: 512,
            flash_attn: true,
            swa_full: false,
            gpu_memory_utilization: 0.9,
            n_gpu_layers: None,
            n_cpu_moe: None,
        }
    }
}

/// One engine's own settings.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineConfig {
    LlamaCpp(LlamaCppConfig),
    Vllm(VllmConfig),
    Reference(ReferenceConfig),
}

/// The model as a launch command names it.
pub struct LaunchModel<'a> {
    pub id: &'a str,
    /// The GGUF file planned, when the model came from one.
    pub path: Option<&'a str>,
    /// Its Hugging Face repository, when known.
    pub hf_repo: Option<String>,
    pub n_layer: u32,
}

/// What to place.
#[derive(Debug, Clone)]
pub struct PlaceRequest {
    pub format: WeightFormat,
    /// GGUF weights quantized with an importance matrix (changes a few tensor types; always
    /// so for the file types that require one).
    pub imatrix: bool,
    /// Tokens per sequence.
    pub ctx: u64,
    /// Sequences served at once (llama-server `-np`, vLLM concurrent requests).
    pub parallel: u64,
    pub kv_type: KvType,
    pub engine: EngineConfig,
    /// RAM of the host beside the accelerators; `None`: unknown (the placement states what
    /// the host needs and the verdict covers the devices only).
    pub host_ram_bytes: Option<u64>,
    /// The network between nodes (`--network`); `None`: the default for the devices.
    pub network: Option<super::speed::Network>,
}

impl PlaceRequest {
    /// llama.cpp with its defaults.
    pub fn new(format: WeightFormat, ctx: u64) -> PlaceRequest {
        PlaceRequest {
            format,
            imatrix: false,
            ctx,
            parallel: 1,
            kv_type: KvType::F16,
            engine: EngineConfig::LlamaCpp(LlamaCppConfig::default()),
            host_ram_bytes: None,
            network: None,
        }
    }

    pub fn engine(&self) -> Engine {
        match self.engine {
            EngineConfig::LlamaCpp(_) => Engine::LlamaCpp,
            EngineConfig::Vllm(_) => Engine::Vllm,
            EngineConfig::Reference(_) => Engine::Reference,
        }
    }

    /// llama.cpp's settings, when the request is for llama.cpp.
    pub fn llama_cpp_mut(&mut self) -> Option<&mut LlamaCppConfig> {
        match &mut self.engine {
            EngineConfig::LlamaCpp(c) => Some(c),
            _ => None,
        }
    }

    /// Asks for every layer and the output head on the accelerators (llama.cpp `-ngl`; other
    /// engines place everything anyway).
    pub fn all_layers_on_devices(&mut self, n_layer: u32) {
        if let Some(c) = self.llama_cpp_mut() {
            c.n_gpu_layers = Some(n_layer + 1);
        }
    }
}

/// Memory use of one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceUse {
    pub id: String,
    pub name: String,
    pub memory_bytes: u64,
    /// What the accelerator may use (Apple: the GPU share; vLLM: gpu_memory_utilization).
    pub usable_bytes: u64,
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    pub compute_bytes: u64,
    pub overhead_bytes: u64,
    pub used_bytes: u64,
    pub free_bytes: i64,
    /// Number of repeating layers placed here.
    pub layers: u32,
    /// First and last layer index, when any.
    pub layer_range: Option<(u32, u32)>,
    pub holds_output: bool,
}

/// What one device holds, before the sums.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Load {
    pub usable: u64,
    pub weights: u64,
    pub kv: u64,
    pub compute: u64,
    pub overhead: u64,
    pub holds_output: bool,
}

impl DeviceUse {
    pub(crate) fn new(d: &Device, l: Load, layers: &[u32]) -> DeviceUse {
        let used = l.weights + l.kv + l.compute + l.overhead;
        DeviceUse {
            id: d.id.clone(),
            name: d.name.clone(),
            memory_bytes: d.memory_bytes,
            usable_bytes: l.usable,
            weights_bytes: l.weights,
            kv_cache_bytes: l.kv,
            compute_bytes: l.compute,
            overhead_bytes: l.overhead,
            used_bytes: used,
            free_bytes: l.usable as i64 - used as i64,
            layers: layers.len() as u32,
            layer_range: layers.first().zip(layers.last()).map(|(a, b)| (*a, *b)),
            holds_output: l.holds_output,
        }
    }
}

/// Host RAM needed beside the accelerators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostUse {
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    pub compute_bytes: u64,
    /// What the OS and other processes keep ([`super::compute::CPU_HOST_RESERVE`]); zero where
    /// the host is not a separate resource (no device, a CPU-only host, Apple unified memory).
    pub overhead_bytes: u64,
    /// Everything above: the host RAM this placement needs.
    pub total_bytes: u64,
    /// Layers left on the CPU.
    pub layers: u32,
    /// The host's RAM, when known (`--ram`, a catalogue host, this machine).
    pub ram_bytes: Option<u64>,
    /// `ram_bytes - total_bytes`, when the RAM is known.
    pub free_bytes: Option<i64>,
}

impl HostUse {
    /// Nothing in host RAM.
    pub const NONE: HostUse = HostUse {
        weights_bytes: 0,
        kv_cache_bytes: 0,
        compute_bytes: 0,
        overhead_bytes: 0,
        total_bytes: 0,
        layers: 0,
        ram_bytes: None,
        free_bytes: None,
    };
}

/// How the model is split over the devices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Layout {
    /// Whole layers per device (llama.cpp, the reference engine).
    Layers {
        /// Layers on accelerators (llama.cpp `-ngl`), counting the output head as one.
        n_gpu_layers: u32,
        /// Layers whose MoE expert tensors stay in host RAM (`--n-cpu-moe`), counted from the
        /// first layer.
        n_cpu_moe: u32,
    },
    /// Every weight matrix sharded over a node (tensor parallel), nodes in a pipeline (vLLM).
    Sharded {
        tensor_parallel: u32,
        pipeline_parallel: u32,
        /// Sequences of `ctx` tokens the KV pool holds, when devices are given.
        max_concurrency: Option<u64>,
    },
}

/// What a placement says beside its figures: why it does not fit, or what it costs to fit.
/// Data here; `vramplan::report::words` words it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum PlaceNote {
    /// No device given: the figures are the memory needed.
    NoDevice,
    /// The reference engine without a device: the resident memory of `vramplan run`.
    ReferenceResident,
    /// A CPU-only host needs `bytes` of RAM in all.
    NeedsRam { bytes: u64 },
    /// The device shortest of memory and by how much.
    DeviceShort { id: String, bytes: u64 },
    /// Fits with `weights_bytes` of weights left in host RAM: `layers` whole layers and the MoE
    /// experts of `expert_layers` layers.
    Offloaded {
        weights_bytes: u64,
        layers: u32,
        expert_layers: u32,
    },
    /// Apple: the GPU share and the CPU-side buffers exceed unified memory.
    UnifiedMemoryExceeded,
    /// vLLM: weights and activations leave no KV pool, short by `bytes` per GPU.
    NoKvPool { bytes: u64 },
    /// vLLM: the KV pool holds `holds` of the `sequences` asked for.
    KvPoolShort { holds: u64, sequences: u64 },
    /// The host's RAM is short by `short_bytes`.
    HostRamShort {
        short_bytes: u64,
        needs_bytes: u64,
        ram_bytes: u64,
    },
    /// A device of the set cannot run the format with this engine (the reason, from
    /// [`super::capability`]).
    CannotRun(String),
}

/// The result of placing a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    pub fits: bool,
    /// Why it does not fit, or what it costs to fit (offload), most important first.
    pub notes: Vec<PlaceNote>,
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    pub compute_bytes: u64,
    pub overhead_bytes: u64,
    pub total_bytes: u64,
    pub devices: Vec<DeviceUse>,
    pub host: HostUse,
    pub layout: Layout,
    /// Why a device of the set cannot run the weight format with this engine (then `fits` is
    /// false whatever the memory says).
    pub cannot_run: Option<String>,
    /// Hosts the devices sit in: GPUs pack `GPUS_PER_NODE` to a server, each Apple machine or
    /// CPU host is its own. A layer split over several is llama.cpp RPC between them.
    #[serde(skip)]
    pub hosts: u32,
}

impl Placement {
    /// A placement that fits, with nothing in host RAM and totals the sum of the parts.
    fn new(
        [weights, kv, compute, overhead]: [u64; 4],
        devices: Vec<DeviceUse>,
        layout: Layout,
    ) -> Placement {
        Placement {
            fits: true,
            notes: Vec::new(),
            weights_bytes: weights,
            kv_cache_bytes: kv,
            compute_bytes: compute,
            overhead_bytes: overhead,
            total_bytes: weights + kv + compute + overhead,
            devices,
            host: HostUse::NONE,
            layout,
            cannot_run: None,
            hosts: 1,
        }
    }

    fn verdict(mut self, fits: bool, note: Option<PlaceNote>) -> Placement {
        self.fits = fits;
        self.notes = note.into_iter().collect();
        self
    }

    /// llama.cpp `-ngl`: layers on accelerators, the output head counting as one (0 for other
    /// layouts).
    pub fn n_gpu_layers(&self) -> u32 {
        match self.layout {
            Layout::Layers { n_gpu_layers, .. } => n_gpu_layers,
            Layout::Sharded { .. } => 0,
        }
    }

    /// llama.cpp `--n-cpu-moe`: layers whose experts stay in host RAM.
    pub fn n_cpu_moe(&self) -> u32 {
        match self.layout {
            Layout::Layers { n_cpu_moe, .. } => n_cpu_moe,
            Layout::Sharded { .. } => 0,
        }
    }

    pub fn tensor_parallel(&self) -> u32 {
        match self.layout {
            Layout::Sharded {
                tensor_parallel, ..
            } => tensor_parallel,
            Layout::Layers { .. } => 1,
        }
    }

    pub fn pipeline_parallel(&self) -> u32 {
        match self.layout {
            Layout::Sharded {
                pipeline_parallel, ..
            } => pipeline_parallel,
            Layout::Layers { .. } => 1,
        }
    }

    /// vLLM: sequences of `ctx` tokens the KV pool holds.
    pub fn max_concurrency(&self) -> Option<u64> {
        match self.layout {
            Layout::Sharded {
                max_concurrency, ..
            } => max_concurrency,
            Layout::Layers { .. } => None,
        }
    }
}

/// The model as the estimator sees it.
pub struct ModelView<'a> {
    pub inventory: &'a Inventory,
    pub shape: &'a ModelShape,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PlaceError {
    #[error("vLLM tensor parallelism needs identical GPUs, got {0}")]
    MixedDevicesForVllm(String),
    #[error("vLLM runs on GPUs; `{0}` is not one")]
    NotAGpu(String),
    #[error("{0} attention heads cannot be split over {1} tensor-parallel GPUs")]
    HeadsNotDivisible(u32, u32),
    #[error("KV cache type {0} needs row lengths that are a multiple of 32 (got {1})")]
    KvRow(&'static str, u64),
    #[error("llama.cpp cannot use a quantized KV cache type (q8_0/q4_0) without flash attention")]
    QuantizedKvNeedsFlashAttention,
    #[error("context of {0} tokens is too large to size")]
    Overflow(u64),
    #[error("`{0}` is a CPU host: it cannot sit beside an Apple chip, whose memory is the host's")]
    HostBesideApple(String),
    #[error("one host per plan: `{0}` are all CPU hosts")]
    TwoHosts(String),
}

/// Most tokens (context x sequences) the estimator sizes: far beyond any model's context, and
/// small enough that every size product below stays far from u64 overflow (2^32 tokens x 1024
/// heads x 65536 ubatch x 4 bytes < 2^60).
pub const MAX_TOKENS: u64 = 1 << 32;

fn sizable(req: &PlaceRequest) -> bool {
    req.ctx
        .checked_mul(req.parallel.max(1))
        .is_some_and(|c| c <= MAX_TOKENS)
}

/// Places the model on `devices` (empty: report what it needs, everything in one pool).
pub fn place(
    model: &ModelView<'_>,
    devices: &[Device],
    req: &PlaceRequest,
) -> Result<Placement, PlaceError> {
    if !sizable(req) {
        return Err(PlaceError::Overflow(req.ctx));
    }
    let p = match &req.engine {
        EngineConfig::LlamaCpp(c) => {
            let w = llama_cpp::weights_by_place(model, req.format);
            llama_cpp::place(model, devices, req, c, &w)
        }
        EngineConfig::Vllm(c) => vllm::place(model, devices, req, c),
        EngineConfig::Reference(c) => reference::place(model, devices, req, c),
    }?;
    Ok(finish(p, devices, req))
}

/// What every engine's placement goes through: the host's share, then whether the devices
/// run the format at all.
fn finish(p: Placement, devices: &[Device], req: &PlaceRequest) -> Placement {
    let mut p = super::host::account(p, devices, req);
    p.hosts = super::speed::host_count(devices);
    if let Some(why) = super::capability::first_refusal(req.engine(), req.format, devices) {
        p.fits = false;
        p.notes = vec![PlaceNote::CannotRun(why.clone())];
        p.cannot_run = Some(why);
    }
    p
}

/// The overhead of a process on a device (the CUDA/ROCm context of a GPU).
fn overhead_of(d: &Device) -> u64 {
    match d.entry.kind {
        DeviceKind::Gpu => GPU_CONTEXT_OVERHEAD,
        DeviceKind::Apple | DeviceKind::Cpu => 0,
    }
}

/// The largest context per sequence (up to the model's maximum) at which the placement fits
/// entirely on the accelerators, or `None` when even 256 tokens do not.
pub fn max_context(model: &ModelView<'_>, devices: &[Device], req: &PlaceRequest) -> Option<u64> {
    Prepared::new(model, req).max_context(devices, req)
}

/// The context-independent part of a placement (which weight bytes go where), computed once for
/// many placements of one model and format: a `gpus` search, a max-context bisection.
pub struct Prepared<'m, 'a> {
    model: &'m ModelView<'a>,
    format: WeightFormat,
    weights: Option<llama_cpp::WeightsByPlace>,
}

impl<'m, 'a> Prepared<'m, 'a> {
    pub fn new(model: &'m ModelView<'a>, req: &PlaceRequest) -> Self {
        Prepared {
            model,
            format: req.format,
            weights: matches!(req.engine, EngineConfig::LlamaCpp(_))
                .then(|| llama_cpp::weights_by_place(model, req.format)),
        }
    }

    /// [`place`] for a request of the same model and format.
    pub fn place(&self, devices: &[Device], req: &PlaceRequest) -> Result<Placement, PlaceError> {
        match (&self.weights, &req.engine) {
            (Some(w), EngineConfig::LlamaCpp(c)) if req.format == self.format && sizable(req) => {
                llama_cpp::place(self.model, devices, req, c, w).map(|p| finish(p, devices, req))
            }
            _ => place(self.model, devices, req),
        }
    }

    /// [`max_context`] for a request of the same model and format.
    pub fn max_context(&self, devices: &[Device], req: &PlaceRequest) -> Option<u64> {
        max_context_with(self.model, devices, req, |r| self.place(devices, r))
    }
}

fn max_context_with(
    model: &ModelView<'_>,
    devices: &[Device],
    req: &PlaceRequest,
    place_at: impl Fn(&PlaceRequest) -> Result<Placement, PlaceError>,
) -> Option<u64> {
    // Without -ngl, "fits" means every layer and the output head on the accelerators: ask for
    // exactly that placement instead of letting `place` try every smaller -ngl first.
    let mut base = req.clone();
    if !devices.is_empty() {
        if let Some(c) = base.llama_cpp_mut() {
            if c.n_gpu_layers.is_none() {
                c.n_gpu_layers = Some(model.shape.n_layer + 1);
            }
        }
    }
    let fits_at = |ctx: u64| {
        let mut r = base.clone();
        r.ctx = ctx;
        place_at(&r).is_ok_and(|p| p.fits)
    };
    let cap = model.shape.max_context.max(256);
    if !fits_at(256) {
        return None;
    }
    if fits_at(cap) {
        return Some(cap);
    }
    let (mut lo, mut hi) = (256u64, cap);
    while hi - lo > 256 {
        let mid = (lo + hi) / 2 / 256 * 256;
        let mid = mid.max(lo + 256);
        if fits_at(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant has exactly one row, and every name and alias parses back to it.
    #[test]
    fn one_row_per_engine() {
        for e in [Engine::LlamaCpp, Engine::Vllm, Engine::Reference] {
            assert_eq!(ENGINES.iter().filter(|r| r.engine == e).count(), 1, "{e:?}");
            let row = e.row();
            assert_eq!(Engine::from_name(row.name), Some(e));
            for a in row.aliases {
                assert_eq!(Engine::from_name(a), Some(e), "{a}");
            }
        }
        assert_eq!(Engine::all().count(), ENGINES.len());
        assert_eq!(Engine::from_name("tgi"), None);
        assert_eq!(Engine::names(), "llama.cpp, vllm or vramplan");
    }

    /// The JSON `engine` values are a public interface.
    #[test]
    fn json_names_are_stable() {
        let json = |e: Engine| serde_json::to_string(&e).unwrap();
        assert_eq!(json(Engine::LlamaCpp), "\"llama_cpp\"");
        assert_eq!(json(Engine::Vllm), "\"vllm\"");
        assert_eq!(json(Engine::Reference), "\"vramplan\"");
    }
}
