//! Wine test of the release package: the NSIS installer built by `cargo xtask package`
//! (package.rs, bench/installer/wasio.nsi), installed and uninstalled silently.
//!
//! The host's Wine 8.0 has no 32-bit half (no `wine32`): its prefix has no
//! `SysWOW64\regsvr32.exe`, so the installer takes its "no 32-bit subsystem" branch and the x86
//! driver is neither installed nor registered; that is what this test checks there. Under
//! Wine 10 (wine_tests_wine10.rs, with `wine32:i386`) the prefix has SysWOW64: the test checks
//! the x86 branch, the 32-bit registry view and a 32-bit host session on the installed x86 driver.
//!
//! The `bcryptprimitives` shim: on Wine 8.0 the test takes the bench's shim out of `system32`
//! first and checks that the installer puts the package's shim there and the uninstaller takes
//! it away; under Wine 10 that the installer leaves Wine's own DLL alone.

use crate::analysis::Check;
use crate::bench::{Bench, ExeOutput};
use crate::package;
use crate::util::{self, detail, Res};
use crate::wine_tests::{
    find_asio_device, play_checks, PlaySpec, WineContext, WineTest, DRIVER_NAME,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn tests() -> Vec<WineTest> {
    vec![WineTest {
        name: "installer",
        about: "the NSIS installer (/S) registers the installed DLL, PortAudio lists Wasio and plays through it; the uninstaller (/S) removes every file, shortcut and key",
        run: installer,
        // Its play check analyses a real-time recording.
        realtime: true,
    }]
}

/// Where the installer puts Wasio, as Windows and as Unix paths.
const INSTALL_DIR: &str = "C:\\Program Files\\Wasio";
const UNINSTALL_KEY: &str = "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Wasio";

fn install_dir(ctx: &WineContext) -> PathBuf {
    ctx.bench.prefix.join("drive_c/Program Files/Wasio")
}

fn shortcut_dir(ctx: &WineContext) -> PathBuf {
    ctx.bench
        .prefix
        .join("drive_c/ProgramData/Microsoft/Windows/Start Menu/Programs/Wasio")
}

fn exit_zero(name: &str, output: &ExeOutput) -> Check {
    Check::new(
        name,
        output.code == Some(0) && !output.timed_out,
        output.describe_end(),
        "exit code 0",
    )
}

/// The data of the first `REG_SZ` line in `reg query` output.
fn reg_sz(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        line.split_once("REG_SZ")
            .map(|(_, data)| data.trim().to_string())
    })
}

/// Files under `dir`, relative, sorted, with `/` separators; none if it cannot be read (e.g. an
/// install folder that is missing).
fn files_under(dir: &Path) -> Vec<String> {
    package::relative_files(dir).unwrap_or_default()
}

/// The driver's CLSID key's `InprocServer32` default value, if registered.
fn registered_dll(ctx: &WineContext) -> Res<Option<(String, Option<String>)>> {
    let Some(clsid) = ctx.asio_registry_clsid(DRIVER_NAME)? else {
        return Ok(None);
    };
    let server = ctx
        .reg_query(
            &format!("HKLM\\Software\\Classes\\CLSID\\{clsid}\\InprocServer32"),
            None,
        )?
        .and_then(|text| reg_sz(&text));
    Ok(Some((clsid, server)))
}

fn installer(ctx: &WineContext) -> Res<Vec<Check>> {
    // Through log files first: the first Wine process of a fresh wineserver starts services
    // that would hold the pipes of a captured command (`reg query`) open.
    ctx.cli("installer-warm-up", &["drivers"], Duration::from_secs(60))?;
    let bench_registration = registered_dll(ctx)?;
    let release = ctx
        .artifacts
        .cli_exe
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "release");
    let built = package::package(&util::workspace_root(), release)?;
    let dir = install_dir(ctx);
    if dir.exists() {
        detail(&format!("removing a left-over {}", dir.display()));
        fs::remove_dir_all(&dir).map_err(|e| e.to_string())?;
    }
    let system_dll = ctx
        .bench
        .prefix
        .join("drive_c/windows/system32/bcryptprimitives.dll");
    let bench_shim = ctx.bench.tools.shim_dll.clone();
    if bench_shim.is_some() {
        // Wine 8.0: the installer must bring its own shim.
        fs::remove_file(&system_dll)
            .map_err(|e| format!("cannot remove {}: {e}", system_dll.display()))?;
    }
    let result = install_and_uninstall(ctx, &built);
    if let Some(shim) = bench_shim {
        let bytes = fs::read(&shim).map_err(|e| e.to_string())?;
        if fs::read(&system_dll).ok().as_deref() != Some(bytes.as_slice()) {
            fs::write(&system_dll, bytes).map_err(|e| format!("cannot restore the shim: {e}"))?;
        }
    }
    // Give the other tests the driver they registered back.
    if bench_registration.is_some() && registered_dll(ctx)?.is_none() {
        let output = ctx.regsvr32("installer-restore", false)?;
        if !output.success() {
            return Err(format!(
                "restoring the bench's registration failed: {}",
                output.describe_end()
            ));
        }
    }
    result
}

