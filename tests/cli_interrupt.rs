//! An interrupted `vramplan quantize` (a real SIGINT mid-write) leaves no output file, no stray
//! temporary file, and an existing destination untouched. Needs the SmolLM2 model
//! (`VRAMPLAN_SMOLLM2_GGUF`, set by tools/test.sh).

mod smollm2;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn model() -> String {
    smollm2::path_string()
}

/// Starts a slow quantize (IQ4_XS searches 7 scales per block), interrupts it once it has
/// visibly started, and returns its exit code.
fn interrupt_quantize(out: &Path) -> Option<i32> {
    let child = Command::new(env!("CARGO_BIN_EXE_vramplan"))
        .args([
            "quantize",
            &model(),
            out.to_str().unwrap(),
            "--type",
            "IQ4_XS",
            "--allow-requantize",
            "--threads",
            "1",
            "--force",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vramplan");
    // Wait until the temporary output exists (the write is under way), then send SIGINT.
    let dir = out.parent().unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let busy = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.path() != out && e.file_name().to_string_lossy().starts_with('.'));
        if busy {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    out.status.code()
}

#[test]
fn sigint_mid_write_leaves_the_destination_untouched() {
    let dir = std::env::temp_dir().join(format!("vramplan-int-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.gguf");

    assert_eq!(
        interrupt_quantize(&out),
        Some(130),
        "an interrupt exits 130"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "nothing may be left behind: {left:?}");

    std::fs::write(&out, b"previous contents").unwrap();
    assert_eq!(interrupt_quantize(&out), Some(130));
    assert_eq!(std::fs::read(&out).unwrap(), b"previous contents");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "only the untouched destination: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
