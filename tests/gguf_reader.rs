//! GGUF reader: writer -> reader round trips for every value type and several tensor types, typed
//! getters, and crafted hostile files (every prefix, every bit flip, huge counts and lengths,
//! overflowing shapes, bad offsets and alignments, duplicates, unknown ids, deep nesting).

use vramplan::ggml::GgmlType;
use vramplan::gguf::{
    GgufError, GgufFile, GgufWriter, MetaValue, ParseError, Value, ValueType, MAX_ARRAY_DEPTH,
};

// ---------------------------------------------------------------------------------------------
// Helpers

fn parse_err(bytes: &[u8]) -> ParseError {
    match GgufFile::parse(bytes) {
        Ok(f) => panic!("expected a parse error, got a valid file: {f:?}"),
        Err(GgufError::Parse(p)) => p,
        Err(other) => panic!("expected a parse error, got {other}"),
    }
}

/// Assert that parsing fails, the message contains every needle, and return the error.
fn expect_err(bytes: &[u8], needles: &[&str]) -> ParseError {
    let e = parse_err(bytes);
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "error must be one line: {msg}");
    assert!(msg.starts_with("GGUF parse error at byte "), "{msg}");
    for n in needles {
        assert!(msg.contains(n), "error `{msg}` should contain `{n}`");
    }
    e
}

/// Raw GGUF bytes built field by field.
#[derive(Default, Clone)]
struct Raw(Vec<u8>);

