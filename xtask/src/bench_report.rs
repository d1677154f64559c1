//! `cargo xtask bench`: Wasio (through PortAudio's ASIO host) against the control, PortAudio's
//! own WASAPI host on the same sink at the same buffer size, interleaved over several rounds.
//! Every figure is given for both and as the ratio Wasio/control measured in the same run; the
//! table replaces its marked section of docs/PERFORMANCE.md. A report, not a gate: nothing is
//! judged against wall time. `--soak` is soak.rs.

use crate::analysis;
use crate::bench::{self, Bench};
use crate::bench_proc;
use crate::bench_stats::{
    problem_events, render_rounds, render_table, replace_section, summarise, DuplexRun, PlayRun,
    Timing,
};
use crate::impulses::{self, ImpulseConfig};
use crate::json::Json;
use crate::setup::Tools;
use crate::util::{self, detail, step, Res};
use crate::wine_tests::{self, Artifacts, BuildChoice, PlaySpec, WineContext};
use crate::wine_tests_duplex::{DuplexSpec, Signal};
use std::path::Path;
use std::time::Duration;

/// `cargo xtask bench` options (`--rounds N --seconds S --frames F --duplex-seconds S --soak D`).
#[derive(Clone, Debug, PartialEq)]
pub struct BenchOptions {
    pub rounds: usize,
    pub seconds: f64,
    pub frames: u32,
    pub duplex_seconds: f64,
    pub soak: Option<Duration>,
}

impl BenchOptions {
    pub fn parse(values: &[(String, String)], rest: &[String]) -> Res<BenchOptions> {
        if let Some(arg) = rest.first() {
            return Err(format!("bench: unexpected argument {arg:?}"));
        }
        let mut options = BenchOptions {
            rounds: 4,
            seconds: 20.0,
            frames: 256,
            duplex_seconds: 10.0,
            soak: None,
        };
        for (key, value) in values {
            let number = || -> Res<f64> {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .ok_or_else(|| format!("--{key}: not a positive number: {value}"))
            };
            match key.as_str() {
                "rounds" => options.rounds = number()?.round() as usize,
                "seconds" => options.seconds = number()?,
                "frames" => options.frames = number()?.round() as u32,
                "duplex-seconds" => options.duplex_seconds = number()?,
                "soak" => options.soak = Some(crate::soak::parse_duration(value)?),
                other => return Err(format!("bench: unknown option --{other}")),
            }
        }
        if options.seconds > 600.0 || options.duplex_seconds > 600.0 {
            return Err("--seconds and --duplex-seconds: at most 600".to_string());
        }
        Ok(options)
    }
}

/// The two sides of every comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Side {
    Wasio,
    Control,
}

impl Side {
    fn key(self) -> &'static str {
        match self {
            Side::Wasio => "wasio",
            Side::Control => "control",
        }
    }

    fn play_spec(self, frames: u32, seconds: f64) -> PlaySpec {
        let wasio = PlaySpec {
            seconds,
            ..PlaySpec::standard(frames)
        };
        match self {
            Side::Wasio => wasio,
            // As in the bench-pa-wasapi test: shared WASAPI through winepulse needs a roomier
            // buffer than one block; callbacks stay `frames` long.
            Side::Control => PlaySpec {
                device: bench::SINK_A.to_string(),
                host_api: "Windows WASAPI".to_string(),
                suggested_latency: Some(0.1),
                ..wasio
            },
        }
    }

    fn duplex_spec(self, frames: u32, seconds: f64) -> DuplexSpec {
        match self {
            Side::Wasio => DuplexSpec::wasio(frames, seconds),
            Side::Control => DuplexSpec {
                frames_per_buffer: frames,
                seconds,
                ..DuplexSpec::wasapi_loopback()
            },
        }
    }
}

