//! The IASIO object: a vtable pointer, a reference count and the driver core.
//!
//! Each method converts `this`, runs the core's method inside `catch_unwind`, and turns a
//! panic into an ASIO error with a message (the host never sees an unwind).

use crate::com::{query_interface_for, LIVE_OBJECTS};
use crate::CLSID_WASIO;
use asio_abi::{
    asio_method, AsioBool, AsioBufferInfo, AsioCallbacks, AsioChannelInfo, AsioClockSource,
    AsioError, AsioSampleRate, AsioSamples, AsioTimeStamp, Guid, IasioVtbl, ASE_HW_MALFUNCTION,
    ASIO_FALSE, IID_IUNKNOWN,
};
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use wasio_engine::backend::Backend;
use wasio_engine::driver::DriverCore;
use wasio_engine::env::DriverEnv;
use wasio_engine::log::ProcessInfo;
use wasio_engine::DriverError;
use windows::core::{PCWSTR, PWSTR};
use windows::Win32::System::Threading::{
    CreateProcessW, GetCurrentThreadId, PROCESS_CREATION_FLAGS, PROCESS_INFORMATION, STARTUPINFOW,
};

/// The settings window, next to the DLL.
const PANEL_EXE: &str = "wasio-panel.exe";

fn current_thread_id() -> u64 {
    // SAFETY: no arguments, no failure.
    unsafe { GetCurrentThreadId() as u64 }
}

/// Starts `wasio-panel.exe` from the DLL's folder and returns at once: the host's thread
/// never waits for it or owns its window.
fn launch_panel() -> Result<(), DriverError> {
    let dll = crate::registry::module_path().map_err(|hr| {
        DriverError::not_present(format!(
            "cannot find the driver's folder (HRESULT 0x{:08X})",
            hr as u32
        ))
    })?;
    let exe = std::path::Path::new(&dll)
        .parent()
        .map(|dir| dir.join(PANEL_EXE))
        .unwrap_or_else(|| PANEL_EXE.into());
    if !exe.is_file() {
        return Err(DriverError::not_present(format!(
            "the settings window is not installed: {} is missing",
            exe.display()
        )));
    }
    let application: Vec<u16> = exe
        .as_os_str()
        .to_string_lossy()
        .encode_utf16()
        .chain([0])
        .collect();
    let mut command_line: Vec<u16> = format!("\"{}\"", exe.display())
        .encode_utf16()
        .chain([0])
        .collect();
    let startup = STARTUPINFOW {
        cb: std::mem::size_of::<STARTUPINFOW>() as u32,
        ..Default::default()
    };
    let mut process = PROCESS_INFORMATION::default();
    // SAFETY: NUL-terminated wide strings that outlive the call; the command line buffer is
    // writable as CreateProcessW requires; the handles returned are closed below.
    unsafe {
        CreateProcessW(
            PCWSTR(application.as_ptr()),
            Some(PWSTR(command_line.as_mut_ptr())),
            None,
            None,
            false,
            PROCESS_CREATION_FLAGS(0),
            None,
            PCWSTR::null(),
            &startup,
            &mut process,
        )
    }
    .map_err(|e| DriverError::not_present(format!("starting {} failed: {e}", exe.display())))?;
    // SAFETY: handles returned by CreateProcessW, owned here and closed once.
    unsafe {
        let _ = windows::Win32::Foundation::CloseHandle(process.hThread);
        let _ = windows::Win32::Foundation::CloseHandle(process.hProcess);
    }
    Ok(())
}

