//! Duplex (input + output) tests under Wine: `wasio-pa-host duplex` on one stream, its input
//! recorded and analysed.
//!
//! - Loopback: the output plays into the default sink `wasio_a`, and the bench's default source
//!   is `wasio_a.monitor`, so Wine's default capture endpoint hears the output. An impulse train
//!   must come back at a constant delay (±1 frame), none missing or doubled.
//! - Across devices: the output goes to `wasio_a` while the default source is switched to
//!   `wasio_b.monitor`, where `pacat` plays a 997 Hz sine; the recorded input must hold that
//!   sine without a glitch.
//!
//! The `duplex-wasapi-*` tests run the same tooling through PortAudio's WASAPI host (no
//! driver): they prove the bench, the host and the analysis. The others drive Wasio.

use crate::analysis::{self, AnalysisConfig, Check};
use crate::bench::{self, Bench, ExeOutput};
use crate::impulses::{self, ImpulseConfig, ImpulseExpectation, ImpulseReport, WrittenImpulse};
use crate::json::{self, Json};
use crate::util::{self, detail, Res};
use crate::wine_tests::{exit_check, WineContext, WineTest, DRIVER_NAME};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

/// Wine's default capture endpoint in PortAudio's WASAPI host (follows Pulse's default source).
const WASAPI_DEFAULT_INPUT: &str = "PulseAudio";
/// Frequency of the sine `pacat` plays into the other sink in the across-devices tests.
const ACROSS_FREQUENCY: f64 = 997.0;
const ACROSS_AMPLITUDE: f64 = 0.5;

pub fn tests() -> Vec<WineTest> {
    vec![
        WineTest {
            name: "duplex-wasapi-loopback",
            about: "bench self-test: impulses through PortAudio's WASAPI host in duplex, wasio_a -> default capture (wasio_a.monitor), constant delay",
            realtime: true,
            run: |ctx| {
                duplex_impulse_test(
                    ctx,
                    "duplex-wasapi-loopback",
                    &DuplexSpec::wasapi_loopback(),
                )
            },
        },
        WineTest {
            name: "duplex-wasapi-across",
            about: "bench self-test: WASAPI duplex out to wasio_a, default capture switched to wasio_b.monitor holding pacat's sine, no glitch",
            realtime: true,
            run: |ctx| {
                across_test(
                    ctx,
                    "duplex-wasapi-across",
                    &DuplexSpec {
                        seconds: 20.0,
                        ..DuplexSpec::wasapi_loopback()
                    },
                )
            },
        },
        WineTest {
            name: "duplex-loopback-256",
            about: "Wasio duplex 2 in / 2 out, 256 frames: impulses for 30 s come back at a constant delay (±1 frame) that matches the reported latencies",
            realtime: true,
            run: |ctx| {
                let _bench = crate::wine_tests_latency::LatencyBench::enter(ctx)?;
                duplex_impulse_test(ctx, "duplex-loopback-256", &DuplexSpec::wasio(256, 30.0))
            },
        },
        WineTest {
            name: "duplex-loopback-sine",
            about: "Wasio duplex, 256 frames: a 997 Hz sine played out comes back in whole, without a glitch",
            realtime: true,
            run: |ctx| {
                loopback_sine_test(
                    ctx,
                    "duplex-loopback-sine",
                    &DuplexSpec {
                        signal: Signal::Sine {
                            frequency: 997.0,
                            amplitude: 0.5,
                        },
                        ..DuplexSpec::wasio(256, 5.0)
                    },
                )
            },
        },
        WineTest {
            name: "duplex-across-devices",
            about: "Wasio duplex for 60 s: output to wasio_a, input from wasio_b.monitor (pacat's sine), no glitch",
            realtime: true,
            run: |ctx| across_test(ctx, "duplex-across-devices", &DuplexSpec::wasio(256, 60.0)),
        },
    ]
}

