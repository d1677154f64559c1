//! The IASIO semantics end to end against a simulated device: the life cycle, a host's
//! misuse, timing, failure, and the allocation-free audio thread.

use asio_abi::*;
use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wasio_engine::backend::Backend;
use wasio_engine::driver::DriverCore;
use wasio_engine::env::DriverEnv;
use wasio_engine::rt_guard::{self, CountingAllocator};
use wasio_engine::sim::{SimDeviceSpec, SimulatedBackend};
use wasio_engine::state::DriverState;

#[global_allocator]
static ALLOCATOR: CountingAllocator<std::alloc::System> = CountingAllocator(std::alloc::System);

// ---- a host: static callbacks, as C hosts have -------------------------------------------

static SERIAL: Mutex<()> = Mutex::new(());
static SWITCHES: AtomicU64 = AtomicU64::new(0);
static TIME_INFO_SWITCHES: AtomicU64 = AtomicU64::new(0);
static LAST_POSITION: AtomicU64 = AtomicU64::new(0);
static LAST_TIME: AtomicU64 = AtomicU64::new(0);
static LAST_FLAGS: AtomicU64 = AtomicU64::new(0);
static RESET_REQUESTS: AtomicU64 = AtomicU64::new(0);
static SUPPORTS_TIME_INFO: AtomicBool = AtomicBool::new(false);
static SELECTOR_ASKED_FIRST: AtomicI32 = AtomicI32::new(0);
static MESSAGES_BEFORE_SELECTOR: AtomicU64 = AtomicU64::new(0);
static BUFFER_SIZE: AtomicU64 = AtomicU64::new(0);
/// The driver whose outputReady the host calls from inside bufferSwitch (0 = none).
static DRIVER_FOR_OUTPUT_READY: AtomicU64 = AtomicU64::new(0);
static BUFFER_POINTERS: Mutex<Vec<[usize; 2]>> = Mutex::new(Vec::new());

fn host_fill(half: i32) {
    // Writes 0.5 into every active output buffer's half, as a host producing audio.
    let frames = BUFFER_SIZE.load(Ordering::Relaxed) as usize;
    if let Ok(pointers) = BUFFER_POINTERS.try_lock() {
        for p in pointers.iter() {
            let ptr = p[half as usize] as *mut f32;
            // SAFETY: the driver gave us `frames` floats per half.
            unsafe { std::slice::from_raw_parts_mut(ptr, frames) }.fill(0.5);
        }
    }
    let driver = DRIVER_FOR_OUTPUT_READY.load(Ordering::Acquire) as *const DriverCore;
    if !driver.is_null() {
        // SAFETY: the test keeps the driver alive while streaming.
        unsafe { (*driver).output_ready() };
    }
}

