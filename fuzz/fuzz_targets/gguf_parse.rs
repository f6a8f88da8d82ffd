//! GGUF reader on arbitrary bytes: `GgufFile::parse`, then every getter, every metadata value
//! (recursively, through every typed view), every tensor and its bytes, the inventory, the
//! hyperparameters (`model_shape`) and the estimator as `vramplan fit FILE.gguf [--gpu ...]` runs
//! it. Finally the parsed file is written back with `GgufWriter` and must re-read identically.
//!
//! Nothing may panic; libFuzzer's `-rss_limit_mb` / `-malloc_limit_mb` catch absurd allocations.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vramplan::catalog::{Catalog, Device};
use vramplan::estimate::calibration::Calibration;
use vramplan::estimate::{self, PlaceRequest, ModelView, WeightFormat};
use vramplan::ggml::FileType;
use vramplan::gguf::{model_shape, ArrayRef, GgufFile, GgufWriter, Value, ValueType};

struct Env {
    catalog: Catalog,
    devices: Vec<Vec<Device>>,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let catalog = Catalog::embedded().expect("the embedded catalogue loads");
        let one = |id: &str| catalog.device(id).expect("embedded device id");
        let devices = vec![
            vec![one("rtx-4090")],
            vec![one("rtx-3060"), one("rtx-4090")],
        ];
        Env { catalog, devices }
    })
}

fn visit_array(a: &ArrayRef<'_>, depth: u32) {
    assert!(depth <= vramplan::gguf::MAX_ARRAY_DEPTH + 1);
    let _ = (a.elem_type(), a.len(), a.is_empty());
    let mut n = 0u64;
    for v in a.iter() {
        visit(&v, depth + 1);
        n += 1;
    }
    assert_eq!(
        n,
        a.len(),
        "a validated array yields exactly its stored count"
    );
    macro_rules! scalars {
        ($($t:ty),*) => {$(
            if let Some(it) = a.scalars::<$t>() {
                let _ = it.get(0);
                let _ = it.get(usize::MAX);
                assert_eq!(it.len() as u64, a.len());
                assert_eq!(it.count() as u64, a.len());
            }
        )*};
    }
    scalars!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64, bool);
    if let Some(it) = a.strings() {
        assert_eq!(it.len() as u64, a.len());
        assert_eq!(it.count() as u64, a.len());
    }
}

fn visit(v: &Value<'_>, depth: u32) {
    let _ = (
        v.value_type(),
        v.type_description(),
        v.as_uint(),
        v.as_f64(),
    );
    let _ = v.as_str().map(str::len);
    if let Some(a) = v.as_array() {
        visit_array(&a, depth);
    }
    let owned = v.to_owned_value();
    assert_eq!(owned.value_type(), v.value_type());
    let _ = serde_json::to_string(v);
}

fn getters(f: &GgufFile<&[u8]>, key: &str) {
    let _ = f.get(key);
    let _ = f.get_uint(key);
    let _ = f.get_float(key);
    let _ = f.get_str(key);
    let _ = f.get_array(key);
    let _ = f.get_str_array(key).map(Iterator::count);
    let _ = f.get_scalar_array::<u8>(key).map(Iterator::count);
    let _ = f.get_scalar_array::<i8>(key).map(Iterator::count);
    let _ = f.get_scalar_array::<u16>(key).map(Iterator::count);
    let _ = f.get_scalar_array::<i16>(key).map(Iterator::count);
    let _ = f.get_scalar_array::<u32>(key).map(Iterator::count);
    let _ = f.get_scalar_array::<i32>(key).map(Iterator::count);
    let _ = f.get_scalar_array::<u64>(key).map(Iterator::count);
    let _ = f.get_scalar_array::<i64>(key).map(Iterator::count);
    let _ = f.get_scalar_array::<f32>(key).map(Iterator::count);
    let _ = f.get_scalar_array::<f64>(key).map(Iterator::count);
    let _ = f.get_scalar_array::<bool>(key).map(Iterator::count);
    let _ = f.get_u8(key);
    let _ = f.get_i8(key);
    let _ = f.get_u16(key);
    let _ = f.get_i16(key);
    let _ = f.get_u32(key);
    let _ = f.get_i32(key);
    let _ = f.get_u64(key);
    let _ = f.get_i64(key);
    let _ = f.get_f32(key);
    let _ = f.get_f64(key);
    let _ = f.get_bool(key);
}

