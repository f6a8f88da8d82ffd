//! The catalogue: model architectures, API prices and devices. The embedded models.toml and
//! hardware.toml load first; a user's files (any `*.toml` in `--catalog DIR` or the vramplan
//! folder of the config directory) add entries or override them by id. Loading is strict:
//! unknown keys and impossible values are errors naming file, line, column and entry id.

mod api;
mod device;
mod model;
pub mod names;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use api::ApiEntry;
pub use device::{Arch, CloudPrice, DeviceEntry, DeviceKind, NetworkEntry, NetworkKind};
pub use model::{limits, Mla, ModelEntry, Moe, SlidingWindow};

/// The embedded default catalogue files.
pub const EMBEDDED_MODELS: &str = include_str!("../../models.toml");
pub const EMBEDDED_HARDWARE: &str = include_str!("../../hardware.toml");

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{file}:{line}:{col}: {message}")]
    Parse {
        file: String,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{file}:{line}:{col}: {kind} `{id}`: {message}")]
    Invalid {
        file: String,
        line: usize,
        col: usize,
        kind: &'static str,
        id: String,
        message: String,
    },
    #[error("{file}:{line}:{col}: {kind} id `{id}` appears twice in the same file")]
    Duplicate {
        file: String,
        line: usize,
        col: usize,
        kind: &'static str,
        id: String,
    },
    #[error("cannot read catalogue {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Reference(String),
}

/// A lookup that found nothing: carries the nearest ids. A `kind` starting with `ambiguous`
/// marks a name that matched several entries equally well: `suggestions` lists them.
#[derive(Debug, Clone)]
pub struct NotFound {
    pub kind: &'static str,
    pub query: String,
    pub suggestions: Vec<String>,
}

/// Kind of a [`NotFound`] for a model name that matches several entries.
pub const AMBIGUOUS_MODEL: &str = "ambiguous model";
/// Kind of a [`NotFound`] for a device name that matches several entries.
pub const AMBIGUOUS_DEVICE: &str = "ambiguous device";

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind.strip_prefix("ambiguous ") {
            Some(what) => write!(
                f,
                "`{}` names more than one {what}; say which: {}",
                self.query,
                self.suggestions
                    .iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => write!(
                f,
                "unknown {} `{}`{}",
                self.kind,
                self.query,
                suggest(&self.suggestions)
            ),
        }
    }
}

impl std::error::Error for NotFound {}

/// A model found by name, with the quantization the name carried (`qwen2.5:32b-q4_K_M`,
/// `...-Q4_K_M.gguf`, `...-AWQ`), canonical as [`names::quant_spelling`] gives it.
#[derive(Debug, Clone, Copy)]
pub struct NamedModel<'a> {
    pub entry: &'a ModelEntry,
    pub quant: Option<&'static str>,
}

fn suggest(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(
            "; did you mean {}?",
            s.iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    model: Vec<toml::Spanned<ModelEntry>>,
    #[serde(default)]
    api: Vec<toml::Spanned<ApiEntry>>,
    #[serde(default)]
    device: Vec<toml::Spanned<DeviceEntry>>,
    #[serde(default)]
    network: Vec<toml::Spanned<NetworkEntry>>,
}

/// Where an entry came from (file name and line), shown by `show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

/// The loaded, validated catalogue.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    models: BTreeMap<String, (ModelEntry, Origin)>,
    apis: BTreeMap<String, (ApiEntry, Origin)>,
    devices: BTreeMap<String, (DeviceEntry, Origin)>,
    networks: BTreeMap<String, (NetworkEntry, Origin)>,
    /// Problems that did not stop the load: user files skipped, aliases that shadow an id, ids
    /// repeated across user files.
    warnings: Vec<String>,
}

