//! `wasio unload-check`: a host session followed by what COM does once the host lets go of
//! the driver: `DllCanUnloadNow`, `CoFreeUnusedLibraries(Ex)`, the DLL unmapped. The process
//! then lives on for a while, so a driver thread left running in the unloaded DLL crashes
//! it (Wine prints `wine: Unhandled page fault` and the Wine test fails on that line).

use std::path::Path;
use std::time::{Duration, Instant};

use asio_abi::{message, AsioBufferInfo};
use windows::core::{HSTRING, PCSTR};
use windows::Win32::System::Com::{CoInitializeEx, CoUninitialize, COINIT_APARTMENTTHREADED};
use windows::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};

use crate::args::UnloadOptions;
use crate::callbacks::HOST;
use crate::host::AsioDriver;
use crate::json::Json;

/// How long the DLL may take to become unloadable after the last Release.
const UNLOAD_WAIT: Duration = Duration::from_secs(5);
/// How long the process lives on after the DLL is gone.
const LINGER: Duration = Duration::from_millis(1500);
/// How long a reset request may take after Wasio.toml was touched.
const RESET_WAIT: Duration = Duration::from_secs(5);

windows_core::link!("ole32.dll" "system" fn CoFreeUnusedLibraries());
windows_core::link!("ole32.dll" "system" fn CoFreeUnusedLibrariesEx(delay: u32, reserved: u32));

/// Whether a module of this file name is mapped in the process.
fn module_loaded(name: &HSTRING) -> bool {
    // SAFETY: a NUL-terminated wide string; no reference is taken on the module.
    unsafe { GetModuleHandleW(name) }.is_ok_and(|module| !module.is_invalid())
}

/// The DLL's own `DllCanUnloadNow` answer, or None when it is not loaded.
fn can_unload_now(name: &HSTRING) -> Option<i32> {
    // SAFETY: as in `module_loaded`. Only this thread frees COM libraries, so the module
    // stays mapped while its export is called below.
    let module = unsafe { GetModuleHandleW(name) }.ok()?;
    // SAFETY: the module is loaded; the name is NUL-terminated.
    let proc = unsafe { GetProcAddress(module, PCSTR(c"DllCanUnloadNow".as_ptr().cast())) }?;
    // SAFETY: DllCanUnloadNow is `HRESULT __stdcall (void)`.
    let function: unsafe extern "system" fn() -> i32 = unsafe { std::mem::transmute(proc) };
    // SAFETY: the export has the signature above.
    Some(unsafe { function() })
}

fn hresult_name(hr: Option<i32>) -> String {
    match hr {
        None => "-".into(),
        Some(0) => "S_OK".into(),
        Some(1) => "S_FALSE".into(),
        Some(hr) => format!("0x{:08X}", hr as u32),
    }
}

/// What the run saw, in the order it saw it.
#[derive(Default)]
struct Report {
    dll: String,
    switches: u64,
    reset_requests: u32,
    loaded_after_release: bool,
    can_unload_now: Option<i32>,
    unloaded: bool,
    unload_ms: u128,
    last_can_unload_now: Option<i32>,
    problems: Vec<String>,
}

impl Report {
    fn to_json(&self, options: &UnloadOptions) -> Json {
        Json::object([
            ("driver", Json::string(&options.driver)),
            ("dll", Json::string(&self.dll)),
            ("switches", Json::Int(self.switches as i64)),
            ("reset_requests", Json::Int(self.reset_requests.into())),
            (
                "loaded_after_release",
                Json::Bool(self.loaded_after_release),
            ),
            (
                "can_unload_now",
                Json::string(hresult_name(self.can_unload_now)),
            ),
            ("unloaded", Json::Bool(self.unloaded)),
            ("unload_ms", Json::Int(self.unload_ms as i64)),
            (
                "last_can_unload_now",
                Json::string(hresult_name(self.last_can_unload_now)),
            ),
            ("lingered_ms", Json::Int(LINGER.as_millis() as i64)),
            ("ok", Json::Bool(self.problems.is_empty())),
            (
                "problems",
                Json::Array(self.problems.iter().map(Json::string).collect()),
            ),
        ])
    }
}

/// Appends a comment to Wasio.toml (the driver's monitor then asks for a reset); returns
/// the previous content (None: there was no file) to put back.
fn touch_config() -> Result<Option<Vec<u8>>, String> {
    let profile = std::env::var_os("USERPROFILE").ok_or("USERPROFILE is not set")?;
    let path = wasio_engine::config::default_config_path(Path::new(&profile));
    let before = std::fs::read(&path).ok();
    let mut text = before.clone().unwrap_or_default();
    text.extend_from_slice(b"\n# touched by wasio unload-check\n");
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(before)
}