fn install_and_uninstall(ctx: &WineContext, built: &package::Package) -> Res<Vec<Check>> {
    let dir = install_dir(ctx);
    let mut checks = Vec::new();
    let windows = ctx.bench.prefix.join("drive_c/windows");
    let wow64 = windows.join("syswow64/regsvr32.exe").is_file();
    let system_dll = windows.join("system32/bcryptprimitives.dll");
    let before = fs::read(&system_dll).ok();
    let shim = fs::read(built.stage.join("wine8/x64/bcryptprimitives.dll")).unwrap_or_default();
    let install = ctx.bench.run_windows(
        "installer-install",
        Bench::windows_path(&built.installer),
        &["/S".to_string()],
        Duration::from_secs(180),
    )?;
    checks.push(exit_zero("silent install", &install));

    let staged = files_under(&built.stage);
    // wine8/ is never copied; x86/ only with a 32-bit subsystem.
    let expected: Vec<&String> = staged
        .iter()
        .filter(|f| !f.starts_with("wine8/") && (wow64 || !f.starts_with("x86/")))
        .collect();
    let installed = files_under(&dir);
    let missing: Vec<&&String> = expected.iter().filter(|f| !installed.contains(f)).collect();
    checks.push(Check::new(
        "files installed",
        missing.is_empty() && installed.contains(&"uninstall.exe".to_string()),
        format!("{} files; missing {missing:?}", installed.len()),
        format!(
            "the {} staged files ({}docs) and uninstall.exe",
            expected.len(),
            if wow64 { "x64, x86, " } else { "x64, " }
        ),
    ));
    let after_install = fs::read(&system_dll).ok();
    checks.push(match before.as_ref() {
        // Wine 8.0 (the bench took its own shim away): the installer's.
        None => Check::new(
            "no ProcessPrng: the installer installed the shim",
            after_install.as_deref() == Some(shim.as_slice()),
            format!(
                "system32\\bcryptprimitives.dll: {}",
                match &after_install {
                    Some(bytes) if *bytes == shim => "the package's shim".to_string(),
                    Some(bytes) => format!("{} bytes, not the shim", bytes.len()),
                    None => "absent".to_string(),
                }
            ),
            "the package's wine8\\x64 shim",
        ),
        Some(original) => Check::new(
            "ProcessPrng present: system32\\bcryptprimitives.dll untouched",
            after_install.as_ref() == Some(original),
            format!(
                "{} bytes before, {} after",
                original.len(),
                after_install.as_ref().map_or(0, Vec::len)
            ),
            "unchanged",
        ),
    });
    let zipped = util::output(Command::new("zip").arg("-sf").arg(&built.zip))?;
    let zipped: Vec<&str> = zipped.lines().map(str::trim).collect();
    let not_zipped: Vec<&String> = staged
        .iter()
        .filter(|f| !zipped.contains(&format!("Wasio/{f}").as_str()))
        .collect();
    checks.push(Check::new(
        "the zip holds the staged tree",
        not_zipped.is_empty(),
        format!("{} entries; missing {not_zipped:?}", zipped.len()),
        format!("Wasio/… for all {} staged files", staged.len()),
    ));
    let x86_staged = staged.iter().filter(|f| f.starts_with("x86/")).count();
    if wow64 {
        checks.extend(x86_branch(ctx, built, x86_staged)?);
    } else {
        checks.push(Check::new(
            "no 32-bit subsystem: x86 skipped",
            x86_staged > 0 && !dir.join("x86").exists(),
            format!(
                "{x86_staged} x86 files in the package (CLI and panel: {}), x86 folder installed: {}",
                built.x86_tools,
                dir.join("x86").exists()
            ),
            "x86 files packaged, not installed (Wine here has no SysWOW64\\regsvr32.exe)",
        ));
    }
    let dll = format!("{INSTALL_DIR}\\x64\\wasio_driver.dll");
    let registration = registered_dll(ctx)?;
    checks.push(Check::new(
        "HKLM\\SOFTWARE\\ASIO\\Wasio points at the installed DLL",
        registration
            .as_ref()
            .and_then(|(_, server)| server.as_ref())
            .is_some_and(|server| server.eq_ignore_ascii_case(&dll)),
        format!("{registration:?}"),
        format!("CLSID → InprocServer32 = {dll}"),
    ));
    let uninstall_entry = ctx.reg_query(UNINSTALL_KEY, Some("DisplayVersion"))?;
    checks.push(Check::new(
        "Programs and Features entry",
        uninstall_entry
            .as_deref()
            .and_then(reg_sz)
            .is_some_and(|v| v == built.version),
        format!("{:?}", uninstall_entry.as_deref().and_then(reg_sz)),
        format!("DisplayVersion {}", built.version),
    ));
    let shortcut = shortcut_dir(ctx).join("Wasio Control Panel.lnk");
    checks.push(Check::new(
        "Start-menu shortcut",
        shortcut.is_file(),
        format!("{} exists: {}", shortcut.display(), shortcut.is_file()),
        "exists",
    ));
    let (_, devices) = ctx.list_devices("installer-list")?;
    checks.push(Check::new(
        "PortAudio's ASIO host lists Wasio",
        find_asio_device(&devices, DRIVER_NAME).is_some(),
        format!("{}", find_asio_device(&devices, DRIVER_NAME).is_some()),
        "true",
    ));
    let spec = PlaySpec {
        seconds: 1.5,
        ..PlaySpec::standard(256)
    };
    let measurement = ctx.play_and_record("installer-play", &spec)?;
    // Here the point is that the installed driver plays at all: the host's report, the tone
    // and its level. Sound quality (dropouts, exact duration and frequency) is play-256's
    // business; on a loaded machine it fails there too, and would hide this test's result.
    const QUALITY: [&str; 5] = [
        "frequency",
        "duration",
        "dropouts",
        "glitches",
        "phase jumps",
    ];
    checks.extend(
        play_checks(&spec, &measurement)
            .into_iter()
            .filter(|c| !QUALITY.contains(&c.name.as_str()))
            .map(|c| {
                Check::new(
                    format!("play: {}", c.name),
                    c.passed,
                    c.measured,
                    c.expected,
                )
            }),
    );
    if let Ok(report) = &measurement.analysis {
        checks.push(Check::new(
            "play: the tone was recorded",
            (report.frequency_hz - spec.frequency).abs() < 5.0,
            format!("{:.2} Hz", report.frequency_hz),
            format!("{} Hz ±5 (a tone, not its quality)", spec.frequency),
        ));
    }

    let uninstaller = dir.join("uninstall.exe");
    let uninstall = ctx.bench.run_windows(
        "installer-uninstall",
        Bench::windows_path(&uninstaller),
        &["/S".to_string()],
        Duration::from_secs(120),
    )?;
    checks.push(exit_zero("silent uninstall", &uninstall));
    // The uninstaller runs from a copy in %TEMP% and returns at once: wait for its work.
    let deadline = Instant::now() + Duration::from_secs(90);
    while (dir.exists() || ctx.reg_query(UNINSTALL_KEY, Some("DisplayName"))?.is_some())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    let after_uninstall = fs::read(&system_dll).ok();
    checks.push(Check::new(
        "system32\\bcryptprimitives.dll after uninstalling",
        after_uninstall == before,
        match (&before, &after_uninstall) {
            (None, None) => "the installer's shim is gone".to_string(),
            (None, Some(_)) => "the installer's shim is still there".to_string(),
            (Some(_), other) => format!("Wine's own: {}", other == &before),
        },
        "as before the install",
    ));
    let left = files_under(&dir);
    checks.push(Check::new(
        "files gone",
        !dir.exists(),
        if dir.exists() {
            format!("{} still exists with {left:?}", dir.display())
        } else {
            "the folder is gone".to_string()
        },
        format!("no {INSTALL_DIR}"),
    ));
    checks.push(Check::new(
        "shortcut gone",
        !shortcut_dir(ctx).exists(),
        format!("Start-menu folder exists: {}", shortcut_dir(ctx).exists()),
        "false",
    ));
    let after = registered_dll(ctx)?;
    let clsid_left = match &registration {
        Some((clsid, _)) => ctx
            .reg_query(&format!("HKLM\\Software\\Classes\\CLSID\\{clsid}"), None)?
            .is_some(),
        None => false,
    };
    let entry_left = ctx.reg_query(UNINSTALL_KEY, Some("DisplayName"))?.is_some();
    checks.push(Check::new(
        "keys gone",
        after.is_none() && !clsid_left && !entry_left,
        format!(
            "ASIO key {}, CLSID key {clsid_left}, uninstall entry {entry_left}",
            after.is_some()
        ),
        "ASIO key false, CLSID key false, uninstall entry false",
    ));
    if before.is_none() {
        // Wine 8.0: the bench's shim back before the next Rust program starts.
        if let Some(shim) = &ctx.bench.tools.shim_dll {
            fs::copy(shim, &system_dll).map_err(|e| format!("cannot restore the shim: {e}"))?;
        }
    }
    let (_, devices) = ctx.list_devices("installer-list-after")?;
    checks.push(Check::new(
        "PortAudio no longer lists Wasio",
        find_asio_device(&devices, DRIVER_NAME).is_none(),
        format!("{}", find_asio_device(&devices, DRIVER_NAME).is_some()),
        "false",
    ));
    Ok(checks)
}

