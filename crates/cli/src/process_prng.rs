//! `bcryptprimitives.dll!ProcessPrng` for Wine 8.0, which lacks it.
//!
//! Rust's standard library imports `ProcessPrng`, so neither the driver nor these tools load
//! where the system's `bcryptprimitives.dll` does not export it: Wine 8.0 has no such DLL at
//! all. The package ships a small shim (`bench/shim/`, on top of `RtlGenRandom`) in
//! `wine8\x64\` and `wine8\x86\`, next to a copy of `wasio.exe`, which therefore starts there.
//! `wasio register`, before registering, makes sure the system directory has a
//! `ProcessPrng`: it loads the system's `bcryptprimitives.dll` by its full path and asks it
//! for the function. Only when that fails does it copy the shim this process runs with into
//! the system directory (`System32`, or `SysWOW64` for a 32-bit process on 64-bit Windows or
//! Wine, by file system redirection). Windows 10+ and Wine 9+ have the function: there,
//! nothing is ever copied.

use std::path::PathBuf;

use windows::core::{HSTRING, PCSTR};
use windows::Win32::Foundation::FreeLibrary;
use windows::Win32::System::LibraryLoader::{
    GetModuleFileNameW, GetModuleHandleW, GetProcAddress, LoadLibraryExW, LOAD_LIBRARY_FLAGS,
};

#[link(name = "kernel32")]
extern "system" {
    fn GetSystemDirectoryW(buffer: *mut u16, size: u32) -> u32;
}

const DLL: &str = "bcryptprimitives.dll";

/// What [`ensure`] found or did.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// The system's `bcryptprimitives.dll` exports `ProcessPrng`: nothing to do.
    System(PathBuf),
    /// It did not; the shim this process runs with was copied there.
    Installed { from: PathBuf, to: PathBuf },
}

impl Outcome {
    /// One line for the user.
    pub fn describe(&self) -> String {
        match self {
            Outcome::System(path) => format!("{} exports ProcessPrng", path.display()),
            Outcome::Installed { from, to } => format!(
                "{} had no ProcessPrng (Wine 8): installed the shim {} there",
                to.display(),
                from.display()
            ),
        }
    }

    /// `"system"` or `"installed"`, for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::System(_) => "system",
            Outcome::Installed { .. } => "installed",
        }
    }
}

fn system_directory() -> Result<PathBuf, String> {
    let mut buffer = [0u16; 520];
    // SAFETY: the buffer and its length in characters.
    let len = unsafe { GetSystemDirectoryW(buffer.as_mut_ptr(), buffer.len() as u32) } as usize;
    if len == 0 || len >= buffer.len() {
        return Err("GetSystemDirectoryW failed".into());
    }
    Ok(PathBuf::from(String::from_utf16_lossy(&buffer[..len])))
}

/// What loading the system's DLL by its full path showed.
#[derive(Debug, PartialEq)]
enum Probe {
    /// It loaded and exports `ProcessPrng`.
    Exports,
    /// It loaded and does not.
    Lacks,
    /// It did not load (Wine 8.0: there is no such file).
    NotLoaded,
    /// The loader answered with another file of that name (the one this process already runs
    /// with): the system's could not be asked on its own.
    Shadowed(PathBuf),
}

fn probe(path: &std::path::Path) -> Probe {
    let wide = HSTRING::from(path.as_os_str());
    // SAFETY: loading a system DLL by its full path; freed below.
    let Ok(module) = (unsafe { LoadLibraryExW(&wide, None, LOAD_LIBRARY_FLAGS(0)) }) else {
        return Probe::NotLoaded;
    };
    // SAFETY: `module` is loaded; the name is NUL-terminated.
    let found = unsafe { GetProcAddress(module, PCSTR(c"ProcessPrng".as_ptr().cast())) }.is_some();
    let answered = module_path(module);
    // SAFETY: balances the LoadLibraryExW above.
    let _ = unsafe { FreeLibrary(module) };
    match answered {
        Some(other) if !same_file(&other, path) => Probe::Shadowed(other),
        _ if found => Probe::Exports,
        _ => Probe::Lacks,
    }
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    a.as_os_str()
        .to_string_lossy()
        .eq_ignore_ascii_case(&b.as_os_str().to_string_lossy())
}

fn module_path(module: windows::Win32::Foundation::HMODULE) -> Option<PathBuf> {
    let mut buffer = [0u16; 1024];
    // SAFETY: a loaded module and a buffer with its length.
    let len = unsafe { GetModuleFileNameW(Some(module), &mut buffer) } as usize;
    (len > 0 && len < buffer.len()).then(|| PathBuf::from(String::from_utf16_lossy(&buffer[..len])))
}

/// The file of the `bcryptprimitives.dll` this process loaded (it imports `ProcessPrng`).
fn loaded_path() -> Option<PathBuf> {
    // SAFETY: a lookup by name; the handle is not reference counted.
    let module = unsafe { GetModuleHandleW(&HSTRING::from(DLL)) }.ok()?;
    module_path(module)
}

/// Makes sure the system directory's `bcryptprimitives.dll` has `ProcessPrng`. An existing
/// file is never replaced.
pub fn ensure() -> Result<Outcome, String> {
    let target = system_directory()?.join(DLL);
    match probe(&target) {
        Probe::Exports => return Ok(Outcome::System(target)),
        Probe::Lacks => {
            return Err(format!(
                "{} has no ProcessPrng; not replacing a system file",
                target.display()
            ))
        }
        // The file is there (Windows, Wine 9+) and is not ours to touch.
        Probe::Shadowed(_) if target.exists() => return Ok(Outcome::System(target)),
        Probe::Shadowed(_) | Probe::NotLoaded => {}
    }
    if target.exists() {
        return Err(format!(
            "{} exists but does not load; not replacing a system file",
            target.display()
        ));
    }
    let from = loaded_path().ok_or_else(|| {
        format!(
            "{} is missing and this process has no {DLL} loaded",
            target.display()
        )
    })?;
    std::fs::copy(&from, &target).map_err(|e| {
        format!(
            "cannot copy {} to {}: {e}",
            from.display(),
            target.display()
        )
    })?;
    Ok(Outcome::Installed { from, to: target })
}