/// Builds (release), brings the bench up, registers the driver and runs `f`.
pub fn with_registered_driver<R>(
    root: &Path,
    tools: &Tools,
    choice: &BuildChoice,
    f: impl FnOnce(&WineContext) -> Res<R>,
) -> Res<R> {
    let choice = BuildChoice {
        release: true,
        ..choice.clone()
    };
    let artifacts: Artifacts = wine_tests::build_windows(root, &choice)?;
    let bench = Bench::up(root, tools)?;
    let results = bench.dir.join("results");
    std::fs::create_dir_all(&results)
        .map_err(|e| format!("cannot create {}: {e}", results.display()))?;
    let ctx = WineContext {
        bench: &bench,
        artifacts: &artifacts,
        results,
    };
    let registered = ctx.regsvr32("bench-regsvr32", false)?;
    if !registered.success() {
        return Err(format!("regsvr32: {}", registered.describe_end()));
    }
    f(&ctx)
}

/// `wasio-pa-host play` with `--progress`, watched from /proc, while the sink is recorded.
pub fn observed_play(
    ctx: &WineContext,
    label: &str,
    spec: &PlaySpec,
    period: Option<Duration>,
    every: impl FnMut(&bench_proc::Sample),
) -> Res<(bench_proc::Observed, Option<Json>)> {
    let mut args = spec.args();
    args.push("--progress".to_string());
    args.push(format!(
        "--portaudio={}",
        Bench::windows_path(&ctx.bench.tools.portaudio_dll_64)
    ));
    let observed = bench_proc::run_observed(
        ctx.bench,
        label,
        &Bench::windows_path(&ctx.artifacts.pa_host_exe),
        &args,
        // Under load the device clock can fall behind the wall clock (bench-host's watchdog).
        spec.timeout().max(Duration::from_secs_f64(
            (spec.seconds + spec.tail_seconds) * 1.15 + 60.0,
        )),
        period,
        every,
    )?;
    let report = wine_tests::last_report(&observed.output, "play");
    Ok((observed, report))
}

/// Why a host run does not count, if it does not.
pub fn host_failure(output: &crate::bench::ExeOutput, report: Option<&Json>) -> Option<String> {
    match report {
        _ if !output.success() => Some(format!(
            "{}: {}",
            output.describe_end(),
            output.stderr.lines().last().unwrap_or("").trim()
        )),
        None => Some("no report".to_string()),
        Some(report) => report.str("error").map(str::to_string),
    }
}

fn play_run(
    ctx: &WineContext,
    side: Side,
    round: usize,
    options: &BenchOptions,
    status_dir: &Path,
) -> Res<PlayRun> {
    let spec = side.play_spec(options.frames, options.seconds);
    let label = format!("bench-play-{}-{round}", side.key());
    let path = ctx.results.join(format!("{label}.f32"));
    let recording = ctx
        .bench
        .start_recording(&format!("{}.monitor", bench::SINK_A), &path)?;
    // The driver's own xrun counter, from its status file (written whether or not it logs).
    let mut driver_xruns = None;
    let watch = (side == Side::Wasio).then_some(Duration::from_millis(250));
    let (observed, report) = observed_play(ctx, &label, &spec, watch, |_| {
        if let Some((xruns, _)) = crate::soak::read_status(status_dir) {
            driver_xruns = Some(xruns);
        }
    })?;
    let samples = recording.stop()?;
    let mut run = PlayRun {
        driver_xruns,
        error: host_failure(&observed.output, report.as_ref()),
        cpu: observed.stream_cpu,
        stream_seconds: observed.stream_seconds,
        wineserver_cpu: observed.wineserver_cpu,
        timing: report
            .as_ref()
            .and_then(Timing::from_report)
            .unwrap_or_default(),
        ..PlayRun::default()
    };
    let config = wine_tests::sink_analysis_config();
    match analysis::analyse(&samples, &config) {
        Ok(tone) => {
            run.events = problem_events(&tone, config.phase_window);
            run.tone_seconds = tone.duration_seconds();
        }
        Err(error) => run.error = run.error.or(Some(format!("recording: {error}"))),
    }
    if !run.stream_seconds.is_finite() {
        run.error = run.error.or(Some("no progress lines".to_string()));
    }
    Ok(run)
}

