//! Every thread the driver starts, accounted for process-wide, so that the DLL can tell COM
//! when none of its code runs any more (`DllCanUnloadNow`). A thread still running in an
//! unloaded DLL crashes the host.
//!
//! Rules: start threads with [`spawn`] only; it counts the thread from before it exists until
//! its closure has returned. The [`DriverThread`] handle is never detached: it is joined, or,
//! when it cannot be (a thread would join itself, or a thread that runs the host's callback
//! must not be waited for), *adopted*: kept in a process-wide list until the OS reports the
//! thread gone, when [`reap`] joins it. So no thread is ever still on its way out of the DLL
//! (after the count went down, std's thread epilogue still runs DLL code) when the DLL says
//! it may be unloaded. (Pinning the module with `GetModuleHandleExW` and leaving through
//! `FreeLibraryAndExitThread` would skip std's own thread epilogue; keeping the handle and
//! asking the OS whether the thread is gone is exact and needs no OS code here.)

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::{JoinHandle, Thread};

/// Threads started by [`spawn`] whose closure has not returned yet.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Handles of threads nobody could join; joined by [`reap`] once they have ended.
static ADOPTED: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

fn adopted() -> std::sync::MutexGuard<'static, Vec<JoinHandle<()>>> {
    // Plain pushes and drains: a poisoned list is still consistent.
    ADOPTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Decrements [`LIVE`] when dropped: the last thing a counted thread's closure does.
struct Counted;

impl Drop for Counted {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Threads of this process started by [`spawn`] that are still running their closure.
pub fn live() -> usize {
    LIVE.load(Ordering::Acquire)
}

/// Adopted threads not joined yet.
pub fn adopted_count() -> usize {
    adopted().len()
}

/// Starts a named, counted thread.
pub fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<DriverThread> {
    // Counted before it exists: DllCanUnloadNow never sees a gap between spawn and run.
    LIVE.fetch_add(1, Ordering::AcqRel);
    let counted = Counted;
    // On failure std drops the closure, and with it `counted`.
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _counted = counted;
            f();
        })?;
    Ok(DriverThread {
        handle: Some(handle),
    })
}

/// Joins every adopted thread that `ended` says has ended; returns how many are left.
/// `ended` must only say true once the OS thread is gone or about to be (the DLL asks
/// Windows with a zero-timeout wait on the thread handle; `JoinHandle::is_finished` is
/// enough elsewhere), since the join waits for it.
pub fn reap(ended: impl Fn(&JoinHandle<()>) -> bool) -> usize {
    let mut list = adopted();
    let mut index = 0;
    while index < list.len() {
        if ended(&list[index]) {
            // A panic in the thread was caught already at its boundary; nothing to report.
            let _ = list.swap_remove(index).join();
        } else {
            index += 1;
        }
    }
    list.len()
}

/// Whether no driver thread runs: none counted, and every adopted one joined.
pub fn all_ended(ended: impl Fn(&JoinHandle<()>) -> bool) -> bool {
    // Adopted first: a thread is adopted while it still counts as live.
    reap(ended) == 0 && live() == 0
}

/// A driver thread's handle. Dropping it without [`DriverThread::join`] adopts the thread
/// (it is never detached).
pub struct DriverThread {
    handle: Option<JoinHandle<()>>,
}

impl DriverThread {
    pub fn thread(&self) -> Option<&Thread> {
        self.handle.as_ref().map(JoinHandle::thread)
    }

    /// Whether the caller is this thread.
    pub fn is_current(&self) -> bool {
        self.thread()
            .is_some_and(|thread| thread.id() == std::thread::current().id())
    }

    /// Whether its closure has returned.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the thread to end; called on the thread itself, adopts it instead.
    /// Returns whether it was joined.
    pub fn join(mut self) -> bool {
        match self.handle.take() {
            Some(handle) if handle.thread().id() == std::thread::current().id() => {
                adopted().push(handle);
                false
            }
            Some(handle) => {
                let _ = handle.join();
                true
            }
            None => true,
        }
    }
}

impl Drop for DriverThread {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            adopted().push(handle);
        }
    }
}

impl std::fmt::Debug for DriverThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverThread")
            .field("name", &self.thread().and_then(Thread::name))
            .finish()
    }
}
