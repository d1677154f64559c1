//! Runs the Wine tests: one attempt each, no retries.
//!
//! A real-time test's verdict comes from two kinds of checks (see [`crate::verdict`]):
//! hard checks of what Wasio itself did, and downstream checks of what happened below it.
//! Right after every real-time test that recorded Wasio, a control of the same kind runs in
//! the same conditions and for as long (5 to 30 s): PortAudio's own WASAPI stream through
//! the same sink, recorded and analysed by the same code. At the end of the run Wasio's downstream glitch rate is
//! judged against the control's, one kind at a time, and a test fails on its downstream
//! glitches only when Wasio is clearly worse.
//!
//! The driver's log adds hard checks to every real-time test: the device thread's own
//! account of late blocks and of underruns with the driver on time (`engine::deadline`).

use crate::analysis::Check;
use crate::util::{detail, step};
use crate::verdict::{self, Exposure, Judgement, Kind, Pool};
use crate::wine_tests::{self, PlaySpec, WineContext, WineTest};
use crate::wine_tests_duplex::DuplexSpec;
use std::path::PathBuf;

/// One test run's outcome.
pub struct TestOutcome {
    pub name: &'static str,
    pub checks: Vec<Check>,
    pub error: Option<String>,
    pub pool: Pool,
    /// Downstream glitch events and stream seconds of this run.
    pub exposure: Exposure,
}

impl TestOutcome {
    /// A check of what Wasio (or, in a control, the bench) did failed, or the test erred.
    pub fn hard_failed(&self) -> bool {
        self.error.is_some()
            || self
                .checks
                .iter()
                .any(|check| !check.passed && (!check.is_downstream() || self.pool == Pool::None))
    }

    pub fn downstream_failed(&self) -> bool {
        self.checks
            .iter()
            .any(|check| !check.passed && check.is_downstream())
    }

    /// The verdict, given the run's downstream judgement for Wasio's streams of each kind.
    pub fn passed(&self, worse: &dyn Fn(Kind) -> bool) -> bool {
        !self.hard_failed()
            && match self.pool {
                Pool::Wasio(kind) => !(self.downstream_failed() && worse(kind)),
                Pool::None | Pool::Bench | Pool::Control(_) => true,
            }
    }
}

/// Which streams a test's recordings measure; every real-time test is in this table.
pub fn pool_of(test: &WineTest) -> Pool {
    match test.name {
        _ if !test.realtime => Pool::None,
        "bench-loopback" => Pool::Bench,
        "bench-pa-wasapi" => Pool::Control(Kind::Play),
        "duplex-wasapi-loopback" | "duplex-wasapi-across" => Pool::Control(Kind::Duplex),
        // These two run with PulseAudio's default stream latency (LatencyBench).
        "duplex-loopback-256" | "cli-latency" => Pool::Wasio(Kind::LowLatencyDuplex),
        name if name.starts_with("duplex-") => Pool::Wasio(Kind::Duplex),
        _ => Pool::Wasio(Kind::Play),
    }
}

/// What the driver's log says about one test: Wasio.log in the prefix's user profile turns
/// the driver's logging on, and the runner empties it before each real-time test.
#[derive(Debug, Default, PartialEq)]
pub struct DriverLogCounts {
    /// `stream stopped:` lines (one per stream the driver ran to its stop).
    pub streams: usize,
    /// Events that found the device empty, and who caused them (engine::deadline).
    pub underruns: u64,
    pub late_wakes: u64,
    pub driver_underruns: u64,
    pub late_blocks: u64,
    pub slow_writes: u64,
    /// The longest wake-up-to-ReleaseBuffer time of any stream, µs.
    pub max_handling_us: u64,
    /// `audio thread: output underrun` records.
    pub output_underrun_records: usize,
    /// `audio thread: input overrun` records.
    pub input_overrun_records: usize,
}

