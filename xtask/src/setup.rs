//! `cargo xtask setup`: installs what the bench needs, idempotently.
//!
//! - Debian packages (one `apt-get update`, then `apt-get install -y`), only when one is missing.
//! - rustup targets for the cross-builds.
//! - PortAudio's ASIO-enabled Windows DLLs, taken from the `sounddevice` wheel (pinned) and
//!   cached under `~/.cache/wasio-bench/`: nothing is downloaded on the second run.
//! - The `bcryptprimitives.dll` shim that Rust binaries need under Wine 8.0.

use crate::util::{self, detail, step, Res};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian packages the bench needs.
const APT_PACKAGES: &[&str] = &[
    "wine64",
    "gcc-mingw-w64-x86-64",
    "gcc-mingw-w64-i686",
    "pulseaudio",
    "pulseaudio-utils",
    "xvfb",
    // 32-bit C runtime for the native i686 ABI tests (cargo test --target i686-unknown-linux-gnu).
    "gcc-multilib",
    // xwd and ImageMagick: screenshots of the control panel under Xvfb.
    "x11-apps",
    "imagemagick",
    // `cargo xtask package`: the zip and the NSIS installer.
    "zip",
    "nsis",
    // The chroots with a 32-bit Wine and with Wine 10 (chroot.rs).
    "debootstrap",
];

const RUST_TARGETS: &[&str] = &[
    "x86_64-pc-windows-gnu",
    "i686-pc-windows-gnu",
    // The ABI's x86 layout and thiscall vtable are also tested natively as 32-bit code.
    "i686-unknown-linux-gnu",
];

/// The wheel that carries PortAudio built with the ASIO host API. Pinned so runs are reproducible.
const SOUNDDEVICE_REQUIREMENT: &str = "sounddevice==0.5.6";
const WHEEL_DLL_DIR: &str = "_sounddevice_data/portaudio-binaries";
pub const PORTAUDIO_DLL_64: &str = "libportaudio64bit-asio.dll";
pub const PORTAUDIO_DLL_32: &str = "libportaudio32bit-asio.dll";

pub const MINGW64_GCC: &str = "x86_64-w64-mingw32-gcc";
pub const MINGW32_GCC: &str = "i686-w64-mingw32-gcc";
pub const MINGW64_OBJDUMP: &str = "x86_64-w64-mingw32-objdump";

/// Everything the bench uses from the host, with absolute paths.
#[derive(Clone, Debug)]
pub struct Tools {
    pub wine64: PathBuf,
    pub wineserver: PathBuf,
    pub portaudio_dll_64: PathBuf,
    /// For the 32-bit host tests (wine_tests_x86.rs).
    pub portaudio_dll_32: PathBuf,
    /// The `bcryptprimitives` shim the bench copies into its prefix's `system32`; `None` for
    /// a Wine that has `ProcessPrng` itself (Wine 9+).
    pub shim_dll: Option<PathBuf>,
    /// The name Wine gives PulseAudio's default capture endpoint ("PulseAudio" in Wine 8,
    /// "PulseAudio Input" in Wine 10).
    pub default_capture: &'static str,
}

/// Runs the whole setup and returns the tool paths.
pub fn setup(root: &Path) -> Res<Tools> {
    step("setup: host packages, rust targets, PortAudio, Wine shim");
    ensure_apt_packages()?;
    ensure_rust_targets()?;
    let (portaudio_dll_64, portaudio_dll_32) = ensure_portaudio()?;
    let shim_dll = build_shim(root)?;
    let (wine64, wineserver) = find_wine()?;
    detail(&format!(
        "PortAudio (ASIO): {} and {}",
        portaudio_dll_64.display(),
        portaudio_dll_32.display()
    ));
    detail(&format!("wine64: {}", wine64.display()));
    detail(&format!("wineserver: {}", wineserver.display()));
    Ok(Tools {
        wine64,
        wineserver,
        portaudio_dll_64,
        portaudio_dll_32,
        shim_dll: Some(shim_dll),
        default_capture: "PulseAudio",
    })
}

fn package_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|out| {
            out.status.success()
                && String::from_utf8_lossy(&out.stdout).contains("install ok installed")
        })
        .unwrap_or(false)
}

fn pip_available() -> bool {
    Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false)
}

