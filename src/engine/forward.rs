//! The forward pass, top to bottom, as llama.cpp's `llm_build_llama` / `llm_build_qwen2` graphs
//! compute it on the CPU without flash attention: embeddings; per layer RMSNorm, Q/K/V (+ biases),
//! RoPE, K and V stored in the cache, `softmax(scale · QKᵀ + causal mask) · V` with Q and the
//! probabilities rounded to f16 (the partner type of the f16 cache), output projection and
//! residual; RMSNorm, SwiGLU FFN or routed experts and residual; final RMSNorm and the output
//! head. Prompts run in micro-batches of up to `n_ubatch` tokens; decoding is one token at a time.

use super::attention::{attend, attend_group, block_values, group_path, Path};
use super::kv::{KvCache, KvCacheType};
use super::matmul::{matmul, matvecs, MatvecJob, QuantActs};
use super::model::{Ffn, Mat, Model};
use super::ops::{rms_norm, route_top_k, swiglu};
use super::pool::{for_chunks_mut, with_current, Pool, SharedMut};
use super::EngineError;

/// Settings of a [`Session`].
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Context length in tokens (the cache holds it padded to 256 cells).
    pub n_ctx: usize,
    /// Most tokens per forward pass while ingesting a prompt (llama.cpp's `n_ubatch`).
    pub n_ubatch: usize,
    /// KV cache element type.
    pub kv_type: KvCacheType,
    /// Worker threads (rayon); 0 means one per available core.
    pub threads: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            n_ctx: 4096,
            n_ubatch: 512,
            kv_type: KvCacheType::F16,
            threads: 0,
        }
    }
}

/// Resident memory of a session besides the mapped weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MemoryUse {
    /// Bytes of tensor data the model reads from the map (file pages, shared with the page cache).
    pub weights_mapped_bytes: u64,
    /// f32 norm weights and biases copied out of the file, and the matrices repacked at load.
    pub weights_copied_bytes: u64,
    /// KV cache cells per layer (the context padded to 256).
    pub kv_cells: u64,
    /// K and V over all layers.
    pub kv_bytes: u64,
    /// Activation and scratch buffers, at their high-water mark so far.
    pub buffer_bytes: u64,
}

/// Scratch buffers of one forward pass, kept between calls.
#[derive(Debug, Default)]
struct Buffers {
    x: Vec<f32>,
    xn: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    o: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    down: Vec<f32>,
    keys: Vec<f32>,
    values: Vec<f32>,
    /// The values in [`block_values`]' layout, for prompt attention.
    values_t: Vec<f32>,
    logits: Vec<f32>,
    acts: [QuantActs; 2],
    /// One-token activations for the fused products, one per product (see [`quantize_for`]).
    dacts: [QuantActs; 3],
    /// Per thread: one KV head's keys and values for one-token attention.
    heads: Vec<Vec<f32>>,
    /// Per thread: one task's rows of a prompt product (see [`matmul`]).
    mm: Vec<Vec<f32>>,
}

impl Buffers {
    fn bytes(&self) -> u64 {
        let f = [
            &self.x,
            &self.xn,
            &self.q,
            &self.k,
            &self.v,
            &self.attn,
            &self.o,
            &self.gate,
            &self.up,
            &self.down,
            &self.keys,
            &self.values,
            &self.values_t,
            &self.logits,
        ]
        .iter()
        .map(|v| v.capacity() * 4)
        .sum::<usize>();
        let acts = self.acts.iter().chain(&self.dacts);
        let heads = (self.heads.iter().chain(&self.mm))
            .map(|h| h.capacity() * 4)
            .sum::<usize>();
        (f + heads + acts.map(|a| a.data.capacity()).sum::<usize>()) as u64
    }
}

/// Sizes a buffer that is about to be overwritten in full (no clearing: a 128k-entry logits
/// row zeroed per token showed in profiles).
fn resize(v: &mut Vec<f32>, n: usize) {
    v.resize(n, 0.0);
}

