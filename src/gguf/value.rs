//! GGUF metadata values: the type ids, a bounded byte cursor, validation of encoded values, borrowed
//! views over validated bytes ([`Value`], [`ArrayRef`]) and the owned form the writer takes
//! ([`MetaValue`]). Layout follows `ggml/src/gguf.cpp` and gguf-py's `GGUFValueType`.

use std::fmt;
use std::marker::PhantomData;

use super::error::ParseError;

/// Deepest nesting of arrays inside arrays that the reader accepts and the writer produces
/// (a plain array is depth 1).
pub const MAX_ARRAY_DEPTH: u32 = 8;

/// A GGUF metadata value type (`gguf_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl ValueType {
    /// The type with this id, if GGUF defines it.
    pub const fn from_id(id: u32) -> Option<ValueType> {
        Some(match id {
            0 => ValueType::U8,
            1 => ValueType::I8,
            2 => ValueType::U16,
            3 => ValueType::I16,
            4 => ValueType::U32,
            5 => ValueType::I32,
            6 => ValueType::F32,
            7 => ValueType::Bool,
            8 => ValueType::String,
            9 => ValueType::Array,
            10 => ValueType::U64,
            11 => ValueType::I64,
            12 => ValueType::F64,
            _ => return None,
        })
    }

    pub const fn id(self) -> u32 {
        self as u32
    }

    /// Encoded size of one value, or `None` for the variable-size string and array.
    pub const fn fixed_size(self) -> Option<usize> {
        match self {
            ValueType::U8 | ValueType::I8 | ValueType::Bool => Some(1),
            ValueType::U16 | ValueType::I16 => Some(2),
            ValueType::U32 | ValueType::I32 | ValueType::F32 => Some(4),
            ValueType::U64 | ValueType::I64 | ValueType::F64 => Some(8),
            ValueType::String | ValueType::Array => None,
        }
    }

    /// Fewest bytes one encoded value of this type can take (a string needs its 8-byte length, an
    /// array its 4-byte element type and 8-byte count).
    pub const fn min_size(self) -> usize {
        match self.fixed_size() {
            Some(n) => n,
            None => match self {
                ValueType::String => 8,
                _ => 12,
            },
        }
    }

    /// Name as gguf-py spells it (`UINT32`, `STRING`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            ValueType::U8 => "UINT8",
            ValueType::I8 => "INT8",
            ValueType::U16 => "UINT16",
            ValueType::I16 => "INT16",
            ValueType::U32 => "UINT32",
            ValueType::I32 => "INT32",
            ValueType::F32 => "FLOAT32",
            ValueType::Bool => "BOOL",
            ValueType::String => "STRING",
            ValueType::Array => "ARRAY",
            ValueType::U64 => "UINT64",
            ValueType::I64 => "INT64",
            ValueType::F64 => "FLOAT64",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A read position over a byte slice; every read checks the bytes that remain first.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Self {
        Cursor {
            buf,
            pos: pos.min(buf.len()),
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Take `n` bytes describing `what`, or fail without moving.
    pub(crate) fn take(&mut self, n: u64, what: &dyn fmt::Display) -> Result<&'a [u8], ParseError> {
        let remaining = self.remaining();
        match usize::try_from(n) {
            Ok(n) if n <= remaining => {
                let out = &self.buf[self.pos..self.pos + n];
                self.pos += n;
                Ok(out)
            }
            _ => Err(ParseError::new(
                self.pos,
                format!("expected {what} ({n} bytes) but only {remaining} bytes remain"),
            )),
        }
    }

    fn array<const N: usize>(&mut self, what: &dyn fmt::Display) -> Result<[u8; N], ParseError> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u32(&mut self, what: &dyn fmt::Display) -> Result<u32, ParseError> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self, what: &dyn fmt::Display) -> Result<u64, ParseError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A GGUF string: u64 length, then that many bytes of UTF-8.
    pub(crate) fn string(&mut self, what: &dyn fmt::Display) -> Result<&'a str, ParseError> {
        let start = self.pos;
        let len = self.u64(&format_args!("the length of {what}"))?;
        let remaining = self.remaining();
        if usize::try_from(len).map_or(true, |l| l > remaining) {
            self.pos = start;
            return Err(ParseError::new(
                start,
                format!("{what}: string length {len} exceeds the {remaining} bytes remaining"),
            ));
        }
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|e| {
            ParseError::new(
                start + 8 + e.valid_up_to(),
                format!("{what}: invalid UTF-8 in a string of {len} bytes"),
            )
        })
    }

    /// A value type id.
    pub(crate) fn value_type(&mut self, what: &dyn fmt::Display) -> Result<ValueType, ParseError> {
        let at = self.pos;
        let id = self.u32(what)?;
        ValueType::from_id(id).ok_or_else(|| {
            ParseError::new(
                at,
                format!("expected {what} (a value type id 0..=12), found {id}"),
            )
        })
    }

    /// Validate one encoded value of type `ty` and move past it. `depth` is the number of arrays
    /// enclosing it.
    pub(crate) fn skip_value(&mut self, ty: ValueType, depth: u32) -> Result<(), ParseError> {
        match ty {
            ValueType::Bool => {
                let at = self.pos;
                let b = self.take(1, &"a bool")?[0];
                if b > 1 {
                    return Err(ParseError::new(
                        at,
                        format!("expected a bool (0 or 1), found {b}"),
                    ));
                }
                Ok(())
            }
            ValueType::String => self.string(&"a string value").map(|_| ()),
            ValueType::Array => self.skip_array(depth + 1),
            fixed => {
                let n = fixed.fixed_size().unwrap_or(1) as u64;
                self.take(n, &format_args!("a {fixed} value")).map(|_| ())
            }
        }
    }

    /// Validate an array body (element type, count, elements) whose nesting depth is `depth`.
    fn skip_array(&mut self, depth: u32) -> Result<(), ParseError> {
        let start = self.pos;
        if depth > MAX_ARRAY_DEPTH {
            return Err(ParseError::new(
                start,
                format!("arrays nested deeper than {MAX_ARRAY_DEPTH} levels"),
            ));
        }
        let elem = self.value_type(&"an array element type")?;
        let len_at = self.pos;
        let len = self.u64(&"an array length")?;
        let remaining = self.remaining();
        let need = u128::from(len) * elem.min_size() as u128;
        if need > remaining as u128 {
            return Err(ParseError::new(
                len_at,
                format!(
                    "array length {len} of {elem} needs at least {need} bytes but only {remaining} bytes remain"
                ),
            ));
        }
        match elem {
            ValueType::Bool => {
                let bytes = self.take(len, &"bool array elements")?;
                if let Some(i) = bytes.iter().position(|&b| b > 1) {
                    return Err(ParseError::new(
                        len_at + 8 + i,
                        format!(
                            "expected a bool (0 or 1) in array element #{i}, found {}",
                            bytes[i]
                        ),
                    ));
                }
                Ok(())
            }
            ValueType::String | ValueType::Array => {
                for i in 0..len {
                    self.skip_value(elem, depth)
                        .map_err(|e| e.ctx(|| format!("array element #{i}")))?;
                }
                Ok(())
            }
            fixed => {
                // `need` is exactly len * size and already known to fit.
                self.take(need as u64, &format_args!("{len} {fixed} array elements"))
                    .map(|_| ())
            }
        }
    }
}