impl Raw {
    fn header(version: u32, n_tensors: u64, n_kv: u64) -> Raw {
        let mut r = Raw(b"GGUF".to_vec());
        r.u32(version).u64(n_tensors).u64(n_kv);
        r
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }
    /// A key/value entry with a raw encoded value.
    fn kv(&mut self, key: &str, ty: u32, value: &[u8]) -> &mut Self {
        self.str(key).u32(ty).bytes(value)
    }
    fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.kv(key, 4, &v.to_le_bytes())
    }
    /// A tensor info record.
    fn ti(&mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> &mut Self {
        self.str(name).u32(dims.len() as u32);
        for &d in dims {
            self.u64(d);
        }
        self.u32(ty).u64(offset)
    }
    /// Zero padding to `align`, then `data` bytes.
    fn data(&mut self, align: usize, data: &[u8]) -> Vec<u8> {
        let pad = self.0.len().div_ceil(align) * align - self.0.len();
        self.0.resize(self.0.len() + pad, 0);
        self.0.extend_from_slice(data);
        self.0.clone()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn nested(depth: u32) -> MetaValue {
    let mut v = MetaValue::scalars([1u32, 2, 3]);
    for _ in 1..depth {
        v = MetaValue::Array(ValueType::Array, vec![v.clone(), v]);
    }
    v
}

/// Every metadata value type, with its key.
fn all_values() -> Vec<(&'static str, MetaValue)> {
    vec![
        ("general.architecture", "llama".into()),
        ("t.u8", MetaValue::U8(200)),
        ("t.i8", MetaValue::I8(-100)),
        ("t.u16", MetaValue::U16(60_000)),
        ("t.i16", MetaValue::I16(-30_000)),
        ("t.u32", MetaValue::U32(4_000_000_000)),
        ("t.i32", MetaValue::I32(-2_000_000_000)),
        ("t.u64", MetaValue::U64(u64::MAX - 7)),
        ("t.i64", MetaValue::I64(i64::MIN + 3)),
        ("t.f32", MetaValue::F32(-1.25e-7)),
        ("t.f64", MetaValue::F64(std::f64::consts::PI)),
        ("t.bool_true", MetaValue::Bool(true)),
        ("t.bool_false", MetaValue::Bool(false)),
        ("t.string", "héllo, 世界 \u{1F600}".into()),
        ("t.empty_string", "".into()),
        ("t.arr.u8", MetaValue::scalars([0u8, 1, 255])),
        ("t.arr.i8", MetaValue::scalars([-128i8, 0, 127])),
        ("t.arr.u16", MetaValue::scalars([0u16, 65535])),
        ("t.arr.i16", MetaValue::scalars([-32768i16, 32767])),
        ("t.arr.u32", MetaValue::scalars([1u32, 2, 3, u32::MAX])),
        ("t.arr.i32", MetaValue::scalars([-1i32, i32::MIN, i32::MAX])),
        ("t.arr.u64", MetaValue::scalars([u64::MAX, 0])),
        ("t.arr.i64", MetaValue::scalars([i64::MIN, i64::MAX])),
        (
            "t.arr.f32",
            MetaValue::scalars([0.5f32, -0.0, f32::INFINITY, 1e-30]),
        ),
        ("t.arr.f64", MetaValue::scalars([1e300f64, -2.5])),
        ("t.arr.bool", MetaValue::scalars([true, false, true])),
        (
            "t.arr.string",
            MetaValue::strings(["a", "", "ünïcode", "<|im_start|>"]),
        ),
        ("t.arr.empty", MetaValue::Array(ValueType::U32, vec![])),
        ("t.arr.nested", nested(3)),
        ("t.arr.nested_max", nested(MAX_ARRAY_DEPTH)),
    ]
}

/// (name, shape, type) of the round-trip tensors.
fn all_tensors() -> Vec<(&'static str, Vec<u64>, GgmlType)> {
    vec![
        ("token_embd.weight", vec![64, 3], GgmlType::Q8_0),
        ("blk.0.attn_q.weight", vec![256, 2], GgmlType::Q4_K),
        ("blk.0.attn_norm.weight", vec![64], GgmlType::F32),
        ("blk.0.ffn_up.weight", vec![32, 2, 2], GgmlType::Q4_0),
        (
            "blk.0.ffn_gate_exps.weight",
            vec![256, 1, 2, 1],
            GgmlType::Q6_K,
        ),
        ("blk.0.attn_k.weight", vec![7, 3], GgmlType::F16),
        ("blk.0.attn_v.weight", vec![5], GgmlType::BF16),
        ("blk.0.ids", vec![3], GgmlType::I32),
        ("blk.0.iq", vec![256], GgmlType::IQ4_XS),
        ("empty.weight", vec![0, 4], GgmlType::F32),
        ("output.weight", vec![32, 1], GgmlType::Q5_1),
    ]
}

fn tensor_bytes(shape: &[u64], ty: GgmlType) -> usize {
    let n: u64 = shape.iter().product();
    ty.tensor_bytes(shape[0], n).unwrap() as usize
}

fn sample_writer(alignment: Option<u32>) -> GgufWriter<'static> {
    let mut w = GgufWriter::new();
    if let Some(a) = alignment {
        w.add_kv("general.alignment", MetaValue::U32(a)).unwrap();
    }
    for (k, v) in all_values() {
        w.add_kv(k, v).unwrap();
    }
    for (i, (name, shape, ty)) in all_tensors().into_iter().enumerate() {
        let data = pattern(tensor_bytes(&shape, ty), i as u8);
        w.add_tensor(name, &shape, ty, data).unwrap();
    }
    w
}

/// A small valid file with a few of everything, for the truncation and bit-flip sweeps.
fn small_file() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", "llama").unwrap();
    w.add_kv("llama.block_count", 2u32).unwrap();
    w.add_kv("t.f32", 0.5f32).unwrap();
    w.add_kv("t.bool", true).unwrap();
    w.add_kv("t.strs", MetaValue::strings(["ab", "c"])).unwrap();
    w.add_kv("t.nested", nested(2)).unwrap();
    w.add_kv("t.i16s", MetaValue::scalars([1i16, -1])).unwrap();
    w.add_tensor("a", &[32, 2], GgmlType::Q8_0, pattern(68, 1))
        .unwrap();
    w.add_tensor("b", &[3], GgmlType::F32, pattern(12, 2))
        .unwrap();
    w.add_tensor("c", &[2, 2], GgmlType::F16, pattern(8, 3))
        .unwrap();
    w.to_bytes().unwrap()
}

/// Touch everything a valid parse exposes, so a bad index would panic here.
fn exercise<D: AsRef<[u8]>>(f: &GgufFile<D>) {
    for (k, v) in f.metadata() {
        let _ = (k.len(), v.to_owned_value());
        let _ = serde_json::to_string(&v).unwrap();
        assert!(
            f.get(k).is_some(),
            "key `{k}` from metadata() must be found by get()"
        );
    }
    for t in f.tensors() {
        assert_eq!(f.tensor_data(t).len() as u64, t.n_bytes());
        assert_eq!(f.tensor(t.name()), Some(t));
        assert!(t.file_offset() + t.n_bytes() <= f.len());
    }
    let inv = f.inventory();
    assert_eq!(inv.tensors.len(), f.tensors().len());
    let _ = f.architecture();
}

// ---------------------------------------------------------------------------------------------
// Round trips

