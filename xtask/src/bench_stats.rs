//! The pure part of `cargo xtask bench` (bench_report.rs): the figures of each run, how the
//! rounds are pooled, the table with Wasio/control ratios, and the marked docs sections.

use crate::analysis::ToneReport;
use crate::json::Json;

/// The `"timing"` object of a host report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timing {
    pub callbacks: f64,
    pub interval_mean_ms: f64,
    pub interval_stdev_ms: f64,
    pub interval_max_ms: f64,
    pub residual_max_frames: f64,
    pub residual_rms_frames: f64,
    pub steps: f64,
    pub open_ms: f64,
    pub start_ms: f64,
    pub first_callback_ms: f64,
    pub stop_ms: f64,
    pub close_ms: f64,
}

impl Timing {
    pub fn from_report(report: &Json) -> Option<Timing> {
        let timing = report.get("timing")?;
        let num = |key: &str| timing.num(key).unwrap_or(f64::NAN);
        Some(Timing {
            callbacks: num("callbacks_timed"),
            interval_mean_ms: num("interval_mean_ms"),
            interval_stdev_ms: num("interval_stdev_ms"),
            interval_max_ms: num("interval_max_ms"),
            residual_max_frames: num("stamp_residual_max_frames"),
            residual_rms_frames: num("stamp_residual_rms_frames"),
            steps: num("stamp_steps"),
            open_ms: num("open_ms"),
            start_ms: num("start_ms"),
            first_callback_ms: num("first_callback_ms"),
            stop_ms: num("stop_ms"),
            close_ms: num("close_ms"),
        })
    }
}

/// One play run of one side; `error` set when it does not count.
#[derive(Clone, Debug, Default)]
pub struct PlayRun {
    pub error: Option<String>,
    /// Problem events in the recording (see [`problem_events`]).
    pub events: usize,
    pub tone_seconds: f64,
    /// CPU seconds of the host's process tree while it streamed, and the wall seconds.
    pub cpu: f64,
    pub stream_seconds: f64,
    pub wineserver_cpu: f64,
    pub timing: Timing,
    /// The driver's `xruns` counter (its status file) last seen while streaming; `None` for
    /// the control.
    pub driver_xruns: Option<f64>,
}

/// One duplex impulse run: round trip measured through the monitor, and reported.
#[derive(Clone, Debug, Default)]
pub struct DuplexRun {
    pub error: Option<String>,
    pub measured_frames: f64,
    pub reported_frames: f64,
}

/// Recording problems closer than this (frames) are one event: a dropout shows as a run of
/// silence, a glitch at each edge and a phase jump, on every channel.
const EVENT_GAP_FRAMES: usize = 2_400;

/// Dropouts, glitches and phase jumps of a recording, clustered into events.
pub fn problem_events(report: &ToneReport, phase_window: usize) -> usize {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    spans.extend(
        report
            .dropouts
            .iter()
            .map(|d| (d.frame, d.frame + d.frames)),
    );
    spans.extend(report.glitches.iter().map(|g| (g.frame, g.frame)));
    spans.extend(
        report
            .phase_jumps
            .iter()
            .map(|j| (j.frame, j.frame + 2 * phase_window)),
    );
    cluster_spans(spans, EVENT_GAP_FRAMES)
}

/// Number of groups of `(start, end)` spans, spans less than `gap` apart forming one group.
pub fn cluster_spans(mut spans: Vec<(usize, usize)>, gap: usize) -> usize {
    spans.sort_unstable();
    let mut groups = 0;
    let mut reach: Option<usize> = None;
    for (start, end) in spans {
        match reach {
            Some(r) if start < r.saturating_add(gap) => reach = Some(r.max(end)),
            _ => {
                groups += 1;
                reach = Some(end);
            }
        }
    }
    groups
}

