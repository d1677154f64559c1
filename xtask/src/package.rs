//! `cargo xtask package [--dev]`: the Windows release, as a zip and an NSIS installer.
//!
//! ```text
//! target/package/
//!   Wasio/                          the staged tree (what the zip holds)
//!     README.md  LICENSE.txt  docs/*.md  docs/images/*
//!     x64/wasio_driver.dll  wasio.exe  wasio-panel.exe
//!     x86/wasio_driver.dll  [wasio.exe  wasio-panel.exe, when they build for i686]
//!     wine8/x64/bcryptprimitives.dll  wasio.exe    Wine 8.0 only: the ProcessPrng shim, with a
//!     wine8/x86/bcryptprimitives.dll  [wasio.exe]  wasio.exe that starts next to it and whose
//!                                                  `register` installs it (process_prng.rs)
//!   files.nsh                       file lists for bench/installer/wasio.nsi
//!   wasio-<version>-windows.zip
//!   wasio-<version>-setup.exe
//! ```
//! The panel sits next to each driver DLL: the driver's `controlPanel()` starts it from the
//! DLL's folder. `zip` and `makensis` come from Debian (`cargo xtask setup` installs them).

use crate::util::{self, detail, step, Res};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET_X64: &str = "x86_64-pc-windows-gnu";
pub const TARGET_X86: &str = "i686-pc-windows-gnu";
const DRIVER_DLL: &str = "wasio_driver.dll";
const TOOL_EXES: [&str; 2] = ["wasio.exe", "wasio-panel.exe"];
const TOOL_PACKAGES: [&str; 4] = ["-p", "wasio-cli", "-p", "wasio-panel"];
/// MinGW runtime DLLs a user's machine does not have: a binary needing one is not shippable.
const FOREIGN_DLL_PREFIXES: [&str; 3] = ["libgcc", "libwinpthread", "libstdc++"];

/// What `package` produced.
#[derive(Debug)]
pub struct Package {
    pub version: String,
    /// The staged `Wasio` folder.
    pub stage: PathBuf,
    pub zip: PathBuf,
    pub installer: PathBuf,
    /// Whether the 32-bit tools (CLI, panel) are in `x86/` besides the driver.
    pub x86_tools: bool,
}

/// The workspace version (`[workspace.package] version`).
pub fn workspace_version(root: &Path) -> Res<String> {
    let manifest = fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("cannot read Cargo.toml: {e}"))?;
    parse_workspace_version(&manifest)
        .ok_or_else(|| "Cargo.toml has no `version = \"…\"` under [workspace.package]".to_string())
}

fn parse_workspace_version(manifest: &str) -> Option<String> {
    let mut in_section = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[workspace.package]";
        } else if in_section {
            if let Some(value) = line
                .strip_prefix("version")
                .map(str::trim_start)
                .and_then(|rest| rest.strip_prefix('='))
            {
                return Some(value.trim().trim_matches('"').to_string());
            }
        }
    }
    None
}

fn profile_dir(root: &Path, target: &str, release: bool) -> PathBuf {
    util::target_dir(root)
        .join(target)
        .join(if release { "release" } else { "debug" })
}

fn cargo_build(root: &Path, target: &str, release: bool, packages: &[&str]) -> Command {
    let mut command = util::cargo();
    command
        .current_dir(root)
        .args(["build", "--target", target])
        .args(packages);
    if release {
        command.arg("--release");
    }
    command
}

/// The DLLs `binary` imports (from `objdump -p`).
fn imported_dlls(objdump: &str, binary: &Path) -> Res<Vec<String>> {
    let dump = util::output(Command::new(objdump).arg("-p").arg(binary))?;
    let mut dlls: Vec<String> = dump
        .lines()
        .filter_map(|line| line.trim().strip_prefix("DLL Name: "))
        .map(str::to_string)
        .collect();
    dlls.sort_unstable_by_key(|name| name.to_ascii_lowercase());
    dlls.dedup_by_key(|name| name.to_ascii_lowercase());
    Ok(dlls)
}