fn ensure_apt_packages() -> Res<()> {
    if util::find_on_path("dpkg-query").is_none() {
        detail("no dpkg-query: not a Debian system, skipping package installation");
        return Ok(());
    }
    let mut missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|package| !package_installed(package))
        .collect();
    if !pip_available() && !package_installed("python3-pip") {
        missing.push("python3-pip");
    }
    if missing.is_empty() {
        detail("Debian packages: all present");
        return Ok(());
    }
    detail(&format!("Debian packages missing: {}", missing.join(" ")));
    let as_root = util::output(Command::new("id").arg("-u"))
        .map(|uid| uid.trim() == "0")
        .unwrap_or(false);
    let apt = |args: &[&str]| -> Command {
        let mut command = if as_root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    if !as_root && util::find_on_path("sudo").is_none() {
        return Err(format!(
            "missing Debian packages ({}) and not root without sudo: install them first",
            missing.join(" ")
        ));
    }
    util::run(&mut apt(&["update"]))?;
    let mut install = apt(&["install", "-y", "--no-install-recommends"]);
    install.args(&missing);
    util::run(&mut install)
}

fn ensure_rust_targets() -> Res<()> {
    if util::find_on_path("rustup").is_none() {
        detail("no rustup: assuming the Windows targets are installed");
        return Ok(());
    }
    let installed = util::output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    let missing: Vec<&str> = RUST_TARGETS
        .iter()
        .copied()
        .filter(|target| !installed.lines().any(|line| line.trim() == *target))
        .collect();
    if missing.is_empty() {
        detail("rust targets: all present");
        return Ok(());
    }
    util::run(
        Command::new("rustup")
            .args(["target", "add"])
            .args(&missing),
    )
}

/// The download cache (`$WASIO_BENCH_CACHE`, else `$XDG_CACHE_HOME/wasio-bench`, else `~/.cache/wasio-bench`).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WASIO_BENCH_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("wasio-bench");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".cache").join("wasio-bench")
}

fn ensure_portaudio() -> Res<(PathBuf, PathBuf)> {
    let cache = cache_dir();
    let dll_dir = cache.join("portaudio");
    let dll_64 = dll_dir.join(PORTAUDIO_DLL_64);
    let dll_32 = dll_dir.join(PORTAUDIO_DLL_32);
    if dll_64.is_file() && dll_32.is_file() {
        detail(&format!("PortAudio: cached in {}", dll_dir.display()));
        return Ok((dll_64, dll_32));
    }
    let wheel_dir = cache.join("wheels");
    fs::create_dir_all(&wheel_dir)
        .map_err(|e| format!("cannot create {}: {e}", wheel_dir.display()))?;
    fs::create_dir_all(&dll_dir)
        .map_err(|e| format!("cannot create {}: {e}", dll_dir.display()))?;
    let wheel = match find_wheel(&wheel_dir) {
        Some(wheel) => wheel,
        None => {
            util::run(
                Command::new("python3")
                    .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
                    .args(["--platform", "win_amd64", "--python-version", "3.11"])
                    .arg("--dest")
                    .arg(&wheel_dir)
                    .arg(SOUNDDEVICE_REQUIREMENT),
            )?;
            find_wheel(&wheel_dir).ok_or("pip reported success but left no sounddevice wheel")?
        }
    };
    // A wheel is a zip file; python3's zipfile extracts the two members we need.
    const EXTRACT: &str = r#"
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in sys.argv[3:]:
        target = os.path.join(out, name.rsplit('/', 1)[1])
        with open(target + '.part', 'wb') as f:
            f.write(z.read(name))
        os.replace(target + '.part', target)
"#;
    util::run(
        Command::new("python3")
            .args(["-c", EXTRACT])
            .arg(&wheel)
            .arg(&dll_dir)
            .arg(format!("{WHEEL_DLL_DIR}/{PORTAUDIO_DLL_64}"))
            .arg(format!("{WHEEL_DLL_DIR}/{PORTAUDIO_DLL_32}")),
    )?;
    detail(&format!("PortAudio: extracted to {}", dll_dir.display()));
    Ok((dll_64, dll_32))
}