/// Wasio/control as text: two significant digits, `n/a` without figures, and the cases with a
/// zero control spelt out.
pub fn format_ratio(wasio: f64, control: f64) -> String {
    if !wasio.is_finite() || !control.is_finite() {
        return "n/a".to_string();
    }
    if control == 0.0 {
        return if wasio == 0.0 {
            "both 0"
        } else {
            "∞ (control 0)"
        }
        .to_string();
    }
    let ratio = wasio / control;
    let magnitude = ratio.abs();
    if magnitude >= 10.0 {
        format!("{ratio:.0}")
    } else if magnitude >= 1.0 {
        format!("{ratio:.1}")
    } else if magnitude >= 0.1 || magnitude == 0.0 {
        format!("{ratio:.2}")
    } else {
        format!("{ratio:.3}")
    }
}

/// A figure with `decimals`, or `n/a`.
pub fn format_value(value: f64, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        "n/a".to_string()
    }
}

/// Replaces the text between `<!-- NAME:begin … -->` and `<!-- NAME:end -->` with `body`, or
/// appends the marked section when the document has none. The rest stays as it is.
pub fn replace_section(document: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- {name}:begin");
    let end = format!("<!-- {name}:end -->");
    let body = body.trim_end();
    if let Some(start) = document.find(&begin) {
        let after_begin = document[start..]
            .find("-->")
            .map(|i| start + i + 3)
            .unwrap_or(document.len());
        if let Some(stop) = document[after_begin..].find(&end).map(|i| after_begin + i) {
            return format!(
                "{}\n{body}\n{}",
                &document[..after_begin],
                &document[stop..]
            );
        }
    }
    format!(
        "{}\n\n{begin} (written by `cargo xtask bench`) -->\n{body}\n{end}\n",
        document.trim_end()
    )
}

fn median(values: &[f64]) -> f64 {
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return f64::NAN;
    }
    finite.sort_by(f64::total_cmp);
    let mid = finite.len() / 2;
    if finite.len() % 2 == 1 {
        finite[mid]
    } else {
        (finite[mid - 1] + finite[mid]) / 2.0
    }
}

/// Root of the mean square (pools standard deviations and RMS figures of equal-length runs).
fn quadratic_mean(values: &[f64]) -> f64 {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return f64::NAN;
    }
    (finite.iter().map(|v| v * v).sum::<f64>() / finite.len() as f64).sqrt()
}

fn max_of(values: impl Iterator<Item = f64>) -> f64 {
    values
        .filter(|v| v.is_finite())
        .fold(f64::NAN, |max, v| if max.is_nan() { v } else { max.max(v) })
}

/// One side's figures over all rounds.
#[derive(Clone, Debug, Default)]
pub struct SideSummary {
    pub plays: usize,
    pub plays_failed: usize,
    pub duplexes_failed: usize,
    pub events: usize,
    pub dropouts_per_minute: f64,
    /// Summed over the runs (NaN without a driver).
    pub driver_xruns: f64,
    pub cpu_percent: f64,
    pub wineserver_percent: f64,
    pub interval_mean_ms: f64,
    pub interval_stdev_ms: f64,
    pub interval_max_ms: f64,
    pub residual_max_frames: f64,
    pub residual_rms_frames: f64,
    pub steps: f64,
    pub open_ms: f64,
    pub start_ms: f64,
    pub first_callback_ms: f64,
    pub stop_ms: f64,
    pub close_ms: f64,
    pub round_trip_measured_ms: f64,
    pub round_trip_reported_ms: f64,
    pub round_trip_error_ms: f64,
}

