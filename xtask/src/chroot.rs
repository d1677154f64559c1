//! Cached Debian chroots with other Wine builds than the host's, and benches that run them.
//!
//! - `chroot-i386`: a pure i386 Debian 12 (bookworm) with its 32-bit Wine 8.0: the x86 driver
//!   under a 32-bit host (wine_tests_x86.rs).
//! - `chroot-trixie`: an amd64 Debian 13 (trixie) with Wine 10.0 and, from multiarch,
//!   `wine32:i386`, so its 64-bit prefixes have a working `SysWOW64` (wine_tests_wine10.rs).
//!
//! Each is made once by `debootstrap --variant=minbase` and `apt-get install
//! --no-install-recommends` and cached under the bench cache (`~/.cache/wasio-bench/<name>`),
//! with a marker file naming what was installed: a changed list rebuilds it. It is built in
//! `<name>.partial` and renamed when complete, so a killed build is never taken for a chroot.
//!
//! Nothing is ever mounted in the host's mount table. Every command that enters a chroot
//! (debootstrap, apt-get, each Wine process) runs under `unshare --mount --propagation
//! private`: its `/proc`, `/dev`, `/sys` and the bind mounts of the host paths the bench uses
//! (the cargo target dir and PortAudio's cache) exist only in that process's own mount
//! namespace, and the kernel removes them when its last process exits, however it exits.
//! Host paths are mounted at the same paths inside, so the bench's `Z:\…` paths, the prefix
//! and PulseAudio's socket (in the bench's run dir) mean the same thing on both sides. Wine
//! then reaches the host's bench PulseAudio through that socket.
//!
//! The bench ([`crate::bench::Bench`]) is unchanged: its `wine64` and `wineserver` are small
//! scripts written here that run the chroot's Wine this way (exec all the way down, so the
//! PID the bench holds is the Wine process's), with the chroot's `WINEARCH` and DLL overrides.

use crate::setup::{self, Tools};
use crate::util::{self, detail, step, Res};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One cached chroot.
pub struct ChrootSpec {
    /// Folder name under the bench cache.
    pub name: &'static str,
    pub suite: &'static str,
    pub arch: &'static str,
    /// Added with `dpkg --add-architecture` before the packages (multiarch), if any.
    pub foreign_arch: Option<&'static str>,
    pub packages: &'static [&'static str],
    /// Wine's loader and server inside the chroot.
    pub wine: &'static str,
    pub wineserver: &'static str,
    pub winearch: &'static str,
    /// `WINEDLLOVERRIDES` for its Wine processes.
    pub dll_overrides: &'static str,
    /// What this Wine calls PulseAudio's default capture endpoint.
    pub default_capture: &'static str,
}

/// Bumped when the way chroots are made changes.
const RECIPE: &str = "wasio-chroot-1";

impl ChrootSpec {
    /// What the marker file holds: a chroot with another text is rebuilt.
    fn marker_text(&self) -> String {
        format!(
            "{RECIPE} {} {} {} foreign={} packages={}\n",
            self.name,
            self.suite,
            self.arch,
            self.foreign_arch.unwrap_or("-"),
            self.packages.join(",")
        )
    }
}

/// 32-bit Debian 12: Wine 8.0 as 32-bit programs (a pure win32 prefix, no WoW64).
pub const I386_BOOKWORM: ChrootSpec = ChrootSpec {
    name: "chroot-i386",
    suite: "bookworm",
    arch: "i386",
    foreign_arch: None,
    packages: &["wine", "wine32", "libpulse0", "pulseaudio-utils"],
    wine: "/usr/lib/wine/wine",
    wineserver: "/usr/lib/wine/wineserver32",
    winearch: "win32",
    // Wine 8.0 has no bcryptprimitives: the bench's shim (i686) in system32.
    dll_overrides: "bcryptprimitives=n,b;mscoree=;mshtml=",
    default_capture: "PulseAudio",
};

/// Debian 13: Wine 10.0, 64-bit with the 32-bit half from multiarch (prefixes get SysWOW64).
pub const TRIXIE_AMD64: ChrootSpec = ChrootSpec {
    name: "chroot-trixie",
    suite: "trixie",
    arch: "amd64",
    foreign_arch: Some("i386"),
    packages: &[
        "wine",
        "wine64",
        "wine32:i386",
        "libpulse0",
        "libpulse0:i386",
        "pulseaudio-utils",
    ],
    wine: "/usr/lib/wine/wine64",
    wineserver: "/usr/lib/wine/wineserver64",
    winearch: "win64",
    // No shim and no override: Wine 10 has its own bcryptprimitives with ProcessPrng.
    dll_overrides: "mscoree=;mshtml=",
    default_capture: "PulseAudio Input",
};

/// A ready chroot.
pub struct Chroot {
    pub dir: PathBuf,
    pub spec: &'static ChrootSpec,
}

