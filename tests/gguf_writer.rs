//! GGUF writer: atomic file writes (nothing at the destination unless complete, no temp files
//! left behind), streaming tensor data from a callback, padding and alignment, and the errors for
//! inputs it must refuse.

use std::io::Write;
use std::path::Path;

use vramplan::ggml::GgmlType;
use vramplan::gguf::{GgufError, GgufFile, GgufWriter, MetaValue, ValueType, MAX_ARRAY_DEPTH};

fn bytes_for(shape: &[u64], ty: GgmlType) -> usize {
    ty.tensor_bytes(shape[0], shape.iter().product()).unwrap() as usize
}

fn fill(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + seed * 13) % 251) as u8).collect()
}

const SHAPES: [(&str, [u64; 2], GgmlType); 4] = [
    ("token_embd.weight", [256, 3], GgmlType::Q4_K),
    ("blk.0.attn_norm.weight", [10, 1], GgmlType::F32),
    ("blk.0.ffn_down.weight", [64, 5], GgmlType::Q8_0),
    ("output.weight", [32, 3], GgmlType::Q5_0),
];

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn write_is_atomic_and_matches_to_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", "llama").unwrap();
    let datas: Vec<Vec<u8>> = SHAPES
        .iter()
        .enumerate()
        .map(|(i, (_, s, t))| fill(bytes_for(s, *t), i))
        .collect();
    for ((name, shape, ty), data) in SHAPES.iter().zip(&datas) {
        // Borrowed data: no copy needed.
        w.add_tensor(*name, shape, *ty, data.as_slice()).unwrap();
    }
    w.write(&path).unwrap();
    assert_eq!(dir_entries(dir.path()), ["model.gguf"]);
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(on_disk, w.to_bytes().unwrap());
    assert_eq!(on_disk.len() as u64, w.file_size());

    let f = GgufFile::open(&path).unwrap();
    for (t, data) in f.tensors().iter().zip(&datas) {
        assert_eq!(f.tensor_data(t), data.as_slice());
    }
    // Padding between tensors is zeros.
    for pair in f.tensors().windows(2) {
        let end = (pair[0].file_offset() + pair[0].n_bytes()) as usize;
        assert!(on_disk[end..pair[1].file_offset() as usize]
            .iter()
            .all(|&b| b == 0));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_ne!(
            mode & 0o044,
            0,
            "written files are readable by others (mode {mode:o}), not 0600 like a temp file"
        );
    }

    // Overwriting an existing file replaces it whole.
    let mut w2 = GgufWriter::new();
    w2.add_kv("general.architecture", "qwen2").unwrap();
    w2.write(&path).unwrap();
    assert_eq!(
        GgufFile::open(&path).unwrap().architecture().unwrap(),
        "qwen2"
    );
    assert_eq!(dir_entries(dir.path()), ["model.gguf"]);
}

#[test]
fn streaming_writes_the_same_bytes_as_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let streamed = dir.path().join("streamed.gguf");
    let mut w = GgufWriter::new();
    w.add_kv("general.alignment", 64u32).unwrap();
    w.add_kv("general.architecture", "llama").unwrap();
    let mut mem = GgufWriter::new();
    mem.add_kv("general.alignment", 64u32).unwrap();
    mem.add_kv("general.architecture", "llama").unwrap();
    for (i, (name, shape, ty)) in SHAPES.iter().enumerate() {
        let n = w.add_tensor_info(*name, shape, *ty).unwrap();
        assert_eq!(n as usize, bytes_for(shape, *ty));
        mem.add_tensor(*name, shape, *ty, fill(n as usize, i))
            .unwrap();
    }
    let mut calls = Vec::new();
    w.write_streaming(&streamed, |i, spec, sink| {
        calls.push(spec.name.clone());
        let data = fill(spec.bytes().unwrap() as usize, i);
        // Write in small pieces, as a row-by-row quantizer would.
        for chunk in data.chunks(7) {
            sink.write_all(chunk)?;
        }
        assert_eq!(sink.remaining(), 0);
        Ok(())
    })
    .unwrap();
    assert_eq!(
        calls,
        SHAPES.iter().map(|s| s.0.to_string()).collect::<Vec<_>>()
    );
    let on_disk = std::fs::read(&streamed).unwrap();
    assert_eq!(on_disk, mem.to_bytes().unwrap());
    let f = GgufFile::parse(&on_disk).unwrap();
    assert_eq!(f.alignment(), 64);
    assert!(f.tensors().iter().all(|t| t.file_offset() % 64 == 0));

    // Streaming into any Write.
    let mut buf = Vec::new();
    let n = w
        .write_to(&mut buf, |i, spec, sink| {
            sink.write_all(&fill(spec.bytes().unwrap() as usize, i))
        })
        .unwrap();
    assert_eq!(n as usize, buf.len());
    assert_eq!(buf, on_disk);
}

