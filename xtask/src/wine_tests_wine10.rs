//! The x64 driver under Wine 10.0 (Debian 13 trixie chroot, chroot.rs), whose
//! `bcryptprimitives.dll` has `ProcessPrng`: the prefix gets no shim and no DLL override.
//! The chroot also has Wine's 32-bit half (multiarch `wine32:i386`), so the prefix has a
//! working `SysWOW64`: the installer takes its x86 branch here.
//!
//! Also here: `wasio register` and the `bcryptprimitives` shim ([`shim_register_installs`],
//! shared with the x86 suite, where Wine 8.0 lacks `ProcessPrng`).

use crate::analysis::Check;
use crate::bench::Bench;
use crate::chroot::{self, Chroot};
use crate::json;
use crate::platforms::{self, Platform};
use crate::setup::{self, Tools};
use crate::util::Res;
use crate::wine_tests::{exit_check, WineContext, WineTest, DRIVER_NAME, WINDOWS_TARGET};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The main suite's tests that run here too, unchanged.
const PICKED: [&str; 14] = [
    "rust-exe-runs",
    "portaudio-loads",
    "register",
    "listed",
    "cli-drivers",
    "misuse",
    "play-256",
    "play-441",
    "cli-devices",
    "mode-pulse-fallback",
    "cli-test",
    "cli-latency",
    "duplex-loopback-sine",
    "installer",
];

pub fn platform() -> Platform {
    Platform {
        name: "wine10",
        about: "the x64 driver under Wine 10.0 (trixie chroot), no bcryptprimitives shim",
        chroot: &chroot::TRIXIE_AMD64,
        bench_dir: "bench-wine10",
        build: |root| platforms::build_for(root, WINDOWS_TARGET),
        tools,
        tests,
    }
}

fn tools(root: &Path, chroot: &Chroot, base: &Tools) -> Res<Tools> {
    chroot.bench_tools(
        root,
        &platforms::bin_dir(root, "bench-wine10"),
        base,
        base.portaudio_dll_64.clone(),
        None,
    )
}

fn tests() -> Vec<WineTest> {
    let mut tests = vec![WineTest {
        name: "wine10-no-shim",
        about: "Wine 10 with no shim: system32's bcryptprimitives.dll is Wine's own, and Rust programs start",
        realtime: false,
        run: no_shim,
    }];
    tests.extend(platforms::pick(&PICKED));
    tests.push(WineTest {
        name: "wine10-engine-period",
        about: "with PulseAudio's default latency Wine 10's IAudioClient3 claims a 0-frame (208 hns) minimum period and runs 10 ms: Wasio refuses that mode and offers the period really run",
        realtime: false,
        run: engine_period,
    });
    tests.push(WineTest {
        name: "wine10-shim-register",
        about: "`wasio register`, also started next to the shipped shim (the package's wine8\\x64), leaves Wine 10's own bcryptprimitives.dll alone",
        realtime: false,
        run: shim_register_installs,
    });
    tests
}

fn system_dll(ctx: &WineContext) -> PathBuf {
    ctx.bench
        .prefix
        .join("drive_c/windows/system32/bcryptprimitives.dll")
}

fn no_shim(ctx: &WineContext) -> Res<Vec<Check>> {
    let dll = system_dll(ctx);
    let contents = fs::read(&dll).unwrap_or_default();
    let shim = fs::read(setup::build_shim(&crate::util::workspace_root())?).unwrap_or_default();
    let version = ctx.cli("wine10-cli-drivers", &["drivers"], Duration::from_secs(60))?;
    Ok(vec![
        Check::new(
            "system32\\bcryptprimitives.dll",
            !contents.is_empty() && contents != shim,
            format!("{} bytes, Wine's own: {}", contents.len(), contents != shim),
            "Wine's own DLL, not the shim",
        ),
        Check::new(
            "no bcryptprimitives override",
            !script_mentions(&ctx.bench.tools.wine64, "bcryptprimitives"),
            "WINEDLLOVERRIDES without bcryptprimitives".to_string(),
            "none",
        ),
        exit_check("wasio.exe starts (wasio drivers)", &version),
    ])
}

