//! Duplex and input-only streams end to end against the simulated devices: bit-exact input
//! on one clock, the drift path across two clocks, input only, channel subsets, and
//! getLatencies against a round trip measured through a simulated loopback.

use asio_abi::*;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wasio_engine::backend::Backend;
use wasio_engine::capture_clock::StampMeaning;
use wasio_engine::driver::DriverCore;
use wasio_engine::env::DriverEnv;
use wasio_engine::rt_guard::CountingAllocator;
use wasio_engine::sim::{ramp_value, SimDeviceSpec, SimInputSpec, SimSignal, SimulatedBackend};

#[global_allocator]
static ALLOCATOR: CountingAllocator<std::alloc::System> = CountingAllocator(std::alloc::System);

// ---- a recording host ------------------------------------------------------------------------

static SERIAL: Mutex<()> = Mutex::new(());
static SWITCHES: AtomicU64 = AtomicU64::new(0);
static LATENCY_MESSAGES: AtomicU64 = AtomicU64::new(0);

/// What the host does in each switch, set per test.
struct HostState {
    block: usize,
    /// (pointer of half 0, pointer of half 1) per input buffer, in createBuffers order.
    inputs: Vec<[usize; 2]>,
    outputs: Vec<[usize; 2]>,
    /// Everything each input delivered, in order.
    recorded: Vec<Vec<f32>>,
    /// Output 0 plays a 1.0 impulse every `impulse_every` frames (0: silence).
    impulse_every: u64,
    written: u64,
}

static STATE: Mutex<Option<HostState>> = Mutex::new(None);

