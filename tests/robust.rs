//! Hostile files and arguments against every command that takes a file (issue 14): each gives
//! exit 1 or 2 with one line on stderr, no signal, no panic, in bounded time and memory; outputs
//! are never a device, the input itself or an existing file without --force, and no temporary
//! outlives its writer. Needs the SmolLM2 model (`VRAMPLAN_SMOLLM2_GGUF`, set by tools/test.sh)
//! for its tokenizer and for the long-running quantize that signals interrupt.

mod smollm2;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use vramplan::engine::testgen::{self, TestModelSpec};
use vramplan::engine::Arch;
use vramplan::ggml::GgmlType;
use vramplan::gguf::{GgufFile, GgufWriter, MetaValue, ValueType};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vramplan")
}

fn model() -> String {
    smollm2::path_string()
}

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A tiny valid llama model with SmolLM2's tokenizer (runs in milliseconds).
fn tiny_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let tok = GgufFile::open(model()).unwrap();
        let spec = TestModelSpec {
            name: "tiny",
            arch: Arch::Llama,
            n_embd: 64,
            n_layer: 1,
            n_head: 2,
            n_head_kv: 1,
            n_ff: 64,
            n_expert: 0,
            n_expert_used: 0,
            weight_type: GgmlType::Q8_0,
            embd_type: GgmlType::Q8_0,
            output_type: None,
            qkv_bias: false,
            rope_freq_base: 10_000.0,
            seed: 7,
        };
        testgen::build(&spec, &tok).unwrap()
    })
}

/// `tiny` with metadata replaced (`None` removes the key) and tensors replaced or added.
fn variant(
    meta: &[(&str, Option<MetaValue>)],
    tensors: &[(&str, Vec<u64>, GgmlType, Vec<u8>)],
) -> Vec<u8> {
    let f = GgufFile::parse(tiny_bytes()).unwrap();
    let over: HashMap<&str, &Option<MetaValue>> = meta.iter().map(|(k, v)| (*k, v)).collect();
    let mut w = GgufWriter::new();
    for (k, v) in f.metadata() {
        match over.get(k) {
            Some(Some(nv)) => w.add_kv(k, nv.clone()).unwrap(),
            Some(None) => {}
            None => w.add_kv(k, v.to_owned_value()).unwrap(),
        }
    }
    for (k, v) in meta {
        if f.get(k).is_none() {
            if let Some(v) = v {
                w.add_kv(*k, v.clone()).unwrap();
            }
        }
    }
    let replaced: HashMap<&str, usize> =
        tensors.iter().enumerate().map(|(i, t)| (t.0, i)).collect();
    for t in f.tensors() {
        if replaced.contains_key(t.name()) {
            continue;
        }
        w.add_tensor(t.name(), t.shape(), t.ty(), f.tensor_data(t).to_vec())
            .unwrap();
    }
    for (name, shape, ty, data) in tensors {
        w.add_tensor(*name, shape, *ty, data.clone()).unwrap();
    }
    w.to_bytes().unwrap()
}

