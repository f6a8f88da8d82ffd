//! Renderers only: tables for people (comfy-table), JSON via serde in the app layer.
//! Knows result types, never how they were computed.

pub mod validate;

use comfy_table::{presets, ContentArrangement, Table};

/// A table in the house style: UTF-8 borders, wrapped to the terminal.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(|h| h.to_string()));
    t
}

/// A two-column key/value table.
pub fn kv_table(rows: &[(String, String)]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    for (k, v) in rows {
        t.add_row(vec![k.clone(), v.clone()]);
    }
    t
}

/// A number with up to `sig` significant digits, no false decimals.
pub fn sig(x: f64, sig: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (sig as i32 - 1 - mag).max(0) as usize;
    format!("{x:.decimals$}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn significant_digits() {
        assert_eq!(super::sig(1008.0, 3), "1008");
        assert_eq!(super::sig(82.58, 3), "82.6");
        assert_eq!(super::sig(0.1234, 2), "0.12");
    }
}
