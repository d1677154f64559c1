//! The audio thread's side of the log never allocates (nor frees): the engine's counting
//! allocator watches the thread that pushes records as a real-time section. (A separate test
//! binary, since the allocator is global.)

use std::alloc::System;
use std::time::Duration;

use wasio_engine::config::LogLevel;
use wasio_engine::log::{Logger, LoggerOptions, ProcessInfo, RtEvent};
use wasio_engine::rt_guard::{self, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator<System> = CountingAllocator(System);

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
        let rt_section = rt_guard::enter_rt();
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
        drop(rt_section);
        (accepted, rt.dropped())
    });
    let (accepted, dropped) = audio.join().unwrap();
    assert_eq!(u64::from(accepted) + dropped, 10_000);
    assert!(rt_guard::counting_allocator_installed());
    assert_eq!(rt_guard::rt_allocations(), 0);
    assert!(logger.flush(Duration::from_secs(10)));
}