/// A duplex run of `wasio-pa-host`.
#[derive(Clone, Debug)]
pub struct DuplexSpec {
    pub device: String,
    /// The capture device when it is not `device` (host APIs other than ASIO).
    pub input_device: Option<String>,
    pub host_api: String,
    pub suggested_latency: Option<f64>,
    pub rate: u32,
    pub frames_per_buffer: u32,
    pub in_channels: u32,
    pub out_channels: u32,
    pub seconds: f64,
    pub tail_seconds: f64,
    pub signal: Signal,
    /// How far the measured round trip may be from the reported input + output latency, in
    /// frames; `None`: not compared (the WASAPI host's figures are not the loopback's).
    pub reported_delay_tolerance: Option<f64>,
    /// The sink the output plays into: its monitor is recorded with parec during the run, so a
    /// step in the round-trip delay can be placed on the output path (it shows in the sink
    /// too) or on the input path (it does not).
    pub output_sink: Option<&'static str>,
    /// Judge the round-trip delay and the output path's constancy (±1 frame). Off for PortAudio's
    /// WASAPI host: winepulse's render stream inserts silence under load (measured: every
    /// step of its round trip shows on the sink monitor too), which is not the bench's
    /// concern; the input path and the impulse count are judged in every case.
    pub judge_round_trip: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Signal {
    Impulses { interval_ms: f64, amplitude: f64 },
    Sine { frequency: f64, amplitude: f64 },
}

impl DuplexSpec {
    /// Wasio, stereo both ways, impulses every 250 ms.
    pub fn wasio(frames_per_buffer: u32, seconds: f64) -> DuplexSpec {
        DuplexSpec {
            device: DRIVER_NAME.to_string(),
            input_device: None,
            host_api: "ASIO".to_string(),
            suggested_latency: None,
            rate: 48_000,
            frames_per_buffer,
            in_channels: 2,
            out_channels: 2,
            seconds,
            tail_seconds: 1.0,
            signal: Signal::Impulses {
                interval_ms: 250.0,
                amplitude: 0.8,
            },
            // What Wine lets a correct driver know of its round trip (see MAX_REPORTED_ERROR_MS).
            reported_delay_tolerance: Some(
                crate::wine_tests_latency::MAX_REPORTED_ERROR_MS * 1e-3 * 48_000.0,
            ),
            // Wasio plays on Wine's default endpoint, the bench's default sink.
            output_sink: Some(bench::SINK_A),
            judge_round_trip: true,
        }
    }

    /// PortAudio's WASAPI host: out to wasio_a, in from Wine's default capture endpoint.
    pub fn wasapi_loopback() -> DuplexSpec {
        DuplexSpec {
            device: bench::SINK_A.to_string(),
            input_device: Some(WASAPI_DEFAULT_INPUT.to_string()),
            host_api: "Windows WASAPI".to_string(),
            // Shared-mode WASAPI through winepulse needs more than one 256-frame buffer.
            suggested_latency: Some(0.1),
            seconds: 10.0,
            reported_delay_tolerance: None,
            output_sink: Some(bench::SINK_A),
            judge_round_trip: false,
            ..DuplexSpec::wasio(256, 10.0)
        }
    }

    pub fn args(&self, record_input: &str) -> Vec<String> {
        let mut args = vec![
            "duplex".to_string(),
            "--device".to_string(),
            self.device.clone(),
            "--host-api".to_string(),
            self.host_api.clone(),
            format!("--rate={}", self.rate),
            format!("--frames-per-buffer={}", self.frames_per_buffer),
            format!("--in-channels={}", self.in_channels),
            format!("--out-channels={}", self.out_channels),
            format!("--seconds={}", self.seconds),
            format!("--tail-seconds={}", self.tail_seconds),
            "--record-input".to_string(),
            record_input.to_string(),
        ];
        match self.signal {
            Signal::Impulses {
                interval_ms,
                amplitude,
            } => args.extend([
                "--signal=impulses".to_string(),
                format!("--impulse-interval-ms={interval_ms}"),
                format!("--amplitude={amplitude}"),
            ]),
            Signal::Sine {
                frequency,
                amplitude,
            } => args.extend([
                "--signal=sine".to_string(),
                format!("--freq={frequency}"),
                format!("--amplitude={amplitude}"),
            ]),
        }
        if let Some(input) = &self.input_device {
            args.extend(["--input-device".to_string(), input.clone()]);
        }
        if let Some(latency) = self.suggested_latency {
            args.push(format!("--suggested-latency={latency}"));
        }
        args
    }
}

/// A duplex run: the host's output, its report and the recorded input.
pub struct DuplexMeasurement {
    pub output: ExeOutput,
    pub report: Option<Json>,
    pub input_path: PathBuf,
    /// The recorded input (interleaved float32); empty when the host wrote none.
    pub input: Vec<f32>,
}

impl DuplexMeasurement {
    /// The output frame and polarity of every impulse written, from the report.
    pub fn written_impulses(&self) -> Res<Vec<WrittenImpulse>> {
        let report = self.report.as_ref().ok_or("no duplex report")?;
        let numbers = |key: &str| -> Res<Vec<f64>> {
            match report.get(key) {
                Some(Json::Array(items)) => items
                    .iter()
                    .map(|item| match item {
                        Json::Number(value) => Ok(*value),
                        other => Err(format!("{key}: not a number: {other:?}")),
                    })
                    .collect(),
                _ => Err(format!("the duplex report has no {key}")),
            }
        };
        let frames = numbers("impulse_frames")?;
        let polarities = numbers("impulse_polarities")?;
        if frames.len() != polarities.len() {
            return Err("impulse_frames and impulse_polarities differ in length".to_string());
        }
        Ok(frames
            .into_iter()
            .zip(polarities)
            .map(|(frame, polarity)| WrittenImpulse {
                frame: frame as u64,
                polarity,
            })
            .collect())
    }

