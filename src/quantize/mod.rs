//! `llama-quantize` without an importance matrix, byte for byte: reads a GGUF file (mmap), gives
//! each tensor its type by llama.cpp's recipe ([`crate::arch::recipe`]), converts the data with
//! the bit-exact codecs of [`crate::quant`] in parallel, and writes the result through
//! [`crate::gguf::GgufWriter`]'s streaming atomic write. Follows `src/llama-quant.cpp`
//! (`llama_model_quantize_impl`).
//!
//! What matches llama-quantize: the target type of every tensor (counters, tied embeddings,
//! shape fallbacks), the tensor order (`weight_name_comparer`: by layer, then name), the
//! metadata (all input entries in order, `general.quantization_version` = 2 and
//! `general.file_type` moved to the end, split keys dropped), `ggml_n_dims` shapes, 32-byte
//! alignment and the tensor data (requantized sources are dequantized to f32 first, as
//! llama-quantize does with `--allow-requantize`).
//!
//! What differs, on purpose: every refusal (requantize not allowed, imatrix required, a type
//! vramplan cannot quantize yet) happens before any output exists; the output appears only
//! when complete (llama-quantize writes in place and leaves a partial file on failure); a file
//! with a non-default `general.alignment` is written with that alignment (llama-quantize pads
//! to 32 but keeps the key).

mod plan;

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

pub use plan::{
    output_metadata, plan, recipe_context, QuantizePlan, TensorPlan, GGML_QNT_VERSION,
    KEY_FILE_TYPE, KEY_QUANTIZATION_VERSION, SPLIT_KEYS,
};

use crate::ggml::{FileType, GgmlType};
use crate::gguf::{GgufError, GgufFile, GgufWriter};
use crate::quant::{self, QuantError};

/// How to quantize. The default is llama-quantize's: all cores, no requantization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuantizeOptions {
    /// Worker threads; 0 means one per available core (llama-quantize's default). The output
    /// does not depend on it.
    pub threads: usize,
    /// Convert tensors that are already quantized (dequantized to f32 first), as
    /// `llama-quantize --allow-requantize` does. Quality suffers compared with quantizing
    /// from F16/BF16/F32.
    pub allow_requantize: bool,
}

/// Every way [`quantize_file`] can fail. None leaves an output file behind.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// Reading the input or writing the output failed (includes malformed input files).
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// The destination is a device, a directory or the input itself.
    #[error(transparent)]
    Output(#[from] crate::files::FileError),
    #[error("tensor `{tensor}` is {ty}: requantizing an already quantized tensor is disabled (allow it with --allow-requantize; quality suffers)")]
    RequantizeDisabled { tensor: String, ty: GgmlType },
    #[error("{ftype} needs an importance matrix for tensor `{tensor}` ({ty}), which vramplan quantize does not take")]
    RequiresImatrix {
        tensor: String,
        ty: GgmlType,
        ftype: FileType,
    },
    #[error("{ftype} puts tensor `{tensor}` in {ty}, which vramplan cannot quantize to yet")]
    UnsupportedTarget {
        tensor: String,
        ty: GgmlType,
        ftype: FileType,
    },
    #[error("tensor `{tensor}` is {ty}, which vramplan cannot convert from")]
    UnsupportedSource { tensor: String, ty: GgmlType },
    #[error("tensor `{tensor}`: row length {ne0} is not a multiple of the {ty} block size")]
    Shape {
        tensor: String,
        ne0: u64,
        ty: GgmlType,
    },
    /// The mapped input shrank under us (another process truncated or rewrote it): writing
    /// from its vanished pages failed with EFAULT, or its size changed by the end.
    #[error("input `{}` was truncated or replaced while vramplan was reading it; nothing was written", path.display())]
    InputChanged { path: PathBuf },
    #[error("cannot start {threads} worker threads: {message}")]
    Threads { threads: usize, message: String },
    /// The progress callback asked to stop.
    #[error("quantization cancelled; {} was not written", path.display())]
    Cancelled { path: PathBuf },
    /// A codec refused a buffer (an internal inconsistency, not bad input).
    #[error("tensor `{tensor}`: {source}")]
    Codec {
        tensor: String,
        #[source]
        source: QuantError,
    },
}

