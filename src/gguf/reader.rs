//! The GGUF reader: validates a whole file up front (header, metadata, tensor infos, data ranges)
//! while bounding every count by the bytes that remain, then serves metadata and tensor bytes
//! borrowed from the memory map. Layout and checks follow `ggml/src/gguf.cpp` (`gguf_init_from_file_impl`).

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::error::{GgufError, ParseError};
use super::value::{ArrayRef, Cursor, Scalar, ScalarIter, StrIter, Value, ValueType};
use crate::arch::{Inventory, TensorSpec};
use crate::ggml::GgmlType;

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of tensor data when `general.alignment` is absent.
pub const GGUF_DEFAULT_ALIGNMENT: u32 = 32;
/// Most dimensions a ggml tensor has.
pub const GGML_MAX_DIMS: usize = 4;
/// ggml's name buffer size; names must be shorter (`GGML_MAX_NAME`).
pub const GGML_MAX_NAME: usize = 64;
/// The metadata key that sets the data alignment.
pub const KEY_ALIGNMENT: &str = "general.alignment";
/// The metadata key naming the architecture (`llama`, `qwen2`, ...).
pub const KEY_ARCHITECTURE: &str = "general.architecture";

/// Fewest bytes one metadata entry takes: key length (8), type (4), smallest value (1).
const MIN_KV_BYTES: u128 = 8 + 4 + 1;
/// Fewest bytes one tensor info takes: name length (8) and one name byte, n_dims (4), type (4),
/// offset (8).
const MIN_TENSOR_INFO_BYTES: u128 = 8 + 1 + 4 + 4 + 8;

/// One tensor's entry in the file: name, shape, type and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    name: String,
    dims: [u64; GGML_MAX_DIMS],
    n_dims: u8,
    ty: GgmlType,
    offset: u64,
    n_elements: u64,
    n_bytes: u64,
    /// Absolute offset of the first data byte.
    data_start: u64,
    /// Byte offset of this tensor's info record in the file.
    info_offset: u64,
}

impl TensorInfo {
    pub fn name(&self) -> &str {
        &self.name
    }
    /// ggml dimensions, innermost first (`shape()[0]` is the row length ne0).
    pub fn shape(&self) -> &[u64] {
        &self.dims[..usize::from(self.n_dims)]
    }
    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    /// Offset of the data relative to the start of the data section (as stored in the file).
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// Absolute file offset of the first data byte.
    pub fn file_offset(&self) -> u64 {
        self.data_start
    }
    pub fn n_elements(&self) -> u64 {
        self.n_elements
    }
    /// Bytes of tensor data (from the type table; padding excluded).
    pub fn n_bytes(&self) -> u64 {
        self.n_bytes
    }
    /// Byte offset of this tensor's info record in the file.
    pub fn info_offset(&self) -> u64 {
        self.info_offset
    }
    /// Byte offset of the data-offset field in this tensor's info record.
    fn offset_field_pos(&self) -> usize {
        // name length + name + n_dims + dims + type id
        self.info_offset as usize + 8 + self.name.len() + 4 + 8 * usize::from(self.n_dims) + 4
    }

    /// The inventory entry for this tensor.
    pub fn to_spec(&self) -> TensorSpec {
        TensorSpec::new(self.name.clone(), self.shape(), self.ty)
    }
}

/// A metadata entry: positions into the validated bytes.
#[derive(Debug, Clone)]
struct KvEntry {
    key_start: usize,
    key_len: usize,
    ty: ValueType,
    value_start: usize,
}

/// A validated GGUF file over bytes `D`: a memory map ([`GgufFile::open`]) or any byte buffer
/// ([`GgufFile::parse`], [`GgufFile::from_bytes`]).
pub struct GgufFile<D: AsRef<[u8]> = Mmap> {
    data: D,
    path: Option<PathBuf>,
    version: u32,
    alignment: u32,
    data_offset: u64,
    kvs: Vec<KvEntry>,
    /// Indices into `kvs`, sorted by key.
    kv_order: Vec<usize>,
    tensors: Vec<TensorInfo>,
    /// Indices into `tensors`, sorted by name.
    tensor_order: Vec<usize>,
}