    /// Input + output latency from Pa_GetStreamInfo, in frames.
    pub fn reported_round_trip(&self, rate: f64) -> Option<f64> {
        let report = self.report.as_ref()?;
        Some((report.num("input_latency_s")? + report.num("output_latency_s")?) * rate)
    }
}

impl WineContext<'_> {
    /// Runs one duplex stream and reads back what its input recorded.
    pub fn duplex(&self, label: &str, spec: &DuplexSpec) -> Res<DuplexMeasurement> {
        let input_path = self.results.join(format!("{label}-input.f32"));
        let _ = std::fs::remove_file(&input_path);
        let timeout = Duration::from_secs_f64(spec.seconds + spec.tail_seconds + 40.0);
        crate::verdict::record_stream_seconds(spec.seconds);
        let mut args = spec.args(&Bench::windows_path(&input_path));
        // The default capture endpoint's name depends on the Wine version.
        for arg in args.iter_mut().filter(|arg| *arg == WASAPI_DEFAULT_INPUT) {
            *arg = self.bench.tools.default_capture.to_string();
        }
        let output = self.pa_host(label, &args, timeout)?;
        let report = json::parse_lines(&output.stdout).ok().and_then(|lines| {
            lines
                .into_iter()
                .rev()
                .find(|line| line.str("kind") == Some("duplex"))
        });
        let input = if input_path.is_file() {
            bench::read_f32_file(&input_path)?
        } else {
            Vec::new()
        };
        Ok(DuplexMeasurement {
            output,
            report,
            input_path,
            input,
        })
    }

    /// Runs a duplex impulse stream and analyses the round trip: the host's checks, then one
    /// block of impulse checks per input channel.
    pub fn duplex_and_analyse(&self, label: &str, spec: &DuplexSpec) -> Res<Vec<Check>> {
        let sink_recording = match spec.output_sink {
            Some(sink) => Some(self.bench.start_recording(
                &format!("{sink}.monitor"),
                &self.results.join(format!("{label}-sink.f32")),
            )?),
            None => None,
        };
        let measurement = self.duplex(label, spec)?;
        let sink_samples = sink_recording
            .map(|recording| recording.stop())
            .transpose()?;
        let mut checks = host_checks(spec, &measurement);
        if !measurement.output.success() {
            return Ok(checks);
        }
        let Signal::Impulses { amplitude, .. } = spec.signal else {
            return Err("duplex_and_analyse needs an impulse signal".to_string());
        };
        let written = measurement.written_impulses()?;
        let interval = measurement
            .report
            .as_ref()
            .and_then(|report| report.num("impulse_interval_frames"))
            .ok_or("the duplex report has no impulse_interval_frames")?;
        let config = ImpulseConfig {
            channels: spec.in_channels as usize,
            amplitude,
            interval_frames: interval as u64,
            merge_frames: 16,
        };
        let reports = impulses::analyse_impulses(&measurement.input, &written, &config)?;
        let rate = spec.rate as f64;
        let reported = measurement.reported_round_trip(rate);
        for report in &reports {
            detail(&format!(
                "round trip ch{}: {}; reported input + output latency {}",
                report.channel,
                impulses::describe_delays(report),
                reported
                    .map(|frames| format!("{frames:.0} frames"))
                    .unwrap_or_else(|| "not reported".to_string())
            ));
        }
        let expectation = ImpulseExpectation {
            tolerance_frames: 1,
            reported_delay: match (spec.reported_delay_tolerance, reported) {
                (Some(tolerance), Some(reported)) => Some((reported, tolerance)),
                _ => None,
            },
        };
        checks.push(Check::new(
            "impulses written",
            written.len() as f64 >= (spec.seconds * 1000.0 / interval_ms(spec)).floor(),
            format!("{}", written.len()),
            format!("one every {} ms for {} s", interval_ms(spec), spec.seconds),
        ));
        let judged = |check: &Check| {
            spec.judge_round_trip
                || !(check.name.starts_with("delay ch") || check.name.ends_with("monitor delay"))
        };
        checks.extend(expectation.checks(&reports).into_iter().filter(judged));
        if let (Some(samples), Some(sink)) = (&sink_samples, spec.output_sink) {
            let (sink_report, sink_checks) = output_path_checks(sink, samples, &written, &config)?;
            checks.extend(sink_checks.into_iter().filter(judged));
            for report in &reports {
                checks.push(input_path_check(report, &sink_report, sink));
            }
        }
        if spec.reported_delay_tolerance.is_some() && reported.is_none() {
            checks.push(Check::new(
                "reported latency",
                false,
                "not reported",
                "Pa_GetStreamInfo input and output latency",
            ));
        }
        Ok(checks)
    }
}

