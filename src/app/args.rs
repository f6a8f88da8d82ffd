//! Parsing of the values people type: contexts ("32k"), device lists ("rtx-3060-12gbx2,rtx-3090").

use vramplan::catalog::{Catalog, Device};

use super::bad_input;

/// A token count: "8192", "32k" (= 32768: contexts count in powers of two), "1M" (= 1048576).
pub fn parse_tokens(s: &str, flag: &str) -> anyhow::Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix('k') {
        (n, 1024u64)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 1024 * 1024)
    } else {
        (t.as_str(), 1)
    };
    let n: u64 = num.parse().map_err(|_| {
        bad_input(format!(
            "{flag} `{s}` is not a token count (e.g. 8192, 32k)"
        ))
    })?;
    let n = n
        .checked_mul(mult)
        .ok_or_else(|| bad_input(format!("{flag} `{s}` is too large")))?;
    if n == 0 {
        return Err(bad_input(format!(
            "{flag} must be at least 1 token, got `{s}`"
        )));
    }
    if n > 1 << 30 {
        return Err(bad_input(format!(
            "{flag} `{s}` is absurd (more than 2^30 tokens)"
        )));
    }
    Ok(n)
}

/// A host RAM size: "64" and "64GB" are GB (10^9 bytes), "64GiB" is 2^30 bytes; fractions
/// allowed ("15.5GiB"). Memory kits sold as "64 GB" hold 64 GiB: `64GiB` states them exactly.
pub fn parse_ram(s: &str, flag: &str) -> anyhow::Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("gib") {
        (n, (1u64 << 30) as f64)
    } else if let Some(n) = t.strip_suffix("gb") {
        (n, 1e9)
    } else if let Some(n) = t.strip_suffix("tib") {
        (n, (1u64 << 40) as f64)
    } else if let Some(n) = t.strip_suffix("tb") {
        (n, 1e12)
    } else {
        (t.as_str(), 1e9)
    };
    let x: f64 = num.trim().parse().map_err(|_| {
        bad_input(format!(
            "{flag} `{s}` is not a memory size (e.g. 64, 64GB, 64GiB)"
        ))
    })?;
    let bytes = x * mult;
    if !(bytes.is_finite() && bytes >= 1e8) {
        return Err(bad_input(format!(
            "{flag} `{s}` is too small (at least 0.1 GB)"
        )));
    }
    if bytes > 1e15 {
        return Err(bad_input(format!(
            "{flag} `{s}` is absurd (more than 1 PB)"
        )));
    }
    Ok(bytes as u64)
}

/// The most worker threads any command accepts (`--threads`; 0 means one per core).
pub const MAX_THREADS: usize = 4096;

/// `--threads N`: refused above [`MAX_THREADS`], the same limit and exit code (2) everywhere.
pub fn check_threads(threads: usize) -> anyhow::Result<()> {
    if threads > MAX_THREADS {
        return Err(bad_input(format!(
            "--threads {threads} is more than the {MAX_THREADS} accepted"
        )));
    }
    Ok(())
}

/// A volume: "250000", "500k" (= 500,000), "2M" (= 2,000,000), "1.5B": decimal, unlike contexts.
pub fn parse_count(s: &str, flag: &str) -> anyhow::Result<f64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1e3),
        Some('m') => (&t[..t.len() - 1], 1e6),
        Some('b') => (&t[..t.len() - 1], 1e9),
        _ => (t.as_str(), 1.0),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| bad_input(format!("{flag} `{s}` is not a count (e.g. 500k, 2M)")))?;
    let n = n * mult;
    if !(n.is_finite() && (1.0..=1e15).contains(&n)) {
        return Err(bad_input(format!(
            "{flag} `{s}` must be between 1 and 10^15"
        )));
    }
    Ok(n)
}