#[test]
fn round_trip_every_value_type_and_tensor_type() {
    let bytes = sample_writer(None).to_bytes().unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.data_offset() % 32, 0);
    assert_eq!(f.kv_count(), all_values().len());

    // Metadata comes back in order, with exact types and values.
    let read: Vec<(String, MetaValue)> = f
        .metadata()
        .map(|(k, v)| (k.to_string(), v.to_owned_value()))
        .collect();
    let want: Vec<(String, MetaValue)> = all_values()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(read, want);

    // Typed getters.
    assert_eq!(f.architecture().unwrap(), "llama");
    assert_eq!(f.get_u8("t.u8").unwrap(), 200);
    assert_eq!(f.get_i8("t.i8").unwrap(), -100);
    assert_eq!(f.get_u16("t.u16").unwrap(), 60_000);
    assert_eq!(f.get_i16("t.i16").unwrap(), -30_000);
    assert_eq!(f.get_u32("t.u32").unwrap(), 4_000_000_000);
    assert_eq!(f.get_i32("t.i32").unwrap(), -2_000_000_000);
    assert_eq!(f.get_u64("t.u64").unwrap(), u64::MAX - 7);
    assert_eq!(f.get_i64("t.i64").unwrap(), i64::MIN + 3);
    assert_eq!(f.get_f32("t.f32").unwrap(), -1.25e-7);
    assert_eq!(f.get_f64("t.f64").unwrap(), std::f64::consts::PI);
    assert!(f.get_bool("t.bool_true").unwrap());
    assert!(!f.get_bool("t.bool_false").unwrap());
    assert_eq!(f.get_str("t.string").unwrap(), "héllo, 世界 \u{1F600}");
    assert_eq!(f.get_str("t.empty_string").unwrap(), "");
    assert_eq!(f.get_uint("t.u8").unwrap(), 200);
    assert_eq!(f.get_uint("t.u64").unwrap(), u64::MAX - 7);
    assert_eq!(f.get_float("t.f32").unwrap(), f64::from(-1.25e-7f32));

    // Arrays as iterators.
    let u32s: Vec<u32> = f.get_scalar_array::<u32>("t.arr.u32").unwrap().collect();
    assert_eq!(u32s, [1, 2, 3, u32::MAX]);
    let it = f.get_scalar_array::<u32>("t.arr.u32").unwrap();
    assert_eq!(it.len(), 4);
    assert_eq!(it.get(3), Some(u32::MAX));
    assert_eq!(it.get(4), None);
    let bools: Vec<bool> = f.get_scalar_array::<bool>("t.arr.bool").unwrap().collect();
    assert_eq!(bools, [true, false, true]);
    let f64s: Vec<f64> = f.get_scalar_array::<f64>("t.arr.f64").unwrap().collect();
    assert_eq!(f64s, [1e300, -2.5]);
    let strs: Vec<&str> = f.get_str_array("t.arr.string").unwrap().collect();
    assert_eq!(strs, ["a", "", "ünïcode", "<|im_start|>"]);
    assert!(f.get_array("t.arr.empty").unwrap().is_empty());
    let nested_arr = f.get_array("t.arr.nested").unwrap();
    assert_eq!(nested_arr.elem_type(), ValueType::Array);
    assert_eq!(nested_arr.len(), 2);
    let inner = nested_arr.iter().next().unwrap().as_array().unwrap();
    assert_eq!(inner.elem_type(), ValueType::Array);
    let innermost = inner.iter().nth(1).unwrap().as_array().unwrap();
    assert_eq!(
        innermost.scalars::<u32>().unwrap().collect::<Vec<_>>(),
        [1, 2, 3]
    );

    // JSON form of values.
    assert_eq!(
        serde_json::to_string(&f.get("t.arr.nested").unwrap()).unwrap(),
        "[[[1,2,3],[1,2,3]],[[1,2,3],[1,2,3]]]"
    );
    assert_eq!(
        serde_json::to_string(&f.get("t.arr.string").unwrap()).unwrap(),
        r#"["a","","ünïcode","<|im_start|>"]"#
    );

    // Tensors: names, shapes, types, aligned offsets, exact bytes borrowed from the buffer.
    let want = all_tensors();
    assert_eq!(f.tensors().len(), want.len());
    let mut expected_offset = 0u64;
    for (i, (t, (name, shape, ty))) in f.tensors().iter().zip(&want).enumerate() {
        assert_eq!(t.name(), *name);
        assert_eq!(t.shape(), shape.as_slice());
        assert_eq!(t.ty(), *ty);
        assert_eq!(t.offset(), expected_offset, "{name}");
        assert_eq!(t.offset() % 32, 0);
        let n = tensor_bytes(shape, *ty);
        assert_eq!(t.n_bytes(), n as u64);
        assert_eq!(t.n_elements(), shape.iter().product::<u64>());
        let data = f.tensor_data(t);
        assert_eq!(data, pattern(n, i as u8).as_slice());
        // Borrowed, not copied: the slice points into the parsed buffer.
        let base = bytes.as_ptr() as usize;
        assert_eq!(data.as_ptr() as usize - base, t.file_offset() as usize);
        expected_offset += (n as u64).div_ceil(32) * 32;
    }
    assert_eq!(f.len(), f.data_offset() + expected_offset);
    assert_eq!(f.tensor("blk.0.iq").unwrap().ty(), GgmlType::IQ4_XS);
    assert!(f.tensor("missing").is_none());

    // Inventory.
    let inv = f.inventory();
    assert_eq!(inv.tensors.len(), want.len());
    assert_eq!(inv.tensors[1].name, "blk.0.attn_q.weight");
    assert_eq!(inv.tensors[1].shape, vec![256, 2]);
    assert_eq!(inv.tensors[1].ty, GgmlType::Q4_K);
    assert_eq!(
        inv.total_bytes(),
        Some(f.tensors().iter().map(|t| t.n_bytes()).sum())
    );
    exercise(&f);
}

