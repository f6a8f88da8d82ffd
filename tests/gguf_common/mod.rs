//! Helpers shared by the GGUF integration tests: running the gguf-py scripts in
//! tools/gguf_interop (failing, never skipping, when Python or `gguf` is missing), CRC-32 as
//! Python's zlib computes it, and comparing vramplan's reader with gguf-py's JSON view of a file.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;
use vramplan::gguf::{GgufFile, Value, ValueType};

// ---------------------------------------------------------------------------------------------
// Running the Python side

pub fn python() -> String {
    std::env::var("VRAMPLAN_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

pub fn run_script(script: &str, arg: &Path) -> Json {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tools/gguf_interop")
        .join(script);
    let py = python();
    let out = Command::new(&py)
        .arg(&script)
        .arg(arg)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{py}` ({e}). The GGUF interop tests need Python 3 with gguf-py: \
             pip install gguf (set VRAMPLAN_PYTHON to choose the interpreter)"
            )
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "`{py} {} {}` failed ({}):\n{stderr}\nIf the gguf package is missing: pip install gguf",
        script.display(),
        arg.display(),
        out.status
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{} printed invalid JSON: {e}", script.display()))
}

/// CRC-32 (IEEE, as Python's zlib.crc32).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *slot = c;
    }
    !bytes.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

// ---------------------------------------------------------------------------------------------
// Comparing a value with gguf-py's JSON view of it

/// Leaves of a possibly nested array, depth first (gguf-py flattens nested arrays the same way).
fn leaves<'a>(v: Value<'a>, out: &mut Vec<Value<'a>>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        leaf => out.push(leaf),
    }
}

/// Leaves of a possibly nested JSON list (gguf-py's reader flattens, write_sample.py does not).
fn json_leaves<'a>(j: &'a Json, out: &mut Vec<&'a Json>) {
    match j {
        Json::Array(items) => items.iter().for_each(|x| json_leaves(x, out)),
        leaf => out.push(leaf),
    }
}

/// Type names along the first-element path: `["ARRAY", "ARRAY", "INT32"]`.
fn type_chain(v: Value<'_>) -> Vec<String> {
    let mut chain = vec![v.value_type().name().to_string()];
    let mut cur = v;
    while let Value::Array(a) = cur {
        chain.push(a.elem_type().name().to_string());
        match a.iter().next() {
            Some(first) if a.elem_type() == ValueType::Array => cur = first,
            _ => break,
        }
    }
    chain
}

fn leaf_matches(v: &Value<'_>, j: &Json) -> bool {
    match *v {
        Value::U8(x) => j.as_u64() == Some(x.into()),
        Value::U16(x) => j.as_u64() == Some(x.into()),
        Value::U32(x) => j.as_u64() == Some(x.into()),
        Value::U64(x) => j.as_u64() == Some(x),
        Value::I8(x) => j.as_i64() == Some(x.into()),
        Value::I16(x) => j.as_i64() == Some(x.into()),
        Value::I32(x) => j.as_i64() == Some(x.into()),
        Value::I64(x) => j.as_i64() == Some(x),
        // gguf-py gives the exact f32 value as a double; narrowing it is exact.
        Value::F32(x) => match j {
            Json::String(s) => s == &x.to_string().to_lowercase(),
            _ => j.as_f64().map(|d| d as f32) == Some(x),
        },
        Value::F64(x) => j.as_f64() == Some(x),
        Value::Bool(x) => j.as_bool() == Some(x),
        Value::String(s) => j.as_str() == Some(s),
        Value::Array(_) => false,
    }
}

/// Check one metadata entry against `{"key", "types", "value"}` from a Python script.
pub fn assert_kv_matches(key: &str, v: Value<'_>, want: &Json) {
    assert_eq!(want["key"].as_str(), Some(key));
    let types: Vec<String> = want["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let chain = type_chain(v);
    match v {
        // gguf-py cannot know the element type of an empty array.
        Value::Array(a) if a.is_empty() => assert_eq!(types, ["ARRAY"], "{key}"),
        _ => assert_eq!(chain, types, "type of `{key}`"),
    }
    match v {
        Value::Array(_) => {
            let mut got = Vec::new();
            leaves(v, &mut got);
            assert!(
                want["value"].is_array(),
                "{key}: expected a list, got {}",
                want["value"]
            );
            let mut want_leaves = Vec::new();
            json_leaves(&want["value"], &mut want_leaves);
            assert_eq!(got.len(), want_leaves.len(), "element count of `{key}`");
            for (i, (g, w)) in got.iter().zip(&want_leaves).enumerate() {
                assert!(
                    leaf_matches(g, w),
                    "`{key}` element #{i}: vramplan {g:?}, gguf-py {w}"
                );
            }
        }
        leaf => assert!(
            leaf_matches(&leaf, &want["value"]),
            "`{key}`: vramplan {leaf:?}, gguf-py {}",
            want["value"]
        ),
    }
}

/// Everything gguf-py reports about `path` must match vramplan's reader.
pub fn assert_same_view<D: AsRef<[u8]>>(f: &GgufFile<D>, py: &Json) {
    assert_eq!(py["version"].as_u64(), Some(u64::from(f.version())));
    assert_eq!(py["alignment"].as_u64(), Some(u64::from(f.alignment())));
    assert_eq!(py["data_offset"].as_u64(), Some(f.data_offset()));
    let kvs = py["kv"].as_array().unwrap();
    assert_eq!(kvs.len(), f.kv_count());
    for ((key, v), want) in f.metadata().zip(kvs) {
        assert_kv_matches(key, v, want);
    }
    let tensors = py["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), f.tensors().len());
    for (t, want) in f.tensors().iter().zip(tensors) {
        let name = t.name();
        assert_eq!(want["name"].as_str(), Some(name));
        let shape: Vec<u64> = want["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(shape, t.shape(), "shape of {name}");
        assert_eq!(
            want["type_id"].as_u64(),
            Some(u64::from(t.ty().id())),
            "type of {name}"
        );
        assert_eq!(
            want["type"].as_str(),
            Some(t.ty().name()),
            "type name of {name}"
        );
        assert_eq!(
            want["n_elements"].as_u64(),
            Some(t.n_elements()),
            "elements of {name}"
        );
        assert_eq!(
            want["n_bytes"].as_u64(),
            Some(t.n_bytes()),
            "bytes of {name}"
        );
        assert_eq!(
            want["offset"].as_u64(),
            Some(t.file_offset()),
            "offset of {name}"
        );
        if let Some(crc) = want.get("crc32") {
            assert_eq!(
                crc.as_u64(),
                Some(u64::from(crc32(f.tensor_data(t)))),
                "data of {name}"
            );
        }
    }
}
