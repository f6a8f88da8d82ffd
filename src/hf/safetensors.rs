//! Safetensors headers: an 8-byte little-endian length n, then n bytes of JSON mapping tensor names
//! to `{dtype, shape, data_offsets}` plus an optional `__metadata__` string map. Only the header is
//! read; every offset is checked against the file size and against dtype x shape, and the tensors
//! must tile the data section exactly, as the `safetensors` crate requires.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::de::{self, MapAccess, Visitor};
use serde::Deserialize;

use super::config::HfError;

/// Largest header accepted (the `safetensors` crate uses the same 100 MB cap).
pub const MAX_SAFETENSORS_HEADER_BYTES: u64 = 100_000_000;

/// A safetensors element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[allow(non_camel_case_types)]
pub enum SafeDtype {
    BOOL,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    F8_E8M0,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    I64,
    U64,
    F64,
    /// 4-bit float (E2M1), two per byte.
    F4,
    /// 6-bit floats, four per three bytes.
    F6_E2M3,
    F6_E3M2,
}

impl SafeDtype {
    pub fn from_name(name: &str) -> Option<SafeDtype> {
        use SafeDtype::*;
        Some(match name {
            "BOOL" => BOOL,
            "U8" => U8,
            "I8" => I8,
            "F8_E5M2" => F8_E5M2,
            "F8_E4M3" => F8_E4M3,
            "F8_E8M0" => F8_E8M0,
            "I16" => I16,
            "U16" => U16,
            "F16" => F16,
            "BF16" => BF16,
            "I32" => I32,
            "U32" => U32,
            "F32" => F32,
            "I64" => I64,
            "U64" => U64,
            "F64" => F64,
            "F4" => F4,
            "F6_E2M3" => F6_E2M3,
            "F6_E3M2" => F6_E3M2,
            _ => return None,
        })
    }

    /// Bits per element.
    pub fn bits(self) -> u64 {
        use SafeDtype::*;
        match self {
            F4 => 4,
            F6_E2M3 | F6_E3M2 => 6,
            BOOL | U8 | I8 | F8_E5M2 | F8_E4M3 | F8_E8M0 => 8,
            I16 | U16 | F16 | BF16 => 16,
            I32 | U32 | F32 => 32,
            I64 | U64 | F64 => 64,
        }
    }

    /// Bytes of `n` elements, or `None` if they do not fill whole bytes or overflow.
    pub fn bytes_for(self, n: u64) -> Option<u64> {
        let bits = n.checked_mul(self.bits())?;
        (bits % 8 == 0).then_some(bits / 8)
    }
}

impl fmt::Display for SafeDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One tensor of a safetensors file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SafeTensorInfo {
    pub name: String,
    pub dtype: SafeDtype,
    /// Row-major (PyTorch) order: the last dimension is contiguous.
    pub shape: Vec<u64>,
    /// `[begin, end)` relative to the start of the data section.
    pub data_offsets: (u64, u64),
    pub n_elements: u64,
    pub n_bytes: u64,
}

/// A parsed, validated safetensors header.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SafetensorsHeader {
    /// n, the JSON length.
    pub header_len: u64,
    /// Absolute offset of the data section (8 + n).
    pub data_start: u64,
    /// Tensors sorted by data offset.
    pub tensors: Vec<SafeTensorInfo>,
    /// The `__metadata__` map (often `{"format": "pt"}`).
    pub metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

enum Entry {
    Tensor(String, RawTensor),
    Metadata(BTreeMap<String, String>),
}