/// An inference session: the model, a KV cache, the tokens evaluated so far and a thread pool.
pub struct Session<'m, 'a> {
    model: &'m Model<'a>,
    cfg: SessionConfig,
    kv: KvCache,
    n_past: usize,
    pool: Pool,
    bufs: Buffers,
    buffer_peak: u64,
}

impl std::fmt::Debug for Session<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("cfg", &self.cfg)
            .field("n_past", &self.n_past)
            .finish()
    }
}

impl<'m, 'a> Session<'m, 'a> {
    /// A session with an empty cache of `cfg.n_ctx` tokens.
    pub fn new(model: &'m Model<'a>, cfg: SessionConfig) -> Result<Session<'m, 'a>, EngineError> {
        let hp = &model.hparams;
        let kv = KvCache::new(
            cfg.kv_type,
            hp.n_layer,
            cfg.n_ctx,
            hp.n_head_kv * hp.head_dim,
        )?;
        let threads = if cfg.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            cfg.threads
        };
        let pool = Pool::new(threads).map_err(|e| EngineError::Threads {
            threads,
            reason: e.to_string(),
        })?;
        Ok(Session {
            model,
            cfg: SessionConfig { threads, ..cfg },
            kv,
            n_past: 0,
            pool,
            bufs: Buffers::default(),
            buffer_peak: 0,
        })
    }

    /// Tokens in the cache.
    pub fn n_past(&self) -> usize {
        self.n_past
    }
    /// The context the cache holds (cells).
    pub fn n_ctx(&self) -> usize {
        self.kv.cells()
    }
    /// Worker threads.
    pub fn threads(&self) -> usize {
        self.cfg.threads
    }
    /// Forgets every token (the cache is overwritten from position 0).
    pub fn reset(&mut self) {
        self.n_past = 0;
    }

    /// Resident memory of this session.
    pub fn memory(&self) -> MemoryUse {
        MemoryUse {
            weights_mapped_bytes: self.model.weight_bytes - self.model.repacked_bytes,
            weights_copied_bytes: self.model.copied_bytes,
            kv_cells: self.kv.cells() as u64,
            kv_bytes: self.kv.bytes(),
            buffer_bytes: self.buffer_peak.max(self.bufs.bytes()),
        }
    }

    /// Evaluates `tokens` after those already in the cache. Returns the logits of the last token
    /// (`n_vocab` floats), or of every token (`tokens.len() × n_vocab`) when `all_logits`.
    pub fn eval(&mut self, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>, EngineError> {
        let needed = self.n_past + tokens.len();
        if needed > self.kv.cells() {
            return Err(EngineError::ContextFull {
                needed,
                n_ctx: self.kv.cells(),
            });
        }
        let n_vocab = self.model.hparams.n_vocab;
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(EngineError::TokenOutOfRange { token: t, n_vocab });
        }
        let mut out = Vec::with_capacity(if all_logits {
            tokens.len() * n_vocab
        } else {
            n_vocab
        });
        let ub = self.cfg.n_ubatch.max(1);
        let n_chunks = tokens.len().div_ceil(ub);
        for (i, chunk) in tokens.chunks(ub).enumerate() {
            let last = i + 1 == n_chunks;
            let want = if all_logits {
                Outputs::All
            } else if last {
                Outputs::Last
            } else {
                Outputs::None
            };
            let model = self.model;
            let pos0 = self.n_past;
            let (kv, bufs) = (&mut self.kv, &mut self.bufs);
            self.pool
                .install(|| forward(model, kv, bufs, chunk, pos0, want))?;
            self.n_past += chunk.len();
            out.extend_from_slice(&self.bufs.logits);
            self.buffer_peak = self.buffer_peak.max(self.bufs.bytes());
        }
        Ok(out)
    }
}

/// Which tokens of a micro-batch need logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outputs {
    None,
    Last,
    All,
}