#[test]
fn an_interrupted_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.gguf");
    let mut w = GgufWriter::new();
    for (name, shape, ty) in SHAPES {
        w.add_tensor_info(name, &shape, ty).unwrap();
    }

    // The callback fails on the third tensor.
    let e = w
        .write_streaming(&path, |i, spec, sink| {
            if i == 2 {
                return Err(std::io::Error::other("quantizer crashed"));
            }
            sink.write_all(&vec![0u8; spec.bytes().unwrap() as usize])
        })
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("tensor `blk.0.ffn_down.weight`: data callback failed: quantizer crashed"),
        "{e}"
    );
    assert!(
        dir_entries(dir.path()).is_empty(),
        "left behind: {:?}",
        dir_entries(dir.path())
    );

    // Too few bytes.
    let e = w
        .write_streaming(&path, |_, _, sink| sink.write_all(&[1, 2, 3]))
        .unwrap_err();
    assert!(
        e.to_string().contains("data callback wrote 3 of 432 bytes"),
        "{e}"
    );
    assert!(dir_entries(dir.path()).is_empty());

    // Too many bytes.
    let e = w
        .write_streaming(&path, |_, spec, sink| {
            sink.write_all(&vec![0u8; spec.bytes().unwrap() as usize + 1])
        })
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("433 bytes offered but only 432 remain"),
        "{e}"
    );
    assert!(dir_entries(dir.path()).is_empty());

    // A previous good file survives a failed overwrite untouched.
    std::fs::write(&path, b"previous").unwrap();
    assert!(
        w.write(&path).is_err(),
        "declared tensors have no data for write()"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"previous");
    assert_eq!(dir_entries(dir.path()), ["out.gguf"]);

    // A destination directory that does not exist.
    let e = w.write(dir.path().join("no/such/dir/x.gguf")).unwrap_err();
    assert!(matches!(e, GgufError::Io { .. }), "{e}");
}

#[test]
fn writer_refuses_bad_input() {
    let msg = |r: Result<(), GgufError>| r.unwrap_err().to_string();
    let mut w = GgufWriter::new();
    w.add_kv("a", 1u32).unwrap();
    assert_eq!(
        msg(w.add_kv("a", 2u32)),
        "cannot write GGUF: duplicate metadata key `a`"
    );
    assert!(msg(w.add_kv("", 2u32)).contains("empty metadata key"));
    assert!(msg(w.add_kv("general.alignment", 0u32)).contains("non-zero power of two"));
    assert!(msg(w.add_kv("general.alignment", 48u32)).contains("non-zero power of two"));
    assert!(msg(w.add_kv("general.alignment", 32u64)).contains("UINT32"));
    assert_eq!(w.alignment(), 32);
    let mixed = MetaValue::Array(ValueType::U32, vec![MetaValue::U32(1), MetaValue::I32(2)]);
    assert!(
        msg(w.add_kv("m", mixed)).contains("array element #1 is INT32, but the array holds UINT32")
    );
    let mut deep = MetaValue::scalars([1u8]);
    for _ in 0..MAX_ARRAY_DEPTH {
        deep = MetaValue::Array(ValueType::Array, vec![deep]);
    }
    assert!(msg(w.add_kv("deep", deep)).contains("nested deeper than 8"));

    w.add_tensor("t", &[32], GgmlType::Q8_0, vec![0u8; 34])
        .unwrap();
    assert!(msg(w.add_tensor("t", &[32], GgmlType::Q8_0, vec![0u8; 34]))
        .contains("duplicate tensor name"));
    assert!(msg(w.add_tensor("u", &[32], GgmlType::Q8_0, vec![0u8; 33]))
        .contains("33 bytes given, shape [32] of Q8_0 needs 34"));
    assert!(msg(w.add_tensor("v", &[576], GgmlType::Q4_K, vec![]))
        .contains("row length 576 is not a multiple of the Q4_K block size 256"));
    assert!(
        msg(w.add_tensor("w", &[1, 1, 1, 1, 1], GgmlType::F32, vec![0u8; 4]))
            .contains("5 dimensions exceed")
    );
    assert!(
        msg(w.add_tensor("x", &[1 << 32, 1 << 32], GgmlType::F32, vec![]))
            .contains("more than INT64_MAX")
    );
    assert!(
        msg(w.add_tensor("y".repeat(64), &[1], GgmlType::F32, vec![0u8; 4]))
            .contains("name must have 1 to 63 bytes")
    );
    assert!(w.add_tensor_info("", &[1], GgmlType::F32).is_err());
    // Refused entries left no trace.
    let bytes = w.to_bytes().unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    assert_eq!(f.kv_count(), 1);
    assert_eq!(f.tensors().len(), 1);
}

#[test]
fn empty_file_round_trips() {
    let bytes = GgufWriter::new().to_bytes().unwrap();
    assert_eq!(bytes.len(), 32, "24-byte header padded to 32");
    let f = GgufFile::parse(&bytes).unwrap();
    assert_eq!(
        (f.kv_count(), f.tensors().len(), f.data_offset()),
        (0, 0, 32)
    );
    assert!(f.architecture().is_err());
}