fn duplex_run(
    ctx: &WineContext,
    side: Side,
    round: usize,
    options: &BenchOptions,
) -> Res<DuplexRun> {
    let spec = side.duplex_spec(options.frames, options.duplex_seconds);
    let label = format!("bench-duplex-{}-{round}", side.key());
    // Both sides as the latency tests run: Pulse's default fragments (Wasio.toml buffer_ms only
    // concerns Wasio).
    let _latency = crate::wine_tests_latency::LatencyBench::enter(ctx)?;
    let measurement = ctx.duplex(&label, &spec)?;
    let mut run = DuplexRun {
        error: host_failure(&measurement.output, measurement.report.as_ref()),
        measured_frames: f64::NAN,
        reported_frames: measurement
            .reported_round_trip(spec.rate as f64)
            .unwrap_or(f64::NAN),
    };
    if run.error.is_some() {
        return Ok(run);
    }
    let Signal::Impulses { amplitude, .. } = spec.signal else {
        return Err("the bench's duplex runs play impulses".to_string());
    };
    let interval = measurement
        .report
        .as_ref()
        .and_then(|report| report.num("impulse_interval_frames"))
        .unwrap_or(0.0);
    let config = ImpulseConfig {
        channels: spec.in_channels as usize,
        amplitude,
        interval_frames: interval as u64,
        merge_frames: 16,
    };
    let written = measurement.written_impulses()?;
    match impulses::analyse_impulses(&measurement.input, &written, &config) {
        Ok(reports) => match reports.first().and_then(|r| r.median_delay()) {
            Some(delay) => run.measured_frames = delay as f64,
            None => run.error = Some("no impulse came back".to_string()),
        },
        Err(error) => run.error = Some(error),
    }
    Ok(run)
}

fn describe_play(run: &PlayRun) -> String {
    if let Some(error) = &run.error {
        return format!("does not count: {error}");
    }
    format!(
        "{} event(s) in {:.1} s; CPU {:.1} % (wineserver {:.1} %); interval {:.2} ± {:.2} ms, max {:.1}; DAC residual max {:.1} frames, {} step(s); open {:.0} ms, first callback {:.0} ms, stop {:.0} ms, close {:.0} ms",
        run.events,
        run.tone_seconds,
        100.0 * run.cpu / run.stream_seconds,
        100.0 * run.wineserver_cpu / run.stream_seconds,
        run.timing.interval_mean_ms,
        run.timing.interval_stdev_ms,
        run.timing.interval_max_ms,
        run.timing.residual_max_frames,
        run.timing.steps,
        run.timing.open_ms,
        run.timing.first_callback_ms,
        run.timing.stop_ms,
        run.timing.close_ms,
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".to_string())
}

/// `date -u +%Y-%m-%d` and Wine's version, for the report's header.
pub fn run_context(tools: &Tools) -> (String, String) {
    let date = util::output(std::process::Command::new("date").args(["-u", "+%Y-%m-%d"]))
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|_| "(date unknown)".to_string());
    let wine = util::output(std::process::Command::new(&tools.wine64).arg("--version"))
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|_| "Wine".to_string());
    (date, wine)
}

/// Writes `body` into the marked section `name` of docs/PERFORMANCE.md.
pub fn write_docs_section(root: &Path, name: &str, body: &str) -> Res<()> {
    let path = root.join("docs/PERFORMANCE.md");
    let document = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    std::fs::write(&path, replace_section(&document, name, body))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    detail(&format!("written to {} (section {name})", path.display()));
    Ok(())
}

