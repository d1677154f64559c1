//! `wasio test`: a whole host session on a driver, step by step, PASS/FAIL per step.
//!
//! init → getChannels → getBufferSize → canSampleRate (common rates) → setSampleRate →
//! getChannelInfo → createBuffers (every output) → getLatencies → start → N buffer switches
//! (getSamplePosition read inside each, as hosts do) → stop → disposeBuffers. With `--play`
//! a WAV file goes into the output buffers; `--record` writes what the switches put into the
//! output buffers (the driver has no inputs yet, so this records the output side: it proves
//! the file → driver sample type → file path and the block order, sample for sample).

use std::ffi::c_void;
use std::path::Path;
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use asio_abi::{c_chars_bytes, AsioBufferInfo, AsioSamples, AsioTimeStamp, ASE_OK, ASIO_FALSE};
use wasio_engine::convert::HostSampleType;

use crate::args::{TestOptions, DEFAULT_TEST_SWITCHES};
use crate::expect::{describe_code, Expect, MisuseReport};
use crate::host::{code_of, AsioDriver, HOST};
use crate::info::COMMON_RATES;
use crate::json::Json;
use crate::play::{self, wav_encoding_for, Playback, NO_POSITION};
use crate::wav::{encoding_words, Wav};

/// How long after the expected duration of the switches we give up waiting.
const SWITCH_GRACE: Duration = Duration::from_secs(3);
/// How long we watch for switches after stop.
const AFTER_STOP_WAIT: Duration = Duration::from_millis(200);

/// The driver's `this` and its `getSamplePosition`, for the probe run inside switches.
struct PositionSource {
    this: *mut c_void,
    get_sample_position: asio_abi::GetSamplePositionFn,
}

// SAFETY: the driver object outlives the playback (uninstalled after stop, before release);
// ASIO hosts call getSamplePosition from the switch thread, which drivers must allow.
unsafe impl Send for PositionSource {}
// SAFETY: see above.
unsafe impl Sync for PositionSource {}

impl PositionSource {
    fn read(&self) -> Option<u64> {
        let mut position = AsioSamples::default();
        let mut stamp = AsioTimeStamp::default();
        // SAFETY: valid out pointers; the driver is live (see the Send impl).
        let code = unsafe { (self.get_sample_position)(self.this, &mut position, &mut stamp) };
        (code == ASE_OK).then(|| position.to_u64())
    }
}

/// Runs the session; prints the steps (or JSON); returns the exit code.
pub fn run(options: &TestOptions) -> i32 {
    let mut report = if options.json {
        MisuseReport::silent()
    } else {
        outln!("wasio test: driver '{}'", options.driver);
        MisuseReport::printing()
    };
    let mut facts: Vec<(String, Json)> =
        vec![("driver".into(), Json::string(options.driver.clone()))];
    let fatal = session(options, &mut report, &mut facts).err();
    if let Some(problem) = &fatal {
        report.check("session", false, problem.clone(), "no error");
    }
    let summary = format!(
        "test: {} passed, {} failed",
        report.passed(),
        report.failed()
    );
    if options.json {
        facts.push(("steps".into(), report.steps_json()));
        facts.push(("passed".into(), Json::Int(report.passed() as i64)));
        facts.push(("failed".into(), Json::Int(report.failed() as i64)));
        facts.push(("ok".into(), Json::Bool(report.exit_code() == 0)));
        outln!("{}", Json::Object(facts).to_pretty());
    } else {
        outln!("{summary}");
    }
    report.exit_code()
}

