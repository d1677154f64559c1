//! Exclusive mode and the bit-perfect path, end to end through the driver core against the
//! simulated device: the mode chain and its report, the native sample type, the exclusive
//! event-driven path (block = period, no ring), exact bytes to the device, rate switching
//! while running, and the release of the endpoint on stop.

use asio_abi::*;
use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wasio_engine::backend::Backend;
use wasio_engine::config::Mode;
use wasio_engine::convert::DeviceFormat;
use wasio_engine::driver::DriverCore;
use wasio_engine::env::DriverEnv;
use wasio_engine::sim::{SimDeviceSpec, SimulatedBackend};
use wasio_engine::state::DriverState;

const ST_INT16: i32 = SampleType::Int16Lsb as i32;
const ST_INT24: i32 = SampleType::Int24Lsb as i32;
const ST_FLOAT32: i32 = SampleType::Float32Lsb as i32;

// ---- a host writing a counter: frame f of channel c holds (f + 1) × 2 + c ---------------

static SERIAL: Mutex<()> = Mutex::new(());
static SWITCHES: AtomicU64 = AtomicU64::new(0);
static NEXT_FRAME: AtomicU64 = AtomicU64::new(0);
static BLOCK: AtomicU64 = AtomicU64::new(0);
static SAMPLE_TYPE: AtomicU64 = AtomicU64::new(0);
static RATE_CHANGES: Mutex<Vec<f64>> = Mutex::new(Vec::new());
static RESET_REQUESTS: AtomicU64 = AtomicU64::new(0);
static POINTERS: Mutex<Vec<[usize; 2]>> = Mutex::new(Vec::new());

fn counter_value(frame: u64, channel: usize) -> u64 {
    (frame + 1) * 2 + channel as u64
}

fn encode(sample_type: i32, value: u64, out: &mut [u8]) {
    match sample_type {
        ST_FLOAT32 => out.copy_from_slice(&(value as f32).to_le_bytes()),
        _ => {
            let bytes = value.to_le_bytes();
            out.copy_from_slice(&bytes[..out.len()]);
        }
    }
}

