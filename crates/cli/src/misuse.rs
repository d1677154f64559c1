//! `wasio misuse`: calls a driver the wrong way, the way careless or unusual hosts do, and
//! checks every answer. Each step prints PASS/FAIL as it happens, so a driver that kills
//! the process still leaves the steps before on screen.
//!
//! Raw vtable calls are used where the safe wrapper would not let us misbehave (null
//! pointers, bad counts); a correct driver rejects them with an error code.

use std::ffi::c_char;
use std::ptr::null_mut;
use std::thread::sleep;
use std::time::Duration;

use asio_abi::*;

use crate::expect::{describe_code, Expect, MisuseReport};
use crate::host::{code_of, AsioDriver, HOST, HOST_CALLBACKS};

/// Buffer-switch waits. Long enough for several buffers at any sane size; nothing asserts
/// on how many arrived, only that some did (or none, after stop).
const RUN_WAIT: Duration = Duration::from_millis(300);
const SETTLE_WAIT: Duration = Duration::from_millis(150);

const OK_OR_INVALID_MODE: Expect = Expect::OneOf(&[ASE_OK, ASE_INVALID_MODE]);

/// Runs the sequence against the driver `name`; prints the summary; returns the exit code.
pub fn run(name: &str, json: bool) -> i32 {
    if json {
        let mut report = MisuseReport::silent();
        sequence(name, &mut report);
        let object = crate::json::Json::object([
            ("driver", crate::json::Json::string(name)),
            ("steps", report.steps_json()),
            ("passed", crate::json::Json::Int(report.passed() as i64)),
            ("failed", crate::json::Json::Int(report.failed() as i64)),
            ("ok", crate::json::Json::Bool(report.exit_code() == 0)),
        ]);
        outln!("{}", object.to_pretty());
        return report.exit_code();
    }
    outln!("wasio misuse: driver '{name}'");
    let mut report = MisuseReport::printing();
    sequence(name, &mut report);
    outln!("{}", report.summary());
    report.exit_code()
}

/// Calls `getDriverName` or `getErrorMessage` with a sentinel-filled buffer and checks
/// the driver wrote a NUL within `limit` bytes and nothing beyond.
fn check_string_bound(
    report: &mut MisuseReport,
    step: &str,
    limit: usize,
    call: impl FnOnce(*mut c_char),
) {
    const SENTINEL: c_char = 0x5a;
    let mut buffer = [SENTINEL; 600];
    call(buffer.as_mut_ptr());
    let nul = buffer.iter().position(|&c| c == 0);
    let untouched = buffer[limit..].iter().all(|&c| c == SENTINEL);
    let text = String::from_utf8_lossy(c_chars_bytes(&buffer[..limit])).into_owned();
    let passed = matches!(nul, Some(n) if n < limit) && untouched;
    report.check(
        step,
        passed,
        format!(
            "\"{text}\", NUL at {}, bytes past {limit} {}",
            nul.map_or("none".to_string(), |n| n.to_string()),
            if untouched { "untouched" } else { "WRITTEN" }
        ),
        format!("NUL-terminated within {limit} bytes"),
    );
}

fn switches() -> u64 {
    HOST.snapshot().buffer_switches
}