fn restore_config(before: Option<Vec<u8>>) {
    let Some(profile) = std::env::var_os("USERPROFILE") else {
        return;
    };
    let path = wasio_engine::config::default_config_path(Path::new(&profile));
    let _ = match before {
        Some(bytes) => std::fs::write(&path, bytes),
        None => std::fs::remove_file(&path),
    };
}

/// The host session, up to and including the last Release.
fn session(options: &UnloadOptions, report: &mut Report) -> Result<(), String> {
    let mut driver = AsioDriver::open(&options.driver).map_err(|e| e.to_string())?;
    let dll = driver.entry().dll_path.clone().unwrap_or_default();
    report.dll = dll
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or_default()
        .to_string();
    driver.init().map_err(|e| e.to_string())?;
    let outputs = driver.channels().map_err(|e| e.to_string())?.1.clamp(0, 2);
    let size = driver.buffer_size().map_err(|e| e.to_string())?.preferred;
    let mut infos: Vec<AsioBufferInfo> = (0..outputs)
        .map(|channel| {
            let mut info = AsioBufferInfo::zeroed();
            info.channel_num = channel;
            info
        })
        .collect();
    HOST.reset();
    driver
        .create_buffers(&mut infos, size)
        .map_err(|e| e.to_string())?;
    driver.start().map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs_f64(options.seconds));
    let mut touched = Ok(());
    if options.reset {
        touched = touch_config().map(|before| {
            let started = Instant::now();
            while HOST.snapshot().message_count(message::RESET_REQUEST) == 0
                && started.elapsed() < RESET_WAIT
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            restore_config(before);
        });
    }
    let snapshot = HOST.snapshot();
    report.switches = snapshot.buffer_switches;
    report.reset_requests = snapshot.message_count(message::RESET_REQUEST);
    driver.stop().map_err(|e| e.to_string())?;
    driver.dispose_buffers().map_err(|e| e.to_string())?;
    // The last Release.
    drop(driver);
    touched
}

/// After the last Release: asks the DLL, frees unused libraries until it is unmapped (or
/// [`UNLOAD_WAIT`] passes), then lives on for [`LINGER`].
fn unload(report: &mut Report) {
    let name = HSTRING::from(report.dll.as_str());
    report.loaded_after_release = module_loaded(&name);
    report.can_unload_now = can_unload_now(&name);
    report.last_can_unload_now = report.can_unload_now;
    let started = Instant::now();
    loop {
        // SAFETY: plain COM calls on this initialised thread.
        unsafe {
            CoFreeUnusedLibraries();
            CoFreeUnusedLibrariesEx(0, 0);
        }
        if !module_loaded(&name) {
            report.unloaded = true;
            break;
        }
        if started.elapsed() > UNLOAD_WAIT {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        report.last_can_unload_now = can_unload_now(&name);
    }
    report.unload_ms = started.elapsed().as_millis();
    if !report.unloaded {
        report.problems.push(format!(
            "{} is still loaded {} ms after the last Release (DllCanUnloadNow: {})",
            report.dll,
            report.unload_ms,
            hresult_name(report.last_can_unload_now)
        ));
    }
    // A driver thread still running in the unmapped DLL crashes the process meanwhile.
    std::thread::sleep(LINGER);
}

/// Runs the command; returns the exit code.
pub fn run(options: &UnloadOptions) -> i32 {
    // Our own apartment for the whole run: the one AsioDriver enters is then not the last,
    // so its CoUninitialize does not free the DLL before we look.
    // SAFETY: COM initialisation of this thread, balanced below.
    let com = unsafe { CoInitializeEx(None, COINIT_APARTMENTTHREADED) };
    let mut report = Report::default();
    let session = session(options, &mut report);
    if let Err(error) = session {
        report.problems.push(error);
    }
    if !report.dll.is_empty() {
        unload(&mut report);
    }
    if options.reset && report.reset_requests == 0 {
        report
            .problems
            .push("no kAsioResetRequest after Wasio.toml was touched".into());
    }
    if com.is_ok() {
        // SAFETY: balances the successful CoInitializeEx above.
        unsafe { CoUninitialize() };
    }
    if options.json {
        outln!("{}", report.to_json(options).to_pretty());
    } else {
        crate::print_out(&format!(
            "{}: {} switches, {} reset request(s); after the last Release DllCanUnloadNow = {}, \
             {} after {} ms\n",
            report.dll,
            report.switches,
            report.reset_requests,
            hresult_name(report.can_unload_now),
            if report.unloaded {
                "unloaded"
            } else {
                "still loaded"
            },
            report.unload_ms
        ));
    }
    for problem in &report.problems {
        eprintln!("wasio: {problem}");
    }
    i32::from(!report.problems.is_empty())
}