impl<D: AsRef<[u8]>> fmt::Debug for GgufFile<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("len", &self.len())
            .field("version", &self.version)
            .field("alignment", &self.alignment)
            .field("data_offset", &self.data_offset)
            .field("kv_count", &self.kvs.len())
            .field("tensor_count", &self.tensors.len())
            .finish()
    }
}

impl GgufFile<Mmap> {
    /// Map and validate the file at `path`. Parse errors name the path.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile<Mmap>, GgufError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| GgufError::io("cannot open", path, e))?;
        let meta = file
            .metadata()
            .map_err(|e| GgufError::io("cannot stat", path, e))?;
        if !meta.is_file() {
            return Err(GgufError::io(
                "cannot read",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        // SAFETY: the map is read-only and private to this value; every slice handed out borrows
        // it. Like every mmap-based loader (llama.cpp, gguf-py) we rely on the file not being
        // truncated or rewritten by another process while it is mapped.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| GgufError::io("cannot map", path, e))?;
        let mut parsed = GgufFile::from_bytes(map).map_err(|e| match e {
            GgufError::Parse(mut p) => {
                p.path = Some(path.to_path_buf());
                GgufError::Parse(p)
            }
            other => other,
        })?;
        parsed.path = Some(path.to_path_buf());
        Ok(parsed)
    }
}

impl GgufFile<Mmap> {
    /// Gives back the resident pages wholly inside `bytes` (nothing when `bytes` is not inside
    /// this file's map). A later read faults them in again from the file, so every slice still
    /// sees the same bytes: a reader that streams through the file (`vramplan quantize`) calls it
    /// on what it has finished with, and its resident memory stays far below the file's size.
    pub fn release(&self, bytes: &[u8]) {
        let map = self.bytes().as_ptr_range();
        let b = bytes.as_ptr_range();
        if b.start >= map.start && b.end <= map.end {
            // SAFETY: `bytes` lies inside this read-only file map.
            unsafe { release_mapped_pages(bytes) }
        }
    }
}

/// `madvise(MADV_DONTNEED)` on the whole pages inside `bytes`: drops their resident copies; a
/// later read faults them back in from the file. Failure only leaves the pages resident; a
/// no-op off Unix.
///
/// # Safety
/// `bytes` lies inside a read-only (never written) file mapping: on anonymous or written memory
/// the pages would read back as zeros.
pub unsafe fn release_mapped_pages(bytes: &[u8]) {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if page <= 0 {
            return;
        }
        let page = page as usize;
        let start = (bytes.as_ptr() as usize).next_multiple_of(page);
        let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
        if end > start {
            // SAFETY: `start..end` is whole pages inside `bytes`, part of a read-only file
            // mapping by the caller's promise.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = bytes;
}

impl<'a> GgufFile<&'a [u8]> {
    /// Validate GGUF bytes in memory (tests, fuzzing, embedded data).
    pub fn parse(bytes: &'a [u8]) -> Result<GgufFile<&'a [u8]>, GgufError> {
        GgufFile::from_bytes(bytes)
    }
}

impl<D: AsRef<[u8]>> GgufFile<D> {
    /// Validate any owned or borrowed byte buffer.
    pub fn from_bytes(data: D) -> Result<Self, GgufError> {
        let index = parse_index(data.as_ref())?;
        Ok(GgufFile {
            data,
            path: None,
            version: index.version,
            alignment: index.alignment,
            data_offset: index.data_offset,
            kvs: index.kvs,
            kv_order: index.kv_order,
            tensors: index.tensors,
            tensor_order: index.tensor_order,
        })
    }

    fn bytes(&self) -> &[u8] {
        self.data.as_ref()
    }

    /// Path given to [`GgufFile::open`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
    /// File size in bytes.
    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }
    /// GGUF format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }
    /// Data alignment (`general.alignment`, default 32).
    pub fn alignment(&self) -> u32 {
        self.alignment
    }
    /// Absolute offset of the tensor data section.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }
    /// Bytes from the data section start to the end of the file (0 if the file ends before it).
    pub fn data_len(&self) -> u64 {
        self.len().saturating_sub(self.data_offset)
    }

    /// Number of metadata entries.
    pub fn kv_count(&self) -> usize {
        self.kvs.len()
    }

    fn key_of(&self, kv: &KvEntry) -> &str {
        let bytes = self
            .bytes()
            .get(kv.key_start..kv.key_start + kv.key_len)
            .unwrap_or_default();
        // Validated as UTF-8 at parse time.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    fn value_of(&self, kv: &KvEntry) -> Option<Value<'_>> {
        let mut cur = Cursor::at(self.bytes(), kv.value_start);
        Value::decode(&mut cur, kv.ty, 0)
    }

    /// Metadata entries in file order.
    pub fn metadata(&self) -> impl Iterator<Item = (&str, Value<'_>)> + '_ {
        self.kvs
            .iter()
            .filter_map(move |kv| Some((self.key_of(kv), self.value_of(kv)?)))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<Value<'_>> {
        let i = self
            .kv_order
            .binary_search_by(|&i| self.key_of(&self.kvs[i]).cmp(key))
            .ok()?;
        self.value_of(&self.kvs[self.kv_order[i]])
    }

    fn require(&self, key: &str) -> Result<Value<'_>, GgufError> {
        self.get(key).ok_or_else(|| GgufError::MissingKey {
            key: key.to_string(),
        })
    }

    fn wrong(key: &str, expected: &str, found: &Value<'_>) -> GgufError {
        GgufError::WrongType {
            key: key.to_string(),
            expected: expected.to_string(),
            found: found.type_description(),
        }
    }

    /// Any non-negative integer value of `key`, whatever its stored integer width.
    pub fn get_uint(&self, key: &str) -> Result<u64, GgufError> {
        let v = self.require(key)?;
        v.as_uint()
            .ok_or_else(|| Self::wrong(key, "a non-negative integer", &v))
    }

    /// Any float value of `key` (FLOAT32 or FLOAT64), as f64.
    pub fn get_float(&self, key: &str) -> Result<f64, GgufError> {
        let v = self.require(key)?;
        v.as_f64().ok_or_else(|| Self::wrong(key, "a float", &v))
    }

    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| Self::wrong(key, "STRING", &v))
    }

    pub fn get_array(&self, key: &str) -> Result<ArrayRef<'_>, GgufError> {
        let v = self.require(key)?;
        v.as_array().ok_or_else(|| Self::wrong(key, "ARRAY", &v))
    }