fn sequence(name: &str, report: &mut MisuseReport) {
    HOST.reset();
    let mut driver = match AsioDriver::open(name) {
        Ok(driver) => {
            report.check("load driver", true, "CoCreateInstance succeeded", "loaded");
            driver
        }
        Err(error) => {
            report.check("load driver", false, error.to_string(), "loaded");
            return;
        }
    };
    let v = *driver.vtbl();
    let this = driver.this();
    let (mut a, mut b, mut c, mut d) = (0i32, 0i32, 0i32, 0i32);
    let mut rate = 0.0f64;

    // ---- Before init --------------------------------------------------------------------
    check_string_bound(report, "getDriverName before init", 32, |p| {
        // SAFETY: `p` has 600 writable bytes, more than the 32 allowed.
        unsafe { (v.get_driver_name)(this, p) }
    });
    // SAFETY: `this` is live; every pointer in this block is a valid local.
    let before_init: [(&str, AsioError); 9] = unsafe {
        let mut info = AsioChannelInfo::request(0, false);
        let mut buffers = [AsioBufferInfo::request(0, false)];
        let mut position = AsioSamples::default();
        let mut stamp = AsioTimeStamp::default();
        [
            (
                "getChannels before init",
                (v.get_channels)(this, &mut a, &mut b),
            ),
            (
                "getLatencies before init",
                (v.get_latencies)(this, &mut a, &mut b),
            ),
            (
                "getBufferSize before init",
                (v.get_buffer_size)(this, &mut a, &mut b, &mut c, &mut d),
            ),
            (
                "canSampleRate(48000) before init",
                (v.can_sample_rate)(this, 48000.0),
            ),
            (
                "getSampleRate before init",
                (v.get_sample_rate)(this, &mut rate),
            ),
            (
                "getChannelInfo before init",
                (v.get_channel_info)(this, &mut info),
            ),
            (
                "getSamplePosition before init",
                (v.get_sample_position)(this, &mut position, &mut stamp),
            ),
            (
                "createBuffers before init",
                (v.create_buffers)(this, buffers.as_mut_ptr(), 1, 256, &HOST_CALLBACKS),
            ),
            ("start before init", (v.start)(this)),
        ]
    };
    for (step, code) in before_init {
        report.code(step, code, Expect::NotInitialized);
    }
    // SAFETY: `this` is live.
    let code = unsafe { (v.set_sample_rate)(this, 48000.0) };
    report.code(
        "setSampleRate(48000) before init",
        code,
        Expect::NotInitialized,
    );
    // SAFETY: `this` is live.
    let code = unsafe { (v.dispose_buffers)(this) };
    report.code("disposeBuffers before init", code, Expect::NotInitialized);

    // ---- init ---------------------------------------------------------------------------
    if let Err(error) = driver.init() {
        report.check("init(null)", false, error.to_string(), "ASIOTrue");
        return;
    }
    report.check("init(null)", true, "ASIOTrue", "ASIOTrue");
    check_string_bound(report, "getDriverName", 32, |p| {
        // SAFETY: `p` has 600 writable bytes, more than the 32 allowed.
        unsafe { (v.get_driver_name)(this, p) }
    });
    check_string_bound(report, "getErrorMessage", 124, |p| {
        // SAFETY: `p` has 600 writable bytes, more than the 124 allowed.
        unsafe { (v.get_error_message)(this, p) }
    });

    let channels = driver.channels();
    report.code("getChannels", code_of(&channels), Expect::Ok);
    let (inputs, outputs) = channels.unwrap_or((0, 0));
    report.check(
        "channel counts",
        outputs > 0 && inputs >= 0,
        format!("{inputs} in, {outputs} out"),
        "at least one output, no negative count",
    );
    let sizes = driver.buffer_size();
    report.code("getBufferSize", code_of(&sizes), Expect::Ok);
    let preferred = match &sizes {
        Ok(s) => {
            report.check(
                "buffer sizes ordered",
                0 < s.min && s.min <= s.preferred && s.preferred <= s.max,
                format!("min {}, preferred {}, max {}", s.min, s.preferred, s.max),
                "0 < min <= preferred <= max",
            );
            s.preferred
        }
        Err(_) => 256,
    };
    let initial_rate = driver.sample_rate();
    report.code("getSampleRate", code_of(&initial_rate), Expect::Ok);
    let initial_rate = initial_rate.unwrap_or(0.0);
    report.code(
        "getLatencies before createBuffers",
        code_of(&driver.latencies()),
        Expect::Ok,
    );
    report.code(
        "start before createBuffers",
        code_of(&driver.start()),
        Expect::Code(ASE_INVALID_MODE),
    );

    // ---- Null pointers ------------------------------------------------------------------
    let invalid = Expect::Code(ASE_INVALID_PARAMETER);
    // Null pointers are the point of the test; a correct driver checks them.
    // SAFETY: `this` is live; every non-null pointer is a valid local of the right type.
    let null_calls: [(&str, AsioError); 12] = unsafe {
        let mut buffers = [AsioBufferInfo::request(0, false)];
        [
            (
                "getChannels(null, null)",
                (v.get_channels)(this, null_mut(), null_mut()),
            ),
            (
                "getChannels(&in, null)",
                (v.get_channels)(this, &mut a, null_mut()),
            ),
            (
                "getChannels(null, &out)",
                (v.get_channels)(this, null_mut(), &mut b),
            ),
            (
                "getLatencies(null, null)",
                (v.get_latencies)(this, null_mut(), null_mut()),
            ),
            (
                "getLatencies(&in, null)",
                (v.get_latencies)(this, &mut a, null_mut()),
            ),
            (
                "getBufferSize(null x4)",
                (v.get_buffer_size)(this, null_mut(), null_mut(), null_mut(), null_mut()),
            ),
            (
                "getBufferSize(&, &, &, null)",
                (v.get_buffer_size)(this, &mut a, &mut b, &mut c, null_mut()),
            ),
            ("getSampleRate(null)", (v.get_sample_rate)(this, null_mut())),
            (
                "getChannelInfo(null)",
                (v.get_channel_info)(this, null_mut()),
            ),
            (
                "getClockSources(null, null)",
                (v.get_clock_sources)(this, null_mut(), null_mut()),
            ),
            (
                "createBuffers(null infos)",
                (v.create_buffers)(this, null_mut(), 1, preferred, &HOST_CALLBACKS),
            ),
            (
                "createBuffers(null callbacks)",
                (v.create_buffers)(this, buffers.as_mut_ptr(), 1, preferred, std::ptr::null()),
            ),
        ]
    };
    for (step, code) in null_calls {
        report.code(step, code, invalid);
    }
    // Before createBuffers there is no stream: "wrong state" comes first; a driver may also
    // answer "not advancing" or check the pointers first. While running it must not.
    // SAFETY: null pointers are the point of the test.
    let code = unsafe { (v.get_sample_position)(this, null_mut(), null_mut()) };
    report.code(
        "getSamplePosition(null, null) before start",
        code,
        Expect::OneOf(&[
            ASE_INVALID_PARAMETER,
            ASE_SP_NOT_ADVANCING,
            ASE_INVALID_MODE,
        ]),
    );

    // ---- Channel indices ----------------------------------------------------------------
    for (is_input, count) in [(true, inputs), (false, outputs)] {
        let kind = if is_input { "input" } else { "output" };
        for channel in [-1, count, 9999] {
            let result = driver.channel_info(channel, is_input);
            report.code(
                format!("getChannelInfo({kind} {channel})"),
                code_of(&result),
                invalid,
            );
        }
    }
    match driver.channel_info(0, false) {
        Ok(info) => {
            let sample_type = SampleType::try_from(info.sample_type);
            let name = String::from_utf8_lossy(c_chars_bytes(&info.name)).into_owned();
            report.check(
                "getChannelInfo(output 0)",
                sample_type.is_ok() && !name.is_empty() && info.channel == 0,
                format!(
                    "\"{name}\", {}",
                    sample_type.map_or_else(|e| e.to_string(), |t| t.name().to_string())
                ),
                "a name and a known sample type",
            );
        }
        Err(error) => {
            report.code("getChannelInfo(output 0)", error.code, Expect::Ok);
        }
    }

    // ---- Sample rates -------------------------------------------------------------------
    for bad in [0.0, f64::NAN, -1.0, f64::INFINITY, f64::NEG_INFINITY, 1e7] {
        report.code(
            format!("canSampleRate({bad})"),
            code_of(&driver.can_sample_rate(bad)),
            Expect::AnyError,
        );
        report.code(
            format!("setSampleRate({bad})"),
            code_of(&driver.set_sample_rate(bad)),
            Expect::AnyError,
        );
    }
    let rate_after = driver.sample_rate();
    report.check(
        "sample rate unchanged by bad rates",
        rate_after.as_ref().is_ok_and(|r| *r == initial_rate),
        match &rate_after {
            Ok(r) => format!("{r} Hz"),
            Err(e) => e.to_string(),
        },
        format!("{initial_rate} Hz"),
    );

    // ---- createBuffers with bad arguments -----------------------------------------------
    let bad_creates: [(&str, i32, i32, i32); 6] = [
        ("createBuffers(0 channels)", 0, 0, preferred),
        ("createBuffers(-1 channels)", -1, 0, preferred),
        ("createBuffers(buffer size 0)", 1, 0, 0),
        ("createBuffers(buffer size -1)", 1, 0, -1),
        (
            "createBuffers(output channel out of range)",
            1,
            outputs,
            preferred,
        ),
        ("createBuffers(output channel -1)", 1, -1, preferred),
    ];
    for (step, count, channel, size) in bad_creates {
        let mut buffers = [AsioBufferInfo::request(channel, false)];
        // Bad counts are the point of the test; a correct driver rejects them first.
        let infos = buffers.as_mut_ptr();
        // SAFETY: `infos` holds one entry and `this` is live.
        let code = unsafe { (v.create_buffers)(this, infos, count, size, &HOST_CALLBACKS) };
        report.code(step, code, Expect::AnyError);
        if code == ASE_OK {
            // Do not let a wrongly accepted call poison the rest of the run.
            let _ = driver.dispose_buffers();
        }
    }

    // ---- A valid createBuffers, then misuse while prepared and running -------------------
    let mut buffers = buffer_request(inputs, outputs);
    let created = driver.create_buffers(&mut buffers, preferred);
    report.code(
        format!(
            "createBuffers({} channels, {preferred} frames)",
            buffers.len()
        ),
        code_of(&created),
        Expect::Ok,
    );
    if created.is_err() {
        return;
    }
    let all_set = buffers.iter().all(|info| {
        let [first, second] = info.buffers;
        !first.is_null() && !second.is_null() && first != second
    });
    report.check(
        "buffer pointers",
        all_set,
        if all_set {
            "all set"
        } else {
            "null or shared halves"
        },
        "two distinct non-null halves per channel",
    );
    let mut again = buffer_request(inputs, outputs);
    report.code(
        "createBuffers again",
        code_of(&driver.create_buffers(&mut again, preferred)),
        Expect::Code(ASE_INVALID_MODE),
    );
    let latencies = driver.latencies();
    report.code(
        "getLatencies after createBuffers",
        code_of(&latencies),
        Expect::Ok,
    );
    if let Ok((input, output)) = latencies {
        report.check(
            "output latency covers a buffer",
            output >= preferred && input >= 0,
            format!("input {input}, output {output}"),
            format!("output >= {preferred}, input >= 0"),
        );
    }
    sleep(SETTLE_WAIT);
    let before_start = switches();
    report.check(
        "no bufferSwitch before start",
        before_start == 0,
        format!("{before_start} switches"),
        "0",
    );

    report.code("start", code_of(&driver.start()), Expect::Ok);
    sleep(RUN_WAIT);
    let snapshot = HOST.snapshot();
    report.check(
        "bufferSwitch called while running",
        snapshot.buffer_switches > 0,
        format!(
            "{} switches ({} with time info)",
            snapshot.buffer_switches, snapshot.time_info_switches
        ),
        "> 0",
    );
    report.check(
        "buffer indices 0 or 1, no overlapping switches",
        snapshot.bad_index == 0 && snapshot.overlapping == 0,
        format!(
            "{} bad indices, {} overlaps",
            snapshot.bad_index, snapshot.overlapping
        ),
        "0 and 0",
    );
    let first = driver.sample_position();
    sleep(SETTLE_WAIT);
    let second = driver.sample_position();
    report.code(
        "getSamplePosition while running",
        code_of(&second),
        Expect::Ok,
    );
    report.check(
        "sample position advances",
        matches!((&first, &second), (Ok((p1, t1)), Ok((p2, t2))) if p2 > p1 && t2 > t1),
        format!("{first:?} then {second:?}"),
        "both samples and time grow",
    );
    // SAFETY: null pointers are the point of the test.
    let code = unsafe { (v.get_sample_position)(this, null_mut(), null_mut()) };
    report.code("getSamplePosition(null, null) while running", code, invalid);
    report.code(
        "start while running",
        code_of(&driver.start()),
        OK_OR_INVALID_MODE,
    );
    report.code(
        "canSampleRate(current) while running",
        code_of(&driver.can_sample_rate(initial_rate)),
        Expect::Ok,
    );
    report.code(
        "setSampleRate(current) while running",
        code_of(&driver.set_sample_rate(initial_rate)),
        Expect::Ok,
    );

    // ---- disposeBuffers while running: the driver must stop itself ----------------------
    report.code(
        "disposeBuffers while running",
        code_of(&driver.dispose_buffers()),
        OK_OR_INVALID_MODE,
    );
    report.code(
        "stop after disposeBuffers",
        code_of(&driver.stop()),
        OK_OR_INVALID_MODE,
    );
    report.code(
        "disposeBuffers again",
        code_of(&driver.dispose_buffers()),
        OK_OR_INVALID_MODE,
    );
    sleep(SETTLE_WAIT);
    let settled = switches();
    sleep(SETTLE_WAIT);
    let later = switches();
    report.check(
        "no bufferSwitch after dispose and stop",
        later == settled,
        format!("{settled} then {later}"),
        "no change",
    );

    // ---- A clean cycle still works, also with a second instance around -------------------
    let mut buffers = buffer_request(inputs, outputs);
    report.code(
        "cycle: createBuffers",
        code_of(&driver.create_buffers(&mut buffers, preferred)),
        Expect::Ok,
    );
    report.code("cycle: start", code_of(&driver.start()), Expect::Ok);
    sleep(RUN_WAIT);
    let running = switches();
    report.check(
        "cycle: bufferSwitch called",
        running > later,
        format!("{} new switches", running - later),
        "> 0",
    );
    second_instance(name, report);
    sleep(RUN_WAIT);
    let after_second = switches();
    report.check(
        "cycle: first instance still running",
        after_second > running,
        format!("{} new switches", after_second - running),
        "> 0",
    );
    report.code("cycle: stop", code_of(&driver.stop()), Expect::Ok);
    sleep(SETTLE_WAIT);
    let stopped = switches();
    sleep(SETTLE_WAIT);
    report.check(
        "cycle: no bufferSwitch after stop",
        switches() == stopped,
        format!("{stopped} then {}", switches()),
        "no change",
    );
    report.code(
        "cycle: disposeBuffers",
        code_of(&driver.dispose_buffers()),
        Expect::Ok,
    );

    // ---- Calls in the wrong state at the end --------------------------------------------
    report.code(
        "stop when not running",
        code_of(&driver.stop()),
        OK_OR_INVALID_MODE,
    );
    report.code(
        "disposeBuffers without buffers",
        code_of(&driver.dispose_buffers()),
        OK_OR_INVALID_MODE,
    );
    // SAFETY: an unknown selector with a null argument; a driver must reject it.
    let code = unsafe { (v.future)(this, 0x7fff_0000, null_mut()) };
    report.code("future(unknown selector)", code, Expect::AnyError);

    let messages = HOST.snapshot();
    report.note(&format!(
        "messages from the driver: {}",
        describe_messages(&messages.messages)
    ));

    // ---- Release and re-create ----------------------------------------------------------
    // Release, then a new instance must come up normally.
    drop(driver);
    match AsioDriver::open(name) {
        Ok(mut fresh) => {
            let init = fresh.init();
            report.code(
                "new instance after release: init",
                code_of(&init),
                Expect::Ok,
            );
        }
        Err(error) => {
            report.check(
                "new instance after release",
                false,
                error.to_string(),
                "loaded",
            );
        }
    }
}