impl QuantizeError {
    /// Whether the input (file, type, options) is at fault, as opposed to the work failing
    /// (I/O, cancellation): exit code 2 rather than 1 in the CLI's convention.
    pub fn is_bad_input(&self) -> bool {
        match self {
            QuantizeError::Gguf(e) => match e {
                GgufError::Io { action, .. } => action.contains("open") || action.contains("map"),
                GgufError::InvalidWrite(_) => false,
                _ => true,
            },
            QuantizeError::Output(_) => true,
            QuantizeError::RequantizeDisabled { .. }
            | QuantizeError::RequiresImatrix { .. }
            | QuantizeError::UnsupportedTarget { .. }
            | QuantizeError::UnsupportedSource { .. }
            | QuantizeError::Shape { .. } => true,
            QuantizeError::Threads { .. }
            | QuantizeError::InputChanged { .. }
            | QuantizeError::Cancelled { .. }
            | QuantizeError::Codec { .. } => false,
        }
    }
}

/// Tensors and bytes of one output type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TypeSummary {
    #[serde(rename = "type")]
    pub ty: GgmlType,
    pub tensors: usize,
    pub elements: u64,
    /// Output data bytes (padding excluded).
    pub bytes: u64,
}

/// What [`quantize_file`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuantizeReport {
    pub input: PathBuf,
    pub output: PathBuf,
    pub ftype: FileType,
    pub threads: usize,
    /// File sizes.
    pub input_bytes: u64,
    pub output_bytes: u64,
    /// Tensor data sizes (padding excluded).
    pub input_tensor_bytes: u64,
    pub output_tensor_bytes: u64,
    pub n_tensors: usize,
    /// Tensors converted to another type.
    pub n_converted: usize,
    /// Tensors copied unchanged.
    pub n_copied: usize,
    /// Per output type, in type-id order.
    pub types: Vec<TypeSummary>,
    /// Every tensor, in output order.
    pub tensors: Vec<TensorPlan>,
    pub seconds: f64,
}

/// `EFAULT` ("Bad address"): the errno of a write whose source pages are no longer mapped.
const EFAULT: i32 = 14;

/// Most output bytes converted between two progress reports (and the bound on the per-slab
/// buffer); copied tensors go out in slabs of the same size.
const SLAB_BYTES: u64 = 16 << 20;
/// Fewest elements one parallel work item converts (llama-quantize's `min_chunk_size`).
const MIN_CHUNK_ELEMENTS: u64 = 32 * 512;

