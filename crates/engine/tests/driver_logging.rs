//! The driver's log, end to end against the simulated device: one process-wide log started
//! by the first init that finds it enabled; every ASIO call with its arguments and result,
//! state changes, the stream chosen, audio-thread records, and no allocation on the audio
//! thread while logging.

mod common;

use asio_abi::*;
use common::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Duration;
use wasio_engine::rt_guard::{self, CountingAllocator};
use wasio_engine::sim::SimDeviceSpec;

#[global_allocator]
static ALLOCATOR: CountingAllocator<std::alloc::System> = CountingAllocator(std::alloc::System);

/// One profile for the whole binary (the log is process-wide), with an empty Wasio.log:
/// its existence turns logging on.
fn profile() -> &'static Path {
    static PROFILE: OnceLock<PathBuf> = OnceLock::new();
    PROFILE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        std::fs::write(dir.join("Wasio.log"), "").unwrap();
        dir
    })
}

/// The tests share one process-wide log (stopped when the last instance is released and
/// started again by the next init) and one Wasio.log: one test at a time.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn log_text() -> String {
    // Once the last instance is released the log is stopped, everything written.
    if let Some(logger) = wasio_engine::log::global() {
        assert!(logger.flush(Duration::from_secs(10)));
    }
    std::fs::read_to_string(profile().join("Wasio.log")).unwrap()
}

#[test]
fn calls_state_changes_and_the_stream_are_logged() {
    let _serial = one_at_a_time();
    let h = host_in(
        profile(),
        SimDeviceSpec::default(),
        Some("[output]\nmode = \"shared\"\n"),
    );
    let d = &h.driver;
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    assert_eq!(outputs(d), 2);
    assert_eq!(buffer_sizes(d).0, 32);
    assert_eq!(d.can_sample_rate(12_345.0), ASE_NO_CLOCK);
    assert_eq!(create(d, &[0, 1], 441), ASE_OK);
    assert_eq!(d.start(), ASE_OK);
    wait_for_switches(10);
    h.backend
        .control
        .drain_next_tick
        .store(true, Ordering::SeqCst);
    // This stream's underrun: the file also holds the other tests' streams.
    let started = format!("instance {}: state prepared -> running", d.instance());
    wait_until("an underrun", || {
        wasio_engine::log::global()
            .unwrap()
            .flush(Duration::from_secs(5));
        let text = log_text();
        text.find(&started)
            .is_some_and(|at| text[at..].contains("output underrun"))
    });
    assert_eq!(d.stop(), ASE_OK);
    assert_eq!(d.dispose_buffers(), ASE_OK);
    let instance = d.instance();
    drop(h);
    let text = log_text();
    // In causal order (audio-thread records interleave with the host's lines by time).
    let expected = [
        format!("instance {instance}: init in host.exe"),
        format!("instance {instance}: state loaded -> initialized"),
        "init() -> ok".to_string(),
        "getChannels(-> inputs 0, outputs 2) -> ok".to_string(),
        "getBufferSize(-> min 32, max 8192, preferred 480, granularity 1) -> ok".to_string(),
        "canSampleRate(12345) -> ASE_NoClock: the output device cannot run at 12345 Hz".to_string(),
        "stream opened: Simulated output ({sim}.output), mode shared, event-driven (mode = shared), Float32 2 ch 48000 Hz (host Float32Lsb), period 480 frames, device buffer 1440 frames".to_string(),
        format!("instance {instance}: state initialized -> prepared"),
        "createBuffers(2 channels, 441 frames [out0 out1]) -> ok".to_string(),
        "audio thread: stream started at 48000 Hz, 441 frames per buffer".to_string(),
        "audio thread: output underrun".to_string(),
        format!("instance {instance}: state running -> prepared"),
        "audio thread: stream stopped at sample position".to_string(),
        "stream stopped: ".to_string(),
        "stop() -> ok".to_string(),
        format!("instance {instance}: state prepared -> initialized"),
        "disposeBuffers() -> ok".to_string(),
        format!("instance {instance}: released"),
    ];
    assert!(text.contains(&format!("instance {instance}: state prepared -> running")));
    assert!(text.contains("start() -> ok"));
    let mut from = 0;
    for line in &expected {
        let at = text[from..]
            .find(line.as_str())
            .unwrap_or_else(|| panic!("{line:?} missing (in order) in\n{text}"));
        from += at;
    }
    // Lines carry a microsecond UTC timestamp, the process, pid and thread, the version.
    let pid = std::process::id();
    let first = text.lines().find(|l| l.contains("init() -> ok")).unwrap();
    let stamp = &first[..26];
    assert!(
        stamp.as_bytes()[19] == b'.' && stamp[20..26].bytes().all(|b| b.is_ascii_digit()),
        "{first}"
    );
    assert!(
        first.contains(&format!("[host.exe pid {pid} tid ")),
        "{first}"
    );
    assert!(first.contains(" DEBUG "), "{first}");
}

#[test]
fn configuration_errors_and_reset_requests_are_logged() {
    let _serial = one_at_a_time();
    let h = host_in(
        profile(),
        SimDeviceSpec::default(),
        Some("[output]\nchannels = \"two\"\n"),
    );
    assert_eq!(h.driver.init(std::ptr::null_mut()), ASIO_FALSE);
    let text = log_text();
    assert!(text.contains("ERROR configuration: "), "{text}");
    assert!(
        text.contains("Wasio.toml:2:12: output.channels: "),
        "{text}"
    );
    assert!(
        text.contains("init() -> ASIOFalse: Wasio.toml:2:12: output.channels"),
        "{text}"
    );
    h.write_config("[output]\ndevice = \"follow-default\"\n");
    assert_eq!(h.driver.init(std::ptr::null_mut()), ASIO_TRUE);
    assert_eq!(create(&h.driver, &[0, 1], 256), ASE_OK);
    assert!(h.backend.change_default_endpoint());
    // The config watcher of the failed init may also ask for a reset (the file changed):
    // wait for the one the new default device asks for.
    let wanted = "sending kAsioResetRequest: the Windows default output device changed";
    wait_until("the reset request", || {
        RESET_REQUESTS.load(Ordering::SeqCst) >= 1 && log_text().contains(wanted)
    });
}

#[test]
fn the_audio_thread_does_not_allocate_while_logging() {
    let _serial = one_at_a_time();
    std::hint::black_box(Vec::<u8>::with_capacity(1));
    assert!(rt_guard::counting_allocator_installed());
    for block in [441, 32] {
        let h = host_in(profile(), SimDeviceSpec::default(), None);
        let d = &h.driver;
        assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
        assert!(
            wasio_engine::log::global().is_some(),
            "logging must be on for this test"
        );
        assert_eq!(create(d, &[0, 1], block), ASE_OK);
        assert_eq!(d.start(), ASE_OK);
        wait_for_switches(30);
        // Underruns push records from the audio thread.
        h.backend
            .control
            .drain_next_tick
            .store(true, Ordering::SeqCst);
        wait_for_switches(SWITCHES.load(Ordering::SeqCst) + 30);
        assert_eq!(d.stop(), ASE_OK);
        let report = d.last_report();
        assert!(report.stats.underruns >= 1);
        assert_eq!(
            report.rt_allocations, 0,
            "the audio thread allocated (block {block})"
        );
    }
}