/// Copies a built binary into the stage after checking it needs no MinGW runtime DLL, and
/// strips its DWARF debug information there (about 20 MB per binary that Windows tools cannot
/// read; symbols stay, so backtraces keep function names). The unstripped binary stays in
/// `target/<triple>/<profile>/` for reading crash reports. `mingw` is the tool prefix, e.g.
/// `x86_64-w64-mingw32`.
fn stage_binary(mingw: &str, from: &Path, to_dir: &Path) -> Res<()> {
    let foreign: Vec<String> = imported_dlls(&format!("{mingw}-objdump"), from)?
        .into_iter()
        .filter(|dll| {
            let lower = dll.to_ascii_lowercase();
            FOREIGN_DLL_PREFIXES.iter().any(|p| lower.starts_with(p))
        })
        .collect();
    if !foreign.is_empty() {
        return Err(format!(
            "{} needs {} (not on users' machines)",
            from.display(),
            foreign.join(", ")
        ));
    }
    let name = from.file_name().ok_or("a binary path without a name")?;
    let staged = to_dir.join(name);
    fs::copy(from, &staged).map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
    util::output(
        Command::new(format!("{mingw}-strip"))
            .arg("--strip-debug")
            .arg(&staged),
    )?;
    Ok(())
}

/// Builds everything, stages it, zips it and builds the installer.
pub fn package(root: &Path, release: bool) -> Res<Package> {
    let version = workspace_version(root)?;
    let profile = if release { "release" } else { "dev" };
    step(&format!("package: Wasio {version} ({profile} builds)"));
    util::run(&mut cargo_build(
        root,
        TARGET_X64,
        release,
        &["-p", "wasio-driver", "-p", "wasio-cli", "-p", "wasio-panel"],
    ))?;
    util::run(&mut cargo_build(
        root,
        TARGET_X86,
        release,
        &["-p", "wasio-driver"],
    ))?;
    // The 32-bit tools are a convenience: the package is complete without them.
    let x86_tools = match util::run(&mut cargo_build(root, TARGET_X86, release, &TOOL_PACKAGES)) {
        Ok(()) => true,
        Err(error) => {
            detail(&format!(
                "the 32-bit CLI and panel did not build ({error}): x86/ gets the driver only"
            ));
            false
        }
    };

    let out = util::target_dir(root).join("package");
    let stage = out.join("Wasio");
    if stage.exists() {
        fs::remove_dir_all(&stage).map_err(|e| format!("cannot clear {}: {e}", stage.display()))?;
    }
    let (x64, x86) = (stage.join("x64"), stage.join("x86"));
    for dir in [&x64, &x86, &stage.join("docs").join("images")] {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let built64 = profile_dir(root, TARGET_X64, release);
    for name in [DRIVER_DLL].iter().chain(TOOL_EXES.iter()) {
        stage_binary("x86_64-w64-mingw32", &built64.join(name), &x64)?;
    }
    let built32 = profile_dir(root, TARGET_X86, release);
    stage_binary("i686-w64-mingw32", &built32.join(DRIVER_DLL), &x86)?;
    if x86_tools {
        for name in TOOL_EXES {
            stage_binary("i686-w64-mingw32", &built32.join(name), &x86)?;
        }
    }
    stage_wine8(root, &stage, x86_tools)?;
    stage_docs(root, &stage)?;
    let notes = license_notes(root, &version)?;
    fs::write(stage.join("LICENSE.txt"), notes).map_err(|e| e.to_string())?;

    let zip = out.join(format!("wasio-{version}-windows.zip"));
    make_zip(&out, &zip)?;
    let installer = out.join(format!("wasio-{version}-setup.exe"));
    make_installer(root, &out, &stage, &version, &installer, release)?;
    for file in [&zip, &installer] {
        let size = fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        detail(&format!(
            "{} ({:.1} MiB)",
            file.display(),
            size as f64 / 1048576.0
        ));
    }
    Ok(Package {
        version,
        stage,
        zip,
        installer,
        x86_tools,
    })
}

/// `wine8/<arch>/`: the `bcryptprimitives` shim (Wine 8.0 lacks `ProcessPrng`, which every
/// Rust program imports) next to a copy of that architecture's `wasio.exe`, which therefore
/// starts under Wine 8.0, and whose `register` puts the shim into the system folder. Never
/// next to the driver or the tools in `x64/`/`x86/`: on Windows a DLL there would shadow the
/// system's. The installer does not copy `wine8/`; it installs the shims itself, only where
/// the system's `bcryptprimitives.dll` has no `ProcessPrng`.
fn stage_wine8(root: &Path, stage: &Path, x86_tools: bool) -> Res<()> {
    let shims = [
        ("x64", crate::setup::build_shim(root)?, true),
        ("x86", crate::setup::build_shim_i686(root)?, x86_tools),
    ];
    for (arch, shim, with_cli) in shims {
        let dir = stage.join("wine8").join(arch);
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        fs::copy(&shim, dir.join("bcryptprimitives.dll"))
            .map_err(|e| format!("cannot copy {}: {e}", shim.display()))?;
        if with_cli {
            fs::copy(stage.join(arch).join("wasio.exe"), dir.join("wasio.exe"))
                .map_err(|e| format!("cannot copy wasio.exe into wine8/{arch}: {e}"))?;
        }
    }
    Ok(())
}

/// README.md and docs/ (Markdown and images) into the stage.
fn stage_docs(root: &Path, stage: &Path) -> Res<()> {
    let copy = |from: PathBuf, to: PathBuf| {
        fs::copy(&from, &to)
            .map(|_| ())
            .map_err(|e| format!("cannot copy {}: {e}", from.display()))
    };
    copy(root.join("README.md"), stage.join("README.md"))?;
    for (dir, keep) in [
        (
            "docs",
            &(|n: &str| n.ends_with(".md")) as &dyn Fn(&str) -> bool,
        ),
        ("docs/images", &|n: &str| {
            [".png", ".jpg", ".svg"].iter().any(|e| n.ends_with(e))
        }),
    ] {
        let listing =
            fs::read_dir(root.join(dir)).map_err(|e| format!("cannot list {dir}: {e}"))?;
        for entry in listing.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_file() && keep(&name) {
                copy(entry.path(), stage.join(dir).join(&name))?;
            }
        }
    }
    Ok(())
}