/// Rust types that a GGUF scalar can be read as without conversion.
pub trait Scalar: Copy + sealed::Sealed {
    const TYPE: ValueType;
    #[doc(hidden)]
    fn read_le(bytes: &[u8]) -> Self;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! scalar {
    ($($t:ty => $vt:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Scalar for $t {
            const TYPE: ValueType = ValueType::$vt;
            fn read_le(bytes: &[u8]) -> Self {
                let mut raw = [0u8; std::mem::size_of::<$t>()];
                let n = raw.len().min(bytes.len());
                raw[..n].copy_from_slice(&bytes[..n]);
                <$t>::from_le_bytes(raw)
            }
        }
    )*};
}
scalar!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, u64 => U64,
    i64 => I64, f32 => F32, f64 => F64);

impl sealed::Sealed for bool {}
impl Scalar for bool {
    const TYPE: ValueType = ValueType::Bool;
    fn read_le(bytes: &[u8]) -> Self {
        bytes.first().is_some_and(|&b| b != 0)
    }
}

/// A metadata value borrowed from validated file bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(&'a str),
    Array(ArrayRef<'a>),
}

impl<'a> Value<'a> {
    /// Decode the value of type `ty` at the start of `cur`, advancing past it. Only called on bytes
    /// that [`Cursor::skip_value`] accepted; `None` if they are inconsistent anyway.
    pub(crate) fn decode(cur: &mut Cursor<'a>, ty: ValueType, depth: u32) -> Option<Value<'a>> {
        Some(match ty {
            ValueType::U8 => Value::U8(u8::read_le(cur.take(1, &"").ok()?)),
            ValueType::I8 => Value::I8(i8::read_le(cur.take(1, &"").ok()?)),
            ValueType::U16 => Value::U16(u16::read_le(cur.take(2, &"").ok()?)),
            ValueType::I16 => Value::I16(i16::read_le(cur.take(2, &"").ok()?)),
            ValueType::U32 => Value::U32(u32::read_le(cur.take(4, &"").ok()?)),
            ValueType::I32 => Value::I32(i32::read_le(cur.take(4, &"").ok()?)),
            ValueType::F32 => Value::F32(f32::read_le(cur.take(4, &"").ok()?)),
            ValueType::U64 => Value::U64(u64::read_le(cur.take(8, &"").ok()?)),
            ValueType::I64 => Value::I64(i64::read_le(cur.take(8, &"").ok()?)),
            ValueType::F64 => Value::F64(f64::read_le(cur.take(8, &"").ok()?)),
            ValueType::Bool => Value::Bool(bool::read_le(cur.take(1, &"").ok()?)),
            ValueType::String => Value::String(cur.string(&"").ok()?),
            ValueType::Array => {
                let start = cur.pos;
                cur.skip_value(ValueType::Array, depth).ok()?;
                let mut inner = Cursor::at(cur.buf, start);
                let elem = inner.value_type(&"").ok()?;
                let len = inner.u64(&"").ok()?;
                let body = cur.buf.get(inner.pos..cur.pos)?;
                Value::Array(ArrayRef {
                    elem,
                    len,
                    body,
                    depth: depth + 1,
                })
            }
        })
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F32(_) => ValueType::F32,
            Value::F64(_) => ValueType::F64,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
        }
    }

