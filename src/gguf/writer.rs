//! The GGUF writer: version 3, metadata of every value type, tensor infos with precomputed aligned
//! offsets, then the tensor data, either held in memory or streamed in order from a callback.
//! Files are written to a temporary file beside the destination and renamed into place only when
//! complete. Layout follows gguf-py's `GGUFWriter` and `ggml/src/gguf.cpp`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::error::GgufError;
use super::reader::{
    GGML_MAX_DIMS, GGML_MAX_NAME, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, KEY_ALIGNMENT,
};
use super::value::{encode_str, MetaValue};
use crate::arch::TensorSpec;
use crate::ggml::GgmlType;

/// The format version the writer produces.
pub const GGUF_WRITE_VERSION: u32 = 3;

struct PendingTensor<'a> {
    spec: TensorSpec,
    n_bytes: u64,
    data: Option<Cow<'a, [u8]>>,
}

/// Builds a GGUF file. Tensor data is either given up front ([`GgufWriter::add_tensor`], borrowed
/// or owned) or declared ([`GgufWriter::add_tensor_info`]) and supplied in order while writing
/// ([`GgufWriter::write_streaming`]).
#[derive(Default)]
pub struct GgufWriter<'a> {
    kvs: Vec<(String, MetaValue)>,
    keys: HashSet<String>,
    tensors: Vec<PendingTensor<'a>>,
    names: HashSet<String>,
    alignment: Option<u32>,
}

/// The sink a streaming callback writes one tensor's bytes into. It refuses bytes beyond the
/// tensor's size; the writer checks that exactly that many arrived.
pub struct TensorSink<'w> {
    inner: &'w mut dyn Write,
    left: u64,
}

impl TensorSink<'_> {
    /// Bytes still expected for this tensor.
    pub fn remaining(&self) -> u64 {
        self.left
    }
}

