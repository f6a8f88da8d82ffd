//! Pure estimates: weights, KV cache, compute buffers, overheads, placement on devices.

pub mod kv;