unsafe extern "C" fn buffer_switch(half: i32, _direct: AsioBool) {
    host_fill(half);
    SWITCHES.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn buffer_switch_time_info(
    time: *mut AsioTime,
    half: i32,
    _direct: AsioBool,
) -> *mut AsioTime {
    host_fill(half);
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    let t = unsafe { &*time };
    let info = t.time_info;
    LAST_POSITION.store(info.sample_position.to_u64(), Ordering::SeqCst);
    LAST_TIME.store(info.system_time.to_u64(), Ordering::SeqCst);
    LAST_FLAGS.store(info.flags as u64, Ordering::SeqCst);
    TIME_INFO_SWITCHES.fetch_add(1, Ordering::SeqCst);
    SWITCHES.fetch_add(1, Ordering::SeqCst);
    std::ptr::null_mut()
}

unsafe extern "C" fn asio_message(selector: i32, value: i32, _m: *mut c_void, _o: *mut f64) -> i32 {
    if selector == message::SELECTOR_SUPPORTED {
        let _ = SELECTOR_ASKED_FIRST.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
        return matches!(
            value,
            message::RESET_REQUEST | message::SUPPORTS_TIME_INFO | message::LATENCIES_CHANGED
        ) as i32;
    }
    if SELECTOR_ASKED_FIRST.load(Ordering::SeqCst) == 0 {
        MESSAGES_BEFORE_SELECTOR.fetch_add(1, Ordering::SeqCst);
    }
    match selector {
        message::SUPPORTS_TIME_INFO => SUPPORTS_TIME_INFO.load(Ordering::SeqCst) as i32,
        message::RESET_REQUEST => {
            RESET_REQUESTS.fetch_add(1, Ordering::SeqCst);
            1
        }
        _ => 0,
    }
}

fn callbacks() -> AsioCallbacks {
    AsioCallbacks {
        buffer_switch: Some(buffer_switch),
        sample_rate_did_change: None,
        asio_message: Some(asio_message),
        buffer_switch_time_info: Some(buffer_switch_time_info),
    }
}

struct Host {
    _serial: MutexGuard<'static, ()>,
    driver: Arc<DriverCore>,
    backend: Arc<SimulatedBackend>,
    /// %USERPROFILE% and %TEMP%\Wasio of this host (no Wasio.toml unless a test writes one).
    _profile: tempfile::TempDir,
}

fn host_with(spec: SimDeviceSpec, time_info: bool) -> Host {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for counter in [
        &SWITCHES,
        &TIME_INFO_SWITCHES,
        &LAST_POSITION,
        &LAST_TIME,
        &LAST_FLAGS,
        &RESET_REQUESTS,
        &MESSAGES_BEFORE_SELECTOR,
        &DRIVER_FOR_OUTPUT_READY,
    ] {
        counter.store(0, Ordering::SeqCst);
    }
    SELECTOR_ASKED_FIRST.store(0, Ordering::SeqCst);
    SUPPORTS_TIME_INFO.store(time_info, Ordering::SeqCst);
    BUFFER_POINTERS.lock().unwrap().clear();
    let backend = Arc::new(SimulatedBackend::new(spec));
    let shared = backend.clone();
    let profile = tempfile::tempdir().unwrap();
    let mut env = DriverEnv::detached("driver_core.exe");
    env.user_profile_dir = Some(profile.path().to_path_buf());
    env.status_dir = Some(profile.path().join("Temp").join("Wasio"));
    let driver = Arc::new(DriverCore::new(
        Box::new(move || Ok(shared.clone() as Arc<dyn Backend>)),
        env,
    ));
    Host {
        _serial: serial,
        driver,
        backend,
        _profile: profile,
    }
}

fn host() -> Host {
    host_with(SimDeviceSpec::default(), false)
}

fn error_text(d: &DriverCore) -> String {
    let mut buf = [0 as c_char; 124];
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    unsafe { d.get_error_message(buf.as_mut_ptr()) };
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn create(d: &DriverCore, channels: &[i32], size: i32) -> (AsioError, Vec<AsioBufferInfo>) {
    let mut infos: Vec<AsioBufferInfo> = channels
        .iter()
        .map(|&c| {
            let mut i = AsioBufferInfo::zeroed();
            i.channel_num = c;
            i
        })
        .collect();
    let cb = callbacks();
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    let code = unsafe { d.create_buffers(infos.as_mut_ptr(), infos.len() as i32, size, &cb) };
    if code == ASE_OK {
        BUFFER_SIZE.store(size as u64, Ordering::SeqCst);
        *BUFFER_POINTERS.lock().unwrap() = infos
            .iter()
            .map(|i| {
                let b = i.buffers;
                [b[0] as usize, b[1] as usize]
            })
            .collect();
    }
    (code, infos)
}

fn wait_for_switches(n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while SWITCHES.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "only {} switches arrived",
            SWITCHES.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

// ---- the tests ----------------------------------------------------------------------------

#[test]
fn a_host_session_from_init_to_dispose() {
    let h = host();
    let d = &h.driver;
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    let (mut ins, mut outs) = (-1, -1);
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    assert_eq!(unsafe { d.get_channels(&mut ins, &mut outs) }, ASE_OK);
    assert_eq!((ins, outs), (0, 2));
    let (mut min, mut max, mut pref, mut gran) = (0, 0, 0, 0);
    assert_eq!(
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        unsafe { d.get_buffer_size(&mut min, &mut max, &mut pref, &mut gran) },
        ASE_OK
    );
    assert_eq!((min, max, pref, gran), (32, 8192, 480, 1));
    assert_eq!(d.can_sample_rate(48_000.0), ASE_OK);
    assert_eq!(d.can_sample_rate(22_050.0), ASE_NO_CLOCK);
    let mut rate = 0.0;
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    assert_eq!(unsafe { d.get_sample_rate(&mut rate) }, ASE_OK);
    assert_eq!(rate, 48_000.0);
    let mut name = [0 as c_char; 32];
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    unsafe { d.get_driver_name(name.as_mut_ptr()) };
    assert_eq!(
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        unsafe { CStr::from_ptr(name.as_ptr()) }.to_str().unwrap(),
        "Wasio"
    );

    let (code, infos) = create(d, &[0, 1], 441);
    assert_eq!(code, ASE_OK, "{}", error_text(d));
    for i in &infos {
        let b = i.buffers;
        assert!(!b[0].is_null() && !b[1].is_null() && b[0] != b[1]);
    }
    for (ch, expected) in [(0, "Front Left"), (1, "Front Right")] {
        let mut info = AsioChannelInfo::zeroed();
        info.channel = ch;
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        assert_eq!(unsafe { d.get_channel_info(&mut info) }, ASE_OK);
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        let name = unsafe { CStr::from_ptr(info.name.as_ptr()) }
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(name, expected);
        assert_eq!({ info.is_active }, ASIO_TRUE);
        assert_eq!({ info.sample_type }, SampleType::Float32Lsb as i32);
    }
    // Latency: device buffer (1440), plus one block while the host does not call outputReady.
    let (mut lin, mut lout) = (0, 0);
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    assert_eq!(unsafe { d.get_latencies(&mut lin, &mut lout) }, ASE_OK);
    assert_eq!((lin, lout), (0, 1440 + 441));
    assert_eq!(d.output_ready(), ASE_OK);
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    assert_eq!(unsafe { d.get_latencies(&mut lin, &mut lout) }, ASE_OK);
    assert_eq!(lout, 1440);

    let (mut pos, mut stamp) = (AsioSamples::default(), AsioTimeStamp::default());
    assert_eq!(
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        unsafe { d.get_sample_position(&mut pos, &mut stamp) },
        ASE_SP_NOT_ADVANCING
    );
    h.backend.control.record.store(true, Ordering::SeqCst);
    assert_eq!(d.start(), ASE_OK, "{}", error_text(d));
    assert_eq!(d.state(), DriverState::Running);
    wait_for_switches(30);
    assert_eq!(
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        unsafe { d.get_sample_position(&mut pos, &mut stamp) },
        ASE_OK
    );
    let (p1, t1) = (pos.to_u64(), stamp.to_u64());
    assert_eq!(p1 % 441, 0);
    wait_for_switches(SWITCHES.load(Ordering::SeqCst) + 10);
    assert_eq!(
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        unsafe { d.get_sample_position(&mut pos, &mut stamp) },
        ASE_OK
    );
    let (p2, t2) = (pos.to_u64(), stamp.to_u64());
    assert!(p2 > p1);
    // The time advanced exactly as the positions did, on the device clock.
    let expected_ns = (p2 - p1) as f64 * 1e9 / 48_000.0;
    assert!(
        ((t2 - t1) as f64 - expected_ns).abs() < 1_000.0,
        "{} vs {expected_ns}",
        t2 - t1
    );
    assert_eq!(d.stop(), ASE_OK);
    assert_eq!(d.state(), DriverState::Prepared);
    let report = d.last_report();
    assert!(report.stats.switches >= 40);
    assert_eq!(report.stats.underruns, 0);
    // The host wrote 0.5 everywhere: after the silent pre-fill the device played 0.5 only.
    let played = h.backend.control.played.lock().unwrap().clone();
    let samples: Vec<f32> = played
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let first = samples
        .iter()
        .position(|&s| s != 0.0)
        .expect("nothing was played");
    assert!(
        samples[first..].iter().all(|&s| s == 0.5),
        "a sample other than the host's was played"
    );
    assert_eq!(d.dispose_buffers(), ASE_OK);
    assert_eq!(d.state(), DriverState::Initialized);
    assert_eq!(
        MESSAGES_BEFORE_SELECTOR.load(Ordering::SeqCst),
        0,
        "a message was sent before kAsioSelectorSupported"
    );
}

#[test]
fn an_output_ready_probe_after_init_is_supported_and_saves_the_extra_block() {
    // PortAudio and hosts built on the SDK's sample call outputReady once right after init
    // and call it after every switch only if that succeeds.
    let h = host();
    let d = &h.driver;
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    assert_eq!(d.output_ready(), ASE_OK);
    let (code, _infos) = create(d, &[0, 1], 441);
    assert_eq!(code, ASE_OK, "{}", error_text(d));
    let (mut lin, mut lout) = (0, 0);
    // SAFETY: live locals.
    assert_eq!(unsafe { d.get_latencies(&mut lin, &mut lout) }, ASE_OK);
    assert_eq!(
        lout, 1440,
        "no extra block for a host that said it calls outputReady"
    );
    assert_eq!(d.dispose_buffers(), ASE_OK);
}

#[test]
fn calls_out_of_order_are_refused_with_words() {
    let h = host();
    let d = &h.driver;
    let (mut a, mut b) = (0, 0);
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    assert_eq!(unsafe { d.get_channels(&mut a, &mut b) }, ASE_INVALID_MODE);
    assert!(error_text(d).contains("init first"), "{}", error_text(d));
    assert_eq!(d.start(), ASE_INVALID_MODE);
    assert_eq!(d.dispose_buffers(), ASE_INVALID_MODE);
    assert_eq!(d.output_ready(), ASE_INVALID_MODE);
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    assert_eq!(d.start(), ASE_INVALID_MODE);
    assert!(
        error_text(d).contains("createBuffers first"),
        "{}",
        error_text(d)
    );
    let (mut pos, mut stamp) = (AsioSamples::default(), AsioTimeStamp::default());
    assert_eq!(
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        unsafe { d.get_sample_position(&mut pos, &mut stamp) },
        ASE_INVALID_MODE
    );
    assert_eq!(create(d, &[0, 1], 256).0, ASE_OK);
    assert_eq!(create(d, &[0, 1], 256).0, ASE_INVALID_MODE);
    assert!(error_text(d).contains("disposeBuffers first"));
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_FALSE);
    assert_eq!(d.start(), ASE_OK);
    assert_eq!(d.start(), ASE_INVALID_MODE);
    wait_for_switches(5);
    // Dispose while running stops the stream first.
    assert_eq!(d.dispose_buffers(), ASE_OK);
    assert_eq!(d.state(), DriverState::Initialized);
    assert_eq!(d.stop(), ASE_INVALID_MODE);
    // And the driver still works afterwards.
    assert_eq!(create(d, &[1], 64).0, ASE_OK);
    assert_eq!(d.start(), ASE_OK);
    wait_for_switches(SWITCHES.load(Ordering::SeqCst) + 5);
    assert_eq!(d.stop(), ASE_OK);
    assert_eq!(d.stop(), ASE_OK, "stop when stopped is harmless");
    assert_eq!(d.dispose_buffers(), ASE_OK);
}

#[test]
fn null_pointers_and_absurd_arguments_are_refused() {
    let h = host();
    let d = &h.driver;
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    let null = std::ptr::null_mut();
    let mut x = 0;
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    unsafe {
        assert_eq!(d.get_channels(null, &mut x), ASE_INVALID_PARAMETER);
        assert_eq!(d.get_latencies(&mut x, null), ASE_INVALID_PARAMETER);
        assert_eq!(
            d.get_buffer_size(null, null, null, null),
            ASE_INVALID_PARAMETER
        );
        assert_eq!(
            d.get_sample_rate(std::ptr::null_mut()),
            ASE_INVALID_PARAMETER
        );
        assert_eq!(
            d.get_channel_info(std::ptr::null_mut()),
            ASE_INVALID_PARAMETER
        );
        assert_eq!(
            d.get_clock_sources(std::ptr::null_mut(), &mut x),
            ASE_INVALID_PARAMETER
        );
        d.get_driver_name(std::ptr::null_mut());
        d.get_error_message(std::ptr::null_mut());
        let cb = callbacks();
        assert_eq!(
            d.create_buffers(std::ptr::null_mut(), 2, 256, &cb),
            ASE_INVALID_PARAMETER
        );
    }
    for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(d.can_sample_rate(rate), ASE_INVALID_PARAMETER, "{rate}");
        assert_eq!(d.set_sample_rate(rate), ASE_INVALID_PARAMETER, "{rate}");
        assert!(error_text(d).contains("not a sample rate"));
    }
    for rate in [1e7, 7.5, 44_100.5] {
        assert_eq!(d.can_sample_rate(rate), ASE_NO_CLOCK, "{rate}");
    }
    for channel in [-1, 2, 9999, i32::MAX, i32::MIN] {
        let mut info = AsioChannelInfo::zeroed();
        info.channel = channel;
        assert_eq!(
            // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
            unsafe { d.get_channel_info(&mut info) },
            ASE_INVALID_PARAMETER
        );
        assert!(error_text(d).contains("does not exist"));
    }
    let mut input = AsioChannelInfo::zeroed();
    input.is_input = ASIO_TRUE;
    assert_eq!(
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        unsafe { d.get_channel_info(&mut input) },
        ASE_INVALID_PARAMETER
    );
    for size in [0, -1, 1, 31, 8193, i32::MAX, i32::MIN] {
        assert_eq!(
            create(d, &[0], size).0,
            ASE_INVALID_PARAMETER,
            "size {size}"
        );
    }
    assert_eq!(create(d, &[0, 0], 256).0, ASE_INVALID_PARAMETER);
    assert!(error_text(d).contains("twice"));
    assert_eq!(create(d, &[5], 256).0, ASE_INVALID_PARAMETER);
    assert_eq!(create(d, &[0, 1, 0], 256).0, ASE_INVALID_PARAMETER);
    let mut no_callbacks = [AsioBufferInfo::zeroed()];
    let empty = AsioCallbacks {
        buffer_switch: None,
        sample_rate_did_change: None,
        asio_message: None,
        buffer_switch_time_info: None,
    };
    assert_eq!(
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        unsafe { d.create_buffers(no_callbacks.as_mut_ptr(), 1, 256, &empty) },
        ASE_INVALID_PARAMETER
    );
    assert_eq!(
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        unsafe { d.create_buffers(no_callbacks.as_mut_ptr(), 0, 256, &callbacks()) },
        ASE_INVALID_PARAMETER
    );
    assert_eq!(d.set_clock_source(3), ASE_INVALID_PARAMETER);
    assert_eq!(d.set_clock_source(0), ASE_OK);
    let mut clocks = [AsioClockSource::zeroed(); 2];
    let mut n = 0;
    assert_eq!(
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        unsafe { d.get_clock_sources(clocks.as_mut_ptr(), &mut n) },
        ASE_INVALID_PARAMETER
    );
    n = 2;
    assert_eq!(
        // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
        unsafe { d.get_clock_sources(clocks.as_mut_ptr(), &mut n) },
        ASE_OK
    );
    assert_eq!(n, 1);
    assert_eq!(
        d.state(),
        DriverState::Initialized,
        "nothing was half-created"
    );
}

#[test]
fn sample_rates_follow_the_device() {
    let h = host();
    let d = &h.driver;
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    assert_eq!(d.set_sample_rate(96_000.0), ASE_OK);
    let (mut min, mut max, mut pref, mut gran) = (0, 0, 0, 0);
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    unsafe { d.get_buffer_size(&mut min, &mut max, &mut pref, &mut gran) };
    assert_eq!(
        pref, 960,
        "the preferred size is the device period at the new rate"
    );
    assert_eq!(d.set_sample_rate(22_050.0), ASE_NO_CLOCK);
    assert_eq!(create(d, &[0, 1], 256).0, ASE_OK);
    // Prepared: the stream is re-opened at the new rate.
    assert_eq!(d.set_sample_rate(44_100.0), ASE_OK, "{}", error_text(d));
    assert_eq!(d.start(), ASE_OK);
    wait_for_switches(5);
    assert_eq!(d.can_sample_rate(44_100.0), ASE_OK);
    assert_eq!(
        d.set_sample_rate(44_100.0),
        ASE_OK,
        "the current rate is always accepted"
    );
    assert_eq!(d.dispose_buffers(), ASE_OK);
}

#[test]
fn time_info_hosts_get_device_clock_times() {
    let h = host_with(SimDeviceSpec::default(), true);
    let d = &h.driver;
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    assert_eq!(create(d, &[0, 1], 441).0, ASE_OK);
    DRIVER_FOR_OUTPUT_READY.store(Arc::as_ptr(&h.driver) as u64, Ordering::Release);
    assert_eq!(d.start(), ASE_OK);
    wait_for_switches(20);
    let (p1, t1) = (
        LAST_POSITION.load(Ordering::SeqCst),
        LAST_TIME.load(Ordering::SeqCst),
    );
    wait_for_switches(SWITCHES.load(Ordering::SeqCst) + 20);
    assert_eq!(d.stop(), ASE_OK);
    DRIVER_FOR_OUTPUT_READY.store(0, Ordering::Release);
    let (p2, t2) = (
        LAST_POSITION.load(Ordering::SeqCst),
        LAST_TIME.load(Ordering::SeqCst),
    );
    assert_eq!(
        TIME_INFO_SWITCHES.load(Ordering::SeqCst),
        SWITCHES.load(Ordering::SeqCst)
    );
    assert_eq!(p2 % 441, 0);
    assert!(p2 > p1);
    let expected = (p2 - p1) as f64 * 1e9 / 48_000.0;
    assert!(((t2 - t1) as f64 - expected).abs() < 1_000.0);
    let flags = LAST_FLAGS.load(Ordering::SeqCst) as u32;
    assert_eq!(
        flags & 7,
        time_flags::SYSTEM_TIME_VALID
            | time_flags::SAMPLE_POSITION_VALID
            | time_flags::SAMPLE_RATE_VALID
    );
    assert_eq!(d.dispose_buffers(), ASE_OK);
}

#[test]
fn a_vanished_device_sends_a_reset_request_and_the_host_lives_on() {
    let h = host();
    let d = &h.driver;
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    assert_eq!(create(d, &[0, 1], 256).0, ASE_OK);
    assert_eq!(d.start(), ASE_OK);
    wait_for_switches(5);
    h.backend
        .control
        .fail_next_tick
        .store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while RESET_REQUESTS.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no reset request arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        error_text(d).contains("AUDCLNT_E_DEVICE_INVALIDATED"),
        "{}",
        error_text(d)
    );
    // The host answers the reset: stop, dispose, and set up again.
    assert_eq!(d.stop(), ASE_OK);
    assert_eq!(d.dispose_buffers(), ASE_OK);
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    assert_eq!(create(d, &[0, 1], 256).0, ASE_OK);
    assert_eq!(d.start(), ASE_OK);
    wait_for_switches(SWITCHES.load(Ordering::SeqCst) + 5);
    assert_eq!(d.dispose_buffers(), ASE_OK);
}