    /// The elements of a string array.
    pub fn get_str_array(&self, key: &str) -> Result<StrIter<'_>, GgufError> {
        let a = self.get_array(key)?;
        a.strings()
            .ok_or_else(|| Self::wrong(key, "ARRAY of STRING", &Value::Array(a)))
    }

    /// The elements of a scalar array whose element type is exactly `T`'s.
    pub fn get_scalar_array<T: Scalar>(&self, key: &str) -> Result<ScalarIter<'_, T>, GgufError> {
        let a = self.get_array(key)?;
        a.scalars::<T>()
            .ok_or_else(|| Self::wrong(key, &format!("ARRAY of {}", T::TYPE), &Value::Array(a)))
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<&str, GgufError> {
        self.get_str(KEY_ARCHITECTURE)
    }

    /// Tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        let i = self
            .tensor_order
            .binary_search_by(|&i| self.tensors[i].name.as_str().cmp(name))
            .ok()?;
        self.tensors.get(self.tensor_order[i])
    }

    /// The tensor's bytes, borrowed from the file. Empty for an info from another file whose
    /// range does not fit this one.
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        let range = usize::try_from(info.data_start)
            .ok()
            .and_then(|s| Some(s..s.checked_add(usize::try_from(info.n_bytes).ok()?)?));
        range.and_then(|r| self.bytes().get(r)).unwrap_or_default()
    }

    /// The tensor inventory: names, ggml-order shapes and types, in file order.
    pub fn inventory(&self) -> Inventory {
        Inventory {
            tensors: self.tensors.iter().map(TensorInfo::to_spec).collect(),
        }
    }
}

macro_rules! getters {
    ($($name:ident => $t:ty, $variant:ident, $desc:literal;)*) => {
        impl<D: AsRef<[u8]>> GgufFile<D> {$(
            #[doc = concat!("The value of `key`, which must be stored as ", $desc, ".")]
            pub fn $name(&self, key: &str) -> Result<$t, GgufError> {
                match self.require(key)? {
                    Value::$variant(v) => Ok(v),
                    other => Err(Self::wrong(key, $desc, &other)),
                }
            }
        )*}
    };
}