/// The driver's surroundings from Windows: `%USERPROFILE%` for Wasio.toml and Wasio.log,
/// `%TEMP%\Wasio` for status files, the host's name and process ID.
fn windows_env() -> DriverEnv {
    let process_name = std::env::current_exe()
        .ok()
        .and_then(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown.exe".into());
    DriverEnv {
        user_profile_dir: std::env::var_os("USERPROFILE").map(Into::into),
        status_dir: Some(std::env::temp_dir().join("Wasio")),
        process: ProcessInfo {
            name: process_name,
            pid: std::process::id(),
        },
        thread_id: current_thread_id,
        control_panel: Box::new(launch_panel),
    }
}

#[repr(C)]
struct AsioDriverObject {
    vtbl: *const IasioVtbl,
    refs: AtomicU32,
    core: DriverCore,
}

/// Creates a driver object with one reference.
pub fn create() -> *mut c_void {
    LIVE_OBJECTS.fetch_add(1, Ordering::AcqRel);
    let core = DriverCore::new(
        Box::new(|| wasio_wasapi::spawn_engine().map(|e| Arc::new(e) as Arc<dyn Backend>)),
        windows_env(),
    );
    Box::into_raw(Box::new(AsioDriverObject {
        vtbl: &VTBL,
        refs: AtomicU32::new(1),
        core,
    })) as *mut c_void
}

/// Runs `f` on the core of `this`; a null `this` or a panic yields `fallback`.
fn with_core<R>(this: *mut c_void, fallback: R, f: impl FnOnce(&DriverCore) -> R) -> R {
    if this.is_null() {
        return fallback;
    }
    // SAFETY: hosts call methods on the pointer COM gave them, a live AsioDriverObject.
    let core = unsafe { &(*(this as *const AsioDriverObject)).core };
    match catch_unwind(AssertUnwindSafe(|| f(core))) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            let _ = catch_unwind(AssertUnwindSafe(|| {
                core.fail(DriverError::hw_malfunction(format!(
                    "internal error (please report): {what}"
                )))
            }));
            fallback
        }
    }
}

/// IUnknown::QueryInterface. Hosts pass Wasio's CLSID as the IID, so that is accepted too.
pub unsafe extern "system" fn query_interface(
    this: *mut c_void,
    riid: *const Guid,
    out: *mut *mut c_void,
) -> i32 {
    // SAFETY: COM (or the class factory) only calls this on a live object, with its own pointers.
    unsafe { query_interface_for(this, riid, out, &[IID_IUNKNOWN, CLSID_WASIO], add_ref) }
}

pub unsafe extern "system" fn add_ref(this: *mut c_void) -> u32 {
    // SAFETY: COM only calls this on a live object.
    unsafe { &*(this as *const AsioDriverObject) }
        .refs
        .fetch_add(1, Ordering::AcqRel)
        + 1
}

pub unsafe extern "system" fn release(this: *mut c_void) -> u32 {
    // SAFETY: COM only calls this on a live object.
    let left = unsafe { &*(this as *const AsioDriverObject) }
        .refs
        .fetch_sub(1, Ordering::AcqRel)
        - 1;
    if left == 0 {
        // Dropping the core stops the stream and joins the device thread before anything
        // it uses is freed. A panic there must not unwind into the host.
        let _ = catch_unwind(|| {
            // SAFETY: the last reference is gone; the object was made by Box::into_raw.
            drop(unsafe { Box::from_raw(this as *mut AsioDriverObject) });
        });
        LIVE_OBJECTS.fetch_sub(1, Ordering::AcqRel);
    }
    left
}