/// Sums, pools and medians over the runs that count (failed runs are only counted).
pub fn summarise(plays: &[PlayRun], duplexes: &[DuplexRun], rate: f64) -> SideSummary {
    let good: Vec<&PlayRun> = plays.iter().filter(|run| run.error.is_none()).collect();
    let sum = |f: fn(&PlayRun) -> f64| good.iter().map(|run| f(run)).sum::<f64>();
    let timings = |f: fn(&Timing) -> f64| good.iter().map(|run| f(&run.timing)).collect::<Vec<_>>();
    let events = good.iter().map(|run| run.events).sum::<usize>();
    let minutes = sum(|run| run.tone_seconds) / 60.0;
    let stream_seconds = sum(|run| run.stream_seconds);
    let ms = |frames: f64| frames / rate * 1e3;
    let duplex: Vec<&DuplexRun> = duplexes.iter().filter(|run| run.error.is_none()).collect();
    let round_trip =
        |f: fn(&DuplexRun) -> f64| median(&duplex.iter().map(|run| f(run)).collect::<Vec<_>>());
    SideSummary {
        plays: plays.len(),
        plays_failed: plays.len() - good.len(),
        duplexes_failed: duplexes.len() - duplex.len(),
        events,
        dropouts_per_minute: if minutes > 0.0 {
            events as f64 / minutes
        } else {
            f64::NAN
        },
        driver_xruns: good
            .iter()
            .filter_map(|run| run.driver_xruns)
            .reduce(|a, b| a + b)
            .unwrap_or(f64::NAN),
        cpu_percent: 100.0 * sum(|run| run.cpu) / stream_seconds,
        wineserver_percent: 100.0 * sum(|run| run.wineserver_cpu) / stream_seconds,
        interval_mean_ms: median(&timings(|t| t.interval_mean_ms)),
        interval_stdev_ms: quadratic_mean(&timings(|t| t.interval_stdev_ms)),
        interval_max_ms: max_of(timings(|t| t.interval_max_ms).into_iter()),
        residual_max_frames: max_of(timings(|t| t.residual_max_frames).into_iter()),
        residual_rms_frames: quadratic_mean(&timings(|t| t.residual_rms_frames)),
        steps: timings(|t| t.steps)
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0, |sum, v| sum + v),
        open_ms: median(&timings(|t| t.open_ms)),
        start_ms: median(&timings(|t| t.start_ms)),
        first_callback_ms: median(&timings(|t| t.first_callback_ms)),
        stop_ms: median(&timings(|t| t.stop_ms)),
        close_ms: median(&timings(|t| t.close_ms)),
        round_trip_measured_ms: ms(round_trip(|run| run.measured_frames)),
        round_trip_reported_ms: ms(round_trip(|run| run.reported_frames)),
        round_trip_error_ms: ms(round_trip(|run| run.reported_frames - run.measured_frames)),
    }
}