/// The Debian mirror (`$WASIO_DEBIAN_MIRROR`, else deb.debian.org).
fn mirror() -> String {
    std::env::var("WASIO_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".to_string())
}

/// Makes the chroot unless the cache has it (idempotent). Prints how long either took.
pub fn ensure(spec: &'static ChrootSpec) -> Res<Chroot> {
    let started = Instant::now();
    let cache = setup::cache_dir();
    let dir = cache.join(spec.name);
    let marker = dir.join(".wasio-chroot");
    let chroot = Chroot {
        dir: dir.clone(),
        spec,
    };
    if fs::read_to_string(&marker).ok().as_deref() == Some(spec.marker_text().as_str()) {
        detail(&format!(
            "{}: cached in {} (checked in {:.2} s)",
            spec.name,
            dir.display(),
            started.elapsed().as_secs_f64()
        ));
        return Ok(chroot);
    }
    let root_user = util::output(Command::new("id").arg("-u"))
        .map(|uid| uid.trim() == "0")
        .unwrap_or(false);
    if !root_user {
        return Err(format!(
            "{} is not cached and making it needs root (debootstrap, unshare, chroot)",
            spec.name
        ));
    }
    step(&format!(
        "chroot: creating {} ({} {}, {})",
        spec.name,
        spec.suite,
        spec.arch,
        spec.packages.join(" ")
    ));
    if util::find_on_path("debootstrap").is_none() && !Path::new("/usr/sbin/debootstrap").exists() {
        return Err(
            "debootstrap is missing: run `cargo xtask setup` (Debian package debootstrap)".into(),
        );
    }
    let partial = cache.join(format!("{}.partial", spec.name));
    for old in [&partial, &dir] {
        if old.exists() {
            remove_tree(old)?;
        }
    }
    fs::create_dir_all(&cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    // debootstrap mounts /proc and /sys inside the target itself: in a private namespace
    // those mounts die with it, even when it fails half-way.
    let debootstrap =
        util::find_on_path("debootstrap").unwrap_or_else(|| PathBuf::from("/usr/sbin/debootstrap"));
    util::run(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private"])
            .arg(&debootstrap)
            .arg(format!("--arch={}", spec.arch))
            .args(["--variant=minbase", spec.suite])
            .arg(&partial)
            .arg(mirror()),
    )?;
    let staged = Chroot {
        dir: partial.clone(),
        spec,
    };
    let mut script = String::from("set -e\nexport DEBIAN_FRONTEND=noninteractive\n");
    if let Some(arch) = spec.foreign_arch {
        script.push_str(&format!("dpkg --add-architecture {arch}\n"));
    }
    script.push_str(&format!(
        "apt-get update\napt-get install -y --no-install-recommends {}\napt-get clean\nrm -rf /var/lib/apt/lists/*\n",
        spec.packages.join(" ")
    ));
    staged.run(
        &cache.join(format!("{}.enter", spec.name)),
        &[],
        &["/bin/sh", "-c", &script],
    )?;
    for program in [spec.wine, spec.wineserver] {
        if !partial.join(program.trim_start_matches('/')).is_file() {
            return Err(format!(
                "{}: {program} is missing after the install",
                spec.name
            ));
        }
    }
    fs::write(partial.join(".wasio-chroot"), spec.marker_text()).map_err(|e| e.to_string())?;
    fs::rename(&partial, &dir).map_err(|e| format!("cannot rename {}: {e}", partial.display()))?;
    let size = util::output(Command::new("du").args(["-sh"]).arg(&dir))
        .map(|out| out.split_whitespace().next().unwrap_or("?").to_string())
        .unwrap_or_else(|_| "?".into());
    detail(&format!(
        "{}: created in {:.1} s ({size})",
        spec.name,
        started.elapsed().as_secs_f64()
    ));
    Ok(chroot)
}

/// Removes a chroot tree, after making sure nothing is mounted below it (a bind mount of a
/// host folder would be removed with it).
fn remove_tree(dir: &Path) -> Res<()> {
    let mounted = mounts_below(dir);
    if !mounted.is_empty() {
        return Err(format!(
            "{} has mounts below it ({}): unmount them first, it is not removed",
            dir.display(),
            mounted.join(", ")
        ));
    }
    detail(&format!("removing the old {}", dir.display()));
    fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))
}

/// Mount points in this process's mount table at or below `dir`.
pub fn mounts_below(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| *point == prefix || point.starts_with(&format!("{prefix}/")))
        .map(str::to_string)
        .collect()
}

/// Single-quotes a word for sh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

