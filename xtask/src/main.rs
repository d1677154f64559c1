//! `cargo xtask <command>`: setup, cross-builds, the Wine bench and the real-host tests.
//!
//! ```text
//! cargo xtask setup                    install/fetch what the bench needs (idempotent)
//! cargo xtask test                     everything: setup, native tests, cross-builds, Wine tests
//! cargo xtask wine-test [--release] [--only a,b] [--bench-only] [--repeat N] [--driver DLL] [--cli EXE]
//!                                      the real-host tests under Wine (see wine_tests.rs);
//!                                      --driver/--cli test prebuilt binaries instead;
//!                                      --repeat runs the selection N times (flakiness figures)
//! cargo xtask demo [--release] [--driver DLL]
//!                                      play the test signal through PortAudio's ASIO host
//! cargo xtask analyse FILE [--rate R] [--channels N] [--freq F] [--amplitude A] [--seconds S]
//!                                      analyse a raw float32le recording
//! cargo xtask list-tests               the Wine test names
//! cargo xtask bench [--rounds 4] [--seconds 20] [--frames 256] [--duplex-seconds 10] [--soak 30m]
//!                                      Wasio against PortAudio's WASAPI host, or a soak;
//!                                      writes docs/PERFORMANCE.md (bench_report.rs, soak.rs)
//! cargo xtask package                  release zip and installer in target/package (package.rs)
//! cargo xtask platform-test [x86|wine10] [--only a,b]
//!                                      the x86 suite (32-bit Wine 8) and the Wine 10 suite, each
//!                                      in a cached chroot (platforms.rs, chroot.rs)
//! ```
//! xtask uses std only, so building it costs nothing on CI.

mod analysis;
mod bench;
mod bench_alsa;
mod bench_proc;
mod bench_report;
mod bench_stats;
mod chroot;
mod impulses;
mod json;
mod package;
mod phases;
mod platforms;
mod runner;
mod setup;
mod soak;
mod util;
mod verdict;
mod wine_tests;
mod wine_tests_config;
mod wine_tests_duplex;
mod wine_tests_exclusive;
mod wine_tests_faults;
mod wine_tests_latency;
mod wine_tests_package;
mod wine_tests_shim;
mod wine_tests_tools;
mod wine_tests_unload;
mod wine_tests_wine10;
mod wine_tests_x86;

use std::process::ExitCode;
use util::{step, Res};

const USAGE: &str = "usage: cargo xtask <setup | test | wine-test [--release] [--only a,b] [--bench-only] [--repeat N] [--driver DLL] [--cli EXE] | demo [--release] [--driver DLL] [--cli EXE] | analyse FILE [--rate R] [--channels N] [--freq F] [--amplitude A] [--seconds S] | list-tests | package | platform-test [x86|wine10] [--only a,b] | bench [--rounds N] [--seconds S] [--frames F] [--duplex-seconds S] [--soak 30m]>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("xtask: error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Options shared by the commands (std-only parsing).
#[derive(Default)]
struct Options {
    build: wine_tests::BuildChoice,
    bench_only: bool,
    repeat: usize,
    only: Vec<String>,
    rest: Vec<String>,
    values: Vec<(String, String)>,
}

fn parse_options(args: &[String]) -> Res<Options> {
    let mut options = Options::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--release" => options.build.release = true,
            "--driver" => {
                let path = iter
                    .next()
                    .ok_or("--driver needs the path of a prebuilt wasio_driver.dll")?;
                options.build.driver = Some(path.into());
            }
            "--cli" => {
                let path = iter
                    .next()
                    .ok_or("--cli needs the path of a prebuilt wasio.exe")?;
                options.build.cli = Some(path.into());
            }
            "--bench-only" => options.bench_only = true,
            "--repeat" => {
                let count = iter.next().ok_or("--repeat needs a count")?;
                options.repeat = count
                    .parse()
                    .map_err(|_| format!("--repeat: not a count: {count}"))?;
            }
            "--only" => {
                let names = iter
                    .next()
                    .ok_or("--only needs a comma-separated list of test names")?;
                options.only.extend(names.split(',').map(str::to_string));
            }
            flag if flag.starts_with("--") => {
                let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
                options
                    .values
                    .push((flag.trim_start_matches("--").to_string(), value.clone()));
            }
            _ => options.rest.push(arg.clone()),
        }
    }
    Ok(options)
}

impl Options {
    fn number(&self, key: &str, default: f64) -> Res<f64> {
        match self.values.iter().find(|(name, _)| name == key) {
            None => Ok(default),
            Some((_, value)) => value
                .parse()
                .map_err(|_| format!("--{key}: not a number: {value}")),
        }
    }

    fn reject_values(&self) -> Res<()> {
        match (self.values.first(), self.rest.first()) {
            (Some((key, _)), _) => Err(format!("unknown option --{key}\n{USAGE}")),
            (None, Some(arg)) => Err(format!("unexpected argument {arg:?}\n{USAGE}")),
            (None, None) => Ok(()),
        }
    }

    fn filter(&self) -> Res<TestFilter> {
        let known: Vec<&str> = wine_tests::all_tests()
            .iter()
            .map(|test| test.name)
            .collect();
        if let Some(unknown) = self
            .only
            .iter()
            .find(|name| !known.contains(&name.as_str()))
        {
            return Err(format!(
                "unknown test {unknown:?}; tests: {}",
                known.join(", ")
            ));
        }
        let only = self.only.clone();
        let bench_only = self.bench_only;
        if only.is_empty() {
            for (name, why) in wine_tests::OPEN_ISSUE_TESTS {
                util::detail(&format!(
                    "not in the default run: {name}: {why} (run it with --only {name})"
                ));
            }
        }
        Ok(Box::new(move |name: &str| {
            let named = only.iter().any(|wanted| wanted == name);
            let open = wine_tests::OPEN_ISSUE_TESTS
                .iter()
                .any(|(open, _)| *open == name);
            (named || (only.is_empty() && !open))
                && (!bench_only || wine_tests::BENCH_TESTS.contains(&name))
        }))
    }
}