/// Upper bounds on device figures: far above any real device, they keep every rate and size
/// derived from them finite and printable (a bandwidth of 1e300 GB/s would print `inf` tok/s).
pub mod device_limits {
    /// GB/s (published: at most ~8,000).
    pub const MAX_BANDWIDTH_GB_S: f64 = 1e6;
    /// TFLOPS / TOPS (published dense: at most ~5,000).
    pub const MAX_TFLOPS: f64 = 1e6;
    /// Bytes of memory on one device (published: at most ~512 GiB; CPU hosts a few TiB).
    pub const MAX_MEMORY_BYTES: u64 = 1 << 50;
    /// Watts (published: at most ~1,500).
    pub const MAX_WATTS: f64 = 1e5;
    /// US$ (purchase or per hour).
    pub const MAX_USD: f64 = 1e9;
}

/// Device figures beyond [`device_limits`], each naming its field.
fn device_limits(d: &DeviceEntry) -> Vec<String> {
    use device_limits::*;
    let mut p = Vec::new();
    let mut check = |name: &str, v: Option<f64>, max: f64| {
        if let Some(v) = v {
            if v.is_finite() && v > max {
                p.push(format!("{name} {v} exceeds the limit of {max}"));
            }
        }
    };
    check("bandwidth_gb_s", Some(d.bandwidth_gb_s), MAX_BANDWIDTH_GB_S);
    check(
        "fp16_tensor_tflops_dense",
        Some(d.fp16_tensor_tflops_dense),
        MAX_TFLOPS,
    );
    check(
        "bf16_tensor_tflops_dense",
        d.bf16_tensor_tflops_dense,
        MAX_TFLOPS,
    );
    check(
        "fp8_tensor_tflops_dense",
        d.fp8_tensor_tflops_dense,
        MAX_TFLOPS,
    );
    check(
        "int8_tensor_tops_dense",
        d.int8_tensor_tops_dense,
        MAX_TFLOPS,
    );
    check("nvlink_gb_s", d.nvlink_gb_s, MAX_BANDWIDTH_GB_S);
    check("tdp_watts", Some(d.tdp_watts), MAX_WATTS);
    check("launch_price_usd", d.launch_price_usd, MAX_USD);
    check("street_price_usd", d.street_price_usd, MAX_USD);
    for (i, v) in d.memory_option_prices_usd.iter().enumerate() {
        if !(v.is_finite() && (0.0..=MAX_USD).contains(v)) {
            p.push(format!(
                "memory_option_prices_usd[{i}] must be in 0..={MAX_USD}, got {v}"
            ));
        }
    }
    for c in &d.cloud {
        if c.usd_per_gpu_hour > MAX_USD {
            p.push(format!("cloud price of {} exceeds the limit", c.provider));
        }
    }
    if let Some(s) = d.gpu_memory_share {
        if !s.is_finite() {
            p.push("gpu_memory_share must be a number".into());
        }
    }
    if d.memory_bytes > MAX_MEMORY_BYTES {
        p.push(format!(
            "memory_bytes {} exceeds the limit of {MAX_MEMORY_BYTES}",
            d.memory_bytes
        ));
    }
    if let Some(&gb) = d.memory_options_gb.iter().max() {
        if u64::from(gb) * (1 << 30) > MAX_MEMORY_BYTES {
            p.push(format!("memory option {gb} GB exceeds the limit"));
        }
    }
    p
}

/// Lower-case kebab-case: `[a-z0-9]+(-[a-z0-9.]+)*` (dots allowed for versions like `qwen2.5-7b`).
pub fn is_kebab_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && !id.contains("--")
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    LineIndex::new(text).line_col(offset)
}

/// Byte offsets of line starts, built once per file: an entry's line and column are a binary
/// search, so a file of N entries loads in O(N log N) rather than rescanning the text per entry.
struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            starts,
            len: text.len(),
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.len);
        let line = self.starts.partition_point(|&s| s <= offset);
        (line, offset - self.starts[line - 1] + 1)
    }
}

impl Catalog {
    /// The embedded catalogue only.
    pub fn embedded() -> Result<Catalog, CatalogError> {
        let mut c = Catalog::default();
        c.add_text("models.toml", EMBEDDED_MODELS)?;
        c.add_text("hardware.toml", EMBEDDED_HARDWARE)?;
        c.check_references()?;
        Ok(c)
    }