impl DriverLogCounts {
    pub fn parse(log: &str) -> DriverLogCounts {
        let mut counts = DriverLogCounts::default();
        for line in log.lines() {
            if let Some(stopped) = line.split("stream stopped: ").nth(1) {
                counts.streams += 1;
                let figure = |suffix: &str| -> u64 {
                    stopped
                        .split(", ")
                        .find_map(|part| part.strip_suffix(suffix)?.trim().parse().ok())
                        .unwrap_or(0)
                };
                counts.underruns += figure(" underruns");
                counts.late_wakes += figure(" late wake-ups");
                counts.driver_underruns += figure(" driver underruns");
                counts.late_blocks += figure(" late blocks");
                counts.slow_writes += figure(" slow writes");
                counts.max_handling_us = counts.max_handling_us.max(figure(" us max handling"));
            } else if line.contains("audio thread: output underrun") {
                counts.output_underrun_records += 1;
            } else if line.contains("audio thread: input overrun") {
                counts.input_overrun_records += 1;
            }
        }
        counts
    }

    /// Hard checks on the driver's own account, and its late wake-ups as downstream events.
    pub fn checks(&self) -> Vec<Check> {
        if self.streams == 0 {
            return Vec::new();
        }
        vec![
            Check::new(
                "driver: late blocks",
                self.late_blocks == 0,
                format!(
                    "{} (longest write {} µs, {} longer than a period, {} stream(s))",
                    self.late_blocks, self.max_handling_us, self.slow_writes, self.streams
                ),
                "0: no device write held longer than the device buffer lasts",
            ),
            Check::new(
                "driver: underruns with the driver on time",
                self.driver_underruns == 0,
                format!("{} of {} underruns", self.driver_underruns, self.underruns),
                "0",
            ),
            Check::new(
                "driver: underruns after late wake-ups",
                self.late_wakes == 0,
                format!(
                    "{} (the thread ran late: woken after the buffer drained, or a write slowed past a period); {} input overrun record(s)",
                    self.late_wakes, self.input_overrun_records
                ),
                "0, or no worse than the control",
            )
            .downstream(self.late_wakes),
        ]
    }
}

/// Failed checks marked [`Check::unless_late_wake`] become glitches when the driver's log
/// shows underruns after late wake-ups: the system stalled the thread, not the driver.
fn excuse_by_late_wakes(checks: &mut [Check], counts: &DriverLogCounts) {
    if counts.late_wakes == 0 {
        return;
    }
    for check in checks.iter_mut() {
        if check.excused_by_late_wakes && !check.passed && !check.is_downstream() {
            check.measured.push_str(&format!(
                " (the driver's log shows {} underrun(s) after late wake-ups: a glitch)",
                counts.late_wakes
            ));
            check.downstream_events = Some(1);
        }
    }
}

/// Wasio.log for one real-time test; removed again when it ends.
struct TestLog {
    path: PathBuf,
}

impl TestLog {
    /// Creates an empty Wasio.log; `None` (and a note) when the profile is not there.
    fn start(ctx: &WineContext) -> Option<TestLog> {
        let profile = match crate::wine_tests_config::user_profile(ctx.bench) {
            Ok(profile) => profile,
            Err(error) => {
                detail(&format!("driver log unavailable: {error}"));
                return None;
            }
        };
        let path = profile.join("Wasio.log");
        match std::fs::write(&path, "") {
            Ok(()) => Some(TestLog { path }),
            Err(error) => {
                detail(&format!("cannot create {}: {error}", path.display()));
                None
            }
        }
    }

    /// Reads and removes the log.
    fn finish(self) -> String {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let _ = std::fs::remove_file(&self.path);
        text
    }
}

/// Runs one test once: its checks, plus the driver log's for a real-time test.
pub fn run_one(ctx: &WineContext, test: &WineTest, run_label: &str) -> TestOutcome {
    step(&format!("test {}{run_label}: {}", test.name, test.about));
    let _ = verdict::take_stream_seconds();
    let pool = pool_of(test);
    let log = matches!(pool, Pool::Wasio(_))
        .then(|| TestLog::start(ctx))
        .flatten();
    let (mut checks, error) = match (test.run)(ctx) {
        Ok(checks) => (checks, None),
        Err(error) => (Vec::new(), Some(error)),
    };
    if let Some(text) = log.map(TestLog::finish) {
        let counts = DriverLogCounts::parse(&text);
        excuse_by_late_wakes(&mut checks, &counts);
        checks.extend(counts.checks());
        let name = format!("{}-driver.log", test.name);
        let _ = std::fs::write(ctx.results.join(name), text);
    }
    finish(test.name, checks, error, pool)
}

