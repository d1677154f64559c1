//! Nothing the driver started runs once the last instance is released (issue 9: COM may
//! unload the DLL then). One test, in its own binary: the thread count is process-wide.

use asio_abi::*;
use std::ffi::c_void;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasio_engine::backend::Backend;
use wasio_engine::driver::{live_instances, DriverCore};
use wasio_engine::env::DriverEnv;
use wasio_engine::latency_watch::LatencyWatch;
use wasio_engine::log::{self as wlog, LogLevel, LoggerOptions, ProcessInfo, RtEvent};
use wasio_engine::sim::{SimDeviceSpec, SimulatedBackend};
use wasio_engine::threads;

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every driver thread has ended and been joined.
fn wait_for_no_driver_thread(after: &str) {
    wait_until(&format!("no driver thread after {after}"), || {
        threads::all_ended(|t| t.is_finished())
    });
    assert_eq!(threads::live(), 0);
    assert_eq!(threads::adopted_count(), 0);
}

fn log_text(profile: &Path) -> String {
    std::fs::read_to_string(profile.join("Wasio.log")).unwrap_or_default()
}

fn logger_stops_joins_and_starts_again(profile: &Path) {
    let options = || {
        LoggerOptions::new(
            profile.join("Wasio.log"),
            ProcessInfo {
                name: "host.exe".into(),
                pid: 1,
            },
            "0.1.0",
        )
    };
    let logger = wlog::start_global(options()).unwrap();
    assert_eq!(threads::live(), 1, "the writer thread");
    let mut rt = logger.rt_producer(16);
    logger.info(format_args!("first run"));
    drop(logger);
    assert!(wlog::stop_global());
    assert!(wlog::global().is_none());
    wait_for_no_driver_thread("stop_global");
    // A late line or audio-thread record goes nowhere, without a panic or a thread.
    assert!(rt.push(RtEvent::OutputUnderrun { frames: 1 }));
    assert!(!wlog::stop_global(), "already stopped");
    let text = log_text(profile);
    assert!(text.contains("first run"), "{text}");
    assert!(text.contains("log closed"), "{text}");
    let again = wlog::start_global(options()).unwrap();
    assert_eq!(threads::live(), 1);
    again.info(format_args!("second run"));
    drop(again);
    assert!(wlog::stop_global());
    wait_for_no_driver_thread("the second stop_global");
    assert!(log_text(profile).contains("second run"));
}

fn latency_watch_stopped_from_its_own_thread() {
    let slot: Arc<Mutex<Option<LatencyWatch>>> = Arc::new(Mutex::new(None));
    let stopped_on = Arc::new(Mutex::new(None::<String>));
    let (slot_in, stopped_in) = (slot.clone(), stopped_on.clone());
    // The host stops the stream from its kAsioLatenciesChanged handler.
    let notify = Box::new(move || {
        if let Some(watch) = slot_in.lock().unwrap().take() {
            *stopped_in.lock().unwrap() = std::thread::current().name().map(str::to_string);
            watch.stop();
        }
    });
    let watch =
        LatencyWatch::spawn_with(|| Some(1000.0), Arc::new(AtomicI32::new(-1)), 500, notify)
            .unwrap();
    *slot.lock().unwrap() = Some(watch);
    wait_until("the watch to stop itself", || {
        stopped_on.lock().unwrap().is_some()
    });
    assert_eq!(stopped_on.lock().unwrap().as_deref(), Some("wasio-latency"));
    wait_for_no_driver_thread("a latency watch stopped from its own thread");
    // Dropped from another thread, it is joined there.
    let watch = LatencyWatch::spawn_with(|| None, Arc::new(AtomicI32::new(-1)), 0, Box::new(|| {}))
        .unwrap();
    assert_eq!(threads::live(), 1);
    drop(watch);
    assert_eq!(threads::live(), 0);
    assert_eq!(threads::adopted_count(), 0);
}

// ---- a host whose reset handler may release the driver ------------------------------------

static RESETS: AtomicU64 = AtomicU64::new(0);
static RELEASE_ON_RESET: AtomicBool = AtomicBool::new(false);
static DRIVER: Mutex<Option<Arc<DriverCore>>> = Mutex::new(None);

