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
//! | 1 | [`units`], [`files`] | byte and rate units, significant digits; atomic output files |
//! | 2 | [`ggml`] | one row of facts per ggml type; file types; llama.cpp constants |
//! | 3 | [`arch::table`](arch::table) | one row per GGUF architecture (imports nothing) |
//! | 4 | [`catalog`] | models.toml and hardware.toml: load, validate, look up |
//! | 5 | [`arch`] | architecture -> tensor inventory and shape; tensor roles; the per-tensor recipe |
//! | 6 | [`gguf`], [`hf`] | GGUF reader/writer; Hugging Face config and safetensors |
//! | 7 | [`quant`] | per-type codecs (quantize, dequantize) |
//! | 8 | [`kernels`] | dot products and matvec, SIMD with scalar twins |
//! | 9 | [`quantize`], [`local`] | `vramplan quantize`: file-type plans; local model stores (HF cache, Ollama) |
//! | 10 | [`estimate`] | pure estimates: weights, KV, compute buffers, placement per engine, tok/s |
//! | 11 | [`input`] | a model as the user named it (catalogue, file, local store) -> estimator input |
//! | 12 | [`engine`] | the reference inference engine |
//! | 13 | [`hw`] | this machine's devices and bandwidth |
//! | 14 | [`measure`], [`plan`] | measured runs and validation; device search, requests, cost |
//! | 15 | [`report`] | renderers: table, json, csv, markdown |
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
