//! Compute buffers and fixed overheads, as the engines allocate them. Each formula is an
//! approximation of the allocator's peak and says where it comes from.
//!
//! llama.cpp (ggml-alloc reserves the worst-case graph of one ubatch of `n_ubatch` tokens, all
//! f32, reusing memory between phases): the peak is the largest phase of
//! - attention without flash attention: the KQ scores, `n_head * n_kv_cells * n_ubatch * 4` bytes,
//!   plus the q/k/v activations;
//! - attention with flash attention: only the q/k/v/output activations;
//! - the FFN: gate and up outputs, `2 * ff * n_ubatch * 4` (MoE: the experts in use per token);
//! - the output head on the device that holds it: `n_vocab * n_ubatch * 4` logits;
//!
//! plus the residual stream and its normed copy (`2 * n_embd * n_ubatch * 4`). This reproduces
//! the compute buffers llama.cpp prints for Llama-3-8B (about 258 MiB with flash attention and
//! 560 MiB without at 8192 context, n_ubatch 512) within about 10%.

use crate::arch::ModelShape;

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// CUDA/ROCm context, cuBLAS/hipBLAS workspace and the backend's memory pools, per GPU: what
/// `nvidia-smi` shows beyond the buffers llama.cpp prints (about 300-500 MiB on Ampere and later).
pub const GPU_CONTEXT_OVERHEAD: u64 = 400 * MIB;
/// Memory the OS and other processes keep on a CPU-only host.
pub const CPU_HOST_RESERVE: u64 = 2 * GIB;
/// The reference engine's process: binary, libraries, allocator and thread stacks (measured
/// about 20 MB resident for `vramplan run` on Linux x86-64 beyond its buffers).
pub const REFERENCE_PROCESS_OVERHEAD: u64 = 20 * MIB;
/// vLLM: CUDA graphs captured for decode batch sizes (vLLM logs "took 0.5 GiB" on typical runs).
pub const VLLM_CUDA_GRAPHS: u64 = GIB / 2;
/// vLLM: memory outside PyTorch's allocator (CUDA context, cuBLAS, NCCL buffers).
pub const VLLM_NON_TORCH: u64 = 600 * MIB;

/// Peak compute buffer of llama.cpp on one device holding `layers` (and the output head when
/// `holds_output`), for a cache of `kv_cells` cells.
pub fn llama_cpp_compute_bytes(
    shape: &ModelShape,
    layers: &[u32],
    holds_output: bool,
    n_ubatch: u64,
    kv_cells: u64,
    flash_attn: bool,
) -> u64 {
    let n = n_ubatch;
    let f = 4u64;
    let qkv = shape.n_head as u64 * shape.head_dim_k
        + shape.n_head_kv as u64 * (shape.head_dim_k + shape.head_dim_v)
        + shape.n_head as u64 * shape.head_dim_v;
    let mut peak = 0u64;
    if !layers.is_empty() {
        let attn = if flash_attn {
            n * qkv * f
        } else {
            n * (shape.n_head as u64 * kv_cells + qkv) * f
        };
        let ffn = layers
            .iter()
            .map(|&il| n * (2 * shape.active_ff(il) + shape.n_embd) * f)
            .max()
            .unwrap_or(0);
        peak = attn.max(ffn);
    }
    if holds_output {
        peak = peak.max(n * (shape.n_vocab + shape.n_embd) * f);
    }
    peak + 2 * shape.n_embd * n * f
}

/// llama.cpp's host-side buffers: the logits output buffer (`n_vocab * 4` per sequence) and the
/// CPU compute buffer for the input embeddings of one ubatch.
pub fn llama_cpp_host_buffers(shape: &ModelShape, n_seq: u64, n_ubatch: u64) -> u64 {
    shape.n_vocab * 4 * n_seq.max(1) + shape.n_embd * n_ubatch * 4 * 2
}

/// vLLM's activation peak of the profiling run: `max_num_batched_tokens` tokens through the
/// widest layer in bf16 (hidden states, q/k/v, gate/up split over `tp` ranks), plus the f32
/// logits of up to 256 sampled sequences.
pub fn vllm_activation_bytes(shape: &ModelShape, max_num_batched_tokens: u64, tp: u32) -> u64 {
    let tp = tp.max(1) as u64;
    let widest_ff = (0..shape.n_layer)
        .map(|il| shape.active_ff(il))
        .max()
        .unwrap_or(shape.n_ff);
    let per_token =
        4 * shape.n_embd + (2 * widest_ff + shape.n_head as u64 * shape.head_dim_k * 2) / tp;
    max_num_batched_tokens * per_token * 2 + 256 * shape.n_vocab * 4
}

/// Scratch buffers of vramplan's reference engine (`engine::forward`'s `Buffers`), all f32 unless
/// said: per ubatch token the residual, normed and output rows (`n_embd` each, four of them), q
/// and the attention output (`n_head x head_dim`), k and v, gate and up (and the down input);
/// f32 copies of the cached keys and values over the context; the logits of the last position;
/// and the activations quantized for the dot kernels (about 34/32 bytes per FFN element, twice).
pub fn reference_buffer_bytes(shape: &ModelShape, n_ubatch: u64, kv_cells: u64) -> u64 {
    let ff = (0..shape.n_layer)
        .map(|il| shape.active_ff(il))
        .max()
        .unwrap_or(shape.n_ff);
    let q_dim = shape.n_head as u64 * shape.head_dim_k;
    let kv_dim = shape.n_head_kv as u64 * shape.head_dim_k.max(shape.head_dim_v);
    let per_token = 4 * shape.n_embd + 2 * q_dim + 2 * kv_dim + 3 * ff;
    4 * n_ubatch * per_token
        + 8 * kv_cells * kv_dim
        + 4 * shape.n_vocab
        + 2 * n_ubatch * ff * 34 / 32
}
