//! Compute buffers and fixed overheads, as the engines allocate them. Each figure says where it
//! comes from and how it was checked.
//!
//! # llama.cpp: replaying its graph allocator
//!
//! When a context is created, llama.cpp builds the worst-case graph of one ubatch and lets
//! ggml-alloc plan every intermediate tensor in one buffer per backend (`sched_reserve` ->
//! `graph_reserve` in src/llama-context.cpp; `ggml_gallocr_alloc_graph_impl` and
//! `ggml_dyn_tallocr_alloc` in ggml/src/ggml-alloc.c). The buffer is the allocator's high-water
//! mark: tensors are placed best-fit into the blocks freed by earlier ones (or on top), a tensor's
//! block is freed after its last consumer ran, and ops that may write in place (norms' weight
//! `mul`, bias `add`, residual `add`, `scale`, `softmax`, ...) reuse their parent's block. The
//! peak therefore depends on the order of allocations and on fragmentation (a freed 8 MiB block
//! cannot hold a 28 MiB FFN activation), not only on the largest phase: no closed sum reproduces
//! it, so [`llama_cpp_compute_bytes`] replays the same allocator over the tensors the graph
//! allocates, in the graph's order, and returns its high-water mark. Sizes are f32 rows unless
//! said; `n` is the ubatch, `E` = `n_embd x n x 4`.
//!
//! The worst-case ubatch (`sched_reserve`): `n = min(n_ctx, n_ubatch)` tokens (rounded up to a
//! multiple of the sequences), with `n_out = min(n, n_outputs_max)` output rows; the KV cache
//! fully used (`init_full`: every layer attends to all its cells, `n_kv` per stream). Streams: one
//! per sequence (`llama-server -np N`), or one for all with `--kv-unified` (llama-server's default
//! when `-np` is not given). The tensors, in the order the graph allocates them:
//!
//! - **Inputs** (allocated first, freed after their last reader; llama-graph.cpp
//!   `build_inp_embd`, `build_inp_pos`, `build_attn_inp_kv`/`_iswa`/`_k`, `build_inp_out_ids`):
//!   token ids (`n x 4`, freed after the embedding lookup), `inp_embd` (`E`, the vector-embeddings
//!   input; never freed), positions (`n x 4`), the cache row indices for K (`n x 8`) and V
//!   (`n x 8`, or `n x n_embd_v_gqa x 8` without flash attention, whose V cache is transposed; MLA
//!   has none), the KQ mask (`n_kv x n`, f16 with flash attention, f32 without; sliding-window
//!   models have a second index/mask group for their window cells, freed after the last sliding
//!   layer) and the output row ids (`n_out x 4`).
//! - **Embeddings**: the token-embedding lookup `E` (the first layer's residual).
//! - **Attention** (`build_qkv`, `build_attn`, `build_attn_mha`): the attention norm `E`; Q by its
//!   projection and then its RoPE (`q` = `n_head x head_dim x n x 4` each, the projection freed
//!   once roped); V and K projections (`n_kv_heads x head_dim x n x 4`) and K's RoPE, all freed
//!   after being copied into the cache (`set_rows`). Order Q, V, K (the plain KV cache); Q, K, V
//!   for sliding-window models (the iSWA cache's `build_attn`). Then without flash attention the
//!   scores `kq` (`n_kv x n x n_head x 4`; softcapping and softmax in place), `kqv` and its
//!   contiguous copy (`q` each); with flash attention only its output (`q`). Then the output
//!   projection `E`, which becomes the residual (`ffn_inp`, in place).
//! - **MLA** (deepseek2.cpp, absorbed form): `q` (`n_head x (nope + rope)`), the absorbed
//!   `q_nope` (`n_head x kv_lora`), the roped `q_pe` (`n_head x rope`), their concatenation
//!   `Qcur` (`n_head x (kv_lora + rope)`); the compressed KV `kv_lora + rope`, its norm `kv_lora`,
//!   `k_pe` and the concatenated `Kcur` (`kv_lora + rope`); without flash attention the transposed
//!   latent V (`cells x kv_lora x 2`, all streams), `kq`, `kqv` (`n_head x kv_lora`), its
//!   decompression (`n_head x v_head`) and copy; with flash attention its output
//!   (`n_head x kv_lora`), the decompression and copy.
//! - **FFN** (`build_ffn`, `build_moe_ffn`): the FFN norm `E`; gate and up (`ff x n x 4` each),
//!   then SwiGLU/GeGLU (`ff x n x 4`, never in place); down `E`, which becomes the residual. MoE:
//!   router logits (softmax in place) and argsort (`n_expert x n x 4` each), the selected weights
//!   (`n_used x n x 4`; normalized into a new tensor with their sum, except DeepSeek-V2), gate,
//!   up and the activation over the experts in use (`expert_ff x n_used x n x 4` each), down
//!   (`n_embd x n_used x n x 4`, weighted in place), the sum over experts `E`; a shared expert
//!   runs as a dense FFN after it.
//! - **Last layer**: after the attention, only the output rows go on (`ggml_get_rows` of the
//!   attention output and of the residual, `n_out` rows each): its FFN works on `n_out` rows.
//! - **Output head**: the final norm (in place), the logits `n_vocab x n_out x 4` (a graph
//!   output, never freed; final softcapping in place).
//!
//! Checked on the CPU backend against llama.cpp itself (`tools/compute_ref/make_ref.py`: the
//! llama.cpp vendored in llama-cpp-python 0.3.36, commit 0c1e570; `tests/compute.rs`): 1188
//! contexts of eleven catalogue models at their real depth and widths, every architecture the
//! catalogue uses (llama: Llama-3.1-8B, Mistral-7B, Mixtral-8x7B; qwen2: Qwen2.5-7B; qwen3:
//! Qwen3-8B; qwen3moe: Qwen3-30B-A3B; gemma2: Gemma-2-9B; gemma3: Gemma-3-12B; phi3:
//! Phi-3-mini; deepseek2: DeepSeek-V2-Lite, DeepSeek-V3) x context 512/4k/32k per sequence x
//! ubatch 128/512/2048 x flash attention on/off x one sequence, 4 streams, 4 sequences in a
//! unified cache x every ubatch row or one row per sequence as outputs: the same bytes in every
//! case, and at 1 to 6 layers too. Variants seen through the same replay: Qwen3's and Gemma-3's
//! Q/K norms take the place of the RoPE copies (the norm is a new tensor, the RoPE then runs in
//! place), Qwen2's biases and Gemma's scalings run in place; Phi-3 projects Q, K and V in one
//! tensor and gate and up in one (`2 x ff`), and keeps its residual in the attention output's
//! block. DeepSeek-V3's query LoRA step and biased sigmoid router are small tensors that fit in
//! freed blocks: not replayed, and never the peak in the 108 measured V3 contexts.
//!
//! GPUs (inferred, not measured): CUDA, Metal and Vulkan reserve the same graph with the same
//! allocator, so a fully offloaded model's device buffer is this figure (CUDA aligns tensors to
//! 128 bytes instead of 32: a few KiB). A device holding a range of layers replays only those
//! layers, their inputs and the incoming residual (copied in by the scheduler); the token
//! embedding lookup stays with the host (`tok_embd` lives in host memory), which is why
//! [`llama_cpp_compute_bytes`] leaves out `inp_embd` and [`llama_cpp_host_buffers`] counts it.
//! With partial offload, llama.cpp also runs big-batch matmuls of host-resident layers on the
//! first GPU (ggml-backend `op_offload`): the placement adds that staging copy separately.