    /// Type description for messages: `UINT32`, `ARRAY of STRING`.
    pub fn type_description(&self) -> String {
        match self {
            Value::Array(a) => format!("ARRAY of {}", a.elem),
            other => other.value_type().name().to_string(),
        }
    }

    /// Any integer value that is non-negative, widened to u64.
    pub fn as_uint(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any float value, widened to f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<ArrayRef<'a>> {
        match *self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// An owned copy (allocates for strings and arrays).
    pub fn to_owned_value(&self) -> MetaValue {
        match *self {
            Value::U8(v) => MetaValue::U8(v),
            Value::I8(v) => MetaValue::I8(v),
            Value::U16(v) => MetaValue::U16(v),
            Value::I16(v) => MetaValue::I16(v),
            Value::U32(v) => MetaValue::U32(v),
            Value::I32(v) => MetaValue::I32(v),
            Value::U64(v) => MetaValue::U64(v),
            Value::I64(v) => MetaValue::I64(v),
            Value::F32(v) => MetaValue::F32(v),
            Value::F64(v) => MetaValue::F64(v),
            Value::Bool(v) => MetaValue::Bool(v),
            Value::String(s) => MetaValue::String(s.to_string()),
            Value::Array(a) => {
                MetaValue::Array(a.elem, a.iter().map(|v| v.to_owned_value()).collect())
            }
        }
    }
}

impl serde::Serialize for Value<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Value::U8(v) => s.serialize_u8(v),
            Value::I8(v) => s.serialize_i8(v),
            Value::U16(v) => s.serialize_u16(v),
            Value::I16(v) => s.serialize_i16(v),
            Value::U32(v) => s.serialize_u32(v),
            Value::I32(v) => s.serialize_i32(v),
            Value::U64(v) => s.serialize_u64(v),
            Value::I64(v) => s.serialize_i64(v),
            Value::F32(v) => s.serialize_f32(v),
            Value::F64(v) => s.serialize_f64(v),
            Value::Bool(v) => s.serialize_bool(v),
            Value::String(v) => s.serialize_str(v),
            Value::Array(a) => s.collect_seq(a.iter()),
        }
    }
}

/// An array value borrowed from validated file bytes; elements are decoded as they are visited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArrayRef<'a> {
    elem: ValueType,
    len: u64,
    /// The encoded elements.
    body: &'a [u8],
    /// Nesting depth of this array (1 for a top-level array).
    depth: u32,
}

impl<'a> ArrayRef<'a> {
    pub fn elem_type(&self) -> ValueType {
        self.elem
    }

    /// Number of elements (as stored; bounded by the file size at parse time).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements, decoded one by one.
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter {
            cur: Cursor::new(self.body),
            elem: self.elem,
            left: self.len,
            depth: self.depth,
        }
    }

    /// The elements as `T` when the element type is exactly `T`'s.
    pub fn scalars<T: Scalar>(&self) -> Option<ScalarIter<'a, T>> {
        (self.elem == T::TYPE).then_some(ScalarIter {
            bytes: self.body,
            _t: PhantomData,
        })
    }

    /// The elements as string slices when the element type is `STRING`.
    pub fn strings(&self) -> Option<StrIter<'a>> {
        (self.elem == ValueType::String).then_some(StrIter {
            cur: Cursor::new(self.body),
            left: self.len,
        })
    }
}

