//! Parsing allocates at most a small multiple of the file size, however hostile the file: a
//! counting global allocator tracks the peak bytes live during each parse.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use vramplan::ggml::GgmlType;
use vramplan::gguf::{GgufFile, GgufWriter, MetaValue};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn add(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::SeqCst) + n;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: every method forwards to `System` with the caller's layout unchanged; the counters
// only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
            add(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak bytes allocated (beyond what was live before) while parsing `bytes`, and whether it parsed.
fn peak_during_parse(bytes: &[u8]) -> (usize, bool) {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let ok = {
        let parsed = GgufFile::parse(bytes);
        let ok = parsed.is_ok();
        drop(parsed);
        ok
    };
    (PEAK.load(Ordering::SeqCst) - base, ok)
}

fn header(n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(n_tensors.to_le_bytes());
    b.extend(n_kv.to_le_bytes());
    b
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend((s.len() as u64).to_le_bytes());
    b.extend(s.as_bytes());
}

/// Bound: a small multiple of the file size plus a constant for error messages and the like.
fn assert_bounded(what: &str, bytes: &[u8], expect_ok: bool) {
    let (peak, ok) = peak_during_parse(bytes);
    assert_eq!(ok, expect_ok, "{what}: parse result");
    let limit = 6 * bytes.len() + 16 * 1024;
    println!(
        "{what}: file {} bytes, peak {peak} bytes ({:.2}x)",
        bytes.len(),
        peak as f64 / bytes.len() as f64
    );
    assert!(
        peak <= limit,
        "{what}: parsing a {}-byte file allocated {peak} bytes (limit {limit})",
        bytes.len()
    );
}

// One test function: the counters are global, so cases must not run in parallel.
#[test]
fn parsing_allocates_a_small_multiple_of_the_file_size() {
    // Many tiny metadata entries.
    let n = 100_000u64;
    let mut b = header(0, n);
    for i in 0..n {
        put_str(&mut b, &format!("{i:x}"));
        b.extend(0u32.to_le_bytes());
        b.push(1);
    }
    assert_bounded("100k u8 keys", &b, true);

    // Many minimal tensor infos (one-dimensional, zero elements, so no data needed).
    let n = 50_000u64;
    let mut b = header(n, 0);
    for i in 0..n {
        put_str(&mut b, &format!("{i:x}"));
        b.extend(1u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
    }
    b.resize(b.len().div_ceil(32) * 32, 0);
    assert_bounded("50k tensor infos", &b, true);

    // The densest tensor infos: 3-byte names, no dimensions, one I8 byte each at alignment 1.
    let n = 60_000u64;
    let mut b = header(n, 1);
    put_str(&mut b, "general.alignment");
    b.extend(4u32.to_le_bytes());
    b.extend(1u32.to_le_bytes());
    for i in 0..n {
        const ABC: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let name = [
            ABC[(i / 3844) as usize],
            ABC[(i / 62 % 62) as usize],
            ABC[(i % 62) as usize],
        ];
        put_str(&mut b, std::str::from_utf8(&name).unwrap());
        b.extend(0u32.to_le_bytes());
        b.extend(GgmlType::I8.id().to_le_bytes());
        b.extend(i.to_le_bytes());
    }
    b.resize(b.len() + n as usize, 0);
    assert_bounded("60k scalar tensors", &b, true);

    // A huge array of empty strings and one of empty nested arrays: validated, never materialised.
    let mut b = header(0, 2);
    put_str(&mut b, "strs");
    b.extend(9u32.to_le_bytes());
    b.extend(8u32.to_le_bytes());
    b.extend(1_000_000u64.to_le_bytes());
    b.resize(b.len() + 8_000_000, 0);
    put_str(&mut b, "arrs");
    b.extend(9u32.to_le_bytes());
    b.extend(9u32.to_le_bytes());
    b.extend(100_000u64.to_le_bytes());
    for _ in 0..100_000 {
        b.extend(0u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
    }
    let (peak, ok) = peak_during_parse(&b);
    assert!(ok);
    assert!(peak < 4096, "array validation allocated {peak} bytes");

    // Hostile counts and lengths: rejected before allocating anything sizeable.
    for (what, bytes) in [
        ("tensor count u64::MAX", {
            let mut b = header(u64::MAX, 0);
            b.extend([0u8; 64]);
            b
        }),
        ("kv count u64::MAX", {
            let mut b = header(0, u64::MAX);
            b.extend([0u8; 64]);
            b
        }),
        ("kv count 2^40", {
            let mut b = header(0, 1 << 40);
            b.extend([0u8; 64]);
            b
        }),
        ("string length u64::MAX", {
            let mut b = header(0, 1);
            b.extend(u64::MAX.to_le_bytes());
            b.extend([0u8; 64]);
            b
        }),
        ("array length 2^61", {
            let mut b = header(0, 1);
            put_str(&mut b, "a");
            b.extend(9u32.to_le_bytes());
            b.extend(4u32.to_le_bytes());
            b.extend((1u64 << 61).to_le_bytes());
            b.extend([0u8; 64]);
            b
        }),
    ] {
        let (peak, ok) = peak_during_parse(&bytes);
        assert!(!ok, "{what} must be rejected");
        assert!(peak < 4096, "{what}: allocated {peak} bytes");
    }

    // An ordinary file.
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", "llama").unwrap();
    w.add_kv(
        "tokenizer.ggml.tokens",
        MetaValue::strings((0..5000).map(|i| format!("tok{i}"))),
    )
    .unwrap();
    for l in 0..20 {
        w.add_tensor(
            format!("blk.{l}.attn_q.weight"),
            &[256, 4],
            GgmlType::Q4_K,
            vec![0u8; 4 * 144],
        )
        .unwrap();
    }
    let bytes = w.to_bytes().unwrap();
    let (peak, ok) = peak_during_parse(&bytes);
    assert!(ok);
    assert!(
        peak < bytes.len() / 2,
        "ordinary file: {peak} bytes for {} bytes of file",
        bytes.len()
    );
}