/// The header object, read entry by entry so duplicate names are caught (a plain map would keep
/// the last silently).
struct Entries(Vec<Entry>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of tensor entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(de::Error::custom(format!("duplicate entry `{key}`")));
                    }
                    if key == "__metadata__" {
                        out.push(Entry::Metadata(map.next_value()?));
                    } else {
                        let t: RawTensor = map
                            .next_value()
                            .map_err(|e| de::Error::custom(format!("tensor `{key}`: {e}")))?;
                        out.push(Entry::Tensor(key, t));
                    }
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl SafetensorsHeader {
    /// Read only the header of the safetensors file at `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<SafetensorsHeader, HfError> {
        let path = path.as_ref();
        let io = |source| HfError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let mut len_bytes = [0u8; 8];
        if file_len < 8 {
            return Err(st_err(
                0,
                format!("expected the 8-byte header length, but the file has {file_len} bytes"),
            )
            .with_path(path));
        }
        file.read_exact(&mut len_bytes).map_err(io)?;
        let n = u64::from_le_bytes(len_bytes);
        check_len(n, file_len).map_err(|e| e.with_path(path))?;
        let mut json = vec![0u8; n as usize];
        file.read_exact(&mut json).map_err(io)?;
        Self::parse_json(&json, file_len).map_err(|e| e.with_path(path))
    }

    /// Parse a header from `bytes`, which hold at least the first 8 + n bytes of a file whose
    /// total size is `file_len` (pass `bytes.len()` for a whole file in memory).
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<SafetensorsHeader, HfError> {
        let Some(len_bytes) = bytes.get(..8) else {
            return Err(st_err(
                0,
                format!(
                    "expected the 8-byte header length, but only {} bytes are given",
                    bytes.len()
                ),
            ));
        };
        let mut raw = [0u8; 8];
        raw.copy_from_slice(len_bytes);
        let n = u64::from_le_bytes(raw);
        check_len(n, file_len)?;
        let json = bytes.get(8..8 + n as usize).ok_or_else(|| {
            st_err(
                8,
                format!(
                    "header length {n} exceeds the {} bytes given",
                    bytes.len() - 8
                ),
            )
        })?;
        Self::parse_json(json, file_len)
    }

    fn parse_json(json: &[u8], file_len: u64) -> Result<SafetensorsHeader, HfError> {
        let header_len = json.len() as u64;
        let data_start = 8 + header_len;
        let Some(data_len) = file_len.checked_sub(data_start) else {
            return Err(st_err(
                0,
                format!("header of {header_len} bytes does not fit a {file_len}-byte file"),
            ));
        };
        let entries: Entries = serde_json::from_slice(json).map_err(|e| {
            st_err(
                8 + json_offset(json, e.line(), e.column()),
                format!("invalid header JSON: {e}"),
            )
        })?;
        let mut metadata = BTreeMap::new();
        let mut tensors = Vec::new();
        for entry in entries.0 {
            match entry {
                Entry::Metadata(m) => metadata = m,
                Entry::Tensor(name, raw) => tensors.push(check_tensor(json, name, raw)?),
            }
        }
        tensors.sort_by(|a, b| {
            a.data_offsets
                .cmp(&b.data_offsets)
                .then(a.name.cmp(&b.name))
        });
        let mut expected = 0u64;
        for t in &tensors {
            if t.data_offsets.0 != expected {
                return Err(st_err(
                    locate(json, &t.name),
                    format!(
                        "tensor `{}` starts at data offset {}, expected {expected} (tensors must tile the data section without gaps or overlaps)",
                        t.name, t.data_offsets.0
                    ),
                ));
            }
            expected = t.data_offsets.1;
        }
        if expected != data_len {
            return Err(st_err(
                data_start + expected.min(data_len),
                format!("tensors cover {expected} bytes of data but the file has {data_len} bytes after the header"),
            ));
        }
        Ok(SafetensorsHeader {
            header_len,
            data_start,
            tensors,
            metadata,
        })
    }

    /// Sum of the tensors' bytes.
    pub fn total_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_bytes).sum()
    }

    /// Tensor by name.
    pub fn tensor(&self, name: &str) -> Option<&SafeTensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

fn st_err(offset: u64, message: String) -> HfError {
    HfError::Safetensors {
        path: None,
        offset,
        message,
    }
}

fn check_len(n: u64, file_len: u64) -> Result<(), HfError> {
    if n > MAX_SAFETENSORS_HEADER_BYTES {
        return Err(st_err(
            0,
            format!("header length {n} exceeds the {MAX_SAFETENSORS_HEADER_BYTES}-byte limit"),
        ));
    }
    if n > file_len.saturating_sub(8) {
        return Err(st_err(
            0,
            format!(
                "header length {n} exceeds the {} bytes after the length field",
                file_len.saturating_sub(8)
            ),
        ));
    }
    Ok(())
}

/// Byte offset in the file of serde_json's 1-based line and column within the header.
fn json_offset(json: &[u8], line: usize, column: usize) -> u64 {
    let line_start: usize = json
        .split(|&b| b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    (line_start + column.saturating_sub(1)).min(json.len()) as u64
}

/// Byte offset in the file of the first occurrence of `"name"` in the header (8 if not found).
fn locate(json: &[u8], name: &str) -> u64 {
    let quoted = format!("\"{name}\"");
    let pos = json
        .windows(quoted.len().max(1))
        .position(|w| w == quoted.as_bytes());
    8 + pos.unwrap_or(0) as u64
}

fn check_tensor(json: &[u8], name: String, raw: RawTensor) -> Result<SafeTensorInfo, HfError> {
    // Located only on error: searching the header once per tensor is quadratic in its size.
    let bad = |msg: String| {
        Err(st_err(
            locate(json, &name),
            format!("tensor `{name}`: {msg}"),
        ))
    };
    let Some(dtype) = SafeDtype::from_name(&raw.dtype) else {
        return bad(format!("unknown dtype `{}`", raw.dtype));
    };
    let Some(n_elements) = raw
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
    else {
        return bad(format!("shape {:?} overflows", raw.shape));
    };
    let Some(bits) = n_elements.checked_mul(dtype.bits()) else {
        return bad(format!(
            "the byte size of {n_elements} {dtype} elements overflows"
        ));
    };
    let Some(n_bytes) = dtype.bytes_for(n_elements) else {
        return bad(format!(
            "{n_elements} elements of {dtype} ({bits} bits) do not fill whole bytes"
        ));
    };
    let (begin, end) = raw.data_offsets;
    if end < begin || end - begin != n_bytes {
        return bad(format!(
            "data_offsets [{begin}, {end}) hold {} bytes, but shape {:?} of {dtype} needs {n_bytes}",
            i128::from(end) - i128::from(begin),
            raw.shape
        ));
    }
    Ok(SafeTensorInfo {
        name,
        dtype,
        shape: raw.shape,
        data_offsets: (begin, end),
        n_elements,
        n_bytes,
    })
}