/// Iterator over any array's elements.
#[derive(Debug, Clone)]
pub struct ArrayIter<'a> {
    cur: Cursor<'a>,
    elem: ValueType,
    left: u64,
    depth: u32,
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Value<'a>;
    fn next(&mut self) -> Option<Value<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let v = Value::decode(&mut self.cur, self.elem, self.depth);
        if v.is_none() {
            self.left = 0;
        }
        v
    }
}

/// Iterator over a fixed-size scalar array; random access with [`ScalarIter::get`].
#[derive(Debug, Clone)]
pub struct ScalarIter<'a, T> {
    bytes: &'a [u8],
    _t: PhantomData<T>,
}

impl<T: Scalar> ScalarIter<'_, T> {
    fn size() -> usize {
        T::TYPE.fixed_size().unwrap_or(1)
    }

    /// Element `i` of what remains.
    pub fn get(&self, i: usize) -> Option<T> {
        let n = Self::size();
        let start = i.checked_mul(n)?;
        self.bytes.get(start..start.checked_add(n)?).map(T::read_le)
    }
}

impl<T: Scalar> Iterator for ScalarIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        let n = Self::size();
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(T::read_le(head))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.bytes.len() / Self::size();
        (n, Some(n))
    }
}

impl<T: Scalar> ExactSizeIterator for ScalarIter<'_, T> {}

/// Iterator over a string array.
#[derive(Debug, Clone)]
pub struct StrIter<'a> {
    cur: Cursor<'a>,
    left: u64,
}

impl<'a> Iterator for StrIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let s = self.cur.string(&"").ok();
        if s.is_none() {
            self.left = 0;
        }
        s
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.left).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

impl ExactSizeIterator for StrIter<'_> {}

/// An owned metadata value, as the writer takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    /// Element type and elements; every element must have the element type.
    Array(ValueType, Vec<MetaValue>),
}

impl MetaValue {
    pub fn value_type(&self) -> ValueType {
        match self {
            MetaValue::U8(_) => ValueType::U8,
            MetaValue::I8(_) => ValueType::I8,
            MetaValue::U16(_) => ValueType::U16,
            MetaValue::I16(_) => ValueType::I16,
            MetaValue::U32(_) => ValueType::U32,
            MetaValue::I32(_) => ValueType::I32,
            MetaValue::U64(_) => ValueType::U64,
            MetaValue::I64(_) => ValueType::I64,
            MetaValue::F32(_) => ValueType::F32,
            MetaValue::F64(_) => ValueType::F64,
            MetaValue::Bool(_) => ValueType::Bool,
            MetaValue::String(_) => ValueType::String,
            MetaValue::Array(..) => ValueType::Array,
        }
    }

    /// An array of strings.
    pub fn strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> MetaValue {
        MetaValue::Array(
            ValueType::String,
            items
                .into_iter()
                .map(|s| MetaValue::String(s.into()))
                .collect(),
        )
    }

    /// An array of scalars of one type.
    pub fn scalars<T: Scalar + Into<MetaValue>>(items: impl IntoIterator<Item = T>) -> MetaValue {
        MetaValue::Array(T::TYPE, items.into_iter().map(Into::into).collect())
    }

    /// Check element types and nesting; `depth` arrays enclose `self`.
    pub(crate) fn validate(&self, depth: u32) -> Result<(), String> {
        if let MetaValue::Array(elem, items) = self {
            if depth + 1 > MAX_ARRAY_DEPTH {
                return Err(format!(
                    "arrays nested deeper than {MAX_ARRAY_DEPTH} levels"
                ));
            }
            for (i, item) in items.iter().enumerate() {
                if item.value_type() != *elem {
                    return Err(format!(
                        "array element #{i} is {}, but the array holds {elem}",
                        item.value_type()
                    ));
                }
                item.validate(depth + 1)?;
            }
        }
        Ok(())
    }

    /// Append the encoding (without the leading type id) to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MetaValue::U8(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::Bool(v) => out.push(u8::from(*v)),
            MetaValue::String(s) => encode_str(s, out),
            MetaValue::Array(elem, items) => {
                out.extend_from_slice(&elem.id().to_le_bytes());
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

pub(crate) fn encode_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

macro_rules! meta_from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for MetaValue {
            fn from(v: $t) -> Self { MetaValue::$v(v) }
        }
    )*};
}
meta_from!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, u64 => U64,
    i64 => I64, f32 => F32, f64 => F64, bool => Bool, String => String);

impl From<&str> for MetaValue {
    fn from(v: &str) -> Self {
        MetaValue::String(v.to_string())
    }
}
