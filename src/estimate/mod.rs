//! Pure estimates: weights, KV cache, compute buffers, overheads, placement on devices.

pub mod calibration;
pub mod capability;
pub mod compute;
pub mod fit;
pub mod host;
pub mod kv;
pub mod perf;
pub mod quality;
pub mod speed;
pub mod weights;

pub use fit::{
    max_context, place, DeviceUse, Engine, FitError, FitRequest, HostUse, ModelView, Placement,
    Prepared,
};
pub use kv::KvType;
pub use weights::WeightFormat;
