//! `cargo xtask bench --soak 30m`: Wasio alone, one stream for the whole time, with a busy loop
//! on the other core. Per interval (a minute; shorter for soaks under 5 minutes): dropout
//! events in the recording, the driver's own xruns (its status file and log), the host's
//! resident memory and CPU. The verdict: resident memory stays flat.

use crate::analysis;
use crate::bench::{self, Bench};
use crate::bench_proc::{BusyLoop, Sample};
use crate::bench_report;
use crate::bench_stats::{self, format_value};
use crate::json;
use crate::runner::DriverLogCounts;
use crate::setup::Tools;
use crate::util::{detail, step, Res};
use crate::wine_tests::{self, BuildChoice, PlaySpec, WineContext};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The verdict's bound: VmRSS at the end may exceed VmRSS after the first interval by this much.
pub const RSS_BOUND_KIB: u64 = 2048;

/// `90s`, `30m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Res<Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("duration {text:?}: unit s, m or h")),
    };
    match number.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(Duration::from_secs_f64(value * scale)),
        _ => Err(format!("duration {text:?}: expected e.g. 90s, 30m or 1h")),
    }
}

/// One interval per minute; four intervals for soaks under 5 minutes.
pub fn interval_for(duration: Duration) -> Duration {
    if duration >= Duration::from_secs(300) {
        Duration::from_secs(60)
    } else {
        (duration / 4).max(Duration::from_secs(5))
    }
}

/// Recording events an interval's edges add: silence at its end (unless the recording ends
/// there), and silence at its start unless the interval before ended silent (one event).
pub fn edge_events(previous_end_silent: bool, start_silent: bool, end_silent: bool) -> usize {
    usize::from(start_silent && !previous_end_silent) + usize::from(end_silent)
}

/// Whether resident memory stayed flat: (growth in KiB from the first to the last sample,
/// flat?). Fewer than two samples: not judged (false).
pub fn memory_verdict(rss_kib: &[u64], bound_kib: u64) -> (i64, bool) {
    match (rss_kib.first(), rss_kib.last()) {
        (Some(&first), Some(&last)) if rss_kib.len() >= 2 => {
            let growth = last as i64 - first as i64;
            (growth, growth <= bound_kib as i64)
        }
        _ => (0, false),
    }
}

/// Least-squares slope of `values` against their index (units per step).
pub fn slope(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if values.len() < 2 {
        return f64::NAN;
    }
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = values.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, y) in values.iter().enumerate() {
        sxy += (i as f64 - mean_x) * (y - mean_y);
        sxx += (i as f64 - mean_x).powi(2);
    }
    sxy / sxx
}

/// What was seen at the end of one interval (cumulative counters as read).
#[derive(Clone, Debug, Default)]
struct IntervalSample {
    seconds: f64,
    cpu: f64,
    rss_kib: u64,
    anon_kib: u64,
    /// `xruns` and `switches` of the driver's status file.
    xruns: Option<f64>,
    switches: Option<f64>,
    /// `audio thread: output underrun` records in Wasio.log so far.
    underrun_records: usize,
}

/// The newest status file of a running instance: (xruns, switches).
pub fn read_status(dir: &Path) -> Option<(f64, f64)> {
    let mut best: Option<(f64, f64, f64)> = None;
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("status-") && name.ends_with(".json")) {
            continue;
        }
        let Some(status) = fs::read_to_string(entry.path())
            .ok()
            .and_then(|t| json::parse(&t).ok())
        else {
            continue;
        };
        let updated = status.num("updated_unix_ms").unwrap_or(0.0);
        if status.str("state") == Some("running") && best.is_none_or(|(u, _, _)| updated > u) {
            best = Some((updated, status.num("xruns")?, status.num("switches")?));
        }
    }
    best.map(|(_, xruns, switches)| (xruns, switches))
}

