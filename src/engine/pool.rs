//! A small persistent thread pool for the forward pass, synchronized as ggml-cpu's threadpool
//! is: the workers are started once per session, every parallel region is one broadcast of a
//! closure to all threads (the caller is thread 0), the workers spin on an epoch counter for a
//! while before they park on a condition variable, and the caller spins until they are done.
//!
//! Decoding runs ~80 short regions per token (each 50-300 µs); waking parked threads through
//! the kernel for each of them (rayon's sleep/wake) left the cores idle for a sizeable part of a
//! token. Work inside a region is split by the caller: statically into one even range per
//! thread ([`Pool::range`]) or dynamically in chunks taken from an atomic counter
//! ([`Pool::chunks`]).

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a waiting thread spins before it parks while the machine is quiet: long enough to
/// bridge the serial pieces between regions (a few µs), a region's tail and the gap between two
/// decoded tokens.
fn spin_max() -> Duration {
    static US: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    Duration::from_micros(*US.get_or_init(|| {
        std::env::var("VRAMPLAN_SPIN_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200)
    }))
}

/// The spin of a thread whose recent waits were often long.
const SPIN_MIN: Duration = Duration::from_micros(5);

/// The spin budget of one waiting thread, from how its recent waits went. On a busy machine
/// (other processes on the same cores) a thread that spins while its partner is descheduled
/// burns the time slice the partner needs: decoding ran 5x slower with a 1 ms spin there, and
/// llama.cpp's always-spinning pool 10x slower. So a thread whose waits are often long (an
/// exponential average over about 16 waits above 1/8) only spins briefly, and parks; it spins
/// fully again once most waits are short.
#[derive(Debug, Default, Clone, Copy)]
struct Backoff {
    /// Fraction of recent waits longer than [`spin_max`] (spinning would not have bridged
    /// them), in 1/65536.
    long: u32,
}

impl Backoff {
    fn limit(self) -> Duration {
        if self.long > 65536 / 8 {
            SPIN_MIN
        } else {
            spin_max()
        }
    }

    fn record(&mut self, waited: Duration) {
        let x = if waited > spin_max() { 65536 } else { 0 };
        self.long = self.long - self.long / 16 + x / 16;
    }
}

/// Chunks per thread of a one-token product ([`decode_part`]), handed out on demand (as
/// ggml-cpu's `current_chunk`): a thread that finished early takes over work of one that the OS
/// or the hypervisor slowed. On the shared 2-vCPU VM, ~1B model, tg128 2 threads, 8 alternating
/// runs: Q6_K 36.6 (26.1-40.4) tok/s with one range per thread, 38.5 (35.6-47.8) with 4 chunks;
/// Q4_K_M 47.7 -> 51.2 (session 8, on a quieter host: no change, median ratio 0.999).
/// `VRAMPLAN_DECODE_CHUNKS` overrides.
pub(crate) fn decode_chunks() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::env::var("VRAMPLAN_DECODE_CHUNKS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4)
            .max(1)
    })
}

/// Spins until `ready()`, then parks on `cv` (counted in `parked`) once `backoff`'s limit has
/// passed. Whoever makes `ready()` true must check `parked` afterwards (both `SeqCst`) and
/// notify `cv` under `lock` when it is non-zero, so no wake-up is lost.
fn wait(
    ready: impl Fn() -> bool,
    lock: &Mutex<()>,
    cv: &Condvar,
    parked: &AtomicUsize,
    backoff: &mut Backoff,
) {
    if ready() {
        backoff.record(Duration::ZERO);
        return;
    }
    let start = Instant::now();
    let limit = backoff.limit();
    let mut spins = 0u32;
    while !ready() {
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(64) && start.elapsed() > limit {
            let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
            parked.fetch_add(1, Ordering::SeqCst);
            while !ready() {
                g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            parked.fetch_sub(1, Ordering::SeqCst);
            break;
        }
        std::hint::spin_loop();
    }
    backoff.record(start.elapsed());
}

/// Wakes the threads parked in [`wait`] on `cv`, if any.
fn notify(lock: &Mutex<()>, cv: &Condvar, parked: &AtomicUsize) {
    if parked.load(Ordering::SeqCst) > 0 {
        let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
        cv.notify_all();
    }
}

/// A value alone on its cache line (the workers poll the epoch while the caller writes `pending`).
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

/// The job of the current region: a closure called with the thread index.
type Job<'a> = &'a (dyn Fn(usize) + Sync);

struct Shared {
    epoch: Padded<AtomicUsize>,
    pending: Padded<AtomicUsize>,
    /// The next chunk for [`Pool::chunks`].
    next: Padded<AtomicUsize>,
    /// Points at the [`Job`] of the current region (on the stack of [`Pool::run`]).
    job: AtomicPtr<()>,
    /// Workers parked waiting for a region, and their wake-up.
    sleepers: AtomicUsize,
    wake: Condvar,
    lock: Mutex<()>,
    /// The caller parked waiting for the workers to finish, and its wake-up.
    caller_parked: AtomicUsize,
    /// The caller's [`Backoff`] (only the thread inside [`Pool::run`] touches it).
    caller_backoff: AtomicU32,
    done: Condvar,
    done_lock: Mutex<()>,
    quit: AtomicBool,
    panicked: AtomicBool,
}

/// A pool of `threads - 1` workers plus the calling thread.
pub(crate) struct Pool {
    threads: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads)
            .finish()
    }
}