/// LICENSE.txt: the project's licence and every crate compiled into the shipped binaries.
fn license_notes(root: &Path, version: &str) -> Res<String> {
    let tree = util::output(util::cargo().current_dir(root).args([
        "tree",
        "--target",
        TARGET_X64,
        "-e",
        // Proc-macro crates run at build time; they are not in the binaries.
        "normal,no-proc-macro",
        "--prefix",
        "none",
        "-f",
        "{p}\t{l}",
        "-p",
        "wasio-driver",
        "-p",
        "wasio-cli",
        "-p",
        "wasio-panel",
    ]))?;
    let crates = third_party_crates(&tree);
    let mut text = format!(
        "Wasio {version}\r\n\r\n\
         Wasio is licensed under either of the MIT License or the Apache License, Version 2.0,\r\n\
         at your option (SPDX: MIT OR Apache-2.0).\r\n\r\n\
         Third-party Rust crates compiled into wasio_driver.dll, wasio.exe and wasio-panel.exe,\r\n\
         with their licenses (from Cargo.lock via `cargo tree`):\r\n\r\n"
    );
    for (name, license) in &crates {
        text.push_str(&format!("  {name:40} {license}\r\n"));
    }
    text.push_str(
        "\r\nThe binaries are built with the Rust toolchain for the windows-gnu targets, which links\r\n\
         parts of the MinGW-w64 runtime (ZPL-2.1 and public domain) and of libgcc (GPL-3.0 with the\r\n\
         GCC Runtime Library Exception, which allows distributing the result under any license).\r\n\
         No Steinberg ASIO SDK file is used: the ASIO interface is written from its public ABI.\r\n",
    );
    Ok(text)
}

/// `(name version, license)` of every non-Wasio crate in `cargo tree -f "{p}\t{l}"` output.
fn third_party_crates(tree: &str) -> Vec<(String, String)> {
    let mut crates: Vec<(String, String)> = tree
        .lines()
        .filter_map(|line| {
            let (package, license) = line.split_once('\t')?;
            // "name v1.2.3 (path)" and "(*)" for repeats: keep "name v1.2.3".
            let mut words = package.split_whitespace();
            let name = words.next()?;
            let version = words.next()?;
            let license = license.trim().trim_end_matches("(*)").trim();
            (!name.starts_with("wasio")).then(|| {
                (
                    format!("{name} {version}"),
                    if license.is_empty() {
                        "see the crate".to_string()
                    } else {
                        license.to_string()
                    },
                )
            })
        })
        .collect();
    crates.sort();
    crates.dedup();
    crates
}