/// Opens, inits and releases a second instance while the first one runs: the second may
/// share the device or fail cleanly, but must not crash or stop the first.
fn second_instance(name: &str, report: &mut MisuseReport) {
    match AsioDriver::open(name) {
        Ok(mut second) => {
            let init = second.init();
            let observed = match &init {
                Ok(()) => "init OK".to_string(),
                Err(e) => format!("init failed cleanly: {e}"),
            };
            // The verdict is the next check: the first instance must keep running.
            report.note(&format!("second instance while running: {observed}"));
            if init.is_ok() {
                // Must not be allowed to disturb the running first instance either.
                let mut buffers = [AsioBufferInfo::request(0, false)];
                let code = code_of(&second.create_buffers(&mut buffers, 256));
                report.note(&format!(
                    "second instance createBuffers: {}",
                    describe_code(code)
                ));
                if code == ASE_OK {
                    let _ = second.dispose_buffers();
                }
            }
        }
        Err(error) => {
            report.check(
                "second instance loads",
                false,
                error.to_string(),
                "CoCreateInstance succeeds",
            );
        }
    }
}

/// Up to two inputs and two outputs.
fn buffer_request(inputs: i32, outputs: i32) -> Vec<AsioBufferInfo> {
    let inputs = (0..inputs.clamp(0, 2)).map(|c| AsioBufferInfo::request(c, true));
    let outputs = (0..outputs.clamp(0, 2)).map(|c| AsioBufferInfo::request(c, false));
    inputs.chain(outputs).collect()
}

fn describe_messages(counts: &[u32]) -> String {
    let parts: Vec<String> = counts
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(selector, n)| {
            let name = if selector == 0 {
                "unknown selectors"
            } else {
                message::name(selector as i32)
            };
            format!("{name} x{n}")
        })
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}