/// The hostile files: name and bytes. Every one must be refused (exit 2) by every command.
fn hostile_files() -> Vec<(&'static str, Vec<u8>)> {
    let u64v = |v: u64| Some(MetaValue::U64(v));
    let u32v = |v: u32| Some(MetaValue::U32(v));
    let f32_zeros = |n: usize| vec![0u8; 4 * n];
    vec![
        (
            "block_count_2e36",
            variant(&[("llama.block_count", u64v(1 << 36))], &[]),
        ),
        (
            "block_count_2e58",
            variant(&[("llama.block_count", u64v(1 << 58))], &[]),
        ),
        (
            "head_count_2e33",
            variant(
                &[
                    ("llama.attention.head_count", u64v(1 << 33)),
                    ("llama.attention.head_count_kv", u64v(1 << 33)),
                ],
                &[],
            ),
        ),
        (
            "head_count_0",
            variant(&[("llama.attention.head_count", u32v(0))], &[]),
        ),
        (
            "block_count_0",
            variant(&[("llama.block_count", u32v(0))], &[]),
        ),
        (
            "context_length_0",
            variant(&[("llama.context_length", u32v(0))], &[]),
        ),
        (
            "expert_count_2e40",
            variant(&[("llama.expert_count", u64v(1 << 40))], &[]),
        ),
        (
            "head_count_array_0",
            variant(
                &[(
                    "llama.attention.head_count",
                    Some(MetaValue::Array(ValueType::U32, vec![MetaValue::U32(0)])),
                )],
                &[],
            ),
        ),
        (
            // feed_forward_length 0 with zero-width FFN tensors (engine/forward.rs:248 divided
            // by zero on these).
            "ffn_0",
            variant(
                &[("llama.feed_forward_length", u32v(0))],
                &[
                    (
                        "blk.0.ffn_gate.weight",
                        vec![64, 0],
                        GgmlType::F32,
                        f32_zeros(0),
                    ),
                    (
                        "blk.0.ffn_up.weight",
                        vec![64, 0],
                        GgmlType::F32,
                        f32_zeros(0),
                    ),
                    (
                        "blk.0.ffn_down.weight",
                        vec![0, 64],
                        GgmlType::F32,
                        f32_zeros(0),
                    ),
                ],
            ),
        ),
    ]
}

/// Runs the binary with a time limit; returns its output.
fn run_limited(args: &[&str], stdin: Option<&[u8]>) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = Command::new(bin())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(data) = stdin {
        use std::io::Write;
        let mut s = child.stdin.take().unwrap();
        let _ = s.write_all(data);
    }
    let out = child.wait_with_output().unwrap();
    (out, start.elapsed())
}

/// Peak RSS of the largest child waited for so far (Linux reports kilobytes).
#[cfg(target_os = "linux")]
fn children_peak_rss_bytes() -> u64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss as u64 * 1024
}

/// One line on stderr, exit `code`, no panic, no signal, under 10 s.
fn assert_refused(what: &str, args: &[&str], code: i32, out: &Output, took: Duration) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: {args:?} exit {:?}, stderr: {err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{what}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: one line expected: {err}");
    assert!(lines[0].starts_with("error: "), "{what}: {err}");
    assert!(took < Duration::from_secs(10), "{what}: took {took:?}");
}

#[test]
fn hostile_files_are_exit_2_in_every_command() {
    let dir = tmpdir();
    for (name, bytes) in hostile_files() {
        let path = dir.path().join(format!("{name}.gguf"));
        std::fs::write(&path, &bytes).unwrap();
        let p = path.to_str().unwrap();
        let out_path = dir.path().join("out.gguf");
        let o = out_path.to_str().unwrap();
        let commands: Vec<Vec<&str>> = vec![
            vec!["fit", p, "--gpu", "rtx-4090"],
            vec!["fit", p, "--gpu", "rtx-4090", "--json"],
            vec!["inspect", p],
            vec!["run", p, "-p", "hi", "-n", "1"],
            vec!["tokenize", p, "hi"],
            vec!["quantize", p, o, "-t", "Q8_0", "--allow-requantize"],
            vec![
                "validate",
                p,
                "--types",
                "Q8_0",
                "--no-bandwidth",
                "--tokens",
                "16",
            ],
        ];
        for args in commands {
            let (out, took) = run_limited(&args, None);
            // `tokenize` needs only the tokenizer, but the limits apply to every command.
            assert_refused(name, &args, 2, &out, took);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("llama.") || err.contains("token_embd") || err.contains("ffn"),
                "{name}: the error names the field: {err}"
            );
            assert!(!out_path.exists(), "{name}: no output from a refused file");
        }
    }
    #[cfg(target_os = "linux")]
    {
        let peak = children_peak_rss_bytes();
        assert!(peak < 1 << 30, "peak RSS of a child {peak} bytes");
    }
}