/// Writes the parsed file back and checks the copy reads the same (metadata, inventory, bytes).
fn round_trip(f: &GgufFile<&[u8]>) {
    let mut w = GgufWriter::new();
    for (key, value) in f.metadata() {
        if w.add_kv(key, value.to_owned_value()).is_err() {
            // The writer is stricter than the reader (e.g. empty keys): nothing to compare.
            return;
        }
    }
    for t in f.tensors() {
        if w.add_tensor(t.name(), t.shape(), t.ty(), f.tensor_data(t))
            .is_err()
        {
            return;
        }
    }
    let Ok(bytes) = w.to_bytes() else { return };
    assert_eq!(bytes.len() as u64, w.file_size());
    let g = GgufFile::parse(&bytes).expect("the writer's output parses");
    assert_eq!(g.kv_count(), f.kv_count());
    for ((k1, v1), (k2, v2)) in f.metadata().zip(g.metadata()) {
        assert_eq!(k1, k2);
        assert_eq!(v1.to_owned_value(), v2.to_owned_value(), "key `{k1}`");
    }
    assert_eq!(g.inventory(), f.inventory());
    for (a, b) in f.tensors().iter().zip(g.tensors()) {
        assert_eq!(f.tensor_data(a), g.tensor_data(b), "tensor `{}`", a.name());
    }
}

/// What `vramplan fit FILE.gguf [--gpu ...]` does with a parsed file.
fn estimate(f: &GgufFile<&[u8]>) {
    let Ok(shape) = model_shape(f) else { return };
    let env = env();
    let inv = f.inventory();
    let file_type = f
        .get_uint("general.file_type")
        .ok()
        .and_then(|id| u32::try_from(id).ok())
        .and_then(FileType::from_id)
        .unwrap_or(FileType::F16);
    let view = ModelView {
        inventory: &inv,
        shape: &shape,
    };
    let req = PlaceRequest::new(WeightFormat::Gguf(file_type), 4096);
    let _ = estimate::place(&view, &[], &req);
    let fit = Calibration::embedded(&env.catalog);
    for devices in &env.devices {
        if let Ok(p) = estimate::place(&view, devices, &req) {
            let _ = estimate::max_context(&view, devices, &req);
            let _ = estimate::perf::speed(&view, &p, devices, &req, 512, &fit, 50.0);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(f) = GgufFile::parse(data) else { return };
    let _ = format!("{f:?}");
    let _ = (f.path(), f.len(), f.is_empty(), f.version(), f.alignment());
    assert!(f.data_offset() <= f.len() || f.tensors().is_empty());
    let _ = f.data_len();
    let mut n = 0;
    for (key, value) in f.metadata() {
        visit(&value, 0);
        getters(&f, key);
        n += 1;
    }
    assert_eq!(n, f.kv_count(), "every validated entry decodes");
    getters(&f, "");
    getters(&f, "general.architecture");
    let _ = f.architecture();
    for t in f.tensors() {
        let _ = (
            t.name(),
            t.ty(),
            t.offset(),
            t.file_offset(),
            t.info_offset(),
        );
        assert_eq!(t.shape().iter().product::<u64>(), t.n_elements());
        assert_eq!(f.tensor(t.name()), Some(t));
        assert_eq!(f.tensor_data(t).len() as u64, t.n_bytes());
        let spec = t.to_spec();
        assert_eq!(spec.bytes(), Some(t.n_bytes()));
        let _ = spec.layer();
    }
    let inv = f.inventory();
    let total = inv
        .total_bytes()
        .expect("a parsed file's tensors have valid sizes");
    assert!(total <= f.len());
    let _ = inv.total_elements();
    for t in &inv.tensors {
        if let Some(l) = t.layer() {
            let _ = inv.layer_bytes(l);
        }
    }
    let _ = ValueType::from_id(0);
    estimate(&f);
    round_trip(&f);
});