getters! {
    get_u8 => u8, U8, "UINT8";
    get_i8 => i8, I8, "INT8";
    get_u16 => u16, U16, "UINT16";
    get_i16 => i16, I16, "INT16";
    get_u32 => u32, U32, "UINT32";
    get_i32 => i32, I32, "INT32";
    get_u64 => u64, U64, "UINT64";
    get_i64 => i64, I64, "INT64";
    get_f32 => f32, F32, "FLOAT32";
    get_f64 => f64, F64, "FLOAT64";
    get_bool => bool, Bool, "BOOL";
}

struct Index {
    version: u32,
    alignment: u32,
    data_offset: u64,
    kvs: Vec<KvEntry>,
    kv_order: Vec<usize>,
    tensors: Vec<TensorInfo>,
    tensor_order: Vec<usize>,
}

fn parse_index(buf: &[u8]) -> Result<Index, ParseError> {
    let mut cur = Cursor::new(buf);
    let (version, n_tensors, n_kv, n_tensors_at) = parse_header(&mut cur)?;
    let (kvs, kv_order, alignment) = parse_metadata(buf, &mut cur, n_kv)?;

    // Tensor infos.
    let remaining = cur.remaining() as u128;
    let tensor_need = n_tensors as u128 * MIN_TENSOR_INFO_BYTES;
    if tensor_need > remaining {
        return Err(ParseError::new(
            n_tensors_at,
            format!(
                "tensor count {n_tensors} needs at least {tensor_need} bytes of tensor infos but only {remaining} bytes remain after the metadata"
            ),
        ));
    }
    let mut tensors = Vec::with_capacity(n_tensors);
    for i in 0..n_tensors {
        tensors.push(parse_tensor_info(&mut cur, i, alignment)?);
    }
    let infos_end = cur.pos() as u64;
    let align = u64::from(alignment);
    // infos_end <= buf.len(), so this cannot overflow u64.
    let data_offset = infos_end.div_ceil(align) * align;
    place_tensor_data(&mut tensors, data_offset, buf.len() as u64)?;
    let tensor_order = check_unique_names(&tensors)?;
    check_no_overlap(&tensors)?;

    Ok(Index {
        version,
        alignment,
        data_offset,
        kvs,
        kv_order,
        tensors,
        tensor_order,
    })
}

/// Magic, version and the two counts, each count bounded by the bytes that remain: (version,
/// tensor count, metadata count, byte offset of the tensor count).
fn parse_header(cur: &mut Cursor<'_>) -> Result<(u32, usize, usize, usize), ParseError> {
    let magic = cur.take(4, &"the magic `GGUF`")?;
    if magic != GGUF_MAGIC {
        return Err(ParseError::new(
            0,
            format!("expected the magic `GGUF`, found {}", magic.escape_ascii()),
        ));
    }
    let version_at = cur.pos();
    let version = cur.u32(&"the format version")?;
    match version {
        2 | 3 => {}
        1 => {
            return Err(ParseError::new(
                version_at,
                "GGUF version 1 is not supported (expected version 2 or 3)",
            ))
        }
        v if v & 0xFFFF == 0 => {
            return Err(ParseError::new(
                version_at,
                format!(
                    "version field {v:#010x} looks byte-swapped: big-endian GGUF is not supported"
                ),
            ))
        }
        v => {
            return Err(ParseError::new(
                version_at,
                format!("unsupported GGUF version {v} (expected 2 or 3)"),
            ))
        }
    }
    let n_tensors_at = cur.pos();
    let n_tensors = cur.u64(&"the tensor count")?;
    let n_kv_at = cur.pos();
    let n_kv = cur.u64(&"the metadata key/value count")?;
    let remaining = cur.remaining() as u128;
    let kv_need = u128::from(n_kv) * MIN_KV_BYTES;
    if kv_need > remaining {
        return Err(ParseError::new(
            n_kv_at,
            format!(
                "metadata count {n_kv} needs at least {kv_need} bytes but only {remaining} bytes remain"
            ),
        ));
    }
    let tensor_need = u128::from(n_tensors) * MIN_TENSOR_INFO_BYTES;
    if tensor_need + kv_need > remaining {
        return Err(ParseError::new(
            n_tensors_at,
            format!(
                "tensor count {n_tensors} needs at least {tensor_need} bytes (after {kv_need} bytes of metadata) but only {remaining} bytes remain"
            ),
        ));
    }
    // Both counts are now bounded by the buffer length, so they fit in usize.
    Ok((version, n_tensors as usize, n_kv as usize, n_tensors_at))
}

