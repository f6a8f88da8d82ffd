//! Safetensors headers: valid files (read from disk without touching the data), and hostile ones:
//! lengths past the file or the cap, bad JSON, unknown dtypes, overflowing shapes, offsets that
//! disagree with dtype x shape, gaps, overlaps, duplicates, data past the end.

use vramplan::hf::{SafeDtype, SafetensorsHeader, MAX_SAFETENSORS_HEADER_BYTES};

/// A safetensors file: length, JSON header, `data_len` zero bytes.
fn file(json: &str, data_len: usize) -> Vec<u8> {
    let mut b = (json.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(json.as_bytes());
    b.resize(b.len() + data_len, 0);
    b
}

fn parse(b: &[u8]) -> SafetensorsHeader {
    SafetensorsHeader::parse(b, b.len() as u64).unwrap_or_else(|e| panic!("{e}"))
}

fn err(b: &[u8]) -> String {
    let m = SafetensorsHeader::parse(b, b.len() as u64)
        .unwrap_err()
        .to_string();
    assert!(m.starts_with("safetensors parse error at byte "), "{m}");
    assert!(!m.contains('\n'), "{m}");
    m
}

const GOOD: &str = r#"{"__metadata__":{"format":"pt"},
 "model.embed_tokens.weight":{"dtype":"BF16","shape":[4,3],"data_offsets":[0,24]},
 "model.norm.weight":{"dtype":"F32","shape":[3],"data_offsets":[24,36]},
 "lm_head.scales":{"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[36,40]}}"#;

#[test]
fn valid_header() {
    let b = file(GOOD, 40);
    let h = parse(&b);
    assert_eq!(h.header_len, GOOD.len() as u64);
    assert_eq!(h.data_start, 8 + GOOD.len() as u64);
    assert_eq!(h.metadata.get("format").map(String::as_str), Some("pt"));
    let names: Vec<&str> = h.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "model.embed_tokens.weight",
            "model.norm.weight",
            "lm_head.scales"
        ]
    );
    let e = h.tensor("model.embed_tokens.weight").unwrap();
    assert_eq!(
        (
            e.dtype,
            e.shape.clone(),
            e.n_elements,
            e.n_bytes,
            e.data_offsets
        ),
        (SafeDtype::BF16, vec![4, 3], 12, 24, (0, 24))
    );
    assert_eq!(
        h.tensor("lm_head.scales").unwrap().dtype,
        SafeDtype::F8_E4M3
    );
    assert_eq!(h.total_bytes(), 40);
    // Empty model, scalars and zero-size tensors.
    assert!(parse(&file("{}", 0)).tensors.is_empty());
    let h = parse(&file(
        r#"{"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"z":{"dtype":"F16","shape":[0,5],"data_offsets":[8,8]}}"#,
        8,
    ));
    assert_eq!(h.tensor("s").unwrap().n_elements, 1);
    assert_eq!(h.tensor("z").unwrap().n_bytes, 0);
    // Sub-byte types: 4-bit floats fill whole bytes in pairs.
    let h = parse(&file(
        r#"{"w":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]}}"#,
        3,
    ));
    assert_eq!(h.tensors[0].n_bytes, 3);
    assert!(err(&file(
        r#"{"w":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#,
        2
    ))
    .contains("do not fill whole bytes"));
}

#[test]
fn read_touches_only_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    // 4 GiB of (sparse) data after the header: read() must not load it.
    let json = r#"{"big":{"dtype":"U8","shape":[4294967296],"data_offsets":[0,4294967296]}}"#;
    let f = std::fs::File::create(&p).unwrap();
    std::io::Write::write_all(&mut &f, &file(json, 0)).unwrap();
    f.set_len(8 + json.len() as u64 + (1 << 32)).unwrap();
    let h = SafetensorsHeader::read(&p).unwrap();
    assert_eq!(h.tensors[0].n_bytes, 1 << 32);

    std::fs::write(&p, file(GOOD, 39)).unwrap();
    let m = SafetensorsHeader::read(&p).unwrap_err().to_string();
    assert!(
        m.starts_with(&format!(
            "safetensors parse error in {} at byte ",
            p.display()
        )),
        "{m}"
    );
    assert!(SafetensorsHeader::read(dir.path().join("missing")).is_err());
    std::fs::write(&p, [1, 2, 3]).unwrap();
    assert!(SafetensorsHeader::read(&p)
        .unwrap_err()
        .to_string()
        .contains("the file has 3 bytes"));
}

