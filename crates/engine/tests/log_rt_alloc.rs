//! The audio thread's side of the log never allocates: a counting allocator watches the thread
//! that pushes records. (A separate test binary, since the allocator is global.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wasio_engine::config::LogLevel;
use wasio_engine::log::{Logger, LoggerOptions, ProcessInfo, RtEvent};

struct CountingAllocator;

static ALLOCATIONS_ON_WATCHED_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    if WATCHED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS_ON_WATCHED_THREAD.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting has no effect on
// the memory returned.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn pushing_records_never_allocates_even_when_the_ring_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = LoggerOptions::new(
        dir.path().join("Wasio.log"),
        ProcessInfo {
            name: "host.exe".into(),
            pid: 1,
        },
        "0.1.0",
    );
    options.level = LogLevel::Trace;
    let logger = Logger::start(options).unwrap();
    let mut rt = logger.rt_producer(64);
    let audio = std::thread::spawn(move || {
        // The thread's own setup (its name, thread-locals) is done before watching starts.
        let _ = wasio_engine::log::portable_thread_id();
        let _ = wasio_engine::log::now_micros();
        WATCHED.with(|watched| watched.set(true));
        let mut accepted = 0u32;
        for index in 0..10_000u64 {
            let event = match index % 4 {
                0 => RtEvent::BufferSwitch {
                    index: index % 2,
                    sample_position: index,
                },
                1 => RtEvent::OutputUnderrun { frames: 32 },
                2 => RtEvent::DeviceError {
                    call: "GetBuffer",
                    hresult: -2_004_287_484,
                },
                _ => RtEvent::message(LogLevel::Debug, "fill", &[1, 2, 3, 4]),
            };
            accepted += u32::from(rt.push(event));
        }
        let _ = rt.dropped();
        WATCHED.with(|watched| watched.set(false));
        (accepted, rt.dropped())
    });
    let (accepted, dropped) = audio.join().unwrap();
    assert_eq!(u64::from(accepted) + dropped, 10_000);
    assert_eq!(ALLOCATIONS_ON_WATCHED_THREAD.load(Ordering::Relaxed), 0);
    assert!(logger.flush(Duration::from_secs(10)));
}