fn finish(
    name: &'static str,
    checks: Vec<Check>,
    error: Option<String>,
    pool: Pool,
) -> TestOutcome {
    let outcome = TestOutcome {
        name,
        exposure: Exposure {
            events: verdict::downstream_events(&checks),
            seconds: verdict::take_stream_seconds(),
        },
        checks,
        error,
        pool,
    };
    print_outcome(&outcome);
    outcome
}

/// Control streams last as long as the Wasio streams they follow, within these bounds (s).
pub const CONTROL_SECONDS: (f64, f64) = (5.0, 30.0);

/// The control for a test of `kind`: PortAudio's own WASAPI stream through the same sink,
/// in the same conditions, analysed by the same code, for about `seconds`.
pub fn run_control(ctx: &WineContext, kind: Kind, label: &str, seconds: f64) -> TestOutcome {
    let seconds = seconds.clamp(CONTROL_SECONDS.0, CONTROL_SECONDS.1).round();
    step(&format!(
        "control after {label}: PortAudio's WASAPI host, {} stream, {seconds} s",
        kind.name()
    ));
    let _ = verdict::take_stream_seconds();
    let name = match kind {
        Kind::Play => "control-play",
        Kind::Duplex => "control-duplex",
        Kind::LowLatencyDuplex => "control-duplex-low-latency",
    };
    let result = match kind {
        Kind::Play => {
            let spec = PlaySpec {
                device: crate::bench::SINK_A.to_string(),
                host_api: "Windows WASAPI".to_string(),
                suggested_latency: Some(0.1),
                seconds,
                ..PlaySpec::standard(256)
            };
            wine_tests::play_test(ctx, &format!("control-{label}"), &spec)
        }
        Kind::Duplex | Kind::LowLatencyDuplex => {
            let _pulse = (kind == Kind::LowLatencyDuplex).then(|| ctx.bench.pulse_defaults());
            let spec = DuplexSpec {
                // The same measurements as Wasio's duplex tests, as downstream checks.
                judge_round_trip: true,
                seconds,
                ..DuplexSpec::wasapi_loopback()
            };
            ctx.duplex_and_analyse(&format!("control-{label}"), &spec)
        }
    };
    let (checks, error) = match result {
        Ok(checks) => (checks, None),
        Err(error) => (Vec::new(), Some(error)),
    };
    finish(name, checks, error, Pool::Control(kind))
}

