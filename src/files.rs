//! Files the user names. Outputs are checked before any work (never a device, FIFO, directory or
//! one of the inputs; an existing file only when the caller allows it) and written through a
//! temporary in the destination's directory whose name a later run recognizes: a writer holds an
//! advisory lock on its temporary while alive, so one that died (SIGKILL, power cut) leaves an
//! unlocked `*.vramplan-partial` that the next run removes. Text inputs are read up to a cap, so a
//! device or FIFO that never ends cannot grow memory without bound.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Suffix of every temporary file or directory vramplan creates; nothing else ends with it.
pub const TEMP_SUFFIX: &str = ".vramplan-partial";

/// Every way a file check or a bounded read can fail. All are the user's input at fault.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A destination that exists and is not a regular file (written through, a device would
    /// become a regular file).
    #[error("cannot write to `{path}`: it is {kind}, not a regular file")]
    NotRegularOutput { path: PathBuf, kind: &'static str },
    /// An input that is not a regular file.
    #[error("`{path}` is {kind}, not a regular file")]
    NotRegularInput { path: PathBuf, kind: &'static str },
    /// The destination is one of the inputs (same device and inode, links followed).
    #[error("cannot write to `{path}`: it is the input file `{input}` (choose another output)")]
    IsInput { path: PathBuf, input: PathBuf },
    /// The destination exists and the caller did not allow replacing it.
    #[error("`{path}` exists; pass --force to replace it")]
    Exists { path: PathBuf },
    /// An input file of zero bytes.
    #[error("`{path}` is empty (0 bytes)")]
    Empty { path: PathBuf },
    /// A bounded read found more than its cap.
    #[error("{what} `{path}` gives more than {max} bytes, the most accepted")]
    TooLarge {
        what: String,
        path: PathBuf,
        max: u64,
    },
    /// A text input that is not UTF-8.
    #[error("{what} `{path}` is not UTF-8 text (invalid byte at offset {offset})")]
    NotText {
        what: String,
        path: PathBuf,
        offset: usize,
    },
    /// The OS refused (the reason is kept).
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(action: &'static str, path: &Path, source: io::Error) -> FileError {
    FileError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// What a non-regular file is, in words.
fn kind_of(meta: &fs::Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        return "a directory";
    }
    if ft.is_symlink() {
        return "a symbolic link";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

/// Whether two metadata describe the same file (device and inode on Unix).
fn same_file(a: &fs::Metadata, b: &fs::Metadata, pa: &Path, pb: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = (pa, pb);
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        matches!((fs::canonicalize(pa), fs::canonicalize(pb)), (Ok(x), Ok(y)) if x == y)
    }
}

/// Checks an input: it must exist, be a regular file (links followed) and not be empty. The
/// OS reason is kept when it cannot be read.
pub fn check_input(path: &Path) -> Result<fs::Metadata, FileError> {
    let meta = fs::metadata(path).map_err(|e| io_err("open", path, e))?;
    if !meta.is_file() {
        return Err(FileError::NotRegularInput {
            path: path.to_path_buf(),
            kind: kind_of(&meta),
        });
    }
    if meta.len() == 0 {
        return Err(FileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(meta)
}

/// Checks the destination `output` before any work and returns the path to write: `output`
/// itself, or, when it is a symbolic link to a regular file, the file it points to (the link is
/// kept and its target replaced). Refused, whatever `force` says: a destination that exists and
/// is not a regular file (device, FIFO, directory, dangling link) and one that is any of `inputs`
/// (same device and inode, so `in.gguf`, `./../dir/in.gguf`, a symlink or a hard link to it are
/// all caught). An existing regular file is refused unless `force`.
pub fn check_output(output: &Path, inputs: &[&Path], force: bool) -> Result<PathBuf, FileError> {
    let link_meta = match fs::symlink_metadata(output) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // The directory it goes in must exist (the temporary is created there).
            let dir = parent_dir(output);
            return match fs::metadata(dir) {
                Ok(m) if m.is_dir() => Ok(output.to_path_buf()),
                Ok(_) => Err(io_err(
                    "write in the directory",
                    dir,
                    io::Error::other("it is not a directory"),
                )),
                Err(e) => Err(io_err("write in the directory", dir, e)),
            };
        }
        Err(e) => return Err(io_err("inspect", output, e)),
        Ok(m) => m,
    };
    let meta = match fs::metadata(output) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound && link_meta.file_type().is_symlink() => {
            return Err(FileError::NotRegularOutput {
                path: output.to_path_buf(),
                kind: "a dangling symbolic link",
            })
        }
        Err(e) => return Err(io_err("inspect", output, e)),
    };
    if !meta.is_file() {
        return Err(FileError::NotRegularOutput {
            path: output.to_path_buf(),
            kind: kind_of(&meta),
        });
    }
    for input in inputs {
        if let Ok(im) = fs::metadata(input) {
            if same_file(&im, &meta, input, output) {
                return Err(FileError::IsInput {
                    path: output.to_path_buf(),
                    input: input.to_path_buf(),
                });
            }
        }
    }
    if !force {
        return Err(FileError::Exists {
            path: output.to_path_buf(),
        });
    }
    if link_meta.file_type().is_symlink() {
        return fs::canonicalize(output).map_err(|e| io_err("resolve", output, e));
    }
    Ok(output.to_path_buf())
}

/// The directory a file is written in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(unix)]
fn try_lock(file: &File) -> bool {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a file descriptor this `File` owns for the duration of the call.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> bool {
    true
}

/// Whether `path` still names the file open as `file` (a concurrent cleaner may have removed it
/// between creation and locking).
#[cfg(unix)]
fn still_named(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_named(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// Removes the temporaries in `dir` whose writer is gone (no lock held on them): files
/// `.NAME.XXXXXX.vramplan-partial` and directories `*.vramplan-partial` (locked through their
/// `lock` file). Returns how many were removed; failures are ignored (another user's files, a
/// read-only directory). On systems without `flock` nothing is removed.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    if cfg!(not(unix)) {
        return 0;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().ends_with(TEMP_SUFFIX) {
            continue;
        }
        let path = entry.path();
        // Never follow a link planted under a temporary's name.
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let gone = if meta.is_file() {
            File::open(&path).is_ok_and(|f| try_lock(&f)) && fs::remove_file(&path).is_ok()
        } else if meta.is_dir() {
            let lock = path.join("lock");
            let unlocked = match File::open(&lock) {
                Ok(f) => try_lock(&f),
                // Killed between creating the directory and its lock: old enough to be dead.
                Err(_) => meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > 60),
            };
            unlocked && fs::remove_dir_all(&path).is_ok()
        } else {
            false
        };
        removed += usize::from(gone);
    }
    removed
}

/// Creates the temporary file a write to `dest` goes through: in `dest`'s directory (so the final
/// rename is atomic), named `.NAME.XXXXXX.vramplan-partial`, locked for as long as it is open.
/// Stale temporaries of dead writers in that directory are removed first. Dropping the returned
/// file without persisting it removes it.
pub fn temp_file_beside(dest: &Path) -> Result<tempfile::NamedTempFile, FileError> {
    let dir = parent_dir(dest);
    remove_stale_temporaries(dir);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    for _ in 0..8 {
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(TEMP_SUFFIX);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o644));
        }
        let tmp = builder
            .tempfile_in(dir)
            .map_err(|e| io_err("create a temporary file in", dir, e))?;
        if try_lock(tmp.as_file()) && still_named(tmp.as_file(), tmp.path()) {
            return Ok(tmp);
        }
    }
    Err(io_err(
        "lock a temporary file in",
        dir,
        io::Error::other("another process keeps removing it"),
    ))
}