#[test]
fn hostile_lengths() {
    assert!(
        err(&[1, 2, 3]).contains("expected the 8-byte header length, but only 3 bytes are given")
    );
    let mut b = file(GOOD, 40);
    b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(err(&b).contains(&format!(
        "header length 18446744073709551615 exceeds the {MAX_SAFETENSORS_HEADER_BYTES}-byte limit"
    )));
    let n = b.len() as u64;
    b[..8].copy_from_slice(&n.to_le_bytes());
    assert!(err(&b).contains("exceeds the"));
    // A caller-supplied file length smaller than the bytes themselves.
    for file_len in [0, 7, 8] {
        assert!(
            SafetensorsHeader::parse(&file("{}", 0), file_len).is_err(),
            "file_len {file_len}"
        );
    }
    assert!(SafetensorsHeader::parse(&file("{}", 0), 10).is_ok());
    // Under the cap but beyond what the caller handed over.
    let m = SafetensorsHeader::parse(&b[..100], 1 << 40)
        .unwrap_err()
        .to_string();
    assert!(m.contains("exceeds the 92 bytes given"), "{m}");
}

#[test]
fn hostile_json() {
    let m = err(&file(
        r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#,
        4,
    ));
    assert!(m.contains("invalid header JSON"), "{m}");
    assert!(err(&file("[]", 0)).contains("invalid header JSON"));
    assert!(err(&file("{\"a\": 1}", 0)).contains("tensor `a`"));
    let m = err(&file(
        r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
        4,
    ));
    assert!(m.contains("invalid header JSON"), "{m}");
    let m = err(&file(r#"{"__metadata__":{"format":1}}"#, 0));
    assert!(m.contains("invalid header JSON"), "{m}");
    // Byte offset of a JSON syntax error on the second line.
    let json = "{\n  \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}x";
    let m = err(&file(json, 4));
    assert!(
        m.starts_with(&format!(
            "safetensors parse error at byte {}: ",
            8 + json.len() - 1
        )),
        "{m}"
    );
}

#[test]
fn hostile_entries() {
    let one = |dtype: &str, shape: &str, offsets: &str, data: usize| {
        err(&file(
            &format!(r#"{{"w":{{"dtype":"{dtype}","shape":{shape},"data_offsets":{offsets}}}}}"#),
            data,
        ))
    };
    assert!(one("F33", "[1]", "[0,4]", 4).contains("tensor `w`: unknown dtype `F33`"));
    assert!(one("F32", "[4294967296,4294967296]", "[0,4]", 4).contains("overflows"));
    assert!(one("F32", "[1000000000000000000]", "[0,4]", 4)
        .contains("the byte size of 1000000000000000000 F32 elements overflows"));
    assert!(one("F32", "[2]", "[0,4]", 4)
        .contains("data_offsets [0, 4) hold 4 bytes, but shape [2] of F32 needs 8"));
    assert!(one("F32", "[1]", "[8,4]", 4).contains("hold -4 bytes"));
    assert!(one("F32", "[1]", "[4,8]", 8).contains("starts at data offset 4, expected 0"));
    assert!(one("F32", "[1]", "[0,4]", 3)
        .contains("tensors cover 4 bytes of data but the file has 3 bytes after the header"));
    assert!(one("F32", "[1]", "[0,4]", 5).contains("file has 5 bytes"));
    let m = one(
        "F32",
        "[1]",
        "[18446744073709551612,18446744073709551616]",
        4,
    );
    assert!(m.contains("invalid header JSON"), "{m}");
    // Overlap and gap between two tensors.
    let two = |b: &str| {
        err(&file(
            &format!(
                r#"{{"a":{{"dtype":"U8","shape":[4],"data_offsets":[0,4]}},"b":{{"dtype":"U8","shape":[4],"data_offsets":{b}}}}}"#
            ),
            8,
        ))
    };
    assert!(two("[2,6]").contains("tensor `b` starts at data offset 2, expected 4"));
    assert!(two("[6,10]").contains("starts at data offset 6, expected 4"));
    // Duplicates.
    let m = err(&file(
        r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
        2,
    ));
    assert!(m.contains("duplicate entry `a`"), "{m}");
    assert!(err(&file(r#"{"__metadata__":{},"__metadata__":{}}"#, 0))
        .contains("duplicate entry `__metadata__`"));
}

#[test]
fn every_truncation_and_bit_flip_is_handled() {
    let b = file(GOOD, 40);
    for len in 0..b.len() {
        assert!(
            SafetensorsHeader::parse(&b[..len], len as u64).is_err(),
            "prefix {len}"
        );
    }
    for i in 0..b.len() {
        for bit in 0..8 {
            let mut c = b.clone();
            c[i] ^= 1 << bit;
            if let Ok(h) = SafetensorsHeader::parse(&c, c.len() as u64) {
                assert_eq!(h.total_bytes(), 40);
            }
        }
    }
}