/// Runs the tests whose names pass `filter` (each `repeat` times), each Wasio real-time test
/// after its control, prints the downstream judgement and a summary. Returns (passed,
/// failed), counted per test and run.
pub fn run_tests(
    ctx: &WineContext,
    tests: &[WineTest],
    filter: &dyn Fn(&str) -> bool,
    repeat: usize,
) -> (usize, usize) {
    let selected: Vec<&WineTest> = tests.iter().filter(|test| filter(test.name)).collect();
    let repeat = repeat.max(1);
    let mut runs: Vec<TestOutcome> = Vec::new();
    let mut controls: Vec<TestOutcome> = Vec::new();
    for round in 1..=repeat {
        let label = if repeat > 1 {
            format!(" (run {round}/{repeat})")
        } else {
            String::new()
        };
        for test in &selected {
            let outcome = run_one(ctx, test, &label);
            // Right after it, in the same conditions and for as long: the control.
            if let (Pool::Wasio(kind), true) = (outcome.pool, outcome.exposure.seconds > 0.0) {
                controls.push(run_control(ctx, kind, test.name, outcome.exposure.seconds));
            }
            runs.push(outcome);
        }
    }
    let judgements: Vec<(Kind, Exposure, Exposure, Judgement)> = Kind::ALL
        .iter()
        .filter_map(|&kind| {
            let pooled = |pool: Pool| {
                let mut total = Exposure::default();
                for outcome in runs.iter().chain(&controls).filter(|o| o.pool == pool) {
                    total.add(outcome.exposure);
                }
                total
            };
            let (wasio, control) = (pooled(Pool::Wasio(kind)), pooled(Pool::Control(kind)));
            (wasio.seconds > 0.0).then(|| (kind, wasio, control, verdict::judge(wasio, control)))
        })
        .collect();
    let worse = |kind: Kind| {
        judgements
            .iter()
            .any(|(k, _, _, judgement)| *k == kind && judgement.clearly_worse)
    };
    println!();
    println!(
        "Downstream glitches (rule: Wasio fails when P(X >= its events | equal rates) < {} and its rate > {}x the control's):",
        verdict::ALPHA,
        verdict::MIN_RATE_RATIO
    );
    for (kind, wasio, control, judgement) in &judgements {
        println!(
            "  {:18} Wasio {} events in {:.0} s ({:.2}/min), control {} in {:.0} s ({:.2}/min): p = {:.3}, rate ratio {:.2} => {}",
            kind.name(),
            wasio.events,
            wasio.seconds,
            wasio.per_minute(),
            control.events,
            control.seconds,
            control.per_minute(),
            judgement.p_value,
            judgement.rate_ratio,
            if judgement.clearly_worse { "WASIO CLEARLY WORSE" } else { "no worse than the control" }
        );
    }
    let control_failures: Vec<&TestOutcome> = controls
        .iter()
        .filter(|outcome| outcome.hard_failed())
        .collect();
    let passed = runs.iter().filter(|run| run.passed(&worse)).count();
    let failed = runs.len() - passed + usize::from(!control_failures.is_empty());
    println!();
    println!("Wine test summary:");
    for test in &selected {
        let test_runs: Vec<&TestOutcome> =
            runs.iter().filter(|run| run.name == test.name).collect();
        let passes = test_runs.iter().filter(|run| run.passed(&worse)).count();
        let verdict = if passes == test_runs.len() {
            "PASS"
        } else {
            "FAIL"
        };
        let glitches: u64 = test_runs.iter().map(|run| run.exposure.events).sum();
        let note = if glitches > 0 {
            format!(" ({glitches} downstream glitch event(s), judged against the control)")
        } else {
            String::new()
        };
        if repeat == 1 {
            println!("  {verdict}  {}{note}", test.name);
        } else {
            println!(
                "  {verdict}  {:24} {passes}/{} runs passed{note}",
                test.name,
                test_runs.len()
            );
        }
    }
    if !control_failures.is_empty() {
        let names: Vec<&str> = control_failures.iter().map(|o| o.name).collect();
        println!(
            "  FAIL  the control stream itself failed (the bench is broken): {}",
            names.join(", ")
        );
    }
    // The caller prints the `N passed, M failed` line (main.rs), once for the whole run.
    (passed, failed)
}

