//! Ollama's model store: `manifests/HOST/NAMESPACE/MODEL/TAG` JSON manifests (OCI image manifest
//! shape: `{"schemaVersion": 2, "config": {...}, "layers": [{"mediaType", "digest", "size"}]}`)
//! whose layer of media type `application/vnd.ollama.image.model` names the GGUF blob
//! `blobs/sha256-<hex>` (ollama server/internal/manifest documents the layers).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{
    check_file, is_real_dir, read_dir, read_small, safe_component, warn, LocalFiles, LocalModel,
    LocalWarning, Store,
};

const DEFAULT_HOST: &str = "registry.ollama.ai";
const DEFAULT_NAMESPACE: &str = "library";
const MODEL_MEDIA_TYPE: &str = "application/vnd.ollama.image.model";

#[derive(Deserialize)]
struct Manifest {
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
struct Layer {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
}

/// `[HOST/][NAMESPACE/]MODEL[:TAG]` -> the manifest's path components, as Ollama fills them in
/// (`registry.ollama.ai`, `library`, `latest`); `None` for text that cannot be such a name.
fn manifest_parts(name: &str) -> Option<[String; 4]> {
    let (path, tag) = match name.rsplit_once(':') {
        Some((p, t)) => (p, t),
        None => (name, "latest"),
    };
    let parts: Vec<&str> = path.split('/').collect();
    let (host, ns, model) = match parts.as_slice() {
        [m] => (DEFAULT_HOST, DEFAULT_NAMESPACE, *m),
        [n, m] => (DEFAULT_HOST, *n, *m),
        [h, n, m] => (*h, *n, *m),
        _ => return None,
    };
    [host, ns, model, tag]
        .iter()
        .all(|c| safe_component(c))
        .then(|| [host, ns, model, tag].map(str::to_string))
}

/// The name Ollama shows for a manifest: `llama3.1:8b`, `user/model:tag`, `hf.co/org/repo:Q4_K_M`.
fn display_name(host: &str, ns: &str, model: &str, tag: &str) -> String {
    match (host == DEFAULT_HOST, ns == DEFAULT_NAMESPACE) {
        (true, true) => format!("{model}:{tag}"),
        (true, false) => format!("{ns}/{model}:{tag}"),
        _ => format!("{host}/{ns}/{model}:{tag}"),
    }
}

/// The model named `name`, when its manifest is in the store. A manifest that is there but
/// broken (garbled, no model layer, missing blob) is a warning and no model.
pub fn find(root: &Path, name: &str, warnings: &mut Vec<LocalWarning>) -> Option<LocalModel> {
    let parts = manifest_parts(name)?;
    // Ollama writes names in lower case; people type `Llama3.1`.
    let mut candidates = vec![parts.clone()];
    let lower = parts.clone().map(|p| p.to_ascii_lowercase());
    if lower != parts {
        candidates.push(lower);
    }
    for [host, ns, model, tag] in candidates {
        let path = root
            .join("manifests")
            .join(&host)
            .join(&ns)
            .join(&model)
            .join(&tag);
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let shown = display_name(&host, &ns, &model, &tag);
        return match model_blob(root, &path) {
            Ok(blob) => Some(LocalModel {
                store: Store::Ollama,
                root: root.to_path_buf(),
                name: shown,
                files: LocalFiles::Gguf { paths: vec![blob] },
            }),
            Err(w) => {
                warnings.push(w);
                None
            }
        };
    }
    None
}

/// The GGUF blob a manifest names, checked to be a regular file.
fn model_blob(root: &Path, manifest: &Path) -> Result<PathBuf, LocalWarning> {
    let text = read_small(manifest, "Ollama manifest")?;
    let parsed: Manifest = serde_json::from_str(&text)
        .map_err(|e| warn(manifest, format!("not an Ollama manifest: {e}")))?;
    let layer = parsed
        .layers
        .iter()
        .find(|l| l.media_type == MODEL_MEDIA_TYPE)
        .ok_or_else(|| {
            warn(
                manifest,
                format!("no layer of media type {MODEL_MEDIA_TYPE}"),
            )
        })?;
    let hex = layer
        .digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            warn(
                manifest,
                format!(
                    "model layer digest `{}` is not sha256:<64 hex digits>",
                    short(&layer.digest)
                ),
            )
        })?;
    let blob = root.join("blobs").join(format!("sha256-{hex}"));
    if std::fs::symlink_metadata(&blob).is_err() {
        return Err(warn(
            manifest,
            format!("its model blob {} is missing", blob.display()),
        ));
    }
    check_file(&blob)?;
    Ok(blob)
}

/// At most 80 characters of text from a hostile file, for a message.
fn short(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push_str("...");
    }
    out.escape_default().to_string()
}

/// Every manifest of the store whose model blob is there.
pub fn list(root: &Path, warnings: &mut Vec<LocalWarning>) -> Vec<LocalModel> {
    let manifests = root.join("manifests");
    if !manifests.is_dir() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let names = |e: &std::fs::DirEntry| e.file_name().to_str().map(str::to_string);
    for host in read_dir(&manifests, warnings)
        .into_iter()
        .filter(is_real_dir)
    {
        for ns in read_dir(&host.path(), warnings)
            .into_iter()
            .filter(is_real_dir)
        {
            for model in read_dir(&ns.path(), warnings)
                .into_iter()
                .filter(is_real_dir)
            {
                for tag in read_dir(&model.path(), warnings) {
                    let (Some(h), Some(n), Some(m), Some(t)) =
                        (names(&host), names(&ns), names(&model), names(&tag))
                    else {
                        continue;
                    };
                    let shown = display_name(&h, &n, &m, &t);
                    match model_blob(root, &tag.path()) {
                        Ok(blob) => out.push(LocalModel {
                            store: Store::Ollama,
                            root: root.to_path_buf(),
                            name: shown,
                            files: LocalFiles::Gguf { paths: vec![blob] },
                        }),
                        Err(w) => warnings.push(w),
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            manifest_parts("llama3.1:8b").unwrap(),
            ["registry.ollama.ai", "library", "llama3.1", "8b"]
        );
        assert_eq!(manifest_parts("phi4").unwrap()[3], "latest");
        assert_eq!(
            manifest_parts("hf.co/bartowski/Qwen3-8B-GGUF:Q4_K_M").unwrap(),
            ["hf.co", "bartowski", "Qwen3-8B-GGUF", "Q4_K_M"]
        );
        assert!(manifest_parts("../../etc:passwd").is_none());
        assert!(manifest_parts("Mixtral 8x7B").is_none());
        assert!(manifest_parts("a/b/c/d").is_none());
        assert_eq!(
            display_name("registry.ollama.ai", "library", "llama3.1", "8b"),
            "llama3.1:8b"
        );
        assert_eq!(
            display_name("hf.co", "bartowski", "X-GGUF", "Q4_K_M"),
            "hf.co/bartowski/X-GGUF:Q4_K_M"
        );
    }
}
