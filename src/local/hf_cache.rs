//! The Hugging Face hub cache (huggingface_hub's layout): `models--ORG--NAME/` holding
//! `refs/main` (the revision `main` points to), `snapshots/REV/...` (the files, usually links
//! into `blobs/`) and `blobs/`. A snapshot with config.json is a safetensors model; each GGUF
//! file (or set of shards) in it is a model of its own, named `org/repo/FILE.gguf` and found
//! also as `org/repo:QUANT`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    check_file, is_real_dir, read_dir, read_small, safe_component, shard_of, warn, LocalFiles,
    LocalModel, LocalWarning, Lookup, Store,
};
use crate::catalog::names;

const PREFIX: &str = "models--";
/// How deep a walk of a snapshot goes (GGUF repos keep quants in one level of sub-folders).
const MAX_DEPTH: usize = 3;

/// `org/repo` -> `models--org--repo`.
fn folder_of(repo: &str) -> Option<String> {
    let parts: Vec<&str> = repo.split('/').collect();
    if parts.is_empty() || parts.len() > 2 || !parts.iter().all(|p| safe_component(p)) {
        return None;
    }
    Some(format!("{PREFIX}{}", parts.join("--")))
}

/// `models--org--repo` -> `org/repo` (huggingface_hub replaces `/` by `--`).
fn repo_of(folder: &str) -> Option<String> {
    let rest = folder.strip_prefix(PREFIX)?;
    Some(match rest.split_once("--") {
        Some((org, name)) => format!("{org}/{name}"),
        None => rest.to_string(),
    })
}

/// A model of the cache by name: `org/repo`, `org/repo:QUANT`, `org/repo/FILE.gguf` (also
/// after `hf.co/` or `https://huggingface.co/`). Repo ids match without regard to case.
pub fn find(root: &Path, name: &str, warnings: &mut Vec<LocalWarning>) -> Lookup {
    let mut s = name.trim();
    for prefix in ["https://", "http://", "huggingface.co/", "hf.co/"] {
        s = s.strip_prefix(prefix).unwrap_or(s);
    }
    let (s, quant) = match s.rsplit_once(':') {
        Some((r, q)) => (r, Some(q)),
        None => (s, None),
    };
    let parts: Vec<&str> = s.splitn(3, '/').collect();
    let (repo, file) = match parts.as_slice() {
        [org, repo] => (format!("{org}/{repo}"), None),
        [org, repo, file] => (format!("{org}/{repo}"), Some(*file)),
        _ => return Lookup::NotFound,
    };
    let Some(folder) = folder_of(&repo) else {
        return Lookup::NotFound;
    };
    let dir = root.join(&folder);
    let dir = if dir.is_dir() {
        dir
    } else {
        let want = folder.to_ascii_lowercase();
        match read_dir(root, warnings)
            .into_iter()
            .find(|e| e.file_name().to_str().map(str::to_ascii_lowercase) == Some(want.clone()))
        {
            Some(e) => e.path(),
            None => return Lookup::NotFound,
        }
    };
    let Some(repo) = dir.file_name().and_then(|f| f.to_str()).and_then(repo_of) else {
        return Lookup::NotFound;
    };
    let models = repo_models(root, &dir, &repo, warnings);
    pick(models, &repo, quant, file)
}

/// The model a repo name, a quantization or a file name picks among a repo's models.
fn pick(models: Vec<LocalModel>, repo: &str, quant: Option<&str>, file: Option<&str>) -> Lookup {
    let ggufs: Vec<&LocalModel> = models
        .iter()
        .filter(|m| matches!(m.files, LocalFiles::Gguf { .. }))
        .collect();
    let hits: Vec<&LocalModel> = if let Some(file) = file {
        let want = format!("{repo}/{file}").to_ascii_lowercase();
        ggufs
            .into_iter()
            .filter(|m| m.name.to_ascii_lowercase() == want)
            .collect()
    } else if let Some(q) = quant {
        let want = match names::quant_spelling(q) {
            names::QuantSpelling::One(c) => c,
            _ => return Lookup::NotFound,
        };
        ggufs
            .into_iter()
            .filter(|m| names::parse_model_name(&m.name).quant == Some(want))
            .collect()
    } else if let Some(st) = models
        .iter()
        .find(|m| matches!(m.files, LocalFiles::Safetensors { .. }))
    {
        vec![st]
    } else {
        ggufs
    };
    match hits.as_slice() {
        [] => Lookup::NotFound,
        [one] => Lookup::Found((*one).clone()),
        many => Lookup::Ambiguous(many.iter().map(|m| m.name.clone()).collect()),
    }
}

