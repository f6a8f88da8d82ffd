//! safetensors header parser on arbitrary bytes: `SafetensorsHeader::parse(bytes, len)` with the
//! bytes as a whole file, and with the first 8 bytes' length taken as a header of a larger file.
//! Nothing may panic; a parsed header must be self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vramplan::hf::{SafeDtype, SafetensorsHeader};

fn check(h: &SafetensorsHeader, file_len: u64) {
    assert_eq!(h.data_start, 8 + h.header_len);
    let mut expected = 0u64;
    for t in &h.tensors {
        assert_eq!(t.data_offsets.0, expected);
        assert_eq!(t.data_offsets.1 - t.data_offsets.0, t.n_bytes);
        assert_eq!(t.shape.iter().product::<u64>(), t.n_elements);
        assert_eq!(t.dtype.bytes_for(t.n_elements), Some(t.n_bytes));
        assert_eq!(
            SafeDtype::from_name(&format!("{:?}", t.dtype)),
            Some(t.dtype)
        );
        assert!(h.tensor(&t.name).is_some());
        expected = t.data_offsets.1;
    }
    assert_eq!(h.data_start + h.total_bytes(), file_len);
    let _ = serde_json::to_string(h);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = SafetensorsHeader::parse(data, data.len() as u64) {
        check(&h, data.len() as u64);
    }
    // The header read from a prefix of a larger file (how `inspect` reads shards): the file
    // length comes from the last 8 bytes when there are enough, else a huge value.
    let file_len = match data.len().checked_sub(8) {
        Some(at) if at >= 8 => u64::from_le_bytes(data[at..].try_into().unwrap()),
        _ => u64::MAX,
    };
    if let Ok(h) = SafetensorsHeader::parse(data, file_len) {
        check(&h, file_len);
    }
});
