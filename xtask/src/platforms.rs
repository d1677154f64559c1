//! The Wine suites `cargo xtask test` runs besides the host's Wine 8 (64-bit): the x86 driver
//! under a 32-bit Wine 8 (wine_tests_x86.rs) and the x64 driver under Wine 10
//! (wine_tests_wine10.rs), each in a cached chroot (chroot.rs) on its own bench
//! (`target/bench-x86/`, `target/bench-wine10/`) against its own private PulseAudio on the host.
//!
//! Their tests are the ordinary Wine tests (and a few of their own), run by the same runner:
//! the same PASS/FAIL tables, controls and downstream judgement; their counts join the run's
//! single `N passed, M failed` line.

use crate::bench::Bench;
use crate::chroot::{self, ChrootSpec};
use crate::phases;
use crate::setup::Tools;
use crate::util::{self, detail, step, Res};
use crate::wine_tests::{self, Artifacts, WineContext, WineTest};
use std::path::{Path, PathBuf};

/// One platform suite.
pub struct Platform {
    /// Short name: `x86`, `wine10`.
    pub name: &'static str,
    /// What it is, for the banner.
    pub about: &'static str,
    pub chroot: &'static ChrootSpec,
    /// The bench folder under the target dir.
    pub bench_dir: &'static str,
    /// Builds (or finds) the binaries under test.
    pub build: fn(&Path) -> Res<Artifacts>,
    /// The bench's tools for this chroot (PortAudio DLL, shim).
    pub tools: fn(&Path, &chroot::Chroot, &Tools) -> Res<Tools>,
    pub tests: fn() -> Vec<WineTest>,
}

/// The names of the platforms, for `cargo xtask platform-test`.
pub fn all() -> Vec<Platform> {
    vec![
        crate::wine_tests_x86::platform(),
        crate::wine_tests_wine10::platform(),
    ]
}

/// Runs each platform whose name passes `wanted` and returns the summed (passed, failed).
/// A platform that cannot run (no chroot, no build, no bench) counts as one failure and does
/// not stop the others.
pub fn run_all(
    root: &Path,
    tools: &Tools,
    wanted: &dyn Fn(&str) -> bool,
    only: &[String],
) -> (usize, usize) {
    let started = std::time::Instant::now();
    let mut total = (0, 0);
    for platform in all().into_iter().filter(|p| wanted(p.name)) {
        let (passed, failed) = match run(root, tools, &platform, only) {
            Ok(counts) => counts,
            Err(error) => {
                println!();
                println!("  FAIL  {} suite did not run: {error}", platform.name);
                (0, 1)
            }
        };
        total.0 += passed;
        total.1 += failed;
    }
    detail(&format!(
        "the x86 and Wine 10 suites took {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    ));
    total
}

/// One platform: chroot, build, bench, tests.
pub fn run(
    root: &Path,
    tools: &Tools,
    platform: &Platform,
    only: &[String],
) -> Res<(usize, usize)> {
    println!();
    step(&format!("=== {}: {} ===", platform.name, platform.about));
    let name = platform.name;
    let chroot = phases::timed(
        &format!("{name}: chroot {} (create or cached)", platform.chroot.name),
        || chroot::ensure(platform.chroot),
    )?;
    let artifacts = phases::timed(&format!("{name}: build"), || (platform.build)(root))?;
    let platform_tools = (platform.tools)(root, &chroot, tools)?;
    detail(&format!("{name}: {}", chroot.wine_version(&platform_tools)));
    let bench = phases::timed(&format!("{name}: bench up"), || {
        Bench::up_in(root, &platform_tools, platform.bench_dir)
    })?;
    let results = bench.dir.join("results");
    std::fs::create_dir_all(&results)
        .map_err(|e| format!("cannot create {}: {e}", results.display()))?;
    let ctx = WineContext {
        bench: &bench,
        artifacts: &artifacts,
        results,
    };
    let tests = (platform.tests)();
    let filter = |test: &str| only.is_empty() || only.iter().any(|o| o == test);
    let counts = phases::timed(&format!("{name}: Wine tests"), || {
        crate::runner::run_tests(&ctx, &tests, &filter, 1)
    });
    println!(
        "{name} suite: {} passing, {} failing (a failed control counts as one; added to the run's last line)",
        counts.0, counts.1
    );
    detail(&format!(
        "{name}: logs {}, recordings {}",
        bench.logs.display(),
        ctx.results.display()
    ));
    Ok(counts)
}

/// The tests of the main list named in `names` (in the main list's order).
pub fn pick(names: &[&str]) -> Vec<WineTest> {
    let tests: Vec<WineTest> = wine_tests::all_tests()
        .into_iter()
        .filter(|test| names.contains(&test.name))
        .collect();
    debug_assert_eq!(tests.len(), names.len(), "unknown test among {names:?}");
    tests
}

/// `cargo build --target <target> -p wasio-driver -p wasio-cli -p wasio-bench-host` (dev).
pub fn build_for(root: &Path, target: &str) -> Res<Artifacts> {
    step(&format!("build: {target} (dev)"));
    util::run(util::cargo().current_dir(root).args([
        "build",
        "--target",
        target,
        "-p",
        "wasio-driver",
        "-p",
        "wasio-cli",
        "-p",
        "wasio-bench-host",
    ]))?;
    let dir = std::path::absolute(util::target_dir(root).join(target).join("debug"))
        .map_err(|e| e.to_string())?;
    let artifacts = Artifacts {
        driver_dll: dir.join("wasio_driver.dll"),
        cli_exe: dir.join("wasio.exe"),
        pa_host_exe: dir.join("wasio-pa-host.exe"),
    };
    artifacts.check_built()?;
    Ok(artifacts)
}

/// `target/<bench_dir>/bin`, where the chroot's wrappers go.
pub fn bin_dir(root: &Path, bench_dir: &str) -> PathBuf {
    util::target_dir(root).join(bench_dir).join("bin")
}
