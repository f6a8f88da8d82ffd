//! `vramplan catalog add CONFIG.json [--name NAME] [--force]`: a local Hugging Face config.json
//! becomes a user catalogue entry (models.toml format, in the config directory's `vramplan`
//! folder), so every command takes its id.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;
use vramplan::catalog::{normalize, Catalog, ModelEntry};
use vramplan::hf::HfConfig;
use vramplan::local::{LocalFiles, LocalModel, Lookup, Stores};

use super::bad_input;
use crate::cli::{CatalogAddArgs, Global};

#[derive(Serialize)]
struct File<'a> {
    model: [&'a ModelEntry; 1],
}

#[derive(Serialize)]
struct AddReport {
    id: String,
    path: String,
    source: String,
    params_total: u64,
}

/// The folder user catalogue files live in (`$XDG_CONFIG_HOME/vramplan` on Linux).
fn user_dir() -> Result<PathBuf> {
    dirs::config_dir()
        .map(|d| d.join("vramplan"))
        .ok_or_else(|| bad_input("this system has no configuration directory for a user catalogue"))
}

pub fn run(global: &Global, args: CatalogAddArgs) -> Result<()> {
    let catalog = super::load_catalog(global)?;
    let config = &local_config(&args.config)?;
    let shown = config.display().to_string();
    super::model_input::check_file(config)?;
    let cfg = HfConfig::from_path(config).map_err(|e| bad_input(e.to_string()))?;
    // The id: --name, else the folder holding config.json (a repo snapshot's name), else the stem.
    let base = match &args.name {
        Some(n) => n.clone(),
        None => default_name(config),
    };
    let id = normalize(&base);
    if !vramplan::catalog::is_kebab_id(&id) {
        return Err(bad_input(format!(
            "`{base}` does not make an id (letters, digits, `-`, `.`); give --name"
        )));
    }
    let source = std::fs::canonicalize(config)
        .unwrap_or_else(|_| config.clone())
        .display()
        .to_string();
    let mut entry = cfg
        .to_model_entry(&id, &source)
        .map_err(|e| bad_input(format!("{shown}: {e}")))?;
    if let Some(n) = &args.name {
        entry.name = n.clone();
    }
    entry.family = "user".into();
    let dir = user_dir()?;
    let path = dir.join(format!("{id}.toml"));
    if !args.force {
        if catalog.model_origin(&id).is_some() {
            return Err(bad_input(format!(
                "model `{id}` is already in the catalogue; give another --name, or --force to override it"
            )));
        }
        if path.exists() {
            return Err(bad_input(format!(
                "{} exists; --force replaces it",
                path.display()
            )));
        }
    }
    let body = toml::to_string(&File { model: [&entry] })
        .map_err(|e| anyhow::anyhow!("cannot write the entry as TOML: {e}"))?;
    let text = format!(
        "# Added by `vramplan catalog add` from {source}\n# (config.json values; params_total_official is the count derived from them)\n\n{body}"
    );
    // The file must load as the catalogue will read it, before it is written.
    Catalog::default()
        .add_text(&path.display().to_string(), &text)
        .map_err(|e| bad_input(format!("{shown}: the entry does not validate: {e}")))?;
    write_atomic(&dir, &path, &text)?;
    let report = AddReport {
        id: id.clone(),
        path: path.display().to_string(),
        source,
        params_total: entry.params_total_official as u64,
    };
    super::emit(global, &report, |report| {
        super::out(&format!(
            "added model `{id}` ({} parameters) to {}; every command now takes it: vramplan fit {id}",
            vramplan::units::format_params(report.params_total),
            report.path
        ));
        Ok(())
    })
}

/// The config.json to read: the path given, or, when no such file exists, the config.json of
/// that Hugging Face repo in the local cache (`catalog add Qwen/Qwen3-8B`).
fn local_config(arg: &Path) -> Result<PathBuf> {
    let Some(name) = arg.to_str().filter(|_| !arg.exists()) else {
        return Ok(arg.to_path_buf());
    };
    let mut warnings = Vec::new();
    let found = Stores::from_env().find(name, &mut warnings);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    match found {
        Lookup::Found(LocalModel {
            files: LocalFiles::Safetensors { config, .. },
            ..
        }) => {
            eprintln!(
                "note: `{name}` is in the local Hugging Face cache: {}",
                config.display()
            );
            Ok(config)
        }
        _ => Ok(arg.to_path_buf()),
    }
}

fn default_name(config: &Path) -> String {
    let parent = config
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().to_string());
    // A hub snapshot folder is a commit hash: use the repo folder above it
    // (`models--org--name/snapshots/<hash>/config.json`).
    let hub = config
        .ancestors()
        .filter_map(|a| a.file_name())
        .map(|n| n.to_string_lossy().to_string())
        .find_map(|n| {
            n.strip_prefix("models--")
                .map(|r| r.rsplit("--").next().unwrap_or(r).to_string())
        });
    hub.or(parent).unwrap_or_else(|| "model".into())
}

/// Writes through a temporary file beside the destination ([`vramplan::files::temp_file_beside`]:
/// locked while alive, swept when stale), then renames it into place: a failure never leaves a
/// partial catalogue file that would be read next time.
fn write_atomic(dir: &Path, path: &Path, text: &str) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let mut tmp = vramplan::files::temp_file_beside(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let written = tmp
        .write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all());
    written.map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}
