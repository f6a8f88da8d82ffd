//! vramplan: plan, price and prove LLM inference on real hardware.
//!
//! Every question reduces to a tensor inventory (see [`arch`] and [`gguf`]), which the estimator,
//! the planner and the reference engine all consume with the same per-type facts ([`ggml`]).
//!
//! # Layers
//!
//! Lowest first. A module imports only from its own tree or from a layer listed before its own
//! (`tools/check_house.py` checks it; ARCHITECTURE.md says what lives where):
//!
//! | layer | modules | what lives there |
//! |---|---|---|
//! | 1 | [`units`], [`files`] | byte and rate units; atomic output files |
//! | 2 | [`ggml`] | one row of facts per ggml type; file-type recipes |
//! | 3 | [`catalog`] | models.toml and hardware.toml: load, validate, look up |
//! | 4 | [`arch`] | architecture -> tensor inventory and shape |
//! | 5 | [`gguf`], [`hf`] | GGUF reader/writer; Hugging Face config and safetensors |
//! | 6 | [`quant`] | per-type codecs (quantize, dequantize) |
//! | 7 | [`kernels`] | dot products and matvec, SIMD with scalar twins |
//! | 8 | [`quantize`] | `vramplan quantize`: file-type plans over the codecs |
//! | 9 | [`estimate`] | pure estimates: weights, KV, compute buffers, placement per engine, tok/s |
//! | 10 | [`engine`] | the reference inference engine |
//! | 11 | [`hw`] | this machine's devices and bandwidth |
//! | 12 | [`measure`], [`plan`] | measured runs and validation; device search, requests, cost |
//! | 13 | [`report`] | renderers: table, json, csv, markdown |
//!
//! The binary (`src/main.rs`, `src/cli.rs`, `src/app/`) sits above them all: arguments ->
//! request -> library call -> report. Nothing in the library prints, touches clap or anyhow,
//! or exits.

pub mod arch;
pub mod catalog;
pub mod engine;
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
