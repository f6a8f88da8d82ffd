//! Units that live in types: bytes shown as GB (10^9) and GiB (2^30), parameter counts.

use std::fmt;

pub const GB: f64 = 1e9;
pub const GIB: f64 = 1073741824.0;

/// A byte count. Displays as GB with the GiB figure beside it where people compare with vendors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Bytes(pub u64);

impl Bytes {
    pub fn gb(self) -> f64 {
        self.0 as f64 / GB
    }
    pub fn gib(self) -> f64 {
        self.0 as f64 / GIB
    }
    /// Compact form: "47.15 GB".
    pub fn display_gb(self) -> String {
        format_gb(self.0 as f64)
    }
    /// "47.15 GB (43.91 GiB)".
    pub fn display_both(self) -> String {
        format!("{} ({:.2} GiB)", format_gb(self.0 as f64), self.gib())
    }
}

fn format_gb(bytes: f64) -> String {
    let gb = bytes / GB;
    if gb >= 100.0 {
        format!("{gb:.1} GB")
    } else if gb >= 0.1 {
        format!("{gb:.2} GB")
    } else {
        format!("{:.1} MB", bytes / 1e6)
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_gb())
    }
}

/// A parameter count, shown as "8.03B" or "135M".
pub fn format_params(n: u64) -> String {
    let x = n as f64;
    if x >= 1e9 {
        format!("{:.2}B", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.0}M", x / 1e6)
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn formats() {
        assert_eq!(Bytes(47_150_000_000).display_gb(), "47.15 GB");
        assert_eq!(Bytes(1 << 30).display_both(), "1.07 GB (1.00 GiB)");
        assert_eq!(Bytes(2_500_000).display_gb(), "2.5 MB");
        assert_eq!(format_params(8_030_261_248), "8.03B");
        assert_eq!(format_params(134_515_008), "135M");
    }
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
mod sig_tests {
    #[test]
    fn significant_digits() {
        assert_eq!(super::sig(1008.0, 3), "1008");
        assert_eq!(super::sig(82.58, 3), "82.6");
        assert_eq!(super::sig(0.1234, 2), "0.12");
    }
}