/// The metadata entries (values skipped, not decoded, except the alignment), refusing
/// duplicate keys: (entries, their order by key, alignment).
fn parse_metadata(
    buf: &[u8],
    cur: &mut Cursor<'_>,
    n_kv: usize,
) -> Result<(Vec<KvEntry>, Vec<usize>, u32), ParseError> {
    let mut kvs = Vec::with_capacity(n_kv);
    let mut alignment = GGUF_DEFAULT_ALIGNMENT;
    for i in 0..n_kv {
        let key_start = cur.pos() + 8;
        let key = cur
            .string(&"a metadata key")
            .map_err(|e| e.ctx(|| format!("metadata key #{i}")))?;
        let ctx = || format!("metadata key #{i} `{key}`");
        let ty = cur.value_type(&"a value type").map_err(|e| e.ctx(ctx))?;
        let value_start = cur.pos();
        cur.skip_value(ty, 0).map_err(|e| e.ctx(ctx))?;
        if key == KEY_ALIGNMENT {
            let value = Value::decode(&mut Cursor::at(buf, value_start), ty, 0);
            alignment = match value {
                Some(Value::U32(a)) if a.is_power_of_two() => a,
                Some(Value::U32(a)) => {
                    return Err(ParseError::new(
                        value_start,
                        format!("{KEY_ALIGNMENT} must be a non-zero power of two, found {a}"),
                    ))
                }
                _ => {
                    return Err(ParseError::new(
                        value_start - 4,
                        format!("{KEY_ALIGNMENT} must be a UINT32, found {ty}"),
                    ))
                }
            };
        }
        kvs.push(KvEntry {
            key_start,
            key_len: key.len(),
            ty,
            value_start,
        });
    }
    let key_of = |kv: &KvEntry| &buf[kv.key_start..kv.key_start + kv.key_len];
    let mut kv_order: Vec<usize> = (0..kvs.len()).collect();
    kv_order.sort_unstable_by(|&a, &b| key_of(&kvs[a]).cmp(key_of(&kvs[b])).then(a.cmp(&b)));
    for pair in kv_order.windows(2) {
        let (first, second) = (&kvs[pair[0]], &kvs[pair[1]]);
        if key_of(first) == key_of(second) {
            return Err(ParseError::new(
                second.key_start - 8,
                format!(
                    "duplicate metadata key `{}` (first defined at byte {})",
                    key_of(second).escape_ascii(),
                    first.key_start - 8
                ),
            ));
        }
    }

    Ok((kvs, kv_order, alignment))
}

/// Sets each tensor's absolute data start, refusing data past the end of the file.
fn place_tensor_data(
    tensors: &mut [TensorInfo],
    data_offset: u64,
    file_len: u64,
) -> Result<(), ParseError> {
    for (i, t) in tensors.iter_mut().enumerate() {
        let offset_at = t.offset_field_pos();
        let ctx = || format!("tensor #{i} `{}`", t.name);
        let start = data_offset.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(t.n_bytes));
        match (start, end) {
            (Some(start), Some(end)) if end <= file_len => t.data_start = start,
            _ => {
                return Err(ParseError::new(
                    offset_at,
                    format!(
                        "tensor data at data offset {} + {} plus {} bytes extends past the end of the file ({file_len} bytes)",
                        data_offset, t.offset, t.n_bytes
                    ),
                )
                .ctx(ctx))
            }
        }
    }

    Ok(())
}

/// The tensors' order by name, refusing duplicate names.
fn check_unique_names(tensors: &[TensorInfo]) -> Result<Vec<usize>, ParseError> {
    let mut tensor_order: Vec<usize> = (0..tensors.len()).collect();
    tensor_order.sort_unstable_by(|&a, &b| tensors[a].name.cmp(&tensors[b].name).then(a.cmp(&b)));
    for pair in tensor_order.windows(2) {
        let (first, second) = (&tensors[pair[0]], &tensors[pair[1]]);
        if first.name == second.name {
            return Err(ParseError::new(
                second.info_offset as usize,
                format!(
                    "duplicate tensor name `{}` (first defined at byte {})",
                    second.name, first.info_offset
                ),
            ));
        }
    }
    Ok(tensor_order)
}