#[test]
fn the_audio_thread_does_not_allocate() {
    std::hint::black_box(Vec::<u8>::with_capacity(1));
    assert!(
        rt_guard::counting_allocator_installed(),
        "the guard must be installed for this test to mean anything"
    );
    for (block, time_info) in [(441, false), (256, true), (1000, false), (32, true)] {
        let h = host_with(SimDeviceSpec::default(), time_info);
        let d = &h.driver;
        assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
        assert_eq!(create(d, &[0, 1], block).0, ASE_OK);
        assert_eq!(d.start(), ASE_OK);
        wait_for_switches(50);
        assert_eq!(d.stop(), ASE_OK);
        let report = d.last_report();
        assert!(report.stats.switches >= 50);
        assert_eq!(
            report.rt_allocations, 0,
            "the audio thread allocated (block {block})"
        );
        assert_eq!(d.dispose_buffers(), ASE_OK);
    }
}

#[test]
fn the_audio_thread_does_not_allocate_in_duplex_or_input_only() {
    use wasio_engine::sim::SimInputSpec;
    assert!(rt_guard::counting_allocator_installed());
    let same_clock = SimInputSpec::default();
    let two_clocks = SimInputSpec {
        shared_clock: false,
        ppm: 300.0,
        ..SimInputSpec::default()
    };
    // (input spec, input channels, output channels, block)
    let cases: [(SimInputSpec, &[i32], &[i32], i32); 4] = [
        (same_clock.clone(), &[0, 1], &[0, 1], 441),
        (two_clocks.clone(), &[0, 1], &[0, 1], 256),
        (two_clocks, &[1], &[0], 32),
        (same_clock, &[0, 1], &[], 1000),
    ];
    for (input, inputs, outputs, block) in cases {
        let h = host_with(
            SimDeviceSpec {
                input: Some(input),
                ..SimDeviceSpec::default()
            },
            true,
        );
        let d = &h.driver;
        assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
        let mut infos: Vec<AsioBufferInfo> = inputs
            .iter()
            .map(|&c| (ASIO_TRUE, c))
            .chain(outputs.iter().map(|&c| (ASIO_FALSE, c)))
            .map(|(is_input, c)| {
                let mut i = AsioBufferInfo::zeroed();
                i.is_input = is_input;
                i.channel_num = c;
                i
            })
            .collect();
        let cb = callbacks();
        // SAFETY: live locals.
        let code = unsafe { d.create_buffers(infos.as_mut_ptr(), infos.len() as i32, block, &cb) };
        assert_eq!(code, ASE_OK);
        assert_eq!(d.start(), ASE_OK);
        wait_for_switches(50);
        assert_eq!(d.stop(), ASE_OK);
        let report = d.last_report();
        assert!(report.stats.switches >= 50);
        assert_eq!(
            report.rt_allocations,
            0,
            "the audio thread allocated ({} in, {} out, block {block})",
            inputs.len(),
            outputs.len()
        );
        assert_eq!(d.dispose_buffers(), ASE_OK);
    }
}

#[test]
fn the_allocation_guard_can_fail() {
    // The same accounting the audio thread runs under does see an allocation.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    rt_guard::reset();
    {
        let _rt = rt_guard::enter_rt();
        let v: Vec<u64> = Vec::with_capacity(16);
        std::hint::black_box(&v);
    }
    assert!(rt_guard::rt_allocations() > 0);
}

#[test]
fn error_messages_fit_the_hosts_buffer() {
    let h = host();
    let d = &h.driver;
    d.fail(wasio_engine::DriverError::invalid_parameter(
        "é".repeat(200),
    ));
    let mut buf = [0x7f as c_char; 200];
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    unsafe { d.get_error_message(buf.as_mut_ptr()) };
    // SAFETY: every pointer is a live local (or deliberately null, which the driver must refuse).
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) };
    assert!(text.to_bytes().len() <= 123);
    assert!(text.to_str().is_ok(), "cut inside a character");
    assert_eq!(buf[124], 0x7f, "wrote past 124 bytes");
}
