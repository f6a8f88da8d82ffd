//! `vramplan::quantize` against llama.cpp's own `llama-quantize`: SmolLM2-135M-Instruct (Q4_1)
//! requantized to each type must give, tensor for tensor and byte for byte, what
//! `tests/data/quantize/<TYPE>.json` records of llama-quantize's output (made by
//! `tools/quantize_ref/make_ref.sh`), down to the whole file's SHA-256. Also: an interrupted or
//! failing write leaves no file and an existing destination untouched, the thread count does
//! not change the bytes, and the output re-reads with the inventory the recipe predicts.
//!
//! The model's path comes from `VRAMPLAN_SMOLLM2_GGUF` (`tools/test.sh` sets it from
//! `tools/fetch_smollm2.sh`); these tests FAIL, never skip, when it is unset.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use vramplan::arch::recipe;
use vramplan::arch::{Inventory, TensorSpec};
use vramplan::ggml::FileType;
use vramplan::ggml::GgmlType;
use vramplan::gguf::{GgufError, GgufFile, GgufWriter, MetaValue, Value};
use vramplan::quant;
use vramplan::quantize::{self, QuantizeError, QuantizeOptions, QuantizeReport};

// ---------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), so the test needs no extra dependency.

struct Sha256 {
    h: [u32; 8],
    buf: [u8; 64],
    len: usize,
    total: u64,
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

impl Sha256 {
    fn new() -> Self {
        Sha256 {
            h: [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
            buf: [0; 64],
            len: 0,
            total: 0,
        }
    }

    fn block(h: &mut [u32; 8], block: &[u8]) {
        let mut w = [0u32; 64];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.len > 0 {
            let n = (64 - self.len).min(data.len());
            self.buf[self.len..self.len + n].copy_from_slice(&data[..n]);
            self.len += n;
            data = &data[n..];
            if self.len < 64 {
                return;
            }
            let buf = self.buf;
            Self::block(&mut self.h, &buf);
            self.len = 0;
        }
        let mut blocks = data.chunks_exact(64);
        for b in &mut blocks {
            Self::block(&mut self.h, b);
        }
        let rest = blocks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.len = rest.len();
    }

    fn hex(mut self) -> String {
        let bits = self.total * 8;
        self.update(&[0x80]);
        while self.len != 56 {
            self.update(&[0]);
        }
        self.update(&bits.to_be_bytes());
        self.h.iter().map(|w| format!("{w:08x}")).collect()
    }
}

fn sha256(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    h.hex()
}

#[test]
fn sha256_known_answers() {
    assert_eq!(
        sha256(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        sha256(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_eq!(
        sha256(long),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    // Incremental updates across block boundaries give the same digest.
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut h = Sha256::new();
    for piece in data.chunks(13) {
        h.update(piece);
    }
    assert_eq!(h.hex(), sha256(&data));
}

// ---------------------------------------------------------------------------------------------
// The model and the reference data.

fn model_path() -> PathBuf {
    let path = std::env::var_os("VRAMPLAN_SMOLLM2_GGUF").map(PathBuf::from);
    let Some(path) = path else {
        panic!(
            "VRAMPLAN_SMOLLM2_GGUF is not set: these tests need SmolLM2-135M-Instruct (Q4_1 GGUF). \
             Run tools/test.sh, or fetch it (needs pip and network) with:\n    \
             export VRAMPLAN_SMOLLM2_GGUF=\"$(tools/fetch_smollm2.sh)\""
        )
    };
    assert!(
        path.is_file(),
        "VRAMPLAN_SMOLLM2_GGUF={} is not a file; fetch it with tools/fetch_smollm2.sh",
        path.display()
    );
    path
}

/// The model, checked once per test run against the SHA-256 the references were made from.
fn model() -> &'static Path {
    static CHECKED: OnceLock<PathBuf> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let path = model_path();
        let bytes = std::fs::read(&path).unwrap();
        let want = reference("Q8_0")["input_sha256"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            sha256(&bytes),
            want,
            "{} is not the SmolLM2 file the references were made from",
            path.display()
        );
        path
    })
}

fn reference(ty: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/quantize")
        .join(format!("{ty}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn continue_always(_: u64, _: u64) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

fn opts(threads: usize) -> QuantizeOptions {
    QuantizeOptions {
        threads,
        allow_requantize: true,
    }
}

/// What a metadata value looks like in the reference (`summarize.py`'s `field_value`), for
/// scalars and strings.
fn reference_value(v: &Value<'_>) -> Option<(String, serde_json::Value)> {
    let owned = v.to_owned_value();
    let (ty, json) = match owned {
        MetaValue::U8(x) => ("UINT8", x.into()),
        MetaValue::I8(x) => ("INT8", x.into()),
        MetaValue::U16(x) => ("UINT16", x.into()),
        MetaValue::I16(x) => ("INT16", x.into()),
        MetaValue::U32(x) => ("UINT32", x.into()),
        MetaValue::I32(x) => ("INT32", x.into()),
        MetaValue::U64(x) => ("UINT64", x.into()),
        MetaValue::I64(x) => ("INT64", x.into()),
        MetaValue::F32(x) => ("FLOAT32", f64::from(x).into()),
        MetaValue::F64(x) => ("FLOAT64", x.into()),
        MetaValue::Bool(x) => ("BOOL", x.into()),
        MetaValue::String(s) => ("STRING", s.into()),
        MetaValue::Array(..) => return None,
    };
    Some((ty.to_string(), json))
}

/// The recipe's prediction for the output inventory: the input's tensors with their
/// `ggml_n_dims` shapes, in llama-quantize's order, typed by `recipe::apply`.
fn predicted_inventory(input: &GgufFile, ftype: FileType) -> Inventory {
    let mut inv = Inventory {
        tensors: input
            .tensors()
            .iter()
            .map(|t| {
                let shape = t.shape();
                TensorSpec::new(t.name(), &shape[..recipe::ggml_n_dims(shape)], t.ty())
            })
            .collect(),
    };
    let ctx = quantize::recipe_context(input).unwrap();
    recipe::apply(ftype, &ctx, &mut inv);
    let order = recipe::weight_order(&inv);
    Inventory {
        tensors: order.into_iter().map(|i| inv.tensors[i].clone()).collect(),
    }
}

/// Quantize SmolLM2 to `ty` with `threads` and compare everything with the reference.
fn check_against_llama_quantize(ty: &str, threads: usize) -> QuantizeReport {
    let input = model();
    let reference = reference(ty);
    let ftype: FileType = ty.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(format!("smollm2.{ty}.gguf"));

    let calls = RefCell::new(Vec::new());
    let report = quantize::quantize_file(input, &out, ftype, &opts(threads), &|done, total| {
        calls.borrow_mut().push((done, total));
        ControlFlow::Continue(())
    })
    .unwrap_or_else(|e| panic!("quantize {ty}: {e}"));

    // Progress: from 0 to the total, never backwards.
    let calls = calls.into_inner();
    let total = report.input_tensor_bytes;
    assert_eq!(calls.first(), Some(&(0, total)));
    assert_eq!(calls.last(), Some(&(total, total)));
    assert!(calls
        .windows(2)
        .all(|w| w[0].0 <= w[1].0 && w[1].1 == total));

    let f = GgufFile::open(&out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(report.output_bytes, bytes.len() as u64);
    assert_eq!(report.input_bytes, std::fs::metadata(input).unwrap().len());

    // Tensors: order, names, types, shapes and data, each against llama-quantize's.
    let want = reference["tensors"].as_array().unwrap();
    assert_eq!(f.tensors().len(), want.len(), "{ty}: tensor count");
    let mut mismatches = Vec::new();
    for (t, w) in f.tensors().iter().zip(want) {
        let shape: Vec<u64> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        let got = (
            t.name().to_string(),
            t.ty().name().to_string(),
            t.shape().to_vec(),
            sha256(f.tensor_data(t)),
        );
        let expected = (
            w["name"].as_str().unwrap().to_string(),
            w["type"].as_str().unwrap().to_string(),
            shape,
            w["sha256"].as_str().unwrap().to_string(),
        );
        if got != expected {
            mismatches.push(format!(
                "  vramplan {} {} {:?} {}\n  llama    {} {} {:?} {}",
                got.0, got.1, got.2, got.3, expected.0, expected.1, expected.2, expected.3
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{ty}: {} of {} tensors differ from llama-quantize's, e.g.\n{}",
        mismatches.len(),
        want.len(),
        mismatches[..mismatches.len().min(5)].join("\n")
    );

    // Metadata: key order, changed and removed entries.
    let keys: Vec<&str> = f.metadata().map(|(k, _)| k).collect();
    let want_keys: Vec<&str> = reference["metadata_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(keys, want_keys, "{ty}: metadata keys and their order");
    for (key, w) in reference["metadata_changed"].as_object().unwrap() {
        let v = f
            .get(key)
            .unwrap_or_else(|| panic!("{ty}: `{key}` missing"));
        let (vt, vv) = reference_value(&v).expect("changed keys are scalars");
        assert_eq!(vt, w["type"].as_str().unwrap(), "{ty}: type of `{key}`");
        assert_eq!(vv, w["value"], "{ty}: value of `{key}`");
    }
    for key in reference["metadata_removed"].as_array().unwrap() {
        assert!(f.get(key.as_str().unwrap()).is_none(), "{ty}: {key} kept");
    }
    assert_eq!(f.get_u32("general.file_type").unwrap(), ftype.id());
    assert_eq!(f.get_u32("general.quantization_version").unwrap(), 2);

    // The whole file.
    assert_eq!(
        bytes.len() as u64,
        reference["file_size"].as_u64().unwrap(),
        "{ty}: file size"
    );
    assert_eq!(
        sha256(&bytes),
        reference["file_sha256"].as_str().unwrap(),
        "{ty}: whole-file SHA-256"
    );

    // The output re-reads with the inventory the recipe predicts, and the report agrees.
    let source = GgufFile::open(input).unwrap();
    assert_eq!(f.inventory(), predicted_inventory(&source, ftype));
    let plan = quantize::plan(&source, ftype, &opts(threads)).unwrap();
    assert_eq!(f.inventory(), plan.inventory());
    assert_eq!(report.tensors, plan.tensors);
    assert_eq!(report.n_tensors, f.tensors().len());
    assert_eq!(report.n_converted + report.n_copied, report.n_tensors);
    assert_eq!(
        report.types.iter().map(|s| s.bytes).sum::<u64>(),
        report.output_tensor_bytes
    );
    assert_eq!(
        report.output_tensor_bytes,
        f.tensors().iter().map(|t| t.n_bytes()).sum::<u64>()
    );
    report
}

macro_rules! byte_identical {
    ($($test:ident => $ty:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            check_against_llama_quantize($ty, 0);
        }
    )*};
}

byte_identical! {
    q8_0_is_byte_identical_to_llama_quantize => "Q8_0",
    q4_0_is_byte_identical_to_llama_quantize => "Q4_0",
    q4_1_is_byte_identical_to_llama_quantize => "Q4_1",
    q5_0_is_byte_identical_to_llama_quantize => "Q5_0",
    q5_1_is_byte_identical_to_llama_quantize => "Q5_1",
    q6_k_is_byte_identical_to_llama_quantize => "Q6_K",
    q5_k_m_is_byte_identical_to_llama_quantize => "Q5_K_M",
    q3_k_m_is_byte_identical_to_llama_quantize => "Q3_K_M",
    q2_k_is_byte_identical_to_llama_quantize => "Q2_K",
    iq4_xs_is_byte_identical_to_llama_quantize => "IQ4_XS",
    f16_is_byte_identical_to_llama_quantize => "F16",
    bf16_is_byte_identical_to_llama_quantize => "BF16",
}

#[test]
fn q4_k_m_is_byte_identical_to_llama_quantize_with_1_and_3_threads() {
    // Q4_K_M mixes Q4_K, Q6_K and the Q5_0/Q8_0 fallbacks (SmolLM2's rows of 576 are not
    // multiples of 256); the bytes may not depend on how the rows are shared out.
    let one = check_against_llama_quantize("Q4_K_M", 1);
    assert_eq!(one.threads, 1);
    let three = check_against_llama_quantize("Q4_K_M", 3);
    assert_eq!(three.threads, 3);
    let types: Vec<GgmlType> = one.types.iter().map(|s| s.ty).collect();
    assert_eq!(
        types,
        [
            GgmlType::F32,
            GgmlType::Q5_0,
            GgmlType::Q8_0,
            GgmlType::Q4_K,
            GgmlType::Q6_K
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Failures leave nothing behind.

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn cancelled_run_leaves_no_file_and_keeps_the_destination() {
    let input = model();
    let dir = tempfile::tempdir().unwrap();

    // A fresh destination: nothing appears.
    let fresh = dir.path().join("fresh.gguf");
    let calls = RefCell::new(0u32);
    let err = quantize::quantize_file(input, &fresh, FileType::Q8_0, &opts(2), &|done, total| {
        *calls.borrow_mut() += 1;
        if done > total / 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap_err();
    assert!(
        matches!(err, QuantizeError::Cancelled { .. }),
        "expected Cancelled, got {err}"
    );
    assert!(!err.is_bad_input());
    assert!(*calls.borrow() > 2, "cancelled mid-way, not at the start");
    assert!(!fresh.exists());
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());

    // An existing destination: untouched.
    let existing = dir.path().join("existing.gguf");
    std::fs::write(&existing, b"previous contents").unwrap();
    let err = quantize::quantize_file(input, &existing, FileType::Q4_0, &opts(2), &|done, _| {
        if done > 0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap_err();
    assert!(matches!(err, QuantizeError::Cancelled { .. }));
    assert_eq!(std::fs::read(&existing).unwrap(), b"previous contents");
    assert_eq!(dir_entries(dir.path()), ["existing.gguf"]);

    // Cancelling before the first byte.
    let err = quantize::quantize_file(input, &fresh, FileType::Q4_0, &opts(1), &|_, _| {
        ControlFlow::Break(())
    })
    .unwrap_err();
    assert!(matches!(err, QuantizeError::Cancelled { .. }));
    assert_eq!(dir_entries(dir.path()), ["existing.gguf"]);
}

#[test]
fn a_directory_destination_is_refused_before_any_work() {
    // A non-empty directory as the destination: refused up front (it used to be written and
    // then fail at the rename); nothing is created and the directory stays as it was.
    let input = model();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.gguf");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("keep"), b"x").unwrap();
    let err = quantize::quantize_file(input, &dest, FileType::Q4_0, &opts(2), &continue_always)
        .unwrap_err();
    assert!(
        matches!(err, QuantizeError::Output(_)),
        "expected a refused destination, got {err}"
    );
    assert!(err.is_bad_input());
    assert!(err.to_string().contains("is a directory"), "{err}");
    assert_eq!(dir_entries(dir.path()), ["out.gguf"]);
    assert_eq!(dir_entries(&dest), ["keep"]);
}

/// Set by the parent of `io_error_mid_way_leaves_the_destination_untouched`.
const CHILD_ENV: &str = "VRAMPLAN_QUANTIZE_TEST_CHILD_DEST";

#[cfg(unix)]
#[test]
fn io_error_mid_way_leaves_the_destination_untouched() {
    // A real write error half-way: the test binary re-runs itself (the ignored test below)
    // under a 40 MB file size limit with SIGXFSZ ignored, so writing the 145 MB output fails
    // with EFBIG after tens of tensors.
    let input = model();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.gguf");
    std::fs::write(&dest, b"previous contents").unwrap();
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 78125 && exec \"$0\" \"$@\"")
        .arg(&exe)
        .args([
            "--exact",
            "io_error_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &dest)
        .env("VRAMPLAN_SMOLLM2_GGUF", input)
        .status()
        .unwrap();
    assert!(status.success(), "the child run failed: {status}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"previous contents");
    assert_eq!(dir_entries(dir.path()), ["out.gguf"]);
}

#[test]
#[ignore = "run by io_error_mid_way_leaves_the_destination_untouched under a file size limit"]
fn io_error_child() {
    let Some(dest) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return; // only meaningful under the parent's file size limit
    };
    let last = RefCell::new(0u64);
    let err = quantize::quantize_file(&model_path(), &dest, FileType::Q8_0, &opts(2), &|d, _| {
        *last.borrow_mut() = d;
        ControlFlow::Continue(())
    })
    .unwrap_err();
    let QuantizeError::Gguf(GgufError::Io { source, .. }) = &err else {
        panic!("expected an I/O error, got {err}");
    };
    assert_eq!(
        source.kind(),
        std::io::ErrorKind::FileTooLarge,
        "EFBIG, got {source}"
    );
    assert!(*last.borrow() > 0, "the error came mid-way");
}

#[test]
fn requantizing_needs_permission() {
    let input = model();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.gguf");
    let no = QuantizeOptions {
        threads: 1,
        allow_requantize: false,
    };
    let err =
        quantize::quantize_file(input, &out, FileType::Q8_0, &no, &continue_always).unwrap_err();
    match &err {
        QuantizeError::RequantizeDisabled { tensor, ty } => {
            assert_eq!(*ty, GgmlType::Q4_1);
            assert_eq!(tensor, "blk.0.attn_k.weight");
        }
        other => panic!("expected RequantizeDisabled, got {other}"),
    }
    assert!(err.is_bad_input());
    assert!(err.to_string().contains("--allow-requantize"), "{err}");
    assert!(!out.exists());
    // Q4_1 from this Q4_1 file converts nothing: every Q4_1 tensor keeps its type and the tied
    // embedding's Q6_K falls back (576 is not a multiple of 256) to its current Q8_0.
    let plan = quantize::plan(&GgufFile::open(input).unwrap(), FileType::Q4_1, &no).unwrap();
    assert!(plan.tensors.iter().all(|t| !t.converts()));
}

#[test]
fn unsupported_and_imatrix_types_are_refused_up_front() {
    let input = GgufFile::open(model()).unwrap();
    let err = quantize::plan(&input, FileType::IQ2_XXS, &opts(1)).unwrap_err();
    assert!(
        matches!(err, QuantizeError::RequiresImatrix { .. }),
        "{err}"
    );
    let err = quantize::plan(&input, FileType::IQ3_S, &opts(1)).unwrap_err();
    assert!(
        matches!(
            err,
            QuantizeError::UnsupportedTarget {
                ty: GgmlType::IQ3_S,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_bad_input());
}

// ---------------------------------------------------------------------------------------------
// Synthetic files: sources other than Q4_1, odd shapes, order and metadata rules.

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 - 0.5) * 0.2
        })
        .collect()
}

#[test]
fn synthetic_model_follows_llama_quantize_rules() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gguf");

    let embd = values(64 * 10, 1);
    let q = values(64 * 40, 2);
    let down = values(96 * 8, 3);
    let odd = values(100 * 4, 4);
    let column = values(64, 5);
    let norm = values(64, 6);
    let f16_bytes: Vec<u8> = q
        .iter()
        .flat_map(|&v| quant::fp32_to_fp16(v).to_le_bytes())
        .collect();

    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", "llama").unwrap();
    w.add_kv("general.file_type", 0u32).unwrap();
    w.add_kv("split.count", 1u16).unwrap();
    w.add_kv("llama.block_count", 2u32).unwrap();
    w.add_kv("general.quantization_version", 2u32).unwrap();
    w.add_kv("llama.attention.head_count", 4u32).unwrap();
    w.add_kv("general.name", "synthetic").unwrap();
    // Written out of llama-quantize's order on purpose.
    w.add_tensor(
        "blk.1.ffn_down.weight",
        &[96, 8],
        GgmlType::F32,
        f32_bytes(&down),
    )
    .unwrap();
    w.add_tensor(
        "blk.0.attn_q.weight",
        &[64, 40],
        GgmlType::F16,
        f16_bytes.clone(),
    )
    .unwrap();
    w.add_tensor(
        "blk.0.odd.weight",
        &[100, 4],
        GgmlType::F32,
        f32_bytes(&odd),
    )
    .unwrap();
    w.add_tensor(
        "blk.0.column.weight",
        &[64, 1],
        GgmlType::F32,
        f32_bytes(&column),
    )
    .unwrap();
    w.add_tensor("output_norm.weight", &[64], GgmlType::F32, f32_bytes(&norm))
        .unwrap();
    w.add_tensor(
        "token_embd.weight",
        &[64, 10],
        GgmlType::F32,
        f32_bytes(&embd),
    )
    .unwrap();
    w.write(&input).unwrap();

    let outputs: Vec<Vec<u8>> = [1, 4]
        .iter()
        .map(|&threads| {
            let out = dir.path().join(format!("out{threads}.gguf"));
            let no_requant = QuantizeOptions {
                threads,
                allow_requantize: false,
            };
            quantize::quantize_file(&input, &out, FileType::Q4_0, &no_requant, &continue_always)
                .unwrap();
            std::fs::read(&out).unwrap()
        })
        .collect();
    assert_eq!(outputs[0], outputs[1], "1 and 4 threads");
    let f = GgufFile::parse(&outputs[0]).unwrap();

    // Metadata: split keys gone, quantization version and file type moved to the end.
    let keys: Vec<&str> = f.metadata().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "general.architecture",
            "llama.block_count",
            "llama.attention.head_count",
            "general.name",
            "general.quantization_version",
            "general.file_type"
        ]
    );
    assert_eq!(f.get_u32("general.file_type").unwrap(), FileType::Q4_0.id());

    // Order by layer then name; [64, 1] is written as [64]; types by the recipe.
    let got: Vec<(&str, Vec<u64>, GgmlType)> = f
        .tensors()
        .iter()
        .map(|t| (t.name(), t.shape().to_vec(), t.ty()))
        .collect();
    let want: Vec<(&str, Vec<u64>, GgmlType)> = vec![
        ("output_norm.weight", vec![64], GgmlType::F32),
        // Tied embedding: Q6_K, whose 256-blocks do not fit 64 -> Q8_0.
        ("token_embd.weight", vec![64, 10], GgmlType::Q8_0),
        ("blk.0.attn_q.weight", vec![64, 40], GgmlType::Q4_0),
        ("blk.0.column.weight", vec![64], GgmlType::F32),
        // 100 is not a multiple of 32: F16.
        ("blk.0.odd.weight", vec![100, 4], GgmlType::F16),
        ("blk.1.ffn_down.weight", vec![96, 8], GgmlType::Q4_0),
    ];
    assert_eq!(got, want);

    // Data: each tensor converted from f32 exactly as the codecs do it.
    let expect = |ty: GgmlType, src: &[f32]| {
        let n = src.len() / ty.block_size() * ty.type_size();
        let mut out = vec![0u8; n];
        quant::quantize(ty, src, &mut out).unwrap();
        out
    };
    let data = |name: &str| f.tensor_data(f.tensor(name).unwrap()).to_vec();
    assert_eq!(data("token_embd.weight"), expect(GgmlType::Q8_0, &embd));
    let mut q_from_f16 = vec![0f32; q.len()];
    quant::dequantize(GgmlType::F16, &f16_bytes, &mut q_from_f16).unwrap();
    assert_eq!(
        data("blk.0.attn_q.weight"),
        expect(GgmlType::Q4_0, &q_from_f16)
    );
    assert_eq!(data("blk.0.odd.weight"), expect(GgmlType::F16, &odd));
    assert_eq!(data("blk.1.ffn_down.weight"), expect(GgmlType::Q4_0, &down));
    assert_eq!(data("blk.0.column.weight"), f32_bytes(&column));
    assert_eq!(data("output_norm.weight"), f32_bytes(&norm));

    // In place is refused (issue 14: it silently replaced the source), and the file is
    // byte-identical afterwards.
    let in_place = dir.path().join("in_place.gguf");
    std::fs::copy(&input, &in_place).unwrap();
    let before = std::fs::read(&in_place).unwrap();
    let err = quantize::quantize_file(
        &in_place,
        &in_place,
        FileType::Q4_0,
        &opts(2),
        &continue_always,
    )
    .unwrap_err();
    assert!(matches!(err, QuantizeError::Output(_)), "{err}");
    assert!(err.is_bad_input());
    assert_eq!(std::fs::read(&in_place).unwrap(), before);
}

// ---------------------------------------------------------------------------------------------
// Timing (not a check): `cargo test --release --test quantize -- --ignored --nocapture timing`.

#[test]
#[ignore = "timing run for the README, not a check"]
fn timing_smollm2() {
    let input = model_path();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.gguf");
    for ty in ["Q8_0", "Q4_0", "Q5_0", "Q6_K", "Q4_K_M"] {
        let ftype: FileType = ty.parse().unwrap();
        let mut times: Vec<f64> = (0..3)
            .map(|_| {
                let start = std::time::Instant::now();
                quantize::quantize_file(&input, &out, ftype, &opts(0), &continue_always).unwrap();
                start.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("{ty} median {:.3} s of {times:.3?}", times[1]);
    }
}
