//! Pure estimates: weights, KV cache, compute buffers, overheads, placement on devices.

pub mod calibration;
pub mod capability;
pub mod compute;
pub mod host;
pub mod kv;
pub mod perf;
pub mod place;
pub mod quality;
pub mod speed;
pub mod weights;

pub use kv::KvType;
pub use place::{
    max_context, place, DeviceUse, Engine, EngineConfig, EngineOptions, HostUse, LaunchModel,
    Layout, LlamaCppConfig, ModelView, PlaceError, PlaceNote, PlaceRequest, Placement, Prepared,
    ReferenceConfig, VllmConfig,
};
pub use weights::WeightFormat;