#[test]
fn custom_alignment_is_respected() {
    for align in [1u32, 8, 64, 4096] {
        let bytes = sample_writer(Some(align)).to_bytes().unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        assert_eq!(f.alignment(), align);
        assert_eq!(f.get_u32("general.alignment").unwrap(), align);
        assert_eq!(f.data_offset() % u64::from(align), 0);
        for t in f.tensors() {
            assert_eq!(
                t.file_offset() % u64::from(align),
                0,
                "{} at align {align}",
                t.name()
            );
        }
        exercise(&f);
    }
}

#[test]
fn getters_report_missing_keys_and_wrong_types() {
    let bytes = sample_writer(None).to_bytes().unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    let e = f.get_u32("llama.block_count").unwrap_err();
    assert!(matches!(e, GgufError::MissingKey { .. }));
    assert_eq!(
        e.to_string(),
        "GGUF metadata key `llama.block_count` is missing"
    );
    let e = f.get_u32("t.u64").unwrap_err();
    assert_eq!(
        e.to_string(),
        "GGUF metadata key `t.u64` holds UINT64, expected UINT32"
    );
    let e = f.get_str("t.arr.string").unwrap_err();
    assert_eq!(
        e.to_string(),
        "GGUF metadata key `t.arr.string` holds ARRAY of STRING, expected STRING"
    );
    let e = f.get_scalar_array::<u32>("t.arr.i32").unwrap_err();
    assert!(
        e.to_string()
            .contains("holds ARRAY of INT32, expected ARRAY of UINT32"),
        "{e}"
    );
    assert!(f.get_str_array("t.arr.u8").is_err());
    assert!(
        f.get_uint("t.i8").is_err(),
        "-100 is not a non-negative integer"
    );
    assert_eq!(
        f.get_uint("t.arr.u8").unwrap_err().to_string(),
        "GGUF metadata key `t.arr.u8` holds ARRAY of UINT8, expected a non-negative integer"
    );
    assert!(f.get_float("t.u8").is_err());
    assert!(f.get_bool("t.u8").is_err());
    assert!(matches!(f.get("t.f64"), Some(Value::F64(_))));
}

#[test]
fn version_2_is_read_and_version_1_rejected() {
    let mut bytes = small_file();
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    let f = GgufFile::parse(&bytes).unwrap();
    assert_eq!(f.version(), 2);
    exercise(&f);

    bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
    let e = expect_err(&bytes, &["GGUF version 1 is not supported"]);
    assert_eq!(e.offset, 4);

    bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
    expect_err(&bytes, &["big-endian"]);
    bytes[4..8].copy_from_slice(&4u32.to_le_bytes());
    expect_err(&bytes, &["unsupported GGUF version 4"]);
}