/// The comparison table (Markdown).
pub fn render_table(wasio: &SideSummary, control: &SideSummary, rate: f64) -> String {
    let us = |frames: f64| frames / rate * 1e6;
    let frames_cell = |frames: f64| {
        format!(
            "{} ({} µs)",
            format_value(frames, 1),
            format_value(us(frames), 0)
        )
    };
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    let mut row = |name: &str, w: f64, c: f64, cell: &dyn Fn(f64) -> String| {
        rows.push((name.to_string(), cell(w), cell(c), format_ratio(w, c)));
    };
    let fixed = |decimals: usize| move |v: f64| format_value(v, decimals);
    row(
        "dropout events per minute (recording)",
        wasio.dropouts_per_minute,
        control.dropouts_per_minute,
        &fixed(2),
    );
    row(
        "driver xruns, its status file (all rounds)",
        wasio.driver_xruns,
        control.driver_xruns,
        &fixed(0),
    );
    row(
        "host process CPU (% of one core)",
        wasio.cpu_percent,
        control.cpu_percent,
        &fixed(1),
    );
    row(
        "wineserver CPU meanwhile (% of one core)",
        wasio.wineserver_percent,
        control.wineserver_percent,
        &fixed(1),
    );
    row(
        "callback interval, mean (ms)",
        wasio.interval_mean_ms,
        control.interval_mean_ms,
        &fixed(3),
    );
    row(
        "callback interval, std dev (ms)",
        wasio.interval_stdev_ms,
        control.interval_stdev_ms,
        &fixed(2),
    );
    row(
        "callback interval, max (ms)",
        wasio.interval_max_ms,
        control.interval_max_ms,
        &fixed(1),
    );
    row(
        "DAC time − sample clock fit, max (frames)",
        wasio.residual_max_frames,
        control.residual_max_frames,
        &frames_cell,
    );
    row(
        "DAC time − sample clock fit, rms (frames)",
        wasio.residual_rms_frames,
        control.residual_rms_frames,
        &frames_cell,
    );
    row(
        "DAC time steps > ¼ block (all rounds)",
        wasio.steps,
        control.steps,
        &fixed(0),
    );
    row(
        "round trip, measured (ms)",
        wasio.round_trip_measured_ms,
        control.round_trip_measured_ms,
        &fixed(1),
    );
    row(
        "round trip, reported in + out (ms)",
        wasio.round_trip_reported_ms,
        control.round_trip_reported_ms,
        &fixed(1),
    );
    rows.push((
        "round trip, reported − measured (ms; ratio of magnitudes)".to_string(),
        format_value(wasio.round_trip_error_ms, 1),
        format_value(control.round_trip_error_ms, 1),
        format_ratio(
            wasio.round_trip_error_ms.abs(),
            control.round_trip_error_ms.abs(),
        ),
    ));
    let mut row = |name: &str, w: f64, c: f64| {
        rows.push((
            name.to_string(),
            format_value(w, 1),
            format_value(c, 1),
            format_ratio(w, c),
        ));
    };
    row("Pa_OpenStream (ms)", wasio.open_ms, control.open_ms);
    row("Pa_StartStream (ms)", wasio.start_ms, control.start_ms);
    row(
        "start call to first callback (ms)",
        wasio.first_callback_ms,
        control.first_callback_ms,
    );
    row("Pa_StopStream (ms)", wasio.stop_ms, control.stop_ms);
    row("Pa_CloseStream (ms)", wasio.close_ms, control.close_ms);
    let mut text =
        String::from("| figure | Wasio | control | Wasio/control |\n|---|---:|---:|---:|\n");
    for (name, w, c, ratio) in rows {
        text.push_str(&format!("| {name} | {w} | {c} | {ratio} |\n"));
    }
    text
}