/// `out = w · x` for the `n` rows of `x`, quantizing `x` into `acts` first unless it already
/// holds `x` in the right type (`fresh` false).
fn mm(
    m: &Mat<'_>,
    x: &[f32],
    acts: &mut QuantActs,
    fresh: bool,
    out: &mut Vec<f32>,
    scratch: &mut Vec<Vec<f32>>,
) {
    let n = x.len() / m.w.cols;
    if let Some(t) = m.k.act_type() {
        if fresh || acts.ty != Some(t) || acts.n != n || acts.cols != m.w.cols {
            acts.quantize(t, x, m.w.cols);
        }
    }
    resize(out, n * m.w.rows);
    matmul(&m.w, &m.k, x, acts, out, scratch);
}

fn add_bias(x: &mut [f32], b: &Option<Vec<f32>>) {
    if let Some(b) = b {
        for row in x.chunks_mut(b.len()) {
            for (v, &bb) in row.iter_mut().zip(b) {
                *v += bb;
            }
        }
    }
}

/// One micro-batch through the model; logits of the requested tokens land in `b.logits`.
fn forward(
    model: &Model<'_>,
    kv: &mut KvCache,
    b: &mut Buffers,
    tokens: &[u32],
    pos0: usize,
    want: Outputs,
) -> Result<(), EngineError> {
    let hp = &model.hparams;
    let (e, hd) = (hp.n_embd, hp.head_dim);
    let mut n = tokens.len();
    let (q_dim, kv_dim) = (hp.n_head * hd, hp.n_head_kv * hd);

    // Token embeddings (`ggml_get_rows`).
    resize(&mut b.x, n * e);
    for (t, &tok) in tokens.iter().enumerate() {
        model.embed(tok, &mut b.x[t * e..(t + 1) * e])?;
    }
    let rope_caches: Vec<Vec<(f32, f32)>> = (0..n).map(|t| hp.rope.cache(pos0 + t)).collect();

    for (il, layer) in model.layers.iter().enumerate() {
        // Attention block.
        rms_norm_rows(&b.x, &layer.attn_norm, hp.rms_eps, &mut b.xn);
        if n == 1 {
            qkv_one(layer, b);
        } else {
            let [a0, _] = &mut b.acts;
            mm(&layer.wq, &b.xn, a0, true, &mut b.q, &mut b.mm);
            mm(&layer.wk, &b.xn, a0, false, &mut b.k, &mut b.mm);
            mm(&layer.wv, &b.xn, a0, false, &mut b.v, &mut b.mm);
        }
        add_bias(&mut b.q, &layer.bq);
        add_bias(&mut b.k, &layer.bk);
        add_bias(&mut b.v, &layer.bv);
        for (t, cache) in rope_caches.iter().enumerate() {
            for h in b.q[t * q_dim..(t + 1) * q_dim].chunks_mut(hd) {
                hp.rope.apply(h, cache);
            }
            for h in b.k[t * kv_dim..(t + 1) * kv_dim].chunks_mut(hd) {
                hp.rope.apply(h, cache);
            }
            kv.store(
                il,
                pos0 + t,
                &b.k[t * kv_dim..(t + 1) * kv_dim],
                &b.v[t * kv_dim..(t + 1) * kv_dim],
            );
        }
        if n == 1 {
            attend_one(hp, kv, il, &b.q, pos0, &mut b.attn, &mut b.heads);
        } else {
            let n_kv = pos0 + n;
            kv.keys(il, n_kv, &mut b.keys);
            kv.values(il, n_kv, &mut b.values);
            let f16 = kv.ty() == KvCacheType::F16;
            let vals = (&b.values[..], &mut b.values_t);
            attend_heads(hp, &b.q, &b.keys, vals, pos0, f16, &mut b.attn);
        }
        let [a0, _] = &mut b.acts;
        mm(&layer.wo, &b.attn, a0, true, &mut b.o, &mut b.mm);
        add_bias(&mut b.o, &layer.bo);

        // Only the tokens that need logits go through the last layer's FFN (`inp_out_ids`).
        let keep = if il + 1 == model.layers.len() {
            match want {
                Outputs::All => 0..n,
                Outputs::Last => n - 1..n,
                Outputs::None => n..n,
            }
        } else {
            0..n
        };
        if keep != (0..n) {
            b.x.drain(..keep.start * e);
            b.x.truncate(keep.len() * e);
            b.o.drain(..keep.start * e);
            b.o.truncate(keep.len() * e);
            n = keep.len();
            if n == 0 {
                b.logits.clear();
                return Ok(());
            }
        }
        for (x, o) in b.x.iter_mut().zip(&b.o) {
            *x += o;
        }

        // FFN block.
        rms_norm_rows(&b.x, &layer.ffn_norm, hp.rms_eps, &mut b.xn);
        match &layer.ffn {
            Ffn::Dense { gate, up, down } => {
                if n == 1 {
                    gate_up_one(gate, up, b);
                } else {
                    let [a0, _] = &mut b.acts;
                    mm(gate, &b.xn, a0, true, &mut b.gate, &mut b.mm);
                    mm(up, &b.xn, a0, false, &mut b.up, &mut b.mm);
                    swiglu_rows(&mut b.gate, &b.up, up.w.rows);
                }
                let [_, a1] = &mut b.acts;
                mm(down, &b.gate, a1, true, &mut b.down, &mut b.mm);
            }
            Ffn::Moe {
                router,
                gate,
                up,
                down,
            } => {
                moe(model, router, gate, up, down, n, b);
            }
        }
        for (x, d) in b.x.iter_mut().zip(&b.down) {
            *x += d;
        }
    }

    // Output norm and head.
    rms_norm_rows(&b.x, &model.output_norm, hp.rms_eps, &mut b.xn);
    let [a0, _] = &mut b.acts;
    let mut logits = std::mem::take(&mut b.logits);
    mm(&model.output, &b.xn, a0, true, &mut logits, &mut b.mm);
    b.logits = logits;
    Ok(())
}

