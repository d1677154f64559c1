//! Proof that the real-time thread does not allocate.
//!
//! [`CountingAllocator`] wraps the global allocator and counts every allocator call (alloc,
//! alloc_zeroed, realloc and dealloc) made by a thread while it is inside a real-time section
//! ([`enter_rt`]). The audio callback enters a section for its whole body; tests and debug builds
//! then check that [`rt_allocations`] stayed 0.
//!
//! The driver installs the allocator in debug builds and the tests install it with
//! `#[global_allocator]`. Without it the sections still work but nothing is counted:
//! [`rt_allocations`] stays 0 and [`counting_allocator_installed`] says false.
//!
//! The bookkeeping itself never allocates: the per-thread state is a const-initialized
//! `Cell<u32>` (no lazy initialization, no destructor) and the counter a static atomic. That
//! holds on x86_64-pc-windows-gnu too, whose std has no native TLS: the tests pass there under
//! Wine (an allocating thread-local would recurse into the allocator and overflow the stack).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static RT_ALLOCATOR_CALLS: AtomicU64 = AtomicU64::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Nesting depth of real-time sections on this thread; 0 = not real-time.
    static RT_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Whether the current thread is inside a real-time section.
pub fn in_rt() -> bool {
    RT_DEPTH.try_with(|depth| depth.get() > 0).unwrap_or(false)
}

/// Allocator calls made inside real-time sections since start or the last [`reset`].
pub fn rt_allocations() -> u64 {
    RT_ALLOCATOR_CALLS.load(Ordering::Relaxed)
}

/// Sets the real-time allocation count back to 0.
pub fn reset() {
    RT_ALLOCATOR_CALLS.store(0, Ordering::Relaxed);
}

/// Whether a [`CountingAllocator`] has served any allocation in this process.
pub fn counting_allocator_installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// A real-time section on the current thread; it ends when dropped. Not `Send`: it belongs to
/// the thread that entered it.
#[must_use = "the real-time section ends when this guard is dropped"]
pub struct RtSection {
    _not_send: PhantomData<*const ()>,
}

/// Marks the current thread as real-time until the returned guard is dropped. Sections nest.
pub fn enter_rt() -> RtSection {
    let _ = RT_DEPTH.try_with(|depth| depth.set(depth.get().saturating_add(1)));
    RtSection {
        _not_send: PhantomData,
    }
}

impl Drop for RtSection {
    fn drop(&mut self) {
        let _ = RT_DEPTH.try_with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// Runs `f` with real-time accounting suspended on this thread, for calls into host code whose
/// allocations are not ours (e.g. the ASIO `bufferSwitch` callback). Sections entered inside `f`
/// count again. The previous state is restored even if `f` panics.
pub fn outside_rt<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            let saved = self.0;
            let _ = RT_DEPTH.try_with(|depth| depth.set(saved));
        }
    }
    let saved = RT_DEPTH.try_with(|depth| depth.replace(0)).unwrap_or(0);
    let _restore = Restore(saved);
    f()
}

/// A [`GlobalAlloc`] that forwards to `A` and counts calls made inside real-time sections.
pub struct CountingAllocator<A: GlobalAlloc>(pub A);

impl<A: GlobalAlloc> CountingAllocator<A> {
    #[inline]
    fn record(&self) {
        if !INSTALLED.load(Ordering::Relaxed) {
            INSTALLED.store(true, Ordering::Relaxed);
        }
        if in_rt() {
            RT_ALLOCATOR_CALLS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// SAFETY: every method forwards to the wrapped allocator with the caller's arguments unchanged,
// so `A`'s guarantees carry over; the bookkeeping neither allocates nor touches the memory.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.record();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.record();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.record();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.record();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.0.dealloc(ptr, layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unit-test binary does not install the allocator: sections work, nothing is counted.
    #[test]
    fn without_the_allocator_nothing_is_counted() {
        assert!(!in_rt());
        let section = enter_rt();
        assert!(in_rt());
        let v = std::hint::black_box(vec![1u8; 64]);
        drop(v);
        drop(section);
        assert!(!in_rt());
        assert_eq!(rt_allocations(), 0);
        assert!(!counting_allocator_installed());
    }
}