unsafe extern "C" fn buffer_switch(_half: i32, _direct: AsioBool) {}

unsafe extern "C" fn asio_message(selector: i32, value: i32, _m: *mut c_void, _o: *mut f64) -> i32 {
    match selector {
        message::SELECTOR_SUPPORTED => (value == message::RESET_REQUEST) as i32,
        message::RESET_REQUEST => {
            if RELEASE_ON_RESET.load(Ordering::SeqCst) {
                // Stop, dispose and the last release, all from the driver's reset thread.
                let driver = DRIVER.lock().unwrap().take();
                if let Some(driver) = driver {
                    driver.stop();
                    driver.dispose_buffers();
                }
            }
            RESETS.fetch_add(1, Ordering::SeqCst);
            1
        }
        _ => 0,
    }
}

/// A driver streaming on the simulated device with logging on (Wasio.log in `profile`).
fn streaming_driver(profile: &Path) -> Arc<DriverCore> {
    let backend = Arc::new(SimulatedBackend::new(SimDeviceSpec::default()));
    let mut env = DriverEnv::detached("host.exe");
    env.user_profile_dir = Some(profile.to_path_buf());
    env.status_dir = Some(profile.join("Temp"));
    let driver = Arc::new(DriverCore::new(
        Box::new(move || Ok(backend.clone() as Arc<dyn Backend>)),
        env,
    ));
    assert_eq!(driver.init(std::ptr::null_mut()), ASIO_TRUE);
    assert!(wlog::global_at(LogLevel::Info).is_some(), "logging is on");
    let mut infos = [AsioBufferInfo::zeroed(), AsioBufferInfo::zeroed()];
    infos[1].channel_num = 1;
    let callbacks = AsioCallbacks {
        buffer_switch: Some(buffer_switch),
        sample_rate_did_change: None,
        asio_message: Some(asio_message),
        buffer_switch_time_info: None,
    };
    // SAFETY: two live infos; the callbacks are 'static.
    let code = unsafe { driver.create_buffers(infos.as_mut_ptr(), 2, 256, &callbacks) };
    assert_eq!(code, ASE_OK);
    assert_eq!(driver.start(), ASE_OK);
    driver
}

/// Edits Wasio.toml until the driver's monitor has asked for a reset.
fn request_reset(profile: &Path, before: u64) {
    let mut edit = 0;
    wait_until("a reset request", || {
        edit += 1;
        std::fs::write(profile.join("Wasio.toml"), format!("# edit {edit}\n")).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        RESETS.load(Ordering::SeqCst) > before
    });
}

fn released_after_a_reset_request(profile: &Path) {
    let driver = streaming_driver(profile);
    assert!(threads::live() >= 2, "monitor and log threads");
    request_reset(profile, 0);
    assert_eq!(driver.stop(), ASE_OK);
    assert_eq!(driver.dispose_buffers(), ASE_OK);
    drop(driver);
    assert_eq!(live_instances(), 0);
    assert!(wlog::global().is_none(), "the last release stops the log");
    wait_for_no_driver_thread("a release after a reset request");
    let text = log_text(profile);
    assert!(text.contains("sending kAsioResetRequest"), "{text}");
    assert!(text.trim_end().ends_with("log closed"), "{text}");
}

fn released_from_the_reset_handler(profile: &Path) {
    // A new instance in the same process starts the log again.
    let driver = streaming_driver(profile);
    *DRIVER.lock().unwrap() = Some(driver);
    RELEASE_ON_RESET.store(true, Ordering::SeqCst);
    let before = RESETS.load(Ordering::SeqCst);
    request_reset(profile, before);
    assert!(DRIVER.lock().unwrap().is_none());
    wait_until("the last release", || live_instances() == 0);
    wait_for_no_driver_thread("a release from the reset thread");
    assert!(wlog::global().is_none());
    RELEASE_ON_RESET.store(false, Ordering::SeqCst);
}

#[test]
fn no_driver_thread_outlives_the_last_release() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path();
    std::fs::write(profile.join("Wasio.log"), "").unwrap();
    assert_eq!(threads::live(), 0);
    logger_stops_joins_and_starts_again(profile);
    latency_watch_stopped_from_its_own_thread();
    released_after_a_reset_request(profile);
    released_from_the_reset_handler(profile);
}
