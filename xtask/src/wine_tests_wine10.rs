//! The x64 driver under Wine 10.0 (Debian 13 trixie chroot, chroot.rs), whose
//! `bcryptprimitives.dll` has `ProcessPrng`: the prefix gets no shim and no DLL override.
//! The chroot also has Wine's 32-bit half (multiarch `wine32:i386`), so the prefix has a
//! working `SysWOW64`: the installer takes its x86 branch here.
//!
//! `wine10-shim-register` is wine_tests_shim.rs's test: here it checks that nothing is
//! installed.

use crate::analysis::Check;
use crate::chroot::{self, Chroot};
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
        run: crate::wine_tests_shim::shim_register,
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
            refusal.contains("refused") && refusal.contains(" min 0,"),
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