pub fn print_outcome(outcome: &TestOutcome) {
    let width = outcome
        .checks
        .iter()
        .map(|check| check.name.len())
        .max()
        .unwrap_or(0)
        .max(8);
    for check in &outcome.checks {
        let verdict = match (check.passed, check.is_downstream()) {
            (true, _) => "PASS",
            (false, false) => "FAIL",
            (false, true) => "GLITCH",
        };
        println!(
            "    {verdict:6}  {:width$}  measured: {}   expected: {}",
            check.name, check.measured, check.expected
        );
    }
    if let Some(error) = &outcome.error {
        println!("    FAIL    {error}");
    }
    let verdict = if outcome.hard_failed() {
        "FAIL"
    } else if outcome.downstream_failed() {
        "hard checks PASS; downstream glitches judged at the end against the control"
    } else {
        "PASS"
    };
    println!("  => {} {verdict}", outcome.name);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(checks: Vec<Check>, error: Option<&str>, pool: Pool) -> TestOutcome {
        TestOutcome {
            name: "t",
            exposure: Exposure {
                events: verdict::downstream_events(&checks),
                seconds: 5.0,
            },
            checks,
            error: error.map(String::from),
            pool,
        }
    }

    const WASIO: Pool = Pool::Wasio(Kind::Play);

    #[test]
    fn a_hard_failure_always_fails_a_downstream_glitch_only_when_clearly_worse() {
        let never = |_: Kind| false;
        let always = |_: Kind| true;
        let hard = outcome(vec![Check::new("exit", false, "3", "0")], None, WASIO);
        assert!(!hard.passed(&never));
        let glitch = outcome(
            vec![Check::new("dropouts", false, "1", "0").downstream(1)],
            None,
            WASIO,
        );
        assert!(glitch.passed(&never));
        assert!(!glitch.passed(&always));
        assert!(!outcome(Vec::new(), Some("timed out"), WASIO).passed(&never));
        // A control's glitches are its data, never its failure; a test without a pool has
        // nothing to judge a glitch against, so it is hard.
        let control = outcome(glitch.checks.clone(), None, Pool::Control(Kind::Play));
        assert!(control.passed(&always));
        assert!(!outcome(glitch.checks.clone(), None, Pool::None).passed(&never));
    }

    #[test]
    fn the_driver_log_gives_hard_checks_and_counts_late_wake_ups_as_glitches() {
        let log = "I stream opened: wasio_a, shared\n\
                   W audio thread: input overrun, 128 frames lost\n\
                   I stream stopped: 900 buffer switches, 2 underruns, 1 late wake-ups, 1 driver underruns, 0 late blocks, 2 slow writes, 850 us max handling, 0 allocations on the audio thread\n\
                   I stream stopped: 10 buffer switches, 0 underruns, 0 late wake-ups, 0 driver underruns, 3 late blocks, 0 slow writes, 90000 us max handling, 0 allocations on the audio thread, failed: gone\n";
        let counts = DriverLogCounts::parse(log);
        assert_eq!(
            counts,
            DriverLogCounts {
                streams: 2,
                underruns: 2,
                late_wakes: 1,
                driver_underruns: 1,
                late_blocks: 3,
                slow_writes: 2,
                max_handling_us: 90_000,
                output_underrun_records: 0,
                input_overrun_records: 1,
            }
        );
        let checks = counts.checks();
        let failed: Vec<(&str, bool)> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| (c.name.as_str(), c.is_downstream()))
            .collect();
        assert_eq!(
            failed,
            vec![
                ("driver: late blocks", false),
                ("driver: underruns with the driver on time", false),
                ("driver: underruns after late wake-ups", true),
            ]
        );
        assert!(DriverLogCounts::parse("").checks().is_empty());
    }

    #[test]
    fn a_late_wake_up_excuses_only_the_checks_marked_for_it() {
        let mut checks = vec![
            Check::new("bytes", false, "sample 5 is 0", "all").unless_late_wake(),
            Check::new("exit", false, "3", "0"),
        ];
        excuse_by_late_wakes(&mut checks, &DriverLogCounts::default());
        assert!(
            checks.iter().all(|c| !c.is_downstream()),
            "no late wake-up: both hard"
        );
        let stalled = DriverLogCounts {
            streams: 1,
            late_wakes: 2,
            ..DriverLogCounts::default()
        };
        excuse_by_late_wakes(&mut checks, &stalled);
        assert!(checks[0].is_downstream());
        assert!(!checks[1].is_downstream());
    }

    #[test]
    fn every_realtime_test_is_in_a_pool_and_every_wasio_kind_has_a_control() {
        let tests = wine_tests::all_tests();
        for test in &tests {
            assert_eq!(test.realtime, pool_of(test) != Pool::None, "{}", test.name);
        }
        for name in ["play-256", "config-int32", "panel-tone", "installer"] {
            let test = tests.iter().find(|t| t.name == name).expect(name);
            assert_eq!(pool_of(test), Pool::Wasio(Kind::Play), "{name}");
        }
        let test = tests.iter().find(|t| t.name == "cli-latency").unwrap();
        assert_eq!(pool_of(test), Pool::Wasio(Kind::LowLatencyDuplex));
    }
}
