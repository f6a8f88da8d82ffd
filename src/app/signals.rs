//! Signals. Catchable termination signals (SIGINT, SIGTERM, SIGHUP) set a flag that the long
//! commands poll, so they stop at the next check and remove their temporaries on the way out
//! (exit 130); a SIGKILL leaves a temporary that the next run removes (`vramplan::files`).
//! SIGBUS, which the kernel sends when a memory-mapped input is truncated under us, becomes a
//! one-line error and exit 1 instead of a crash.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

/// The flag set by SIGINT, SIGTERM or SIGHUP; the handler is installed on first use.
pub fn interrupted() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let setter = flag.clone();
        // ctrlc's `termination` feature covers SIGTERM and SIGHUP besides SIGINT. Failing to
        // install (another handler) only loses the clean cancellation.
        let _ = ctrlc::set_handler(move || setter.store(true, std::sync::atomic::Ordering::SeqCst));
        flag
    })
    .clone()
}

#[cfg(unix)]
extern "C" fn on_sigbus(_: libc::c_int) {
    const MSG: &[u8] = b"error: an input file was truncated or replaced while vramplan was reading it (SIGBUS); no output was written\n";
    // SAFETY: write(2) and _exit(2) are async-signal-safe; MSG is a static buffer.
    unsafe {
        libc::write(2, MSG.as_ptr().cast(), MSG.len());
        libc::_exit(1);
    }
}

/// Turns SIGBUS into a one-line error and exit 1. The inputs are memory-mapped, and a file that
/// shrinks while mapped faults on the next read of a page past its new end: there is no way to
/// resume, but the user gets a message instead of "Bus error (core dumped)", the destination is
/// untouched (outputs are renamed into place only when complete) and the next run removes the
/// temporary.
pub fn install_sigbus_guard() {
    #[cfg(unix)]
    // SAFETY: a zeroed sigaction with an empty mask and a handler that only calls
    // async-signal-safe functions; installed once at start, before any thread exists.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigbus as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
}
