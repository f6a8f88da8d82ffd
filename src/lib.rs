//! vramplan: plan, price and prove LLM inference on real hardware.
//!
//! Every question reduces to a tensor inventory (see [`arch`] and [`gguf`]), which the estimator,
//! the planner and the reference engine all consume with the same per-type facts ([`ggml`]).
//! Imports go downward only: `app` (in the binary) -> `plan`, `measure`, `engine`, `hw`, `report`
//! -> `estimate`, `gguf`, `quant`, `kernels` -> `arch`, `ggml`, `catalog`, `units`, `error`, `files`.

pub mod arch;
pub mod catalog;
pub mod engine;
pub mod error;
pub mod estimate;
pub mod files;
pub mod ggml;
pub mod gguf;
pub mod hf;
pub mod hw;
pub mod input;
pub mod kernels;
pub mod local;
pub mod measure;
pub mod plan;
pub mod quant;
pub mod quantize;
pub mod report;
pub mod units;
