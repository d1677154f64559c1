//! `wasio register` and the `bcryptprimitives` shim the package ships for Wine 8.0 (which
//! lacks `ProcessPrng`): `shim-register` in the main suite (x64, the host's Wine 8.0),
//! `x86-shim-register` (32-bit Wine 8.0) and `wine10-shim-register` (Wine 10, where nothing
//! may be installed) run [`shim_register`].

use crate::analysis::Check;
use crate::bench::Bench;
use crate::json;
use crate::setup;
use crate::util::Res;
use crate::wine_tests::{exit_check, WineContext, WineTest, DRIVER_NAME};
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

pub fn tests() -> Vec<WineTest> {
    vec![WineTest {
        name: "shim-register",
        about: "Wine 8.0 without the shim: Rust programs cannot start; `wasio register` started next to the shipped shim (the package's wine8\\x64) installs it into system32 and registers the driver",
        realtime: false,
        run: shim_register,
    }]
}

fn system_dll(ctx: &WineContext) -> PathBuf {
    ctx.bench
        .prefix
        .join("drive_c/windows/system32/bcryptprimitives.dll")
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
pub fn shim_register(ctx: &WineContext) -> Res<Vec<Check>> {
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