/// `cargo xtask bench`.
pub fn bench(
    root: &Path,
    tools: &Tools,
    choice: &BuildChoice,
    options: &BenchOptions,
) -> Res<bool> {
    if let Some(duration) = options.soak {
        return crate::soak::soak(root, tools, choice, duration, options.frames);
    }
    let rate = bench::SINK_RATE as f64;
    let load_before = load_average();
    let (wasio, control, rounds) = with_registered_driver(root, tools, choice, |ctx| {
        let status_dir = crate::soak::wine_temp_dir(ctx.bench)?.join("Wasio");
        let mut plays = [Vec::new(), Vec::new()];
        let mut duplexes = [Vec::new(), Vec::new()];
        for round in 1..=options.rounds {
            for (index, side) in [Side::Wasio, Side::Control].into_iter().enumerate() {
                step(&format!(
                    "bench round {round}/{}: {} play, {} s",
                    options.rounds,
                    side.key(),
                    options.seconds
                ));
                let run = play_run(ctx, side, round, options, &status_dir)?;
                detail(&describe_play(&run));
                plays[index].push(run);
            }
            for (index, side) in [Side::Wasio, Side::Control].into_iter().enumerate() {
                step(&format!(
                    "bench round {round}/{}: {} duplex impulses, {} s",
                    options.rounds,
                    side.key(),
                    options.duplex_seconds
                ));
                let run = duplex_run(ctx, side, round, options)?;
                match &run.error {
                    Some(error) => detail(&format!("does not count: {error}")),
                    None => detail(&format!(
                        "round trip measured {:.0} frames, reported {:.0}",
                        run.measured_frames, run.reported_frames
                    )),
                }
                duplexes[index].push(run);
            }
        }
        Ok((
            summarise(&plays[0], &duplexes[0], rate),
            summarise(&plays[1], &duplexes[1], rate),
            render_rounds(&plays[0], &plays[1]),
        ))
    })?;
    let table = render_table(&wasio, &control, rate);
    let (date, wine) = run_context(tools);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut notes = String::new();
    for (name, side) in [("Wasio", &wasio), ("control", &control)] {
        if side.plays_failed + side.duplexes_failed > 0 {
            notes.push_str(&format!(
                "- {name}: {} of {} play runs and {} duplex runs did not count (see the run's output).\n",
                side.plays_failed, side.plays, side.duplexes_failed
            ));
        }
    }
    let body = format!(
        "Measured {date} with `cargo xtask bench --rounds {} --seconds {} --frames {}`: {} rounds, \
         each a {} s play and a {} s duplex run per side, {} frames per buffer, 48 kHz stereo \
         float32, release build, {wine}, {cpus} CPUs shared with other work (load average \
         {load_before} before, {} after). Recording events: {} (Wasio), {} (control).\n\n{table}\n\
         Each round's play runs (Wasio / control; — a run that did not count):\n\n{rounds}{notes}",
        options.rounds,
        options.seconds,
        options.frames,
        options.rounds,
        options.seconds,
        options.duplex_seconds,
        options.frames,
        load_average(),
        wasio.events,
        control.events,
    );
    println!("\n{body}");
    write_docs_section(root, "bench", &body)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_and_parse() {
        let defaults = BenchOptions::parse(&[], &[]).unwrap();
        assert_eq!(
            (defaults.rounds, defaults.seconds, defaults.frames),
            (4, 20.0, 256)
        );
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let options = BenchOptions::parse(
            &pairs(&[("rounds", "2"), ("seconds", "5"), ("soak", "90s")]),
            &[],
        )
        .unwrap();
        assert_eq!((options.rounds, options.seconds), (2, 5.0));
        assert_eq!(options.soak, Some(Duration::from_secs(90)));
        assert!(BenchOptions::parse(&pairs(&[("rounds", "zero")]), &[]).is_err());
        assert!(BenchOptions::parse(&pairs(&[("bogus", "1")]), &[]).is_err());
    }
}