/// The steps. `Err` ends the session early with a reason (a step that later steps need
/// failed, or a file problem); every step already recorded stays in the report.
fn session(
    options: &TestOptions,
    report: &mut MisuseReport,
    facts: &mut Vec<(String, Json)>,
) -> Result<(), String> {
    // Read the file first: a bad file is the user's mistake, found before touching the driver.
    let wav = match &options.play {
        Some(path) => Some(Wav::read(Path::new(path)).map_err(|e| e.to_string())?),
        None => None,
    };
    if let Some(wav) = &wav {
        report.note(&format!(
            "playing {}: {} Hz, {} ch, {}, {} frames",
            options.play.as_deref().unwrap_or_default(),
            wav.format.sample_rate,
            wav.format.channels,
            encoding_words(wav.format.encoding),
            wav.frames()
        ));
    }
    HOST.reset();
    let mut driver = AsioDriver::open(&options.driver).map_err(|e| e.to_string())?;
    report.check(
        "load",
        true,
        driver.entry().dll_path.clone().unwrap_or_default(),
        "the driver's DLL",
    );
    facts.push(("driver_name".into(), Json::string(driver.driver_name())));

    // SAFETY: null is the documented "no window" value.
    let ok = unsafe { (driver.vtbl().init)(driver.this(), std::ptr::null_mut()) };
    if !report.check(
        "init",
        ok != ASIO_FALSE,
        if ok != ASIO_FALSE {
            "ASIOTrue".to_string()
        } else {
            format!("ASIOFalse: {}", driver.error_message())
        },
        "ASIOTrue",
    ) {
        return Err("init failed; nothing else can be tested".into());
    }

    let channels = driver.channels();
    let outputs = channels.as_ref().map_or(0, |c| c.1);
    report.check(
        "getChannels",
        channels.is_ok() && outputs > 0,
        match &channels {
            Ok((inputs, outputs)) => format!("{inputs} inputs, {outputs} outputs"),
            Err(e) => e.to_string(),
        },
        "ASE_OK and at least one output",
    );
    if outputs <= 0 {
        return Err("the driver offers no outputs".into());
    }

    let sizes = driver.buffer_size();
    let sizes_ok = sizes
        .as_ref()
        .is_ok_and(|s| s.min > 0 && s.min <= s.preferred && s.preferred <= s.max);
    report.check(
        "getBufferSize",
        sizes_ok,
        match &sizes {
            Ok(s) => format!(
                "min {} max {} preferred {} granularity {}",
                s.min, s.max, s.preferred, s.granularity
            ),
            Err(e) => e.to_string(),
        },
        "ASE_OK, 0 < min <= preferred <= max",
    );
    let Ok(sizes) = sizes else {
        return Err("no buffer sizes".into());
    };

    let accepted: Vec<f64> = COMMON_RATES
        .iter()
        .copied()
        .filter(|&rate| driver.can_sample_rate(rate).is_ok())
        .collect();
    report.check(
        "canSampleRate (common rates)",
        !accepted.is_empty(),
        format!(
            "accepts {}",
            accepted
                .iter()
                .map(|r| format!("{r}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "at least one rate",
    );

    let current = driver.sample_rate();
    report.code("getSampleRate", code_of(&current), Expect::Ok);
    let rate = options
        .rate
        .or(wav.as_ref().map(|w| w.format.sample_rate as f64))
        .or(current.as_ref().ok().copied())
        .ok_or("no sample rate: getSampleRate failed and no --rate was given")?;
    let set = driver.set_sample_rate(rate);
    report.check(
        format!("setSampleRate({rate})"),
        set.is_ok(),
        match &set {
            Ok(()) => describe_code(ASE_OK),
            Err(e) => e.to_string(),
        },
        "ASE_OK",
    );
    if set.is_err() {
        return Err(format!("the driver refused {rate} Hz"));
    }
    let now = driver.sample_rate();
    report.check(
        "getSampleRate after setSampleRate",
        now.as_ref().is_ok_and(|&r| r == rate),
        format!("{now:?}"),
        format!("Ok({rate})"),
    );
    facts.push(("sample_rate".into(), Json::Number(rate)));

    let mut host_type = None;
    let mut mixed_types = false;
    for channel in 0..outputs {
        match driver.channel_info(channel, false) {
            Ok(info) => {
                let this_type = HostSampleType::from_asio(info.sample_type);
                if host_type.is_some() && host_type != this_type {
                    mixed_types = true;
                }
                host_type = host_type.or(this_type);
                if channel == 0 {
                    report.note(&format!(
                        "output 0: '{}', sample type {}",
                        String::from_utf8_lossy(c_chars_bytes(&info.name)),
                        info.sample_type
                    ));
                }
            }
            Err(e) => {
                report.check(
                    format!("getChannelInfo(output {channel})"),
                    false,
                    e.to_string(),
                    "ASE_OK",
                );
                return Err("getChannelInfo failed".into());
            }
        }
    }
    report.check(
        "getChannelInfo (every output)",
        host_type.is_some() && !mixed_types,
        match host_type {
            Some(t) if !mixed_types => format!("{t:?} on every output"),
            Some(_) => "outputs use different sample types".to_string(),
            None => "a sample type this tool does not know".to_string(),
        },
        "one known PCM or float sample type",
    );
    let host_type = host_type.ok_or("unknown sample type")?;
    facts.push(("sample_type".into(), Json::string(format!("{host_type:?}"))));

    let buffer = options.buffer.unwrap_or(sizes.preferred);
    let mut infos: Vec<AsioBufferInfo> = (0..outputs)
        .map(|channel| AsioBufferInfo {
            is_input: 0,
            channel_num: channel,
            buffers: [std::ptr::null_mut(); 2],
        })
        .collect();
    let created = driver.create_buffers(&mut infos, buffer);
    let all_set = infos
        .iter()
        .all(|i| !i.buffers[0].is_null() && !i.buffers[1].is_null());
    report.check(
        format!("createBuffers({outputs} outputs, {buffer} frames)"),
        created.is_ok() && all_set,
        match &created {
            Ok(()) if all_set => describe_code(ASE_OK),
            Ok(()) => "ASE_OK but some buffer pointers are null".to_string(),
            Err(e) => e.to_string(),
        },
        "ASE_OK and every buffer pointer set",
    );
    if created.is_err() || !all_set {
        return Err("no buffers".into());
    }
    facts.push(("buffer_frames".into(), Json::Int(buffer.into())));

    let latencies = driver.latencies();
    report.check(
        "getLatencies",
        latencies
            .as_ref()
            .is_ok_and(|&(_, output)| output >= buffer),
        format!("{latencies:?}"),
        "ASE_OK, output latency >= buffer size",
    );

    let target = match &wav {
        Some(w) => {
            (w.frames().div_ceil(buffer as usize)).max(options.switches.unwrap_or(0) as usize)
        }
        None => options.switches.unwrap_or(DEFAULT_TEST_SWITCHES) as usize,
    };
    let halves: Vec<[*mut u8; 2]> = infos
        .iter()
        .map(|i| [i.buffers[0].cast::<u8>(), i.buffers[1].cast::<u8>()])
        .collect();
    let source = PositionSource {
        this: driver.this(),
        get_sample_position: driver.vtbl().get_sample_position,
    };
    // SAFETY: createBuffers gave `buffer` samples of `host_type` per half; the buffers stay
    // valid until disposeBuffers, which runs after `uninstall`.
    let playback = unsafe {
        Playback::new(
            host_type,
            buffer as usize,
            &halves,
            wav.as_ref(),
            rate,
            target,
        )
    };
    let playback = match playback {
        Ok(playback) => Arc::new(playback.with_position_probe(Box::new(move || source.read()))),
        Err(error) => {
            // Leave the driver as a host would: buffers disposed before release.
            let _ = driver.dispose_buffers();
            return Err(error.0);
        }
    };
    if play::install(playback.clone()).is_err() {
        let _ = driver.dispose_buffers();
        return Err("a playback is already installed".to_string());
    }

    let started = driver.start();
    report.code("start", code_of(&started), Expect::Ok);
    let mut streamed = false;
    if started.is_ok() {
        let expected = Duration::from_secs_f64(target as f64 * buffer as f64 / rate);
        let deadline = Instant::now() + expected + SWITCH_GRACE;
        while playback.switches() < target && Instant::now() < deadline {
            sleep(Duration::from_millis(5));
        }
        let done = playback.switches();
        streamed = done >= target;
        report.check(
            format!("{target} buffer switches"),
            streamed,
            format!("{done} switches"),
            format!(
                "{target} within {:.1} s",
                (expected + SWITCH_GRACE).as_secs_f64()
            ),
        );
        let after = driver.sample_position();
        let positions = playback.positions();
        check_positions(
            report,
            &positions,
            buffer as u64,
            after.as_ref().ok().map(|p| p.0),
        );
        let snapshot = HOST.snapshot();
        report.check(
            "switch indexes and overlap",
            snapshot.bad_index == 0 && snapshot.overlapping == 0,
            format!(
                "{} bad indexes, {} overlapping switches",
                snapshot.bad_index, snapshot.overlapping
            ),
            "indexes 0 or 1, never overlapping",
        );
        let stopped = driver.stop();
        report.code("stop", code_of(&stopped), Expect::Ok);
        let at_stop = HOST.snapshot().buffer_switches;
        sleep(AFTER_STOP_WAIT);
        let later = HOST.snapshot().buffer_switches;
        report.check(
            "no switches after stop",
            later == at_stop,
            format!("{} switches after stop returned", later - at_stop),
            "0",
        );
    }
    let playback = play::uninstall().unwrap_or(playback);
    let disposed = driver.dispose_buffers();
    report.code("disposeBuffers", code_of(&disposed), Expect::Ok);
    facts.push(("switches".into(), Json::Int(playback.switches() as i64)));

    if let Some(path) = &options.record {
        let (encoding, channels) = match &wav {
            Some(w) => (w.format.encoding, w.format.channels),
            None => (wav_encoding_for(host_type), outputs as u16),
        };
        let recording = playback.recording(encoding, rate.round() as u32, channels);
        let written = recording.write(Path::new(path));
        report.check(
            format!("record {path}"),
            written.is_ok() && streamed,
            match &written {
                Ok(()) => format!(
                    "{} frames, {} ch, {}",
                    recording.frames(),
                    channels,
                    encoding_words(encoding)
                ),
                Err(e) => e.to_string(),
            },
            "the whole stream written",
        );
        facts.push(("record".into(), Json::string(path.clone())));
    }
    drop(driver);
    Ok(())
}

/// Positions read inside the switches: present, strictly increasing by one buffer per
/// switch; the AsioTime positions agree; the position read after the switches is not behind.
fn check_positions(
    report: &mut MisuseReport,
    positions: &[(u64, u64)],
    buffer: u64,
    after: Option<u64>,
) {
    let probed: Vec<u64> = positions.iter().map(|p| p.0).collect();
    let missing = probed.iter().filter(|&&p| p == NO_POSITION).count();
    let steps_wrong = probed
        .windows(2)
        .filter(|w| w[0] != NO_POSITION && w[1] != NO_POSITION && w[1] != w[0] + buffer)
        .count();
    let first = probed.first().copied().unwrap_or(NO_POSITION);
    report.check(
        "getSamplePosition inside each switch",
        !probed.is_empty() && missing == 0 && steps_wrong == 0,
        format!(
            "{} switches, first at {}, {missing} failed reads, {steps_wrong} steps other than {buffer}",
            probed.len(),
            if first == NO_POSITION { "-".to_string() } else { first.to_string() }
        ),
        format!("every read OK, +{buffer} per switch"),
    );
    let timed: Vec<u64> = positions
        .iter()
        .map(|p| p.1)
        .filter(|&p| p != NO_POSITION)
        .collect();
    if !timed.is_empty() {
        let agree = positions
            .iter()
            .filter(|p| p.1 != NO_POSITION)
            .all(|p| p.0 == NO_POSITION || p.0 == p.1);
        report.check(
            "AsioTime sample position",
            agree,
            format!("{} switches with time info", timed.len()),
            "equal to getSamplePosition in the same switch",
        );
    }
    let last = probed.iter().rev().find(|&&p| p != NO_POSITION).copied();
    report.check(
        "getSamplePosition after the switches",
        matches!((after, last), (Some(a), Some(l)) if a >= l),
        format!("{after:?} (last in a switch: {last:?})"),
        "ASE_OK, not behind the last switch",
    );
}