thread_local! {
    /// The pool [`Pool::install`] made current on this thread.
    static CURRENT: Cell<Option<*const Pool>> = const { Cell::new(None) };
}

impl Pool {
    /// Starts `threads - 1` workers (`threads` at least 1).
    pub(crate) fn new(threads: usize) -> std::io::Result<Pool> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            epoch: Padded(AtomicUsize::new(0)),
            pending: Padded(AtomicUsize::new(0)),
            next: Padded(AtomicUsize::new(0)),
            job: AtomicPtr::new(std::ptr::null_mut()),
            sleepers: AtomicUsize::new(0),
            wake: Condvar::new(),
            lock: Mutex::new(()),
            caller_parked: AtomicUsize::new(0),
            caller_backoff: AtomicU32::new(0),
            done: Condvar::new(),
            done_lock: Mutex::new(()),
            quit: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
        });
        let mut workers = Vec::with_capacity(threads - 1);
        for tid in 1..threads {
            let s = Arc::clone(&shared);
            let h = std::thread::Builder::new()
                .name(format!("vramplan-{tid}"))
                .spawn(move || worker(&s, tid));
            match h {
                Ok(h) => workers.push(h),
                Err(e) => {
                    // Stop the workers already started before reporting.
                    drop(Pool {
                        threads: workers.len() + 1,
                        shared,
                        workers,
                    });
                    return Err(e);
                }
            }
        }
        Ok(Pool {
            threads,
            shared,
            workers,
        })
    }

    /// Threads of the pool, the caller included.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` with this pool current on this thread (see [`with_current`]).
    pub(crate) fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        let prev = CURRENT.with(|c| c.replace(Some(self as *const Pool)));
        struct Restore(Option<*const Pool>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(prev);
        f()
    }

    /// Calls `f(tid)` on every thread (`tid` in `0..threads`, the caller is 0) and returns when
    /// all calls have returned. A panic in any call is re-raised here.
    pub(crate) fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.threads == 1 {
            f(0);
            return;
        }
        let s = &*self.shared;
        // The workers read `f` through this pointer; `run` waits below until every one of them
        // is done (`pending` back to 0), so both outlive their uses.
        let job: Job<'_> = f;
        s.job
            .store(&job as *const Job<'_> as *mut (), Ordering::Relaxed);
        s.next.0.store(self.threads, Ordering::Relaxed);
        s.pending.0.store(self.threads - 1, Ordering::Relaxed);
        s.epoch.0.fetch_add(1, Ordering::SeqCst);
        notify(&s.lock, &s.wake, &s.sleepers);
        let mine = catch_unwind(AssertUnwindSafe(|| f(0)));
        let mut backoff = Backoff {
            long: s.caller_backoff.load(Ordering::Relaxed),
        };
        wait(
            || s.pending.0.load(Ordering::SeqCst) == 0,
            &s.done_lock,
            &s.done,
            &s.caller_parked,
            &mut backoff,
        );
        s.caller_backoff.store(backoff.long, Ordering::Relaxed);
        s.job.store(std::ptr::null_mut(), Ordering::Relaxed);
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        if s.panicked.swap(false, Ordering::AcqRel) {
            panic!("a worker thread of the engine's pool panicked");
        }
    }

    /// Calls `f(i)` for every chunk `i` in `0..n_chunks`, the chunks handed out on demand
    /// (thread `tid` takes chunk `tid` first, as ggml does). Call inside [`Pool::run`] on every
    /// thread; the counter is reset by each `run`.
    pub(crate) fn chunks(&self, tid: usize, n_chunks: usize, mut f: impl FnMut(usize)) {
        let mut i = tid;
        while i < n_chunks {
            f(i);
            i = self.shared.next.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A mutable slice that the threads of one region write in disjoint parts.
pub(crate) struct SharedMut<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: it hands out only what `slice`'s callers promise are disjoint parts of one `&mut [T]`.
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    pub(crate) fn new(s: &mut [T]) -> SharedMut<T> {
        SharedMut {
            ptr: s.as_mut_ptr(),
            len: s.len(),
        }
    }

    /// Elements `r` of the slice.
    ///
    /// # Safety
    /// No two live results may overlap, and none may outlive the slice given to [`Self::new`].
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, r: std::ops::Range<usize>) -> &mut [T] {
        assert!(
            r.start <= r.end && r.end <= self.len,
            "{r:?} of {}",
            self.len
        );
        // SAFETY: in bounds (checked above); disjointness and lifetime are the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) }
    }
}