/// The snapshot `refs/main` names, else the only (or newest) one.
fn snapshot(dir: &Path, warnings: &mut Vec<LocalWarning>) -> Option<PathBuf> {
    let snapshots = dir.join("snapshots");
    let main = dir.join("refs").join("main");
    if main.exists() {
        match read_small(&main, "Hugging Face ref") {
            Ok(rev) if safe_component(rev.trim()) => {
                let snap = snapshots.join(rev.trim());
                if snap.is_dir() {
                    return Some(snap);
                }
                warnings.push(warn(
                    &main,
                    format!("names the snapshot {}, which is missing", snap.display()),
                ));
            }
            Ok(_) => warnings.push(warn(&main, "not a revision hash")),
            Err(w) => warnings.push(w),
        }
    }
    if !snapshots.is_dir() {
        return None;
    }
    read_dir(&snapshots, warnings)
        .into_iter()
        .filter(is_real_dir)
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

/// Files of a snapshot (links followed to files, never into folders), relative paths in order.
fn walk(
    dir: &Path,
    rel: &str,
    depth: usize,
    out: &mut Vec<(String, PathBuf)>,
    warnings: &mut Vec<LocalWarning>,
) {
    for e in read_dir(dir, warnings) {
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if is_real_dir(&e) {
            if depth < MAX_DEPTH {
                walk(&e.path(), &rel, depth + 1, out, warnings);
            }
        } else {
            out.push((rel, e.path()));
        }
    }
}

/// The models of one repo folder: a safetensors model when config.json is there, and each GGUF
/// file or complete set of shards.
fn repo_models(
    root: &Path,
    dir: &Path,
    repo: &str,
    warnings: &mut Vec<LocalWarning>,
) -> Vec<LocalModel> {
    let Some(snap) = snapshot(dir, warnings) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    walk(&snap, "", 0, &mut files, warnings);
    let model = |name: String, files: LocalFiles| LocalModel {
        store: Store::HuggingFace,
        root: root.to_path_buf(),
        name,
        files,
    };
    let mut out = Vec::new();
    if let Some((_, config)) = files.iter().find(|(rel, _)| rel == "config.json") {
        let weights: Vec<PathBuf> = files
            .iter()
            .filter(|(rel, _)| rel.ends_with(".safetensors"))
            .map(|(_, p)| p.clone())
            .collect();
        match check_file(config) {
            Ok(_) => out.push(model(
                repo.to_string(),
                LocalFiles::Safetensors {
                    config: config.clone(),
                    weights,
                },
            )),
            Err(w) => warnings.push(w),
        }
    }
    // GGUF files, shards grouped under their first: stem without the shard suffix -> shards.
    let mut sets: BTreeMap<String, Vec<(u32, u32, String, PathBuf)>> = BTreeMap::new();
    for (rel, path) in files
        .iter()
        .filter(|(rel, _)| rel.to_ascii_lowercase().ends_with(".gguf"))
    {
        let stem = &rel[..rel.len() - 5];
        let (key, no, count) = match shard_of(stem) {
            Some((no, count)) => (stem[..stem.len() - 15].to_string(), no, count),
            None => (stem.to_string(), 1, 1),
        };
        sets.entry(key)
            .or_default()
            .push((no, count, rel.clone(), path.clone()));
    }
    for (_, mut shards) in sets {
        shards.sort();
        let count = shards[0].1;
        let complete = shards.len() == count as usize
            && shards
                .iter()
                .enumerate()
                .all(|(i, s)| s.0 == i as u32 + 1 && s.1 == count);
        if !complete {
            warnings.push(warn(
                &shards[0].3,
                format!(
                    "a split GGUF of {count} parts with {} present; skipped",
                    shards.len()
                ),
            ));
            continue;
        }
        if let Some(w) = shards.iter().find_map(|s| check_file(&s.3).err()) {
            warnings.push(w);
            continue;
        }
        let name = format!("{repo}/{}", shards[0].2);
        out.push(model(
            name,
            LocalFiles::Gguf {
                paths: shards.into_iter().map(|s| s.3).collect(),
            },
        ));
    }
    out
}

/// Every model of the cache.
pub fn list(root: &Path, warnings: &mut Vec<LocalWarning>) -> Vec<LocalModel> {
    let mut out = Vec::new();
    for e in read_dir(root, warnings).into_iter().filter(is_real_dir) {
        let Some(repo) = e.file_name().to_str().and_then(repo_of) else {
            continue;
        };
        out.extend(repo_models(root, &e.path(), &repo, warnings));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names() {
        assert_eq!(
            folder_of("meta-llama/Llama-3.1-8B").unwrap(),
            "models--meta-llama--Llama-3.1-8B"
        );
        assert_eq!(folder_of("gpt2").unwrap(), "models--gpt2");
        assert!(folder_of("../x").is_none());
        assert!(folder_of("a/b/c").is_none());
        assert_eq!(repo_of("models--Qwen--Qwen3-8B").unwrap(), "Qwen/Qwen3-8B");
        assert_eq!(repo_of("models--gpt2").unwrap(), "gpt2");
        assert!(repo_of("datasets--x--y").is_none());
    }
}
