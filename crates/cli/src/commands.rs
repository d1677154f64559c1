//! The commands that talk to drivers (Windows only).

use std::ffi::c_void;
use std::path::Path;

use asio_abi::{c_chars_bytes, future, AsioInternalBufferInfo};
use windows::core::{HSTRING, PCSTR};
use windows::Win32::Foundation::FreeLibrary;
use windows::Win32::System::Com::{CoInitializeEx, CoUninitialize, COINIT_APARTMENTTHREADED};
use windows::Win32::System::LibraryLoader::{
    GetProcAddress, LoadLibraryExW, LOAD_WITH_ALTERED_SEARCH_PATH,
};

use crate::args::Command;
use crate::drivers;
use crate::host::{code_of, list_drivers, AsioDriver};
use crate::info::{ChannelReport, ClockReport, DriverReport, COMMON_RATES};

/// Runs a parsed command; returns the exit code.
pub fn execute(command: Command) -> i32 {
    match command {
        Command::Drivers { json } => list(json),
        Command::Info { driver, json } => info(&driver, json),
        Command::Misuse { driver, json } => crate::misuse::run(&driver, json),
        Command::Register { dll, json } => register(&dll, true, json),
        Command::Unregister { dll, json } => register(&dll, false, json),
        Command::Devices { json } => crate::devices::run(json),
        Command::ConfigCheck { file, json } => crate::config_check_command(file, json),
        Command::Status { json } => status(json),
        Command::Latency(options) => crate::latency::run(&options),
        Command::Test(options) => crate::session::run(&options),
        Command::Rates {
            driver,
            rates,
            seconds,
        } => crate::rates::run(&driver, &rates, seconds),
        Command::UnloadCheck(options) => crate::unload::run(&options),
        Command::Help => 0,
    }
}

/// `wasio status`: reads `%TEMP%\Wasio\status-*.json`.
fn status(json: bool) -> i32 {
    let dir = wasio_engine::status::status_dir(&std::env::temp_dir());
    let now = wasio_engine::status::now_unix_ms();
    match wasio_engine::status::read_status_dir(&dir, now, wasio_wasapi::process_alive) {
        Ok(entries) => {
            if json {
                outln!("{}", crate::status_report::to_json(&entries).to_pretty());
            } else {
                crate::print_out(&crate::status_report::to_text(&entries));
            }
            0
        }
        Err(error) => crate::fail(json, &format!("cannot read {}: {error}", dir.display())),
    }
}

fn list(json: bool) -> i32 {
    let entries = list_drivers();
    if json {
        let array = crate::json::Json::Array(entries.iter().map(|e| e.to_json()).collect());
        outln!("{}", array.to_pretty());
    } else {
        crate::print_out(&drivers::to_text(&entries));
    }
    0
}

fn info(name: &str, json: bool) -> i32 {
    let mut driver = match AsioDriver::open(name) {
        Ok(driver) => driver,
        Err(error) => {
            eprintln!("wasio: {error}");
            return 1;
        }
    };
    if let Err(error) = driver.init() {
        eprintln!("wasio: {error}");
        return 1;
    }
    let report = gather(&mut driver);
    if json {
        outln!("{}", report.to_json().to_pretty());
    } else {
        crate::print_out(&report.to_text());
    }
    0
}

/// Queries an initialised driver for everything `wasio info` shows.
fn gather(driver: &mut AsioDriver) -> DriverReport {
    let entry = driver.entry().clone();
    let channel_counts = driver.channels();
    let mut channels = Vec::new();
    let mut channel_errors = Vec::new();
    if let Ok((inputs, outputs)) = channel_counts {
        for (is_input, count) in [(true, inputs), (false, outputs)] {
            for index in 0..count.clamp(0, 1024) {
                match driver.channel_info(index, is_input) {
                    Ok(info) => channels.push(ChannelReport {
                        index,
                        is_input,
                        is_active: info.is_active != 0,
                        group: info.channel_group,
                        sample_type: info.sample_type,
                        name: String::from_utf8_lossy(c_chars_bytes(&info.name)).into_owned(),
                    }),
                    Err(error) => channel_errors.push((is_input, index, error)),
                }
            }
        }
    }
    let rates = COMMON_RATES
        .iter()
        .map(|&rate| (rate, code_of(&driver.can_sample_rate(rate))))
        .collect();
    let clock_sources = driver.clock_sources().map(|clocks| {
        clocks
            .iter()
            .map(|c| ClockReport {
                index: c.index,
                name: String::from_utf8_lossy(c_chars_bytes(&c.name)).into_owned(),
                is_current: c.is_current_source != 0,
            })
            .collect()
    });
    let mut features = Vec::new();
    for selector in [
        future::CAN_TIME_INFO,
        future::CAN_TIME_CODE,
        future::CAN_INPUT_MONITOR,
        future::CAN_TRANSPORT,
        future::CAN_INPUT_GAIN,
        future::CAN_INPUT_METER,
        future::CAN_OUTPUT_GAIN,
        future::CAN_OUTPUT_METER,
        future::CAN_REPORT_OVERLOAD,
        future::SUPPORTS_INPUT_RESAMPLING,
    ] {
        // SAFETY: these selectors take no argument; null is what hosts pass.
        let code = unsafe { driver.future_code(selector, std::ptr::null_mut()) };
        features.push((future::name(selector), code));
    }
    let mut internal = AsioInternalBufferInfo::default();
    // SAFETY: kAsioGetInternalBufferSamples takes a pointer to AsioInternalBufferInfo.
    let code = unsafe {
        driver.future_code(
            future::GET_INTERNAL_BUFFER_SAMPLES,
            (&mut internal as *mut AsioInternalBufferInfo).cast::<c_void>(),
        )
    };
    features.push((future::name(future::GET_INTERNAL_BUFFER_SAMPLES), code));
    DriverReport {
        registry_name: entry.name.clone(),
        clsid: entry.clsid.to_string(),
        dll_path: entry.dll_path.clone(),
        driver_name: driver.driver_name(),
        driver_version: driver.driver_version(),
        channel_counts,
        channels,
        channel_errors,
        buffer_sizes: driver.buffer_size(),
        latencies: driver.latencies(),
        sample_rate: driver.sample_rate(),
        rates,
        clock_sources,
        features,
    }
}