fn script_mentions(path: &Path, word: &str) -> bool {
    fs::read_to_string(path).is_ok_and(|text| text.contains(word))
}

/// The shim for the CLI's architecture: the one the package ships in `wine8\<arch>\`.
fn shim_for(ctx: &WineContext) -> Res<PathBuf> {
    let root = crate::util::workspace_root();
    if crate::wine_tests_x86::pe_format(&ctx.artifacts.cli_exe)? == "pei-i386" {
        setup::build_shim_i686(&root)
    } else {
        setup::build_shim(&root)
    }
}

/// `wasio register` as the package's `wine8\<arch>\wasio.exe`, started next to the shim.
///
/// Where the bench has a shim (Wine 8.0), the test takes it out of `system32` first, shows
/// that a Rust program then cannot start, and checks that `wasio register` puts the shim
/// back and registers the driver. Where Wine has `ProcessPrng` (Wine 10), it checks that
/// `wasio register` leaves `system32\bcryptprimitives.dll` as it was.
pub fn shim_register_installs(ctx: &WineContext) -> Res<Vec<Check>> {
    let system = system_dll(ctx);
    let shim = shim_for(ctx)?;
    let shim_bytes = fs::read(&shim).map_err(|e| format!("cannot read {}: {e}", shim.display()))?;
    // The package's wine8\<arch>\ folder: wasio.exe with the shim next to it.
    let stage = ctx.results.join("wine8-stage");
    fs::create_dir_all(&stage).map_err(|e| e.to_string())?;
    let staged_cli = stage.join("wasio.exe");
    fs::copy(&ctx.artifacts.cli_exe, &staged_cli).map_err(|e| e.to_string())?;
    fs::write(stage.join("bcryptprimitives.dll"), &shim_bytes).map_err(|e| e.to_string())?;
    let register = |label: &str| {
        ctx.bench.run_windows(
            label,
            Bench::windows_path(&staged_cli),
            &[
                "register".to_string(),
                Bench::windows_path(&ctx.artifacts.driver_dll),
                "--json".to_string(),
            ],
            Duration::from_secs(60),
        )
    };
    let prng_kind = |output: &crate::bench::ExeOutput| {
        // `--json` prints one pretty-printed object (from its first `{`).
        output
            .stdout
            .find('{')
            .and_then(|start| json::parse(output.stdout[start..].trim()).ok())
            .and_then(|report| report.str("process_prng").map(str::to_string))
            .unwrap_or_else(|| "no process_prng in the JSON report".to_string())
    };
    let mut checks = Vec::new();
    match ctx.bench.tools.shim_dll.clone() {
        Some(bench_shim) => {
            let result = (|| -> Res<()> {
                fs::remove_file(&system)
                    .map_err(|e| format!("cannot remove {}: {e}", system.display()))?;
                let without =
                    ctx.cli("shim-absent-drivers", &["drivers"], Duration::from_secs(60))?;
                checks.push(Check::new(
                    "without the shim, wasio.exe cannot start",
                    !without.success(),
                    without.describe_end(),
                    "a failure (Wine: DLL not found)",
                ));
                let output = register("shim-register")?;
                checks.push(exit_check("wine8\\wasio.exe register", &output));
                checks.push(Check::new(
                    "it installed the shim",
                    prng_kind(&output) == "installed",
                    prng_kind(&output),
                    "installed",
                ));
                let installed = fs::read(&system).unwrap_or_default();
                checks.push(Check::new(
                    "system32\\bcryptprimitives.dll",
                    installed == shim_bytes,
                    format!(
                        "{} bytes, the shim: {}",
                        installed.len(),
                        installed == shim_bytes
                    ),
                    "the shipped shim",
                ));
                let clsid = ctx.asio_registry_clsid(DRIVER_NAME)?;
                checks.push(Check::new(
                    "driver registered",
                    clsid.is_some(),
                    format!("{clsid:?}"),
                    "a CLSID",
                ));
                let after = ctx.cli(
                    "shim-present-drivers",
                    &["drivers"],
                    Duration::from_secs(60),
                )?;
                checks.push(exit_check(
                    "wasio.exe (without a shim next to it) starts",
                    &after,
                ));
                let again = register("shim-register-again")?;
                checks.push(Check::new(
                    "a second register finds the system's ProcessPrng",
                    again.success() && prng_kind(&again) == "system",
                    format!("{}, {}", again.describe_end(), prng_kind(&again)),
                    "exit code 0, system",
                ));
                Ok(())
            })();
            // The bench's shim goes back whatever happened.
            let bytes = fs::read(&bench_shim).map_err(|e| e.to_string())?;
            if fs::read(&system).ok().as_deref() != Some(bytes.as_slice()) {
                fs::write(&system, bytes).map_err(|e| format!("cannot restore the shim: {e}"))?;
            }
            result?;
        }
        None => {
            let before = fs::read(&system).unwrap_or_default();
            let output = register("shim-register")?;
            checks.push(exit_check("wine8\\wasio.exe register", &output));
            checks.push(Check::new(
                "it found the system's ProcessPrng",
                prng_kind(&output) == "system",
                prng_kind(&output),
                "system",
            ));
            let plain = ctx.cli(
                "shim-register-plain",
                &[
                    "register",
                    &Bench::windows_path(&ctx.artifacts.driver_dll),
                    "--json",
                ],
                Duration::from_secs(60),
            )?;
            checks.push(Check::new(
                "x64\\wasio.exe register: the system's ProcessPrng",
                plain.success() && prng_kind(&plain) == "system",
                format!("{}, {}", plain.describe_end(), prng_kind(&plain)),
                "exit code 0, system",
            ));
            let after = fs::read(&system).unwrap_or_default();
            checks.push(Check::new(
                "system32\\bcryptprimitives.dll untouched",
                !before.is_empty() && after == before,
                format!(
                    "{} bytes before, {} after, equal: {}",
                    before.len(),
                    after.len(),
                    after == before
                ),
                "Wine's own DLL, unchanged",
            ));
        }
    }
    Ok(checks)
}