/// The impulses as the sink's monitor heard them (parec's clock, so only changes of the delay
/// mean something): a step here is on the output path.
fn output_path_checks(
    sink: &str,
    samples: &[f32],
    written: &[WrittenImpulse],
    config: &ImpulseConfig,
) -> Res<(ImpulseReport, Vec<Check>)> {
    let config = ImpulseConfig {
        channels: bench::SINK_CHANNELS as usize,
        ..config.clone()
    };
    let mut reports = impulses::analyse_impulses(samples, written, &config)?;
    let report = reports.swap_remove(0);
    detail(&format!(
        "output path ({sink}.monitor by parec) ch0: {}",
        impulses::describe_delays(&report)
    ));
    let missing = report.missing().len();
    let checks = vec![
        Check::new(
            format!("{sink} monitor impulses"),
            missing == 0 && report.doubled().is_empty(),
            format!(
                "{} of {} heard, {} doubled",
                written.len() - missing,
                written.len(),
                report.doubled().len()
            ),
            "all, once",
        )
        .downstream(crate::verdict::events_at(
            &[report.missing(), report.doubled()].concat(),
            bench::SINK_RATE as f64,
        )),
        Check::new(
            format!("{sink} monitor delay"),
            report.deviation().is_some_and(|deviation| deviation <= 1),
            impulses::describe_delays(&report),
            "constant ±1 frame (no step on the output path)",
        )
        .downstream(crate::verdict::events_at(
            &report
                .steps(1)
                .iter()
                .map(|&(index, _)| report.matches[index].written.frame)
                .collect::<Vec<u64>>(),
            bench::SINK_RATE as f64,
        )),
    ];
    Ok((report, checks))
}

/// The input path alone: for each impulse, its frame in the captured input minus its frame in
/// the sink monitor's recording. Both read the same monitor, so this stays constant unless the
/// capture path loses or inserts time.
fn input_path_check(loop_report: &ImpulseReport, sink_report: &ImpulseReport, sink: &str) -> Check {
    let differences: Vec<i64> = loop_report
        .matches
        .iter()
        .zip(&sink_report.matches)
        .filter_map(|(looped, heard)| {
            Some(looped.received?.frame as i64 - heard.received?.frame as i64)
        })
        .collect();
    let (min, max) = (
        differences.iter().min().copied(),
        differences.iter().max().copied(),
    );
    Check::new(
        format!("input path ch{}", loop_report.channel),
        matches!((min, max), (Some(min), Some(max)) if max - min <= 1)
            && differences.len() == loop_report.matches.len(),
        match (min, max) {
            (Some(min), Some(max)) => format!(
                "capture frame - {sink}.monitor frame: {min}..{max} over {} impulses",
                differences.len()
            ),
            _ => "no impulse heard on both".to_string(),
        },
        "constant ±1 frame (no step on the input path)",
    )
    // Wine's capture path steps under load too; the driver's own input counters are hard.
    .downstream(1)
}