fn make_zip(out: &Path, zip: &Path) -> Res<()> {
    if util::find_on_path("zip").is_none() {
        return Err("`zip` is missing: run `cargo xtask setup` (Debian package zip)".into());
    }
    let _ = fs::remove_file(zip);
    // -X: no extra Unix attributes; -r from the package folder so the zip holds Wasio/….
    util::run(
        Command::new("zip")
            .current_dir(out)
            .args(["-q", "-r", "-X"])
            .arg(zip)
            .arg("Wasio"),
    )
}

/// Every file under `dir`, relative to it, sorted, with `/` separators.
pub fn relative_files(dir: &Path) -> Res<Vec<String>> {
    fn walk(dir: &Path, prefix: &str, files: &mut Vec<String>) -> Res<()> {
        let listing =
            fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in listing.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if entry.path().is_dir() {
                walk(&entry.path(), &relative, files)?;
            } else {
                files.push(relative);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, "", &mut files)?;
    files.sort();
    Ok(files)
}

/// A string for an NSIS script: `$` doubled, inside double quotes.
fn nsis_quote(text: &str) -> String {
    format!("\"{}\"", text.replace('$', "$$"))
}

/// files.nsh: `WASIO_FILES_COMMON`, `WASIO_FILES_X64`, `WASIO_FILES_X86` (with `HAVE_X86`)
/// install the staged files; `WASIO_DELETE_FILES` deletes exactly those, then their folders.
/// `wine8/` is not installed as files: `WINE8_SHIM_X64`/`WINE8_SHIM_X86` name its shims, which
/// the installer puts into the system folders only where they are missing.
pub fn nsis_file_lists(stage: &Path, all_files: &[String]) -> String {
    let files: Vec<String> = all_files
        .iter()
        .filter(|f| !f.starts_with("wine8/"))
        .cloned()
        .collect();
    let files = files.as_slice();
    let group = |file: &str| match file.split('/').next() {
        Some("x64") if file.contains('/') => "X64",
        Some("x86") if file.contains('/') => "X86",
        _ => "COMMON",
    };
    let windows = |path: &str| path.replace('/', "\\");
    let mut text = String::from("; Generated by `cargo xtask package`; do not edit.\n");
    for (arch, define) in [("x64", "WINE8_SHIM_X64"), ("x86", "WINE8_SHIM_X86")] {
        let shim = format!("wine8/{arch}/bcryptprimitives.dll");
        if all_files.contains(&shim) {
            text.push_str(&format!(
                "!define {define} {}\n",
                nsis_quote(&stage.join(&shim).display().to_string())
            ));
        }
    }
    let has_x86 = files.iter().any(|f| group(f) == "X86");
    if has_x86 {
        text.push_str("!define HAVE_X86\n");
    }
    for name in ["COMMON", "X64", "X86"] {
        text.push_str(&format!("!macro WASIO_FILES_{name}\n"));
        let mut current_dir = None;
        for file in files.iter().filter(|f| group(f) == name) {
            let dir = file.rsplit_once('/').map_or("", |(dir, _)| dir);
            if current_dir != Some(dir) {
                let out = if dir.is_empty() {
                    "$INSTDIR".to_string()
                } else {
                    format!("$INSTDIR\\{}", windows(dir))
                };
                text.push_str(&format!("  SetOutPath \"{out}\"\n"));
                current_dir = Some(dir);
            }
            let source = stage.join(file);
            text.push_str(&format!(
                "  File {}\n",
                nsis_quote(&source.display().to_string())
            ));
        }
        text.push_str("!macroend\n");
    }
    text.push_str("!macro WASIO_DELETE_FILES\n");
    for file in files {
        text.push_str(&format!("  Delete \"$INSTDIR\\{}\"\n", windows(file)));
    }
    // Deepest folders first; RMDir without /r removes a folder only when empty.
    let mut dirs: Vec<String> = files
        .iter()
        .filter_map(|f| f.rsplit_once('/').map(|(dir, _)| dir.to_string()))
        .flat_map(|dir| {
            let parts: Vec<&str> = dir.split('/').collect();
            (1..=parts.len())
                .map(move |n| parts[..n].join("/"))
                .collect::<Vec<_>>()
        })
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse((d.matches('/').count(), d.clone())));
    dirs.dedup();
    for dir in dirs {
        text.push_str(&format!("  RMDir \"$INSTDIR\\{}\"\n", windows(&dir)));
    }
    text.push_str("!macroend\n");
    text
}