/// `wasio info` with the driver's log on and PulseAudio's default latency (as cli-latency
/// runs): which mode `auto` chose, why IAudioClient3 was refused, the buffer sizes offered.
fn engine_period(ctx: &WineContext) -> Res<Vec<Check>> {
    let _pulse = ctx.bench.pulse_defaults();
    let log = crate::wine_tests_config::user_profile(ctx.bench)?.join("Wasio.log");
    fs::write(&log, "").map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let info = ctx.cli(
        "wine10-engine-period",
        &["info", "--driver", DRIVER_NAME],
        Duration::from_secs(60),
    );
    let text = fs::read_to_string(&log).unwrap_or_default();
    let _ = fs::remove_file(&log);
    let _ = fs::write(ctx.results.join("wine10-engine-period-driver.log"), &text);
    let info = info?;
    let line = text
        .lines()
        .find(|line| line.contains(" output: ") && line.contains("mode auto -> "))
        .unwrap_or("");
    let mode = between(line, "mode auto -> ", " (mode = auto").unwrap_or("not in the log");
    let sizes = between(line, "buffer sizes (", ")").unwrap_or("not in the log");
    let preferred: f64 = sizes
        .split(", ")
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    let refusal = line
        .split("; ")
        .find(|part| part.contains("IAudioClient3"))
        .map(|part| part.split("), buffer sizes").next().unwrap_or(part))
        .unwrap_or("IAudioClient3 not refused");
    Ok(vec![
        exit_check("wasio info", &info),
        Check::new(
            "IAudioClient3 refused for its 0-frame minimum period",
            refusal.contains("minimum period of 0 frames"),
            refusal.to_string(),
            "refused: Wine 10 claims 208 hns (0 frames) and runs 10 ms",
        ),
        Check::new(
            "mode",
            mode == "shared, event-driven",
            mode.to_string(),
            "shared, event-driven (the period Wine really runs)",
        ),
        Check::new(
            "preferred buffer size",
            preferred >= 480.0,
            format!("{preferred} frames (sizes {sizes})"),
            ">= 480 frames (10 ms, Wine's period), not 32",
        ),
    ])
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}