/// Through PortAudio's own WASAPI host (a control) its xrun flags and lost input are what
/// winepulse did, so they are downstream; through ASIO they are what Wasio did (PortAudio's
/// ASIO host flags only a driver that re-enters bufferSwitch).
pub fn flags_of_own_host(host_api: &str, check: Check, events: u64) -> Check {
    if host_api == "ASIO" {
        check
    } else {
        check.downstream(events)
    }
}

fn interval_ms(spec: &DuplexSpec) -> f64 {
    match spec.signal {
        Signal::Impulses { interval_ms, .. } => interval_ms,
        Signal::Sine { .. } => f64::NAN,
    }
}

/// Checks on the host's own report: exit, error, frames, input frames, flags.
pub fn host_checks(spec: &DuplexSpec, measurement: &DuplexMeasurement) -> Vec<Check> {
    let mut checks = vec![exit_check("wasio-pa-host duplex", &measurement.output)];
    let Some(report) = &measurement.report else {
        checks.push(Check::new(
            "duplex report",
            false,
            "no JSON report on stdout",
            "one {\"kind\":\"duplex\"} line",
        ));
        return checks;
    };
    let error = report.str("error");
    checks.push(Check::new(
        "PortAudio error",
        error.is_none(),
        error.unwrap_or("none").to_string(),
        "none",
    ));
    let expected_frames = ((spec.seconds + spec.tail_seconds) * spec.rate as f64).round();
    let frames = report.num("frames").unwrap_or(0.0);
    checks.push(Check::new(
        "frames",
        frames >= expected_frames,
        format!(
            "{frames} in {} callbacks ({} not of {} frames)",
            report.num("callbacks").unwrap_or(0.0),
            report.num("odd_sized_callbacks").unwrap_or(0.0),
            spec.frames_per_buffer
        ),
        format!(">= {expected_frames}"),
    ));
    let recorded = report.num("input_frames_recorded").unwrap_or(0.0);
    let without_input = report.num("callbacks_without_input").unwrap_or(0.0);
    let dropped = report.num("input_frames_dropped").unwrap_or(0.0);
    let input_check = Check::new(
        "input recorded",
        recorded == frames
            && without_input == 0.0
            && dropped == 0.0
            && measurement.input.len() as f64 == recorded * spec.in_channels as f64,
        format!(
            "{recorded} frames ({} in the file), {without_input} callbacks without input, {dropped} dropped",
            measurement.input.len() / spec.in_channels.max(1) as usize
        ),
        "every output frame has its input frame",
    );
    checks.push(flags_of_own_host(spec.host_api.as_str(), input_check, 1));
    let flags = report.get("status_flags");
    let flag = |name: &str| flags.and_then(|flags| flags.num(name)).unwrap_or(0.0);
    checks.push(flags_of_own_host(
        spec.host_api.as_str(),
        Check::new(
            "PortAudio xrun flags",
            [
                "input_overflow",
                "input_underflow",
                "output_underflow",
                "output_overflow",
            ]
            .iter()
            .all(|name| flag(name) == 0.0),
            format!(
                "input overflow {}, underflow {}; output underflow {}, overflow {}",
                flag("input_overflow"),
                flag("input_underflow"),
                flag("output_underflow"),
                flag("output_overflow")
            ),
            "0",
        ),
        1,
    ));
    checks
}

fn duplex_impulse_test(ctx: &WineContext, label: &str, spec: &DuplexSpec) -> Res<Vec<Check>> {
    let times: Vec<Duration> = [3, 15, 27].map(Duration::from_secs).to_vec();
    let probe = crate::wine_tests_latency::pulse_latency_probe(ctx, &times);
    let checks = ctx.duplex_and_analyse(label, spec);
    if let Ok(lines) = probe.join() {
        for line in lines.iter().filter(|line| line.contains("wasio-pa-host")) {
            crate::util::detail(&format!("PulseAudio says: {line}"));
        }
    }
    checks
}