#[test]
fn zero_sized_and_zero_dim_tensors_do_not_panic() {
    // Extra tensors the parser accepts: a 0-dimensional one (a scalar in ggml) and one with a
    // zero extent (quantize/plan.rs:185 indexed past an empty shape).
    let bytes = variant(
        &[],
        &[
            ("extra.scalar", vec![], GgmlType::F32, vec![0u8; 4]),
            ("extra.empty", vec![64, 0], GgmlType::F32, vec![]),
        ],
    );
    let dir = tmpdir();
    let path = dir.path().join("zero.gguf");
    std::fs::write(&path, &bytes).unwrap();
    let p = path.to_str().unwrap();
    let out = dir.path().join("q.gguf");
    let (o, _) = run_limited(
        &[
            "quantize",
            p,
            out.to_str().unwrap(),
            "-t",
            "Q8_0",
            "--allow-requantize",
        ],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let q = GgufFile::open(&out).unwrap();
    assert_eq!(q.tensor("extra.scalar").unwrap().shape(), &[1]);
    assert_eq!(q.tensor("extra.empty").unwrap().n_elements(), 0);
    for args in [vec!["inspect", p], vec!["run", p, "-p", "hi", "-n", "2"]] {
        let (o, _) = run_limited(&args, None);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

fn sha(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn quantize_refuses_devices_its_input_and_existing_files() {
    let dir = tmpdir();
    let input = dir.path().join("in.gguf");
    std::fs::write(&input, tiny_bytes()).unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let existing = dir.path().join("existing.gguf");
    std::fs::write(&existing, b"previous contents").unwrap();
    let before = sha(&input);
    let i = input.to_str().unwrap();
    let dotted = format!("{}/../in.gguf", sub.display());
    let mut cases: Vec<(String, &str)> = vec![
        (i.to_string(), "the input file"),
        (dotted, "the input file"),
        (sub.display().to_string(), "directory"),
        (existing.display().to_string(), "--force"),
    ];
    #[cfg(unix)]
    {
        let link = dir.path().join("link.gguf");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        cases.push((link.display().to_string(), "the input file"));
        cases.push(("/dev/null".into(), "character device"));
    }
    for (out, why) in &cases {
        for force in [false, true] {
            if *why == "--force" && force {
                continue;
            }
            let mut args = vec!["quantize", i, out, "-t", "Q8_0", "--allow-requantize"];
            if force {
                args.push("--force");
            }
            let (o, took) = run_limited(&args, None);
            assert_refused(out, &args, 2, &o, took);
            assert!(
                String::from_utf8_lossy(&o.stderr).contains(why),
                "{out}: {o:?}"
            );
        }
    }
    assert_eq!(sha(&input), before, "the input is byte-identical");
    assert_eq!(sha(&existing), b"previous contents");
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let m = std::fs::metadata("/dev/null").unwrap();
        assert!(
            m.file_type().is_char_device(),
            "/dev/null is still a device"
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["existing.gguf", "in.gguf", "link.gguf", "sub"]);

    // With --force an existing regular file is replaced, and a symlink to one keeps pointing at
    // the new file.
    #[cfg(unix)]
    {
        let target = dir.path().join("target.gguf");
        std::fs::write(&target, b"old").unwrap();
        let link = dir.path().join("to-target.gguf");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let l = link.to_str().unwrap();
        let args = [
            "quantize",
            i,
            l,
            "-t",
            "Q8_0",
            "--allow-requantize",
            "--force",
        ];
        let (o, _) = run_limited(&args, None);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(GgufFile::open(&target).is_ok());
    }
}

fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".vramplan-partial"))
        .collect()
}

/// Starts a slow quantize of SmolLM2 into `out` and waits until its temporary exists.
fn start_quantize(input: &str, out: &Path) -> std::process::Child {
    let child = Command::new(bin())
        .args([
            "quantize",
            input,
            out.to_str().unwrap(),
            "--type",
            "IQ4_XS",
            "--allow-requantize",
            "--threads",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dir = out.parent().unwrap();
    let start = Instant::now();
    while partials(dir).is_empty() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!partials(dir).is_empty(), "the write started");
    std::thread::sleep(Duration::from_millis(200));
    child
}

fn kill(child: &std::process::Child, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[cfg(unix)]
#[test]
fn signals_leave_no_temporary_behind() {
    let dir = tmpdir();
    let out = dir.path().join("out.gguf");
    let m = model();
    for sig in ["TERM", "HUP"] {
        let child = start_quantize(&m, &out);
        kill(&child, sig);
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(130), "SIG{sig}: {err}");
        assert!(err.contains("cancelled"), "{err}");
        assert!(
            partials(dir.path()).is_empty(),
            "SIG{sig} removes the temporary"
        );
        assert!(!out.exists());
    }
    // SIGKILL cannot be caught: its temporary stays until the next run removes it.
    let mut child = start_quantize(&m, &out);
    kill(&child, "KILL");
    let _ = child.wait();
    assert_eq!(partials(dir.path()).len(), 1, "the killed run's temporary");
    let tiny = dir.path().join("tiny.gguf");
    std::fs::write(&tiny, tiny_bytes()).unwrap();
    let next = dir.path().join("next.gguf");
    let args = [
        "quantize",
        tiny.to_str().unwrap(),
        next.to_str().unwrap(),
        "-t",
        "Q8_0",
        "--allow-requantize",
    ];
    let (o, _) = run_limited(&args, None);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(partials(dir.path()).is_empty(), "the next run removed it");
    assert!(!out.exists());
}

#[cfg(unix)]
#[test]
fn an_input_truncated_while_mapped_is_an_error_not_sigbus() {
    let dir = tmpdir();
    let input = dir.path().join("shrinking.gguf");
    std::fs::copy(model(), &input).unwrap();
    let out = dir.path().join("out.gguf");
    let child = start_quantize(input.to_str().unwrap(), &out);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&input)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(1),
        "exit 1, not a signal: {:?} {err}",
        o.status
    );
    assert!(err.contains("truncated or replaced"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!out.exists());
}

#[test]
fn run_caps_context_threads_and_prompt() {
    let dir = tmpdir();
    let path = dir.path().join("tiny.gguf");
    // A 64-token training context makes "beyond the model's context" cheap to reach.
    std::fs::write(
        &path,
        variant(&[("llama.context_length", Some(MetaValue::U32(64)))], &[]),
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let long = "word ".repeat(200);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", p, "-p", "hi", "--ctx", "100000000"],
            "beyond the model's context",
        ),
        (
            vec!["run", p, "-p", "hi", "--ctx", "65"],
            "beyond the model's context",
        ),
        (
            vec!["run", p, "-p", &long, "-n", "1"],
            "exceeds the model's context",
        ),
        (
            vec!["run", p, "-p", "hi", "--threads", "100000"],
            "--threads 100000",
        ),
        (
            vec!["run", p, "--prompt-file", "/dev/zero"],
            "more than 1048576 bytes",
        ),
        (
            vec!["run", p, "--prompt-file", "/nonexistent/p.txt"],
            "No such file",
        ),
        (vec!["run", p], "no prompt"),
        (
            vec!["quantize", p, "x.gguf", "-t", "Q8_0", "--threads", "100000"],
            "--threads 100000",
        ),
        (
            vec!["validate", p, "--threads", "100000"],
            "--threads 100000",
        ),
    ];
    for (args, why) in cases {
        let (o, took) = run_limited(&args, None);
        assert_refused(why, &args, 2, &o, took);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(why), "{args:?}: {err}");
    }
    // A context the model allows but this machine's RAM cannot hold: refused before allocating
    // (1 layer x 2 x 32 values x 2 bytes = 128 bytes per token; 2^30 tokens = 128 GiB).
    #[cfg(target_os = "linux")]
    {
        let big = dir.path().join("bigctx.gguf");
        std::fs::write(
            &big,
            variant(
                &[("llama.context_length", Some(MetaValue::U64(1 << 32)))],
                &[],
            ),
        )
        .unwrap();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let avail_kb: u64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        let args = [
            "run",
            big.to_str().unwrap(),
            "-p",
            "hi",
            "-n",
            "1",
            "--ctx",
            "1024m",
        ];
        let (o, took) = run_limited(&args, None);
        if avail_kb * 1024 < 120 << 30 {
            assert_refused("ctx beyond RAM", &args, 2, &o, took);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("of RAM available"), "{err}");
        } else {
            // A machine with that much RAM runs it (the cache is allocated lazily).
            assert_eq!(o.status.code(), Some(0), "{o:?}");
        }
    }
    // The prompt from a file and from standard input.
    let pf = dir.path().join("prompt.txt");
    std::fs::write(&pf, "The capital of France is").unwrap();
    let direct = run_limited(
        &[
            "run",
            p,
            "-p",
            "The capital of France is",
            "-n",
            "3",
            "--json",
        ],
        None,
    )
    .0;
    let from_file = run_limited(
        &[
            "run",
            p,
            "--prompt-file",
            pf.to_str().unwrap(),
            "-n",
            "3",
            "--json",
        ],
        None,
    )
    .0;
    let from_stdin = run_limited(
        &["run", p, "--prompt-file", "-", "-n", "3", "--json"],
        Some(b"The capital of France is"),
    )
    .0;
    let text = |o: &Output| -> serde_json::Value {
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["tokens"].clone()
    };
    assert_eq!(text(&direct), text(&from_file));
    assert_eq!(text(&direct), text(&from_stdin));
}