/// Quantizes the one activation row `x` for each of `mats` into `acts` and returns the slot
/// each product reads (a product whose partner type an earlier one shares reuses its slot).
fn quantize_for<const N: usize>(
    mats: [&Mat<'_>; N],
    x: &[f32],
    acts: &mut [QuantActs],
) -> [usize; N] {
    let mut slot = [0; N];
    for j in 0..N {
        let t = mats[j].k.act_type();
        slot[j] = (0..j).find(|&i| mats[i].k.act_type() == t).unwrap_or(j);
        if let (Some(t), true) = (t, slot[j] == j) {
            acts[j].quantize(t, x, mats[j].w.cols);
        }
    }
    slot
}

/// Q, K and V of one token in one parallel region.
fn qkv_one(layer: &super::model::Layer<'_>, b: &mut Buffers) {
    let mats = [&layer.wq, &layer.wk, &layer.wv];
    let slot = quantize_for(mats, &b.xn, &mut b.dacts);
    resize(&mut b.q, layer.wq.w.rows);
    resize(&mut b.k, layer.wk.w.rows);
    resize(&mut b.v, layer.wv.w.rows);
    let job = |j: usize, out| MatvecJob {
        w: &mats[j].w,
        k: &mats[j].k,
        acts: &b.dacts[slot[j]],
        out,
    };
    let jobs = [job(0, &mut b.q), job(1, &mut b.k), job(2, &mut b.v)];
    matvecs(jobs, &b.xn, |_| {});
}

/// Gate and up of one token and SwiGLU over them (into `b.gate`) in one parallel region.
fn gate_up_one(gate: &Mat<'_>, up: &Mat<'_>, b: &mut Buffers) {
    let slot = quantize_for([gate, up], &b.xn, &mut b.dacts);
    resize(&mut b.gate, gate.w.rows);
    resize(&mut b.up, up.w.rows);
    let jobs = [
        MatvecJob {
            w: &gate.w,
            k: &gate.k,
            acts: &b.dacts[slot[0]],
            out: &mut b.gate,
        },
        MatvecJob {
            w: &up.w,
            k: &up.k,
            acts: &b.dacts[slot[1]],
            out: &mut b.up,
        },
    ];
    // SwiGLU per part: parts start on multiples of 16, so its 8-lane blocks and tail fall on the
    // same elements as over the whole row.
    matvecs(jobs, &b.xn, |[g, u]| swiglu(g, u));
}

/// `out` (`x.len()` floats) = each row of `x` (`w.len()` floats) RMS-normalized and scaled by `w`.
/// Rows go to the pool in tasks of [`ROWS_PER_TASK`] (a serial pass here idled the other threads).
fn rms_norm_rows(x: &[f32], w: &[f32], eps: f32, out: &mut Vec<f32>) {
    let e = w.len();
    resize(out, x.len());
    for_chunks_mut(out, ROWS_PER_TASK * e, |_, i, out| {
        let x = &x[i * ROWS_PER_TASK * e..];
        for (xr, o) in x.chunks_exact(e).zip(out.chunks_exact_mut(e)) {
            rms_norm(xr, w, eps, o);
        }
    });
}

/// Token rows per task of the element-wise passes over a prompt batch.
const ROWS_PER_TASK: usize = 16;

/// [`swiglu`] of each token's row (`ff` floats) of `gate` and `up`, as ggml applies it row by
/// row, in tasks of [`ROWS_PER_TASK`] rows.
fn swiglu_rows(gate: &mut [f32], up: &[f32], ff: usize) {
    for_chunks_mut(gate, ROWS_PER_TASK * ff, |_, i, g| {
        let up = &up[i * ROWS_PER_TASK * ff..];
        for (g, u) in g.chunks_exact_mut(ff).zip(up.chunks_exact(ff)) {
            swiglu(g, u);
        }
    });
}

/// Attention of the `q.len() / q_dim` tokens at positions `pos0..` over the cache's first
/// `pos0 + n` keys and values, into `out` (`n × q_dim`): one task per token and KV group, whose
/// query heads share every key and value load ([`attend_group`], on `values` laid out into
/// `values.1`), or per token and head where the head size rules that out.
fn attend_heads(
    hp: &super::model::HParams,
    q: &[f32],
    keys: &[f32],
    values: (&[f32], &mut Vec<f32>),
    pos0: usize,
    f16: bool,
    out: &mut Vec<f32>,
) {
    let hd = hp.head_dim;
    let (q_dim, kv_dim) = (hp.n_head * hd, hp.n_head_kv * hd);
    let gqa = hp.n_head / hp.n_head_kv;
    let n = q.len() / q_dim;
    let (values, vt) = values;
    resize(out, n * q_dim);
    if n >= 2 && group_path(hd) {
        let n_kv = pos0 + n;
        block_values(values, hp.n_head_kv, hd, n_kv, vt);
        let group = vt.len() / hp.n_head_kv;
        for_chunks_mut(out, gqa * hd, |_, i, out| {
            let (t, g) = (i / hp.n_head_kv, i % hp.n_head_kv);
            let qg = &q[t * q_dim + g * gqa * hd..t * q_dim + (g + 1) * gqa * hd];
            let vg = &vt[g * group..(g + 1) * group];
            attend_group(
                qg,
                hd,
                keys,
                kv_dim,
                g * hd,
                vg,
                pos0 + t + 1,
                hp.kq_scale,
                f16,
                out,
            );
        });
        return;
    }
    // llama.cpp multiplies a batch with tinyBLAS and one token with vec_dot (see attention.rs).
    let path = if n >= 2 { Path::Batch } else { Path::Single };
    for_chunks_mut(out, hd, |_, i, out| {
        let (t, h) = (i / hp.n_head, i % hp.n_head);
        let qh = &q[t * q_dim + h * hd..t * q_dim + (h + 1) * hd];
        let off = (h / gqa) * hd;
        attend(
            qh,
            keys,
            values,
            kv_dim,
            off,
            pos0 + t + 1,
            hp.kq_scale,
            path,
            f16,
            out,
        );
    });
}

/// One-token attention over the cache's first `pos0 + 1` cells, one task per KV head: the task
/// widens that head's keys and values once (into its thread's buffer in `heads`) and attends
/// each query head of the group over them. Same arithmetic as [`attend_heads`] for one token.
fn attend_one(
    hp: &super::model::HParams,
    kv: &KvCache,
    il: usize,
    q: &[f32],
    pos0: usize,
    out: &mut Vec<f32>,
    heads: &mut Vec<Vec<f32>>,
) {
    let hd = hp.head_dim;
    let gqa = hp.n_head / hp.n_head_kv;
    let n_kv = pos0 + 1;
    let f16 = kv.ty() == KvCacheType::F16;
    resize(out, hp.n_head * hd);
    let threads = with_current(|p| p.map_or(1, Pool::threads));
    heads.resize_with(threads, Vec::new);
    for h in heads.iter_mut() {
        resize(h, 2 * n_kv * hd);
    }
    let bufs = SharedMut::new(&mut heads[..]);
    for_chunks_mut(out, gqa * hd, |tid, g, out| {
        // SAFETY: a thread's tasks run one after another, and each thread uses only its buffer.
        let buf = unsafe { &mut bufs.slice(tid..tid + 1)[0] };
        let (keys, values) = buf.split_at_mut(n_kv * hd);
        kv.head(il, false, n_kv, g * hd, keys);
        kv.head(il, true, n_kv, g * hd, values);
        for (i, o) in out.chunks_mut(hd).enumerate() {
            let h = g * gqa + i;
            let qh = &q[h * hd..(h + 1) * hd];
            attend(
                qh,
                keys,
                values,
                hd,
                0,
                n_kv,
                hp.kq_scale,
                Path::Single,
                f16,
                o,
            );
        }
    });
}

/// Routed experts (`build_moe_ffn`, softmax gating, renormalized top-k weights): the router
/// picks experts per token, each expert runs on the tokens routed to it, and every token sums its
/// experts' outputs in routing order, weighted.
fn moe(
    model: &Model<'_>,
    router: &Mat<'_>,
    gate: &super::model::Experts<'_>,
    up: &super::model::Experts<'_>,
    down: &super::model::Experts<'_>,
    n: usize,
    b: &mut Buffers,
) {
    let hp = &model.hparams;
    let (e, k) = (hp.n_embd, hp.n_expert_used);
    let mut router_logits = Vec::new();
    let [a0, a1] = &mut b.acts;
    mm(router, &b.xn, a0, true, &mut router_logits, &mut b.mm);
    let routes: Vec<Vec<(usize, f32)>> = router_logits
        .chunks(hp.n_expert)
        .map(|l| route_top_k(l, k))
        .collect();
    // Per token and routing slot: the weighted expert output.
    let mut slots = vec![0.0f32; n * k * e];
    let mut xs = Vec::new();
    let (mut g, mut u, mut d) = (Vec::new(), Vec::new(), Vec::new());
    for ex in 0..hp.n_expert {
        let users: Vec<(usize, usize, f32)> = routes
            .iter()
            .enumerate()
            .flat_map(|(t, r)| {
                r.iter()
                    .enumerate()
                    .filter(|(_, &(x, _))| x == ex)
                    .map(move |(slot, &(_, w))| (t, slot, w))
            })
            .collect();
        if users.is_empty() {
            continue;
        }
        resize(&mut xs, users.len() * e);
        for (i, &(t, _, _)) in users.iter().enumerate() {
            xs[i * e..(i + 1) * e].copy_from_slice(&b.xn[t * e..(t + 1) * e]);
        }
        mm(&gate.expert(ex), &xs, a0, true, &mut g, &mut b.mm);
        mm(&up.expert(ex), &xs, a0, false, &mut u, &mut b.mm);
        swiglu(&mut g, &u);
        mm(&down.expert(ex), &g, a1, true, &mut d, &mut b.mm);
        for (i, &(t, slot, w)) in users.iter().enumerate() {
            let dst = &mut slots[(t * k + slot) * e..(t * k + slot + 1) * e];
            for (o, &v) in dst.iter_mut().zip(&d[i * e..(i + 1) * e]) {
                *o = v * w;
            }
        }
    }
    b.down.clear();
    b.down.resize(n * e, 0.0);
    for t in 0..n {
        let out = &mut b.down[t * e..(t + 1) * e];
        for slot in 0..k {
            for (o, &v) in out
                .iter_mut()
                .zip(&slots[(t * k + slot) * e..(t * k + slot + 1) * e])
            {
                *o += v;
            }
        }
    }
}