unsafe extern "C" fn buffer_switch(half: i32, _direct: AsioBool) {
    let mut guard = STATE.lock().unwrap();
    if let Some(state) = guard.as_mut() {
        let h = half as usize;
        for (k, pointers) in state.inputs.iter().enumerate() {
            // SAFETY: the driver gave us `block` floats per half; the input half is ours now.
            let input =
                unsafe { std::slice::from_raw_parts(pointers[h] as *const f32, state.block) };
            state.recorded[k].extend_from_slice(input);
        }
        for (k, pointers) in state.outputs.iter().enumerate() {
            // SAFETY: as above, for the output half.
            let out =
                unsafe { std::slice::from_raw_parts_mut(pointers[h] as *mut f32, state.block) };
            for (i, s) in out.iter_mut().enumerate() {
                let n = state.written + i as u64;
                *s = if k == 0 && state.impulse_every > 0 && n.is_multiple_of(state.impulse_every) {
                    1.0
                } else {
                    0.0
                };
            }
        }
        state.written += state.block as u64;
    }
    SWITCHES.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn asio_message(selector: i32, value: i32, _m: *mut c_void, _o: *mut f64) -> i32 {
    match selector {
        message::SELECTOR_SUPPORTED => {
            matches!(value, message::LATENCIES_CHANGED | message::RESET_REQUEST) as i32
        }
        message::LATENCIES_CHANGED => {
            LATENCY_MESSAGES.fetch_add(1, Ordering::SeqCst);
            1
        }
        _ => 0,
    }
}

struct Host {
    _serial: MutexGuard<'static, ()>,
    driver: Arc<DriverCore>,
}

fn host(spec: SimDeviceSpec) -> Host {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    SWITCHES.store(0, Ordering::SeqCst);
    LATENCY_MESSAGES.store(0, Ordering::SeqCst);
    *STATE.lock().unwrap() = None;
    let backend = Arc::new(SimulatedBackend::new(spec));
    let driver = Arc::new(DriverCore::new(
        Box::new(move || Ok(backend.clone() as Arc<dyn Backend>)),
        DriverEnv::detached("duplex.exe"),
    ));
    assert_eq!(driver.init(std::ptr::null_mut()), ASIO_TRUE);
    Host {
        _serial: serial,
        driver,
    }
}

fn duplex_spec(input: SimInputSpec) -> SimDeviceSpec {
    SimDeviceSpec {
        input: Some(input),
        ..SimDeviceSpec::default()
    }
}

/// createBuffers for `(is_input, channel)` pairs; the host then records every input.
fn create(d: &DriverCore, channels: &[(bool, i32)], block: usize, impulse_every: u64) -> AsioError {
    let mut infos: Vec<AsioBufferInfo> = channels
        .iter()
        .map(|&(is_input, c)| {
            let mut i = AsioBufferInfo::zeroed();
            i.is_input = if is_input { ASIO_TRUE } else { ASIO_FALSE };
            i.channel_num = c;
            i
        })
        .collect();
    let callbacks = AsioCallbacks {
        buffer_switch: Some(buffer_switch),
        sample_rate_did_change: None,
        asio_message: Some(asio_message),
        buffer_switch_time_info: None,
    };
    // SAFETY: live locals.
    let code = unsafe {
        d.create_buffers(
            infos.as_mut_ptr(),
            infos.len() as i32,
            block as i32,
            &callbacks,
        )
    };
    if code == ASE_OK {
        let pointers = |input: bool| -> Vec<[usize; 2]> {
            infos
                .iter()
                .filter(|i| (i.is_input != ASIO_FALSE) == input)
                .map(|i| {
                    let b = i.buffers;
                    [b[0] as usize, b[1] as usize]
                })
                .collect()
        };
        let inputs = pointers(true);
        *STATE.lock().unwrap() = Some(HostState {
            block,
            recorded: vec![Vec::new(); inputs.len()],
            inputs,
            outputs: pointers(false),
            impulse_every,
            written: 0,
        });
    }
    code
}

fn run_switches(d: &DriverCore, n: u64) {
    assert_eq!(d.start(), ASE_OK);
    let deadline = Instant::now() + Duration::from_secs(120);
    while SWITCHES.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "only {} switches",
            SWITCHES.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(d.stop(), ASE_OK);
}

fn recorded(input: usize) -> Vec<f32> {
    STATE.lock().unwrap().as_ref().unwrap().recorded[input].clone()
}

fn latencies(d: &DriverCore) -> (i32, i32) {
    let (mut input, mut output) = (-1, -1);
    // SAFETY: live locals.
    assert_eq!(unsafe { d.get_latencies(&mut input, &mut output) }, ASE_OK);
    (input, output)
}

/// Checks that `samples` are silence, then the capture ramp of `channel` from some frame on,
/// without a gap. Returns (first host sample with audio, capture frame it holds).
fn assert_continuous_ramp(samples: &[f32], channel: usize) -> (usize, u64) {
    // Channel 1's ramp is never 0; channel 0's is 0 only at frame 0.
    let start = samples
        .iter()
        .position(|&v| v != 0.0)
        .expect("no input arrived");
    let first_frame = (samples[start] - channel as f32 * 0.5) as u64;
    let (start, first_frame) = if channel == 0 && first_frame == 1 {
        (start - 1, 0)
    } else {
        (start, first_frame)
    };
    for (i, &v) in samples[start..].iter().enumerate() {
        let expected = ramp_value(first_frame + i as u64, channel);
        assert_eq!(
            v.to_bits(),
            expected.to_bits(),
            "input sample {} is {v}, not {expected}: a glitch",
            start + i
        );
    }
    (start, first_frame)
}

// ---- the tests ---------------------------------------------------------------------------------

#[test]
fn in_duplex_both_endpoints_must_support_the_rate() {
    // The output (the default simulated device) takes 44.1, 48 and 96 kHz; this input
    // takes only 44.1 and 48 kHz.
    let h = host(duplex_spec(SimInputSpec {
        supported_rates: Some(vec![44_100, 48_000]),
        ..SimInputSpec::default()
    }));
    let d = &h.driver;
    assert_eq!(d.can_sample_rate(48_000.0), ASE_OK);
    assert_eq!(d.can_sample_rate(44_100.0), ASE_OK);
    assert_eq!(d.can_sample_rate(96_000.0), ASE_NO_CLOCK);
    assert!(
        d.error_message()
            .contains("input device cannot run at 96000 Hz"),
        "{}",
        d.error_message()
    );
    assert_eq!(d.set_sample_rate(96_000.0), ASE_NO_CLOCK);
    let mut rate = 0.0;
    // SAFETY: a live local.
    assert_eq!(unsafe { d.get_sample_rate(&mut rate) }, ASE_OK);
    assert_eq!(rate, 48_000.0, "a refused rate changes nothing");
    assert_eq!(d.set_sample_rate(44_100.0), ASE_OK);
}

#[test]
fn inputs_are_listed_with_names_from_the_channel_mask() {
    let h = host(duplex_spec(SimInputSpec {
        mix_format: wasio_engine::format::StreamFormat {
            sample_rate: 48_000,
            channels: 4,
            channel_mask: 0x33,
            encoding: wasio_engine::convert::DeviceFormat::Float32,
        },
        ..SimInputSpec::default()
    }));
    let d = &h.driver;
    let (mut ins, mut outs) = (0, 0);
    // SAFETY: live locals.
    assert_eq!(unsafe { d.get_channels(&mut ins, &mut outs) }, ASE_OK);
    assert_eq!((ins, outs), (4, 2));
    let mut names = Vec::new();
    for channel in 0..4 {
        let mut info = AsioChannelInfo::zeroed();
        info.channel = channel;
        info.is_input = ASIO_TRUE;
        // SAFETY: live local.
        assert_eq!(unsafe { d.get_channel_info(&mut info) }, ASE_OK);
        let name = info.name;
        // SAFETY: the driver writes a NUL-terminated name.
        names.push(
            unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
                .to_string_lossy()
                .into_owned(),
        );
    }
    assert_eq!(
        names,
        ["Front Left", "Front Right", "Back Left", "Back Right"]
    );
    let mut info = AsioChannelInfo::zeroed();
    info.channel = 4;
    info.is_input = ASIO_TRUE;
    // SAFETY: live local.
    assert_eq!(
        unsafe { d.get_channel_info(&mut info) },
        ASE_INVALID_PARAMETER
    );
}

#[test]
fn same_clock_duplex_is_bit_exact_with_a_fixed_delay() {
    for block in [256usize, 441, 32, 1000] {
        let h = host(duplex_spec(SimInputSpec::default()));
        let d = &h.driver;
        assert_eq!(
            create(d, &[(true, 0), (true, 1), (false, 0), (false, 1)], block, 0),
            ASE_OK
        );
        run_switches(d, 48_000 * 5 / block as u64);
        let (start0, frame0) = assert_continuous_ramp(&recorded(0), 0);
        let (start1, frame1) = assert_continuous_ramp(&recorded(1), 1);
        // Both channels carry the same frames at the same host positions.
        assert_eq!(start0 as i64 - frame0 as i64, start1 as i64 - frame1 as i64);
        let report = d.last_report();
        assert_eq!(report.rt_allocations, 0, "block {block}");
        let monitor = d.input_monitor();
        assert_eq!(
            monitor.underruns.load(Ordering::Relaxed),
            0,
            "block {block}"
        );
        assert_eq!(monitor.overruns.load(Ordering::Relaxed), 0, "block {block}");
        assert_eq!(monitor.drift_ppm(), 0.0);
        assert_eq!(d.dispose_buffers(), ASE_OK);
    }
}

#[test]
fn the_relation_between_input_and_output_blocks_is_the_same_every_run() {
    // The capture frame in host sample 0 of a primed stream depends only on the FIFO
    // target, not on when the first packet happened to arrive.
    let mut offsets = Vec::new();
    for burst_every in [0, 7, 3] {
        let h = host(duplex_spec(SimInputSpec {
            burst_every,
            ..SimInputSpec::default()
        }));
        let d = &h.driver;
        assert_eq!(create(d, &[(true, 1), (false, 0)], 256, 0), ASE_OK);
        run_switches(d, 200);
        let (start, frame) = assert_continuous_ramp(&recorded(0), 1);
        offsets.push(start as i64 - frame as i64);
        let (input_latency, _) = latencies(d);
        assert!(input_latency > 256);
        assert_eq!(d.dispose_buffers(), ASE_OK);
    }
    assert!(
        offsets.windows(2).all(|w| w[0] == w[1]),
        "offsets {offsets:?}"
    );
}

#[test]
fn independent_clocks_are_resampled_without_a_glitch_for_a_long_run() {
    for ppm in [150.0, -400.0] {
        let h = host(SimDeviceSpec {
            tick: Duration::ZERO,
            input: Some(SimInputSpec {
                shared_clock: false,
                ppm,
                ..SimInputSpec::default()
            }),
            ..SimDeviceSpec::default()
        });
        let d = &h.driver;
        assert_eq!(
            create(d, &[(true, 0), (false, 0), (false, 1)], 256, 0),
            ASE_OK
        );
        // Five simulated minutes: several beats between the two clocks' event phases.
        run_switches(d, 48_000 * 300 / 256);
        let monitor = d.input_monitor();
        assert_eq!(monitor.underruns.load(Ordering::Relaxed), 0, "{ppm} ppm");
        assert_eq!(monitor.overruns.load(Ordering::Relaxed), 0, "{ppm} ppm");
        assert!(
            (monitor.drift_ppm() - ppm).abs() < 5.0,
            "estimated {} ppm, simulated {ppm}",
            monitor.drift_ppm()
        );
        let latency = monitor.measured_latency_frames().unwrap();
        let (reported, _) = latencies(d);
        assert!(latency > 256.0 && latency < 4096.0, "latency {latency}");
        assert!(
            (reported as f64 - latency).abs() <= 8.0 + 1.0,
            "{reported} vs {latency}"
        );
        assert_eq!(d.last_report().rt_allocations, 0);
        // Audio flowed: the resampled ramp is not silence.
        assert!(recorded(0).iter().rev().take(1000).any(|&v| v != 0.0));
        assert_eq!(d.dispose_buffers(), ASE_OK);
    }
}

#[test]
fn input_only_streams_run_from_the_capture_clock() {
    for block in [256usize, 480, 100] {
        let h = host(duplex_spec(SimInputSpec::default()));
        let d = &h.driver;
        assert_eq!(create(d, &[(true, 1), (true, 0)], block, 0), ASE_OK);
        let (input_latency, output_latency) = latencies(d);
        assert_eq!(output_latency, 0);
        assert_eq!(input_latency as usize, block + 480);
        run_switches(d, 48_000 * 3 / block as u64);
        assert_continuous_ramp(&recorded(0), 1);
        assert_continuous_ramp(&recorded(1), 0);
        let report = d.last_report();
        assert!(report.stats.switches >= 48_000 * 3 / block as u64);
        assert_eq!(report.stats.frames_to_device, 0);
        assert_eq!(report.rt_allocations, 0);
        let mut position = AsioSamples::from_u64(0);
        let mut stamp = AsioTimeStamp::from_u64(0);
        // SAFETY: live locals.
        assert_eq!(
            unsafe { d.get_sample_position(&mut position, &mut stamp) },
            ASE_OK
        );
        assert_eq!(position.to_u64() % block as u64, 0);
        assert_eq!(d.dispose_buffers(), ASE_OK);
    }
}

#[test]
fn channel_subsets_route_the_right_device_channels() {
    let h = host(duplex_spec(SimInputSpec::default()));
    let d = &h.driver;
    // Output first, then input 1 only: the host's order does not matter.
    assert_eq!(create(d, &[(false, 1), (true, 1)], 128, 0), ASE_OK);
    let mut info = AsioChannelInfo::zeroed();
    info.channel = 1;
    info.is_input = ASIO_TRUE;
    // SAFETY: live local.
    assert_eq!(unsafe { d.get_channel_info(&mut info) }, ASE_OK);
    assert_eq!(info.is_active, ASIO_TRUE);
    info.channel = 0;
    // SAFETY: live local.
    assert_eq!(unsafe { d.get_channel_info(&mut info) }, ASE_OK);
    assert_eq!(info.is_active, ASIO_FALSE);
    run_switches(d, 300);
    assert_continuous_ramp(&recorded(0), 1);
    assert_eq!(d.dispose_buffers(), ASE_OK);
    // Asking for an input twice, or one that does not exist, is refused.
    assert_eq!(
        create(d, &[(true, 0), (true, 0)], 128, 0),
        ASE_INVALID_PARAMETER
    );
    assert_eq!(create(d, &[(true, 2)], 128, 0), ASE_INVALID_PARAMETER);
}

#[test]
fn reported_latencies_match_the_round_trip_through_a_loopback() {
    const DELAY: usize = 100;
    const IMPULSE_EVERY: u64 = 14_400;
    // Windows-like 10 ms packets stamped at their first frame; Wine-like ones stamped when
    // read (also after a late wake-up, with the next packet); and the bench's 60 ms packets
    // (PulseAudio at PULSE_LATENCY_MSEC=60) stamped when read.
    let cases = [
        (StampMeaning::FirstFrame, 480, 1440),
        (StampMeaning::ReadTime, 480, 1440),
        (StampMeaning::ReadTime, 2880, 8640),
    ];
    for (block, (stamps, period_frames, buffer_frames)) in [256usize, 441]
        .into_iter()
        .flat_map(|block| cases.map(|case| (block, case)))
    {
        let h = host(duplex_spec(SimInputSpec {
            signal: SimSignal::Loopback {
                delay_frames: DELAY,
            },
            stamps,
            period_frames,
            buffer_frames,
            ..SimInputSpec::default()
        }));
        let d = &h.driver;
        assert_eq!(
            create(d, &[(true, 0), (false, 0)], block, IMPULSE_EVERY),
            ASE_OK
        );
        let told = latencies(d);
        // Long enough (in real time) for the measurement to be latched.
        run_switches(d, 48_000 * 6 / block as u64);
        let (input_latency, output_latency) = latencies(d);
        let input = recorded(0);
        let arrivals: Vec<usize> = input
            .iter()
            .enumerate()
            .filter(|(_, &v)| v == 1.0)
            .map(|(i, _)| i)
            .collect();
        assert!(
            arrivals.len() >= 15,
            "{} impulses came back",
            arrivals.len()
        );
        for pair in arrivals.windows(2) {
            assert_eq!(
                pair[1] - pair[0],
                IMPULSE_EVERY as usize,
                "an impulse is missing or doubled"
            );
        }
        // Impulses leave at multiples of IMPULSE_EVERY and the round trip is shorter than that.
        let round_trip = (arrivals[0] % IMPULSE_EVERY as usize) as i64;
        let reported = (input_latency + output_latency) as i64 + DELAY as i64;
        let case = format!("block {block}, {period_frames}-frame packets, {stamps:?}");
        assert!(
            (round_trip - reported).abs() <= 1,
            "{case}: round trip {round_trip} frames, reported {input_latency} + {output_latency} (+ {DELAY} in the cable)"
        );
        // What a host reads before start (PortAudio never asks again) is right too: the
        // level held does not depend on the capture phase at start.
        let predicted = (told.0 + told.1) as i64 + DELAY as i64;
        assert!(
            (round_trip - predicted).abs() <= 1,
            "{case}: round trip {round_trip} frames, told {told:?} before start"
        );
        // The host heard about the change exactly when the value changed.
        let messages = LATENCY_MESSAGES.load(Ordering::SeqCst);
        assert_eq!(messages > 0, told.0 != input_latency, "told {told:?}");
        assert_eq!(d.dispose_buffers(), ASE_OK);
    }
}

#[test]
fn an_unknown_clock_relation_stays_bit_exact_while_the_clocks_agree() {
    let h = host(SimDeviceSpec {
        tick: Duration::ZERO,
        input: Some(SimInputSpec {
            detect_clock: true,
            ..SimInputSpec::default()
        }),
        ..SimDeviceSpec::default()
    });
    let d = &h.driver;
    assert_eq!(create(d, &[(true, 1), (false, 0)], 256, 0), ASE_OK);
    // A simulated minute.
    run_switches(d, 48_000 * 60 / 256);
    assert_continuous_ramp(&recorded(0), 1);
    let monitor = d.input_monitor();
    assert!(!monitor.resampling.load(Ordering::Relaxed));
    assert_eq!(monitor.underruns.load(Ordering::Relaxed), 0);
    assert_eq!(monitor.overruns.load(Ordering::Relaxed), 0);
    assert_eq!(d.dispose_buffers(), ASE_OK);
}

#[test]
fn an_unknown_clock_relation_turns_to_resampling_when_the_clocks_drift() {
    for ppm in [200.0, -50.0] {
        let h = host(SimDeviceSpec {
            tick: Duration::ZERO,
            input: Some(SimInputSpec {
                shared_clock: false,
                detect_clock: true,
                ppm,
                ..SimInputSpec::default()
            }),
            ..SimDeviceSpec::default()
        });
        let d = &h.driver;
        assert_eq!(create(d, &[(true, 0), (false, 0)], 256, 0), ASE_OK);
        // Five simulated minutes: -50 ppm (2.4 frames/s) crosses the threshold (304 frames)
        // after about two, and the estimate then has time to settle.
        run_switches(d, 48_000 * 300 / 256);
        let monitor = d.input_monitor();
        assert!(monitor.resampling.load(Ordering::Relaxed), "{ppm} ppm");
        assert_eq!(monitor.underruns.load(Ordering::Relaxed), 0, "{ppm} ppm");
        assert_eq!(monitor.overruns.load(Ordering::Relaxed), 0, "{ppm} ppm");
        assert!(
            (monitor.drift_ppm() - ppm).abs() < 5.0,
            "estimated {} ppm, simulated {ppm}",
            monitor.drift_ppm()
        );
        // No block of silence after the hand-over: the last minute is all signal.
        let input = recorded(0);
        let last_minute = &input[input.len() - 48_000 * 60..];
        let silent_run = last_minute
            .split(|&v| v != 0.0)
            .map(<[f32]>::len)
            .max()
            .unwrap_or(0);
        assert!(silent_run < 4, "{silent_run} silent samples in a row");
        assert_eq!(d.last_report().rt_allocations, 0);
        assert_eq!(d.dispose_buffers(), ASE_OK);
    }
}