/// Thread `tid` of `nth`'s share of `0..n`, bounds aligned to `align`.
pub(crate) fn split(tid: usize, nth: usize, n: usize, align: usize) -> std::ops::Range<usize> {
    let align = align.max(1);
    let units = n.div_ceil(align);
    let lo = (units * tid / nth * align).min(n);
    let hi = (units * (tid + 1) / nth * align).min(n);
    lo..hi
}

/// Part `i` of the `nth` x [`decode_chunks`] parts of a one-token product over `0..n`: [`guided`]
/// or, with `VRAMPLAN_DECODE_GUIDED=0`, equal parts. ~1B, tg128 2 threads, 6 alternating runs on
/// the VM: Q4_K_M guided ahead in all six (median +2.5%), Q6_K level within the noise (-1%).
pub(crate) fn decode_part(i: usize, nth: usize, n: usize, align: usize) -> std::ops::Range<usize> {
    static G: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let rounds = decode_chunks();
    if *G.get_or_init(|| std::env::var("VRAMPLAN_DECODE_GUIDED").map_or(true, |v| v != "0")) {
        guided(i, nth, rounds, n, align)
    } else {
        split(i, nth * rounds, n, align)
    }
}

/// Chunk `i` of `0..n` in `rounds` rounds of `nth` chunks, each round's chunks half the size of the
/// previous round's (the last two rounds equal), bounds aligned to `align`: handed out in order, the
/// big chunks keep long sequential streams, the small last ones leave little for one thread to
/// finish while the other waits (OpenMP's guided schedule).
pub(crate) fn guided(
    i: usize,
    nth: usize,
    rounds: usize,
    n: usize,
    align: usize,
) -> std::ops::Range<usize> {
    let align = align.max(1);
    let units = n.div_ceil(align);
    let rounds = rounds.max(1);
    // Boundaries in integer fractions of the whole: `whole` = 2^(rounds-1) shares, each split
    // between the `nth` chunks of its round.
    let whole = 1usize << (rounds - 1);
    let at = |k: usize| -> usize {
        let (j, pos) = (k / nth, k % nth);
        if j >= rounds {
            return units;
        }
        // Round j's size is whole >> (j + 1), the last round's 1 (as the one before it), so the
        // rounds before j cover whole - whole >> j.
        let before = whole - (whole >> j);
        let size = if j + 1 == rounds { 1 } else { whole >> (j + 1) };
        let frac_num = (before * nth + pos * size) as u128;
        (units as u128 * frac_num / (whole as u128 * nth as u128)) as usize
    };
    let lo = (at(i) * align).min(n);
    let hi = (at(i + 1) * align).min(n);
    lo..hi
}

/// `f(tid, i, chunk)` for every `size`-element chunk `i` of `out` (the last may be shorter) on
/// thread `tid` of the current pool, the chunks handed out on demand, or serially (thread 0)
/// without one.
pub(crate) fn for_chunks_mut<T: Send>(
    out: &mut [T],
    size: usize,
    f: impl Fn(usize, usize, &mut [T]) + Sync,
) {
    let size = size.max(1);
    let n_chunks = out.len().div_ceil(size);
    let len = out.len();
    with_current(|p| match p {
        Some(p) if p.threads() > 1 && n_chunks > 1 => {
            let y = SharedMut::new(out);
            p.run(&|tid| {
                p.chunks(tid, n_chunks, |i| {
                    // SAFETY: each chunk index is handed out once; chunks are disjoint.
                    f(tid, i, unsafe {
                        y.slice(i * size..((i + 1) * size).min(len))
                    });
                });
            });
        }
        _ => {
            for (i, c) in out.chunks_mut(size).enumerate() {
                f(0, i, c);
            }
        }
    });
}