/// Quantize the GGUF file `input` into `output` for `ftype`, as `llama-quantize` would
/// (with `--allow-requantize` when `opts.allow_requantize`).
///
/// `progress(done, total)` is called from the calling thread with input tensor bytes processed
/// so far, at the start, after each slab of at most 16 MiB of output and at the end; returning
/// [`ControlFlow::Break`] cancels ([`QuantizeError::Cancelled`]). Memory stays bounded by three
/// slabs (one being converted, one queued, one being written) plus the mapped input. The
/// output is written to a temporary file beside `output` and renamed into place only when
/// complete: on any error or cancellation no file is created and an existing `output` is left untouched. An `output` that exists and is not a
/// regular file, or is `input` itself (same inode, links followed), is refused before any work
/// ([`crate::files::check_output`]); an existing regular file is replaced (a symbolic link to
/// one keeps pointing at it). Checking `--force` is the caller's business.
pub fn quantize_file(
    input: &Path,
    output: &Path,
    ftype: FileType,
    opts: &QuantizeOptions,
    progress: &dyn Fn(u64, u64) -> ControlFlow<()>,
) -> Result<QuantizeReport, QuantizeError> {
    let start = Instant::now();
    let target = crate::files::check_output(output, &[input], true)?;
    let file = GgufFile::open(input)?;
    let plan = plan(&file, ftype, opts)?;

    let mut writer = GgufWriter::new();
    for (key, value) in &plan.metadata {
        writer.add_kv(key.clone(), value.clone())?;
    }
    for t in &plan.tensors {
        writer.add_tensor_info(t.name.clone(), &t.shape, t.to)?;
    }
    let output_bytes = writer.file_size();

    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("vramplan-quantize-{i}"))
        .build()
        .map_err(|e| QuantizeError::Threads {
            threads,
            message: e.to_string(),
        })?;

    let total = plan.in_tensor_bytes();
    let mut done = 0u64;
    // The writer turns callback errors into strings; the typed error waits here.
    let mut failure: Option<QuantizeError> = None;
    let cancelled = || QuantizeError::Cancelled {
        path: output.to_path_buf(),
    };
    if progress(0, total).is_break() {
        return Err(cancelled());
    }
    // Converted tensors are produced in order on a thread of their own (their rows split over
    // the pool) and handed over a bounded channel, so the pool converts the next slab while
    // this thread writes the last one.
    let result = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<u8>, QuantizeError>>(1);
        let (plan, file, pool) = (&plan, &file, &pool);
        scope.spawn(move || {
            for t in plan.tensors.iter().filter(|t| t.converts()) {
                let data = file.tensor_data(&file.tensors()[t.source]);
                for slab in Slabs::of(t) {
                    // A closed channel: the writer stopped (error or cancellation).
                    let converted = convert_slab(pool, t, data, &slab);
                    // Read once: give the source pages back (resident memory stays at a few
                    // slabs, not the input's size).
                    file.release(Slabs::source(t, data, &slab));
                    if tx.send(converted).is_err() {
                        return;
                    }
                }
            }
        });
        let written = writer.write_streaming(&target, |i, _spec, sink| {
            let t = &plan.tensors[i];
            let mut report = |bytes: u64| -> Result<(), QuantizeError> {
                done += bytes;
                match progress(done, total) {
                    ControlFlow::Continue(()) => Ok(()),
                    ControlFlow::Break(()) => Err(cancelled()),
                }
            };
            let mut written = if t.converts() {
                write_converted(t, &rx, sink, output, &mut report)
            } else {
                let data = file.tensor_data(&file.tensors()[t.source]);
                copy_tensor(data, sink, output, &mut report, &|b| file.release(b))
            };
            // A shrunken input that did not fault: its size before the output is renamed into place.
            if written.is_ok()
                && i + 1 == plan.tensors.len()
                && std::fs::metadata(input).map_or(true, |m| m.len() != file.len())
            {
                written = Err(QuantizeError::InputChanged {
                    path: input.to_path_buf(),
                });
            }
            written.map_err(|e| {
                // Copied tensors are written straight from the map: pages past a new, shorter end
                // of the input make write(2) fail with EFAULT (where a read would raise SIGBUS).
                let efault = matches!(&e, QuantizeError::Gguf(GgufError::Io { source, .. })
                    if source.raw_os_error() == Some(EFAULT));
                let e = if efault {
                    QuantizeError::InputChanged {
                        path: input.to_path_buf(),
                    }
                } else {
                    e
                };
                failure = Some(e);
                io::Error::other("quantization stopped")
            })
        });
        // Unblocks the producer if the writer stopped early; the scope then joins it.
        drop(rx);
        written
    });
    if let Err(e) = result {
        return Err(failure.unwrap_or(QuantizeError::Gguf(e)));
    }

    let mut types: Vec<TypeSummary> = Vec::new();
    for t in &plan.tensors {
        match types.iter_mut().find(|s| s.ty == t.to) {
            Some(s) => {
                s.tensors += 1;
                s.elements += t.n_elements();
                s.bytes += t.out_bytes;
            }
            None => types.push(TypeSummary {
                ty: t.to,
                tensors: 1,
                elements: t.n_elements(),
                bytes: t.out_bytes,
            }),
        }
    }
    types.sort_by_key(|s| s.ty.id());
    let n_converted = plan.tensors.iter().filter(|t| t.converts()).count();
    Ok(QuantizeReport {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        ftype,
        threads,
        input_bytes: file.len(),
        output_bytes,
        input_tensor_bytes: total,
        output_tensor_bytes: plan.out_tensor_bytes(),
        n_tensors: plan.tensors.len(),
        n_converted,
        n_copied: plan.tensors.len() - n_converted,
        types,
        tensors: plan.tensors,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn write_error(path: &Path, e: io::Error) -> QuantizeError {
    QuantizeError::Gguf(GgufError::io("cannot write GGUF data to", path, e))
}

/// Copy a tensor's bytes unchanged, in slabs, each `release`d once written.
fn copy_tensor(
    data: &[u8],
    sink: &mut dyn Write,
    path: &Path,
    report: &mut dyn FnMut(u64) -> Result<(), QuantizeError>,
    release: &dyn Fn(&[u8]),
) -> Result<(), QuantizeError> {
    for slab in data.chunks(SLAB_BYTES as usize) {
        sink.write_all(slab).map_err(|e| write_error(path, e))?;
        release(slab);
        report(slab.len() as u64)?;
    }
    Ok(())
}

/// The slabs a converted tensor is produced and written in: whole rows, at most
/// [`SLAB_BYTES`] of output (but at least one parallel chunk), in order.
struct Slabs {
    /// Elements per row.
    ne0: usize,
    /// Input and output bytes per row.
    src_row: usize,
    dst_row: usize,
    /// Rows per parallel work item.
    chunk_rows: usize,
    slab_rows: usize,
    n_rows: usize,
    next: usize,
}

/// Rows `start..start + rows` of a tensor.
struct Slab {
    start: usize,
    rows: usize,
}

impl Slabs {
    /// The source bytes of `slab` within the tensor's bytes `src`.
    fn source<'s>(t: &TensorPlan, src: &'s [u8], slab: &Slab) -> &'s [u8] {
        let s = Slabs::of(t);
        &src[slab.start * s.src_row..(slab.start + slab.rows) * s.src_row]
    }

    fn of(t: &TensorPlan) -> Slabs {
        let ne0 = t.row_len();
        let n_rows = t.n_elements().checked_div(ne0).unwrap_or(0);
        // Sizes were validated by the reader (source) and the plan (target).
        let src_row = t.in_bytes.checked_div(n_rows).unwrap_or(0) as usize;
        let dst_row = t.out_bytes.checked_div(n_rows).unwrap_or(0) as usize;
        let chunk_rows = MIN_CHUNK_ELEMENTS.div_ceil(ne0.max(1)).max(1) as usize;
        let slab_rows = ((SLAB_BYTES / dst_row.max(1) as u64) as usize)
            .max(chunk_rows)
            .min(n_rows as usize);
        Slabs {
            ne0: ne0 as usize,
            src_row,
            dst_row,
            chunk_rows,
            slab_rows,
            n_rows: n_rows as usize,
            next: 0,
        }
    }
}