#[test]
fn bad_magic() {
    let mut bytes = small_file();
    bytes[0] = b'X';
    let e = expect_err(&bytes, &["expected the magic `GGUF`, found XGUF"]);
    assert_eq!(e.offset, 0);
    expect_err(
        b"",
        &["expected the magic `GGUF` (4 bytes) but only 0 bytes remain"],
    );
}

// ---------------------------------------------------------------------------------------------
// Sweeps over a small valid file

#[test]
fn every_truncation_is_an_error() {
    let bytes = small_file();
    let full = GgufFile::parse(&bytes).unwrap();
    let last = full
        .tensors()
        .iter()
        .map(|t| t.file_offset() + t.n_bytes())
        .max()
        .unwrap() as usize;
    for len in 0..last {
        match GgufFile::parse(&bytes[..len]) {
            Err(GgufError::Parse(p)) => {
                assert!(
                    p.offset <= len as u64,
                    "offset {} past the {len}-byte prefix",
                    p.offset
                );
                assert!(!p.to_string().contains('\n'));
            }
            Err(other) => panic!("prefix {len}: unexpected error kind {other}"),
            Ok(_) => panic!("prefix of {len} of {} bytes parsed as valid", bytes.len()),
        }
    }
    // Only the padding after the last tensor may be cut.
    for len in last..=bytes.len() {
        exercise(&GgufFile::parse(&bytes[..len]).unwrap());
    }
}