use crate::arch::{ModelShape, MoeShape};
use crate::ggml::llama_cpp::{pad, LLAMA_KV_PAD};

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

/// ggml-alloc aligns every tensor to the buffer type's alignment: 32 bytes on the CPU backend.
const ALIGN: u64 = 32;
/// RoPE width of the MLA key (DeepSeek-V2/V3, Kimi-K2); [`ModelShape`] carries only sums.
const MLA_ROPE: u64 = 64;
/// DeepSeek's MLA query/key head (128 + 64) and value head, for shapes read from a GGUF file,
/// whose `key_length`/`value_length` are the latent widths.
const MLA_QK_HEAD: u64 = 192;
const MLA_V_HEAD: u64 = 128;

/// How a llama.cpp context is created, as far as its worst-case graph depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LlamaCppParams {
    /// KV cells of a full-attention layer, all sequences together: `-c` padded to 256 (what
    /// `kv::llama_cpp_layers` gives for `ctx x n_seq`). The ubatch is capped at it (llama.cpp
    /// caps it at the unpadded `-c`: the same unless `-c` is below `-ub` and not a multiple
    /// of 256).
    pub kv_cells: u64,
    /// Sequences (`-np`, `n_seq_max`).
    pub n_seq: u64,
    /// One KV stream shared by all sequences (`--kv-unified`): attention then spans every
    /// sequence's cells; otherwise each sequence has its own stream of `kv_cells / n_seq`.
    pub kv_unified: bool,
    /// `-ub`.
    pub n_ubatch: u64,
    /// Output rows the worst-case graph reserves (`n_outputs_max`, at most the ubatch):
    /// llama-server sets one per slot (`server_output_limits`, without speculative decoding);
    /// the C API's default, llama-cli, llama-bench and llama.cpp before `n_outputs_max` existed
    /// reserve every ubatch row, which makes the logits `n_vocab x n_ubatch x 4`.
    pub n_outputs: u64,
    pub flash_attn: bool,
}

impl LlamaCppParams {
    /// `llama-server -c <kv_cells> -np <n_seq> -ub <n_ubatch> -fa on|off` (the launch command
    /// `fit` prints): one KV stream and one output row per slot.
    pub fn server(kv_cells: u64, n_seq: u64, n_ubatch: u64, flash_attn: bool) -> LlamaCppParams {
        LlamaCppParams {
            kv_cells,
            n_seq,
            kv_unified: false,
            n_ubatch,
            n_outputs: n_seq,
            flash_attn,
        }
    }
}