/// No two tensors may share bytes.
fn check_no_overlap(tensors: &[TensorInfo]) -> Result<(), ParseError> {
    let mut by_offset: Vec<usize> = (0..tensors.len())
        .filter(|&i| tensors[i].n_bytes > 0)
        .collect();
    by_offset.sort_unstable_by_key(|&i| (tensors[i].offset, i));
    for pair in by_offset.windows(2) {
        let (a, b) = (&tensors[pair[0]], &tensors[pair[1]]);
        if a.offset + a.n_bytes > b.offset {
            return Err(ParseError::new(
                b.offset_field_pos(),
                format!(
                    "tensor data [{}, {}) overlaps tensor `{}` at [{}, {})",
                    b.offset,
                    b.offset + b.n_bytes,
                    a.name,
                    a.offset,
                    a.offset + a.n_bytes
                ),
            )
            .ctx(|| format!("tensor `{}`", b.name)));
        }
    }
    Ok(())
}

/// One tensor info record; returns it with the position of its offset field.
fn parse_tensor_info(
    cur: &mut Cursor<'_>,
    i: usize,
    alignment: u32,
) -> Result<TensorInfo, ParseError> {
    let info_offset = cur.pos();
    let name = cur
        .string(&"a tensor name")
        .map_err(|e| e.ctx(|| format!("tensor info #{i}")))?;
    if name.is_empty() || name.len() >= GGML_MAX_NAME {
        return Err(ParseError::new(
            info_offset,
            format!(
                "tensor name `{name}` has {} bytes, expected 1 to {} (GGML_MAX_NAME)",
                name.len(),
                GGML_MAX_NAME - 1
            ),
        )
        .ctx(|| format!("tensor info #{i}")));
    }
    let ctx = || format!("tensor info #{i} `{name}`");
    let n_dims_at = cur.pos();
    let n_dims = cur.u32(&"n_dims").map_err(|e| e.ctx(ctx))?;
    if n_dims as usize > GGML_MAX_DIMS {
        return Err(ParseError::new(
            n_dims_at,
            format!("n_dims {n_dims} exceeds GGML_MAX_DIMS ({GGML_MAX_DIMS})"),
        )
        .ctx(ctx));
    }
    let mut dims = [1u64; GGML_MAX_DIMS];
    let mut n_elements: u64 = 1;
    for d in 0..n_dims as usize {
        let at = cur.pos();
        dims[d] = cur
            .u64(&format_args!("dimension {d}"))
            .map_err(|e| e.ctx(ctx))?;
        n_elements = n_elements
            .checked_mul(dims[d])
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or_else(|| {
                ParseError::new(
                    at,
                    format!(
                        "shape {:?} has more than {} elements (INT64_MAX)",
                        &dims[..=d],
                        i64::MAX
                    ),
                )
                .ctx(ctx)
            })?;
    }
    let type_at = cur.pos();
    let type_id = cur.u32(&"a ggml type id").map_err(|e| e.ctx(ctx))?;
    let ty = GgmlType::from_id(type_id).ok_or_else(|| {
        ParseError::new(type_at, format!("unknown ggml type id {type_id}")).ctx(ctx)
    })?;
    let offset_at = cur.pos();
    let offset = cur.u64(&"a tensor data offset").map_err(|e| e.ctx(ctx))?;
    if offset % u64::from(alignment) != 0 {
        return Err(ParseError::new(
            offset_at,
            format!("tensor data offset {offset} is not a multiple of the alignment {alignment}"),
        )
        .ctx(ctx));
    }
    let ne0 = dims[0];
    let block = ty.block_size() as u64;
    if ne0 % block != 0 {
        return Err(ParseError::new(
            n_dims_at + 4,
            format!("row length {ne0} is not a multiple of the {ty} block size {block}"),
        )
        .ctx(ctx));
    }
    let n_bytes = ty.tensor_bytes(ne0, n_elements).ok_or_else(|| {
        ParseError::new(
            n_dims_at + 4,
            format!("byte size of {n_elements} {ty} elements overflows"),
        )
        .ctx(ctx)
    })?;
    let info = TensorInfo {
        name: name.to_string(),
        dims,
        n_dims: n_dims as u8,
        ty,
        offset,
        n_elements,
        n_bytes,
        data_start: 0,
        info_offset: info_offset as u64,
    };
    Ok(info)
}
