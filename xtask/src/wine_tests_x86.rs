//! The x86 driver under a 32-bit host: the i686-pc-windows-gnu builds of the driver, the CLI
//! and `wasio-pa-host` (with PortAudio's `libportaudio32bit-asio.dll`) under the 32-bit Wine
//! 8.0 of a pure i386 Debian 12 chroot (chroot.rs), in a win32 prefix (no WoW64: every
//! program there is 32-bit), against a private PulseAudio on the host.
//!
//! The prefix gets the i686 build of the `bcryptprimitives` shim (Wine 8.0 has no
//! `ProcessPrng`), except while `x86-shim-register` shows that `wasio register` puts it there.
//!
//! The NSIS installer is a 64-bit program: it cannot run in this pure 32-bit prefix, so its x86
//! branch is tested under Wine 10's WoW64 prefix instead (wine_tests_wine10.rs).

use crate::analysis::Check;
use crate::chroot::{self, Chroot};
use crate::platforms::{self, Platform};
use crate::setup::{self, Tools};
use crate::util::{self, Res};
use crate::wine_tests::{exit_check, WineContext, WineTest};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const TARGET: &str = "i686-pc-windows-gnu";

/// The main suite's tests that run here too, unchanged (their controls are PortAudio's
/// 32-bit WASAPI host).
const PICKED: [&str; 11] = [
    "rust-exe-runs",
    "portaudio-loads",
    "register",
    "listed",
    "cli-drivers",
    "misuse",
    "play-256",
    "play-441",
    "cli-test",
    "cli-latency",
    "duplex-loopback-sine",
];

pub fn platform() -> Platform {
    Platform {
        name: "x86",
        about:
            "the i686 driver, CLI and PortAudio host under 32-bit Wine 8.0 (i386 bookworm chroot)",
        chroot: &chroot::I386_BOOKWORM,
        bench_dir: "bench-x86",
        build: |root| platforms::build_for(root, TARGET),
        tools,
        tests,
    }
}

fn tools(root: &Path, chroot: &Chroot, base: &Tools) -> Res<Tools> {
    let shim = setup::build_shim_i686(root)?;
    chroot.bench_tools(
        root,
        &platforms::bin_dir(root, "bench-x86"),
        base,
        base.portaudio_dll_32.clone(),
        Some(shim),
    )
}

fn tests() -> Vec<WineTest> {
    let mut tests = vec![WineTest {
        name: "x86-is-32-bit",
        about: "the prefix is a pure win32 one, and the driver, the CLI, the PortAudio host and PortAudio's DLL are all PE32 (i386)",
        realtime: false,
        run: is_32_bit,
    }];
    tests.extend(platforms::pick(&PICKED));
    tests.push(WineTest {
        name: "x86-shim-register",
        about: "32-bit Wine 8.0 without the shim: Rust programs cannot start; `wasio register` started next to the shipped shim (the package's wine8\\x86) installs it into system32 and registers the driver",
        realtime: false,
        run: crate::wine_tests_shim::shim_register,
    });
    tests
}

/// `objdump -f`'s file format of a PE file ("pei-i386", "pei-x86-64").
pub fn pe_format(path: &Path) -> Res<String> {
    let dump = util::output(Command::new(setup::MINGW64_OBJDUMP).arg("-f").arg(path))?;
    Ok(dump
        .lines()
        .find_map(|line| line.split("file format ").nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_string())
}

fn is_32_bit(ctx: &WineContext) -> Res<Vec<Check>> {
    let system = fs::read_to_string(ctx.bench.prefix.join("system.reg")).unwrap_or_default();
    let arch = system
        .lines()
        .find_map(|line| line.strip_prefix("#arch="))
        .unwrap_or("unknown")
        .to_string();
    let syswow64 = ctx.bench.prefix.join("drive_c/windows/syswow64");
    let mut checks = vec![Check::new(
        "prefix architecture",
        arch == "win32" && !syswow64.exists(),
        format!("#arch={arch}, syswow64 exists: {}", syswow64.exists()),
        "#arch=win32, no syswow64",
    )];
    let files: [(&str, PathBuf); 4] = [
        ("driver", ctx.artifacts.driver_dll.clone()),
        ("wasio.exe", ctx.artifacts.cli_exe.clone()),
        ("wasio-pa-host.exe", ctx.artifacts.pa_host_exe.clone()),
        ("PortAudio", ctx.bench.tools.portaudio_dll_64.clone()),
    ];
    for (name, path) in files {
        let format = pe_format(&path)?;
        checks.push(Check::new(
            format!("{name} is 32-bit"),
            format == "pei-i386",
            format!("{format} ({})", path.display()),
            "pei-i386",
        ));
    }
    // The Wine that runs them: Debian 12's 32-bit Wine 8.0 loader.
    let version = util::output(Command::new(&ctx.bench.tools.wine64).arg("--version"))
        .unwrap_or_else(|error| error);
    checks.push(Check::new(
        "Wine",
        version.trim().starts_with("wine-8.0"),
        format!("{} ({})", version.trim(), chroot::I386_BOOKWORM.wine),
        "wine-8.0, the 32-bit loader",
    ));
    let cli = ctx.cli("x86-cli-drivers", &["drivers"], Duration::from_secs(60))?;
    checks.push(exit_check("32-bit wasio.exe starts", &cli));
    Ok(checks)
}
