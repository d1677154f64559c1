//! Proof that the bench turns red when the driver is at fault: a test build of the driver
//! (feature `fault-injection`, see `engine::fault`) misbehaves on purpose, and the ordinary
//! Wine test that should notice must fail on a hard check, with that check named.
//!
//! Each case registers the fault build in place of the driver under test, sets
//! `WASIO_FAULT` for the Windows processes, runs the ordinary test once, and registers the
//! driver under test again, whatever happened.

use crate::analysis::Check;
use crate::runner;
use crate::util::{self, detail, step, Res};
use crate::wine_tests::{all_tests, exit_check, Artifacts, WineContext, WineTest, WINDOWS_TARGET};
use std::path::{Path, PathBuf};

/// One injected fault and where the suite must catch it.
struct FaultCase {
    /// The `WASIO_FAULT` value.
    fault: &'static str,
    /// The ordinary Wine test that runs with it.
    test: &'static str,
    /// A part of the name of the hard check that must fail.
    caught_by: &'static str,
}

/// Runs of the ordinary test a case may need before one stream could judge the fault.
const MEASUREMENT_RUNS: usize = 3;

const CASES: [(&str, FaultCase); 3] = [
    (
        "fault-skip-block",
        FaultCase {
            fault: "skip-block@200",
            test: "cli-latency",
            caught_by: "sample positions advance one block per switch",
        },
    ),
    (
        "fault-late-block",
        FaultCase {
            fault: "late-block@200",
            test: "play-256",
            caught_by: "driver: late blocks",
        },
    ),
    (
        "fault-wrong-latency",
        FaultCase {
            fault: "wrong-latency@4800",
            test: "cli-latency",
            caught_by: "getLatencies close to the measured round trip",
        },
    ),
];

pub fn tests() -> Vec<WineTest> {
    vec![
        WineTest {
            name: CASES[0].0,
            about: "a fault build skips block 200 (silence, the host never called): cli-latency must fail on the sample positions",
            realtime: false,
            run: |ctx| fault_case(ctx, &CASES[0].1),
        },
        WineTest {
            name: CASES[1].0,
            about: "a fault build holds block 200 for three device buffers: play-256 must fail on the driver's late blocks",
            realtime: false,
            run: |ctx| fault_case(ctx, &CASES[1].1),
        },
        WineTest {
            name: CASES[2].0,
            about: "a fault build reports 100 ms too much output latency (a forgotten device buffer): cli-latency must fail on getLatencies",
            realtime: false,
            run: |ctx| fault_case(ctx, &CASES[2].1),
        },
    ]
}

/// Builds the fault-injection driver (debug, its own target folder so the driver under
/// test is never overwritten) and returns the DLL.
fn build_fault_driver(root: &Path) -> Res<PathBuf> {
    let target_dir = util::target_dir(root).join("fault-injection");
    util::run(
        util::cargo()
            .current_dir(root)
            .args([
                "build",
                "--quiet",
                "--target",
                WINDOWS_TARGET,
                "-p",
                "wasio-driver",
                "--features",
                "fault-injection",
                "--target-dir",
            ])
            .arg(&target_dir),
    )?;
    let dll = target_dir
        .join(WINDOWS_TARGET)
        .join("debug/wasio_driver.dll");
    if dll.is_file() {
        Ok(dll)
    } else {
        Err(format!("the fault build did not produce {}", dll.display()))
    }
}

/// `WASIO_FAULT` for the processes this bench starts, while it lives.
struct FaultEnv;

impl FaultEnv {
    fn set(fault: &str) -> FaultEnv {
        // The bench starts Windows programs from this thread; they inherit the variable.
        std::env::set_var("WASIO_FAULT", fault);
        FaultEnv
    }
}

impl Drop for FaultEnv {
    fn drop(&mut self) {
        std::env::remove_var("WASIO_FAULT");
    }
}

fn fault_case(ctx: &WineContext, case: &FaultCase) -> Res<Vec<Check>> {
    let dll = build_fault_driver(&util::workspace_root())?;
    let inner: WineTest = all_tests()
        .into_iter()
        .find(|test| test.name == case.test)
        .ok_or_else(|| format!("no Wine test {}", case.test))?;
    let artifacts = Artifacts {
        driver_dll: dll,
        ..ctx.artifacts.clone()
    };
    let faulty = WineContext {
        bench: ctx.bench,
        artifacts: &artifacts,
        results: ctx.results.clone(),
    };
    let mut checks = vec![exit_check(
        "regsvr32 (fault build)",
        &faulty.regsvr32("fault-regsvr32", false)?,
    )];
    step(&format!(
        "fault injection: WASIO_FAULT={} under {}",
        case.fault, case.test
    ));
    // A check can only catch the fault in a stream it could judge: the latency check is
    // not judged when the round trip moved below the driver. Such runs prove nothing either
    // way, so the case runs again, at most MEASUREMENT_RUNS times, until one could judge;
    // the first judged run decides.
    let mut outcome = None;
    for run in 1..=MEASUREMENT_RUNS {
        let _fault = FaultEnv::set(case.fault);
        let run_outcome = runner::run_one(&faulty, &inner, " (fault build: must fail)");
        let judged = run_outcome
            .checks
            .iter()
            .any(|check| check.name.contains(case.caught_by) && !check.is_downstream());
        outcome = Some(run_outcome);
        if judged {
            break;
        }
        detail(&format!(
            "run {run}/{MEASUREMENT_RUNS}: no stream the check \"{}\" could judge",
            case.caught_by
        ));
    }
    let outcome = outcome.expect("MEASUREMENT_RUNS > 0");
    // The driver under test again, whatever the fault did.
    checks.push(exit_check(
        "regsvr32 (driver under test again)",
        &ctx.regsvr32("fault-regsvr32-restore", false)?,
    ));
    let caught: Vec<&Check> = outcome
        .checks
        .iter()
        .filter(|check| !check.passed && !check.is_downstream())
        .collect();
    let named = caught
        .iter()
        .any(|check| check.name.contains(case.caught_by));
    let names: Vec<&str> = caught.iter().map(|check| check.name.as_str()).collect();
    detail(&format!(
        "{} under {}: failed hard checks: {}",
        case.test,
        case.fault,
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join("; ")
        }
    ));
    checks.push(Check::new(
        format!("{} goes red", case.test),
        outcome.hard_failed(),
        if outcome.hard_failed() {
            "failed on a hard check".to_string()
        } else {
            "passed: the fault went unnoticed".to_string()
        },
        "FAIL",
    ));
    checks.push(Check::new(
        format!("caught by \"{}\"", case.caught_by),
        named,
        format!(
            "failed: {}",
            if names.is_empty() {
                "nothing".to_string()
            } else {
                names.join("; ")
            }
        ),
        "that check among the failures",
    ));
    Ok(checks)
}