/// Compute buffer llama.cpp allocates on one backend holding `layers` (ascending) and, when
/// `holds_output`, the output head: the high-water mark of ggml-alloc replayed over that part
/// of the worst-case graph (see the module documentation), less the ubatch's `inp_embd`
/// input, which lives in host memory and is counted by [`llama_cpp_host_buffers`]. On the CPU
/// backend with every layer this plus `inp_embd` is, to the byte, the "CPU compute buffer size"
/// llama.cpp prints. Zero for a backend with nothing to run.
pub fn llama_cpp_compute_bytes(
    shape: &ModelShape,
    layers: &[u32],
    holds_output: bool,
    p: &LlamaCppParams,
) -> u64 {
    if layers.is_empty() && !holds_output {
        return 0;
    }
    // A `gpus` search places the same layer ranges at the same contexts over and over (every
    // candidate's max-context bisection): remember each replay's result for the current shape.
    let contiguous = layers.windows(2).all(|w| w[1] == w[0] + 1);
    if !contiguous {
        return replay_compute_bytes(shape, layers, holds_output, p);
    }
    type Range = (u32, usize, bool, LlamaCppParams);
    type Memo = Option<(ModelShape, std::collections::HashMap<Range, u64>)>;
    thread_local! {
        static MEMO: std::cell::RefCell<Memo> = const { std::cell::RefCell::new(None) };
    }
    let key: Range = (
        layers.first().copied().unwrap_or(0),
        layers.len(),
        holds_output,
        *p,
    );
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        if memo.as_ref().is_none_or(|(s, _)| s != shape) {
            *memo = Some((shape.clone(), std::collections::HashMap::new()));
        }
        let (_, results) = memo.as_mut().expect("set above");
        if let Some(&v) = results.get(&key) {
            return v;
        }
        let v = replay_compute_bytes(shape, layers, holds_output, p);
        // Bounded: a long-lived process never holds more than this many results.
        if results.len() >= 1 << 16 {
            results.clear();
        }
        results.insert(key, v);
        v
    })
}

fn replay_compute_bytes(
    shape: &ModelShape,
    layers: &[u32],
    holds_output: bool,
    p: &LlamaCppParams,
) -> u64 {
    let g = Geometry::new(shape, p);
    let mut sim = Replay::new(shape, g);
    sim.run(layers, holds_output);
    let inp_embd = if layers.first() == Some(&0) {
        aligned(sim.e(g.n))
    } else {
        0
    };
    sim.mem.max.saturating_sub(inp_embd)
}

/// llama.cpp's host-side buffers besides a CPU backend's share of the graph: the logits output
/// buffer (`output_reserve(n_seq_max)`: `n_vocab x 4` per sequence; llama.cpp prints it as "CPU
/// output buffer") and the ubatch's `inp_embd` input (`n_embd x n_ubatch x 4`), which the
/// compute buffer of the backend running the first layer holds but [`llama_cpp_compute_bytes`]
/// leaves out. (With every layer offloaded, the host's compute buffer also holds the token
/// ids and the embedding lookup, another `n_embd x n_ubatch x 4`: not counted.)
pub fn llama_cpp_host_buffers(shape: &ModelShape, n_seq: u64, n_ubatch: u64) -> u64 {
    let output = shape.n_vocab.saturating_mul(4).saturating_mul(n_seq.max(1));
    output.saturating_add(aligned(
        shape.n_embd.saturating_mul(n_ubatch).saturating_mul(4),
    ))
}

fn aligned(size: u64) -> u64 {
    pad(size, ALIGN)
}

/// The worst-case ubatch of `sched_reserve` and the cache it attends to.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    /// Tokens: `min(n_ctx, n_ubatch)`, rounded up to a multiple of the sequences.
    n: u64,
    /// Output rows: `min(min(n_ctx, n_ubatch), n_outputs)`.
    n_out: u64,
    /// Cells each layer attends to, per stream: full attention and sliding window.
    n_kv: u64,
    n_kv_swa: u64,
    /// All streams' cells (the transposed MLA latent covers them all).
    cells: u64,
    fa: bool,
}

impl Geometry {
    fn new(shape: &ModelShape, p: &LlamaCppParams) -> Geometry {
        let n_seq = p.n_seq.max(1);
        let total = pad(p.kv_cells.max(1), LLAMA_KV_PAD);
        let unified = p.kv_unified || n_seq == 1;
        // llama_context: n_ctx_seq = n_ctx / n_seq padded to 256, per stream.
        let (streams, n_kv) = if unified {
            (1, total)
        } else {
            (n_seq, pad(total / n_seq, LLAMA_KV_PAD).max(LLAMA_KV_PAD))
        };
        let ub = p.n_ubatch.max(1).min(total);
        let n = ub.div_ceil(n_seq).saturating_mul(n_seq);
        // llama_kv_cache_iswa: min(size, n_swa x (unified ? n_seq : 1) + n_ubatch) padded.
        let n_kv_swa = match shape.sliding_window {
            Some((w, _)) => {
                let seqs = if streams == 1 { n_seq } else { 1 };
                n_kv.min(pad(w.saturating_mul(seqs).saturating_add(ub), LLAMA_KV_PAD))
            }
            None => n_kv,
        };
        Geometry {
            n,
            n_out: p.n_outputs.clamp(1, ub),
            n_kv,
            n_kv_swa,
            cells: n_kv.saturating_mul(streams),
            fa: p.flash_attn,
        }
    }
}

/// ggml-alloc's dynamic allocator for one buffer (`ggml_dyn_tallocr`, one chunk): free blocks
/// sorted by offset, the last one unbounded (its size runs to `u64::MAX`); best fit among the
/// others, else the last.
#[derive(Debug, Clone, PartialEq)]
struct Tallocr {
    free: Vec<(u64, u64)>,
    max: u64,
}

impl Tallocr {
    fn new() -> Tallocr {
        Tallocr {
            free: vec![(0, u64::MAX)],
            max: 0,
        }
    }