impl Chroot {
    /// The sh script that mounts what a command inside needs and execs `chroot` with the
    /// arguments it is given. Run it only under `unshare --mount --propagation private`.
    fn enter_script(&self, binds: &[PathBuf]) -> String {
        let root = quote(&self.dir.display().to_string());
        let mut text = format!(
            "#!/bin/sh\n# Written by cargo xtask (xtask/src/chroot.rs). Enters {} in the caller's\n\
             # private mount namespace: these mounts vanish with its last process.\nset -e\nR={root}\n\
             mount -t proc proc \"$R/proc\"\nmount --rbind /dev \"$R/dev\"\nmount --rbind /sys \"$R/sys\"\n",
            self.spec.name
        );
        for bind in binds {
            let path = quote(&bind.display().to_string());
            text.push_str(&format!(
                "mkdir -p \"$R\"{path}\nmount --bind {path} \"$R\"{path}\n"
            ));
        }
        text.push_str("exec /usr/sbin/chroot \"$R\" \"$@\"\n");
        text
    }

    /// Runs `argv` inside the chroot (for setting it up), with the host paths `binds` mounted
    /// at the same place; the enter script goes to `script` for the time of the run.
    fn run(&self, script: &Path, binds: &[PathBuf], argv: &[&str]) -> Res<()> {
        write_script(script, &self.enter_script(binds))?;
        let result = util::run(
            Command::new("unshare")
                .args(["--mount", "--propagation", "private"])
                .arg(script)
                .args(argv),
        );
        let _ = fs::remove_file(script);
        result
    }

    /// Writes `enter`, `wine` and `wineserver` scripts into `bin` and returns the bench
    /// [`Tools`] that use them; `shim` is the shim to put in the prefix (None: none).
    pub fn bench_tools(
        &self,
        root: &Path,
        bin: &Path,
        base: &Tools,
        portaudio_dll: PathBuf,
        shim: Option<PathBuf>,
    ) -> Res<Tools> {
        fs::create_dir_all(bin).map_err(|e| format!("cannot create {}: {e}", bin.display()))?;
        let portaudio_dir = portaudio_dll
            .parent()
            .ok_or("PortAudio DLL without a folder")?
            .to_path_buf();
        let mut binds = vec![absolute(&util::target_dir(root)), absolute(&portaudio_dir)];
        if let Some(shim) = &shim {
            binds.push(absolute(shim.parent().ok_or("shim without a folder")?));
        }
        binds.sort();
        binds.dedup();
        let enter = bin.join("enter");
        write_script(&enter, &self.enter_script(&binds))?;
        let spec = self.spec;
        let wrapper = |program: &str| -> Res<PathBuf> {
            let path = bin.join(Path::new(program).file_name().unwrap_or_default());
            let text = format!(
                "#!/bin/sh\n# Written by cargo xtask (xtask/src/chroot.rs): {program} from {}.\n\
                 exec unshare --mount --propagation private {} /usr/bin/env WINEARCH={} WINEDLLOVERRIDES={} {program} \"$@\"\n",
                self.dir.display(),
                quote(&enter.display().to_string()),
                spec.winearch,
                quote(spec.dll_overrides),
            );
            write_script(&path, &text)?;
            Ok(path)
        };
        Ok(Tools {
            wine64: wrapper(spec.wine)?,
            wineserver: wrapper(spec.wineserver)?,
            portaudio_dll_64: portaudio_dll,
            portaudio_dll_32: base.portaudio_dll_32.clone(),
            shim_dll: shim,
            default_capture: spec.default_capture,
        })
    }

    /// `wine --version` inside, for reports.
    pub fn wine_version(&self, tools: &Tools) -> String {
        util::output(Command::new(&tools.wine64).arg("--version"))
            .map(|text| text.trim().to_string())
            .unwrap_or_else(|error| format!("unknown ({error})"))
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn write_script(path: &Path, text: &str) -> Res<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enter_script_mounts_binds_at_the_same_path_and_execs_chroot() {
        let chroot = Chroot {
            dir: PathBuf::from("/c/chroot-i386"),
            spec: &I386_BOOKWORM,
        };
        let text = chroot.enter_script(&[PathBuf::from("/w/it's/target")]);
        assert!(text.contains("R='/c/chroot-i386'\n"));
        assert!(text.contains("mount -t proc proc \"$R/proc\"\n"));
        assert!(text.contains(
            "mkdir -p \"$R\"'/w/it'\\''s/target'\nmount --bind '/w/it'\\''s/target' \"$R\"'/w/it'\\''s/target'\n"
        ));
        assert!(text
            .trim_end()
            .ends_with("exec /usr/sbin/chroot \"$R\" \"$@\""));
    }

    #[test]
    fn the_marker_names_suite_arch_and_packages() {
        let text = TRIXIE_AMD64.marker_text();
        assert!(text.contains("trixie amd64 foreign=i386"));
        assert!(text.contains("wine32:i386"));
        assert_ne!(text, I386_BOOKWORM.marker_text());
    }

    #[test]
    fn mounts_below_ignores_siblings() {
        // "/" is always mounted; nothing is mounted at a path that does not exist.
        assert!(!mounts_below(Path::new("/")).is_empty());
        assert!(mounts_below(Path::new("/no/such/wasio/dir")).is_empty());
    }
}