/// One line per round, so that a bad round shows as one.
pub fn render_rounds(wasio: &[PlayRun], control: &[PlayRun]) -> String {
    let mut text = String::from(
        "| round | dropout events | CPU (%) | interval max (ms) | DAC residual max (frames) | DAC steps | driver xruns |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let pair = |w: &PlayRun, c: &PlayRun, f: &dyn Fn(&PlayRun) -> String| {
        let cell = |run: &PlayRun| match run.error {
            Some(_) => "—".to_string(),
            None => f(run),
        };
        format!("{} / {}", cell(w), cell(c))
    };
    for (index, (w, c)) in wasio.iter().zip(control).enumerate() {
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            index + 1,
            pair(w, c, &|r| r.events.to_string()),
            pair(w, c, &|r| format_value(100.0 * r.cpu / r.stream_seconds, 1)),
            pair(w, c, &|r| format_value(r.timing.interval_max_ms, 1)),
            pair(w, c, &|r| format_value(r.timing.residual_max_frames, 0)),
            pair(w, c, &|r| format_value(r.timing.steps, 0)),
            w.driver_xruns
                .map_or("n/a".to_string(), |x| format_value(x, 0)),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_read_well() {
        assert_eq!(format_ratio(1.0, 2.0), "0.50");
        assert_eq!(format_ratio(3.0, 2.0), "1.5");
        assert_eq!(format_ratio(250.0, 2.0), "125");
        assert_eq!(format_ratio(1.0, 40.0), "0.025");
        assert_eq!(format_ratio(0.0, 3.0), "0.00");
        assert_eq!(format_ratio(0.0, 0.0), "both 0");
        assert_eq!(format_ratio(2.0, 0.0), "∞ (control 0)");
        assert_eq!(format_ratio(f64::NAN, 1.0), "n/a");
        assert_eq!(format_value(f64::NAN, 2), "n/a");
        assert_eq!(format_value(1.234, 1), "1.2");
    }

    #[test]
    fn sections_are_replaced_and_the_rest_kept() {
        let doc = "# Performance\n\nintro\n";
        let once = replace_section(doc, "bench", "table 1\n");
        assert!(once.starts_with("# Performance\n\nintro\n\n<!-- bench:begin"));
        assert!(once.contains("\ntable 1\n<!-- bench:end -->\n"));
        let edited = format!("{once}\n## Later\n\ntext\n");
        let twice = replace_section(&edited, "bench", "table 2");
        assert!(!twice.contains("table 1") && twice.contains("\ntable 2\n<!-- bench:end -->"));
        assert!(
            twice.ends_with("## Later\n\ntext\n") && twice.starts_with("# Performance\n\nintro")
        );
        // Another section is independent.
        let both = replace_section(&twice, "soak", "minutes");
        assert_eq!(replace_section(&both, "bench", "table 2"), both);
        assert!(both.contains("<!-- soak:begin") && both.contains("table 2"));
    }

    #[test]
    fn problems_close_together_are_one_event() {
        assert_eq!(cluster_spans(vec![], 100), 0);
        // A dropout with its edge glitches, a lone glitch far away.
        assert_eq!(
            cluster_spans(
                vec![(1000, 1500), (1000, 1000), (1500, 1500), (90_000, 90_000)],
                2400
            ),
            2
        );
        // Unsorted, chained within the gap.
        assert_eq!(
            cluster_spans(vec![(5000, 5000), (1000, 1000), (3000, 3000)], 2400),
            1
        );
        assert_eq!(cluster_spans(vec![(0, 0), (2400, 2400)], 2400), 2);
    }

    #[test]
    fn summary_pools_rounds_and_skips_failed_runs() {
        let run = |events, stdev: f64, steps| PlayRun {
            events,
            tone_seconds: 30.0,
            cpu: 3.0,
            stream_seconds: 30.0,
            wineserver_cpu: 1.5,
            timing: Timing {
                interval_stdev_ms: stdev,
                interval_max_ms: stdev * 3.0,
                steps,
                open_ms: stdev,
                ..Timing::default()
            },
            driver_xruns: Some(2.0),
            error: None,
        };
        let failed = PlayRun {
            error: Some("exit code 6".to_string()),
            events: 99,
            ..run(0, 100.0, 9.0)
        };
        let duplex = |measured, reported| DuplexRun {
            error: None,
            measured_frames: measured,
            reported_frames: reported,
        };
        let summary = summarise(
            &[run(1, 3.0, 1.0), run(0, 4.0, 2.0), failed.clone()],
            &[
                duplex(4800.0, 5280.0),
                duplex(4800.0, 4320.0),
                duplex(9600.0, 9600.0),
            ],
            48_000.0,
        );
        assert_eq!(
            (summary.plays, summary.plays_failed, summary.events),
            (3, 1, 1)
        );
        assert!((summary.dropouts_per_minute - 1.0).abs() < 1e-9);
        assert!((summary.cpu_percent - 10.0).abs() < 1e-9);
        assert!((summary.wineserver_percent - 5.0).abs() < 1e-9);
        assert!((summary.interval_stdev_ms - 12.5f64.sqrt()).abs() < 1e-9);
        assert_eq!(
            (summary.interval_max_ms, summary.steps, summary.open_ms),
            (12.0, 3.0, 3.5)
        );
        assert_eq!(
            (summary.round_trip_measured_ms, summary.round_trip_error_ms),
            (100.0, 0.0)
        );
        let table = render_table(&summary, &summary, 48_000.0);
        assert!(
            table.contains("| dropout events per minute (recording) | 1.00 | 1.00 | 1.0 |"),
            "{table}"
        );
        assert_eq!(table.lines().count(), 2 + 18);
        let rounds = render_rounds(&[run(1, 3.0, 1.0)], &[failed]);
        assert!(
            rounds.contains("| 1 | 1 / — | 10.0 / — | 9.0 / — |"),
            "{rounds}"
        );
    }
}