/// `%TEMP%` of the prefix as a Unix path.
pub fn wine_temp_dir(bench: &Bench) -> Res<PathBuf> {
    let echo = bench
        .wine("cmd")
        .args(["/c", "echo %TEMP%"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run wine cmd: {e}"))?;
    let windows = String::from_utf8_lossy(&echo.stdout).trim().to_string();
    let unix = bench
        .wine("winepath")
        .args(["-u", &windows])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run winepath: {e}"))?;
    let path = PathBuf::from(String::from_utf8_lossy(&unix.stdout).trim());
    if path.as_os_str().is_empty() {
        return Err(format!("cannot map %TEMP% ({windows:?}) to a Unix path"));
    }
    Ok(path)
}

/// A tone sample is loud above this (the tone plays at 0.5).
const LOUD: f32 = 0.01;
/// Silence at an interval's edge longer than this is a dropout (a 997 Hz sine stays below the
/// analysis' level threshold for a frame or two). Glitches within the analysis' edge margin
/// (10 ms) of an interval edge are not seen.
const EDGE_FRAMES: usize = 16;

/// Reads frames `[from, to)` of an interleaved float32 recording.
fn read_frames(file: &mut fs::File, channels: usize, from: u64, to: u64) -> Res<Vec<f32>> {
    let bytes_per_frame = 4 * channels as u64;
    file.seek(SeekFrom::Start(from * bytes_per_frame))
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take((to.saturating_sub(from)) * bytes_per_frame)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// `[from, to)` chunks of `interval` frames from `start` to `end`; a remainder shorter than half
/// an interval joins the chunk before it.
pub fn chunk_bounds(start: u64, end: u64, interval: u64) -> Vec<(u64, u64)> {
    let mut chunks = Vec::new();
    let mut from = start;
    while from < end {
        let to = if end - from < interval + interval / 2 {
            end
        } else {
            from + interval
        };
        chunks.push((from, to));
        from = to;
    }
    chunks
}

/// The first and one past the last loud frame of a recording (scanned in one-second blocks).
fn tone_span(file: &mut fs::File, channels: usize, total: u64) -> Res<(u64, u64)> {
    const BLOCK: u64 = 48_000;
    let loud = |block: &[f32]| block.iter().position(|x| x.abs() > LOUD);
    let mut start = None;
    let mut from = 0;
    while start.is_none() && from < total {
        let block = read_frames(file, channels, from, (from + BLOCK).min(total))?;
        // A sine from phase 0: the zero before the first loud sample belongs to the tone.
        start = loud(&block).map(|index| (from + (index / channels) as u64).saturating_sub(1));
        from += BLOCK;
    }
    let start = start.ok_or("no tone in the soak recording")?;
    let mut to = total;
    while to > start {
        let from = to.saturating_sub(BLOCK).max(start);
        let block = read_frames(file, channels, from, to)?;
        if let Some(index) = block.iter().rposition(|x| x.abs() > LOUD) {
            return Ok((start, from + (index / channels) as u64 + 1));
        }
        to = from;
    }
    Ok((start, start))
}

/// Dropout events per interval of the tone in a long recording, analysed a piece at a time.
/// The recording runs on the wall clock, as the intervals of the status samples do.
fn interval_events(path: &Path, interval_frames: u64) -> Res<Vec<usize>> {
    let channels = bench::SINK_CHANNELS as usize;
    let mut file =
        fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let total = file.metadata().map_err(|e| e.to_string())?.len() / (4 * channels as u64);
    let (start, end) = tone_span(&mut file, channels, total)?;
    let chunks = chunk_bounds(start, end, interval_frames);
    let config = wine_tests::sink_analysis_config();
    let mut events = Vec::new();
    let mut previous_end_silent = false;
    for (index, &(from, to)) in chunks.iter().enumerate() {
        let last = index + 1 == chunks.len();
        // The last chunk takes some of the tail, so that the tone's end is inside it.
        let to = if last { to + 9_600 } else { to };
        let samples = read_frames(&mut file, channels, from, to.min(total))?;
        let frames = samples.len() / channels;
        let (count, start_silent, end_silent) = match analysis::analyse(&samples, &config) {
            Ok(report) => (
                bench_stats::problem_events(&report, config.phase_window),
                report.start_frame > EDGE_FRAMES,
                !last && report.end_frame + EDGE_FRAMES < frames,
            ),
            Err(_) => (0, true, !last),
        };
        events.push(count + edge_events(previous_end_silent, start_silent, end_silent));
        previous_end_silent = end_silent;
    }
    Ok(events)
}

/// `cargo xtask bench --soak DURATION`. Returns whether memory stayed flat.
pub fn soak(
    root: &Path,
    tools: &Tools,
    choice: &BuildChoice,
    duration: Duration,
    frames: u32,
) -> Res<bool> {
    if duration > Duration::from_secs(3600) {
        return Err("--soak: at most 1h (the host plays at most 3600 s)".to_string());
    }
    let interval = interval_for(duration);
    let seconds = duration.as_secs_f64();
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let run = bench_report::with_registered_driver(root, tools, choice, |ctx| {
        run_soak(ctx, seconds, frames, interval)
    })?;
    let SoakRun {
        samples,
        events,
        report,
        log,
        host_error,
        stream_seconds,
    } = run;
    let counts = DriverLogCounts::parse(&log);
    let rss: Vec<u64> = samples.iter().map(|s| s.rss_kib).collect();
    let (growth, flat) = memory_verdict(&rss, RSS_BOUND_KIB);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let unit = if interval == Duration::from_secs(60) {
        "minute".to_string()
    } else {
        format!("{} s interval", interval.as_secs())
    };
    let mut table = format!(
        "| {unit} | dropout events | driver xruns (status file) | underrun records (log) | audio s per wall s | VmRSS (MiB) | RssAnon (MiB) | CPU (% of one core) |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    let mut previous = IntervalSample {
        switches: Some(0.0),
        ..IntervalSample::default()
    };
    let block_seconds = f64::from(frames) / bench::SINK_RATE as f64;
    // Intervals past the last sample (the recording ran on after it) have events only.
    for index in 0..samples.len().max(events.len()) {
        let Some(sample) = samples.get(index) else {
            table.push_str(&format!(
                "| {} | {} | n/a | n/a | n/a | n/a | n/a | n/a |\n",
                index + 1,
                events[index]
            ));
            continue;
        };
        let delta = |now: Option<f64>, before: Option<f64>| match (now, before) {
            (Some(now), Some(before)) => format_value(now - before, 0),
            (Some(now), None) if index == 0 => format_value(now, 0),
            _ => "n/a".to_string(),
        };
        let speed = match (sample.switches, previous.switches) {
            (Some(now), Some(before)) => format_value(
                (now - before) * block_seconds / (sample.seconds - previous.seconds),
                3,
            ),
            _ => "n/a".to_string(),
        };
        table.push_str(&format!(
            "| {} | {} | {} | {} | {speed} | {:.1} | {:.1} | {:.1} |\n",
            index + 1,
            events
                .get(index)
                .map_or("n/a".to_string(), |e| e.to_string()),
            delta(sample.xruns, previous.xruns),
            sample
                .underrun_records
                .saturating_sub(previous.underrun_records),
            mib(sample.rss_kib),
            mib(sample.anon_kib),
            100.0 * (sample.cpu - previous.cpu) / (sample.seconds - previous.seconds),
        ));
        previous = sample.clone();
    }

    let (date, wine) = bench_report::run_context(tools);
    let slope_kib = slope(&rss.iter().map(|&r| r as f64).collect::<Vec<_>>());
    let timing = report
        .as_ref()
        .and_then(bench_stats::Timing::from_report)
        .unwrap_or_default();
    let verdict = if samples.len() < 2 {
        "not judged (fewer than two intervals)".to_string()
    } else {
        format!(
            "{}: VmRSS {:.1} MiB after the first {unit}, {:.1} MiB after the last ({:+} KiB; bound +{} KiB), slope {:+.0} KiB per {unit}",
            if flat { "flat" } else { "NOT flat" },
            mib(rss[0]),
            mib(*rss.last().unwrap_or(&0)),
            growth,
            RSS_BOUND_KIB,
            slope_kib
        )
    };
    let host = match &host_error {
        None => "ended normally".to_string(),
        Some(error) => format!("FAILED ({error})"),
    };
    let body = format!(
        "Measured {date} with `cargo xtask bench --soak {}`: Wasio alone, one {} s stream at {frames} \
         frames per buffer through PortAudio's ASIO host, 48 kHz stereo float32, release build, \
         {wine}, a busy loop on the other core (load average {} before, {} after). Driver log: Wasio.log on.\n\n\
         - Resident memory: {verdict}.\n\
         - Dropout events in the recording: {} in all; driver xruns (status file): {}; the driver's \
         `stream stopped:` line: {} underruns, {} output-underrun records.\n\
         - Stream: {} s of audio took {} s from the first callback to `Pa_StopStream`.\n\
         - Host: {host}; {} callbacks, interval {} ± {} ms (max {} ms), DAC time residual max {} \
         frames, {} step(s); Pa_StopStream {} ms, Pa_CloseStream {} ms.\n\n{table}",
        format_duration(duration),
        seconds,
        load_average(&load_before),
        load_average(&std::fs::read_to_string("/proc/loadavg").unwrap_or_default()),
        events.iter().sum::<usize>(),
        samples.last().and_then(|s| s.xruns).map_or("n/a".to_string(), |x| format_value(x, 0)),
        counts.underruns,
        counts.output_underrun_records,
        seconds,
        format_value(stream_seconds, 1),
        format_value(timing.callbacks, 0),
        format_value(timing.interval_mean_ms, 2),
        format_value(timing.interval_stdev_ms, 2),
        format_value(timing.interval_max_ms, 1),
        format_value(timing.residual_max_frames, 1),
        format_value(timing.steps, 0),
        format_value(timing.stop_ms, 0),
        format_value(timing.close_ms, 0),
    );
    println!("\n{body}");
    bench_report::write_docs_section(root, "soak", &body)?;
    Ok(flat && host_error.is_none())
}

/// The three load averages of a `/proc/loadavg` text.
fn load_average(text: &str) -> String {
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `30m`, `90s`, `1h` back from a duration.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// What a soak run gathered.
struct SoakRun {
    samples: Vec<IntervalSample>,
    /// Dropout events per interval of the recording.
    events: Vec<usize>,
    report: Option<json::Json>,
    log: String,
    /// Why the host did not end normally (its figures are still reported).
    host_error: Option<String>,
    /// Wall seconds from the first callback to `Pa_StopStream`.
    stream_seconds: f64,
}

fn run_soak(ctx: &WineContext, seconds: f64, frames: u32, interval: Duration) -> Res<SoakRun> {
    let profile = crate::wine_tests_config::user_profile(ctx.bench)?;
    let log_path = profile.join("Wasio.log");
    fs::write(&log_path, "").map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let status_dir = wine_temp_dir(ctx.bench)?.join("Wasio");
    let spec = PlaySpec {
        seconds,
        ..PlaySpec::standard(frames)
    };
    let recording_path = ctx.results.join("soak.f32");
    let load = BusyLoop::start()?;
    let recording = ctx
        .bench
        .start_recording(&format!("{}.monitor", bench::SINK_A), &recording_path)?;
    step(&format!(
        "soak: {seconds} s at {frames} frames, intervals of {} s, busy loop pid {}",
        interval.as_secs(),
        load.pid()
    ));
    let mut samples = Vec::new();
    let observed = bench_report::observed_play(
        ctx,
        "soak-play",
        &spec,
        Some(interval),
        |sample: &Sample| {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            let status = read_status(&status_dir);
            let row = IntervalSample {
                seconds: sample.since_running,
                cpu: sample.cpu,
                rss_kib: sample.rss_kib,
                anon_kib: sample.anon_kib,
                xruns: status.map(|(x, _)| x),
                switches: status.map(|(_, s)| s),
                underrun_records: DriverLogCounts::parse(&log).output_underrun_records,
            };
            detail(&format!(
            "{:.0} s: VmRSS {} KiB (anon {} KiB), CPU {:.1} s, driver xruns {}, switches {}, underrun records {}",
            row.seconds,
            row.rss_kib,
            row.anon_kib,
            row.cpu,
            row.xruns.map_or("n/a".to_string(), |x| x.to_string()),
            row.switches.map_or("n/a".to_string(), |x| x.to_string()),
            row.underrun_records
        ));
            samples.push(row);
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    drop(recording);
    drop(load);
    let (observed, report) = observed?;
    let host_error = bench_report::host_failure(&observed.output, report.as_ref());
    let log = fs::read_to_string(&log_path).unwrap_or_default();
    let _ = fs::write(ctx.results.join("soak-driver.log"), &log);
    let _ = fs::remove_file(&log_path);
    step("soak: analysing the recording interval by interval");
    let rate = bench::SINK_RATE as f64;
    let events = interval_events(&recording_path, (interval.as_secs_f64() * rate) as u64)?;
    Ok(SoakRun {
        samples,
        events,
        report,
        log,
        host_error,
        stream_seconds: observed.stream_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        for bad in ["", "m", "0m", "-5s", "10x", "abc", "5 parsecs"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(1800)), "30m");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn intervals_are_minutes_for_long_soaks() {
        assert_eq!(
            interval_for(Duration::from_secs(1800)),
            Duration::from_secs(60)
        );
        assert_eq!(
            interval_for(Duration::from_secs(120)),
            Duration::from_secs(30)
        );
        assert_eq!(interval_for(Duration::from_secs(8)), Duration::from_secs(5));
    }

    #[test]
    fn chunks_cover_the_tone_and_absorb_a_short_remainder() {
        assert_eq!(
            chunk_bounds(10, 310, 100),
            vec![(10, 110), (110, 210), (210, 310)]
        );
        assert_eq!(
            chunk_bounds(0, 340, 100),
            vec![(0, 100), (100, 200), (200, 340)]
        );
        assert_eq!(
            chunk_bounds(0, 360, 100),
            vec![(0, 100), (100, 200), (200, 300), (300, 360)]
        );
        assert_eq!(chunk_bounds(0, 40, 100), vec![(0, 40)]);
        assert!(chunk_bounds(5, 5, 100).is_empty());
    }

    #[test]
    fn silence_across_an_interval_edge_is_one_event() {
        assert_eq!(edge_events(false, false, false), 0);
        assert_eq!(edge_events(false, false, true), 1);
        // The next interval starts silent: the same dropout.
        assert_eq!(edge_events(true, true, false), 0);
        assert_eq!(edge_events(false, true, false), 1);
        assert_eq!(edge_events(false, true, true), 2);
    }

    #[test]
    fn memory_is_judged_from_first_to_last() {
        assert_eq!(
            memory_verdict(&[100_000, 101_000, 100_500], 2048),
            (500, true)
        );
        assert_eq!(memory_verdict(&[100_000, 103_000], 2048), (3000, false));
        assert_eq!(memory_verdict(&[100_000, 90_000], 2048), (-10_000, true));
        assert_eq!(memory_verdict(&[100_000], 2048), (0, false));
        assert!((slope(&[1.0, 3.0, 5.0, 7.0]) - 2.0).abs() < 1e-12);
        assert!(slope(&[1.0]).is_nan());
    }

    #[test]
    fn recordings_are_cut_into_intervals() {
        // 1 s of silence, then 3 s of tone with 20 ms of silence at 1.5 s and a gap across the
        // 2 s interval edge (tone time), then the tail.
        let rate = 48_000.0;
        let mut samples = analysis::synth_tone(rate, 2, 997.0, 0.5, 48_000, 144_000, 9_600);
        let mut silence = |from: usize, frames: usize| {
            for sample in &mut samples[from * 2..(from + frames) * 2] {
                *sample = 0.0;
            }
        };
        silence(48_000 + 72_000, 960);
        silence(48_000 + 96_000 - 300, 600);
        let path = std::env::temp_dir().join(format!("wasio-soak-{}.f32", std::process::id()));
        bench::write_f32_file(&path, &samples).unwrap();
        let events = interval_events(&path, 48_000).unwrap();
        let _ = fs::remove_file(&path);
        assert_eq!(events, vec![0, 2, 0]);
    }
}