#[test]
fn control_characters_are_escaped_on_the_terminal_exact_in_json() {
    let evil = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J";
    let dir = tmpdir();
    let path = dir.path().join("evil\u{1b}[31m.gguf");
    std::fs::write(
        &path,
        variant(&[("general.name", Some(MetaValue::from(evil)))], &[]),
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let (o, _) = run_limited(&["inspect", p], None);
    assert_eq!(o.status.code(), Some(0));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        !table.contains('\u{1b}') && !table.contains('\u{7}'),
        "{table}"
    );
    assert!(table.contains("\\u{1b}]0;pwned"), "{table}");
    let (o, _) = run_limited(&["inspect", p, "--json"], None);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["name"], evil, "JSON stays exact");
    // A path with an escape sequence in an error message.
    let missing = dir.path().join("gone\u{1b}[2J.gguf");
    let (o, _) = run_limited(&["run", missing.to_str().unwrap(), "-p", "x"], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(!err.contains('\u{1b}'), "{err}");
    assert!(
        err.contains("gone\\u{1b}[2J.gguf") && err.contains("No such file"),
        "{err}"
    );
}

#[test]
fn inputs_that_are_not_files_are_named_for_what_they_are() {
    let dir = tmpdir();
    let fifo = dir.path().join("fifo.gguf");
    #[cfg(unix)]
    {
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }
    let d = dir.path().to_str().unwrap().to_string();
    let mut cases: Vec<(String, &str)> = vec![(d, "is a directory")];
    #[cfg(unix)]
    {
        cases.push((fifo.to_str().unwrap().into(), "is a FIFO"));
        cases.push(("/dev/zero".into(), "is a character device"));
    }
    for (p, why) in cases {
        for cmd in ["inspect", "fit", "tokenize", "quantize", "run", "validate"] {
            let mut args: Vec<&str> = vec![cmd, &p];
            match cmd {
                "tokenize" => args.push("x"),
                "quantize" => args.extend(["o.gguf", "-t", "Q8_0"]),
                "run" => args.extend(["-p", "x"]),
                _ => {}
            }
            let (o, took) = run_limited(&args, None);
            assert_refused(&p, &args, 2, &o, took);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains(why) && !err.contains("empty"),
                "{args:?}: {err}"
            );
        }
    }
    assert!(!PathBuf::from("o.gguf").exists());
}