unsafe extern "C" fn buffer_switch(half: i32, _direct: AsioBool) {
    let frames = BLOCK.load(Ordering::Relaxed) as usize;
    let st = SAMPLE_TYPE.load(Ordering::Relaxed) as i32;
    let bps = match st {
        ST_INT16 => 2,
        ST_INT24 => 3,
        _ => 4,
    };
    let first = NEXT_FRAME.fetch_add(frames as u64, Ordering::SeqCst);
    let pointers = POINTERS.lock().unwrap();
    for (channel, p) in pointers.iter().enumerate() {
        // SAFETY: the driver gave `frames` samples of `bps` bytes per half.
        let buf =
            unsafe { std::slice::from_raw_parts_mut(p[half as usize] as *mut u8, frames * bps) };
        for (i, s) in buf.chunks_exact_mut(bps).enumerate() {
            encode(st, counter_value(first + i as u64, channel), s);
        }
    }
    SWITCHES.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn sample_rate_did_change(rate: f64) {
    RATE_CHANGES.lock().unwrap().push(rate);
}

unsafe extern "C" fn asio_message(selector: i32, value: i32, _m: *mut c_void, _o: *mut f64) -> i32 {
    match selector {
        message::SELECTOR_SUPPORTED => (value == message::RESET_REQUEST) as i32,
        message::RESET_REQUEST => {
            RESET_REQUESTS.fetch_add(1, Ordering::SeqCst);
            1
        }
        _ => 0,
    }
}

struct Host {
    _serial: MutexGuard<'static, ()>,
    driver: DriverCore,
    backend: Arc<SimulatedBackend>,
    /// %USERPROFILE% with this test's Wasio.toml.
    profile: tempfile::TempDir,
}

/// A driver whose Wasio.toml asks for `mode`.
fn host(spec: SimDeviceSpec, mode: Mode) -> Host {
    host_configured(spec, mode, None)
}

fn driver_in(profile: &std::path::Path, backend: &Arc<SimulatedBackend>) -> DriverCore {
    let for_driver = backend.clone();
    let mut env = DriverEnv::detached("host.exe");
    env.user_profile_dir = Some(profile.to_path_buf());
    env.status_dir = Some(profile.join("Temp").join("Wasio"));
    DriverCore::new(
        Box::new(move || Ok(for_driver.clone() as Arc<dyn Backend>)),
        env,
    )
}

/// Wasio.toml with `mode` and, if given, `sample_type`.
fn write_config(profile: &std::path::Path, mode: Mode, sample_type: Option<&str>) {
    let mut text = format!("[output]\nmode = \"{}\"\n", mode.as_str());
    if let Some(word) = sample_type {
        text.push_str(&format!("sample_type = \"{word}\"\n"));
    }
    std::fs::write(profile.join("Wasio.toml"), text).unwrap();
}

fn host_configured(spec: SimDeviceSpec, mode: Mode, sample_type: Option<&str>) -> Host {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for c in [&SWITCHES, &NEXT_FRAME, &RESET_REQUESTS] {
        c.store(0, Ordering::SeqCst);
    }
    RATE_CHANGES.lock().unwrap().clear();
    let backend = Arc::new(SimulatedBackend::new(spec));
    let profile = tempfile::tempdir().unwrap();
    write_config(profile.path(), mode, sample_type);
    let driver = driver_in(profile.path(), &backend);
    Host {
        _serial: serial,
        driver,
        backend,
        profile,
    }
}

fn error_text(d: &DriverCore) -> String {
    let mut text = [0 as std::ffi::c_char; 124];
    // SAFETY: 124 bytes, as the interface defines.
    unsafe { d.get_error_message(text.as_mut_ptr()) };
    // SAFETY: the driver NUL-terminates.
    unsafe { CStr::from_ptr(text.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn sample_type_of(d: &DriverCore) -> i32 {
    let mut info = AsioChannelInfo::zeroed();
    info.channel = 0;
    info.is_input = ASIO_FALSE;
    // SAFETY: a valid struct.
    assert_eq!(unsafe { d.get_channel_info(&mut info) }, ASE_OK);
    info.sample_type
}

fn sizes(d: &DriverCore) -> (i32, i32, i32, i32) {
    let (mut min, mut max, mut pref, mut gran) = (0, 0, 0, 0);
    // SAFETY: valid out-pointers.
    assert_eq!(
        unsafe { d.get_buffer_size(&mut min, &mut max, &mut pref, &mut gran) },
        ASE_OK
    );
    (min, max, pref, gran)
}

fn create(d: &DriverCore, channels: usize, frames: i32) -> AsioError {
    let mut infos: Vec<AsioBufferInfo> = (0..channels)
        .map(|c| {
            let mut i = AsioBufferInfo::zeroed();
            i.channel_num = c as i32;
            i
        })
        .collect();
    let callbacks = AsioCallbacks {
        buffer_switch: Some(buffer_switch),
        sample_rate_did_change: Some(sample_rate_did_change),
        asio_message: Some(asio_message),
        buffer_switch_time_info: None,
    };
    BLOCK.store(frames as u64, Ordering::SeqCst);
    SAMPLE_TYPE.store(sample_type_of(d) as u64, Ordering::SeqCst);
    // SAFETY: valid arrays and callbacks that live for the test.
    let code = unsafe { d.create_buffers(infos.as_mut_ptr(), channels as i32, frames, &callbacks) };
    *POINTERS.lock().unwrap() = infos
        .iter()
        .map(|i| [i.buffers[0] as usize, i.buffers[1] as usize])
        .collect();
    code
}

fn wait_for_switches(n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let target = SWITCHES.load(Ordering::SeqCst) + n;
    while SWITCHES.load(Ordering::SeqCst) < target {
        assert!(Instant::now() < deadline, "no buffer switches");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Decodes the device bytes (after the leading silence) and checks that they are the
/// host's counter, every frame once, in order. Returns how many frames were checked.
fn assert_counter_played(played: &[u8], format: DeviceFormat, channels: usize) -> usize {
    let bps = format.bytes_per_sample();
    let frame_bytes = bps * channels;
    let frames: Vec<&[u8]> = played.chunks_exact(frame_bytes).collect();
    let start = frames
        .iter()
        .position(|f| f.iter().any(|&b| b != 0))
        .expect("the host's samples reached the device");
    let decode = |s: &[u8]| -> u64 {
        match format {
            DeviceFormat::Float32 => f32::from_le_bytes(s.try_into().unwrap()) as u64,
            _ => {
                let mut b = [0u8; 8];
                b[..s.len()].copy_from_slice(s);
                u64::from_le_bytes(b)
            }
        }
    };
    let mask = if format == DeviceFormat::Float32 {
        u64::MAX
    } else {
        (1u64 << (bps * 8)) - 1
    };
    for (i, frame) in frames[start..].iter().enumerate() {
        for c in 0..channels {
            let got = decode(&frame[c * bps..(c + 1) * bps]);
            assert_eq!(
                got,
                counter_value(i as u64, c) & mask,
                "frame {i} channel {c}: lost, repeated or altered"
            );
        }
    }
    frames.len() - start
}

fn run_counter(h: &Host, frames: i32, switches: u64) -> Vec<u8> {
    let d = &h.driver;
    assert_eq!(create(d, 2, frames), ASE_OK, "{}", error_text(d));
    h.backend.control.record.store(true, Ordering::SeqCst);
    assert_eq!(d.start(), ASE_OK, "{}", error_text(d));
    wait_for_switches(switches);
    assert_eq!(d.stop(), ASE_OK);
    h.backend.control.record.store(false, Ordering::SeqCst);
    std::mem::take(&mut *h.backend.control.played.lock().unwrap())
}

// ---- the tests ---------------------------------------------------------------------------

#[test]
fn auto_takes_exclusive_event_where_allowed_with_block_equal_to_period() {
    let h = host(SimDeviceSpec::exclusive_capable(), Mode::Auto);
    let d = &h.driver;
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE, "{}", error_text(d));
    let status = d.mode_status().unwrap();
    assert!(status.starts_with("exclusive, event-driven"), "{status}");
    assert_eq!(sample_type_of(d), ST_FLOAT32, "float32 is tried first");
    // Only aligned periods are offered: stereo float32 aligns to 16 frames.
    let (min, _max, pref, gran) = sizes(d);
    assert_eq!((pref, gran), (480, 16));
    assert!(min >= 32 && min % 16 == 0);
    assert_eq!(create(d, 2, 441), ASE_INVALID_PARAMETER);
    assert!(
        error_text(d).contains("multiple of 16"),
        "{}",
        error_text(d)
    );
    let (mut input, mut output) = (0, 0);
    let played = run_counter(&h, 256, 40);
    // The device buffer is one period = one block: latency is that block, plus one more
    // because this host does not call outputReady. No ring adds anything.
    // SAFETY: valid out-pointers.
    assert_eq!(unsafe { d.get_latencies(&mut input, &mut output) }, ASE_OK);
    assert_eq!(output, 256 + 256);
    let report = d.last_report();
    assert_eq!(report.stats.underruns, 0);
    assert_eq!(
        report.stats.frames_to_device,
        (report.stats.switches + 1) * 256,
        "one switch per period, plus the silent pre-fill"
    );
    assert_eq!(report.rt_allocations, 0);
    assert!(assert_counter_played(&played, DeviceFormat::Float32, 2) >= 30 * 256);
    assert_eq!(d.dispose_buffers(), ASE_OK);
}

#[test]
fn exclusive_event_is_bit_perfect_in_every_native_format() {
    for format in [
        DeviceFormat::Int16,
        DeviceFormat::Int24Packed,
        DeviceFormat::Int32,
        DeviceFormat::Float32,
    ] {
        let spec = SimDeviceSpec {
            exclusive_formats: vec![format],
            ..SimDeviceSpec::exclusive_capable()
        };
        let h = host(spec, Mode::ExclusiveEvent);
        let d = &h.driver;
        assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE, "{}", error_text(d));
        assert_eq!(
            sample_type_of(d),
            format.native_host_type().asio_value(),
            "{format:?}: the host writes device samples"
        );
        let (_, _, pref, _) = sizes(d);
        let played = run_counter(&h, pref, 30);
        assert!(assert_counter_played(&played, format, 2) >= 20 * pref as usize);
        assert_eq!(d.dispose_buffers(), ASE_OK);
    }
}

#[test]
fn wine_alsa_lands_on_exclusive_polling_bit_perfect_with_any_block() {
    for format in [
        DeviceFormat::Int16,
        DeviceFormat::Int24Packed,
        DeviceFormat::Int32,
    ] {
        let spec = SimDeviceSpec {
            exclusive_formats: vec![format],
            ..SimDeviceSpec::wine_alsa()
        };
        let h = host(spec, Mode::Auto);
        let d = &h.driver;
        assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE, "{}", error_text(d));
        let status = d.mode_status().unwrap();
        assert!(
            status.starts_with("exclusive, polling (mode = auto"),
            "{status}"
        );
        assert!(
            status.contains("exclusive, event-driven refused")
                && status.contains("AUDCLNT_E_DEVICE_IN_USE"),
            "{status}"
        );
        assert_eq!(sample_type_of(d), format.native_host_type().asio_value());
        // Decoupled by the ring: any size, including ones that are not periods.
        assert_eq!(sizes(d).3, 1);
        let played = run_counter(&h, 441, 60);
        assert!(assert_counter_played(&played, format, 2) >= 40 * 441);
        // The device buffer is 8 periods, as winealsa's.
        let (mut input, mut output) = (0, 0);
        // SAFETY: valid out-pointers.
        assert_eq!(unsafe { d.get_latencies(&mut input, &mut output) }, ASE_OK);
        assert_eq!(output, 8 * 480 + 441);
        assert_eq!(d.dispose_buffers(), ASE_OK);
    }
}

#[test]
fn winepulse_lands_on_shared_and_says_why() {
    let h = host(SimDeviceSpec::default(), Mode::Auto);
    let d = &h.driver;
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    let status = d.mode_status().unwrap();
    assert!(
        status.starts_with("shared, event-driven (mode = auto"),
        "{status}"
    );
    for reason in [
        "AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED",
        "shared, low-latency (IAudioClient3) refused",
        "E_NOTIMPL",
    ] {
        assert!(status.contains(reason), "{reason} missing: {status}");
    }
    assert_eq!(sample_type_of(d), ST_FLOAT32);
}

#[test]
fn a_forced_mode_that_the_device_refuses_fails_with_the_hresult() {
    let h = host(SimDeviceSpec::wine_alsa(), Mode::ExclusiveEvent);
    let d = &h.driver;
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_FALSE);
    let text = error_text(d);
    assert!(text.contains("AUDCLNT_E_DEVICE_IN_USE"), "{text}");
    // Forcing the mode Wine allows works (Wasio.toml is read again at each init).
    write_config(h.profile.path(), Mode::ExclusivePoll, None);
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE, "{}", error_text(d));
    assert!(d
        .mode_status()
        .unwrap()
        .starts_with("exclusive, polling (mode = exclusive-poll)"));
    write_config(h.profile.path(), Mode::Shared, None);
    let shared = driver_in(h.profile.path(), &h.backend);
    assert_eq!(shared.init(std::ptr::null_mut()), ASIO_TRUE);
    assert_eq!(sample_type_of(&shared), ST_FLOAT32);
}

#[test]
fn the_rate_switches_while_running_and_the_stream_continues() {
    for spec in [
        SimDeviceSpec::wine_alsa(),
        SimDeviceSpec::exclusive_capable(),
        SimDeviceSpec::default(),
    ] {
        let h = host(spec, Mode::Auto);
        let d = &h.driver;
        assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
        assert_eq!(d.set_sample_rate(44_100.0), ASE_OK, "{}", error_text(d));
        let (_, _, pref, _) = sizes(d);
        assert_eq!(
            create(d, 2, pref.min(512) / 16 * 16),
            ASE_OK,
            "{}",
            error_text(d)
        );
        assert_eq!(d.start(), ASE_OK);
        wait_for_switches(5);
        for rate in [48_000.0, 96_000.0] {
            assert_eq!(d.set_sample_rate(rate), ASE_OK, "{rate}: {}", error_text(d));
            assert_eq!(d.state(), DriverState::Running);
            let mut now = 0.0;
            // SAFETY: valid out-pointer.
            assert_eq!(unsafe { d.get_sample_rate(&mut now) }, ASE_OK);
            assert_eq!(now, rate);
            wait_for_switches(5);
        }
        assert_eq!(*RATE_CHANGES.lock().unwrap(), [48_000.0, 96_000.0]);
        // A rate the device cannot run: refused, and the stream goes on at the old rate.
        assert_eq!(d.set_sample_rate(22_050.0), ASE_NO_CLOCK);
        assert_eq!(d.state(), DriverState::Running);
        wait_for_switches(5);
        for bad in [0.0, -48_000.0, f64::NAN, f64::INFINITY] {
            assert_eq!(d.set_sample_rate(bad), ASE_INVALID_PARAMETER, "{bad}");
            assert_eq!(d.can_sample_rate(bad), ASE_INVALID_PARAMETER, "{bad}");
        }
        assert_eq!(RESET_REQUESTS.load(Ordering::SeqCst), 0);
        assert_eq!(d.dispose_buffers(), ASE_OK);
    }
}

#[test]
fn can_sample_rate_answers_from_the_device() {
    let spec = SimDeviceSpec {
        supported_rates: vec![48_000, 96_000],
        ..SimDeviceSpec::wine_alsa()
    };
    let h = host(spec, Mode::Auto);
    let d = &h.driver;
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    assert_eq!(d.can_sample_rate(96_000.0), ASE_OK);
    assert_eq!(d.can_sample_rate(44_100.0), ASE_NO_CLOCK);
    assert!(error_text(d).contains("44100"));
}

#[test]
fn stop_and_dispose_release_the_endpoint() {
    let h = host(SimDeviceSpec::wine_alsa(), Mode::Auto);
    let d = &h.driver;
    let held = || h.backend.control.endpoint_held.load(Ordering::SeqCst);
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    assert!(!held(), "probing leaves nothing open");
    assert_eq!(create(d, 2, 256), ASE_OK);
    assert_eq!(d.start(), ASE_OK);
    wait_for_switches(3);
    assert!(held());
    assert_eq!(d.stop(), ASE_OK);
    assert!(!held(), "released as soon as stop returns");
    assert_eq!(d.start(), ASE_OK);
    wait_for_switches(3);
    assert!(held());
    assert_eq!(h.backend.control.endpoint_opens.load(Ordering::SeqCst), 2);
    assert_eq!(d.dispose_buffers(), ASE_OK);
    assert!(!held(), "disposeBuffers while running releases it too");
}

#[test]
fn the_mode_status_reaches_hosts_through_future() {
    use wasio_engine::driver::{FUTURE_WASIO_MODE_STATUS, MODE_STATUS_BYTES};
    let h = host(SimDeviceSpec::wine_alsa(), Mode::Auto);
    let d = &h.driver;
    let mut text = vec![0u8; MODE_STATUS_BYTES];
    // SAFETY: the selector takes MODE_STATUS_BYTES bytes.
    let before = unsafe { d.future(FUTURE_WASIO_MODE_STATUS, text.as_mut_ptr().cast()) };
    assert_eq!(before, ASE_NOT_PRESENT, "nothing is known before init");
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    // SAFETY: as above.
    let code = unsafe { d.future(FUTURE_WASIO_MODE_STATUS, text.as_mut_ptr().cast()) };
    assert_eq!(code, ASE_SUCCESS);
    let status = CStr::from_bytes_until_nul(&text).unwrap().to_str().unwrap();
    assert!(status.starts_with("exclusive, polling"), "{status}");
    assert!(status.contains("AUDCLNT_E_DEVICE_IN_USE"), "{status}");
    // SAFETY: null opt is refused, not written.
    assert_eq!(
        unsafe { d.future(FUTURE_WASIO_MODE_STATUS, std::ptr::null_mut()) },
        ASE_NOT_PRESENT
    );
}

#[test]
fn a_sample_type_setting_picks_the_exclusive_format() {
    let h = host_configured(
        SimDeviceSpec::exclusive_capable(),
        Mode::ExclusivePoll,
        Some("int16"),
    );
    let d = &h.driver;
    assert_eq!(d.init(std::ptr::null_mut()), ASIO_TRUE);
    assert_eq!(sample_type_of(d), ST_INT16);
    let played = run_counter(&h, 300, 30);
    assert!(assert_counter_played(&played, DeviceFormat::Int16, 2) >= 20 * 300);
    assert_eq!(d.dispose_buffers(), ASE_OK);
}
