//! What `validate` and `detect --measure` measured on this machine, kept in the user's cache
//! directory (`$VRAMPLAN_CACHE`, else e.g. `~/.cache/vramplan`) so that planning for this host
//! uses its own memory bandwidth instead of an assumed desktop's, and `quants` can show the
//! quality measured here. A record applies only to the CPU it was measured on. Reading never
//! fails a command: a missing or unreadable file is "not measured".

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// This machine's measured memory bandwidth (and, after a `validate`, decode efficiency).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostMeasurement {
    /// CPU brand string the figures belong to.
    pub cpu: String,
    /// Worker threads the bandwidth was read with.
    pub threads: usize,
    pub memory_read_gb_s: f64,
    /// When, seconds since 1970 (UTC) and as a date.
    pub measured_unix_s: u64,
    pub date: String,
    /// Median over the levels of the last `validate` of measured decode tok/s x bytes per token
    /// / bandwidth: the share of the bandwidth the engine turned into tokens.
    #[serde(default)]
    pub decode_efficiency: Option<f64>,
    #[serde(default)]
    pub decode_efficiency_model: Option<String>,
    /// Median over the levels of the last `validate` of measured prefill tok/s x FLOPs per
    /// token / this CPU's FP32 peak for the threads used (`hw::CpuPeak`); vramplan's engine.
    #[serde(default)]
    pub prefill_efficiency: Option<f64>,
}

/// One model's measured quality per level (the last `validate` of it on this machine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelQuality {
    /// Catalogue id when the file was recognised (the key `quants` looks up), else its name.
    pub model: String,
    /// The file's `general.name`.
    #[serde(default)]
    pub name: String,
    pub source_file_type: Option<String>,
    pub ctx: usize,
    pub scored_tokens: usize,
    pub date: String,
    /// (file type, mean KLD, its standard error)
    pub levels: Vec<(String, f64, f64)>,
}

/// The cache directory: `$VRAMPLAN_CACHE`, else the platform's user cache dir + `vramplan`.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("VRAMPLAN_CACHE")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("vramplan")))
}

fn host_path() -> Option<PathBuf> {
    cache_dir().map(|d| d.join("host.json"))
}

/// The stored measurement, when one exists for `cpu`.
pub fn load(cpu: &str) -> Option<HostMeasurement> {
    let m: HostMeasurement = serde_json::from_slice(&std::fs::read(host_path()?).ok()?).ok()?;
    (m.cpu == cpu && m.memory_read_gb_s.is_finite() && m.memory_read_gb_s > 0.0).then_some(m)
}

/// Writes `value` as JSON to `path` atomically.
fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    std::fs::create_dir_all(crate::files::parent_dir(path))?;
    let json = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    crate::files::write_atomic(path, &json).map_err(std::io::Error::other)
}

/// Measures this machine's memory read bandwidth now (`passes` reads on `threads` workers, 0:
/// every core) and stores it, keeping the decode efficiency an earlier `validate` found for the
/// same CPU. Returns the measurement and whether it was stored.
pub fn measure_and_store(
    cpu: &str,
    threads: usize,
    passes: usize,
) -> (HostMeasurement, std::io::Result<PathBuf>) {
    let gb_s = super::bandwidth::measure_read_gb_s(threads, passes);
    let mut m = now_measurement(cpu, super::threads(threads), gb_s);
    if let Some(old) = load(cpu) {
        m.decode_efficiency = old.decode_efficiency;
        m.decode_efficiency_model = old.decode_efficiency_model;
        m.prefill_efficiency = old.prefill_efficiency;
    }
    let stored = store(&m);
    (m, stored)
}

/// Stores `m` (replacing any earlier record). Returns where.
pub fn store(m: &HostMeasurement) -> std::io::Result<PathBuf> {
    let path = host_path().ok_or_else(|| std::io::Error::other("no user cache directory"))?;
    write_json(&path, m)?;
    Ok(path)
}

/// A measurement made now.
pub fn now_measurement(cpu: &str, threads: usize, gb_s: f64) -> HostMeasurement {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    HostMeasurement {
        cpu: cpu.to_string(),
        threads,
        memory_read_gb_s: gb_s,
        measured_unix_s: secs,
        date: utc_date(secs),
        decode_efficiency: None,
        decode_efficiency_model: None,
        prefill_efficiency: None,
    }
}

/// Today's UTC date, YYYY-MM-DD.
pub fn today() -> String {
    utc_date(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// YYYY-MM-DD of a Unix time (proleptic Gregorian; Howard Hinnant's days-to-civil).
pub fn utc_date(unix_s: u64) -> String {
    let z = (unix_s / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn model_key(model: &str) -> String {
    model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn quality_path(model: &str) -> Option<PathBuf> {
    cache_dir().map(|d| {
        d.join("validated")
            .join(format!("{}.json", model_key(model)))
    })
}

/// Stores a model's measured quality per level.
pub fn store_quality(q: &ModelQuality) -> std::io::Result<PathBuf> {
    let path =
        quality_path(&q.model).ok_or_else(|| std::io::Error::other("no user cache directory"))?;
    write_json(&path, q)?;
    Ok(path)
}

/// The measured quality of `model` (by its `general.name`), when validated here.
pub fn load_quality(model: &str) -> Option<ModelQuality> {
    serde_json::from_slice(&std::fs::read(quality_path(model)?).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_796_428_799), "2026-12-04");
    }

    #[test]
    fn model_keys_are_file_names() {
        assert_eq!(model_key("SmolLM2 135M/Instruct"), "smollm2-135m-instruct");
    }
}