/// With a 32-bit subsystem (Wine 10's WoW64 prefix): the x86 files installed, the driver
/// registered in the 32-bit registry view at the installed DLL, and a whole host session of the
/// installed 32-bit `wasio.exe` on it.
fn x86_branch(ctx: &WineContext, built: &package::Package, x86_staged: usize) -> Res<Vec<Check>> {
    let dir = install_dir(ctx);
    let mut checks = vec![Check::new(
        "32-bit subsystem: x86 installed",
        x86_staged > 0 && dir.join("x86/wasio_driver.dll").is_file(),
        format!(
            "{x86_staged} x86 files in the package, x86\\wasio_driver.dll installed: {}",
            dir.join("x86/wasio_driver.dll").is_file()
        ),
        "installed (SysWOW64\\regsvr32.exe exists)",
    )];
    let dll = format!("{INSTALL_DIR}\\x86\\wasio_driver.dll");
    let clsid = ctx
        .reg_query("HKLM\\SOFTWARE\\WOW6432Node\\ASIO\\Wasio", Some("CLSID"))?
        .and_then(|text| reg_sz(&text));
    let server = match &clsid {
        Some(clsid) => ctx
            .reg_query(
                &format!("HKLM\\Software\\WOW6432Node\\Classes\\CLSID\\{clsid}\\InprocServer32"),
                None,
            )?
            .and_then(|text| reg_sz(&text)),
        None => None,
    };
    checks.push(Check::new(
        "32-bit view: ASIO\\Wasio points at the x86 DLL",
        server
            .as_deref()
            .is_some_and(|server| server.eq_ignore_ascii_case(&dll)),
        format!("CLSID {clsid:?}, InprocServer32 {server:?}"),
        format!("InprocServer32 = {dll}"),
    ));
    if built.x86_tools {
        let cli = Bench::windows_path(&dir.join("x86/wasio.exe"));
        let session = ctx.bench.run_windows(
            "installer-x86-test",
            &cli,
            &[
                "test".to_string(),
                "--driver".to_string(),
                DRIVER_NAME.to_string(),
                "--switches".to_string(),
                "200".to_string(),
            ],
            Duration::from_secs(120),
        )?;
        let summary = session
            .stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("test:"))
            .unwrap_or("no summary")
            .to_string();
        checks.push(Check::new(
            "x86\\wasio.exe test (a 32-bit host on the x86 driver)",
            session.success() && summary.ends_with(" 0 failed"),
            format!("{}: {summary}", session.describe_end()),
            "exit code 0, test: N passed, 0 failed",
        ));
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reg_sz_reads_default_and_named_values() {
        let text = "\r\nHKEY_LOCAL_MACHINE\\Software\\Classes\\CLSID\\{X}\\InprocServer32\r\n    (Default)    REG_SZ    C:\\Program Files\\Wasio\\x64\\wasio_driver.dll\r\n";
        assert_eq!(
            reg_sz(text).as_deref(),
            Some("C:\\Program Files\\Wasio\\x64\\wasio_driver.dll")
        );
        assert_eq!(reg_sz("nothing here"), None);
    }
}