/// "ID[xCOUNT],..." or "COUNTxID,..." -> devices, each repeated COUNT times (`rtx-4090x2`,
/// `2x3060`, `4xH100`, `2 x RTX 3090`). The whole entry is tried as a device name first, so ids
/// that end in `x` and a digit-free suffix (`rx-7900-xtx`) or start with digits stay names.
pub fn parse_devices(catalog: &Catalog, s: &str) -> anyhow::Result<Vec<Device>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(bad_input(format!("--gpu `{s}` has an empty entry")));
        }
        let (device, count) = match catalog.device(part) {
            Ok(d) => (d, 1),
            Err(whole) => match split_count(part) {
                Ok((id, count)) if id != part => (catalog.device(id)?, count),
                Ok(_) => return Err(whole.into()),
                Err(m) => return Err(bad_input(format!("--gpu `{part}`: {m}"))),
            },
        };
        if out.len() + count as usize > 4096 {
            return Err(bad_input(format!(
                "--gpu `{s}` names more than 4096 devices"
            )));
        }
        if let Some(note) = &device.implied_memory {
            eprintln!("note: {}", vramplan::report::escape_line(note));
        }
        for _ in 0..count {
            out.push(device.clone());
        }
    }
    Ok(out)
}

/// A count before (`2x3060`, `4*H100`) or after (`rtx-4090x2`) a device name.
fn split_count(part: &str) -> Result<(&str, u32), String> {
    let is_sep = |c: char| matches!(c, 'x' | 'X' | '*');
    let parse = |n: &str| -> Result<u32, String> {
        let count: u32 = n.parse().map_err(|_| format!("count `{n}` is too large"))?;
        if count == 0 {
            return Err("count must be at least 1".into());
        }
        Ok(count)
    };
    // Leading count: digits, optional spaces, a separator, the name.
    let digits = part.len() - part.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 {
        let rest = part[digits..].trim_start();
        if let Some(sep) = rest.chars().next().filter(|&c| is_sep(c)) {
            let id = rest[sep.len_utf8()..].trim();
            if !id.is_empty() {
                return Ok((id, parse(&part[..digits])?));
            }
        }
    }
    if let Some(pos) = part.rfind(is_sep) {
        let (id, rest) = (&part[..pos], &part[pos + 1..]);
        let rest = rest.trim();
        if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) {
            let count = parse(rest)?;
            if id.trim().is_empty() {
                return Err("missing device id before the count".into());
            }
            return Ok((id.trim(), count));
        }
    }
    Ok((part, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_sizes() {
        assert_eq!(parse_ram("64", "--ram").unwrap(), 64_000_000_000);
        assert_eq!(parse_ram("64GB", "--ram").unwrap(), 64_000_000_000);
        assert_eq!(parse_ram("64GiB", "--ram").unwrap(), 64 << 30);
        assert_eq!(parse_ram("1.5TB", "--ram").unwrap(), 1_500_000_000_000);
        assert!(parse_ram("0", "--ram").is_err());
        assert!(parse_ram("-4", "--ram").is_err());
        assert!(parse_ram("lots", "--ram").is_err());
        assert!(parse_ram("nan", "--ram").is_err());
    }

    #[test]
    fn tokens() {
        assert_eq!(parse_tokens("32k", "--ctx").unwrap(), 32768);
        assert_eq!(parse_tokens("8192", "--ctx").unwrap(), 8192);
        assert!(parse_tokens("0", "--ctx").is_err());
        assert!(parse_tokens("-5", "--ctx").is_err());
        assert!(parse_tokens("1000000000000", "--ctx").is_err());
    }

    #[test]
    fn counts() {
        assert_eq!(split_count("rtx-4090x2").unwrap(), ("rtx-4090", 2));
        assert_eq!(split_count("rx-7900-xtx").unwrap(), ("rx-7900-xtx", 1));
        assert_eq!(split_count("rx-7900-xtxx2").unwrap(), ("rx-7900-xtx", 2));
        assert!(split_count("rtx-4090x0").is_err());
        assert!(split_count("x2").is_err());
        assert_eq!(split_count("2x3060").unwrap(), ("3060", 2));
        assert_eq!(split_count("4xH100").unwrap(), ("H100", 4));
        assert_eq!(split_count("2 x RTX 3090").unwrap(), ("RTX 3090", 2));
        // A trailing count is only read after the whole entry failed as a name, so this split
        // of `rtx4090` is never used (tests/names.rs: `--gpu rtx4090` is one RTX 4090).
        assert_eq!(split_count("rtx4090").unwrap(), ("rt", 4090));
        assert!(split_count("0xH100").is_err());
    }
}