    fn alloc(&mut self, size: u64) -> u64 {
        let size = aligned(size);
        let last = self.free.len() - 1;
        let mut best = last;
        let mut best_size = u64::MAX;
        for (i, &(_, s)) in self.free[..last].iter().enumerate() {
            if s >= size && s <= best_size {
                best = i;
                best_size = s;
            }
        }
        let (offset, s) = self.free[best];
        let end = offset.saturating_add(size);
        if best == last {
            self.free[last] = (end, u64::MAX - end);
        } else if s == size {
            self.free.remove(best);
        } else {
            self.free[best] = (end, s - size);
        }
        self.max = self.max.max(end);
        offset
    }

    /// `ggml_dyn_tallocr_free_bytes`: merge with the block ending here or starting right after,
    /// else insert in order.
    fn release(&mut self, offset: u64, size: u64) {
        let size = aligned(size);
        let end = |b: (u64, u64)| b.0.saturating_add(b.1);
        for i in 0..self.free.len() {
            let (o, s) = self.free[i];
            if end((o, s)) == offset {
                self.free[i].1 = s.saturating_add(size);
                if i + 1 < self.free.len() && end(self.free[i]) == self.free[i + 1].0 {
                    self.free[i].1 = self.free[i].1.saturating_add(self.free[i + 1].1);
                    self.free.remove(i + 1);
                }
                return;
            }
            if offset.saturating_add(size) == o {
                self.free[i] = (offset, s.saturating_add(size));
                if i > 0 && end(self.free[i - 1]) == offset {
                    self.free[i - 1].1 = self.free[i - 1].1.saturating_add(self.free[i].1);
                    self.free.remove(i);
                }
                return;
            }
        }
        let at = self.free.partition_point(|&(o, _)| o < offset);
        self.free.insert(at, (offset, size));
    }
}

/// A tensor's block in the replayed buffer.
type Tensor = usize;

/// Free blocks and live blocks, (offset, size) each.
type State = (Vec<(u64, u64)>, Vec<(u64, u64)>);

/// Live blocks and the allocator; a snapshot of both decides when layers repeat.
#[derive(Debug, Clone, PartialEq)]
struct Mem {
    tallocr: Tallocr,
    blocks: Vec<Option<(u64, u64)>>,
    max: u64,
}

impl Mem {
    fn alloc(&mut self, size: u64) -> Tensor {
        let offset = self.tallocr.alloc(size);
        self.max = self.tallocr.max;
        self.blocks.push(Some((offset, size)));
        self.blocks.len() - 1
    }

    fn free(&mut self, t: Tensor) {
        if let Some((offset, size)) = self.blocks[t].take() {
            self.tallocr.release(offset, size);
        }
    }