/// A sine played out must come back in, whole: the glitch detector runs on the input.
pub fn loopback_sine_test(ctx: &WineContext, label: &str, spec: &DuplexSpec) -> Res<Vec<Check>> {
    let Signal::Sine {
        frequency,
        amplitude,
    } = spec.signal
    else {
        return Err("loopback_sine_test needs a sine signal".to_string());
    };
    let measurement = ctx.duplex(label, spec)?;
    let mut checks = host_checks(spec, &measurement);
    if !measurement.output.success() {
        return Ok(checks);
    }
    let config = AnalysisConfig {
        sample_rate: spec.rate as f64,
        channels: spec.in_channels as usize,
        ..AnalysisConfig::default()
    };
    let expectation = analysis::ToneExpectation {
        frequency_hz: frequency,
        frequency_tolerance_hz: 0.5,
        amplitude,
        level_tolerance_db: 0.5,
        duration_frames: (spec.seconds * spec.rate as f64).round() as usize,
        duration_tolerance_frames: spec.frames_per_buffer as usize,
    };
    match analysis::analyse(&measurement.input, &config) {
        Ok(report) => {
            checks.push(Check::new(
                "input begins in silence",
                report.start_frame > 0,
                format!("sine from input frame {}", report.start_frame),
                "> 0 (the round trip takes time)",
            ));
            checks.extend(expectation.checks(&report));
        }
        Err(error) => checks.push(Check::new(
            "recorded input",
            false,
            format!("{error} ({})", measurement.input_path.display()),
            "the sine played out",
        )),
    }
    Ok(checks)
}

/// Switches Pulse's default source for the life of the guard (back to `wasio_a.monitor`).
struct DefaultSource<'a> {
    bench: &'a Bench,
}

impl<'a> DefaultSource<'a> {
    fn set(bench: &'a Bench, source: &str) -> Res<DefaultSource<'a>> {
        pactl_set_default_source(bench, source)?;
        Ok(DefaultSource { bench })
    }
}

impl Drop for DefaultSource<'_> {
    fn drop(&mut self) {
        let source = format!("{}.monitor", bench::SINK_A);
        if let Err(error) = pactl_set_default_source(self.bench, &source) {
            detail(&format!("cannot restore the default source: {error}"));
        }
    }
}

fn pactl_set_default_source(bench: &Bench, source: &str) -> Res<()> {
    util::run(
        bench
            .command("pactl")
            .args(["set-default-source", source])
            .stdin(Stdio::null()),
    )
}

/// `pacat` playing a file into a sink in the background; stopped on drop.
struct BackgroundPlayer {
    child: Child,
}

impl BackgroundPlayer {
    fn start(ctx: &WineContext, sink: &str, path: &std::path::Path) -> Res<BackgroundPlayer> {
        let input = std::fs::File::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let log = std::fs::File::create(ctx.bench.logs.join("pacat-background.log"))
            .map_err(|e| format!("cannot create the pacat log: {e}"))?;
        let child = ctx
            .bench
            .command("pacat")
            .arg("--playback")
            .arg(format!("--device={sink}"))
            .args([
                "--format=float32le".to_string(),
                format!("--rate={}", bench::SINK_RATE),
                format!("--channels={}", bench::SINK_CHANNELS),
            ])
            .args(["--latency-msec=200", "--raw", "--client-name=wasio-across"])
            .stdin(input)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start pacat: {e}"))?;
        Ok(BackgroundPlayer { child })
    }
}

impl Drop for BackgroundPlayer {
    fn drop(&mut self) {
        util::stop_child(&mut self.child, "TERM", Duration::from_secs(3));
    }
}