impl Iterator for Slabs {
    type Item = Slab;
    fn next(&mut self) -> Option<Slab> {
        if self.next >= self.n_rows {
            return None;
        }
        let rows = self.slab_rows.min(self.n_rows - self.next);
        let slab = Slab {
            start: self.next,
            rows,
        };
        self.next += rows;
        Some(slab)
    }
}

/// Convert one slab of rows: dequantize each row to f32 (or read it as f32), quantize it to the
/// target type. Rows are independent (no importance matrix), so the slab is split into chunks
/// of whole rows converted in parallel; the bytes do not depend on the split.
fn convert_slab(
    pool: &rayon::ThreadPool,
    t: &TensorPlan,
    src: &[u8],
    slab: &Slab,
) -> Result<Vec<u8>, QuantizeError> {
    let s = Slabs::of(t);
    let src_slab = Slabs::source(t, src, slab);
    let mut out = vec![0u8; slab.rows * s.dst_row];
    pool.install(|| {
        out.par_chunks_mut(s.chunk_rows * s.dst_row)
            .zip(src_slab.par_chunks(s.chunk_rows * s.src_row))
            .try_for_each_init(Vec::new, |f32s: &mut Vec<f32>, (dst, src)| {
                f32s.resize(dst.len() / s.dst_row * s.ne0, 0.0);
                quant::dequantize(t.from, src, f32s)?;
                quant::quantize(t.to, f32s, dst)
            })
    })
    .map_err(|source| QuantizeError::Codec {
        tensor: t.name.clone(),
        source,
    })?;
    Ok(out)
}

/// Write a converted tensor: its slabs, as the producer thread sends them, in order.
fn write_converted(
    t: &TensorPlan,
    rx: &std::sync::mpsc::Receiver<Result<Vec<u8>, QuantizeError>>,
    sink: &mut dyn Write,
    path: &Path,
    report: &mut dyn FnMut(u64) -> Result<(), QuantizeError>,
) -> Result<(), QuantizeError> {
    let src_row = Slabs::of(t).src_row;
    for slab in Slabs::of(t) {
        // A closed channel means the producer died (a panic, re-raised when it is joined).
        let bytes = rx.recv().map_err(|_| QuantizeError::Threads {
            threads: 1,
            message: "the conversion thread stopped".into(),
        })??;
        sink.write_all(&bytes).map_err(|e| write_error(path, e))?;
        report((slab.rows * src_row) as u64)?;
    }
    Ok(())
}