/// `bytes` written to a [`temp_file_beside`] `dest` and synced, not yet in place: [`persist`]
/// renames it there, dropping it removes it. Several outputs staged first and persisted last are
/// all written or none.
pub fn stage(dest: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, FileError> {
    use std::io::Write;
    let mut tmp = temp_file_beside(dest)?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| io_err("write", tmp.path(), e))?;
    Ok(tmp)
}

/// Renames a [`stage`]d file into place.
pub fn persist(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<(), FileError> {
    tmp.persist(dest)
        .map(drop)
        .map_err(|e| io_err("write", dest, e.error))
}

/// Writes `bytes` to `dest` atomically: `dest` is either untouched or complete.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), FileError> {
    persist(stage(dest, bytes)?, dest)
}

/// A temporary directory named `PREFIXXXXXXX.vramplan-partial`, locked through its `lock` file
/// while this value lives and removed when it drops; a later [`TempDir::new_in`] in the same
/// parent removes those whose owner died.
#[derive(Debug)]
pub struct TempDir {
    dir: tempfile::TempDir,
    _lock: File,
}

impl TempDir {
    /// Creates one in `parent` (e.g. [`std::env::temp_dir`]) after removing stale ones there.
    pub fn new_in(parent: &Path, prefix: &str) -> Result<TempDir, FileError> {
        remove_stale_temporaries(parent);
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(TEMP_SUFFIX)
            .tempdir_in(parent)
            .map_err(|e| io_err("create a temporary directory in", parent, e))?;
        let lock_path = dir.path().join("lock");
        let lock = File::create(&lock_path).map_err(|e| io_err("create", &lock_path, e))?;
        if !try_lock(&lock) {
            return Err(io_err(
                "lock",
                &lock_path,
                io::Error::other("held by another process"),
            ));
        }
        Ok(TempDir { dir, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The most bytes [`read_text`] callers accept for a prompt (a prompt is bounded by the context
/// anyway; 1 MiB is about 250k tokens of English).
pub const MAX_PROMPT_BYTES: u64 = 1 << 20;
/// The most bytes of an evaluation text (`validate --text`).
pub const MAX_TEXT_BYTES: u64 = 16 << 20;

/// Reads UTF-8 text from `path` (`-` is standard input), at most `max` bytes: a longer file,
/// a device such as `/dev/zero` or a FIFO that keeps giving bytes is refused after reading
/// `max + 1` bytes, never read to its end. Directories are refused. `what` names the input in
/// messages (`--prompt-file`).
pub fn read_text(path: &Path, max: u64, what: &str) -> Result<String, FileError> {
    let mut buf = Vec::new();
    let too_large = || FileError::TooLarge {
        what: what.to_string(),
        path: path.to_path_buf(),
        max,
    };
    if path == Path::new("-") {
        io::stdin()
            .lock()
            .take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| io_err("read", path, e))?;
    } else {
        let meta = fs::metadata(path).map_err(|e| io_err("open", path, e))?;
        if meta.is_dir() {
            return Err(FileError::NotRegularInput {
                path: path.to_path_buf(),
                kind: "a directory",
            });
        }
        if meta.is_file() && meta.len() > max {
            return Err(too_large());
        }
        File::open(path)
            .map_err(|e| io_err("open", path, e))?
            .take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| io_err("read", path, e))?;
    }
    if buf.len() as u64 > max {
        return Err(too_large());
    }
    String::from_utf8(buf).map_err(|e| FileError::NotText {
        what: what.to_string(),
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn output_checks() {
        let d = dir();
        let input = d.path().join("in.gguf");
        fs::write(&input, b"input").unwrap();
        let out = d.path().join("out.gguf");
        // Absent: written as named; its directory must exist.
        assert_eq!(check_output(&out, &[&input], false).unwrap(), out);
        let e = check_output(&d.path().join("no/such/dir/o.gguf"), &[&input], false).unwrap_err();
        assert!(
            e.to_string().contains("cannot write in the directory")
                && e.to_string().contains("No such file"),
            "{e}"
        );
        // The input itself, by its name, through `..` and through a symlink: refused even with force.
        let sub = d.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let dotted = sub.join("..").join("in.gguf");
        for p in [input.clone(), dotted] {
            let e = check_output(&p, &[&input], true).unwrap_err();
            assert!(matches!(e, FileError::IsInput { .. }), "{e}");
        }
        #[cfg(unix)]
        {
            let link = d.path().join("link.gguf");
            std::os::unix::fs::symlink(&input, &link).unwrap();
            let e = check_output(&link, &[&input], true).unwrap_err();
            assert!(matches!(e, FileError::IsInput { .. }), "{e}");
            let e = check_output(Path::new("/dev/null"), &[&input], true).unwrap_err();
            assert!(e.to_string().contains("character device"), "{e}");
            let dangling = d.path().join("dangling.gguf");
            std::os::unix::fs::symlink(d.path().join("nowhere"), &dangling).unwrap();
            let e = check_output(&dangling, &[&input], true).unwrap_err();
            assert!(e.to_string().contains("dangling"), "{e}");
            // A link to another regular file, with force: its target is written, the link kept.
            fs::write(&out, b"old").unwrap();
            let link2 = d.path().join("link2.gguf");
            std::os::unix::fs::symlink(&out, &link2).unwrap();
            assert_eq!(
                check_output(&link2, &[&input], true).unwrap(),
                fs::canonicalize(&out).unwrap()
            );
        }
        let e = check_output(d.path(), &[&input], true).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        fs::write(&out, b"old").unwrap();
        let e = check_output(&out, &[&input], false).unwrap_err();
        assert!(matches!(e, FileError::Exists { .. }), "{e}");
        assert_eq!(check_output(&out, &[&input], true).unwrap(), out);
    }

    #[cfg(unix)]
    #[test]
    fn stale_temporaries_are_removed_live_ones_kept() {
        let d = dir();
        let dest = d.path().join("model.gguf");
        let live = temp_file_beside(&dest).unwrap();
        // A dead writer's file: nobody holds its lock.
        let dead = d.path().join(".model.gguf.abc123.vramplan-partial");
        fs::write(&dead, b"partial").unwrap();
        let other = d.path().join("keep.partial");
        fs::write(&other, b"not ours").unwrap();
        assert_eq!(remove_stale_temporaries(d.path()), 1);
        assert!(!dead.exists());
        assert!(live.path().exists(), "a live writer's temporary is kept");
        assert!(other.exists());
        let live_path = live.path().to_path_buf();
        drop(live);
        assert!(!live_path.exists());

        let t = TempDir::new_in(d.path(), "vramplan-test-").unwrap();
        fs::write(t.path().join("x"), b"x").unwrap();
        assert_eq!(remove_stale_temporaries(d.path()), 0, "locked");
        let dead_dir = d.path().join("vramplan-test-dead.vramplan-partial");
        fs::create_dir(&dead_dir).unwrap();
        fs::write(dead_dir.join("lock"), b"").unwrap();
        assert_eq!(remove_stale_temporaries(d.path()), 1);
        assert!(!dead_dir.exists());
        assert!(t.path().exists(), "a live owner's directory is kept");
        let kept = t.path().to_path_buf();
        drop(t);
        assert!(!kept.exists());
    }

    #[test]
    fn bounded_text() {
        let d = dir();
        let p = d.path().join("t.txt");
        fs::write(&p, "héllo").unwrap();
        assert_eq!(read_text(&p, 100, "--text").unwrap(), "héllo");
        let e = read_text(&p, 3, "--text").unwrap_err();
        assert!(matches!(e, FileError::TooLarge { max: 3, .. }), "{e}");
        fs::write(&p, b"ab\xffcd").unwrap();
        let e = read_text(&p, 100, "--text").unwrap_err();
        assert!(matches!(e, FileError::NotText { offset: 2, .. }), "{e}");
        let e = read_text(d.path(), 100, "--text").unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        #[cfg(target_os = "linux")]
        {
            let e = read_text(Path::new("/dev/zero"), 1 << 16, "--text").unwrap_err();
            assert!(matches!(e, FileError::TooLarge { .. }), "{e}");
        }
        let e = read_text(&d.path().join("missing"), 100, "--text").unwrap_err();
        assert!(e.to_string().contains("No such file"), "{e}");
    }

    #[test]
    fn inputs_are_described() {
        let d = dir();
        let e = check_input(d.path()).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        let p = d.path().join("empty");
        fs::write(&p, b"").unwrap();
        assert!(check_input(&p).unwrap_err().to_string().contains("empty"));
        #[cfg(target_os = "linux")]
        {
            let e = check_input(Path::new("/dev/zero")).unwrap_err();
            assert!(e.to_string().contains("character device"), "{e}");
            assert!(!e.to_string().contains("empty"), "{e}");
        }
        let e = check_input(&d.path().join("missing")).unwrap_err();
        assert!(e.to_string().contains("No such file"), "{e}");
    }
}