    /// What decides the rest of the replay: free blocks and live blocks (not their handles).
    fn state(&self) -> State {
        let mut live: Vec<(u64, u64)> = self.blocks.iter().flatten().copied().collect();
        live.sort_unstable();
        (self.tallocr.free.clone(), live)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attention {
    /// The plain KV cache (`build_attn` with `llm_graph_input_attn_kv`): Q, V, K.
    Kv,
    /// Sliding window (`llm_graph_input_attn_kv_iswa`): Q, K, V; two index/mask groups.
    Iswa,
    /// DeepSeek's multi-head latent attention (`llm_graph_input_attn_k`).
    Mla,
}

/// The cache inputs of one attention kind (full or sliding): row indices and mask.
#[derive(Debug, Clone, Copy)]
struct CacheInputs {
    k_idxs: Tensor,
    v_idxs: Option<Tensor>,
    mask: Tensor,
    /// The last of this backend's layers that reads them.
    last_layer: u32,
}

struct Replay<'a> {
    shape: &'a ModelShape,
    g: Geometry,
    kind: Attention,
    mem: Mem,
    /// Phi-3's fused QKV and gate/up projections (`attn_qkv`, `ffn_up` of `2 x ff`).
    fused: bool,
    /// Skip runs of identical layers once the allocator's state repeats (off in the tests that
    /// check that skipping changes nothing).
    fast_forward: bool,
}

impl<'a> Replay<'a> {
    fn new(shape: &'a ModelShape, g: Geometry) -> Replay<'a> {
        let kind = if shape.mla_cache_width.is_some() {
            Attention::Mla
        } else if shape.sliding_window.is_some() {
            Attention::Iswa
        } else {
            Attention::Kv
        };
        Replay {
            shape,
            g,
            kind,
            mem: Mem {
                tallocr: Tallocr::new(),
                blocks: Vec::new(),
                max: 0,
            },
            fused: shape.arch_info().is_some_and(|a| a.fused_qkv),
            fast_forward: true,
        }
    }

    /// `rows` f32 rows of `n_embd`.
    fn e(&self, rows: u64) -> u64 {
        self.shape.n_embd.saturating_mul(rows).saturating_mul(4)
    }

    fn f32s(&self, elems: &[u64]) -> u64 {
        elems.iter().fold(4u64, |a, &x| a.saturating_mul(x))
    }

    fn sliding(&self, il: u32) -> bool {
        self.kind == Attention::Iswa && self.shape.layer_is_sliding(il)
    }

    fn moe(&self, il: u32) -> bool {
        matches!(self.shape.moe, Some(m) if il >= m.dense_layers)
    }

    fn cache_inputs(&mut self, layers: &[u32], sliding: bool) -> Option<CacheInputs> {
        let last_layer = *layers
            .iter()
            .rev()
            .find(|&&il| self.sliding(il) == sliding)?;
        let (n, fa) = (self.g.n, self.g.fa);
        let s = self.shape;
        let cells = if sliding {
            self.g.n_kv_swa
        } else {
            self.g.n_kv
        };
        let k_idxs = self.mem.alloc(n.saturating_mul(8));
        let v_idxs = match self.kind {
            Attention::Mla => None,
            _ if fa => Some(self.mem.alloc(n.saturating_mul(8))),
            _ => Some(
                self.mem.alloc(
                    (s.n_head_kv as u64 * s.head_dim_v)
                        .saturating_mul(n)
                        .saturating_mul(8),
                ),
            ),
        };
        let mask = self.mem.alloc(
            cells
                .saturating_mul(n)
                .saturating_mul(if fa { 2 } else { 4 }),
        );
        Some(CacheInputs {
            k_idxs,
            v_idxs,
            mask,
            last_layer,
        })
    }

    fn run(&mut self, layers: &[u32], holds_output: bool) {
        let (n, n_out) = (self.g.n, self.g.n_out);
        let last_model_layer = self.shape.n_layer.saturating_sub(1);
        let holds_last = layers.last() == Some(&last_model_layer);
        let first = layers.first() == Some(&0);
        let mut residual = None;
        if !layers.is_empty() {
            let tokens = first.then(|| self.mem.alloc(n.saturating_mul(4)));
            if first {
                self.mem.alloc(self.e(n)); // inp_embd, never freed
            }
            let pos = self.mem.alloc(n.saturating_mul(4));
            // Index/mask groups in the order the graph first reads them.
            let first_sliding = self.sliding(layers[0]);
            let mut groups = [None, None];
            for (slot, sliding) in [first_sliding, !first_sliding].into_iter().enumerate() {
                groups[slot] = self.cache_inputs(layers, sliding).map(|c| (sliding, c));
            }
            let out_ids = holds_last.then(|| self.mem.alloc(n_out.saturating_mul(4)));
            // The embedding lookup, or the residual copied in from the previous backend.
            residual = Some(self.mem.alloc(self.e(n)));
            if let Some(t) = tokens {
                self.mem.free(t);
            }
            let mut il_ix = 0;
            let mut seen: Vec<(usize, State)> = Vec::new();
            while il_ix < layers.len() {
                let il = layers[il_ix];
                let sliding = self.sliding(il);
                let cache = groups
                    .iter()
                    .flatten()
                    .find(|(s, _)| *s == sliding)
                    .map(|(_, c)| *c)
                    .expect("a group for every layer kind");
                let is_last = il == last_model_layer;
                let ends_group = groups.iter().flatten().any(|(_, c)| c.last_layer == il);
                let last_here = il_ix + 1 == layers.len();
                let regular = self.fast_forward && !is_last && !ends_group && !last_here;
                // Identical layers from an identical allocator state repeat it: skip ahead.
                if regular {
                    let period = self.period();
                    let state = self.mem.state();
                    if seen
                        .iter()
                        .any(|(j, st)| il_ix - j == period && *st == state)
                    {
                        let stop = self.regular_until(layers, il_ix, &groups);
                        let skip = (stop - il_ix) / period * period;
                        if skip > 0 {
                            il_ix += skip;
                            seen.clear();
                            continue;
                        }
                    }
                    seen.push((il_ix, state));
                }
                let res = residual.take().expect("residual");
                residual = Some(self.layer(il, res, cache, pos, out_ids, is_last, last_here));
                il_ix += 1;
            }
        }
        if holds_output {
            // The last layer's rows, copied in when another backend ran it; the final norm
            // runs in place, the logits are a graph output.
            if residual.is_none() {
                self.mem.alloc(self.e(n_out));
            }
            self.mem
                .alloc(self.shape.n_vocab.saturating_mul(n_out).saturating_mul(4));
        }
    }

    /// Layers after which the layer kinds repeat: the sliding-window pattern.
    fn period(&self) -> usize {
        match (self.kind, self.shape.sliding_window) {
            (Attention::Iswa, Some((_, p))) => p.max(1) as usize,
            _ => 1,
        }
    }

    /// The first index from `from` whose layer is not a plain repetition (a kind change, the
    /// last reader of an input group, the last layer here or of the model).
    fn regular_until(
        &self,
        layers: &[u32],
        from: usize,
        groups: &[Option<(bool, CacheInputs)>; 2],
    ) -> usize {
        let last_model_layer = self.shape.n_layer.saturating_sub(1);
        let period = self.period();
        let mut i = from;
        while i + 1 < layers.len() {
            let il = layers[i];
            let same_kind = i < period
                || (self.sliding(il) == self.sliding(layers[i - period])
                    && self.moe(il) == self.moe(layers[i - period]));
            if il == last_model_layer
                || groups.iter().flatten().any(|(_, c)| c.last_layer == il)
                || !same_kind
            {
                break;
            }
            i += 1;
        }
        i
    }

    /// One layer from residual `res`; returns the new residual.
    #[allow(clippy::too_many_arguments)]
    fn layer(
        &mut self,
        il: u32,
        res: Tensor,
        cache: CacheInputs,
        pos: Tensor,
        out_ids: Option<Tensor>,
        is_last: bool,
        last_here: bool,
    ) -> Tensor {
        let s = self.shape;
        let g = self.g;
        let n = g.n;
        let ends_group = cache.last_layer == il;
        let attn_out = match self.kind {
            Attention::Mla => self.mla(cache, pos, last_here, ends_group),
            _ => self.kv_attention(il, cache, pos, last_here, ends_group),
        };
        // The last layer goes on with the output rows only.
        let (ffn_inp, rows) = if is_last {
            let rows = g.n_out;
            let er = self.e(rows);
            let m = &mut self.mem;
            let cur = m.alloc(er);
            m.free(attn_out);
            let sa = m.alloc(er);
            m.free(res);
            if let Some(t) = out_ids {
                m.free(t);
            }
            m.free(sa);
            (cur, rows)
        } else {
            self.mem.free(res);
            (attn_out, n)
        };
        let er = self.e(rows);
        let norm = self.mem.alloc(er);
        let out = match s.moe {
            Some(moe) if il >= moe.dense_layers => self.moe_ffn(moe, norm, rows),
            _ if self.fused => {
                // Phi-3: one projection to gate and up (`2 x ff`), SwiGLU over its halves
                let up = self.f32s(&[2, s.n_ff, rows]);
                let act = self.f32s(&[s.n_ff, rows]);
                let m = &mut self.mem;
                let up = m.alloc(up);
                m.free(norm);
                let glu = m.alloc(act);
                m.free(up);
                let down = m.alloc(er);
                m.free(glu);
                // l_out = ffn_inp + out, in place on ffn_inp
                m.free(down);
                return ffn_inp;
            }
            _ => self.dense_ffn(norm, s.n_ff, rows),
        };
        self.mem.free(ffn_inp); // out += ffn_inp in place
        out
    }

    /// Self-attention over a K/V cache (llama.cpp `build_attn` with `build_attn_inp_kv` or
    /// `_kv_iswa`): Q/K/V projections, RoPE, cache stores, KQ or flash attention, output
    /// projection. Returns the attention output.
    fn kv_attention(
        &mut self,
        il: u32,
        cache: CacheInputs,
        pos: Tensor,
        last_here: bool,
        ends_group: bool,
    ) -> Tensor {
        let s = self.shape;
        let g = self.g;
        let n = g.n;
        let e = self.e(n);
        let cells = if self.sliding(il) { g.n_kv_swa } else { g.n_kv };
        let q = self.f32s(&[s.n_head as u64, s.head_dim_k, n]);
        let qv = self.f32s(&[s.n_head as u64, s.head_dim_v, n]);
        let k = self.f32s(&[s.n_head_kv as u64, s.head_dim_k, n]);
        let v = self.f32s(&[s.n_head_kv as u64, s.head_dim_v, n]);
        let fused = self.fused;
        let m = &mut self.mem;
        let norm = m.alloc(e);
        let free_k = |m: &mut Mem, k_rope: Tensor| {
            if last_here {
                m.free(pos);
            }
            m.free(k_rope);
            if ends_group {
                m.free(cache.k_idxs);
            }
        };
        let q_rope;
        if fused {
            // One QKV projection; Q and K roped out of its views, V stored from it (a
            // contiguous copy first when the V cache is transposed).
            let qkv = m.alloc(q.saturating_add(k).saturating_add(v));
            m.free(norm);
            q_rope = m.alloc(q);
            let k_rope = m.alloc(k);
            free_k(m, k_rope);
            if g.fa {
                m.free(qkv);
            } else {
                let v_cont = m.alloc(v);
                m.free(qkv);
                m.free(v_cont);
            }
        } else {
            let q_proj = m.alloc(q);
            q_rope = m.alloc(q);
            m.free(q_proj);
            let v_proj;
            if self.kind == Attention::Kv {
                v_proj = m.alloc(v);
                let k_proj = m.alloc(k);
                m.free(norm);
                let k_rope = m.alloc(k);
                m.free(k_proj);
                free_k(m, k_rope);
            } else {
                let k_proj = m.alloc(k);
                let k_rope = m.alloc(k);
                m.free(k_proj);
                if last_here {
                    m.free(pos);
                }
                v_proj = m.alloc(v);
                m.free(norm);
                m.free(k_rope);
                if ends_group {
                    m.free(cache.k_idxs);
                }
            }
            m.free(v_proj);
        }
        if ends_group {
            if let Some(t) = cache.v_idxs {
                m.free(t);
            }
        }
        let attn = if g.fa {
            let out = m.alloc(qv);
            m.free(q_rope);
            if ends_group {
                m.free(cache.mask);
            }
            out
        } else {
            let kq = m.alloc(
                cells
                    .saturating_mul(n)
                    .saturating_mul(s.n_head as u64)
                    .saturating_mul(4),
            );
            m.free(q_rope);
            if ends_group {
                m.free(cache.mask);
            }
            let kqv = m.alloc(qv);
            m.free(kq);
            let cont = m.alloc(qv);
            m.free(kqv);
            cont
        };
        let out = m.alloc(e);
        m.free(attn);
        out
    }

    /// The routed-expert FFN (llama.cpp `build_moe_ffn`) and any shared expert, over `rows` rows
    /// normalised in `norm`. Returns the sum of the experts' outputs.
    fn moe_ffn(&mut self, moe: MoeShape, norm: Tensor, rows: u64) -> Tensor {
        let s = self.shape;
        let er = self.e(rows);
        let (ne, nu) = (moe.n_expert as u64, moe.n_expert_used as u64);
        let norm_w = s.arch_info().is_none_or(|a| a.moe_norm_weights);
        let act = self.f32s(&[moe.expert_ff, nu, rows]);
        let down = self.f32s(&[s.n_embd, nu, rows]);
        let m = &mut self.mem;
        let logits = m.alloc(ne.saturating_mul(rows).saturating_mul(4)); // softmax in place
        let argsort = m.alloc(ne.saturating_mul(rows).saturating_mul(4));
        let mut weights = m.alloc(nu.saturating_mul(rows).saturating_mul(4));
        m.free(logits);
        if norm_w {
            let sum = m.alloc(rows.saturating_mul(4));
            let normed = m.alloc(nu.saturating_mul(rows).saturating_mul(4));
            m.free(weights);
            m.free(sum);
            weights = normed;
        }
        let gate = m.alloc(act);
        let up = m.alloc(act);
        if moe.shared_ff == 0 {
            m.free(norm);
        }
        let glu = m.alloc(act);
        m.free(gate);
        m.free(up);
        let experts = m.alloc(down);
        m.free(glu);
        m.free(argsort);
        m.free(weights); // weighted in place
                         // the sum over the experts' views (a contiguous copy for one expert)
        let sum = m.alloc(er);
        m.free(experts);
        if moe.shared_ff > 0 {
            let shared = self.dense_ffn(norm, moe.shared_ff, rows);
            self.mem.free(shared); // added into the experts' sum in place
        }
        sum
    }

    /// Gate, up, GLU, down over `rows`; frees the norm `input`.
    fn dense_ffn(&mut self, input: Tensor, ff: u64, rows: u64) -> Tensor {
        let act = self.f32s(&[ff, rows]);
        let er = self.e(rows);
        let m = &mut self.mem;
        let gate = m.alloc(act);
        let up = m.alloc(act);
        m.free(input);
        let glu = m.alloc(act);
        m.free(gate);
        m.free(up);
        let down = m.alloc(er);
        m.free(glu);
        down
    }

    /// DeepSeek's absorbed multi-head latent attention; returns the output projection.
    fn mla(
        &mut self,
        cache: CacheInputs,
        pos: Tensor,
        last_here: bool,
        ends_group: bool,
    ) -> Tensor {
        let s = self.shape;
        let g = self.g;
        let n = g.n;
        let h = s.n_head as u64;
        let width = s.mla_cache_width.unwrap_or(0);
        let kv_lora = width.saturating_sub(MLA_ROPE);
        let (qk_head, v_head) = if s.head_dim_k == width {
            (MLA_QK_HEAD, MLA_V_HEAD)
        } else {
            (s.head_dim_k, s.head_dim_v)
        };
        let e = self.e(n);
        let sizes = [
            self.f32s(&[h, qk_head, n]),
            self.f32s(&[h, kv_lora, n]),
            self.f32s(&[h, MLA_ROPE, n]),
            self.f32s(&[h, width, n]),
            self.f32s(&[width, n]),
            self.f32s(&[kv_lora, n]),
            self.f32s(&[MLA_ROPE, n]),
            self.f32s(&[h, v_head, n]),
        ];
        let [q_size, absorbed_size, q_pe_size, qcur_size, kv_size, kv_norm_size, k_pe_size, v_size] =
            sizes;
        let m = &mut self.mem;
        let norm = m.alloc(e);
        let q = m.alloc(q_size);
        let q_nope = m.alloc(absorbed_size);
        let q_pe = m.alloc(q_pe_size);
        m.free(q);
        let qcur = m.alloc(qcur_size);
        m.free(q_nope);
        m.free(q_pe);
        let kv_pe = m.alloc(kv_size);
        m.free(norm);
        let kv_norm = m.alloc(kv_norm_size);
        let k_pe = m.alloc(k_pe_size);
        m.free(kv_pe);
        if last_here {
            m.free(pos);
        }
        let kcur = m.alloc(kv_size);
        m.free(kv_norm);
        m.free(k_pe);
        m.free(kcur);
        if ends_group {
            m.free(cache.k_idxs);
        }
        let attn = if g.fa {
            let out = m.alloc(absorbed_size);
            m.free(qcur);
            if ends_group {
                m.free(cache.mask);
            }
            let dec = m.alloc(v_size);
            m.free(out);
            let cont = m.alloc(v_size);
            m.free(dec);
            cont
        } else {
            let v_t = m.alloc(g.cells.saturating_mul(kv_lora).saturating_mul(2));
            let kq = m.alloc(g.n_kv.saturating_mul(n).saturating_mul(h).saturating_mul(4));
            m.free(qcur);
            if ends_group {
                m.free(cache.mask);
            }
            let kqv = m.alloc(absorbed_size);
            m.free(v_t);
            m.free(kq);
            let dec = m.alloc(v_size);
            m.free(kqv);
            let cont = m.alloc(v_size);
            m.free(dec);
            cont
        };
        let out = m.alloc(e);
        m.free(attn);
        out
    }
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
/// f32 copies of the cached keys and values over the context, and the values again in the
/// blocked layout of prompt attention; the logits of the last position; the activations
/// quantized for the dot kernels (about 34/32 bytes per FFN element, twice); and each thread's
/// rows of a prompt product (at most 256 rows × ubatch, 0.5 MiB at 512 tokens), counted for
/// eight threads.
pub fn reference_buffer_bytes(shape: &ModelShape, n_ubatch: u64, kv_cells: u64) -> u64 {
    let ff = (0..shape.n_layer)
        .map(|il| shape.active_ff(il))
        .max()
        .unwrap_or(shape.n_ff);
    let q_dim = shape.n_head as u64 * shape.head_dim_k;
    let kv_dim = shape.n_head_kv as u64 * shape.head_dim_k.max(shape.head_dim_v);
    let per_token = 4 * shape.n_embd + 2 * q_dim + 2 * kv_dim + 3 * ff;
    4 * n_ubatch * per_token
        + 12 * kv_cells * kv_dim
        + 4 * shape.n_vocab
        + 2 * n_ubatch * ff * 34 / 32
        + 8 * 4 * 256 * n_ubatch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::MoeShape;

    fn replay(
        shape: &ModelShape,
        layers: &[u32],
        out: bool,
        p: &LlamaCppParams,
        fast: bool,
    ) -> u64 {
        let mut r = Replay::new(shape, Geometry::new(shape, p));
        r.fast_forward = fast;
        r.run(layers, out);
        r.mem.max
    }

    fn shapes() -> Vec<ModelShape> {
        let llama = ModelShape {
            arch: "llama".into(),
            n_layer: 40,
            n_embd: 5120,
            n_head: 40,
            n_head_kv: 8,
            head_dim_k: 128,
            head_dim_v: 128,
            n_vocab: 131072,
            n_ff: 14336,
            max_context: 131072,
            sliding_window: None,
            mla_cache_width: None,
            moe: None,
        };
        let gemma3 = ModelShape {
            arch: "gemma3".into(),
            n_layer: 34,
            n_embd: 2560,
            n_head: 8,
            n_head_kv: 4,
            head_dim_k: 256,
            head_dim_v: 256,
            n_vocab: 262208,
            n_ff: 10240,
            sliding_window: Some((1024, 6)),
            ..llama.clone()
        };
        let moe = ModelShape {
            arch: "qwen3moe".into(),
            n_layer: 48,
            n_embd: 2048,
            n_head: 32,
            n_head_kv: 4,
            n_ff: 6144,
            moe: Some(MoeShape {
                n_expert: 128,
                n_expert_used: 8,
                expert_ff: 768,
                shared_ff: 0,
                dense_layers: 0,
            }),
            ..llama.clone()
        };
        let mla = ModelShape {
            arch: "deepseek2".into(),
            n_layer: 61,
            n_embd: 7168,
            n_head: 128,
            n_head_kv: 128,
            head_dim_k: 192,
            head_dim_v: 128,
            n_vocab: 129280,
            n_ff: 18432,
            mla_cache_width: Some(576),
            moe: Some(MoeShape {
                n_expert: 256,
                n_expert_used: 8,
                expert_ff: 2048,
                shared_ff: 2048,
                dense_layers: 3,
            }),
            ..llama.clone()
        };
        vec![llama, gemma3, moe, mla]
    }

    /// Skipping repeated layers gives the same high-water mark as replaying every layer, for
    /// whole models and for the layer ranges of a split.
    #[test]
    fn fast_forward_changes_nothing() {
        for s in shapes() {
            for (ctx, n_seq, unified, ub, fa) in [
                (512, 1, false, 512, true),
                (4096, 1, false, 2048, false),
                (8192, 4, false, 512, true),
                (8192, 4, true, 128, false),
                (32768, 2, false, 1024, true),
            ] {
                let mut p = LlamaCppParams::server(ctx * n_seq, n_seq, ub, fa);
                p.kv_unified = unified;
                let n = s.n_layer;
                for (a, b, out) in [
                    (0, n, true),
                    (0, n / 3, false),
                    (n / 3, n, true),
                    (5, 17, false),
                ] {
                    let layers: Vec<u32> = (a..b).collect();
                    assert_eq!(
                        replay(&s, &layers, out, &p, true),
                        replay(&s, &layers, out, &p, false),
                        "{} layers {a}..{b} ctx {ctx}x{n_seq} ub {ub} fa {fa}",
                        s.arch
                    );
                }
                let mut all_outputs = p;
                all_outputs.n_outputs = ub;
                let layers: Vec<u32> = (0..n).collect();
                assert_eq!(
                    replay(&s, &layers, true, &all_outputs, true),
                    replay(&s, &layers, true, &all_outputs, false)
                );
            }
        }
    }

    #[test]
    fn allocator_merges_and_reuses_freed_blocks() {
        let mut a = Tallocr::new();
        let x = a.alloc(100); // 128 after alignment
        let y = a.alloc(64);
        let z = a.alloc(32);
        assert_eq!((x, y, z), (0, 128, 192));
        a.release(x, 100);
        a.release(y, 64);
        // one merged block [0, 192) plus the unbounded tail
        assert_eq!(a.free[0], (0, 192));
        // best fit: the freed block, not the tail
        assert_eq!(a.alloc(160), 0);
        assert_eq!(a.max, 224);
        // absurd sizes saturate instead of overflowing
        let mut b = Tallocr::new();
        b.alloc(u64::MAX - 5);
        b.alloc(u64::MAX - 5);
        assert_eq!(b.max, u64::MAX);
    }

    /// Hostile shapes (a GGUF file's bounded maxima, a huge -np) never panic.
    #[test]
    fn huge_inputs_saturate() {
        let mut s = shapes().remove(3);
        s.n_embd = 1 << 20;
        s.n_vocab = 1 << 24;
        let layers: Vec<u32> = (0..s.n_layer).collect();
        let p = LlamaCppParams::server(u64::MAX / 2, 1 << 20, u64::MAX, false);
        llama_cpp_compute_bytes(&s, &layers, true, &p);
        let p = LlamaCppParams::server(1 << 40, 1, 1 << 20, true);
        assert!(llama_cpp_compute_bytes(&s, &layers, true, &p) > 1 << 40);
    }
}