fn make_installer(
    root: &Path,
    out: &Path,
    stage: &Path,
    version: &str,
    installer: &Path,
    release: bool,
) -> Res<()> {
    if util::find_on_path("makensis").is_none() {
        return Err("`makensis` is missing: run `cargo xtask setup` (Debian package nsis)".into());
    }
    let files = relative_files(stage)?;
    let lists = out.join("files.nsh");
    fs::write(&lists, nsis_file_lists(stage, &files)).map_err(|e| e.to_string())?;
    let _ = fs::remove_file(installer);
    let mut makensis = Command::new("makensis");
    makensis.args(["-V2", "-WX"]);
    if !release {
        makensis.arg("-DFAST_COMPRESSION");
    }
    util::run(
        makensis
            .arg(format!("-DVERSION={version}"))
            .arg(format!("-DFILES={}", lists.display()))
            .arg(format!("-DOUTFILE={}", installer.display()))
            .arg(root.join("bench/installer/wasio.nsi")),
    )?;
    if !installer.is_file() {
        return Err(format!("makensis did not write {}", installer.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_version_is_read_from_its_section() {
        let manifest = "[package]\nversion = \"9.9.9\"\n[workspace.package]\nedition = \"2021\"\nversion = \"0.3.1\"\n";
        assert_eq!(parse_workspace_version(manifest).as_deref(), Some("0.3.1"));
        assert_eq!(
            parse_workspace_version("[package]\nversion = \"1\"\n"),
            None
        );
    }

    #[test]
    fn third_party_list_drops_wasio_and_repeats() {
        let tree = "wasio-driver v0.1.0 (/w/crates/driver)\tMIT OR Apache-2.0\nrtrb v0.4.1\tMIT OR Apache-2.0\nwasio-engine v0.1.0 (/w/crates/engine) (*)\tMIT OR Apache-2.0\nrtrb v0.4.1 (*)\tMIT OR Apache-2.0\nwindows v0.62.2\tMIT OR Apache-2.0\n";
        assert_eq!(
            third_party_crates(tree),
            vec![
                ("rtrb v0.4.1".to_string(), "MIT OR Apache-2.0".to_string()),
                (
                    "windows v0.62.2".to_string(),
                    "MIT OR Apache-2.0".to_string()
                ),
            ]
        );
    }

    #[test]
    fn nsis_lists_install_and_delete_the_same_files() {
        let files: Vec<String> = [
            "LICENSE.txt",
            "docs/CLI.md",
            "docs/images/panel.png",
            "x64/wasio_driver.dll",
            "x86/wasio_driver.dll",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let text = nsis_file_lists(Path::new("/stage/Wasio"), &files);
        assert!(text.contains("!define HAVE_X86\n"));
        assert!(text.contains("  SetOutPath \"$INSTDIR\\docs\\images\"\n  File \"/stage/Wasio/docs/images/panel.png\"\n"));
        let x64 = text.split("!macro WASIO_FILES_X64\n").nth(1).unwrap();
        assert!(x64.starts_with("  SetOutPath \"$INSTDIR\\x64\"\n  File \"/stage/Wasio/x64/wasio_driver.dll\"\n!macroend"));
        for file in &files {
            assert!(text.contains(&format!(
                "  Delete \"$INSTDIR\\{}\"\n",
                file.replace('/', "\\")
            )));
        }
        // Deepest folder first, each once.
        let removes: Vec<&str> = text.lines().filter(|l| l.contains("RMDir")).collect();
        assert_eq!(
            removes,
            [
                "  RMDir \"$INSTDIR\\docs\\images\"",
                "  RMDir \"$INSTDIR\\x86\"",
                "  RMDir \"$INSTDIR\\x64\"",
                "  RMDir \"$INSTDIR\\docs\"",
            ]
        );
        assert!(!nsis_file_lists(Path::new("/s"), &files[..4]).contains("HAVE_X86"));
        // wine8/ is named, never installed or deleted as files.
        let mut with_shims = files.clone();
        with_shims.push("wine8/x64/bcryptprimitives.dll".to_string());
        with_shims.push("wine8/x64/wasio.exe".to_string());
        let text = nsis_file_lists(Path::new("/s"), &with_shims);
        assert!(text.contains("!define WINE8_SHIM_X64 \"/s/wine8/x64/bcryptprimitives.dll\"\n"));
        assert!(!text.contains("WINE8_SHIM_X86"));
        assert!(!text.contains("$INSTDIR\\wine8"));
        assert_eq!(nsis_quote("a$b"), "\"a$$b\"");
    }
}