asio_method! {
    unsafe fn init(this: *mut c_void, sys_handle: *mut c_void) -> AsioBool {
        with_core(this, ASIO_FALSE, |c| c.init(sys_handle))
    }
    unsafe fn get_driver_name(this: *mut c_void, name: *mut c_char) {
        // SAFETY: the host passes a 32-byte buffer (or null, which the core ignores).
        with_core(this, (), |c| unsafe { c.get_driver_name(name) })
    }
    unsafe fn get_driver_version(this: *mut c_void) -> i32 {
        with_core(this, 0, |c| c.get_driver_version())
    }
    unsafe fn get_error_message(this: *mut c_void, string: *mut c_char) {
        // SAFETY: the host passes a 124-byte buffer (or null, which the core ignores).
        with_core(this, (), |c| unsafe { c.get_error_message(string) })
    }
    unsafe fn start(this: *mut c_void) -> AsioError {
        with_core(this, ASE_HW_MALFUNCTION, |c| c.start())
    }
    unsafe fn stop(this: *mut c_void) -> AsioError {
        with_core(this, ASE_HW_MALFUNCTION, |c| c.stop())
    }
    unsafe fn get_channels(this: *mut c_void, inputs: *mut i32, outputs: *mut i32) -> AsioError {
        // SAFETY: pointers are the host's; the core checks them for null.
        with_core(this, ASE_HW_MALFUNCTION, |c| unsafe { c.get_channels(inputs, outputs) })
    }
    unsafe fn get_latencies(this: *mut c_void, input: *mut i32, output: *mut i32) -> AsioError {
        // SAFETY: pointers are the host's; the core checks them for null.
        with_core(this, ASE_HW_MALFUNCTION, |c| unsafe { c.get_latencies(input, output) })
    }
    unsafe fn get_buffer_size(this: *mut c_void, min: *mut i32, max: *mut i32, preferred: *mut i32, granularity: *mut i32) -> AsioError {
        // SAFETY: pointers are the host's; the core checks them for null.
        with_core(this, ASE_HW_MALFUNCTION, |c| unsafe { c.get_buffer_size(min, max, preferred, granularity) })
    }
    unsafe fn can_sample_rate(this: *mut c_void, rate: AsioSampleRate) -> AsioError {
        with_core(this, ASE_HW_MALFUNCTION, |c| c.can_sample_rate(rate))
    }
    unsafe fn get_sample_rate(this: *mut c_void, rate: *mut AsioSampleRate) -> AsioError {
        // SAFETY: pointer is the host's; the core checks it for null.
        with_core(this, ASE_HW_MALFUNCTION, |c| unsafe { c.get_sample_rate(rate) })
    }
    unsafe fn set_sample_rate(this: *mut c_void, rate: AsioSampleRate) -> AsioError {
        with_core(this, ASE_HW_MALFUNCTION, |c| c.set_sample_rate(rate))
    }
    unsafe fn get_clock_sources(this: *mut c_void, clocks: *mut AsioClockSource, num: *mut i32) -> AsioError {
        // SAFETY: pointers are the host's; the core checks them for null.
        with_core(this, ASE_HW_MALFUNCTION, |c| unsafe { c.get_clock_sources(clocks, num) })
    }
    unsafe fn set_clock_source(this: *mut c_void, reference: i32) -> AsioError {
        with_core(this, ASE_HW_MALFUNCTION, |c| c.set_clock_source(reference))
    }
    unsafe fn get_sample_position(this: *mut c_void, position: *mut AsioSamples, stamp: *mut AsioTimeStamp) -> AsioError {
        // SAFETY: pointers are the host's; the core checks them for null.
        with_core(this, ASE_HW_MALFUNCTION, |c| unsafe { c.get_sample_position(position, stamp) })
    }
    unsafe fn get_channel_info(this: *mut c_void, info: *mut AsioChannelInfo) -> AsioError {
        // SAFETY: pointer is the host's; the core checks it for null.
        with_core(this, ASE_HW_MALFUNCTION, |c| unsafe { c.get_channel_info(info) })
    }
    unsafe fn create_buffers(this: *mut c_void, infos: *mut AsioBufferInfo, count: i32, buffer_size: i32, callbacks: *const AsioCallbacks) -> AsioError {
        // SAFETY: pointers are the host's; the core checks them for null and bounds.
        with_core(this, ASE_HW_MALFUNCTION, |c| unsafe { c.create_buffers(infos, count, buffer_size, callbacks) })
    }
    unsafe fn dispose_buffers(this: *mut c_void) -> AsioError {
        with_core(this, ASE_HW_MALFUNCTION, |c| c.dispose_buffers())
    }
    unsafe fn control_panel(this: *mut c_void) -> AsioError {
        with_core(this, ASE_HW_MALFUNCTION, |c| c.control_panel())
    }
    unsafe fn future(this: *mut c_void, selector: i32, opt: *mut c_void) -> AsioError {
        // SAFETY: `opt` is what the selector defines; the core checks it for null.
        with_core(this, ASE_HW_MALFUNCTION, |c| unsafe { c.future(selector, opt) })
    }
    unsafe fn output_ready(this: *mut c_void) -> AsioError {
        with_core(this, ASE_HW_MALFUNCTION, |c| c.output_ready())
    }
}

static VTBL: IasioVtbl = IasioVtbl {
    query_interface,
    add_ref,
    release,
    init,
    get_driver_name,
    get_driver_version,
    get_error_message,
    start,
    stop,
    get_channels,
    get_latencies,
    get_buffer_size,
    can_sample_rate,
    get_sample_rate,
    set_sample_rate,
    get_clock_sources,
    set_clock_source,
    get_sample_position,
    get_channel_info,
    create_buffers,
    dispose_buffers,
    control_panel,
    future,
    output_ready,
};