/// Output to wasio_a, input from wasio_b.monitor (made the default source) where pacat plays a
/// sine; the recorded input must hold that sine without a glitch.
fn across_test(ctx: &WineContext, label: &str, spec: &DuplexSpec) -> Res<Vec<Check>> {
    let rate = bench::SINK_RATE as f64;
    // The sine must sound before the stream starts and until after it stops.
    let sine_seconds = spec.seconds + spec.tail_seconds + 15.0;
    let sine = analysis::synth_tone(
        rate,
        bench::SINK_CHANNELS as usize,
        ACROSS_FREQUENCY,
        ACROSS_AMPLITUDE,
        0,
        (sine_seconds * rate) as usize,
        0,
    );
    let sine_path = ctx.results.join(format!("{label}-sine.f32"));
    bench::write_f32_file(&sine_path, &sine)?;
    let _source = DefaultSource::set(ctx.bench, &format!("{}.monitor", bench::SINK_B))?;
    let _player = BackgroundPlayer::start(ctx, bench::SINK_B, &sine_path)?;
    // Let pacat's stream reach the monitor before the capture starts.
    std::thread::sleep(Duration::from_millis(1500));
    // The output plays its own, different sine into wasio_a: a real duplex load, and a leak of
    // the output into the input would show as a second frequency (a fit residual).
    let spec = DuplexSpec {
        signal: Signal::Sine {
            frequency: 440.0,
            amplitude: 0.25,
        },
        ..spec.clone()
    };
    let measurement = ctx.duplex(label, &spec)?;
    let mut checks = host_checks(&spec, &measurement);
    if !measurement.output.success() {
        return Ok(checks);
    }
    let config = AnalysisConfig {
        sample_rate: rate,
        channels: spec.in_channels as usize,
        ..AnalysisConfig::default()
    };
    match analysis::analyse(&measurement.input, &config) {
        Ok(report) => {
            let frames = measurement.input.len() / spec.in_channels as usize;
            // The sine covers the whole capture, apart from the first frames a capture stream
            // may deliver as silence before Pulse's data arrives.
            let covered = report.end_frame == frames && report.start_frame < frames / 10;
            checks.push(
                Check::new(
                    "sine covers the input",
                    covered,
                    format!(
                        "frames {}..{} of {frames}",
                        report.start_frame, report.end_frame
                    ),
                    format!("..{frames}, from the first tenth"),
                )
                .downstream(1),
            );
            let expectation = analysis::ToneExpectation {
                frequency_hz: ACROSS_FREQUENCY,
                frequency_tolerance_hz: 0.5,
                amplitude: ACROSS_AMPLITUDE,
                level_tolerance_db: 0.5,
                duration_frames: report.duration_frames(),
                duration_tolerance_frames: 0,
            };
            // The duration is checked as coverage above.
            checks.extend(
                expectation
                    .checks(&report)
                    .into_iter()
                    .filter(|check| check.name != "duration"),
            );
            checks.push(
                Check::new(
                    "residual",
                    report.residual_rms_relative < 1e-3,
                    format!("{:.2e} of the amplitude", report.residual_rms_relative),
                    "< 1e-3 (nothing but the sine)",
                )
                .downstream(report.discontinuity_events() as u64),
            );
        }
        Err(error) => checks.push(Check::new(
            "recorded input",
            false,
            format!("{error} ({})", measurement.input_path.display()),
            "pacat's sine",
        )),
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplex_args_name_every_option() {
        let spec = DuplexSpec::wasio(256, 30.0);
        let args = spec.args("Z:\\in.f32");
        assert_eq!(args[0], "duplex");
        for expected in [
            "--frames-per-buffer=256",
            "--in-channels=2",
            "--out-channels=2",
            "--seconds=30",
            "--signal=impulses",
            "--impulse-interval-ms=250",
            "Z:\\in.f32",
        ] {
            assert!(
                args.contains(&expected.to_string()),
                "{expected} in {args:?}"
            );
        }
        assert!(!args.contains(&"--input-device".to_string()));
        let wasapi = DuplexSpec::wasapi_loopback().args("x");
        assert!(wasapi.contains(&"--input-device".to_string()));
        assert!(wasapi.contains(&"Windows WASAPI".to_string()));
    }

    #[test]
    fn written_impulses_come_from_the_report() {
        let line = r#"{"kind":"duplex","impulse_frames":[6000,18000],"impulse_polarities":[1,-1],"input_latency_s":0.01,"output_latency_s":0.02}"#;
        let measurement = DuplexMeasurement {
            output: ExeOutput {
                code: Some(0),
                stdout: line.to_string(),
                stderr: String::new(),
                timed_out: false,
                elapsed: Duration::ZERO,
            },
            report: Some(json::parse(line).unwrap()),
            input_path: PathBuf::new(),
            input: Vec::new(),
        };
        assert_eq!(
            measurement.written_impulses().unwrap(),
            vec![
                WrittenImpulse {
                    frame: 6000,
                    polarity: 1.0
                },
                WrittenImpulse {
                    frame: 18000,
                    polarity: -1.0
                }
            ]
        );
        assert_eq!(measurement.reported_round_trip(48_000.0), Some(1440.0));
    }
}