impl Write for TensorSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} bytes offered but only {} remain in this tensor",
                    buf.len(),
                    self.left
                ),
            ));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<'a> GgufWriter<'a> {
    pub fn new() -> Self {
        GgufWriter::default()
    }

    /// Data alignment that will be used (`general.alignment` if set, else 32).
    pub fn alignment(&self) -> u32 {
        self.alignment.unwrap_or(GGUF_DEFAULT_ALIGNMENT)
    }

    /// Add a metadata entry. `general.alignment` must be a UINT32 non-zero power of two and sets
    /// the data alignment. Duplicate keys, empty keys and mistyped arrays are errors.
    pub fn add_kv(
        &mut self,
        key: impl Into<String>,
        value: impl Into<MetaValue>,
    ) -> Result<(), GgufError> {
        let key = key.into();
        let value = value.into();
        if key.is_empty() {
            return Err(GgufError::InvalidWrite("empty metadata key".into()));
        }
        if self.keys.contains(&key) {
            return Err(GgufError::InvalidWrite(format!(
                "duplicate metadata key `{key}`"
            )));
        }
        value
            .validate(0)
            .map_err(|e| GgufError::InvalidWrite(format!("metadata key `{key}`: {e}")))?;
        if key == KEY_ALIGNMENT {
            match value {
                MetaValue::U32(a) if a.is_power_of_two() => self.alignment = Some(a),
                _ => {
                    return Err(GgufError::InvalidWrite(format!(
                        "{KEY_ALIGNMENT} must be a UINT32 non-zero power of two, got {value:?}"
                    )))
                }
            }
        }
        self.keys.insert(key.clone());
        self.kvs.push((key, value));
        Ok(())
    }

    fn check_tensor(&self, name: &str, shape: &[u64], ty: GgmlType) -> Result<u64, GgufError> {
        let bad = |msg: String| Err(GgufError::InvalidWrite(format!("tensor `{name}`: {msg}")));
        if name.is_empty() || name.len() >= GGML_MAX_NAME {
            return bad(format!("name must have 1 to {} bytes", GGML_MAX_NAME - 1));
        }
        if self.names.contains(name) {
            return bad("duplicate tensor name".into());
        }
        if shape.len() > GGML_MAX_DIMS {
            return bad(format!(
                "{} dimensions exceed GGML_MAX_DIMS ({GGML_MAX_DIMS})",
                shape.len()
            ));
        }
        let n_elements = shape.iter().try_fold(1u64, |acc, &d| {
            acc.checked_mul(d).filter(|&n| n <= i64::MAX as u64)
        });
        let Some(n_elements) = n_elements else {
            return bad(format!("shape {shape:?} has more than INT64_MAX elements"));
        };
        let ne0 = shape.first().copied().unwrap_or(1);
        match ty.tensor_bytes(ne0, n_elements) {
            Some(n) => Ok(n),
            None => bad(format!(
                "row length {ne0} is not a multiple of the {ty} block size {}",
                ty.block_size()
            )),
        }
    }

    /// Add a tensor with its bytes (borrowed or owned); the length must match shape and type.
    /// `shape` is in ggml order (`shape[0]` is the row length).
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        shape: &[u64],
        ty: GgmlType,
        data: impl Into<Cow<'a, [u8]>>,
    ) -> Result<(), GgufError> {
        let name = name.into();
        let data = data.into();
        let n_bytes = self.check_tensor(&name, shape, ty)?;
        if data.len() as u64 != n_bytes {
            return Err(GgufError::InvalidWrite(format!(
                "tensor `{name}`: {} bytes given, shape {shape:?} of {ty} needs {n_bytes}",
                data.len()
            )));
        }
        self.push(name, shape, ty, n_bytes, Some(data));
        Ok(())
    }

    /// Declare a tensor whose bytes the callback of [`GgufWriter::write_streaming`] supplies.
    /// Returns its byte size.
    pub fn add_tensor_info(
        &mut self,
        name: impl Into<String>,
        shape: &[u64],
        ty: GgmlType,
    ) -> Result<u64, GgufError> {
        let name = name.into();
        let n_bytes = self.check_tensor(&name, shape, ty)?;
        self.push(name, shape, ty, n_bytes, None);
        Ok(n_bytes)
    }

    fn push(
        &mut self,
        name: String,
        shape: &[u64],
        ty: GgmlType,
        n_bytes: u64,
        data: Option<Cow<'a, [u8]>>,
    ) {
        self.names.insert(name.clone());
        self.tensors.push(PendingTensor {
            spec: TensorSpec::new(name, shape, ty),
            n_bytes,
            data,
        });
    }

    /// Everything before the data section, padded to the alignment.
    fn header(&self) -> Vec<u8> {
        let align = u64::from(self.alignment());
        let mut out = Vec::new();
        out.extend_from_slice(&GGUF_MAGIC);
        out.extend_from_slice(&GGUF_WRITE_VERSION.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.kvs.len() as u64).to_le_bytes());
        for (key, value) in &self.kvs {
            encode_str(key, &mut out);
            out.extend_from_slice(&value.value_type().id().to_le_bytes());
            value.encode(&mut out);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            encode_str(&t.spec.name, &mut out);
            out.extend_from_slice(&(t.spec.shape.len() as u32).to_le_bytes());
            for d in &t.spec.shape {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.spec.ty.id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offset += t.n_bytes.div_ceil(align) * align;
        }
        let padded = (out.len() as u64).div_ceil(align) * align;
        out.resize(padded as usize, 0);
        out
    }

    /// Total bytes of the file that [`GgufWriter::write`] would produce.
    pub fn file_size(&self) -> u64 {
        let align = u64::from(self.alignment());
        let data: u64 = self
            .tensors
            .iter()
            .map(|t| t.n_bytes.div_ceil(align) * align)
            .sum();
        self.header().len() as u64 + data
    }

    /// Write the whole file to `out` (not atomic; see [`GgufWriter::write`] for files). Declared
    /// tensors without data get their bytes from `fill`, called once per such tensor, in order.
    /// Returns the number of bytes written.
    pub fn write_to<W, F>(&self, out: &mut W, mut fill: F) -> Result<u64, GgufError>
    where
        W: Write,
        F: FnMut(usize, &TensorSpec, &mut TensorSink<'_>) -> io::Result<()>,
    {
        let io_err = |e: io::Error| GgufError::io("cannot write GGUF data to", "<stream>", e);
        let align = u64::from(self.alignment());
        let header = self.header();
        out.write_all(&header).map_err(io_err)?;
        let mut written = header.len() as u64;
        let zeros = vec![0u8; align as usize];
        for (i, t) in self.tensors.iter().enumerate() {
            match &t.data {
                Some(data) => out.write_all(data).map_err(io_err)?,
                None => {
                    let mut sink = TensorSink {
                        inner: &mut *out as &mut dyn Write,
                        left: t.n_bytes,
                    };
                    fill(i, &t.spec, &mut sink).map_err(|e| {
                        GgufError::InvalidWrite(format!(
                            "tensor `{}`: data callback failed: {e}",
                            t.spec.name
                        ))
                    })?;
                    if sink.left != 0 {
                        return Err(GgufError::InvalidWrite(format!(
                            "tensor `{}`: data callback wrote {} of {} bytes",
                            t.spec.name,
                            t.n_bytes - sink.left,
                            t.n_bytes
                        )));
                    }
                }
            }
            let pad = t.n_bytes.div_ceil(align) * align - t.n_bytes;
            out.write_all(&zeros[..pad as usize]).map_err(io_err)?;
            written += t.n_bytes + pad;
        }
        Ok(written)
    }

    /// The whole file in memory; every tensor must have its data.
    pub fn to_bytes(&self) -> Result<Vec<u8>, GgufError> {
        let mut out = Vec::new();
        self.write_to(&mut out, |_, spec, _| Err(missing_data(spec)))?;
        Ok(out)
    }

    /// Write the file atomically: into a temporary file in the destination's directory, synced,
    /// then renamed over `path`. On any error the destination is untouched and the temporary
    /// file removed. Every tensor must have its data.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), GgufError> {
        self.write_streaming(path, |_, spec, _| Err(missing_data(spec)))
    }

    /// Like [`GgufWriter::write`], but tensors declared with [`GgufWriter::add_tensor_info`] get
    /// their bytes from `fill(index, spec, sink)`, called once each in file order; the callback
    /// must write exactly the tensor's byte size into the sink. The header is written first from
    /// the precomputed sizes, so no tensor has to be held in memory.
    pub fn write_streaming<F>(&self, path: impl AsRef<Path>, fill: F) -> Result<(), GgufError>
    where
        F: FnMut(usize, &TensorSpec, &mut TensorSink<'_>) -> io::Result<()>,
    {
        let path = path.as_ref();
        // Named so that a later run removes it if this process dies (see `crate::files`).
        let dir = crate::files::parent_dir(path);
        let tmp = crate::files::temp_file_beside(path).map_err(|e| match e {
            crate::files::FileError::Io { source, .. } => {
                GgufError::io("cannot create a temporary file in", dir, source)
            }
            other => GgufError::io(
                "cannot create a temporary file in",
                dir,
                io::Error::other(other.to_string()),
            ),
        })?;
        let mut out = BufWriter::with_capacity(1 << 20, tmp);
        self.write_to(&mut out, fill).map_err(|e| match e {
            GgufError::Io { action, source, .. } => GgufError::io(action, path, source),
            other => other,
        })?;
        let tmp = out
            .into_inner()
            .map_err(|e| GgufError::io("cannot write GGUF data to", path, e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| GgufError::io("cannot sync", tmp.path().to_path_buf(), e))?;
        tmp.persist(path)
            .map_err(|e| GgufError::io("cannot rename the finished file to", path, e.error))?;
        // The rename is durable once the directory is synced (best effort: not every
        // filesystem lets a directory be opened).
        if let Ok(d) = std::fs::File::open(crate::files::parent_dir(path)) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn missing_data(spec: &TensorSpec) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "tensor `{}` was declared without data; use write_streaming",
            spec.name
        ),
    )
}