/// Runs `f` with the pool [`Pool::install`] made current on this thread, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Pool>) -> R) -> R {
    let p = CURRENT.with(Cell::get);
    // SAFETY: `install` keeps the pool borrowed for as long as the pointer is current, and
    // restores the previous value before the borrow ends.
    f(p.map(|p| unsafe { &*p }))
}

fn worker(s: &Shared, tid: usize) {
    let mut seen = 0usize;
    let mut backoff = Backoff::default();
    loop {
        wait(
            || s.quit.load(Ordering::SeqCst) || s.epoch.0.load(Ordering::SeqCst) != seen,
            &s.lock,
            &s.wake,
            &s.sleepers,
            &mut backoff,
        );
        if s.quit.load(Ordering::Acquire) {
            return;
        }
        seen = s.epoch.0.load(Ordering::Acquire);
        let job = s.job.load(Ordering::Relaxed) as *const Job<'_>;
        if !job.is_null() {
            // SAFETY: the pointer was stored before the epoch this worker acquired, and the
            // caller of `run` keeps the job alive until `pending` reaches 0, which this worker's
            // decrement below is part of.
            let f = unsafe { *job };
            if catch_unwind(AssertUnwindSafe(|| f(tid))).is_err() {
                s.panicked.store(true, Ordering::Release);
            }
        }
        if s.pending.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            notify(&s.done_lock, &s.done, &s.caller_parked);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.quit.store(true, Ordering::SeqCst);
        {
            let _g = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stops_spinning_when_waits_are_often_long_and_recovers() {
        let mut b = Backoff::default();
        assert_eq!(b.limit(), spin_max());
        for _ in 0..4 {
            b.record(spin_max() * 2);
        }
        assert_eq!(b.limit(), SPIN_MIN);
        for _ in 0..64 {
            b.record(Duration::from_micros(3));
        }
        assert_eq!(b.limit(), spin_max());
    }

    #[test]
    fn split_covers_every_row_once_on_aligned_bounds() {
        for n in [0, 1, 15, 16, 17, 100, 2048, 8195] {
            for nth in 1..=5 {
                let mut next = 0;
                for tid in 0..nth {
                    let r = split(tid, nth, n, 16);
                    assert_eq!(r.start, next, "n {n} nth {nth}");
                    assert!(r.start.is_multiple_of(16) || r.start == n);
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn guided_chunks_cover_every_row_once_and_shrink() {
        for n in [0, 1, 15, 16, 17, 100, 2048, 8195, 49152] {
            for nth in 1..=5 {
                for rounds in 1..=5 {
                    let mut next = 0;
                    let nc = nth * rounds;
                    for i in 0..nc {
                        let r = guided(i, nth, rounds, n, 16);
                        assert_eq!(r.start, next, "n {n} nth {nth} rounds {rounds} i {i}");
                        assert!(r.start.is_multiple_of(16) || r.start == n);
                        next = r.end;
                    }
                    assert_eq!(next, n, "n {n} nth {nth} rounds {rounds}");
                }
            }
        }
        // 2 threads, 4 rounds of 2048 rows: 512, 512, 256, 256, 128, 128, 128, 128.
        let sizes: Vec<usize> = (0..8).map(|i| guided(i, 2, 4, 2048, 16).len()).collect();
        assert_eq!(sizes, [512, 512, 256, 256, 128, 128, 128, 128]);
    }

    #[test]
    fn every_thread_runs_each_region_and_chunks_are_taken_once() {
        let pool = Pool::new(3).unwrap();
        for round in 0..200 {
            let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
            let chunks: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
            pool.run(&|tid| {
                hits[tid].fetch_add(1, Ordering::Relaxed);
                pool.chunks(tid, chunks.len(), |i| {
                    chunks[i].fetch_add(1, Ordering::Relaxed);
                });
            });
            assert!(
                hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                "{round}"
            );
            assert!(chunks.iter().all(|c| c.load(Ordering::Relaxed) == 1));
            if round == 100 {
                // Long enough for the workers to park: they must wake for the next region.
                std::thread::sleep(spin_max() * 3);
            }
        }
    }

    #[test]
    fn a_panicking_worker_is_reported_and_the_pool_still_works() {
        let pool = Pool::new(2).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(&|tid| assert_ne!(tid, 1, "worker fails"));
        }));
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        pool.run(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn install_makes_the_pool_current_and_restores() {
        let pool = Pool::new(1).unwrap();
        assert!(with_current(|p| p.is_none()));
        pool.install(|| assert_eq!(with_current(|p| p.map(Pool::threads)), Some(1)));
        assert!(with_current(|p| p.is_none()));
    }
}
