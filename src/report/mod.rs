//! Renderers only: width-fitted tables, Markdown and CSV for people and spreadsheets, JSON via serde
//! in the app layer.
//! Knows result types, never how they were computed.

pub mod context;
pub mod style;
pub mod table;
pub mod validate;
pub mod words;

mod escape;
pub use escape::{escape_line, escape_text};

pub use context::{context, Format, RenderContext};
pub use style::{tone, Tone};
pub use table::{Cell, Column, HouseTable};

/// A table in the house style with these column titles (no column may be dropped when narrow;
/// use `HouseTable::new` with `Column::optional` for that).
pub fn table(header: &[&str]) -> HouseTable {
    HouseTable::new(header.iter().map(|h| Column::new(h)).collect())
}

/// A two-column key/value table.
pub fn kv_table(rows: &[(String, String)]) -> HouseTable {
    let mut t = HouseTable::headless(2);
    for (k, v) in rows {
        t.add_row([k.clone(), v.clone()]);
    }
    t
}

/// Bytes as decimal gigabytes with two decimals, for a column whose header says "GB".
pub fn gb(bytes: f64) -> String {
    format!("{:.2}", bytes / 1e9)
}

/// Significant-digit formatting lives in `units` so lower layers (hw) can word figures too.
pub use crate::units::sig;