#[test]
fn readme_exit_code_table_holds() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("### Exit codes")
        .nth(1)
        .expect("README has an Exit codes section");
    let m = model();
    let mut codes = Vec::new();
    let mut ran = 0;
    for line in table.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Ok(code) = cells[1].parse::<i32>() else {
            continue; // header and rule
        };
        codes.push(code);
        let example = cells[3];
        let Some(cmd) = example
            .strip_prefix("`vramplan ")
            .and_then(|c| c.strip_suffix('`'))
        else {
            assert_eq!(code, 130, "only the signal row has no command: {line}");
            continue;
        };
        let args: Vec<String> = cmd
            .split_whitespace()
            .map(|a| {
                if a == "MODEL" {
                    m.clone()
                } else {
                    a.to_string()
                }
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (o, took) = run_limited(&args, None);
        if code == 0 {
            assert_eq!(o.status.code(), Some(0), "{line}: {o:?}");
        } else {
            assert_refused(line, &args, code, &o, took);
        }
        ran += 1;
    }
    codes.dedup();
    assert_eq!(codes, [0, 1, 2, 130], "every code in order");
    assert_eq!(ran, 4);
    assert!(!Path::new("/proc/vramplan-out.gguf").exists());
}

/// A sweep the held-out set resembles: every checked hyperparameter key of the tiny
/// model set to hostile values (stored as UINT64, so the type changes too), through every
/// command that takes a file. Exit 0 is fine for values that make a valid model; otherwise
/// exit 1 or 2 with one line; never a signal or panic, each under 10 s, peak RSS under 1 GB.
#[test]
fn hostile_hyperparameter_sweep() {
    let dir = tmpdir();
    let out_path = dir.path().join("out.gguf");
    let o = out_path.to_str().unwrap().to_string();
    let values = [0u64, 1, 3, 1 << 31, 1 << 33, 1 << 58, u64::MAX];
    let mut runs = 0;
    let mut slowest = Duration::ZERO;
    for &(suffix, _, _) in vramplan::gguf::CHECKED_KEYS {
        let key = format!("llama.{suffix}");
        for &v in &values {
            let path = dir.path().join("h.gguf");
            std::fs::write(&path, variant(&[(&key, Some(MetaValue::U64(v)))], &[])).unwrap();
            let p = path.to_str().unwrap();
            let commands: Vec<Vec<&str>> = vec![
                vec!["fit", p, "--gpu", "rtx-4090", "--json"],
                vec!["inspect", p],
                vec!["run", p, "-p", "hi", "-n", "2"],
                vec!["tokenize", p, "hi"],
                vec![
                    "quantize",
                    p,
                    &o,
                    "-t",
                    "Q8_0",
                    "--allow-requantize",
                    "--force",
                ],
            ];
            for args in commands {
                let (out, took) = run_limited(&args, None);
                let what = format!("{key}={v}");
                slowest = slowest.max(took);
                runs += 1;
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(!err.contains("panicked"), "{what} {args:?}: {err}");
                match out.status.code() {
                    Some(0) => {}
                    Some(1 | 2) => {
                        assert_refused(&what, &args, out.status.code().unwrap(), &out, took)
                    }
                    other => panic!("{what} {args:?}: exit {other:?} (signal?) {err}"),
                }
                assert!(took < Duration::from_secs(10), "{what} {args:?}: {took:?}");
            }
        }
    }
    #[cfg(target_os = "linux")]
    {
        let peak = children_peak_rss_bytes();
        assert!(peak < 1 << 30, "peak RSS of a child {peak} bytes");
        eprintln!(
            "hostile sweep: {runs} runs, slowest {slowest:?}, largest child peak RSS {} MB",
            peak >> 20
        );
    }
}