fn find_wheel(dir: &Path) -> Option<PathBuf> {
    let version = SOUNDDEVICE_REQUIREMENT.split("==").nth(1)?;
    let prefix = format!("sounddevice-{version}-");
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(&prefix) && name.ends_with("win_amd64.whl"))
        })
}

/// Builds `bench/shim/bcryptprimitives.dll` into `target/bench/shim/` when its sources changed,
/// and checks that it exports `ProcessPrng`.
pub fn build_shim(root: &Path) -> Res<PathBuf> {
    build_shim_with(root, MINGW64_GCC, "bench/shim")
}

/// The 32-bit shim, into `target/bench/shim-i686/` (32-bit Wine 8 and the package's x86 side).
pub fn build_shim_i686(root: &Path) -> Res<PathBuf> {
    build_shim_with(root, MINGW32_GCC, "bench/shim-i686")
}

fn build_shim_with(root: &Path, gcc: &str, out: &str) -> Res<PathBuf> {
    let source = root.join("bench/shim/bcryptprimitives.c");
    let def = root.join("bench/shim/bcryptprimitives.def");
    let out_dir = util::target_dir(root).join(out);
    let dll = out_dir.join("bcryptprimitives.dll");
    if util::is_stale(&dll, &[&source, &def]) {
        fs::create_dir_all(&out_dir)
            .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
        util::run(
            Command::new(gcc)
                .args(["-shared", "-O2", "-Wall", "-Wextra", "-Werror", "-s"])
                // i686: the .def names ProcessPrng undecorated (as Rust's std imports it);
                // the compiler's symbol is the stdcall _ProcessPrng@8.
                .args((gcc == MINGW32_GCC).then_some("-Wl,--enable-stdcall-fixup"))
                .arg("-o")
                .arg(&dll)
                .arg(&source)
                .arg(&def)
                .arg("-ladvapi32"),
        )?;
    }
    let exports = dll_exports(&dll)?;
    if !exports.iter().any(|name| name == "ProcessPrng") {
        return Err(format!(
            "{} does not export ProcessPrng (exports: {exports:?})",
            dll.display()
        ));
    }
    detail(&format!(
        "shim: {} exports {}",
        dll.display(),
        exports.join(", ")
    ));
    Ok(dll)
}

/// The names in a PE file's export table, read with mingw's objdump.
pub fn dll_exports(dll: &Path) -> Res<Vec<String>> {
    let dump = util::output(Command::new(MINGW64_OBJDUMP).arg("-p").arg(dll))?;
    Ok(parse_export_names(&dump))
}

/// Parses the `[Ordinal/Name Pointer] Table` section of `objdump -p`.
fn parse_export_names(dump: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_table = false;
    for line in dump.lines() {
        if line.contains("[Ordinal/Name Pointer] Table") {
            in_table = true;
            continue;
        }
        if in_table {
            let trimmed = line.trim();
            match trimmed
                .strip_prefix('[')
                .and_then(|rest| rest.split_once(']'))
            {
                Some((_, name)) => names.push(name.trim().to_string()),
                None => break,
            }
        }
    }
    names
}

/// Locates Wine's 64-bit loader and its wineserver.
pub fn find_wine() -> Res<(PathBuf, PathBuf)> {
    let wine64 = [PathBuf::from("/usr/lib/wine/wine64")]
        .into_iter()
        .find(|path| path.is_file())
        .or_else(|| util::find_on_path("wine64"))
        .or_else(|| util::find_on_path("wine"))
        .ok_or("Wine not found (expected /usr/lib/wine/wine64 or wine64 on PATH)")?;
    let wineserver = [PathBuf::from("/usr/lib/wine/wineserver64")]
        .into_iter()
        .find(|path| path.is_file())
        .or_else(|| util::find_on_path("wineserver"))
        .ok_or("wineserver not found")?;
    Ok((wine64, wineserver))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_table_is_parsed() {
        let dump = "\n[Ordinal/Name Pointer] Table\n\t[   0] DllRegisterServer\n\t[   1] ProcessPrng\n\nThe Function Table\n";
        assert_eq!(
            parse_export_names(dump),
            vec!["DllRegisterServer", "ProcessPrng"]
        );
    }

    #[test]
    fn export_table_missing_gives_nothing() {
        assert!(parse_export_names("DLL Name: KERNEL32.dll\n").is_empty());
    }
}