#[test]
fn every_bit_flip_is_an_error_or_a_valid_parse() {
    let bytes = small_file();
    let data_offset = GgufFile::parse(&bytes).unwrap().data_offset() as usize;
    let mut errors = 0;
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            match GgufFile::parse(&b) {
                Ok(f) => exercise(&f),
                Err(GgufError::Parse(p)) => {
                    errors += 1;
                    assert!(p.offset <= b.len() as u64);
                }
                Err(other) => panic!("flip {i}:{bit}: unexpected error kind {other}"),
            }
        }
    }
    // Flips in the header region mostly break the file; flips in tensor data never do.
    assert!(
        errors > data_offset * 4,
        "only {errors} of {} header flips were caught",
        data_offset * 8
    );
    let mut b = bytes.clone();
    *b.last_mut().unwrap() ^= 0xFF;
    assert!(GgufFile::parse(&b).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Crafted hostile files

#[test]
fn huge_tensor_count() {
    let mut r = Raw::header(3, u64::MAX, 0);
    let e = expect_err(
        &r.data(32, &[0; 64]),
        &["tensor count 18446744073709551615 needs at least"],
    );
    assert_eq!(e.offset, 8);
    // Plausible at the header but not after the metadata.
    let mut r = Raw::header(3, 3, 1);
    r.kv("k", 8, &{
        let mut v = 60u64.to_le_bytes().to_vec();
        v.extend([b'x'; 60]);
        v
    });
    expect_err(
        &r.data(1, &[0; 50]),
        &["tensor count 3 needs at least 75 bytes of tensor infos"],
    );
}

#[test]
fn huge_kv_count() {
    let e = expect_err(
        &Raw::header(3, 0, 1 << 60).data(32, &[0; 100]),
        &["metadata count 1152921504606846976 needs at least"],
    );
    assert_eq!(e.offset, 16);
}

#[test]
fn string_length_near_u64_max() {
    let mut r = Raw::header(3, 0, 4);
    r.kv_u32("a", 1).kv_u32("b", 2).kv_u32("c", 3);
    let key_at = r.len();
    r.u64(u64::MAX).bytes(&[b'k'; 60]);
    let e = expect_err(
        &r.0,
        &[
            "string length 18446744073709551615 exceeds the 60 bytes remaining",
            "(metadata key #3)",
        ],
    );
    assert_eq!(e.offset, key_at as u64);
    assert_eq!(
        e.to_string(),
        format!("GGUF parse error at byte {key_at}: a metadata key: string length 18446744073709551615 exceeds the 60 bytes remaining (metadata key #3)")
    );

    // In a value and in a tensor name.
    let mut r = Raw::header(3, 0, 1);
    r.str("k").u32(8).u64(u64::MAX - 1).bytes(&[0; 40]);
    expect_err(
        &r.0,
        &[
            "string length 18446744073709551614 exceeds",
            "metadata key #0 `k`",
        ],
    );
    let mut r = Raw::header(3, 1, 0);
    r.u64(1 << 62).bytes(&[0; 40]);
    expect_err(
        &r.0,
        &[
            "string length 4611686018427387904 exceeds",
            "tensor info #0",
        ],
    );
}

#[test]
fn huge_array_lengths() {
    for (elem, min) in [(4u32, 4u128), (12, 8), (8, 8), (9, 12), (0, 1), (7, 1)] {
        let mut r = Raw::header(3, 0, 1);
        r.str("arr").u32(9).u32(elem);
        let len_at = r.len();
        r.u64(u64::MAX / 3).bytes(&[0; 100]);
        let need = u128::from(u64::MAX / 3) * min;
        let e = expect_err(
            &r.0,
            &[
                &format!("array length {} of", u64::MAX / 3),
                &format!("needs at least {need} bytes but only 100 bytes remain"),
            ],
        );
        assert_eq!(e.offset, len_at as u64);
    }
    // Exactly one element short.
    let mut r = Raw::header(3, 0, 1);
    r.str("arr").u32(9).u32(4).u64(10).bytes(&[0; 39]);
    expect_err(
        &r.0,
        &["array length 10 of UINT32 needs at least 40 bytes but only 39 bytes remain"],
    );
}

#[test]
fn dims_product_overflow() {
    let mut r = Raw::header(3, 1, 0);
    r.ti("t", &[1 << 32, 1 << 32], 0, 0);
    expect_err(
        &r.data(32, &[]),
        &[
            "more than 9223372036854775807 elements",
            "tensor info #0 `t`",
        ],
    );
    let mut r = Raw::header(3, 1, 0);
    r.ti("t", &[u64::MAX], 0, 0);
    expect_err(
        &r.data(32, &[]),
        &["more than 9223372036854775807 elements"],
    );
    // Elements fit, bytes do not: 2^62 F64 elements are 2^65 bytes.
    let mut r = Raw::header(3, 1, 0);
    r.ti("t", &[1 << 31, 1 << 31], 28, 0);
    expect_err(
        &r.data(32, &[]),
        &["byte size of 4611686018427387904 F64 elements overflows"],
    );
}

#[test]
fn tensor_offset_past_the_end() {
    let mut r = Raw::header(3, 1, 0);
    r.ti("t", &[8], 0, 0);
    expect_err(
        &r.data(32, &[0; 31]),
        &[
            "plus 32 bytes extends past the end of the file",
            "tensor #0 `t`",
        ],
    );
    let mut r = Raw::header(3, 1, 0);
    r.ti("t", &[8], 0, 64);
    expect_err(&r.data(32, &[0; 64]), &["extends past the end"]);
    let mut r = Raw::header(3, 1, 0);
    r.ti("t", &[8], 0, u64::MAX - 31);
    expect_err(&r.data(32, &[0; 64]), &["extends past the end"]);
    // Exactly fitting is fine.
    let mut r = Raw::header(3, 1, 0);
    r.ti("t", &[8], 0, 0);
    exercise(&GgufFile::parse(&r.data(32, &[0; 32])).unwrap());
}

#[test]
fn misaligned_offset() {
    let mut r = Raw::header(3, 1, 0);
    let ti_at = r.len();
    r.ti("t", &[8], 0, 16);
    let e = expect_err(
        &r.data(32, &[0; 64]),
        &["tensor data offset 16 is not a multiple of the alignment 32"],
    );
    assert_eq!(e.offset as usize, ti_at + 8 + 1 + 4 + 8 + 4);
    // With general.alignment = 16 the same offset is fine.
    let mut r = Raw::header(3, 1, 1);
    r.kv_u32("general.alignment", 16).ti("t", &[8], 0, 16);
    let f_bytes = r.data(16, &[0; 64]);
    let f = GgufFile::parse(&f_bytes).unwrap();
    assert_eq!(f.alignment(), 16);
    assert_eq!(f.tensors()[0].offset(), 16);
}

#[test]
fn bad_alignment_values() {
    for (align, msg) in [
        (0u32, "non-zero power of two, found 0"),
        (3, "found 3"),
        (48, "found 48"),
    ] {
        let mut r = Raw::header(3, 0, 1);
        r.kv_u32("general.alignment", align);
        expect_err(&r.0, &["general.alignment must be a", msg]);
    }
    let mut r = Raw::header(3, 0, 1);
    r.kv("general.alignment", 10, &32u64.to_le_bytes());
    expect_err(&r.0, &["general.alignment must be a UINT32, found UINT64"]);
}

#[test]
fn duplicate_tensor_names() {
    let mut r = Raw::header(3, 3, 0);
    r.ti("a", &[8], 0, 0);
    r.ti("b", &[8], 0, 32);
    let dup_at = r.len();
    r.ti("a", &[8], 0, 64);
    let e = expect_err(&r.data(32, &[0; 96]), &["duplicate tensor name `a`"]);
    assert_eq!(e.offset as usize, dup_at);
}

#[test]
fn duplicate_keys() {
    let mut r = Raw::header(3, 0, 3);
    let first_at = r.len();
    r.kv_u32("x", 1).kv_u32("y", 2);
    let dup_at = r.len();
    r.kv("x", 8, &{
        let mut v = 1u64.to_le_bytes().to_vec();
        v.push(b'z');
        v
    });
    let e = expect_err(
        &r.0,
        &[
            "duplicate metadata key `x`",
            &format!("first defined at byte {first_at}"),
        ],
    );
    assert_eq!(e.offset as usize, dup_at);
}

#[test]
fn too_many_dims() {
    let mut r = Raw::header(3, 1, 0);
    r.ti("t", &[1, 1, 1, 1, 8], 0, 0);
    expect_err(
        &r.data(32, &[0; 32]),
        &["n_dims 5 exceeds GGML_MAX_DIMS (4)", "tensor info #0 `t`"],
    );
    let mut r = Raw::header(3, 1, 0);
    r.str("t").u32(u32::MAX).bytes(&[0; 64]);
    expect_err(&r.0, &["n_dims 4294967295 exceeds"]);
    // Four is fine, zero is a scalar.
    let mut r = Raw::header(3, 2, 0);
    r.ti("t", &[2, 1, 1, 2], 0, 0).ti("s", &[], 0, 32);
    let bytes = r.data(32, &[0; 64]);
    let f = GgufFile::parse(&bytes).unwrap();
    assert_eq!(f.tensors()[0].shape(), [2, 1, 1, 2]);
    assert_eq!(f.tensors()[1].shape(), [] as [u64; 0]);
    assert_eq!(f.tensors()[1].n_bytes(), 4);
}

#[test]
fn unknown_type_ids() {
    let mut r = Raw::header(3, 1, 0);
    r.ti("t", &[8], 4, 0);
    expect_err(&r.data(32, &[0; 64]), &["unknown ggml type id 4"]);
    let mut r = Raw::header(3, 1, 0);
    r.ti("t", &[8], 0xFFFF_FFFF, 0);
    expect_err(&r.data(32, &[0; 64]), &["unknown ggml type id 4294967295"]);
    let mut r = Raw::header(3, 0, 1);
    r.kv("k", 13, &[0; 16]);
    expect_err(
        &r.0,
        &["a value type id 0..=12), found 13", "metadata key #0 `k`"],
    );
    let mut r = Raw::header(3, 0, 1);
    r.str("k").u32(9).u32(99).u64(0);
    expect_err(
        &r.0,
        &["an array element type (a value type id 0..=12), found 99"],
    );
}

#[test]
fn nesting_bound() {
    // depth levels of arrays, innermost holding one u8.
    let build = |depth: u32| {
        let mut r = Raw::header(3, 0, 1);
        r.str("deep").u32(9);
        for _ in 1..depth {
            r.u32(9).u64(1);
        }
        r.u32(0).u64(1).bytes(&[7]);
        r.0
    };
    let ok = build(MAX_ARRAY_DEPTH);
    let f = GgufFile::parse(&ok).unwrap();
    let mut v = f.get("deep").unwrap();
    for _ in 0..MAX_ARRAY_DEPTH {
        v = v.as_array().unwrap().iter().next().unwrap();
    }
    assert_eq!(v, Value::U8(7));
    expect_err(
        &build(MAX_ARRAY_DEPTH + 1),
        &["arrays nested deeper than 8 levels"],
    );
    expect_err(&build(10_000), &["arrays nested deeper than 8 levels"]);
}

#[test]
fn invalid_utf8_and_bools() {
    let mut r = Raw::header(3, 0, 1);
    r.u64(3).bytes(&[b'a', 0xFF, b'b']).u32(4).u32(1);
    let e = expect_err(&r.0, &["invalid UTF-8"]);
    assert_eq!(e.offset, 24 + 8 + 1);
    let mut r = Raw::header(3, 0, 1);
    r.str("s").u32(8).u64(2).bytes(&[0xC3, 0x28]);
    expect_err(&r.0, &["invalid UTF-8", "metadata key #0 `s`"]);
    let mut r = Raw::header(3, 1, 0);
    r.u64(2).bytes(&[0xE2, 0x82]).u32(1).u64(8).u32(0).u64(0);
    expect_err(&r.data(32, &[0; 32]), &["invalid UTF-8", "tensor info #0"]);
    let mut r = Raw::header(3, 0, 1);
    r.kv("b", 7, &[2]);
    expect_err(&r.0, &["expected a bool (0 or 1), found 2"]);
    let mut r = Raw::header(3, 0, 1);
    r.str("b").u32(9).u32(7).u64(3).bytes(&[1, 0, 5]);
    expect_err(&r.0, &["array element #2, found 5"]);
}

#[test]
fn shape_must_fit_the_block_size() {
    let mut r = Raw::header(3, 1, 0);
    r.ti("t", &[576, 2], GgmlType::Q4_K.id(), 0);
    expect_err(
        &r.data(32, &[0; 4096]),
        &["row length 576 is not a multiple of the Q4_K block size 256"],
    );
}

#[test]
fn tensor_names_are_bounded() {
    let long = "x".repeat(64);
    let mut r = Raw::header(3, 1, 0);
    r.ti(&long, &[8], 0, 0);
    expect_err(
        &r.data(32, &[0; 32]),
        &["has 64 bytes, expected 1 to 63 (GGML_MAX_NAME)"],
    );
    let mut r = Raw::header(3, 1, 0);
    r.ti("", &[8], 0, 0);
    expect_err(&r.data(32, &[0; 32]), &["has 0 bytes"]);
}

#[test]
fn overlapping_tensors() {
    let mut r = Raw::header(3, 2, 0);
    r.ti("a", &[16], 0, 0).ti("b", &[8], 0, 32);
    expect_err(
        &r.data(32, &[0; 64]),
        &["overlaps tensor `a` at [0, 64)", "tensor `b`"],
    );
    // Zero-size tensors overlap nothing.
    let mut r = Raw::header(3, 2, 0);
    r.ti("a", &[16], 0, 0).ti("z", &[0], 0, 0);
    assert!(GgufFile::parse(&r.data(32, &[0; 64])).is_ok());
}

#[test]
fn open_maps_files_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.gguf");
    std::fs::write(&good, small_file()).unwrap();
    let f = GgufFile::open(&good).unwrap();
    assert_eq!(f.path(), Some(good.as_path()));
    assert_eq!(f.get_u32("llama.block_count").unwrap(), 2);
    exercise(&f);

    let bad = dir.path().join("bad.gguf");
    let mut bytes = small_file();
    bytes.truncate(30);
    std::fs::write(&bad, &bytes).unwrap();
    let msg = GgufFile::open(&bad).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("GGUF parse error in {} at byte ", bad.display())),
        "{msg}"
    );

    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    let msg = GgufFile::open(&empty).unwrap_err().to_string();
    assert!(msg.contains("at byte 0: expected the magic"), "{msg}");

    let e = GgufFile::open(dir.path().join("missing.gguf")).unwrap_err();
    assert!(matches!(e, GgufError::Io { .. }));
    assert!(e.to_string().starts_with("cannot open "), "{e}");
    assert!(matches!(
        GgufFile::open(dir.path()).unwrap_err(),
        GgufError::Io { .. }
    ));
}

#[test]
fn tensor_data_of_a_foreign_info_is_empty_not_a_panic() {
    let big = sample_writer(None).to_bytes().unwrap();
    let big = GgufFile::parse(&big).unwrap();
    let small_bytes = small_file();
    let small = GgufFile::parse(&small_bytes).unwrap();
    let last = big.tensors().last().unwrap();
    assert!(last.file_offset() + last.n_bytes() > small.len());
    assert!(small.tensor_data(last).is_empty());
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_after_a_header_never_panic(
            n_tensors in 0u64..6, n_kv in 0u64..6, body in proptest::collection::vec(any::<u8>(), 0..512)
        ) {
            let mut r = Raw::header(3, n_tensors, n_kv);
            r.bytes(&body);
            if let Ok(f) = GgufFile::parse(&r.0) { exercise(&f) }
        }

        #[test]
        fn random_overwrites_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
        ) {
            let mut b = small_file();
            for (i, v) in edits {
                let at = i.index(b.len());
                b[at] = v;
            }
            match GgufFile::parse(&b) {
                Ok(f) => exercise(&f),
                Err(e) => prop_assert!(matches!(e, GgufError::Parse(_))),
            }
        }
    }
}