/// Selects Wine tests by name.
type TestFilter = Box<dyn Fn(&str) -> bool>;

/// Returns Ok(false) when tests ran and some failed.
fn run(args: &[String]) -> Res<bool> {
    let Some((command, rest)) = args.split_first() else {
        return Err(USAGE.to_string());
    };
    let options = parse_options(rest)?;
    let root = util::workspace_root();
    match command.as_str() {
        "setup" => {
            options.reject_values()?;
            setup::setup(&root)?;
            step("setup: done");
            Ok(true)
        }
        "wine-test" => {
            options.reject_values()?;
            let filter = options.filter()?;
            let tools = setup::setup(&root)?;
            let (passed, failed) =
                wine_tests::wine_test(&root, &tools, &options.build, &*filter, options.repeat)?;
            println!("{passed} passed, {failed} failed");
            Ok(failed == 0)
        }
        "demo" => {
            options.reject_values()?;
            let tools = setup::setup(&root)?;
            wine_tests::demo(&root, &tools, &options.build)?;
            Ok(true)
        }
        "test" => {
            options.reject_values()?;
            let filter = options.filter()?;
            let outcome = (|| -> Res<(usize, usize)> {
                let tools = phases::timed("setup", || setup::setup(&root))?;
                phases::timed("native tests (cargo test --workspace)", || {
                    wine_tests::native_tests(&root)
                })?;
                phases::timed("x86 (i686 ABI tests, i686 driver build)", || {
                    wine_tests::check_i686(&root)
                })?;
                // The x86_64 cross-build and the bench start are timed inside.
                let (passed, failed) =
                    wine_tests::wine_test(&root, &tools, &options.build, &*filter, options.repeat)?;
                // The 32-bit and Wine 10 suites belong to the full run (timed inside).
                let (more_passed, more_failed) = if options.only.is_empty() {
                    platforms::run_all(&root, &tools, &|_| true, &[])
                } else {
                    util::detail("--only: the x86 and Wine 10 suites are skipped (cargo xtask platform-test)");
                    (0, 0)
                };
                Ok((passed + more_passed, failed + more_failed))
            })();
            println!();
            println!("Time per phase:");
            for line in phases::report() {
                println!("  {line}");
            }
            let (passed, failed) = outcome?;
            println!("{passed} passed, {failed} failed");
            Ok(failed == 0)
        }
        "package" => {
            options.reject_values()?;
            setup::setup(&root)?;
            package::package(&root, true).map(|_| true)
        }
        "platform-test" => {
            let names: Vec<String> = options.rest.clone();
            let known: Vec<&str> = platforms::all().iter().map(|p| p.name).collect();
            if let Some(unknown) = names.iter().find(|n| !known.contains(&n.as_str())) {
                return Err(format!(
                    "unknown platform {unknown:?}; platforms: {}",
                    known.join(", ")
                ));
            }
            if let Some((key, _)) = options.values.first() {
                return Err(format!("unknown option --{key}\n{USAGE}"));
            }
            let tools = setup::setup(&root)?;
            let (passed, failed) = platforms::run_all(
                &root,
                &tools,
                &|name| names.is_empty() || names.iter().any(|n| n == name),
                &options.only,
            );
            println!();
            println!("Time per phase:");
            for line in phases::report() {
                println!("  {line}");
            }
            println!("{passed} passed, {failed} failed");
            Ok(failed == 0)
        }
        "bench" => {
            let bench_options = bench_report::BenchOptions::parse(&options.values, &options.rest)?;
            let tools = setup::setup(&root)?;
            bench_report::bench(&root, &tools, &options.build, &bench_options)
        }
        "analyse" | "analyze" => analyse_file(&options),
        "list-tests" => {
            for test in wine_tests::all_tests() {
                let kind = if test.realtime { "realtime" } else { "" };
                println!("{:24} {kind:8} {}", test.name, test.about);
            }
            Ok(true)
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}

fn analyse_file(options: &Options) -> Res<bool> {
    let [file] = options.rest.as_slice() else {
        return Err(format!("analyse needs exactly one FILE\n{USAGE}"));
    };
    let config = analysis::AnalysisConfig {
        sample_rate: options.number("rate", bench::SINK_RATE as f64)?,
        channels: options.number("channels", bench::SINK_CHANNELS as f64)? as usize,
        ..analysis::AnalysisConfig::default()
    };
    let samples = bench::read_f32_file(std::path::Path::new(file))?;
    let report = analysis::analyse(&samples, &config)?;
    let seconds = options.number("seconds", report.duration_seconds().round())?;
    let expectation = analysis::ToneExpectation {
        frequency_hz: options.number("freq", 997.0)?,
        frequency_tolerance_hz: 0.5,
        amplitude: options.number("amplitude", 0.5)?,
        level_tolerance_db: 0.5,
        duration_frames: (seconds * config.sample_rate).round() as usize,
        duration_tolerance_frames: 512,
    };
    println!(
        "tone: frames {}..{}, {:.4} Hz, residual {:.2e} of amplitude",
        report.start_frame, report.end_frame, report.frequency_hz, report.residual_rms_relative
    );
    let checks = expectation.checks(&report);
    for check in &checks {
        let verdict = if check.passed { "PASS" } else { "FAIL" };
        println!(
            "  {verdict}  {:12}  measured: {}   expected: {}",
            check.name, check.measured, check.expected
        );
    }
    Ok(checks.iter().all(|check| check.passed))
}
