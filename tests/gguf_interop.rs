//! Interop with the reference implementation, gguf-py (pip package `gguf`, 0.19.0): files from
//! vramplan's writer read by `gguf.GGUFReader` (tools/gguf_interop/check_read.py), and a file from
//! `gguf.GGUFWriter` (tools/gguf_interop/write_sample.py) read by vramplan's reader. These tests
//! fail, never skip, when Python or the package is missing: `pip install gguf`.

mod gguf_common;

use gguf_common::{assert_kv_matches, assert_same_view, crc32, run_script};
use vramplan::ggml::GgmlType;
use vramplan::gguf::{GgufFile, GgufWriter, MetaValue, ValueType};

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn crc32_matches_zlib() {
    assert_eq!(crc32(b""), 0);
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

#[test]
fn vramplan_writer_output_is_read_by_gguf_py() {
    let mut w = GgufWriter::new();
    let nested = MetaValue::Array(
        ValueType::Array,
        vec![
            MetaValue::scalars([1i32, 2]),
            MetaValue::scalars([3i32, 4, 5]),
        ],
    );
    let values: Vec<(&str, MetaValue)> = vec![
        ("general.architecture", "llama".into()),
        ("llama.block_count", 30u32.into()),
        ("t.u8", 250u8.into()),
        ("t.i8", (-5i8).into()),
        ("t.u16", 65_000u16.into()),
        ("t.i16", (-32_000i16).into()),
        ("t.u32", u32::MAX.into()),
        ("t.i32", i32::MIN.into()),
        ("t.u64", u64::MAX.into()),
        ("t.i64", i64::MIN.into()),
        ("t.f32", 0.1f32.into()),
        ("t.f64", (-1e-300f64).into()),
        ("t.bool", true.into()),
        ("t.string", "vramplan wrote this: ÿ \u{1F980}".into()),
        ("t.arr.u8", MetaValue::scalars([1u8, 2, 3])),
        ("t.arr.i8", MetaValue::scalars([-1i8, 1])),
        ("t.arr.u16", MetaValue::scalars([9u16])),
        ("t.arr.i16", MetaValue::scalars([-9i16, 9])),
        ("t.arr.u32", MetaValue::scalars([0u32, u32::MAX])),
        ("t.arr.i32", MetaValue::scalars([i32::MIN, 0])),
        ("t.arr.u64", MetaValue::scalars([u64::MAX])),
        ("t.arr.i64", MetaValue::scalars([i64::MAX, -1])),
        ("t.arr.f32", MetaValue::scalars([0.1f32, -2.5, 3e38])),
        ("t.arr.f64", MetaValue::scalars([0.1f64, 1e308])),
        ("t.arr.bool", MetaValue::scalars([false, true])),
        (
            "t.arr.string",
            MetaValue::strings(["<|endoftext|>", "", "Ġworld"]),
        ),
        ("t.arr.empty", MetaValue::Array(ValueType::F32, vec![])),
        ("t.arr.nested", nested),
    ];
    for (k, v) in values {
        w.add_kv(k, v).unwrap();
    }
    // Every type whose size gguf-py agrees on (Q8_1: gguf-py's 40 bytes is stale, see ggml/types.rs).
    let mut datas = Vec::new();
    for &ty in GgmlType::ALL.iter().filter(|&&t| t != GgmlType::Q8_1) {
        let ne0 = ty.block_size() as u64 * 2;
        let shape = [ne0, 3];
        let n = ty.tensor_bytes(ne0, ne0 * 3).unwrap() as usize;
        let data: Vec<u8> = (0..n).map(|i| (i * 131 + ty.id() as usize) as u8).collect();
        datas.push((format!("t.{}", ty.name().to_lowercase()), shape, ty, data));
    }
    for (name, shape, ty, data) in &datas {
        w.add_tensor(name.as_str(), shape, *ty, data.as_slice())
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("from_rust.gguf");
    w.write(&path).unwrap();

    let py = run_script("check_read.py", &path);
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.tensors().len(), datas.len());
    assert_same_view(&f, &py);
    // And gguf-py's numbers are not just vramplan's echoed: spot-check the raw JSON.
    assert_eq!(py["kv"][8]["value"].as_u64(), Some(u64::MAX));
    assert_eq!(py["kv"][10]["value"].as_f64(), Some(f64::from(0.1f32)));
    assert_eq!(py["kv"][27]["value"], serde_json::json!([1, 2, 3, 4, 5]));
    let q4k = py["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "t.q4_k")
        .unwrap();
    assert_eq!(q4k["n_bytes"].as_u64(), Some(2 * 3 * 144));
}

#[test]
fn gguf_py_writer_output_is_read_by_vramplan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("from_python.gguf");
    let written = run_script("write_sample.py", &path);
    let f = GgufFile::open(&path).unwrap();

    // Exactly the metadata the script says it wrote, in order, with the same types.
    let kvs = written["kv"].as_array().unwrap();
    assert_eq!(f.kv_count(), kvs.len());
    for ((key, v), want) in f.metadata().zip(kvs) {
        assert_kv_matches(key, v, want);
    }
    // Exactly the tensors it wrote.
    let tensors = written["tensors"].as_array().unwrap();
    assert_eq!(f.tensors().len(), tensors.len());
    for (t, want) in f.tensors().iter().zip(tensors) {
        assert_eq!(want["name"].as_str(), Some(t.name()));
        let shape: Vec<u64> = want["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(shape, t.shape(), "{}", t.name());
        assert_eq!(want["type_id"].as_u64(), Some(u64::from(t.ty().id())));
        assert_eq!(want["n_bytes"].as_u64(), Some(t.n_bytes()));
        assert_eq!(
            want["crc32"].as_u64(),
            Some(u64::from(crc32(f.tensor_data(t)))),
            "{}",
            t.name()
        );
        assert_eq!(t.file_offset() % 64, 0);
    }

    // Spot checks independent of the script's JSON.
    assert_eq!(f.alignment(), 64);
    assert_eq!(f.architecture().unwrap(), "llama");
    assert_eq!(f.get_u8("sample.u8").unwrap(), 255);
    assert_eq!(f.get_i8("sample.i8").unwrap(), -128);
    assert_eq!(f.get_u64("sample.u64").unwrap(), u64::MAX);
    assert_eq!(f.get_i64("sample.i64").unwrap(), i64::MIN);
    assert_eq!(f.get_f32("sample.f32").unwrap(), 0.1f32);
    assert_eq!(f.get_f64("sample.f64").unwrap(), std::f64::consts::E);
    assert!(f.get_bool("sample.bool").unwrap());
    assert_eq!(
        f.get_str("sample.string").unwrap(),
        "gguf-py says héllo 世界"
    );
    let strs: Vec<&str> = f.get_str_array("sample.arr.string").unwrap().collect();
    assert_eq!(strs, ["<s>", "</s>", "Ġthe", ""]);
    let nested: Vec<Vec<i32>> = f
        .get_array("sample.arr.nested")
        .unwrap()
        .iter()
        .map(|inner| {
            inner
                .as_array()
                .unwrap()
                .scalars::<i32>()
                .unwrap()
                .collect()
        })
        .collect();
    assert_eq!(nested, [vec![1, 2], vec![3, 4, 5]]);
    let t = f.tensor("sample.f32").unwrap();
    let floats: Vec<f32> = f
        .tensor_data(t)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(floats, (0..12).map(|i| i as f32 / 7.0).collect::<Vec<_>>());
    assert_eq!(f.tensor("sample.q4_k").unwrap().shape(), [256, 2]);

    // gguf-py's reader agrees with vramplan's on its own writer's file.
    assert_same_view(&f, &run_script("check_read.py", &path));
}