/// `DllRegisterServer` / `DllUnregisterServer` of `dll`, like regsvr32.
fn register(dll: &str, register: bool, json: bool) -> i32 {
    // Wine 8.0 lacks bcryptprimitives.dll!ProcessPrng, which the driver imports: put the
    // shim this process runs with in place first (never where the system has its own).
    let prng = register.then(crate::process_prng::ensure);
    let code = match &prng {
        Some(Err(error)) => {
            eprintln!("wasio: ProcessPrng: {error}");
            1
        }
        Some(Ok(outcome)) => {
            if !json {
                outln!("ProcessPrng: {}", outcome.describe());
            }
            register_dll(dll, register, json)
        }
        None => register_dll(dll, register, json),
    };
    if json {
        let mut fields = vec![
            ("dll", crate::json::Json::string(dll)),
            (
                "action",
                crate::json::Json::string(if register { "register" } else { "unregister" }),
            ),
            ("ok", crate::json::Json::Bool(code == 0)),
        ];
        if let Some(Ok(outcome)) = &prng {
            fields.push(("process_prng", crate::json::Json::string(outcome.kind())));
        }
        let object = crate::json::Json::object(fields);
        outln!("{}", object.to_pretty());
    }
    code
}

fn register_dll(dll: &str, register: bool, json: bool) -> i32 {
    let export = if register {
        "DllRegisterServer"
    } else {
        "DllUnregisterServer"
    };
    let path = Path::new(dll);
    if !path.is_file() {
        eprintln!("wasio: {dll}: no such file");
        return 1;
    }
    // An absolute path, so that the DLL's own directory is searched for its dependencies.
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let wide = HSTRING::from(absolute.as_os_str());
    // SAFETY: COM initialisation of this thread, balanced below; servers may need COM.
    let com = unsafe { CoInitializeEx(None, COINIT_APARTMENTTHREADED) };
    // SAFETY: loading a DLL runs its DllMain; that is the point of this command.
    let module = match unsafe { LoadLibraryExW(&wide, None, LOAD_WITH_ALTERED_SEARCH_PATH) } {
        Ok(module) => module,
        Err(error) => {
            eprintln!(
                "wasio: cannot load {}: {} (HRESULT 0x{:08X}{})",
                absolute.display(),
                error.message(),
                error.code().0,
                crate::host::hresult_hint(error.code().0)
            );
            return finish_com(com, 1);
        }
    };
    let name = format!("{export}\0");
    // SAFETY: `module` is loaded; `name` is NUL-terminated.
    let proc = unsafe { GetProcAddress(module, PCSTR(name.as_ptr())) };
    let code = match proc {
        None => {
            eprintln!(
                "wasio: {} has no {export} export (not a COM server?)",
                absolute.display()
            );
            1
        }
        Some(proc) => {
            // SAFETY: DllRegisterServer/DllUnregisterServer are `HRESULT __stdcall (void)`.
            let function: unsafe extern "system" fn() -> i32 = unsafe { std::mem::transmute(proc) };
            // SAFETY: the export has the signature above.
            let hr = unsafe { function() };
            if hr >= 0 {
                if !json {
                    outln!("{export} succeeded: {}", absolute.display());
                }
                0
            } else {
                eprintln!(
                    "wasio: {export} failed: HRESULT 0x{:08X}{}{}",
                    hr,
                    crate::host::hresult_hint(hr),
                    if hr as u32 == 0x8002_801C {
                        " (TYPE_E_REGISTRYACCESS: run as administrator)"
                    } else if hr as u32 == 0x8007_0005 {
                        " (access denied: run as administrator)"
                    } else {
                        ""
                    }
                );
                1
            }
        }
    };
    // SAFETY: `module` came from LoadLibraryExW and is freed once.
    let _ = unsafe { FreeLibrary(module) };
    finish_com(com, code)
}

fn finish_com(com: windows::core::HRESULT, code: i32) -> i32 {
    if com.is_ok() {
        // SAFETY: balances the successful CoInitializeEx of this thread.
        unsafe { CoUninitialize() };
    }
    code
}