    /// The embedded catalogue plus the user's files: those in the config directory's `vramplan`
    /// folder, then those in `extra_dir`.
    pub fn load(extra_dir: Option<&Path>) -> Result<Catalog, CatalogError> {
        let mut c = Catalog::default();
        c.add_text("models.toml", EMBEDDED_MODELS)?;
        c.add_text("hardware.toml", EMBEDDED_HARDWARE)?;
        let embedded_ids = c.all_ids();
        if let Some(cfg) = dirs::config_dir().map(|d| d.join("vramplan")) {
            if cfg.is_dir() {
                // A bad file here must not stop every command: it is skipped whole, with a
                // warning naming it. (Files given with --catalog stay strict: asked for by name.)
                c.add_dir_lenient(&cfg, &embedded_ids);
            }
        }
        if let Some(dir) = extra_dir {
            if !dir.is_dir() {
                return Err(CatalogError::Io {
                    path: dir.display().to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
                });
            }
            c.add_dir(dir)?;
        }
        c.check_references()?;
        Ok(c)
    }

    /// The catalogue's warnings: skipped user files, shadowing aliases, repeated ids.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn all_ids(&self) -> std::collections::HashSet<String> {
        self.models
            .keys()
            .chain(self.devices.keys())
            .chain(self.apis.keys())
            .cloned()
            .collect()
    }

    /// [`Catalog::add_dir`] where a file that fails to read, parse or validate is skipped with
    /// a warning; an alias that spells another entry's id and an id given by two user files
    /// are warnings too (the later file wins, as before).
    pub fn add_dir_lenient(&mut self, dir: &Path, embedded: &std::collections::HashSet<String>) {
        let files = match toml_files(dir) {
            Ok(f) => f,
            Err(e) => {
                self.warnings
                    .push(format!("{e}; the user catalogue there is ignored"));
                return;
            }
        };
        let mut from_user: BTreeMap<String, String> = BTreeMap::new();
        for path in files {
            let shown = path.display().to_string();
            let mut one = Catalog::default();
            let result = std::fs::read_to_string(&path)
                .map_err(|source| CatalogError::Io {
                    path: shown.clone(),
                    source,
                })
                .and_then(|text| one.add_text(&shown, &text));
            let result = result.and_then(|()| {
                // An API naming a model neither here nor in that file.
                for (api, origin) in one.apis.values() {
                    if let Some(m) = &api.model {
                        if !self.models.contains_key(m) && !one.models.contains_key(m) {
                            return Err(CatalogError::Reference(format!(
                                "{}:{}: api `{}` names model `{m}`, which is not in the catalogue",
                                origin.file, origin.line, api.id
                            )));
                        }
                    }
                }
                Ok(())
            });
            if let Err(e) = result {
                self.warnings
                    .push(format!("skipped a user catalogue file: {e}"));
                continue;
            }
            for id in one.all_ids() {
                if let Some(prev) = from_user.insert(id.clone(), shown.clone()) {
                    self.warnings.push(format!(
                        "`{id}` is defined in both {prev} and {shown}; {shown} wins"
                    ));
                }
            }
            self.merge_from(one);
        }
        self.check_shadowing(embedded, &from_user);
    }

    /// Moves every entry of `other` into `self` (same-id entries replaced).
    fn merge_from(&mut self, other: Catalog) {
        self.models.extend(other.models);
        self.devices.extend(other.devices);
        self.networks.extend(other.networks);
        self.apis.extend(other.apis);
        self.warnings.extend(other.warnings);
    }

    /// Warns of user aliases and names that spell another entry's id ("RTX 4090" on a user
    /// device other than `rtx-4090`): which of the two a lookup finds is not the user's intent.
    fn check_shadowing(
        &mut self,
        embedded: &std::collections::HashSet<String>,
        user: &BTreeMap<String, String>,
    ) {
        let mut warnings = Vec::new();
        let mut check = |id: &String, names: &mut dyn Iterator<Item = &String>| {
            let Some(file) = user.get(id) else { return };
            for n in names {
                let norm = names::strip_vendor(&normalize(n));
                if &norm != id && (embedded.contains(&norm) || user.contains_key(&norm)) {
                    warnings.push(format!(
                        "{file}: `{id}` has the name or alias `{n}`, which is the id of another entry"
                    ));
                }
            }
        };
        for (id, (m, _)) in &self.models {
            check(id, &mut std::iter::once(&m.name).chain(m.aliases.iter()));
        }
        for (id, (d, _)) in &self.devices {
            check(id, &mut std::iter::once(&d.name).chain(d.aliases.iter()));
        }
        self.warnings.extend(warnings);
    }

    /// Adds every `*.toml` file of a directory, in name order.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), CatalogError> {
        for path in toml_files(dir)? {
            let text = std::fs::read_to_string(&path).map_err(|source| CatalogError::Io {
                path: path.display().to_string(),
                source,
            })?;
            self.add_text(&path.display().to_string(), &text)?;
        }
        Ok(())
    }

    /// Parses one catalogue file and merges it: entries override earlier ones with the same id.
    pub fn add_text(&mut self, file: &str, text: &str) -> Result<(), CatalogError> {
        let mut parsed: CatalogFile = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            CatalogError::Parse {
                file: file.to_string(),
                line,
                col,
                message: e.message().trim().to_string(),
            }
        })?;
        for m in &mut parsed.model {
            m.get_mut().complete();
        }
        let index = LineIndex::new(text);
        let at = |start: usize| {
            let (line, col) = index.line_col(start);
            (file.to_string(), line, col)
        };
        merge(&mut self.models, parsed.model, "model", &at, |m| {
            (&m.id, m.problems())
        })?;
        merge(&mut self.apis, parsed.api, "api", &at, |a| {
            (&a.id, a.problems())
        })?;
        merge(&mut self.devices, parsed.device, "device", &at, |d| {
            let mut p = d.problems();
            p.extend(device_limits(d));
            (&d.id, p)
        })?;
        merge(&mut self.networks, parsed.network, "network", &at, |n| {
            (&n.id, n.problems())
        })?;
        Ok(())
    }

    /// Cross-entry checks: an API's `model` must be a catalogue model.
    fn check_references(&self) -> Result<(), CatalogError> {
        for (api, origin) in self.apis.values() {
            if let Some(m) = &api.model {
                if !self.models.contains_key(m) {
                    return Err(CatalogError::Reference(format!(
                        "{}:{}: api `{}` names model `{m}`, which is not in the catalogue",
                        origin.file, origin.line, api.id
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn models(&self) -> impl Iterator<Item = &ModelEntry> {
        self.models.values().map(|(m, _)| m)
    }
    pub fn apis(&self) -> impl Iterator<Item = &ApiEntry> {
        self.apis.values().map(|(a, _)| a)
    }
    pub fn devices(&self) -> impl Iterator<Item = &DeviceEntry> {
        self.devices.values().map(|(d, _)| d)
    }
    pub fn model_origin(&self, id: &str) -> Option<&Origin> {
        self.models.get(id).map(|(_, o)| o)
    }
    pub fn device_origin(&self, id: &str) -> Option<&Origin> {
        self.devices.get(id).map(|(_, o)| o)
    }
    pub fn api_origin(&self, id: &str) -> Option<&Origin> {
        self.apis.get(id).map(|(_, o)| o)
    }

    /// Finds a model by id, name or alias as people write them ("Mixtral 8x7B"), or by an
    /// Ollama tag, Hugging Face repo id or GGUF file name ([`Catalog::model_named`]).
    pub fn model(&self, query: &str) -> Result<&ModelEntry, NotFound> {
        self.model_named(query).map(|n| n.entry)
    }

    /// [`Catalog::model`] with the quantization the name carries. Exact ids, names and aliases
    /// first; then the name's tokens (`llama3.1:70b` -> `llama`, `3.1`, `70b`) against each
    /// entry's id, name, aliases and Hugging Face repo: the entries that contain every token
    /// with the fewest extra ones win, and more than one winner is an ambiguity that lists them.
    pub fn model_named(&self, query: &str) -> Result<NamedModel<'_>, NotFound> {
        let exact = find(&self.models, query, "model", |m| {
            (&m.id, &m.name, &m.aliases)
        });
        let not_found = match exact {
            Ok(entry) => return Ok(NamedModel { entry, quant: None }),
            Err(e) => e,
        };
        let parsed = names::parse_model_name(query);
        if parsed.tokens.is_empty() {
            return Err(not_found);
        }
        let found = by_tokens(
            self.models.values().map(|(m, _)| m),
            &parsed.tokens,
            |m| {
                let repo = names::hf_repo_of(&m.source).map(|(_, r)| r);
                let names = [m.id.as_str(), m.name.as_str()]
                    .into_iter()
                    .chain(m.aliases.iter().map(String::as_str))
                    .chain(repo)
                    .collect();
                (names, Some(m.params_total_official))
            },
            names::tokens,
            |m| &m.id,
            AMBIGUOUS_MODEL,
            query,
        );
        match found {
            None => Err(not_found),
            Some(r) => r.map(|entry| NamedModel {
                entry,
                quant: parsed.quant,
            }),
        }
    }

    /// Networks between nodes (`[[network]]`), by id.
    pub fn networks(&self) -> impl Iterator<Item = &NetworkEntry> {
        self.networks.values().map(|(n, _)| n)
    }

    /// Finds a network by id, name or alias (`infiniband-ndr`, `NDR`, `10GbE`).
    pub fn network(&self, query: &str) -> Result<&NetworkEntry, NotFound> {
        find(&self.networks, query, "network", |n| {
            (&n.id, &n.name, &n.aliases)
        })
    }

    pub fn api(&self, query: &str) -> Result<&ApiEntry, NotFound> {
        find(&self.apis, query, "api", |a| {
            (&a.id, &a.name, &[] as &[String])
        })
    }

    /// Finds a device by id, name or alias; for chips with memory options, a `-<N>gb` suffix
    /// ("m4-max-128gb") picks the option. Spellings without separators (`rtx4090`) or without
    /// the vendor's series (`3060 12GB`) match by tokens, like model names.
    pub fn device(&self, query: &str) -> Result<Device, NotFound> {
        let lookup = |q: &str| {
            find(&self.devices, q, "device", |d| (&d.id, &d.name, &d.aliases))
                .or_else(|e| self.device_by_tokens(q).unwrap_or(Err(e)))
        };
        let first = lookup(query);
        if let Ok(d) = first {
            // A chip or host sold in several memory sizes, named without one, means its smallest
            // configuration (the cheapest one people buy), and the device says so.
            if let Some(&gb) = d.memory_options_gb.iter().min() {
                let mut dev = Device::from_entry(d.clone(), Some(gb));
                dev.implied_memory = Some(format!(
                    "`{query}` names no memory size: planned as its smallest configuration, {} ({gb} GB); name another as {}-NNgb (options: {})",
                    dev.id,
                    d.id,
                    d.memory_options_gb
                        .iter()
                        .map(|g| format!("{g} GB"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                return Ok(dev);
            }
            return Ok(Device::from_entry(d.clone(), None));
        }
        let norm = normalize(query);
        if let Some((base, gb)) = split_memory_suffix(&norm) {
            if let Ok(d) = lookup(base) {
                if d.memory_options_gb.contains(&gb) {
                    return Ok(Device::from_entry(d.clone(), Some(gb)));
                }
                let opts: Vec<String> = d
                    .memory_options_gb
                    .iter()
                    .map(|g| format!("{}-{g}gb", d.id))
                    .collect();
                return Err(NotFound {
                    kind: "device memory option",
                    query: query.to_string(),
                    suggestions: opts,
                });
            }
        }
        // The first lookup's error, not a second search for the same answer.
        first.map(|d| Device::from_entry(d.clone(), None))
    }
}

impl Catalog {
    /// Token match of a device name: `None` when nothing contains every token.
    fn device_by_tokens(&self, query: &str) -> Option<Result<&DeviceEntry, NotFound>> {
        let strip = |s: &str| names::without_vendor(names::tokens(s));
        // `rx7900xtx`: the same letters and digits as a name, without separators.
        let squash = |s: &str| -> String {
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .collect()
        };
        let sq = squash(query);
        for (d, _) in self.devices.values() {
            let names = [d.id.as_str(), d.name.as_str()];
            if names
                .into_iter()
                .chain(d.aliases.iter().map(String::as_str))
                .any(|n| squash(n) == sq)
            {
                return Some(Ok(d));
            }
        }
        let q = strip(query);
        if q.is_empty() {
            return None;
        }
        by_tokens(
            self.devices.values().map(|(d, _)| d),
            &q,
            |d| {
                let names = [d.id.as_str(), d.name.as_str()]
                    .into_iter()
                    .chain(d.aliases.iter().map(String::as_str))
                    .collect();
                (names, None)
            },
            strip,
            |d| &d.id,
            AMBIGUOUS_DEVICE,
            query,
        )
    }
}

/// Token match of a query against each entry's names ([`names::coverage`]): the entry one of
/// whose names holds every query token with the fewest extra ones. `None` when no entry holds
/// them all; entries tied for the fewest are an ambiguity of `kind` listing their ids.
#[allow(clippy::too_many_arguments)]
fn by_tokens<'a, T>(
    entries: impl Iterator<Item = &'a T>,
    query: &[String],
    names_of: impl Fn(&'a T) -> (Vec<&'a str>, Option<f64>),
    tokens: impl Fn(&str) -> Vec<String>,
    id: impl Fn(&T) -> &String,
    kind: &'static str,
    query_text: &str,
) -> Option<Result<&'a T, NotFound>> {
    let mut scored: Vec<(usize, &'a T)> = Vec::new();
    for e in entries {
        let (names, params) = names_of(e);
        let score = names
            .into_iter()
            .filter_map(|v| names::coverage(query, &tokens(v), params))
            .min();
        if let Some(s) = score {
            scored.push((s, e));
        }
    }
    let best = scored.iter().map(|s| s.0).min()?;
    let winners: Vec<&'a T> = scored.iter().filter(|s| s.0 == best).map(|s| s.1).collect();
    Some(match winners.as_slice() {
        [one] => Ok(*one),
        many => Err(NotFound {
            kind,
            query: query_text.to_string(),
            suggestions: many.iter().map(|e| id(e).clone()).collect(),
        }),
    })
}

/// The `*.toml` files of a directory, in name order.
fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let io = |source| CatalogError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn split_memory_suffix(norm: &str) -> Option<(&str, u32)> {
    let (base, last) = norm.rsplit_once('-')?;
    let gb = last.strip_suffix("gb")?.parse().ok()?;
    Some((base, gb))
}

type At<'a> = dyn Fn(usize) -> (String, usize, usize) + 'a;

fn merge<T>(
    into: &mut BTreeMap<String, (T, Origin)>,
    entries: Vec<toml::Spanned<T>>,
    kind: &'static str,
    at: &At<'_>,
    facts: impl Fn(&T) -> (&String, Vec<String>),
) -> Result<(), CatalogError> {
    let mut seen = std::collections::HashSet::new();
    for spanned in entries {
        let (file, line, col) = at(spanned.span().start);
        let entry = spanned.into_inner();
        let (id, problems) = facts(&entry);
        if let Some(message) = problems.into_iter().next() {
            return Err(CatalogError::Invalid {
                file,
                line,
                col,
                kind,
                id: id.clone(),
                message,
            });
        }
        if !seen.insert(id.clone()) {
            return Err(CatalogError::Duplicate {
                file,
                line,
                col,
                kind,
                id: id.clone(),
            });
        }
        let id = id.clone();
        into.insert(id, (entry, Origin { file, line }));
    }
    Ok(())
}

/// Folds how people write names onto id spelling: "RTX 4090" -> "rtx-4090".
pub fn normalize(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

fn find<'a, T>(
    map: &'a BTreeMap<String, (T, Origin)>,
    query: &str,
    kind: &'static str,
    names: impl Fn(&T) -> (&String, &String, &[String]),
) -> Result<&'a T, NotFound> {
    if let Some((e, _)) = map.get(query) {
        return Ok(e);
    }
    let q = names::strip_vendor(&normalize(query));
    for (e, _) in map.values() {
        let (id, name, aliases) = names(e);
        let hit = names::strip_vendor(id) == q
            || names::strip_vendor(&normalize(name)) == q
            || aliases
                .iter()
                .any(|a| names::strip_vendor(&normalize(a)) == q);
        if hit {
            return Ok(e);
        }
    }
    let mut scored: Vec<(f64, &String)> = map
        .keys()
        .map(|id| (strsim::jaro_winkler(&q, id), id))
        .filter(|(s, _)| *s > 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    Err(NotFound {
        kind,
        query: query.to_string(),
        suggestions: scored
            .into_iter()
            .take(3)
            .map(|(_, id)| id.clone())
            .collect(),
    })
}

/// A concrete device: a catalogue entry with one memory configuration chosen.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Device {
    /// Id including the memory option where one was chosen (`m4-max-128gb`).
    pub id: String,
    pub name: String,
    pub memory_bytes: u64,
    /// Bytes the accelerator may use: all of a GPU's memory, a share of Apple unified memory,
    /// the host RAM for CPU hosts.
    pub usable_bytes: u64,
    #[serde(skip)]
    pub entry: DeviceEntry,
    /// Set when the query named a chip or host without its memory and its smallest
    /// configuration was taken: the sentence that says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implied_memory: Option<String>,
}

impl Device {
    pub fn from_entry(entry: DeviceEntry, option_gb: Option<u32>) -> Device {
        let (id, memory_bytes) = match option_gb {
            Some(gb) => (format!("{}-{gb}gb", entry.id), gb as u64 * (1 << 30)),
            None => (entry.id.clone(), entry.memory_bytes),
        };
        let usable_bytes = match entry.kind {
            DeviceKind::Apple => {
                (memory_bytes as f64 * apple_gpu_share(&entry, memory_bytes)) as u64
            }
            _ => memory_bytes,
        };
        let name = match option_gb {
            Some(gb) => format!("{} {gb} GB", entry.name),
            None => entry.name.clone(),
        };
        Device {
            id,
            name,
            memory_bytes,
            usable_bytes,
            entry,
            implied_memory: None,
        }
    }
}

/// macOS lets the GPU wire about 2/3 of unified memory on machines up to 36 GB and 3/4 above
/// (`recommendedMaxWorkingSetSize`); the entry's `gpu_memory_share` states the larger machines'.
fn apple_gpu_share(entry: &DeviceEntry, memory_bytes: u64) -> f64 {
    if memory_bytes <= 36 * (1 << 30) {
        2.0 / 3.0
    } else {
        entry.gpu_memory_share.unwrap_or(0.75).max(2.0 / 3.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize("Mixtral 8x7B"), "mixtral-8x7b");
        assert_eq!(normalize("  RTX_4090 "), "rtx-4090");
        assert_eq!(
            names::strip_vendor(&normalize("NVIDIA GeForce RTX 4090")),
            "rtx-4090"
        );
        assert_eq!(normalize("Qwen2.5 7B"), "qwen2.5-7b");
    }

    #[test]
    fn kebab_ids() {
        assert!(is_kebab_id("qwen2.5-7b"));
        assert!(is_kebab_id("rtx-4090"));
        assert!(!is_kebab_id("RTX-4090"));
        assert!(!is_kebab_id("a--b"));
        assert!(!is_kebab_id(""));
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("ab\ncd\nef", 4), (2, 2));
        assert_eq!(line_col("ab", 0), (1, 1));
    }
}