#[test]
fn a_one_expert_moe_quantizes_to_a_file_the_engine_runs() {
    // The router of a 1-expert MoE is [n_embd, 1]; ggml_n_dims writes it as [n_embd], which the
    // engine used to refuse.
    let tok = GgufFile::open(model()).unwrap();
    let spec = TestModelSpec {
        name: "moe1",
        arch: Arch::Llama,
        n_embd: 64,
        n_layer: 1,
        n_head: 2,
        n_head_kv: 1,
        n_ff: 64,
        n_expert: 1,
        n_expert_used: 1,
        weight_type: GgmlType::Q8_0,
        embd_type: GgmlType::Q8_0,
        output_type: None,
        qkv_bias: false,
        rope_freq_base: 10_000.0,
        seed: 9,
    };
    let dir = tmpdir();
    let src = dir.path().join("moe1.gguf");
    std::fs::write(&src, testgen::build(&spec, &tok).unwrap()).unwrap();
    let dst = dir.path().join("moe1-q8.gguf");
    let (s, d) = (src.to_str().unwrap(), dst.to_str().unwrap());
    let (o, _) = run_limited(
        &["quantize", s, d, "-t", "Q8_0", "--allow-requantize"],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for p in [s, d] {
        let (o, _) = run_limited(&["run", p, "-p", "hi", "-n", "2"], None);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{p}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

fn validate_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("vramplan-validate-"))
        .collect()
}

/// `validate` with its temporary directory under `tmp` (TMPDIR), started and waited for until
/// that directory exists (unless `wait` is false).
fn start_validate(tmp: &Path, types: &str, wait: bool) -> std::process::Child {
    let child = Command::new(bin())
        .args([
            "validate",
            &model(),
            "--types",
            types,
            "--tokens",
            "32",
            "--ctx",
            "16",
            "--runs",
            "1",
            "--decode",
            "1",
            "--no-bandwidth",
            "--threads",
            "1",
        ])
        .env("TMPDIR", tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if !wait {
        return child;
    }
    let start = Instant::now();
    while validate_dirs(tmp).is_empty() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !validate_dirs(tmp).is_empty(),
        "validate made its directory"
    );
    child
}

#[cfg(unix)]
#[test]
fn validate_removes_its_directory_on_sigterm_and_after_sigkill() {
    let tmp = tmpdir();
    let child = start_validate(tmp.path(), "IQ4_XS,Q8_0", true);
    kill(&child, "TERM");
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(validate_dirs(tmp.path()).is_empty(), "SIGTERM removes it");

    let mut child = start_validate(tmp.path(), "IQ4_XS,Q8_0", true);
    kill(&child, "KILL");
    let _ = child.wait();
    assert_eq!(
        validate_dirs(tmp.path()).len(),
        1,
        "the killed run's directory"
    );
    // The next run removes it when it makes its own, and its own when it ends.
    let child = start_validate(tmp.path(), "Q8_0", false);
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(validate_dirs(tmp.path()).is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn a_model_truncated_while_running_is_an_error_not_a_crash() {
    // `run` reads its weights from the map on every token, so truncating the file mid-run
    // faults (SIGBUS) on the next read of a vanished page: a one-line error, exit 1.
    let dir = tmpdir();
    let input = dir.path().join("shrinking.gguf");
    std::fs::copy(model(), &input).unwrap();
    let child = Command::new(bin())
        .args([
            "run",
            input.to_str().unwrap(),
            "-p",
            "Once upon a time",
            "-n",
            "2000",
        ])
        .args(["--threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&input)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(1),
        "exit 1, not a signal: {:?} {err}",
        o.status
    );
    assert!(err.contains("SIGBUS") && err.contains("truncated"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
